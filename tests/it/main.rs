//! Confer's black-box integration suite: one test binary (each extra one
//! relinks the whole stack). Every test starts the real server on loopback
//! with a fresh database; see `harness.rs` for choosing the engine.

mod harness;

mod admin;
mod admin_cli;
mod audit_chain;
mod audit_pages;
mod authz_matrix;
mod backup;
mod break_glass;
mod channels_api;
mod cluster;
mod cluster_nodes;
mod cluster_retry;
mod configuration;
mod consent;
mod consent_access;
mod consent_basis;
mod consent_gate;
mod consent_race;
mod crash;
mod email_codes;
mod encryption;
mod encryption_text;
mod health;
mod limits;
mod meetings;
mod meetings_agency_access;
mod meetings_clock;
mod meetings_dashboard;
mod meetings_extensions;
mod meetings_journey;
mod meetings_reminders;
mod membership;
mod message_batch;
mod missing;
mod missing_findings;
mod missing_interviews;
mod missing_repeat;
mod missing_sharing;
mod oidc;
mod pg_restart;
mod scrape;
mod search;
mod search_cost;
mod security;
mod sharing;
mod sharing_access;
mod sharing_exports;
mod shutdown;
mod sign_in;
mod smtp_sink;
mod websocket;
mod websocket_lifetime;
mod ws_client;
