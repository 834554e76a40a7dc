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

mod client;
mod connect;
mod frames;
mod outcome;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, watch};

pub(crate) use self::client::new_hist;
use self::client::{ChanState, ClientSpec, Shared, Times, TimesCell, client};
pub use self::connect::{Stream, tls_client_config};
pub(crate) use self::frames::{sender_of, sent_at};
pub use self::outcome::{Lat, Outcome, Second, TIMELINE_SECS, ms};
use crate::Res;
use crate::procs;

static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// The instant all body timestamps count from.
pub fn anchor() -> Instant {
    *ANCHOR.get_or_init(Instant::now)
}

pub(crate) fn ns(t: Instant) -> u64 {
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
    /// Measured sending time; with `quota`, the most the sending may take.
    pub duration: Duration,
    /// Messages each sender sends (the issue 8 workloads: N / C); the run
    /// ends when every sender has its acks, and throughput is counted over
    /// the whole run (from the first send to the last ack).
    pub quota: Option<u64>,
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

/// Run one plan against one server, or several nodes of one (client `i`
/// connects to `targets[i % targets.len()]`, so a channel's members are
/// spread across the nodes); `server_pids` are read, summed, for memory
/// and CPU.
pub async fn run(targets: Vec<Target>, plan: &Plan, server_pids: &[u32]) -> Res<Outcome> {
    if targets.is_empty() {
        return Err(crate::fail("no server to connect to"));
    }
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
        targets,
        quota: plan.quota,
        last_ack_ns: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
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

    out.server_before = procs::sample_all(server_pids);
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
        out.server_half = procs::sample_all(server_pids);
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
        out.server_connected = procs::sample_all(server_pids);
        out.bench_connected = procs::sample_self();
        out.server_end = out.server_connected;
    } else if out.connected == n {
        out.server_connected = procs::sample_all(server_pids);
        out.bench_connected = procs::sample_self();
        let peak = procs::PeakRss::start(server_pids.to_vec());
        let start = Instant::now() + Duration::from_millis(200);
        let times = Times {
            start,
            window_start: start + plan.warmup,
            send_end: start + plan.warmup + plan.duration,
        };
        let _ = go_tx.send(Some(TimesCell(times)));
        tokio::time::sleep_until(times.window_start.into()).await;
        out.server_window_start = procs::sample_all(server_pids);
        out.bench_window_start = procs::sample_self();
        out.machine_window_start = procs::machine_busy_secs();
        if plan.quota.is_some() {
            // Count mode: until every sender has sent its share and has its acks.
            while shared.senders_done.load(Relaxed) < senders && Instant::now() < times.send_end {
                let _ = tokio::time::timeout(Duration::from_millis(50), shared.progress.notified())
                    .await;
            }
        } else {
            tokio::time::sleep_until(times.send_end.into()).await;
            out.server_window_end = procs::sample_all(server_pids);
            out.bench_window_end = procs::sample_self();
            out.machine_window_end = procs::machine_busy_secs();
            out.window_secs = plan.duration.as_secs_f64();
        }
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
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if plan.quota.is_some() {
            // The whole run, deliveries included, is the window for CPU.
            out.server_window_end = procs::sample_all(server_pids);
            out.bench_window_end = procs::sample_self();
            out.machine_window_end = procs::machine_busy_secs();
            out.window_secs = start.elapsed().as_secs_f64();
            let since = |t: u64| t.saturating_sub(ns(start)) as f64 / 1e9;
            out.send_secs = since(shared.last_ack_ns.load(Relaxed));
            out.deliver_secs = since(shared.last_delivery_ns.load(Relaxed));
        }
        out.peak_rss_kib = peak.finish().await;
        out.server_end = procs::sample_all(server_pids);
    } else {
        out.server_end = procs::sample_all(server_pids);
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
    if plan.quota.is_some() {
        out.quota = plan.quota;
        if out.send_secs > 0.0 {
            out.msgs_per_sec = out.acked as f64 / out.send_secs;
        }
        if out.deliver_secs > 0.0 {
            out.deliveries_per_sec = out.delivered_in_window as f64 / out.deliver_secs;
        }
    } else if out.window_secs > 0.0 {
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
