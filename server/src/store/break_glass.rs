//! Break-glass openings of cases (issue 6, item 7; rules in
//! [`crate::domain::break_glass`]): the time-limited membership, the record
//! flagged for review, the audit events, and the auditor's review.

use sqlx::Row;

use super::agencies::By;
use super::audit::{self, NewEvent};
use super::{Db, StoreError, StoreResult, new_id};
use crate::domain::access::Actor;
use crate::domain::audit::Auditor;
use crate::domain::break_glass::{BreakGlassManager, expires_at, membership_reason};
use crate::domain::clock::Millis;

/// A case opened by breaking glass.
#[derive(Clone, Debug)]
pub struct Opened {
    pub id: String,
    pub case_id: String,
    pub case_reference: String,
    pub expires_at: Millis,
    pub lead_email: String,
    pub lead_name: String,
}

/// What an attempt to break glass came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    Opened(Opened),
    /// The manager can already see the case: nothing was done.
    AlreadyMember {
        case_id: String,
        case_reference: String,
    },
    /// No case has that reference (the attempt is audited).
    NoSuchCase,
}

/// Open the case with this Confer reference for `minutes`, with `reason`
/// (already checked by [`crate::domain::break_glass::check_reason`]). In one
/// transaction: the membership, the break-glass record awaiting review, and
/// the audit events (`case.member_added`, `case.break_glass`).
pub async fn open(
    db: &Db,
    manager: &BreakGlassManager,
    now: Millis,
    reference: &str,
    reason: &str,
    minutes: u64,
) -> StoreResult<Outcome> {
    let reference = reference.trim().to_uppercase();
    let mut tx = db.write().await?;
    let found = sqlx::query(
        "SELECT c.id, c.reference, p.email AS lead_email, p.name AS lead_name \
         FROM cases c JOIN people p ON p.id = c.lead_social_worker_id WHERE c.reference = $1",
    )
    .bind(&reference)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(found) = found else {
        audit::append(
            &mut tx,
            now,
            refusal(manager.person_id(), manager.name(), "no_such_case"),
        )
        .await?;
        tx.commit().await?;
        return Ok(Outcome::NoSuchCase);
    };
    let case_id: String = found.try_get("id")?;
    let case_reference: String = found.try_get("reference")?;
    let current = sqlx::query(
        "SELECT id FROM case_memberships WHERE case_id = $1 AND person_id = $2 \
         AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(&case_id)
    .bind(manager.person_id())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if current.is_some() {
        return Ok(Outcome::AlreadyMember {
            case_id,
            case_reference,
        });
    }
    let until = expires_at(now, minutes);
    let by = By {
        person_id: Some(manager.person_id()),
        label: manager.name(),
    };
    super::cases::grant_in(
        &mut tx,
        by,
        now,
        &case_id,
        manager.person_id(),
        &membership_reason(reason),
        Some(until),
    )
    .await?;
    let membership: (String,) = sqlx::query_as(
        "SELECT id FROM case_memberships WHERE case_id = $1 AND person_id = $2 AND ended_at IS NULL",
    )
    .bind(&case_id)
    .bind(manager.person_id())
    .fetch_one(&mut *tx)
    .await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO break_glass (id, case_id, person_id, membership_id, reason, started_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&case_id)
    .bind(manager.person_id())
    .bind(&membership.0)
    .bind(reason)
    .bind(now)
    .bind(until)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(manager.person_id()),
            actor_label: manager.name(),
            action: "case.break_glass",
            case_id: Some(&case_id),
            subject: Some(manager.person_id()),
            detail: serde_json::json!({
                "break_glass_id": id,
                "membership_id": membership.0,
                "expires_at": until,
                "review": "pending",
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Opened(Opened {
        id,
        case_id,
        case_reference,
        expires_at: until,
        lead_email: found.try_get("lead_email")?,
        lead_name: found.try_get("lead_name")?,
    }))
}

fn refusal<'a>(person_id: &'a str, name: &'a str, why: &'static str) -> NewEvent<'a> {
    // Nothing the person typed is kept: it may be anything, even a child's name.
    NewEvent {
        actor_id: Some(person_id),
        actor_label: name,
        action: "case.break_glass_refused",
        case_id: None,
        subject: None,
        detail: serde_json::json!({ "why": why }),
    }
}

/// Audit an attempt by someone who may not break glass. Nothing is looked up.
pub async fn record_refusal(db: &Db, actor: &Actor, now: Millis) -> StoreResult<()> {
    audit::record(
        db,
        now,
        refusal(&actor.person_id, &actor.name, "not_a_manager"),
    )
    .await?;
    Ok(())
}

/// One break-glass opening as the auditor reviews it.
#[derive(Clone, Debug)]
pub struct Opening {
    pub id: String,
    pub case_reference: String,
    pub person_name: String,
    pub agency_name: String,
    pub reason: String,
    pub started_at: Millis,
    pub expires_at: Millis,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<Millis>,
    pub review_note: Option<String>,
}

/// Openings awaiting review first (oldest first, so none is left behind),
/// then reviewed ones, newest first.
pub async fn list(db: &Db, _auditor: &Auditor, limit: i64) -> StoreResult<Vec<Opening>> {
    let rows = sqlx::query(
        "SELECT b.id, c.reference, p.name AS person_name, a.name AS agency_name, b.reason, \
         b.started_at, b.expires_at, b.reviewed_by_label, b.reviewed_at, b.review_note \
         FROM break_glass b JOIN cases c ON c.id = b.case_id JOIN people p ON p.id = b.person_id \
         JOIN agencies a ON a.id = p.agency_id \
         ORDER BY CASE WHEN b.reviewed_at IS NULL THEN 0 ELSE 1 END, \
         CASE WHEN b.reviewed_at IS NULL THEN b.started_at ELSE -b.started_at END, b.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Opening {
                id: r.try_get("id")?,
                case_reference: r.try_get("reference")?,
                person_name: r.try_get("person_name")?,
                agency_name: r.try_get("agency_name")?,
                reason: r.try_get("reason")?,
                started_at: r.try_get("started_at")?,
                expires_at: r.try_get("expires_at")?,
                reviewed_by: r.try_get("reviewed_by_label")?,
                reviewed_at: r.try_get("reviewed_at")?,
                review_note: r.try_get("review_note")?,
            })
        })
        .collect()
}

/// Mark an opening reviewed with the auditor's note (already checked by
/// [`crate::domain::break_glass::check_review_note`]); audited as
/// `case.break_glass_reviewed`. An opening is reviewed once.
pub async fn review(
    db: &Db,
    auditor: &Auditor,
    now: Millis,
    id: &str,
    note: &str,
) -> StoreResult<()> {
    let mut tx = db.write().await?;
    let row = sqlx::query("SELECT case_id, reviewed_at FROM break_glass WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let case_id: String = row.try_get("case_id")?;
    let reviewed_at: Option<Millis> = row.try_get("reviewed_at")?;
    if reviewed_at.is_some() {
        return Err(StoreError::Conflict(
            "that opening was already reviewed".into(),
        ));
    }
    sqlx::query(
        "UPDATE break_glass SET reviewed_by = $1, reviewed_by_label = $2, reviewed_at = $3, review_note = $4 \
         WHERE id = $5 AND reviewed_at IS NULL",
    )
    .bind(auditor.person_id())
    .bind(auditor.name())
    .bind(now)
    .bind(note)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(auditor.person_id()),
            actor_label: auditor.name(),
            action: "case.break_glass_reviewed",
            case_id: Some(&case_id),
            subject: Some(id),
            detail: serde_json::json!({ "break_glass_id": id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
