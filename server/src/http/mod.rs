//! Transport: HTTP routes and middleware. Handlers parse, authorise, call
//! the domain and store, and render; they never write SQL.

pub mod admin;
pub mod api;
pub mod audit_pages;
pub mod break_glass;
pub mod case_form;
pub mod case_page;
pub mod case_team;
pub mod consent;
pub mod dashboard;
pub mod email_sign_in;
pub mod error;
pub mod findings;
pub mod form;
pub mod health;
pub mod meeting_mail;
pub mod meeting_record;
pub mod meetings;
pub mod metrics;
pub mod missing;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod rhi;
pub mod search;
pub mod security;
pub mod session;
pub mod sharing;
pub mod sharing_export;
pub mod sharing_search;
pub mod strategy_prompts;
pub mod subject_access;

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
    pub mailer: crate::mail::Mailer,
    /// Cancelled when the server starts shutting down; long-lived tasks
    /// (websockets, background jobs) watch it to close cleanly.
    pub shutdown: CancellationToken,
    /// The development sign-in: development mode and a loopback listener only.
    pub dev_sign_in: bool,
    /// Live fan-out to websocket connections.
    pub hub: Arc<crate::realtime::hub::Hub>,
    /// The single group-committing message writer.
    pub writer: crate::realtime::writer::Writer,
    /// What consent holds back in each case, cached for the writer.
    pub gates: std::sync::Arc<crate::store::withholding::Gates>,
    /// The batched delivery log.
    pub deliveries: crate::realtime::deliveries::DeliveryLog,
    /// Per-person send rate and websocket connection limits.
    pub limits: crate::realtime::limits::Limits,
}

/// Someone's access ended: one session (sign-out) or a whole person
/// (deactivated by their agency's admin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    Session { session_hash: String },
    Person { person_id: String },
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

    /// Whether a request comes from Confer's own pages (see `security`).
    pub fn is_same_origin(&self, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
        let public = self.settings.server.public_url.as_deref().and_then(|u| {
            let u = url::Url::parse(u).ok()?;
            Some(u.origin().ascii_serialization())
        });
        security::is_same_origin_parts(uri, headers, public.as_deref())
    }

    /// A session or person was revoked: close their live connections now.
    pub fn revoked(&self, what: Revoked) {
        self.hub.revoke(&what);
    }

    /// The address for links in mail sent without a request to take the
    /// host from (reminders): `server.public_url`, else the listen address
    /// (`localhost` for a loopback one, which the development certificate names).
    pub fn link_base(&self) -> String {
        if let Some(url) = &self.settings.server.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let listen = &self.settings.server.listen;
        match listen.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => format!("https://localhost:{}", addr.port()),
            _ => format!("https://{listen}"),
        }
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
        .route("/sign-in/email", get(email_sign_in::start).post(email_sign_in::request))
        .route("/sign-in/email/code", post(email_sign_in::verify))
        .route("/sign-in/email/link", get(email_sign_in::link_page).post(email_sign_in::link))
        .route("/sign-out", post(pages::sign_out))
        .route("/admin/people", get(admin::people_page).post(admin::add_person))
        .route("/admin/people/{person_id}/role", post(admin::set_role))
        .route("/admin/people/{person_id}/deactivate", post(admin::deactivate))
        .route("/cases", get(pages::cases))
        .route("/cases/{case_id}", get(case_page::case))
        .route("/cases/{case_id}/messages", post(case_page::post_case_message))
        .route("/cases/{case_id}/members", post(case_page::add_case_member))
        .route("/cases/{case_id}/members/{person_id}/remove", post(case_page::remove_case_member))
        .route("/cases/{case_id}/consent", get(consent::page).post(consent::add_record))
        .route("/cases/{case_id}/sharing-basis", post(consent::set_basis))
        .route("/cases/{case_id}/consent/{record_id}", get(consent::record_page))
        .route("/cases/{case_id}/consent/{record_id}/changes", post(consent::change))
        .route("/cases/{case_id}/consent/{record_id}/overrides", post(consent::request_override))
        .route(
            "/cases/{case_id}/consent/{record_id}/overrides/{override_id}/decide",
            post(consent::decide_override),
        )
        .route("/cases/{case_id}/meetings/new", get(meetings::new_form))
        .route("/cases/{case_id}/meetings", post(meetings::convene))
        .route("/cases/{case_id}/clock", post(meeting_record::start_clock))
        .route("/cases/{case_id}/deadlines/{deadline_id}/extend", post(meeting_record::extend))
        .route("/cases/{case_id}/deadlines/{deadline_id}/complete", post(meeting_record::complete))
        .route("/cases/{case_id}/extensions/{extension_id}/decide", post(meeting_record::decide))
        .route("/meetings/{meeting_id}", get(meetings::page))
        .route("/meetings/{meeting_id}/respond", post(meetings::respond))
        .route("/meetings/{meeting_id}/reschedule", post(meetings::reschedule))
        .route("/meetings/{meeting_id}/cancel", post(meetings::cancel))
        .route("/meetings/{meeting_id}/messages", post(meetings::post_message))
        .route("/meetings/{meeting_id}/attendance", post(meeting_record::attendance))
        .route("/meetings/{meeting_id}/outcome", post(meeting_record::outcome))
        .route("/meetings/{meeting_id}/actions", post(meeting_record::add_action))
        .route("/meetings/{meeting_id}/actions/{action_id}/status", post(meeting_record::action_status))
        .route("/meetings/{meeting_id}/minutes", post(meeting_record::minutes))
        .route("/meetings/{meeting_id}/circulate", post(meeting_record::circulate))
        .route("/meetings/{meeting_id}/acknowledge", post(meeting_record::acknowledge))
        // Audit (issue 6): the auditor's search, exports and break-glass review; break glass.
        .route("/audit", get(audit_pages::search))
        .route("/audit/export.csv", get(audit_pages::export_csv))
        .route("/audit/export.json", get(audit_pages::export_json))
        .route("/audit/break-glass", get(break_glass::list))
        .route("/audit/break-glass/{break_glass_id}/review", post(break_glass::review))
        .route("/break-glass", get(break_glass::form).post(break_glass::open))
        // Information sharing (issue 6): who knows what, shares outside Confer,
        // decisions not to share, exports, the auditor's search, subject access.
        .route("/cases/{case_id}/sharing", get(sharing::page))
        .route("/cases/{case_id}/sharing/records", post(sharing::record_share))
        .route("/cases/{case_id}/sharing/decisions", post(sharing::record_decision))
        .route("/cases/{case_id}/sharing.csv", get(sharing::case_csv))
        .route("/cases/{case_id}/sharing.json", get(sharing::case_json))
        .route("/cases/{case_id}/subject-access.json", get(subject_access::export))
        .route("/sharing", get(sharing_search::page))
        .route("/sharing/export.csv", get(sharing_search::csv))
        .route("/sharing/export.json", get(sharing_search::json))
        // Missing episodes and return home interviews (issue 7).
        .route("/cases/{case_id}/missing", get(missing::page).post(missing::record))
        .route("/cases/{case_id}/missing/{episode_id}", get(missing::episode))
        .route("/cases/{case_id}/missing/{episode_id}/return", post(missing::record_return))
        .route("/cases/{case_id}/missing/{episode_id}/messages", post(missing::post_message))
        .route("/cases/{case_id}/missing/{episode_id}/interview", get(rhi::page))
        .route("/cases/{case_id}/missing/{episode_id}/interview/interviewer", post(rhi::assign))
        .route("/cases/{case_id}/missing/{episode_id}/interview/attempts", post(rhi::attempt))
        .route("/cases/{case_id}/missing/{episode_id}/interview/outcome", post(rhi::outcome))
        .route("/cases/{case_id}/missing/{episode_id}/findings", get(findings::page).post(findings::record))
        .route("/cases/{case_id}/missing/{episode_id}/findings/share", post(findings::share))
        .route("/findings/{share_id}", get(findings::shared))
        .route("/findings/{share_id}/acknowledge", post(findings::acknowledge))
        .route("/cases/{case_id}/strategy-prompts/{prompt_id}", get(strategy_prompts::page))
        .route("/cases/{case_id}/strategy-prompts/{prompt_id}/decline", post(strategy_prompts::decline))
        .route("/dashboard", get(dashboard::page))
        .route("/assets/{name}", get(pages::asset))
        .route("/ws", get(crate::realtime::ws::upgrade))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/session", get(api::session))
        .route("/api/agencies", get(api::list_agencies))
        .route("/api/cases", get(api::list_cases))
        .route("/api/cases/{case_id}", get(api::get_case))
        .route("/api/cases/{case_id}/members", post(api::add_member))
        .route("/api/cases/{case_id}/members/{person_id}", axum::routing::delete(api::remove_member))
        .route("/api/channels/{channel_id}/messages", get(api::list_messages).post(api::post_message))
        .route(
            "/api/channels/{channel_id}/messages/{seq}",
            axum::routing::patch(api::edit_message).delete(api::redact_message),
        )
        .route("/api/channels/{channel_id}/messages/{seq}/reads", get(api::readers))
        .route("/api/channels/{channel_id}/read", post(api::mark_read))
        .route("/search", get(search::page))
        .route("/api/search", get(search::api))
        .merge(oidc::routes(state.clone()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::same_origin_writes))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
                        .make_span_with(|req: &http::Request<_>| {
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
