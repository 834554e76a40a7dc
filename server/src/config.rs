//! Configuration: built-in defaults → a TOML file → environment variables
//! `CONFER_<SECTION>__<KEY>` (e.g. `CONFER_SERVER__LISTEN`).
//!
//! Unknown keys are errors (a typo must not silently fall back to a default).
//! Secrets may be given inline or through a `*_file` key naming a file that
//! holds them; either way they are wrapped in [`Secret`], whose `Debug` and
//! `Serialize` print `[redacted]`, so they never reach logs or `check-config`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize, Serializer};

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A secret value. Never printed: `Debug` and `Serialize` show `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// A database URL: it may hold a password, so `Debug` and `Serialize` mask it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced by `[redacted]`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("[redacted]"));
                u.to_string().replace("%5Bredacted%5D", "[redacted]")
            }
            Ok(u) => u.to_string(),
            Err(_) => "[unparseable, redacted]".into(),
        }
    }
    pub fn engine(&self) -> Option<Engine> {
        if self.0.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if self.0.starts_with("postgres://") || self.0.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// The two storage engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Whether this is a development install (self-signed TLS, demo data, the
/// development sign-in) or a real deployment.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Generate (once) a self-signed certificate for localhost in the data directory.
    #[default]
    SelfSigned,
    /// Use `cert_file` and `key_file` (PEM).
    Files,
    /// Plain HTTP, only allowed on a loopback address (TLS terminated by a local proxy).
    Off,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub mail: MailSettings,
    pub auth: AuthSettings,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on. Fixed key: `CONFER_SERVER__LISTEN`.
    pub listen: String,
    /// Where the SQLite file, development certificate and mail outbox live.
    /// Fixed key: `CONFER_SERVER__DATA_DIR`.
    pub data_dir: PathBuf,
    pub mode: Mode,
    /// The address people use to reach Confer, e.g. `https://confer.example.org`.
    /// Used for links in mail and for the same-origin check on requests.
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `confer=debug,tower_http=info`.
    pub log_level: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests get to finish on shutdown, in seconds.
    pub shutdown_grace_seconds: u64,
    /// In development mode, seed the fictional demo partnership on first start.
    pub seed_demo_data: bool,
    /// How often the server pings each websocket, in seconds.
    pub websocket_ping_seconds: u64,
    /// A websocket from which nothing (not even a pong) has been heard for
    /// this long is closed with 4002, in seconds.
    pub websocket_timeout_seconds: u64,
    pub tls: TlsSettings,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    pub mode: TlsMode,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite:PATH` or `postgres://...`. Unset: SQLite in the data directory.
    /// Fixed key: `CONFER_DATABASE__URL`.
    pub url: Option<DatabaseUrl>,
    #[serde(skip_serializing)]
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Write each message as an `.eml` file in `<data_dir>/outbox` (development).
    #[default]
    Outbox,
    Smtp,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    /// Only for a relay on loopback.
    None,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub from: String,
    pub smtp: SmtpSettings,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    #[serde(skip_serializing)]
    pub password_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub guest_session_hours: u64,
    /// Email one-time codes for guest practitioners and agencies without a provider.
    pub email_codes: EmailCodeSettings,
    /// OpenID Connect providers, one per agency.
    pub oidc: Vec<OidcProvider>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailCodeSettings {
    /// How long a mailed code (and its link) works, in minutes.
    pub lifetime_minutes: u64,
    /// Codes that may be requested for one address per window.
    pub max_requests_per_address: u32,
    /// Codes that may be requested from one client address per window.
    pub max_requests_per_client: u32,
    /// Wrong codes for one address before it is locked out for the window.
    pub max_failures: u32,
    /// The rate-limit and lock-out window, in minutes.
    pub window_minutes: u64,
}

impl Default for EmailCodeSettings {
    fn default() -> Self {
        Self {
            lifetime_minutes: 10,
            max_requests_per_address: 5,
            max_requests_per_client: 20,
            max_failures: 5,
            window_minutes: 15,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// A short stable name used in URLs: the redirect URI registered with the
    /// provider is `<public_url>/sign-in/oidc/<id>/callback`.
    pub id: String,
    /// The agency's name, as created with `confer agency add`.
    pub agency: String,
    /// Shown on the sign-in button.
    pub label: Option<String>,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    #[serde(default)]
    pub create_unknown_people: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn default_email_claim() -> String {
    "email".into()
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".into(),
            data_dir: PathBuf::from("./data"),
            mode: Mode::Development,
            public_url: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_seconds: 8,
            seed_demo_data: true,
            websocket_ping_seconds: 15,
            websocket_timeout_seconds: 45,
            tls: TlsSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            max_connections: 10,
        }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            transport: MailTransport::Outbox,
            from: "Confer <confer@localhost>".into(),
            smtp: SmtpSettings::default(),
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            password_file: None,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            guest_session_hours: 4,
            email_codes: EmailCodeSettings::default(),
            oidc: Vec::new(),
        }
    }
}

/// Environment variables as a figment provider, so tests can pass their own
/// set instead of mutating the process environment.
struct EnvVars(Vec<(String, String)>);

const ENV_PREFIX: &str = "CONFER_";

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (name, value) in &self.0 {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // Only `CONFER_<SECTION>__<KEY>` is configuration; other CONFER_*
            // variables (e.g. CONFER_TEST_DATABASE_URL) belong to other tools.
            if !rest.contains("__") {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            // Kept as text: `extract_lossy` turns "8443" or "true" into a
            // number or a boolean only where the key wants one, so a password
            // of digits stays a string.
            let value = Value::from(value.clone());
            if let Some(nested) = figment::util::nest(&key, value).into_dict() {
                dict = merge_dicts(dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge_dicts(mut base: Dict, other: Dict) -> Dict {
    for (k, v) in other {
        let merged = match (base.remove(&k), v) {
            (Some(Value::Dict(_, a)), Value::Dict(tag, b)) => Value::Dict(tag, merge_dicts(a, b)),
            (_, v) => v,
        };
        base.insert(k, merged);
    }
    base
}

impl Settings {
    /// Load from the process environment and an optional file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars().collect())
    }

    /// Load from an optional file and the given environment variables, then
    /// resolve `*_file` secrets and validate.
    pub fn load_from(file: Option<&Path>, env: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("configuration file {} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(EnvVars(env));
        let mut settings: Settings = figment.extract_lossy().map_err(figment_error)?;
        settings.resolve_secret_files()?;
        settings.validate()?;
        Ok(settings)
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = self.database.url_file.take() {
            if self.database.url.is_some() {
                return Err(both("database.url"));
            }
            self.database.url = Some(DatabaseUrl::new(read_secret("database.url_file", &path)?));
        }
        if let Some(path) = self.mail.smtp.password_file.take() {
            if self.mail.smtp.password.is_some() {
                return Err(both("mail.smtp.password"));
            }
            self.mail.smtp.password =
                Some(Secret::new(read_secret("mail.smtp.password_file", &path)?));
        }
        for (i, p) in self.auth.oidc.iter_mut().enumerate() {
            if let Some(path) = p.client_secret_file.take() {
                let key = format!("auth.oidc[{i}].client_secret");
                if p.client_secret.is_some() {
                    return Err(both(&key));
                }
                p.client_secret = Some(Secret::new(read_secret(&format!("{key}_file"), &path)?));
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let addr = self.listen_addr()?;
        if let Some(url) = &self.database.url {
            if url.engine().is_none() {
                return Err(ConfigError::new(
                    "database.url",
                    "must start with sqlite: or postgres:// (got something else)",
                ));
            }
            if url.engine() == Some(Engine::Postgres) {
                let parsed = url::Url::parse(url.expose());
                let has_host = parsed.as_ref().is_ok_and(|u| {
                    u.host_str().is_some_and(|h| !h.is_empty())
                        || u.query().is_some_and(|q| q.contains("host="))
                });
                if !has_host {
                    return Err(ConfigError::new(
                        "database.url",
                        "is not a usable postgres:// URL (it needs a host, e.g. postgres://confer@db.internal/confer)",
                    ));
                }
            }
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        match self.server.tls.mode {
            TlsMode::Files => {
                for (key, path) in [
                    ("server.tls.cert_file", &self.server.tls.cert_file),
                    ("server.tls.key_file", &self.server.tls.key_file),
                ] {
                    let Some(path) = path else {
                        return Err(ConfigError::new(
                            key,
                            "is required when server.tls.mode = \"files\"",
                        ));
                    };
                    if let Err(e) = std::fs::metadata(path) {
                        return Err(ConfigError::new(
                            key,
                            format!("cannot read {}: {e}", path.display()),
                        ));
                    }
                }
            }
            TlsMode::Off if !addr.ip().is_loopback() => {
                return Err(ConfigError::new(
                    "server.tls.mode",
                    "\"off\" is only allowed when server.listen is a loopback address (TLS everywhere outside loopback)",
                ));
            }
            TlsMode::SelfSigned if self.server.mode == Mode::Production => {
                return Err(ConfigError::new(
                    "server.tls.mode",
                    "\"self_signed\" is for development; production needs \"files\" (or \"off\" behind a local proxy)",
                ));
            }
            _ => {}
        }
        if let Some(public) = &self.server.public_url {
            match url::Url::parse(public) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                _ => {
                    return Err(ConfigError::new(
                        "server.public_url",
                        "must be an http(s) URL",
                    ));
                }
            }
        }
        if self.server.shutdown_grace_seconds > 9 {
            return Err(ConfigError::new(
                "server.shutdown_grace_seconds",
                "must be at most 9 (the server exits within 10 seconds of SIGTERM)",
            ));
        }
        if self.server.websocket_ping_seconds == 0
            || self.server.websocket_timeout_seconds <= self.server.websocket_ping_seconds
        {
            return Err(ConfigError::new(
                "server.websocket_timeout_seconds",
                "must be longer than server.websocket_ping_seconds, which must be at least 1",
            ));
        }
        if self.auth.session_idle_minutes == 0 || self.auth.session_absolute_hours == 0 {
            return Err(ConfigError::new(
                "auth",
                "session time-outs must be positive",
            ));
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp.host.is_empty() {
            return Err(ConfigError::new(
                "mail.smtp.host",
                "is required when mail.transport = \"smtp\"",
            ));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "mail.from",
                "is not a mailbox like \"Confer <confer@example.org>\"",
            ));
        }
        let loopback_relay = matches!(
            self.mail.smtp.host.as_str(),
            "localhost" | "127.0.0.1" | "::1"
        );
        if self.mail.transport == MailTransport::Smtp
            && self.mail.smtp.security == SmtpSecurity::None
            && !loopback_relay
        {
            return Err(ConfigError::new(
                "mail.smtp.security",
                "\"none\" is only allowed for a relay on this machine (localhost); use \"starttls\" or \"tls\"",
            ));
        }
        for (i, p) in self.auth.oidc.iter().enumerate() {
            let id_ok = !p.id.is_empty()
                && p.id.len() <= 40
                && p.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                return Err(ConfigError::new(
                    format!("auth.oidc[{i}].id"),
                    "must be 1-40 characters of a-z, 0-9 and '-'",
                ));
            }
            if self.auth.oidc[..i].iter().any(|q| q.id == p.id) {
                return Err(ConfigError::new(
                    format!("auth.oidc[{i}].id"),
                    "is used by another provider",
                ));
            }
            if url::Url::parse(&p.issuer).is_err() {
                return Err(ConfigError::new(
                    format!("auth.oidc[{i}].issuer"),
                    "is not a valid URL",
                ));
            }
            if p.client_secret.is_none() {
                return Err(ConfigError::new(
                    format!("auth.oidc[{i}].client_secret"),
                    "is required (or client_secret_file)",
                ));
            }
        }
        Ok(())
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError::new(
                "server.listen",
                format!(
                    "'{}' is not an address like 127.0.0.1:8443",
                    self.server.listen
                ),
            )
        })
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> DatabaseUrl {
        match &self.database.url {
            Some(url) => url.clone(),
            None => DatabaseUrl::new(format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("confer.sqlite3").display()
            )),
        }
    }

    /// The effective configuration as TOML, every secret redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = Some(self.database_url());
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn both(key: &str) -> ConfigError {
    ConfigError::new(key, format!("set either {key} or {key}_file, not both"))
}

fn read_secret(key: &str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))
}

fn figment_error(e: figment::Error) -> ConfigError {
    // figment reports the path of the offending key (for unknown fields, the
    // section holding it) and where the value came from.
    let mut key = e.path.join(".");
    let mut message = e.kind.to_string();
    if let figment::error::Kind::UnknownField(field, _) = &e.kind {
        // figment's path already ends with the unknown field.
        if key.is_empty() {
            key = field.clone();
        }
        message = "unknown key".to_string();
    }
    if let Some(meta) = &e.metadata {
        let source = meta
            .source
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        message = format!("{message} [from {}{source}]", meta.name);
    }
    if key.is_empty() {
        key = "configuration".into();
    }
    ConfigError::new(key, message)
}
