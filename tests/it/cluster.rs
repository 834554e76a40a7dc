//! Two Confer nodes sharing one PostgreSQL database (issue 8): live delivery
//! across them through LISTEN/NOTIFY, moving between nodes, removal and
//! sign-out reaching the other node within a second, a scheduled reminder
//! sent once, recovery after the listening connection is cut; and
//! `/metrics` (who may read it, what it says) on either engine.
//!
//! The two nodes are two real `confer serve` processes on loopback, each
//! with its own port, data folder and environment (`CONFER_<SECTION>__<KEY>`,
//! as an operator configures one), on one PostgreSQL database: nothing is
//! shared between them but the database. `.ci/run` builds the binary and
//! names it in `CONFER_BIN`; without it, or on SQLite (one node only), the
//! cluster tests print a note and return early. Test data goes in through
//! the shared database, and the nodes keep the real clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster_nodes::{seqs, two_nodes};
use crate::harness::{ALEX, KIM, LEE, SAM, TOM, TestApp, postgres_admin_url};
use crate::meetings_clock::{answer, convene_at, monday_morning};
use crate::scrape::{metrics, sample};
use crate::smtp_sink::SmtpSink;
use crate::ws_client::Ws;

/// Sam on node A and Tom on node B, both on the Lily Ashworth case channel
/// (Tom subscribed from the start).
struct Talk {
    a: TestApp,
    b: TestApp,
    _dir: tempfile::TempDir,
    channel: String,
    sam_ws: Ws,
    tom_ws: Ws,
}

async fn sam_on_a_tom_on_b() -> Option<Talk> {
    let (a, b, dir) = two_nodes(&[], None).await?;
    let (_, channel) = a.case_and_channel("Lily Ashworth").await;
    let sam = a.sign_in(SAM).await;
    let tom = b.sign_in(TOM).await;
    let sam_ws = Ws::connect(&a, &sam).await;
    let mut tom_ws = Ws::connect(&b, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    Some(Talk {
        a,
        b,
        _dir: dir,
        channel,
        sam_ws,
        tom_ws,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test]
async fn a_message_sent_on_one_node_reaches_a_client_on_the_other_in_order() {
    // The nodes are bound (not `_`) so that they keep running.
    let Some(Talk {
        a: _a,
        b: _b,
        _dir,
        channel,
        mut sam_ws,
        mut tom_ws,
    }) = sam_on_a_tom_on_b().await
    else {
        return;
    };

    // Tom (on B) reads while Sam (on A) sends, each waiting for the ack.
    const N: usize = 300;
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < N {
            let m = tom_ws.next_of(&["message"]).await;
            got.push((
                m["seq"].as_i64().unwrap(),
                m["message"]["body"].as_str().unwrap().to_string(),
                Instant::now(),
            ));
        }
        tom_ws.quiet_for(300).await;
        got
    });
    let mut sent = HashMap::new();
    for i in 1..=N {
        let at = Instant::now();
        let ack = sam_ws
            .say(&channel, &format!("m{i}"), &format!("note {i}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        sent.insert(ack["seq"].as_i64().unwrap(), (at, Instant::now()));
    }
    let got = reader.await.unwrap();
    let order: Vec<i64> = got.iter().map(|g| g.0).collect();
    assert_eq!(
        order,
        (1..=N as i64).collect::<Vec<_>>(),
        "every message once, in order"
    );
    assert!(
        got.iter()
            .all(|(seq, body, _)| body == &format!("note {seq}"))
    );
    // From the send, and from the ack (the commit is just before it; B may
    // even deliver before A's ack is read, which counts as zero).
    let mut from_send: Vec<Duration> = got
        .iter()
        .map(|(seq, _, at)| at.duration_since(sent[seq].0))
        .collect();
    let mut from_ack: Vec<Duration> = got
        .iter()
        .map(|(seq, _, at)| at.saturating_duration_since(sent[seq].1))
        .collect();
    let mut ack: Vec<Duration> = sent.values().map(|(s, a)| a.duration_since(*s)).collect();
    for v in [&mut from_send, &mut from_ack, &mut ack] {
        v.sort();
    }
    println!(
        "over {N} messages, p50/p99: send→ack {:?}/{:?}; send→node B {:?}/{:?}; ack→node B {:?}/{:?}",
        percentile(&ack, 0.5),
        percentile(&ack, 0.99),
        percentile(&from_send, 0.5),
        percentile(&from_send, 0.99),
        percentile(&from_ack, 0.5),
        percentile(&from_ack, 0.99),
    );
}

#[tokio::test]
async fn a_client_that_moves_to_the_other_node_resumes_without_loss() {
    let Some((a, b, _dir)) = two_nodes(&[], None).await else {
        return;
    };
    let (_, channel) = a.case_and_channel("Lily Ashworth").await;
    let sam = a.sign_in(SAM).await;
    let tom = a.sign_in(TOM).await;
    let mut sam_ws = Ws::connect(&a, &sam).await;
    let mut on_a = Ws::connect(&a, &tom).await;
    on_a.subscribe(&channel, 0).await;
    for i in 1..=5 {
        sam_ws
            .say(&channel, &format!("x{i}"), &format!("before {i}"))
            .await;
    }
    assert_eq!(seqs(&mut on_a, 5).await, vec![1, 2, 3, 4, 5]);
    drop(on_a);
    // Away: five more are committed on A.
    for i in 6..=10 {
        sam_ws
            .say(&channel, &format!("x{i}"), &format!("away {i}"))
            .await;
    }
    // The same session, now through node B, resumes after 5.
    let mut on_b = Ws::connect(&b, &tom).await;
    let (replay, last) = on_b.subscribe(&channel, 5).await;
    let replayed: Vec<i64> = replay.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!((replayed, last), (vec![6, 7, 8, 9, 10], 10));
    for i in 11..=15 {
        sam_ws
            .say(&channel, &format!("x{i}"), &format!("live {i}"))
            .await;
    }
    assert_eq!(seqs(&mut on_b, 5).await, vec![11, 12, 13, 14, 15]);

    // A read receipt from B reaches Sam on A; an edit on A reaches Tom on B.
    sam_ws.subscribe(&channel, 15).await;
    on_b.send(json!({"type": "read", "id": "r", "channel": channel, "seq": 15}))
        .await;
    let receipt = sam_ws.next_skipping(&["receipt"], &[]).await;
    assert_eq!(
        (receipt["seq"].as_i64(), receipt["person"]["id"].as_str()),
        (Some(15), Some(tom.person_id.as_str()))
    );
    let res = sam
        .client
        .patch(a.url(&format!("/api/channels/{channel}/messages/15")))
        .header("x-csrf-token", &sam.csrf)
        .json(&json!({"body": "live 15, corrected"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated = on_b.next_skipping(&["message_updated"], &["ok"]).await;
    assert_eq!(updated["message"]["body"], "live 15, corrected");
    on_b.quiet_for(300).await;
}

#[tokio::test]
async fn removal_and_sign_out_on_one_node_take_effect_on_the_other_within_a_second() {
    let Some((a, b, _dir)) = two_nodes(&[], None).await else {
        return;
    };
    let (case_id, channel) = a.case_and_channel("Lily Ashworth").await;
    let sam = a.sign_in(SAM).await;
    let tom = a.sign_in(TOM).await;
    let mut tom_ws = Ws::connect(&b, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    let started = Instant::now();
    let res = sam
        .client
        .delete(a.url(&format!("/api/cases/{case_id}/members/{}", tom.person_id)))
        .header("x-csrf-token", &sam.csrf)
        .json(&json!({"reason": "left the school"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let gone = tokio::time::timeout(Duration::from_secs(1), tom_ws.next_of(&["unsubscribed"]))
        .await
        .expect("node B cut the subscription within a second");
    assert_eq!(
        (gone["channel"].as_str(), gone["reason"].as_str()),
        (Some(channel.as_str()), Some("access_ended"))
    );
    println!("removal reached node B after {:?}", started.elapsed());
    let mut sam_ws = Ws::connect(&a, &sam).await;
    sam_ws.say(&channel, "after", "Tom must not see this").await;
    tom_ws.quiet_for(500).await;

    // Signing out on A closes the same session's socket on B (4001).
    let lee = a.sign_in(LEE).await;
    let mut lee_ws = Ws::connect(&b, &lee).await;
    let res = lee
        .client
        .post(a.url("/sign-out"))
        .header("origin", a.base.clone())
        .form(&[("csrf_token", lee.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let code = tokio::time::timeout(Duration::from_secs(1), lee_ws.closed())
        .await
        .expect("node B closed the socket within a second");
    assert_eq!(code, Some(4001));
}

#[tokio::test]
async fn a_scheduled_reminder_is_sent_once_with_two_nodes_running() {
    let sink = SmtpSink::start().await;
    // Both schedulers look for work every second.
    let fast = [("CONFER_MEETINGS__SCHEDULER_INTERVAL_SECONDS", "1")];
    let Some((a, b, _dir)) = two_nodes(&fast, Some(sink.port)).await else {
        return;
    };
    let (case_id, _) = a.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&a);
    let sam = a.sign_in(SAM).await;
    let id = convene_at(
        &a,
        &sam,
        &case_id,
        "strategy_discussion",
        monday + time::Duration::days(2),
        "10:00",
        &[LEE, KIM, ALEX, TOM],
        &[],
    )
    .await;
    sink.wait_for(4).await;
    for (who, response) in [(LEE, "accepted"), (KIM, "accepted"), (TOM, "declined")] {
        let signed = b.sign_in(who).await;
        answer(&b, &signed, &id, response).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.count().await,
        4,
        "no reminder yet: the meeting is days away"
    );
    // The nodes keep the real clock, so the meeting moves instead: it now
    // starts in 23 hours, inside both schedulers' 24-hour window.
    use confer::domain::clock::{Clock, SystemClock};
    let starts = SystemClock.now_ms() + 23 * 3_600_000;
    let db = a.db().await;
    sqlx::query("UPDATE meetings SET starts_at = $1, ends_at = $2 WHERE id = $3")
        .bind(starts)
        .bind(starts + 3_600_000)
        .bind(&id)
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let mail = sink.wait_for(8).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        sink.count().await,
        8,
        "each reminder once, though two schedulers ran"
    );
    let mut to: Vec<String> = mail[4..].iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec![ALEX, KIM, LEE, SAM]);
}

#[tokio::test]
async fn a_node_whose_notification_connection_is_cut_recovers_what_it_missed() {
    const MISSED: i64 = 300;
    let Some(Talk {
        a,
        b,
        _dir,
        channel,
        mut sam_ws,
        mut tom_ws,
    }) = sam_on_a_tom_on_b().await
    else {
        return;
    };
    sam_ws.say(&channel, "r1", "before the cut").await;
    assert_eq!(seqs(&mut tom_ws, 1).await, vec![1]);
    assert_eq!(sample(&metrics(&b).await, "confer_cluster_listening"), 1.0);

    // Cut every listening connection and keep them from coming back while
    // more messages are committed on A than a connection's queue holds
    // (256): B cannot hear about them.
    let admin = postgres_admin_url().unwrap();
    let mut pg = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let name: String = a
        .database_url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
    )))
    .execute(&mut pg)
    .await
    .unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    )
    .bind(&name)
    .bind(confer::realtime::cluster::LISTENER_NAME)
    .fetch_all(&mut pg)
    .await
    .unwrap();
    assert_eq!(cut.len(), 2, "one listener per node");
    for i in 2..=MISSED + 1 {
        let ack = sam_ws
            .say(&channel, &format!("r{i}"), &format!("during the cut {i}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    tom_ws.quiet_for(300).await;
    let restored = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
    )))
    .execute(&mut pg)
    .await
    .unwrap();
    // B listens again and delivers them from the database, all at once:
    // Tom's queue overflows, yet his connection stays open and catches up
    // from the database. Once each, in order.
    assert_eq!(
        seqs(&mut tom_ws, MISSED as usize).await,
        (2..=MISSED + 1).collect::<Vec<_>>()
    );
    println!(
        "recovered {MISSED} missed messages {:?} after connections were allowed again",
        restored.elapsed()
    );
    sam_ws.say(&channel, "after", "after").await;
    assert_eq!(seqs(&mut tom_ws, 1).await, vec![MISSED + 2]);
    tom_ws.quiet_for(300).await;
    let text = metrics(&b).await;
    assert!(
        sample(&text, "confer_cluster_recoveries_total") >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "confer_cluster_recovered_messages_total") >= MISSED as f64,
        "{text}"
    );
    assert!(
        sample(&text, "confer_websocket_messages_deferred_total") >= 1.0,
        "the burst overflowed no queue: {text}"
    );
    assert_eq!(sample(&text, "confer_websocket_too_slow_total"), 0.0);
    assert_eq!(sample(&text, "confer_cluster_listening"), 1.0);
}

fn with_token(s: &mut confer::config::Settings) {
    s.metrics.token = Some(confer::config::Secret::new("scrape-me-0123456789"));
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_configured() {
    let app = TestApp::builder().configure(with_token).start().await;
    let client = app.client();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("scrape-me-0123456789"),
        Some("Bearer "),
    ] {
        let mut req = client.get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert!(
            !res.text().await.unwrap().contains("confer_"),
            "nothing leaks"
        );
    }
    // Content: a message committed and delivered shows up.
    let (_, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let mut tom_ws = Ws::connect(&app, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    let mut sam_ws = Ws::connect(&app, &sam).await;
    sam_ws.say(&channel, "m1", "counted").await;
    tom_ws.next_of(&["message"]).await;
    let res = client
        .get(app.url("/metrics"))
        .header("authorization", "Bearer scrape-me-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = res.text().await.unwrap();
    assert_eq!(sample(&text, "confer_messages_committed_total"), 1.0);
    assert_eq!(sample(&text, "confer_websocket_connections"), 2.0);
    assert!(
        sample(&text, "confer_delivery_latency_seconds_count") >= 1.0,
        "{text}"
    );
    // The one message went through the writer in one batch of one.
    assert_eq!(sample(&text, "confer_writer_batch_posts_count"), 1.0);
    assert_eq!(sample(&text, "confer_writer_batch_posts_sum"), 1.0);
    assert_eq!(sample(&text, "confer_writer_batch_seconds_count"), 1.0);
    // It was acknowledged once durable: one wait for the log's fsync.
    assert_eq!(sample(&text, "confer_writer_sync_seconds_count"), 1.0);
    for name in [
        "confer_writer_queue_depth",
        "confer_delivery_log_queue_depth",
        "confer_db_pool_connections",
        "confer_db_pool_idle_connections",
        "confer_cluster_notifications_received_total",
    ] {
        sample(&text, name);
    }
    assert!(
        !text.contains("Lily") && !text.contains("counted"),
        "no case content"
    );
}

#[tokio::test]
async fn without_a_token_metrics_answer_loopback_only_and_nothing_of_a_cluster_runs_on_sqlite() {
    // Listening on every address, so that a request can come from outside loopback.
    let app = TestApp::builder()
        .production()
        .without_demo_data()
        .bind("0.0.0.0:0")
        .start()
        .await;
    let client = app.client();
    let text = metrics(&app).await;
    if postgres_admin_url().is_none() {
        assert_eq!(
            sample(&text, "confer_cluster_listening"),
            0.0,
            "no listener on SQLite"
        );
        assert_eq!(
            sample(&text, "confer_cluster_notifications_received_total"),
            0.0
        );
    }
    // Through a proxy on this machine, a request is not a local one.
    for header in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let res = client
            .get(app.url("/metrics"))
            .header(header, "203.0.113.9")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{header}");
    }
    // From this machine's own non-loopback address.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    match probe
        .connect("192.0.2.200:9")
        .and_then(|()| probe.local_addr())
    {
        Ok(local) if !local.ip().is_loopback() && !local.ip().is_unspecified() => {
            let url = format!("http://{}:{}/metrics", local.ip(), app.port);
            let res = client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 403, "{url}");
        }
        _ => eprintln!("note: no non-loopback address here; only the proxy case was checked"),
    }
}
