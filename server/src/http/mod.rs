//! Transport: HTTP routes and middleware. Handlers parse, authorise, call
//! the domain and store, and render; they never write SQL.

pub mod error;
pub mod health;
pub mod oidc;
pub mod pages;
pub mod security;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use http::HeaderName;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::domain::clock::{Clock, Millis};
use crate::store::Db;

/// Shared state of one running server.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// Cancelled when the server starts shutting down; long-lived tasks
    /// (websockets, background jobs) watch it to close cleanly.
    pub shutdown: CancellationToken,
    /// The development sign-in: development mode and a loopback listener only.
    pub dev_sign_in: bool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// The address people reach Confer at, for links in mail and redirect
    /// URIs: `server.public_url` when set, else this request's own host
    /// (always `https`: browsers only keep `__Host-` cookies over TLS).
    /// HTTP/2 requests carry the host in the URI's authority, not a header.
    pub fn public_base(&self, uri: &http::Uri, headers: &http::HeaderMap) -> String {
        if let Some(url) = &self.settings.server.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        format!("https://{host}")
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route, wrapped in the middleware every response gets.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.server.max_body_bytes;
    Router::new()
        .route("/", get(pages::start))
        .route("/sign-in", get(pages::sign_in))
        .route("/dev/sign-in", post(pages::dev_sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/cases", get(pages::cases))
        .route("/cases/{case_id}", get(pages::case))
        .route("/assets/{name}", get(pages::asset))
        .merge(oidc::routes(state.clone()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(security::same_origin_writes))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                        // Method, path and request id only: paths carry ids,
                        // never names; query strings and bodies are not logged.
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(axum::middleware::from_fn(security::headers))
                .layer(TimeoutLayer::with_status_code(http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30))),
        )
        .with_state(state)
}
