//! Launching a server: a library call that takes settings, an already-bound
//! listener and a shutdown future (STYLE.md habit 1), so `main` and the
//! tests start the very same thing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::accept::NoDelayAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{Mode, Settings};
use crate::domain::clock::{Clock, SystemClock};
use crate::http::{self, AppState, Inner};
use crate::mail::Mailer;
use crate::realtime::deliveries::DeliveryLog;
use crate::realtime::hub::Hub;
use crate::realtime::writer::Writer;
use crate::store::{Db, StoreError};
use crate::{seed, tls};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Mail(#[from] crate::mail::MailError),
}

/// Connect to the database and bring its schema up to date.
pub async fn open_database(settings: &Settings) -> Result<Db, StoreError> {
    let db = Db::connect(&settings.database_url(), settings.database.max_connections).await?;
    db.migrate().await?;
    db.with_key_file(&settings.key_file()).await
}

/// Serve until `shutdown` resolves, with the system clock.
pub async fn serve(
    settings: Settings,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    serve_with_clock(settings, listener, shutdown, Arc::new(SystemClock)).await
}

/// Serve until `shutdown` resolves. On shutdown: stop accepting, cancel
/// long-lived tasks, give in-flight requests `server.shutdown_grace_seconds`
/// to finish, close the database, return.
pub async fn serve_with_clock(
    settings: Settings,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), LaunchError> {
    let local: SocketAddr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let tls = tls::server_config(&settings).await?;
    let db = open_database(&settings).await?.with_audit_batching();
    // Seal what an older version wrote in plaintext (message text, findings).
    crate::store::resealing::start_backfill(db.clone()).await;
    let development = settings.server.mode == Mode::Development;
    if development
        && settings.server.seed_demo_data
        && seed::demo_partnership(&db, clock.now_ms()).await?
    {
        tracing::info!("seeded the fictional demo partnership");
    }
    let dev_sign_in = development && local.ip().is_loopback();
    if development && !dev_sign_in {
        tracing::warn!(%local, "development mode on a non-loopback address: the development sign-in is off");
    }
    let mailer = Mailer::from_settings(&settings)?;
    let token = CancellationToken::new();
    let grace = Duration::from_secs(settings.server.shutdown_grace_seconds);
    let hub = Arc::new(Hub::default());
    let gates = Arc::new(crate::store::withholding::Gates::default());
    let deliveries = DeliveryLog::start(db.clone(), clock.clone());
    let writer = Writer::start(
        db.clone(),
        clock.clone(),
        hub.clone(),
        gates.clone(),
        deliveries.clone(),
    );
    let settings_limits = settings.limits.clone();
    let state = AppState::new(Inner {
        settings,
        db: db.clone(),
        hub,
        writer,
        gates,
        deliveries: deliveries.clone(),
        clock,
        mailer,
        shutdown: token.clone(),
        dev_sign_in,
        limits: crate::realtime::limits::Limits::new(&settings_limits),
    });
    if state.db.engine() == crate::config::Engine::Postgres {
        // Several nodes may share this database: live delivery crosses them.
        crate::realtime::cluster::start(
            state.db.clone(),
            state.settings.database_url(),
            state.hub.clone(),
            state.clock.clone(),
            token.clone(),
        );
    }
    crate::jobs::start(state.clone(), token.clone());
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();

    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        let token = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            token.cancel();
            handle.graceful_shutdown(Some(grace));
        });
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        version = crate::VERSION,
        "Confer listening on {scheme}://{local}"
    );
    match tls {
        Some(config) => {
            // TCP_NODELAY: an ack and the sender's own echo are written back
            // to back; without it Nagle holds the second for the peer's
            // delayed ACK (~40 ms), which capped a sequential sender at
            // 46 messages/s in the benchmark.
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .acceptor(NoDelayAcceptor::new());
            axum_server::from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle)
                .serve(app)
                .await?
        }
        None => {
            axum_server::from_tcp(listener)?
                .acceptor(NoDelayAcceptor::new())
                .handle(handle)
                .serve(app)
                .await?
        }
    }
    deliveries.flush().await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}
