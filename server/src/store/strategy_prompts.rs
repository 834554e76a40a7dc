//! Prompts to the lead social worker to convene a strategy discussion
//! (Working Together to Safeguard Children 2023: a strategy discussion
//! whenever there is reasonable cause to suspect significant harm), raised by
//! repeat missing episodes or by exploitation indicators in an interview's
//! findings, and what was done: a strategy discussion convened from the
//! prompt (linked to it), or a recorded reason for not convening one.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::{self, NewEvent};
use super::{Conn, Db, StoreError, StoreResult, cases, new_id, people};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::missing::PromptReason;
use crate::domain::vocabulary::{AgencyKind, Role};

#[derive(Clone, Debug)]
pub struct Prompt {
    pub id: String,
    pub case_id: String,
    pub reason: PromptReason,
    pub detail: String,
    pub source_id: String,
    pub raised_at: Millis,
    /// `open`, `convened` or `declined`.
    pub status: String,
    pub meeting_id: Option<String>,
    pub declined_reason: String,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<Millis>,
}

const SELECT: &str = "SELECT s.id, s.case_id, s.reason, s.detail, s.source_id, s.raised_at, s.status, s.meeting_id, \
     s.declined_reason, p.name AS decided_by_name, s.decided_at FROM strategy_prompts s \
     LEFT JOIN people p ON p.id = s.decided_by";

fn from_row(r: &AnyRow) -> StoreResult<Prompt> {
    let reason: String = r.try_get("reason")?;
    Ok(Prompt {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        reason: reason.parse().map_err(StoreError::Invalid)?,
        detail: r.try_get("detail")?,
        source_id: r.try_get("source_id")?,
        raised_at: r.try_get("raised_at")?,
        status: r.try_get("status")?,
        meeting_id: r.try_get("meeting_id")?,
        declined_reason: r.try_get("declined_reason")?,
        decided_by_name: r.try_get("decided_by_name")?,
        decided_at: r.try_get("decided_at")?,
    })
}

/// Raise a prompt to convene a strategy discussion, inside the caller's
/// transaction (so it commits with whatever raised it).
///
/// `reason` says why (`RepeatMissing` from [`super::missing::record_episode`];
/// `ExploitationIndicators` for findings that show them), `detail` is the
/// sentence shown to the case team and must not name the child ("3 missing
/// episodes in 90 days", "Findings show criminal exploitation indicators"),
/// and `source_id` is what raised it (the episode's or the findings' id).
/// One prompt per case, reason and source: raising it again is a no-op.
/// While the case already has an open prompt for the same reason, no new
/// one is raised (the lead has one to act on). Returns the new prompt's id,
/// if one was raised. The scheduler emails the lead social worker
/// (`missing.prompt_email`); the case page and dashboard show it.
pub async fn raise_strategy_prompt(
    conn: &mut Conn,
    case_id: &str,
    reason: PromptReason,
    detail: &str,
    source_id: &str,
    now: Millis,
) -> StoreResult<Option<String>> {
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM strategy_prompts WHERE case_id = $1 AND reason = $2 AND status = 'open'",
    )
    .bind(case_id)
    .bind(reason.as_str())
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    if open > 0 {
        return Ok(None);
    }
    let id = new_id();
    let done = sqlx::query(
        "INSERT INTO strategy_prompts (id, case_id, reason, detail, source_id, raised_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, 'open') ON CONFLICT (case_id, reason, source_id) DO NOTHING",
    )
    .bind(&id)
    .bind(case_id)
    .bind(reason.as_str())
    .bind(detail)
    .bind(source_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    audit::append(
        conn,
        now,
        NewEvent {
            actor_id: None,
            actor_label: "Confer",
            action: "strategy_prompt.raised",
            case_id: Some(case_id),
            subject: Some(&id),
            detail: serde_json::json!({ "reason": reason.as_str(), "source_id": source_id }),
        },
    )
    .await?;
    Ok(Some(id))
}

/// The case's prompts, newest first.
pub async fn of_case(db: &Db, access: &CaseAccess) -> StoreResult<Vec<Prompt>> {
    sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE s.case_id = $1 ORDER BY s.raised_at DESC"
    )))
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// One prompt of the case.
pub async fn get(db: &Db, access: &CaseAccess, id: &str) -> StoreResult<Prompt> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE s.id = $1 AND s.case_id = $2"
    )))
    .bind(id)
    .bind(access.case_id())
    .fetch_optional(db.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

/// The lead social worker, or a manager from children's social care in the
/// case, decides whether to convene.
pub async fn may_decide(db: &Db, actor: &Actor, access: &CaseAccess) -> StoreResult<bool> {
    let case = cases::get(db, access).await?;
    if case.lead_social_worker_id == actor.person_id {
        return Ok(true);
    }
    let me = people::get(db, &actor.person_id).await?;
    Ok(me.agency_kind == AgencyKind::ChildrensSocialCare && me.role == Role::Manager)
}

enum Decision<'a> {
    /// The meeting convened from the prompt.
    Convened(&'a str),
    /// Why none is convened.
    Declined(&'a str),
}

async fn decide(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    id: &str,
    now: Millis,
    decision: Decision<'_>,
) -> StoreResult<()> {
    let (status, meeting_id, reason) = match decision {
        Decision::Convened(m) => ("convened", Some(m), ""),
        Decision::Declined(r) => ("declined", None, r),
    };
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE strategy_prompts SET status = $1, meeting_id = $2, declined_reason = $3, decided_by = $4, decided_at = $5 \
         WHERE id = $6 AND case_id = $7 AND status = 'open'",
    )
    .bind(status)
    .bind(meeting_id)
    .bind(reason)
    .bind(&by.person_id)
    .bind(now)
    .bind(id)
    .bind(access.case_id())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        // Unknown, another case's, or already decided: tell which only to the case team.
        let exists: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM strategy_prompts WHERE id = $1 AND case_id = $2",
        )
        .bind(id)
        .bind(access.case_id())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        return Err(if exists > 0 {
            StoreError::Invalid("This prompt has already been acted on.".into())
        } else {
            StoreError::NotFound
        });
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&by.person_id),
            actor_label: &by.name,
            action: if status == "convened" {
                "strategy_prompt.convened"
            } else {
                "strategy_prompt.declined"
            },
            case_id: Some(access.case_id()),
            subject: Some(id),
            detail: serde_json::json!({ "meeting_id": meeting_id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A strategy discussion was convened from the prompt: link it. Called by
/// the convening form when it carries the prompt's id; convening is itself
/// the decision, so whoever in the case convened it is recorded.
pub async fn link_meeting(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    id: &str,
    meeting_id: &str,
    now: Millis,
) -> StoreResult<()> {
    decide(db, by, access, id, now, Decision::Convened(meeting_id)).await
}

/// Record why no strategy discussion is convened.
pub async fn decline(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    id: &str,
    reason: &str,
    now: Millis,
) -> StoreResult<()> {
    if !may_decide(db, by, access).await? {
        return Err(StoreError::Forbidden(
            "The lead social worker or a children's social care manager decides whether to convene.".into(),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::Invalid(
            "Give the reason for not convening a strategy discussion.".into(),
        ));
    }
    if reason.chars().count() > 2000 {
        return Err(StoreError::Invalid(
            "The reason is too long (2000 characters at most).".into(),
        ));
    }
    decide(db, by, access, id, now, Decision::Declined(reason)).await
}
