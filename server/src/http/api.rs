//! The JSON API: HTTP equivalents of the websocket operations (for clients
//! that hold no socket, and for tests), and case membership management.
//! Documented in `/api/openapi.json` (see `openapi.rs`).
//!
//! Errors are `{"error": {"code", "message"}}`. State-changing calls need
//! the session's CSRF token in the `X-CSRF-Token` header (from
//! `GET /api/session`), besides the same-origin rule every write obeys.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::AppError;
use super::session::{MaybeSignedIn, SignedIn};
use super::{AppState, case_team};
use crate::domain::access::CaseAccess;
use crate::domain::channels::check_message;
use crate::realtime::hub::{Outbound, Someone};
use crate::realtime::protocol::Restriction;
use crate::store::messages::{self, Post};
use crate::store::receipts::{self, Delivery};
use crate::store::{agencies, cases, channels, people};

/// An API error: the page error's status, as JSON; or invalid input with
/// its own code.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    Invalid {
        code: &'static str,
        message: String,
    },
    /// 429 with `Retry-After`: the person sends too quickly.
    SlowDown(crate::realtime::limits::SlowDown),
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError::App(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let app = match self {
            ApiError::Invalid { code, message } => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({ "error": { "code": code, "message": message } })),
                )
                    .into_response();
            }
            ApiError::SlowDown(s) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(http::header::RETRY_AFTER, s.retry_after_seconds.to_string())],
                    Json(json!({ "error": { "code": "rate_limited", "message": s.message() } })),
                )
                    .into_response();
            }
            ApiError::App(app) => app,
        };
        let (status, code, message) = match app {
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "No such case, channel, message or person, or you are not a member of its case."
                    .to_string(),
            ),
            AppError::SignInRequired => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Sign in first.".to_string(),
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            AppError::BadRequest(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            AppError::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", m),
            AppError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable; api request refused");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(
                        http::header::RETRY_AFTER,
                        super::error::UNAVAILABLE_RETRY_AFTER.to_string(),
                    )],
                    Json(json!({ "error": { "code": "unavailable", "message": "The database cannot be reached just now. Try again shortly: a message sent again with the same client_id is never stored twice." } })),
                )
                    .into_response();
            }
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "api request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on the server; try again.".to_string(),
                )
            }
        };
        (
            status,
            Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code,
        message: message.into(),
    }
}

/// The signed-in caller; 401 JSON rather than a redirect.
pub struct Caller(pub SignedIn);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let who = MaybeSignedIn::from_request_parts(parts, state).await?;
        let who = who.0.ok_or(ApiError::App(AppError::SignInRequired))?;
        let unsafe_method = !matches!(parts.method, http::Method::GET | http::Method::HEAD);
        if unsafe_method {
            let token = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            who.check_csrf(token)?;
        }
        Ok(Caller(who))
    }
}

/// A JSON body whose every mistake is a JSON error (422, or 413 when too large).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => {
                let status = match &rejection {
                    JsonRejection::BytesRejection(_) => StatusCode::PAYLOAD_TOO_LARGE,
                    JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let status = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    status
                };
                let body = json!({ "error": { "code": "invalid_body", "message": rejection.body_text() } });
                Err((status, Json(body)).into_response())
            }
        }
    }
}

/// Path parameters whose mistakes (a `seq` that is not a number) are JSON errors.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(invalid("invalid_path", rejection.body_text())),
        }
    }
}

/// Query parameters whose mistakes are JSON errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(invalid("invalid_query", rejection.body_text())),
        }
    }
}

pub async fn session(Caller(who): Caller) -> Json<Value> {
    Json(json!({
        "person": {
            "id": who.person.id,
            "name": who.person.name,
            "email": who.person.email,
            "role": who.person.role,
            "agency_id": who.person.agency_id,
            "agency": who.person.agency_name,
            "guest": who.person.guest,
        },
        "csrf_token": who.session.csrf_token,
    }))
}

pub async fn list_cases(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<Value>> {
    let list = cases::list_for(&state.db, &who.person.actor(), state.now()).await?;
    Ok(Json(json!({ "cases": list })))
}

async fn case_access(state: &AppState, who: &SignedIn, case_id: &str) -> ApiResult<CaseAccess> {
    Ok(cases::authorize(&state.db, &who.person.actor(), case_id, state.now()).await?)
}

pub async fn get_case(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath(case_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let now = state.now();
    let actor = who.person.actor();
    let access = case_access(&state, &who, &case_id).await?;
    let case = cases::get(&state.db, &access).await?;
    let team = cases::team(&state.db, &access, now).await?;
    let viewer = crate::domain::channels::Viewer {
        person_id: who.person.id.clone(),
        agency_id: who.person.agency_id.clone(),
    };
    let chans = channels::list(&state.db, &access, &viewer).await?;
    cases::record_read(&state.db, &actor, &access, now, "case overview (api)").await?;
    Ok(Json(
        json!({ "case": case, "team": team, "channels": chans }),
    ))
}

pub async fn list_agencies(
    State(state): State<AppState>,
    Caller(_who): Caller,
) -> ApiResult<Json<Value>> {
    let list = agencies::list(&state.db).await?;
    Ok(Json(
        json!({ "agencies": list.into_iter().map(|a| json!({"id": a.id, "name": a.name, "kind": a.kind})).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// An existing person, by email; or a new guest when `guest` is given.
    pub email: String,
    pub reason: String,
    /// Milliseconds since the epoch; access ends then.
    pub expires_at: Option<i64>,
    /// To invite someone not yet known: their name and agency (they become a guest).
    pub guest: Option<GuestDetails>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestDetails {
    pub name: String,
    pub agency_id: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath(case_id): ApiPath<String>,
    Body(body): Body<AddMember>,
) -> ApiResult<Response> {
    let added = case_team::add(&state, &who, &case_id, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "person_id": added.person_id, "case_id": case_id, "invited": added.invited })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveMember {
    reason: String,
}

pub async fn remove_member(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath((case_id, person_id)): ApiPath<(String, String)>,
    Body(body): Body<RemoveMember>,
) -> ApiResult<StatusCode> {
    case_team::remove(&state, &who, &case_id, &person_id, &body.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn channel_access(
    state: &AppState,
    who: &SignedIn,
    channel_id: &str,
) -> ApiResult<channels::ChannelAccess> {
    Ok(channels::authorize(&state.db, &who.person.actor(), channel_id, state.now()).await?)
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    after_seq: i64,
    limit: Option<i64>,
}

pub async fn list_messages(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath(channel_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<Value>> {
    let access = channel_access(&state, &who, &channel_id).await?;
    let limit = page.limit.unwrap_or(100).clamp(1, 500);
    if page.after_seq < 0 {
        return Err(invalid("after_seq", "after_seq must be 0 or more."));
    }
    let list = messages::after(&state.db, &access, page.after_seq, limit + 1).await?;
    let has_more = list.len() as i64 > limit;
    let list: Vec<_> = list.into_iter().take(limit as usize).collect();
    let now = state.now();
    for m in &list {
        if m.sight_for(access.viewer()) == crate::domain::channels::Sight::Full {
            state
                .deliveries
                .record(Delivery::of(m, access.viewer(), now))
                .await;
        }
    }
    let next = list.last().map_or(page.after_seq, |m| m.seq);
    Ok(Json(json!({
        "messages": list.iter().map(|m| m.view(access.viewer())).collect::<Vec<_>>(),
        "next_after_seq": next,
        "has_more": has_more,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    client_id: String,
    body: String,
    restricted_to: Option<Restriction>,
}

pub async fn post_message(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath(channel_id): ApiPath<String>,
    Body(body): Body<NewMessage>,
) -> ApiResult<Response> {
    state
        .limits
        .admit_send(&who.person.id, state.clock.now_ms())
        .map_err(ApiError::SlowDown)?;
    let restriction = body
        .restricted_to
        .as_ref()
        .map(|r| (r.audience(), r.reason.clone()));
    check_message(
        &body.client_id,
        &body.body,
        restriction.as_ref().map(|(a, r)| (a, r.as_str())),
    )
    .map_err(|e| invalid(e.code(), e.message()))?;
    let access = channel_access(&state, &who, &channel_id).await?;
    if let Some((audience, _)) = &restriction
        && !people::all_exist(&state.db, &audience.agencies, &audience.people).await?
    {
        return Err(invalid(
            "bad_restriction",
            "restricted_to names an unknown agency or person.",
        ));
    }
    let posted = state
        .writer
        .post(Post {
            channel_id: access.channel_id().to_string(),
            author_id: who.person.id.clone(),
            client_id: body.client_id.clone(),
            body: body.body,
            restricted: restriction,
        })
        .await?;
    let status = if posted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({
            "seq": posted.message.seq,
            "message_id": posted.message.id,
            "client_id": body.client_id,
            "duplicate": posted.duplicate,
            "message": posted.message.view(access.viewer()),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    body: String,
}

pub async fn edit_message(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath((channel_id, seq)): ApiPath<(String, i64)>,
    Body(body): Body<EditMessage>,
) -> ApiResult<Json<Value>> {
    check_message("edit", &body.body, None).map_err(|e| invalid(e.code(), e.message()))?;
    let access = channel_access(&state, &who, &channel_id).await?;
    let updated = messages::edit(&state.db, &access, seq, &body.body, state.now()).await?;
    let updated = std::sync::Arc::new(updated);
    state
        .hub
        .publish(&channel_id, Outbound::Updated(updated.clone()), None);
    Ok(Json(updated.view(access.viewer())))
}

pub async fn redact_message(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath((channel_id, seq)): ApiPath<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let access = channel_access(&state, &who, &channel_id).await?;
    let manager = who.person.role == crate::domain::vocabulary::Role::Manager;
    let updated =
        std::sync::Arc::new(messages::redact(&state.db, &access, seq, manager, state.now()).await?);
    state
        .hub
        .publish(&channel_id, Outbound::Updated(updated.clone()), None);
    Ok(Json(updated.view(access.viewer())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadUpTo {
    seq: i64,
}

pub async fn mark_read(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath(channel_id): ApiPath<String>,
    Body(body): Body<ReadUpTo>,
) -> ApiResult<StatusCode> {
    let access = channel_access(&state, &who, &channel_id).await?;
    if let Some(at) = receipts::mark_read(&state.db, &access, body.seq, state.now()).await? {
        state.hub.publish(
            &channel_id,
            Outbound::Receipt {
                channel: channel_id.clone(),
                who: Someone {
                    id: who.person.id.clone(),
                    name: who.person.name.clone(),
                    agency: who.person.agency_name.clone(),
                },
                seq: body.seq,
                at,
            },
            None,
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn readers(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiPath((channel_id, seq)): ApiPath<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let access = channel_access(&state, &who, &channel_id).await?;
    let list = receipts::readers(&state.db, &access, seq).await?;
    Ok(Json(json!({ "seq": seq, "read_by": list })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_a_503_unavailable_with_retry_after() {
        let e = ApiError::App(AppError::from(crate::store::StoreError::Database(
            sqlx::Error::PoolTimedOut,
        )));
        let res = e.into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "5");
    }
}
