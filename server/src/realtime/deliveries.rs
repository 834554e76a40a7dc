//! The delivery log, written off the hot path: connections add each
//! delivery to a shared queue (a push under a short lock, waking nobody).
//! One task takes the queue and derives the information-sharing records
//! its cross-agency deliveries imply (the reads that needs), in batches of
//! 250 ([`crate::store::sharing::Carried`]). On SQLite it does so every
//! 20 ms, and the message writer carries the prepared batches into its own
//! transaction ([`DeliveryLog::carry`]): under load the log then costs no
//! commit and no turn at the write lock of its own (session 6: it had held
//! that lock half of the time, and the writer waited 12 ms a batch). Batches
//! no message batch takes within 250 ms, and everything on PostgreSQL
//! (where writers do not take turns), the task writes itself, each in a
//! transaction of its own. A delivery and its sharing record are always
//! written in one transaction.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::config::Engine;
use crate::domain::clock::Clock;
use crate::store::Db;
use crate::store::receipts::Delivery;
use crate::store::sharing::Carried;

/// The task starts early once this many deliveries wait.
const BATCH: usize = 4000;
/// How long a prepared batch waits for a message batch to carry it (and,
/// on PostgreSQL, how long the task gathers deliveries) before the task
/// writes it itself.
const EVERY: Duration = Duration::from_millis(250);
/// How long the task gathers deliveries before preparing them, on SQLite.
const GATHER: Duration = Duration::from_millis(20);
/// Deliveries per prepared batch (and per transaction of the task's own).
const CHUNK: usize = 250;
/// Connections wait (back-pressure, never a lost record) while this many
/// deliveries are queued.
const LIMIT: usize = 16_000;

#[derive(Default)]
struct Queue {
    deliveries: Vec<Delivery>,
    /// Answered once everything queued before them is written.
    flushes: Vec<oneshot::Sender<()>>,
    /// Prepared batches waiting for a transaction, with when they were ready.
    ready: Vec<(Instant, Carried)>,
    /// Batches a failed message batch gave back: the task writes these
    /// itself, never a message batch again (should one of them be what
    /// failed, it must not sink every message batch that carries it).
    given_back: Vec<Carried>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Something was queued into an empty queue, or a flush was asked for.
    work: Notify,
    /// Take the queue now rather than at the end of the gathering window.
    hurry: Notify,
    /// The task took the queue: room for waiting connections.
    room: Notify,
    /// Held (shared) by the message writer while batches it took are in its
    /// transaction; a flush takes it alone to wait for them.
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
    pub async fn record(&self, mut d: Delivery) {
        loop {
            // Nearly always there is room: queued at once, with no waiter
            // registered and taken down again.
            d = match self.try_push(d) {
                None => return,
                Some(d) => d,
            };
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            // The task may have made room before the waiter was registered.
            d = match self.try_push(d) {
                None => return,
                Some(d) => d,
            };
            self.shared.hurry.notify_one();
            room.await;
        }
    }

    /// Queue `d` if there is room, waking the task when it was idle (the
    /// first) or when a batch's worth waits; else hand `d` back (`Some`).
    fn try_push(&self, d: Delivery) -> Option<Delivery> {
        let queued = {
            let mut q = self.shared.lock();
            if q.deliveries.len() >= LIMIT {
                return Some(d);
            }
            q.deliveries.push(d);
            q.deliveries.len()
        };
        if queued == 1 {
            self.shared.work.notify_one();
        } else if queued == BATCH {
            self.shared.hurry.notify_one();
        }
        None
    }

    /// For the message writer on SQLite: the prepared batches (deliveries
    /// with their sharing records) to write in its own transaction. Keep
    /// the guard until that transaction has committed or failed (a flush
    /// waits for it), and [`give_back`](Self::give_back) the batches if it
    /// failed.
    pub async fn carry(&self) -> (tokio::sync::RwLockReadGuard<'_, ()>, Vec<Carried>) {
        let turn = self.shared.carrying.read().await;
        let taken = std::mem::take(&mut self.shared.lock().ready);
        (turn, taken.into_iter().map(|(_, c)| c).collect())
    }

    /// Batches a failed transaction carried: the log writes them itself.
    pub fn give_back(&self, batches: Vec<Carried>) {
        if batches.is_empty() {
            return;
        }
        self.shared.lock().given_back.extend(batches);
        self.shared.work.notify_one();
    }

    /// Deliveries waiting to be written (for `/metrics`).
    pub fn queued(&self) -> usize {
        let q = self.shared.lock();
        let batches = q.ready.iter().map(|(_, c)| c).chain(&q.given_back);
        q.deliveries.len() + batches.map(|c| c.deliveries.len()).sum::<usize>()
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
    // Only SQLite's message writer carries prepared batches.
    let carried = db.engine() == Engine::Sqlite;
    let gather = if carried { GATHER } else { EVERY };
    loop {
        // Wait for work, or until the oldest prepared batch is due; then gather.
        let due_at = shared.lock().next_due();
        match due_at {
            Some(at) => {
                let _ = tokio::time::timeout_at(at, shared.work.notified()).await;
            }
            None => shared.work.notified().await,
        }
        tokio::select! {
            () = tokio::time::sleep(gather) => {}
            () = shared.hurry.notified() => {}
        }
        let (deliveries, flushes) = {
            let mut q = shared.lock();
            (
                std::mem::take(&mut q.deliveries),
                std::mem::take(&mut q.flushes),
            )
        };
        shared.room.notify_waiters();
        let prepared = prepare(&db, clock.as_ref(), deliveries).await;
        let now = Instant::now();
        shared
            .lock()
            .ready
            .extend(prepared.into_iter().map(|c| (now, c)));
        // A flush first waits for the batches the message writer took before
        // it was asked for (their transaction commits, or gives them back),
        // then writes everything; otherwise, what is due.
        let alone = if flushes.is_empty() {
            None
        } else {
            Some(shared.carrying.write().await)
        };
        let due = shared.lock().take_due(now, !carried || alone.is_some());
        write(&db, clock.as_ref(), due).await;
        drop(alone);
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl Queue {
    /// When the task must write prepared batches itself: at once for
    /// batches given back, else once the oldest has waited [`EVERY`].
    fn next_due(&self) -> Option<Instant> {
        if !self.given_back.is_empty() {
            return Some(Instant::now());
        }
        self.ready.first().map(|(at, _)| *at + EVERY)
    }

    /// The batches to write now: those given back, and the prepared ones no
    /// message batch took within [`EVERY`] (or all of them).
    fn take_due(&mut self, now: Instant, all: bool) -> Vec<Carried> {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ready)
            .into_iter()
            .partition(|(at, _)| all || *at + EVERY <= now);
        self.ready = keep;
        let mut out = std::mem::take(&mut self.given_back);
        out.extend(due.into_iter().map(|(_, c)| c));
        out
    }
}

/// Deliveries in batches of [`CHUNK`], each with its sharing records
/// derived (retried until they are: a delivery is never dropped).
async fn prepare(db: &Db, clock: &dyn Clock, deliveries: Vec<Delivery>) -> Vec<Carried> {
    let mut out = Vec::new();
    let mut rest = deliveries.into_iter();
    loop {
        let mut chunk = Carried::new(rest.by_ref().take(CHUNK).collect());
        if chunk.is_empty() {
            return out;
        }
        while let Err(e) = chunk.derive_records(db, clock.now_ms()).await {
            tracing::error!(error = %e, count = chunk.deliveries.len(), "cannot read for the delivery log; will retry");
            tokio::time::sleep(EVERY).await;
        }
        out.push(chunk);
    }
}

/// Write prepared batches, each in a transaction of its own (between them
/// the message writer, queued on the same write turn, commits), retrying
/// each until it is written.
async fn write(db: &Db, clock: &dyn Clock, batches: Vec<Carried>) {
    for mut chunk in batches {
        while let Err(e) = chunk.write(db, clock.now_ms()).await {
            tracing::error!(error = %e, count = chunk.deliveries.len(), "cannot write the delivery log; will retry");
            tokio::time::sleep(EVERY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn delivery(i: usize) -> Delivery {
        Delivery {
            message_id: format!("m{i}"),
            person_id: "p".into(),
            agency_id: "a".into(),
            at: 0,
            channel_id: "c".into(),
            seq: i as i64,
            author_id: "q".into(),
            author_agency_id: "b".into(),
        }
    }

    async fn within_a_second<F: std::future::Future>(f: F, what: &str) -> F::Output {
        tokio::time::timeout(Duration::from_secs(1), f)
            .await
            .unwrap_or_else(|_| panic!("{what} within a second"))
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_connection_back_until_it_is_taken() {
        // No task: the test plays its part.
        let log = DeliveryLog {
            shared: Arc::new(Shared::default()),
        };
        let work = log.shared.work.notified();
        log.record(delivery(0)).await;
        within_a_second(work, "the first delivery wakes the task").await;
        let hurry = log.shared.hurry.notified();
        for i in 1..LIMIT {
            log.record(delivery(i)).await;
        }
        within_a_second(hurry, "a batch's worth hurries it").await;
        assert_eq!(log.shared.lock().deliveries.len(), LIMIT);

        // Full: the next one waits, and asks the task to hurry.
        let hurry = log.shared.hurry.notified();
        let waiting = tokio::spawn({
            let log = log.clone();
            async move { log.record(delivery(LIMIT)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a full queue holds the caller back");
        assert_eq!(log.shared.lock().deliveries.len(), LIMIT);
        within_a_second(hurry, "a caller held back hurries the task").await;

        // The task takes the queue: the caller's delivery goes in.
        let taken = std::mem::take(&mut log.shared.lock().deliveries);
        assert_eq!(taken.len(), LIMIT);
        log.shared.room.notify_waiters();
        within_a_second(waiting, "the caller goes on once there is room")
            .await
            .expect("record");
        let q = log.shared.lock();
        assert_eq!(q.deliveries.len(), 1);
        assert_eq!(q.deliveries[0].message_id, format!("m{LIMIT}"));
    }
}
