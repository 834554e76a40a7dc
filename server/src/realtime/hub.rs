//! The in-process fan-out. Each connection has a bounded queue; live events
//! are offered with `try_send`, never awaited, so one slow client cannot
//! hold up anyone else. Ephemeral events (typing, presence) are shed once a
//! queue is half full. A message that finds a queue full is dropped and the
//! connection told to catch up from the database (by sequence number, so
//! nothing is lost): a burst (a node recovering what it missed) or a
//! connection waiting for the database on its client's behalf is not the
//! client's fault. A queue that stays full for longer than [`GRACE_MS`]
//! while its connection is not waiting for the database means the client
//! is not reading: it is disconnected (close code 4008) and resumes from
//! its last sequence number.
//!
//! On PostgreSQL the hub also forwards what happens here to the other nodes
//! (`super::cluster`): edits, receipts, access ended and revocations through
//! [`Hub::forward_to`]; committed messages are notified by the writer's own
//! transaction. What other nodes send is delivered with the `*_local`
//! methods, which never forward again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cluster::Event;
use crate::http::Revoked;
use crate::metrics::Metrics;
use crate::store::messages::StoredMessage;

pub type ConnId = u64;

/// Capacity of each connection's outbound queue.
pub const QUEUE: usize = 256;
/// How long a connection may leave a full queue (and the catch-up asked
/// for) untaken before the hub gives up on it.
pub const GRACE_MS: u64 = 2_000;

/// A person as others see them in presence and typing events.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Someone {
    pub id: String,
    pub name: String,
    pub agency: String,
}

/// Something for one connection to send.
#[derive(Clone, Debug)]
pub enum Outbound {
    Message(Arc<StoredMessage>),
    Updated(Arc<StoredMessage>),
    Receipt {
        channel: String,
        who: Someone,
        seq: i64,
        at: i64,
    },
    Typing {
        channel: String,
        who: Someone,
    },
    Presence {
        channel: String,
        online: Arc<Vec<Someone>>,
    },
}

impl Outbound {
    fn ephemeral(&self) -> bool {
        matches!(self, Outbound::Typing { .. } | Outbound::Presence { .. })
    }
}

/// Out-of-band instructions to a connection (never shed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// The person's access to a case ended: drop its channels.
    CaseAccessEnded { case_id: String },
    /// Close the connection with this code.
    Close { code: u16, reason: &'static str },
    /// Messages were dropped from the full queue: fetch its channels' news
    /// from the database, by sequence number.
    CatchUp,
}

/// Close codes of the protocol (see docs/protocol.md).
pub mod close {
    pub const SESSION_ENDED: u16 = 4001;
    pub const HEARTBEAT_TIMEOUT: u16 = 4002;
    pub const TOO_SLOW: u16 = 4008;
    pub const GOING_AWAY: u16 = 1001;
}

struct Conn {
    who: Someone,
    session_hash: String,
    /// Cancelled to make the connection give up even a blocked write.
    kicked: CancellationToken,
    tx: mpsc::Sender<Outbound>,
    control: mpsc::UnboundedSender<Control>,
    channels: HashSet<String>,
    flags: Arc<ConnFlags>,
}

/// What a connection and the hub both see.
#[derive(Debug, Default)]
pub struct ConnFlags {
    /// Set while the connection waits for the database on its client's
    /// behalf (a frame being handled, a gap being filled): a full queue
    /// then says nothing about the client.
    pub waiting: AtomicBool,
    /// When (wall-clock milliseconds) a message was first dropped from the
    /// full queue and [`Control::CatchUp`] sent; 0 when not behind. The
    /// connection clears it before catching up.
    pub behind_since: AtomicU64,
}

impl ConnFlags {
    /// A message found the queue full: whether to drop it for the
    /// connection to catch up (asking it to, the first time) rather than
    /// give up on the connection.
    fn defer_message(&self, control: &mpsc::UnboundedSender<Control>) -> bool {
        let now = crate::metrics::wall_ms().max(1) as u64;
        match self
            .behind_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {
                let _ = control.send(Control::CatchUp);
                true
            }
            Err(since) => {
                self.waiting.load(Ordering::Relaxed) || now.saturating_sub(since) < GRACE_MS
            }
        }
    }

    /// Mark the connection as waiting for the database until the guard drops.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiting.store(true, Ordering::Relaxed);
        Waiting(self)
    }
}

/// See [`ConnFlags::waiting`].
pub struct Waiting<'a>(&'a ConnFlags);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.store(false, Ordering::Relaxed);
    }
}

struct Subs {
    case_id: String,
    conns: HashSet<ConnId>,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<ConnId, Conn>,
    channels: HashMap<String, Subs>,
}

/// What the fan-out counts: the events queued and shed, and the two
/// outcomes of a full queue, which `/metrics` shares.
#[derive(Debug, Default)]
pub struct Stats {
    pub delivered: AtomicU64,
    pub shed: AtomicU64,
    /// Connections given up on (close 4008).
    pub too_slow: Counter,
    /// Messages dropped from a full queue, for their connection to fetch
    /// again from the database.
    pub deferred: Counter,
}

pub struct Hub {
    inner: Mutex<Inner>,
    next: AtomicU64,
    pub stats: Stats,
    /// This server's `/metrics`.
    pub metrics: Metrics,
    /// Set on PostgreSQL: where local events go to reach the other nodes.
    cluster: OnceLock<mpsc::UnboundedSender<Event>>,
}

impl Default for Hub {
    fn default() -> Self {
        let metrics = Metrics::default();
        let stats = Stats {
            too_slow: metrics.websocket_too_slow.clone(),
            deferred: metrics.websocket_deferred.clone(),
            ..Stats::default()
        };
        Hub {
            inner: Mutex::default(),
            next: AtomicU64::default(),
            stats,
            metrics,
            cluster: OnceLock::new(),
        }
    }
}

/// What a new connection gets from the hub.
pub struct Registration {
    pub id: ConnId,
    /// Cancelled when the hub gives up on this connection (too slow,
    /// revoked): writes in progress must stop.
    pub kicked: CancellationToken,
    pub outbound: mpsc::Receiver<Outbound>,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub flags: Arc<ConnFlags>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters more than losing the hub, so recover.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register(&self, who: Someone, session_hash: String) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, outbound) = mpsc::channel(QUEUE);
        let (ctx, control) = mpsc::unbounded_channel();
        let kicked = CancellationToken::new();
        let flags = Arc::new(ConnFlags::default());
        self.lock().conns.insert(
            id,
            Conn {
                who,
                session_hash,
                kicked: kicked.clone(),
                tx,
                control: ctx,
                channels: HashSet::new(),
                flags: flags.clone(),
            },
        );
        Registration {
            id,
            kicked,
            outbound,
            control,
            flags,
        }
    }

    /// Forget a connection and everything it subscribed to.
    pub fn unregister(&self, id: ConnId) {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.remove(&id) else {
            return;
        };
        for channel in conn.channels {
            if let Some(subs) = inner.channels.get_mut(&channel) {
                subs.conns.remove(&id);
                if subs.conns.is_empty() {
                    inner.channels.remove(&channel);
                } else {
                    Self::announce_presence(&mut inner, &channel, &self.stats);
                }
            }
        }
    }

    pub fn subscribe(&self, id: ConnId, channel: &str, case_id: &str) {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.get_mut(&id) else {
            return;
        };
        conn.channels.insert(channel.to_string());
        inner
            .channels
            .entry(channel.to_string())
            .or_insert_with(|| Subs {
                case_id: case_id.to_string(),
                conns: HashSet::new(),
            })
            .conns
            .insert(id);
        Self::announce_presence(&mut inner, channel, &self.stats);
    }

    pub fn unsubscribe(&self, id: ConnId, channel: &str) {
        let mut inner = self.lock();
        if let Some(conn) = inner.conns.get_mut(&id) {
            conn.channels.remove(channel);
        }
        if let Some(subs) = inner.channels.get_mut(channel) {
            subs.conns.remove(&id);
            if subs.conns.is_empty() {
                inner.channels.remove(channel);
            } else {
                Self::announce_presence(&mut inner, channel, &self.stats);
            }
        }
    }

    /// The people currently subscribed to a channel (each once).
    pub fn online(&self, channel: &str) -> Vec<Someone> {
        Self::online_in(&self.lock(), channel)
    }

    fn online_in(inner: &Inner, channel: &str) -> Vec<Someone> {
        let mut seen = HashSet::new();
        let mut out: Vec<Someone> = inner
            .channels
            .get(channel)
            .map(|s| {
                s.conns
                    .iter()
                    .filter_map(|c| inner.conns.get(c))
                    .filter(|c| seen.insert(c.who.id.clone()))
                    .map(|c| c.who.clone())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn announce_presence(inner: &mut Inner, channel: &str, stats: &Stats) {
        let online = Arc::new(Self::online_in(inner, channel));
        let event = Outbound::Presence {
            channel: channel.to_string(),
            online,
        };
        Self::fan_out(inner, channel, &event, None, stats);
    }

    /// Send what happens on this node to the other nodes too (PostgreSQL).
    pub fn forward_to(&self, cluster: mpsc::UnboundedSender<Event>) {
        let _ = self.cluster.set(cluster);
    }

    fn forward(&self, event: Event) {
        if let Some(tx) = self.cluster.get() {
            let _ = tx.send(event);
        }
    }

    /// Offer an event to every subscriber of a channel (but `except`), and
    /// pass it on to the other nodes.
    pub fn publish(&self, channel: &str, event: Outbound, except: Option<ConnId>) {
        match &event {
            // The writer publishes each message once, after its commit.
            Outbound::Message(_) => {
                self.metrics.messages_committed.inc();
            }
            Outbound::Updated(m) => self.forward(Event::Updated {
                c: m.channel_id.clone(),
                s: m.seq,
            }),
            Outbound::Receipt { who, seq, at, .. } => self.forward(Event::Receipt {
                c: channel.to_string(),
                p: who.id.clone(),
                s: *seq,
                at: *at,
            }),
            // Typing and presence stay on the node where they happen.
            Outbound::Typing { .. } | Outbound::Presence { .. } => {}
        }
        self.publish_local(channel, event, except);
    }

    /// Offer an event to this node's subscribers only (from another node).
    pub fn publish_local(&self, channel: &str, event: Outbound, except: Option<ConnId>) {
        let mut inner = self.lock();
        Self::fan_out(&mut inner, channel, &event, except, &self.stats);
    }

    /// Whether anyone on this node is subscribed to a channel.
    pub fn has_subscribers(&self, channel: &str) -> bool {
        self.lock().channels.contains_key(channel)
    }

    /// Every channel someone on this node is subscribed to.
    pub fn subscribed_channels(&self) -> Vec<String> {
        self.lock().channels.keys().cloned().collect()
    }

    /// Each (person, channel, case) subscribed on this node, once.
    pub fn subscriptions(&self) -> Vec<(String, String, String)> {
        let inner = self.lock();
        let mut out: Vec<(String, String, String)> = inner
            .channels
            .iter()
            .flat_map(|(ch, subs)| {
                subs.conns.iter().filter_map(|id| {
                    let c = inner.conns.get(id)?;
                    Some((c.who.id.clone(), ch.clone(), subs.case_id.clone()))
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The sessions with a connection open on this node.
    pub fn session_hashes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .lock()
            .conns
            .values()
            .map(|c| c.session_hash.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn fan_out(
        inner: &mut Inner,
        channel: &str,
        event: &Outbound,
        except: Option<ConnId>,
        stats: &Stats,
    ) {
        let Some(subs) = inner.channels.get(channel) else {
            return;
        };
        let mut too_slow = Vec::new();
        for id in &subs.conns {
            if Some(*id) == except {
                continue;
            }
            let Some(conn) = inner.conns.get(id) else {
                continue;
            };
            if event.ephemeral() && conn.tx.capacity() < QUEUE / 2 {
                stats.shed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match conn.tx.try_send(event.clone()) {
                Ok(()) => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(_)) if event.ephemeral() => {
                    stats.shed.fetch_add(1, Ordering::Relaxed);
                }
                // A message can be fetched again by sequence number: the
                // connection catches up from the database, unless it has
                // left its queue full for longer than the grace without
                // waiting for the database (it is stuck writing to a client
                // that does not read). Edits and receipts cannot be fetched
                // again that way, so for them a full queue is too slow.
                Err(mpsc::error::TrySendError::Full(_))
                    if matches!(event, Outbound::Message(_))
                        && conn.flags.defer_message(&conn.control) =>
                {
                    stats.deferred.inc();
                }
                Err(_) => too_slow.push(*id),
            }
        }
        for id in too_slow {
            stats.too_slow.inc();
            if let Some(conn) = inner.conns.get(&id) {
                let _ = conn.control.send(Control::Close {
                    code: close::TOO_SLOW,
                    reason: "too slow: reconnect and resume from your last sequence number",
                });
                conn.kicked.cancel();
            }
            // Stop offering it anything more; it resumes from the database.
            if let Some(conn) = inner.conns.get_mut(&id) {
                let channels: Vec<String> = conn.channels.drain().collect();
                for ch in channels {
                    if let Some(s) = inner.channels.get_mut(&ch) {
                        s.conns.remove(&id);
                        if s.conns.is_empty() {
                            inner.channels.remove(&ch);
                        }
                    }
                }
            }
        }
    }

    /// A person's access to a case ended: their connections, on every node,
    /// stop receiving its channels at once, and are told.
    pub fn case_access_ended(&self, case_id: &str, person_id: &str) {
        self.forward(Event::AccessEnded {
            case: case_id.to_string(),
            p: person_id.to_string(),
        });
        self.case_access_ended_local(case_id, person_id);
    }

    /// The same, on this node only (told by another node).
    pub fn case_access_ended_local(&self, case_id: &str, person_id: &str) {
        let mut inner = self.lock();
        let ids: Vec<ConnId> = inner
            .conns
            .iter()
            .filter(|(_, c)| c.who.id == person_id)
            .map(|(id, _)| *id)
            .collect();
        let channels: Vec<String> = inner
            .channels
            .iter()
            .filter(|(_, s)| s.case_id == case_id)
            .map(|(ch, _)| ch.clone())
            .collect();
        for id in ids {
            for ch in &channels {
                if let Some(s) = inner.channels.get_mut(ch) {
                    s.conns.remove(&id);
                }
                if let Some(c) = inner.conns.get_mut(&id) {
                    c.channels.remove(ch);
                }
            }
            if let Some(c) = inner.conns.get(&id) {
                let _ = c.control.send(Control::CaseAccessEnded {
                    case_id: case_id.to_string(),
                });
            }
        }
        for ch in &channels {
            if inner.channels.get(ch).is_some_and(|s| s.conns.is_empty()) {
                inner.channels.remove(ch);
            } else {
                Self::announce_presence(&mut inner, ch, &self.stats);
            }
        }
    }

    /// Close the connections of a revoked session or person, on every node.
    pub fn revoke(&self, what: &Revoked) {
        self.forward(Event::from(what));
        self.revoke_local(what);
    }

    /// The same, on this node only (told by another node).
    pub fn revoke_local(&self, what: &Revoked) {
        let inner = self.lock();
        for conn in inner.conns.values() {
            let hit = match what {
                Revoked::Session { session_hash } => &conn.session_hash == session_hash,
                Revoked::Person { person_id } => &conn.who.id == person_id,
            };
            if hit {
                let _ = conn.control.send(Control::Close {
                    code: close::SESSION_ENDED,
                    reason: "your session has ended: sign in again",
                });
            }
        }
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }
}

#[cfg(test)]
mod tests;
