//! The single writer: every message send in this process goes through one
//! task that takes whatever is queued (up to a batch) and commits it in one
//! transaction (group commit), then publishes it to the hub in sequence
//! order and only then acknowledges each sender. One commit's fsync is
//! shared by the whole batch. Every send path (websocket, JSON API, the
//! pages' forms) comes through here, so this is where consent holds a
//! message back from an agency (`store::withholding`).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::deliveries::DeliveryLog;
use super::hub::{Hub, Outbound};
use crate::config::Engine;
use crate::domain::clock::Clock;
use crate::store::messages::{self, Post, Posted};
use crate::store::withholding::Gates;
use crate::store::{Db, StoreError, StoreResult};

/// Largest batch committed at once.
const BATCH: usize = 256;

struct Job {
    post: Post,
    reply: oneshot::Sender<StoreResult<Posted>>,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
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
        tokio::spawn(run(db, clock, hub, gates, carry, rx));
        Writer { tx }
    }

    /// Posts waiting for the writer (issue 8: the `/metrics` queue depth).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Store a message; returns once it is committed (or was already).
    pub async fn post(&self, post: Post) -> StoreResult<Posted> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { post, reply })
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
) {
    while let Some(first) = rx.recv().await {
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
        let posts: Vec<Post> = jobs.iter().map(|j| j.post.clone()).collect();
        let started = std::time::Instant::now();
        let (turn, carried) = match &log {
            Some(log) => {
                let (turn, carried) = log.carry().await;
                (Some(turn), carried)
            }
            None => (None, Vec::new()),
        };
        let stored =
            messages::insert_batch_carrying(&db, &gates, &posts, clock.now_ms(), &carried).await;
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
            Ok(results) => {
                for (job, posted) in jobs.into_iter().zip(results) {
                    publish(&hub, &posted);
                    let _ = job.reply.send(Ok(posted));
                }
            }
            Err(e) if e.is_unavailable() => {
                // The database is away: retrying one by one would make the
                // last sender wait once per post. Refuse this batch and
                // whatever queued behind it at once; senders retry with the
                // same client_id (never stored twice).
                tracing::warn!(error = %e, batch = jobs.len(), "database unavailable; sends refused");
                while let Ok(job) = rx.try_recv() {
                    jobs.push(job);
                }
                let why = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
            Err(e) if jobs.len() == 1 => {
                tracing::warn!(error = %e, "message send failed");
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(e) => {
                // One bad post must not sink the others: retry them one by one.
                tracing::warn!(error = %e, batch = jobs.len(), "batch failed; retrying singly");
                for job in jobs {
                    let result = messages::insert_batch(
                        &db,
                        &gates,
                        std::slice::from_ref(&job.post),
                        clock.now_ms(),
                    )
                    .await
                    .and_then(|mut r| r.pop().ok_or(StoreError::NotFound));
                    if let Ok(posted) = &result {
                        publish(&hub, posted);
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

fn publish(hub: &Hub, posted: &Posted) {
    if !posted.duplicate {
        hub.publish(
            &posted.message.channel_id,
            Outbound::Message(posted.message.clone()),
            None,
        );
    }
}
