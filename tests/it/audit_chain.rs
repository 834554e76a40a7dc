//! Tampering with the audit log directly in the database, as an attacker
//! with the database file or a superuser login would, and `confer audit
//! verify` catching each change; checkpoints held outside the database
//! catching what the chain alone cannot (a rewrite with fresh hashes, a tail
//! removed with the head moved back). Editing and truncation of single
//! events through verify's head check are in `admin_cli.rs`.

use std::path::{Path, PathBuf};

use confer::domain::audit::{AuditRecord, Checkpoint, chain_hash};
use confer::store::Db;
use sqlx::Row;

use crate::configuration::confer;
use crate::harness::{RIA, SAM, TestApp};

/// A config file for the CLI, pointing at the running test server's database.
fn config_for(app: &TestApp) -> String {
    let cfg = app.data_dir.join("confer.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndata_dir = \"{}\"\n[database]\nurl = \"{}\"\n",
            app.data_dir.display(),
            app.database_url
        ),
    )
    .unwrap();
    cfg.display().to_string()
}

async fn verify(cfg: &str, checkpoints: &[&Path]) -> (u8, String, String) {
    let mut args = vec![
        "--config".to_string(),
        cfg.to_string(),
        "audit".into(),
        "verify".into(),
    ];
    for c in checkpoints {
        args.push("--checkpoint".into());
        args.push(c.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    confer(&args).await
}

async fn take_checkpoint(app: &TestApp, cfg: &str, name: &str) -> (PathBuf, Checkpoint) {
    let path = app.data_dir.join(name);
    let (code, out, err) = confer(&[
        "--config",
        cfg,
        "audit",
        "checkpoint",
        "--out",
        path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("written to"), "{out}");
    let c = Checkpoint::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, c)
}

/// The attacker's first step: remove the append-only triggers.
pub(crate) async fn drop_append_only_guard(db: &Db) {
    let statements: &[&str] = match db.engine() {
        confer::config::Engine::Sqlite => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
        confer::config::Engine::Postgres => {
            &["DROP TRIGGER audit_events_no_update ON audit_events"]
        }
    };
    for s in statements {
        sqlx::query(sqlx::AssertSqlSafe(*s))
            .execute(db.pool())
            .await
            .unwrap();
    }
}

/// Some ordinary activity, so the log holds reads and sign-ins too.
async fn activity(app: &TestApp) {
    let sam = app.sign_in(SAM).await;
    let (lily, _) = app.case_and_channel("Lily Ashworth").await;
    let res = sam.get(app, &format!("/cases/{lily}")).await;
    assert_eq!(res.status(), 200);
    let ria = app.sign_in(RIA).await;
    assert_eq!(ria.get(app, "/audit").await.status(), 200);
}

async fn head(db: &Db) -> (i64, String) {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// Rewrite every event from `from` on with fresh, self-consistent hashes
/// (after `edit` changes the first), and move the head to match: what an
/// attacker who knows the hashing would do.
async fn rewrite_from(db: &Db, from: i64, edit: impl Fn(&mut AuditRecord)) {
    let rows = sqlx::query(
        "SELECT seq, at, actor_id, actor_label, action, case_id, subject, detail, prev_hash \
         FROM audit_events WHERE seq >= $1 ORDER BY seq",
    )
    .bind(from)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut prev: String = rows[0].get("prev_hash");
    let mut last = (from - 1, prev.clone());
    for (i, row) in rows.iter().enumerate() {
        let mut record = AuditRecord {
            seq: row.get("seq"),
            at: row.get("at"),
            actor_id: row.get("actor_id"),
            actor_label: row.get("actor_label"),
            action: row.get("action"),
            case_id: row.get("case_id"),
            subject: row.get("subject"),
            detail: row.get("detail"),
        };
        if i == 0 {
            edit(&mut record);
        }
        let hash = chain_hash(&prev, &record);
        sqlx::query(
            "UPDATE audit_events SET action = $1, detail = $2, prev_hash = $3, hash = $4 WHERE seq = $5",
        )
        .bind(&record.action)
        .bind(&record.detail)
        .bind(&prev)
        .bind(&hash)
        .bind(record.seq)
        .execute(db.pool())
        .await
        .unwrap();
        last = (record.seq, hash.clone());
        prev = hash;
    }
    set_head(db, last.0, &last.1).await;
}

async fn set_head(db: &Db, seq: i64, hash: &str) {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(db.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_clean_log_verifies_with_and_without_its_checkpoints() {
    let app = TestApp::start().await;
    let cfg = config_for(&app);
    activity(&app).await;
    let db = app.db().await;
    let (seq_before, hash_before) = head(&db).await;

    // To standard output: one line of JSON.
    let (code, out, err) = confer(&["--config", &cfg, "audit", "checkpoint"]).await;
    assert_eq!(code, 0, "{err}");
    let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(printed["seq"], seq_before);
    assert_eq!(printed["hash"], hash_before.as_str());
    assert!(printed["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(printed.as_object().unwrap().len(), 3);

    // To a file; recorded in the database, and itself an audit event.
    let (first, c1) = take_checkpoint(&app, &cfg, "checkpoint-1.json").await;
    assert_eq!(
        c1.seq,
        seq_before + 1,
        "the first checkpoint's own event is in the second"
    );
    let recorded: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_checkpoints ORDER BY seq")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1], (c1.seq, c1.hash.clone()));
    let events = confer::store::audit::recent(&db, 1).await.unwrap();
    assert_eq!(events[0].action, "audit.checkpointed");
    // The recorded checkpoints cannot be rewritten either.
    let edit = sqlx::query("UPDATE audit_checkpoints SET seq = 1")
        .execute(db.pool())
        .await;
    assert!(edit.is_err(), "audit checkpoints are append-only");

    // More activity after the checkpoint: it still holds.
    activity(&app).await;
    let (second, _) = take_checkpoint(&app, &cfg, "checkpoint-2.json").await;
    let (code, out, err) = verify(&cfg, &[&first, &second]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Audit log verified: "), "{out}");
    assert!(out.contains("Checkpoints held: 2 of 2."), "{out}");
    // Without checkpoints the output is the one scripts already read.
    let (code, out, _) = verify(&cfg, &[]).await;
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "{out}");

    // A bad checkpoint file is bad usage (exit 2), not a broken log.
    let bad = app.data_dir.join("bad.json");
    std::fs::write(&bad, "{\"seq\": 3}").unwrap();
    let (code, _, err) = verify(&cfg, &[&bad]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.json") && err.contains("not a checkpoint"),
        "{err}"
    );
    let (code, _, err) = verify(&cfg, &[&app.data_dir.join("missing.json")]).await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot read checkpoint"), "{err}");

    // A file that cannot be written records nothing.
    let before = head(&db).await;
    let (code, _, err) = confer(&[
        "--config",
        &cfg,
        "audit",
        "checkpoint",
        "--out",
        app.data_dir.join("no-such-folder/c.json").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot write"), "{err}");
    assert_eq!(head(&db).await, before);
}

#[tokio::test]
async fn a_changed_byte_of_an_event_is_caught() {
    let app = TestApp::start().await;
    let cfg = config_for(&app);
    activity(&app).await;
    let db = app.db().await;
    let (seq, detail): (i64, String) = sqlx::query_as(
        "SELECT seq, detail FROM audit_events WHERE action = 'case.read' ORDER BY seq LIMIT 1",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    // One byte of the detail: "case overview" becomes "case overviex".
    let mut bytes = detail.into_bytes();
    let at = bytes.iter().rposition(|b| *b == b'w').unwrap();
    bytes[at] = b'x';
    let changed = String::from_utf8(bytes).unwrap();
    drop_append_only_guard(&db).await;
    sqlx::query("UPDATE audit_events SET detail = $1 WHERE seq = $2")
        .bind(&changed)
        .bind(seq)
        .execute(db.pool())
        .await
        .unwrap();
    let (code, _, err) = verify(&cfg, &[]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("event {seq} was altered after it was written")),
        "{err}"
    );
    assert!(
        err.contains(&format!("after {} good events", seq - 1)),
        "{err}"
    );
}

#[tokio::test]
async fn a_deleted_event_is_caught() {
    let app = TestApp::start().await;
    let cfg = config_for(&app);
    let db = app.db().await;
    drop_append_only_guard(&db).await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 7")
        .execute(db.pool())
        .await
        .unwrap();
    let (code, _, err) = verify(&cfg, &[]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("event 7 is missing (next stored event is 8)"),
        "{err}"
    );
}

#[tokio::test]
async fn two_events_swapped_are_caught() {
    let app = TestApp::start().await;
    let cfg = config_for(&app);
    let db = app.db().await;
    drop_append_only_guard(&db).await;
    // Swap the sequence numbers of events 8 and 9, through a spare number
    // (the primary key is checked row by row on PostgreSQL).
    for (from, to) in [(8, -8), (9, 8), (-8, 9)] {
        sqlx::query("UPDATE audit_events SET seq = $1 WHERE seq = $2")
            .bind(to)
            .bind(from)
            .execute(db.pool())
            .await
            .unwrap();
    }
    let (code, _, err) = verify(&cfg, &[]).await;
    assert_eq!(code, 1);
    assert!(err.contains("event 8 "), "{err}");
    assert!(err.contains("after 7 good events"), "{err}");
}

#[tokio::test]
async fn a_tail_rewritten_with_fresh_hashes_is_caught_by_a_checkpoint() {
    let app = TestApp::start().await;
    let cfg = config_for(&app);
    activity(&app).await;
    let (checkpoint, c) = take_checkpoint(&app, &cfg, "checkpoint.json").await;
    activity(&app).await;
    let db = app.db().await;

    // Hide a case read from before the checkpoint, recomputing every hash
    // after it and the head: the chain is consistent again.
    let (target,): (i64,) =
        sqlx::query_as("SELECT MAX(seq) FROM audit_events WHERE action = 'case.read' AND seq < $1")
            .bind(c.seq)
            .fetch_one(db.pool())
            .await
            .unwrap();
    drop_append_only_guard(&db).await;
    rewrite_from(&db, target, |r| {
        r.action = "session.signed_in".into();
        r.detail = "{\"method\":\"development\"}".into();
    })
    .await;

    let (code, out, err) = verify(&cfg, &[]).await;
    assert_eq!(code, 0, "without a checkpoint the rewrite passes: {err}");
    assert!(out.contains("Audit log verified"), "{out}");

    let (code, _, err) = verify(&cfg, &[&checkpoint]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("event {} does not match the checkpoint", c.seq)),
        "{err}"
    );
    assert!(err.contains("was rewritten"), "{err}");
}

#[tokio::test]
async fn a_tail_truncated_after_a_checkpoint_is_caught() {
    let app = TestApp::start().await;
    let cfg = config_for(&app);
    activity(&app).await;
    let (checkpoint, c) = take_checkpoint(&app, &cfg, "checkpoint.json").await;
    activity(&app).await;
    let db = app.db().await;

    // Remove the last events up to and past the checkpoint, and move the
    // head back so the chain alone looks whole.
    let keep = c.seq - 3;
    let (hash,): (String,) = sqlx::query_as("SELECT hash FROM audit_events WHERE seq = $1")
        .bind(keep)
        .fetch_one(db.pool())
        .await
        .unwrap();
    drop_append_only_guard(&db).await;
    sqlx::query("DELETE FROM audit_events WHERE seq > $1")
        .bind(keep)
        .execute(db.pool())
        .await
        .unwrap();
    set_head(&db, keep, &hash).await;

    let (code, out, err) = verify(&cfg, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("Audit log verified: {keep} events")),
        "{out}"
    );

    let (code, _, err) = verify(&cfg, &[&checkpoint]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "the log ends at event {keep}, but the checkpoint taken at {} holds event {}",
            c.at, c.seq
        )),
        "{err}"
    );
}
