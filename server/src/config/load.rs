//! Loading the configuration: the layers, `*_file` secrets, validation, and
//! errors that name the offending key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::*;

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
        if let Some(path) = self.metrics.token_file.take() {
            if self.metrics.token.is_some() {
                return Err(both("metrics.token"));
            }
            self.metrics.token = Some(Secret::new(read_secret("metrics.token_file", &path)?));
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
        if self.audit.break_glass_minutes == 0 || self.audit.break_glass_minutes > 7 * 24 * 60 {
            return Err(ConfigError::new(
                "audit.break_glass_minutes",
                "must be at least 1 and at most 10080 (a week)",
            ));
        }
        if self.meetings.scheduler_interval_seconds == 0 {
            return Err(ConfigError::new(
                "meetings.scheduler_interval_seconds",
                "must be at least 1",
            ));
        }
        if self.missing.rhi_at_risk_hours_before >= 72 {
            return Err(ConfigError::new(
                "missing.rhi_at_risk_hours_before",
                "must be less than the 72 hours of the return home interview's clock",
            ));
        }
        if self.missing.repeat_window_days == 0 || self.missing.repeat_window_days > 3660 {
            return Err(ConfigError::new(
                "missing.repeat_window_days",
                "must be at least 1 and at most 3660 (ten years)",
            ));
        }
        if let Some(bad) = self
            .meetings
            .closure_days
            .iter()
            .find(|d| crate::domain::clock::parse_day(d).is_none())
        {
            return Err(ConfigError::new(
                "meetings.closure_days",
                format!("'{bad}' is not a date like 2026-12-24"),
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
    /// The encryption key file: `encryption.key_file`, or `<data_dir>/confer-keys.toml`.
    pub fn key_file(&self) -> PathBuf {
        self.encryption
            .key_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("confer-keys.toml"))
    }

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
