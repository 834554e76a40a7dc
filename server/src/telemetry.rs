//! Structured logs with tracing. Log fields name ids and counts, never
//! child-identifying data or message bodies.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Install the global subscriber once; later calls (tests start many servers
/// in one process) are no-ops.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_from_env("CONFER_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.server.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.server.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
