//! Information-sharing records (issue 6): made automatically when a message
//! reaches another agency (by the JSON API, the websocket or the case page)
//! or a meeting's record is circulated; by hand for shares outside Confer
//! and decisions not to share; shown on the case's "who knows what"; and
//! who may see what of them.
//!
//! Demo partnership: on Lily Ashworth's case are Sam (children's social
//! care, the lead), Alex (his manager, same agency), Lee (police), Kim
//! (health) and Tom (school). Dana (housing) is not; Ria (auditor) is in no
//! case.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{ALEX, KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::meetings::{day_after, done, form, into_meeting, strategy_discussion};
use crate::ws_client::Ws;

/// One automatic or manual record as stored.
#[derive(Debug, Clone)]
pub struct Row {
    pub source: String,
    pub item_ref: String,
    pub what: String,
    pub to_agency_id: Option<String>,
    pub to_person_id: Option<String>,
    pub shared_at: i64,
    pub lawful_basis: Option<String>,
    pub without_consent_reason: Option<String>,
}

type StoredRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
);

pub async fn rows(app: &TestApp, case_id: &str) -> Vec<Row> {
    let db = app.db().await;
    let found: Vec<StoredRow> =
        sqlx::query_as(
            "SELECT source, item_ref, what, to_agency_id, to_person_id, shared_at, lawful_basis, without_consent_reason \
             FROM sharing_records WHERE case_id = $1 ORDER BY shared_at, item_ref, to_agency_id",
        )
        .bind(case_id)
        .fetch_all(db.pool())
        .await
        .unwrap();
    db.close().await;
    found
        .into_iter()
        .map(|r| Row {
            source: r.0,
            item_ref: r.1,
            what: r.2,
            to_agency_id: r.3,
            to_person_id: r.4,
            shared_at: r.5,
            lawful_basis: r.6,
            without_consent_reason: r.7,
        })
        .collect()
}

/// The records of one message, by receiving agency.
pub fn of_message<'a>(rows: &'a [Row], message_id: &str) -> Vec<&'a Row> {
    rows.iter().filter(|r| r.item_ref == message_id).collect()
}

/// Waits (the delivery log writes every 250 ms) until `person` has been
/// recorded as sent `message_id`: its sharing records are written in the
/// same transaction.
pub async fn delivered(app: &TestApp, message_id: &str, person: &str) {
    for _ in 0..100 {
        let db = app.db().await;
        let found = confer::store::receipts::delivered_to(&db, message_id)
            .await
            .unwrap();
        db.close().await;
        if found.iter().any(|(p, _)| p == person) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery of {message_id} to {person} recorded");
}

/// Post to a channel through the JSON API; returns the message id.
pub async fn say(
    app: &TestApp,
    who: &Signed,
    channel: &str,
    client_id: &str,
    body: &str,
) -> String {
    let res = who
        .post_json(
            app,
            &format!("/api/channels/{channel}/messages"),
            &json!({ "client_id": client_id, "body": body }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["message"]["id"].as_str().unwrap().to_string()
}

/// Read a channel through the JSON API (which records the deliveries).
pub async fn read(app: &TestApp, who: &Signed, channel: &str) -> Vec<Value> {
    let res = who
        .get(
            app,
            &format!("/api/channels/{channel}/messages?after_seq=0&limit=500"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["messages"].as_array().unwrap().clone()
}

/// The error summary's text (its items are links to the fields).
pub fn summary(html: &str) -> String {
    html.split("govuk-error-summary__list")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .unwrap_or_default()
        .to_string()
}

pub async fn text(app: &TestApp, who: &Signed, path: &str) -> (u16, String) {
    let res = who.get(app, path).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
pub async fn a_message_reaching_another_agency_is_recorded_once_per_agency_and_never_within_one() {
    let app = TestApp::start().await;
    let (case_id, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let alex = app.sign_in(ALEX).await;
    let lee = app.sign_in(LEE).await;
    let kim = app.sign_in(KIM).await;
    let tom = app.sign_in(TOM).await;
    let first = say(
        &app,
        &sam,
        &ch,
        "s1",
        "Strategy discussion at 10:00 tomorrow.",
    )
    .await;
    assert!(
        rows(&app, &case_id).await.is_empty(),
        "posting is not sharing"
    );

    // Alex is in Sam's agency: a delivery, no share.
    read(&app, &alex, &ch).await;
    delivered(&app, &first, &alex.person_id).await;
    assert!(
        rows(&app, &case_id).await.is_empty(),
        "same-agency delivery made a record"
    );

    // Lee reads through the API: one record, to police, naming Lee.
    let t0 = app.clock_now();
    read(&app, &lee, &ch).await;
    delivered(&app, &first, &lee.person_id).await;
    let all = rows(&app, &case_id).await;
    let records = of_message(&all, &first);
    assert_eq!(records.len(), 1, "{all:?}");
    let police = records[0];
    assert_eq!(police.source, "message");
    assert_eq!(police.to_agency_id.as_deref(), Some(lee.agency_id.as_str()));
    assert_eq!(police.to_person_id.as_deref(), Some(lee.person_id.as_str()));
    assert_eq!(police.what, "message 1 in Case discussion");
    assert_eq!(police.shared_at, t0);
    assert_eq!(police.lawful_basis.as_deref(), Some("public_task"));
    assert!(
        police
            .without_consent_reason
            .as_deref()
            .unwrap()
            .contains("consent is not relied on"),
        "{police:?}"
    );

    // Kim by websocket, Tom on the case page.
    let mut ws = Ws::connect(&app, &kim).await;
    let (replayed, _) = ws.subscribe(&ch, 0).await;
    assert_eq!(replayed.len(), 1);
    delivered(&app, &first, &kim.person_id).await;
    let page = tom.get(&app, &format!("/cases/{case_id}")).await;
    assert_eq!(page.status(), 200);
    delivered(&app, &first, &tom.person_id).await;
    let all = rows(&app, &case_id).await;
    let mut agencies: Vec<String> = of_message(&all, &first)
        .iter()
        .map(|r| r.to_agency_id.clone().unwrap())
        .collect();
    agencies.sort();
    let mut expected = vec![
        lee.agency_id.clone(),
        kim.agency_id.clone(),
        tom.agency_id.clone(),
    ];
    expected.sort();
    assert_eq!(
        agencies, expected,
        "police, health and education, once each"
    );

    // However often it is delivered again, by any route, the record stands.
    app.clock.advance(60_000);
    read(&app, &lee, &ch).await;
    read(&app, &lee, &ch).await;
    tom.get(&app, &format!("/cases/{case_id}")).await;
    let second = say(&app, &alex, &ch, "a1", "Noted.").await;
    read(&app, &lee, &ch).await;
    delivered(&app, &second, &lee.person_id).await;
    let all = rows(&app, &case_id).await;
    assert_eq!(of_message(&all, &first).len(), 3, "{all:?}");
    let police_again: Vec<_> = of_message(&all, &first)
        .into_iter()
        .filter(|r| r.to_agency_id.as_deref() == Some(lee.agency_id.as_str()))
        .collect();
    assert_eq!(police_again.len(), 1);
    assert_eq!(police_again[0].shared_at, t0, "the first delivery's time");
    // Alex's message, live to Kim over the websocket, and read by Lee.
    let frame = ws.next_of(&["message"]).await;
    assert_eq!(frame["message"]["id"], second.as_str());
    delivered(&app, &second, &kim.person_id).await;
    let all = rows(&app, &case_id).await;
    assert_eq!(of_message(&all, &second).len(), 2, "police and health");
    assert!(
        !all.iter()
            .any(|r| r.to_agency_id.as_deref() == Some(sam.agency_id.as_str())),
        "nothing recorded as shared with the authors' own agency"
    );
    // And no record holds the message text.
    assert!(
        all.iter()
            .all(|r| !r.what.contains("Strategy") && !r.what.contains("Noted"))
    );
}

#[tokio::test]
pub async fn circulating_a_meetings_record_is_recorded_per_receiving_agency() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let id = strategy_discussion(&app, &sam, &case_id).await;
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
    into_meeting(&app, &id).await;
    let sam = app.sign_in(SAM).await;
    let outcome = [
        ("section_47", "joint"),
        (
            "immediate_safety_actions",
            "Stays with her grandmother tonight",
        ),
        ("family_told", "That a joint enquiry is starting"),
        ("family_told_when", "Today, by the social worker"),
        ("initial_conference_needed", "yes"),
    ];
    done(&form(&app, &sam, &format!("/meetings/{id}/outcome"), &outcome).await);
    done(
        &form(
            &app,
            &sam,
            &format!("/meetings/{id}/minutes"),
            &[("minutes", "Agreed a joint section 47 enquiry.")],
        )
        .await,
    );
    let before = rows(&app, &case_id).await.len();
    let at = app.clock_now();
    done(&form(&app, &sam, &format!("/meetings/{id}/circulate"), &[]).await);
    let all = rows(&app, &case_id).await;
    let minutes: Vec<&Row> = all.iter().filter(|r| r.source == "minutes").collect();
    assert_eq!(all.len() - before, minutes.len());
    let mut to: Vec<(String, String)> = minutes
        .iter()
        .map(|r| {
            (
                r.to_agency_id.clone().unwrap(),
                r.to_person_id.clone().unwrap(),
            )
        })
        .collect();
    to.sort();
    let mut expected = vec![
        (lee.agency_id.clone(), lee.person_id.clone()),
        (kim.agency_id.clone(), kim.person_id.clone()),
    ];
    expected.sort();
    assert_eq!(to, expected, "police and health; not Sam's own agency");
    for r in &minutes {
        assert_eq!(r.item_ref, id);
        assert_eq!(r.shared_at, at);
        assert!(
            r.what
                .starts_with("record of the strategy discussion held "),
            "{}",
            r.what
        );
        assert!(
            !r.what.contains("section 47"),
            "a reference, not the minutes"
        );
    }
    // The case's "who knows what" shows them.
    let (status, page) = text(&app, &sam, &format!("/cases/{case_id}/sharing")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Meeting record circulated"));
    assert!(page.contains("Northshire Police"));
    assert!(page.contains("Northshire NHS Foundation Trust"));
}

#[tokio::test]
pub async fn shares_outside_confer_and_decisions_not_to_share_are_recorded_shown_and_final() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let kim = app.sign_in(KIM).await;
    let path = format!("/cases/{case_id}/sharing");
    let (status, page) = text(&app, &kim, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("Who knows what"));
    assert!(page.contains("No information from this case has reached another agency yet."));
    let today = day_after(&app, 0);
    let tomorrow = day_after(&app, 1);

    // Bad input: a clear error, and nothing written.
    let share = |what: &'static str, reason: &'static str, on: String| {
        vec![
            (
                "to_description",
                "Dr Adams, GP at Riverside Surgery".to_string(),
            ),
            ("what", what.to_string()),
            ("on", on),
            ("at", String::new()),
            (
                "purpose",
                "Safeguarding and promoting the welfare of the child".to_string(),
            ),
            ("lawful_basis", "public_task".to_string()),
            ("consent_record_id", String::new()),
            ("without_consent_reason", reason.to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>, to: &'static str| {
        let (app, kim, case_id) = (&app, &kim, &case_id);
        async move {
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form(app, kim, &format!("/cases/{case_id}/sharing/{to}"), &refs).await
        }
    };
    for (fields, expected) in [
        (share("", "At risk", today.clone()), "Say what was shared."),
        (
            share("Bruising seen at school", "", today.clone()),
            "Say why it was shared without consent",
        ),
        (
            share("Bruising seen at school", "At risk", tomorrow.clone()),
            "cannot be in the future",
        ),
        (
            share("Bruising seen at school", "At risk", "24/11/2026".into()),
            "Enter the date like",
        ),
    ] {
        let res = post(fields, "records").await;
        assert_eq!(res.status(), 400);
        let body = res.text().await.unwrap();
        assert!(summary(&body).contains(expected), "{}", summary(&body));
        assert!(
            body.contains("Bruising seen at school") || expected == "Say what was shared.",
            "what was typed is kept"
        );
    }
    let mut bad_basis = share("Bruising seen at school", "At risk", today.clone());
    bad_basis[5].1 = "because".into();
    assert_eq!(post(bad_basis, "records").await.status(), 400);
    assert!(rows(&app, &case_id).await.is_empty(), "nothing written");

    // A good one.
    let res = post(
        share(
            "Concerns about bruising seen at school",
            "Seeking consent would place the child at risk",
            today.clone(),
        ),
        "records",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/cases/{case_id}/sharing#manual")
    );

    // A decision not to share: reasons required.
    let decision = |reasons: &'static str| {
        vec![
            ("what", "The foster carer's address".to_string()),
            ("to_description", "The child's father".to_string()),
            ("to_agency_id", String::new()),
            ("on", day_after(&app, 0)),
            ("purpose", "Contact arrangements".to_string()),
            ("reasons", reasons.to_string()),
        ]
    };
    let res = post(decision(" "), "decisions").await;
    assert_eq!(res.status(), 400);
    assert!(summary(&res.text().await.unwrap()).contains("Give the reasons"));
    let res = post(
        decision("A risk of harm to the child and the carer"),
        "decisions",
    )
    .await;
    assert_eq!(res.status(), 303);

    let all = rows(&app, &case_id).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let manual = all.iter().find(|r| r.source == "manual").unwrap();
    assert_eq!(manual.lawful_basis.as_deref(), Some("public_task"));
    assert!(manual.to_agency_id.is_none());
    let not_shared = all.iter().find(|r| r.source == "not_shared").unwrap();
    assert!(
        not_shared.lawful_basis.is_none(),
        "a decision not to share has no basis"
    );

    // Shown to any member of the case.
    let sam = app.sign_in(SAM).await;
    let (_, page) = text(&app, &sam, &path).await;
    for expected in [
        "Concerns about bruising seen at school",
        "Dr Adams, GP at Riverside Surgery",
        "Without consent: Seeking consent would place the child at risk",
        "Decision not to share",
        "The foster carer",
        "A risk of harm to the child and the carer",
        "Kim Okafor",
    ] {
        assert!(page.contains(expected), "{expected} not on the page");
    }
    // The case page links to it.
    let (_, case_page) = text(&app, &sam, &format!("/cases/{case_id}")).await;
    assert!(case_page.contains(&format!("href=\"/cases/{case_id}/sharing\"")));

    // Append-only: a correction is a new record naming the old one.
    let db = app.db().await;
    let (old_id,): (String,) =
        sqlx::query_as("SELECT id FROM sharing_records WHERE case_id = $1 AND source = 'manual'")
            .bind(&case_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let mut fields = share(
        "Concerns about bruising seen at school and at home",
        "Seeking consent would place the child at risk",
        today.clone(),
    );
    fields.push(("corrects", old_id.clone()));
    assert_eq!(post(fields, "records").await.status(), 303);
    let (corrected,): (String,) = sqlx::query_as(
        "SELECT what FROM sharing_records WHERE case_id = $1 AND source = 'manual' AND id <> $2",
    )
    .bind(&case_id)
    .bind(&old_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(
        corrected.starts_with(&format!("Corrects record {}", &old_id[..8])),
        "{corrected}"
    );
    let mut fields = share("x", "y", today.clone());
    fields.push(("corrects", uuid::Uuid::new_v4().to_string()));
    assert_eq!(
        post(fields, "records").await.status(),
        400,
        "only this case's records"
    );
    for sql in [
        "UPDATE sharing_records SET what = 'changed' WHERE id = $1",
        "DELETE FROM sharing_records WHERE id = $1",
    ] {
        let err = sqlx::query(sql).bind(&old_id).execute(db.pool()).await;
        assert!(err.is_err(), "{sql} was allowed");
    }
    // Audited, with the record's id and no free text.
    let events: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT action, subject, detail FROM audit_events WHERE case_id = $1 AND action LIKE 'sharing.%' ORDER BY seq",
    )
    .bind(&case_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "sharing.manual_recorded",
            "sharing.not_shared_recorded",
            "sharing.manual_recorded"
        ]
    );
    assert_eq!(events[0].1.as_deref(), Some(old_id.as_str()));
    assert!(events.iter().all(|e| !e.2.contains("bruising")));
}
