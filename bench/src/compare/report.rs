//! The `--compare` report: one Markdown table per workload, with ratios
//! against the in-memory baseline and against Synapse on the same engine.

use std::fmt::Write as _;

use super::{Options, Row, Workload};
use crate::load::ms;

fn engine_of(system: &str) -> &'static str {
    if system.contains("PostgreSQL") {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.0}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => "—".into(),
    }
}

/// One line for the progress log.
pub fn one_line(r: &Row) -> String {
    let Some(o) = &r.outcome else {
        return format!(
            "{}: FAILED: {}",
            r.system,
            r.error.as_deref().unwrap_or("?")
        );
    };
    format!(
        "{}: {:.0} msgs/s, {:.0} deliveries/s, delivery {} ms, lost {} dup {} out-of-order {}, CPU {:.0}%, peak {:.0} MiB, {} of {} sent{}",
        r.system,
        o.msgs_per_sec,
        o.deliveries_per_sec,
        o.delivery.map_or("—".into(), |l| l.to_string()),
        o.missing,
        o.duplicates,
        o.out_of_order,
        o.server_cpu_pct(),
        o.peak_rss_kib as f64 / 1024.0,
        o.acked,
        o.quota.unwrap_or(0) * o.senders as u64,
        if o.errors.is_empty() && o.closes.is_empty() {
            String::new()
        } else {
            format!(", errors {:?} closes {:?}", o.errors, o.closes)
        }
    )
}

pub fn markdown(rows: &[Row], workloads: &[Workload], synapse: &str, opts: &Options) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "## confer-bench --compare ({} UTC)\n", utc_now());
    let _ = writeln!(
        m,
        "Closed loop: each sender waits for its ack before the next send. Latency is over every (message, other member) pair. \
         CPU is the server's utime+stime over the run ÷ its wall time (100% = one core; summed over nodes). \
         Peak RSS is sampled every 100 ms from the first send to the last delivery (summed over nodes). \
         Sending stops after {} s ({} s for Synapse); \"sent\" shows how much of N was sent by then.{}{}\n",
        opts.max_seconds,
        opts.synapse_max_seconds,
        if opts.repeat > 1 {
            format!(
                " The baseline and Confer ran {} times on each workload: each row is the run of median msgs/s, \
                 every run's msgs/s in brackets (in run order), lost / dup / out of order summed over all runs.",
                opts.repeat
            )
        } else {
            String::new()
        },
        if synapse.is_empty() {
            String::new()
        } else {
            format!(" Synapse {synapse} from PyPI (bench/synapse/run.sh).")
        }
    );
    for w in workloads {
        let _ = writeln!(m, "### ({}) {}\n", w.key, w.title());
        let _ = writeln!(
            m,
            "| System | Sent / N | Msgs/s | ÷ baseline | ÷ Synapse (same engine) | Deliveries/s | Delivery p50 / p95 / p99 / max (ms) | Ack p50 / p99 (ms) | Lost / dup / out of order | Server CPU | CPU per msg | Peak RSS | Load avg at start |"
        );
        let _ = writeln!(
            m,
            "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|"
        );
        let of = |pred: &dyn Fn(&Row) -> bool| {
            rows.iter()
                .filter(|r| r.workload == w.key && pred(r))
                .find_map(|r| r.outcome.as_ref().map(|o| o.msgs_per_sec))
        };
        let baseline = of(&|r| r.is_baseline);
        for r in rows.iter().filter(|r| r.workload == w.key) {
            let Some(o) = &r.outcome else {
                let _ = writeln!(
                    m,
                    "| {} | failed: {} | | | | | | | | | | | {:.2} |",
                    r.system,
                    r.error.as_deref().unwrap_or("?").replace('|', "/"),
                    r.load_before
                );
                continue;
            };
            let engine = engine_of(&r.system);
            let synapse = of(&|x| x.is_synapse && engine_of(&x.system) == engine);
            let cpu = o.server_cpu_pct();
            let cpu_per_msg = if o.acked > 0 && o.window_secs > 0.0 {
                cpu / 100.0 * o.window_secs / o.acked as f64 * 1000.0
            } else {
                0.0
            };
            let problems = o.errors.values().sum::<u64>() + o.closes.values().sum::<u64>();
            // With --repeat: every run's throughput after the median's, and
            // loss over all of them.
            let runs = if r.runs.len() > 1 {
                let each: Vec<String> = r.runs.iter().map(|x| format!("{x:.0}")).collect();
                format!(" ({})", each.join(" · "))
            } else {
                String::new()
            };
            let (missing, duplicates, out_of_order) = if r.runs.len() > 1 {
                r.faults_all_runs
            } else {
                (o.missing, o.duplicates, o.out_of_order)
            };
            let _ = writeln!(
                m,
                "| {} | {} / {} | {:.0}{} | {} | {} | {:.0} | {} | {} | {} / {} / {}{} | {:.0}% | {} ms | {:.0} MiB | {:.2} |",
                r.system,
                o.acked,
                w.messages,
                o.msgs_per_sec,
                runs,
                if r.is_baseline {
                    "1".into()
                } else {
                    ratio(o.msgs_per_sec, baseline)
                },
                if r.is_synapse {
                    "1".into()
                } else {
                    ratio(o.msgs_per_sec, synapse)
                },
                o.deliveries_per_sec,
                o.delivery.map_or("—".into(), |l| l.to_string()),
                o.ack
                    .map_or("—".into(), |l| format!("{} / {}", ms(l.p50), ms(l.p99))),
                missing,
                duplicates,
                out_of_order,
                if problems > 0 {
                    format!(" ({problems} errors: {:?} {:?})", o.errors, o.closes)
                } else {
                    String::new()
                },
                cpu,
                ms(cpu_per_msg),
                o.peak_rss_kib as f64 / 1024.0,
                r.load_before,
            );
        }
        let _ = writeln!(m);
    }
    m
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
