//! Group commit for audit events that go with no other change (issue 6:
//! "the hot path must stay fast: append in batches without breaking the
//! order"). Every case read appends one event; instead of one transaction
//! (and one fsync) per read, one task takes whatever is queued, up to a
//! batch, and appends it in one transaction, in arrival order. Each caller
//! still waits until its own event is committed, so no read is shown before
//! its audit event is durable, and nothing is left queued at shutdown.

use tokio::sync::{mpsc, oneshot};

use super::audit::{self, OwnedEvent};
use super::{Db, StoreError, StoreResult};
use crate::domain::clock::Millis;

/// Largest batch appended in one transaction.
const BATCH: usize = 256;

enum Job {
    Append {
        at: Millis,
        event: OwnedEvent,
        reply: oneshot::Sender<StoreResult<i64>>,
    },
    /// Answer once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// The queue to the batching task. Cloned into every [`Db`] handle of a
/// running server.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

fn shutting_down() -> StoreError {
    StoreError::Invalid("the server is shutting down".into())
}

impl Batcher {
    /// Start the task. `db` must be a handle without a batcher (the task
    /// appends directly), so that the task ends when the last handle with
    /// this batcher is dropped.
    pub(super) fn start(db: Db) -> Batcher {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(run(db, rx));
        Batcher { tx }
    }

    /// Append one event; returns its sequence number once committed.
    pub async fn append(&self, at: Millis, event: OwnedEvent) -> StoreResult<i64> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Append { at, event, reply })
            .await
            .map_err(|_| shutting_down())?;
        answer.await.map_err(|_| shutting_down())?
    }

    /// Wait until everything queued so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

type Reply = oneshot::Sender<StoreResult<i64>>;

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::default();
        batch.take(first);
        while batch.replies.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => batch.take(job),
                Err(_) => break,
            }
        }
        if !batch.events.is_empty() {
            commit(&db, batch.events, batch.replies).await;
        }
        for done in batch.flushes {
            let _ = done.send(());
        }
    }
}

#[derive(Default)]
struct Batch {
    events: Vec<(Millis, OwnedEvent)>,
    replies: Vec<Reply>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn take(&mut self, job: Job) {
        match job {
            Job::Append { at, event, reply } => {
                self.events.push((at, event));
                self.replies.push(reply);
            }
            Job::Flush(done) => self.flushes.push(done),
        }
    }
}

async fn commit(db: &Db, events: Vec<(Millis, OwnedEvent)>, replies: Vec<Reply>) {
    match audit::record_all(db, &events).await {
        Ok(seqs) => {
            for (reply, seq) in replies.into_iter().zip(seqs) {
                let _ = reply.send(Ok(seq));
            }
        }
        Err(e) if e.is_unavailable() => {
            // The database is away: one by one would only wait once per event.
            tracing::warn!(error = %e, batch = replies.len(), "database unavailable; audit batch refused");
            let why = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable(why.clone())));
            }
        }
        Err(e) if replies.len() == 1 => {
            tracing::warn!(error = %e, "audit append failed");
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            // One bad event must not sink the others: retry them one by one,
            // still in order.
            tracing::warn!(error = %e, batch = replies.len(), "audit batch failed; retrying singly");
            for (event, reply) in events.into_iter().zip(replies) {
                let result = audit::record_all(db, std::slice::from_ref(&event))
                    .await
                    .and_then(|seqs| seqs.first().copied().ok_or(StoreError::NotFound));
                let _ = reply.send(result);
            }
        }
    }
}
