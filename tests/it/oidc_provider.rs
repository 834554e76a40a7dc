//! OpenID Connect sign-in against the real npm `oidc-provider` (an
//! OpenID-certified implementation), started from
//! `tests/oidc-provider/provider.mjs`. The tests drive the whole flow with
//! an HTTP client: Confer → the provider's own login and consent forms →
//! Confer's callback → a session.
//!
//! They need node and `npm ci` in `tests/oidc-provider`, so they run only
//! with `CONFER_TEST_OIDC_PROVIDER=1` (as `.ci/run` sets); without it each
//! returns at once, and `cargo test` stays self-contained.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use confer::config::{OidcProvider, Secret};
use reqwest::{Client, Url};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{assert_refused, failures, location, set_cookies, signed_in_page};
use crate::harness::TestApp;

const ENABLE: &str = "CONFER_TEST_OIDC_PROVIDER";
const ID: &str = "police";
const CLIENT_ID: &str = "confer-it";
const CLIENT_SECRET: &str = "confer-it-secret.0123456789";
const LEE: &str = "lee.harris@northshire-police.example";
const PRIYA: &str = "priya.shah@northshire-police.example";

fn enabled() -> bool {
    let on = std::env::var(ENABLE).is_ok_and(|v| v == "1");
    if !on {
        eprintln!(
            "skipped: set {ENABLE}=1 (and run `npm ci` in tests/oidc-provider) to test against the real provider"
        );
    }
    on
}

/// The provider process; killed when dropped.
struct RealProvider {
    issuer: String,
    _child: Child,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl RealProvider {
    async fn start(port: u16, client_id: &str, redirect_uri: &str) -> RealProvider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "run `npm ci` in {} first",
            dir.display()
        );
        let started = Instant::now();
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENT_ID", client_id)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node tests/oidc-provider/provider.mjs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the provider printed its issuer in time")
            .expect("read the provider's stdout")
            .expect("the provider printed its issuer");
        // Keep reading: a closed pipe would kill the provider at its next write.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        eprintln!(
            "oidc-provider started in {} ms at {first}",
            started.elapsed().as_millis()
        );
        RealProvider {
            issuer: first.trim().to_string(),
            _child: child,
        }
    }
}

/// Confer (with the provider in its settings) and the provider, which
/// knows Confer's callback. `registered_client_id` is the client the
/// provider registers; Confer always uses [`CLIENT_ID`].
async fn setup_with(registered_client_id: &str, secret: &str) -> (RealProvider, TestApp) {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = TestApp::builder()
        .oidc(OidcProvider {
            id: ID.into(),
            agency: "Northshire Police".into(),
            label: Some("Northshire Police".into()),
            issuer: issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(Secret::new(secret)),
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            email_claim: "email".into(),
            allowed_email_domains: vec!["northshire-police.example".into()],
            create_unknown_people: false,
        })
        .start()
        .await;
    let redirect = app.url(&format!("/sign-in/oidc/{ID}/callback"));
    let provider = RealProvider::start(port, registered_client_id, &redirect).await;
    assert_eq!(provider.issuer, issuer);
    (provider, app)
}

async fn setup() -> (RealProvider, TestApp) {
    setup_with(CLIENT_ID, CLIENT_SECRET).await
}

/// From Confer's start URL through the provider's login form (as `login`)
/// and consent form, to the URL the provider sends the browser back to.
async fn through_provider(app: &TestApp, client: &Client, login: &str) -> Result<String, String> {
    through(app, client, login, None).await
}

/// As [`through_provider`], but with Confer's authorization request sent
/// to `detour` (another provider) instead, as an attacker mixing up
/// providers would.
async fn through(
    app: &TestApp,
    client: &Client,
    login: &str,
    detour: Option<&str>,
) -> Result<String, String> {
    let mut url = Url::parse(&app.url(&format!("/sign-in/oidc/{ID}"))).expect("url");
    let mut res = client.get(url.clone()).send().await.expect("start");
    for _ in 0..20 {
        match res.status().as_u16() {
            302 | 303 => {
                let mut next = url.join(&location(&res)).expect("a usable Location");
                let from_confer = url.as_str().starts_with(&app.base);
                // Back from the provider to Confer: the callback.
                if next.as_str().starts_with(&app.base) && !from_confer {
                    return Ok(next.to_string());
                }
                if let (true, Some(other)) = (from_confer, detour) {
                    let other = Url::parse(other).expect("detour");
                    next.set_port(other.port()).expect("port");
                }
                url = next;
                res = client.get(url.clone()).send().await.expect("follow");
            }
            200 => {
                let body = res.text().await.expect("page");
                let action = attribute(&body, "action=\"").ok_or("a form")?;
                let prompt = attribute(&body, "name=\"prompt\" value=\"").ok_or("a prompt")?;
                let form: Vec<(&str, &str)> = match prompt.as_str() {
                    "login" => vec![("prompt", "login"), ("login", login), ("password", "any")],
                    "consent" => vec![("prompt", "consent")],
                    other => return Err(format!("unexpected prompt {other}")),
                };
                url = url.join(&action).expect("form action");
                res = client
                    .post(url.clone())
                    .form(&form)
                    .send()
                    .await
                    .expect("submit");
            }
            status => {
                let body = res.text().await.unwrap_or_default();
                return Err(format!(
                    "{status} at {url}: {}",
                    body.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    Err("too many steps".into())
}

fn attribute(html: &str, prefix: &str) -> Option<String> {
    let start = html.find(prefix)? + prefix.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn real_provider_sign_in_works_end_to_end() {
    if !enabled() {
        return;
    }
    let (_provider, app) = setup().await;
    for (login, name, case, not_case) in [
        (LEE, "DC Lee Harris", "Lily Ashworth", "Noah Okoye"),
        (PRIYA, "DS Priya Shah", "Noah Okoye", "Lily Ashworth"),
    ] {
        // A fresh cookie jar per person: a reused one signs in the last one.
        let client = app.client();
        let started = Instant::now();
        let callback = through_provider(&app, &client, login)
            .await
            .expect("the flow");
        let res = client.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), 303, "the callback signs in");
        assert_eq!(location(&res), "/cases");
        assert!(
            set_cookies(&res)
                .iter()
                .any(|c| c.starts_with("__Host-confer_session="))
        );
        let page = signed_in_page(&app, &client).await;
        eprintln!(
            "real-provider flow for {name}: {} ms",
            started.elapsed().as_millis()
        );
        assert!(page.contains(&format!("Signed in as {name}")), "{page}");
        assert!(page.contains(case), "{name} sees {case}");
        assert!(!page.contains(not_case), "{name} does not see {not_case}");
    }
    assert!(failures(&app).await.is_empty());
}

#[tokio::test]
async fn real_provider_tampered_state_is_refused() {
    if !enabled() {
        return;
    }
    let (_provider, app) = setup().await;
    let client = app.client();
    let callback = through_provider(&app, &client, LEE)
        .await
        .expect("the flow");
    let mut url = Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
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
async fn real_provider_code_reuse_is_refused() {
    if !enabled() {
        return;
    }
    let (_provider, app) = setup().await;
    let client = app.client();
    let callback = through_provider(&app, &client, LEE)
        .await
        .expect("the flow");
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    // The same code and state again, with the flow cookie they came with.
    let state = Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let res = app
        .client()
        .get(&callback)
        .header("cookie", format!("__Host-confer_oidc={state}"))
        .send()
        .await
        .unwrap();
    assert_refused(&app, res, 400, "state_reused").await;
}

#[tokio::test]
async fn real_provider_wrong_client_secret_is_refused() {
    if !enabled() {
        return;
    }
    let (_provider, app) = setup_with(CLIENT_ID, "not-the-registered-secret").await;
    let client = app.client();
    let callback = through_provider(&app, &client, LEE)
        .await
        .expect("the flow");
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 400, "token_exchange_failed").await;
}

#[tokio::test]
async fn real_provider_refuses_a_client_id_it_does_not_know() {
    if !enabled() {
        return;
    }
    // The provider knows the client as another id than Confer uses: it
    // refuses the authorization request itself and never sends the browser
    // back, so nobody is signed in.
    let (_provider, app) = setup_with("another-service", CLIENT_SECRET).await;
    let client = app.client();
    let outcome = through_provider(&app, &client, LEE).await;
    assert!(outcome.is_err(), "{outcome:?}");
    let res = client.get(app.url("/cases")).send().await.unwrap();
    assert_eq!(res.status(), 303, "no session");
}

#[tokio::test]
async fn real_provider_unknown_person_is_refused() {
    if !enabled() {
        return;
    }
    let (_provider, app) = setup().await;
    let client = app.client();
    let callback = through_provider(&app, &client, "nobody@northshire-police.example")
        .await
        .expect("the flow");
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "unknown_person").await;
}

#[tokio::test]
async fn real_provider_code_from_a_second_untrusted_provider_is_refused() {
    if !enabled() {
        return;
    }
    let (_trusted, app) = setup().await;
    // A second real provider, with the same client id and Confer's redirect
    // URI, that Confer does not trust. The browser is sent there instead; it
    // signs in and comes back to Confer with that provider's code.
    let redirect = app.url(&format!("/sign-in/oidc/{ID}/callback"));
    let untrusted = RealProvider::start(free_port(), CLIENT_ID, &redirect).await;
    let client = app.client();
    let callback = through(&app, &client, LEE, Some(&untrusted.issuer))
        .await
        .expect("the flow through the untrusted provider");
    let res = client.get(&callback).send().await.unwrap();
    // The trusted provider never issued that code.
    assert_refused(&app, res, 400, "token_exchange_failed").await;
}
