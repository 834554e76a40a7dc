//! Configuration: built-in defaults → a TOML file → environment variables
//! `CONFER_<SECTION>__<KEY>` (e.g. `CONFER_SERVER__LISTEN`).
//!
//! Unknown keys are errors (a typo must not silently fall back to a default).
//! Secrets may be given inline or through a `*_file` key naming a file that
//! holds them; either way they are wrapped in [`Secret`], whose `Debug` and
//! `Serialize` print `[redacted]`, so they never reach logs or `check-config`.

use std::fmt;
use std::path::PathBuf;

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
    pub meetings: MeetingSettings,
    pub audit: AuditSettings,
    pub sharing: SharingSettings,
    pub metrics: MetricsSettings,
    pub missing: MissingSettings,
    pub limits: LimitsSettings,
    pub encryption: EncryptionSettings,
}

/// Encryption at rest of the columns that identify a child (see
/// `crate::sealing` and docs/operations.md, "Encryption keys").
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionSettings {
    /// The key file; unset means `<data_dir>/confer-keys.toml`, created with
    /// a first key when the database is new.
    pub key_file: Option<PathBuf>,
}

/// Who may read `/metrics`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// A bearer token that a scraper must send; when neither this nor
    /// `token_file` is set, `/metrics` answers loopback clients only.
    pub token: Option<Secret>,
    /// A file holding the token.
    #[serde(skip_serializing)]
    pub token_file: Option<PathBuf>,
}

/// Limits on one person's rate of sending and open connections (abuse and
/// runaway clients); 0 turns a limit off.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Messages one person may send in any minute, over websockets and the API together.
    pub messages_per_minute: u32,
    /// Websocket connections one person may hold open at once (tabs and devices).
    pub websocket_connections_per_person: u32,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            messages_per_minute: 120,
            websocket_connections_per_person: 10,
        }
    }
}

/// The audit log and break glass.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// How long a manager who breaks glass may see the case, in minutes.
    pub break_glass_minutes: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            break_glass_minutes: 60,
        }
    }
}

/// Information sharing and consent.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SharingSettings {
    /// Whether sharing against a refused or withdrawn consent waits for a
    /// manager of the case-holding agency in the case to approve the
    /// override (true), or goes ahead when the practitioner records it with
    /// its lawful basis and reason (false).
    pub override_needs_manager_approval: bool,
}

/// Missing episodes, return home interviews and repeat missing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MissingSettings {
    /// Hours before the 72-hour deadline when an open return home interview
    /// is "at risk": shown on the dashboard and emailed to the interviewer
    /// and the lead social worker.
    pub rhi_at_risk_hours_before: u64,
    /// The rolling window, in days, over which a child's missing episodes are counted.
    pub repeat_window_days: u64,
    /// How many episodes in the window prompt the lead social worker to
    /// convene a strategy discussion (0: never).
    pub repeat_threshold: u64,
    /// Whether a prompt to convene a strategy discussion is also emailed to
    /// the lead social worker (it is always on the case page and dashboard).
    pub prompt_email: bool,
    /// Hours after which findings shared and not acknowledged by their
    /// recipient are escalated by email (once) to the recipient's agency's
    /// duty address and the sharer's agency's managers.
    pub acknowledgement_escalation_hours: u64,
}

impl Default for MissingSettings {
    fn default() -> Self {
        Self {
            rhi_at_risk_hours_before: 24,
            repeat_window_days: 90,
            repeat_threshold: 3,
            prompt_email: true,
            acknowledgement_escalation_hours: 48,
        }
    }
}

/// Meetings, the statutory clock and reminders.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeetingSettings {
    /// Hours before a meeting when invitees get a reminder.
    pub reminder_hours_before: u64,
    /// Hours before a meeting when the organiser is warned that a required
    /// agency has nobody who accepted.
    pub required_agency_warning_hours: u64,
    /// How often the reminder scheduler looks for work, in seconds.
    pub scheduler_interval_seconds: u64,
    /// After a concern of significant harm, whether the strategy discussion
    /// is due by the next working day (true) or the same day (false).
    pub strategy_discussion_next_working_day: bool,
    /// Extra days on which the partnership's offices are closed (besides
    /// weekends and England and Wales bank holidays), as `YYYY-MM-DD`.
    pub closure_days: Vec<String>,
}

impl Default for MeetingSettings {
    fn default() -> Self {
        Self {
            reminder_hours_before: 24,
            required_agency_warning_hours: 48,
            scheduler_interval_seconds: 60,
            strategy_discussion_next_working_day: true,
            closure_days: Vec::new(),
        }
    }
}

impl MeetingSettings {
    /// The working-day calendar with the configured closure days. Days that
    /// do not parse are refused when the configuration is loaded.
    pub fn calendar(&self) -> crate::domain::working_days::Calendar {
        crate::domain::working_days::Calendar::with_closures(
            self.closure_days
                .iter()
                .filter_map(|d| crate::domain::clock::parse_day(d)),
        )
    }
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

mod load;
