//! PostgreSQL restarted under load (issue 9 part 1): the real `confer`
//! binary on its own throwaway PostgreSQL cluster, with websocket senders
//! and JSON API writers going, while the database is stopped twice (`pg_ctl
//! stop -m fast`, then `-m immediate`, a crash) and started again after a
//! few seconds. While it is down: `/readyz` says 503, `/healthz` stays 200,
//! every write is refused promptly (503 `unavailable` with `Retry-After`
//! over HTTP, an `unavailable` error frame on the socket), nothing hangs
//! and the socket stays open. Once it is back: `/readyz` is 200 again and
//! writes are acknowledged again, with no restart of Confer. At the end every
//! acknowledged message is stored exactly once with the seq its ack carried,
//! the channel's seqs have no gap, and `confer audit verify` passes.
//!
//! Needs the binary (`CONFER_BIN`, as for `crash.rs`) and PostgreSQL's
//! server programs (the newest `/usr/lib/postgresql/*/bin`, or
//! `CONFER_PG_BIN`); without either the test prints that it is skipped. It
//! starts its own cluster whatever `CONFER_TEST_DATABASE_URL` says, since it
//! stops it. As root, the cluster runs as the `postgres` user.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{SAM, TOM, TestApp};

use postgres::{Pg, pg_bin};
use writers::{Watched, Writer, http_writer, ws_reader, ws_writer};

/// The slowest acceptable answer to a write while the database is down.
const REFUSAL_BOUND: Duration = Duration::from_secs(5);
/// How long the database stays down each time.
const OUTAGE: Duration = Duration::from_secs(4);

mod postgres;
mod writers;

async fn status(client: &reqwest::Client, url: &str) -> Option<u16> {
    client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Poll `path` until it answers `want`; the time it took, or `None` past `within`.
async fn until_status(app: &TestApp, path: &str, want: u16, within: Duration) -> Option<Duration> {
    let client = app.client();
    let began = Instant::now();
    while began.elapsed() < within {
        if status(&client, &app.url(path)).await == Some(want) {
            return Some(began.elapsed());
        }
        assert_eq!(
            status(&client, &app.url("/healthz")).await,
            Some(200),
            "/healthz (liveness) must stay 200"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Figures from one outage.
struct Outage {
    mode: &'static str,
    down_for: Duration,
    to_not_ready: Duration,
    to_ready: Duration,
    to_write: Duration,
    refused: usize,
}

async fn outage(pg: &Pg, app: &TestApp, mode: &'static str, writers: &[Arc<Writer>]) -> Outage {
    let began = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for w in writers {
        assert!(
            w.acks_since(began) > 0,
            "{}: no ack before stopping PostgreSQL ({mode})",
            w.name
        );
    }
    pg.stop(mode);
    let down = Instant::now();
    let to_not_ready = until_status(app, "/readyz", 503, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("/readyz still not 503 10 s after `pg_ctl stop -m {mode}`"));
    while down.elapsed() < OUTAGE {
        let client = app.client();
        assert_eq!(
            status(&client, &app.url("/healthz")).await,
            Some(200),
            "/healthz while down"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pg.start();
    let up = Instant::now();
    let down_for = up - down;
    let to_ready = until_status(app, "/readyz", 200, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| {
            panic!("/readyz not 200 again 20 s after PostgreSQL restarted ({mode})")
        });
    let deadline = up + Duration::from_secs(20);
    while writers.iter().any(|w| w.acks_since(up) == 0) {
        assert!(
            Instant::now() < deadline,
            "writes not acknowledged 20 s after PostgreSQL restarted ({mode})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_write = up.elapsed();
    for w in writers {
        let problems = w.tally.lock().expect("tally").problems.clone();
        assert!(
            w.refusals_between(down, up + REFUSAL_BOUND) > 0,
            "{}: no write was refused while PostgreSQL was down ({mode}); instead: {problems:#?}",
            w.name
        );
    }
    let refused = writers
        .iter()
        .map(|w| w.refusals_between(down, up + REFUSAL_BOUND))
        .sum();
    Outage {
        mode,
        down_for,
        to_not_ready,
        to_ready,
        to_write,
        refused,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_refuses_writes_promptly_and_recovers() {
    let Some(bin) = std::env::var_os("CONFER_BIN").map(PathBuf::from) else {
        eprintln!(
            "PostgreSQL restart test skipped: set CONFER_BIN to a built `confer` binary (.ci/run does)"
        );
        return;
    };
    let Some(pg_bin) = pg_bin() else {
        eprintln!(
            "PostgreSQL restart test skipped: no PostgreSQL server programs in /usr/lib/postgresql/*/bin (or CONFER_PG_BIN)"
        );
        return;
    };
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = Pg::start_new(pg_bin, dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let app = Arc::new(
        TestApp::builder()
            .reuse(&data, &pg.url())
            .bulk_senders()
            .process(&bin, &[])
            .start()
            .await,
    );
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let seeded: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE channel_id = $1")
        .bind(&channel)
        .fetch_one(app.db().await.pool())
        .await
        .expect("count");

    // Someone reading along from the seeded messages on.
    let watched = Arc::new(Mutex::new(Watched::default()));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(ws_reader(
        app.clone(),
        app.sign_in(TOM).await,
        channel.clone(),
        seeded.0,
        watched.clone(),
        stop_reading.clone(),
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut tasks = Vec::new();
    for (kind, email, name) in [
        ("ws", SAM, "ws-sam-1"),
        ("ws", SAM, "ws-sam-2"),
        ("ws", TOM, "ws-tom"),
        ("http", SAM, "http-sam"),
        ("http", TOM, "http-tom-1"),
        ("http", TOM, "http-tom-2"),
    ] {
        let who = app.sign_in(email).await;
        let me = Arc::new(Writer {
            name: name.to_string(),
            author: who.person_id.clone(),
            tally: Mutex::default(),
        });
        writers.push(me.clone());
        let (app, channel, stop) = (app.clone(), channel.clone(), stop.clone());
        tasks.push(match kind {
            "ws" => tokio::spawn(ws_writer(app, who, channel, me, stop)),
            _ => tokio::spawn(http_writer(app, who, channel, me, stop)),
        });
    }

    let mut outages = Vec::new();
    for mode in ["fast", "immediate"] {
        outages.push(outage(&pg, &app, mode, &writers).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("writers stop")
            .expect("writer task");
    }

    // Every write was answered clearly and promptly.
    let mut max_refusal = Duration::ZERO;
    for w in &writers {
        let t = w.tally.lock().expect("tally");
        if !t.problems.is_empty() {
            let log = std::fs::read_to_string(data.join("confer.log")).unwrap_or_default();
            let noted: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            panic!(
                "{}: {:#?}\nconfer.log's warnings:\n{}",
                w.name,
                t.problems,
                noted.join("\n")
            );
        }
        for (_, took) in &t.refusals {
            max_refusal = max_refusal.max(*took);
        }
    }
    assert!(
        max_refusal < REFUSAL_BOUND,
        "a refused write took {max_refusal:?}"
    );

    // The reader saw every message once, in order, live, on one socket.
    let last_stored: (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE channel_id = $1")
            .bind(&channel)
            .fetch_one(app.db().await.pool())
            .await
            .expect("last seq");
    let caught_up = Instant::now();
    while watched
        .lock()
        .expect("watched")
        .seqs
        .last()
        .copied()
        .unwrap_or(0)
        < last_stored.0
        && caught_up.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_reading.store(true, Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("reader stops")
        .expect("reader task");
    let watched = std::mem::take(&mut *watched.lock().expect("watched"));
    assert!(
        watched.problems.is_empty(),
        "the reader: {:#?}",
        watched.problems
    );
    assert_eq!(
        watched.seqs,
        (seeded.0 + 1..=last_stored.0).collect::<Vec<_>>(),
        "the reader did not see every message once, in order"
    );

    // Stored exactly once, with the acknowledged seq; no gaps.
    let db = app.db().await;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT seq, author_id, COALESCE(client_id, '') FROM messages WHERE channel_id = $1 ORDER BY seq",
    )
    .bind(&channel)
    .fetch_all(db.pool())
    .await
    .expect("read messages");
    db.close().await;
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(
        seqs,
        (1..=rows.len() as i64).collect::<Vec<_>>(),
        "a gap in the sequence"
    );
    let mut stored: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
    for (seq, author, client_id) in &rows {
        stored.entry((author, client_id)).or_default().push(*seq);
    }
    let mut checked = 0;
    for w in &writers {
        let t = w.tally.lock().expect("tally");
        for (client_id, seq) in &t.acked {
            let found = stored.get(&(w.author.as_str(), client_id.as_str()));
            assert_eq!(
                found,
                Some(&vec![*seq]),
                "acknowledged {client_id} (seq {seq}) stored as {found:?}"
            );
            checked += 1;
        }
    }
    let duplicated = stored.values().filter(|v| v.len() > 1).count();
    assert_eq!(duplicated, 0, "a client_id stored twice");

    // No panic, still serving, and the audit chain holds.
    assert_eq!(status(&app.client(), &app.url("/readyz")).await, Some(200));
    let log = std::fs::read_to_string(data.join("confer.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "confer panicked:\n{log}");
    let out = std::process::Command::new(&bin)
        .args(["audit", "verify"])
        .env("CONFER_DATABASE__URL", pg.url())
        .env("CONFER_SERVER__DATA_DIR", &data)
        .output()
        .expect("audit verify");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Audit log verified"),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let figures: Vec<String> = outages
        .iter()
        .map(|o| {
            format!(
                "-m {}: down {:.1} s, /readyz 503 after {:.1} s, 200 {:.1} s after restart, writes acknowledged {:.1} s after restart, {} writes refused",
                o.mode,
                o.down_for.as_secs_f64(),
                o.to_not_ready.as_secs_f64(),
                o.to_ready.as_secs_f64(),
                o.to_write.as_secs_f64(),
                o.refused
            )
        })
        .collect();
    eprintln!(
        "postgres restart: 2 outages in {:.0} s with {} writers (3 websocket, 3 HTTP); {}; slowest refusal {:.2} s; \
         {checked} acknowledged messages checked ({} stored, {} seeded), lost 0, duplicated 0; a reader saw all {} live, in order, on one socket; audit verify passed",
        began.elapsed().as_secs_f64(),
        writers.len(),
        figures.join("; "),
        max_refusal.as_secs_f64(),
        rows.len(),
        seeded.0,
        watched.seqs.len(),
    );
}
