//! Connecting a client: TCP, TLS trusting exactly the development
//! certificate, and the `confer.v1` websocket upgrade with the session cookie.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};

use super::Target;
use crate::{Res, fail};

/// Any byte stream: TLS or plain TCP, client or server side.
pub trait AsyncRw: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncRw for T {}
pub type Stream = Box<dyn AsyncRw>;
pub(super) type Ws = WebSocketStream<Stream>;

// ---------------------------------------------------------------------------
// Connecting.

pub fn client_ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    // Small read buffers: tungstenite zero-fills the whole buffer before
    // each read (TOOLCHAIN.md), and the clients share the CPU with the server.
    crate::baseline::ws_config()
}

/// Connect, upgrade with `confer.v1`, same-origin `Origin` and the session cookie.
pub async fn connect(target: &Target, cookie: &str) -> Res<Ws> {
    let tcp = tokio::net::TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    let port = target.addr.port();
    let (scheme, stream): (&str, Stream) = match &target.tls {
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1")?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await?;
            ("wss", Box::new(tls))
        }
        None => ("ws", Box::new(tcp)),
    };
    let mut request = format!("{scheme}://127.0.0.1:{port}/ws").into_client_request()?;
    let h = request.headers_mut();
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("confer.v1"),
    );
    h.insert(
        header::ORIGIN,
        HeaderValue::from_str(&format!("https://127.0.0.1:{port}"))?,
    );
    if !cookie.is_empty() {
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("__Host-confer_session={cookie}"))?,
        );
    }
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(client_ws_config()))
            .await?;
    let agreed = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    if agreed != Some("confer.v1") {
        return Err(fail(format!(
            "the server did not agree to confer.v1 (got {agreed:?})"
        )));
    }
    Ok(ws)
}

/// A rustls client configuration that trusts only `cert_pem`.
pub fn tls_client_config(cert_pem_path: &std::path::Path) -> Res<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    confer::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem_path)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
