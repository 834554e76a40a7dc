//! Sign-in through an agency's OpenID Connect provider: the authorization
//! code flow with PKCE (S256), `state` and `nonce` (OpenID Connect Core 1.0
//! §3.1; RFC 9700, the OAuth 2.0 security best current practice).
//!
//! `GET /sign-in/oidc/{id}` remembers a new flow in the database (its state
//! only as a hash), binds it to this browser with a short-lived
//! `__Host-confer_oidc` cookie holding the state, and sends the person to the
//! provider. `GET /sign-in/oidc/{id}/callback` takes the flow (once, however
//! many callbacks race for it), checks the cookie, exchanges the code with
//! the PKCE verifier, validates the ID token (signature against the
//! provider's published keys, issuer, audience, expiry by Confer's clock,
//! nonce), reads the email address from the configured claim (or userinfo),
//! and signs in the person with that address if they belong to the
//! provider's agency. Every refusal is audited and explained on a page;
//! none sets a session cookie.
//!
//! Logs name providers, reasons and person ids: never tokens, codes or email
//! addresses.

mod admission;
mod discovery;
mod id_token;
mod refusal;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderMap, Uri};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreResponseType, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AuthType, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardErrorResponse,
    StandardTokenResponse, UserInfoClaims, UserInfoError,
};
use serde::Deserialize;

use self::discovery::{Metadata, Providers, error_chain};
use self::id_token::{Claims, ExtraClaims, Identity, TokenFields, names_unknown_key, verify};
use self::refusal::Reason;
use super::AppState;
use super::error::AppError;
use super::pages::{set_cookie, start_session};
use crate::config::OidcProvider;
use crate::store::oidc_flows::{self, NewFlow, Taken};
use crate::store::{StoreError, sessions};

/// Binds a flow to the browser that started it. `__Host-`: Secure, path `/`,
/// no Domain. Lax, because the callback is a top-level navigation from the
/// provider's site.
pub const FLOW_COOKIE: &str = "__Host-confer_oidc";

/// A client built from discovery: authorization endpoint set, token and
/// userinfo endpoints as the provider published them.
type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<TokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Clone)]
struct Oidc {
    app: AppState,
    providers: Arc<Providers>,
}

impl Oidc {
    fn provider(&self, id: &str) -> Option<&OidcProvider> {
        self.app.settings.auth.oidc.iter().find(|p| p.id == id)
    }
}

/// The two sign-in routes, with the provider cache they share.
pub fn routes(app: AppState) -> Router<AppState> {
    let oidc = Oidc {
        app,
        providers: Arc::new(Providers::new()),
    };
    Router::new()
        .route("/sign-in/oidc/{id}", get(start))
        .route("/sign-in/oidc/{id}/callback", get(callback))
        .with_state(oidc)
}

/// Why a step stopped: a refusal to explain and audit, or a fault of ours.
enum Stop {
    Refused(Reason),
    Fault(AppError),
}

impl From<Reason> for Stop {
    fn from(r: Reason) -> Self {
        Stop::Refused(r)
    }
}
impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Fault(e.into())
    }
}
impl From<AppError> for Stop {
    fn from(e: AppError) -> Self {
        Stop::Fault(e)
    }
}

async fn stop_response(oidc: &Oidc, provider: &OidcProvider, stop: Stop) -> Response {
    match stop {
        Stop::Refused(reason) => refusal::respond(&oidc.app, provider, reason).await,
        Stop::Fault(e) => e.into_response(),
    }
}

async fn start(
    State(oidc): State<Oidc>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(provider) = oidc.provider(&id) else {
        return AppError::NotFound.into_response();
    };
    match begin(&oidc, provider, &uri, &headers).await {
        Ok(res) => res,
        Err(stop) => stop_response(&oidc, provider, stop).await,
    }
}

async fn begin(
    oidc: &Oidc,
    provider: &OidcProvider,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, Stop> {
    let now = oidc.app.now();
    let metadata = oidc.providers.metadata(provider, now).await?;
    let client = client(
        &metadata,
        provider,
        redirect_uri(&oidc.app, uri, headers, provider)?,
    );
    let state = sessions::new_token();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state),
            Nonce::new_random,
        )
        // The client adds `openid` itself.
        .add_scopes(
            provider
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .map(|s| Scope::new(s.clone())),
        )
        .set_pkce_challenge(challenge)
        .url();
    oidc_flows::start(
        &oidc.app.db,
        now,
        NewFlow {
            state: state.secret(),
            provider_id: &provider.id,
            pkce_verifier: verifier.secret(),
            nonce: nonce.secret(),
        },
    )
    .await?;
    let mut res = Redirect::to(url.as_str()).into_response();
    set_cookie(
        &mut res,
        &format!(
            "{FLOW_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
            state.secret(),
            oidc_flows::LIFETIME_MS / 1000
        ),
    )?;
    Ok(res)
}

/// What the provider sends back (RFC 6749 §4.1.2; `iss` per RFC 9207 is
/// not needed: the flow already names its provider).
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(oidc): State<Oidc>,
    Path(id): Path<String>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(provider) = oidc.provider(&id) else {
        return AppError::NotFound.into_response();
    };
    let outcome = match query {
        Ok(Query(q)) => finish(&oidc, provider, q, &uri, &headers).await,
        Err(_) => Err(Stop::Refused(Reason::StateMissing)),
    };
    let mut res = match outcome {
        Ok(res) => res,
        Err(stop) => stop_response(&oidc, provider, stop).await,
    };
    // The flow is over either way: its cookie has done its job.
    if let Err(e) = set_cookie(
        &mut res,
        &format!("{FLOW_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    ) {
        return e.into_response();
    }
    res
}

async fn finish(
    oidc: &Oidc,
    provider: &OidcProvider,
    query: CallbackQuery,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, Stop> {
    let db = &oidc.app.db;
    let now = oidc.app.now();
    let state = query.state.filter(|s| !s.is_empty() && s.len() <= 256);
    // Taking the flow uses it up, whatever follows: a callback works once.
    let taken = match &state {
        Some(s) => Some(oidc_flows::take(db, s, now).await?),
        None => None,
    };
    if let Some(error) = query.error {
        return Err(if error == "access_denied" {
            Reason::ProviderDenied
        } else {
            Reason::ProviderError
        }
        .into());
    }
    let (Some(state), Some(taken)) = (state, taken) else {
        return Err(Reason::StateMissing.into());
    };
    let flow = match taken {
        Taken::Fresh(flow) => flow,
        Taken::Expired => return Err(Reason::FlowExpired.into()),
        Taken::AlreadyUsed => return Err(Reason::StateReused.into()),
        Taken::Unknown => return Err(Reason::StateUnknown.into()),
    };
    let cookie = flow_cookie(headers).ok_or(Reason::FlowCookieMissing)?;
    if !same_secret(&cookie, &state) {
        return Err(Reason::FlowCookieMismatch.into());
    }
    if flow.provider_id != provider.id {
        return Err(Reason::ProviderMismatch.into());
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .ok_or(Reason::CodeMissing)?;

    let mut metadata = oidc.providers.metadata(provider, now).await?;
    let client = client(
        &metadata,
        provider,
        redirect_uri(&oidc.app, uri, headers, provider)?,
    );
    let http = oidc.providers.http()?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| {
            tracing::error!(provider = %provider.id, "the provider publishes no token endpoint");
            Reason::ProviderMisconfigured
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier))
        .request_async(http)
        .await
        .map_err(|e| {
            let reason = match &e {
                RequestTokenError::Request(_) => Reason::ProviderUnavailable,
                _ => Reason::TokenExchangeFailed,
            };
            // The provider's error code (e.g. invalid_grant) and our own
            // error text: neither carries the code or a token.
            let detail = match &e {
                RequestTokenError::ServerResponse(r) => r.error().to_string(),
                // The parser's message could quote the response: name the
                // field only.
                RequestTokenError::Parse(p, _) => format!("unparseable response at {}", p.path()),
                other => error_chain(other),
            };
            tracing::warn!(provider = %provider.id, error = %detail, "the provider refused the authorization code");
            reason
        })?;
    let id_token = tokens
        .extra_fields()
        .id_token()
        .ok_or(Reason::IdTokenMissing)?;
    let nonce = Nonce::new(flow.nonce);
    let claims = match verify(id_token, &metadata, provider, &nonce, now) {
        Err(Reason::IdTokenBadSignature) if names_unknown_key(id_token, &metadata, provider) => {
            match oidc
                .providers
                .refreshed_after_unknown_key(provider, now)
                .await?
            {
                Some(fresh) => {
                    metadata = fresh;
                    verify(id_token, &metadata, provider, &nonce, now)?
                }
                None => return Err(Reason::IdTokenBadSignature.into()),
            }
        }
        other => other?,
    };

    let mut identity = Identity::from_id_token(&claims, &provider.email_claim);
    if identity.email.is_none() {
        identity = userinfo(&client, http, tokens.access_token(), &claims, provider).await?;
    }
    let person = admission::admit(&oidc.app, provider, identity, now).await?;
    tracing::info!(provider = %provider.id, person_id = %person.id, "OpenID Connect sign-in");
    Ok(start_session(&oidc.app, &person, "oidc").await?)
}

fn client(metadata: &Metadata, provider: &OidcProvider, redirect: RedirectUrl) -> OidcClient {
    OidcClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        provider
            .client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose().to_string())),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(client_auth(metadata))
}

/// How to present the client secret at the token endpoint: HTTP Basic (the
/// default, RFC 6749 §2.3.1) unless the provider only accepts it in the
/// request body.
fn client_auth(metadata: &Metadata) -> AuthType {
    let post_only = metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
        });
    if post_only {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    }
}

/// `<public base>/sign-in/oidc/<id>/callback`: the URI registered with the
/// provider. The same in the request and in the code exchange.
fn redirect_uri(
    app: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    provider: &OidcProvider,
) -> Result<RedirectUrl, Reason> {
    let base = app.public_base(uri, headers);
    RedirectUrl::new(format!("{base}/sign-in/oidc/{}/callback", provider.id))
        .map_err(|_| Reason::ProviderMisconfigured)
}

/// The flow cookie's value, if the browser sent one.
fn flow_cookie(headers: &HeaderMap) -> Option<String> {
    super::session::cookie(headers, FLOW_COOKIE)
}

/// Compare without an early exit, so timing does not reveal how much matched.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The email claim from the userinfo endpoint, for providers that keep it
/// out of the ID token. The answer must be about the same subject.
async fn userinfo(
    client: &OidcClient,
    http: &openidconnect::reqwest::Client,
    access_token: &openidconnect::AccessToken,
    claims: &Claims,
    provider: &OidcProvider,
) -> Result<Identity, Stop> {
    let Ok(request) = client.user_info(access_token.clone(), Some(claims.subject().clone())) else {
        return Err(Reason::EmailMissing.into());
    };
    let info: Result<UserInfoClaims<ExtraClaims, CoreGenderClaim>, _> =
        request.request_async(http).await;
    match info {
        Ok(info) => Ok(Identity::from_userinfo(&info, &provider.email_claim)),
        Err(UserInfoError::Request(e)) => {
            tracing::warn!(provider = %provider.id, error = %error_chain(&e), "the userinfo request failed");
            Err(Reason::ProviderUnavailable.into())
        }
        Err(e) => {
            tracing::warn!(provider = %provider.id, error = %e, "the userinfo response was refused");
            Err(Reason::EmailMissing.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
