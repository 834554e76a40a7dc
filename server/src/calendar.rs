//! Meeting invitations as iCalendar (RFC 5545) objects carrying an iTIP
//! method (RFC 5546), so that Outlook, Google Calendar and Apple Calendar
//! offer "accept / decline" and later updates or cancellations replace the
//! same entry (same UID, higher SEQUENCE).
//!
//! Times are written as Europe/London wall-clock times with a VTIMEZONE, which
//! is what practitioners see in their calendars and what every client accepts;
//! this module also holds the London <-> UTC conversions the forms use, with
//! the clock changes handled once, here.
//!
//! Invitations never carry child-identifying data: the summary and
//! description name Confer's own case reference only (the caller's duty; this
//! module just writes what it is given).

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use icalendar::{
    Attendee as IcalAttendee, Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus,
    PartStat as IcalPartStat, Property, Role,
};

use crate::domain::clock::Millis;

/// The time zone every invitation is written in.
pub const TZID: &str = "Europe/London";

const PRODID: &str = "-//Confer//Confer meeting invitations//EN";

/// The iTIP method of the whole calendar object (RFC 5546 §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A new meeting, or an update to one (with a higher sequence).
    Request,
    /// The meeting is cancelled.
    Cancel,
}

impl Method {
    /// The value of the METHOD property, also used as the `method=` parameter
    /// of the `text/calendar` MIME part.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// An attendee's participation status (RFC 5545 §3.2.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartStat {
    NeedsAction,
    Accepted,
    Declined,
    Tentative,
    Delegated,
}

impl PartStat {
    fn to_ical(self) -> IcalPartStat {
        match self {
            PartStat::NeedsAction => IcalPartStat::NeedsAction,
            PartStat::Accepted => IcalPartStat::Accepted,
            PartStat::Declined => IcalPartStat::Declined,
            PartStat::Tentative => IcalPartStat::Tentative,
            PartStat::Delegated => IcalPartStat::Delegated,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attendee {
    pub name: String,
    pub email: String,
    pub partstat: PartStat,
}

/// One meeting as an invitation (or its cancellation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEvent {
    /// Stable across updates, e.g. "<meeting id>@confer".
    pub uid: String,
    /// 0 on first send, incremented by each change.
    pub sequence: u32,
    pub method: Method,
    /// e.g. "Strategy discussion — case CF-7KQ2MX" (never child data).
    pub summary: String,
    /// Plain text, including the link.
    pub description: String,
    /// Link to the meeting in Confer.
    pub url: String,
    pub location: Option<String>,
    /// Milliseconds since the Unix epoch, UTC.
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub organizer_name: String,
    pub organizer_email: String,
    pub attendees: Vec<Attendee>,
    /// DTSTAMP: when this version of the invitation was made.
    pub stamp: Millis,
}

/// The iCalendar text (CRLF line ends, lines folded at 75 octets) for `event`.
pub fn render(event: &CalendarEvent) -> String {
    // Writing into a String cannot fail; the error type is only fmt's.
    try_render(event).unwrap_or_default()
}

fn try_render(e: &CalendarEvent) -> Result<String, fmt::Error> {
    let mut vevent = Event::new();
    vevent
        .uid(&one_line(&e.uid))
        .sequence(e.sequence)
        .timestamp(utc(e.stamp))
        .starts(london(e.starts_at))
        .ends(london(e.ends_at))
        .summary(&text(&e.summary))
        .description(&text(&e.description))
        .url(&one_line(&e.url))
        .status(match e.method {
            Method::Request => EventStatus::Confirmed,
            Method::Cancel => EventStatus::Cancelled,
        })
        .append_property(
            Property::new("ORGANIZER", mailto(&e.organizer_email))
                .add_parameter("CN", &param(&e.organizer_name))
                .done(),
        )
        .add_property("TRANSP", "OPAQUE");
    if let Some(location) = e.location.as_deref().filter(|l| !l.trim().is_empty()) {
        vevent.location(&text(location));
    }
    for a in &e.attendees {
        let mut attendee = IcalAttendee::new(mailto(&a.email))
            .cn(param(&a.name))
            .role(Role::ReqParticipant)
            .partstat(a.partstat.to_ical());
        if e.method == Method::Request {
            // A cancellation asks for no reply.
            attendee = attendee.rsvp(true);
        }
        vevent.attendee(attendee);
    }

    let calendar = Calendar {
        properties: vec![
            Property::new("PRODID", PRODID),
            Property::new("VERSION", "2.0"),
            Property::new("CALSCALE", "GREGORIAN"),
            Property::new("METHOD", e.method.as_str()),
        ],
        components: vec![vevent.done().into()],
    };
    let mut out = calendar.to_string();
    // icalendar 0.17 cannot build a VTIMEZONE (its free-form component type
    // has no public constructor without the parser feature), so the block is
    // written from the crate's own Property lines and placed before the event.
    let zone = london_vtimezone()?;
    match out.find("BEGIN:VEVENT\r\n") {
        Some(at) => out.insert_str(at, &zone),
        None => return Err(fmt::Error),
    }
    Ok(out)
}

/// VTIMEZONE for Europe/London with the current (since 1996) EU rules:
/// BST from 01:00 UTC on the last Sunday in March to 01:00 UTC on the last
/// Sunday in October.
fn london_vtimezone() -> Result<String, fmt::Error> {
    let standard = [
        ("DTSTART", "19701025T020000"),
        ("RRULE", "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"),
        ("TZNAME", "GMT"),
        ("TZOFFSETFROM", "+0100"),
        ("TZOFFSETTO", "+0000"),
    ];
    let daylight = [
        ("DTSTART", "19700329T010000"),
        ("RRULE", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"),
        ("TZNAME", "BST"),
        ("TZOFFSETFROM", "+0000"),
        ("TZOFFSETTO", "+0100"),
    ];
    let mut out = String::from("BEGIN:VTIMEZONE\r\n");
    out.push_str(&line(Property::new("TZID", TZID))?);
    for (kind, props) in [("STANDARD", standard), ("DAYLIGHT", daylight)] {
        out.push_str("BEGIN:");
        out.push_str(kind);
        out.push_str("\r\n");
        for (key, value) in props {
            out.push_str(&line(Property::new(key, value))?);
        }
        out.push_str("END:");
        out.push_str(kind);
        out.push_str("\r\n");
    }
    out.push_str("END:VTIMEZONE\r\n");
    Ok(out)
}

/// One content line as icalendar writes it (escaped, folded, CRLF).
fn line(property: Property) -> Result<String, fmt::Error> {
    property.try_into()
}

/// Why a London wall-clock time entered in a form has no single instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    #[error("That time does not exist in London on that day: the clocks go forward.")]
    DoesNotExist,
    /// Outside the years 1 to 9999.
    #[error("That date is too far in the past or the future.")]
    OutOfRange,
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: instants are clamped
/// to this range before conversion so that no input can overflow.
const MIN_MS: Millis = -62_135_596_800_000;
const MAX_MS: Millis = 253_402_300_799_999;

fn utc(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms.clamp(MIN_MS, MAX_MS)).unwrap_or_default()
}

/// The Europe/London wall-clock time of an instant (GMT in winter, BST in summer).
pub fn london_local(ms: Millis) -> NaiveDateTime {
    utc(ms).with_timezone(&London).naive_local()
}

/// The instant of a Europe/London wall-clock time. A time skipped when the
/// clocks go forward (e.g. 01:30 on the last Sunday in March) is an error; a
/// time that happens twice when they go back (01:00–01:59 on the last Sunday
/// in October) is taken as the first, BST, occurrence — as RFC 5545 §3.3.5
/// reads such a time.
pub fn from_london_local(local: NaiveDateTime) -> Result<Millis, LocalTimeError> {
    let in_range = |ms: Millis| (MIN_MS..=MAX_MS).contains(&ms);
    match London.from_local_datetime(&local).earliest() {
        Some(instant) if in_range(instant.timestamp_millis()) => Ok(instant.timestamp_millis()),
        Some(_) => Err(LocalTimeError::OutOfRange),
        None if in_range(local.and_utc().timestamp_millis()) => Err(LocalTimeError::DoesNotExist),
        None => Err(LocalTimeError::OutOfRange),
    }
}

fn london(ms: Millis) -> CalendarDateTime {
    CalendarDateTime::WithTimezone {
        date_time: london_local(ms),
        tzid: TZID.to_string(),
    }
}

fn mailto(email: &str) -> String {
    let email: String = email
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect();
    format!("mailto:{email}")
}

/// A TEXT value: icalendar escapes backslashes, commas, semicolons and line
/// feeds; other line ends are made line feeds and other control characters
/// (which RFC 5545 forbids in TEXT) are dropped.
fn text(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

/// A value that must stay on one line (UID, URL).
fn one_line(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// A parameter value (CN): icalendar quotes it when it holds `:;,`, but a
/// parameter value can never hold a double quote or a control character.
fn param(value: &str) -> String {
    value
        .chars()
        .map(|c| if c == '"' { '\'' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests;
