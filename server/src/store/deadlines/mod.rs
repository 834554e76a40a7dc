//! The statutory clock as stored: deadlines that recorded outcomes set, the
//! meetings that meet them, and extensions (a reason and a manager's
//! agreement). Also the actions agreed at meetings, which have owners and
//! due dates and run on the same clock.

mod actions;

pub use actions::*;

use sqlx::Row;
use time::Date;

use super::audit::{self};
use super::meetings::{Meeting, MeetingAccess, Reach};
use super::{Conn, Db, StoreError, StoreResult, new_id};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::meetings::{
    ActionStatus, ClockEvent, DeadlineKind, Outcome, Standing, check_extension, deadline_for_event,
    deadlines_from,
};
use crate::domain::vocabulary::Role;
use crate::domain::working_days::Calendar;

pub use crate::domain::clock::parse_day;

fn day(text: &str) -> StoreResult<Date> {
    parse_day(text).ok_or_else(|| StoreError::Invalid(format!("stored date '{text}'")))
}

/// Replace the not-yet-met deadlines a meeting set with those its (new)
/// outcome sets, and mark met the earlier deadlines this meeting meets.
/// Returns the kinds set, for the audit event.
pub(crate) async fn set_from_outcome(
    conn: &mut Conn,
    meeting: &Meeting,
    held_on: Date,
    outcome: &Outcome,
    calendar: &Calendar,
    now: Millis,
) -> StoreResult<Vec<&'static str>> {
    let wanted = deadlines_from(meeting.kind, held_on, outcome, calendar);
    // What this meeting set before (when its outcome is corrected).
    let before = sqlx::query(
        "SELECT id, kind, statutory_due_on, due_on, met_on FROM deadlines WHERE source_meeting_id = $1",
    )
    .bind(&meeting.id)
    .fetch_all(&mut *conn)
    .await?;
    // Unmet deadlines the corrected outcome no longer sets go, with their
    // extensions. Those it still sets are kept as they are: correcting a
    // detail of the record must not undo a manager's agreed later date.
    for r in &before {
        let kind: String = r.try_get("kind")?;
        let met: Option<String> = r.try_get("met_on")?;
        if met.is_none() && !wanted.iter().any(|d| d.kind.as_str() == kind) {
            let id: String = r.try_get("id")?;
            sqlx::query("DELETE FROM deadline_extensions WHERE deadline_id = $1")
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM deadlines WHERE id = $1")
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        }
    }
    let mut set = Vec::new();
    for due in wanted {
        let mut kept = None;
        for r in &before {
            if r.try_get::<String, _>("kind")? == due.kind.as_str() {
                kept = Some(r);
            }
        }
        if let Some(r) = kept {
            if r.try_get::<Option<String>, _>("met_on")?.is_some() {
                continue;
            }
            // Still due: the statutory date follows the day held; an agreed
            // later date stays unless the new statutory date passes it.
            let statutory = day(&r.try_get::<String, _>("statutory_due_on")?)?;
            let due_on = day(&r.try_get::<String, _>("due_on")?)?;
            if statutory != due.due_on {
                let new_due = if due_on == statutory {
                    due.due_on
                } else {
                    due_on.max(due.due_on)
                };
                sqlx::query(
                    "UPDATE deadlines SET started_on = $1, statutory_due_on = $2, due_on = $3 WHERE id = $4",
                )
                .bind(held_on.to_string())
                .bind(due.due_on.to_string())
                .bind(new_due.to_string())
                .bind(r.try_get::<String, _>("id")?)
                .execute(&mut *conn)
                .await?;
            }
            set.push(due.kind.as_str());
            continue;
        }
        sqlx::query(
            "INSERT INTO deadlines (id, case_id, kind, source_meeting_id, started_on, statutory_due_on, due_on, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(new_id())
        .bind(&meeting.case_id)
        .bind(due.kind.as_str())
        .bind(&meeting.id)
        .bind(held_on.to_string())
        .bind(due.due_on.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        set.push(due.kind.as_str());
    }
    // This meeting meets the open deadlines of its kind started before it
    // (by an earlier meeting or an event on the case).
    for kind in DeadlineKind::ALL {
        if kind.met_by() == Some(meeting.kind) {
            sqlx::query(
                "UPDATE deadlines SET met_on = $1, met_by_meeting_id = $2 \
                 WHERE case_id = $3 AND kind = $4 AND met_on IS NULL \
                 AND (source_meeting_id IS NULL OR source_meeting_id <> $2) AND started_on <= $1",
            )
            .bind(held_on.to_string())
            .bind(&meeting.id)
            .bind(&meeting.case_id)
            .bind(kind.as_str())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(set)
}

/// Circulating a strategy discussion's record meets its record deadline.
pub(crate) async fn meet_record(conn: &mut Conn, meeting_id: &str, on: Date) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deadlines SET met_on = $1, met_by_meeting_id = $2 \
         WHERE source_meeting_id = $2 AND kind = 'strategy_record' AND met_on IS NULL",
    )
    .bind(on.to_string())
    .bind(meeting_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Start the clock from an event recorded on the case: a concern of
/// significant harm (a strategy discussion is due) or an accepted referral
/// (the assessment is due). Any member of the case team may record one.
#[allow(clippy::too_many_arguments)]
pub async fn start_clock(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    event: ClockEvent,
    on: Date,
    note: &str,
    calendar: &Calendar,
    next_day: bool,
    today: Date,
    now: Millis,
) -> StoreResult<()> {
    if on > today {
        return Err(StoreError::Invalid(
            "The date cannot be in the future.".into(),
        ));
    }
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(StoreError::Invalid(
            "Say briefly what happened (500 characters at most).".into(),
        ));
    }
    let due = deadline_for_event(event, on, calendar, next_day);
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO deadlines (id, case_id, kind, source_meeting_id, started_on, started_by, note, statutory_due_on, \
         due_on, created_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $7, $8)",
    )
    .bind(&id)
    .bind(access.case_id())
    .bind(due.kind.as_str())
    .bind(on.to_string())
    .bind(&actor.person_id)
    .bind(note)
    .bind(due.due_on.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "deadline.started",
        Some(access.case_id()),
        Some(&id),
        serde_json::json!({ "kind": due.kind.as_str(), "started_on": on.to_string(),
                                        "due_on": due.due_on.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Record that the assessment an accepted referral started is complete.
pub async fn complete_assessment(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    deadline_id: &str,
    on: Date,
    today: Date,
    now: Millis,
) -> StoreResult<()> {
    if on > today {
        return Err(StoreError::Invalid(
            "The date cannot be in the future.".into(),
        ));
    }
    let row = sqlx::query("SELECT started_on, met_on FROM deadlines WHERE id = $1 AND case_id = $2 AND kind = 'assessment'")
        .bind(deadline_id)
        .bind(access.case_id())
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    if row.try_get::<Option<String>, _>("met_on")?.is_some() {
        return Err(StoreError::Invalid(
            "The assessment is already recorded as complete.".into(),
        ));
    }
    if on < day(&row.try_get::<String, _>("started_on")?)? {
        return Err(StoreError::Invalid(
            "The assessment cannot end before the referral.".into(),
        ));
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE deadlines SET met_on = $1 WHERE id = $2")
        .bind(on.to_string())
        .bind(deadline_id)
        .execute(&mut *tx)
        .await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "deadline.met",
        Some(access.case_id()),
        Some(deadline_id),
        serde_json::json!({ "kind": "assessment", "met_on": on.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Extension {
    pub id: String,
    pub old_due_on: String,
    pub new_due_on: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: Millis,
    pub status: String,
    pub decided_by: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Deadline {
    pub id: String,
    pub case_id: String,
    pub kind: DeadlineKind,
    /// The meeting whose outcome set it, if one did.
    pub source_meeting_id: Option<String>,
    pub started_on: String,
    /// What started it, when an event on the case did.
    pub note: String,
    pub statutory_due_on: Date,
    pub due_on: Date,
    pub met_on: Option<Date>,
    pub standing: Standing,
    pub extensions: Vec<Extension>,
}

/// The deadlines of a case, with where each stands today.
pub async fn of_case(
    db: &Db,
    access: &CaseAccess,
    calendar: &Calendar,
    today: Date,
) -> StoreResult<Vec<Deadline>> {
    let rows = sqlx::query(
        "SELECT id, case_id, kind, source_meeting_id, started_on, note, statutory_due_on, due_on, met_on FROM deadlines \
         WHERE case_id = $1 ORDER BY due_on, kind",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let due_on = day(&r.try_get::<String, _>("due_on")?)?;
        let met_on = match r.try_get::<Option<String>, _>("met_on")? {
            Some(t) => Some(day(&t)?),
            None => None,
        };
        let id: String = r.try_get("id")?;
        out.push(Deadline {
            extensions: extensions(db, &id).await?,
            id,
            case_id: r.try_get("case_id")?,
            kind: kind.parse().map_err(StoreError::Invalid)?,
            source_meeting_id: r.try_get("source_meeting_id")?,
            started_on: r.try_get("started_on")?,
            note: r.try_get("note")?,
            statutory_due_on: day(&r.try_get::<String, _>("statutory_due_on")?)?,
            due_on,
            met_on,
            standing: Standing::of(due_on, met_on, today, calendar),
        });
    }
    Ok(out)
}

async fn extensions(db: &Db, deadline_id: &str) -> StoreResult<Vec<Extension>> {
    let rows = sqlx::query(
        "SELECT e.id, e.old_due_on, e.new_due_on, e.reason, r.name AS requested_by, e.requested_at, e.status, \
         d.name AS decided_by FROM deadline_extensions e JOIN people r ON r.id = e.requested_by \
         LEFT JOIN people d ON d.id = e.decided_by WHERE e.deadline_id = $1 ORDER BY e.requested_at",
    )
    .bind(deadline_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Extension {
                id: r.try_get("id")?,
                old_due_on: r.try_get("old_due_on")?,
                new_due_on: r.try_get("new_due_on")?,
                reason: r.try_get("reason")?,
                requested_by: r.try_get("requested_by")?,
                requested_at: r.try_get("requested_at")?,
                status: r.try_get("status")?,
                decided_by: r.try_get("decided_by")?,
            })
        })
        .collect()
}

/// Ask for a later date. A manager in the case team agrees as they ask;
/// anyone else's request waits for a manager.
pub async fn request_extension(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    deadline_id: &str,
    new_due_on: Date,
    reason: &str,
    now: Millis,
) -> StoreResult<()> {
    let row = sqlx::query("SELECT due_on, met_on FROM deadlines WHERE id = $1 AND case_id = $2")
        .bind(deadline_id)
        .bind(access.case_id())
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    if row.try_get::<Option<String>, _>("met_on")?.is_some() {
        return Err(StoreError::Invalid("That deadline has been met.".into()));
    }
    let old = day(&row.try_get::<String, _>("due_on")?)?;
    // The reason and the date are checked for everyone; the agreement only
    // for managers (others' requests wait for one).
    check_extension(true, reason, old, new_due_on).map_err(|e| StoreError::Invalid(e.0))?;
    let pending = sqlx::query(
        "SELECT 1 AS one FROM deadline_extensions WHERE deadline_id = $1 AND status = 'requested'",
    )
    .bind(deadline_id)
    .fetch_optional(db.pool())
    .await?;
    if pending.is_some() {
        return Err(StoreError::Conflict(
            "an extension of this deadline is already waiting for a manager".into(),
        ));
    }
    let manager = agrees_extensions(db, access, actor).await?;
    let mut tx = db.write().await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO deadline_extensions (id, deadline_id, old_due_on, new_due_on, reason, requested_by, requested_at, \
         status, decided_by, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(deadline_id)
    .bind(old.to_string())
    .bind(new_due_on.to_string())
    .bind(reason.trim())
    .bind(&actor.person_id)
    .bind(now)
    .bind(if manager { "agreed" } else { "requested" })
    .bind(manager.then_some(actor.person_id.as_str()))
    .bind(manager.then_some(now))
    .execute(&mut *tx)
    .await?;
    if manager {
        apply(&mut tx, deadline_id, new_due_on).await?;
    }
    audit::by_actor(&mut tx, now, actor, if manager { "deadline.extended" } else { "deadline.extension_requested" }, Some(access.case_id()), Some(deadline_id), serde_json::json!({ "extension_id": id, "from": old.to_string(), "to": new_due_on.to_string() }))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Who may agree a later date: a manager of the agency that holds the case
/// (the lead social worker's), who is in the case team.
async fn agrees_extensions(db: &Db, access: &CaseAccess, actor: &Actor) -> StoreResult<bool> {
    if actor.role != Role::Manager || actor.person_id != access.person_id() {
        return Ok(false);
    }
    let row = sqlx::query(
        "SELECT p.agency_id FROM cases c JOIN people p ON p.id = c.lead_social_worker_id WHERE c.id = $1",
    )
    .bind(access.case_id())
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get::<String, _>("agency_id")? == actor.agency_id)
}

async fn apply(conn: &mut Conn, deadline_id: &str, due_on: Date) -> StoreResult<()> {
    sqlx::query("UPDATE deadlines SET due_on = $1 WHERE id = $2")
        .bind(due_on.to_string())
        .bind(deadline_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A manager in the case team agrees to (or refuses) a requested extension.
pub async fn decide_extension(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    extension_id: &str,
    agree: bool,
    now: Millis,
) -> StoreResult<()> {
    let row = sqlx::query(
        "SELECT e.deadline_id, e.old_due_on, e.new_due_on, e.reason, e.status FROM deadline_extensions e \
         JOIN deadlines d ON d.id = e.deadline_id WHERE e.id = $1 AND d.case_id = $2",
    )
    .bind(extension_id)
    .bind(access.case_id())
    .fetch_optional(db.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    let (old, new) = (
        day(&row.try_get::<String, _>("old_due_on")?)?,
        day(&row.try_get::<String, _>("new_due_on")?)?,
    );
    let reason: String = row.try_get("reason")?;
    check_extension(
        agrees_extensions(db, access, actor).await?,
        &reason,
        old,
        new,
    )
    .map_err(|e| StoreError::Forbidden(e.0))?;
    if row.try_get::<String, _>("status")? != "requested" {
        return Err(StoreError::Invalid(
            "That request has already been decided.".into(),
        ));
    }
    let met = sqlx::query("SELECT met_on FROM deadlines WHERE id = (SELECT deadline_id FROM deadline_extensions WHERE id = $1)")
        .bind(extension_id)
        .fetch_one(db.pool())
        .await?;
    if met.try_get::<Option<String>, _>("met_on")?.is_some() {
        return Err(StoreError::Invalid(
            "That deadline has been met: there is nothing to extend.".into(),
        ));
    }
    let deadline_id: String = row.try_get("deadline_id")?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE deadline_extensions SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4")
        .bind(if agree { "agreed" } else { "refused" })
        .bind(&actor.person_id)
        .bind(now)
        .bind(extension_id)
        .execute(&mut *tx)
        .await?;
    if agree {
        apply(&mut tx, &deadline_id, new).await?;
    }
    audit::by_actor(
        &mut tx,
        now,
        actor,
        if agree {
            "deadline.extended"
        } else {
            "deadline.extension_refused"
        },
        Some(access.case_id()),
        Some(&deadline_id),
        serde_json::json!({ "extension_id": extension_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
