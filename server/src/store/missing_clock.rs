//! Open return home interviews and strategy prompts across cases, for the
//! dashboard and the reminder scheduler. Rows carry Confer's case reference,
//! never the child's details.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Db, StoreResult};
use crate::domain::access::Actor;
use crate::domain::clock::Millis;

/// An interview without an outcome.
#[derive(Clone, Debug)]
pub struct OpenInterview {
    pub interview_id: String,
    pub episode_id: String,
    pub case_id: String,
    pub case_reference: String,
    pub due_at: Millis,
    pub interviewer_name: Option<String>,
    pub interviewer_email: Option<String>,
    pub lead_email: String,
}

const OPEN_SELECT: &str = "SELECT i.id, i.episode_id, i.case_id, c.reference, i.due_at, p.name AS interviewer_name, \
     p.email AS interviewer_email, lead.email AS lead_email \
     FROM return_interviews i JOIN cases c ON c.id = i.case_id JOIN people lead ON lead.id = c.lead_social_worker_id \
     LEFT JOIN people p ON p.id = i.interviewer_person_id \
     WHERE i.outcome IS NULL AND c.status = 'open'";

fn open_from_row(r: &AnyRow) -> StoreResult<OpenInterview> {
    Ok(OpenInterview {
        interview_id: r.try_get("id")?,
        episode_id: r.try_get("episode_id")?,
        case_id: r.try_get("case_id")?,
        case_reference: r.try_get("reference")?,
        due_at: r.try_get("due_at")?,
        interviewer_name: r.try_get("interviewer_name")?,
        interviewer_email: r.try_get("interviewer_email")?,
        lead_email: r.try_get("lead_email")?,
    })
}

async fn open_where(
    db: &Db,
    filter: &str,
    binds: &[&str],
    now: Option<Millis>,
) -> StoreResult<Vec<OpenInterview>> {
    let sql = format!("{OPEN_SELECT}{filter} ORDER BY i.due_at");
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b.to_string());
    }
    if let Some(now) = now {
        q = q.bind(now);
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(open_from_row)
        .collect()
}

/// Every open interview (the scheduler decides which are at risk or overdue).
pub async fn all_open(db: &Db) -> StoreResult<Vec<OpenInterview>> {
    open_where(db, "", &[], None).await
}

/// Interviews assigned to this person, and open interviews on cases they
/// lead (whoever, if anyone, is assigned), while they are in the case.
pub async fn open_for(db: &Db, actor: &Actor, now: Millis) -> StoreResult<Vec<OpenInterview>> {
    open_where(
        db,
        " AND (i.interviewer_person_id = $1 OR c.lead_social_worker_id = $1) AND EXISTS (SELECT 1 FROM case_memberships m \
           WHERE m.case_id = c.id AND m.person_id = $1 AND m.ended_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > $2))",
        &[&actor.person_id],
        Some(now),
    )
    .await
}

/// Open interviews on every open case someone of the manager's agency works on.
pub async fn open_for_manager(
    db: &Db,
    manager: &Actor,
    now: Millis,
) -> StoreResult<Vec<OpenInterview>> {
    open_where(
        db,
        " AND EXISTS (SELECT 1 FROM case_memberships m JOIN people mp ON mp.id = m.person_id \
           WHERE m.case_id = c.id AND mp.agency_id = $1 AND m.ended_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > $2))",
        &[&manager.agency_id],
        Some(now),
    )
    .await
}

/// An open prompt to convene a strategy discussion.
#[derive(Clone, Debug)]
pub struct OpenPrompt {
    pub id: String,
    pub case_id: String,
    pub case_reference: String,
    pub detail: String,
    pub lead_email: String,
}

const PROMPT_SELECT: &str = "SELECT s.id, s.case_id, c.reference, s.detail, lead.email AS lead_email \
     FROM strategy_prompts s JOIN cases c ON c.id = s.case_id JOIN people lead ON lead.id = c.lead_social_worker_id \
     WHERE s.status = 'open' AND c.status = 'open'";

fn prompt_from_row(r: &AnyRow) -> StoreResult<OpenPrompt> {
    Ok(OpenPrompt {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        case_reference: r.try_get("reference")?,
        detail: r.try_get("detail")?,
        lead_email: r.try_get("lead_email")?,
    })
}

/// Every open prompt, for the scheduler's email to the lead social worker.
pub async fn all_open_prompts(db: &Db) -> StoreResult<Vec<OpenPrompt>> {
    sqlx::query(AssertSqlSafe(format!(
        "{PROMPT_SELECT} ORDER BY s.raised_at"
    )))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(prompt_from_row)
    .collect()
}

/// Open prompts on the cases this person leads.
pub async fn open_prompts_for_lead(db: &Db, actor: &Actor) -> StoreResult<Vec<OpenPrompt>> {
    sqlx::query(AssertSqlSafe(format!(
        "{PROMPT_SELECT} AND c.lead_social_worker_id = $1 ORDER BY s.raised_at"
    )))
    .bind(&actor.person_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(prompt_from_row)
    .collect()
}
