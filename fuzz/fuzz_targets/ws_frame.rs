//! The websocket frame decoder (`realtime::protocol::parse`): any text a
//! client sends must give a frame or a clear error frame, never a panic.
#![no_main]

use confer::realtime::protocol::{MAX_FRAME_BYTES, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > MAX_FRAME_BYTES {
        return;
    }
    match parse(text) {
        Ok(frame) => {
            // Whitespace and key order don't matter: the same JSON value,
            // written out again, parses to the same frame.
            let value: serde_json::Value = serde_json::from_str(text).expect("parsed, so JSON");
            let again = parse(&value.to_string()).expect("a re-serialised frame parses");
            assert_eq!(format!("{frame:?}"), format!("{again:?}"));
        }
        Err(error) => {
            // The error frame is well-formed JSON carrying a code and the
            // request's id when the frame had a string id.
            let json = error.to_json();
            assert_eq!(json["type"], "error");
            assert!(!error.code.is_empty());
            assert!(!error.message.is_empty());
            let round: serde_json::Value =
                serde_json::from_str(&json.to_string()).expect("error frame is JSON");
            assert_eq!(round, json);
        }
    }
});
