//! OpenID Connect sign-in against the stand-in provider of `oidc_stub.rs`:
//! the whole redirect flow by hand (Confer → provider → Confer's callback →
//! session), then each way it must be refused. Every refusal is checked for
//! its status, the absence of a session cookie and of a session, and its
//! audit event `session.sign_in_failed` with the reason.

use confer::store::people;
use reqwest::{Client, Response, Url};
use sqlx::Row;

use crate::harness::{SAM, TestApp};

#[path = "oidc_admission.rs"]
mod admission;
#[path = "oidc_provider.rs"]
mod provider;
#[path = "oidc_stub.rs"]
mod stub;

use stub::{Signer, StubProvider};

const POLICE: &str = "Northshire Police";
const LEE: &str = "lee.harris@northshire-police.example";
const ID: &str = "police";

async fn setup() -> (StubProvider, TestApp) {
    setup_with(|_| {}).await
}

async fn setup_with(
    adjust: impl FnOnce(&mut confer::config::OidcProvider),
) -> (StubProvider, TestApp) {
    let stub = StubProvider::start().await;
    stub.set(|b| b.email = Some(LEE.into()));
    let mut config = stub.config(ID, POLICE);
    adjust(&mut config);
    let app = TestApp::builder().oidc(config).start().await;
    (stub, app)
}

fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect, got {}", res.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Start a sign-in and let the provider answer: returns the callback URL
/// the provider sent the browser to.
async fn to_callback(app: &TestApp, client: &Client) -> String {
    let res = client
        .get(app.url(&format!("/sign-in/oidc/{ID}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "start redirects to the provider");
    let res = client.get(location(&res)).send().await.unwrap();
    assert_eq!(res.status(), 303, "the provider redirects back");
    location(&res)
}

async fn sessions(app: &TestApp) -> i64 {
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    n
}

/// The reasons of every `session.sign_in_failed` event, oldest first, with
/// the subject each names.
async fn failures(app: &TestApp) -> Vec<(String, Option<String>)> {
    let db = app.db().await;
    let rows = sqlx::query(
        "SELECT detail, subject FROM audit_events WHERE action = 'session.sign_in_failed' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    db.close().await;
    rows.iter()
        .map(|r| {
            let detail: String = r.get("detail");
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
            assert_eq!(detail["method"], "oidc");
            (
                detail["reason"].as_str().unwrap().to_string(),
                r.get("subject"),
            )
        })
        .collect()
}

/// The callback was refused as `reason`, with `status`, a page that says
/// so, no session cookie and no new session.
async fn assert_refused(app: &TestApp, res: Response, status: u16, reason: &str) {
    let sessions_before = sessions(app).await;
    assert_eq!(res.status(), status, "status for {reason}");
    let cookies = set_cookies(&res);
    assert!(
        !cookies
            .iter()
            .any(|c| c.starts_with("__Host-confer_session=")),
        "no session cookie for {reason}: {cookies:?}"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("You have not been signed in"), "{body}");
    assert!(body.contains(reason), "the page names {reason}");
    assert!(!body.contains("eyJ"), "no token in the page for {reason}");
    assert_eq!(sessions(app).await, sessions_before);
    let last = failures(app).await.pop().expect("a sign_in_failed event");
    assert_eq!(last.0, reason);
    assert_eq!(last.1.as_deref(), Some(ID));
}

async fn signed_in_page(app: &TestApp, client: &Client) -> String {
    let res = client.get(app.url("/cases")).send().await.unwrap();
    assert_eq!(res.status(), 200, "signed in");
    res.text().await.unwrap()
}

#[tokio::test]
async fn oidc_sign_in_works_end_to_end() {
    let (stub, app) = setup().await;
    let client = app.client();

    // The sign-in page offers the provider.
    let page = client.get(app.url("/sign-in")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains(&format!("/sign-in/oidc/{ID}")), "{page}");

    // Start: a flow cookie bound to this browser, and off to the provider.
    let res = client
        .get(app.url(&format!("/sign-in/oidc/{ID}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookies = set_cookies(&res);
    let flow_cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-confer_oidc="))
        .expect("a flow cookie");
    for flag in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(flow_cookie.contains(flag), "{flag} in {flow_cookie}");
    }
    assert!(!flow_cookie.contains("Domain="));
    let authorize = Url::parse(&location(&res)).unwrap();
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}/authorize?", stub.issuer))
    );

    let res = client.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let sent = stub.last_authorize();
    assert_eq!(sent["response_type"], "code");
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(sent["code_challenge"].len() >= 43);
    assert!(sent["nonce"].len() >= 16);
    assert!(sent["state"].len() >= 32);
    let scopes: Vec<&str> = sent["scope"].split(' ').collect();
    assert_eq!(scopes.iter().filter(|s| **s == "openid").count(), 1);
    assert!(scopes.contains(&"email"));
    assert_eq!(
        sent["redirect_uri"],
        app.url(&format!("/sign-in/oidc/{ID}/callback"))
    );

    // The state is stored only as a hash.
    let db = app.db().await;
    let (hash,): (String,) = sqlx::query_as("SELECT state_hash FROM oidc_flows")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_ne!(hash, sent["state"]);

    // Back at Confer: a session, and the flow cookie cleared.
    let callback = location(&res);
    assert!(callback.starts_with(&app.url(&format!("/sign-in/oidc/{ID}/callback?"))));
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/cases");
    let cookies = set_cookies(&res);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-confer_session="))
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-confer_oidc=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );

    let page = signed_in_page(&app, &client).await;
    assert!(page.contains("Signed in as DC Lee Harris"), "{page}");

    let (method,): (String,) = sqlx::query_as("SELECT method FROM sessions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(method, "oidc");
    let detail: (String,) = sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'session.signed_in' ORDER BY seq DESC",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(detail.0.contains("\"oidc\""));
    let (used,): (Option<i64>,) = sqlx::query_as("SELECT used_at FROM oidc_flows")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(used.is_some(), "the flow is used up");
    assert!(failures(&app).await.is_empty());
}

#[tokio::test]
async fn unknown_provider_is_not_found() {
    let (_stub, app) = setup().await;
    let client = app.client();
    for path in [
        "/sign-in/oidc/nope",
        "/sign-in/oidc/nope/callback?code=a&state=b",
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn discovery_and_keys_are_cached_between_sign_ins() {
    let (stub, app) = setup().await;
    for _ in 0..2 {
        let client = app.client();
        let callback = to_callback(&app, &client).await;
        let res = client.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), 303);
    }
    assert_eq!(stub.discovery_fetches(), 1);
    assert_eq!(stub.jwks_fetches(), 1);
    // After an hour (on Confer's clock), fetched again. The stub's tokens
    // follow the real clock, so they must outlive the jump.
    stub.set(|b| b.lifetime_secs = 2 * 3600);
    app.clock.advance(61 * 60_000);
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(stub.discovery_fetches(), 2);
}

#[tokio::test]
async fn a_tampered_state_is_refused() {
    let (_stub, app) = setup().await;
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let mut url = Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                // One hex digit changed.
                let last = if v.ends_with('0') { '1' } else { '0' };
                format!("{}{last}", &v[..v.len() - 1])
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = client.get(url.as_str()).send().await.unwrap();
    assert_refused(&app, res, 400, "state_unknown").await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let (_stub, app) = setup().await;
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303, "the first callback signs in");
    // The same callback again (the code and state replayed), from a fresh
    // browser holding the same flow cookie, as a thief would.
    let state = Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let thief = app.client();
    let res = thief
        .get(&callback)
        .header("cookie", format!("__Host-confer_oidc={state}"))
        .send()
        .await
        .unwrap();
    assert_refused(&app, res, 400, "state_reused").await;
}

#[tokio::test]
async fn a_callback_without_the_flow_cookie_is_refused() {
    let (_stub, app) = setup().await;
    let callback = to_callback(&app, &app.client()).await;
    // Another browser (no flow cookie) follows the link: e.g. a login CSRF.
    let res = app.client().get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "flow_cookie_missing").await;
}

#[tokio::test]
async fn a_callback_with_another_flows_cookie_is_refused() {
    let (_stub, app) = setup().await;
    let victim = app.client();
    let attacker = app.client();
    let attackers_callback = to_callback(&app, &attacker).await;
    // The victim has a flow of their own in progress.
    let _victims_callback = to_callback(&app, &victim).await;
    let res = victim.get(&attackers_callback).send().await.unwrap();
    assert_refused(&app, res, 400, "flow_cookie_mismatch").await;
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.audience = Some("another-service".into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_wrong_audience").await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.issuer = Some("https://login.untrusted.example".into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_wrong_issuer").await;
}

#[tokio::test]
async fn an_id_token_expired_by_confers_clock_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.lifetime_secs = 300);
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    // Six minutes pass on Confer's clock: the flow (ten minutes) still
    // lives, the five-minute ID token does not.
    app.clock.advance(6 * 60_000);
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_expired").await;
}

#[tokio::test]
async fn an_already_expired_id_token_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.lifetime_secs = -60);
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_expired").await;
}

#[tokio::test]
async fn a_flow_expires_after_ten_minutes() {
    let (_stub, app) = setup().await;
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    app.clock.advance(10 * 60_000 + 1);
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "flow_expired").await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.nonce = Some("a-nonce-from-another-flow".into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_nonce_mismatch").await;
}

#[tokio::test]
async fn a_token_signed_by_an_untrusted_key_is_refused() {
    let (stub, app) = setup().await;
    // A second provider's key, under its own key id ...
    stub.set(|b| b.signer = Signer::UntrustedKey);
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_bad_signature").await;
    // ... or claiming the trusted key's id.
    stub.set(|b| b.signer = Signer::UntrustedKeyTrustedKid);
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "id_token_bad_signature").await;
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_when_a_token_names_it() {
    let (stub, app) = setup().await;
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    assert_eq!(stub.jwks_fetches(), 1);
    // The provider rotates to a new key after Confer cached its key set.
    stub.set(|b| {
        b.publish_rotated_key = true;
        b.signer = Signer::Rotated;
    });
    app.clock.advance(2 * 60_000);
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303, "signed in with the rotated key");
    assert_eq!(stub.jwks_fetches(), 2);
    signed_in_page(&app, &client).await;
}

#[tokio::test]
async fn the_provider_cancelling_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.authorize_error = Some("access_denied".into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "provider_denied").await;
}
