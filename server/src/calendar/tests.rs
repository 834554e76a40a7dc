//! The invitations parsed back with an independent iCalendar parser, and the clock changes.

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
