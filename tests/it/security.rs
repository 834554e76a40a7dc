//! Security headers on every response, and the same-origin rule for writes.

use crate::harness::{SAM, TestApp};

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::start().await;
    let client = app.client();
    for (path, status) in [
        ("/", 200),
        ("/sign-in", 200),
        ("/healthz", 200),
        ("/readyz", 200),
        ("/assets/app.css", 200),
        ("/no-such-page", 404),
        ("/cases", 303),
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .contains("max-age="),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
        if !path.starts_with("/assets/") {
            assert_eq!(
                h["cache-control"], "no-store",
                "{path}: pages may hold case data"
            );
        }
    }
}

#[tokio::test]
async fn pages_use_only_our_own_script_and_styles() {
    let app = TestApp::start().await;
    let html = app
        .client()
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("/assets/app.css?v="));
    assert!(html.contains("<script type=\"module\" src=\"/assets/app.js?v="));
    // No inline script (the CSP would block it anyway) and no GDS Transport font.
    let scripts = html.matches("<script").count();
    assert_eq!(
        scripts,
        html.matches("<script type=\"module\" src=\"/assets/")
            .count(),
        "{html}"
    );
    let css = app
        .client()
        .get(app.url("/assets/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let css = css.text().await.unwrap();
    assert!(
        css.contains(".govuk-button"),
        "GOV.UK Frontend is compiled in"
    );
    assert!(!css.contains("GDS Transport") && !css.contains(".woff"));
    let js = app
        .client()
        .get(app.url("/assets/govuk-frontend.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        app.client()
            .get(app.url("/assets/nope.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn unchanged_assets_are_revalidated_with_a_304() {
    let app = TestApp::start().await;
    let client = app.client();
    let res = client.get(app.url("/assets/app.css")).send().await.unwrap();
    let etag = res.headers()["etag"].clone();
    let res = client
        .get(app.url("/assets/app.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn cross_site_writes_are_refused_and_change_nothing() {
    let app = TestApp::start().await;
    let client = app.sign_in_as(SAM).await;
    let page = client
        .get(app.url("/cases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_token(&page);

    // A forged cross-site form post to sign the victim out.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let res = client
            .post(app.url("/sign-out"))
            .header(name, value)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{name}: {value}");
    }
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        200,
        "still signed in"
    );

    // The right token from the same origin works.
    let res = client
        .post(app.url("/sign-out"))
        .header("origin", app.base.clone())
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_wrong_csrf_token_is_refused() {
    let app = TestApp::start().await;
    let client = app.sign_in_as(SAM).await;
    let res = client
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", "0000")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        200,
        "still signed in"
    );
}

#[tokio::test]
async fn oversize_and_malformed_bodies_get_a_clear_error() {
    let app = TestApp::start().await;
    let client = app.client();
    let big = "person_id=".to_string() + &"x".repeat(2 * 1024 * 1024);
    let res = client
        .post(app.url("/dev/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = client
        .post(app.url("/dev/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nothing=here")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
}

/// The CSRF token from a page's sign-out form.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a csrf token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}
