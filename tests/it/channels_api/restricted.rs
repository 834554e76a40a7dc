//! The JSON API: restricted.

use super::*;

#[tokio::test]
async fn a_restricted_message_is_shown_in_full_only_to_its_audience_and_others_see_a_placeholder() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let police = lee.agency_id.clone();

    // A second police officer joins, to show the audience is the agency.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": PRIYA, "reason": "police decision-maker"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let priya = app.sign_in(PRIYA).await;

    post_ok(&app, &sam, &ch, "s1", "Initial strategy discussion held.").await;
    let secret = "Suspect interviewed under caution on 3 March.";
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": secret,
            "restricted_to": {"agencies": [police], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let posted = r.json();
    assert_eq!(posted["seq"], 2);
    assert_eq!(posted["message"]["body"], secret);
    assert_eq!(posted["message"]["restricted"], true);
    assert_eq!(posted["message"]["restriction_reason"], "police-sensitive");
    post_ok(&app, &tom, &ch, "t1", "Attendance has dropped this term.").await;

    // The author and the named agency see it all.
    for who in [&lee, &priya] {
        let seen = list(&app, who, &ch).await;
        assert_eq!(seqs(&seen), [1, 2, 3]);
        let m = &seen[1];
        assert_eq!(m["visible"], true);
        assert_eq!(m["body"], secret);
        assert_eq!(m["author"]["name"], "DC Lee Harris");
        assert_eq!(m["restricted"], true);
        assert_eq!(m["restriction_reason"], "police-sensitive");
        assert_eq!(m["restricted_to"]["agencies"], json!([police]));
    }

    // Everyone else sees that something is there, and nothing of it, with
    // no gap in the sequence.
    for who in [&tom, &sam] {
        let r = get(&app, who, &format!("{}?after_seq=0", messages(&ch))).await;
        assert_eq!(r.status, 200);
        for leak in [
            secret,
            "police-sensitive",
            "Lee Harris",
            lee.person_id.as_str(),
            "lee-1",
        ] {
            assert!(!r.text.contains(leak), "{leak} leaked: {}", r.text);
        }
        let seen = r.json()["messages"].as_array().unwrap().clone();
        assert_eq!(seqs(&seen), [1, 2, 3], "gap-free for everyone");
        let m = seen[1].as_object().unwrap();
        assert_eq!(m["visible"], false);
        assert_eq!(m["restricted"], true);
        assert_eq!(m["seq"], 2);
        for absent in [
            "body",
            "author",
            "restriction_reason",
            "restricted_to",
            "client_id",
            "edited_at",
        ] {
            assert!(!m.contains_key(absent), "placeholder has {absent}: {m:?}");
        }
        assert_eq!(seen[0]["visible"], true);
        assert_eq!(seen[2]["body"], "Attendance has dropped this term.");
    }

    // Nor who has read it: the same 404 as for a message that does not exist.
    let hidden = get(&app, &tom, &reads(&ch, 2)).await;
    hidden.expect(404, "not_found");
    let missing = get(&app, &tom, &reads(&ch, 99)).await;
    assert_eq!(hidden.text, missing.text);
    assert_eq!(get(&app, &tom, &reads(&ch, 3)).await.status, 200);
    assert_eq!(get(&app, &lee, &reads(&ch, 2)).await.status, 200);
    assert_eq!(get(&app, &priya, &reads(&ch, 2)).await.status, 200);

    // Naming a person: Sam (children's social care) sees this one.
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-2",
            "body": "Disclosure for the lead social worker only.",
            "restricted_to": {"people": [sam.person_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        list(&app, &sam, &ch).await[3]["body"],
        "Disclosure for the lead social worker only."
    );
    let for_tom = list(&app, &tom, &ch).await;
    assert_eq!(seqs(&for_tom), [1, 2, 3, 4]);
    assert_eq!(for_tom[3]["visible"], false);
    assert!(for_tom[3].get("body").is_none());
    // Lee's agency colleague is not named on this one, but Lee is its author.
    assert_eq!(list(&app, &priya, &ch).await[3]["visible"], false);
    assert_eq!(list(&app, &lee, &ch).await[3]["visible"], true);
}

#[tokio::test]
async fn restrictions_without_a_reason_or_an_audience_or_naming_strangers_are_refused() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let police = lee.agency_id.clone();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no reason",
            json!({"agencies": [police]}),
            "bad_restriction",
        ),
        (
            "blank reason",
            json!({"agencies": [police], "reason": "   "}),
            "bad_restriction",
        ),
        (
            "no audience",
            json!({"reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "empty audience",
            json!({"agencies": [], "people": [], "reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "unknown agency",
            json!({"agencies": [unknown_id()], "reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "unknown person",
            json!({"agencies": [police], "people": [unknown_id()], "reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "unknown field",
            json!({"agencies": [police], "reason": "police-sensitive", "until": 5}),
            "invalid_body",
        ),
    ];
    for (what, restriction, code) in &cases {
        let r = send(
            &app,
            &lee,
            Method::POST,
            &messages(&ch),
            &json!({"client_id": "r", "body": "Sensitive.", "restricted_to": restriction}),
        )
        .await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(r.code(), *code, "{what}: {}", r.text);
    }
    assert_eq!(stored_messages(&app, &ch).await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM message_restrictions r JOIN messages m ON m.id = r.message_id \
             WHERE m.channel_id = $1",
            &ch
        )
        .await,
        0
    );
}
