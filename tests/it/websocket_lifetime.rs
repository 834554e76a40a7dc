//! How long a websocket lives: sign-out, heartbeats, revocation elsewhere,
//! the absolute and idle time-outs.

use serde_json::json;

use crate::harness::{SAM, TOM, TestApp};
use crate::ws_client::Ws;

#[tokio::test]
async fn signing_out_closes_that_sessions_sockets_with_4001() {
    let app = TestApp::start().await;
    let sam = app.sign_in(SAM).await;
    let mut ws = Ws::connect(&app, &sam).await;
    let page = sam
        .client
        .get(app.url("/cases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = sam
        .client
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", crate::security::csrf_token(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(ws.closed().await, Some(4001));
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed_with_4002() {
    let app = TestApp::builder()
        .configure(|s| {
            s.server.websocket_ping_seconds = 1;
            s.server.websocket_timeout_seconds = 2;
        })
        .start()
        .await;
    let sam = app.sign_in(SAM).await;
    let mut quiet = Ws::connect(&app, &sam).await;
    let mut lively = Ws::connect(&app, &sam).await;
    // `quiet` reads nothing, so it never answers the server's pings...
    for _ in 0..8 {
        lively.send(json!({"type": "ping", "id": "p"})).await;
        assert_eq!(lively.next_of(&["pong"]).await["id"], "p");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // ...and is closed for silence, while the one that reads stays open. (The
    // server sends 4002; reading now, the client first answers the queued
    // pings onto a closed socket, which may surface as a reset before the
    // close frame: either way the server has ended it.)
    let code = quiet.closed().await;
    assert!(matches!(code, Some(4002) | None), "{code:?}");
    lively.send(json!({"type": "ping", "id": "still"})).await;
    assert_eq!(lively.next_of(&["pong"]).await["id"], "still");
}

#[tokio::test]
async fn a_session_revoked_elsewhere_or_past_its_absolute_time_out_closes_its_socket() {
    let app = TestApp::builder()
        .configure(|s| {
            s.server.websocket_ping_seconds = 1;
            s.server.websocket_timeout_seconds = 30;
        })
        .start()
        .await;
    // Revoked by another process (here, straight in the database).
    let sam = app.sign_in(SAM).await;
    let mut ws = Ws::connect(&app, &sam).await;
    let db = app.db().await;
    sqlx::query("UPDATE sessions SET revoked_at = 1")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(ws.closed().await, Some(4001));
    // Past the absolute time-out (12 hours), however active the socket.
    let tom = app.sign_in(TOM).await;
    let mut ws = Ws::connect(&app, &tom).await;
    app.clock.advance(12 * 3_600_000);
    assert_eq!(ws.closed().await, Some(4001));
}

#[tokio::test]
async fn an_unattended_live_page_closes_when_the_session_goes_idle_but_activity_keeps_it_open() {
    let app = TestApp::builder()
        .configure(|s| {
            s.server.websocket_ping_seconds = 1;
            s.server.websocket_timeout_seconds = 30;
        })
        .start()
        .await;
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut idle = Ws::connect(&app, &tom).await;
    idle.subscribe(&channel, 0).await;
    let mut busy = Ws::connect(&app, &sam).await;
    busy.subscribe(&channel, 0).await;
    // 25 minutes pass; Sam keeps working over the socket, Tom does nothing.
    app.clock.advance(25 * 60_000);
    busy.say(&channel, "m1", "still here").await;
    // 10 more minutes: Tom's session is 35 minutes idle, Sam's 10.
    app.clock.advance(10 * 60_000);
    assert_eq!(idle.closed().await, Some(4001));
    busy.send(json!({"type": "ping", "id": "p"})).await;
    assert_eq!(busy.next_skipping(&["pong"], &["message"]).await["id"], "p");
    // And Sam's pages still work: the socket activity counted for the session.
    assert_eq!(
        sam.client
            .get(app.url("/cases"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
