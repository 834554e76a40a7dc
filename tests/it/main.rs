//! Confer's black-box integration suite: one test binary (each extra one
//! relinks the whole stack). Every test starts the real server on loopback
//! with a fresh database; see `harness.rs` for choosing the engine.

mod harness;

mod admin;
mod admin_cli;
mod audit_chain;
mod audit_pages;
mod backup;
mod break_glass;
mod channels_api;
mod configuration;
mod consent;
mod consent_gate;
mod email_codes;
mod health;
mod limits;
mod meetings;
mod meetings_clock;
mod meetings_reminders;
mod membership;
mod oidc;
mod security;
mod sharing;
mod sharing_exports;
mod shutdown;
mod sign_in;
mod smtp_sink;
mod websocket;
mod websocket_lifetime;
mod ws_client;
