//! Signing in with an emailed one-time code, for guest practitioners and
//! people whose agency has no identity provider. Every answer is the same
//! whether or not the address is known, and mail goes out in the background
//! so that response timing does not tell either.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::pages::start_session;
use super::session::MaybeSignedIn;
use crate::domain::email_code::{self, Held, Limits};
use crate::mail::Outgoing;
use crate::store::email_codes::{self, AttemptKind};
use crate::store::people::{self, Person};
use crate::store::sessions::new_token;
use crate::web::templates::{EmailCodePage, EmailLinkPage, EmailStartPage};

fn limits(state: &AppState) -> Limits {
    let c = &state.settings.auth.email_codes;
    Limits {
        per_address: c.max_requests_per_address,
        per_client: c.max_requests_per_client,
        max_failures: c.max_failures,
    }
}

fn window_start(state: &AppState) -> i64 {
    state.now() - (state.settings.auth.email_codes.window_minutes as i64).saturating_mul(60_000)
}

fn held(state: &AppState, why: Held) -> AppError {
    let minutes = state.settings.auth.email_codes.window_minutes;
    match why {
        Held::TooManyRequests => AppError::TooManyRequests(format!(
            "Too many codes have been asked for. Wait {minutes} minutes, then try again."
        )),
        Held::LockedOut => AppError::TooManyRequests(format!(
            "Too many wrong codes. For your security, signing in with a code is paused for {minutes} minutes. Then ask for a new code."
        )),
    }
}

pub async fn start(State(state): State<AppState>, who: MaybeSignedIn) -> AppResult<Html<String>> {
    Ok(Html(
        EmailStartPage {
            chrome: who.chrome(&state),
            error: None,
        }
        .render()?,
    ))
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
}

/// Whether this person may sign in with a code: guests always; members only
/// when their agency has no identity provider configured.
fn may_use_codes(state: &AppState, person: &Person) -> bool {
    person.active
        && (person.guest
            || !state
                .settings
                .auth
                .oidc
                .iter()
                .any(|p| p.agency == person.agency_name || p.agency == person.agency_id))
}

pub async fn request(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    who: MaybeSignedIn,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let chrome = who.chrome(&state);
    let Ok(email) = people::normalise_email(&form.email) else {
        let page = EmailStartPage {
            chrome,
            error: Some(
                "Enter an email address in the correct format, like name@example.org".into(),
            ),
        };
        return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    };
    let client = peer.ip().to_string();
    let now = state.now();
    let (by_address, by_client) = email_codes::count_attempts(
        &state.db,
        AttemptKind::CodeRequested,
        &email,
        &client,
        window_start(&state),
    )
    .await?;
    email_code::may_request(limits(&state), by_address, by_client).map_err(|h| held(&state, h))?;
    email_codes::record_attempt(&state.db, AttemptKind::CodeRequested, &email, &client, now)
        .await?;

    let person = match people::find_by_email(&state.db, &email).await {
        Ok(p) => Some(p),
        Err(crate::store::StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(person) = person.filter(|p| may_use_codes(&state, p)) {
        let code = email_code::new_code();
        let link_token = new_token();
        let minutes = state.settings.auth.email_codes.lifetime_minutes;
        let expires = now + (minutes as i64).saturating_mul(60_000);
        email_codes::issue(
            &state.db,
            &person.id,
            &email,
            &code,
            &link_token,
            now,
            expires,
        )
        .await?;
        let link = format!(
            "{}/sign-in/email/link?token={link_token}",
            state.public_base(&uri, &headers)
        );
        state.mailer.send_later(
            Outgoing {
                to: email.clone(),
                subject: "Your Confer sign-in code".into(),
                body: format!(
                    "Your Confer sign-in code is {} {}\n\nOr open this link to sign in:\n{link}\n\n\
                     The code and the link work once, for {minutes} minutes.\n\n\
                     If you did not ask to sign in to Confer, you can ignore this email: nobody can sign in without the code.\n",
                    &code[..3],
                    &code[3..]
                ),
                calendar: None,
            },
            "sign-in code",
        );
    }
    let page = EmailCodePage {
        chrome,
        email,
        error: None,
        minutes: state.settings.auth.email_codes.lifetime_minutes,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    email: String,
    code: String,
}

const WRONG: &str =
    "The code is wrong or has expired. Check the latest email from Confer, or ask for a new code.";

pub async fn verify(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: MaybeSignedIn,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let email = people::normalise_email(&form.email).unwrap_or_default();
    let client = peer.ip().to_string();
    let now = state.now();
    let (by_address, by_client) = email_codes::count_attempts(
        &state.db,
        AttemptKind::CodeFailed,
        &email,
        &client,
        window_start(&state),
    )
    .await?;
    email_code::may_attempt(limits(&state), by_address, by_client).map_err(|h| held(&state, h))?;

    let redeemed = match email_code::normalise(&form.code) {
        Some(code) if !email.is_empty() => {
            email_codes::redeem_code(&state.db, &email, &code, now).await?
        }
        _ => None,
    };
    if let Some(person_id) = redeemed
        && let Some(person) = active_person(&state, &person_id).await?
    {
        return start_session(&state, &person, "email_code").await;
    }
    email_codes::record_attempt(&state.db, AttemptKind::CodeFailed, &email, &client, now).await?;
    let page = EmailCodePage {
        chrome: who.chrome(&state),
        email,
        error: Some(WRONG.into()),
        minutes: state.settings.auth.email_codes.lifetime_minutes,
    };
    Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
}

async fn active_person(state: &AppState, id: &str) -> AppResult<Option<Person>> {
    match people::get(&state.db, id).await {
        Ok(p) if p.active => Ok(Some(p)),
        Ok(_) | Err(crate::store::StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// The mailed link opens a page with a button rather than signing in at
/// once: mail scanners fetch links, and must not spend the code.
pub async fn link_page(
    State(state): State<AppState>,
    who: MaybeSignedIn,
    Query(q): Query<LinkQuery>,
) -> AppResult<Html<String>> {
    Ok(Html(
        EmailLinkPage {
            chrome: who.chrome(&state),
            token: q.token,
        }
        .render()?,
    ))
}

#[derive(Deserialize)]
pub struct LinkForm {
    token: String,
}

pub async fn link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LinkForm>,
) -> AppResult<Response> {
    let client = peer.ip().to_string();
    let now = state.now();
    let (_, by_client) = email_codes::count_attempts(
        &state.db,
        AttemptKind::CodeFailed,
        "",
        &client,
        window_start(&state),
    )
    .await?;
    email_code::may_attempt(limits(&state), 0, by_client).map_err(|h| held(&state, h))?;
    let valid_shape = form.token.len() == 64 && form.token.chars().all(|c| c.is_ascii_hexdigit());
    let redeemed = if valid_shape {
        email_codes::redeem_link(&state.db, &form.token, now).await?
    } else {
        None
    };
    if let Some(person_id) = redeemed
        && let Some(person) = active_person(&state, &person_id).await?
    {
        return start_session(&state, &person, "email_link").await;
    }
    email_codes::record_attempt(&state.db, AttemptKind::CodeFailed, "", &client, now).await?;
    Err(AppError::BadRequest(
        "This sign-in link is wrong, has been used or has expired. Ask for a new code.".into(),
    ))
}
