//! Sharing a return home interview's findings with named people (issue 7,
//! part 4): each share passes the consent gate of the case (as every share
//! does, [`super::sharing_state::Snapshot::decide`]) and is an
//! information-sharing record (source `findings`) with its lawful basis;
//! each recipient acknowledges having read the findings; an unacknowledged
//! share is escalated by the scheduler (`crate::missing_reminders`).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::findings::{self, Findings};
use super::missing::{Interview, audit_missing};
use super::rhi::{forbidden_to_manage, may_manage_interview};
use super::sharing::{NewRecord, insert_in};
use super::{Db, StoreError, StoreResult, audit, new_id, new_ordered_id, people, sharing_state};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::sharing::Decision;
use crate::domain::sharing_records::{Source, basis_of};
use crate::domain::vocabulary::Role;

/// Most recipients in one share.
pub const MAX_RECIPIENTS: usize = 20;

/// One share of findings with one person.
#[derive(Clone, Debug)]
pub struct Share {
    pub id: String,
    pub findings_id: String,
    pub case_id: String,
    pub case_reference: String,
    pub episode_id: String,
    pub person_id: String,
    pub person_name: String,
    pub agency_name: String,
    pub shared_by_name: String,
    pub shared_at: Millis,
    pub release_restricted: bool,
    pub lawful_basis: String,
    pub acknowledged_at: Option<Millis>,
}

const SELECT: &str = "SELECT s.id, s.findings_id, s.case_id, c.reference, i.episode_id, s.person_id, p.name AS person_name, \
     a.name AS agency_name, b.name AS shared_by_name, s.shared_at, s.release_restricted, r.lawful_basis, s.acknowledged_at \
     FROM findings_shares s JOIN cases c ON c.id = s.case_id JOIN rhi_findings f ON f.id = s.findings_id \
     JOIN return_interviews i ON i.id = f.interview_id JOIN people p ON p.id = s.person_id \
     JOIN agencies a ON a.id = s.agency_id JOIN people b ON b.id = s.shared_by \
     JOIN sharing_records r ON r.id = s.sharing_record_id";

fn from_row(r: &AnyRow) -> StoreResult<Share> {
    Ok(Share {
        id: r.try_get("id")?,
        findings_id: r.try_get("findings_id")?,
        case_id: r.try_get("case_id")?,
        case_reference: r.try_get("reference")?,
        episode_id: r.try_get("episode_id")?,
        person_id: r.try_get("person_id")?,
        person_name: r.try_get("person_name")?,
        agency_name: r.try_get("agency_name")?,
        shared_by_name: r.try_get("shared_by_name")?,
        shared_at: r.try_get("shared_at")?,
        release_restricted: r.try_get::<i64, _>("release_restricted")? == 1,
        lawful_basis: r
            .try_get::<Option<String>, _>("lawful_basis")?
            .unwrap_or_default(),
        acknowledged_at: r.try_get("acknowledged_at")?,
    })
}

/// Everyone the findings were shared with, in order.
pub async fn of_findings(
    db: &Db,
    access: &CaseAccess,
    findings_id: &str,
) -> StoreResult<Vec<Share>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE s.findings_id = $1 AND s.case_id = $2 ORDER BY s.shared_at, p.name"
    )))
    .bind(findings_id)
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// A share as its recipient sees it: only the recipient finds it (anyone
/// else gets the not-found of an unknown id), whatever their case access.
pub async fn for_recipient(
    db: &Db,
    actor: &Actor,
    share_id: &str,
) -> StoreResult<(Share, Findings)> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE s.id = $1 AND s.person_id = $2"
    )))
    .bind(share_id)
    .bind(&actor.person_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    let share = from_row(&row)?;
    let f = findings::by_id(db, &share.findings_id).await?;
    Ok((share, f))
}

/// Shares waiting for this person's acknowledgement, oldest first.
pub async fn to_acknowledge(db: &Db, actor: &Actor) -> StoreResult<Vec<Share>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE s.person_id = $1 AND s.acknowledged_at IS NULL ORDER BY s.shared_at"
    )))
    .bind(&actor.person_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Share the findings of the episode's interview with these people (by
/// email address). Every recipient is checked before anything is written:
/// an unknown or inactive address, the sharer themself, someone already
/// sent the findings, or an agency the consent gate holds back refuses the
/// whole share.
pub async fn share(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    interview: &Interview,
    emails: &[String],
    release_restricted: bool,
    now: Millis,
) -> StoreResult<Vec<(String, String)>> {
    if !may_manage_interview(db, by, interview).await? {
        return Err(forbidden_to_manage());
    }
    let f = findings::of_interview(db, access, &interview.id)
        .await?
        .ok_or_else(|| StoreError::Invalid("Record the findings before sharing them.".into()))?;
    let emails: Vec<&str> = emails
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect();
    if emails.is_empty() {
        return Err(StoreError::Invalid(
            "Enter the email address of at least one recipient.".into(),
        ));
    }
    if emails.len() > MAX_RECIPIENTS {
        return Err(StoreError::Invalid(format!(
            "At most {MAX_RECIPIENTS} recipients at once."
        )));
    }
    let state = sharing_state::snapshot(db, access.case_id()).await?;
    let already: Vec<String> = of_findings(db, access, &f.id)
        .await?
        .into_iter()
        .map(|s| s.person_id)
        .collect();
    let mut recipients: Vec<people::Person> = Vec::new();
    for email in emails {
        let p = match people::find_by_email(db, email).await {
            Ok(p) if p.active => p,
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(StoreError::Invalid(format!(
                    "No one active in Confer has the address {email}."
                )));
            }
            Err(e) => return Err(e),
        };
        if p.id == by.person_id {
            return Err(StoreError::Invalid(
                "You cannot share the findings with yourself.".into(),
            ));
        }
        if already.contains(&p.id) || recipients.iter().any(|r| r.id == p.id) {
            return Err(StoreError::Invalid(format!(
                "The findings are already shared with {}.",
                p.name
            )));
        }
        if let Decision::Blocked { .. } = state.decide(p.agency_kind) {
            return Err(StoreError::Invalid(format!(
                "Consent covering {} is refused or withdrawn: record an override before sharing with {}.",
                p.agency_kind.label().to_lowercase(),
                p.name
            )));
        }
        recipients.push(p);
    }
    let what = "findings of a return home interview".to_string();
    let mut tx = db.write().await?;
    let mut ids = Vec::with_capacity(recipients.len());
    for p in &recipients {
        let share_id = new_id();
        let record_id = new_ordered_id();
        let decision = state.decide(p.agency_kind);
        let record = NewRecord {
            id: record_id.clone(),
            case_id: access.case_id().to_string(),
            source: Source::Findings,
            // One record per recipient: the share, which names the findings.
            item_ref: share_id.clone(),
            what: what.clone(),
            from_person_id: Some(by.person_id.clone()),
            from_agency_id: Some(by.agency_id.clone()),
            to_agency_id: Some(p.agency_id.clone()),
            to_person_id: Some(p.id.clone()),
            to_description: String::new(),
            shared_at: now,
            purpose: state.purpose.clone(),
            basis: Some(basis_of(&decision, state.lawful_basis, &state.consents)),
            reasons: String::new(),
            recorded_by: Some(by.person_id.clone()),
            created_at: now,
        };
        if insert_in(&mut tx, &[record]).await? != 1 {
            return Err(StoreError::Conflict(
                "the sharing record was not written".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO findings_shares (id, findings_id, case_id, person_id, agency_id, shared_by, shared_at, \
             release_restricted, sharing_record_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&share_id)
        .bind(&f.id)
        .bind(access.case_id())
        .bind(&p.id)
        .bind(&p.agency_id)
        .bind(&by.person_id)
        .bind(now)
        .bind(i64::from(release_restricted))
        .bind(&record_id)
        .execute(&mut *tx)
        .await?;
        ids.push((share_id, p.email.clone()));
    }
    let detail = serde_json::json!({
        "findings_id": f.id,
        "recipients": recipients.iter().map(|p| &p.id).collect::<Vec<_>>(),
        "release_restricted": release_restricted,
    });
    audit_missing(
        &mut tx,
        by,
        access,
        now,
        "missing.findings_shared",
        &interview.id,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(ids)
}

/// The recipient acknowledges having read the findings: once.
pub async fn acknowledge(db: &Db, actor: &Actor, share_id: &str, now: Millis) -> StoreResult<()> {
    let (share, _) = for_recipient(db, actor, share_id).await?;
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE findings_shares SET acknowledged_at = $1 WHERE id = $2 AND person_id = $3 AND acknowledged_at IS NULL",
    )
    .bind(now)
    .bind(share_id)
    .bind(&actor.person_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Invalid(
            "You have already acknowledged these findings.".into(),
        ));
    }
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "missing.findings_acknowledged",
        Some(&share.case_id),
        Some(share_id),
        serde_json::json!({ "findings_id": share.findings_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An unacknowledged share past the escalation time, with whom to tell:
/// the recipient's agency's duty address and the sharer's agency's managers.
#[derive(Clone, Debug)]
pub struct Escalation {
    pub share_id: String,
    pub case_reference: String,
    pub shared_at: Millis,
    pub recipient_name: String,
    pub recipient_agency: String,
    pub to: Vec<String>,
}

/// Unacknowledged shares made at or before `shared_before`.
pub async fn unacknowledged(db: &Db, shared_before: Millis) -> StoreResult<Vec<Escalation>> {
    let rows = sqlx::query(
        "SELECT s.id, c.reference, s.shared_at, p.name AS recipient_name, a.name AS agency_name, a.duty_email, \
         b.agency_id AS sharer_agency FROM findings_shares s JOIN cases c ON c.id = s.case_id \
         JOIN people p ON p.id = s.person_id JOIN agencies a ON a.id = s.agency_id JOIN people b ON b.id = s.shared_by \
         WHERE s.acknowledged_at IS NULL AND s.shared_at <= $1 ORDER BY s.shared_at",
    )
    .bind(shared_before)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let sharer_agency: String = r.try_get("sharer_agency")?;
        let mut to: Vec<String> = r
            .try_get::<Option<String>, _>("duty_email")?
            .into_iter()
            .collect();
        let managers = sqlx::query(
            "SELECT email FROM people WHERE agency_id = $1 AND role = $2 AND status = 'active' ORDER BY email",
        )
        .bind(&sharer_agency)
        .bind(Role::Manager.as_str())
        .fetch_all(db.pool())
        .await?;
        for m in &managers {
            to.push(m.try_get("email")?);
        }
        to.sort();
        to.dedup();
        out.push(Escalation {
            share_id: r.try_get("id")?,
            case_reference: r.try_get("reference")?,
            shared_at: r.try_get("shared_at")?,
            recipient_name: r.try_get("recipient_name")?,
            recipient_agency: r.try_get("agency_name")?,
            to,
        });
    }
    Ok(out)
}

/// A recipient's reading of the findings shared with them, in the case's
/// audit trail.
pub async fn record_read(db: &Db, actor: &Actor, share: &Share, now: Millis) -> StoreResult<()> {
    audit::record(
        db,
        now,
        audit::NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "case.read",
            case_id: Some(&share.case_id),
            subject: Some(&share.id),
            detail: serde_json::json!({ "what": "shared return home interview findings" }),
        },
    )
    .await?;
    Ok(())
}
