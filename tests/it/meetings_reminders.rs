//! The reminder scheduler, run every second against the test's clock and a
//! real SMTP sink: reminders before a meeting, the warning about a required
//! agency nobody has accepted for, overdue actions and deadlines. Each is
//! sent once, across a restart, and none carries the child's details.

use time::Duration;

use crate::harness::{ALEX, KIM, LEE, SAM, TOM, TestApp, fresh_database_url};
use crate::meetings::{done, form, person_id};
use crate::meetings_clock::{agency_id, answer, at, convene_at, london, monday_morning};
use crate::smtp_sink::{Received, SmtpSink};

const CHILD_DATA: [&str; 4] = ["Lily", "Ashworth", "2013-04-17", "NCC-104233"];

fn fast(s: &mut confer::config::Settings) {
    s.meetings.scheduler_interval_seconds = 1;
}

fn no_child_data(mail: &[Received]) {
    for m in mail {
        for secret in CHILD_DATA {
            assert!(
                !m.data.contains(secret),
                "a message names the child ({secret}): {}",
                m.data
            );
        }
    }
}

fn recipients(mail: &[&Received]) -> Vec<String> {
    let mut to: Vec<String> = mail.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to
}

#[tokio::test]
async fn a_reminder_goes_once_to_everyone_still_coming_and_the_organiser_even_across_a_restart() {
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .reuse(dir.path(), &url)
        .start()
        .await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let wednesday = monday + Duration::days(2);
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        wednesday,
        "10:00",
        &[LEE, KIM, ALEX, TOM],
        &[],
    )
    .await;
    sink.wait_for(4).await;
    for (who, response) in [(LEE, "accepted"), (KIM, "accepted"), (TOM, "declined")] {
        let signed = app.sign_in(who).await;
        answer(&app, &signed, &id, response).await;
    }
    // 49 hours ahead: too early for a reminder.
    sink.exactly(4).await;

    // 23 hours ahead: Lee and Kim (accepted), Alex (no answer yet) and Sam
    // (the organiser); not Tom, who declined.
    app.clock.set(london(monday + Duration::days(1), 11, 0));
    let mail = sink.exactly(8).await;
    let reminders: Vec<&Received> = mail[4..].iter().collect();
    assert_eq!(recipients(&reminders), vec![ALEX, KIM, LEE, SAM]);
    for m in &reminders {
        let body = m.body();
        assert!(body.contains("Reminder: the strategy discussion"), "{body}");
        assert!(body.contains(&format!("/meetings/{id}")), "{body}");
        assert!(body.contains("10:00 to 11:00"), "{body}");
        assert!(!m.data.contains("text/calendar"), "a plain reminder");
    }
    no_child_data(&mail);
    // An hour on: nothing again.
    app.clock.advance(3_600_000);
    sink.exactly(8).await;

    // Restart on the same database at the same time: still nothing again.
    let now = app.clock_now();
    app.stop().await.unwrap();
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .reuse(dir.path(), &url)
        .start()
        .await;
    app.clock.set(now);
    // Proof that the new server's scheduler runs: a professionals meeting
    // this afternoon is reminded of (Sam and Alex) after its invitation.
    let sam = app.sign_in(SAM).await;
    let other = convene_at(
        &app,
        &sam,
        &case_id,
        "professionals",
        monday + Duration::days(1),
        "16:00",
        &[ALEX],
        &[],
    )
    .await;
    let mail = sink.exactly(11).await;
    let about_first: Vec<&Received> = mail
        .iter()
        .filter(|m| m.body().contains("Reminder:") && m.body().contains(&format!("/meetings/{id}")))
        .collect();
    assert_eq!(
        about_first.len(),
        4,
        "the first meeting's reminders were not sent again"
    );
    let about_other: Vec<&Received> = mail
        .iter()
        .filter(|m| {
            m.body().contains("Reminder:") && m.body().contains(&format!("/meetings/{other}"))
        })
        .collect();
    assert_eq!(recipients(&about_other), vec![ALEX, SAM]);
    no_child_data(&mail);
}

#[tokio::test]
async fn the_organiser_is_warned_once_when_a_required_agency_has_not_accepted() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .start()
        .await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let wednesday = monday + Duration::days(2);
    // A: only health has accepted. B: police and health have. C: police are
    // left out with a reason, and health has accepted.
    let a = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        wednesday,
        "10:00",
        &[LEE, KIM, ALEX],
        &[],
    )
    .await;
    let b = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        wednesday,
        "11:00",
        &[LEE, KIM, ALEX],
        &[],
    )
    .await;
    let c = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        wednesday,
        "12:00",
        &[KIM, ALEX],
        &[(
            "reason_police",
            "Police shared their information in writing",
        )],
    )
    .await;
    sink.wait_for(8).await;
    let (lee, kim) = (app.sign_in(LEE).await, app.sign_in(KIM).await);
    for m in [&a, &b, &c] {
        answer(&app, &kim, m, "accepted").await;
    }
    answer(&app, &lee, &b, "accepted").await;
    // More than 48 hours ahead: no warning yet.
    sink.exactly(8).await;

    // 25 hours before A: inside the warning window, outside the reminders'.
    app.clock.set(london(monday + Duration::days(1), 9, 0));
    let mail = sink.exactly(9).await;
    let warning = &mail[8];
    assert_eq!(
        warning.to,
        vec![SAM.to_string()],
        "to the organiser (and chair)"
    );
    let body = warning.body();
    assert!(body.contains("nobody from police has accepted"), "{body}");
    assert!(!body.contains("health"), "health accepted: {body}");
    assert!(body.contains(&format!("/meetings/{a}")), "{body}");
    no_child_data(&mail);
    // Later passes, still outside the reminders' 24 hours: never repeated.
    app.clock.advance(30 * 60_000);
    sink.exactly(9).await;
    // The page says the same to the organiser.
    let sam = app.sign_in(SAM).await;
    let page = sam
        .get(&app, &format!("/meetings/{a}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Nobody from police has accepted yet"));
    for m in [&b, &c] {
        let page = sam
            .get(&app, &format!("/meetings/{m}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(!page.contains("Nobody from"), "no warning for {m}");
    }
}

#[tokio::test]
async fn overdue_actions_and_deadlines_remind_their_owner_and_the_lead_once() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(|s| {
            s.meetings.scheduler_interval_seconds = 1;
            // Only the overdue reminders in this test.
            s.meetings.reminder_hours_before = 0;
            s.meetings.required_agency_warning_hours = 0;
        })
        .start()
        .await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    // Alex (a manager) organises and chairs; Sam is the case's lead social worker.
    let alex = app.sign_in(ALEX).await;
    let wednesday = monday + Duration::days(2);
    let thursday = wednesday + Duration::days(1);
    let id = convene_at(
        &app,
        &alex,
        &case_id,
        "strategy_discussion",
        wednesday,
        "10:00",
        &[LEE, KIM, SAM],
        &[],
    )
    .await;
    let police = agency_id(&app, "police").await;
    let lee = person_id(&app, LEE).await;
    // Descriptions carry case content; reminders must not.
    for (description, owner) in [
        ("Visit Lily Ashworth at school", lee.as_str()),
        ("Share the police chronology for NCC-104233", ""),
    ] {
        let res = form(
            &app,
            &alex,
            &format!("/meetings/{id}/actions"),
            &[
                ("description", description),
                ("owner_agency_id", &police),
                ("owner_person_id", owner),
                ("due_on", &thursday.to_string()),
            ],
        )
        .await;
        done(&res);
    }
    sink.wait_for(3).await;
    let alex = at(&app, london(wednesday, 10, 0), &[ALEX]).await.remove(0);
    let res = form(
        &app,
        &alex,
        &format!("/meetings/{id}/outcome"),
        &[
            ("section_47", "joint"),
            ("immediate_safety_actions", "Stays with her grandmother"),
            ("family_told", "That a joint enquiry is starting"),
            ("family_told_when", "Today, by the social worker"),
            ("initial_conference_needed", "yes"),
        ],
    )
    .await;
    done(&res);
    // Nothing is overdue on the day (the record is due tomorrow).
    sink.exactly(3).await;

    // The next working day after both the actions (due Thursday) and the
    // record (due one working day after the meeting) are late.
    let record_due =
        confer::domain::working_days::Calendar::default().add_working_days(wednesday, 1);
    app.clock
        .set(london(record_due.max(thursday) + Duration::days(1), 9, 0));
    let mail = sink.exactly(6).await;
    let late: Vec<&Received> = mail[3..].iter().collect();
    let mut expected = vec![SAM, LEE, "mash@northshire-police.example"];
    expected.sort();
    assert_eq!(recipients(&late), expected);
    for m in &late {
        let body = m.body();
        if m.to == [SAM] {
            assert!(
                body.contains("Strategy discussion record circulated"),
                "{body}"
            );
            assert!(body.contains(&record_due.to_string()), "{body}");
            assert!(body.contains(&format!("/cases/{case_id}#clock")), "{body}");
        } else {
            assert!(body.contains("An action agreed at a meeting"), "{body}");
            assert!(body.contains(&format!("was due on {thursday}")), "{body}");
            assert!(body.contains(&format!("/meetings/{id}#actions")), "{body}");
        }
    }
    assert!(
        !recipients(&late).contains(&ALEX.to_string()),
        "the lead social worker is reminded of the deadline, not the organiser"
    );
    no_child_data(&mail);
    // A weekend and more later: once only.
    app.clock
        .set(london(record_due.max(thursday) + Duration::days(5), 9, 0));
    sink.exactly(6).await;
}

#[tokio::test]
async fn an_agency_invitation_is_reminded_to_whoever_took_it_up_and_otherwise_to_the_duty_address()
{
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .start()
        .await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let (police, health, social_care) = (
        agency_id(&app, "police").await,
        agency_id(&app, "health").await,
        agency_id(&app, "childrens_social_care").await,
    );
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        monday + Duration::days(2),
        "10:00",
        &[ALEX],
        &[
            ("agencies", &police),
            ("agencies", &health),
            ("agencies", &social_care),
        ],
    )
    .await;
    sink.wait_for(4).await;
    // Lee takes up the police invitation; nobody has answered health's yet.
    let lee = app.sign_in(LEE).await;
    answer(&app, &lee, &id, "accepted").await;
    // Alex accepts both his own invitation and his agency's.
    let alex = app.sign_in(ALEX).await;
    let page = alex
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let ids = crate::meetings_clock::invitation_ids(&page);
    assert_eq!(ids.len(), 2, "his own and children's social care's");
    for invitation in &ids {
        let res = form(
            &app,
            &alex,
            &format!("/meetings/{id}/respond"),
            &[("invitation_id", invitation), ("response", "accepted")],
        )
        .await;
        done(&res);
    }
    sink.exactly(4).await;

    app.clock.set(london(monday + Duration::days(1), 11, 0));
    // Four reminders (one each) and the warning that health has not accepted.
    let mail = sink.exactly(9).await;
    let reminders: Vec<&Received> = mail
        .iter()
        .filter(|m| m.body().contains("Reminder: the strategy discussion"))
        .collect();
    let mut expected = vec![SAM, ALEX, LEE, "safeguarding@northshire-nhs.example"];
    expected.sort();
    assert_eq!(
        recipients(&reminders),
        expected,
        "Lee, not the police duty inbox, is reminded; Alex once"
    );
    let warnings: Vec<&Received> = mail
        .iter()
        .filter(|m| m.body().contains("nobody from health has accepted"))
        .collect();
    assert_eq!(recipients(&warnings), vec![SAM]);
    no_child_data(&mail);
}
