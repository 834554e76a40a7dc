//! Encryption at rest of the child's identity (issue 9 part 5): the raw
//! database holds no plaintext of a child's name, date of birth or
//! local-authority reference, the pages still show them to the case team,
//! and `confer keys rotate` re-seals every case under a new key while the
//! server runs.

use crate::backup::config;
use crate::configuration::confer;
use crate::harness::{SAM, Signed, TestApp, postgres_admin_url};

/// The demo children's identities (server/src/seed.rs).
const IDENTITIES: [&str; 6] = [
    "Ashworth",
    "NCC-104233",
    "2013-04-17",
    "Brennan",
    "NCC-099871",
    "2010-11-02",
];

/// Every stored value of the sealed columns.
async fn stored(app: &TestApp) -> Vec<String> {
    let db = app.db().await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT child_name, child_dob, la_reference FROM cases")
            .fetch_all(db.pool())
            .await
            .unwrap();
    db.close().await;
    rows.into_iter().flat_map(|(a, b, c)| [a, b, c]).collect()
}

/// The case page as `who` sees it.
async fn case_page(app: &TestApp, who: &Signed, case_id: &str) -> String {
    who.get(app, &format!("/cases/{case_id}"))
        .await
        .text()
        .await
        .unwrap()
}

/// The current key's id, from `confer keys list`'s output.
fn current_key(list: &str) -> String {
    list.lines()
        .nth(1)
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_database_holds_no_plaintext_of_a_childs_identity() {
    let app = TestApp::start().await;
    let sam = app.sign_in(SAM).await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let page = case_page(&app, &sam, &case_id).await;
    assert!(
        page.contains("Lily Ashworth") && page.contains("NCC-104233"),
        "the case team still sees the child"
    );

    let values = stored(&app).await;
    assert_eq!(values.len(), 9);
    for v in &values {
        assert!(v.starts_with("cf1:k"), "sealed with a key id: {v}");
        for who in IDENTITIES {
            assert!(!v.contains(who), "{who} in {v}");
        }
    }
    if postgres_admin_url().is_some() {
        return; // PostgreSQL's files are the server's; the columns are checked above.
    }
    // The raw SQLite files, as a thief with a copy of the disk would read them.
    let mut raw = Vec::new();
    for name in ["confer.sqlite3", "confer.sqlite3-wal"] {
        if let Ok(bytes) = std::fs::read(app.data_dir.join(name)) {
            raw.extend(bytes);
        }
    }
    assert!(
        raw.len() > 100_000,
        "read the database: {} bytes",
        raw.len()
    );
    for who in IDENTITIES {
        let hit = raw.windows(who.len()).any(|w| w == who.as_bytes());
        assert!(!hit, "{who} appears in the raw database file");
    }
    assert!(
        raw.windows(4).any(|w| w == b"cf1:"),
        "the file does hold the sealed values"
    );
}

#[tokio::test]
async fn rotating_the_key_reseals_every_case_while_the_server_runs() {
    let app = TestApp::start().await;
    let sam = app.sign_in(SAM).await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &app.data_dir, Some(&app.database_url));

    let (code, before, err) = confer(&["--config", &cfg, "keys", "list"]).await;
    assert_eq!(code, 0, "{err}");
    let first = current_key(&before);
    assert!(
        before.contains(&format!("{first} (current): seals 3 case(s)")),
        "{before}"
    );

    let (code, out, err) = confer(&["--config", &cfg, "keys", "rotate"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Re-sealed 3 case(s)"), "{out}");
    let (_, after, _) = confer(&["--config", &cfg, "keys", "list"]).await;
    let second = current_key(&after);
    assert_ne!(first, second);
    assert!(
        after.contains(&format!("{second} (current): seals 3 case(s)")),
        "{after}"
    );
    assert!(
        after.contains(&format!("{first}: seals 0 case(s)")),
        "{after}"
    );
    for v in stored(&app).await {
        assert!(v.starts_with(&format!("cf1:{second}:")), "{v}");
    }
    // The running server reads the re-sealed values without a restart.
    let page = case_page(&app, &sam, &case_id).await;
    assert!(
        page.contains("Lily Ashworth"),
        "the case page after rotation"
    );
    // The rotation is in the audit log, and the chain still verifies.
    let (code, out, err) = confer(&["--config", &cfg, "audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
}
