//! The state that decides automatic sharing for one case: its default
//! lawful basis and purpose, the current state of each consent record, and
//! the approved overrides. Read by whatever moves case information across
//! an agency boundary (message sending, delivery records, circulation of
//! minutes, findings), then decided by [`crate::domain::sharing::decide`].
//! No access check: callers hold their own proof of access.

use sqlx::Row;

use super::{Conn, Db, StoreError, StoreResult};
use crate::domain::consent::ConsentState;
use crate::domain::sharing::{ConsentView, Decision, LawfulBasis, OverrideView, Scope, decide};
use crate::domain::vocabulary::AgencyKind;

/// A case's sharing state at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub case_id: String,
    pub lawful_basis: LawfulBasis,
    pub purpose: String,
    pub consents: Vec<ConsentView>,
    pub overrides: Vec<OverrideView>,
}

impl Snapshot {
    /// How information may reach an agency of this kind.
    pub fn decide(&self, to: AgencyKind) -> Decision {
        decide(self.lawful_basis, to, &self.consents, &self.overrides)
    }

    /// Whether anything is held back from anyone (the common case: nothing).
    pub fn blocks_anything(&self) -> bool {
        AgencyKind::ALL.iter().any(|k| self.decide(*k).is_blocked())
    }
}

fn parse_state(text: &str) -> StoreResult<ConsentState> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| StoreError::Invalid(format!("stored consent state '{text}'")))
}

/// Read a case's sharing state.
pub async fn snapshot(db: &Db, case_id: &str) -> StoreResult<Snapshot> {
    let mut conn = db.pool().acquire().await?;
    snapshot_in(&mut conn, case_id).await
}

/// The same, inside the caller's transaction (so a change and what follows
/// from it, such as releasing held-back messages, see the same state).
pub async fn snapshot_in(conn: &mut Conn, case_id: &str) -> StoreResult<Snapshot> {
    let case = sqlx::query("SELECT lawful_basis, sharing_purpose FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let basis: String = case.try_get("lawful_basis")?;
    // The latest version of each record of the case.
    let rows = sqlx::query(
        "SELECT r.id, r.scope, v.state, v.not_sought_reason, v.detail FROM consent_records r \
         JOIN consent_versions v ON v.record_id = r.id \
         WHERE r.case_id = $1 AND v.version = (SELECT MAX(version) FROM consent_versions WHERE record_id = r.id) \
         ORDER BY r.created_at, r.id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut consents = Vec::with_capacity(rows.len());
    for r in &rows {
        let state = parse_state(&r.try_get::<String, _>("state")?)?;
        let scope: String = r.try_get("scope")?;
        let reason: Option<String> = r.try_get("not_sought_reason")?;
        let detail: String = r.try_get("detail")?;
        consents.push(ConsentView {
            record_id: r.try_get("id")?,
            scope: Scope::parse(&scope).map_err(StoreError::Invalid)?,
            state,
            not_sought_reason: reason.map(|code| not_sought_text(&code, &detail)),
        });
    }
    // An override counts only for the version of the record it was made
    // against: consent given again and then withdrawn needs a new decision.
    let rows = sqlx::query(
        "SELECT o.id, o.consent_record_id, o.agency_kind, o.lawful_basis, o.reason FROM sharing_overrides o \
         WHERE o.case_id = $1 AND o.status = 'approved' \
         AND o.consent_version = (SELECT MAX(version) FROM consent_versions WHERE record_id = o.consent_record_id) \
         ORDER BY o.decided_at, o.id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut overrides = Vec::with_capacity(rows.len());
    for r in &rows {
        let kind: String = r.try_get("agency_kind")?;
        let basis: String = r.try_get("lawful_basis")?;
        overrides.push(OverrideView {
            id: r.try_get("id")?,
            consent_record_id: r.try_get("consent_record_id")?,
            agency_kind: if kind == "all" {
                None
            } else {
                Some(kind.parse().map_err(StoreError::Invalid)?)
            },
            lawful_basis: basis.parse().map_err(StoreError::Invalid)?,
            reason: r.try_get("reason")?,
        });
    }
    Ok(Snapshot {
        case_id: case_id.to_string(),
        lawful_basis: basis.parse().map_err(StoreError::Invalid)?,
        purpose: case.try_get("sharing_purpose")?,
        consents,
        overrides,
    })
}

/// The words for a stored not-sought reason code.
pub fn not_sought_text(code: &str, detail: &str) -> String {
    match code {
        "would_place_child_at_risk" => "seeking it would place the child at risk".into(),
        "would_prejudice_police_investigation" => {
            "seeking it would prejudice a police investigation".into()
        }
        "could_not_be_obtained_in_time" => "it could not be obtained in time".into(),
        _ => detail.trim().to_string(),
    }
}

impl Snapshot {
    /// The agency kinds held back, each with the consent record that holds it back.
    pub fn blocked(&self) -> Vec<(AgencyKind, String)> {
        AgencyKind::ALL
            .iter()
            .filter_map(|k| match self.decide(*k) {
                Decision::Blocked { consent_record_id } => Some((*k, consent_record_id)),
                Decision::Share { .. } => None,
            })
            .collect()
    }
}

/// Set a case's default lawful basis and purpose for everyday sharing
/// (the lead social worker or a manager in the case team).
pub async fn set_defaults(
    db: &Db,
    editor: &crate::domain::withholding::SharingDefaultsEditor,
    actor: &crate::domain::access::Actor,
    basis: LawfulBasis,
    purpose: &str,
    now: crate::domain::clock::Millis,
) -> StoreResult<()> {
    crate::domain::withholding::check_purpose(purpose).map_err(StoreError::Invalid)?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE cases SET lawful_basis = $1, sharing_purpose = $2 WHERE id = $3")
        .bind(basis.as_str())
        .bind(purpose.trim())
        .bind(editor.case_id())
        .execute(&mut *tx)
        .await?;
    super::withholding::bump_in(&mut tx, editor.case_id()).await?;
    super::audit::append(
        &mut tx,
        now,
        super::audit::NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "case.sharing_basis_set",
            case_id: Some(editor.case_id()),
            subject: None,
            // The purpose is free text: it stays out of the log.
            detail: serde_json::json!({ "lawful_basis": basis.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
