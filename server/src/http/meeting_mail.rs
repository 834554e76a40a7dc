//! Meeting mail: invitations, updates and cancellations with an iCalendar
//! file, and the scheduler's reminders. Nothing here names the child: the
//! subject, body and calendar carry the meeting's kind, time, mode and
//! location, Confer's own case reference and the link.

use super::AppState;
use crate::calendar::{self, Attendee, CalendarEvent, Method, PartStat};
use crate::domain::clock::Millis;
use crate::domain::meetings::Response;
use crate::mail::{CalendarPart, Outgoing};
use crate::store::meetings::{Invitation, Meeting};

/// "Tuesday 1 December 2026, 10:00 to 11:00 (London time)".
pub fn when_text(starts_at: Millis, ends_at: Millis) -> String {
    let start = calendar::london_local(starts_at);
    let end = calendar::london_local(ends_at);
    let same_day = start.date() == end.date();
    format!(
        "{}, {} to {}{} (London time)",
        start.format("%A %-d %B %Y"),
        start.format("%H:%M"),
        if same_day {
            String::new()
        } else {
            end.format("%A %-d %B %Y, ").to_string()
        },
        end.format("%H:%M"),
    )
}

fn partstat(r: Response) -> PartStat {
    match r {
        Response::Pending => PartStat::NeedsAction,
        Response::Accepted => PartStat::Accepted,
        Response::Declined => PartStat::Declined,
        Response::Tentative => PartStat::Tentative,
        Response::Nominated => PartStat::Delegated,
    }
}

/// The meeting as a calendar event for `method`, listing every invitee.
pub fn event(
    meeting: &Meeting,
    invitations: &[Invitation],
    method: Method,
    link: &str,
    now: Millis,
) -> CalendarEvent {
    let summary = format!("{} — case {}", meeting.kind.label(), meeting.case_reference);
    let description = match method {
        Method::Request => format!(
            "{summary}\n{}\n{}\n\nOpen the meeting in Confer to answer, see who is coming and join the meeting's discussion:\n{link}\n\n\
             Details of the case are only in Confer: sign in to see them.",
            when_text(meeting.starts_at, meeting.ends_at),
            meeting.mode.label(),
        ),
        Method::Cancel => format!(
            "{summary} on {} is cancelled.\n{link}",
            when_text(meeting.starts_at, meeting.ends_at)
        ),
    };
    CalendarEvent {
        uid: format!("{}@confer", meeting.id),
        sequence: u32::try_from(meeting.sequence).unwrap_or(0),
        method,
        summary,
        description,
        url: link.to_string(),
        location: Some(format!("{} — {}", meeting.mode.label(), meeting.location)),
        starts_at: meeting.starts_at,
        ends_at: meeting.ends_at,
        organizer_name: meeting.organiser_name.clone(),
        organizer_email: meeting.organiser_email.clone(),
        attendees: invitations
            .iter()
            .map(|i| Attendee {
                name: i
                    .person_name
                    .clone()
                    .unwrap_or_else(|| format!("{} (duty)", i.agency_name)),
                email: i.email.clone(),
                partstat: partstat(i.response),
            })
            .collect(),
        stamp: now,
    }
}

/// Send the invitation (or update, or cancellation) to each of `to`; the
/// calendar file lists all of `all`.
pub fn send(
    state: &AppState,
    meeting: &Meeting,
    all: &[Invitation],
    to: &[&Invitation],
    method: Method,
) {
    let link = format!("{}/meetings/{}", state.link_base(), meeting.id);
    let event = event(meeting, all, method, &link, state.now());
    let ics = calendar::render(&event);
    let (subject, intro) = match (method, meeting.sequence) {
        (Method::Cancel, _) => (
            format!("Cancelled: {}", event.summary),
            "This meeting has been cancelled.".to_string(),
        ),
        (Method::Request, 0) => (
            format!("Invitation: {}", event.summary),
            format!("{} invites you to a meeting.", meeting.organiser_name),
        ),
        (Method::Request, _) => (
            format!("Updated: {}", event.summary),
            "The time, place or way of meeting has changed.".to_string(),
        ),
    };
    for invitation in to {
        let body = format!(
            "{intro}\n\n{}\nCase reference: {}\nWhen: {}\nHow: {}\nWhere: {}\nOrganiser: {}\n\n\
             Answer (accept, decline, tentative, or pass it to a colleague) after signing in:\n{link}\n{}\n\
             This message deliberately contains no details of the child.\n",
            meeting.kind.label(),
            meeting.case_reference,
            when_text(meeting.starts_at, meeting.ends_at),
            meeting.mode.label(),
            meeting.location,
            meeting.organiser_name,
            if invitation.person_id.is_none() {
                "\nThis invitation was sent to your agency's duty address: anyone in the agency can take it up or pass it to a colleague.\n"
            } else {
                ""
            },
        );
        state.mailer.send_later(
            Outgoing {
                to: invitation.email.clone(),
                subject: subject.clone(),
                body,
                calendar: Some(CalendarPart::new(method, ics.clone())),
            },
            "meeting invitation",
        );
    }
}

/// Send every invitee still taking part (not declined, not passed on).
pub fn send_to_all(state: &AppState, meeting: &Meeting, all: &[Invitation], method: Method) {
    let to: Vec<&Invitation> = all
        .iter()
        .filter(|i| !matches!(i.response, Response::Declined | Response::Nominated))
        .collect();
    send(state, meeting, all, &to, method);
}

/// A plain reminder (no calendar file).
pub fn remind(state: &AppState, to: &str, subject: String, body: String) {
    state.mailer.send_later(
        Outgoing {
            to: to.to_string(),
            subject,
            body: format!(
                "{body}\n\nThis message deliberately contains no details of the child.\n"
            ),
            calendar: None,
        },
        "reminder",
    );
}
