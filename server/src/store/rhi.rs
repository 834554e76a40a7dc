//! Return home interviews: assigning the independent interviewer, every
//! attempt to reach the child, and the outcome (rules in
//! [`crate::domain::missing`]). The interview itself is opened by
//! [`super::missing::record_return`]. Everything takes a [`CaseAccess`] and
//! looks the interview up within its case.

use sqlx::{AssertSqlSafe, Row};

use super::missing::{INTERVIEW_SELECT, Interview, audit_missing, interview_from_row, text};
use super::{Conn, Db, StoreError, StoreResult, cases, new_id, people};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::missing::{
    AttemptMethod, AttemptOutcome, InterviewOutcome, OutcomeRecord, check_assign, check_attempt,
    check_outcome,
};
use crate::domain::vocabulary::AgencyKind;

#[derive(Clone, Debug)]
pub struct Attempt {
    pub attempted_at: Millis,
    pub method: AttemptMethod,
    pub outcome: AttemptOutcome,
    pub note: String,
    pub recorded_by_name: String,
}

/// Every attempt to reach the child, in the order they happened.
pub async fn attempts(
    db: &Db,
    access: &CaseAccess,
    interview_id: &str,
) -> StoreResult<Vec<Attempt>> {
    let rows = sqlx::query(
        "SELECT t.attempted_at, t.method, t.outcome, t.note, p.name AS recorded_by_name \
         FROM rhi_attempts t JOIN people p ON p.id = t.recorded_by \
         WHERE t.interview_id = $1 AND t.case_id = $2 ORDER BY t.attempted_at, t.recorded_at",
    )
    .bind(interview_id)
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let method: String = r.try_get("method")?;
            let outcome: String = r.try_get("outcome")?;
            Ok(Attempt {
                attempted_at: r.try_get("attempted_at")?,
                method: method.parse().map_err(StoreError::Invalid)?,
                outcome: outcome.parse().map_err(StoreError::Invalid)?,
                note: r.try_get("note")?,
                recorded_by_name: r.try_get("recorded_by_name")?,
            })
        })
        .collect()
}

/// Whether the actor may manage the interview: its interviewer, or anyone
/// from children's social care in the case (the local authority arranges
/// return interviews).
pub async fn may_manage_interview(
    db: &Db,
    actor: &Actor,
    interview: &Interview,
) -> StoreResult<bool> {
    if interview.interviewer_person_id.as_deref() == Some(actor.person_id.as_str()) {
        return Ok(true);
    }
    Ok(people::get(db, &actor.person_id).await?.agency_kind == AgencyKind::ChildrensSocialCare)
}

pub(super) async fn locked_interview(
    conn: &mut Conn,
    access: &CaseAccess,
    episode_id: &str,
) -> StoreResult<Interview> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{INTERVIEW_SELECT} WHERE i.episode_id = $1 AND i.case_id = $2"
    )))
    .bind(episode_id)
    .bind(access.case_id())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    interview_from_row(&row)
}

pub(super) fn forbidden_to_manage() -> StoreError {
    StoreError::Forbidden(
        "Only the interviewer, or children's social care in the case, record the return home interview.".into(),
    )
}

/// Assign (or change) the independent interviewer: a current member of the
/// case team, not the lead social worker. Children's social care decides.
pub async fn assign_interviewer(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    episode_id: &str,
    interviewer_id: &str,
    now: Millis,
) -> StoreResult<()> {
    if people::get(db, &by.person_id).await?.agency_kind != AgencyKind::ChildrensSocialCare {
        return Err(StoreError::Forbidden(
            "Children's social care assigns the return home interview.".into(),
        ));
    }
    let case = cases::get(db, access).await?;
    if !cases::team(db, access, now)
        .await?
        .iter()
        .any(|m| m.person_id == interviewer_id)
    {
        return Err(StoreError::Invalid(
            "The interviewer must be in the case team: choose someone from the list, or invite them by email.".into(),
        ));
    }
    let mut tx = db.write().await?;
    let interview = locked_interview(&mut tx, access, episode_id).await?;
    check_assign(
        &interview.state(),
        interviewer_id,
        &case.lead_social_worker_id,
    )
    .map_err(StoreError::Invalid)?;
    sqlx::query(
        "UPDATE return_interviews SET interviewer_person_id = $1, assigned_by = $2, assigned_at = $3 WHERE id = $4 AND outcome IS NULL",
    )
    .bind(interviewer_id)
    .bind(&by.person_id)
    .bind(now)
    .bind(&interview.id)
    .execute(&mut *tx)
    .await?;
    audit_missing(&mut tx, by, access, now, "missing.interviewer_assigned", &interview.id, serde_json::json!({ "interviewer": interviewer_id, "previous": interview.interviewer_person_id })).await?;
    tx.commit().await?;
    Ok(())
}

/// An attempt to record.
#[derive(Clone, Debug)]
pub struct NewAttempt {
    pub attempted_at: Millis,
    pub method: AttemptMethod,
    pub outcome: AttemptOutcome,
    pub note: String,
}

/// Record one attempt to reach the child, while the interview is open.
pub async fn record_attempt(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    episode_id: &str,
    now: Millis,
    a: NewAttempt,
) -> StoreResult<()> {
    let note = text(&a.note, "the note", 2000, false)?;
    let mut tx = db.write().await?;
    let interview = locked_interview(&mut tx, access, episode_id).await?;
    if !may_manage_interview(db, by, &interview).await? {
        return Err(forbidden_to_manage());
    }
    check_attempt(&interview.state(), a.attempted_at, now).map_err(StoreError::Invalid)?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO rhi_attempts (id, interview_id, case_id, attempted_at, method, outcome, note, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&interview.id)
    .bind(access.case_id())
    .bind(a.attempted_at)
    .bind(a.method.as_str())
    .bind(a.outcome.as_str())
    .bind(&note)
    .bind(&by.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit_missing(&mut tx, by, access, now, "missing.rhi_attempt_recorded", &interview.id, serde_json::json!({ "attempt_id": id, "method": a.method.as_str(), "outcome": a.outcome.as_str() })).await?;
    tx.commit().await?;
    Ok(())
}

/// Record how the interview ended: once.
pub async fn record_outcome(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    episode_id: &str,
    now: Millis,
    o: OutcomeRecord,
) -> StoreResult<()> {
    let contribution = text(
        &o.carers_contribution,
        "the carers' contribution",
        4000,
        false,
    )?;
    let reason = text(&o.not_completed_reason, "the reason", 2000, false)?;
    let mut tx = db.write().await?;
    let interview = locked_interview(&mut tx, access, episode_id).await?;
    if !may_manage_interview(db, by, &interview).await? {
        return Err(forbidden_to_manage());
    }
    check_outcome(&interview.state(), &o, now).map_err(StoreError::Invalid)?;
    let declined = o.outcome == InterviewOutcome::Declined;
    let done = sqlx::query(
        "UPDATE return_interviews SET outcome = $1, outcome_at = $2, carers_offered = $3, carers_contribution = $4, \
         not_completed_reason = $5, outcome_recorded_by = $6, outcome_recorded_at = $7 WHERE id = $8 AND outcome IS NULL",
    )
    .bind(o.outcome.as_str())
    .bind(o.at)
    .bind(if declined { o.carers_offered.map(i64::from) } else { None })
    .bind(if declined { contribution } else { String::new() })
    .bind(if o.outcome == InterviewOutcome::NotCompleted { reason } else { String::new() })
    .bind(&by.person_id)
    .bind(now)
    .bind(&interview.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Invalid(
            "The interview's outcome is already recorded.".into(),
        ));
    }
    audit_missing(&mut tx, by, access, now, "missing.rhi_outcome_recorded", &interview.id, serde_json::json!({ "outcome": o.outcome.as_str(), "at": o.at, "in_time": o.at <= interview.due_at })).await?;
    tx.commit().await?;
    Ok(())
}
