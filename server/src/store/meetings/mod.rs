//! Meetings: convening (invitations to people and agencies, reasons for
//! leaving out a required agency), responses and nominations, the meeting's
//! own channel, attendance, the structured outcome (which sets the statutory
//! clock's deadlines, see [`super::deadlines`]), minutes and their circulation.
//!
//! Reaching a meeting takes a [`MeetingAccess`], built only by [`authorize`]:
//! a member of the case sees the meeting's record; someone invited who is not
//! (yet) in the case sees the invitation only; a recipient of circulated
//! minutes reads the minutes. Everyone else gets [`StoreError::NotFound`],
//! whether or not the meeting exists.

mod answers;
mod convene;
mod record;

pub use answers::*;
pub use convene::*;
pub use record::*;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use time::Date;

use super::agencies::By;
use super::audit::{self, NewEvent};
use super::{Conn, Db, StoreError, StoreResult, cases, channels, deadlines, new_id, people};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::meetings::{
    MeetingKind, Mode, Need, Outcome, Response, agency_rules, check_outcome,
};
use crate::domain::vocabulary::{AgencyKind, Role};
use crate::domain::working_days::Calendar;

/// Attendance and the outcome can be recorded from this long before the start.
pub const OPENS_BEFORE_MS: Millis = 15 * 60 * 1000;
/// The longest meeting that can be scheduled.
const LONGEST_MS: Millis = 8 * 60 * 60 * 1000;
/// The requirement key for "children's social care with a manager".
pub const CSC_MANAGER: &str = "childrens_social_care_manager";

/// The calendar day in London of an instant.
pub fn london_date(ms: Millis) -> Date {
    use chrono::Datelike;
    let local = crate::calendar::london_local(ms);
    time::Month::try_from(local.month() as u8)
        .ok()
        .and_then(|m| Date::from_calendar_date(local.year(), m, local.day() as u8).ok())
        .unwrap_or(Date::MIN)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Meeting {
    pub id: String,
    pub case_id: String,
    pub case_reference: String,
    pub kind: MeetingKind,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub mode: Mode,
    pub location: String,
    pub chair_id: String,
    pub chair_name: String,
    pub chair_email: String,
    pub organiser_id: String,
    pub organiser_name: String,
    pub organiser_email: String,
    pub channel_id: String,
    pub case_access: String,
    pub status: String,
    pub sequence: i64,
    pub cancel_reason: Option<String>,
    pub outcome: Option<Outcome>,
    pub held_on: Option<String>,
    pub minutes: String,
    pub circulated_at: Option<Millis>,
}

pub(crate) const MEETING_SELECT: &str = "SELECT m.id, m.case_id, c.reference, m.kind, m.starts_at, m.ends_at, m.mode, m.location, \
     m.chair_id, ch.name AS chair_name, ch.email AS chair_email, m.organiser_id, o.name AS organiser_name, \
     o.email AS organiser_email, m.channel_id, m.case_access, m.status, m.sequence, m.cancel_reason, m.outcome, \
     m.held_on, m.minutes, m.circulated_at \
     FROM meetings m JOIN cases c ON c.id = m.case_id JOIN people ch ON ch.id = m.chair_id \
     JOIN people o ON o.id = m.organiser_id";

pub(crate) fn meeting_from_row(row: &AnyRow) -> StoreResult<Meeting> {
    let kind: String = row.try_get("kind")?;
    let mode: String = row.try_get("mode")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    Ok(Meeting {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        case_reference: row.try_get("reference")?,
        kind: kind.parse().map_err(StoreError::Invalid)?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        mode: mode.parse().map_err(StoreError::Invalid)?,
        location: row.try_get("location")?,
        chair_id: row.try_get("chair_id")?,
        chair_name: row.try_get("chair_name")?,
        chair_email: row.try_get("chair_email")?,
        organiser_id: row.try_get("organiser_id")?,
        organiser_name: row.try_get("organiser_name")?,
        organiser_email: row.try_get("organiser_email")?,
        channel_id: row.try_get("channel_id")?,
        case_access: row.try_get("case_access")?,
        status: row.try_get("status")?,
        sequence: row.try_get("sequence")?,
        cancel_reason: row.try_get("cancel_reason")?,
        outcome: match outcome {
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Invalid(format!("stored outcome: {e}")))?,
            ),
            None => None,
        },
        held_on: row.try_get("held_on")?,
        minutes: row.try_get("minutes")?,
        circulated_at: row.try_get("circulated_at")?,
    })
}

/// How a person reaches a meeting.
#[derive(Clone, Debug)]
pub enum Reach {
    /// A current member of the case: the whole record.
    Member(CaseAccess),
    /// Invited (personally or through their agency) but not in the case:
    /// the invitation only.
    Invitee,
    /// Sent the minutes but no longer in the case: the minutes, outcome and
    /// actions only.
    Recipient,
}

/// Proof that a person may see (some of) one meeting.
#[derive(Clone, Debug)]
pub struct MeetingAccess {
    meeting_id: String,
    case_id: String,
    person_id: String,
    reach: Reach,
}

impl MeetingAccess {
    pub fn meeting_id(&self) -> &str {
        &self.meeting_id
    }
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
    pub fn reach(&self) -> &Reach {
        &self.reach
    }
    pub fn is_member(&self) -> bool {
        matches!(self.reach, Reach::Member(_))
    }
}

/// Decide how (and whether) a person reaches a meeting; [`StoreError::NotFound`]
/// for anyone neither in the case, nor invited, nor sent its minutes.
pub async fn authorize(
    db: &Db,
    actor: &Actor,
    guest: bool,
    meeting_id: &str,
    now: Millis,
) -> StoreResult<MeetingAccess> {
    let row = sqlx::query("SELECT case_id FROM meetings WHERE id = $1")
        .bind(meeting_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    let case_id: String = row.try_get("case_id")?;
    let access = |reach| MeetingAccess {
        meeting_id: meeting_id.to_string(),
        case_id: case_id.clone(),
        person_id: actor.person_id.clone(),
        reach,
    };
    match cases::authorize(db, actor, &case_id, now).await {
        Ok(case) => return Ok(access(Reach::Member(case))),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e),
    }
    // The record sent to them outranks their invitation: an invitee whose
    // access ended with the meeting still reads what was circulated.
    let sent = sqlx::query(
        "SELECT 1 AS one FROM minutes_circulations WHERE meeting_id = $1 AND person_id = $2",
    )
    .bind(meeting_id)
    .bind(&actor.person_id)
    .fetch_optional(db.pool())
    .await?;
    if sent.is_some() {
        return Ok(access(Reach::Recipient));
    }
    if !my_invitations(db, actor, guest, meeting_id)
        .await?
        .is_empty()
    {
        return Ok(access(Reach::Invitee));
    }
    Err(StoreError::NotFound)
}

pub async fn get(db: &Db, access: &MeetingAccess) -> StoreResult<Meeting> {
    let row = sqlx::query(AssertSqlSafe(format!("{MEETING_SELECT} WHERE m.id = $1")))
        .bind(access.meeting_id())
        .fetch_one(db.pool())
        .await?;
    meeting_from_row(&row)
}

/// Meetings of a case, newest first.
pub async fn of_case(db: &Db, access: &CaseAccess) -> StoreResult<Vec<Meeting>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{MEETING_SELECT} WHERE m.case_id = $1 ORDER BY m.starts_at DESC"
    )))
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(meeting_from_row).collect()
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Invitation {
    pub id: String,
    pub agency_id: String,
    pub agency_name: String,
    pub agency_kind: AgencyKind,
    pub person_id: Option<String>,
    pub person_name: Option<String>,
    pub person_role: Option<Role>,
    pub email: String,
    pub response: Response,
    pub responded_at: Option<Millis>,
    pub response_note: String,
    pub nominated_from: Option<String>,
}

const INVITATION_SELECT: &str = "SELECT i.id, i.agency_id, a.name AS agency_name, a.kind AS agency_kind, i.person_id, \
     p.name AS person_name, p.role AS person_role, i.email, i.response, i.responded_at, i.response_note, i.nominated_from \
     FROM meeting_invitations i JOIN agencies a ON a.id = i.agency_id LEFT JOIN people p ON p.id = i.person_id";

fn invitation_from_row(row: &AnyRow) -> StoreResult<Invitation> {
    let kind: String = row.try_get("agency_kind")?;
    let response: String = row.try_get("response")?;
    let role: Option<String> = row.try_get("person_role")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        agency_id: row.try_get("agency_id")?,
        agency_name: row.try_get("agency_name")?,
        agency_kind: kind.parse().map_err(StoreError::Invalid)?,
        person_id: row.try_get("person_id")?,
        person_name: row.try_get("person_name")?,
        person_role: role
            .map(|r| r.parse())
            .transpose()
            .map_err(StoreError::Invalid)?,
        email: row.try_get("email")?,
        response: response.parse().map_err(StoreError::Invalid)?,
        responded_at: row.try_get("responded_at")?,
        response_note: row.try_get("response_note")?,
        nominated_from: row.try_get("nominated_from")?,
    })
}

/// Every invitation of a meeting (members of the case only).
pub async fn invitations(db: &Db, access: &MeetingAccess) -> StoreResult<Vec<Invitation>> {
    if !access.is_member() {
        return Err(StoreError::NotFound);
    }
    invitations_unchecked(db, access.meeting_id()).await
}

pub(crate) async fn invitations_unchecked(
    db: &Db,
    meeting_id: &str,
) -> StoreResult<Vec<Invitation>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{INVITATION_SELECT} WHERE i.meeting_id = $1 ORDER BY a.name, i.created_at"
    )))
    .bind(meeting_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(invitation_from_row).collect()
}

/// The invitations this person may answer: their own, and (for members of
/// an agency, not guests) their agency's that nobody has taken up yet.
async fn my_invitations(
    db: &Db,
    actor: &Actor,
    guest: bool,
    meeting_id: &str,
) -> StoreResult<Vec<Invitation>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{INVITATION_SELECT} WHERE i.meeting_id = $1 AND (i.person_id = $2 OR \
             (i.person_id IS NULL AND i.agency_id = $3 AND $4 = 0)) ORDER BY i.created_at"
    )))
    .bind(meeting_id)
    .bind(&actor.person_id)
    .bind(&actor.agency_id)
    .bind(i64::from(guest))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(invitation_from_row).collect()
}

/// The invitations the person behind `access` may answer.
pub async fn invitations_for_me(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    guest: bool,
) -> StoreResult<Vec<Invitation>> {
    if actor.person_id != access.person_id {
        return Err(StoreError::NotFound);
    }
    my_invitations(db, actor, guest, access.meeting_id()).await
}

/// A required agency left out, with its reason.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Exclusion {
    pub requirement: String,
    pub label: String,
    pub reason: String,
    pub recorded_by: String,
    pub recorded_at: Millis,
}

pub fn requirement_label(requirement: &str) -> String {
    if requirement == CSC_MANAGER {
        return "A manager from children's social care".into();
    }
    requirement
        .parse::<AgencyKind>()
        .map(|k| k.label().to_string())
        .unwrap_or_else(|_| requirement.to_string())
}

pub async fn exclusions(db: &Db, access: &MeetingAccess) -> StoreResult<Vec<Exclusion>> {
    if !access.is_member() {
        return Err(StoreError::NotFound);
    }
    let rows = sqlx::query(
        "SELECT e.requirement, e.reason, p.name, e.recorded_at FROM meeting_exclusions e \
         JOIN people p ON p.id = e.recorded_by WHERE e.meeting_id = $1 ORDER BY e.requirement",
    )
    .bind(access.meeting_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let requirement: String = r.try_get("requirement")?;
            Ok(Exclusion {
                label: requirement_label(&requirement),
                requirement,
                reason: r.try_get("reason")?,
                recorded_by: r.try_get("name")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}

/// The requirements left out of a meeting with a reason (for the scheduler).
pub(crate) async fn excused_unchecked(db: &Db, meeting_id: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT requirement FROM meeting_exclusions WHERE meeting_id = $1")
        .bind(meeting_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("requirement")?)).collect()
}

/// The required agencies of a meeting that nobody is taking part for yet:
/// nobody of that kind has accepted (the organiser and chair take part by
/// convening and chairing) and no reason for leaving it out is recorded.
/// The organiser's warning on the page and by email both come from here.
pub(crate) async fn required_not_taking_part(
    db: &Db,
    meeting: &Meeting,
) -> StoreResult<Vec<AgencyKind>> {
    let mut taking_part: Vec<AgencyKind> = invitations_unchecked(db, &meeting.id)
        .await?
        .iter()
        .filter(|i| i.response == crate::domain::meetings::Response::Accepted)
        .map(|i| i.agency_kind)
        .collect();
    taking_part.push(people::get(db, &meeting.organiser_id).await?.agency_kind);
    taking_part.push(people::get(db, &meeting.chair_id).await?.agency_kind);
    let excused: Vec<AgencyKind> = excused_unchecked(db, &meeting.id)
        .await?
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect();
    Ok(crate::domain::meetings::required_without_acceptance(
        meeting.kind,
        &taking_part,
        &excused,
    ))
}

/// A guest to invite by email (a new person of the given agency).
#[derive(Clone, Debug, Default)]
pub struct NewGuest {
    pub email: String,
    pub name: String,
    pub agency_id: String,
}

/// What the organiser asks for.
#[derive(Clone, Debug)]
pub struct Convene {
    pub kind: MeetingKind,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub mode: Mode,
    pub location: String,
    pub chair_id: String,
    /// `meeting` or `case`.
    pub case_access: String,
    pub people: Vec<String>,
    pub agencies: Vec<String>,
    pub guests: Vec<NewGuest>,
    /// Requirement (an agency kind, or [`CSC_MANAGER`]) → reason it is left out.
    pub reasons: Vec<(String, String)>,
}

/// Who may change a meeting: its organiser, its chair, the case's lead
/// social worker, or a manager in the case team.
pub async fn may_manage(db: &Db, access: &MeetingAccess, actor: &Actor) -> StoreResult<bool> {
    let Reach::Member(case_access) = access.reach() else {
        return Ok(false);
    };
    let meeting = get(db, access).await?;
    if meeting.organiser_id == actor.person_id || meeting.chair_id == actor.person_id {
        return Ok(true);
    }
    let case = cases::get(db, case_access).await?;
    Ok(case.lead_social_worker_id == actor.person_id || actor.role == Role::Manager)
}

/// Who may record the meeting (attendance, outcome, actions, minutes): its chair or organiser.
pub async fn may_record(db: &Db, access: &MeetingAccess, actor: &Actor) -> StoreResult<bool> {
    if !access.is_member() {
        return Ok(false);
    }
    let meeting = get(db, access).await?;
    Ok(meeting.organiser_id == actor.person_id || meeting.chair_id == actor.person_id)
}

fn forbidden(what: &str) -> StoreError {
    StoreError::Forbidden(what.to_string())
}
