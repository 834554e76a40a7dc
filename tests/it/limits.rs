//! `[limits]`: one person sending too quickly is refused (API: 429 with
//! Retry-After; websocket: a `rate_limited` error frame) with nothing
//! stored, while others carry on; one person holding too many websockets
//! is refused another until they close one.

use serde_json::{Value, json};

use crate::harness::{SAM, Signed, TOM, TestApp};
use crate::ws_client::{Upgrade, Ws, open_with};

async fn stored(app: &TestApp, client_id: &str) -> i64 {
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    n
}

async fn post(app: &TestApp, who: &Signed, ch: &str, client_id: &str) -> reqwest::Response {
    let body = json!({"client_id": client_id, "body": "Update on the home visit."});
    who.post_json(app, &format!("/api/channels/{ch}/messages"), &body)
        .await
}

#[tokio::test]
async fn a_person_sending_too_quickly_is_told_to_wait_and_nothing_is_stored() {
    let app = TestApp::builder()
        .configure(|s| s.limits.messages_per_minute = 3)
        .start()
        .await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;

    // Two over the API and one over the websocket: the limit covers both.
    for i in 0..2 {
        assert_eq!(
            post(&app, &sam, &ch, &format!("sam-{i}")).await.status(),
            201
        );
    }
    let mut ws = Ws::connect(&app, &sam).await;
    let ack = ws.say(&ch, "sam-ws-1", "From the websocket.").await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let r = post(&app, &sam, &ch, "sam-over").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too quickly"),
        "{body}"
    );
    let refused = ws.say(&ch, "sam-ws-over", "Too soon.").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "rate_limited");
    assert_eq!(refused["id"], "sam-ws-over");
    assert_eq!(stored(&app, "sam-over").await, 0);
    assert_eq!(stored(&app, "sam-ws-over").await, 0);

    // Someone else in the same channel is not held back.
    assert_eq!(post(&app, &tom, &ch, "tom-1").await.status(), 201);

    // A minute on, Sam may send again.
    app.clock.advance(60_000);
    assert_eq!(post(&app, &sam, &ch, "sam-later").await.status(), 201);
    assert_eq!(stored(&app, "sam-later").await, 1);
}

#[tokio::test]
async fn a_person_may_hold_only_so_many_websockets_open() {
    let app = TestApp::builder()
        .configure(|s| s.limits.websocket_connections_per_person = 2)
        .start()
        .await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let first = Ws::connect(&app, &sam).await;
    let _second = Ws::connect(&app, &sam).await;
    match open_with(&app, Some(&sam.cookie), Some(&app.base), Some("confer.v1")).await {
        Upgrade::Refused(status) => assert_eq!(status, 429),
        Upgrade::Open(_) => panic!("a third connection was accepted"),
    }
    // Others are not affected.
    let _tom = Ws::connect(&app, &tom).await;
    // Closing one gives its place back.
    drop(first);
    let mut reopened = None;
    for _ in 0..100 {
        match open_with(&app, Some(&sam.cookie), Some(&app.base), Some("confer.v1")).await {
            Upgrade::Open(ws) => {
                reopened = Some(ws);
                break;
            }
            Upgrade::Refused(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(reopened.is_some(), "the place was not given back");
}
