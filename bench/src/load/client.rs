//! One websocket client: set-up (connect, `hello`, subscribe), then a loop
//! over its socket, its send schedule and the stop signal; it checks every
//! sequence number it receives and times every message it did not send.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use super::connect::{Ws, connect};
use super::frames::{InFrame, sender_of, sent_at};
use super::{Target, ns};
use crate::{Res, fail};

#[derive(Clone, Copy)]
pub(super) struct Times {
    pub(super) start: Instant,
    pub(super) window_start: Instant,
    pub(super) send_end: Instant,
}

pub(super) struct ChanState {
    pub(super) acked_max: AtomicI64,
}

pub(super) struct Shared {
    pub(super) targets: Vec<Target>,
    /// Messages per sender (count mode).
    pub(super) quota: Option<u64>,
    /// When the last ack and the last delivery arrived (ns since the anchor).
    pub(super) last_ack_ns: AtomicU64,
    pub(super) last_delivery_ns: AtomicU64,
    pub(super) channels: Vec<ChanState>,
    pub(super) channel_ids: Vec<String>,
    pub(super) run_tag: String,
    pub(super) rate: f64,
    pub(super) senders: usize,
    pub(super) body_bytes: usize,
    pub(super) subscribe: bool,
    pub(super) ready: AtomicUsize,
    pub(super) failed: AtomicUsize,
    pub(super) progress: Notify,
    pub(super) setup: Semaphore,
    pub(super) delivered: AtomicU64,
    pub(super) delivered_in_window: AtomicU64,
    pub(super) acked_in_window: AtomicU64,
    pub(super) senders_done: AtomicUsize,
    pub(super) delivery_hist: Mutex<Histogram<u64>>,
    pub(super) ack_hist: Mutex<Histogram<u64>>,
    pub(super) late_hist: Mutex<Histogram<u64>>,
    /// Per second of send time (from the start): deliveries and the
    /// largest delivery latency (µs), to show stalls.
    pub(super) timeline_count: Vec<AtomicU64>,
    pub(super) timeline_max: Vec<AtomicU64>,
}

pub(crate) fn new_hist() -> Res<Histogram<u64>> {
    // 1 µs .. 10 min, 3 significant figures.
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| fail(format!("histogram: {e:?}")))
}

fn record(h: &Mutex<Histogram<u64>>, samples: &mut Vec<u64>) {
    if samples.is_empty() {
        return;
    }
    let mut h = h.lock().unwrap_or_else(|e| e.into_inner());
    for v in samples.drain(..) {
        h.saturating_record(v.max(1));
    }
}

pub(super) struct ClientSpec {
    pub(super) index: usize,
    pub(super) channel: usize,
    pub(super) cookie: String,
    /// Global sender slot, for senders.
    pub(super) sender: Option<usize>,
}

#[derive(Default)]
pub(super) struct ClientStats {
    pub(super) channel: usize,
    pub(super) setup_error: Option<String>,
    pub(super) seen: Vec<u64>,
    pub(super) distinct: u64,
    pub(super) max_seq: i64,
    pub(super) received: u64,
    pub(super) duplicates: u64,
    pub(super) out_of_order: u64,
    pub(super) foreign: u64,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) close: Option<String>,
    pub(super) sent: u64,
    pub(super) scheduled: u64,
    pub(super) acked: u64,
    pub(super) duplicate_acks: u64,
    pub(super) unacked: u64,
    /// Delivery latencies (µs) not yet added to the shared histogram.
    pub(super) lat_buf: Vec<u64>,
}

impl ClientStats {
    fn record_seq(&mut self, seq: i64) {
        if seq <= 0 {
            self.foreign += 1;
            return;
        }
        let i = seq as usize;
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.distinct += 1;
        if seq < self.max_seq {
            self.out_of_order += 1;
        } else {
            self.max_seq = seq;
        }
    }
}

pub(super) struct Sender {
    pub(super) next_k: u64,
    pub(super) pending: HashMap<u64, u64>,
    pub(super) next_at: Option<Instant>,
    pub(super) interval: Option<Duration>,
    pub(super) done: bool,
}

pub(super) async fn client(
    spec: ClientSpec,
    shared: Arc<Shared>,
    mut go: watch::Receiver<Option<TimesCell>>,
    mut stop: watch::Receiver<bool>,
) -> ClientStats {
    let mut st = ClientStats {
        channel: spec.channel,
        ..ClientStats::default()
    };
    let channel_id = shared.channel_ids[spec.channel].clone();
    let setup = async {
        let _permit = shared
            .setup
            .acquire()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut ws = connect(
            &shared.targets[spec.index % shared.targets.len()],
            &spec.cookie,
        )
        .await?;
        // hello
        loop {
            match next_frame(&mut ws).await? {
                Some(f) if f.kind == "hello" => break,
                Some(f) if f.kind == "error" => {
                    return Err(fail(format!("error frame before hello: {:?}", f.code)));
                }
                Some(_) => {}
                None => return Err(fail("closed before hello")),
            }
        }
        if !shared.subscribe {
            return Ok::<Ws, crate::BoxError>(ws);
        }
        let subscribe =
            format!(r#"{{"type":"subscribe","id":"sub","channel":"{channel_id}","after_seq":0}}"#);
        ws.send(Message::Text(subscribe.into())).await?;
        loop {
            match next_frame(&mut ws).await? {
                Some(f) if f.kind == "subscribed" => break,
                Some(f) if f.kind == "message" => {
                    if let Some(seq) = f.seq {
                        st.record_seq(seq);
                        st.received += 1;
                        shared.delivered.fetch_add(1, Relaxed);
                    }
                }
                Some(f) if f.kind == "error" => {
                    return Err(fail(format!(
                        "subscribe refused: {}",
                        f.code.unwrap_or_default()
                    )));
                }
                Some(_) => {}
                None => return Err(fail("closed before subscribed")),
            }
        }
        Ok::<Ws, crate::BoxError>(ws)
    };
    let ws = match tokio::time::timeout(Duration::from_secs(60), setup).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            st.setup_error = Some(short_error(&e.to_string()));
            shared.failed.fetch_add(1, Relaxed);
            shared.progress.notify_one();
            return st;
        }
        Err(_) => {
            st.setup_error = Some("set-up timed out after 60 s".into());
            shared.failed.fetch_add(1, Relaxed);
            shared.progress.notify_one();
            return st;
        }
    };
    shared.ready.fetch_add(1, Relaxed);
    shared.progress.notify_one();
    let mut ws = ws;
    // Wait for the start (or an early stop), answering pings meanwhile.
    let times = loop {
        if let Some(t) = *go.borrow_and_update() {
            break Some(t.0);
        }
        if *stop.borrow() {
            break None;
        }
        tokio::select! {
            r = go.changed() => if r.is_err() { break None },
            r = stop.changed() => if r.is_err() || *stop.borrow() { break None },
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => handle_text(&shared, &mut st, &mut None, t.as_str(), None, (spec.channel, spec.index), &channel_id),
                Some(Ok(Message::Close(c))) => { st.close = Some(close_label(c.as_ref())); break None; }
                Some(Err(e)) => { st.close = Some(short_error(&e.to_string())); break None; }
                None => { st.close = Some("closed without a close frame".into()); break None; }
                Some(Ok(_)) => {}
            },
        }
    };
    let Some(times) = times else {
        return st;
    };
    let mut sender = spec.sender.map(|slot| {
        let (first, interval) = if shared.rate > 0.0 {
            let interval = Duration::from_secs_f64(shared.senders as f64 / shared.rate);
            // Stagger the senders evenly over one interval.
            let offset = Duration::from_secs_f64(slot as f64 / shared.rate);
            (times.start + offset, Some(interval))
        } else {
            (times.start, None)
        };
        Sender {
            next_k: 0,
            pending: HashMap::new(),
            next_at: Some(first),
            interval,
            done: false,
        }
    });
    let pad = "x".repeat(shared.body_bytes.saturating_sub(24));
    loop {
        let send_at = sender.as_ref().and_then(|s| s.next_at);
        // Closed loop: the next send is due the moment its ack arrived; do
        // not go through the timer (tokio's timer has 1 ms granularity).
        let due_now = sender.as_ref().is_some_and(|s| s.interval.is_none())
            && send_at.is_some_and(|t| t <= Instant::now());
        let step = if due_now {
            Step::Send
        } else {
            let timer = async {
                match send_at {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                r = stop.changed() => if r.is_err() || *stop.borrow() { Step::Stop } else { Step::Nothing },
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        handle_text(&shared, &mut st, &mut sender, t.as_str(), Some(times), (spec.channel, spec.index), &channel_id);
                        Step::Nothing
                    }
                    Some(Ok(Message::Close(c))) => { st.close = Some(close_label(c.as_ref())); Step::Stop }
                    Some(Err(e)) => { st.close = Some(short_error(&e.to_string())); Step::Stop }
                    None => { st.close = Some("closed without a close frame".into()); Step::Stop }
                    Some(Ok(_)) => Step::Nothing,
                },
                () = timer => Step::Send,
            }
        };
        match step {
            Step::Stop => break,
            Step::Nothing => continue,
            Step::Send => {}
        }
        let Some(s) = sender.as_mut() else { continue };
        let now = Instant::now();
        let Some(at) = s.next_at else { continue };
        // Stop when the schedule reaches the end of the window, or when we
        // are so far behind that the window is over.
        let quota_met = shared.quota.is_some_and(|q| s.next_k >= q);
        if quota_met || at >= times.send_end || now >= times.send_end {
            s.next_at = None;
            if let Some(interval) = s.interval
                && at < times.send_end
            {
                // Sends the schedule wanted but we never made.
                let remaining = (times.send_end - at).as_secs_f64() / interval.as_secs_f64();
                st.scheduled += remaining.ceil() as u64;
            }
            finish_sender(&shared, s);
            continue;
        }
        // Timestamp the real send instant. In open loop, how late the
        // load generator was against its schedule is reported separately
        // (tokio's timer fires up to ~1 ms late; more means the bench itself
        // was starved). A server that stops reading still shows up in the
        // latency: the frame waits in its socket buffer.
        let intended = now;
        if s.interval.is_some() && at >= times.window_start {
            let late_us = now.saturating_duration_since(at).as_micros() as u64;
            let mut h = shared.late_hist.lock().unwrap_or_else(|e| e.into_inner());
            h.saturating_record(late_us.max(1));
        }
        let k = s.next_k;
        s.next_k += 1;
        let frame = format!(
            r#"{{"type":"send","id":"{k}","channel":"{channel_id}","client_id":"{}-{}-{k}","body":"t={};s={};{pad}"}}"#,
            shared.run_tag,
            spec.index,
            ns(intended),
            spec.index
        );
        s.pending.insert(k, ns(intended));
        st.sent += 1;
        st.scheduled += 1;
        s.next_at = s.interval.map(|i| at + i);
        if ws.send(Message::Text(frame.into())).await.is_err() {
            st.close = Some("send failed".into());
            break;
        }
    }
    if let Some(s) = sender.as_mut() {
        st.unacked = s.pending.len() as u64;
        finish_sender(&shared, s);
    }
    record(&shared.delivery_hist, &mut st.lat_buf);
    st
}

pub(super) enum Step {
    Send,
    Stop,
    Nothing,
}

#[derive(Clone, Copy)]
pub(super) struct TimesCell(pub(super) Times);

pub(super) fn finish_sender(shared: &Shared, s: &mut Sender) {
    if !s.done && s.next_at.is_none() && s.pending.is_empty() {
        s.done = true;
        shared.senders_done.fetch_add(1, Relaxed);
        shared.progress.notify_one();
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn handle_text(
    shared: &Shared,
    st: &mut ClientStats,
    sender: &mut Option<Sender>,
    text: &str,
    times: Option<Times>,
    (channel, me): (usize, usize),
    channel_id: &str,
) {
    let Ok(f) = serde_json::from_str::<InFrame>(text) else {
        *st.errors.entry("unparseable frame".into()).or_default() += 1;
        return;
    };
    let now = Instant::now();
    let in_window = times.is_some_and(|t| now >= t.window_start && now < t.send_end);
    match f.kind.as_str() {
        "message" => {
            if f.channel.as_deref() != Some(channel_id) {
                st.foreign += 1;
                return;
            }
            let Some(seq) = f.seq else {
                st.foreign += 1;
                return;
            };
            st.record_seq(seq);
            st.received += 1;
            shared.delivered.fetch_add(1, Relaxed);
            if in_window {
                shared.delivered_in_window.fetch_add(1, Relaxed);
            }
            shared.last_delivery_ns.fetch_max(ns(now), Relaxed);
            // A sender's own copy is checked for loss and order, not timed:
            // latency is over (message, other member) pairs.
            if f.message.as_deref().and_then(sender_of) == Some(me) {
                return;
            }
            if let (Some(t), Some(sent)) = (times, f.message.as_deref().and_then(sent_at)) {
                let lat_us = ns(now).saturating_sub(sent) / 1000;
                let second = (sent.saturating_sub(ns(t.start)) / 1_000_000_000) as usize;
                if let (Some(c), Some(m)) = (
                    shared.timeline_count.get(second),
                    shared.timeline_max.get(second),
                ) {
                    c.fetch_add(1, Relaxed);
                    m.fetch_max(lat_us, Relaxed);
                }
                if sent < ns(t.window_start) || sent >= ns(t.send_end) {
                    return;
                }
                st.lat_buf.push(lat_us);
                if st.lat_buf.len() >= 256 {
                    record(&shared.delivery_hist, &mut st.lat_buf);
                }
            }
        }
        "ack" => {
            let Some(s) = sender.as_mut() else {
                st.foreign += 1;
                return;
            };
            let Some(k) = f.id.as_deref().and_then(|i| i.parse::<u64>().ok()) else {
                st.foreign += 1;
                return;
            };
            let Some(sent) = s.pending.remove(&k) else {
                st.foreign += 1;
                return;
            };
            st.acked += 1;
            shared.last_ack_ns.fetch_max(ns(now), Relaxed);
            if f.duplicate == Some(true) {
                st.duplicate_acks += 1;
            }
            if let Some(seq) = f.seq {
                shared.channels[channel].acked_max.fetch_max(seq, Relaxed);
            }
            if let Some(t) = times {
                if in_window {
                    shared.acked_in_window.fetch_add(1, Relaxed);
                }
                if sent >= ns(t.window_start) && sent < ns(t.send_end) {
                    let lat_us = ns(now).saturating_sub(sent) / 1000;
                    let mut h = shared.ack_hist.lock().unwrap_or_else(|e| e.into_inner());
                    h.saturating_record(lat_us.max(1));
                }
                after_reply(shared, s, now, t);
            }
        }
        "error" => {
            *st.errors
                .entry(f.code.clone().unwrap_or_else(|| "error".into()))
                .or_default() += 1;
            if let (Some(s), Some(t)) = (sender.as_mut(), times)
                && let Some(k) = f.id.as_deref().and_then(|i| i.parse::<u64>().ok())
                && s.pending.remove(&k).is_some()
            {
                after_reply(shared, s, now, t);
            }
        }
        // hello, subscribed, presence, typing, receipt, pong: not measured.
        _ => {}
    }
}

pub(super) fn after_reply(shared: &Shared, s: &mut Sender, now: Instant, t: Times) {
    if s.interval.is_none() && !s.done {
        // Closed loop: the next send goes at once, while the window lasts.
        s.next_at = (now < t.send_end).then_some(now);
    }
    finish_sender(shared, s);
}

pub(super) async fn next_frame(ws: &mut Ws) -> Res<Option<InFrame>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
            Some(Ok(Message::Close(c))) => {
                return Err(fail(format!("closed: {}", close_label(c.as_ref()))));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(None),
        }
    }
}

pub(super) fn close_label(
    c: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> String {
    match c {
        Some(c) => format!("close {} {}", u16::from(c.code), c.reason),
        None => "close (no code)".into(),
    }
}

pub(super) fn short_error(e: &str) -> String {
    let e = e.trim();
    if e.len() > 120 {
        format!("{}…", &e[..e.floor_char_boundary(120)])
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_checks_count_gaps_repeats_and_reordering() {
        let mut st = ClientStats::default();
        for seq in [1, 2, 2, 4, 3, 5] {
            st.record_seq(seq);
        }
        assert_eq!(
            (st.distinct, st.duplicates, st.out_of_order, st.max_seq),
            (5, 1, 1, 5)
        );
        let mut st = ClientStats::default();
        for seq in [1, 2, 3, 130] {
            st.record_seq(seq);
        }
        // 4..=129 never arrived.
        assert_eq!(130 - st.distinct, 126);
        assert_eq!(st.out_of_order, 0);
    }
}
