//! A real websocket client (tokio-tungstenite over rustls) for the tests.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::harness::{Signed, TestApp};

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection attempt went.
pub enum Upgrade {
    Open(Box<Ws>),
    Refused(u16),
}

fn connector(app: &TestApp) -> Connector {
    connector_for(&app.cert_pem().expect("the tests use TLS"))
}

/// A TLS connector that trusts this certificate (a server's development one).
pub fn connector_for(pem: &[u8]) -> Connector {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pem).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Connector::Rustls(Arc::new(config))
}

/// Open `/ws` with the given headers; `None` values are left out.
pub async fn open_with(
    app: &TestApp,
    cookie: Option<&str>,
    origin: Option<&str>,
    protocol: Option<&str>,
) -> Upgrade {
    let mut req = format!("wss://127.0.0.1:{}/ws", app.port)
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    if let Some(c) = cookie {
        h.insert("cookie", c.parse().unwrap());
    }
    if let Some(o) = origin {
        h.insert("origin", o.parse().unwrap());
    }
    if let Some(p) = protocol {
        h.insert("sec-websocket-protocol", p.parse().unwrap());
    }
    match tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector(app)))
        .await
    {
        Ok((stream, res)) => {
            assert_eq!(res.headers()["sec-websocket-protocol"], "confer.v1");
            Upgrade::Open(Box::new(Ws { stream }))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            Upgrade::Refused(res.status().as_u16())
        }
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

impl Ws {
    /// Connect as a signed-in person and read the `hello`.
    pub async fn connect(app: &TestApp, who: &Signed) -> Ws {
        match open_with(app, Some(&who.cookie), Some(&app.base), Some("confer.v1")).await {
            Upgrade::Open(mut ws) => {
                let hello = ws.next_json().await;
                assert_eq!(hello["type"], "hello", "{hello}");
                assert_eq!(hello["protocol"], "confer.v1");
                *ws
            }
            Upgrade::Refused(status) => panic!("upgrade refused: {status}"),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// The next JSON frame (skipping pings), within 10 s.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a frame within 10 s")
                .expect("the connection is open")
                .expect("a readable frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(c) => panic!("closed: {c:?}"),
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next frame of one of these types, skipping presence and typing noise.
    pub async fn next_of(&mut self, types: &[&str]) -> Value {
        self.next_skipping(types, &[]).await
    }

    /// The same, also skipping frames of the `skip` types (e.g. a sender's
    /// own message echo, which may come before its ack).
    pub async fn next_skipping(&mut self, types: &[&str], skip: &[&str]) -> Value {
        loop {
            let v = self.next_json().await;
            let t = v["type"].as_str().unwrap_or_default();
            if types.contains(&t) {
                return v;
            }
            assert!(
                matches!(t, "presence" | "typing" | "receipt") || skip.contains(&t),
                "unexpected frame while waiting for {types:?}: {v}"
            );
        }
    }

    /// Subscribe and collect the replayed messages up to `subscribed`.
    pub async fn subscribe(&mut self, channel: &str, after_seq: i64) -> (Vec<Value>, i64) {
        self.send(
            json!({"type": "subscribe", "id": "sub", "channel": channel, "after_seq": after_seq}),
        )
        .await;
        let mut messages = Vec::new();
        loop {
            let v = self.next_of(&["message", "subscribed", "error"]).await;
            match v["type"].as_str() {
                Some("message") => messages.push(v),
                Some("subscribed") => return (messages, v["last_seq"].as_i64().unwrap()),
                _ => panic!("subscribe failed: {v}"),
            }
        }
    }

    /// Send a message and wait for its ack.
    pub async fn say(&mut self, channel: &str, client_id: &str, body: &str) -> Value {
        self.send(json!({"type": "send", "id": client_id, "channel": channel, "client_id": client_id, "body": body})).await;
        self.next_skipping(&["ack", "error"], &["message"]).await
    }

    /// Nothing but noise arrives for `ms` milliseconds.
    pub async fn quiet_for(&mut self, ms: u64) {
        let until = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(until, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    assert!(
                        matches!(v["type"].as_str(), Some("presence" | "typing")),
                        "expected quiet, got {v}"
                    );
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Read until the server closes; returns the close code, if it sent one.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.stream.next())
                .await
                .expect("closed within 20 s")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}
