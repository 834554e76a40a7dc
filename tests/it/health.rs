use crate::harness::TestApp;

#[tokio::test]
async fn healthz_reports_liveness_and_version() {
    let app = TestApp::start().await;
    let res = app.client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], confer::VERSION);
}

#[tokio::test]
async fn readyz_is_ready_only_while_migrations_are_applied() {
    let app = TestApp::start().await;
    let client = app.client();
    let res = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );

    // Someone rolls the schema back underneath the server: it must stop
    // claiming readiness, and say why.
    let db = app.db().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(db.pool())
        .await
        .unwrap();
    let res = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("migrations not applied"),
        "{body}"
    );

    // Liveness is unaffected.
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_schema_is_applied_at_start_up_and_reapplying_is_a_no_op() {
    let app = TestApp::start().await;
    let db = app.db().await;
    // All tables of the first schema exist.
    for table in [
        "agencies",
        "people",
        "cases",
        "case_memberships",
        "audit_events",
        "audit_head",
        "sessions",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(db.pool())
            .await
            .unwrap_or_else(|e| panic!("table {table}: {e}"));
    }
    // As many as the engine's migrations folder holds (both folders hold the same set).
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let files = std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(db.migrate().await.unwrap(), files);
    assert_eq!(db.readiness().await, confer::store::Readiness::Ready);
}
