//! The JSON API: read receipts.

use super::*;

#[tokio::test]
async fn read_receipts_show_who_has_read_a_message_and_for_which_agency() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let kim = app.sign_in(KIM).await;
    post_ok(&app, &sam, &ch, "s1", "Core group on Friday.").await;
    post_ok(
        &app,
        &sam,
        &ch,
        "s2",
        "Please send your reports by Thursday.",
    )
    .await;

    let r = get(&app, &sam, &reads(&ch, 1)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"seq": 1, "read_by": []}));

    // Tom reads up to the latest message: that counts for the earlier one too.
    let t_read = app.clock_now();
    let r = send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": 2})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    for seq in [1, 2] {
        let r = get(&app, &sam, &reads(&ch, seq)).await.json();
        assert_eq!(r["seq"], seq);
        let by = r["read_by"].as_array().unwrap();
        assert_eq!(by.len(), 1, "{r}");
        assert_eq!(by[0]["person_id"], tom.person_id.as_str());
        assert_eq!(by[0]["name"], "Tom Evans");
        assert_eq!(by[0]["agency"], "Riverside Academy");
        assert_eq!(by[0]["agency_id"], tom.agency_id.as_str());
        assert_eq!(by[0]["read_at"], t_read);
    }

    // Kim has read only the first.
    app.clock.advance(60_000);
    let k_read = app.clock_now();
    assert_eq!(
        send(&app, &kim, Method::POST, &read(&ch), &json!({"seq": 1}))
            .await
            .status,
        204
    );
    let first = get(&app, &tom, &reads(&ch, 1)).await.json();
    let names: Vec<_> = first["read_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["read_at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Kim Okafor".to_string(), k_read),
            ("Tom Evans".to_string(), t_read)
        ],
        "by agency: Northshire NHS Foundation Trust, then Riverside Academy"
    );
    let second = get(&app, &tom, &reads(&ch, 2)).await.json();
    assert_eq!(second["read_by"].as_array().unwrap().len(), 1);

    // Marking an earlier message later does not move Tom's marker back, nor
    // change when he first read.
    app.clock.advance(60_000);
    assert_eq!(
        send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": 1}))
            .await
            .status,
        204
    );
    let second = get(&app, &sam, &reads(&ch, 2)).await.json();
    assert_eq!(second["read_by"][0]["person_id"], tom.person_id.as_str());
    assert_eq!(second["read_by"][0]["read_at"], t_read);

    // Beyond the last message, or before the first: refused.
    for seq in [3, 0, -1] {
        let r = send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": seq})).await;
        assert_eq!(r.status, 422, "seq {seq}: {}", r.text);
    }
    send(&app, &tom, Method::POST, &read(&ch), &json!({}))
        .await
        .expect(422, "invalid_body");
    // Who read a message that does not exist: not found.
    get(&app, &sam, &reads(&ch, 3))
        .await
        .expect(404, "not_found");

    // A later message: unread until marked.
    post_ok(&app, &kim, &ch, "k1", "Report sent.").await;
    assert_eq!(
        get(&app, &sam, &reads(&ch, 3)).await.json()["read_by"],
        json!([])
    );
}

#[tokio::test]
async fn people_who_saw_only_a_placeholder_are_not_listed_as_readers_of_a_restricted_message() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Arrest planned for Thursday.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    post_ok(&app, &sam, &ch, "s1", "Visit done.").await;

    // Tom reads the channel up to the end; he has seen only a placeholder
    // for message 1.
    assert_eq!(
        send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": 2}))
            .await
            .status,
        204
    );
    assert_eq!(
        get(&app, &sam, &reads(&ch, 2)).await.json()["read_by"][0]["name"],
        "Tom Evans"
    );
    let readers = get(&app, &lee, &reads(&ch, 1)).await.json();
    let names: Vec<_> = readers["read_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !names.contains(&"Tom Evans".to_string()),
        "Tom never saw the police-only message, yet its author is told he read it: {readers}"
    );
}
