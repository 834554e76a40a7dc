//! A form posted about a case, and the case page it came from: the form
//! parsed, its CSRF token checked and the case authorised; then the store
//! called, and on success a redirect, on a refusal the page again with the
//! reason as a 400, nothing written ([`CaseForm::settle`]).

use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;

use super::AppState;
use super::error::AppResult;
use super::form::Fields;
use super::session::SignedIn;
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::store::{StoreError, cases};

/// A form posted about a case: parsed, its CSRF token checked, and the case
/// authorised (anyone outside it gets the not-found of an unknown id).
pub(super) struct CaseForm<'a> {
    pub f: Fields,
    pub actor: Actor,
    pub now: Millis,
    pub access: CaseAccess,
    state: &'a AppState,
    who: &'a SignedIn,
    case_id: &'a str,
}

pub(super) async fn case_form<'a>(
    state: &'a AppState,
    who: &'a SignedIn,
    case_id: &'a str,
    body: &[u8],
) -> AppResult<CaseForm<'a>> {
    let f = Fields::parse(body);
    who.check_csrf(&f.get("csrf_token"))?;
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, case_id, now).await?;
    Ok(CaseForm {
        f,
        actor,
        now,
        access,
        state,
        who,
        case_id,
    })
}

impl<'a> CaseForm<'a> {
    /// The end of the form: on success a redirect to `to`'s address; on a
    /// refusal (`StoreError::Invalid`, or a field that did not parse, see
    /// [`invalid`]) the page again with the reason ([`refused`]); any other
    /// error as it is.
    pub async fn settle<T, Fut>(
        &self,
        result: Result<T, StoreError>,
        to: impl FnOnce(T) -> String,
        again: impl FnOnce(CaseView<'a>, String) -> Fut,
    ) -> AppResult<Response>
    where
        Fut: Future<Output = AppResult<String>>,
    {
        match result {
            Ok(done) => Ok(Redirect::to(&to(done)).into_response()),
            Err(e) => self.refusal(e, again).await,
        }
    }

    /// The form did not get through: a refusal (`StoreError::Invalid`) is
    /// the page again with the reason ([`refused`]); any other error as it is.
    pub async fn refusal<Fut>(
        &self,
        e: StoreError,
        again: impl FnOnce(CaseView<'a>, String) -> Fut,
    ) -> AppResult<Response>
    where
        Fut: Future<Output = AppResult<String>>,
    {
        match e {
            StoreError::Invalid(m) => {
                refused(self.state, self.who, self.case_id, |v| again(v, m)).await
            }
            e => Err(e.into()),
        }
    }
}

/// A field that did not parse, as a refusal (see [`CaseForm::settle`]).
pub(super) fn invalid<T>(parsed: Result<T, String>) -> Result<T, StoreError> {
    parsed.map_err(StoreError::Invalid)
}

/// A case page being built: who asks, when, their access and the case.
pub(super) struct CaseView<'a> {
    pub state: &'a AppState,
    pub who: &'a SignedIn,
    pub actor: Actor,
    pub now: Millis,
    pub access: CaseAccess,
    pub case: cases::Case,
}

/// Authorise the case for a page (anyone outside it gets the not-found of
/// an unknown id) and load it.
pub(super) async fn case_view<'a>(
    state: &'a AppState,
    who: &'a SignedIn,
    case_id: &str,
) -> AppResult<CaseView<'a>> {
    let now = state.now();
    let actor = who.person.actor();
    let access = cases::authorize(&state.db, &actor, case_id, now).await?;
    let case = cases::get(&state.db, &access).await?;
    Ok(CaseView {
        state,
        who,
        actor,
        now,
        access,
        case,
    })
}

/// A case page: the case authorised, then the page built from it.
pub(super) async fn show<'a, Fut>(
    state: &'a AppState,
    who: &'a SignedIn,
    case_id: &str,
    build: impl FnOnce(CaseView<'a>) -> Fut,
) -> AppResult<Html<String>>
where
    Fut: Future<Output = AppResult<String>>,
{
    Ok(Html(build(case_view(state, who, case_id).await?).await?))
}

/// A refused form: the page again with the reason, as a 400; nothing written.
pub(super) async fn refused<'a, Fut>(
    state: &'a AppState,
    who: &'a SignedIn,
    case_id: &str,
    build: impl FnOnce(CaseView<'a>) -> Fut,
) -> AppResult<Response>
where
    Fut: Future<Output = AppResult<String>>,
{
    let html = show(state, who, case_id, build).await?;
    Ok((StatusCode::BAD_REQUEST, html).into_response())
}
