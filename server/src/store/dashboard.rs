//! What the dashboards and the reminder scheduler ask for: a practitioner's
//! upcoming meetings, actions and records to acknowledge; a manager's view
//! of every case their agency works on; and what is due for a reminder.
//! Case content (the child's name) appears only for members of the case.

use sqlx::{AssertSqlSafe, Row};
use time::Date;

use super::deadlines::{ACTION_SELECT, Action, action_from_row, parse_day};
use super::meetings::{MEETING_SELECT, Meeting, meeting_from_row};
use super::{Db, StoreError, StoreResult};
use crate::domain::access::Actor;
use crate::domain::clock::Millis;
use crate::domain::meetings::{DeadlineKind, Standing};
use crate::domain::working_days::Calendar;

/// Scheduled meetings this person organises, chairs or is invited to (and
/// has not declined or passed on), or that their agency is invited to.
pub async fn upcoming_for(
    db: &Db,
    actor: &Actor,
    guest: bool,
    now: Millis,
) -> StoreResult<Vec<Meeting>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{MEETING_SELECT} WHERE m.status = 'scheduled' AND m.ends_at > $1 AND (m.organiser_id = $2 OR m.chair_id = $2 \
         OR EXISTS (SELECT 1 FROM meeting_invitations i WHERE i.meeting_id = m.id AND \
           ((i.person_id = $2 AND i.response NOT IN ('declined', 'nominated')) \
            OR (i.person_id IS NULL AND i.agency_id = $3 AND $4 = 0)))) \
         ORDER BY m.starts_at LIMIT 100"
    )))
    .bind(now)
    .bind(&actor.person_id)
    .bind(&actor.agency_id)
    .bind(i64::from(guest))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(meeting_from_row).collect()
}

/// A circulated record waiting for this person's acknowledgement.
#[derive(Clone, Debug)]
pub struct ToAcknowledge {
    pub meeting: Meeting,
    pub circulated_at: Millis,
}

pub async fn to_acknowledge(db: &Db, actor: &Actor) -> StoreResult<Vec<ToAcknowledge>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{MEETING_SELECT} JOIN minutes_circulations x ON x.meeting_id = m.id \
         WHERE x.person_id = $1 AND x.acknowledged_at IS NULL ORDER BY x.circulated_at"
    )))
    .bind(&actor.person_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ToAcknowledge {
                meeting: meeting_from_row(r)?,
                circulated_at: r.try_get("circulated_at")?,
            })
        })
        .collect()
}

/// One case on a manager's dashboard.
#[derive(Clone, Debug)]
pub struct CaseLine {
    pub case_id: String,
    pub reference: String,
    /// Only when the manager is a member of the case.
    pub child_name: Option<String>,
    pub lead_name: String,
    pub next_meeting: Option<Meeting>,
    /// Unmet deadlines: what, when, where it stands.
    pub deadlines: Vec<(DeadlineKind, Date, Standing)>,
    pub overdue_actions: Vec<Action>,
    /// The oldest date among overdue deadlines and actions, for ordering.
    pub oldest_overdue: Option<Date>,
}

impl CaseLine {
    pub fn overdue_deadlines(&self) -> usize {
        self.deadlines
            .iter()
            .filter(|(_, _, s)| s.is_overdue())
            .count()
    }
}

/// Every open case that someone of the manager's agency currently works on,
/// cases with the oldest overdue item first.
pub async fn manager_overview(
    db: &Db,
    manager: &Actor,
    calendar: &Calendar,
    today: Date,
    now: Millis,
) -> StoreResult<Vec<CaseLine>> {
    let rows = sqlx::query(
        "SELECT DISTINCT c.id, c.reference, c.child_name, lead.name AS lead_name, \
         (SELECT COUNT(*) FROM case_memberships mine WHERE mine.case_id = c.id AND mine.person_id = $1 \
            AND mine.ended_at IS NULL AND (mine.expires_at IS NULL OR mine.expires_at > $3)) AS member \
         FROM cases c JOIN case_memberships cm ON cm.case_id = c.id JOIN people p ON p.id = cm.person_id \
         JOIN people lead ON lead.id = c.lead_social_worker_id \
         WHERE c.status = 'open' AND p.agency_id = $2 AND cm.ended_at IS NULL \
           AND (cm.expires_at IS NULL OR cm.expires_at > $3)",
    )
    .bind(&manager.person_id)
    .bind(&manager.agency_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let case_id: String = r.try_get("id")?;
        let member: i64 = r.try_get("member")?;
        let deadline_rows = sqlx::query(
            "SELECT kind, due_on FROM deadlines WHERE case_id = $1 AND met_on IS NULL ORDER BY due_on",
        )
        .bind(&case_id)
        .fetch_all(db.pool())
        .await?;
        let mut deadlines = Vec::new();
        for d in &deadline_rows {
            let kind: String = d.try_get("kind")?;
            let due_text: String = d.try_get("due_on")?;
            let due = parse_day(&due_text)
                .ok_or_else(|| StoreError::Invalid(format!("stored date '{due_text}'")))?;
            deadlines.push((
                kind.parse().map_err(StoreError::Invalid)?,
                due,
                Standing::of(due, None, today, calendar),
            ));
        }
        let action_rows = sqlx::query(AssertSqlSafe(format!(
            "{ACTION_SELECT} WHERE x.case_id = $1 AND x.status = 'open' AND x.due_on < $2 ORDER BY x.due_on"
        )))
        .bind(&case_id)
        .bind(today.to_string())
        .fetch_all(db.pool())
        .await?;
        let overdue_actions = action_rows
            .iter()
            .map(|a| action_from_row(a, today))
            .collect::<StoreResult<Vec<_>>>()?;
        let next = sqlx::query(AssertSqlSafe(format!(
            "{MEETING_SELECT} WHERE m.case_id = $1 AND m.status = 'scheduled' AND m.ends_at > $2 ORDER BY m.starts_at LIMIT 1"
        )))
        .bind(&case_id)
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
        let oldest_overdue = deadlines
            .iter()
            .filter(|(_, _, s)| s.is_overdue())
            .map(|(_, d, _)| *d)
            .chain(overdue_actions.iter().filter_map(|a| parse_day(&a.due_on)))
            .min();
        out.push(CaseLine {
            case_id,
            reference: r.try_get("reference")?,
            child_name: (member > 0)
                .then(|| super::cases::child_field(db, r, "child_name"))
                .transpose()?,
            lead_name: r.try_get("lead_name")?,
            next_meeting: next.as_ref().map(meeting_from_row).transpose()?,
            deadlines,
            overdue_actions,
            oldest_overdue,
        });
    }
    // Oldest overdue first; then the soonest due; then by reference.
    out.sort_by(|a, b| {
        let key = |c: &CaseLine| {
            (
                c.oldest_overdue.is_none(),
                c.oldest_overdue,
                c.deadlines.first().map(|(_, d, _)| *d),
                c.reference.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(out)
}

/// Reserve a reminder by its key. True exactly once per key, whatever the
/// restarts or the number of nodes: send only when this returns true.
pub async fn claim_reminder(db: &Db, key: &str, now: Millis) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO reminders_sent (key, sent_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Scheduled meetings starting in `[from, to)`.
pub async fn meetings_starting(db: &Db, from: Millis, to: Millis) -> StoreResult<Vec<Meeting>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{MEETING_SELECT} WHERE m.status = 'scheduled' AND m.starts_at >= $1 AND m.starts_at < $2 ORDER BY m.starts_at"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(meeting_from_row).collect()
}

/// Open actions past their due date, with where to send the reminder: the
/// owner, or the owning agency's duty address.
pub async fn overdue_actions(db: &Db, today: Date) -> StoreResult<Vec<(Action, Option<String>)>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{ACTION_SELECT} WHERE x.status = 'open' AND c.status = 'open' AND x.due_on < $1 ORDER BY x.due_on"
    )))
    .bind(today.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let action = action_from_row(r, today)?;
        let to = match &action.owner_person_id {
            Some(pid) => Some(super::people::get(db, pid).await?.email),
            None => {
                super::agencies::find(db, &action.owner_agency_id)
                    .await?
                    .duty_email
            }
        };
        out.push((action, to));
    }
    Ok(out)
}

/// An unmet deadline past its date, for the lead social worker's reminder.
#[derive(Clone, Debug)]
pub struct OverdueDeadline {
    pub id: String,
    pub kind: DeadlineKind,
    pub due_on: String,
    pub case_id: String,
    pub case_reference: String,
    pub lead_email: String,
}

pub async fn overdue_deadlines(db: &Db, today: Date) -> StoreResult<Vec<OverdueDeadline>> {
    let rows = sqlx::query(
        "SELECT d.id, d.kind, d.due_on, d.case_id, c.reference, p.email FROM deadlines d \
         JOIN cases c ON c.id = d.case_id JOIN people p ON p.id = c.lead_social_worker_id \
         WHERE d.met_on IS NULL AND d.due_on < $1 AND c.status = 'open' ORDER BY d.due_on",
    )
    .bind(today.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(OverdueDeadline {
                id: r.try_get("id")?,
                kind: kind.parse().map_err(StoreError::Invalid)?,
                due_on: r.try_get("due_on")?,
                case_id: r.try_get("case_id")?,
                case_reference: r.try_get("reference")?,
                lead_email: r.try_get("email")?,
            })
        })
        .collect()
}
