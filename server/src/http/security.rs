//! Security headers on every response, and the same-origin rule for every
//! state-changing request.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};

use super::AppState;
use super::error::AppError;

/// No inline script or style, nothing from elsewhere, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response, including errors and 404s.
/// Pages default to `no-store`: they may show case information, which must
/// not linger in shared or browser caches.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Refuses cross-site state-changing requests (a first line of CSRF
/// defence beside SameSite cookies and per-session form tokens): browsers
/// send `Sec-Fetch-Site` and `Origin`, which a forged cross-site form cannot
/// fake. Requests with neither come from non-browser clients, which carry no
/// ambient cookies to abuse.
pub async fn same_origin_writes(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !state.is_same_origin(req.uri(), req.headers()) {
        return AppError::Forbidden(
            "This request came from another site, so it was refused.".into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// The same-origin rule on a request's URI and headers (also used by the
/// websocket upgrade, whose `Origin` a cross-site page cannot forge). With
/// `public_origin` (from `server.public_url`) the `Origin` must be exactly
/// that; otherwise it must name the host the request was sent to.
pub fn is_same_origin_parts(
    uri: &http::Uri,
    headers: &http::HeaderMap,
    public_origin: Option<&str>,
) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if let Some(public) = public_origin {
        return origin.trim_end_matches('/').eq_ignore_ascii_case(public);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    match (url::Url::parse(origin), host) {
        (Ok(o), Some(host)) => {
            let origin_host = match o.port() {
                Some(p) => format!("{}:{p}", o.host_str().unwrap_or_default()),
                None => o.host_str().unwrap_or_default().to_string(),
            };
            origin_host.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}
