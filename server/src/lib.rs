//! Confer: secure multi-agency messaging and meetings for children's
//! safeguarding in England. See DESIGN.md and `docs/architecture.md`.
//!
//! Layers, from the outside in: [`http`] (transport) → [`domain`] (rules, no
//! I/O) → [`store`] (SQL). [`app`] wires them together and serves.

pub mod app;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod missing_reminders;
pub mod realtime;
pub mod sealing;
pub mod seed;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod web;

/// The version of this build, reported by `/healthz` and `confer --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
