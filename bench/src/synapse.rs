//! The Matrix homeserver Synapse on the same workloads, through its
//! client-server API: each sender `PUT`s `/rooms/{room}/send/m.room.message/{txn}`
//! and waits for the 200 (its ack) before the next; every member long-polls
//! `/sync` with a `since` token and times each message it did not send.
//! Synapse runs from `bench/synapse/run.sh` (a throwaway virtual environment;
//! nothing of Synapse's is in this repository) as a child process, so its
//! memory and CPU are read from `/proc` like Confer's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, Semaphore, watch};

use crate::load::{self, Lat, Outcome};
use crate::procs;
use crate::{Res, fail};

/// Where Synapse keeps its data.
pub enum Engine {
    Sqlite,
    /// host, port, database, user
    Postgres(String, u16, String, String),
}

/// A Synapse process started by `run.sh serve`.
pub struct Synapse {
    pub pid: u32,
    pub port: u16,
    child: Child,
}

/// The script that installs and runs Synapse.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("synapse/run.sh")
}

/// Install Synapse if needed and return its version.
pub async fn version() -> Res<String> {
    let out = Command::new("bash")
        .arg(script())
        .arg("version")
        .stderr(Stdio::inherit())
        .output()
        .await?;
    if !out.status.success() {
        return Err(fail("bench/synapse/run.sh could not install Synapse"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Synapse {
    /// Start Synapse on a free loopback port with its data in `dir` and
    /// wait until its client API answers.
    pub async fn start(dir: &Path, engine: &Engine) -> Res<Synapse> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        std::fs::create_dir_all(dir)?;
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .arg("serve")
            .arg(dir)
            .arg(port.to_string());
        match engine {
            Engine::Sqlite => {
                cmd.arg("sqlite");
            }
            Engine::Postgres(host, pg_port, db, user) => {
                cmd.arg("postgres")
                    .arg(host)
                    .arg(pg_port.to_string())
                    .arg(db)
                    .arg(user);
            }
        }
        let log = std::fs::File::create(dir.join("run.log"))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        let pid = child.id().ok_or_else(|| fail("Synapse exited at once"))?;
        let s = Synapse { pid, port, child };
        let http = reqwest::Client::new();
        let url = format!("{}/_matrix/client/versions", s.base());
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(s);
            }
            if Instant::now() > until {
                return Err(fail(format!(
                    "Synapse did not answer within 120 s; see {}",
                    dir.join("run.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub async fn stop(mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// One member: their access token, filter and position in `/sync`.
struct Member {
    token: String,
    filter: String,
    since: String,
}

/// What the workload looks like.
pub struct Shape {
    pub tag: String,
    pub rooms: usize,
    pub members: usize,
    pub senders_per_room: usize,
    pub quota: u64,
    pub body_bytes: usize,
    pub max_send: Duration,
    pub drain: Duration,
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Res<Value> {
    let mut req = http.request(method, &url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&b)?);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return Err(fail(format!(
            "{url}: {status}: {}",
            &text[..text.floor_char_boundary(200)]
        )));
    }
    Ok(serde_json::from_str(&text)?)
}

fn s(v: &Value, key: &str) -> Res<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| fail(format!("no {key} in {v}")))
}

/// Register the members, create the rooms, join them, make each member's
/// filter and take their first `since` token. Returns the room ids and
/// the members by room.
async fn set_up(
    http: &reqwest::Client,
    base: &str,
    shape: &Shape,
) -> Res<(Vec<String>, Vec<Vec<Member>>)> {
    let gate = Arc::new(Semaphore::new(16));
    let mut rooms = Vec::new();
    let mut members: Vec<Vec<Member>> = Vec::new();
    for r in 0..shape.rooms {
        let mut tasks = Vec::new();
        for m in 0..shape.members {
            let (http, base, gate) = (http.clone(), base.to_string(), gate.clone());
            let username = format!("{}r{r}m{m}", shape.tag);
            tasks.push(tokio::spawn(async move {
                let _p = gate.acquire_owned().await?;
                let v = call(
                    &http,
                    reqwest::Method::POST,
                    format!("{base}/_matrix/client/v3/register"),
                    None,
                    Some(json!({"username": username, "password": "bench-password-1", "auth": {"type": "m.login.dummy"}})),
                )
                .await?;
                Ok::<(String, String), crate::BoxError>((s(&v, "user_id")?, s(&v, "access_token")?))
            }));
        }
        let mut users = Vec::new();
        for t in tasks {
            users.push(t.await??);
        }
        let created = call(
            http,
            reqwest::Method::POST,
            format!("{base}/_matrix/client/v3/createRoom"),
            Some(&users[0].1),
            Some(json!({"preset": "public_chat", "name": format!("bench room {r}")})),
        )
        .await?;
        let room = s(&created, "room_id")?;
        let mut tasks = Vec::new();
        for (_, token) in users.iter().skip(1) {
            let (http, gate) = (http.clone(), gate.clone());
            let url = format!("{base}/_matrix/client/v3/join/{}", urlencode(&room));
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let _p = gate.acquire_owned().await?;
                call(
                    &http,
                    reqwest::Method::POST,
                    url,
                    Some(&token),
                    Some(json!({})),
                )
                .await
            }));
        }
        for t in tasks {
            t.await??;
        }
        rooms.push(room);
        let mut room_members = Vec::new();
        for (user_id, token) in users {
            // Only messages: no presence, receipts, typing, account data or state.
            let filter = call(
                http,
                reqwest::Method::POST,
                format!(
                    "{base}/_matrix/client/v3/user/{}/filter",
                    urlencode(&user_id)
                ),
                Some(&token),
                Some(json!({
                    "presence": {"types": []},
                    "account_data": {"types": []},
                    "room": {
                        "timeline": {"limit": 1000, "types": ["m.room.message"]},
                        "state": {"types": [], "lazy_load_members": true},
                        "ephemeral": {"types": []},
                        "account_data": {"types": []}
                    }
                })),
            )
            .await?;
            let filter = s(&filter, "filter_id")?;
            let first = call(
                http,
                reqwest::Method::GET,
                format!("{base}/_matrix/client/v3/sync?timeout=0&filter={filter}"),
                Some(&token),
                None,
            )
            .await?;
            room_members.push(Member {
                token,
                filter,
                since: s(&first, "next_batch")?,
            });
        }
        members.push(room_members);
        if (r + 1) % 10 == 0 {
            eprintln!("    … Synapse: {} of {} rooms set up", r + 1, shape.rooms);
        }
    }
    Ok((rooms, members))
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a member saw: (sender, k) pairs, in arrival order per sender.
#[derive(Default)]
struct Seen {
    pairs: HashSet<(usize, u64)>,
    last_k: std::collections::HashMap<usize, u64>,
    distinct: u64,
    duplicates: u64,
    out_of_order: u64,
    limited: u64,
    lat: Vec<u64>,
}

/// The parts of a body: `t=<ns>;s=<sender>;k=<n>;…`.
fn parts(body: &str) -> Option<(u64, usize, u64)> {
    let t = load::sent_at(body)?;
    let s = load::sender_of(body)?;
    let k = body.split(';').nth(2)?.strip_prefix("k=")?.parse().ok()?;
    Some((t, s, k))
}

struct Counters {
    delivered: AtomicU64,
    acked: Vec<AtomicU64>,
    last_ack_ns: AtomicU64,
    last_delivery_ns: AtomicU64,
}

/// Run one workload against a started Synapse.
pub async fn run(syn: &Synapse, shape: &Shape) -> Res<Outcome> {
    let base = syn.base();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(90))
        .build()?;
    let mut out = Outcome {
        server_before: procs::sample(syn.pid),
        ..Outcome::default()
    };
    let setup_started = Instant::now();
    let (rooms, members) = set_up(&http, &base, shape).await?;
    out.setup_secs = setup_started.elapsed().as_secs_f64();
    let n_clients = shape.rooms * shape.members;
    let n_senders = shape.rooms * shape.senders_per_room;
    out.clients = n_clients;
    out.senders = n_senders;
    out.connected = n_clients;
    out.quota = Some(shape.quota);
    let counters = Arc::new(Counters {
        delivered: AtomicU64::new(0),
        acked: (0..n_clients).map(|_| AtomicU64::new(0)).collect(),
        last_ack_ns: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
    });
    let ack_lat = Arc::new(Mutex::new(Vec::<u64>::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    out.server_connected = procs::sample(syn.pid);
    let peak = procs::PeakRss::start(vec![syn.pid]);
    let start = Instant::now();
    out.server_window_start = procs::sample(syn.pid);
    out.bench_window_start = procs::sample_self();
    out.machine_window_start = procs::machine_busy_secs();
    let send_end = start + shape.max_send;

    // Receivers: every member long-polls /sync.
    let mut syncers = Vec::new();
    for (r, room_members) in members.iter().enumerate() {
        for (m, member) in room_members.iter().enumerate() {
            let me = r * shape.members + m;
            let (http, base, counters) = (http.clone(), base.clone(), counters.clone());
            let (token, filter, mut since) = (
                member.token.clone(),
                member.filter.clone(),
                member.since.clone(),
            );
            let mut stop = stop_rx.clone();
            syncers.push(tokio::spawn(async move {
                let mut seen = Seen::default();
                let mut errors = 0u64;
                loop {
                    let url = format!(
                        "{base}/_matrix/client/v3/sync?since={since}&timeout=30000&filter={filter}"
                    );
                    let poll = call(&http, reqwest::Method::GET, url, Some(&token), None);
                    let v = tokio::select! {
                        v = poll => v,
                        _ = stop.changed() => break,
                    };
                    let v = match v {
                        Ok(v) => v,
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let now = load::ns(Instant::now());
                    if let Some(next) = v.get("next_batch").and_then(Value::as_str) {
                        since = next.to_string();
                    }
                    let Some(joined) = v.pointer("/rooms/join").and_then(Value::as_object) else {
                        continue;
                    };
                    for room in joined.values() {
                        if room.pointer("/timeline/limited") == Some(&Value::Bool(true)) {
                            seen.limited += 1;
                        }
                        let events = room
                            .pointer("/timeline/events")
                            .and_then(Value::as_array)
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        for e in events {
                            let Some((t, sender, k)) = e
                                .pointer("/content/body")
                                .and_then(Value::as_str)
                                .and_then(parts)
                            else {
                                continue;
                            };
                            counters.delivered.fetch_add(1, Relaxed);
                            counters.last_delivery_ns.fetch_max(now, Relaxed);
                            if !seen.pairs.insert((sender, k)) {
                                seen.duplicates += 1;
                                continue;
                            }
                            seen.distinct += 1;
                            let last = seen.last_k.entry(sender).or_insert(0);
                            if k + 1 < *last {
                                seen.out_of_order += 1;
                            }
                            *last = (*last).max(k + 1);
                            if sender != me {
                                seen.lat.push(now.saturating_sub(t) / 1000);
                            }
                        }
                    }
                }
                (r, seen, errors)
            }));
        }
    }

    // Senders: the first `senders_per_room` members of each room.
    let pad = "x".repeat(shape.body_bytes.saturating_sub(32));
    let mut senders = Vec::new();
    for (r, room_members) in members.iter().enumerate() {
        for (m, member) in room_members.iter().enumerate().take(shape.senders_per_room) {
            let me = r * shape.members + m;
            let (http, base, counters, ack_lat) = (
                http.clone(),
                base.clone(),
                counters.clone(),
                ack_lat.clone(),
            );
            let token = member.token.clone();
            let room = urlencode(&rooms[r]);
            let (tag, quota, pad) = (shape.tag.clone(), shape.quota, pad.clone());
            senders.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut failed = 0u64;
                let mut sent = 0u64;
                for k in 0..quota {
                    if Instant::now() >= send_end {
                        break;
                    }
                    let t = load::ns(Instant::now());
                    let url = format!(
                        "{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/{tag}-{me}-{k}"
                    );
                    let body =
                        json!({"msgtype": "m.text", "body": format!("t={t};s={me};k={k};{pad}")});
                    sent += 1;
                    match call(&http, reqwest::Method::PUT, url, Some(&token), Some(body)).await {
                        Ok(_) => {
                            let now = load::ns(Instant::now());
                            counters.acked[me].fetch_add(1, Relaxed);
                            counters.last_ack_ns.fetch_max(now, Relaxed);
                            lat.push(now.saturating_sub(t) / 1000);
                        }
                        Err(_) => failed += 1,
                    }
                }
                ack_lat.lock().await.extend(lat);
                (sent, failed)
            }));
        }
    }
    for t in senders {
        let (sent, failed) = t.await?;
        out.sent += sent;
        out.unacked += failed;
    }
    out.acked = counters.acked.iter().map(|a| a.load(Relaxed)).sum();
    out.send_secs = counters
        .last_ack_ns
        .load(Relaxed)
        .saturating_sub(load::ns(start)) as f64
        / 1e9;
    // Drain: every member has every acked message of its room (its own included).
    let expected_per_room: Vec<u64> = (0..shape.rooms)
        .map(|r| {
            (0..shape.senders_per_room)
                .map(|m| counters.acked[r * shape.members + m].load(Relaxed))
                .sum()
        })
        .collect();
    let expected: u64 = expected_per_room.iter().sum::<u64>() * shape.members as u64;
    let drain_until = Instant::now() + shape.drain;
    while counters.delivered.load(Relaxed) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out.drained = counters.delivered.load(Relaxed) >= expected;
    out.server_window_end = procs::sample(syn.pid);
    out.bench_window_end = procs::sample_self();
    out.machine_window_end = procs::machine_busy_secs();
    out.window_secs = start.elapsed().as_secs_f64();
    out.deliver_secs = counters
        .last_delivery_ns
        .load(Relaxed)
        .saturating_sub(load::ns(start)) as f64
        / 1e9;
    let _ = stop_tx.send(true);
    out.peak_rss_kib = peak.finish().await;

    let mut hist = load::new_hist()?;
    for t in syncers {
        let (r, seen, errors) = t.await?;
        out.missing += expected_per_room[r].saturating_sub(seen.distinct);
        out.duplicates += seen.duplicates;
        out.out_of_order += seen.out_of_order;
        if seen.limited > 0 {
            *out.errors
                .entry("sync timeline limited".into())
                .or_default() += seen.limited;
        }
        if errors > 0 {
            *out.errors.entry("sync request failed".into()).or_default() += errors;
        }
        for v in seen.lat {
            hist.saturating_record(v.max(1));
        }
    }
    if out.unacked > 0 {
        *out.errors.entry("send refused".into()).or_default() += out.unacked;
    }
    let mut ack = load::new_hist()?;
    for v in ack_lat.lock().await.iter() {
        ack.saturating_record((*v).max(1));
    }
    out.delivery = Lat::of(&hist);
    out.ack = Lat::of(&ack);
    out.delivered = counters.delivered.load(Relaxed);
    out.delivered_in_window = out.delivered;
    if out.send_secs > 0.0 {
        out.msgs_per_sec = out.acked as f64 / out.send_secs;
    }
    if out.deliver_secs > 0.0 {
        out.deliveries_per_sec = out.delivered as f64 / out.deliver_secs;
    }
    out.scheduled = shape.quota * n_senders as u64;
    out.server_end = procs::sample(syn.pid);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_send_instant_the_sender_and_the_count() {
        assert_eq!(parts("t=42;s=3;k=9;xxxx"), Some((42, 3, 9)));
        assert_eq!(parts("t=42;s=3;xxxx"), None);
        assert_eq!(
            urlencode("!abc:bench.localhost"),
            "%21abc%3Abench.localhost"
        );
    }
}
