//! The audit log: appends in the caller's transaction (so a change and its
//! audit event commit together or not at all), and end-to-end verification.

use sqlx::Row;

use super::{Conn, Db, StoreError, StoreResult, new_ordered_id};
use crate::domain::audit::{AuditRecord, ChainBreak, ChainVerifier, Checkpoint, chain_hash};
use crate::domain::clock::{Millis, rfc3339};

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

/// Append one event done by a signed-in person: the common case of
/// [`append`], with the actor's id and name taken from `actor`.
pub async fn by_actor(
    conn: &mut Conn,
    at: Millis,
    actor: &crate::domain::access::Actor,
    action: &str,
    case_id: Option<&str>,
    subject: Option<&str>,
    detail: serde_json::Value,
) -> StoreResult<i64> {
    append(
        conn,
        at,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action,
            case_id,
            subject,
            detail,
        },
    )
    .await
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
/// other change: reads, sign-in failures). On a server, these go through the
/// group-committing batcher (see [`super::audit_batch`]): the caller still
/// waits until its event is committed, but concurrent events share one
/// transaction, appended in the order they arrived.
pub async fn record(db: &Db, at: Millis, event: NewEvent<'_>) -> StoreResult<i64> {
    if let Some(batcher) = db.audit_batcher() {
        return batcher.append(at, OwnedEvent::from(event)).await;
    }
    let mut tx = db.write().await?;
    let seq = append(&mut tx, at, event).await?;
    tx.commit().await?;
    Ok(seq)
}

/// An event that owns its fields, to queue for the batcher.
#[derive(Clone, Debug)]
pub struct OwnedEvent {
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub case_id: Option<String>,
    pub subject: Option<String>,
    pub detail: serde_json::Value,
}

impl From<NewEvent<'_>> for OwnedEvent {
    fn from(e: NewEvent<'_>) -> Self {
        Self {
            actor_id: e.actor_id.map(str::to_string),
            actor_label: e.actor_label.to_string(),
            action: e.action.to_string(),
            case_id: e.case_id.map(str::to_string),
            subject: e.subject.map(str::to_string),
            detail: e.detail,
        }
    }
}

impl OwnedEvent {
    pub fn borrowed(&self) -> NewEvent<'_> {
        NewEvent {
            actor_id: self.actor_id.as_deref(),
            actor_label: &self.actor_label,
            action: &self.action,
            case_id: self.case_id.as_deref(),
            subject: self.subject.as_deref(),
            detail: self.detail.clone(),
        }
    }
}

/// Append several events in one transaction, in the order given; returns
/// their sequence numbers. All commit or none do.
pub async fn record_all(db: &Db, events: &[(Millis, OwnedEvent)]) -> StoreResult<Vec<i64>> {
    let mut tx = db.write().await?;
    let mut seqs = Vec::with_capacity(events.len());
    for (at, event) in events {
        seqs.push(append(&mut tx, *at, event.borrowed()).await?);
    }
    tx.commit().await?;
    Ok(seqs)
}

/// The outcome of verifying the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub verified: i64,
    pub head_hash: String,
    pub problem: Option<String>,
    /// How many of the given checkpoints the chain was held to.
    pub checkpoints_matched: usize,
}

const PAGE: i64 = 1000;

/// Walk every event in order, checking sequence, links and hashes, and that
/// the stored head matches the last event (so truncating the tail shows).
pub async fn verify(db: &Db) -> StoreResult<Verification> {
    verify_with(db, Vec::new()).await
}

/// [`verify`], and also that each checkpointed event still has the hash the
/// checkpoint recorded and that the chain reaches every checkpoint: a
/// rewrite of the chain from some point with recomputed hashes, or a tail
/// removed with the head moved back to match, passes [`verify`] but not this.
///
/// The walk runs in one read transaction (a snapshot on both engines), so
/// events appended by a running server meanwhile neither break it nor count.
pub async fn verify_with(db: &Db, checkpoints: Vec<Checkpoint>) -> StoreResult<Verification> {
    let mut tx = db.pool().begin().await?;
    if db.engine() == crate::config::Engine::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let mut verifier = ChainVerifier::with_checkpoints(checkpoints);
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, actor_id, actor_label, action, case_id, subject, detail, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *tx)
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
                    checkpoints_matched: verifier.checkpoints_matched(),
                });
            }
            after = record.seq;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
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
        verifier.finish().err().map(|b| describe(&b))
    };
    Ok(Verification {
        verified: verifier.verified(),
        head_hash: verifier.head().to_string(),
        problem,
        checkpoints_matched: verifier.checkpoints_matched(),
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
        ChainBreak::CheckpointMismatch {
            seq,
            since,
            checkpoint,
        } => {
            let from = match since {
                Some(good) => {
                    format!("after event {good} (which matches an earlier checkpoint) and ")
                }
                None => String::new(),
            };
            format!(
                "event {seq} does not match the checkpoint taken at {}, which recorded its hash as {}…: the log was rewritten {from}at or before event {seq}",
                checkpoint.at,
                short(&checkpoint.hash)
            )
        }
        ChainBreak::EndsBeforeCheckpoint { last, checkpoint } => format!(
            "the log ends at event {last}, but the checkpoint taken at {} holds event {}: events after {last} were removed",
            checkpoint.at, checkpoint.seq
        ),
    }
}

/// Record a checkpoint of the chain: verify it end to end (a checkpoint
/// vouches for everything up to it, so a broken chain is refused), then
/// record the verified head in `audit_checkpoints` and append an
/// `audit.checkpointed` event. Returns the checkpoint to hold elsewhere.
pub async fn checkpoint(db: &Db, now: Millis, taken_by: &str) -> StoreResult<Checkpoint> {
    let v = verify(db).await?;
    if let Some(problem) = v.problem {
        return Err(StoreError::Invalid(format!(
            "the audit log does not verify, so it cannot be checkpointed: {problem}"
        )));
    }
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO audit_checkpoints (id, seq, hash, taken_at, taken_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_ordered_id())
    .bind(v.verified)
    .bind(&v.head_hash)
    .bind(now)
    .bind(taken_by)
    .execute(&mut *tx)
    .await?;
    append(
        &mut tx,
        now,
        NewEvent {
            actor_id: None,
            actor_label: taken_by,
            action: "audit.checkpointed",
            case_id: None,
            subject: None,
            detail: serde_json::json!({ "seq": v.verified, "hash": v.head_hash }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Checkpoint {
        seq: v.verified,
        hash: v.head_hash,
        at: rfc3339(now),
    })
}

/// A checkpoint as recorded in the database.
#[derive(Clone, Debug)]
pub struct RecordedCheckpoint {
    pub seq: i64,
    pub hash: String,
    pub taken_at: Millis,
    pub taken_by: String,
}

/// The most recent checkpoints recorded here, newest first.
pub async fn recent_checkpoints(db: &Db, limit: i64) -> StoreResult<Vec<RecordedCheckpoint>> {
    let rows = sqlx::query(
        "SELECT seq, hash, taken_at, taken_by FROM audit_checkpoints ORDER BY taken_at DESC, seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RecordedCheckpoint {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
                taken_at: r.try_get("taken_at")?,
                taken_by: r.try_get("taken_by")?,
            })
        })
        .collect()
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
