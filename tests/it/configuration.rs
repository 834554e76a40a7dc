//! Configuration: layering, unknown keys, bad values, secrets from files and
//! their redaction, as `confer check-config` shows them.

use std::ffi::OsString;
use std::path::Path;

use confer::config::{Engine, Settings};

/// Run the real command line in-process; returns (exit code, stdout, stderr).
pub async fn confer(args: &[&str]) -> (u8, String, String) {
    let mut argv: Vec<OsString> = vec!["confer".into()];
    argv.extend(args.iter().map(OsString::from));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = confer::cli::run(argv, &mut out, &mut err).await;
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn built_in_defaults_match_config_default_toml() {
    let defaults = Settings::load_from(None, vec![]).unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.toml");
    let from_file = Settings::load_from(Some(&file), vec![]).unwrap();
    assert_eq!(defaults.to_redacted_toml(), from_file.to_redacted_toml());
    assert_eq!(defaults.server.listen, "127.0.0.1:8443");
    assert_eq!(defaults.server.data_dir, Path::new("./data"));
    assert_eq!(defaults.database_url().engine(), Some(Engine::Sqlite));
    assert!(
        defaults
            .database_url()
            .expose()
            .contains("data/confer.sqlite3")
    );
}

#[tokio::test]
async fn the_production_example_is_valid_apart_from_its_files() {
    // The example names files under /etc/confer that this machine lacks; the
    // only complaint must be about such a file, never an unknown key.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.example.toml");
    let err = Settings::load_from(Some(&file), vec![]).unwrap_err();
    assert!(
        err.to_string().contains("cannot read /etc/confer/"),
        "{err}"
    );
}

#[tokio::test]
async fn environment_overrides_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.toml",
        "[server]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/srv/confer\"\n[database]\nmax_connections = 3\n",
    );
    let env = vec![
        (
            "CONFER_SERVER__LISTEN".to_string(),
            "127.0.0.1:9443".to_string(),
        ),
        (
            "CONFER_DATABASE__URL".to_string(),
            "postgres://confer@db.internal/confer".to_string(),
        ),
        // Not configuration: no section separator. Must be ignored, not rejected.
        (
            "CONFER_TEST_DATABASE_URL".to_string(),
            "whatever".to_string(),
        ),
        // Digits stay text where the key is text, and become numbers where it is a number.
        (
            "CONFER_MAIL__SMTP__PASSWORD".to_string(),
            "123456".to_string(),
        ),
        (
            "CONFER_SERVER__SHUTDOWN_GRACE_SECONDS".to_string(),
            "5".to_string(),
        ),
        (
            "CONFER_SERVER__SEED_DEMO_DATA".to_string(),
            "false".to_string(),
        ),
    ];
    let s = Settings::load_from(Some(Path::new(&file)), env).unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:9443");
    assert_eq!(s.server.data_dir, Path::new("/srv/confer"));
    assert_eq!(s.database.max_connections, 3);
    assert_eq!(s.database_url().engine(), Some(Engine::Postgres));
    assert_eq!(s.mail.smtp.password.as_ref().unwrap().expose(), "123456");
    assert_eq!(s.server.shutdown_grace_seconds, 5);
    assert!(!s.server.seed_demo_data);
}

#[tokio::test]
async fn unknown_keys_are_errors_that_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.toml", "[server]\nlisen = \"127.0.0.1:1\"\n");
    let (code, out, err) = confer(&["--config", &file, "check-config"]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("server.lisen:"), "{err}");
    assert!(!err.contains("lisen.lisen"), "the key is named once: {err}");
    assert!(err.contains("unknown key"), "{err}");
    assert!(out.is_empty());

    let e =
        Settings::load_from(None, vec![("CONFER_SERVR__LISTEN".into(), "x".into())]).unwrap_err();
    assert!(e.to_string().contains("servr"), "{e}");
}

#[tokio::test]
async fn bad_values_are_errors_that_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        (
            "[database]\nurl = \"mysql://root@localhost/confer\"\n",
            "database.url",
        ),
        ("[database]\nurl = \"postgres://\"\n", "database.url"),
        ("[server]\nlisten = \"localhost\"\n", "server.listen"),
        (
            "[server.tls]\nmode = \"files\"\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n",
            "server.tls.cert_file",
        ),
        (
            "[server.tls]\nmode = \"off\"\n[server]\nlisten = \"0.0.0.0:8443\"\n",
            "server.tls.mode",
        ),
        ("[server]\nmode = \"staging\"\n", "server.mode"),
        (
            "[database]\nmax_connections = \"many\"\n",
            "database.max_connections",
        ),
        (
            "[database]\nurl_file = \"/nonexistent/secret\"\n",
            "database.url_file",
        ),
        (
            "[sharing]\noverride_needs_manager_approval = \"sometimes\"\n",
            "sharing.override_needs_manager_approval",
        ),
        (
            "[sharing]\noverride_needs_approval = true\n",
            "sharing.override_needs_approval",
        ),
    ] {
        let file = write(dir.path(), "c.toml", text);
        let (code, _, err) = confer(&["--config", &file, "check-config"]).await;
        assert_eq!(code, 2, "{text} should fail: {err}");
        assert!(err.contains(key), "{text}: error should name {key}: {err}");
    }
    let (code, _, err) = confer(&["--config", "/nonexistent/confer.toml", "check-config"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn secrets_come_from_files_and_never_appear_in_check_config_or_debug() {
    let dir = tempfile::tempdir().unwrap();
    let db_secret = write(
        dir.path(),
        "db",
        "postgres://confer:s3cr3t-db-pw@db.internal:5432/confer\n",
    );
    let smtp_secret = write(dir.path(), "smtp", "s3cr3t-smtp-pw\n");
    let oidc_secret = write(dir.path(), "oidc", "s3cr3t-client\n");
    let file = write(
        dir.path(),
        "c.toml",
        &format!(
            "[database]\nurl_file = \"{db_secret}\"\n[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"smtp.example\"\nusername = \"confer\"\npassword_file = \"{smtp_secret}\"\n\
             [[auth.oidc]]\nid = \"police\"\nagency = \"Northshire Police\"\nissuer = \"https://idp.example\"\nclient_id = \"confer\"\nclient_secret_file = \"{oidc_secret}\"\n"
        ),
    );
    let settings = Settings::load_from(Some(Path::new(&file)), vec![]).unwrap();
    assert_eq!(
        settings.mail.smtp.password.as_ref().unwrap().expose(),
        "s3cr3t-smtp-pw"
    );
    assert_eq!(
        settings.auth.oidc[0]
            .client_secret
            .as_ref()
            .unwrap()
            .expose(),
        "s3cr3t-client"
    );
    assert!(settings.database_url().expose().contains("s3cr3t-db-pw"));

    let debug = format!("{settings:?}");
    let (code, out, err) = confer(&["--config", &file, "check-config"]).await;
    assert_eq!(code, 0, "{err}");
    for shown in [&debug, &out] {
        assert!(!shown.contains("s3cr3t"), "a secret leaked: {shown}");
        assert!(shown.contains("[redacted]"));
    }
    // What is not secret is still shown, so the operator can check it.
    assert!(
        out.contains("postgres://confer:[redacted]@db.internal:5432/confer"),
        "{out}"
    );
    assert!(out.contains("smtp.example"));

    // Giving a secret both inline and as a file is ambiguous.
    let both = write(
        dir.path(),
        "both.toml",
        &format!("[database]\nurl = \"sqlite://x\"\nurl_file = \"{db_secret}\"\n"),
    );
    let (code, _, err) = confer(&["--config", &both, "check-config"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("database.url"), "{err}");
}

#[tokio::test]
async fn help_reads_well_for_every_command() {
    let (code, out, _) = confer(&["--help"]).await;
    assert_eq!(code, 0);
    for command in [
        "serve",
        "migrate",
        "check-config",
        "agency",
        "person",
        "case",
        "audit",
    ] {
        assert!(out.contains(command), "--help lists {command}: {out}");
    }
    for args in [
        vec!["serve", "--help"],
        vec!["agency", "add", "--help"],
        vec!["person", "add", "--help"],
        vec!["case", "open", "--help"],
        vec!["case", "add-member", "--help"],
        vec!["audit", "verify", "--help"],
    ] {
        let (code, out, err) = confer(&args).await;
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage: confer"), "{args:?}: {out}");
    }
    let (code, out, _) = confer(&["--version"]).await;
    assert_eq!(code, 0);
    assert!(out.contains(confer::VERSION));
}

#[tokio::test]
async fn manager_approval_of_overrides_is_off_by_default_and_can_be_turned_on() {
    let defaults = Settings::load_from(None, vec![]).unwrap();
    assert!(!defaults.sharing.override_needs_manager_approval);
    let on = Settings::load_from(
        None,
        vec![(
            "CONFER_SHARING__OVERRIDE_NEEDS_MANAGER_APPROVAL".into(),
            "true".into(),
        )],
    )
    .unwrap();
    assert!(on.sharing.override_needs_manager_approval);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.example.toml");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("override_needs_manager_approval = true"));
}
