//! `TestApp`: the real server, started as a library call on port 0 with a
//! fresh database, and clients that talk to it over real TLS.
//!
//! The engine comes from one environment variable: unset, every test gets a
//! fresh SQLite file; `CONFER_TEST_DATABASE_URL=postgres://...` (an admin URL
//! to a throwaway cluster), every test gets a fresh PostgreSQL database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use confer::app::LaunchError;
use confer::config::{DatabaseUrl, Mode, OidcProvider, Settings, TlsMode};
use confer::domain::clock::{Clock, ManualClock, SystemClock};
use confer::store::Db;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ENGINE_ENV: &str = "CONFER_TEST_DATABASE_URL";

/// Whether this run uses PostgreSQL.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(ENGINE_ENV).ok().filter(|u| !u.is_empty())
}

/// A fresh, empty database for one test, on the engine this run uses.
pub async fn fresh_database_url(dir: &Path) -> String {
    match postgres_admin_url() {
        None => format!("sqlite://{}?mode=rwc", dir.join("confer.sqlite3").display()),
        Some(admin) => {
            let name = format!("confer_t_{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("connect to the PostgreSQL admin URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create a test database");
            url_with_database(&admin, &name)
        }
    }
}

fn url_with_database(admin: &str, name: &str) -> String {
    match admin.split_once('?') {
        Some((base, query)) => format!(
            "{}/{name}?{query}",
            base.rsplit_once('/').map_or(base, |(b, _)| b)
        ),
        None => format!(
            "{}/{name}",
            admin.rsplit_once('/').map_or(admin, |(b, _)| b)
        ),
    }
}

/// A change to the settings before the server starts.
type Configure = Box<dyn FnOnce(&mut Settings) + Send>;

/// How to start a test server.
pub struct Builder {
    mode: Mode,
    seed: bool,
    bind: SocketAddr,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    smtp_port: Option<u16>,
    oidc: Vec<OidcProvider>,
    configure: Option<Configure>,
    bulk: bool,
    process: Option<(PathBuf, Vec<(String, String)>)>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            mode: Mode::Development,
            seed: true,
            bind: "127.0.0.1:0".parse().expect("addr"),
            data_dir: None,
            database_url: None,
            smtp_port: None,
            oidc: Vec::new(),
            configure: None,
            bulk: false,
            process: None,
        }
    }
}

impl Builder {
    pub fn production(mut self) -> Self {
        self.mode = Mode::Production;
        self
    }
    pub fn without_demo_data(mut self) -> Self {
        self.seed = false;
        self
    }
    pub fn bind(mut self, addr: &str) -> Self {
        self.bind = addr.parse().expect("bind address");
        self
    }
    /// Send mail by SMTP to this port on loopback (see `smtp_sink.rs`).
    pub fn smtp(mut self, port: u16) -> Self {
        self.smtp_port = Some(port);
        self
    }
    /// Change any other setting before the server starts.
    pub fn configure(mut self, f: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.configure = Some(Box::new(f));
        self
    }
    /// Add an OpenID Connect provider to `auth.oidc`.
    pub fn oidc(mut self, provider: OidcProvider) -> Self {
        self.oidc.push(provider);
        self
    }
    /// A server for tests and benchmarks that send in bulk: hundreds of
    /// messages as one person within one minute of the test clock. The
    /// per-person send limit (`limits.messages_per_minute`, tested on its own
    /// in tests/it/limits.rs) is lifted; nothing else changes.
    pub fn bulk_senders(mut self) -> Self {
        self.bulk = true;
        self
    }
    /// Run the real `confer` binary at `bin` as a child process instead of
    /// serving in this process, configured by environment variables
    /// (`CONFER_<SECTION>__<KEY>`, as an operator would): these, on top of
    /// the data folder, listen address, database, mode, demo data, SMTP port
    /// and bulk senders from this builder. Its clock is the real one, and
    /// `configure` does not reach it.
    pub fn process(mut self, bin: &Path, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.process = Some((bin.to_path_buf(), env));
        self
    }
    /// Reuse a data directory and database (to restart "the same" server).
    pub fn reuse(mut self, data_dir: &Path, database_url: &str) -> Self {
        self.data_dir = Some(data_dir.to_path_buf());
        self.database_url = Some(database_url.to_string());
        self
    }

    pub async fn start(self) -> TestApp {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let database_url = match self.database_url {
            Some(u) => u,
            None => fresh_database_url(&data_dir).await,
        };
        let mut settings = Settings::default();
        settings.server.data_dir = data_dir.clone();
        settings.server.mode = self.mode;
        settings.server.seed_demo_data = self.seed;
        settings.server.log_level = "warn".into();
        settings.database.url = Some(DatabaseUrl::new(database_url.clone()));
        settings.database.max_connections = 4;
        if let Some(port) = self.smtp_port {
            settings.mail.transport = confer::config::MailTransport::Smtp;
            settings.mail.smtp.host = "127.0.0.1".into();
            settings.mail.smtp.port = port;
            settings.mail.smtp.security = confer::config::SmtpSecurity::None;
        }
        settings.auth.oidc = self.oidc;
        if self.bulk {
            settings.limits.messages_per_minute = 0;
        }
        if let Some((bin, env)) = self.process {
            assert!(
                self.configure.is_none(),
                "a child process takes `env`, not `configure`"
            );
            return spawn(&bin, &env, &settings, self.bind, temp).await;
        }
        if let Some(f) = self.configure {
            f(&mut settings);
        }
        if self.mode == Mode::Production {
            settings.server.tls.mode = TlsMode::Off;
        }
        let listener = std::net::TcpListener::bind(self.bind).expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let clock = ManualClock::at(SystemClock.now_ms());
        let (tx, rx) = oneshot::channel::<()>();
        let tls = settings.server.tls.mode != TlsMode::Off;
        let cert = confer::tls::dev_cert_paths(&data_dir).0;
        let join = tokio::spawn(confer::app::serve_with_clock(
            settings.clone(),
            listener,
            async {
                let _ = rx.await;
            },
            Arc::new(clock.clone()) as Arc<dyn Clock>,
        ));
        let base = if tls {
            format!("https://127.0.0.1:{port}")
        } else {
            format!("http://127.0.0.1:{port}")
        };
        let mut app = TestApp {
            base,
            port,
            cert: tls.then_some(cert),
            key_file: settings.key_file(),
            data_dir,
            database_url,
            clock,
            shutdown: Some(tx),
            join: Some(join),
            child: None,
            _temp: temp,
        };
        app.wait_until_ready().await;
        app
    }
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    cert: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// The encryption key file the server seals with.
    pub key_file: PathBuf,
    pub database_url: String,
    pub clock: ManualClock,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<Result<(), LaunchError>>>,
    /// The `confer` process, when the server runs as one (`Builder::process`).
    child: Option<std::process::Child>,
    _temp: tempfile::TempDir,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub async fn start() -> TestApp {
        Builder::default().start().await
    }

    /// The server's (injected) current time.
    pub fn clock_now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh client (its own cookie jar) that trusts the server's
    /// development certificate, and does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20));
        if let Some(cert) = &self.cert {
            let pem = std::fs::read(cert).expect("read the development certificate");
            let cert =
                reqwest::Certificate::from_pem(&pem).expect("parse the development certificate");
            b = b.add_root_certificate(cert).tls_built_in_root_certs(false);
        }
        b.build().expect("client")
    }

    /// Wait for `/readyz`: 45 s in this process (15 s ran out once on
    /// PostgreSQL while the machine also ran two release builds); 60 s for a `confer`
    /// process, which may first recover from being killed (tests/it/crash.rs).
    async fn wait_until_ready(&mut self) {
        let within = Duration::from_secs(if self.child.is_some() { 60 } else { 45 });
        let deadline = std::time::Instant::now() + within;
        // The certificate appears early in start-up; the client needs it.
        while self.cert.as_ref().is_some_and(|c| !c.is_file()) {
            self.check_running();
            assert!(
                std::time::Instant::now() < deadline,
                "no certificate within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let client = self.client();
        while std::time::Instant::now() < deadline {
            if let Ok(r) = client.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            self.check_running();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // A child's log says what it was waiting for (seen twice on
        // PostgreSQL under load: keep the evidence next time).
        let log = match &self.child {
            Some(_) => {
                let text =
                    std::fs::read_to_string(self.data_dir.join("confer.log")).unwrap_or_default();
                let tail: String = text
                    .chars()
                    .rev()
                    .take(8000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!(":\n{tail}")
            }
            None => String::new(),
        };
        panic!("the server did not become ready within {within:?}{log}");
    }

    fn check_running(&mut self) {
        if self.join.as_ref().is_some_and(|j| j.is_finished()) {
            panic!("the server stopped during start-up");
        }
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            let log = std::fs::read_to_string(self.data_dir.join("confer.log")).unwrap_or_default();
            panic!("the server stopped during start-up ({status}):\n{log}");
        }
    }

    /// The development certificate, for clients that need it (websockets).
    pub fn cert_pem(&self) -> Option<Vec<u8>> {
        self.cert
            .as_ref()
            .map(|c| std::fs::read(c).expect("read the development certificate"))
    }

    /// A case's id and its case channel's id, by the child's name.
    pub async fn case_and_channel(&self, child: &str) -> (String, String) {
        let db = self.db().await;
        let case = confer::store::cases::list_for_operator(&db)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.child_name == child)
            .expect("demo case");
        let row: (String,) =
            sqlx::query_as("SELECT id FROM channels WHERE case_id = $1 AND kind = 'case'")
                .bind(&case.id)
                .fetch_one(db.pool())
                .await
                .unwrap();
        (case.id, row.0)
    }

    /// A separate connection to the same database, for store-level checks.
    pub async fn db(&self) -> Db {
        Db::connect(&DatabaseUrl::new(self.database_url.clone()), 2)
            .await
            .expect("connect to the test database")
            .with_key_file(&self.key_file)
            .await
            .expect("the test server's key file")
    }

    /// Ask the server to stop and wait for it; returns what `serve` returned.
    pub async fn stop(mut self) -> Result<(), LaunchError> {
        self.stop_in_place().await
    }

    /// SIGKILL the `confer` process ([`Builder::process`]) and reap it: a
    /// crash, not a shutdown.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("a `confer` process");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait for the killed server");
    }

    async fn stop_in_place(&mut self) -> Result<(), LaunchError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.join.take() {
            Some(j) => j.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// Sign in through the development sign-in as the person with this
    /// email; returns a client holding the session cookie.
    pub async fn sign_in_as(&self, email: &str) -> reqwest::Client {
        self.sign_in(email).await.client
    }

    /// Sign in and keep everything an API or websocket client needs.
    pub async fn sign_in(&self, email: &str) -> Signed {
        let db = self.db().await;
        let person = confer::store::people::find_by_email(&db, email)
            .await
            .expect("demo person exists");
        db.close().await;
        let client = self.client();
        let res = client
            .post(self.url("/dev/sign-in"))
            .form(&[("person_id", person.id.as_str())])
            .send()
            .await
            .expect("sign in");
        assert_eq!(res.status(), 303, "development sign-in redirects");
        assert_eq!(res.headers()["location"], "/cases");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let session: serde_json::Value = client
            .get(self.url("/api/session"))
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("session json");
        Signed {
            client,
            cookie,
            csrf: session["csrf_token"]
                .as_str()
                .expect("csrf token")
                .to_string(),
            person_id: person.id,
            agency_id: person.agency_id,
        }
    }
}

/// A signed-in person: an HTTP client with their cookie, the raw cookie
/// (for websockets), and their CSRF token (for the JSON API's writes).
#[derive(Clone)]
pub struct Signed {
    pub client: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
    pub person_id: String,
    pub agency_id: String,
}

impl Signed {
    pub async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.client.get(app.url(path)).send().await.expect("GET")
    }
    pub async fn post_json(
        &self,
        app: &TestApp,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(app.url(path))
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .expect("POST")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Start the `confer` binary with `settings` given as environment variables
/// (and `env` on top); its output is appended to `confer.log` in its data
/// folder (so a restarted server's log follows the earlier runs').
async fn spawn(
    bin: &Path,
    env: &[(String, String)],
    settings: &Settings,
    bind: SocketAddr,
    temp: tempfile::TempDir,
) -> TestApp {
    // A free port: the child binds it itself a moment later.
    let port = std::net::TcpListener::bind(bind)
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let data_dir = settings.server.data_dir.clone();
    let database_url = settings
        .database
        .url
        .as_ref()
        .expect("a database URL")
        .expose()
        .to_string();
    let mut vars: Vec<(String, String)> = vec![
        (
            "CONFER_SERVER__DATA_DIR".into(),
            data_dir.display().to_string(),
        ),
        (
            "CONFER_SERVER__LISTEN".into(),
            format!("{}:{port}", bind.ip()),
        ),
        ("CONFER_DATABASE__URL".into(), database_url.clone()),
        (
            "CONFER_DATABASE__MAX_CONNECTIONS".into(),
            settings.database.max_connections.to_string(),
        ),
        (
            "CONFER_SERVER__LOG_LEVEL".into(),
            settings.server.log_level.clone(),
        ),
        (
            "CONFER_SERVER__SEED_DEMO_DATA".into(),
            settings.server.seed_demo_data.to_string(),
        ),
        (
            "CONFER_LIMITS__MESSAGES_PER_MINUTE".into(),
            settings.limits.messages_per_minute.to_string(),
        ),
    ];
    if settings.server.mode == Mode::Production {
        vars.push(("CONFER_SERVER__MODE".into(), "production".into()));
        vars.push(("CONFER_SERVER__TLS__MODE".into(), "off".into()));
    }
    if settings.mail.transport == confer::config::MailTransport::Smtp {
        vars.push(("CONFER_MAIL__TRANSPORT".into(), "smtp".into()));
        vars.push((
            "CONFER_MAIL__SMTP__HOST".into(),
            settings.mail.smtp.host.clone(),
        ));
        vars.push((
            "CONFER_MAIL__SMTP__PORT".into(),
            settings.mail.smtp.port.to_string(),
        ));
        vars.push(("CONFER_MAIL__SMTP__SECURITY".into(), "none".into()));
    }
    vars.extend(env.iter().cloned());
    let key_file = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "CONFER_ENCRYPTION__KEY_FILE")
        .map_or_else(|| settings.key_file(), |(_, v)| PathBuf::from(v));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("confer.log"))
        .expect("a log file");
    let child = std::process::Command::new(bin)
        .arg("serve")
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let tls = settings.server.mode != Mode::Production;
    let scheme = if tls { "https" } else { "http" };
    let mut app = TestApp {
        base: format!("{scheme}://127.0.0.1:{port}"),
        port,
        cert: tls.then(|| confer::tls::dev_cert_paths(&data_dir).0),
        key_file,
        data_dir,
        database_url,
        clock: ManualClock::at(SystemClock.now_ms()),
        shutdown: None,
        join: None,
        child: Some(child),
        _temp: temp,
    };
    app.wait_until_ready().await;
    app
}

/// Demo people (see server/src/seed.rs).
pub const SAM: &str = "sam.patel@northshire-council.example";
pub const TOM: &str = "tom.evans@riverside-academy.example";
pub const DANA: &str = "dana.wright@northshire-homes.example";
pub const RIA: &str = "ria.chen@northshire-council.example";
pub const LEE: &str = "lee.harris@northshire-police.example";
pub const ALEX: &str = "alex.morgan@northshire-council.example";
pub const KIM: &str = "kim.okafor@northshire-nhs.example";
