//! OpenID Connect sign-ins in progress: one row per authorization request
//! sent to a provider, awaiting its callback.
//!
//! The `state` parameter is the flow's key, and it travels through the
//! browser, so the database keeps only its SHA-256: a copy of the table
//! cannot be replayed against the callback. A flow lives a few minutes and is
//! used at most once; [`take`] marks it used in the same statement that finds
//! it, so two callbacks racing with one `state` (on any node) cannot both win.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Db, StoreResult};
use crate::domain::clock::Millis;

/// How long a person has to finish signing in at their provider.
pub const LIFETIME_MS: Millis = 10 * 60_000;

/// Finished or abandoned flows are deleted this long after they expire.
const KEEP_AFTER_EXPIRY_MS: Millis = 24 * 3_600_000;

fn hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// A new flow to remember.
#[derive(Clone, Debug)]
pub struct NewFlow<'a> {
    /// The `state` sent to the provider (stored only as a hash).
    pub state: &'a str,
    pub provider_id: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
}

/// Remember a flow until `now + LIFETIME_MS`, and forget long-dead ones.
pub async fn start(db: &Db, now: Millis, new: NewFlow<'_>) -> StoreResult<()> {
    sqlx::query("DELETE FROM oidc_flows WHERE expires_at < $1")
        .bind(now - KEEP_AFTER_EXPIRY_MS)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO oidc_flows (state_hash, provider_id, pkce_verifier, nonce, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash(new.state))
    .bind(new.provider_id)
    .bind(new.pkce_verifier)
    .bind(new.nonce)
    .bind(now)
    .bind(now + LIFETIME_MS)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A flow as found by its callback.
#[derive(Clone, Debug)]
pub struct Flow {
    pub provider_id: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

/// What a callback's `state` led to.
#[derive(Clone, Debug)]
pub enum Taken {
    /// Unused and unexpired: it is now marked used, and is the caller's alone.
    Fresh(Flow),
    /// It existed but had expired (it is now marked used too).
    Expired,
    /// It was used before: a replayed callback.
    AlreadyUsed,
    /// No flow has this state: made up or tampered with.
    Unknown,
}

/// Find the flow for a callback's `state` and mark it used, atomically.
pub async fn take(db: &Db, state: &str, now: Millis) -> StoreResult<Taken> {
    let state_hash = hash(state);
    let row = sqlx::query(
        "UPDATE oidc_flows SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL \
         RETURNING provider_id, pkce_verifier, nonce, expires_at",
    )
    .bind(now)
    .bind(&state_hash)
    .fetch_optional(db.pool())
    .await?;
    if let Some(row) = row {
        let expires_at: Millis = row.try_get("expires_at")?;
        if now >= expires_at {
            return Ok(Taken::Expired);
        }
        return Ok(Taken::Fresh(Flow {
            provider_id: row.try_get("provider_id")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            nonce: row.try_get("nonce")?,
        }));
    }
    let seen = sqlx::query("SELECT 1 FROM oidc_flows WHERE state_hash = $1")
        .bind(&state_hash)
        .fetch_optional(db.pool())
        .await?;
    Ok(if seen.is_some() {
        Taken::AlreadyUsed
    } else {
        Taken::Unknown
    })
}
