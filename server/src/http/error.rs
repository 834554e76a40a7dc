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
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(what) => AppError::Conflict(what),
            StoreError::Invalid(why) => AppError::BadRequest(why),
            StoreError::Forbidden(why) => AppError::Forbidden(why),
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
