//! Server-rendered pages. They work without JavaScript.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::session::{self, MaybeSignedIn, SignedIn};
use crate::store::people::Person;
use crate::store::{cases, people, sessions};
use crate::web::assets;
use crate::web::templates::{CasesPage, SignInPage, StartPage};

pub async fn start(State(state): State<AppState>, who: MaybeSignedIn) -> AppResult<Html<String>> {
    Ok(Html(
        StartPage {
            chrome: who.chrome(&state),
        }
        .render()?,
    ))
}

pub async fn sign_in(State(state): State<AppState>, who: MaybeSignedIn) -> AppResult<Response> {
    if who.0.is_some() {
        return Ok(Redirect::to("/cases").into_response());
    }
    let demo_people = if state.dev_sign_in {
        people::list(&state.db, None)
            .await?
            .into_iter()
            .filter(|p| p.active)
            .collect()
    } else {
        Vec::new()
    };
    let providers = state
        .settings
        .auth
        .oidc
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                p.label.clone().unwrap_or_else(|| p.agency.clone()),
            )
        })
        .collect();
    let page = SignInPage {
        chrome: who.chrome(&state),
        providers,
        demo_people,
        dev_sign_in: state.dev_sign_in,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub struct DevSignInForm {
    person_id: String,
}

/// "Continue as a demo person": development mode on a loopback listener only.
pub async fn dev_sign_in(
    State(state): State<AppState>,
    Form(form): Form<DevSignInForm>,
) -> AppResult<Response> {
    if !state.dev_sign_in {
        return Err(AppError::NotFound);
    }
    let person = match people::get(&state.db, &form.person_id).await {
        Ok(p) if p.active => p,
        Ok(_) | Err(crate::store::StoreError::NotFound) => {
            return Err(AppError::BadRequest("There is no such demo person.".into()));
        }
        Err(e) => return Err(e.into()),
    };
    start_session(&state, &person, "development").await
}

/// Start a session for a person who has just proved who they are, set the
/// cookie and send them to their cases. Every sign-in method ends here.
pub(crate) async fn start_session(
    state: &AppState,
    person: &Person,
    method: &str,
) -> AppResult<Response> {
    let life = session_lifetime(state, person.guest);
    let token = sessions::start(
        &state.db,
        &person.id,
        &person.name,
        method,
        life,
        state.now(),
    )
    .await?;
    let mut res = Redirect::to("/cases").into_response();
    set_cookie(&mut res, &session::set_cookie(&token))?;
    Ok(res)
}

/// Record a failed sign-in (no session is created) for the audit log.
pub(crate) async fn record_sign_in_failure(
    state: &AppState,
    method: &str,
    reason: &str,
    subject: Option<&str>,
) -> AppResult<()> {
    crate::store::audit::record(
        &state.db,
        state.now(),
        crate::store::audit::NewEvent {
            actor_id: None,
            actor_label: "sign-in",
            action: "session.sign_in_failed",
            case_id: None,
            subject,
            detail: serde_json::json!({ "method": method, "reason": reason }),
        },
    )
    .await?;
    Ok(())
}

fn session_lifetime(state: &AppState, guest: bool) -> sessions::Lifetime {
    let auth = &state.settings.auth;
    let absolute_hours = if guest {
        auth.guest_session_hours.min(auth.session_absolute_hours)
    } else {
        auth.session_absolute_hours
    };
    sessions::Lifetime {
        idle_ms: (auth.session_idle_minutes as i64).saturating_mul(60_000),
        absolute_ms: (absolute_hours as i64).saturating_mul(3_600_000),
    }
}

pub(crate) fn set_cookie(res: &mut Response, value: &str) -> AppResult<()> {
    let value = HeaderValue::from_str(value).map_err(|e| AppError::Internal(e.to_string()))?;
    res.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    sessions::revoke(&state.db, &who.token, &who.person.name, state.now()).await?;
    state.revoked(super::Revoked::Session {
        session_hash: sessions::token_hash(&who.token),
    });
    let mut res = Redirect::to("/").into_response();
    set_cookie(&mut res, &session::clear_cookie())?;
    Ok(res)
}

pub async fn cases(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
) -> AppResult<Response> {
    // Signed in from a meeting invitation's link: go back to the meeting.
    if let Some(next) = super::meetings::next_path(&headers) {
        let mut res = Redirect::to(&next).into_response();
        set_cookie(&mut res, &super::meetings::clear_next_cookie())?;
        return Ok(res);
    }
    let actor = who.person.actor();
    let list = cases::list_for(&state.db, &actor, state.now()).await?;
    let page = CasesPage {
        chrome: who.chrome(&state),
        cases: list,
    };
    Ok(Html(page.render()?).into_response())
}

/// Embedded assets. Revalidated by ETag (the asset set's hash), so an
/// upgrade is picked up at once and an unchanged asset costs a 304.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((content_type, bytes)) = assets::get(&name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!("\"{}\"", assets::ASSET_VERSION);
    let cache = [
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, etag.clone()),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}
