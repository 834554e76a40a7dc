//! `confer-bench`: a websocket load benchmark for Confer, measured against
//! a minimal in-memory broadcast server on the same machine in the same run.
//! See `docs/performance.md` for the method and the latest results.

mod baseline;
mod compare;
mod dataset;
mod load;
mod procs;
mod report;
mod scenarios;
mod synapse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::dataset::Group;
use crate::load::{Plan, PlanChannel, Target};
use crate::procs::Kind;
use crate::report::Row;
pub use crate::scenarios::Scenario;
use crate::scenarios::scenarios;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Res<T> = Result<T, BoxError>;

pub fn fail(message: impl Into<String>) -> BoxError {
    message.into().into()
}

const LONG_ABOUT: &str = "\
Websocket load benchmark for Confer.

Starts Confer (development mode, fresh data directory, SQLite unless --database-url \
names PostgreSQL) and a minimal in-memory websocket broadcast server (the baseline) as \
child processes on 127.0.0.1, seeds cases, people and memberships through Confer's store \
API, signs everyone in through POST /dev/sign-in, and drives both servers with the same \
TLS websocket clients (subprotocol confer.v1). Each client subscribes to its case \
channel; senders send at --rate messages/s in all (open loop) or, with --rate 0, each \
waits for its ack before the next send (closed loop). It reports throughput, send→deliver \
and send→ack latency (HDR histograms), server memory and CPU, and checks that every \
member of every channel received every message exactly once and in order.

Examples:
  confer-bench --suite                          all four scenarios, Markdown table
  confer-bench --scenario b                     100 channels × 10 clients at 500 msg/s
  confer-bench --channels 10 --clients-per-channel 5 --rate 0 --duration 10
  confer-bench --idle 2000 --server confer      memory per idle connection";

#[derive(Parser, Debug)]
#[command(name = "confer-bench", version, about = "Websocket load benchmark for Confer, against an in-memory broadcast baseline", long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    internal: Option<Internal>,

    /// Run scenarios a, b, d and c (in that order) against Confer and the
    /// baseline and print a Markdown report on standard output.
    #[arg(long, conflicts_with = "scenario")]
    suite: bool,

    /// Issue 8's side-by-side benchmark: workloads a (R1 M2 C1 N500),
    /// b (R10 M5 C10 N2000) and c (R50 M10 C50 N5000), closed loop, against
    /// the in-memory baseline, Confer on SQLite, Confer on PostgreSQL with
    /// one node and with --nodes nodes, and Synapse on SQLite and
    /// PostgreSQL; a Markdown table on standard output. Starts its own
    /// PostgreSQL cluster unless --database-url is given.
    #[arg(long, conflicts_with_all = ["suite", "scenario"])]
    compare: bool,

    /// With --compare: which systems (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    systems: Vec<compare::System>,

    /// With --compare: which workloads (a, b, c; default: all).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,

    /// With --compare: Confer nodes sharing the PostgreSQL database in the
    /// multi-node run.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=4))]
    nodes: u32,

    /// With --compare: the longest a run may send, seconds (Synapse has its own).
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,

    /// With --compare: run the baseline and Confer this many times on each
    /// workload and report the run of median throughput, with every run's
    /// msgs/s beside it and loss summed over all of them (a closed loop on
    /// a shared VM varies by 15% or more from run to run). Synapse runs once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    repeat: u32,

    /// With --compare: the longest a Synapse run may send, seconds (at
    /// Synapse's speed, N5000 would take minutes).
    #[arg(long, default_value_t = 60)]
    synapse_max_seconds: u64,

    /// One preset scenario: a = 1 channel × 2 clients, closed loop;
    /// b = 100 × 10 at 500 msg/s; c = 1,000 × 10, closed loop;
    /// d = 10,000 idle connections (1,000 × 10).
    #[arg(long, value_enum)]
    scenario: Option<Preset>,

    /// Case channels (custom run).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=5000))]
    channels: u32,

    /// Clients per channel, each a different person, alternating between the
    /// two agencies (custom run).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    clients_per_channel: u32,

    /// Senders per channel (custom run).
    #[arg(long, default_value_t = 1)]
    senders_per_channel: u32,

    /// Messages per second across all senders (open loop); 0 = as fast as it
    /// goes (closed loop: each sender waits for its ack).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,

    /// Measured sending time, seconds (after the warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    duration: u64,

    /// Sending before the measurement starts, seconds (messages are still
    /// checked for loss and order, not timed).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=10))]
    warmup: u64,

    /// Instead of sending: open this many connections (subscribed, then idle)
    /// and measure the server's resident memory per connection.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=15000))]
    idle: Option<u32>,

    /// Which servers to drive.
    #[arg(long, value_enum, default_value_t = Servers::Both)]
    server: Servers,

    /// Baseline transport: TLS (like Confer, the fair comparison), plain TCP,
    /// or both.
    #[arg(long, value_enum, default_value_t = BaselineTls::On)]
    baseline_tls: BaselineTls,

    /// PostgreSQL admin URL with a database path (e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres): the bench creates a
    /// fresh database beside it and drops it afterwards. Default: SQLite in
    /// the data directory.
    #[arg(long)]
    database_url: Option<String>,

    /// Message body size in bytes (the body carries the send instant).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(32..=16384))]
    body_bytes: u64,

    /// Websocket handshakes (and sign-ins) in flight at once during set-up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,

    /// How long to wait after sending for the last acks and deliveries, seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    drain_timeout: u64,

    /// Experiment: clients stop after `hello` and do not subscribe (to tell
    /// the cost of a connection from the cost of a subscription).
    #[arg(long)]
    no_subscribe: bool,

    /// Experiment: also run Confer with TCP_NODELAY set on its listening
    /// socket (inherited by accepted sockets on Linux), which `confer serve`
    /// does not do, to show what Nagle's algorithm costs.
    #[arg(long)]
    confer_nodelay: bool,

    /// Experiment: run Confer with this `database.max_connections` instead
    /// of its default (10).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    confer_db_connections: Option<u32>,

    /// Use this data directory (kept) instead of a temporary one (removed).
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Also write every measurement as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Internal {
    /// (internal) Run Confer for the bench in this process.
    #[command(hide = true)]
    ServeOnly {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        nodelay: bool,
        #[arg(long)]
        max_connections: Option<u32>,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 900)]
        max_seconds: u64,
    },
    /// (internal) Run the in-memory broadcast baseline in this process.
    #[command(hide = true)]
    BaselineServe {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_enum)]
        tls: OnOff,
        #[arg(long, default_value_t = 900)]
        max_seconds: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Preset {
    A,
    B,
    C,
    D,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Servers {
    Confer,
    Baseline,
    Both,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum BaselineTls {
    On,
    Off,
    Both,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum OnOff {
    On,
    Off,
}

/// The `confer` binary's allocator, for the server this binary hosts.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.internal {
        Some(Internal::ServeOnly {
            data_dir,
            nodelay,
            max_connections,
            database_url,
            max_seconds,
        }) => procs::serve_only(
            data_dir,
            database_url,
            max_seconds,
            nodelay,
            max_connections,
        ),
        Some(Internal::BaselineServe {
            data_dir,
            tls,
            max_seconds,
        }) => procs::baseline_serve(data_dir, tls == OnOff::On, max_seconds),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(BoxError::from)
            .and_then(|rt| {
                if cli.compare {
                    rt.block_on(run_compare(&cli))
                } else {
                    rt.block_on(bench(&cli))
                }
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_compare(cli: &Cli) -> Res<()> {
    let temp;
    let data_dir = match &cli.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.canonicalize()?
        }
        None => {
            temp = tempfile::Builder::new().prefix("confer-bench-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let systems = if cli.systems.is_empty() {
        compare::System::value_variants().to_vec()
    } else {
        cli.systems.clone()
    };
    compare::compare(&compare::Options {
        systems,
        workloads: cli.workloads.clone(),
        nodes: cli.nodes as usize,
        database_url: cli.database_url.clone(),
        data_dir,
        max_seconds: cli.max_seconds,
        synapse_max_seconds: cli.synapse_max_seconds,
        repeat: cli.repeat as usize,
        drain_seconds: cli.drain_timeout,
        body_bytes: cli.body_bytes as usize,
        json: cli.json.clone(),
    })
    .await
}

async fn bench(cli: &Cli) -> Res<()> {
    load::anchor();
    let nofile = procs::raise_nofile_limit();
    let scenarios = scenarios(cli);
    let mut kinds = Vec::new();
    if cli.server != Servers::Baseline {
        kinds.push(Kind::Confer { nodelay: false });
        if cli.confer_nodelay {
            kinds.push(Kind::Confer { nodelay: true });
        }
    }
    if cli.server != Servers::Confer {
        if cli.baseline_tls != BaselineTls::Off {
            kinds.push(Kind::Baseline { tls: true });
        }
        if cli.baseline_tls != BaselineTls::On {
            kinds.push(Kind::Baseline { tls: false });
        }
    }
    let biggest = scenarios
        .iter()
        .map(|s| s.channels * s.per_channel)
        .max()
        .unwrap_or(0);
    eprintln!(
        "confer-bench: open-file limit {nofile}; largest scenario opens {biggest} client connections"
    );
    if (biggest as u64) + 64 > nofile {
        eprintln!(
            "confer-bench: warning: {biggest} connections need more file descriptors than the limit {nofile}"
        );
    }

    let temp;
    let data_dir = match &cli.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.canonicalize()?
        }
        None => {
            temp = tempfile::Builder::new().prefix("confer-bench-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let (database_url, pg_name) = match &cli.database_url {
        Some(admin) if kinds.iter().any(|k| k.is_confer()) => {
            let (url, name) = dataset::fresh_postgres(admin).await?;
            (url, Some(name))
        }
        _ => (
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("confer.sqlite3").display()
            ),
            None,
        ),
    };
    let engine = if pg_name.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    // The data set: one group of channels per distinct shape.
    let mut shapes: Vec<(String, usize, usize)> = Vec::new();
    for s in &scenarios {
        if !shapes.iter().any(|(g, _, _)| *g == s.group) {
            shapes.push((s.group.clone(), s.channels, s.per_channel));
        }
    }
    let confer = kinds.iter().any(|k| k.is_confer());
    if confer {
        eprintln!("confer-bench: seeding {engine} through the store API");
    }
    let mut groups = dataset::groups(confer, &data_dir, &database_url, &shapes).await?;

    let mut rows: Vec<Row> = Vec::new();
    let mut serial = 0;
    for scenario in &scenarios {
        eprintln!("\nScenario {}: {}", scenario.key, scenario.title);
        for &kind in &kinds {
            serial += 1;
            eprintln!("  {} …", kind.label());
            let row = match run_one(
                cli,
                scenario,
                kind,
                &data_dir,
                &database_url,
                &mut groups,
                serial,
            )
            .await
            {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("  {}: FAILED: {e}", kind.label());
                    Row::failed(scenario, kind, e.to_string())
                }
            };
            eprintln!("  {}", report::one_line(&row));
            rows.push(row);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    let machine = report::Machine::read(engine);
    let markdown = report::markdown(&machine, &rows, cli);
    println!("{markdown}");
    if let Some(path) = &cli.json {
        let json = serde_json::json!({ "machine": machine, "rows": rows });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("confer-bench: wrote {}", path.display());
    }
    if let (Some(admin), Some(name)) = (&cli.database_url, &pg_name)
        && let Err(e) = dataset::drop_postgres(admin, name).await
    {
        eprintln!("confer-bench: could not drop the database {name}: {e}");
    }
    if cli.data_dir.is_some() {
        eprintln!(
            "confer-bench: data and server logs kept in {}",
            data_dir.display()
        );
    }
    Ok(())
}

async fn run_one(
    cli: &Cli,
    scenario: &Scenario,
    kind: Kind,
    data_dir: &std::path::Path,
    database_url: &str,
    groups: &mut [Group],
    serial: usize,
) -> Res<Row> {
    let child = procs::spawn(
        kind,
        data_dir,
        database_url,
        900,
        serial,
        cli.confer_db_connections,
    )
    .await?;
    let result = drive(cli, scenario, kind, data_dir, groups, &child).await;
    let log = child.log.clone();
    let stopped = child.stop().await;
    let summary = procs::summarise_log(&log);
    let outcome = result?;
    if let Err(e) = stopped {
        eprintln!("  warning: {e}");
    }
    Ok(Row::new(scenario, kind, outcome, summary))
}

async fn drive(
    cli: &Cli,
    scenario: &Scenario,
    kind: Kind,
    data_dir: &std::path::Path,
    groups: &mut [Group],
    child: &procs::ServerChild,
) -> Res<load::Outcome> {
    let cert_path = confer::tls::dev_cert_paths(data_dir).0;
    let base = format!("https://127.0.0.1:{}", child.port);
    let group = groups
        .iter_mut()
        .find(|g| g.name == scenario.group)
        .ok_or_else(|| fail("no data for this scenario"))?;
    if kind.is_confer() {
        let pem = std::fs::read(&cert_path)?;
        let http = dataset::http_client(&pem)?;
        dataset::wait_ready(&http, &base).await?;
        if group.cookies.is_none() {
            dataset::sign_in(&http, &base, group, cli.connect_concurrency.min(16)).await?;
        }
    }
    let cookies = group
        .cookies
        .clone()
        .unwrap_or_else(|| vec![vec![String::new(); scenario.per_channel]; scenario.channels]);
    let plan = Plan {
        channels: group
            .channels
            .iter()
            .zip(cookies)
            .map(|(c, cookies)| PlanChannel {
                id: c.id.clone(),
                cookies: if kind.is_confer() {
                    cookies
                } else {
                    // The baseline ignores cookies; send none.
                    vec![String::new(); c.people.len()]
                },
            })
            .collect(),
        senders_per_channel: scenario.senders_per_channel,
        rate: scenario.rate,
        warmup: Duration::from_secs(scenario.warmup),
        duration: Duration::from_secs(scenario.duration),
        quota: None,
        idle: scenario.idle,
        idle_settle: Duration::from_secs(3),
        subscribe: !cli.no_subscribe,
        body_bytes: cli.body_bytes as usize,
        connect_concurrency: cli.connect_concurrency,
        setup_timeout: Duration::from_secs(120),
        drain_timeout: Duration::from_secs(cli.drain_timeout),
    };
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], child.port)),
        tls: if kind.tls() {
            Some(load::tls_client_config(&cert_path)?)
        } else {
            None
        },
    };
    load::run(vec![target], &plan, &[child.pid]).await
}
