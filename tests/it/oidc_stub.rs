//! A minimal OpenID provider inside the test crate, so `cargo test` covers
//! the whole sign-in flow without node: an axum server on loopback (plain
//! http, as Confer allows for loopback issuers) with a discovery document,
//! a JWKS, an `/authorize` that answers at once with a code, a `/token` that
//! checks the client secret and the PKCE verifier and returns an RS256 ID
//! token, and `/userinfo`.
//!
//! Each test sets [`Behaviour`] to make the provider misbehave in one way:
//! a wrong audience or issuer, an expired token, another nonce, a key
//! Confer does not trust. The keys are test fixtures in `fixtures/`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use confer::config::{OidcProvider, Secret};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthorizationCode, EndUserEmail, EndUserName, IdToken,
    IdTokenClaims, IssuerUrl, JsonWebKeyId, LocalizedClaim, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const CLIENT_ID: &str = "confer-test";
pub const CLIENT_SECRET: &str = "stub-secret-0123456789";
pub const TRUSTED_KID: &str = "trusted-1";
pub const ROTATED_KID: &str = "rotated-2";
const TRUSTED_PEM: &str = include_str!("fixtures/oidc_trusted_key.pem");
const UNTRUSTED_PEM: &str = include_str!("fixtures/oidc_untrusted_key.pem");

/// Which key signs the ID token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The key the JWKS publishes.
    Trusted,
    /// A second key the JWKS does not publish, under its own key id.
    UntrustedKey,
    /// A second key the JWKS does not publish, claiming the trusted key's id.
    UntrustedKeyTrustedKid,
    /// The second key under [`ROTATED_KID`]: trusted only once
    /// `Behaviour::publish_rotated_key` is set.
    Rotated,
}

/// How the stub answers. Defaults: a well-behaved provider.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// The `email` claim in the ID token (`None`: left out).
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// The `email` claim from `/userinfo`.
    pub userinfo_email: Option<String>,
    /// An extra claim (name, value) in the ID token, e.g. `upn`.
    pub extra_claim: Option<(String, String)>,
    pub name: Option<String>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub nonce: Option<String>,
    pub signer: Signer,
    /// Seconds from issue to expiry (negative: already expired).
    pub lifetime_secs: i64,
    pub publish_rotated_key: bool,
    /// `/authorize` answers `error=<this>` instead of a code.
    pub authorize_error: Option<String>,
    /// The client authenticates with `client_secret_post` only (as some
    /// providers require), not HTTP Basic.
    pub client_secret_post: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            email: None,
            email_verified: None,
            userinfo_email: None,
            extra_claim: None,
            name: None,
            audience: None,
            issuer: None,
            nonce: None,
            signer: Signer::Trusted,
            lifetime_secs: 300,
            publish_rotated_key: false,
            authorize_error: None,
            client_secret_post: false,
        }
    }
}

/// Additional claims, e.g. Entra ID's `upn`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct Extra {
    #[serde(flatten)]
    claims: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for Extra {}

struct Grant {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    used: bool,
}

struct Shared {
    issuer: String,
    behaviour: Mutex<Behaviour>,
    grants: Mutex<HashMap<String, Grant>>,
    /// The query of the last `/authorize` request.
    last_authorize: Mutex<HashMap<String, String>>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

/// A running stub provider; stops when dropped.
pub struct StubProvider {
    pub issuer: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StubProvider {
    pub async fn start() -> StubProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stub provider");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            behaviour: Mutex::new(Behaviour::default()),
            grants: Mutex::new(HashMap::new()),
            last_authorize: Mutex::new(HashMap::new()),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StubProvider {
            issuer,
            shared,
            task,
        }
    }

    /// Change how the stub answers from now on.
    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.behaviour.lock().expect("behaviour"));
    }

    /// A provider block for Confer pointing at this stub, for `agency`.
    pub fn config(&self, id: &str, agency: &str) -> OidcProvider {
        OidcProvider {
            id: id.into(),
            agency: agency.into(),
            label: Some(format!("{agency} (test provider)")),
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            email_claim: "email".into(),
            allowed_email_domains: Vec::new(),
            create_unknown_people: false,
        }
    }

    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.shared.last_authorize.lock().expect("query").clone()
    }
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }
}

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into())))
        .expect("a test RSA key")
}

async fn discovery(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let auth_method = if s.behaviour.lock().expect("behaviour").client_secret_post {
        "client_secret_post"
    } else {
        "client_secret_basic"
    };
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": [auth_method],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "email", "email_verified", "name"]
    }))
}

async fn jwks(State(s): State<Arc<Shared>>) -> Json<CoreJsonWebKeySet> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let mut keys = vec![key(TRUSTED_PEM, TRUSTED_KID).as_verification_key()];
    if s.behaviour.lock().expect("behaviour").publish_rotated_key {
        keys.push(key(UNTRUSTED_PEM, ROTATED_KID).as_verification_key());
    }
    Json(CoreJsonWebKeySet::new(keys))
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    *s.last_authorize.lock().expect("query") = q.clone();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    if let Some(error) = s
        .behaviour
        .lock()
        .expect("behaviour")
        .authorize_error
        .clone()
    {
        return Redirect::to(&format!("{redirect_uri}{sep}error={error}&state={state}"))
            .into_response();
    }
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    s.grants.lock().expect("grants").insert(
        code.clone(),
        Grant {
            nonce: q.get("nonce").cloned(),
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: redirect_uri.clone(),
            used: false,
        },
    );
    Redirect::to(&format!("{redirect_uri}{sep}code={code}&state={state}")).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64_std(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
    );
    let authenticated = if s.behaviour.lock().expect("behaviour").client_secret_post {
        headers.get(header::AUTHORIZATION).is_none()
            && f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
    } else {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(&expected)
    };
    if !authenticated {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let code = f.get("code").cloned().unwrap_or_default();
    let (nonce, auth_code) = {
        let mut grants = s.grants.lock().expect("grants");
        let Some(grant) = grants.get_mut(&code) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        };
        let verifier = PkceCodeVerifier::new(f.get("code_verifier").cloned().unwrap_or_default());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        if grant.used
            || f.get("redirect_uri") != Some(&grant.redirect_uri)
            || challenge.as_str() != grant.challenge
        {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        grant.used = true;
        (grant.nonce.clone(), AuthorizationCode::new(code.clone()))
    };
    let b = s.behaviour.lock().expect("behaviour").clone();
    let now = chrono::Utc::now();
    let subject = b
        .email
        .clone()
        .or(b.userinfo_email.clone())
        .unwrap_or_else(|| "subject-1".into());
    let mut standard = StandardClaims::new(SubjectIdentifier::new(subject))
        .set_email(b.email.clone().map(EndUserEmail::new))
        .set_email_verified(b.email_verified);
    if let Some(name) = &b.name {
        let mut n = LocalizedClaim::new();
        n.insert(None, EndUserName::new(name.clone()));
        standard = standard.set_name(Some(n));
    }
    let mut extra = Extra::default();
    if let Some((k, v)) = &b.extra_claim {
        extra.claims.insert(k.clone(), json!(v));
    }
    let claims = IdTokenClaims::<Extra, CoreGenderClaim>::new(
        IssuerUrl::new(b.issuer.clone().unwrap_or_else(|| s.issuer.clone())).expect("issuer"),
        vec![Audience::new(
            b.audience.clone().unwrap_or_else(|| CLIENT_ID.into()),
        )],
        now + chrono::Duration::seconds(b.lifetime_secs),
        now,
        standard,
        extra,
    )
    .set_nonce(b.nonce.clone().or(nonce).map(Nonce::new));
    let signing_key = match b.signer {
        Signer::Trusted => key(TRUSTED_PEM, TRUSTED_KID),
        Signer::UntrustedKey => key(UNTRUSTED_PEM, "untrusted-9"),
        Signer::UntrustedKeyTrustedKid => key(UNTRUSTED_PEM, TRUSTED_KID),
        Signer::Rotated => key(UNTRUSTED_PEM, ROTATED_KID),
    };
    let access_token = AccessToken::new(format!("at-{}", uuid::Uuid::new_v4().simple()));
    let id_token = IdToken::<
        Extra,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        &signing_key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access_token),
        Some(&auth_code),
    )
    .expect("sign the ID token");
    Json(json!({
        "access_token": access_token.secret(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer at-"));
    if !bearer {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let b = s.behaviour.lock().expect("behaviour").clone();
    let subject = b
        .email
        .clone()
        .or(b.userinfo_email.clone())
        .unwrap_or_else(|| "subject-1".into());
    let mut body = json!({ "sub": subject });
    if let Some(email) = b.userinfo_email {
        body["email"] = json!(email);
    }
    Json(body).into_response()
}

/// Standard base64 with padding (HTTP Basic credentials).
fn base64_std(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
