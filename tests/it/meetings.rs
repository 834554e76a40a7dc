//! Meetings end to end over HTTP: convening with required agencies,
//! invitations by real SMTP with a calendar file checked by an independent
//! parser, answers, the meeting's record, and the deadlines its outcome sets.

use crate::harness::{ALEX, DANA, KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::smtp_sink::{Received, SmtpSink};

/// A London date and time a few days ahead of the server's clock, in winter
/// or summer as the clock falls; tests that care set the clock first.
pub fn day_after(app: &TestApp, days: i64) -> String {
    let ms = app.clock_now() + days * 86_400_000;
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Move the server's clock to five minutes after the meeting's start, when
/// its record is open: the meeting is two days ahead at 10:00 London time, so
/// a fixed advance would depend on the hour the tests run.
pub async fn into_meeting(app: &TestApp, meeting_id: &str) {
    let db = app.db().await;
    let (starts,): (i64,) = sqlx::query_as("SELECT starts_at FROM meetings WHERE id = $1")
        .bind(meeting_id)
        .fetch_one(db.pool())
        .await
        .expect("the meeting's start");
    db.close().await;
    app.clock.set(starts + 5 * 60_000);
}

/// Post a page form as this person (the session's CSRF token added).
pub async fn form(
    app: &TestApp,
    who: &Signed,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = vec![("csrf_token", who.csrf.as_str())];
    all.extend_from_slice(fields);
    who.client
        .post(app.url(path))
        .form(&all)
        .send()
        .await
        .expect("POST form")
}

/// Convene a meeting; returns the meeting id (from the redirect).
pub async fn convene(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    fields: &[(&str, &str)],
) -> Result<String, String> {
    let res = form(app, who, &format!("/cases/{case_id}/meetings"), fields).await;
    if res.status() == 303 {
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with("/meetings/"),
            "convened, not {location}"
        );
        return Ok(location.trim_start_matches("/meetings/").to_string());
    }
    let status = res.status();
    let body = res.text().await.unwrap();
    Err(format!("{status}: {}", error_text(&body)))
}

/// The text of a page's error summary, if any.
pub fn error_text(html: &str) -> String {
    html.split("govuk-error-summary__list")
        .nth(1)
        .and_then(|rest| rest.split("</li>").next())
        .map(|s| s.rsplit('>').next().unwrap_or(s).to_string())
        .unwrap_or_else(|| html.chars().take(300).collect())
}

/// A page form that did what it asked: back to a Confer page, not to sign-in.
#[track_caller]
pub fn done(res: &reqwest::Response) {
    assert_eq!(res.status(), 303, "expected a redirect after success");
    let to = res.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with("/meetings/") || to.starts_with("/cases/"),
        "redirected to {to}"
    );
}

pub async fn person_id(app: &TestApp, email: &str) -> String {
    let db = app.db().await;
    let p = confer::store::people::find_by_email(&db, email)
        .await
        .unwrap();
    db.close().await;
    p.id
}

/// The strategy discussion Sam convenes for Lily: police (Lee), health
/// (Kim) and Sam's manager (Alex), by video, two days ahead at 10:00.
pub async fn strategy_discussion(app: &TestApp, sam: &Signed, case_id: &str) -> String {
    let (lee, kim, alex) = (
        person_id(app, LEE).await,
        person_id(app, KIM).await,
        person_id(app, ALEX).await,
    );
    let date = day_after(app, 2);
    convene(
        app,
        sam,
        case_id,
        &[
            ("kind", "strategy_discussion"),
            ("date", &date),
            ("time", "10:00"),
            ("minutes", "60"),
            ("mode", "video_link"),
            ("location", "Teams: link in Confer"),
            ("chair_id", &sam.person_id),
            ("people", &lee),
            ("people", &kim),
            ("people", &alex),
            ("case_access", "meeting"),
        ],
    )
    .await
    .expect("convened")
}

pub fn calendar_part(m: &Received) -> String {
    // The text/calendar part, decoded from the MIME message.
    let data = m.data.replace("\r\n", "\n");
    let start = data
        .find("BEGIN:VCALENDAR")
        .expect("a calendar in the message");
    let end = data[start..]
        .find("END:VCALENDAR")
        .expect("the calendar ends")
        + start
        + "END:VCALENDAR".len();
    data[start..end].replace("=\n", "").replace("=3D", "=")
}

/// A property as read back: name, parameters, value.
type Prop = (String, Option<String>, String);

/// Parse with the independent `ical` crate; returns (calendar properties, event properties).
pub fn parse_ics(text: &str) -> (Vec<Prop>, Vec<Prop>) {
    let reader = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let cal = reader
        .into_iter()
        .next()
        .expect("one calendar")
        .expect("it parses");
    let props = |ps: &Vec<ical::property::Property>| {
        ps.iter()
            .map(|p| {
                let params = p.params.as_ref().map(|ps| {
                    ps.iter()
                        .map(|(k, v)| format!("{k}={}", v.join(",")))
                        .collect::<Vec<_>>()
                        .join(";")
                });
                (p.name.clone(), params, p.value.clone().unwrap_or_default())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(cal.events.len(), 1, "one event");
    assert!(
        !cal.timezones.is_empty(),
        "the Europe/London time zone is included"
    );
    (props(&cal.properties), props(&cal.events[0].properties))
}

pub fn value<'a>(props: &'a [Prop], name: &str) -> &'a str {
    props
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}"))
}

pub const CHILD_DATA: [&str; 4] = ["Lily", "Ashworth", "NCC-104233", "2013-04-17"];

#[tokio::test]
pub async fn a_strategy_discussion_invites_by_email_with_a_calendar_file_and_no_child_data() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder().smtp(sink.port).start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let id = strategy_discussion(&app, &sam, &case_id).await;
    let mail = sink.wait_for(3).await;
    assert_eq!(mail.len(), 3, "Lee, Kim and Alex are invited");
    let mut to: Vec<String> = mail.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec![ALEX.to_string(), KIM.to_string(), LEE.to_string()]);
    let reference = {
        let db = app.db().await;
        let c = confer::store::cases::list_for_operator(&db).await.unwrap();
        c.into_iter().find(|c| c.id == case_id).unwrap().reference
    };
    for m in &mail {
        for secret in CHILD_DATA {
            assert!(!m.data.contains(secret), "mail names the child: {secret}");
        }
        assert!(m.data.contains("text/calendar"), "an invitation part");
        assert!(
            m.data.contains("method=REQUEST"),
            "the MIME part says REQUEST"
        );
        assert!(m.body().contains(&format!("/meetings/{id}")), "the link");
        let ics = calendar_part(m);
        let (cal, event) = parse_ics(&ics);
        assert_eq!(value(&cal, "METHOD"), "REQUEST");
        assert_eq!(value(&event, "UID"), format!("{id}@confer"));
        assert_eq!(value(&event, "SEQUENCE"), "0");
        assert!(value(&event, "SUMMARY").contains(&reference));
        assert!(value(&event, "SUMMARY").contains("Strategy discussion"));
        let dtstart = event.iter().find(|(n, _, _)| n == "DTSTART").unwrap();
        assert_eq!(dtstart.1.as_deref(), Some("TZID=Europe/London"));
        assert!(
            dtstart.2.ends_with("T100000"),
            "10:00 London: {}",
            dtstart.2
        );
        assert!(value(&event, "ORGANIZER").to_lowercase().contains(SAM));
        let attendees: Vec<_> = event.iter().filter(|(n, _, _)| n == "ATTENDEE").collect();
        assert_eq!(attendees.len(), 3);
        assert!(
            attendees
                .iter()
                .all(|(_, p, _)| p.as_deref().unwrap_or("").contains("PARTSTAT=NEEDS-ACTION"))
        );
        for secret in CHILD_DATA {
            assert!(!ics.contains(secret));
        }
    }

    // A change sends an update with the next sequence; a cancellation, CANCEL.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/reschedule"),
        &[
            ("date", &day_after(&app, 3)),
            ("time", "14:30"),
            ("minutes", "45"),
            ("mode", "phone"),
            ("location", "Dial-in in Confer"),
        ],
    )
    .await;
    done(&res);
    let mail = sink.wait_for(6).await;
    for m in &mail[3..6] {
        let (cal, event) = parse_ics(&calendar_part(m));
        assert_eq!(value(&cal, "METHOD"), "REQUEST");
        assert_eq!(value(&event, "UID"), format!("{id}@confer"));
        assert_eq!(value(&event, "SEQUENCE"), "1");
        assert!(m.data.contains("Updated:"));
    }
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/cancel"),
        &[("reason", "")],
    )
    .await;
    assert_eq!(res.status(), 400, "cancelling needs a reason");
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/cancel"),
        &[("reason", "Family moved out of area")],
    )
    .await;
    done(&res);
    let mail = sink.wait_for(9).await;
    for m in &mail[6..9] {
        let (cal, event) = parse_ics(&calendar_part(m));
        assert_eq!(value(&cal, "METHOD"), "CANCEL");
        assert_eq!(value(&event, "SEQUENCE"), "2");
        assert_eq!(value(&event, "STATUS"), "CANCELLED");
        assert!(m.data.contains("method=CANCEL"));
    }
}

#[tokio::test]
pub async fn required_agencies_need_an_invitation_or_a_recorded_reason() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = person_id(&app, LEE).await;
    let date = day_after(&app, 2);
    let base = |extra: &[(&'static str, String)]| {
        let mut f: Vec<(&'static str, String)> = vec![
            ("kind", "strategy_discussion".into()),
            ("date", date.clone()),
            ("time", "09:30".into()),
            ("minutes", "30".into()),
            ("mode", "phone".into()),
            ("location", "Phone bridge".into()),
            ("chair_id", sam.person_id.clone()),
            ("people", lee.clone()),
        ];
        f.extend_from_slice(extra);
        f
    };
    let send = |f: Vec<(&'static str, String)>| {
        let app = &app;
        let sam = &sam;
        let case_id = case_id.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            convene(app, sam, &case_id, &pairs).await
        }
    };
    // Health and a social care manager are missing: refused, naming both.
    let err = send(base(&[])).await.unwrap_err();
    assert!(err.starts_with("400"), "{err}");
    assert!(err.contains("health"), "{err}");
    assert!(err.contains("manager from children"), "{err}");
    // A reason for health alone is not enough.
    let err = send(base(&[("reason_health", "GP unavailable today".into())]))
        .await
        .unwrap_err();
    assert!(err.contains("manager"), "{err}");
    assert!(!err.contains("health"), "{err}");
    // Nothing was stored by the refusals.
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM meetings")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    // With both reasons it is convened, and the reasons are on the record.
    let id = send(base(&[
        (
            "reason_health",
            "GP unavailable today; health chronology shared in writing".into(),
        ),
        (
            "reason_childrens_social_care_manager",
            "Manager on leave; deputy briefed".into(),
        ),
    ]))
    .await
    .unwrap();
    let page = sam
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("GP unavailable today"), "reason shown");
    assert!(page.contains("Manager on leave"), "reason shown");
    // Inviting the health agency's duty address satisfies the rule.
    let agencies = confer::store::agencies::list(&db).await.unwrap();
    let health = agencies
        .iter()
        .find(|a| a.kind.as_str() == "health")
        .unwrap();
    let alex = person_id(&app, ALEX).await;
    let id = send(base(&[("agencies", health.id.clone()), ("people", alex)]))
        .await
        .unwrap();
    let (email, response): (String, String) = sqlx::query_as(
        "SELECT email, response FROM meeting_invitations WHERE meeting_id = $1 AND person_id IS NULL",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(email, "safeguarding@northshire-nhs.example");
    assert_eq!(response, "pending");
}

#[tokio::test]
pub async fn the_location_must_not_name_the_child_and_times_must_exist_in_london() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let (lee, kim, alex) = (
        person_id(&app, LEE).await,
        person_id(&app, KIM).await,
        person_id(&app, ALEX).await,
    );
    let date = day_after(&app, 2);
    let fields = |location: &'static str, date: String, time: &'static str| {
        vec![
            ("kind", "strategy_discussion".to_string()),
            ("date", date),
            ("time", time.to_string()),
            ("minutes", "60".into()),
            ("mode", "face_to_face".into()),
            ("location", location.to_string()),
            ("chair_id", sam.person_id.clone()),
            ("people", lee.clone()),
            ("people", kim.clone()),
            ("people", alex.clone()),
        ]
    };
    for (location, date, time, expect) in [
        (
            "The Ashworth family home",
            date.clone(),
            "10:00",
            "must not name the child",
        ),
        ("Room 2", "2020-01-01".to_string(), "10:00", "in the future"),
        (
            "Room 2",
            "2027-03-28".to_string(),
            "01:30",
            "does not exist in London",
        ),
        ("Room 2", "tomorrow".to_string(), "10:00", "Enter the date"),
    ] {
        let f = fields(location, date, time);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = convene(&app, &sam, &case_id, &pairs).await.unwrap_err();
        assert!(
            err.starts_with("400") && err.contains(expect),
            "{location} {time}: {err}"
        );
    }
}

#[tokio::test]
pub async fn a_person_outside_the_case_and_not_invited_sees_nothing_of_the_meeting() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let id = strategy_discussion(&app, &sam, &case_id).await;
    // Dana (housing, not in Lily's case, not invited): the same 404 as an unknown meeting.
    let dana = app.sign_in(DANA).await;
    let unknown = dana
        .get(&app, "/meetings/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(unknown.status(), 404);
    let unknown_body = unknown.text().await.unwrap();
    let res = dana.get(&app, &format!("/meetings/{id}")).await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.text().await.unwrap(),
        unknown_body,
        "no hint that it exists"
    );
    for (path, fields) in [
        (
            "respond",
            vec![("invitation_id", "x"), ("response", "accepted")],
        ),
        ("attendance", vec![("agency_id", "x"), ("attended", "yes")]),
        ("outcome", vec![("section_47", "joint")]),
        ("minutes", vec![("minutes", "x")]),
        ("circulate", vec![]),
        ("acknowledge", vec![]),
        ("cancel", vec![("reason", "x")]),
        ("messages", vec![("client_id", "c1"), ("body", "hello")]),
    ] {
        let res = form(&app, &dana, &format!("/meetings/{id}/{path}"), &fields).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    // Tom (school, in the case, not invited) sees the meeting on the case but
    // not its own discussion, and cannot answer or record.
    let tom = app.sign_in(TOM).await;
    let page = tom
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Strategy discussion"));
    assert!(
        !page.contains("The meeting's discussion"),
        "the meeting channel is for participants"
    );
    assert!(!page.contains("Send your answer"));
    for (path, fields) in [
        ("outcome", vec![("section_47", "joint")]),
        (
            "reschedule",
            vec![
                ("date", "2030-01-07"),
                ("time", "10:00"),
                ("minutes", "30"),
                ("mode", "phone"),
                ("location", "Room 1"),
            ],
        ),
        ("cancel", vec![("reason", "not needed")]),
    ] {
        let res = form(&app, &tom, &format!("/meetings/{id}/{path}"), &fields).await;
        assert_eq!(
            res.status(),
            403,
            "{path}: a case member who is not the chair or organiser"
        );
    }
    // Signed out: to sign-in, remembering the meeting for afterwards.
    let anon = app
        .client()
        .get(app.url(&format!("/meetings/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 303);
    assert_eq!(anon.headers()["location"], "/sign-in");
    let next = anon.headers()["set-cookie"].to_str().unwrap();
    assert!(next.contains(&format!("/meetings/{id}")));
    // Recording opens 15 minutes before the start; then Tom is still refused.
    into_meeting(&app, &id).await;
    let tom = app.sign_in(TOM).await;
    for (path, fields) in [
        (
            "attendance",
            vec![
                ("agency_id", "x"),
                ("attended", "yes"),
                ("attendees", "Tom"),
            ],
        ),
        (
            "actions",
            vec![
                ("description", "x"),
                ("owner_agency_id", "x"),
                ("due_on", "2030-01-01"),
            ],
        ),
        ("minutes", vec![("minutes", "x")]),
        ("circulate", vec![]),
    ] {
        let res = form(&app, &tom, &format!("/meetings/{id}/{path}"), &fields).await;
        assert_eq!(
            res.status(),
            403,
            "{path}: a case member who is not the chair or organiser"
        );
    }
    // Dana cannot convene on a case she is not in, nor see its form.
    let dana = app.sign_in(DANA).await;
    assert_eq!(
        dana.get(&app, &format!("/cases/{case_id}/meetings/new"))
            .await
            .status(),
        404
    );
    let res = form(
        &app,
        &dana,
        &format!("/cases/{case_id}/meetings"),
        &[("kind", "core_group")],
    )
    .await;
    assert_eq!(res.status(), 404);
    // Nothing that Dana or Tom tried changed anything.
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM meeting_invitations WHERE response <> 'pending' AND person_id <> $1",
    )
    .bind(&sam.person_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(n, 0);
    let (status, outcome, minutes, meetings): (String, Option<String>, String, i64) = sqlx::query_as(
        "SELECT status, outcome, minutes, (SELECT COUNT(*) FROM meetings) FROM meetings WHERE id = $1",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), outcome, minutes.as_str(), meetings),
        ("scheduled", None, "", 1)
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM meeting_attendance")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
}
