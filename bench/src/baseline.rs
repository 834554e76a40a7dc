//! The baseline: a minimal in-memory websocket broadcast server speaking
//! enough of `confer.v1` for the bench's clients (hello, subscribe → subscribed,
//! send → message to every subscriber including the sender, then ack; ping →
//! pong), with no persistence, no authentication and no authorisation.
//! Rooms by channel id; a per-channel sequence number held in memory.
//!
//! It is built the way a careful minimal server would be, so it marks what
//! this machine can do rather than a straw man: TCP_NODELAY, TLS with the
//! same rustls configuration and certificate as Confer (or plain TCP), 4 KiB
//! tungstenite read buffers, each frame rendered once and shared by all
//! recipients, and a per-connection bounded queue (256, like Confer's hub)
//! drained into one flush. A subscriber whose queue is full is disconnected
//! with close code 4008, as Confer does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::Res;
use crate::load::Stream;

const QUEUE: usize = 256;
const SUBPROTOCOL: &str = "confer.v1";

struct Member {
    conn: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    kill: Arc<Notify>,
}

#[derive(Default)]
struct Room {
    seq: i64,
    members: Vec<Member>,
}

#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<String, Room>>,
    next: AtomicU64,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

/// Accept connections until the task is dropped.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Res<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let hub = Arc::new(Hub::default());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                eprintln!("baseline: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let hub = hub.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let stream: Stream = match acceptor {
                Some(a) => match a.accept(tcp).await {
                    Ok(s) => Box::new(s),
                    Err(_) => return,
                },
                None => Box::new(tcp),
            };
            if let Ok(ws) =
                tokio_tungstenite::accept_hdr_async_with_config(stream, agree, Some(ws_config()))
                    .await
            {
                session(ws, hub).await;
            }
        });
    }
}

/// The handshake callback: insist on `confer.v1` and agree to it.
#[allow(clippy::result_large_err)] // the signature tungstenite asks for
fn agree(req: &Request, mut res: Response) -> Result<Response, ErrorResponse> {
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        let mut refusal = ErrorResponse::new(Some("request confer.v1".into()));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    }
    res.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    Ok(res)
}

#[derive(Deserialize)]
struct In {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

struct Me {
    conn: u64,
    id: String,
    name: String,
    agency_id: String,
    tx: mpsc::Sender<Utf8Bytes>,
    kill: Arc<Notify>,
    rooms: Vec<String>,
}

async fn session(mut ws: WebSocketStream<Stream>, hub: Arc<Hub>) {
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let conn = hub.next.fetch_add(1, Ordering::Relaxed) + 1;
    let mut me = Me {
        conn,
        id: uuid::Uuid::new_v4().to_string(),
        name: format!("Baseline person {conn}"),
        agency_id: uuid::Uuid::new_v4().to_string(),
        tx,
        kill: Arc::new(Notify::new()),
        rooms: Vec::new(),
    };
    let hello = json!({
        "type": "hello", "protocol": SUBPROTOCOL, "version": 1, "server": "baseline",
        "person": { "id": me.id, "name": me.name, "agency": "Baseline agency", "agency_id": me.agency_id },
    });
    if ws
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let kill = me.kill.clone();
    loop {
        tokio::select! {
            biased;
            () = kill.notified() => {
                let _ = ws.send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Library(4008),
                    reason: "too slow".into(),
                }))).await;
                break;
            }
            Some(frame) = rx.recv() => {
                let mut ok = ws.feed(Message::Text(frame)).await.is_ok();
                let mut n = 0;
                while ok && n < 64 {
                    match rx.try_recv() {
                        Ok(frame) => ok = ws.feed(Message::Text(frame)).await.is_ok(),
                        Err(_) => break,
                    }
                    n += 1;
                }
                if !ok || ws.flush().await.is_err() {
                    break;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = handle(&hub, &mut me, text.as_str());
                    if ws.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let e = json!({"type": "error", "id": null, "code": "binary_not_supported", "message": "send text"});
                    if ws.send(Message::Text(e.to_string().into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    let mut rooms = hub.lock();
    for channel in &me.rooms {
        if let Some(room) = rooms.get_mut(channel) {
            room.members.retain(|m| m.conn != me.conn);
        }
    }
}

fn handle(hub: &Hub, me: &mut Me, text: &str) -> String {
    let frame: In = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            return json!({"type": "error", "id": null, "code": "invalid_frame", "message": e.to_string()})
                .to_string();
        }
    };
    let id = frame.id;
    match (frame.kind.as_str(), frame.channel) {
        ("subscribe", Some(channel)) => {
            let mut rooms = hub.lock();
            let room = rooms.entry(channel.clone()).or_default();
            if !room.members.iter().any(|m| m.conn == me.conn) {
                room.members.push(Member {
                    conn: me.conn,
                    tx: me.tx.clone(),
                    kill: me.kill.clone(),
                });
                me.rooms.push(channel.clone());
            }
            json!({"type": "subscribed", "id": id, "channel": channel, "last_seq": room.seq})
                .to_string()
        }
        ("send", Some(channel)) => {
            let client_id = frame.client_id.unwrap_or_default();
            let body = frame.body.unwrap_or_default();
            let message_id = uuid::Uuid::new_v4().to_string();
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let seq = {
                let mut rooms = hub.lock();
                let room = rooms.entry(channel.clone()).or_default();
                room.seq += 1;
                let seq = room.seq;
                // The same shape as Confer's `message` frame, rendered once.
                let rendered: Utf8Bytes = json!({
                    "type": "message", "channel": channel, "seq": seq,
                    "message": {
                        "id": message_id, "channel": channel, "seq": seq,
                        "author": { "id": me.id, "name": me.name, "agency_id": me.agency_id, "agency": "Baseline agency" },
                        "client_id": client_id, "body": body, "created_at": now_ms,
                        "edited_at": null, "redacted_at": null, "redacted_by": null,
                        "restricted": false, "restricted_to": null, "restriction_reason": null, "visible": true,
                    }
                })
                .to_string()
                .into();
                room.members
                    .retain(|m| match m.tx.try_send(rendered.clone()) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            m.kill.notify_one();
                            false
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    });
                seq
            };
            json!({"type": "ack", "id": id, "channel": channel, "client_id": client_id,
                   "seq": seq, "message_id": message_id, "duplicate": false})
            .to_string()
        }
        ("ping", _) => json!({"type": "pong", "id": id}).to_string(),
        (other, _) => json!({"type": "error", "id": id, "code": "unknown_type",
                             "message": format!("the baseline does not handle {other:?}")})
        .to_string(),
    }
}
