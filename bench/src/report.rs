//! Results: one line per run while the bench goes, a Markdown report at the end.

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::{Outcome, ms};
use crate::procs::{Kind, LogSummary};
use crate::{Cli, Scenario};

/// One scenario against one server.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scenario: String,
    pub title: String,
    pub server: String,
    pub confer: bool,
    pub tls: bool,
    pub idle: bool,
    pub rate: f64,
    pub outcome: Outcome,
    pub server_log: LogSummary,
    pub error: Option<String>,
}

impl Row {
    pub fn new(s: &Scenario, kind: Kind, outcome: Outcome, server_log: LogSummary) -> Row {
        Row {
            scenario: s.key.clone(),
            title: s.title.clone(),
            server: kind.label().into(),
            confer: kind.is_confer(),
            tls: kind.tls(),
            idle: s.idle,
            rate: s.rate,
            outcome,
            server_log,
            error: None,
        }
    }

    pub fn failed(s: &Scenario, kind: Kind, error: String) -> Row {
        let mut row = Row::new(s, kind, Outcome::default(), LogSummary::default());
        row.error = Some(error);
        row
    }

    fn checks(&self) -> String {
        let o = &self.outcome;
        let mut s = format!("{} / {} / {}", o.missing, o.duplicates, o.out_of_order);
        if o.unacked > 0 {
            let _ = write!(s, ", {} unacked", o.unacked);
        }
        if o.duplicate_acks > 0 {
            let _ = write!(s, ", {} duplicate acks", o.duplicate_acks);
        }
        s
    }

    fn problems(&self) -> String {
        let o = &self.outcome;
        let mut parts = Vec::new();
        if let Some(e) = &self.error {
            parts.push(format!("run failed: {e}"));
        }
        for (k, v) in &o.setup_errors {
            parts.push(format!("{v}× set-up: {k}"));
        }
        for (k, v) in &o.errors {
            parts.push(format!("{v}× error frame `{k}`"));
        }
        for (k, v) in &o.closes {
            parts.push(format!("{v}× {k}"));
        }
        if o.foreign_frames > 0 {
            parts.push(format!("{} unexpected frames", o.foreign_frames));
        }
        let l = &self.server_log;
        if l.panics + l.errors + l.warnings > 0 {
            parts.push(format!(
                "server log: {} panics, {} errors, {} warnings",
                l.panics, l.errors, l.warnings
            ));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    }
}

/// A one-line summary for the progress log.
pub fn one_line(r: &Row) -> String {
    let o = &r.outcome;
    if let Some(e) = &r.error {
        return format!("{}: failed: {e}", r.server);
    }
    if r.idle {
        return format!(
            "{}: {} connections in {:.1} s; server RSS {} → {} → {} KiB = {:.1} KiB per connection on average, {:.1} KiB for the second half; problems: {}",
            r.server,
            o.connected,
            o.setup_secs,
            o.server_before.rss_kib,
            o.server_half.rss_kib,
            o.server_connected.rss_kib,
            o.server_bytes_per_conn() / 1024.0,
            o.server_marginal_bytes_per_conn() / 1024.0,
            r.problems()
        );
    }
    format!(
        "{}: {:.0} msgs/s, {:.0} deliveries/s; delivery p50/p95/p99/max {} ms; ack p50/p99 {}/{} ms; sends late p99 {} ms; missing/dup/ooo {}; CPU server {:.0}% bench {:.0}% other {:.0}%; problems: {}",
        r.server,
        o.msgs_per_sec,
        o.deliveries_per_sec,
        o.delivery.map_or("-".into(), |l| l.to_string()),
        o.ack.map_or("-".into(), |l| ms(l.p50)),
        o.ack.map_or("-".into(), |l| ms(l.p99)),
        o.send_lateness.map_or("-".into(), |l| ms(l.p99)),
        r.checks(),
        o.server_cpu_pct(),
        o.bench_cpu_pct(),
        o.other_cpu_pct(),
        r.problems()
    )
}

/// What the run ran on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub engine: String,
    pub version: String,
}

impl Machine {
    pub fn read(engine: &str) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory_gib,
            kernel,
            engine: engine.into(),
            version: confer::VERSION.into(),
        }
    }
}

fn traffic_rows(rows: &[Row]) -> impl Iterator<Item = &Row> {
    rows.iter().filter(|r| !r.idle)
}

fn find<'a>(rows: &'a [Row], scenario: &str, confer: bool) -> Option<&'a Row> {
    let label = if confer {
        Kind::Confer { nodelay: false }.label()
    } else {
        Kind::Baseline { tls: true }.label()
    };
    rows.iter()
        .find(|r| r.scenario == scenario && r.server == label && r.error.is_none())
}

/// The Markdown report.
pub fn markdown(m: &Machine, rows: &[Row], cli: &Cli) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## confer-bench results\n");
    let _ = writeln!(
        s,
        "Machine: {} × {}, {:.1} GiB memory, Linux {}. Confer {} on {}; server and load generator share the machine.\n",
        m.cpus, m.cpu_model, m.memory_gib, m.kernel, m.version, m.engine
    );
    let _ = writeln!(
        s,
        "Message body {} bytes; every scenario's channels alternate members between two agencies; the sender also receives its own message.\n",
        cli.body_bytes
    );
    if traffic_rows(rows).next().is_some() {
        let _ = writeln!(
            s,
            "| Scenario | Server | Clients (senders) | Offered | Committed msgs/s | Deliveries/s | Delivery p50 / p95 / p99 / max (ms) | Ack p50 / p99 (ms) | Missing / dup / out-of-order | CPU server / bench / other | Server RSS peak | Problems |"
        );
        let _ = writeln!(s, "|---|---|---|---|---:|---:|---|---|---|---|---:|---|");
        for r in traffic_rows(rows) {
            let o = &r.outcome;
            let offered = if r.rate > 0.0 {
                format!("{} msg/s", r.rate)
            } else {
                "closed loop".into()
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} ({}) | {} | {:.0} | {:.0} | {} | {} / {} | {} | {:.0}% / {:.0}% / {:.0}% | {:.0} MiB | {} |",
                r.scenario,
                r.server,
                o.clients,
                o.senders,
                offered,
                o.msgs_per_sec,
                o.deliveries_per_sec,
                o.delivery.map_or("-".into(), |l| l.to_string()),
                o.ack.map_or("-".into(), |l| ms(l.p50)),
                o.ack.map_or("-".into(), |l| ms(l.p99)),
                r.checks(),
                o.server_cpu_pct(),
                o.bench_cpu_pct(),
                o.other_cpu_pct(),
                o.server_end.hwm_kib as f64 / 1024.0,
                r.problems()
            );
        }
        let _ = writeln!(s);
    }
    let idle: Vec<&Row> = rows.iter().filter(|r| r.idle).collect();
    if !idle.is_empty() {
        let _ = writeln!(
            s,
            "| Scenario | Server | Idle connections (subscribed) | Set-up | Server RSS: before → half → all | Per connection (average) | Per connection (second half) | Problems |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---|---:|---:|---|");
        for r in idle {
            let o = &r.outcome;
            let _ = writeln!(
                s,
                "| {} | {} | {} of {} | {:.1} s | {:.1} → {:.1} → {:.1} MiB | {:.1} KiB | {:.1} KiB | {} |",
                r.scenario,
                r.server,
                o.connected,
                o.clients,
                o.setup_secs,
                o.server_before.rss_kib as f64 / 1024.0,
                o.server_half.rss_kib as f64 / 1024.0,
                o.server_connected.rss_kib as f64 / 1024.0,
                o.server_bytes_per_conn() / 1024.0,
                o.server_marginal_bytes_per_conn() / 1024.0,
                r.problems()
            );
        }
        let _ = writeln!(s);
    }

    // Confer against the (TLS) baseline.
    let mut compare = String::new();
    for key in ["a", "b", "c", "custom"] {
        if let (Some(c), Some(b)) = (find(rows, key, true), find(rows, key, false)) {
            let (co, bo) = (&c.outcome, &b.outcome);
            let ratio = if bo.msgs_per_sec > 0.0 {
                co.msgs_per_sec / bo.msgs_per_sec
            } else {
                0.0
            };
            let _ = writeln!(
                compare,
                "| {key} | {:.0} | {:.0} | {:.2} | {} | {} |",
                co.msgs_per_sec,
                bo.msgs_per_sec,
                ratio,
                co.delivery.map_or("-".into(), |l| ms(l.p99)),
                bo.delivery.map_or("-".into(), |l| ms(l.p99)),
            );
        }
    }
    for key in ["d", "idle"] {
        if let (Some(c), Some(b)) = (find(rows, key, true), find(rows, key, false)) {
            let _ = writeln!(
                compare,
                "| {key} (memory per idle connection) | {:.1} KiB | {:.1} KiB | {:.2} | | |",
                c.outcome.server_bytes_per_conn() / 1024.0,
                b.outcome.server_bytes_per_conn() / 1024.0,
                if b.outcome.server_bytes_per_conn() > 0.0 {
                    c.outcome.server_bytes_per_conn() / b.outcome.server_bytes_per_conn()
                } else {
                    0.0
                }
            );
        }
    }
    if !compare.is_empty() {
        let _ = writeln!(
            s,
            "| Scenario | Confer msgs/s | Baseline (TLS) msgs/s | Confer ÷ baseline | Confer delivery p99 (ms) | Baseline delivery p99 (ms) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        s.push_str(&compare);
        let _ = writeln!(s);
    }

    // The targets of issue 4.
    let mut targets = String::new();
    if let Some(b) = find(rows, "b", true)
        && let Some(l) = b.outcome.delivery
    {
        let _ = writeln!(
            targets,
            "| p99 delivery < 25 ms at 500 msg/s, 10 recipients (b) | {} ms | {} |",
            ms(l.p99),
            yes(l.p99 < 25.0 && b.outcome.clean())
        );
    }
    if let (Some(c), Some(b)) = (find(rows, "c", true), find(rows, "c", false))
        && b.outcome.msgs_per_sec > 0.0
    {
        let ratio = c.outcome.msgs_per_sec / b.outcome.msgs_per_sec;
        let _ = writeln!(
            targets,
            "| ≥ ½ the baseline's throughput at full speed (c) | {:.0} vs {:.0} msgs/s = {:.2} | {} |",
            c.outcome.msgs_per_sec,
            b.outcome.msgs_per_sec,
            ratio,
            yes(ratio >= 0.5 && c.outcome.clean())
        );
    }
    if let Some(d) = find(rows, "d", true) {
        let per = d.outcome.server_bytes_per_conn() / 1024.0;
        let _ = writeln!(
            targets,
            "| < 20 KiB server memory per idle connection (d) | {per:.1} KiB × {} connections | {} |",
            d.outcome.connected,
            yes(per < 20.0 && d.outcome.connected >= 10_000)
        );
    }
    if !targets.is_empty() {
        let _ = writeln!(s, "| Target (2 cores, {}) | Measured | Met |", m.engine);
        let _ = writeln!(s, "|---|---|---|");
        s.push_str(&targets);
    }
    s
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "**no**" }
}
