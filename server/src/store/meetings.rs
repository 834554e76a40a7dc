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

/// Words of the child's identity that must not go into a calendar invitation.
fn mentions_child(text: &str, child_name: &str, la_reference: &str) -> bool {
    let text = text.to_lowercase();
    let full = child_name.trim().to_lowercase();
    if !full.is_empty() && text.contains(&full) {
        return true;
    }
    // The family name on its own (the last word), if it is long enough to mean something.
    if let Some(surname) = full.split_whitespace().last()
        && surname.chars().count() >= 3
        && full.split_whitespace().count() > 1
        && text
            .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
            .any(|w| w == surname)
    {
        return true;
    }
    let la = la_reference.trim().to_lowercase();
    !la.is_empty() && text.contains(&la)
}

/// Schedule a meeting. Returns its id; the caller sends the invitations.
pub async fn convene(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    now: Millis,
    c: Convene,
) -> StoreResult<String> {
    let invalid = |m: &str| Err(StoreError::Invalid(m.to_string()));
    if c.starts_at <= now {
        return invalid("The meeting must start in the future.");
    }
    if c.ends_at <= c.starts_at || c.ends_at - c.starts_at > LONGEST_MS {
        return invalid("The expected length must be between 1 minute and 8 hours.");
    }
    if c.case_access != "meeting" && c.case_access != "case" {
        return invalid(
            "Choose whether invitees see the case for the meeting only or join the case team.",
        );
    }
    let location = c.location.trim().to_string();
    if location.is_empty() {
        return invalid("Give the location, video link or dial-in details.");
    }
    if location.chars().count() > 500 {
        return invalid("The location is too long (500 characters at most).");
    }
    let case = cases::get(db, access).await?;
    if mentions_child(&location, &case.child_name, &case.la_reference) {
        return invalid(
            "The location goes into calendar invitations: it must not name the child or give their reference. \
             Describe the place without them (e.g. \"Family home — address on the case record\").",
        );
    }
    // The chair must be in the case team.
    let team = cases::team(db, access, now).await?;
    if !team.iter().any(|m| m.person_id == c.chair_id) {
        return invalid("The chair must be a member of the case team.");
    }
    // Who is invited: people, agencies' duty addresses and new guests.
    let mut invitees: Vec<people::Person> = Vec::new();
    for id in dedup(&c.people) {
        if id == by.person_id {
            continue;
        }
        let p = people::get(db, &id).await.map_err(|e| match e {
            StoreError::NotFound => {
                StoreError::Invalid("One of the people invited does not exist.".into())
            }
            other => other,
        })?;
        if !p.active {
            return Err(StoreError::Invalid(format!(
                "{} cannot be invited: their account is deactivated.",
                p.name
            )));
        }
        invitees.push(p);
    }
    let mut agencies = Vec::new();
    for id in dedup(&c.agencies) {
        let a = super::agencies::find(db, &id).await.map_err(|e| match e {
            StoreError::NotFound => {
                StoreError::Invalid("One of the agencies invited does not exist.".into())
            }
            other => other,
        })?;
        if a.duty_email.is_none() {
            return Err(StoreError::Invalid(format!(
                "{} has no duty address: invite a person from it instead.",
                a.name
            )));
        }
        agencies.push(a);
    }
    for g in &c.guests {
        if g.name.trim().is_empty() || people::normalise_email(&g.email).is_err() {
            return invalid("A guest needs a name and a valid email address.");
        }
        super::agencies::find(db, &g.agency_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => StoreError::Invalid("Choose the guest's agency.".into()),
                other => other,
            })?;
    }
    // Required agencies: invited, taking part as organiser or chair, or excused.
    let chair = people::get(db, &c.chair_id).await?;
    let organiser = people::get(db, &by.person_id).await?;
    let mut kinds: Vec<AgencyKind> = invitees.iter().map(|p| p.agency_kind).collect();
    kinds.extend(agencies.iter().map(|a| a.kind));
    kinds.push(chair.agency_kind);
    kinds.push(organiser.agency_kind);
    for g in &c.guests {
        if let Ok(a) = super::agencies::find(db, &g.agency_id).await {
            kinds.push(a.kind);
        }
    }
    let reason_for = |requirement: &str| {
        c.reasons
            .iter()
            .find(|(r, why)| r == requirement && !why.trim().is_empty())
            .map(|(_, why)| why.trim().to_string())
    };
    let mut exclusions: Vec<(String, String)> = Vec::new();
    let mut missing: Vec<(String, String)> = Vec::new();
    for rule in agency_rules(c.kind)
        .iter()
        .filter(|r| r.need == Need::Required)
    {
        if kinds.contains(&rule.agency) {
            continue;
        }
        let key = rule.agency.as_str().to_string();
        match reason_for(&key) {
            Some(why) => exclusions.push((key, why)),
            None => missing.push((key, rule.agency.label().to_string())),
        }
    }
    if c.kind.needs_seniority() {
        let csc_manager = |p: &people::Person| {
            p.agency_kind == AgencyKind::ChildrensSocialCare && p.role == Role::Manager
        };
        if !(invitees.iter().any(csc_manager) || csc_manager(&chair) || csc_manager(&organiser)) {
            match reason_for(CSC_MANAGER) {
                Some(why) => exclusions.push((CSC_MANAGER.to_string(), why)),
                None => missing.push((CSC_MANAGER.to_string(), requirement_label(CSC_MANAGER))),
            }
        }
    }
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "A {} needs {}. Invite them, or record why they are left out.",
            c.kind.label().to_lowercase(),
            missing
                .iter()
                .map(|(_, l)| l.to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Guests become people of their agency (outside the transaction: the
    // people store writes its own audit event).
    let by_label = By {
        person_id: Some(&by.person_id),
        label: &by.name,
    };
    for g in &c.guests {
        let person = match people::find_by_email(db, &g.email).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => {
                people::add(
                    db,
                    by_label,
                    now,
                    people::NewPerson {
                        agency_id: &g.agency_id,
                        name: g.name.trim(),
                        email: &g.email,
                        role: Role::Practitioner,
                        guest: true,
                    },
                )
                .await?
            }
            Err(e) => return Err(e),
        };
        if person.id != by.person_id && !invitees.iter().any(|p| p.id == person.id) {
            invitees.push(person);
        }
    }

    let id = new_id();
    let mut tx = db.write().await?;
    let day = london_date(c.starts_at);
    let channel_id = channels::create_in(
        &mut tx,
        access.case_id(),
        "meeting",
        &format!("{} {day}", c.kind.label()),
        now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO meetings (id, case_id, kind, starts_at, ends_at, mode, location, chair_id, organiser_id, \
         channel_id, case_access, status, sequence, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled', 0, $12)",
    )
    .bind(&id)
    .bind(access.case_id())
    .bind(c.kind.as_str())
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(c.mode.as_str())
    .bind(&location)
    .bind(&c.chair_id)
    .bind(&by.person_id)
    .bind(&channel_id)
    .bind(&c.case_access)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The meeting's channel: the organiser, the chair and those who accept.
    add_to_channel(&mut tx, &channel_id, &by.person_id).await?;
    if c.chair_id != by.person_id {
        add_to_channel(&mut tx, &channel_id, &c.chair_id).await?;
        // The chair is invited too (accepted), so they get the calendar entry.
        insert_invitation(
            &mut tx,
            &id,
            &chair.agency_id,
            Some(&chair.id),
            &chair.email,
            Response::Accepted,
            now,
            None,
        )
        .await?;
    }
    for p in invitees.iter().filter(|p| p.id != c.chair_id) {
        insert_invitation(
            &mut tx,
            &id,
            &p.agency_id,
            Some(&p.id),
            &p.email,
            Response::Pending,
            now,
            None,
        )
        .await?;
    }
    for a in &agencies {
        let email = a.duty_email.clone().unwrap_or_default();
        insert_invitation(
            &mut tx,
            &id,
            &a.id,
            None,
            &email,
            Response::Pending,
            now,
            None,
        )
        .await?;
    }
    for (requirement, reason) in &exclusions {
        sqlx::query(
            "INSERT INTO meeting_exclusions (meeting_id, requirement, reason, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(requirement)
        .bind(reason)
        .bind(&by.person_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&by.person_id),
            actor_label: &by.name,
            action: "meeting.convened",
            case_id: Some(access.case_id()),
            subject: Some(&id),
            detail: serde_json::json!({
                "kind": c.kind.as_str(),
                "starts_at": c.starts_at,
                "people": invitees.iter().map(|p| &p.id).collect::<Vec<_>>(),
                "agencies": agencies.iter().map(|a| &a.id).collect::<Vec<_>>(),
                "left_out": exclusions.iter().map(|(r, _)| r).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim();
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn insert_invitation(
    conn: &mut Conn,
    meeting_id: &str,
    agency_id: &str,
    person_id: Option<&str>,
    email: &str,
    response: Response,
    now: Millis,
    nominated_from: Option<&str>,
) -> StoreResult<String> {
    let id = new_id();
    let responded_at = (response != Response::Pending).then_some(now);
    sqlx::query(
        "INSERT INTO meeting_invitations (id, meeting_id, agency_id, person_id, email, response, responded_at, \
         nominated_from, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(meeting_id)
    .bind(agency_id)
    .bind(person_id)
    .bind(email)
    .bind(response.as_str())
    .bind(responded_at)
    .bind(nominated_from)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

async fn add_to_channel(conn: &mut Conn, channel_id: &str, person_id: &str) -> StoreResult<()> {
    let there = sqlx::query(
        "SELECT 1 AS one FROM channel_restrictions WHERE channel_id = $1 AND person_id = $2",
    )
    .bind(channel_id)
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await?;
    if there.is_none() {
        sqlx::query("INSERT INTO channel_restrictions (channel_id, agency_id, person_id) VALUES ($1, NULL, $2)")
            .bind(channel_id)
            .bind(person_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What answering an invitation did.
#[derive(Clone, Debug)]
pub struct Answered {
    /// A new invitation for a nominated colleague, to be sent.
    pub nominee_invitation: Option<Invitation>,
    /// Declining ended the case access this meeting had given: close their live views.
    pub access_ended: bool,
}

/// Answer an invitation: accept, decline, tentative, or nominate a colleague
/// of the same agency (by email; a new guest of that agency if `nominee_name`
/// is given and nobody has the address).
#[allow(clippy::too_many_arguments)]
pub async fn respond(
    db: &Db,
    access: &MeetingAccess,
    me: &people::Person,
    invitation_id: &str,
    response: Response,
    note: &str,
    nominee: Option<(&str, &str)>,
    now: Millis,
) -> StoreResult<Answered> {
    if me.id != access.person_id {
        return Err(StoreError::NotFound);
    }
    let meeting = get(db, access).await?;
    if meeting.status != "scheduled" || now >= meeting.ends_at {
        return Err(StoreError::Invalid(
            "This meeting is over or cancelled: answers are closed.".into(),
        ));
    }
    let mine = my_invitations(db, &me.actor(), me.guest, access.meeting_id()).await?;
    let invitation = mine
        .into_iter()
        .find(|i| i.id == invitation_id)
        .ok_or(StoreError::NotFound)?;
    if invitation.response == Response::Nominated {
        return Err(StoreError::Invalid(
            "This invitation was passed to a colleague.".into(),
        ));
    }
    let by = By {
        person_id: Some(&me.id),
        label: &me.name,
    };
    // A nominee: a colleague of the invitation's agency.
    let nominee_person = match (response, nominee) {
        (Response::Nominated, Some((email, name))) => {
            let person = match people::find_by_email(db, email).await {
                Ok(p) => p,
                Err(StoreError::NotFound) if !name.trim().is_empty() => {
                    people::add(
                        db,
                        by,
                        now,
                        people::NewPerson {
                            agency_id: &invitation.agency_id,
                            name: name.trim(),
                            email,
                            role: Role::Practitioner,
                            guest: true,
                        },
                    )
                    .await?
                }
                Err(StoreError::NotFound) => {
                    return Err(StoreError::Invalid(
                        "Nobody has that email address: give your colleague's name too, and they will be invited as a guest."
                            .into(),
                    ));
                }
                Err(e) => return Err(e),
            };
            if person.agency_id != invitation.agency_id {
                return Err(StoreError::Invalid(format!(
                    "You can only nominate a colleague from {}.",
                    invitation.agency_name
                )));
            }
            if !person.active || person.id == me.id {
                return Err(StoreError::Invalid(
                    "Nominate an active colleague other than yourself.".into(),
                ));
            }
            Some(person)
        }
        (Response::Nominated, None) => {
            return Err(StoreError::Invalid(
                "Give your colleague's email address.".into(),
            ));
        }
        (Response::Pending, _) => {
            return Err(StoreError::Invalid("Choose an answer.".into()));
        }
        _ => None,
    };
    let mut access_ended = false;
    let mut tx = db.write().await?;
    // Taking up an agency's invitation makes it this person's: later
    // updates and reminders go to them, not to the duty inbox.
    sqlx::query(
        "UPDATE meeting_invitations SET response = $1, responded_at = $2, response_note = $3, person_id = $4, \
         email = $5 WHERE id = $6",
    )
    .bind(response.as_str())
    .bind(now)
    .bind(note.trim())
    .bind(&me.id)
    .bind(&me.email)
    .bind(&invitation.id)
    .execute(&mut *tx)
    .await?;
    match response {
        Response::Accepted => {
            add_to_channel(&mut tx, &meeting.channel_id, &me.id).await?;
            let current = sqlx::query(
                "SELECT expires_at FROM case_memberships WHERE case_id = $1 AND person_id = $2 AND ended_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(&meeting.case_id)
            .bind(&me.id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let wanted = (meeting.case_access == "meeting").then_some(meeting.ends_at);
            match current {
                None => {
                    cases::grant_in(
                        &mut tx,
                        By {
                            person_id: Some(&meeting.organiser_id),
                            label: &meeting.organiser_name,
                        },
                        now,
                        &meeting.case_id,
                        &me.id,
                        &format!(
                            "Accepted the invitation to the {} on {}",
                            meeting.kind.label().to_lowercase(),
                            london_date(meeting.starts_at)
                        ),
                        wanted,
                    )
                    .await?;
                }
                Some(row) => {
                    // A time-limited grant is lengthened to cover the meeting.
                    let expires: Option<Millis> = row.try_get("expires_at")?;
                    if let Some(e) = expires
                        && wanted.is_none_or(|w| w > e)
                    {
                        sqlx::query(
                            "UPDATE case_memberships SET expires_at = $1 WHERE case_id = $2 AND person_id = $3 AND ended_at IS NULL",
                        )
                        .bind(wanted)
                        .bind(&meeting.case_id)
                        .bind(&me.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
        }
        Response::Declined => {
            sqlx::query(
                "DELETE FROM channel_restrictions WHERE channel_id = $1 AND person_id = $2",
            )
            .bind(&meeting.channel_id)
            .bind(&me.id)
            .execute(&mut *tx)
            .await?;
            // Case access that came only with this meeting ends with the decline.
            let ended = sqlx::query(
                "UPDATE case_memberships SET ended_at = $1, ended_by_label = $2, end_reason = 'declined the meeting' \
                 WHERE case_id = $3 AND person_id = $4 AND ended_at IS NULL AND expires_at = $5 \
                 AND reason LIKE 'Accepted the invitation%'",
            )
            .bind(now)
            .bind(&me.name)
            .bind(&meeting.case_id)
            .bind(&me.id)
            .bind(meeting.ends_at)
            .execute(&mut *tx)
            .await?;
            access_ended = ended.rows_affected() > 0;
        }
        _ => {}
    }
    let mut nominee_invitation_id = None;
    if let Some(p) = &nominee_person {
        nominee_invitation_id = Some(
            insert_invitation(
                &mut tx,
                &meeting.id,
                &invitation.agency_id,
                Some(&p.id),
                &p.email,
                Response::Pending,
                now,
                Some(&invitation.id),
            )
            .await?,
        );
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&me.id),
            actor_label: &me.name,
            action: "meeting.responded",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({
                "invitation_id": invitation.id,
                "response": response.as_str(),
                "nominee_id": nominee_person.as_ref().map(|p| &p.id),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    let nominee_invitation = match nominee_invitation_id {
        Some(id) => invitations_unchecked(db, &meeting.id)
            .await?
            .into_iter()
            .find(|i| i.id == id),
        None => None,
    };
    Ok(Answered {
        nominee_invitation,
        access_ended,
    })
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

/// A change of time, place or mode: bumps the iCalendar sequence. Time-limited
/// case access of those who accepted is lengthened to the new end.
#[allow(clippy::too_many_arguments)]
pub async fn reschedule(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    starts_at: Millis,
    ends_at: Millis,
    mode: Mode,
    location: &str,
    now: Millis,
) -> StoreResult<Meeting> {
    if !may_manage(db, access, actor).await? {
        return Err(forbidden(
            "Only the organiser, the chair, the lead social worker or a manager can change the meeting.",
        ));
    }
    let meeting = get(db, access).await?;
    if meeting.status != "scheduled" {
        return Err(StoreError::Invalid(
            "Only a scheduled meeting can be changed.".into(),
        ));
    }
    if starts_at <= now || ends_at <= starts_at || ends_at - starts_at > LONGEST_MS {
        return Err(StoreError::Invalid(
            "The meeting must start in the future and last between 1 minute and 8 hours.".into(),
        ));
    }
    let location = location.trim();
    if let Reach::Member(case_access) = access.reach() {
        let case = cases::get(db, case_access).await?;
        if location.is_empty() || mentions_child(location, &case.child_name, &case.la_reference) {
            return Err(StoreError::Invalid(
                "Give a location that does not name the child or give their reference.".into(),
            ));
        }
    }
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE meetings SET starts_at = $1, ends_at = $2, mode = $3, location = $4, sequence = sequence + 1 WHERE id = $5",
    )
    .bind(starts_at)
    .bind(ends_at)
    .bind(mode.as_str())
    .bind(location)
    .bind(&meeting.id)
    .execute(&mut *tx)
    .await?;
    if meeting.case_access == "meeting" {
        sqlx::query(
            "UPDATE case_memberships SET expires_at = $1 WHERE case_id = $2 AND ended_at IS NULL \
             AND expires_at IS NOT NULL AND expires_at < $1 AND person_id IN \
             (SELECT person_id FROM meeting_invitations WHERE meeting_id = $3 AND response = 'accepted' AND person_id IS NOT NULL)",
        )
        .bind(ends_at)
        .bind(&meeting.case_id)
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.rescheduled",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({ "starts_at": starts_at, "ends_at": ends_at, "sequence": meeting.sequence + 1 }),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, access).await
}

/// Cancel a meeting (a reason is required); bumps the sequence, and ends
/// the case access that accepting it gave. Returns the meeting and the
/// people whose access ended.
pub async fn cancel(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    reason: &str,
    now: Millis,
) -> StoreResult<(Meeting, Vec<String>)> {
    if !may_manage(db, access, actor).await? {
        return Err(forbidden(
            "Only the organiser, the chair, the lead social worker or a manager can cancel the meeting.",
        ));
    }
    if reason.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Give the reason for cancelling.".into(),
        ));
    }
    let meeting = get(db, access).await?;
    if meeting.status != "scheduled" {
        return Err(StoreError::Invalid(
            "Only a scheduled meeting can be cancelled.".into(),
        ));
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE meetings SET status = 'cancelled', cancel_reason = $1, sequence = sequence + 1 WHERE id = $2")
        .bind(reason.trim())
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    // Case access that came only with this meeting ends with it.
    let granted = sqlx::query(
        "SELECT person_id FROM case_memberships WHERE case_id = $1 AND ended_at IS NULL AND expires_at = $2 \
         AND reason LIKE 'Accepted the invitation%' AND person_id IN \
         (SELECT person_id FROM meeting_invitations WHERE meeting_id = $3 AND person_id IS NOT NULL)",
    )
    .bind(&meeting.case_id)
    .bind(meeting.ends_at)
    .bind(&meeting.id)
    .fetch_all(&mut *tx)
    .await?;
    let mut ended = Vec::with_capacity(granted.len());
    for row in &granted {
        let person_id: String = row.try_get("person_id")?;
        sqlx::query(
            "UPDATE case_memberships SET ended_at = $1, ended_by_label = $2, end_reason = 'the meeting was cancelled' \
             WHERE case_id = $3 AND person_id = $4 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(&actor.name)
        .bind(&meeting.case_id)
        .bind(&person_id)
        .execute(&mut *tx)
        .await?;
        ended.push(person_id);
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.cancelled",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({ "sequence": meeting.sequence + 1, "access_ended": ended }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((get(db, access).await?, ended))
}

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
    super::agencies::find(db, agency_id)
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
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.attendance_recorded",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({ "agency_id": agency_id, "attended": attended, "senior_enough": senior }),
        },
    )
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
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.outcome_recorded",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({ "shape": outcome_shape(outcome), "deadlines": set }),
        },
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
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.minutes_saved",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({ "characters": text.trim().chars().count() }),
        },
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
    let sharing_state = super::sharing_state::snapshot(db, &meeting.case_id).await?;
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
    super::sharing::record_circulation_in(
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
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.minutes_circulated",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({
                "recipients": recipients.iter().map(|(p, _)| p).collect::<Vec<_>>(),
                "receiving_agencies": receiving,
            }),
        },
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
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "meeting.minutes_acknowledged",
            case_id: Some(access.case_id()),
            subject: Some(access.meeting_id()),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_is_not_named_in_a_location() {
        let (name, la) = ("Lily Ashworth", "LA-2041-77");
        assert!(mentions_child("Ashworth family home", name, la));
        assert!(mentions_child("lily ashworth's school", name, la));
        assert!(mentions_child("re LA-2041-77", name, la));
        assert!(!mentions_child(
            "Northshire Police Station, room 2",
            name,
            la
        ));
        assert!(!mentions_child("Microsoft Teams link in Confer", name, la));
        // A first name alone is too common to refuse.
        assert!(!mentions_child("Lily Road Community Centre", name, la));
    }
}
