//! The JSON API: at the same time.

use super::*;

#[tokio::test]
async fn messages_posted_at_the_same_time_get_distinct_gap_free_numbers() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let posts = (0..24).map(|i| {
        let who = if i % 2 == 0 { &sam } else { &tom };
        let app = &app;
        let ch = &ch;
        async move { post(app, who, ch, &format!("c{i}"), &format!("message {i}")).await }
    });
    let replies = futures_util::future::join_all(posts).await;
    let mut got: Vec<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.json()["seq"].as_i64().unwrap()
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, (1..=24).collect::<Vec<_>>());
    assert_eq!(
        seqs(&list(&app, &tom, &ch).await),
        (1..=24).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn marking_a_message_read_twice_at_once_is_not_an_error() {
    // Two tabs open, or a double click: both reach the server together.
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let path = read(&ch);
    // A few rounds, as the race does not show every time.
    for seq in 1..=6 {
        post_ok(
            &app,
            &sam,
            &ch,
            &format!("s{seq}"),
            "Please confirm you have seen this.",
        )
        .await;
        let body = json!({ "seq": seq });
        let marks = (0..10).map(|_| send(&app, &tom, Method::POST, &path, &body));
        let replies = futures_util::future::join_all(marks).await;
        for r in &replies {
            assert_eq!(r.status, 204, "seq {seq}: {}", r.text);
        }
        let by = get(&app, &sam, &reads(&ch, seq)).await.json()["read_by"].clone();
        assert_eq!(by.as_array().unwrap().len(), 1, "{by}");
    }
}

#[tokio::test]
async fn edits_saved_at_the_same_time_all_keep_the_text_they_replaced() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let posted = post_ok(&app, &sam, &ch, "s1", "Draft: meeting on Monday.").await;
    let path = message(&ch, 1);
    let edits = (0..6).map(|i| {
        let body = json!({"body": format!("Meeting on Monday (v{i}).")});
        let app = &app;
        let sam = &sam;
        let path = &path;
        async move { send(app, sam, Method::PATCH, path, &body).await }
    });
    let replies = futures_util::future::join_all(edits).await;
    let mut accepted = Vec::new();
    for (i, r) in replies.iter().enumerate() {
        assert!(
            r.status == 200 || r.status == 409,
            "a double-submitted edit failed: {} {}",
            r.status,
            r.text
        );
        if r.status == 200 {
            accepted.push(format!("Meeting on Monday (v{i})."));
        }
    }
    // Every text that was ever live is kept: the earlier ones in
    // message_versions, the last in the message itself.
    let mut history: Vec<String> = versions(&app, posted["id"].as_str().unwrap())
        .await
        .into_iter()
        .map(|(_, body, _, _)| body)
        .collect();
    history.push(stored_body(&app, &ch, 1).await);
    history.sort();
    let mut expected = accepted.clone();
    expected.push("Draft: meeting on Monday.".to_string());
    expected.sort();
    assert_eq!(
        history, expected,
        "accepted edits {accepted:?}: some live text is missing from the history"
    );
}

#[tokio::test]
async fn an_edit_racing_a_removal_leaves_no_text_in_the_removed_message() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    // The author saves an edit while a manager removes the message: it ends
    // removed, with no text left in the live row, and neither request fails.
    let alex = app.sign_in(ALEX).await;
    let late = json!({"body": "late edit"});
    for i in 1..=8 {
        post_ok(&app, &sam, &ch, &format!("s{i}"), &format!("Note {i}.")).await;
        let path = message(&ch, i);
        let (edit, redact) = tokio::join!(
            send(&app, &sam, Method::PATCH, &path, &late),
            delete(&app, &alex, &path),
        );
        assert_eq!(redact.status, 200, "{}", redact.text);
        assert!(edit.status < 500, "{} {}", edit.status, edit.text);
        let m = &list(&app, &sam, &ch).await[i as usize - 1];
        assert_eq!(m["body"], "");
        assert!(m["redacted_at"].is_i64());
        assert_eq!(
            stored_body(&app, &ch, i).await,
            "",
            "an edit landed after the removal (edit answered {} {})",
            edit.status,
            edit.text
        );
        // An edit that lost the race is refused, as editing a removed message
        // is; one that was accepted was live, so the removal kept its text.
        if edit.status == 200 {
            // (Its answer may already show the removal that followed it.)
            assert!(
                edit.json()["edited_at"].is_i64(),
                "the edit of message {i} answered 200 but was not applied: {}",
                edit.text
            );
            let id = m["id"].as_str().unwrap();
            let kept = versions(&app, id)
                .await
                .iter()
                .filter(|v| v.1 == "late edit")
                .count();
            assert_eq!(
                kept, 1,
                "the accepted edit's text is missing from the history of message {i}"
            );
        }
    }
}

#[tokio::test]
async fn editing_or_removing_a_restricted_message_keeps_it_from_everyone_else() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Warrant executed at the address.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);

    let r = send(
        &app,
        &lee,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Warrant executed at the address; two arrests."}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["restricted"], true);
    assert_eq!(r.json()["restriction_reason"], "police-sensitive");
    let for_tom = get(&app, &tom, &messages(&ch)).await;
    assert!(!for_tom.text.contains("arrests") && !for_tom.text.contains("Warrant"));
    let m = for_tom.json()["messages"][0].clone();
    assert_eq!(m["visible"], false, "{m}");
    assert!(
        m.get("body").is_none() && m.get("edited_at").is_none(),
        "{m}"
    );

    let r = delete(&app, &lee, &message(&ch, 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = get(&app, &tom, &messages(&ch)).await.json()["messages"][0].clone();
    assert_eq!(m["visible"], false, "{m}");
    assert!(
        m.get("redacted_by").is_none() && m.get("redacted_at").is_none(),
        "{m}"
    );
    // Lee still sees it as his own, removed.
    let m = &list(&app, &lee, &ch).await[0];
    assert_eq!(m["visible"], true);
    assert_eq!(m["body"], "");
    assert_eq!(m["redacted_by"], "DC Lee Harris");
}
