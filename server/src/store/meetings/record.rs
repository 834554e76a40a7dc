//! The meeting's record: attendance, the structured outcome, minutes and their circulation and acknowledgement.

use super::*;

/// Attendance of one agency.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Attendance {
    pub agency_id: String,
    pub agency_name: String,
    pub agency_kind: AgencyKind,
    pub attended: bool,
    pub attendees: String,
    pub senior_enough: Option<bool>,
    pub note: String,
}

pub async fn attendance(db: &Db, access: &MeetingAccess) -> StoreResult<Vec<Attendance>> {
    if !access.is_member() {
        return Err(StoreError::NotFound);
    }
    let rows = sqlx::query(
        "SELECT t.agency_id, a.name, a.kind, t.attended, t.attendees, t.senior_enough, t.note \
         FROM meeting_attendance t JOIN agencies a ON a.id = t.agency_id WHERE t.meeting_id = $1 ORDER BY a.name",
    )
    .bind(access.meeting_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            let senior: Option<i64> = r.try_get("senior_enough")?;
            Ok(Attendance {
                agency_id: r.try_get("agency_id")?,
                agency_name: r.try_get("name")?,
                agency_kind: kind.parse().map_err(StoreError::Invalid)?,
                attended: r.try_get::<i64, _>("attended")? == 1,
                attendees: r.try_get("attendees")?,
                senior_enough: senior.map(|s| s == 1),
                note: r.try_get("note")?,
            })
        })
        .collect()
}

/// Record one agency's attendance (the chair or organiser, from 15 minutes
/// before the start).
#[allow(clippy::too_many_arguments)]
pub async fn record_attendance(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    agency_id: &str,
    attended: bool,
    attendees: &str,
    senior_enough: Option<bool>,
    note: &str,
    now: Millis,
) -> StoreResult<()> {
    let meeting = recordable(db, access, actor, now).await?;
    if meeting.circulated_at.is_some() {
        return Err(StoreError::Invalid(
            "The record has been circulated: it can no longer be changed.".into(),
        ));
    }
    crate::store::agencies::find(db, agency_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => StoreError::Invalid("No such agency.".into()),
            other => other,
        })?;
    if attended && attendees.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Name who attended for the agency.".into(),
        ));
    }
    if !attended && note.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Record why the agency did not attend.".into(),
        ));
    }
    let senior = if meeting.kind.needs_seniority() && attended {
        match senior_enough {
            Some(s) => Some(s),
            None => {
                return Err(StoreError::Invalid(
                    "Confirm whether the agency's attendee was senior enough to make decisions."
                        .into(),
                ));
            }
        }
    } else {
        None
    };
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM meeting_attendance WHERE meeting_id = $1 AND agency_id = $2")
        .bind(&meeting.id)
        .bind(agency_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO meeting_attendance (meeting_id, agency_id, attended, attendees, senior_enough, note, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&meeting.id)
    .bind(agency_id)
    .bind(i64::from(attended))
    .bind(attendees.trim())
    .bind(senior.map(i64::from))
    .bind(note.trim())
    .bind(&actor.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::by_actor(&mut tx, now, actor, "meeting.attendance_recorded", Some(&meeting.case_id), Some(&meeting.id), serde_json::json!({ "agency_id": agency_id, "attended": attended, "senior_enough": senior }))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The meeting, if this person may record it now.
async fn recordable(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    now: Millis,
) -> StoreResult<Meeting> {
    if !may_record(db, access, actor).await? {
        if access.is_member() {
            return Err(forbidden(
                "Only the chair or the organiser records the meeting.",
            ));
        }
        return Err(StoreError::NotFound);
    }
    let meeting = get(db, access).await?;
    if meeting.status == "cancelled" {
        return Err(StoreError::Invalid("The meeting was cancelled.".into()));
    }
    if now < meeting.starts_at - OPENS_BEFORE_MS {
        return Err(StoreError::Invalid(
            "The meeting has not started: its record opens 15 minutes before the start.".into(),
        ));
    }
    Ok(meeting)
}

/// Record (or correct, until the minutes are circulated) the structured
/// outcome. Sets the deadlines it implies and marks met the deadlines this
/// kind of meeting meets.
pub async fn record_outcome(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    outcome: &Outcome,
    calendar: &Calendar,
    now: Millis,
) -> StoreResult<()> {
    let meeting = recordable(db, access, actor, now).await?;
    if meeting.circulated_at.is_some() {
        return Err(StoreError::Invalid(
            "The record has been circulated: it can no longer be changed.".into(),
        ));
    }
    check_outcome(meeting.kind, outcome).map_err(|e| StoreError::Invalid(e.0))?;
    let held_on = london_date(meeting.starts_at);
    let text =
        serde_json::to_string(outcome).map_err(|e| StoreError::Invalid(format!("outcome: {e}")))?;
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE meetings SET outcome = $1, held_on = $2, outcome_recorded_at = $3, status = 'held' WHERE id = $4",
    )
    .bind(&text)
    .bind(held_on.to_string())
    .bind(now)
    .bind(&meeting.id)
    .execute(&mut *tx)
    .await?;
    let set =
        deadlines::set_from_outcome(&mut tx, &meeting, held_on, outcome, calendar, now).await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "meeting.outcome_recorded",
        Some(&meeting.case_id),
        Some(&meeting.id),
        serde_json::json!({ "shape": outcome_shape(outcome), "deadlines": set }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn outcome_shape(o: &Outcome) -> &'static str {
    match o {
        Outcome::Strategy { .. } => "strategy",
        Outcome::Conference { .. } => "conference",
        Outcome::Progress { .. } => "progress",
    }
}

/// Save the draft minutes (chair or organiser).
pub async fn save_minutes(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    text: &str,
    now: Millis,
) -> StoreResult<()> {
    let meeting = recordable(db, access, actor, now).await?;
    if meeting.circulated_at.is_some() {
        return Err(StoreError::Invalid(
            "The record has been circulated: it can no longer be changed.".into(),
        ));
    }
    if text.chars().count() > 100_000 {
        return Err(StoreError::Invalid(
            "The minutes are too long (100,000 characters at most).".into(),
        ));
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE meetings SET minutes = $1, minutes_updated_at = $2 WHERE id = $3")
        .bind(text.trim())
        .bind(now)
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "meeting.minutes_saved",
        Some(&meeting.case_id),
        Some(&meeting.id),
        serde_json::json!({ "characters": text.trim().chars().count() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One recipient of circulated minutes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Circulation {
    pub person_id: String,
    pub person_name: String,
    pub email: String,
    pub agency_id: String,
    pub agency_name: String,
    pub circulated_at: Millis,
    pub acknowledged_at: Option<Millis>,
}

pub async fn circulations(db: &Db, access: &MeetingAccess) -> StoreResult<Vec<Circulation>> {
    if !access.is_member() {
        return Err(StoreError::NotFound);
    }
    circulations_unchecked(db, access.meeting_id()).await
}

async fn circulations_unchecked(db: &Db, meeting_id: &str) -> StoreResult<Vec<Circulation>> {
    let rows = sqlx::query(
        "SELECT c.person_id, p.name, p.email, c.agency_id, a.name AS agency_name, c.circulated_at, c.acknowledged_at \
         FROM minutes_circulations c JOIN people p ON p.id = c.person_id JOIN agencies a ON a.id = c.agency_id \
         WHERE c.meeting_id = $1 ORDER BY a.name, p.name",
    )
    .bind(meeting_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Circulation {
                person_id: r.try_get("person_id")?,
                person_name: r.try_get("name")?,
                email: r.try_get("email")?,
                agency_id: r.try_get("agency_id")?,
                agency_name: r.try_get("agency_name")?,
                circulated_at: r.try_get("circulated_at")?,
                acknowledged_at: r.try_get("acknowledged_at")?,
            })
        })
        .collect()
}

/// This person's own circulation row, if the minutes were sent to them.
pub async fn my_circulation(db: &Db, access: &MeetingAccess) -> StoreResult<Option<Circulation>> {
    Ok(circulations_unchecked(db, access.meeting_id())
        .await?
        .into_iter()
        .find(|c| c.person_id == access.person_id))
}

/// Circulate the record to everyone who took part (accepted invitees, the
/// chair and the organiser), one share per recipient. This is the seam for
/// the information-sharing log: each row is one act of sharing the record
/// with a person of an agency, and the audit event names the receiving
/// agencies. Returns the recipients, to be told by email.
pub async fn circulate(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    now: Millis,
) -> StoreResult<Vec<Circulation>> {
    let meeting = recordable(db, access, actor, now).await?;
    if meeting.outcome.is_none() {
        return Err(StoreError::Invalid(
            "Record the outcome before circulating the record.".into(),
        ));
    }
    if meeting.minutes.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Write the minutes before circulating them.".into(),
        ));
    }
    if meeting.circulated_at.is_some() {
        return Err(StoreError::Conflict(
            "the record has already been circulated".into(),
        ));
    }
    let mut recipients: Vec<(String, String)> = Vec::new();
    for i in invitations_unchecked(db, &meeting.id).await? {
        if let (Some(pid), Response::Accepted) = (&i.person_id, i.response)
            && !recipients.iter().any(|(p, _)| p == pid)
        {
            recipients.push((pid.clone(), i.agency_id.clone()));
        }
    }
    for pid in [&meeting.chair_id, &meeting.organiser_id] {
        if !recipients.iter().any(|(p, _)| p == pid) {
            let p = people::get(db, pid).await?;
            recipients.push((p.id, p.agency_id));
        }
    }
    // Information-sharing records (issue 6): the case's sharing state, read
    // before the write lock is taken.
    let sharing_state = crate::store::sharing_state::snapshot(db, &meeting.case_id).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE meetings SET circulated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    for (person_id, agency_id) in &recipients {
        // The circulator has read what they wrote.
        let ack = (person_id == &actor.person_id).then_some(now);
        sqlx::query(
            "INSERT INTO minutes_circulations (meeting_id, person_id, agency_id, circulated_by, circulated_at, acknowledged_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&meeting.id)
        .bind(person_id)
        .bind(agency_id)
        .bind(&actor.person_id)
        .bind(now)
        .bind(ack)
        .execute(&mut *tx)
        .await?;
    }
    deadlines::meet_record(&mut tx, &meeting.id, london_date(now)).await?;
    // Information-sharing records (issue 6): one per receiving agency.
    crate::store::sharing::record_circulation_in(
        &mut tx,
        &sharing_state,
        &meeting,
        actor,
        &recipients,
        now,
    )
    .await?;
    let mut receiving: Vec<&String> = recipients
        .iter()
        .map(|(_, a)| a)
        .filter(|a| **a != actor.agency_id)
        .collect();
    receiving.sort();
    receiving.dedup();
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "meeting.minutes_circulated",
        Some(&meeting.case_id),
        Some(&meeting.id),
        serde_json::json!({
            "recipients": recipients.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            "receiving_agencies": receiving,
        }),
    )
    .await?;
    tx.commit().await?;
    circulations_unchecked(db, &meeting.id).await
}

/// Acknowledge having read the circulated record.
pub async fn acknowledge(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    now: Millis,
) -> StoreResult<()> {
    if actor.person_id != access.person_id {
        return Err(StoreError::NotFound);
    }
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE minutes_circulations SET acknowledged_at = $1 WHERE meeting_id = $2 AND person_id = $3 AND acknowledged_at IS NULL",
    )
    .bind(now)
    .bind(access.meeting_id())
    .bind(&actor.person_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Invalid(
            "There is nothing for you to acknowledge here.".into(),
        ));
    }
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "meeting.minutes_acknowledged",
        Some(access.case_id()),
        Some(access.meeting_id()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
