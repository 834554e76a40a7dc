//! Graceful shutdown: stop accepting, finish what is in flight, return.

use std::time::{Duration, Instant};

use crate::harness::TestApp;

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_stops_accepting() {
    let app = TestApp::start().await;
    let client = app.client();
    let url = app.url("/assets/app.css");
    let port = app.port;

    // A response whose body is still being read when shutdown starts.
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let started = Instant::now();
    let stopping = tokio::spawn(app.stop());
    let body = res.bytes().await.unwrap();
    assert!(
        body.len() > 10_000,
        "the whole stylesheet arrived: {} bytes",
        body.len()
    );

    let result = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("serve returned within 10 seconds")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Nothing listens any more.
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "the port no longer accepts connections");
}

#[tokio::test]
async fn an_idle_server_stops_promptly() {
    let app = TestApp::start().await;
    let started = Instant::now();
    app.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle shutdown took {:?}",
        started.elapsed()
    );
}
