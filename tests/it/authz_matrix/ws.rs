//! The websocket half of the matrix: every client frame type, as each role,
//! on Lily Ashworth's case channel and on a channel that does not exist.

use std::collections::BTreeMap;

use serde_json::json;

use super::world::setup;
use super::{IN_CASE, ROLES};

/// (websocket operation, outcome per role in `ROLES` order): the reply's
/// `type`, or its error `code`; "refused" = the upgrade itself is refused
/// (401), "none" = no reply before the following ping's pong.
#[rustfmt::skip]
pub const WS_MATRIX: &[(&str, [&str; 8])] = &[
    ("ping", ["refused", "pong", "pong", "pong", "pong", "pong", "pong", "pong"]),
    ("read", ["refused", "not_found", "not_found", "ok", "not_found", "not_found", "not_found", "ok"]),
    ("send", ["refused", "not_found", "not_found", "ack", "not_found", "not_found", "not_found", "ack"]),
    ("subscribe", ["refused", "not_found", "not_found", "subscribed", "not_found", "not_found", "not_found", "subscribed"]),
    ("typing", ["refused", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed"]),
    ("unsubscribe", ["refused", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed"]),
];

/// The client frame types the server accepts (`TYPES` in realtime/protocol.rs).
fn ws_operations() -> Vec<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/realtime/protocol.rs");
    let src = std::fs::read_to_string(path).expect("protocol.rs");
    let at = src.find("const TYPES").expect("TYPES in protocol.rs");
    let list = &src[at..at + src[at..].find(';').expect("end of TYPES")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The frame for `op` on `channel`.
fn ws_frame(op: &str, channel: &str) -> serde_json::Value {
    match op {
        "subscribe" => json!({"type": op, "id": "x", "channel": channel, "after_seq": 0}),
        "send" => {
            json!({"type": op, "id": "x", "channel": channel, "client_id": uuid::Uuid::new_v4().to_string(), "body": "matrix"})
        }
        "read" => json!({"type": op, "id": "x", "channel": channel, "seq": 1}),
        "ping" => json!({"type": op, "id": "x"}),
        _ => json!({"type": op, "id": "x", "channel": channel}),
    }
}

/// Send `op`, then a ping; the outcome of `op` as the table spells it.
async fn ws_outcome(ws: &mut crate::ws_client::Ws, op: &str, channel: &str) -> String {
    ws.send(ws_frame(op, channel)).await;
    ws.send(json!({"type": "ping", "id": "after"})).await;
    let mut outcome = "none".to_string();
    loop {
        let v = ws.next_json().await;
        if v["id"] == "after" {
            return outcome;
        }
        if v["id"] == "x" && outcome == "none" {
            outcome = match v["type"].as_str() {
                Some("error") => v["code"].as_str().unwrap_or("error").to_string(),
                Some(t) => t.to_string(),
                None => "?".into(),
            };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_websocket_operation_gives_each_role_its_documented_outcome() {
    use crate::ws_client::{Upgrade, Ws, open_with};
    let ops = ws_operations();
    assert!(ops.len() >= 6, "found only {ops:?} in protocol.rs");
    let want: BTreeMap<&str, [&str; 8]> = WS_MATRIX.iter().map(|(o, s)| (*o, *s)).collect();
    let mut observed: BTreeMap<String, [String; 8]> = BTreeMap::new();
    let mut failures = Vec::new();
    for (role, role_name) in ROLES.iter().enumerate() {
        let world = setup(role).await;
        let (app, who, ids) = (&world.app, world.who.clone(), &world.ids);
        let Some(who) = who else {
            let refused = match open_with(app, None, Some(&app.base), Some("confer.v1")).await {
                Upgrade::Refused(401) => "refused".to_string(),
                Upgrade::Refused(s) => format!("refused {s}"),
                Upgrade::Open(_) => "open".to_string(),
            };
            for op in &ops {
                observed.entry(op.clone()).or_default()[role] = refused.clone();
            }
            continue;
        };
        let mut ws = Ws::connect(app, &who).await;
        for op in &ops {
            let got = ws_outcome(&mut ws, op, &ids.channel).await;
            // An outsider's answer for a real channel is the answer for no channel at all.
            if !IN_CASE.contains(&role) {
                let unknown = uuid::Uuid::new_v4().to_string();
                let other = ws_outcome(&mut ws, op, &unknown).await;
                if other != got {
                    failures.push(format!("websocket {op} as {}: {got} for Lily's channel, {other} for an unknown one", role_name));
                }
            }
            observed.entry(op.clone()).or_default()[role] = got;
        }
    }
    let print = std::env::var_os("CONFER_MATRIX_PRINT").is_some();
    for (op, got) in &observed {
        let row = format!("    (\"{op}\", {got:?}),");
        if print {
            println!("{row}");
        }
        match want.get(op.as_str()) {
            None => failures.push(format!(
                "websocket operation {op} has no row in WS_MATRIX (tests/it/authz_matrix/ws.rs); observed:\n{row}"
            )),
            Some(w) => {
                for role in 0..ROLES.len() {
                    if w[role] != got[role] {
                        failures.push(format!("websocket {op} as {}: want {}, got {}", ROLES[role], w[role], got[role]));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "websocket matrix: {} operations x {} roles",
        observed.len(),
        ROLES.len()
    );
}
