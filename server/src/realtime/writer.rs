//! The single writer: every message send in this process goes through one
//! task that takes whatever is queued (up to a batch) and commits it in one
//! transaction (group commit), then publishes it to the hub in sequence
//! order and only then acknowledges each sender. One commit's fsync is
//! shared by the whole batch; on SQLite that fsync runs after the write lock
//! is released (`store::wal_sync`), while this task already writes the next
//! batch, and a second task publishes and acknowledges each batch, in
//! commit order, once it is durable. Every send path (websocket, JSON API, the
//! pages' forms) comes through here, so this is where consent holds a
//! message back from an agency (`store::withholding`). On SQLite it also
//! adds new messages to the search index, in bulk (`store::search_index`).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::deliveries::DeliveryLog;
use super::hub::{Hub, Outbound};
use crate::config::Engine;
use crate::domain::clock::Clock;
use crate::store::messages::{self, Post, Posted};
use crate::store::search_index;
use crate::store::wal_sync::Pending;
use crate::store::withholding::Gates;
use crate::store::{Db, StoreError, StoreResult};

/// Largest batch committed at once.
const BATCH: usize = 256;

struct Job {
    post: Post,
    /// The post's text as stored and its blind index ([`messages::seal`]).
    sealed: (String, String),
    reply: oneshot::Sender<StoreResult<Posted>>,
}

type Reply = oneshot::Sender<StoreResult<Posted>>;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    db: Db,
}

impl Writer {
    /// Start the writer. On SQLite each batch also carries the deliveries
    /// `log` has queued into its own transaction (one commit, one turn at
    /// the write lock, for both); on PostgreSQL, where writers do not take
    /// turns, the log writes its own.
    pub fn start(
        db: Db,
        clock: Arc<dyn Clock>,
        hub: Arc<Hub>,
        gates: Arc<Gates>,
        log: DeliveryLog,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        let carry = (db.engine() == Engine::Sqlite).then_some(log);
        // A few batches may wait for their fsync at once; more, and the
        // writer waits too.
        let (done, committed) = mpsc::channel(8);
        tokio::spawn(acknowledge(hub.clone(), committed));
        tokio::spawn(run(db.clone(), clock, hub, gates, carry, rx, done));
        Writer { tx, db }
    }

    /// Posts waiting for the writer (issue 8: the `/metrics` queue depth).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Store a message; returns once it is committed (or was already).
    /// The text is sealed here, in the caller's task: many callers seal at
    /// once, and the one writer only writes (session 12).
    pub async fn post(&self, post: Post) -> StoreResult<Posted> {
        let sealed = messages::seal(&self.db, &post)?;
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                post,
                sealed,
                reply,
            })
            .await
            .map_err(|_| StoreError::Invalid("the server is shutting down".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Invalid("the server is shutting down".into()))?
    }
}

async fn run(
    db: Db,
    clock: Arc<dyn Clock>,
    hub: Arc<Hub>,
    gates: Arc<Gates>,
    log: Option<DeliveryLog>,
    mut rx: mpsc::Receiver<Job>,
    done: mpsc::Sender<Committed>,
) {
    // When SQLite's search index last took in new messages (never: the
    // first batch indexes at once), and whether some wait for it
    // (`store::search_index`).
    let mut indexed: Option<std::time::Instant> = None;
    let mut unindexed = false;
    loop {
        let first = if unindexed {
            match tokio::time::timeout(search_index::IDLE, rx.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(_) => {
                    // Sends paused: index what is left, in a transaction of
                    // its own. Once: should it fail, the next batch or
                    // search catches up (nothing depends on this one).
                    if let Err(e) = search_index::catch_up(&db).await {
                        tracing::warn!(error = %e, "search index catch-up failed");
                    }
                    unindexed = false;
                    indexed = Some(std::time::Instant::now());
                    continue;
                }
            }
        } else {
            match rx.recv().await {
                Some(job) => job,
                None => break,
            }
        };
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Take the channel rows' locks in one order (by id, as a consent
        // change does in `withholding::bump_in`), so a batch and a consent
        // change can never each hold a row the other waits for (a deadlock on
        // PostgreSQL). The sort is stable: a channel's posts keep their order.
        jobs.sort_by(|a, b| a.post.channel_id.cmp(&b.post.channel_id));
        let mut posts = Vec::with_capacity(jobs.len());
        let mut sealed = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            posts.push(job.post);
            sealed.push(job.sealed);
            replies.push(job.reply);
        }
        let started = std::time::Instant::now();
        let (turn, carried) = match &log {
            Some(log) => {
                let (turn, carried) = log.carry().await;
                (Some(turn), carried)
            }
            None => (None, Vec::new()),
        };
        let index = indexed.is_none_or(|at| at.elapsed() >= search_index::EVERY);
        let stored = messages::insert_sealed_batch_carrying(
            &db,
            &gates,
            &posts,
            &sealed,
            clock.now_ms(),
            &carried,
            index,
        )
        .await;
        if stored.is_ok() {
            if index {
                indexed = Some(std::time::Instant::now());
            }
            unindexed = !index && db.engine() == Engine::Sqlite;
        }
        if stored.is_err()
            && let Some(log) = &log
        {
            log.give_back(carried);
        }
        drop(turn);
        hub.metrics
            .writer_batch_seconds
            .observe(started.elapsed().as_secs_f64());
        hub.metrics.writer_batch_posts.observe(posts.len() as f64);
        match stored {
            Ok((posted, pending)) => {
                let _ = done.send(Committed::new(replies, posted, pending)).await;
            }
            Err(e) if e.is_unavailable() => {
                // The database is away: retrying one by one would make the
                // last sender wait once per post. Refuse this batch and
                // whatever queued behind it at once; senders retry with the
                // same client_id (never stored twice).
                tracing::warn!(error = %e, batch = replies.len(), "database unavailable; sends refused");
                while let Ok(job) = rx.try_recv() {
                    replies.push(job.reply);
                }
                let why = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
            Err(e) if replies.len() == 1 => {
                tracing::warn!(error = %e, "message send failed");
                if let Some(reply) = replies.pop() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                // One bad post must not sink the others: retry them one by one.
                tracing::warn!(error = %e, batch = replies.len(), "batch failed; retrying singly");
                for ((post, sealed), reply) in posts.iter().zip(&sealed).zip(replies) {
                    match messages::insert_sealed_batch_carrying(
                        &db,
                        &gates,
                        std::slice::from_ref(post),
                        std::slice::from_ref(sealed),
                        clock.now_ms(),
                        &[],
                        true,
                    )
                    .await
                    {
                        Ok((posted, pending)) => {
                            let _ = done
                                .send(Committed::new(vec![reply], posted, pending))
                                .await;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
        }
    }
}

/// A committed batch waiting to be durable.
struct Committed {
    replies: Vec<Reply>,
    posted: Vec<Posted>,
    pending: Pending,
    committed: std::time::Instant,
}

impl Committed {
    /// Just committed: the time until durable is measured from now.
    fn new(replies: Vec<Reply>, posted: Vec<Posted>, pending: Pending) -> Committed {
        Committed {
            replies,
            posted,
            pending,
            committed: std::time::Instant::now(),
        }
    }
}

/// Publish and acknowledge each committed batch once it is durable, in
/// commit order (so each channel's messages reach the hub in sequence).
async fn acknowledge(hub: Arc<Hub>, mut committed: mpsc::Receiver<Committed>) {
    while let Some(batch) = committed.recv().await {
        let durable = batch.pending.durable().await;
        hub.metrics
            .writer_sync_seconds
            .observe(batch.committed.elapsed().as_secs_f64());
        match durable {
            Ok(()) => {
                for (reply, posted) in batch.replies.into_iter().zip(batch.posted) {
                    publish(&hub, &posted);
                    let _ = reply.send(Ok(posted));
                }
            }
            Err(e) => {
                // Committed but not known to be on disk: nobody is told of
                // these posts; their senders retry with the same client_id.
                tracing::error!(error = %e, batch = batch.replies.len(), "batch not durable; sends refused");
                let why = e.to_string();
                for reply in batch.replies {
                    let _ = reply.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
        }
    }
}

fn publish(hub: &Hub, posted: &Posted) {
    let event = Outbound::Message(posted.message.clone());
    if posted.duplicate {
        // Sent again with a client_id already stored: most often because
        // the first answer was lost with the database (committed, but not
        // known to be), so it may never have been offered live here. Offer
        // it again; a connection that has it already skips it by its seq.
        // Not counted as committed, and other nodes had their notification
        // from the first commit.
        hub.publish_local(&posted.message.channel_id, event, None);
    } else {
        hub.publish(&posted.message.channel_id, event, None);
    }
}
