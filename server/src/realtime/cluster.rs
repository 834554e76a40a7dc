//! Several nodes on one PostgreSQL database: live delivery across them
//! through `LISTEN/NOTIFY`, with no broker besides the database.
//!
//! - **Messages**: the writer's transaction notifies `confer_messages` with
//!   (channel, sequence number) pairs, delivered only when it commits
//!   (`store::cluster::messages_committed`).
//! - **Everything else** the hub does that other nodes must know (an edit or
//!   removal, a read receipt, access to a case ended, a session revoked) the
//!   hub forwards here, and one task sends it on `confer_control`.
//! - **Each node listens** on its own connection, fetches what its own
//!   subscribers need from the database (never from the notification: it
//!   carries ids and numbers only) and hands it to its hub without passing
//!   it on again. Each connection skips sequence numbers it has sent and
//!   fills gaps from the database, so a repeat is harmless.
//! - **A lost listening connection** is re-established (LISTEN first), then
//!   every subscribed channel is brought up to date from the database from
//!   the last sequence number delivered, and every subscription and session
//!   on this node is checked again, so nothing missed is lost or doubled.
//! - **A fetch the database fails** (a notification heard, the messages not
//!   readable: a failover, a full pool) is tried again after [`RETRY`],
//!   then at doubling intervals up to [`RETRY_MAX`], until it succeeds, so
//!   the messages arrive without waiting for the channel's next message or
//!   a lost connection.
//!
//! On SQLite (one node) none of this starts.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::hub::{Hub, Outbound, Someone};
use crate::config::DatabaseUrl;
use crate::domain::clock::Clock;
use crate::http::Revoked;
use crate::store::cluster::{self as store, CONTROL, Committed, MESSAGES};
use crate::store::{Db, StoreError, StoreResult, channels, messages, people, sessions};

/// The listening connection's `application_name`, so an operator (or a
/// test) can find it in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "confer-cluster-listener";
const PAGE: i64 = 500;
/// How soon a failed fetch of notified messages is tried again; the wait
/// doubles while the fetches keep failing, up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Something another node must do. Ids and numbers only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Event {
    /// A message was edited or removed: fetch it again.
    Updated {
        c: String,
        s: i64,
    },
    /// Person `p` has read channel `c` up to `s`.
    Receipt {
        c: String,
        p: String,
        s: i64,
        at: i64,
    },
    /// Person `p` no longer has access to the case.
    AccessEnded {
        case: String,
        p: String,
    },
    SessionRevoked {
        h: String,
    },
    PersonRevoked {
        p: String,
    },
}

impl From<&Revoked> for Event {
    fn from(r: &Revoked) -> Self {
        match r {
            Revoked::Session { session_hash } => Event::SessionRevoked {
                h: session_hash.clone(),
            },
            Revoked::Person { person_id } => Event::PersonRevoked {
                p: person_id.clone(),
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Control {
    n: String,
    e: Vec<Event>,
}

/// Start the sender and the listener (PostgreSQL only; the caller checks).
pub fn start(
    db: Db,
    url: DatabaseUrl,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    hub.forward_to(tx);
    tokio::spawn(send(db.clone(), rx));
    let node = Node {
        db,
        hub,
        clock,
        last: HashMap::new(),
        unfetched: HashMap::new(),
        retry_at: None,
        retry_wait: RETRY,
    };
    tokio::spawn(node.listen(url, shutdown));
}

/// Send forwarded events in batches, split to fit the payload limit.
async fn send(db: Db, mut rx: mpsc::UnboundedReceiver<Event>) {
    let node = db.node_id().to_string();
    while let Some(first) = rx.recv().await {
        let mut events = vec![first];
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        for payload in store::payloads(&events, |e| {
            serde_json::json!(Control { n: node.clone(), e })
        }) {
            // A database that is briefly away: try a few times.
            for attempt in 0..5u64 {
                match store::notify_now(&db, CONTROL, &payload).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "cluster notification failed");
                        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                    }
                }
            }
        }
    }
}

struct Node {
    db: Db,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    /// The last sequence number handed to the hub, per channel.
    last: HashMap<String, i64>,
    /// Channels whose notified messages could not be fetched: from which
    /// sequence number (if none was delivered since) up to which.
    unfetched: HashMap<String, (i64, i64)>,
    /// When to try them again, and how long the next wait is.
    retry_at: Option<tokio::time::Instant>,
    retry_wait: Duration,
}

async fn connect(url: &DatabaseUrl) -> Result<PgListener, sqlx::Error> {
    let options = PgConnectOptions::from_str(url.expose())?.application_name(LISTENER_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // One at a time: sqlx 0.9's `listen_all` forgets its channels, and would
    // not LISTEN again after reconnecting.
    listener.listen(MESSAGES).await?;
    listener.listen(CONTROL).await?;
    Ok(listener)
}

impl Node {
    async fn listen(mut self, url: DatabaseUrl, shutdown: CancellationToken) {
        let mut lost: Option<Instant> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                c = connect(&url) => c,
            };
            let mut listener = match connected {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: cannot listen for notifications; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            self.hub.metrics.cluster_listening.set(1);
            if let Some(since) = lost.take() {
                // Listening again: now whatever the database holds beyond
                // what was delivered is exactly what was missed.
                while let Err(e) = self.recover().await {
                    tracing::warn!(error = %e, "cluster: recovery failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                self.hub.metrics.cluster_recoveries.inc();
                tracing::info!(
                    millis = since.elapsed().as_millis() as u64,
                    "cluster: notification connection restored and missed events recovered"
                );
            }
            loop {
                // `try_recv` may be dropped for the retry: sqlx keeps a part-read
                // message in the connection's buffer (its `recv_unchecked`
                // is cancel-safe).
                let retry_at = self.retry_at;
                let next = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = async {
                        match retry_at {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    } => {
                        self.fetch_again().await;
                        continue;
                    }
                    n = listener.try_recv() => n,
                };
                match next {
                    Ok(Some(first)) => {
                        let mut batch = vec![first];
                        while let Some(n) = listener.next_buffered() {
                            batch.push(n);
                        }
                        self.handle(batch).await;
                    }
                    Ok(None) | Err(_) => {
                        tracing::warn!("cluster: notification connection lost; reconnecting");
                        lost = Some(Instant::now());
                        self.hub.metrics.cluster_listening.set(0);
                        break;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, batch: Vec<PgNotification>) {
        let own = self.db.node_id().to_string();
        // Per channel, in order of first appearance: the lowest and highest
        // sequence number notified.
        let mut order: Vec<String> = Vec::new();
        let mut ranges: HashMap<String, (i64, i64)> = HashMap::new();
        let mut control: Vec<Event> = Vec::new();
        for n in batch {
            match n.channel() {
                MESSAGES => {
                    let Ok(c) = serde_json::from_str::<Committed>(n.payload()) else {
                        tracing::warn!("cluster: unreadable message notification");
                        continue;
                    };
                    if c.n == own {
                        // Delivered here already: only remember how far.
                        for (ch, seq) in c.m {
                            let known = self.last.entry(ch).or_insert(seq);
                            *known = (*known).max(seq);
                        }
                        continue;
                    }
                    self.hub.metrics.cluster_notifications.inc();
                    for (ch, seq) in c.m {
                        let r = ranges.entry(ch.clone()).or_insert_with(|| {
                            order.push(ch);
                            (seq, seq)
                        });
                        *r = (r.0.min(seq), r.1.max(seq));
                    }
                }
                CONTROL => {
                    let Ok(c) = serde_json::from_str::<Control>(n.payload()) else {
                        tracing::warn!("cluster: unreadable control notification");
                        continue;
                    };
                    if c.n == own {
                        continue;
                    }
                    self.hub.metrics.cluster_notifications.inc();
                    control.extend(c.e);
                }
                _ => {}
            }
        }
        // Each channel's first page is fetched side by side (one query and
        // connection each): one after another, a batch naming fifty
        // channels cost a hundred round trips before the last was delivered
        // (issue 8's two-node run). Pages are then handed to the hub in
        // order; a longer range is finished by `catch_up`.
        let mut wanted = Vec::with_capacity(order.len());
        for ch in order {
            let (low, high) = ranges[&ch];
            let from = self.last.get(&ch).copied().unwrap_or(low - 1).max(0);
            if from >= high {
                continue;
            }
            if !self.hub.has_subscribers(&ch) {
                self.last.insert(ch, high);
                continue;
            }
            wanted.push((ch, from, high));
        }
        let pages = futures_util::future::join_all(wanted.iter().map(|(ch, from, high)| {
            messages::after_unchecked(&self.db, ch, *from, (high - from).min(PAGE))
        }))
        .await;
        for ((ch, from, high), page) in wanted.into_iter().zip(pages) {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: could not fetch notified messages; will retry");
                    self.unfetched(&ch, from, high);
                    continue;
                }
            };
            let Some(end) = page.last().map(|m| m.seq) else {
                continue;
            };
            for m in page {
                self.hub
                    .publish_local(&ch, Outbound::Message(Arc::new(m)), None);
            }
            self.last.insert(ch.clone(), end);
            if end < high
                && let Err(e) = self.catch_up(&ch, None, high).await
            {
                tracing::warn!(error = %e, "cluster: could not fetch notified messages; will retry");
                self.unfetched(&ch, from, high);
            }
        }
        for event in control {
            if let Err(e) = self.apply(event).await {
                tracing::warn!(error = %e, "cluster: could not apply a control event");
            }
        }
    }

    /// Remember that `channel`'s messages after `from` up to `upto` could
    /// not be fetched, and when to try again.
    fn unfetched(&mut self, channel: &str, from: i64, upto: i64) {
        let range = self
            .unfetched
            .entry(channel.to_string())
            .or_insert((from, upto));
        *range = (range.0.min(from), range.1.max(upto));
        let wait = self.retry_wait;
        self.retry_at
            .get_or_insert_with(|| tokio::time::Instant::now() + wait);
    }

    /// Try every failed fetch again; what fails again waits for the next
    /// turn, twice as long (one warning a turn, not one a channel).
    async fn fetch_again(&mut self) {
        self.retry_at = None;
        let mut failed = None;
        for (channel, (from, upto)) in std::mem::take(&mut self.unfetched) {
            self.hub.metrics.cluster_fetch_retries.inc();
            if let Err(e) = self.catch_up(&channel, Some(from), upto).await {
                failed = Some(e);
                self.unfetched.insert(channel, (from, upto));
            }
        }
        match failed {
            Some(e) => {
                self.retry_wait = (self.retry_wait * 2).min(RETRY_MAX);
                tracing::warn!(error = %e, channels = self.unfetched.len(), retry_in_ms = self.retry_wait.as_millis() as u64,
                    "cluster: could not fetch notified messages; will retry");
                self.retry_at = Some(tokio::time::Instant::now() + self.retry_wait);
            }
            None => self.retry_wait = RETRY,
        }
    }

    /// Hand the hub every message of `channel` after the last one delivered
    /// (or after `fallback` if none was) up to `upto`.
    async fn catch_up(
        &mut self,
        channel: &str,
        fallback: Option<i64>,
        upto: i64,
    ) -> StoreResult<u64> {
        let last = self.last.get(channel).copied().or(fallback);
        if !self.hub.has_subscribers(channel) {
            // Nobody here needs it now; remember how far it has gone.
            let known = self.last.entry(channel.to_string()).or_insert(upto);
            *known = (*known).max(upto);
            return Ok(0);
        }
        let mut from = last.unwrap_or(upto - 1).max(0);
        let mut sent = 0;
        while from < upto {
            let page =
                messages::after_unchecked(&self.db, channel, from, (upto - from).min(PAGE)).await?;
            let Some(end) = page.last().map(|m| m.seq) else {
                break;
            };
            for m in page {
                self.hub
                    .publish_local(channel, Outbound::Message(Arc::new(m)), None);
                sent += 1;
            }
            from = end;
            self.last.insert(channel.to_string(), end);
        }
        Ok(sent)
    }

    async fn apply(&mut self, event: Event) -> StoreResult<()> {
        match event {
            Event::Updated { c, s } => {
                if self.hub.has_subscribers(&c)
                    && let Some(m) = messages::after_unchecked(&self.db, &c, s - 1, 1)
                        .await?
                        .pop()
                    && m.seq == s
                {
                    self.hub
                        .publish_local(&c, Outbound::Updated(Arc::new(m)), None);
                }
            }
            Event::Receipt { c, p, s, at } => {
                if self.hub.has_subscribers(&c) {
                    let person = people::get(&self.db, &p).await?;
                    let who = Someone {
                        id: person.id,
                        name: person.name,
                        agency: person.agency_name,
                    };
                    self.hub.publish_local(
                        &c,
                        Outbound::Receipt {
                            channel: c.clone(),
                            who,
                            seq: s,
                            at,
                        },
                        None,
                    );
                }
            }
            Event::AccessEnded { case, p } => self.hub.case_access_ended_local(&case, &p),
            Event::SessionRevoked { h } => {
                self.hub.revoke_local(&Revoked::Session { session_hash: h })
            }
            Event::PersonRevoked { p } => self.hub.revoke_local(&Revoked::Person { person_id: p }),
        }
        Ok(())
    }

    /// After a lost connection: deliver what was committed meanwhile, and
    /// apply any access ended or session revoked that was missed.
    async fn recover(&mut self) -> StoreResult<()> {
        let mut recovered = 0;
        for ch in self.hub.subscribed_channels() {
            let upto = store::last_seq(&self.db, &ch).await?;
            recovered += self.catch_up(&ch, None, upto).await?;
        }
        self.hub
            .metrics
            .cluster_recovered_messages
            .inc_by(recovered);
        let now = self.clock.now_ms();
        let mut actors = HashMap::new();
        for (person_id, channel, case_id) in self.hub.subscriptions() {
            if !actors.contains_key(&person_id) {
                // Gone is gone; a database that cannot answer is tried again.
                let actor = match people::get(&self.db, &person_id).await {
                    Ok(p) => Some(p.actor()),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e),
                };
                actors.insert(person_id.clone(), actor);
            }
            let allowed = match actors.get(&person_id).and_then(|a| a.as_ref()) {
                Some(actor) => match channels::authorize(&self.db, actor, &channel, now).await {
                    Ok(_) => true,
                    Err(StoreError::NotFound | StoreError::Forbidden(_)) => false,
                    Err(e) => return Err(e),
                },
                None => false,
            };
            if !allowed {
                self.hub.case_access_ended_local(&case_id, &person_id);
            }
        }
        for h in self.hub.session_hashes() {
            if !sessions::still_valid(&self.db, &h, now).await? {
                self.hub.revoke_local(&Revoked::Session { session_hash: h });
            }
        }
        Ok(())
    }
}
