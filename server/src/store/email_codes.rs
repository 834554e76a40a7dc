//! Email one-time codes and the sign-in attempts that rate limits count.

use sqlx::Row;

use super::audit::{self, NewEvent};
use super::{Db, StoreResult, new_id};
use crate::domain::clock::Millis;
use crate::domain::email_code::{hash_code, same};

/// What attempts are counted.
#[derive(Clone, Copy, Debug)]
pub enum AttemptKind {
    CodeRequested,
    CodeFailed,
}

impl AttemptKind {
    fn as_str(self) -> &'static str {
        match self {
            AttemptKind::CodeRequested => "code_requested",
            AttemptKind::CodeFailed => "code_failed",
        }
    }
}

/// Attempts of a kind since an instant: (by this address, by this client).
pub async fn count_attempts(
    db: &Db,
    kind: AttemptKind,
    email: &str,
    client: &str,
    since: Millis,
) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM sign_in_attempts WHERE kind = $1 AND email = $2 AND at >= $4) AS by_email, \
           (SELECT COUNT(*) FROM sign_in_attempts WHERE kind = $1 AND client = $3 AND at >= $4) AS by_client",
    )
    .bind(kind.as_str())
    .bind(email)
    .bind(client)
    .bind(since)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("by_email")?, row.try_get("by_client")?))
}

/// Record an attempt, with its audit event.
pub async fn record_attempt(
    db: &Db,
    kind: AttemptKind,
    email: &str,
    client: &str,
    now: Millis,
) -> StoreResult<()> {
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO sign_in_attempts (id, kind, email, client, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(kind.as_str())
    .bind(email)
    .bind(client)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let action = match kind {
        AttemptKind::CodeRequested => "session.code_requested",
        AttemptKind::CodeFailed => "session.sign_in_failed",
    };
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: None,
            actor_label: "sign-in",
            action,
            case_id: None,
            subject: Some(email),
            detail: serde_json::json!({ "method": "email_code", "client": client }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Store a new code (as a hash) and its link token (as a hash). Earlier
/// unused codes for the address stop working: only the newest counts.
pub async fn issue(
    db: &Db,
    person_id: &str,
    email: &str,
    code: &str,
    link_token: &str,
    now: Millis,
    expires_at: Millis,
) -> StoreResult<()> {
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query("UPDATE email_codes SET used_at = $1 WHERE email = $2 AND used_at IS NULL")
        .bind(now)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO email_codes (id, email, person_id, code_hash, link_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(email)
    .bind(person_id)
    .bind(hash_code(&id, code))
    .bind(link_hash(link_token))
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

fn link_hash(token: &str) -> String {
    hash_code("link", token)
}

/// Redeem a typed code: `Some(person_id)` if it is the newest live code for
/// the address, which is then spent.
pub async fn redeem_code(
    db: &Db,
    email: &str,
    code: &str,
    now: Millis,
) -> StoreResult<Option<String>> {
    let row = sqlx::query(
        "SELECT id, person_id, code_hash FROM email_codes \
         WHERE email = $1 AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(email)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    let stored: String = row.try_get("code_hash")?;
    if !same(&stored, &hash_code(&id, code)) {
        sqlx::query("UPDATE email_codes SET failed_attempts = failed_attempts + 1 WHERE id = $1")
            .bind(&id)
            .execute(db.pool())
            .await?;
        return Ok(None);
    }
    if spend(db, &id, now).await? {
        Ok(Some(row.try_get("person_id")?))
    } else {
        Ok(None)
    }
}

/// Redeem the token from a mailed link.
pub async fn redeem_link(db: &Db, token: &str, now: Millis) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT id, person_id FROM email_codes WHERE link_hash = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(link_hash(token))
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    if spend(db, &id, now).await? {
        Ok(Some(row.try_get("person_id")?))
    } else {
        Ok(None)
    }
}

/// Mark a code used, once: a second redemption racing this one loses.
async fn spend(db: &Db, id: &str, now: Millis) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE email_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}
