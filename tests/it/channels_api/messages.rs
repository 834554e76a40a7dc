//! The JSON API: messages.

use super::*;

#[tokio::test]
async fn members_post_messages_that_are_numbered_in_order_and_listed_with_the_authors_agency() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let kim = app.sign_in(KIM).await;

    let r = post(
        &app,
        &sam,
        &ch,
        "sam-1",
        "Strategy meeting at 10:00 tomorrow.",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.json();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["client_id"], "sam-1");
    assert_eq!(
        first["message"]["body"],
        "Strategy meeting at 10:00 tomorrow."
    );
    assert_eq!(first["message"]["author"]["name"], "Sam Patel");
    assert_eq!(
        first["message"]["author"]["agency"],
        "Northshire County Council Children's Social Care"
    );
    assert_eq!(first["message"]["id"], first["message_id"]);

    let r = post(
        &app,
        &tom,
        &ch,
        "tom-1",
        "Lily was in school today and seemed well.",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["seq"], 2);

    // Any member sees both, in order, with who wrote them and for which agency.
    let seen = list(&app, &kim, &ch).await;
    assert_eq!(seqs(&seen), [1, 2]);
    assert_eq!(seen[0]["body"], "Strategy meeting at 10:00 tomorrow.");
    assert_eq!(seen[0]["author"]["id"], sam.person_id.as_str());
    assert_eq!(
        seen[0]["author"]["agency"],
        "Northshire County Council Children's Social Care"
    );
    assert_eq!(seen[0]["author"]["agency_id"], sam.agency_id.as_str());
    assert_eq!(seen[1]["body"], "Lily was in school today and seemed well.");
    assert_eq!(seen[1]["author"]["name"], "Tom Evans");
    assert_eq!(seen[1]["author"]["agency"], "Riverside Academy");
    for m in &seen {
        assert_eq!(m["visible"], true);
        assert_eq!(m["restricted"], false);
        assert_eq!(m["channel"], ch.as_str());
        assert!(m["edited_at"].is_null() && m["redacted_at"].is_null());
        // The sender's idempotency key is theirs alone.
        assert!(m["client_id"].is_null(), "{m}");
    }
    let own = list(&app, &sam, &ch).await;
    assert_eq!(own[0]["client_id"], "sam-1");

    // after_seq lists only what came later.
    let r = get(&app, &kim, &format!("{}?after_seq=1", messages(&ch))).await;
    assert_eq!(seqs(r.json()["messages"].as_array().unwrap()), [2]);

    // The channel's position shows on the case.
    let case = get(
        &app,
        &kim,
        &format!(
            "/api/cases/{}",
            app.case_and_channel("Lily Ashworth").await.0
        ),
    )
    .await;
    assert_eq!(case.json()["channels"][0]["last_seq"], 2);
}

#[tokio::test]
async fn listing_pages_through_a_channel_with_limit_has_more_and_next_after_seq() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    for i in 1..=5 {
        post_ok(&app, &sam, &ch, &format!("c{i}"), &format!("note {i}")).await;
    }
    let page = |after: i64| {
        let path = format!("{}?after_seq={after}&limit=2", messages(&ch));
        let app = &app;
        let sam = &sam;
        async move { get(app, sam, &path).await.json() }
    };
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let p = page(after).await;
        let got = seqs(p["messages"].as_array().unwrap());
        pages.push((got.clone(), p["has_more"].as_bool().unwrap()));
        after = p["next_after_seq"].as_i64().unwrap();
        if !p["has_more"].as_bool().unwrap() {
            break;
        }
        assert!(pages.len() < 10, "paging does not end: {pages:?}");
    }
    assert_eq!(
        pages,
        [(vec![1, 2], true), (vec![3, 4], true), (vec![5], false)]
    );
    assert_eq!(after, 5);

    // Nothing new: an empty page that keeps the position.
    let p = page(5).await;
    assert_eq!(p["messages"], json!([]));
    assert_eq!(p["has_more"], false);
    assert_eq!(p["next_after_seq"], 5);

    // Without parameters: everything from the start.
    let p = get(&app, &sam, &messages(&ch)).await.json();
    assert_eq!(seqs(p["messages"].as_array().unwrap()), [1, 2, 3, 4, 5]);
    assert_eq!(p["has_more"], false);
    assert_eq!(p["next_after_seq"], 5);
    let bodies: Vec<_> = p["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["note 1", "note 2", "note 3", "note 4", "note 5"]);
}

#[tokio::test]
async fn a_retried_post_with_the_same_client_id_is_stored_once() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;

    let r = post(
        &app,
        &sam,
        &ch,
        "retry-me",
        "Referral received from the school.",
    )
    .await;
    assert_eq!(r.status, 201);
    let first = r.json();

    // The network dropped the answer; the client sends again.
    let r = post(
        &app,
        &sam,
        &ch,
        "retry-me",
        "Referral received from the school.",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = r.json();
    assert_eq!(again["seq"], 1);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(
        again["message"]["body"],
        "Referral received from the school."
    );

    // Even with a changed body, the first result stands.
    let r = post(&app, &sam, &ch, "retry-me", "Something else entirely").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["message"]["body"],
        "Referral received from the school."
    );

    let seen = list(&app, &tom, &ch).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(stored_messages(&app, &ch).await, 1);

    // The key is the sender's own: someone else may use the same one.
    let r = post(&app, &tom, &ch, "retry-me", "Attendance record attached.").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["seq"], 2);
    // And a new key is a new message.
    let r = post(
        &app,
        &sam,
        &ch,
        "retry-me-2",
        "Referral received from the school.",
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["seq"], 3);
    assert_eq!(seqs(&list(&app, &sam, &ch).await), [1, 2, 3]);
}

#[tokio::test]
async fn outsiders_get_the_same_not_found_as_for_a_channel_that_does_not_exist() {
    let app = TestApp::start().await;
    let (_, lily) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    post_ok(&app, &sam, &lily, "s1", "Child protection plan agreed.").await;

    let dana = app.sign_in(DANA).await; // housing: on Kai's case, not Lily's
    let ria = app.sign_in(RIA).await; // auditor: on no case
    let nowhere = unknown_id();

    type Probe = (Method, fn(&str) -> String, Option<Value>);
    let probes: Vec<Probe> = vec![
        (
            Method::GET,
            |c| format!("{}?after_seq=0", messages(c)),
            None,
        ),
        (
            Method::POST,
            messages,
            Some(json!({"client_id": "x1", "body": "Can I see this?"})),
        ),
        (Method::POST, read, Some(json!({"seq": 1}))),
        (Method::GET, |c| reads(c, 1), None),
        (
            Method::PATCH,
            |c| message(c, 1),
            Some(json!({"body": "overwritten"})),
        ),
        (Method::DELETE, |c| message(c, 1), None),
    ];
    for who in [&dana, &ria] {
        for (method, path, body) in &probes {
            let mut answers = Vec::new();
            for c in [lily.as_str(), nowhere.as_str()] {
                let mut rb = req(&app, who, method.clone(), &path(c));
                if let Some(b) = body {
                    rb = rb.json(b);
                }
                answers.push(Reply::from(rb.send().await.unwrap()).await);
            }
            let (hidden, missing) = (&answers[0], &answers[1]);
            hidden.expect(404, "not_found");
            assert_eq!(
                (hidden.status, &hidden.text),
                (missing.status, &missing.text),
                "{method} {}: a hidden channel must look like a missing one",
                path("{ch}")
            );
            assert!(!hidden.text.contains("Child protection"), "{}", hidden.text);
        }
    }
    // A member asking for a channel that does not exist gets the same answer.
    get(&app, &sam, &messages(&nowhere))
        .await
        .expect(404, "not_found");

    // Nothing the outsiders tried changed anything.
    let seen = list(&app, &sam, &lily).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["body"], "Child protection plan agreed.");
    assert!(seen[0]["redacted_at"].is_null() && seen[0]["edited_at"].is_null());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM read_receipts WHERE channel_id = $1",
            &lily
        )
        .await,
        0
    );

    // Dana is not refused everything: on Kai's case she may post.
    let (_, kai) = app.case_and_channel("Kai Brennan").await;
    post_ok(&app, &dana, &kai, "d1", "Tenancy review next week.").await;
}

#[tokio::test]
async fn writes_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    post_ok(&app, &sam, &ch, "s1", "Original text.").await;

    let dana_id = dana.person_id.clone();
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            messages(&ch),
            json!({"client_id": "forged", "body": "forged"}),
        ),
        (Method::PATCH, message(&ch, 1), json!({"body": "forged"})),
        (Method::DELETE, message(&ch, 1), json!({})),
        (Method::POST, read(&ch), json!({"seq": 1})),
        (
            Method::POST,
            members(&case),
            json!({"email": DANA, "reason": "forged"}),
        ),
        (
            Method::DELETE,
            format!("{}/{}", members(&case), person_id(&app, TOM).await.unwrap()),
            json!({"reason": "forged"}),
        ),
    ];
    for (method, path, body) in &writes {
        for token in [None, Some("0000"), Some("")] {
            let mut rb = sam.client.request(method.clone(), app.url(path)).json(body);
            if let Some(t) = token {
                rb = rb.header("x-csrf-token", t);
            }
            let r = Reply::from(rb.send().await.unwrap()).await;
            assert_eq!(r.status, 403, "{method} {path} token {token:?}: {}", r.text);
            assert_eq!(r.code(), "forbidden");
        }
        // Another session's token (Dana's, with Sam's cookie) is no better.
        let r = Reply::from(
            sam.client
                .request(method.clone(), app.url(path))
                .header("x-csrf-token", &dana.csrf)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            r.status, 403,
            "{method} {path} with another's token: {}",
            r.text
        );
        // The right token from another site: refused by the same-origin rule.
        let r = Reply::from(
            req(&app, &sam, method.clone(), path)
                .header("sec-fetch-site", "cross-site")
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 403, "{method} {path} cross-site: {}", r.text);
    }

    let seen = list(&app, &sam, &ch).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["body"], "Original text.");
    assert!(seen[0]["edited_at"].is_null() && seen[0]["redacted_at"].is_null());
    assert_eq!(stored_messages(&app, &ch).await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM read_receipts WHERE channel_id = $1",
            &ch
        )
        .await,
        0
    );
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    let team = get(&app, &sam, &format!("/api/cases/{case}")).await.json()["team"].clone();
    let team_ids: Vec<_> = team
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!team_ids.contains(&dana_id));
    assert!(team_ids.contains(&person_id(&app, TOM).await.unwrap()));

    // Reads need no token.
    let r = sam
        .client
        .get(app.url(&messages(&ch)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn invalid_messages_are_refused_with_a_code_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let path = messages(&ch);

    let too_long = "x".repeat(MAX_BODY + 1);
    // 5,462 euro signs: under the limit in characters, over it in bytes.
    let too_many_bytes = "€".repeat(MAX_BODY / 3 + 1);
    let long_id = "k".repeat(101);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "empty body",
            json!({"client_id": "a", "body": ""}),
            "empty_body",
        ),
        (
            "whitespace body",
            json!({"client_id": "a", "body": " \n\t  "}),
            "empty_body",
        ),
        (
            "body over 16 KiB",
            json!({"client_id": "a", "body": too_long}),
            "body_too_large",
        ),
        (
            "body over 16 KiB in bytes",
            json!({"client_id": "a", "body": too_many_bytes}),
            "body_too_large",
        ),
        (
            "missing client_id",
            json!({"body": "hello"}),
            "invalid_body",
        ),
        (
            "empty client_id",
            json!({"client_id": "", "body": "hello"}),
            "bad_client_id",
        ),
        (
            "client_id over 100 characters",
            json!({"client_id": long_id, "body": "hello"}),
            "bad_client_id",
        ),
        ("missing body", json!({"client_id": "a"}), "invalid_body"),
        (
            "body not text",
            json!({"client_id": "a", "body": 42}),
            "invalid_body",
        ),
        (
            "unknown field",
            json!({"client_id": "a", "body": "hello", "urgent": true}),
            "invalid_body",
        ),
        ("not an object", json!(["hello"]), "invalid_body"),
    ];
    for (what, body, code) in &cases {
        let r = send(&app, &sam, Method::POST, &path, body).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(r.code(), *code, "{what}: {}", r.text);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: a message for people too"
        );
    }

    // Malformed JSON.
    let r = Reply::from(
        req(&app, &sam, Method::POST, &path)
            .header("content-type", "application/json")
            .body(r#"{"client_id": "a", "body": "#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(422, "invalid_body");

    // Not JSON at all.
    let r = Reply::from(
        req(&app, &sam, Method::POST, &path)
            .header("content-type", "text/plain")
            .body(r#"{"client_id": "a", "body": "hello"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(415, "invalid_body");
    let r = Reply::from(
        req(&app, &sam, Method::POST, &path)
            .form(&[("client_id", "a"), ("body", "hello")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(415, "invalid_body");

    assert_eq!(stored_messages(&app, &ch).await, 0);
    assert!(list(&app, &sam, &ch).await.is_empty());

    // A negative position.
    get(&app, &sam, &format!("{path}?after_seq=-1"))
        .await
        .expect(422, "after_seq");

    // The limits themselves are allowed: 16 KiB exactly, a 100-character key.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &path,
        &json!({"client_id": "k".repeat(100), "body": "y".repeat(MAX_BODY)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.json()["seq"], 1, "refused posts used no sequence numbers");
    assert_eq!(stored_messages(&app, &ch).await, 1);
}

#[tokio::test]
async fn an_over_limit_request_body_is_refused_with_413() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let huge = json!({"client_id": "big", "body": "z".repeat(2 * 1024 * 1024)});
    let r = send(&app, &sam, Method::POST, &messages(&ch), &huge).await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.code(), "invalid_body");
    assert_eq!(stored_messages(&app, &ch).await, 0);
    // The server is fine afterwards.
    post_ok(&app, &sam, &ch, "small", "ok").await;
}

#[tokio::test]
async fn malformed_query_and_path_parameters_get_a_json_error() {
    // api.rs: "Errors are {"error": {"code", "message"}}".
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    post_ok(&app, &sam, &ch, "s1", "hello").await;
    for (method, path, body) in [
        (
            Method::GET,
            format!("{}?after_seq=abc", messages(&ch)),
            None,
        ),
        (Method::GET, format!("{}?limit=lots", messages(&ch)), None),
        (
            Method::GET,
            format!("/api/channels/{ch}/messages/first/reads"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/channels/{ch}/messages/first"),
            Some(json!({"body": "x"})),
        ),
    ] {
        let mut rb = req(&app, &sam, method.clone(), &path);
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        let r = Reply::from(rb.send().await.unwrap()).await;
        assert!(
            r.status == 400 || r.status == 422,
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        assert!(
            r.content_type.starts_with("application/json"),
            "{method} {path}: expected a JSON error, got [{}] {}",
            r.content_type,
            r.text
        );
        assert!(!r.code().is_empty());
    }
    assert_eq!(list(&app, &sam, &ch).await[0]["body"], "hello");
}
