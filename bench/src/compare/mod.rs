//! `confer-bench --compare`: issue 8's side-by-side benchmark, in one run on
//! one machine. The same workloads (R rooms × M members, C closed-loop
//! senders each waiting for its ack, N messages in all; every other member
//! receives every message) against the in-memory websocket broadcast
//! baseline, Confer on SQLite, Confer on PostgreSQL with one node and with
//! several nodes sharing the database (clients spread across them), and
//! Synapse on SQLite and on PostgreSQL.

mod postgres;
mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;

use crate::dataset::{self, Group};
use crate::load::{self, Outcome, Plan, PlanChannel, Target};
use crate::procs::{self, Kind, LogSummary};
use crate::synapse::{self, Synapse};
use crate::{Res, fail};

/// One of the workloads.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub key: &'static str,
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    pub messages: u64,
}

pub const WORKLOADS: [Workload; 3] = [
    Workload {
        key: "a",
        rooms: 1,
        members: 2,
        senders: 1,
        messages: 500,
    },
    Workload {
        key: "b",
        rooms: 10,
        members: 5,
        senders: 10,
        messages: 2000,
    },
    Workload {
        key: "c",
        rooms: 50,
        members: 10,
        senders: 50,
        messages: 5000,
    },
];

impl Workload {
    pub fn title(&self) -> String {
        format!(
            "R{} M{} C{} N{}",
            self.rooms, self.members, self.senders, self.messages
        )
    }
    fn senders_per_room(&self) -> usize {
        (self.senders / self.rooms).max(1)
    }
    fn quota(&self) -> u64 {
        self.messages / self.senders as u64
    }
}

/// What `--compare` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    Baseline,
    ConferSqlite,
    ConferPostgres,
    ConferPostgresNodes,
    SynapseSqlite,
    SynapsePostgres,
}

impl System {
    fn needs_postgres(self) -> bool {
        matches!(
            self,
            System::ConferPostgres | System::ConferPostgresNodes | System::SynapsePostgres
        )
    }
}

pub struct Options {
    pub systems: Vec<System>,
    pub workloads: Vec<String>,
    pub nodes: usize,
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub max_seconds: u64,
    pub synapse_max_seconds: u64,
    /// Runs of each baseline and Confer cell; the median one is reported.
    pub repeat: usize,
    pub drain_seconds: u64,
    pub body_bytes: usize,
    pub json: Option<PathBuf>,
}

/// One cell of the comparison: a system on a workload.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub workload: String,
    pub system: String,
    pub is_baseline: bool,
    pub is_synapse: bool,
    pub outcome: Option<Outcome>,
    /// With `--repeat`: every run's messages per second, in run order
    /// (`outcome` is the median one's).
    pub runs: Vec<f64>,
    /// Lost, duplicated and out-of-order deliveries summed over every run.
    pub faults_all_runs: (u64, u64, u64),
    /// The machine's 1-minute load average when the run began.
    pub load_before: f64,
    pub log: Option<LogSummary>,
    pub error: Option<String>,
}

fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn plan(w: &Workload, group: &Group, opts: &Options, with_cookies: bool) -> Plan {
    let cookies = group
        .cookies
        .clone()
        .unwrap_or_else(|| vec![vec![String::new(); w.members]; w.rooms]);
    Plan {
        channels: group
            .channels
            .iter()
            .zip(cookies)
            .map(|(c, cookies)| PlanChannel {
                id: c.id.clone(),
                cookies: if with_cookies {
                    cookies
                } else {
                    vec![String::new(); c.people.len()]
                },
            })
            .collect(),
        senders_per_channel: w.senders_per_room(),
        rate: 0.0,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(opts.max_seconds),
        quota: Some(w.quota()),
        idle: false,
        idle_settle: Duration::from_secs(1),
        subscribe: true,
        body_bytes: opts.body_bytes,
        connect_concurrency: 64,
        setup_timeout: Duration::from_secs(120),
        drain_timeout: Duration::from_secs(opts.drain_seconds),
    }
}

fn row(w: &Workload, system: &str, load_before: f64) -> Row {
    Row {
        workload: w.key.to_string(),
        system: system.to_string(),
        is_baseline: false,
        is_synapse: false,
        outcome: None,
        runs: Vec::new(),
        faults_all_runs: (0, 0, 0),
        load_before,
        log: None,
        error: None,
    }
}

/// The baseline or Confer (one or several nodes) on one workload.
#[allow(clippy::too_many_arguments)]
async fn run_websocket(
    w: &Workload,
    kind: Kind,
    nodes: usize,
    dir: &Path,
    database_url: &str,
    group: &mut Group,
    opts: &Options,
    serial: &mut usize,
) -> Res<(Outcome, LogSummary)> {
    let mut children = Vec::new();
    for _ in 0..nodes {
        *serial += 1;
        children.push(procs::spawn(kind, dir, database_url, 900, *serial, None).await?);
    }
    let result = async {
        let cert = confer::tls::dev_cert_paths(dir).0;
        if kind.is_confer() {
            let http = dataset::http_client(&std::fs::read(&cert)?)?;
            for c in &children {
                dataset::wait_ready(&http, &format!("https://127.0.0.1:{}", c.port)).await?;
            }
            if group.cookies.is_none() {
                let base = format!("https://127.0.0.1:{}", children[0].port);
                dataset::sign_in(&http, &base, group, 16).await?;
            }
        }
        let tls = Some(load::tls_client_config(&cert)?);
        let targets: Vec<Target> = children
            .iter()
            .map(|c| Target {
                addr: SocketAddr::from(([127, 0, 0, 1], c.port)),
                tls: tls.clone(),
            })
            .collect();
        let pids: Vec<u32> = children.iter().map(|c| c.pid).collect();
        load::run(targets, &plan(w, group, opts, kind.is_confer()), &pids).await
    }
    .await;
    let mut log = LogSummary::default();
    for c in children {
        let path = c.log.clone();
        if let Err(e) = c.stop().await {
            eprintln!("  warning: {e}");
        }
        let s = procs::summarise_log(&path);
        log.warnings += s.warnings;
        log.errors += s.errors;
        log.panics += s.panics;
        log.first.extend(s.first);
    }
    Ok((result?, log))
}

/// Where one repetition of a baseline or Confer system runs.
struct Setup {
    kind: Kind,
    nodes: usize,
    database_url: String,
    /// A PostgreSQL database made for it, to drop at the end.
    made_db: Option<String>,
}

/// A fresh place for repetition `round` of `system`: the baseline needs
/// none; Confer on SQLite a new file, on PostgreSQL a new database.
async fn fresh_setup(
    system: System,
    round: usize,
    dir: &Path,
    admin_url: Option<&str>,
    opts: &Options,
) -> Res<Setup> {
    let confer = Kind::Confer { nodelay: false };
    Ok(match system {
        System::Baseline => Setup {
            kind: Kind::Baseline { tls: true },
            nodes: 1,
            database_url: String::new(),
            made_db: None,
        },
        System::ConferSqlite => Setup {
            kind: confer,
            nodes: 1,
            database_url: format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("confer-{}.sqlite3", round + 1)).display()
            ),
            made_db: None,
        },
        _ => {
            let admin = admin_url.ok_or_else(|| fail("no PostgreSQL"))?;
            let (url, db) = dataset::fresh_postgres(admin).await?;
            Setup {
                kind: confer,
                nodes: if system == System::ConferPostgresNodes {
                    opts.nodes
                } else {
                    1
                },
                database_url: url,
                made_db: Some(db),
            }
        }
    })
}

/// Fill `r` from its runs: the outcome and log of the run of median
/// throughput, every run's throughput, and faults summed over all runs.
fn median_of(r: &mut Row, mut done: Vec<(Outcome, LogSummary)>) {
    r.runs = done.iter().map(|(o, _)| o.msgs_per_sec).collect();
    r.faults_all_runs = done.iter().fold((0, 0, 0), |(m, d, x), (o, _)| {
        (m + o.missing, d + o.duplicates, x + o.out_of_order)
    });
    done.sort_by(|a, b| a.0.msgs_per_sec.total_cmp(&b.0.msgs_per_sec));
    // The lower of the two middle runs when there is an even number.
    let middle = done.len().saturating_sub(1) / 2;
    if let Some((o, log)) = done.into_iter().nth(middle) {
        r.outcome = Some(o);
        r.log = Some(log);
    }
}

fn label(system: System, nodes: usize, synapse_version: &str) -> String {
    match system {
        System::Baseline => "in-memory baseline (TLS)".into(),
        System::ConferSqlite => "Confer, SQLite".into(),
        System::ConferPostgres => "Confer, PostgreSQL, 1 node".into(),
        System::ConferPostgresNodes => format!("Confer, PostgreSQL, {nodes} nodes"),
        System::SynapseSqlite => format!("Synapse {synapse_version}, SQLite"),
        System::SynapsePostgres => format!("Synapse {synapse_version}, PostgreSQL"),
    }
}

pub async fn compare(opts: &Options) -> Res<()> {
    load::anchor();
    procs::raise_nofile_limit();
    let workloads: Vec<Workload> = WORKLOADS
        .iter()
        .filter(|w| opts.workloads.is_empty() || opts.workloads.iter().any(|k| k == w.key))
        .copied()
        .collect();
    if workloads.is_empty() {
        return Err(fail("no workload selected (a, b, c)"));
    }
    let synapse_version = if opts
        .systems
        .iter()
        .any(|s| matches!(s, System::SynapseSqlite | System::SynapsePostgres))
    {
        eprintln!("confer-bench: installing Synapse (bench/synapse/run.sh) if needed");
        synapse::version().await?
    } else {
        String::new()
    };
    let mut cluster = None;
    let pg_temp;
    let admin_url = match (
        &opts.database_url,
        opts.systems.iter().any(|s| s.needs_postgres()),
    ) {
        (Some(url), _) => Some(url.clone()),
        (None, true) => {
            pg_temp = tempfile::Builder::new()
                .prefix("confer-bench-pg-")
                .tempdir()?;
            eprintln!("confer-bench: starting a throwaway PostgreSQL cluster");
            let c = postgres::Cluster::start(pg_temp.path()).await?;
            let url = c.admin_url.clone();
            eprintln!("confer-bench: PostgreSQL on port {}", c.port);
            cluster = Some(c);
            Some(url)
        }
        (None, false) => None,
    };
    let shapes: Vec<(String, usize, usize)> = workloads
        .iter()
        .map(|w| (w.key.to_string(), w.rooms, w.members))
        .collect();
    let mut rows = Vec::new();
    let mut serial = 0;
    let mut made_dbs = Vec::new();
    for &system in &opts.systems {
        let name = label(system, opts.nodes, &synapse_version);
        eprintln!("\n{name}");
        let dir = opts.data_dir.join(format!("{system:?}").to_lowercase());
        std::fs::create_dir_all(&dir)?;
        match system {
            System::SynapseSqlite | System::SynapsePostgres => {
                let engine = if system == System::SynapsePostgres {
                    let admin = admin_url.as_deref().ok_or_else(|| fail("no PostgreSQL"))?;
                    let db = format!(
                        "synapse_bench_{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..8]
                    );
                    postgres::create_c_locale_db(admin, &db).await?;
                    made_dbs.push(db.clone());
                    let (host, port, user) = postgres::host_port_user(admin)
                        .ok_or_else(|| fail("cannot read the PostgreSQL URL"))?;
                    synapse::Engine::Postgres(host, port, db, user)
                } else {
                    synapse::Engine::Sqlite
                };
                for w in &workloads {
                    let mut r = row(w, &name, load_avg());
                    r.is_synapse = true;
                    eprintln!("  {} {} (load {:.2}) …", w.key, w.title(), r.load_before);
                    match run_synapse(w, &dir, &engine, opts).await {
                        Ok(o) => r.outcome = Some(o),
                        Err(e) => r.error = Some(e.to_string()),
                    }
                    eprintln!("  {}", report::one_line(&r));
                    rows.push(r);
                }
            }
            _ => {
                // Each repetition is a run of its own: a fresh database,
                // seeded and signed in again, then every workload.
                let mut done: Vec<Vec<(Outcome, LogSummary)>> = vec![Vec::new(); workloads.len()];
                let mut failed: Vec<Option<String>> = vec![None; workloads.len()];
                let mut loads: Vec<Option<f64>> = vec![None; workloads.len()];
                for round in 0..opts.repeat.max(1) {
                    let fresh =
                        fresh_setup(system, round, &dir, admin_url.as_deref(), opts).await?;
                    if let Some(db) = fresh.made_db.clone() {
                        made_dbs.push(db);
                    }
                    let (kind, nodes, database_url) = (fresh.kind, fresh.nodes, fresh.database_url);
                    let mut groups =
                        dataset::groups(kind.is_confer(), &dir, &database_url, &shapes).await?;
                    for (i, (w, group)) in workloads.iter().zip(groups.iter_mut()).enumerate() {
                        if failed[i].is_some() {
                            continue;
                        }
                        let load = load_avg();
                        loads[i].get_or_insert(load);
                        eprintln!("  {} {} (load {load:.2}) …", w.key, w.title());
                        let mut one = row(w, &name, load);
                        match run_websocket(
                            w,
                            kind,
                            nodes,
                            &dir,
                            &database_url,
                            group,
                            opts,
                            &mut serial,
                        )
                        .await
                        {
                            Ok((o, log)) => {
                                one.outcome = Some(o.clone());
                                done[i].push((o, log));
                            }
                            Err(e) => {
                                one.error = Some(e.to_string());
                                failed[i] = one.error.clone();
                            }
                        }
                        eprintln!("  {}", report::one_line(&one));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                for (i, w) in workloads.iter().enumerate() {
                    let mut r = row(w, &name, loads[i].unwrap_or_default());
                    r.is_baseline = system == System::Baseline;
                    match failed[i].take() {
                        Some(e) => r.error = Some(e),
                        None => median_of(&mut r, std::mem::take(&mut done[i])),
                    }
                    rows.push(r);
                }
            }
        }
    }
    let markdown = report::markdown(&rows, &workloads, &synapse_version, opts);
    println!("{markdown}");
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
        eprintln!("confer-bench: wrote {}", path.display());
    }
    if let Some(admin) = &admin_url {
        for db in &made_dbs {
            if let Err(e) = dataset::drop_postgres(admin, db).await {
                eprintln!("confer-bench: could not drop the database {db}: {e}");
            }
        }
    }
    if let Some(c) = cluster {
        c.stop().await;
    }
    Ok(())
}

async fn run_synapse(
    w: &Workload,
    dir: &Path,
    engine: &synapse::Engine,
    opts: &Options,
) -> Res<Outcome> {
    let syn = Synapse::start(dir, engine).await?;
    let shape = synapse::Shape {
        tag: format!(
            "{}{}",
            w.key,
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        ),
        rooms: w.rooms,
        members: w.members,
        senders_per_room: w.senders_per_room(),
        quota: w.quota(),
        body_bytes: opts.body_bytes,
        max_send: Duration::from_secs(opts.synapse_max_seconds),
        drain: Duration::from_secs(opts.drain_seconds),
    };
    let outcome = synapse::run(&syn, &shape).await;
    syn.stop().await;
    outcome
}
