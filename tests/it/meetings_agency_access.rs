//! Passing an agency's invitation to a colleague of that agency, and case access
//! that lasts only as long as the meeting.

use crate::harness::{ALEX, KIM, LEE, SAM, TestApp};
use crate::meetings::{done, error_text, form};
use crate::meetings_clock::*;
use crate::smtp_sink::SmtpSink;
use time::Duration;

#[tokio::test]
async fn an_agency_invitation_can_be_taken_up_or_passed_on_within_that_agency_only() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder().smtp(sink.port).start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let (police, health) = (
        agency_id(&app, "police").await,
        agency_id(&app, "health").await,
    );
    let guest_email = "rowan.green@riverside-surgery.example";
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        monday + Duration::days(2),
        "10:00",
        &[KIM, ALEX],
        &[
            ("agencies", &police),
            ("guest_email", guest_email),
            ("guest_name", "Dr Rowan Green"),
            ("guest_agency_id", &health),
        ],
    )
    .await;
    let mail = sink.wait_for(4).await;
    let mut to: Vec<String> = mail.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let mut expected = vec![ALEX, "mash@northshire-police.example", KIM, guest_email];
    expected.sort();
    assert_eq!(to, expected);
    let db = app.db().await;
    let (duty,): (String,) = sqlx::query_as(
        "SELECT id FROM meeting_invitations WHERE meeting_id = $1 AND person_id IS NULL",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let duty_state = || {
        let db = db.clone();
        let duty = duty.clone();
        async move {
            let row: (Option<String>, String) =
                sqlx::query_as("SELECT person_id, response FROM meeting_invitations WHERE id = $1")
                    .bind(&duty)
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
            row
        }
    };

    // Any police officer sees the agency's invitation, in the case or not.
    let lee = app.sign_in(LEE).await;
    let priya = app.sign_in(PRIYA).await;
    for who in [&lee, &priya] {
        let p = page(&app, who, &format!("/meetings/{id}")).await;
        assert_eq!(invitation_ids(&p), vec![duty.clone()]);
        assert!(p.contains("duty address"));
    }
    // Nobody of another agency can take it up: a health guest, or Kim of health.
    let guest = app.sign_in(guest_email).await;
    let kim = app.sign_in(KIM).await;
    let p = page(&app, &guest, &format!("/meetings/{id}")).await;
    assert!(
        !invitation_ids(&p).contains(&duty),
        "the guest has only their own invitation"
    );
    for who in [&guest, &kim] {
        let res = form(
            &app,
            who,
            &format!("/meetings/{id}/respond"),
            &[("invitation_id", &duty), ("response", "accepted")],
        )
        .await;
        assert_eq!(res.status(), 404);
    }
    assert_eq!(duty_state().await, (None, "pending".to_string()));

    // Lee cannot pass it outside the police.
    let res = form(
        &app,
        &lee,
        &format!("/meetings/{id}/respond"),
        &[
            ("invitation_id", &duty),
            ("response", "nominated"),
            ("nominee_email", KIM),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let err = error_text(&res.text().await.unwrap());
    assert!(
        err.contains("only nominate a colleague from Northshire Police"),
        "{err}"
    );
    assert_eq!(duty_state().await, (None, "pending".to_string()));

    // Lee passes it to Priya: she is invited by email and accepts.
    let res = form(
        &app,
        &lee,
        &format!("/meetings/{id}/respond"),
        &[
            ("invitation_id", &duty),
            ("response", "nominated"),
            ("nominee_email", PRIYA),
            ("note", "DS Shah decides for the police"),
        ],
    )
    .await;
    done(&res);
    assert_eq!(
        duty_state().await,
        (Some(lee.person_id.clone()), "nominated".to_string())
    );
    let mail = sink.wait_for(5).await;
    assert_eq!(mail[4].to, vec![PRIYA.to_string()]);
    assert!(
        mail[4].data.contains("text/calendar"),
        "a calendar invitation"
    );
    assert!(mail[4].body().contains(&format!("/meetings/{id}")));
    for secret in ["Lily", "Ashworth", "NCC-104233", "2013-04-17"] {
        assert!(!mail[4].data.contains(secret));
    }
    let (nominee, from): (String, Option<String>) = sqlx::query_as(
        "SELECT person_id, nominated_from FROM meeting_invitations WHERE meeting_id = $1 AND response = 'pending' AND email = $2",
    )
    .bind(&id)
    .bind(PRIYA)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(nominee, priya.person_id);
    assert_eq!(from.as_deref(), Some(duty.as_str()));
    let p = page(&app, &lee, &format!("/meetings/{id}")).await;
    assert!(p.contains("Nominated a colleague"));
    assert!(
        !p.contains("Send your answer"),
        "passed on: nothing left for Lee to answer"
    );
    answer(&app, &priya, &id, "accepted").await;
    let p = page(&app, &sam, &format!("/meetings/{id}")).await;
    let invitations: Vec<&str> = p.split("confer-invitation").skip(1).collect();
    assert!(
        invitations
            .iter()
            .any(|r| r.contains("DS Priya Shah") && r.contains(">Accepted")),
        "the organiser sees Priya coming"
    );
    assert!(
        invitations
            .iter()
            .any(|r| r.contains("DC Lee Harris") && r.contains("Nominated a colleague"))
    );
}

#[tokio::test]
async fn meeting_case_access_lasts_until_the_meeting_ends() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let day = monday + Duration::days(2);
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        day,
        "10:00",
        &[PRIYA, KIM, ALEX],
        &[("case_access", "meeting")],
    )
    .await;
    let priya = app.sign_in(PRIYA).await;
    let case_path = format!("/cases/{case_id}");
    assert_eq!(
        priya.get(&app, &case_path).await.status(),
        404,
        "not before accepting"
    );
    let p = page(&app, &priya, &format!("/meetings/{id}")).await;
    assert!(!p.contains("Lily"), "an invitation does not name the child");
    answer(&app, &priya, &id, "accepted").await;
    let res = priya.get(&app, &case_path).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Lily Ashworth"));

    // Still there in the last minute of the meeting…
    let priya = at(&app, london(day, 10, 59), &[PRIYA]).await.remove(0);
    assert_eq!(priya.get(&app, &case_path).await.status(), 200);
    // …and gone once it has ended.
    let priya = at(&app, london(day, 11, 1), &[PRIYA]).await.remove(0);
    assert_eq!(priya.get(&app, &case_path).await.status(), 404);
    let res = priya.get(&app, &format!("/meetings/{id}")).await;
    if res.status() == 200 {
        let p = res.text().await.unwrap();
        assert!(
            !p.contains("Lily"),
            "the meeting page no longer names the child"
        );
    } else {
        assert_eq!(res.status(), 404);
    }
    let d = page(&app, &priya, "/dashboard").await;
    assert!(!d.contains(&format!("/cases/{case_id}")));
    // The case team members are unaffected.
    let sam = app.sign_in(SAM).await;
    assert_eq!(sam.get(&app, &case_path).await.status(), 200);
}
