//! One websocket connection: `GET /ws` with subprotocol `confer.v1`,
//! authenticated by the session cookie, same-origin only. One `select!`
//! over the socket, the hub's queue, control messages, the heartbeat and
//! shutdown (STYLE.md habit 8).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::time::Instant;

mod catch_up;
mod send;
mod throttle;

use super::hub::{ConnFlags, Control, Outbound, Someone, close};
use super::protocol::{self, ClientFrame, FrameError, MAX_FRAME_BYTES, SUBPROTOCOL};
use crate::domain::channels::{Sight, Viewer};
use crate::domain::clock::Millis;
use crate::http::AppState;
use crate::http::session::MaybeSignedIn;
use crate::store::StoreError;
use crate::store::channels::{self, ChannelAccess};
use crate::store::messages::{self, StoredMessage};
use crate::store::receipts::Delivery;
use crate::store::sessions::token_hash;

const REPLAY_PAGE: i64 = 500;
/// The first and the longest pause before trying again to fetch what a
/// channel is behind by, while the database cannot be reached.
const CATCH_UP_FIRST: Duration = Duration::from_millis(100);
const CATCH_UP_LONGEST: Duration = Duration::from_secs(2);

/// The upgrade: signed in, same origin, and speaking `confer.v1`.
pub async fn upgrade(
    State(state): State<AppState>,
    who: MaybeSignedIn,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !state.is_same_origin(&uri, &headers) {
        return (StatusCode::FORBIDDEN, "cross-origin websocket refused").into_response();
    }
    let offered = headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            "request the websocket subprotocol confer.v1",
        )
            .into_response();
    }
    let Some(who) = who.0 else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let Some(slot) = state.limits.open_connection(&who.person.id) else {
        let limit = state.limits.max_connections();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!("you already have {limit} live connections open; close a tab or device first"),
        )
            .into_response();
    };
    ws.protocols([SUBPROTOCOL])
        // tungstenite zero-fills its read buffer before every read: a small
        // buffer keeps idle connections cheap (see TOOLCHAIN.md).
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            let someone = Someone {
                id: who.person.id.clone(),
                name: who.person.name.clone(),
                agency: who.person.agency_name.clone(),
            };
            let viewer = Viewer {
                person_id: who.person.id.clone(),
                agency_id: who.person.agency_id.clone(),
            };
            let conn = Connection {
                actor: who.person.actor(),
                viewer,
                someone,
                subs: HashMap::new(),
                state,
                id: 0,
                kicked: tokio_util::sync::CancellationToken::new(),
                flags: Arc::default(),
                session_hash: String::new(),
                throttle: throttle::Throttle::default(),
                behind: HashSet::new(),
                catch_up_at: None,
                catch_up_pause: CATCH_UP_FIRST,
            };
            conn.run(socket, token_hash(&who.token)).await;
            drop(slot);
        })
}

struct Sub {
    /// The authorisation made at subscribe time, reused for sends and
    /// reads on this channel: whatever ends it (removal from the case or
    /// the meeting, expiry, session revocation) also ends the subscription
    /// through the hub, as it does for live delivery.
    access: ChannelAccess,
    case_id: String,
    last_sent: i64,
    /// When the person's case membership expires, if it does.
    expires_at: Option<Millis>,
}

struct Connection {
    state: AppState,
    actor: crate::domain::access::Actor,
    viewer: Viewer,
    someone: Someone,
    subs: HashMap<String, Sub>,
    id: super::hub::ConnId,
    kicked: tokio_util::sync::CancellationToken,
    /// Shared with the hub: whether this connection is waiting for the
    /// database, and whether messages were dropped meanwhile.
    flags: Arc<ConnFlags>,
    session_hash: String,
    /// How often this connection may send, type and record activity.
    throttle: throttle::Throttle,
    /// Subscribed channels that may hold messages this client has not been
    /// sent (dropped from a full queue, or a gap the database could not
    /// fill just then), and when to fetch them next.
    behind: HashSet<String>,
    catch_up_at: Option<Instant>,
    catch_up_pause: Duration,
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// A write that gives up when the hub kicks the connection (a client that
/// does not read would otherwise block its writer forever) or after
/// `WRITE_TIMEOUT`.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

enum Flow {
    Continue,
    Close(u16, &'static str),
}

impl Connection {
    async fn run(mut self, socket: WebSocket, session_hash: String) {
        let hub = self.state.hub.clone();
        let mut reg = hub.register(self.someone.clone(), session_hash.clone());
        self.session_hash = session_hash.clone();
        let mut ticks: u64 = 0;
        self.id = reg.id;
        self.kicked = reg.kicked.clone();
        self.flags = reg.flags.clone();
        // The session re-check runs beside the loop: a database that is slow
        // or away must not stop this connection taking its queue.
        let mut session_check: Option<tokio::task::JoinHandle<bool>> = None;
        let (mut sink, mut stream) = socket.split();
        let shutdown = self.state.shutdown.clone();
        let server = &self.state.settings.server;
        let silence_limit = Duration::from_secs(server.websocket_timeout_seconds);
        let mut heartbeat =
            tokio::time::interval(Duration::from_secs(server.websocket_ping_seconds));
        heartbeat.tick().await;
        let mut last_heard = Instant::now();
        let hello = protocol::hello(&self.someone, &self.viewer.agency_id);
        let mut flow = match send(&mut sink, &hello).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Close(1000, ""),
        };
        while matches!(flow, Flow::Continue) {
            flow = tokio::select! {
                biased;
                () = shutdown.cancelled() => Flow::Close(close::GOING_AWAY, "the server is restarting: reconnect shortly"),
                Some(control) = reg.control.recv() => self.control(control, &mut sink).await,
                ended = async {
                    match session_check.as_mut() {
                        Some(check) => check.await.unwrap_or(false),
                        None => std::future::pending().await,
                    }
                } => {
                    session_check = None;
                    if ended {
                        Flow::Close(close::SESSION_ENDED, "your session has ended: sign in again")
                    } else {
                        Flow::Continue
                    }
                }
                () = sleep_until(self.catch_up_at) => self.catch_up(&mut sink).await,
                Some(event) = reg.outbound.recv() => self.pump(Some(event), &mut reg.outbound, &mut sink).await,
                frame = stream.next() => {
                    last_heard = Instant::now();
                    match frame {
                        // The answer is queued, not yet written: whatever the
                        // hub queued meanwhile goes in the same write (a
                        // sender's ack and its own message, most often).
                        Some(Ok(Message::Text(text))) => match self.handle(text.as_str(), &mut sink).await {
                            Flow::Continue => self.pump(None, &mut reg.outbound, &mut sink).await,
                            flow => flow,
                        },
                        Some(Ok(Message::Binary(_))) => {
                            let e = FrameError::new(None, "binary_not_supported", "Send JSON text frames; binary frames are not part of confer.v1.");
                            reply(&mut sink, &e.to_json()).await
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                        Some(Ok(Message::Close(_))) | None => Flow::Close(1000, ""),
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "websocket read failed");
                            Flow::Close(1009, "frame too large or malformed")
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    ticks += 1;
                    // Every fourth beat, re-check the session itself: a
                    // revocation made elsewhere, or the absolute time-out.
                    // A database that cannot answer ends nothing.
                    if ticks.is_multiple_of(4) && session_check.is_none() {
                        let (db, hash, now) = (self.state.db.clone(), session_hash.clone(), self.state.now());
                        session_check = Some(tokio::spawn(async move {
                            !crate::store::sessions::still_valid(&db, &hash, now).await.unwrap_or(true)
                        }));
                    }
                    if last_heard.elapsed() > silence_limit {
                        Flow::Close(close::HEARTBEAT_TIMEOUT, "no heartbeat: reconnect and resume")
                    } else if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        Flow::Close(1000, "")
                    } else {
                        Flow::Continue
                    }
                }
            };
        }
        if let Flow::Close(code, reason) = flow
            && !reason.is_empty()
        {
            // Best effort: a client that stopped reading may never take it.
            let close = sink.send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })));
            let _ = tokio::time::timeout(Duration::from_millis(500), close).await;
        }
        if let Some(check) = session_check {
            check.abort();
        }
        hub.unregister(reg.id);
    }

    async fn control(&mut self, control: Control, sink: &mut Sink) -> Flow {
        match control {
            Control::Close { code, reason } => Flow::Close(code, reason),
            Control::CaseAccessEnded { case_id } => {
                let gone: Vec<String> = self
                    .subs
                    .iter()
                    .filter(|(_, s)| s.case_id == case_id)
                    .map(|(ch, _)| ch.clone())
                    .collect();
                for channel in gone {
                    self.subs.remove(&channel);
                    self.behind.remove(&channel);
                    let frame = json!({ "type": "unsubscribed", "id": null, "channel": channel, "reason": "access_ended" });
                    if send(sink, &frame).await.is_err() {
                        return Flow::Close(1000, "");
                    }
                }
                Flow::Continue
            }
            Control::CatchUp => {
                self.flags.behind_since.store(0, Ordering::Relaxed);
                self.behind.extend(self.subs.keys().cloned());
                self.catch_up(sink).await
            }
        }
    }

    /// Write `first` and whatever else the hub has queued (up to 64
    /// events) to the socket in one flush, with any answer already queued.
    async fn pump(
        &mut self,
        first: Option<Outbound>,
        outbound: &mut tokio::sync::mpsc::Receiver<Outbound>,
        sink: &mut Sink,
    ) -> Flow {
        let mut result = match first {
            Some(event) => self.deliver(event, sink).await,
            None => Ok(()),
        };
        let mut n = 0;
        while matches!(result, Ok(())) && n < 64 {
            match outbound.try_recv() {
                Ok(event) => result = self.deliver(event, sink).await,
                Err(_) => break,
            }
            n += 1;
        }
        let flushed = guarded(&self.kicked, sink.flush()).await;
        match result.and(flushed) {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Close(1000, ""),
        }
    }

    /// Send one live event (not flushed), keeping each channel's sequence
    /// gap-free from this client's point of view.
    async fn deliver(&mut self, event: Outbound, sink: &mut Sink) -> Result<(), ()> {
        let channel = match &event {
            Outbound::Message(m) | Outbound::Updated(m) => m.channel_id.as_str(),
            Outbound::Receipt { channel, .. }
            | Outbound::Typing { channel, .. }
            | Outbound::Presence { channel, .. } => channel.as_str(),
        };
        let Some(sub) = self.subs.get(channel) else {
            return Ok(());
        };
        if sub.expires_at.is_some_and(|e| self.state.now() >= e) {
            // Membership ran out: stop here, as if it had been removed.
            self.state.hub.unsubscribe(self.id, channel);
            self.subs.remove(channel);
            let frame = json!({ "type": "unsubscribed", "id": null, "channel": channel, "reason": "access_ended" });
            return feed(sink, &frame).await;
        }
        if let Outbound::Message(m) = &event {
            if m.seq <= sub.last_sent {
                return Ok(());
            }
            if m.seq > sub.last_sent + 1 {
                // Something committed that we have not seen live: fill from
                // the database. If it cannot be read just now, hold this one
                // back too (the order must hold) and catch up later.
                let from = sub.last_sent;
                let flags = self.flags.clone();
                let waiting = flags.waiting();
                let missing =
                    messages::after_unchecked(&self.state.db, channel, from, m.seq - from - 1)
                        .await;
                drop(waiting);
                let Ok(missing) = missing else {
                    let channel = channel.to_string();
                    self.behind.insert(channel);
                    self.catch_up_at
                        .get_or_insert_with(|| Instant::now() + CATCH_UP_FIRST);
                    return Ok(());
                };
                for earlier in missing {
                    self.feed_message(&earlier, sink).await?;
                }
            }
            self.feed_message(m, sink).await?;
            // Issue 8: commit → socket, for `/metrics`.
            let waited = crate::metrics::wall_ms()
                .saturating_sub(m.created_at)
                .max(0);
            self.state
                .hub
                .metrics
                .delivery_latency
                .observe(waited as f64 / 1000.0);
            return Ok(());
        }
        feed(sink, &protocol::render(&event, &self.viewer)).await
    }

    async fn feed_message(&mut self, m: &StoredMessage, sink: &mut Sink) -> Result<(), ()> {
        let text = Message::Text(m.frame(&self.viewer));
        guarded(&self.kicked, sink.feed(text)).await?;
        if let Some(sub) = self.subs.get_mut(&m.channel_id) {
            sub.last_sent = sub.last_sent.max(m.seq);
        }
        if m.sight_for(&self.viewer) == Sight::Full {
            self.state
                .deliveries
                .record(Delivery::of(m, &self.viewer, self.state.now()))
                .await;
        }
        Ok(())
    }

    async fn authorize(
        &self,
        id: &Option<String>,
        channel: &str,
    ) -> Result<ChannelAccess, FrameError> {
        let now = self.state.now();
        if let Some(sub) = self.subs.get(channel)
            && sub.expires_at.is_none_or(|e| now < e)
        {
            return Ok(sub.access.clone());
        }
        channels::authorize(&self.state.db, &self.actor, channel, self.state.now())
            .await
            .map_err(|e| store_error(id, e))
    }

    /// Act on one client frame; its answer is queued on `sink`, not
    /// flushed (the caller flushes).
    async fn handle(&mut self, text: &str, sink: &mut Sink) -> Flow {
        let frame = match protocol::parse(text) {
            Ok(f) => f,
            Err(e) => return answer(sink, &e.to_json()).await,
        };
        // From here the connection may wait for the database: messages that
        // overflow its queue meanwhile are fetched again, not a reason to
        // cut the client off.
        let flags = self.flags.clone();
        let waiting = flags.waiting();
        // What the person does here keeps their session alive (typing and
        // pings do not: an unattended page must still time out).
        let now = self.state.now();
        if matches!(
            frame,
            ClientFrame::Subscribe { .. } | ClientFrame::Send { .. } | ClientFrame::Read { .. }
        ) && self.throttle.touch_due(now)
            && let Err(e) =
                crate::store::sessions::touch(&self.state.db, &self.session_hash, now).await
        {
            tracing::warn!(error = %e, "could not record session activity");
        }
        let result = match frame {
            ClientFrame::Subscribe {
                id,
                channel,
                after_seq,
            } => self.subscribe(id, channel, after_seq, sink).await,
            ClientFrame::Unsubscribe { id, channel } => {
                self.state.hub.unsubscribe(self.id, &channel);
                self.subs.remove(&channel);
                self.behind.remove(&channel);
                Ok(
                    json!({ "type": "unsubscribed", "id": id, "channel": channel, "reason": "requested" }),
                )
            }
            ClientFrame::Send {
                id,
                channel,
                client_id,
                body,
                restricted_to,
            } => {
                self.send_message(id, channel, client_id, body, restricted_to)
                    .await
            }
            ClientFrame::Read { id, channel, seq } => self.read(id, channel, seq).await,
            ClientFrame::Typing { id, channel } => self.typing(id, channel),
            ClientFrame::Ping { id } => Ok(json!({ "type": "pong", "id": id })),
        };
        // A reply the client does not take is the client's slowness.
        drop(waiting);
        match result {
            Ok(Value::Null) => Flow::Continue,
            Ok(frame) => answer(sink, &frame).await,
            Err(e) => answer(sink, &e.to_json()).await,
        }
    }

    async fn subscribe(
        &mut self,
        id: Option<String>,
        channel: String,
        after_seq: i64,
        sink: &mut Sink,
    ) -> Result<Value, FrameError> {
        if after_seq < 0 {
            return Err(FrameError::new(
                id,
                "invalid_frame",
                "after_seq must be 0 or more.",
            ));
        }
        let access = self.authorize(&id, &channel).await?;
        let expires_at = access.case().expires_at();
        // Live first, then the backlog: anything committed meanwhile arrives
        // live and is skipped or filled in by sequence number.
        self.state
            .hub
            .subscribe(self.id, &channel, access.case().case_id());
        self.subs.insert(
            channel.clone(),
            Sub {
                access: access.clone(),
                case_id: access.case().case_id().to_string(),
                last_sent: after_seq,
                expires_at,
            },
        );
        loop {
            let from = self.subs.get(&channel).map_or(after_seq, |s| s.last_sent);
            let page = messages::after(&self.state.db, &access, from, REPLAY_PAGE)
                .await
                .map_err(|e| store_error(&id, e))?;
            let done = (page.len() as i64) < REPLAY_PAGE;
            for m in &page {
                self.feed_message(m, sink)
                    .await
                    .map_err(|()| FrameError::new(id.clone(), "internal", "write failed"))?;
            }
            if done {
                break;
            }
        }
        let last = self.subs.get(&channel).map_or(after_seq, |s| s.last_sent);
        Ok(json!({ "type": "subscribed", "id": id, "channel": channel, "last_seq": last }))
    }
}

fn store_error(id: &Option<String>, e: StoreError) -> FrameError {
    match e {
        StoreError::NotFound => FrameError::new(
            id.clone(),
            "not_found",
            "No such channel or message, or you are not a member of its case.",
        ),
        StoreError::Invalid(why) => FrameError::new(id.clone(), "invalid", why),
        StoreError::Forbidden(why) => FrameError::new(id.clone(), "forbidden", why),
        StoreError::Conflict(why) => FrameError::new(id.clone(), "conflict", why),
        e if e.is_unavailable() => {
            tracing::warn!(error = %e, "database unavailable; websocket request refused");
            FrameError::new(
                id.clone(),
                "unavailable",
                "The database cannot be reached just now. Send again in a few seconds with the same client_id: it is never stored twice.",
            )
        }
        other => {
            tracing::error!(error = %other, "websocket request failed");
            FrameError::new(
                id.clone(),
                "internal",
                "Something went wrong on the server; try again.",
            )
        }
    }
}
/// Wait until `at`; never, if there is no `at`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn guarded<E>(
    kicked: &tokio_util::sync::CancellationToken,
    write: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), ()> {
    tokio::select! {
        r = tokio::time::timeout(WRITE_TIMEOUT, write) => match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        },
        () = kicked.cancelled() => Err(()),
    }
}

async fn feed(sink: &mut Sink, frame: &Value) -> Result<(), ()> {
    sink.feed(Message::Text(frame.to_string().into()))
        .await
        .map_err(|_| ())
}

async fn send(sink: &mut Sink, frame: &Value) -> Result<(), ()> {
    sink.send(Message::Text(frame.to_string().into()))
        .await
        .map_err(|_| ())
}

/// Queue `frame` to be written with the next flush.
async fn answer(sink: &mut Sink, frame: &Value) -> Flow {
    match feed(sink, frame).await {
        Ok(()) => Flow::Continue,
        Err(()) => Flow::Close(1000, ""),
    }
}

async fn reply(sink: &mut Sink, frame: &Value) -> Flow {
    match send(sink, frame).await {
        Ok(()) => Flow::Continue,
        Err(()) => Flow::Close(1000, ""),
    }
}
