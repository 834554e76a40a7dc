//! TLS with rustls: a self-signed development certificate for localhost
//! (generated once with rcgen, kept in the data directory), or the
//! operator's certificate and key files.

use std::path::{Path, PathBuf};
use std::sync::Once;

use axum_server::tls_rustls::RustlsConfig;

use crate::config::{Settings, TlsMode};

/// Install ring as rustls's process-wide crypto provider. With two providers
/// in the dependency graph rustls would otherwise panic at run time.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot create the development certificate in {path}: {message}")]
    Generate { path: PathBuf, message: String },
}

/// The development certificate's paths inside the data directory.
pub fn dev_cert_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (
        dir.join("localhost-cert.pem"),
        dir.join("localhost-key.pem"),
    )
}

/// Load (or, for development, create) the server's TLS configuration.
/// `None` when TLS is off.
pub async fn server_config(settings: &Settings) -> Result<Option<RustlsConfig>, TlsError> {
    install_crypto_provider();
    let (cert, key, cert_key, key_key) = match settings.server.tls.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::SelfSigned => {
            let (cert, key) = dev_cert_paths(&settings.server.data_dir);
            ensure_dev_cert(&cert, &key)?;
            (cert, key, "server.tls.mode", "server.tls.mode")
        }
        TlsMode::Files => {
            let (Some(cert), Some(key)) = (
                &settings.server.tls.cert_file,
                &settings.server.tls.key_file,
            ) else {
                return Err(TlsError::Config {
                    key: "server.tls.cert_file",
                    message: "cert_file and key_file are required".into(),
                });
            };
            (
                cert.clone(),
                key.clone(),
                "server.tls.cert_file",
                "server.tls.key_file",
            )
        }
    };
    let cert_pem = std::fs::read(&cert).map_err(|e| TlsError::Config {
        key: cert_key,
        message: format!("cannot read {}: {e}", cert.display()),
    })?;
    let key_pem = std::fs::read(&key).map_err(|e| TlsError::Config {
        key: key_key,
        message: format!("cannot read {}: {e}", key.display()),
    })?;
    RustlsConfig::from_pem(cert_pem, key_pem)
        .await
        .map(Some)
        .map_err(|e| TlsError::Config {
            key: cert_key,
            message: format!("not a usable PEM certificate and key: {e}"),
        })
}

fn ensure_dev_cert(cert: &Path, key: &Path) -> Result<(), TlsError> {
    if cert.is_file() && key.is_file() {
        return Ok(());
    }
    let fail = |message: String| TlsError::Generate {
        path: cert.parent().map(Path::to_path_buf).unwrap_or_default(),
        message,
    };
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| fail(e.to_string()))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    std::fs::write(cert, generated.cert.pem()).map_err(|e| fail(e.to_string()))?;
    write_private(key, generated.signing_key.serialize_pem().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(path = %cert.display(), "created a self-signed development certificate for localhost");
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
