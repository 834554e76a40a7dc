//! The JSON API: edits and redactions.

use super::*;

#[tokio::test]
async fn authors_edit_their_own_messages_and_the_earlier_text_is_kept() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let posted = post_ok(&app, &sam, &ch, "s1", "Home visit booked for Tuesday.").await;
    let message_id = posted["id"].as_str().unwrap().to_string();

    app.clock.advance(5 * 60_000);
    let edited_at = app.clock_now();
    let r = send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Home visit booked for Wednesday."}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = r.json();
    assert_eq!(m["body"], "Home visit booked for Wednesday.");
    assert_eq!(m["edited_at"], edited_at);
    assert_eq!(m["seq"], 1);
    assert!(m["redacted_at"].is_null());

    let seen = list(&app, &tom, &ch).await;
    assert_eq!(seen.len(), 1, "an edit is not a new message");
    assert_eq!(seen[0]["body"], "Home visit booked for Wednesday.");
    assert_eq!(seen[0]["edited_at"], edited_at);

    // Someone else may not edit it.
    send(
        &app,
        &tom,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Tom's version"}),
    )
    .await
    .expect(403, "forbidden");
    // Nor may an edit empty it, and a message that does not exist is not found.
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "  "}),
    )
    .await
    .expect(422, "empty_body");
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "y".repeat(MAX_BODY + 1)}),
    )
    .await
    .expect(422, "body_too_large");
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"text": "x"}),
    )
    .await
    .expect(422, "invalid_body");
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 7),
        &json!({"body": "x"}),
    )
    .await
    .expect(404, "not_found");
    assert_eq!(
        stored_body(&app, &ch, 1).await,
        "Home visit booked for Wednesday."
    );

    // A second edit; every earlier text stays for auditors.
    let r = send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Home visit booked for Thursday."}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        versions(&app, &message_id).await,
        [
            (
                1,
                "Home visit booked for Tuesday.".to_string(),
                sam.person_id.clone(),
                "edited".to_string()
            ),
            (
                2,
                "Home visit booked for Wednesday.".to_string(),
                sam.person_id.clone(),
                "edited".to_string()
            ),
        ]
    );

    let db = app.db().await;
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let edits: Vec<_> = events
        .iter()
        .filter(|e| e.action == "message.edited")
        .collect();
    assert_eq!(edits.len(), 2, "two edits, and the refused ones not at all");
    for e in edits {
        assert_eq!(e.case_id.as_deref(), Some(case.as_str()));
        assert_eq!(e.subject.as_deref(), Some(message_id.as_str()));
    }
}

#[tokio::test]
async fn authors_and_managers_in_the_team_redact_but_other_practitioners_may_not() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let alex = app.sign_in(ALEX).await;
    let kim = app.sign_in(KIM).await;
    let sams = post_ok(
        &app,
        &sam,
        &ch,
        "s1",
        "Posted to the wrong case by mistake.",
    )
    .await;
    let toms = post_ok(&app, &tom, &ch, "t1", "Unkind remark about the family.").await;

    // Tom (a practitioner, not the author) may not remove Sam's message.
    delete(&app, &tom, &message(&ch, 1))
        .await
        .expect(403, "forbidden");
    // Nor Kim remove Tom's.
    delete(&app, &kim, &message(&ch, 2))
        .await
        .expect(403, "forbidden");
    assert_eq!(
        stored_body(&app, &ch, 1).await,
        "Posted to the wrong case by mistake."
    );

    // The author may.
    app.clock.advance(60_000);
    let at = app.clock_now();
    let r = delete(&app, &sam, &message(&ch, 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = r.json();
    assert_eq!(m["body"], "");
    assert_eq!(m["redacted_at"], at);
    assert_eq!(m["redacted_by"], "Sam Patel");

    // Alex, a manager in the case team, may remove Tom's.
    let r = delete(&app, &alex, &message(&ch, 2)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["redacted_by"], "Alex Morgan");
    assert_eq!(r.json()["body"], "");

    // Everyone sees both gone, in place (no gap).
    let seen = list(&app, &kim, &ch).await;
    assert_eq!(seqs(&seen), [1, 2]);
    for m in &seen {
        assert_eq!(m["body"], "");
        assert!(m["redacted_at"].is_i64(), "{m}");
    }
    let text = get(&app, &kim, &messages(&ch)).await.text;
    assert!(
        !text.contains("wrong case") && !text.contains("Unkind"),
        "{text}"
    );
    assert_eq!(stored_body(&app, &ch, 1).await, "");

    // The author cannot bring the text back by editing.
    let r = send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "restored"}),
    )
    .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_eq!(list(&app, &sam, &ch).await[0]["body"], "");

    // The removed texts are kept for auditors, and the removals are audited.
    let db = app.db().await;
    for (m, text) in [
        (&sams, "Posted to the wrong case by mistake."),
        (&toms, "Unkind remark about the family."),
    ] {
        let found: Vec<(String, String)> = versions(&app, m["id"].as_str().unwrap())
            .await
            .into_iter()
            .map(|(_, body, _, change)| (body, change))
            .collect();
        assert_eq!(found, [(text.to_string(), "redacted".to_string())]);
    }
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let redactions: Vec<_> = events
        .iter()
        .filter(|e| e.action == "message.redacted")
        .collect();
    assert_eq!(redactions.len(), 2);
    assert!(
        redactions
            .iter()
            .all(|e| e.case_id.as_deref() == Some(case.as_str()))
    );
    let subjects: Vec<_> = redactions
        .iter()
        .map(|e| e.subject.clone().unwrap())
        .collect();
    assert!(subjects.contains(&sams["id"].as_str().unwrap().to_string()));
    assert!(subjects.contains(&toms["id"].as_str().unwrap().to_string()));

    // Removing a message that does not exist: not found.
    delete(&app, &sam, &message(&ch, 9))
        .await
        .expect(404, "not_found");
}

#[tokio::test]
async fn a_manager_cannot_redact_a_restricted_message_they_cannot_see() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let alex = app.sign_in(ALEX).await; // children's social care manager
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Intelligence from the force: do not share.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(list(&app, &alex, &ch).await[0]["visible"], false);

    let r = delete(&app, &alex, &message(&ch, 1)).await;
    assert!(
        r.status == 404 || r.status == 403,
        "Alex sees only a placeholder, yet could remove the police's message: {} {}",
        r.status,
        r.text
    );
    let seen = list(&app, &lee, &ch).await;
    assert_eq!(
        seen[0]["body"],
        "Intelligence from the force: do not share."
    );
    assert!(seen[0]["redacted_at"].is_null());
}
