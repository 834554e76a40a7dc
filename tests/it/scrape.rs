//! Reading a server's `/metrics` in tests.

use crate::harness::TestApp;

/// A number from `/metrics` text, by its exact sample name.
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// The server's `/metrics` text (read from loopback, as a local scraper).
pub async fn metrics(app: &TestApp) -> String {
    let res = app.client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}
