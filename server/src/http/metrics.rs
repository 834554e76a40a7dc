//! `GET /metrics`: the Prometheus scrape endpoint. It shows load, not case
//! content, but it is still not for the world: with `metrics.token` set a
//! scraper must send `Authorization: Bearer <token>`; without one, only a
//! client on a loopback address that came through no proxy may read it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use super::AppState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn serve(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = allowed(&state, peer, &headers) {
        return refusal;
    }
    let m = &state.hub.metrics;
    m.connections.set(state.hub.connections() as i64);
    m.writer_queue.set(state.writer.queued() as i64);
    m.delivery_log_queue.set(state.deliveries.queued() as i64);
    m.db_pool_size.set(i64::from(state.db.pool().size()));
    m.db_pool_idle.set(state.db.pool().num_idle() as i64);
    let mut res = m.render().into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

fn allowed(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<(), Response> {
    match &state.settings.metrics.token {
        Some(token) => {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            // Compare digests, so the time taken says nothing about the token.
            if Sha256::digest(sent.as_bytes()) == Sha256::digest(token.expose().as_bytes()) {
                Ok(())
            } else {
                Err((
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "metrics need the configured bearer token\n",
                )
                    .into_response())
            }
        }
        None => {
            // A proxy on this machine makes every client look local: a
            // forwarded request is not a local one.
            let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
                .iter()
                .any(|h| headers.contains_key(*h));
            if peer.ip().is_loopback() && !proxied {
                Ok(())
            } else {
                Err((
                    StatusCode::FORBIDDEN,
                    "metrics are served to loopback clients only; set metrics.token to scrape from elsewhere\n",
                )
                    .into_response())
            }
        }
    }
}
