//! Missing episodes and their return home interviews: recording an episode
//! (with its own channel), the return (which opens the interview and starts
//! its 72-hour clock), assigning the independent interviewer, every attempt
//! to reach the child, and the outcome. Rules are in
//! [`crate::domain::missing`]; prompts to convene a strategy discussion are
//! in [`super::strategy_prompts`].
//!
//! Everything takes a [`CaseAccess`] and looks rows up within its case, so
//! another case's episode is [`StoreError::NotFound`], like an unknown id.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::{self, NewEvent};
use super::{Conn, Db, StoreError, StoreResult, channels, new_id, people, strategy_prompts};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::missing::{
    InterviewOutcome, InterviewState, PromptReason, check_return, may_record_episode,
    reaches_threshold, rhi_due_at,
};

/// The repeat-missing settings the store needs when an episode is recorded.
#[derive(Clone, Copy, Debug)]
pub struct Repeat {
    pub window_days: u64,
    pub threshold: u64,
}

#[derive(Clone, Debug)]
pub struct Episode {
    pub id: String,
    pub case_id: String,
    pub channel_id: String,
    pub reported_missing_at: Millis,
    pub reported_by: String,
    pub police_reference: String,
    pub recorded_by_name: String,
    pub recorded_at: Millis,
    pub returned_at: Option<Millis>,
    pub found_where: String,
    pub found_by: String,
    pub harmed: Option<bool>,
    pub harm_detail: String,
}

#[derive(Clone, Debug)]
pub struct Interview {
    pub id: String,
    pub episode_id: String,
    pub case_id: String,
    pub returned_at: Millis,
    pub due_at: Millis,
    pub interviewer_person_id: Option<String>,
    pub interviewer_name: Option<String>,
    pub interviewer_agency: Option<String>,
    pub outcome: Option<InterviewOutcome>,
    pub outcome_at: Option<Millis>,
    pub carers_offered: Option<bool>,
    pub carers_contribution: String,
    pub not_completed_reason: String,
}

impl Interview {
    pub fn state(&self) -> InterviewState {
        InterviewState {
            returned_at: self.returned_at,
            outcome: self.outcome,
            interviewer_person_id: self.interviewer_person_id.clone(),
        }
    }
    pub fn closed(&self) -> Option<(InterviewOutcome, Millis)> {
        self.outcome.zip(self.outcome_at)
    }
}

const EPISODE_SELECT: &str = "SELECT e.id, e.case_id, e.channel_id, e.reported_missing_at, e.reported_by, \
     e.police_reference, p.name AS recorded_by_name, e.recorded_at, e.returned_at, e.found_where, e.found_by, \
     e.harmed, e.harm_detail FROM missing_episodes e JOIN people p ON p.id = e.recorded_by";

fn episode_from_row(r: &AnyRow) -> StoreResult<Episode> {
    let harmed: Option<i64> = r.try_get("harmed")?;
    Ok(Episode {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        channel_id: r.try_get("channel_id")?,
        reported_missing_at: r.try_get("reported_missing_at")?,
        reported_by: r.try_get("reported_by")?,
        police_reference: r.try_get("police_reference")?,
        recorded_by_name: r.try_get("recorded_by_name")?,
        recorded_at: r.try_get("recorded_at")?,
        returned_at: r.try_get("returned_at")?,
        found_where: r
            .try_get::<Option<String>, _>("found_where")?
            .unwrap_or_default(),
        found_by: r
            .try_get::<Option<String>, _>("found_by")?
            .unwrap_or_default(),
        harmed: harmed.map(|h| h != 0),
        harm_detail: r.try_get("harm_detail")?,
    })
}

pub(crate) const INTERVIEW_SELECT: &str = "SELECT i.id, i.episode_id, i.case_id, e.returned_at, i.due_at, \
     i.interviewer_person_id, p.name AS interviewer_name, a.name AS interviewer_agency, i.outcome, i.outcome_at, \
     i.carers_offered, i.carers_contribution, i.not_completed_reason \
     FROM return_interviews i JOIN missing_episodes e ON e.id = i.episode_id \
     LEFT JOIN people p ON p.id = i.interviewer_person_id LEFT JOIN agencies a ON a.id = p.agency_id";

pub(crate) fn interview_from_row(r: &AnyRow) -> StoreResult<Interview> {
    let outcome: Option<String> = r.try_get("outcome")?;
    let carers: Option<i64> = r.try_get("carers_offered")?;
    Ok(Interview {
        id: r.try_get("id")?,
        episode_id: r.try_get("episode_id")?,
        case_id: r.try_get("case_id")?,
        returned_at: r
            .try_get::<Option<Millis>, _>("returned_at")?
            .unwrap_or_default(),
        due_at: r.try_get("due_at")?,
        interviewer_person_id: r.try_get("interviewer_person_id")?,
        interviewer_name: r.try_get("interviewer_name")?,
        interviewer_agency: r.try_get("interviewer_agency")?,
        outcome: outcome
            .map(|o| o.parse())
            .transpose()
            .map_err(StoreError::Invalid)?,
        outcome_at: r.try_get("outcome_at")?,
        carers_offered: carers.map(|c| c != 0),
        carers_contribution: r.try_get("carers_contribution")?,
        not_completed_reason: r.try_get("not_completed_reason")?,
    })
}

/// The case's episodes, newest first, each with its interview if the return is recorded.
pub async fn episodes(
    db: &Db,
    access: &CaseAccess,
) -> StoreResult<Vec<(Episode, Option<Interview>)>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{EPISODE_SELECT} WHERE e.case_id = $1 ORDER BY e.reported_missing_at DESC"
    )))
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let interviews = sqlx::query(AssertSqlSafe(format!(
        "{INTERVIEW_SELECT} WHERE i.case_id = $1"
    )))
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(interview_from_row)
    .collect::<StoreResult<Vec<_>>>()?;
    rows.iter()
        .map(|r| {
            let e = episode_from_row(r)?;
            let i = interviews.iter().find(|i| i.episode_id == e.id).cloned();
            Ok((e, i))
        })
        .collect()
}

/// One episode of the case.
pub async fn episode(db: &Db, access: &CaseAccess, id: &str) -> StoreResult<Episode> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{EPISODE_SELECT} WHERE e.id = $1 AND e.case_id = $2"
    )))
    .bind(id)
    .bind(access.case_id())
    .fetch_optional(db.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    episode_from_row(&row)
}

/// The interview of one episode of the case, if the return is recorded.
pub async fn interview_of(
    db: &Db,
    access: &CaseAccess,
    episode_id: &str,
) -> StoreResult<Option<Interview>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{INTERVIEW_SELECT} WHERE i.episode_id = $1 AND i.case_id = $2"
    )))
    .bind(episode_id)
    .bind(access.case_id())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(interview_from_row).transpose()
}

/// The agency kind of the actor, and whether they may record episodes.
pub async fn may_record(db: &Db, actor: &Actor) -> StoreResult<bool> {
    Ok(may_record_episode(
        people::get(db, &actor.person_id).await?.agency_kind,
    ))
}

async fn require_recorder(db: &Db, actor: &Actor) -> StoreResult<()> {
    if may_record(db, actor).await? {
        Ok(())
    } else {
        Err(StoreError::Forbidden(
            "Only children's social care, the police and the child's care provider record missing episodes and returns."
                .into(),
        ))
    }
}

pub(crate) fn text(value: &str, what: &str, max: usize, required: bool) -> StoreResult<String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(StoreError::Invalid(format!("Enter {what}.")));
    }
    if v.chars().count() > max {
        return Err(StoreError::Invalid(format!(
            "{} is too long ({max} characters at most).",
            capitalise(what)
        )));
    }
    Ok(v.to_string())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Append the audit event of a change to a missing episode or its interview.
pub(crate) async fn audit_missing(
    conn: &mut Conn,
    by: &Actor,
    access: &CaseAccess,
    now: Millis,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> StoreResult<()> {
    audit::append(
        conn,
        now,
        NewEvent {
            actor_id: Some(&by.person_id),
            actor_label: &by.name,
            action,
            case_id: Some(access.case_id()),
            subject: Some(subject),
            detail,
        },
    )
    .await?;
    Ok(())
}

/// A missing episode to record.
#[derive(Clone, Debug)]
pub struct NewEpisode {
    pub reported_missing_at: Millis,
    pub reported_by: String,
    pub police_reference: String,
}

/// Record that the child was reported missing: the episode, its channel,
/// and (when the episode takes the child to the repeat-missing threshold) a
/// prompt to the lead social worker, all in one transaction.
pub async fn record_episode(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    now: Millis,
    new: NewEpisode,
    repeat: Repeat,
) -> StoreResult<String> {
    require_recorder(db, by).await?;
    let reported_by = text(
        &new.reported_by,
        "who reported the child missing",
        200,
        true,
    )?;
    let police_reference = text(&new.police_reference, "the police reference", 100, false)?;
    if new.reported_missing_at > now {
        return Err(StoreError::Invalid(
            "The time reported missing cannot be in the future.".into(),
        ));
    }
    let id = new_id();
    let mut tx = db.write().await?;
    let day = crate::store::meetings::london_date(new.reported_missing_at);
    let channel_id = channels::create_in(
        &mut tx,
        access.case_id(),
        "missing_episode",
        &format!("Missing episode {day}"),
        now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO missing_episodes (id, case_id, channel_id, reported_missing_at, reported_by, police_reference, \
         recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(access.case_id())
    .bind(&channel_id)
    .bind(new.reported_missing_at)
    .bind(&reported_by)
    .bind(&police_reference)
    .bind(&by.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit_missing(&mut tx, by, access, now, "missing.episode_recorded", &id, serde_json::json!({ "reported_missing_at": new.reported_missing_at, "channel_id": channel_id })).await?;
    let reported: Vec<Millis> =
        sqlx::query("SELECT reported_missing_at FROM missing_episodes WHERE case_id = $1")
            .bind(access.case_id())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("reported_missing_at"))
            .collect::<Result<_, _>>()?;
    if reaches_threshold(
        &reported,
        new.reported_missing_at,
        repeat.window_days,
        repeat.threshold,
    ) {
        let n = crate::domain::missing::Trend::of(
            &reported,
            new.reported_missing_at,
            repeat.window_days,
        )
        .current;
        strategy_prompts::raise_strategy_prompt(
            &mut tx,
            access.case_id(),
            PromptReason::RepeatMissing,
            &format!("{n} missing episodes in {} days", repeat.window_days),
            &id,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The child's return.
#[derive(Clone, Debug)]
pub struct NewReturn {
    pub returned_at: Millis,
    pub found_where: String,
    pub found_by: String,
    pub harmed: Option<bool>,
    pub harm_detail: String,
}

/// Record the return: once, and it opens the return home interview with its
/// 72-hour clock.
pub async fn record_return(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    episode_id: &str,
    now: Millis,
    r: NewReturn,
) -> StoreResult<String> {
    require_recorder(db, by).await?;
    let found_where = text(&r.found_where, "where the child was found", 500, true)?;
    let found_by = text(
        &r.found_by,
        "who found the child or brought them back",
        200,
        true,
    )?;
    let harm_detail = text(&r.harm_detail, "the harm", 2000, false)?;
    let Some(harmed) = r.harmed else {
        return Err(StoreError::Invalid(
            "Say whether the child was harmed.".into(),
        ));
    };
    if harmed && harm_detail.is_empty() {
        return Err(StoreError::Invalid("Describe the harm.".into()));
    }
    let mut tx = db.write().await?;
    let row = sqlx::query("SELECT reported_missing_at, returned_at FROM missing_episodes WHERE id = $1 AND case_id = $2")
        .bind(episode_id)
        .bind(access.case_id())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let reported: Millis = row.try_get("reported_missing_at")?;
    let returned: Option<Millis> = row.try_get("returned_at")?;
    check_return(reported, returned.is_some(), r.returned_at, now).map_err(StoreError::Invalid)?;
    let done = sqlx::query(
        "UPDATE missing_episodes SET returned_at = $1, found_where = $2, found_by = $3, harmed = $4, harm_detail = $5, \
         return_recorded_by = $6, return_recorded_at = $7 WHERE id = $8 AND returned_at IS NULL",
    )
    .bind(r.returned_at)
    .bind(&found_where)
    .bind(&found_by)
    .bind(i64::from(harmed))
    .bind(&harm_detail)
    .bind(&by.person_id)
    .bind(now)
    .bind(episode_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Invalid(
            "The return is already recorded for this episode.".into(),
        ));
    }
    let interview_id = new_id();
    let due_at = rhi_due_at(r.returned_at);
    sqlx::query(
        "INSERT INTO return_interviews (id, episode_id, case_id, due_at, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&interview_id)
    .bind(episode_id)
    .bind(access.case_id())
    .bind(due_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit_missing(&mut tx, by, access, now, "missing.return_recorded", episode_id, serde_json::json!({ "returned_at": r.returned_at, "harmed": harmed, "interview_id": interview_id, "due_at": due_at })).await?;
    tx.commit().await?;
    Ok(interview_id)
}
