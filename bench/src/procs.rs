//! The servers under test run as child processes of the bench (this same
//! binary, started with a hidden sub-command), so that their resident
//! memory, CPU time and file descriptors are theirs alone: the load
//! generator's 10,000 client sockets and buffers are not counted against
//! the server, and each scenario starts from a fresh process.

use std::future::Future;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
use tokio::process::{Child, ChildStdin, Command};

use crate::{Res, fail};

/// Which server a child process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Confer; `nodelay` = the experiment of setting TCP_NODELAY on its
    /// listening socket (Linux copies it to accepted sockets).
    Confer { nodelay: bool },
    /// The in-memory broadcast baseline, over TLS or plain TCP.
    Baseline { tls: bool },
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Confer { nodelay: false } => "Confer",
            Kind::Confer { nodelay: true } => "Confer (TCP_NODELAY)",
            Kind::Baseline { tls: true } => "baseline (TLS)",
            Kind::Baseline { tls: false } => "baseline (plain)",
        }
    }
    pub fn is_confer(self) -> bool {
        matches!(self, Kind::Confer { .. })
    }
    pub fn tls(self) -> bool {
        match self {
            Kind::Confer { .. } => true,
            Kind::Baseline { tls } => tls,
        }
    }
}

/// A point-in-time reading of a process from `/proc/<pid>`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ProcSample {
    /// Resident set size (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (VmHWM), KiB.
    pub hwm_kib: u64,
    /// User + system CPU time, seconds.
    pub cpu_secs: f64,
    /// Open file descriptors.
    pub fds: u64,
}

/// Read `/proc/<pid>/status`, `/proc/<pid>/stat` and count `/proc/<pid>/fd`.
pub fn sample(pid: u32) -> ProcSample {
    sample_path(&PathBuf::from(format!("/proc/{pid}")))
}

/// Several processes (the nodes of one cluster), summed; peak memory is
/// the sum of each process's own peak.
pub fn sample_all(pids: &[u32]) -> ProcSample {
    let mut sum = ProcSample::default();
    for &pid in pids {
        let s = sample(pid);
        sum.rss_kib += s.rss_kib;
        sum.hwm_kib += s.hwm_kib;
        sum.cpu_secs += s.cpu_secs;
        sum.fds += s.fds;
    }
    sum
}

/// Samples the resident memory of some processes (summed) every 100 ms
/// until finished, and keeps the largest.
pub struct PeakRss {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl PeakRss {
    pub fn start(pids: Vec<u32>) -> PeakRss {
        use std::sync::atomic::Ordering::Relaxed;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(Relaxed) {
                peak = peak.max(sample_all(&pids).rss_kib);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak.max(sample_all(&pids).rss_kib)
        });
        PeakRss { stop, task }
    }

    /// KiB.
    pub async fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

/// The same for this process.
pub fn sample_self() -> ProcSample {
    sample_path(Path::new("/proc/self"))
}

fn sample_path(dir: &Path) -> ProcSample {
    let mut s = ProcSample::default();
    if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
        for line in status.lines() {
            let kib = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if line.starts_with("VmRSS:") {
                s.rss_kib = kib(line);
            } else if line.starts_with("VmHWM:") {
                s.hwm_kib = kib(line);
            }
        }
    }
    if let Ok(stat) = std::fs::read_to_string(dir.join("stat")) {
        // Fields after the command name (which may hold spaces): state is
        // field 3, utime 14 and stime 15.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            s.cpu_secs = (ticks(11) + ticks(12)) as f64 / clock_ticks();
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("fd")) {
        s.fds = entries.count() as u64;
    }
    s
}

/// CPU seconds the whole machine has been busy (all cores, from `/proc/stat`).
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    busy as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Raise the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return want.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// A server running in a child process.
pub struct ServerChild {
    pub kind: Kind,
    pub pid: u32,
    pub port: u16,
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Start a server child: `confer-bench serve-only` or `confer-bench baseline-serve`.
/// It prints `{"port":N}` once it is bound; it stops when its standard input
/// closes (so it never outlives the bench), on SIGINT, or after `max_seconds`.
pub async fn spawn(
    kind: Kind,
    data_dir: &Path,
    database_url: &str,
    max_seconds: u64,
    serial: usize,
    db_connections: Option<u32>,
) -> Res<ServerChild> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    match kind {
        Kind::Confer { nodelay } => {
            cmd.arg("serve-only")
                .arg("--data-dir")
                .arg(data_dir)
                .arg("--database-url")
                .arg(database_url);
            if nodelay {
                cmd.arg("--nodelay");
            }
            if let Some(n) = db_connections {
                cmd.arg("--max-connections").arg(n.to_string());
            }
        }
        Kind::Baseline { tls } => {
            cmd.arg("baseline-serve")
                .arg("--data-dir")
                .arg(data_dir)
                .arg("--tls")
                .arg(if tls { "on" } else { "off" });
        }
    }
    cmd.arg("--max-seconds").arg(max_seconds.to_string());
    let log = data_dir.join(format!(
        "server-{serial:02}-{}.log",
        match kind {
            Kind::Confer { .. } => "confer",
            Kind::Baseline { .. } => "baseline",
        }
    ));
    let log_file = std::fs::File::create(&log)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| fail("the server child exited at once"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| fail("no stdout from the server child"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .map_err(|_| fail("the server child did not start within 60 s"))??
        .ok_or_else(|| {
            fail(format!(
                "the server child exited during start-up; see {}",
                log.display()
            ))
        })?;
    #[derive(serde::Deserialize)]
    struct Announce {
        port: u16,
    }
    let port = serde_json::from_str::<Announce>(&line)
        .map_err(|e| fail(format!("unexpected start-up line {line:?}: {e}")))?
        .port;
    // Keep draining stdout so the child never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let stdin = child.stdin.take();
    Ok(ServerChild {
        kind,
        pid,
        port,
        log,
        child,
        stdin,
    })
}

impl ServerChild {
    /// Ask the child to stop (close its stdin) and wait; kill it after 20 s.
    pub async fn stop(mut self) -> Res<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    return Err(fail(format!(
                        "the {} server exited with {status}; see {}",
                        self.kind.label(),
                        self.log.display()
                    )));
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                Err(fail(format!(
                    "the {} server did not stop within 20 s and was killed",
                    self.kind.label()
                )))
            }
        }
    }
}

/// Warnings and errors the server logged, and the first few such lines.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LogSummary {
    pub warnings: u64,
    pub errors: u64,
    pub panics: u64,
    pub first: Vec<String>,
}

pub fn summarise_log(path: &Path) -> LogSummary {
    let mut s = LogSummary::default();
    let Ok(file) = std::fs::File::open(path) else {
        return s;
    };
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        let hit = if line.contains("panicked") {
            s.panics += 1;
            true
        } else if line.contains(" ERROR ") || line.contains("\"level\":\"ERROR\"") {
            s.errors += 1;
            true
        } else if line.contains(" WARN ") || line.contains("\"level\":\"WARN\"") {
            s.warnings += 1;
            true
        } else {
            false
        };
        if hit && s.first.len() < 5 {
            s.first.push(strip_ansi(&line));
        }
    }
    s
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The child side.

/// Print the bound port for the parent.
fn announce(port: u16) -> Res<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"port\":{port}}}")?;
    out.flush()?;
    Ok(())
}

/// Resolves when the parent closes our stdin (or is gone), on SIGINT, or
/// after `max_seconds`, whichever is first.
async fn parent_gone(max_seconds: u64) {
    let eof = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = eof => {}
        _ = tokio::signal::ctrl_c() => {}
        () = tokio::time::sleep(Duration::from_secs(max_seconds)) => {
            eprintln!("confer-bench: server child reached --max-seconds; stopping");
        }
    }
}

/// The settings Confer runs with in the bench.
pub fn confer_settings(data_dir: &Path, database_url: &str) -> confer::config::Settings {
    use confer::config::{DatabaseUrl, Mode, Settings};
    let mut settings = Settings::default();
    settings.server.data_dir = data_dir.to_path_buf();
    settings.server.mode = Mode::Development;
    settings.server.seed_demo_data = false;
    settings.server.log_level = "warn".into();
    settings.database.url = Some(DatabaseUrl::new(database_url.to_string()));
    // Nodes sharing a database must share its key file: keep it beside their data folders.
    settings.encryption.key_file = Some(
        data_dir
            .parent()
            .unwrap_or(data_dir)
            .join("confer-keys.toml"),
    );
    // A suite signs everyone in once and runs for several minutes.
    settings.auth.session_idle_minutes = 24 * 60;
    // The bench measures throughput: its senders are meant to exceed a person's rate.
    settings.limits.messages_per_minute = 0;
    settings.limits.websocket_connections_per_person = 0;
    settings
}

fn run_child<F>(body: F) -> Res<()>
where
    F: Future<Output = Res<()>>,
{
    raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(body);
    // The stdin reader may still sit in a blocking read.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// `confer-bench serve-only`: Confer itself, as `confer serve` runs it
/// (a plain `std::net::TcpListener` on loopback, the system clock).
pub fn serve_only(
    data_dir: PathBuf,
    database_url: String,
    max_seconds: u64,
    nodelay: bool,
    max_connections: Option<u32>,
) -> Res<()> {
    run_child(async move {
        let mut settings = confer_settings(&data_dir, &database_url);
        if let Some(n) = max_connections {
            settings.database.max_connections = n;
        }
        confer::telemetry::init(&settings);
        // Creates the development certificate now, so the parent can trust it.
        confer::tls::server_config(&settings).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        if nodelay {
            set_nodelay(&listener)?;
        }
        announce(listener.local_addr()?.port())?;
        let started = Instant::now();
        confer::app::serve(settings, listener, parent_gone(max_seconds)).await?;
        eprintln!(
            "confer-bench: Confer stopped after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// Set TCP_NODELAY on a listening socket; Linux gives it to every accepted socket.
fn set_nodelay(listener: &std::net::TcpListener) -> Res<()> {
    use std::os::fd::AsRawFd as _;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// `confer-bench baseline-serve`: the in-memory broadcast baseline, with the
/// same TLS configuration as Confer (its development certificate, rustls
/// with ring) or plain TCP.
pub fn baseline_serve(data_dir: PathBuf, tls: bool, max_seconds: u64) -> Res<()> {
    run_child(async move {
        let tls_config = if tls {
            let settings = confer_settings(&data_dir, "sqlite::memory:");
            let config = confer::tls::server_config(&settings)
                .await?
                .ok_or_else(|| fail("TLS is off in the settings"))?;
            Some(config.get_inner())
        } else {
            None
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        announce(listener.local_addr()?.port())?;
        tokio::select! {
            r = crate::baseline::serve(listener, tls_config) => r?,
            () = parent_gone(max_seconds) => {}
        }
        Ok(())
    })
}
