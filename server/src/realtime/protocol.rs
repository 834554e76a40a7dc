//! The `confer.v1` websocket protocol's frames (documented in
//! docs/protocol.md). Client frames are parsed in two steps so that every
//! mistake gets its own error code and the offending request's `id`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::hub::{Outbound, Someone};
use crate::domain::channels::{Audience, Viewer};

/// The subprotocol name, and the version this server speaks.
pub const SUBPROTOCOL: &str = "confer.v1";

/// Largest frame a client may send, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A restriction on a message: who may see it besides the author, and why.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    #[serde(default)]
    pub agencies: Vec<String>,
    #[serde(default)]
    pub people: Vec<String>,
    #[serde(default)]
    pub reason: String,
}

impl Restriction {
    pub fn audience(&self) -> Audience {
        Audience {
            agencies: self.agencies.clone(),
            people: self.people.clone(),
        }
    }
}

/// A frame from the client.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Subscribe {
        id: Option<String>,
        channel: String,
        #[serde(default)]
        after_seq: i64,
    },
    Unsubscribe {
        id: Option<String>,
        channel: String,
    },
    Send {
        id: Option<String>,
        channel: String,
        client_id: String,
        body: String,
        restricted_to: Option<Restriction>,
    },
    Read {
        id: Option<String>,
        channel: String,
        seq: i64,
    },
    Typing {
        id: Option<String>,
        channel: String,
    },
    Ping {
        id: Option<String>,
    },
}

const TYPES: &[&str] = &["subscribe", "unsubscribe", "send", "read", "typing", "ping"];

/// A protocol error, sent as an `error` frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    pub id: Option<String>,
    pub code: &'static str,
    pub message: String,
}

impl FrameError {
    pub fn new(id: Option<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "type": "error", "id": self.id, "code": self.code, "message": self.message })
    }
}

/// Parse a text frame.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        FrameError::new(
            None,
            "invalid_json",
            format!("The frame is not valid JSON: {e}"),
        )
    })?;
    let id = value.get("id").and_then(Value::as_str).map(str::to_string);
    let Some(object) = value.as_object() else {
        return Err(FrameError::new(
            id,
            "invalid_frame",
            "A frame must be a JSON object.",
        ));
    };
    let Some(kind) = object
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(FrameError::new(
            id,
            "missing_field",
            "The frame has no \"type\".",
        ));
    };
    if !TYPES.contains(&kind.as_str()) {
        return Err(FrameError::new(
            id,
            "unknown_type",
            format!(
                "Unknown frame type \"{kind}\"; expected one of {}.",
                TYPES.join(", ")
            ),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("missing field") {
            "missing_field"
        } else {
            "invalid_frame"
        };
        FrameError::new(id, code, format!("The {kind} frame is not valid: {text}"))
    })
}

/// The JSON text of an outbound event for one viewer.
pub fn render(event: &Outbound, viewer: &Viewer) -> Value {
    match event {
        Outbound::Message(m) => {
            json!({ "type": "message", "channel": m.channel_id, "seq": m.seq, "message": m.view(viewer) })
        }
        Outbound::Updated(m) => {
            json!({ "type": "message_updated", "channel": m.channel_id, "seq": m.seq, "message": m.view(viewer) })
        }
        Outbound::Receipt {
            channel,
            who,
            seq,
            at,
        } => {
            json!({ "type": "receipt", "channel": channel, "person": who, "seq": seq, "at": at })
        }
        Outbound::Typing { channel, who } => {
            json!({ "type": "typing", "channel": channel, "person": who })
        }
        Outbound::Presence { channel, online } => {
            json!({ "type": "presence", "channel": channel, "online": online.as_ref() })
        }
    }
}

/// The first frame the server sends.
pub fn hello(who: &Someone, agency_id: &str) -> Value {
    json!({
        "type": "hello",
        "protocol": SUBPROTOCOL,
        "version": 1,
        "server": crate::VERSION,
        "person": { "id": who.id, "name": who.name, "agency": who.agency, "agency_id": agency_id },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_every_mistake_has_its_code() {
        assert!(matches!(
            parse(r#"{"type":"subscribe","id":"1","channel":"c","after_seq":3}"#),
            Ok(ClientFrame::Subscribe { after_seq: 3, .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping { id: None })
        ));
        assert_eq!(parse("not json").unwrap_err().code, "invalid_json");
        assert_eq!(parse("[1]").unwrap_err().code, "invalid_frame");
        assert_eq!(parse(r#"{"id":"7"}"#).unwrap_err().code, "missing_field");
        let e = parse(r#"{"type":"shout","id":"8"}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), ("unknown_type", Some("8")));
        let e = parse(r#"{"type":"send","id":"9","channel":"c","body":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), ("missing_field", Some("9")));
        assert!(e.message.contains("client_id"), "{}", e.message);
        assert_eq!(
            parse(r#"{"type":"read","channel":"c","seq":"x"}"#)
                .unwrap_err()
                .code,
            "invalid_frame"
        );
        assert_eq!(
            parse(r#"{"type":"ping","extra":1}"#).unwrap_err().code,
            "invalid_frame"
        );
    }
}
