//! The load: websocket senders and JSON API writers that send as fast as
//! their acks come back, send a refused message again with the same
//! `client_id`, and record every ack, every refusal (and how long it took)
//! and anything else as a problem.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{Signed, TestApp};
use crate::ws_client::{Upgrade, Ws, open_with};

/// What one writer saw.
#[derive(Default)]
pub(super) struct Tally {
    /// client_id → the seq its ack (or 201/200) carried.
    pub(super) acked: HashMap<String, i64>,
    /// When each ack arrived.
    ack_times: Vec<Instant>,
    /// When each refusal arrived, and how long the write took.
    pub(super) refusals: Vec<(Instant, Duration)>,
    /// A send refused or unanswered, to be sent again with the same client_id.
    pending: Option<String>,
    /// Anything that is not an ack or a clear refusal.
    pub(super) problems: Vec<String>,
}

pub(super) struct Writer {
    pub(super) name: String,
    pub(super) author: String,
    pub(super) tally: Mutex<Tally>,
}

impl Writer {
    fn next_client_id(&self, n: &mut u64) -> String {
        let mut t = self.tally.lock().expect("tally");
        t.pending
            .get_or_insert_with(|| {
                *n += 1;
                format!("{}-{n}", self.name)
            })
            .clone()
    }

    fn acked(&self, client_id: &str, seq: i64) {
        let mut t = self.tally.lock().expect("tally");
        if let Some(before) = t.acked.insert(client_id.to_string(), seq)
            && before != seq
        {
            t.problems
                .push(format!("{client_id} acknowledged as {before} and {seq}"));
        }
        t.ack_times.push(Instant::now());
        t.pending = None;
    }

    fn refused(&self, took: Duration) {
        let mut t = self.tally.lock().expect("tally");
        t.refusals.push((Instant::now(), took));
    }

    fn problem(&self, what: String) {
        self.tally.lock().expect("tally").problems.push(what);
    }

    pub(super) fn acks_since(&self, since: Instant) -> usize {
        let t = self.tally.lock().expect("tally");
        t.ack_times.iter().filter(|a| **a > since).count()
    }

    pub(super) fn refusals_between(&self, from: Instant, to: Instant) -> usize {
        let t = self.tally.lock().expect("tally");
        t.refusals
            .iter()
            .filter(|(at, _)| *at > from && *at <= to)
            .count()
    }
}

/// Write over the JSON API until `stop`.
pub(super) async fn http_writer(
    app: Arc<TestApp>,
    who: Signed,
    channel: String,
    me: Arc<Writer>,
    stop: Arc<AtomicBool>,
) {
    let url = app.url(&format!("/api/channels/{channel}/messages"));
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let client_id = me.next_client_id(&mut n);
        let began = Instant::now();
        let res = who
            .client
            .post(&url)
            .header("x-csrf-token", &who.csrf)
            .timeout(Duration::from_secs(15))
            .json(&json!({"client_id": client_id, "body": format!("restart test {client_id}")}))
            .send()
            .await;
        let took = began.elapsed();
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                me.problem(format!("{client_id}: no answer after {took:?}: {e}"));
                continue;
            }
        };
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = res.json().await.unwrap_or(Value::Null);
        match status {
            200 | 201 => match body["seq"].as_i64() {
                Some(seq) => me.acked(&client_id, seq),
                None => me.problem(format!("{client_id}: {status} without a seq: {body}")),
            },
            503 if body["error"]["code"] == "unavailable"
                && retry_after.as_deref() == Some("5") =>
            {
                me.refused(took);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => {
                me.problem(format!(
                    "{client_id}: {status} (Retry-After {retry_after:?}) after {took:?}: {body}"
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Open a socket and subscribe; `None` (after a short pause) while refused.
async fn connect(app: &TestApp, who: &Signed, channel: &str, me: &Writer) -> Option<Ws> {
    let pause = || tokio::time::sleep(Duration::from_millis(200));
    let mut ws = match open_with(app, Some(&who.cookie), Some(&app.base), Some("confer.v1")).await {
        Upgrade::Open(ws) => *ws,
        // The upgrade reads the session from the database.
        Upgrade::Refused(503) => {
            pause().await;
            return None;
        }
        Upgrade::Refused(s) => {
            me.problem(format!("upgrade refused with {s}"));
            pause().await;
            return None;
        }
    };
    let frame =
        json!({"type": "subscribe", "id": "sub", "channel": channel, "after_seq": 1_000_000});
    ws.stream
        .send(Message::Text(frame.to_string().into()))
        .await
        .ok()?;
    loop {
        let v = next(&mut ws).await.ok()?;
        match (v["type"].as_str(), v["code"].as_str()) {
            (Some("subscribed"), _) => return Some(ws),
            (Some("error"), Some("unavailable")) => {
                pause().await;
                return None;
            }
            (Some("error"), _) => {
                me.problem(format!("subscribe refused: {v}"));
                pause().await;
                return None;
            }
            _ => {}
        }
    }
}

/// The next JSON frame within 15 s, or why there is none: the close frame,
/// the end of the stream, a read error or silence.
async fn next(ws: &mut Ws) -> Result<Value, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| format!("unreadable frame: {e}"));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(match frame {
                    Some(f) => format!("closed with {} {:?}", u16::from(f.code), f.reason.as_str()),
                    None => "closed without a code".to_string(),
                });
            }
            Ok(None) => return Err("the stream ended without a close frame".to_string()),
            Ok(Some(Err(e))) => return Err(format!("read failed: {e}")),
            Err(_) => return Err("silent for 15 s".to_string()),
            // Pings and pongs: read on.
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Send over a websocket until `stop`, reconnecting if the socket is lost.
pub(super) async fn ws_writer(
    app: Arc<TestApp>,
    who: Signed,
    channel: String,
    me: Arc<Writer>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0;
    let mut attempt = 0u64;
    let mut socket: Option<Ws> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(ws) = socket.as_mut() else {
            socket = connect(&app, &who, &channel, &me).await;
            continue;
        };
        let client_id = me.next_client_id(&mut n);
        attempt += 1;
        let id = format!("{client_id}#{attempt}");
        let frame = json!({"type": "send", "id": id, "channel": channel,
            "client_id": client_id, "body": format!("restart test {client_id}")});
        let began = Instant::now();
        if ws
            .stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            me.problem(format!("{id}: the socket was lost while sending"));
            socket = None;
            continue;
        }
        loop {
            let v = match next(ws).await {
                Ok(v) => v,
                Err(why) => {
                    me.problem(format!("{id}: {why} after {:?}", began.elapsed()));
                    socket = None;
                    break;
                }
            };
            if v["id"] != id.as_str() {
                continue; // live messages, presence
            }
            match (v["type"].as_str(), v["code"].as_str()) {
                (Some("ack"), _) => match v["seq"].as_i64() {
                    Some(seq) => me.acked(&client_id, seq),
                    None => me.problem(format!("{id}: an ack without a seq: {v}")),
                },
                (Some("error"), Some("unavailable")) => {
                    me.refused(began.elapsed());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => {
                    me.problem(format!("{id}: {v} after {:?}", began.elapsed()));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            break;
        }
    }
}

/// What a client watching the channel (not sending) saw.
#[derive(Default)]
pub(super) struct Watched {
    /// Every live message's seq, in the order it arrived.
    pub(super) seqs: Vec<i64>,
    /// A lost socket, a gap, a repeat, a refusal.
    pub(super) problems: Vec<String>,
}

/// Watch the channel from `after_seq` until `stop`: a person reading along
/// while others write, who must see every message once, in order, on a
/// socket that stays open through the outages. Resumes from the last seq
/// seen if the socket is lost anyway (and records that as a problem).
pub(super) async fn ws_reader(
    app: Arc<TestApp>,
    who: Signed,
    channel: String,
    after_seq: i64,
    watched: Arc<Mutex<Watched>>,
    stop: Arc<AtomicBool>,
) {
    let mut last = after_seq;
    let problem = |what: String| watched.lock().expect("watched").problems.push(what);
    while !stop.load(Ordering::Relaxed) {
        let mut ws =
            match open_with(&app, Some(&who.cookie), Some(&app.base), Some("confer.v1")).await {
                Upgrade::Open(ws) => *ws,
                Upgrade::Refused(status) => {
                    if status != 503 {
                        problem(format!("reader: upgrade refused with {status}"));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
        let frame =
            json!({"type": "subscribe", "id": "watch", "channel": channel, "after_seq": last});
        if ws
            .stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            problem("reader: the socket was lost while subscribing".to_string());
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            let v = match tokio::time::timeout(Duration::from_millis(500), next(&mut ws)).await {
                Err(_) => continue, // quiet: look at `stop` again
                Ok(Ok(v)) => v,
                Ok(Err(why)) => {
                    problem(format!("reader: {why} (last seq {last})"));
                    break;
                }
            };
            match (v["type"].as_str(), v["seq"].as_i64()) {
                (Some("message"), Some(seq)) => {
                    if seq != last + 1 {
                        problem(format!("reader: seq {seq} after {last}"));
                    }
                    last = last.max(seq);
                    watched.lock().expect("watched").seqs.push(seq);
                }
                (Some("error"), _) => {
                    // Subscribing while the database is down is refused:
                    // start again on a new socket.
                    if v["code"] != "unavailable" {
                        problem(format!("reader: {v}"));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                _ => {}
            }
        }
    }
}
