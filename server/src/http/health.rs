//! Liveness and readiness probes for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::AppState;
use crate::store::Readiness;

/// Liveness: the process answers.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": crate::VERSION }))
}

/// Readiness: the database answers and the schema is current, and the
/// server is not shutting down.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = if state.shutdown.is_cancelled() {
        Readiness::NotReady("shutting down".into())
    } else {
        state.db.readiness().await
    };
    let mut res = match readiness {
        Readiness::Ready => (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response(),
        Readiness::NotReady(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": reason })),
        )
            .into_response(),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
