//! The load generator: websocket clients that sign their upgrade with a
//! session cookie, subscribe to one channel each, send (some of them) at a
//! target rate or in a closed loop, and check what they receive.
//!
//! Every client of a channel, the sender included, must receive every
//! sequence number 1..=last of its channel exactly once and in increasing
//! order. Latency is measured from the send instant written into the body
//! (`t=<nanoseconds since the bench started>;`) to the moment each receiver
//! parses the frame. Each connection's frames are handled one after another
//! by the server, so a server that falls behind is charged for the wait:
//! later frames queue in its socket buffer, after the instant they carry.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};

use crate::procs::{self, ProcSample};
use crate::{Res, fail};

/// Any byte stream: TLS or plain TCP, client or server side.
pub trait AsyncRw: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncRw for T {}
pub type Stream = Box<dyn AsyncRw>;
type Ws = WebSocketStream<Stream>;

static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// The instant all body timestamps count from.
pub fn anchor() -> Instant {
    *ANCHOR.get_or_init(Instant::now)
}

fn ns(t: Instant) -> u64 {
    t.saturating_duration_since(anchor()).as_nanos() as u64
}

/// Where the clients connect.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// Trust exactly this root (the server's development certificate); `None` = plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// One channel and the session cookies of its members (one client each).
#[derive(Clone, Debug)]
pub struct PlanChannel {
    pub id: String,
    pub cookies: Vec<String>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub channels: Vec<PlanChannel>,
    pub senders_per_channel: usize,
    /// Messages per second across all senders; 0 = closed loop.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// Open the connections, subscribe, measure memory, send nothing.
    pub idle: bool,
    pub idle_settle: Duration,
    /// Subscribe after `hello` (always, except in an experiment).
    pub subscribe: bool,
    pub body_bytes: usize,
    pub connect_concurrency: usize,
    pub setup_timeout: Duration,
    pub drain_timeout: Duration,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Lat {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Lat {
    fn of(h: &Histogram<u64>) -> Option<Lat> {
        (!h.is_empty()).then(|| Lat {
            count: h.len(),
            p50: h.value_at_quantile(0.50) as f64 / 1000.0,
            p95: h.value_at_quantile(0.95) as f64 / 1000.0,
            p99: h.value_at_quantile(0.99) as f64 / 1000.0,
            max: h.max() as f64 / 1000.0,
        })
    }
}

impl fmt::Display for Lat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} / {} / {}",
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max)
        )
    }
}

pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

const TIMELINE_SECS: usize = 80;

/// One second of a run's timeline.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Second {
    pub second: usize,
    pub deliveries: u64,
    pub max_ms: f64,
}

/// What one run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub clients: usize,
    pub senders: usize,
    pub connected: usize,
    pub setup_failed: usize,
    pub setup_errors: BTreeMap<String, u64>,
    pub setup_secs: f64,
    pub window_secs: f64,
    /// Sends the schedule called for (open loop) or that were made (closed loop).
    pub scheduled: u64,
    pub sent: u64,
    pub acked: u64,
    pub acked_in_window: u64,
    pub delivered: u64,
    pub delivered_in_window: u64,
    pub msgs_per_sec: f64,
    pub deliveries_per_sec: f64,
    pub delivery: Option<Lat>,
    pub ack: Option<Lat>,
    /// Deliveries and the worst delivery latency by second of send time.
    pub timeline: Vec<Second>,
    /// Open loop: how late each send went out against its schedule.
    pub send_lateness: Option<Lat>,
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub unacked: u64,
    pub duplicate_acks: u64,
    pub foreign_frames: u64,
    /// Error frames by code.
    pub errors: BTreeMap<String, u64>,
    /// Connections the server closed or lost, by close code / error.
    pub closes: BTreeMap<String, u64>,
    pub drained: bool,
    pub server_before: ProcSample,
    pub server_connected: ProcSample,
    /// Idle runs: the server after the first half of the connections.
    pub server_half: ProcSample,
    pub connected_half: usize,
    pub server_window_start: ProcSample,
    pub server_window_end: ProcSample,
    pub server_end: ProcSample,
    pub bench_before: ProcSample,
    pub bench_connected: ProcSample,
    pub bench_window_start: ProcSample,
    pub bench_window_end: ProcSample,
    /// Busy CPU seconds of the whole machine at the window's ends.
    pub machine_window_start: f64,
    pub machine_window_end: f64,
}

impl Outcome {
    pub fn server_cpu_pct(&self) -> f64 {
        cpu_pct(
            &self.server_window_start,
            &self.server_window_end,
            self.window_secs,
        )
    }
    pub fn bench_cpu_pct(&self) -> f64 {
        cpu_pct(
            &self.bench_window_start,
            &self.bench_window_end,
            self.window_secs,
        )
    }
    /// CPU used by everything else on the machine meanwhile (other users,
    /// PostgreSQL when it is the database, the kernel's own threads).
    pub fn other_cpu_pct(&self) -> f64 {
        if self.window_secs <= 0.0 {
            return 0.0;
        }
        let machine =
            (self.machine_window_end - self.machine_window_start) / self.window_secs * 100.0;
        (machine - self.server_cpu_pct() - self.bench_cpu_pct()).max(0.0)
    }
    /// Server resident memory added per connection, bytes.
    pub fn server_bytes_per_conn(&self) -> f64 {
        per_conn(&self.server_before, &self.server_connected, self.connected)
    }
    /// Idle runs: resident memory added per connection by the second half.
    pub fn server_marginal_bytes_per_conn(&self) -> f64 {
        per_conn(
            &self.server_half,
            &self.server_connected,
            self.connected.saturating_sub(self.connected_half),
        )
    }
    /// Whether every check passed.
    pub fn clean(&self) -> bool {
        self.setup_failed == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.unacked == 0
            && self.errors.is_empty()
            && self.closes.is_empty()
    }
}

fn cpu_pct(a: &ProcSample, b: &ProcSample, secs: f64) -> f64 {
    if secs > 0.0 {
        (b.cpu_secs - a.cpu_secs) / secs * 100.0
    } else {
        0.0
    }
}

fn per_conn(a: &ProcSample, b: &ProcSample, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    (b.rss_kib as f64 - a.rss_kib as f64) * 1024.0 / n as f64
}

// ---------------------------------------------------------------------------
// Frames from the server.

#[derive(Deserialize)]
struct InFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    duplicate: Option<bool>,
    /// For `message` frames the message object's `body`; error frames carry
    /// a text `message`, which is skipped.
    #[serde(default, deserialize_with = "body_of")]
    message: Option<String>,
}

fn body_of<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Key(bool);
    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
            struct K;
            impl Visitor<'_> for K {
                type Value = Key;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a key")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                    Ok(Key(v == "body"))
                }
            }
            d.deserialize_str(K)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a message object or text")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut body = None;
            while let Some(Key(is_body)) = map.next_key::<Key>()? {
                if is_body {
                    body = Some(map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(body)
        }
    }
    d.deserialize_any(V)
}

fn sent_at(body: &str) -> Option<u64> {
    body.strip_prefix("t=")?.split(';').next()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Connecting.

pub fn client_ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    // Small read buffers: tungstenite zero-fills the whole buffer before
    // each read (TOOLCHAIN.md), and the clients share the CPU with the server.
    crate::baseline::ws_config()
}

/// Connect, upgrade with `confer.v1`, same-origin `Origin` and the session cookie.
pub async fn connect(target: &Target, cookie: &str) -> Res<Ws> {
    let tcp = tokio::net::TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    let port = target.addr.port();
    let (scheme, stream): (&str, Stream) = match &target.tls {
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1")?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await?;
            ("wss", Box::new(tls))
        }
        None => ("ws", Box::new(tcp)),
    };
    let mut request = format!("{scheme}://127.0.0.1:{port}/ws").into_client_request()?;
    let h = request.headers_mut();
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("confer.v1"),
    );
    h.insert(
        header::ORIGIN,
        HeaderValue::from_str(&format!("https://127.0.0.1:{port}"))?,
    );
    if !cookie.is_empty() {
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("__Host-confer_session={cookie}"))?,
        );
    }
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(client_ws_config()))
            .await?;
    let agreed = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    if agreed != Some("confer.v1") {
        return Err(fail(format!(
            "the server did not agree to confer.v1 (got {agreed:?})"
        )));
    }
    Ok(ws)
}

/// A rustls client configuration that trusts only `cert_pem`.
pub fn tls_client_config(cert_pem_path: &std::path::Path) -> Res<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    confer::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem_path)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------
// One client.

#[derive(Clone, Copy)]
struct Times {
    start: Instant,
    window_start: Instant,
    send_end: Instant,
}

struct ChanState {
    acked_max: AtomicI64,
}

struct Shared {
    target: Target,
    channels: Vec<ChanState>,
    channel_ids: Vec<String>,
    run_tag: String,
    rate: f64,
    senders: usize,
    body_bytes: usize,
    subscribe: bool,
    ready: AtomicUsize,
    failed: AtomicUsize,
    progress: Notify,
    setup: Semaphore,
    delivered: AtomicU64,
    delivered_in_window: AtomicU64,
    acked_in_window: AtomicU64,
    senders_done: AtomicUsize,
    delivery_hist: Mutex<Histogram<u64>>,
    ack_hist: Mutex<Histogram<u64>>,
    late_hist: Mutex<Histogram<u64>>,
    /// Per second of send time (from the start): deliveries and the
    /// largest delivery latency (µs), to show stalls.
    timeline_count: Vec<AtomicU64>,
    timeline_max: Vec<AtomicU64>,
}

fn new_hist() -> Res<Histogram<u64>> {
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

struct ClientSpec {
    index: usize,
    channel: usize,
    cookie: String,
    /// Global sender slot, for senders.
    sender: Option<usize>,
}

#[derive(Default)]
struct ClientStats {
    channel: usize,
    setup_error: Option<String>,
    seen: Vec<u64>,
    distinct: u64,
    max_seq: i64,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    foreign: u64,
    errors: BTreeMap<String, u64>,
    close: Option<String>,
    sent: u64,
    scheduled: u64,
    acked: u64,
    duplicate_acks: u64,
    unacked: u64,
    /// Delivery latencies (µs) not yet added to the shared histogram.
    lat_buf: Vec<u64>,
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

struct Sender {
    next_k: u64,
    pending: HashMap<u64, u64>,
    next_at: Option<Instant>,
    interval: Option<Duration>,
    done: bool,
}

async fn client(
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
        let mut ws = connect(&shared.target, &spec.cookie).await?;
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
                Some(Ok(Message::Text(t))) => handle_text(&shared, &mut st, &mut None, t.as_str(), None, spec.channel, &channel_id),
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
                        handle_text(&shared, &mut st, &mut sender, t.as_str(), Some(times), spec.channel, &channel_id);
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
        if at >= times.send_end || now >= times.send_end {
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
            r#"{{"type":"send","id":"{k}","channel":"{channel_id}","client_id":"{}-{}-{k}","body":"t={};{pad}"}}"#,
            shared.run_tag,
            spec.index,
            ns(intended)
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

enum Step {
    Send,
    Stop,
    Nothing,
}

#[derive(Clone, Copy)]
struct TimesCell(Times);

fn finish_sender(shared: &Shared, s: &mut Sender) {
    if !s.done && s.next_at.is_none() && s.pending.is_empty() {
        s.done = true;
        shared.senders_done.fetch_add(1, Relaxed);
        shared.progress.notify_one();
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_text(
    shared: &Shared,
    st: &mut ClientStats,
    sender: &mut Option<Sender>,
    text: &str,
    times: Option<Times>,
    channel: usize,
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

fn after_reply(shared: &Shared, s: &mut Sender, now: Instant, t: Times) {
    if s.interval.is_none() && !s.done {
        // Closed loop: the next send goes at once, while the window lasts.
        s.next_at = (now < t.send_end).then_some(now);
    }
    finish_sender(shared, s);
}

async fn next_frame(ws: &mut Ws) -> Res<Option<InFrame>> {
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

fn close_label(c: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match c {
        Some(c) => format!("close {} {}", u16::from(c.code), c.reason),
        None => "close (no code)".into(),
    }
}

fn short_error(e: &str) -> String {
    let e = e.trim();
    if e.len() > 120 {
        format!("{}…", &e[..e.floor_char_boundary(120)])
    } else {
        e.to_string()
    }
}

// ---------------------------------------------------------------------------
// The driver.

/// Wait until `want` clients are subscribed or failed (or the time is up).
async fn wait_setup(shared: &Shared, want: usize, n: usize, started: Instant, limit: Duration) {
    let mut last_report = Instant::now();
    loop {
        let (ready, failed) = (shared.ready.load(Relaxed), shared.failed.load(Relaxed));
        if ready + failed >= want || started.elapsed() > limit {
            return;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("    … {ready}/{n} connected and subscribed, {failed} failed");
            last_report = Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), shared.progress.notified()).await;
    }
}

/// Run one plan against one server; `server_pid` is read for memory and CPU.
pub async fn run(target: Target, plan: &Plan, server_pid: u32) -> Res<Outcome> {
    let mut out = Outcome::default();
    let mut specs = Vec::new();
    let mut senders = 0;
    for (c, ch) in plan.channels.iter().enumerate() {
        for (m, cookie) in ch.cookies.iter().enumerate() {
            let sender = (!plan.idle && m < plan.senders_per_channel).then(|| {
                senders += 1;
                senders - 1
            });
            specs.push(ClientSpec {
                index: specs.len(),
                channel: c,
                cookie: cookie.clone(),
                sender,
            });
        }
    }
    let n = specs.len();
    out.clients = n;
    out.senders = senders;
    let shared = Arc::new(Shared {
        target,
        channels: plan
            .channels
            .iter()
            .map(|_| ChanState {
                acked_max: AtomicI64::new(0),
            })
            .collect(),
        channel_ids: plan.channels.iter().map(|c| c.id.clone()).collect(),
        run_tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
        rate: plan.rate,
        senders,
        body_bytes: plan.body_bytes,
        subscribe: plan.subscribe,
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        progress: Notify::new(),
        setup: Semaphore::new(plan.connect_concurrency.max(1)),
        delivered: AtomicU64::new(0),
        delivered_in_window: AtomicU64::new(0),
        acked_in_window: AtomicU64::new(0),
        senders_done: AtomicUsize::new(0),
        delivery_hist: Mutex::new(new_hist()?),
        ack_hist: Mutex::new(new_hist()?),
        late_hist: Mutex::new(new_hist()?),
        timeline_count: (0..TIMELINE_SECS).map(|_| AtomicU64::new(0)).collect(),
        timeline_max: (0..TIMELINE_SECS).map(|_| AtomicU64::new(0)).collect(),
    });
    let (go_tx, go_rx) = watch::channel::<Option<TimesCell>>(None);
    let (stop_tx, stop_rx) = watch::channel(false);

    out.server_before = procs::sample(server_pid);
    out.bench_before = procs::sample_self();
    let setup_started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    // Idle runs connect in two halves and read the server between them, so
    // the second half gives the marginal cost of a connection, free of
    // one-off growth (database page caches, allocator arenas, tables).
    let first_half = if plan.idle { n / 2 } else { n };
    let mut specs = specs.into_iter();
    for spec in specs.by_ref().take(first_half) {
        tasks.push(tokio::spawn(client(
            spec,
            shared.clone(),
            go_rx.clone(),
            stop_rx.clone(),
        )));
    }
    wait_setup(&shared, first_half, n, setup_started, plan.setup_timeout).await;
    if plan.idle {
        tokio::time::sleep(plan.idle_settle).await;
        out.server_half = procs::sample(server_pid);
        out.connected_half = shared.ready.load(Relaxed);
        for spec in specs {
            tasks.push(tokio::spawn(client(
                spec,
                shared.clone(),
                go_rx.clone(),
                stop_rx.clone(),
            )));
        }
        wait_setup(&shared, n, n, setup_started, plan.setup_timeout).await;
    }
    drop(go_rx);
    drop(stop_rx);
    out.setup_secs = setup_started.elapsed().as_secs_f64();
    out.connected = shared.ready.load(Relaxed);

    if plan.idle {
        // Let the start-up churn settle (presence fan-out, allocator), then read.
        tokio::time::sleep(plan.idle_settle).await;
        out.server_connected = procs::sample(server_pid);
        out.bench_connected = procs::sample_self();
        out.server_end = out.server_connected;
    } else if out.connected == n {
        out.server_connected = procs::sample(server_pid);
        out.bench_connected = procs::sample_self();
        let start = Instant::now() + Duration::from_millis(200);
        let times = Times {
            start,
            window_start: start + plan.warmup,
            send_end: start + plan.warmup + plan.duration,
        };
        let _ = go_tx.send(Some(TimesCell(times)));
        tokio::time::sleep_until(times.window_start.into()).await;
        out.server_window_start = procs::sample(server_pid);
        out.bench_window_start = procs::sample_self();
        out.machine_window_start = procs::machine_busy_secs();
        tokio::time::sleep_until(times.send_end.into()).await;
        out.server_window_end = procs::sample(server_pid);
        out.bench_window_end = procs::sample_self();
        out.machine_window_end = procs::machine_busy_secs();
        out.window_secs = plan.duration.as_secs_f64();
        // Drain: every sender has its acks, then every receiver has everything.
        let drain_until = Instant::now() + plan.drain_timeout;
        while shared.senders_done.load(Relaxed) < senders && Instant::now() < drain_until {
            let _ =
                tokio::time::timeout(Duration::from_millis(50), shared.progress.notified()).await;
        }
        loop {
            let expected: u64 = plan
                .channels
                .iter()
                .zip(&shared.channels)
                .map(|(c, s)| c.cookies.len() as u64 * s.acked_max.load(Relaxed).max(0) as u64)
                .sum();
            if shared.delivered.load(Relaxed) >= expected {
                out.drained = true;
                break;
            }
            if Instant::now() >= drain_until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out.server_end = procs::sample(server_pid);
    } else {
        out.server_end = procs::sample(server_pid);
    }
    let _ = stop_tx.send(true);
    drop(go_tx);

    let mut stats = Vec::with_capacity(n);
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(Ok(s)) => stats.push(s),
            Ok(Err(e)) => {
                *out.setup_errors
                    .entry(format!("client task: {e}"))
                    .or_default() += 1;
            }
            Err(_) => {
                *out.setup_errors
                    .entry("client did not stop".into())
                    .or_default() += 1;
            }
        }
    }

    // Verify: every member has every seq 1..=last of its channel once, in order.
    let mut last = vec![0i64; plan.channels.len()];
    for (c, s) in shared.channels.iter().enumerate() {
        last[c] = s.acked_max.load(Relaxed);
    }
    for s in &stats {
        last[s.channel] = last[s.channel].max(s.max_seq);
    }
    for s in &stats {
        if let Some(e) = &s.setup_error {
            out.setup_failed += 1;
            *out.setup_errors.entry(e.clone()).or_default() += 1;
            continue;
        }
        if !plan.idle {
            let want = last[s.channel].max(0) as u64;
            out.missing += want.saturating_sub(s.distinct);
        }
        out.duplicates += s.duplicates;
        out.out_of_order += s.out_of_order;
        out.foreign_frames += s.foreign;
        out.sent += s.sent;
        out.scheduled += s.scheduled;
        out.acked += s.acked;
        out.unacked += s.unacked;
        out.duplicate_acks += s.duplicate_acks;
        for (k, v) in &s.errors {
            *out.errors.entry(k.clone()).or_default() += v;
        }
        if let Some(c) = &s.close {
            *out.closes.entry(c.clone()).or_default() += 1;
        }
    }
    out.delivered = shared.delivered.load(Relaxed);
    out.delivered_in_window = shared.delivered_in_window.load(Relaxed);
    out.acked_in_window = shared.acked_in_window.load(Relaxed);
    if out.window_secs > 0.0 {
        out.msgs_per_sec = out.acked_in_window as f64 / out.window_secs;
        out.deliveries_per_sec = out.delivered_in_window as f64 / out.window_secs;
    }
    out.delivery = Lat::of(
        &shared
            .delivery_hist
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    out.ack = Lat::of(&shared.ack_hist.lock().unwrap_or_else(|e| e.into_inner()));
    let seconds = (plan.warmup + plan.duration).as_secs() as usize;
    out.timeline = (0..seconds.min(TIMELINE_SECS))
        .map(|i| Second {
            second: i,
            deliveries: shared.timeline_count[i].load(Relaxed),
            max_ms: shared.timeline_max[i].load(Relaxed) as f64 / 1000.0,
        })
        .collect();
    out.send_lateness = Lat::of(&shared.late_hist.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(out)
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

    #[test]
    fn frames_parse_with_the_body_of_a_message_object_and_skip_error_text() {
        let m: InFrame = serde_json::from_str(
            r#"{"type":"message","channel":"c","seq":3,"message":{"id":"x","author":{"name":"A"},"body":"t=42;xx","visible":true}}"#,
        )
        .unwrap();
        assert_eq!((m.kind.as_str(), m.seq), ("message", Some(3)));
        assert_eq!(m.message.as_deref().and_then(sent_at), Some(42));
        let e: InFrame = serde_json::from_str(
            r#"{"type":"error","id":"7","code":"not_found","message":"No such channel"}"#,
        )
        .unwrap();
        assert_eq!((e.code.as_deref(), e.message), (Some("not_found"), None));
        let a: InFrame = serde_json::from_str(
            r#"{"type":"ack","id":"9","channel":"c","client_id":"k","seq":12,"message_id":"m","duplicate":false}"#,
        )
        .unwrap();
        assert_eq!(
            (a.id.as_deref(), a.seq, a.duplicate),
            (Some("9"), Some(12), Some(false))
        );
    }
}
