//! The delivery log, written off the hot path: connections hand each
//! delivery to a queue; one task writes them in batches (every 250 ms or
//! 4,000 deliveries, in transactions of 250), so a message to ten people
//! costs ten queue pushes, not ten transactions. Each batch also writes the information-sharing
//! records its cross-agency deliveries imply, in the same transaction
//! ([`crate::store::sharing::record_deliveries`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::domain::clock::Clock;
use crate::store::Db;
use crate::store::receipts::Delivery;
use crate::store::sharing;

const BATCH: usize = 4000;
const EVERY: Duration = Duration::from_millis(250);
/// Deliveries written per transaction.
const CHUNK: usize = 250;

enum Item {
    Delivery(Delivery),
    /// Write everything queued so far, then answer.
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct DeliveryLog {
    tx: mpsc::Sender<Item>,
}

impl DeliveryLog {
    pub fn start(db: Db, clock: Arc<dyn Clock>) -> DeliveryLog {
        let (tx, rx) = mpsc::channel(16_000);
        tokio::spawn(run(db, clock, rx));
        DeliveryLog { tx }
    }

    /// Queue one delivery; waits only if the queue is full (back-pressure
    /// on the connection delivering, never a lost record).
    pub async fn record(&self, d: Delivery) {
        let _ = self.tx.send(Item::Delivery(d)).await;
    }

    /// Deliveries waiting in the queue (for `/metrics`).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Write everything queued so far (tests, shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Item::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(db: Db, clock: Arc<dyn Clock>, mut rx: mpsc::Receiver<Item>) {
    let mut pending: Vec<Delivery> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        // Wait for the first delivery, then gather for up to EVERY (or until
        // a batch is full, or someone asks for a flush): a few large writes
        // a second rather than one per message, so the message writer is
        // not queued behind the delivery log for the write lock.
        match rx.recv().await {
            Some(Item::Delivery(d)) => pending.push(d),
            Some(Item::Flush(done)) => waiting.push(done),
            None => break,
        }
        let until = tokio::time::Instant::now() + EVERY;
        while waiting.is_empty() && pending.len() < BATCH {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(Item::Delivery(d))) => pending.push(d),
                Ok(Some(Item::Flush(done))) => waiting.push(done),
                Ok(None) | Err(_) => break,
            }
        }
        while pending.len() < BATCH {
            match rx.try_recv() {
                Ok(Item::Delivery(d)) => pending.push(d),
                Ok(Item::Flush(done)) => waiting.push(done),
                Err(_) => break,
            }
        }
        // One transaction per chunk: between chunks the message writer,
        // queued on the same write turn, commits.
        while !pending.is_empty() {
            let n = pending.len().min(CHUNK);
            if let Err(e) = sharing::record_deliveries(&db, &pending[..n], clock.now_ms()).await {
                tracing::error!(error = %e, count = n, "cannot write the delivery log; will retry");
                tokio::time::sleep(EVERY).await;
                continue;
            }
            pending.drain(..n);
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
