//! Overrides: sharing against a refused or withdrawn consent (DESIGN.md,
//! "Consent record"), with the lawful basis, the reason and who approved
//! it. Approved, an override lifts the hold on the agencies it names and
//! releases the messages held back from them under that record.

use sqlx::Row;

use super::audit::{self};
use super::consent::audit_release;
use super::withholding::{Released, bump_in, held_back_under, release_in};
use super::{Db, StoreError, StoreResult, new_id};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::consent::ConsentState;
use crate::domain::sharing::{LawfulBasis, Scope};
use crate::domain::vocabulary::AgencyKind;
use crate::domain::withholding::{OverrideApprover, authorize_override_approval, check_override};

/// An override as the consent page shows it.
#[derive(Clone, Debug)]
pub struct Override {
    pub id: String,
    pub consent_record_id: String,
    pub consent_version: i64,
    /// `None`: every agency the record covers.
    pub agency_kind: Option<AgencyKind>,
    pub lawful_basis: LawfulBasis,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: Millis,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<Millis>,
}

/// An override asked for.
#[derive(Clone, Debug)]
pub struct Request {
    pub agency_kind: Option<AgencyKind>,
    pub lawful_basis: LawfulBasis,
    pub reason: String,
}

/// What recording or deciding an override led to.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub id: String,
    pub status: String,
    pub released: Vec<Released>,
}

/// The agency that holds the case: the lead social worker's.
pub async fn case_holding_agency(db: &Db, access: &CaseAccess) -> StoreResult<String> {
    let row = sqlx::query(
        "SELECT p.agency_id FROM cases c JOIN people p ON p.id = c.lead_social_worker_id WHERE c.id = $1",
    )
    .bind(access.case_id())
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("agency_id")?)
}

/// Whether the actor may approve overrides on this case.
pub async fn approver(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
) -> StoreResult<Option<OverrideApprover>> {
    let holding = case_holding_agency(db, access).await?;
    Ok(authorize_override_approval(actor, access, &holding))
}

fn kind_text(kind: Option<AgencyKind>) -> &'static str {
    kind.map_or("all", AgencyKind::as_str)
}

/// Record an override of one record. It is approved at once unless the
/// partnership requires a manager's approval (`needs_approval`) and the
/// person asking is not such a manager themselves.
#[allow(clippy::too_many_arguments)]
pub async fn request(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    record_id: &str,
    ask: &Request,
    needs_approval: bool,
    now: Millis,
) -> StoreResult<Outcome> {
    let self_approved = approver(db, access, actor).await?.is_some();
    let approved = !needs_approval || self_approved;
    let mut tx = db.write().await?;
    let row = sqlx::query(
        "SELECT r.scope, v.version, v.state FROM consent_records r JOIN consent_versions v ON v.record_id = r.id \
         WHERE r.id = $1 AND r.case_id = $2 ORDER BY v.version DESC LIMIT 1",
    )
    .bind(record_id)
    .bind(access.case_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let scope = Scope::parse(&row.try_get::<String, _>("scope")?).map_err(StoreError::Invalid)?;
    let version: i64 = row.try_get("version")?;
    let state: ConsentState = row
        .try_get::<String, _>("state")?
        .parse()
        .map_err(StoreError::Invalid)?;
    let held = !held_back_under(&mut tx, access.case_id(), record_id)
        .await?
        .is_empty();
    check_override(
        state,
        held,
        &scope,
        ask.agency_kind,
        ask.lawful_basis,
        &ask.reason,
    )
    .map_err(|e| StoreError::Invalid(e.message()))?;
    let waiting: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM sharing_overrides WHERE consent_record_id = $1 AND consent_version = $2 \
         AND agency_kind = $3 AND status = 'requested'",
    )
    .bind(record_id)
    .bind(version)
    .bind(kind_text(ask.agency_kind))
    .fetch_one(&mut *tx)
    .await?
    .try_get("n")?;
    if waiting > 0 {
        return Err(StoreError::Conflict(
            "An override for this is already waiting for a manager's approval".into(),
        ));
    }
    let id = new_id();
    let status = if approved { "approved" } else { "requested" };
    sqlx::query(
        "INSERT INTO sharing_overrides (id, case_id, consent_record_id, consent_version, agency_kind, lawful_basis, \
         reason, requested_by, requested_at, status, decided_by, decided_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(access.case_id())
    .bind(record_id)
    .bind(version)
    .bind(kind_text(ask.agency_kind))
    .bind(ask.lawful_basis.as_str())
    .bind(ask.reason.trim())
    .bind(&actor.person_id)
    .bind(now)
    .bind(status)
    .bind(approved.then_some(actor.person_id.as_str()))
    .bind(approved.then_some(now))
    .execute(&mut *tx)
    .await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        if approved {
            "consent.override_recorded"
        } else {
            "consent.override_requested"
        },
        Some(access.case_id()),
        Some(&id),
        serde_json::json!({
            "consent_record_id": record_id,
            "consent_version": version,
            "agency_kind": kind_text(ask.agency_kind),
            "lawful_basis": ask.lawful_basis.as_str(),
            "status": status,
            "manager_approval_required": needs_approval,
        }),
    )
    .await?;
    let released = if approved {
        bump_in(&mut tx, access.case_id()).await?;
        let released = release_in(&mut tx, access.case_id(), record_id, Some(&id), now).await?;
        if !released.is_empty() {
            audit_release(&mut tx, access, actor, record_id, Some(&id), &released, now).await?;
        }
        released
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(Outcome {
        id,
        status: status.into(),
        released,
    })
}

/// A manager of the case-holding agency approves or refuses a waiting override.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    db: &Db,
    access: &CaseAccess,
    approver: &OverrideApprover,
    actor: &Actor,
    record_id: &str,
    override_id: &str,
    approve: bool,
    now: Millis,
) -> StoreResult<Outcome> {
    let mut tx = db.write().await?;
    let row = sqlx::query(
        "SELECT o.consent_record_id, o.consent_version, o.status, \
         (SELECT MAX(version) FROM consent_versions WHERE record_id = o.consent_record_id) AS latest \
         FROM sharing_overrides o WHERE o.id = $1 AND o.case_id = $2 AND o.consent_record_id = $3",
    )
    .bind(override_id)
    .bind(approver.case_id())
    .bind(record_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let record_id: String = row.try_get("consent_record_id")?;
    if row.try_get::<String, _>("status")? != "requested" {
        return Err(StoreError::Invalid(
            "That override has already been decided.".into(),
        ));
    }
    if approve && row.try_get::<i64, _>("consent_version")? != row.try_get::<i64, _>("latest")? {
        return Err(StoreError::Invalid(
            "The consent record has changed since this override was asked for: refuse it, and ask again if it is still needed.".into(),
        ));
    }
    let status = if approve { "approved" } else { "refused" };
    sqlx::query(
        "UPDATE sharing_overrides SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'requested'",
    )
    .bind(status)
    .bind(approver.person_id())
    .bind(now)
    .bind(override_id)
    .execute(&mut *tx)
    .await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        if approve {
            "consent.override_approved"
        } else {
            "consent.override_refused"
        },
        Some(approver.case_id()),
        Some(override_id),
        serde_json::json!({ "consent_record_id": record_id }),
    )
    .await?;
    let released = if approve {
        bump_in(&mut tx, approver.case_id()).await?;
        let released = release_in(
            &mut tx,
            approver.case_id(),
            &record_id,
            Some(override_id),
            now,
        )
        .await?;
        if !released.is_empty() {
            audit_release(
                &mut tx,
                access,
                actor,
                &record_id,
                Some(override_id),
                &released,
                now,
            )
            .await?;
        }
        released
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(Outcome {
        id: override_id.to_string(),
        status: status.into(),
        released,
    })
}

/// Every override of the case's records, oldest first.
pub async fn of_case(db: &Db, access: &CaseAccess) -> StoreResult<Vec<Override>> {
    let rows = sqlx::query(
        "SELECT o.id, o.consent_record_id, o.consent_version, o.agency_kind, o.lawful_basis, o.reason, \
         rp.name AS requested_by, o.requested_at, o.status, dp.name AS decided_by, o.decided_at \
         FROM sharing_overrides o JOIN people rp ON rp.id = o.requested_by LEFT JOIN people dp ON dp.id = o.decided_by \
         WHERE o.case_id = $1 ORDER BY o.requested_at, o.id",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("agency_kind")?;
            let basis: String = r.try_get("lawful_basis")?;
            Ok(Override {
                id: r.try_get("id")?,
                consent_record_id: r.try_get("consent_record_id")?,
                consent_version: r.try_get("consent_version")?,
                agency_kind: if kind == "all" {
                    None
                } else {
                    Some(kind.parse().map_err(StoreError::Invalid)?)
                },
                lawful_basis: basis.parse().map_err(StoreError::Invalid)?,
                reason: r.try_get("reason")?,
                requested_by: r.try_get("requested_by")?,
                requested_at: r.try_get("requested_at")?,
                status: r.try_get("status")?,
                decided_by: r.try_get("decided_by")?,
                decided_at: r.try_get("decided_at")?,
            })
        })
        .collect()
}
