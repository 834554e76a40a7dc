//! The `confer.v1` websocket protocol with real clients from several agencies.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{ALEX, DANA, LEE, SAM, TOM, TestApp};
use crate::scrape::{metrics, sample};
use crate::ws_client::{Upgrade, Ws, open_with};

#[tokio::test]
async fn live_delivery_across_agencies_with_acks_after_commit() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut sam_ws = Ws::connect(&app, &sam).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    assert_eq!(sam_ws.subscribe(&channel, 0).await, (vec![], 0));
    assert_eq!(tom_ws.subscribe(&channel, 0).await, (vec![], 0));

    let ack = sam_ws
        .say(&channel, "c-1", "Lily was upset at drop-off today")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["duplicate"], false);
    // The ack comes after commit: the message is in the database already.
    let db = app.db().await;
    let stored: Vec<(i64,)> = sqlx::query_as("SELECT seq FROM messages WHERE channel_id = $1")
        .bind(&channel)
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(stored, vec![(1,)]);

    let got = tom_ws.next_of(&["message"]).await;
    assert_eq!(got["seq"], 1);
    assert_eq!(got["message"]["body"], "Lily was upset at drop-off today");
    assert_eq!(got["message"]["author"]["name"], "Sam Patel");
    assert_eq!(
        got["message"]["author"]["agency"],
        "Northshire County Council Children's Social Care"
    );
    assert!(
        got["message"]["client_id"].is_null(),
        "others do not see the sender's idempotency key"
    );
    // The sender gets its own message too (other tabs, and gap-free sequences).
    let own = sam_ws.next_of(&["message"]).await;
    assert_eq!(own["seq"], 1);
}

#[tokio::test]
async fn resume_after_disconnect_delivers_everything_missed_exactly_once_in_order() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut sam_ws = Ws::connect(&app, &sam).await;
    sam_ws.subscribe(&channel, 0).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    sam_ws.say(&channel, "a", "one").await;
    let first = tom_ws.next_of(&["message"]).await;
    assert_eq!(first["seq"], 1);
    drop(tom_ws);

    for (i, body) in ["two", "three", "four"].iter().enumerate() {
        let ack = sam_ws.say(&channel, &format!("m{i}"), body).await;
        assert_eq!(ack["seq"], i as i64 + 2);
    }
    let mut tom_ws = Ws::connect(&app, &tom).await;
    let (replayed, last) = tom_ws.subscribe(&channel, 1).await;
    let seqs: Vec<i64> = replayed
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    assert_eq!(replayed[2]["message"]["body"], "four");
    assert_eq!(last, 4);
    // And then live, with nothing repeated.
    sam_ws.say(&channel, "m9", "five").await;
    let live = tom_ws.next_of(&["message"]).await;
    assert_eq!(live["seq"], 5);
    tom_ws.quiet_for(200).await;
}

#[tokio::test]
async fn a_retried_send_returns_the_original_sequence_number_and_is_delivered_once() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    let mut sam_ws = Ws::connect(&app, &sam).await;
    let first = sam_ws.say(&channel, "retry-me", "hello").await;
    // The ack was "lost": the client reconnects and sends again.
    drop(sam_ws);
    let mut sam_ws = Ws::connect(&app, &sam).await;
    let again = sam_ws.say(&channel, "retry-me", "hello").await;
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(again["duplicate"], true);
    assert_eq!(tom_ws.next_of(&["message"]).await["seq"], 1);
    tom_ws.quiet_for(300).await;
}

#[tokio::test]
async fn concurrent_senders_produce_one_gap_free_order_that_everyone_sees() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let watcher = app.sign_in(ALEX).await;
    let mut watch_ws = Ws::connect(&app, &watcher).await;
    watch_ws.subscribe(&channel, 0).await;
    let mut tasks = Vec::new();
    for (n, email) in [SAM, TOM, LEE].into_iter().enumerate() {
        let who = app.sign_in(email).await;
        let mut ws = Ws::connect(&app, &who).await;
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..20 {
                let ack = ws
                    .say(
                        &channel,
                        &format!("s{n}-{i}"),
                        &format!("sender {n} message {i}"),
                    )
                    .await;
                seqs.push(ack["seq"].as_i64().unwrap());
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's messages keep their order: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort();
    assert_eq!(all, (1..=60).collect::<Vec<_>>());
    let mut seen = Vec::new();
    while seen.len() < 60 {
        seen.push(
            watch_ws.next_of(&["message"]).await["seq"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(seen, (1..=60).collect::<Vec<_>>(), "in order, exactly once");
    watch_ws.quiet_for(200).await;
}

#[tokio::test]
async fn restricted_messages_reach_only_the_named_and_others_see_a_placeholder() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let sam = app.sign_in(SAM).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    let mut sam_ws = Ws::connect(&app, &sam).await;
    sam_ws.subscribe(&channel, 0).await;
    let mut lee_ws = Ws::connect(&app, &lee).await;
    lee_ws.subscribe(&channel, 0).await;
    lee_ws
        .send(json!({
            "type": "send", "id": "r1", "channel": channel, "client_id": "r1",
            "body": "Suspect vehicle seen outside the home: reg AB12 CDE",
            "restricted_to": { "agencies": [lee.agency_id], "people": [sam.person_id], "reason": "police-sensitive: live investigation" },
        }))
        .await;
    let ack = lee_ws.next_skipping(&["ack", "error"], &["message"]).await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let for_tom = tom_ws.next_of(&["message"]).await;
    assert_eq!(for_tom["seq"], 1);
    assert_eq!(for_tom["message"]["visible"], false);
    let text = for_tom.to_string();
    for secret in [
        "AB12",
        "Suspect",
        "police-sensitive",
        "Lee Harris",
        "author",
    ] {
        assert!(!text.contains(secret), "{secret} leaked to Tom: {text}");
    }
    let for_sam = sam_ws.next_of(&["message"]).await;
    assert_eq!(
        for_sam["message"]["body"],
        "Suspect vehicle seen outside the home: reg AB12 CDE"
    );
    assert_eq!(
        for_sam["message"]["restriction_reason"],
        "police-sensitive: live investigation"
    );
    let for_lee = lee_ws.next_of(&["message"]).await;
    assert_eq!(for_lee["message"]["visible"], true);

    // A later unrestricted message keeps Tom's sequence gap-free.
    sam_ws
        .say(&channel, "s2", "Strategy discussion at 2pm")
        .await;
    assert_eq!(tom_ws.next_of(&["message"]).await["seq"], 2);
}

#[tokio::test]
async fn removal_from_the_case_cuts_a_live_subscription_at_once() {
    let app = TestApp::start().await;
    let (case_id, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    let res = sam
        .client
        .delete(app.url(&format!("/api/cases/{case_id}/members/{}", tom.person_id)))
        .header("x-csrf-token", &sam.csrf)
        .json(&json!({"reason": "left the school"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let gone = tom_ws.next_of(&["unsubscribed"]).await;
    assert_eq!(gone["channel"], channel.as_str());
    assert_eq!(gone["reason"], "access_ended");

    let mut sam_ws = Ws::connect(&app, &sam).await;
    sam_ws.say(&channel, "after", "Tom must not see this").await;
    tom_ws.quiet_for(300).await;
    // Subscribing again, or sending, is refused like an unknown channel.
    tom_ws
        .send(json!({"type": "subscribe", "id": "x", "channel": channel, "after_seq": 0}))
        .await;
    let e = tom_ws.next_of(&["error"]).await;
    assert_eq!(
        (e["code"].as_str(), e["id"].as_str()),
        (Some("not_found"), Some("x"))
    );
    let e = tom_ws.say(&channel, "t1", "hello?").await;
    assert_eq!(e["code"], "not_found");
    tom_ws
        .send(json!({"type": "subscribe", "id": "y", "channel": "no-such-channel"}))
        .await;
    let unknown = tom_ws.next_of(&["error"]).await;
    assert_eq!(
        unknown["message"], e["message"],
        "no leak of whether the channel exists"
    );
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays_usable() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let mut ws = Ws::connect(&app, &sam).await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("{not json".into()), "invalid_json"),
        (Message::Text(r#"{"type":"shout","id":"1"}"#.into()), "unknown_type"),
        (Message::Text(r#"{"id":"2"}"#.into()), "missing_field"),
        (Message::Text(format!(r#"{{"type":"send","id":"3","channel":"{channel}","body":"x"}}"#).into()), "missing_field"),
        (Message::Text(r#"{"type":"read","id":"4","channel":"c","seq":"nine"}"#.into()), "invalid_frame"),
        (Message::Text(r#"[1,2,3]"#.into()), "invalid_frame"),
        (Message::Binary(vec![1, 2, 3].into()), "binary_not_supported"),
        (
            Message::Text(json!({"type":"send","id":"5","channel":channel,"client_id":"big","body":"x".repeat(17 * 1024)}).to_string().into()),
            "body_too_large",
        ),
        (Message::Text(json!({"type":"send","id":"6","channel":channel,"client_id":"e","body":"   "}).to_string().into()), "empty_body"),
        (Message::Text(json!({"type":"typing","id":"7","channel":channel}).to_string().into()), "not_subscribed"),
        (Message::Text(json!({"type":"subscribe","id":"8","channel":channel,"after_seq":-1}).to_string().into()), "invalid_frame"),
    ];
    for (frame, code) in cases {
        ws.send_raw(frame).await;
        let e = ws.next_of(&["error"]).await;
        assert_eq!(e["code"], code, "{e}");
        ws.send(json!({"type": "ping", "id": "alive"})).await;
        assert_eq!(
            ws.next_of(&["pong"]).await["id"],
            "alive",
            "still usable after {code}"
        );
    }
    // Nothing was stored by any of them.
    let db = app.db().await;
    let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n.0, 0);
    // A frame over the protocol's limit closes the connection (1009).
    ws.send_raw(Message::Text("x".repeat(70 * 1024).into()))
        .await;
    assert_eq!(ws.closed().await, Some(1009));
}

#[tokio::test]
async fn the_upgrade_needs_a_session_the_same_origin_and_the_subprotocol() {
    let app = TestApp::start().await;
    let sam = app.sign_in(SAM).await;
    let origin = app.base.clone();
    assert!(matches!(
        open_with(&app, None, Some(&origin), Some("confer.v1")).await,
        Upgrade::Refused(401)
    ));
    assert!(matches!(
        open_with(
            &app,
            Some(&sam.cookie),
            Some("https://evil.example"),
            Some("confer.v1")
        )
        .await,
        Upgrade::Refused(403)
    ));
    assert!(matches!(
        open_with(&app, Some(&sam.cookie), Some(&origin), None).await,
        Upgrade::Refused(400)
    ));
    assert!(matches!(
        open_with(
            &app,
            Some("__Host-confer_session=forged"),
            Some(&origin),
            Some("confer.v1")
        )
        .await,
        Upgrade::Refused(401)
    ));
    assert!(matches!(
        open_with(&app, Some(&sam.cookie), Some(&origin), Some("confer.v1")).await,
        Upgrade::Open(_)
    ));
}

#[tokio::test]
async fn read_receipts_presence_and_typing_reach_the_others() {
    let app = TestApp::start().await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut sam_ws = Ws::connect(&app, &sam).await;
    sam_ws.subscribe(&channel, 0).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    // Sam sees Tom arrive.
    loop {
        let p = sam_ws.next_json().await;
        if p["type"] == "presence"
            && p["online"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "Tom Evans")
        {
            break;
        }
    }
    tom_ws
        .send(json!({"type": "typing", "channel": channel}))
        .await;
    loop {
        let t = sam_ws.next_json().await;
        if t["type"] == "typing" {
            assert_eq!(t["person"]["name"], "Tom Evans");
            break;
        }
    }
    sam_ws
        .say(&channel, "c", "Can the school confirm attendance?")
        .await;
    assert_eq!(tom_ws.next_of(&["message"]).await["seq"], 1);
    tom_ws
        .send(json!({"type": "read", "id": "r", "channel": channel, "seq": 1}))
        .await;
    assert_eq!(tom_ws.next_of(&["ok"]).await["id"], "r");
    let receipt = sam_ws.next_skipping(&["receipt"], &["message"]).await;
    assert_eq!(receipt["person"]["name"], "Tom Evans");
    assert_eq!(receipt["person"]["agency"], "Riverside Academy");
    assert_eq!(receipt["seq"], 1);
    let reads: serde_json::Value = sam
        .get(&app, &format!("/api/channels/{channel}/messages/1/reads"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reads["read_by"][0]["name"], "Tom Evans");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_resumes_without_loss() {
    // The flood is far beyond one person's send rate.
    let app = TestApp::builder().bulk_senders().start().await;
    let (_, channel) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    let mut slow = Ws::connect(&app, &dana).await;
    slow.subscribe(&channel, 0).await;
    // Dana's client stops reading; Sam posts far more than socket buffers and
    // the per-connection queue can hold, and goes on for longer than the
    // hub's grace (a queue left full for 2 s) until it gives up on Dana.
    let body = "x".repeat(15 * 1024);
    let mut sam_ws = Ws::connect(&app, &sam).await;
    let mut sent = 0;
    while sample(&metrics(&app).await, "confer_websocket_too_slow_total") < 1.0 {
        assert!(sent < 5_000, "Dana was never cut off");
        for _ in 0..50 {
            sent += 1;
            let ack = sam_ws.say(&channel, &format!("flood-{sent}"), &body).await;
            assert_eq!(ack["type"], "ack");
        }
    }
    let text = metrics(&app).await;
    assert!(
        sample(&text, "confer_websocket_messages_deferred_total") >= 1.0,
        "her full queue was first left for her to catch up: {text}"
    );
    // Sam, a fast reader, is still connected and fine.
    sam_ws.send(json!({"type":"ping","id":"p"})).await;
    assert_eq!(sam_ws.next_of(&["pong"]).await["id"], "p");
    // Dana's connection was dropped: drain what the kernel buffered, then the end.
    let mut last_seen = 0;
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), slow.stream.next())
            .await
            .expect("ends")
        {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "message" {
                    let seq = v["seq"].as_i64().unwrap();
                    assert_eq!(seq, last_seen + 1, "in order with no gap until the cut");
                    last_seen = seq;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(4008));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    assert!(
        last_seen < sent,
        "the slow client was cut off before the end ({last_seen} of {sent})"
    );
    // It resumes from its last sequence number and gets the rest exactly once.
    let mut again = Ws::connect(&app, &dana).await;
    let (rest, last) = again.subscribe(&channel, last_seen).await;
    let seqs: Vec<i64> = rest.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, ((last_seen + 1)..=sent).collect::<Vec<_>>());
    assert_eq!(last, sent);
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for s in seqs {
        *counts.entry(s).or_default() += 1;
    }
    assert!(counts.values().all(|c| *c == 1));
}
