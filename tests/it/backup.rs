//! `confer backup` and `confer restore`: a snapshot taken while messages
//! are being sent restores into a fresh data directory, serves, passes
//! `confer audit verify`, and holds every message acknowledged before the
//! backup began, numbered without gaps.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use serde_json::{Value, json};

use crate::configuration::confer;
use crate::harness::{SAM, Signed, TOM, TestApp, postgres_admin_url};

pub fn config(dir: &Path, data_dir: &Path, url: Option<&str>) -> String {
    let path = dir.join(format!("confer-{}.toml", uuid::Uuid::new_v4().simple()));
    let database = url.map_or(String::new(), |u| format!("[database]\nurl = \"{u}\"\n"));
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{}\"\nseed_demo_data = false\n{database}",
            data_dir.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Every sequence number in a channel, as `who` sees it.
async fn seqs(app: &TestApp, who: &Signed, ch: &str) -> Vec<i64> {
    let mut all = Vec::new();
    loop {
        let after = all.last().copied().unwrap_or(0);
        let path = format!("/api/channels/{ch}/messages?after_seq={after}&limit=200");
        let page: Value = who.get(app, &path).await.json().await.unwrap();
        let got: Vec<i64> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_with_every_acknowledged_message() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let live_cfg = config(dir.path(), &app.data_dir, Some(&app.database_url));
    let file = dir.path().join("confer-backup.sqlite3");
    let file_arg = file.display().to_string();

    if postgres_admin_url().is_some() {
        // PostgreSQL is backed up with its own tools; Confer says how and writes nothing.
        let (code, _, err) = confer(&["--config", &live_cfg, "backup", &file_arg]).await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("pg_dump") && err.contains("pg_restore"),
            "{err}"
        );
        assert!(!file.exists());
        return;
    }

    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let seeded = seqs(&app, &sam, &ch).await.len() as i64;

    // Two senders post as fast as the server acknowledges, until told to stop.
    let acked = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let app = Arc::new(app);
    let senders: Vec<_> = [sam.clone(), tom.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, who)| {
            let (app, ch, acked, stop) = (app.clone(), ch.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let body =
                        json!({"client_id": format!("s{n}-{i}"), "body": format!("load {n}/{i}")});
                    let r = who
                        .post_json(&app, &format!("/api/channels/{ch}/messages"), &body)
                        .await;
                    assert_eq!(r.status(), 201);
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while acked.load(Ordering::SeqCst) < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let acked_before = seeded + acked.load(Ordering::SeqCst);
    let (code, out, err) = confer(&["--config", &live_cfg, "backup", &file_arg]).await;
    let acked_after_backup = seeded + acked.load(Ordering::SeqCst);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("audit log verified") && out.contains("Not included: data_dir/tls"),
        "{out}"
    );
    // Keep the load going a little past the backup, then stop it.
    while seeded + acked.load(Ordering::SeqCst) < acked_after_backup + 10 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    let acked_end = seeded + acked.load(Ordering::SeqCst);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a backup is readable by its owner alone"
        );
    }

    // A backup never overwrites a file.
    let (code, _, err) = confer(&["--config", &live_cfg, "backup", &file_arg]).await;
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");

    // Restore into a fresh data directory, then refuse to restore over it.
    let fresh = dir.path().join("restored");
    let restored_cfg = config(dir.path(), &fresh, None);
    let (code, out, err) = confer(&["--config", &restored_cfg, "restore", &file_arg]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("audit log verified"), "{out}");
    let (code, _, err) = confer(&["--config", &restored_cfg, "restore", &file_arg]).await;
    assert_eq!(code, 2);
    assert!(err.contains("not empty"), "{err}");
    let (code, out, err) = confer(&["--config", &restored_cfg, "audit", "verify"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Audit log verified"), "{out}");

    // The child's identity is sealed: without the key file (kept apart from
    // the database) the restored copy is refused with the reason; with it,
    // the restored data directory serves and holds the acknowledged messages.
    let (code, _, err) = confer(&["--config", &restored_cfg, "case", "list"]).await;
    assert_ne!(code, 0, "a sealed database without its key file is refused");
    assert!(
        err.contains("confer-keys.toml") && err.contains("missing"),
        "{err}"
    );
    std::fs::copy(&app.key_file, fresh.join("confer-keys.toml")).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        fresh.join("confer.sqlite3").display()
    );
    let restored = TestApp::builder().reuse(&fresh, &url).start().await;
    let sam_again = restored.sign_in(SAM).await;
    let got = seqs(&restored, &sam_again, &ch).await;
    let n = got.len() as i64;
    assert_eq!(got, (1..=n).collect::<Vec<_>>(), "sequences have no gaps");
    assert!(
        acked_before <= n && n <= acked_end,
        "acknowledged before the backup {acked_before}, restored {n}, acknowledged in all {acked_end}"
    );
    eprintln!(
        "backup under load: {acked_before} acknowledged before, {n} restored, {acked_after_backup} by the backup's end, {acked_end} in all"
    );
}

/// A backup whose audit log was altered after it was taken, and a file
/// that is not a whole database, are both refused with the reason, and the
/// fresh data directory is left without a database.
#[tokio::test]
async fn a_tampered_or_damaged_backup_is_refused_and_nothing_is_restored() {
    if postgres_admin_url().is_some() {
        return; // PostgreSQL is restored with pg_restore (above).
    }
    let app = TestApp::start().await;
    let sam = app.sign_in(SAM).await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    seqs(&app, &sam, &ch).await; // a read, audited
    let dir = tempfile::tempdir().unwrap();
    let live_cfg = config(dir.path(), &app.data_dir, Some(&app.database_url));
    let good = dir.path().join("good.sqlite3");
    let (code, _, err) =
        confer(&["--config", &live_cfg, "backup", &good.display().to_string()]).await;
    assert_eq!(code, 0, "{err}");

    // Someone with the file drops the append-only guard and rewrites one event.
    let tampered = dir.path().join("tampered.sqlite3");
    std::fs::copy(&good, &tampered).unwrap();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", tampered.display()))
        .await
        .unwrap();
    for sql in [
        "DROP TRIGGER audit_events_no_update",
        "UPDATE audit_events SET detail = '{}' WHERE seq = (SELECT MAX(seq) FROM audit_events)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    // A file cut short, as by a copy that did not finish.
    let damaged = dir.path().join("damaged.sqlite3");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 3]).unwrap();

    for (file, why) in [
        (&tampered, "FAILED verification"),
        (&damaged, "not a usable backup"),
    ] {
        let fresh = dir
            .path()
            .join(format!("into-{}", uuid::Uuid::new_v4().simple()));
        let cfg = config(dir.path(), &fresh, None);
        let (code, out, err) =
            confer(&["--config", &cfg, "restore", &file.display().to_string()]).await;
        assert_ne!(code, 0, "{} was restored: {out}", file.display());
        assert!(err.contains(why), "{}: {err}", file.display());
        assert!(
            !fresh.join("confer.sqlite3").exists(),
            "a refused restore leaves no database behind"
        );
        let left: Vec<_> = std::fs::read_dir(&fresh)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
