//! Starting two real `confer` processes on one fresh PostgreSQL database,
//! for the cluster tests (`cluster.rs`, `cluster_retry.rs`): the binary,
//! the nodes (node B optionally as a database role of its own), and reading
//! the sequence numbers a client receives.

use std::path::PathBuf;

use crate::harness::{TestApp, fresh_database_url, postgres_admin_url};
use crate::ws_client::Ws;

/// Names the `confer` binary the cluster tests run (`.ci/run` sets it).
pub const BIN_ENV: &str = "CONFER_BIN";

/// The binary to run as nodes, or `None` (with a note saying why) when
/// the cluster tests cannot run here.
fn binary() -> Option<PathBuf> {
    if postgres_admin_url().is_none() {
        eprintln!(
            "note: cluster tests need CONFER_TEST_DATABASE_URL=postgres://…; skipped on SQLite"
        );
        return None;
    }
    match std::env::var_os(BIN_ENV).map(PathBuf::from) {
        Some(bin) if bin.is_file() => Some(bin),
        other => {
            eprintln!(
                "note: cluster tests run two real `confer` processes: `cargo build --bin confer` and set \
                 {BIN_ENV}=/absolute/path/to/target/debug/confer (now {other:?}); skipped"
            );
            None
        }
    }
}

/// Two `confer` processes on one fresh PostgreSQL database, with these
/// settings on top of the defaults (and the per-person send limit lifted:
/// these tests send hundreds of messages as one person), or `None` when
/// they cannot run here.
pub(crate) async fn two_nodes(
    env: &[(&str, &str)],
    smtp: Option<u16>,
) -> Option<(TestApp, TestApp, tempfile::TempDir)> {
    two_nodes_b_as(env, smtp, None).await
}

/// [`two_nodes`], node B connecting as database role `b_role` when given
/// (created here with every privilege on what node A migrated, so a test
/// can take one away from B alone).
pub(crate) async fn two_nodes_b_as(
    env: &[(&str, &str)],
    smtp: Option<u16>,
    b_role: Option<&str>,
) -> Option<(TestApp, TestApp, tempfile::TempDir)> {
    let bin = binary()?;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let mut nodes = Vec::new();
    // Every node seals and opens with the same key file (docs/deployment.md).
    let keys = dir.path().join("confer-keys.toml").display().to_string();
    let mut env = env.to_vec();
    env.push(("CONFER_ENCRYPTION__KEY_FILE", &keys));
    // One after the other: the first migrates and seeds the demo data.
    for name in ["a", "b"] {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let url = match (name, b_role) {
            ("b", Some(role)) => grant_all_to(&url, role).await,
            _ => url.clone(),
        };
        let mut b = TestApp::builder()
            .reuse(&data, &url)
            .bulk_senders()
            .process(&bin, &env);
        if let Some(port) = smtp {
            b = b.smtp(port);
        }
        nodes.push(b.start().await);
    }
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    Some((a, b, dir))
}

/// Create login role `role` (the test cluster trusts local connections)
/// with every privilege on `url`'s database as migrated; `url` as that role.
async fn grant_all_to(url: &str, role: &str) -> String {
    let admin = postgres_admin_url().unwrap();
    let mut pg = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
        .execute(&mut pg)
        .await
        .unwrap();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    for grant in [
        "GRANT ALL ON SCHEMA public TO {role}",
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(grant.replace("{role}", role)))
            .execute(&mut db)
            .await
            .unwrap();
    }
    let (scheme, rest) = url.split_once("://").unwrap();
    let (_, host_and_db) = rest.split_once('@').unwrap();
    format!("{scheme}://{role}@{host_and_db}")
}

/// The `message` frames' sequence numbers, read until `n` have come.
pub(crate) async fn seqs(ws: &mut Ws, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(ws.next_of(&["message"]).await["seq"].as_i64().unwrap());
    }
    out
}
