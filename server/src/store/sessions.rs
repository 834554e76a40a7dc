//! Server-side sessions. The cookie holds a random token; the database holds
//! only its SHA-256, so a copy of the database yields no usable cookie.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::audit::{self, NewEvent};
use super::{Db, StoreResult};
use crate::domain::clock::Millis;

/// A new random token (256 bits, URL-safe hex).
pub fn new_token() -> String {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// The stored form of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A live session.
#[derive(Clone, Debug)]
pub struct Session {
    pub person_id: String,
    pub csrf_token: String,
    pub method: String,
    pub last_seen_at: Millis,
}

/// How long a session lives.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub idle_ms: Millis,
    pub absolute_ms: Millis,
}

/// Start a session for a person; returns the cookie token. Audited as a sign-in.
pub async fn start(
    db: &Db,
    person_id: &str,
    actor_label: &str,
    method: &str,
    life: Lifetime,
    now: Millis,
) -> StoreResult<String> {
    let token = new_token();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, person_id, method, csrf_token, created_at, last_seen_at, idle_timeout_ms, absolute_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
    )
    .bind(token_hash(&token))
    .bind(person_id)
    .bind(method)
    .bind(new_token())
    .bind(now)
    .bind(life.idle_ms)
    .bind(now + life.absolute_ms)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(person_id),
            actor_label,
            action: "session.signed_in",
            case_id: None,
            subject: None,
            detail: serde_json::json!({ "method": method }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// How often `last_seen_at` is refreshed: not on every request, to spare writes.
pub const TOUCH_EVERY_MS: Millis = 60_000;

/// The live session for a cookie token, refreshing its idle timer; `None`
/// when unknown, revoked, idle too long or past its absolute lifetime.
pub async fn lookup(db: &Db, token: &str, now: Millis) -> StoreResult<Option<Session>> {
    let id_hash = token_hash(token);
    let row = sqlx::query(
        "SELECT person_id, csrf_token, method, last_seen_at, idle_timeout_ms, absolute_expires_at, revoked_at \
         FROM sessions WHERE id_hash = $1",
    )
    .bind(&id_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let revoked: Option<Millis> = row.try_get("revoked_at")?;
    let last_seen: Millis = row.try_get("last_seen_at")?;
    let idle: Millis = row.try_get("idle_timeout_ms")?;
    let absolute: Millis = row.try_get("absolute_expires_at")?;
    if revoked.is_some() || now >= last_seen + idle || now >= absolute {
        return Ok(None);
    }
    if now - last_seen >= TOUCH_EVERY_MS {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&id_hash)
        .execute(db.pool())
        .await?;
    }
    Ok(Some(Session {
        person_id: row.try_get("person_id")?,
        csrf_token: row.try_get("csrf_token")?,
        method: row.try_get("method")?,
        last_seen_at: last_seen,
    }))
}

/// Revoke the session for a cookie token (sign-out). Audited.
pub async fn revoke(db: &Db, token: &str, actor_label: &str, now: Millis) -> StoreResult<()> {
    let id_hash = token_hash(token);
    let mut tx = db.write().await?;
    let row = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL RETURNING person_id")
        .bind(now)
        .bind(&id_hash)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = row {
        let person_id: String = row.try_get("person_id")?;
        audit::append(
            &mut tx,
            now,
            NewEvent {
                actor_id: Some(&person_id),
                actor_label,
                action: "session.signed_out",
                case_id: None,
                subject: None,
                detail: serde_json::json!({}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether a session (by its stored hash) is still valid: not revoked, not
/// idle too long, within its absolute lifetime. Long-lived connections ask
/// this periodically, so a revocation made elsewhere (another node, the
/// command line, SQL) reaches them too, and an unattended live page closes
/// when the session goes idle. Asking does not refresh the idle timer.
pub async fn still_valid(db: &Db, id_hash: &str, now: Millis) -> StoreResult<bool> {
    let row = sqlx::query(
        "SELECT revoked_at, last_seen_at, idle_timeout_ms, absolute_expires_at FROM sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(false) };
    let revoked: Option<Millis> = row.try_get("revoked_at")?;
    let last_seen: Millis = row.try_get("last_seen_at")?;
    let idle: Millis = row.try_get("idle_timeout_ms")?;
    let absolute: Millis = row.try_get("absolute_expires_at")?;
    Ok(revoked.is_none() && now < last_seen + idle && now < absolute)
}

/// Record activity on a session (a person acting over a websocket), at most
/// once a minute.
pub async fn touch(db: &Db, id_hash: &str, now: Millis) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL AND last_seen_at <= $3",
    )
    .bind(now)
    .bind(id_hash)
    .bind(now - TOUCH_EVERY_MS)
    .execute(db.pool())
    .await?;
    Ok(())
}
