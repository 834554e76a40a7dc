//! What one run measured, and how it reads: latency percentiles, the
//! per-second timeline, loss and duplication counts, server memory and CPU.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procs::ProcSample;

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
    pub(crate) fn of(h: &Histogram<u64>) -> Option<Lat> {
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

pub const TIMELINE_SECS: usize = 80;

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
    /// Count mode: messages per sender, and the seconds from the first send
    /// to the last ack and to the last delivery.
    pub quota: Option<u64>,
    /// The servers' largest resident memory from the start of sending to
    /// the end of the drain (sampled every 100 ms, summed over nodes), KiB.
    pub peak_rss_kib: u64,
    pub send_secs: f64,
    pub deliver_secs: f64,
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

pub(crate) fn cpu_pct(a: &ProcSample, b: &ProcSample, secs: f64) -> f64 {
    if secs > 0.0 {
        (b.cpu_secs - a.cpu_secs) / secs * 100.0
    } else {
        0.0
    }
}

pub(crate) fn per_conn(a: &ProcSample, b: &ProcSample, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    (b.rss_kib as f64 - a.rss_kib as f64) * 1024.0 / n as f64
}
