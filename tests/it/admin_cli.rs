//! The administration commands that bootstrap a deployment without a
//! browser, and `confer audit verify`, run against the suite's engine.

use std::path::Path;

use crate::configuration::confer;
use crate::harness::{TestApp, fresh_database_url};

/// A config file pointing at a fresh database on this run's engine.
async fn config_file(dir: &Path) -> String {
    let url = fresh_database_url(dir).await;
    let path = dir.join("confer.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{}\"\nseed_demo_data = false\n[database]\nurl = \"{url}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn bootstrap_a_partnership_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path()).await;
    let c = |args: &'static [&'static str]| {
        let cfg = cfg.clone();
        async move {
            let mut all = vec!["--config", cfg.as_str()];
            all.extend_from_slice(args);
            confer(&all).await
        }
    };

    let (code, out, err) = c(&["migrate"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("up to date"), "{out}");

    let (code, out, err) = c(&[
        "agency",
        "add",
        "--name",
        "Westshire Council",
        "--kind",
        "childrens_social_care",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Added agency Westshire Council (childrens_social_care)"),
        "{out}"
    );
    let (code, _, err) = c(&[
        "agency",
        "add",
        "--name",
        "Westshire Police",
        "--kind",
        "police",
        "--duty-email",
        "mash@police.example",
    ])
    .await;
    assert_eq!(code, 0, "{err}");

    // A kind the design does not name is refused with the list of kinds.
    let (code, _, err) = c(&["agency", "add", "--name", "X", "--kind", "social_services"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("childrens_social_care") && err.contains("youth_justice"),
        "{err}"
    );
    // The same name twice is a clear conflict.
    let (code, _, err) = c(&[
        "agency",
        "add",
        "--name",
        "Westshire Police",
        "--kind",
        "police",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");

    let (code, out, err) = c(&[
        "person",
        "add",
        "--agency",
        "Westshire Council",
        "--name",
        "Casey Social",
        "--email",
        "Casey.Social@Westshire.example",
        "--role",
        "practitioner",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("casey.social@westshire.example"),
        "emails are stored lower-cased: {out}"
    );
    let (code, _, err) = c(&[
        "person",
        "add",
        "--agency",
        "Westshire Police",
        "--name",
        "DC Pat Officer",
        "--email",
        "pat@westshire-police.example",
        "--role",
        "manager",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = c(&[
        "person",
        "add",
        "--agency",
        "Nowhere",
        "--name",
        "N",
        "--email",
        "n@nowhere.example",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("no agency named"), "{err}");
    let (code, _, err) = c(&[
        "person",
        "add",
        "--agency",
        "Westshire Police",
        "--name",
        "Bad",
        "--email",
        "not-an-email",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("not an email address"), "{err}");
    let (code, _, err) = c(&[
        "person",
        "add",
        "--agency",
        "Westshire Police",
        "--name",
        "R",
        "--email",
        "r@p.example",
        "--role",
        "root",
    ])
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("practitioner"), "{err}");

    let (code, out, err) = c(&[
        "case",
        "open",
        "--child-name",
        "Jordan Fictional",
        "--child-dob",
        "2015-02-03",
        "--la-reference",
        "WSC-1",
        "--lead",
        "casey.social@westshire.example",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let reference = out.split_whitespace().nth(2).unwrap().to_string();
    assert!(reference.starts_with("CF-"), "{out}");
    let (code, _, err) = c(&[
        "case",
        "open",
        "--child-name",
        "X",
        "--child-dob",
        "31/12/2015",
        "--la-reference",
        "W",
        "--lead",
        "casey.social@westshire.example",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("date of birth"), "{err}");

    let args = [
        "--config",
        cfg.as_str(),
        "case",
        "add-member",
        "--case",
        reference.as_str(),
        "--person",
        "pat@westshire-police.example",
        "--reason",
        "police lead",
        "--until",
        "2099-12-31",
    ];
    let (code, out, err) = confer(&args).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Added DC Pat Officer"), "{out}");
    let (code, _, err) = confer(&args).await;
    assert_eq!(code, 1, "adding a current member again is refused");
    assert!(err.contains("already a member"), "{err}");

    // The operator's case list shows references, never children's names.
    let (code, out, _) = c(&["case", "list"]).await;
    assert_eq!(code, 0);
    assert!(out.contains(&reference) && !out.contains("Jordan"), "{out}");

    // The case is visible to its members, through the store's access rule.
    let settings = confer::config::Settings::load_from(Some(Path::new(&cfg)), vec![]).unwrap();
    let db = confer::app::open_database(&settings).await.unwrap();
    let pat = confer::store::people::find_by_email(&db, "pat@westshire-police.example")
        .await
        .unwrap();
    let visible = confer::store::cases::list_for(&db, &pat.actor(), now())
        .await
        .unwrap();
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0].reference, reference);

    let args = [
        "--config",
        cfg.as_str(),
        "case",
        "remove-member",
        "--case",
        reference.as_str(),
        "--person",
        "pat@westshire-police.example",
        "--reason",
        "enquiry closed",
    ];
    let (code, _, err) = confer(&args).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        confer::store::cases::list_for(&db, &pat.actor(), now())
            .await
            .unwrap()
            .is_empty()
    );

    // Every change above is in the audit log, and the chain verifies.
    let (code, out, err) = c(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Audit log verified: 8 events"), "{out}");
}

fn now() -> i64 {
    use confer::domain::clock::Clock;
    confer::domain::clock::SystemClock.now_ms()
}

#[tokio::test]
async fn audit_verify_detects_an_altered_or_truncated_log() {
    let app = TestApp::start().await; // seeds the demo partnership: many audit events
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
    let cfg = cfg.display().to_string();
    let (code, out, err) = confer(&["--config", &cfg, "audit", "verify"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Audit log verified"), "{out}");

    // The log refuses edits through SQL...
    let db = app.db().await;
    let edit = sqlx::query("UPDATE audit_events SET action = 'nothing.happened' WHERE seq = 5")
        .execute(db.pool())
        .await;
    assert!(edit.is_err(), "audit events are append-only");

    // ...so an attacker with the database must first drop the guard; verify
    // then names the first altered event.
    drop_append_only_guard(&db).await;
    sqlx::query("UPDATE audit_events SET action = 'nothing.happened' WHERE seq = 5")
        .execute(db.pool())
        .await
        .unwrap();
    let (code, _, err) = confer(&["--config", &cfg, "audit", "verify"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("event 5 was altered"), "{err}");
}

#[tokio::test]
async fn audit_verify_detects_events_removed_from_the_end() {
    let app = TestApp::start().await;
    let db = app.db().await;
    drop_append_only_guard(&db).await;
    sqlx::query("DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)")
        .execute(db.pool())
        .await
        .unwrap();
    let v = confer::store::audit::verify(&db).await.unwrap();
    assert!(
        v.problem
            .as_deref()
            .unwrap_or_default()
            .contains("removed from the end"),
        "{v:?}"
    );
}

async fn drop_append_only_guard(db: &confer::store::Db) {
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
