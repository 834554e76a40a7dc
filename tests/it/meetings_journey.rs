//! The whole journey of a strategy discussion, the clock a concern starts, and
//! cancelling (which ends the case access the meeting gave).

use crate::harness::{ALEX, DANA, KIM, LEE, SAM, TestApp};
use crate::meetings::*;
use crate::smtp_sink::SmtpSink;

#[tokio::test]
async fn the_journey_invitees_accept_the_chair_records_and_the_outcome_sets_the_initial_conference()
{
    let sink = SmtpSink::start().await;
    let app = TestApp::builder().smtp(sink.port).start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let id = strategy_discussion(&app, &sam, &case_id).await;
    sink.wait_for(3).await;
    let lee = app.sign_in(LEE).await;
    let kim = app.sign_in(KIM).await;
    for who in [&lee, &kim] {
        let page = who
            .get(&app, &format!("/meetings/{id}"))
            .await
            .text()
            .await
            .unwrap();
        let invitation = page
            .split("name=\"invitation_id\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("an invitation to answer")
            .to_string();
        let res = form(
            &app,
            who,
            &format!("/meetings/{id}/respond"),
            &[("invitation_id", &invitation), ("response", "accepted")],
        )
        .await;
        done(&res);
    }
    let page = sam
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        page.matches("govuk-tag--green\">Accepted").count(),
        2,
        "police and health accepted"
    );
    assert!(
        page.contains("The meeting's discussion"),
        "the organiser is in the meeting channel"
    );
    let lee_page = lee
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        lee_page.contains("The meeting's discussion"),
        "who accepted is in the meeting channel"
    );

    // Too early to record.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/outcome"),
        &[("section_47", "joint")],
    )
    .await;
    assert_eq!(res.status(), 400);
    // The meeting starts: the chair records attendance and the outcome.
    into_meeting(&app, &id).await;
    // Sessions have timed out over two days: sign in again.
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let db = app.db().await;
    let agencies = confer::store::agencies::list(&db).await.unwrap();
    let police = agencies
        .iter()
        .find(|a| a.kind.as_str() == "police")
        .unwrap();
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/attendance"),
        &[
            ("agency_id", &police.id),
            ("attended", "yes"),
            ("attendees", "DC Lee Harris"),
        ],
    )
    .await;
    assert_eq!(
        res.status(),
        400,
        "seniority must be confirmed for a strategy discussion"
    );
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/attendance"),
        &[
            ("agency_id", &police.id),
            ("attended", "yes"),
            ("attendees", "DC Lee Harris"),
            ("senior_enough", "yes"),
        ],
    )
    .await;
    done(&res);
    let outcome = [
        ("section_47", "joint"),
        (
            "immediate_safety_actions",
            "Lily stays with her grandmother tonight",
        ),
        ("family_told", "That a joint enquiry is starting"),
        ("family_told_when", "Today, by the social worker"),
        ("initial_conference_needed", "yes"),
    ];
    let res = form(&app, &lee, &format!("/meetings/{id}/outcome"), &outcome).await;
    assert_eq!(
        res.status(),
        403,
        "only the chair or organiser records the outcome"
    );
    let res = form(&app, &sam, &format!("/meetings/{id}/outcome"), &outcome).await;
    done(&res);

    // The case shows the initial conference due 15 working days on.
    let (starts_at,): (i64,) = sqlx::query_as("SELECT starts_at FROM meetings WHERE id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let held = confer::store::meetings::london_date(starts_at);
    let due = confer::domain::working_days::Calendar::default().add_working_days(held, 15);
    let record_due = confer::domain::working_days::Calendar::default().add_working_days(held, 1);
    let case_page = sam
        .get(&app, &format!("/cases/{case_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(case_page.contains("Initial child protection conference"));
    assert!(case_page.contains(&due.to_string()), "due {due}");
    assert!(
        case_page.contains(&record_due.to_string()),
        "record due {record_due}"
    );

    // An action, the minutes, circulation and acknowledgement.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/actions"),
        &[
            ("description", "Police check on the household"),
            ("owner_agency_id", &police.id),
            ("owner_person_id", &lee.person_id),
            ("due_on", &day_after(&app, 1)),
        ],
    )
    .await;
    done(&res);
    let res = form(&app, &sam, &format!("/meetings/{id}/circulate"), &[]).await;
    assert_eq!(res.status(), 400, "minutes first");
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/minutes"),
        &[("minutes", "Agreed a joint section 47 enquiry.")],
    )
    .await;
    done(&res);
    let before = sink.count().await;
    let res = form(&app, &sam, &format!("/meetings/{id}/circulate"), &[]).await;
    done(&res);
    let mail = sink.wait_for(before + 2).await;
    for m in &mail[before..] {
        for secret in CHILD_DATA {
            assert!(!m.data.contains(secret));
        }
    }
    let res = form(&app, &sam, &format!("/meetings/{id}/outcome"), &outcome).await;
    assert_eq!(res.status(), 400, "a circulated record is final");
    let lee_page = lee
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(lee_page.contains("I have read the record"));
    assert!(lee_page.contains("Agreed a joint section 47 enquiry."));
    let res = form(&app, &lee, &format!("/meetings/{id}/acknowledge"), &[]).await;
    done(&res);
    let res = form(&app, &lee, &format!("/meetings/{id}/acknowledge"), &[]).await;
    assert_eq!(res.status(), 400, "once");
    let page = sam
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Acknowledged"),
        "the organiser sees who has read it"
    );
    let case_page = sam
        .get(&app, &format!("/cases/{case_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        case_page.contains("met on"),
        "the record deadline is met by circulating"
    );
}

#[tokio::test]
async fn a_concern_starts_the_strategy_discussion_clock_and_holding_one_meets_it() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let today = day_after(&app, 0);
    // Bad input changes nothing.
    for fields in [
        vec![("event", "rumour"), ("on", today.as_str()), ("note", "x")],
        vec![("event", "concern"), ("on", "2099-01-01"), ("note", "x")],
        vec![("event", "concern"), ("on", today.as_str()), ("note", " ")],
    ] {
        let res = form(&app, &sam, &format!("/cases/{case_id}/clock"), &fields).await;
        assert_eq!(res.status(), 400, "{fields:?}");
    }
    let dana = app.sign_in(DANA).await;
    let res = form(
        &app,
        &dana,
        &format!("/cases/{case_id}/clock"),
        &[("event", "concern"), ("on", &today), ("note", "x")],
    )
    .await;
    assert_eq!(res.status(), 404, "outside the case");
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deadlines")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);

    let res = form(
        &app,
        &sam,
        &format!("/cases/{case_id}/clock"),
        &[
            ("event", "concern"),
            ("on", &today),
            ("note", "School reported bruising; police informed"),
        ],
    )
    .await;
    done(&res);
    let held_today = confer::store::meetings::london_date(app.clock_now());
    let due = confer::domain::working_days::Calendar::default().add_working_days(held_today, 1);
    let (kind, due_on, met_on): (String, String, Option<String>) =
        sqlx::query_as("SELECT kind, due_on, met_on FROM deadlines")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), due_on, met_on),
        ("strategy_discussion", due.to_string(), None)
    );
    let page = sam
        .get(&app, &format!("/cases/{case_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("School reported bruising"),
        "what started the clock is shown"
    );

    // The strategy discussion is held (its outcome recorded): the deadline is met.
    let id = strategy_discussion(&app, &sam, &case_id).await;
    into_meeting(&app, &id).await;
    let sam = app.sign_in(SAM).await;
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/outcome"),
        &[
            ("section_47", "none"),
            (
                "immediate_safety_actions",
                "None needed: safety plan with mother",
            ),
            ("family_told", "The outcome of the discussion"),
            ("family_told_when", "Tomorrow"),
            ("initial_conference_needed", "no"),
        ],
    )
    .await;
    done(&res);
    let (met_on, met_by): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT met_on, met_by_meeting_id FROM deadlines WHERE kind = 'strategy_discussion'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(met_on.is_some());
    assert_eq!(met_by.as_deref(), Some(id.as_str()));

    // An accepted referral starts the assessment's 45 working days; recording it complete meets it.
    let today = day_after(&app, 0);
    let res = form(
        &app,
        &sam,
        &format!("/cases/{case_id}/clock"),
        &[
            ("event", "referral"),
            ("on", &today),
            ("note", "Referral from the school accepted"),
        ],
    )
    .await;
    done(&res);
    let (deadline_id, due_on): (String, String) =
        sqlx::query_as("SELECT id, due_on FROM deadlines WHERE kind = 'assessment'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    let expected = confer::domain::working_days::Calendar::default()
        .add_working_days(confer::store::meetings::london_date(app.clock_now()), 45);
    assert_eq!(due_on, expected.to_string());
    let res = form(
        &app,
        &sam,
        &format!("/cases/{case_id}/deadlines/{deadline_id}/complete"),
        &[("on", &today)],
    )
    .await;
    done(&res);
    let res = form(
        &app,
        &sam,
        &format!("/cases/{case_id}/deadlines/{deadline_id}/complete"),
        &[("on", &today)],
    )
    .await;
    assert_eq!(res.status(), 400, "once");
}

#[tokio::test]
async fn cancelling_ends_the_case_access_the_meeting_gave() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    const PRIYA: &str = "priya.shah@northshire-police.example";
    let (priya_id, kim, alex) = (
        person_id(&app, PRIYA).await,
        person_id(&app, KIM).await,
        person_id(&app, ALEX).await,
    );
    let id = convene(
        &app,
        &sam,
        &case_id,
        &[
            ("kind", "strategy_discussion"),
            ("date", &day_after(&app, 2)),
            ("time", "10:00"),
            ("minutes", "60"),
            ("mode", "video_link"),
            ("location", "Teams: link in Confer"),
            ("chair_id", &sam.person_id),
            ("people", &priya_id),
            ("people", &kim),
            ("people", &alex),
            ("case_access", "meeting"),
        ],
    )
    .await
    .unwrap();
    let priya = app.sign_in(PRIYA).await;
    assert_eq!(
        priya.get(&app, &format!("/cases/{case_id}")).await.status(),
        404
    );
    let page = priya
        .get(&app, &format!("/meetings/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("Ashworth"),
        "an invitee outside the case sees no child data"
    );
    let invitation = page
        .split("name=\"invitation_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    done(
        &form(
            &app,
            &priya,
            &format!("/meetings/{id}/respond"),
            &[("invitation_id", &invitation), ("response", "accepted")],
        )
        .await,
    );
    assert_eq!(
        priya.get(&app, &format!("/cases/{case_id}")).await.status(),
        200
    );
    done(
        &form(
            &app,
            &sam,
            &format!("/meetings/{id}/cancel"),
            &[("reason", "Concern resolved by a home visit")],
        )
        .await,
    );
    assert_eq!(
        priya.get(&app, &format!("/cases/{case_id}")).await.status(),
        404,
        "access ended with the meeting"
    );
    // Kim and Alex were members of the case anyway: their access is untouched.
    let kim = app.sign_in(KIM).await;
    assert_eq!(
        kim.get(&app, &format!("/cases/{case_id}")).await.status(),
        200
    );
}
