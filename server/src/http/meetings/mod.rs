//! Meeting pages: convening from a case, the meeting's page (the invitation
//! for someone invited, the whole record for the case team), answers,
//! changes and cancellation, and the meeting's own discussion. Recording
//! (attendance, outcome, actions, minutes) is in `meeting_record`.
//!
//! `convene` builds the convening form and stores a meeting, `render` builds
//! the meeting's page, `answers` takes answers, changes, cancellation and
//! posts to the meeting's discussion.

mod answers;
mod convene;
mod render;

pub use answers::{cancel, post_message, reschedule, respond};
pub use convene::{convene, new_form};
pub(super) use render::render;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;

use super::AppState;
use super::error::AppResult;
use super::form::{Fields, london_instant};
use super::session::{MaybeSignedIn, SignedIn};
use crate::calendar;
use crate::domain::clock::Millis;
use crate::store::StoreError;
use crate::store::deadlines::parse_day;
use crate::store::meetings::{self, MeetingAccess};
use crate::web::meeting_pages::Choice;

fn london_date_text(ms: Millis) -> (String, String) {
    let local = calendar::london_local(ms);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M").to_string(),
    )
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    chosen: T,
    value: impl Fn(T) -> String,
    label: impl Fn(T) -> String,
) -> Vec<Choice> {
    all.iter()
        .map(|k| Choice {
            value: value(*k),
            label: label(*k),
            checked: *k == chosen,
            hint: String::new(),
        })
        .collect()
}

/// Remember where a signed-out person was going, so that signing in brings
/// them back to the meeting their invitation links to.
const NEXT_COOKIE: &str = "__Host-confer_next";

pub fn next_cookie(path: &str) -> String {
    format!("{NEXT_COOKIE}={path}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=1800")
}

/// The remembered meeting path, if any and well-formed.
pub fn next_path(headers: &http::HeaderMap) -> Option<String> {
    super::session::cookie(headers, NEXT_COOKIE).filter(|v| {
        v.strip_prefix("/meetings/").is_some_and(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    })
}

pub fn clear_next_cookie() -> String {
    format!("{NEXT_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The meeting's page.
pub async fn page(
    State(state): State<AppState>,
    who: MaybeSignedIn,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(who) = who.0 else {
        let mut res = Redirect::to("/sign-in").into_response();
        if id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            super::pages::set_cookie(&mut res, &next_cookie(&format!("/meetings/{id}")))?;
        }
        return Ok(res);
    };
    Ok(Html(render(&state, &who, &id, None).await?).into_response())
}

pub(super) async fn access_for(
    state: &AppState,
    who: &SignedIn,
    id: &str,
) -> AppResult<MeetingAccess> {
    Ok(meetings::authorize(
        &state.db,
        &who.person.actor(),
        who.person.guest,
        id,
        state.now(),
    )
    .await?)
}

/// Show a refused change on the meeting's page.
pub(super) async fn refuse(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    message: String,
) -> AppResult<Response> {
    let html = render(state, who, id, Some(message)).await?;
    Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
}

/// Map a store refusal to the page (invalid input) or an error page.
pub(super) async fn outcome_of(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    result: Result<(), StoreError>,
    anchor: &str,
) -> AppResult<Response> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/meetings/{id}#{anchor}")).into_response()),
        Err(StoreError::Invalid(m)) => refuse(state, who, id, m).await,
        Err(StoreError::Conflict(m)) => {
            refuse(
                state,
                who,
                id,
                format!("{}{}.", m[..1].to_uppercase(), &m[1..]),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Parse a `YYYY-MM-DD` date from a form.
pub(super) fn form_day(text: &str) -> Result<time::Date, String> {
    parse_day(text).ok_or_else(|| "Enter the date like 2026-12-01.".to_string())
}
