//! Frames from Confer's server, parsed only as far as the bench needs, and
//! the send instant carried in each message body.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

// ---------------------------------------------------------------------------
// Frames from the server.

#[derive(Deserialize)]
pub(crate) struct InFrame {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) channel: Option<String>,
    #[serde(default)]
    pub(crate) seq: Option<i64>,
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) duplicate: Option<bool>,
    /// For `message` frames the message object's `body`; error frames carry
    /// a text `message`, which is skipped.
    #[serde(default, deserialize_with = "body_of")]
    pub(crate) message: Option<String>,
}

fn body_of<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Key(bool);
    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
            struct K;
            impl Visitor<'_> for K {
                type Value = Key;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a key")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                    Ok(Key(v == "body"))
                }
            }
            d.deserialize_str(K)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a message object or text")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut body = None;
            while let Some(Key(is_body)) = map.next_key::<Key>()? {
                if is_body {
                    body = Some(map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(body)
        }
    }
    d.deserialize_any(V)
}

/// The send instant a body carries: `t=<ns since the anchor>;`.
pub(crate) fn sent_at(body: &str) -> Option<u64> {
    body.strip_prefix("t=")?.split(';').next()?.parse().ok()
}

/// The index of the client that sent a body: `…;s=<index>;`.
pub(crate) fn sender_of(body: &str) -> Option<usize> {
    body.split(';').nth(1)?.strip_prefix("s=")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_with_the_body_of_a_message_object_and_skip_error_text() {
        let m: InFrame = serde_json::from_str(
            r#"{"type":"message","channel":"c","seq":3,"message":{"id":"x","author":{"name":"A"},"body":"t=42;xx","visible":true}}"#,
        )
        .unwrap();
        assert_eq!((m.kind.as_str(), m.seq), ("message", Some(3)));
        assert_eq!(m.message.as_deref().and_then(sent_at), Some(42));
        assert_eq!(sender_of("t=42;s=7;xxx"), Some(7));
        assert_eq!(sender_of("t=42;xxx"), None);
        let e: InFrame = serde_json::from_str(
            r#"{"type":"error","id":"7","code":"not_found","message":"No such channel"}"#,
        )
        .unwrap();
        assert_eq!((e.code.as_deref(), e.message), (Some("not_found"), None));
        let a: InFrame = serde_json::from_str(
            r#"{"type":"ack","id":"9","channel":"c","client_id":"k","seq":12,"message_id":"m","duplicate":false}"#,
        )
        .unwrap();
        assert_eq!(
            (a.id.as_deref(), a.seq, a.duplicate),
            (Some("9"), Some(12), Some(false))
        );
    }
}
