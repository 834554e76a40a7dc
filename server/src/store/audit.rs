//! The audit log: appends in the caller's transaction (so a change and its
//! audit event commit together or not at all), and end-to-end verification.

use sqlx::Row;

use super::{Conn, Db, StoreResult};
use crate::domain::audit::{AuditRecord, ChainBreak, ChainVerifier, chain_hash};
use crate::domain::clock::Millis;

/// An event to append. `detail` is JSON and must never hold child-identifying
/// data or message bodies: it names ids, not content.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub actor_id: Option<&'a str>,
    pub actor_label: &'a str,
    pub action: &'a str,
    pub case_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// Append one event after the chain head. The `UPDATE ... RETURNING` on the
/// single `audit_head` row takes its lock first, so concurrent appends (from
/// any process or node) queue behind one another and the chain stays linear.
pub async fn append(conn: &mut Conn, at: Millis, event: NewEvent<'_>) -> StoreResult<i64> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let record = AuditRecord {
        seq,
        at,
        actor_id: event.actor_id.map(str::to_string),
        actor_label: event.actor_label.to_string(),
        action: event.action.to_string(),
        case_id: event.case_id.map(str::to_string),
        subject: event.subject.map(str::to_string),
        detail: event.detail.to_string(),
    };
    let hash = chain_hash(&prev_hash, &record);
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor_id, actor_label, action, case_id, subject, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(at)
    .bind(&record.actor_id)
    .bind(&record.actor_label)
    .bind(&record.action)
    .bind(&record.case_id)
    .bind(&record.subject)
    .bind(&record.detail)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// Append one event in a transaction of its own (for events that go with no
/// other change: reads, sign-in failures).
pub async fn record(db: &Db, at: Millis, event: NewEvent<'_>) -> StoreResult<i64> {
    let mut tx = db.write().await?;
    let seq = append(&mut tx, at, event).await?;
    tx.commit().await?;
    Ok(seq)
}

/// The outcome of verifying the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub verified: i64,
    pub head_hash: String,
    pub problem: Option<String>,
}

const PAGE: i64 = 1000;

/// Walk every event in order, checking sequence, links and hashes, and that
/// the stored head matches the last event (so truncating the tail shows).
pub async fn verify(db: &Db) -> StoreResult<Verification> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, actor_id, actor_label, action, case_id, subject, detail, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let record = AuditRecord {
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                actor_id: row.try_get("actor_id")?,
                actor_label: row.try_get("actor_label")?,
                action: row.try_get("action")?,
                case_id: row.try_get("case_id")?,
                subject: row.try_get("subject")?,
                detail: row.try_get("detail")?,
            };
            let prev: String = row.try_get("prev_hash")?;
            let hash: String = row.try_get("hash")?;
            if let Err(b) = verifier.check(&record, &prev, &hash) {
                return Ok(Verification {
                    verified: verifier.verified(),
                    head_hash: verifier.head().to_string(),
                    problem: Some(describe(&b)),
                });
            }
            after = record.seq;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    let problem = if head_seq != verifier.verified() || head_hash != verifier.head() {
        Some(format!(
            "the chain head says {head_seq} events ending in {}, but the log holds {} ending in {}: events were removed from the end",
            short(&head_hash),
            verifier.verified(),
            short(verifier.head())
        ))
    } else {
        None
    };
    Ok(Verification {
        verified: verifier.verified(),
        head_hash: verifier.head().to_string(),
        problem,
    })
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn describe(b: &ChainBreak) -> String {
    match b {
        ChainBreak::Gap { expected, found } => {
            format!("event {expected} is missing (next stored event is {found})")
        }
        ChainBreak::PrevMismatch { seq } => {
            format!("event {seq} does not link to the event before it")
        }
        ChainBreak::HashMismatch { seq } => format!("event {seq} was altered after it was written"),
    }
}

/// One audit event as read back (for pages and tests).
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub seq: i64,
    pub at: Millis,
    pub actor_label: String,
    pub action: String,
    pub case_id: Option<String>,
    pub subject: Option<String>,
}

/// The newest events, newest first.
pub async fn recent(db: &Db, limit: i64) -> StoreResult<Vec<StoredEvent>> {
    let rows = sqlx::query(
        "SELECT seq, at, actor_label, action, case_id, subject FROM audit_events ORDER BY seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredEvent {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                actor_label: r.try_get("actor_label")?,
                action: r.try_get("action")?,
                case_id: r.try_get("case_id")?,
                subject: r.try_get("subject")?,
            })
        })
        .collect()
}
