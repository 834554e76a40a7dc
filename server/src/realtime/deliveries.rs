//! The delivery log, written off the hot path: connections add each
//! delivery to a shared queue (a push under a short lock, waking nobody).
//! On SQLite the message writer carries what is queued into each batch's
//! own transaction ([`DeliveryLog::carry`]): under load the log then costs
//! no commit and no turn at the write lock of its own (session 6: it had
//! held that lock half of the time, and the writer waited 12 ms a batch).
//! Whatever no batch takes, and everything on PostgreSQL, one task writes
//! every 250 ms (sooner when the queue passes 4,000 or someone asks for a
//! flush), in transactions of 250. Each write also records the
//! information-sharing records its cross-agency deliveries imply, in the
//! same transaction ([`crate::store::sharing::Carried`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::domain::clock::Clock;
use crate::store::Db;
use crate::store::receipts::Delivery;
use crate::store::sharing::Carried;

/// The writer starts early once this many deliveries wait.
const BATCH: usize = 4000;
/// How long the writer gathers deliveries before writing them.
const EVERY: Duration = Duration::from_millis(250);
/// Deliveries written per transaction.
const CHUNK: usize = 250;
/// Connections wait (back-pressure, never a lost record) while this many
/// deliveries are queued.
const LIMIT: usize = 16_000;

#[derive(Default)]
struct Queue {
    deliveries: Vec<Delivery>,
    /// Answered once everything queued before them is written.
    flushes: Vec<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Something was queued into an empty queue, or a flush was asked for.
    work: Notify,
    /// Write now rather than at the end of the gathering window.
    hurry: Notify,
    /// The writer took the queue: room for waiting connections.
    room: Notify,
    /// Held (shared) by the message writer while deliveries it took are in
    /// its transaction; a flush takes it alone to wait for them.
    carrying: tokio::sync::RwLock<()>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue holds plain data: a panic elsewhere while it was held
        // leaves it whole, so carry on with it.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
pub struct DeliveryLog {
    shared: Arc<Shared>,
}

impl DeliveryLog {
    pub fn start(db: Db, clock: Arc<dyn Clock>) -> DeliveryLog {
        let shared = Arc::new(Shared::default());
        tokio::spawn(run(db, clock, shared.clone()));
        DeliveryLog { shared }
    }

    /// Queue one delivery; waits only if the queue is full.
    pub async fn record(&self, d: Delivery) {
        let mut d = Some(d);
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let queued = {
                let mut q = self.shared.lock();
                if q.deliveries.len() < LIMIT {
                    if let Some(d) = d.take() {
                        q.deliveries.push(d);
                    }
                    Some(q.deliveries.len())
                } else {
                    None
                }
            };
            match queued {
                Some(1) => return self.shared.work.notify_one(),
                Some(n) if n == BATCH => return self.shared.hurry.notify_one(),
                Some(_) => return,
                None => {
                    self.shared.hurry.notify_one();
                    room.await;
                }
            }
        }
    }

    /// For the message writer on SQLite: up to `max` queued deliveries to
    /// write in its own transaction, so that under load the log costs no
    /// commit (and no turn at the write lock) of its own. Keep the guard
    /// until that transaction has committed or failed (a flush waits for
    /// it), and [`give_back`](Self::give_back) the deliveries if it failed.
    pub async fn carry(&self, max: usize) -> (tokio::sync::RwLockReadGuard<'_, ()>, Vec<Delivery>) {
        let turn = self.shared.carrying.read().await;
        let taken = {
            let mut q = self.shared.lock();
            if q.deliveries.len() <= max {
                std::mem::take(&mut q.deliveries)
            } else {
                let rest = q.deliveries.split_off(max);
                std::mem::replace(&mut q.deliveries, rest)
            }
        };
        if !taken.is_empty() {
            self.shared.room.notify_waiters();
        }
        (turn, taken)
    }

    /// Deliveries a failed transaction carried: the log writes them itself.
    pub fn give_back(&self, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        self.shared.lock().deliveries.extend(deliveries);
        self.shared.work.notify_one();
    }

    /// Deliveries waiting in the queue (for `/metrics`).
    pub fn queued(&self) -> usize {
        self.shared.lock().deliveries.len()
    }

    /// Write everything queued so far (tests, shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        self.shared.lock().flushes.push(done);
        self.shared.work.notify_one();
        self.shared.hurry.notify_one();
        let _ = wait.await;
    }
}

async fn run(db: Db, clock: Arc<dyn Clock>, shared: Arc<Shared>) {
    loop {
        // Wait for the first delivery, then gather for up to EVERY (or
        // until the queue is full, or someone asks for a flush): a few large
        // writes a second rather than one per message, so the message
        // writer is not queued behind the delivery log for the write lock.
        shared.work.notified().await;
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = shared.hurry.notified() => {}
        }
        let Queue {
            deliveries,
            flushes,
        } = std::mem::take(&mut *shared.lock());
        shared.room.notify_waiters();
        write(&db, clock.as_ref(), deliveries).await;
        if !flushes.is_empty() {
            // Deliveries the message writer took before the flush was asked
            // for: wait for its transaction, and write any it gave back.
            let _alone = shared.carrying.write().await;
            let given_back = std::mem::take(&mut shared.lock().deliveries);
            write(&db, clock.as_ref(), given_back).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Write deliveries in transactions of [`CHUNK`] (between them the message
/// writer, queued on the same write turn, commits), retrying each until it
/// is written: a delivery is never dropped.
async fn write(db: &Db, clock: &dyn Clock, deliveries: Vec<Delivery>) {
    let mut rest = deliveries.into_iter();
    loop {
        let mut chunk = Carried::new(rest.by_ref().take(CHUNK).collect());
        if chunk.is_empty() {
            return;
        }
        while let Err(e) = chunk.write(db, clock.now_ms()).await {
            tracing::error!(error = %e, count = chunk.deliveries.len(), "cannot write the delivery log; will retry");
            tokio::time::sleep(EVERY).await;
        }
    }
}
