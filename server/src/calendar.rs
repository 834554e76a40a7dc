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
mod tests {
    use chrono::NaiveDate;
    use ical::parser::ical::component::{IcalCalendar, IcalEvent};
    use ical::property::Property as P;

    use super::*;

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    fn sample(method: Method, starts_at: Millis) -> CalendarEvent {
        CalendarEvent {
            uid: "7f0c2a9e-meeting@confer".into(),
            sequence: 0,
            method,
            summary: "Strategy discussion — case CF-7KQ2MX".into(),
            description: "Join in Confer: https://confer.example.org/meetings/7f0c2a9e".into(),
            url: "https://confer.example.org/meetings/7f0c2a9e".into(),
            location: Some("Room 3, Civic Centre; or online".into()),
            starts_at,
            ends_at: starts_at + 3_600_000,
            organizer_name: "Sam Okafor".into(),
            organizer_email: "sam.okafor@la.example.gov.uk".into(),
            attendees: vec![
                Attendee {
                    name: "DC Jo Reed".into(),
                    email: "jo.reed@police.example.uk".into(),
                    partstat: PartStat::NeedsAction,
                },
                Attendee {
                    name: "Reed, Jo (Health)".into(),
                    email: "jo.reed@nhs.example.net".into(),
                    partstat: PartStat::Accepted,
                },
                Attendee {
                    name: "Pat Lee".into(),
                    email: "pat.lee@school.example.sch.uk".into(),
                    partstat: PartStat::Declined,
                },
                Attendee {
                    name: "Ana Ruiz".into(),
                    email: "ana.ruiz@housing.example.org".into(),
                    partstat: PartStat::Tentative,
                },
            ],
            stamp: ms(2026, 11, 20, 14, 5),
        }
    }

    fn parse(ics: &str) -> IcalCalendar {
        let mut parser = ical::IcalParser::new(ics.as_bytes());
        let calendar = parser.next().expect("one calendar").expect("parses");
        assert!(parser.next().is_none(), "exactly one calendar");
        calendar
    }

    fn event(calendar: &IcalCalendar) -> &IcalEvent {
        assert_eq!(calendar.events.len(), 1);
        &calendar.events[0]
    }

    fn all<'a>(props: &'a [P], name: &str) -> Vec<&'a P> {
        props.iter().filter(|p| p.name == name).collect()
    }

    fn one<'a>(props: &'a [P], name: &str) -> &'a P {
        let found = all(props, name);
        assert_eq!(found.len(), 1, "exactly one {name}");
        found[0]
    }

    fn value<'a>(props: &'a [P], name: &str) -> &'a str {
        one(props, name).value.as_deref().unwrap()
    }

    fn param_of<'a>(p: &'a P, key: &str) -> Option<&'a str> {
        p.params
            .as_ref()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| {
                assert_eq!(v.len(), 1, "{key} has one value");
                v[0].as_str()
            })
    }

    /// RFC 5545 §3.3.11 unescaping (the ical crate leaves values as written).
    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') | Some('N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => panic!("dangling backslash"),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn dtstart(e: &IcalEvent) -> (&str, &str) {
        let p = one(&e.properties, "DTSTART");
        (param_of(p, "TZID").unwrap(), p.value.as_deref().unwrap())
    }

    #[test]
    fn request_has_the_calendar_and_event_fields() {
        let ics = render(&sample(Method::Request, ms(2026, 12, 1, 10, 0)));
        let cal = parse(&ics);
        assert_eq!(value(&cal.properties, "METHOD"), "REQUEST");
        assert_eq!(value(&cal.properties, "VERSION"), "2.0");
        assert_eq!(value(&cal.properties, "CALSCALE"), "GREGORIAN");
        assert!(!value(&cal.properties, "PRODID").is_empty());

        let e = event(&cal);
        assert_eq!(value(&e.properties, "UID"), "7f0c2a9e-meeting@confer");
        assert_eq!(value(&e.properties, "SEQUENCE"), "0");
        assert_eq!(value(&e.properties, "DTSTAMP"), "20261120T140500Z");
        assert_eq!(value(&e.properties, "STATUS"), "CONFIRMED");
        assert_eq!(
            unescape(value(&e.properties, "SUMMARY")),
            "Strategy discussion — case CF-7KQ2MX"
        );
        assert_eq!(
            value(&e.properties, "URL"),
            "https://confer.example.org/meetings/7f0c2a9e"
        );
        assert_eq!(
            unescape(value(&e.properties, "LOCATION")),
            "Room 3, Civic Centre; or online"
        );
        // Winter: GMT, so local time is UTC.
        assert_eq!(dtstart(e), ("Europe/London", "20261201T100000"));
        let end = one(&e.properties, "DTEND");
        assert_eq!(param_of(end, "TZID"), Some("Europe/London"));
        assert_eq!(end.value.as_deref(), Some("20261201T110000"));

        let organizer = one(&e.properties, "ORGANIZER");
        assert_eq!(
            organizer.value.as_deref(),
            Some("mailto:sam.okafor@la.example.gov.uk")
        );
        assert_eq!(param_of(organizer, "CN"), Some("Sam Okafor"));

        let attendees = all(&e.properties, "ATTENDEE");
        let seen: Vec<(&str, &str, &str, &str, &str)> = attendees
            .iter()
            .map(|a| {
                (
                    a.value.as_deref().unwrap(),
                    param_of(a, "CN").unwrap(),
                    param_of(a, "ROLE").unwrap(),
                    param_of(a, "PARTSTAT").unwrap(),
                    param_of(a, "RSVP").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "mailto:jo.reed@police.example.uk",
                    "DC Jo Reed",
                    "REQ-PARTICIPANT",
                    "NEEDS-ACTION",
                    "TRUE"
                ),
                (
                    "mailto:jo.reed@nhs.example.net",
                    "Reed, Jo (Health)",
                    "REQ-PARTICIPANT",
                    "ACCEPTED",
                    "TRUE"
                ),
                (
                    "mailto:pat.lee@school.example.sch.uk",
                    "Pat Lee",
                    "REQ-PARTICIPANT",
                    "DECLINED",
                    "TRUE"
                ),
                (
                    "mailto:ana.ruiz@housing.example.org",
                    "Ana Ruiz",
                    "REQ-PARTICIPANT",
                    "TENTATIVE",
                    "TRUE"
                ),
            ]
        );
    }

    #[test]
    fn vtimezone_for_london_is_present() {
        let ics = render(&sample(Method::Request, ms(2026, 12, 1, 10, 0)));
        let cal = parse(&ics);
        assert_eq!(cal.timezones.len(), 1);
        let tz = &cal.timezones[0];
        assert_eq!(value(&tz.properties, "TZID"), "Europe/London");
        assert_eq!(tz.transitions.len(), 2);
        let mut found = Vec::new();
        for t in &tz.transitions {
            found.push((
                format!("{:?}", t.transition),
                value(&t.properties, "TZOFFSETFROM").to_string(),
                value(&t.properties, "TZOFFSETTO").to_string(),
                value(&t.properties, "TZNAME").to_string(),
                value(&t.properties, "DTSTART").to_string(),
                value(&t.properties, "RRULE").to_string(),
            ));
        }
        let expect = |kind: &str, from: &str, to: &str, name: &str, start: &str, rule: &str| {
            (
                kind.to_string(),
                from.to_string(),
                to.to_string(),
                name.to_string(),
                start.to_string(),
                rule.to_string(),
            )
        };
        assert_eq!(
            found,
            vec![
                expect(
                    "STANDARD",
                    "+0100",
                    "+0000",
                    "GMT",
                    "19701025T020000",
                    "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"
                ),
                expect(
                    "DAYLIGHT",
                    "+0000",
                    "+0100",
                    "BST",
                    "19700329T010000",
                    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"
                ),
            ]
        );
        // Conventionally before the event that refers to it.
        let zone_at = ics.find("BEGIN:VTIMEZONE").unwrap();
        let event_at = ics.find("BEGIN:VEVENT").unwrap();
        assert!(zone_at < event_at);
        // No stray DTSTAMP/UID inside the zone (the crate adds them to its components).
        let zone = &ics[zone_at..ics.find("END:VTIMEZONE").unwrap()];
        assert!(!zone.contains("DTSTAMP") && !zone.contains("UID"));
    }

    #[test]
    fn summer_time_is_written_as_bst_wall_clock() {
        let ics = render(&sample(Method::Request, ms(2026, 7, 1, 9, 0)));
        let cal = parse(&ics);
        assert_eq!(dtstart(event(&cal)), ("Europe/London", "20260701T100000"));
        assert_eq!(value(&event(&cal).properties, "DTEND"), "20260701T110000");
    }

    #[test]
    fn meetings_on_the_october_change_day() {
        // 2026-10-25: clocks go back at 02:00 BST (01:00 UTC).
        let after = render(&sample(Method::Request, ms(2026, 10, 25, 10, 0)));
        assert_eq!(
            dtstart(event(&parse(&after))),
            ("Europe/London", "20261025T100000")
        );
        let first_hour = render(&sample(Method::Request, ms(2026, 10, 25, 0, 30)));
        let cal = parse(&first_hour);
        // 00:30 UTC is 01:30 BST; the meeting runs to 01:30 UTC, 01:30 GMT.
        assert_eq!(dtstart(event(&cal)), ("Europe/London", "20261025T013000"));
        assert_eq!(value(&event(&cal).properties, "DTEND"), "20261025T013000");
        // The day before is still BST.
        let before = render(&sample(Method::Request, ms(2026, 10, 24, 9, 0)));
        assert_eq!(
            dtstart(event(&parse(&before))),
            ("Europe/London", "20261024T100000")
        );
    }

    #[test]
    fn update_keeps_uid_and_raises_sequence() {
        let first = sample(Method::Request, ms(2026, 12, 1, 10, 0));
        let mut moved = first.clone();
        moved.sequence = 1;
        moved.starts_at = ms(2026, 12, 2, 14, 0);
        moved.ends_at = ms(2026, 12, 2, 15, 0);
        let a = parse(&render(&first));
        let b = parse(&render(&moved));
        assert_eq!(
            value(&event(&a).properties, "UID"),
            value(&event(&b).properties, "UID")
        );
        assert_eq!(value(&event(&b).properties, "SEQUENCE"), "1");
        assert_eq!(dtstart(event(&b)), ("Europe/London", "20261202T140000"));
    }

    #[test]
    fn cancel_has_method_and_status_cancelled() {
        let mut cancel = sample(Method::Cancel, ms(2026, 12, 1, 10, 0));
        cancel.sequence = 2;
        let cal = parse(&render(&cancel));
        assert_eq!(value(&cal.properties, "METHOD"), "CANCEL");
        let e = event(&cal);
        assert_eq!(value(&e.properties, "STATUS"), "CANCELLED");
        assert_eq!(value(&e.properties, "SEQUENCE"), "2");
        assert_eq!(value(&e.properties, "UID"), "7f0c2a9e-meeting@confer");
        let attendees = all(&e.properties, "ATTENDEE");
        assert_eq!(attendees.len(), 4);
        assert!(attendees.iter().all(|a| param_of(a, "RSVP").is_none()));
        assert_eq!(cal.timezones.len(), 1);
    }

    #[test]
    fn text_with_commas_semicolons_and_newlines_round_trips() {
        let mut e = sample(Method::Request, ms(2026, 12, 1, 10, 0));
        e.summary = "Core group; review, part 2 \\ follow-up".into();
        e.description = "Agenda:\r\n1. Plan, risks; actions\n2. Next steps\rEnd".into();
        e.location = Some("Room 1; Floor 2, Town Hall".into());
        e.organizer_name = "O'Neil, \"Chris\"; Team: CSC".into();
        let ics = render(&e);
        let cal = parse(&ics);
        let ev = event(&cal);
        assert_eq!(
            unescape(value(&ev.properties, "SUMMARY")),
            "Core group; review, part 2 \\ follow-up"
        );
        assert_eq!(
            unescape(value(&ev.properties, "DESCRIPTION")),
            "Agenda:\n1. Plan, risks; actions\n2. Next steps\nEnd"
        );
        assert_eq!(
            unescape(value(&ev.properties, "LOCATION")),
            "Room 1; Floor 2, Town Hall"
        );
        assert_eq!(
            param_of(one(&ev.properties, "ORGANIZER"), "CN"),
            Some("O'Neil, 'Chris'; Team: CSC")
        );
    }

    #[test]
    fn lines_are_crlf_and_folded_at_75_octets() {
        let mut e = sample(Method::Request, ms(2026, 12, 1, 10, 0));
        e.description = "Détails — ".repeat(40) + &"x".repeat(200);
        let ics = render(&e);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        let body = ics.strip_suffix("\r\n").unwrap();
        for line in body.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
            assert!(!line.contains('\r') && !line.contains('\n'));
        }
        // Unfolding (RFC 5545 §3.1: drop each CRLF and the one space after
        // it) gives the text back. Not checked through the ical crate: it
        // trims trailing spaces of each physical line, and icalendar may fold
        // just after a space, so ical 0.11 loses such spaces.
        let unfolded = ics.replace("\r\n ", "");
        let description = unfolded
            .split("\r\n")
            .find_map(|l| l.strip_prefix("DESCRIPTION:"))
            .unwrap();
        assert_eq!(unescape(description), e.description);
        assert_eq!(event(&parse(&ics)).properties.len(), 16);
    }

    #[test]
    fn no_location_no_location_line() {
        let mut e = sample(Method::Request, ms(2026, 12, 1, 10, 0));
        e.location = None;
        let cal = parse(&render(&e));
        assert!(all(&event(&cal).properties, "LOCATION").is_empty());
    }

    #[test]
    fn london_local_follows_the_clock_changes() {
        assert_eq!(
            london_local(ms(2026, 12, 1, 10, 0)),
            local(2026, 12, 1, 10, 0)
        );
        assert_eq!(london_local(ms(2026, 7, 1, 9, 0)), local(2026, 7, 1, 10, 0));
        // Spring: 01:00 UTC becomes 02:00 BST.
        assert_eq!(
            london_local(ms(2026, 3, 29, 0, 59)),
            local(2026, 3, 29, 0, 59)
        );
        assert_eq!(
            london_local(ms(2026, 3, 29, 1, 0)),
            local(2026, 3, 29, 2, 0)
        );
        // Autumn: 01:30 happens twice.
        assert_eq!(
            london_local(ms(2026, 10, 25, 0, 30)),
            local(2026, 10, 25, 1, 30)
        );
        assert_eq!(
            london_local(ms(2026, 10, 25, 1, 30)),
            local(2026, 10, 25, 1, 30)
        );
        // Nothing panics at the extremes.
        let _ = london_local(Millis::MIN);
        let _ = london_local(Millis::MAX);
    }

    #[test]
    fn from_london_local_rejects_the_spring_gap_and_takes_bst_in_autumn() {
        assert_eq!(
            from_london_local(local(2026, 3, 29, 1, 30)),
            Err(LocalTimeError::DoesNotExist)
        );
        assert_eq!(
            LocalTimeError::DoesNotExist.to_string(),
            "That time does not exist in London on that day: the clocks go forward."
        );
        assert_eq!(
            from_london_local(local(2026, 10, 25, 1, 30)),
            Ok(ms(2026, 10, 25, 0, 30))
        );
        assert_eq!(
            from_london_local(local(2026, 3, 29, 2, 0)),
            Ok(ms(2026, 3, 29, 1, 0))
        );
        assert_eq!(
            from_london_local(local(2026, 12, 1, 10, 0)),
            Ok(ms(2026, 12, 1, 10, 0))
        );
        assert_eq!(
            from_london_local(local(2026, 7, 1, 10, 0)),
            Ok(ms(2026, 7, 1, 9, 0))
        );
        assert_eq!(
            from_london_local(NaiveDateTime::MAX),
            Err(LocalTimeError::OutOfRange)
        );
        // Round trip outside the ambiguous hour.
        for t in [
            ms(2026, 1, 15, 8, 45),
            ms(2026, 6, 30, 23, 59),
            ms(2026, 10, 25, 2, 0),
        ] {
            assert_eq!(from_london_local(london_local(t)), Ok(t));
        }
    }
}
