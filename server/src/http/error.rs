//! One error type at the edge (STYLE.md habit 2). Internal details are
//! logged with the request's span (which carries the request id) and never
//! sent to the client.

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;

use crate::store::StoreError;
use crate::web::templates::{Chrome, ErrorPage};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Also used for every case the person may not see: the same answer
    /// whether or not the case exists.
    #[error("not found")]
    NotFound,
    #[error("sign-in required")]
    SignInRequired,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// The database cannot be reached (restarting, failing over, or every
    /// connection busy past the pool's wait): nothing was written.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Seconds a client is asked to wait when the database cannot be reached.
pub const UNAVAILABLE_RETRY_AFTER: u32 = 5;

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(what) => AppError::Conflict(what),
            StoreError::Invalid(why) => AppError::BadRequest(why),
            StoreError::Forbidden(why) => AppError::Forbidden(why),
            e if e.is_unavailable() => AppError::Unavailable(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("template: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            AppError::SignInRequired => return Redirect::to("/sign-in").into_response(),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "If you typed the web address, check it is correct. If you followed a link to a case, you may not be a member of it: ask the case's lead social worker.".to_string(),
            ),
            AppError::Forbidden(why) => (StatusCode::FORBIDDEN, "You cannot do that", why.clone()),
            AppError::BadRequest(why) => (StatusCode::BAD_REQUEST, "There is a problem", why.clone()),
            AppError::Conflict(what) => (StatusCode::CONFLICT, "That already exists", what.clone()),
            AppError::TooManyRequests(why) => (StatusCode::TOO_MANY_REQUESTS, "Please wait", why.clone()),
            AppError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable; request refused");
                let page = ErrorPage {
                    chrome: Chrome::default(),
                    status: 503,
                    title: "The service is briefly unavailable".to_string(),
                    message: "Confer cannot reach its database just now, so nothing you sent was saved. Try again in a minute.".to_string(),
                };
                let retry = [(http::header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.to_string())];
                return match page.render() {
                    Ok(html) => (StatusCode::SERVICE_UNAVAILABLE, retry, Html(html)).into_response(),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, retry, page.title).into_response(),
                };
            }
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                    "Try again later. The problem has been logged.".to_string(),
                )
            }
        };
        let page = ErrorPage {
            chrome: Chrome::default(),
            status: status.as_u16(),
            title: title.to_string(),
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title.to_string()).into_response(),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_a_503_with_retry_after_not_a_500() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::Database(sqlx::Error::PoolClosed),
            StoreError::Database(sqlx::Error::Io(refused)),
            StoreError::Unavailable("pool timed out".into()),
        ] {
            let res = AppError::from(e).into_response();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(res.headers()[http::header::RETRY_AFTER], "5");
        }
        let other = AppError::from(StoreError::Database(sqlx::Error::RowNotFound));
        assert_eq!(
            other.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
