//! Encryption at rest of what practitioners write (issue 9 part 5, second
//! half): message text, its earlier versions and return-home-interview
//! findings are sealed; the search index holds keyed word hashes, never the
//! words, and still finds them; `confer keys rotate` re-seals and
//! re-indexes; a database written before sealing began is sealed when the
//! server starts.

use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::backup::config;
use crate::configuration::confer;
use crate::harness::{SAM, Signed, TestApp, fresh_database_url, postgres_admin_url};
use crate::missing_findings::{Interviewed, with_findings};
use crate::search::found;

/// Words from the message and the findings (tests/it/missing_findings.rs)
/// that must never be stored as they are.
const SECRETS: [&str; 7] = [
    "Marigold Crescent",
    "Edited to say Juniper",
    "Dean Marsh",
    "Mill Road takeaway",
    "grey Astra",
    "curfew",
    "Older friends with money",
];

/// Every sealed column's stored values, and every `search_terms`.
async fn stored_text(app: &TestApp) -> Vec<String> {
    let db = app.db().await;
    let mut out = Vec::new();
    for sql in [
        "SELECT body FROM messages",
        "SELECT search_terms FROM messages",
        "SELECT body FROM message_versions",
        "SELECT free_text || push_factors || where_child_was || child_wishes FROM rhi_findings",
        "SELECT search_terms FROM rhi_findings",
        "SELECT value || note FROM finding_entries",
        "SELECT search_terms FROM finding_entries",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(db.pool()).await.unwrap();
        out.extend(rows.into_iter().map(|(v,)| v));
    }
    db.close().await;
    out
}

/// The raw SQLite files, as a thief with a copy of the disk reads them.
fn raw_sqlite(app: &TestApp) -> Vec<u8> {
    let mut raw = Vec::new();
    for name in ["confer.sqlite3", "confer.sqlite3-wal"] {
        if let Ok(bytes) = std::fs::read(app.data_dir.join(name)) {
            raw.extend(bytes);
        }
    }
    raw
}

fn snippets(hits: &[serde_json::Value], kind: &str) -> Vec<String> {
    hits.iter()
        .filter(|h| h["type"] == kind)
        .map(|h| h["snippet"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Post `first` in a new channel of a new case, then edit it to `second`.
async fn post_and_edit(app: &TestApp, sam: &Signed, client_id: &str, first: &str, second: &str) {
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let path = format!("/api/channels/{ch}/messages");
    let res = sam
        .post_json(
            app,
            &path,
            &json!({ "client_id": client_id, "body": first }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let seq = res.json::<serde_json::Value>().await.unwrap()["seq"]
        .as_i64()
        .unwrap();
    let res = sam
        .client
        .patch(app.url(&format!("{path}/{seq}")))
        .header("x-csrf-token", &sam.csrf)
        .json(&json!({ "body": second }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn messages_and_findings_are_sealed_found_by_search_and_reindexed_on_rotation() {
    let Interviewed { app, sam, .. } = with_findings(TestApp::start().await).await;
    // An edit keeps the first text in message_versions: sealed too.
    post_and_edit(
        &app,
        &sam,
        "enc-1",
        "Seen by the Marigold Crescent bus shelter at 9pm.",
        "Edited to say Juniper Row, seen by the Marigold Crescent shelter.",
    )
    .await;

    // Nothing readable in the columns (both engines)...
    let values = stored_text(&app).await;
    assert!(values.len() >= 7, "{values:?}");
    for v in &values {
        for secret in SECRETS {
            assert!(
                !v.to_lowercase().contains(&secret.to_lowercase()),
                "{secret} in {v}"
            );
        }
    }
    // ...nor in the raw SQLite file, where the FTS index lives too.
    if postgres_admin_url().is_none() {
        let raw = raw_sqlite(&app);
        assert!(raw.len() > 100_000, "read the database");
        for secret in SECRETS {
            let hit = raw.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!hit, "{secret} appears in the raw database file");
        }
    }

    // Search still finds them by their words (stemmed), with a readable snippet.
    let hits = found(&app, &sam, "marigold shelters").await;
    assert_eq!(
        snippets(&hits, "message"),
        vec!["Edited to say Juniper Row, seen by the Marigold Crescent shelter.".to_string()]
    );
    assert_eq!(
        snippets(&found(&app, &sam, "juniper").await, "message").len(),
        1
    );
    assert!(snippets(&found(&app, &sam, "tuesday marigold").await, "message").is_empty());
    let f = snippets(&found(&app, &sam, "Dean Marsh").await, "findings");
    assert_eq!(
        f.len(),
        1,
        "the restricted entry, for the case-holding agency"
    );
    assert!(f[0].contains("Dean Marsh"), "{f:?}");
    assert_eq!(
        snippets(&found(&app, &sam, "curfew").await, "findings").len(),
        1
    );

    // Rotation re-seals and re-indexes everything under the new key; the
    // running server finds the same things.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &app.data_dir, Some(&app.database_url));
    let (code, out, err) = confer(&["--config", &cfg, "keys", "rotate"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("message_versions"), "{out}");
    let (_, list, _) = confer(&["--config", &cfg, "keys", "list"]).await;
    let mut lines = list.lines().skip(1);
    let current = lines.next().unwrap_or_default().to_string();
    let old = lines.next().unwrap_or_default().to_string();
    assert!(
        current.contains("(current)")
            && !current.contains(" 0 messages")
            && current.contains("1 message_versions")
            && current.contains("1 rhi_findings")
            && current.contains("2 finding_entries"),
        "{list}"
    );
    assert!(
        old.contains(
            "0 case(s), 0 finding_entries, 0 message_versions, 0 messages, 0 rhi_findings"
        ),
        "{list}"
    );
    let new_key = current.split(' ').next().unwrap_or_default().to_string();
    let terms_before: Vec<String> = values
        .iter()
        .filter(|v| v.starts_with('t'))
        .cloned()
        .collect();
    for v in stored_text(&app).await {
        assert!(
            v.is_empty() || v.starts_with(&format!("cf1:{new_key}:")) || v.starts_with('t'),
            "{v}"
        );
        if v.starts_with('t') {
            assert!(!terms_before.contains(&v), "re-indexed under the new key");
        }
    }
    assert_eq!(
        snippets(&found(&app, &sam, "marigold").await, "message").len(),
        1
    );
    assert_eq!(
        snippets(&found(&app, &sam, "takeaway").await, "findings").len(),
        1
    );
    let (code, out, err) = confer(&["--config", &cfg, "audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn text_written_before_sealing_began_is_sealed_and_indexed_when_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let app = TestApp::builder().reuse(dir.path(), &url).start().await;
    let sam = app.sign_in(SAM).await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let res = sam
        .post_json(
            &app,
            &format!("/api/channels/{ch}/messages"),
            &json!({ "client_id": "old-1", "body": "placeholder" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    // As an older version stored it: plaintext, no index.
    let db = app.db().await;
    sqlx::query("UPDATE messages SET body = 'Quokka seen by the canal lock', search_terms = '' WHERE client_id = 'old-1'")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    assert!(
        found(&app, &sam, "quokka").await.is_empty(),
        "not indexed yet"
    );
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), &app.data_dir, Some(&app.database_url));
    let (_, list, _) = confer(&["--config", &cfg, "keys", "list"]).await;
    assert!(
        list.contains("plaintext: 0 case(s), 0 finding_entries, 0 message_versions, 1 messages"),
        "{list}"
    );

    app.stop().await.unwrap();
    let app = TestApp::builder().reuse(dir.path(), &url).start().await;
    let sam = app.sign_in(SAM).await;
    let mut hits = Vec::new();
    for _ in 0..100 {
        hits = found(&app, &sam, "quokkas").await;
        if !hits.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        snippets(&hits, "message"),
        vec!["Quokka seen by the canal lock".to_string()]
    );
    let body = stored_body(&app, "old-1").await;
    assert!(body.starts_with("cf1:k"), "{body}");
    let (_, list, _) = confer(&["--config", &cfg, "keys", "list"]).await;
    assert!(!list.contains("plaintext"), "{list}");
    assert_eq!(sealed_marker(&app).await.as_deref(), Some("sealed"));
}

/// The sealing marker's state (migration 0012), once the walk a start
/// began has had time to finish.
async fn sealed_marker(app: &TestApp) -> Option<String> {
    let mut state = None;
    for _ in 0..100 {
        state = marker(app).await;
        if state.as_deref() == Some("sealed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    state
}

async fn marker(app: &TestApp) -> Option<String> {
    let db = app.db().await;
    let state: Option<(String,)> = sqlx::query_as("SELECT state FROM sealing_marker")
        .fetch_optional(db.pool())
        .await
        .unwrap();
    db.close().await;
    state.map(|(s,)| s)
}

/// The stored body of the message with this `client_id`.
async fn stored_body(app: &TestApp, client_id: &str) -> String {
    let db = app.db().await;
    let (body,): (String,) = sqlx::query_as("SELECT body FROM messages WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    body
}

async fn execute(app: &TestApp, sql: &str) {
    let db = app.db().await;
    sqlx::query(AssertSqlSafe(sql))
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
}

const MARK_SEALED: &str = "INSERT INTO sealing_marker (id, state) VALUES (1, 'sealed') \
     ON CONFLICT (id) DO UPDATE SET state = 'sealed'";

/// What an older version (or a hand edit) writes: plaintext, no index.
const PLAINTEXT_WRITES: [&str; 8] = [
    "UPDATE messages SET body = 'Plain words' WHERE client_id = 'm-1'",
    "UPDATE message_versions SET body = 'Plain words'",
    "UPDATE rhi_findings SET free_text = 'Plain words'",
    "UPDATE finding_entries SET note = 'Plain words'",
    "UPDATE cases SET la_reference = 'LA-PLAIN'",
    "INSERT INTO messages (id, channel_id, seq, author_id, client_id, body, created_at) \
     SELECT id || '-old', channel_id, seq + 1000, author_id, 'old-insert', 'Plain words', created_at \
     FROM messages WHERE client_id = 'm-1'",
    "INSERT INTO message_versions (message_id, version, body, replaced_at, replaced_by, change) \
     SELECT message_id, version + 1000, 'Plain words', replaced_at, replaced_by, change \
     FROM message_versions",
    "INSERT INTO finding_entries (id, findings_id, case_id, position, kind, value) \
     SELECT id || '-old', findings_id, case_id, position + 1000, kind, 'Plain words' \
     FROM finding_entries",
];

#[tokio::test]
async fn a_sealed_database_is_not_walked_at_start_and_any_plaintext_write_clears_the_marker() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let app = TestApp::builder().reuse(dir.path(), &url).start().await;
    let Interviewed { app, sam, .. } = with_findings(app).await;
    post_and_edit(&app, &sam, "m-1", "First words", "Second words").await;
    // A new database is walked once (nothing to seal) and marked; what
    // this version writes is sealed and leaves the mark alone.
    assert_eq!(sealed_marker(&app).await.as_deref(), Some("sealed"));
    execute(&app, "UPDATE messages SET body = body").await;
    assert_eq!(marker(&app).await.as_deref(), Some("sealed"));

    // Whatever writes plaintext into a sealed column, on any table, clears it.
    for sql in PLAINTEXT_WRITES {
        execute(&app, MARK_SEALED).await;
        execute(&app, sql).await;
        assert_eq!(marker(&app).await, None, "{sql}");
    }

    // With the mark present (here a false one), a start trusts it and
    // walks nothing: it looks at the mark before it serves, and a walk
    // would have claimed it ('sealing') or sealed the row.
    execute(&app, MARK_SEALED).await;
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), &app.data_dir, Some(&app.database_url));
    app.stop().await.unwrap();
    let app = TestApp::builder().reuse(dir.path(), &url).start().await;
    app.sign_in(SAM).await;
    assert_eq!(marker(&app).await.as_deref(), Some("sealed"));
    let body = stored_body(&app, "m-1").await;
    assert_eq!(body, "Plain words");

    // `keys rotate` seals everything and sets the mark.
    execute(&app, "DELETE FROM sealing_marker").await;
    let (code, _, err) = confer(&["--config", &cfg, "keys", "rotate"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(marker(&app).await.as_deref(), Some("sealed"));
    let (_, list, _) = confer(&["--config", &cfg, "keys", "list"]).await;
    assert!(!list.contains("plaintext"), "{list}");
}
