//! Why an OpenID Connect sign-in was refused: a stable reason code for the
//! audit log, and a page that tells the person, in plain words, what
//! happened and what to do. The page never shows tokens, codes, claims or
//! error text from the provider.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use crate::config::{Mode, OidcProvider};
use crate::http::AppState;
use crate::http::error::AppError;
use crate::http::pages::record_sign_in_failure;
use crate::web::templates::{Chrome, when};

/// Every way an OpenID Connect sign-in can fail. The code of each is what the
/// audit event `session.sign_in_failed` records as its `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The provider could not be reached, or its discovery document or keys
    /// were unusable.
    ProviderUnavailable,
    /// The provider's configuration is unsafe or names an unknown agency.
    ProviderMisconfigured,
    /// The person cancelled or refused at the provider (`error=access_denied`).
    ProviderDenied,
    /// The provider answered the callback with another `error=`.
    ProviderError,
    /// The callback had no usable `state` or query.
    StateMissing,
    /// No flow has this `state`: made up or tampered with.
    StateUnknown,
    /// The flow was already used: a replayed callback.
    StateReused,
    /// The flow was older than ten minutes.
    FlowExpired,
    /// The browser did not bring the flow cookie.
    FlowCookieMissing,
    /// The browser's flow cookie belongs to another flow.
    FlowCookieMismatch,
    /// The flow was started for another provider.
    ProviderMismatch,
    /// The callback had no authorization code.
    CodeMissing,
    /// The token endpoint refused the code (reused, expired, wrong client).
    TokenExchangeFailed,
    /// The token response had no ID token.
    IdTokenMissing,
    IdTokenBadSignature,
    IdTokenWrongIssuer,
    IdTokenWrongAudience,
    IdTokenExpired,
    IdTokenNonceMismatch,
    /// Any other reason the ID token failed validation.
    IdTokenInvalid,
    /// Neither the ID token nor userinfo held a usable email address.
    EmailMissing,
    /// The provider says the email address is not verified.
    EmailNotVerified,
    EmailDomainNotAllowed,
    /// No person has this email address, and the provider does not create people.
    UnknownPerson,
    /// The person belongs to another agency than the provider's.
    WrongAgency,
    PersonInactive,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::ProviderUnavailable => "provider_unavailable",
            Reason::ProviderMisconfigured => "provider_misconfigured",
            Reason::ProviderDenied => "provider_denied",
            Reason::ProviderError => "provider_error",
            Reason::StateMissing => "state_missing",
            Reason::StateUnknown => "state_unknown",
            Reason::StateReused => "state_reused",
            Reason::FlowExpired => "flow_expired",
            Reason::FlowCookieMissing => "flow_cookie_missing",
            Reason::FlowCookieMismatch => "flow_cookie_mismatch",
            Reason::ProviderMismatch => "provider_mismatch",
            Reason::CodeMissing => "code_missing",
            Reason::TokenExchangeFailed => "token_exchange_failed",
            Reason::IdTokenMissing => "id_token_missing",
            Reason::IdTokenBadSignature => "id_token_bad_signature",
            Reason::IdTokenWrongIssuer => "id_token_wrong_issuer",
            Reason::IdTokenWrongAudience => "id_token_wrong_audience",
            Reason::IdTokenExpired => "id_token_expired",
            Reason::IdTokenNonceMismatch => "id_token_nonce_mismatch",
            Reason::IdTokenInvalid => "id_token_invalid",
            Reason::EmailMissing => "email_missing",
            Reason::EmailNotVerified => "email_not_verified",
            Reason::EmailDomainNotAllowed => "email_domain_not_allowed",
            Reason::UnknownPerson => "unknown_person",
            Reason::WrongAgency => "wrong_agency",
            Reason::PersonInactive => "person_inactive",
        }
    }

    /// 403 when the person was identified but may not come in; 502 when the
    /// provider could not be reached; 400 for everything else.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::ProviderUnavailable => StatusCode::BAD_GATEWAY,
            Reason::EmailMissing
            | Reason::EmailNotVerified
            | Reason::EmailDomainNotAllowed
            | Reason::UnknownPerson
            | Reason::WrongAgency
            | Reason::PersonInactive
            | Reason::ProviderMisconfigured => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Title, what happened, what to do.
    fn words(self, provider: &str, agency: &str) -> (String, String, String) {
        let again = "Go back to the sign-in page and start again.".to_string();
        let admin = format!("Ask {agency}'s Confer administrator for help.");
        match self {
            Reason::ProviderUnavailable => (
                format!("{provider} is not answering"),
                format!("Confer could not reach {provider} to check who you are."),
                "Wait a few minutes and try again. If it keeps happening, tell your Confer administrator.".into(),
            ),
            Reason::ProviderMisconfigured => (
                "Sign-in is not set up correctly".into(),
                format!("Confer's connection to {provider} is not set up correctly, so nobody can sign in with it at the moment."),
                format!("Tell your Confer administrator. {admin}"),
            ),
            Reason::ProviderDenied => (
                "Sign-in was cancelled".into(),
                format!("{provider} did not confirm who you are: the sign-in was cancelled or refused there."),
                format!("{again} If you did not cancel it, contact your organisation's IT service desk."),
            ),
            Reason::ProviderError => (
                format!("{provider} could not sign you in"),
                format!("{provider} reported a problem and did not confirm who you are."),
                format!("{again} If it keeps happening, contact your organisation's IT service desk."),
            ),
            Reason::StateMissing
            | Reason::StateUnknown
            | Reason::StateReused
            | Reason::FlowExpired
            | Reason::FlowCookieMissing
            | Reason::FlowCookieMismatch
            | Reason::ProviderMismatch
            | Reason::CodeMissing => (
                "Your sign-in could not be finished".into(),
                "The sign-in link was out of date, had already been used, or was started in another browser or tab. For your safety it only works once, in the browser that started it, for 10 minutes.".into(),
                format!("{again} Use one browser tab, and do not use the back button while signing in."),
            ),
            Reason::TokenExchangeFailed
            | Reason::IdTokenMissing
            | Reason::IdTokenBadSignature
            | Reason::IdTokenWrongIssuer
            | Reason::IdTokenWrongAudience
            | Reason::IdTokenExpired
            | Reason::IdTokenNonceMismatch
            | Reason::IdTokenInvalid => (
                format!("{provider} could not confirm who you are"),
                format!("The answer from {provider} did not pass Confer's security checks, so it was not trusted."),
                format!("{again} If it keeps happening, tell your Confer administrator."),
            ),
            Reason::EmailMissing => (
                "Your email address was not shared".into(),
                format!("{provider} did not tell Confer your email address, which Confer needs to find your account."),
                admin,
            ),
            Reason::EmailNotVerified => (
                "Your email address is not verified".into(),
                format!("{provider} says your email address has not been verified."),
                format!("Verify your email address with your organisation, then try again. {admin}"),
            ),
            Reason::EmailDomainNotAllowed => (
                "Your email address cannot be used here".into(),
                format!("Confer only accepts {agency} email addresses through {provider}, and yours is not one of them."),
                format!("Sign in with your {agency} account. {admin}"),
            ),
            Reason::UnknownPerson => (
                "You do not have a Confer account yet".into(),
                format!("{provider} confirmed who you are, but nobody at {agency} has added you to Confer."),
                format!("{admin} If you were invited to a case or a meeting as a guest, use the link in your invitation instead."),
            ),
            Reason::WrongAgency => (
                "Your Confer account belongs to another agency".into(),
                format!("Your Confer account is not a {agency} account, so you cannot sign in with {provider}."),
                "Go back to the sign-in page and choose your own agency, or ask your Confer administrator.".into(),
            ),
            Reason::PersonInactive => (
                "Your Confer account is switched off".into(),
                "Your Confer account has been switched off, so you cannot sign in.".into(),
                admin,
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "sign_in_failed.html")]
struct SignInFailedPage {
    chrome: Chrome,
    title: String,
    what_happened: String,
    what_to_do: String,
    when: String,
    reason: &'static str,
}

/// Audit the refusal and render its page. No session cookie is set.
pub async fn respond(state: &AppState, provider: &OidcProvider, reason: Reason) -> Response {
    tracing::info!(provider = %provider.id, reason = reason.code(), "OpenID Connect sign-in refused");
    if let Err(e) = record_sign_in_failure(state, "oidc", reason.code(), Some(&provider.id)).await {
        return e.into_response();
    }
    let label = provider.label.as_deref().unwrap_or(&provider.agency);
    let (title, what_happened, what_to_do) = reason.words(label, &provider.agency);
    let page = SignInFailedPage {
        chrome: Chrome {
            development: state.settings.server.mode == Mode::Development,
            ..Chrome::default()
        },
        title,
        what_happened,
        what_to_do,
        when: when(state.now()),
        reason: reason.code(),
    };
    match page.render() {
        Ok(html) => (reason.status(), Html(html)).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}
