//! Confer's black-box integration suite: one test binary (each extra one
//! relinks the whole stack). Every test starts the real server on loopback
//! with a fresh database; see `harness.rs` for choosing the engine.

mod harness;

mod admin_cli;
mod configuration;
mod health;
mod membership;
mod oidc;
mod security;
mod shutdown;
mod sign_in;
