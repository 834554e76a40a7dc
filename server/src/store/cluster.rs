//! What several nodes sharing one PostgreSQL database need from it:
//! `NOTIFY` (a committed message's channel and sequence number, never its
//! content), the last sequence number of a channel for recovery, and an
//! advisory lock so that scheduled jobs run on one node at a time. On SQLite
//! (one node) every function here does nothing, or runs the job at once.

use std::future::Future;

use sqlx::Row;

use super::messages::Posted;
use super::{Conn, Db, StoreResult};
use crate::config::Engine;

/// The `NOTIFY` channel for committed messages.
pub const MESSAGES: &str = "confer_messages";
/// The `NOTIFY` channel for everything else a node must pass on (edits,
/// receipts, access ended, sessions revoked).
pub const CONTROL: &str = "confer_control";
/// PostgreSQL refuses payloads of 8000 bytes or more: stay well below.
pub const MAX_PAYLOAD: usize = 7_000;
/// The advisory lock key held while a node runs the scheduled jobs
/// ("confer.jobs" in ASCII, folded into an `i64`).
const JOBS_LOCK: i64 = 0x636f_6e66_6572_6a6f;

/// A message notification: the node that committed, and the (channel,
/// sequence number) pairs. Ids and numbers only: no child data can travel.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Committed {
    pub n: String,
    pub m: Vec<(String, i64)>,
}

/// Split `items` into JSON payloads of the envelope `wrap` makes, each under
/// [`MAX_PAYLOAD`] bytes.
pub fn payloads<T: Clone>(items: &[T], wrap: impl Fn(Vec<T>) -> serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < items.len() {
        // Grow greedily; halve a chunk that came out too large.
        let mut end = items.len();
        loop {
            let text = wrap(items[start..end].to_vec()).to_string();
            if text.len() < MAX_PAYLOAD || end == start + 1 {
                out.push(text);
                break;
            }
            end = start + (end - start).div_ceil(2);
        }
        start = end;
    }
    out
}

/// Inside the transaction that stores `posted`: tell the other nodes, on
/// commit (PostgreSQL delivers a transaction's notifications only when it
/// commits, in commit order, and drops them if it rolls back).
pub async fn messages_committed(conn: &mut Conn, db: &Db, posted: &[Posted]) -> StoreResult<()> {
    if db.engine() != Engine::Postgres {
        return Ok(());
    }
    let items: Vec<(String, i64)> = posted
        .iter()
        .filter(|p| !p.duplicate)
        .map(|p| (p.message.channel_id.clone(), p.message.seq))
        .collect();
    let node = db.node_id().to_string();
    for payload in payloads(&items, |m| {
        serde_json::json!(Committed { n: node.clone(), m })
    }) {
        notify(conn, MESSAGES, &payload).await?;
    }
    Ok(())
}

/// Send one notification (outside any transaction of the caller's).
pub async fn notify_now(db: &Db, channel: &str, payload: &str) -> StoreResult<()> {
    let mut conn = db.pool().acquire().await?;
    notify(&mut conn, channel, payload).await
}

async fn notify(conn: &mut Conn, channel: &str, payload: &str) -> StoreResult<()> {
    // `pg_notify` returns `void`, which the `Any` driver cannot decode: cast.
    sqlx::query("SELECT CAST(pg_notify($1, $2) AS TEXT) AS done")
        .bind(channel)
        .bind(payload)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The last sequence number of a channel (0 when it has none).
pub async fn last_seq(db: &Db, channel_id: &str) -> StoreResult<i64> {
    let row = sqlx::query("SELECT last_seq FROM channels WHERE id = $1")
        .bind(channel_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => r.try_get("last_seq")?,
        None => 0,
    })
}

/// Run `job` unless another node is running it now: on PostgreSQL it runs
/// inside a transaction holding `pg_try_advisory_xact_lock`, released at
/// the end (or when the connection drops, should this node die), and
/// returns `None` when the lock was taken elsewhere. On SQLite it just runs.
pub async fn once_across_cluster<T>(
    db: &Db,
    job: impl Future<Output = StoreResult<T>>,
) -> StoreResult<Option<T>> {
    if db.engine() != Engine::Postgres {
        return job.await.map(Some);
    }
    let mut tx = db.pool().begin().await?;
    let row = sqlx::query("SELECT pg_try_advisory_xact_lock($1) AS got")
        .bind(JOBS_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    let got: bool = row.try_get("got")?;
    if !got {
        tx.rollback().await?;
        return Ok(None);
    }
    let result = job.await;
    tx.commit().await?;
    result.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_the_limit_and_keep_every_item_in_order() {
        let items: Vec<(String, i64)> = (0..1000)
            .map(|i| (uuid::Uuid::new_v4().to_string(), i))
            .collect();
        let texts = payloads(&items, |m| serde_json::json!({"n": "node", "m": m}));
        assert!(texts.len() > 1, "a thousand ids need several payloads");
        let mut back = Vec::new();
        for t in &texts {
            assert!(t.len() < MAX_PAYLOAD, "{} bytes", t.len());
            let c: Committed = serde_json::from_str(t).unwrap();
            back.extend(c.m);
        }
        assert_eq!(back, items);
        assert!(payloads(&[] as &[(String, i64)], |m| serde_json::json!(m)).is_empty());
    }
}
