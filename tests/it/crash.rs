//! Crash consistency: the real `confer` binary, on a fresh SQLite data
//! directory, killed with SIGKILL at random moments while two people send
//! over websockets, and restarted each time. After every restart: each
//! message whose ack a client received is stored exactly once with the seq
//! it was acknowledged with; the channel's sequence has no gaps; a client
//! resuming from the last seq it saw gets every later message once, in
//! order; and `confer audit verify` passes.
//!
//! Needs the binary: `CONFER_BIN=target/debug/confer` (`.ci/run` builds it
//! first). Without it the test says so and passes, so that plain
//! `cargo test` stays self-contained. `CONFER_CRASH_CYCLES` (default 30)
//! sets the number of kills.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{SAM, TOM, TestApp, postgres_admin_url};
use crate::ws_client::connector_for;

/// Where it listens, and the development certificate to trust.
#[derive(Clone)]
struct Endpoint {
    port: u16,
    pem: Vec<u8>,
}

impl Endpoint {
    fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
    fn client(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(&self.pem).expect("certificate");
        reqwest::Client::builder()
            .add_root_certificate(cert)
            .tls_built_in_root_certs(false)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }
}

/// `audit verify` with the server's settings.
fn command(bin: &Path, data: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("CONFER_SERVER__DATA_DIR", data)
        .env("CONFER_SERVER__LOG_LEVEL", "warn")
        .env("CONFER_LIMITS__MESSAGES_PER_MINUTE", "0")
        .kill_on_drop(true);
    c
}

/// Start `confer serve` on a fresh port and wait for `/readyz`: the data
/// folder's SQLite database with the binary's default pool, the demo data,
/// and (two bulk senders) the per-person send limit lifted, as the bench
/// does.
async fn start(bin: &Path, data: &Path) -> (TestApp, Endpoint) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        data.join("confer.sqlite3").display()
    );
    let pool = confer::config::Settings::default()
        .database
        .max_connections
        .to_string();
    let app = TestApp::builder()
        .reuse(data, &url)
        .bulk_senders()
        .process(bin, &[("CONFER_DATABASE__MAX_CONNECTIONS", &pool)])
        .start()
        .await;
    let at = Endpoint {
        port: app.port,
        pem: app.cert_pem().expect("the development certificate"),
    };
    (app, at)
}

/// One person's session on the running server: the cookie the websocket needs.
async fn sign_in(server: &Endpoint, person_id: &str) -> String {
    let res = server
        .client()
        .post(format!("{}/dev/sign-in", server.base()))
        .form(&[("person_id", person_id)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(res.status(), 303, "development sign-in redirects");
    res.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_string()
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(server: &Endpoint, cookie: &str) -> Option<Stream> {
    let mut req = format!("wss://127.0.0.1:{}/ws", server.port)
        .into_client_request()
        .ok()?;
    let h = req.headers_mut();
    h.insert("cookie", cookie.parse().ok()?);
    h.insert("origin", server.base().parse().ok()?);
    h.insert("sec-websocket-protocol", "confer.v1".parse().ok()?);
    let connector = connector_for(&server.pem);
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector))
            .await
            .ok()?;
    Some(ws)
}

/// The next JSON frame; `None` once the connection is gone.
async fn next(ws: &mut Stream) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??
            .ok()?;
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// What one sender knows, across crashes.
#[derive(Default)]
struct Sender {
    /// client_id → the seq its ack carried.
    acked: HashMap<String, i64>,
    /// A send in flight when the connection died: no ack, so unknown.
    pending: Option<String>,
    /// The highest seq this client has seen (ack or message frame).
    last_seen: i64,
    /// Sends numbered across the whole run.
    n: u64,
}

/// Subscribe after `after` and collect the replay up to `subscribed`.
async fn subscribe(
    ws: &mut Stream,
    channel: &str,
    after: i64,
) -> Option<(Vec<(i64, String)>, i64)> {
    let frame = json!({"type": "subscribe", "id": "sub", "channel": channel, "after_seq": after});
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .ok()?;
    let mut replay = Vec::new();
    loop {
        let v = next(ws).await?;
        match v["type"].as_str() {
            Some("message") => replay.push((
                v["seq"].as_i64().expect("seq"),
                v["client_id"].as_str().unwrap_or_default().to_string(),
            )),
            Some("subscribed") => return Some((replay, v["last_seq"].as_i64().expect("last_seq"))),
            Some("error") => panic!("subscribe refused: {v}"),
            _ => {}
        }
    }
}

/// Send as fast as acks come back until the connection dies.
async fn send_until_dead(
    server: &Endpoint,
    cookie: &str,
    channel: &str,
    who: &str,
    me: Arc<Mutex<Sender>>,
) {
    let Some(mut ws) = open(server, cookie).await else {
        return;
    };
    let after = me.lock().expect("sender").last_seen;
    if subscribe(&mut ws, channel, after).await.is_none() {
        return;
    }
    loop {
        // A send that was in flight at the last crash goes again, same client_id.
        let client_id = {
            let mut s = me.lock().expect("sender");
            match s.pending.clone() {
                Some(c) => c,
                None => {
                    s.n += 1;
                    let c = format!("{who}-{}", s.n);
                    s.pending = Some(c.clone());
                    c
                }
            }
        };
        let frame = json!({"type": "send", "id": client_id, "channel": channel,
            "client_id": client_id, "body": format!("crash test {client_id}")});
        if ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let Some(v) = next(&mut ws).await else {
                return;
            };
            let seq = v["seq"].as_i64().unwrap_or(0);
            match v["type"].as_str() {
                Some("message") => {
                    let mut s = me.lock().expect("sender");
                    s.last_seen = s.last_seen.max(seq);
                }
                Some("ack") if v["id"] == client_id.as_str() => {
                    let mut s = me.lock().expect("sender");
                    let before = s.acked.insert(client_id.clone(), seq);
                    assert!(
                        before.is_none_or(|b| b == seq),
                        "{client_id} acknowledged twice with different seqs"
                    );
                    s.pending = None;
                    s.last_seen = s.last_seen.max(seq);
                    break;
                }
                Some("error") => panic!("send refused: {v}"),
                _ => {}
            }
        }
    }
}

/// Every stored message of the channel: (seq, author, client_id).
async fn stored(data: &Path, channel: &str) -> Vec<(i64, String, String)> {
    let url = format!("sqlite://{}", data.join("confer.sqlite3").display());
    let db = confer::store::Db::connect(&confer::config::DatabaseUrl::new(url), 1)
        .await
        .expect("open the database");
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT seq, author_id, client_id FROM messages WHERE channel_id = $1 ORDER BY seq",
    )
    .bind(channel)
    .fetch_all(db.pool())
    .await
    .expect("read messages");
    db.close().await;
    rows
}

/// Bring the search index up to date as a search would, then have FTS5
/// compare it with the messages table, row by row.
async fn search_index_whole(data: &Path) {
    let url = format!("sqlite://{}", data.join("confer.sqlite3").display());
    let db = confer::store::Db::connect(&confer::config::DatabaseUrl::new(url), 1)
        .await
        .expect("open the database");
    confer::store::search_index::catch_up(&db)
        .await
        .expect("bring the search index up to date");
    assert!(
        !confer::store::search_index::behind(&db)
            .await
            .expect("behind")
    );
    sqlx::query("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
        .execute(db.pool())
        .await
        .expect("the search index matches the messages after the crashes");
    db.close().await;
}

/// The case channel of a demo child's case, and the ids of two of its members.
async fn demo_ids(data: &Path) -> (String, String, String) {
    let url = format!("sqlite://{}", data.join("confer.sqlite3").display());
    let db = confer::store::Db::connect(&confer::config::DatabaseUrl::new(url), 1)
        .await
        .expect("open the database")
        .with_key_file(&data.join("confer-keys.toml"))
        .await
        .expect("the server's key file");
    let case = confer::store::cases::list_for_operator(&db)
        .await
        .expect("cases")
        .into_iter()
        .find(|c| c.child_name == "Lily Ashworth")
        .expect("demo case");
    let (channel,): (String,) =
        sqlx::query_as("SELECT id FROM channels WHERE case_id = $1 AND kind = 'case'")
            .bind(&case.id)
            .fetch_one(db.pool())
            .await
            .expect("case channel");
    let sam = confer::store::people::find_by_email(&db, SAM)
        .await
        .expect("Sam");
    let tom = confer::store::people::find_by_email(&db, TOM)
        .await
        .expect("Tom");
    db.close().await;
    (channel, sam.id, tom.id)
}

/// A number in `lo..hi` from the operating system's randomness.
fn random(lo: u64, hi: u64) -> u64 {
    lo + (uuid::Uuid::new_v4().as_u128() % u128::from(hi - lo)) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill_and_restart() {
    let Some(bin) = std::env::var_os("CONFER_BIN").map(PathBuf::from) else {
        eprintln!("crash test skipped: set CONFER_BIN to a built `confer` binary (.ci/run does)");
        return;
    };
    if postgres_admin_url().is_some() {
        eprintln!("crash test skipped on PostgreSQL: it runs on SQLite (the default engine)");
        return;
    }
    let cycles: u32 = std::env::var("CONFER_CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let began = Instant::now();

    let (mut server, mut at) = start(&bin, &data).await;
    let (channel, sam_id, tom_id) = demo_ids(&data).await;
    let seeded = stored(&data, &channel).await.len() as i64;
    let senders = [
        ("sam", sam_id, Arc::new(Mutex::new(Sender::default()))),
        ("tom", tom_id, Arc::new(Mutex::new(Sender::default()))),
    ];
    for (_, _, s) in &senders {
        s.lock().expect("sender").last_seen = seeded;
    }
    let (mut checks, mut pending_resolved, mut resumed) = (0u64, 0u64, 0u64);

    for cycle in 1..=cycles {
        // Load, then SIGKILL at a random moment (sometimes before the senders are going).
        let mut tasks = Vec::new();
        for (who, id, me) in &senders {
            let cookie = sign_in(&at, id).await;
            let (who, channel, me, at) = (who.to_string(), channel.clone(), me.clone(), at.clone());
            tasks.push(tokio::spawn(async move {
                send_until_dead(&at, &cookie, &channel, &who, me).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(random(20, 1500))).await;
        server.kill();
        for t in tasks {
            t.await.expect("sender");
        }

        (server, at) = start(&bin, &data).await;

        // 1. Stored exactly once, with the acknowledged seq; no gaps.
        let rows = stored(&data, &channel).await;
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            seqs,
            (1..=rows.len() as i64).collect::<Vec<_>>(),
            "cycle {cycle}: a gap in the sequence"
        );
        let mut count: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
        for (seq, author, client_id) in &rows {
            count.entry((author, client_id)).or_default().push(*seq);
        }
        for (_, id, me) in &senders {
            let s = me.lock().expect("sender");
            for (client_id, seq) in &s.acked {
                let found = count.get(&(id.as_str(), client_id.as_str()));
                assert_eq!(
                    found,
                    Some(&vec![*seq]),
                    "cycle {cycle}: acknowledged {client_id} (seq {seq}) stored as {found:?}"
                );
                checks += 1;
            }
            if let Some(p) = &s.pending {
                let n = count.get(&(id.as_str(), p.as_str())).map_or(0, Vec::len);
                assert!(n <= 1, "cycle {cycle}: unacknowledged {p} stored {n} times");
                pending_resolved += 1;
            }
        }
        assert!(
            count.values().all(|v| v.len() == 1),
            "cycle {cycle}: a client_id stored twice"
        );

        // 2. Each client resumes from the last seq it saw: everything after, once, in order.
        for (who, id, me) in &senders {
            let cookie = sign_in(&at, id).await;
            let mut ws = open(&at, &cookie).await.expect("websocket after restart");
            let after = me.lock().expect("sender").last_seen;
            let (replay, last) = subscribe(&mut ws, &channel, after).await.expect("resume");
            let expected: Vec<i64> = seqs.iter().copied().filter(|s| *s > after).collect();
            let got: Vec<i64> = replay.iter().map(|r| r.0).collect();
            assert_eq!(got, expected, "cycle {cycle}: {who} resuming after {after}");
            assert_eq!(last, rows.len() as i64);
            resumed += got.len() as u64;
            me.lock().expect("sender").last_seen = last;
        }

        // 3. The audit chain holds.
        let out = command(&bin, &data)
            .args(["audit", "verify"])
            .output()
            .await
            .expect("audit verify");
        assert!(
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("Audit log verified"),
            "cycle {cycle}: audit verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let acked: usize = senders
        .iter()
        .map(|(_, _, s)| s.lock().expect("sender").acked.len())
        .sum();
    let rows = stored(&data, &channel).await.len() as i64;
    server.kill();

    // 4. The search index, brought up to date in bulk (a search does so
    // first), holds exactly what the messages table does.
    search_index_whole(&data).await;
    eprintln!(
        "crash consistency: {cycles} SIGKILL cycles in {:.0} s; {acked} messages acknowledged, {rows} stored ({seeded} seeded); \
         {checks} acknowledged-message checks after restarts, lost 0, duplicates 0; {pending_resolved} in-flight sends resolved; \
         {resumed} messages replayed to resuming clients, no gap or duplicate; audit verify passed {cycles} times",
        began.elapsed().as_secs_f64()
    );
}
