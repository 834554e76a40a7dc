//! The authorisation matrix: every HTTP route, found in the router's source
//! and in `/api/openapi.json`, tried as seven kinds of person against the
//! demo case of Lily Ashworth, with the outcome each must get written down
//! once, in `MATRIX` below. A route in the router or the OpenAPI document
//! without a row fails the test and prints the row to add. For every case-
//! scoped route, an outsider's answer for the real case is byte-for-byte
//! the answer for a case that does not exist.
//!
//! Adding a route: add one line to `MATRIX` (the failure message prints it
//! with the statuses observed; check each one before pasting). Run with
//! `CONFER_MATRIX_PRINT=1` to print the whole table as observed.

use std::collections::BTreeMap;

use confer::domain::vocabulary::{AgencyKind, Role};
use confer::store::agencies::By;
use confer::store::{agencies, cases, people};
use serde_json::json;

use crate::harness::{Signed, TestApp};

/// The seven kinds of person, in the order of each row's statuses.
pub const ROLES: [&str; 7] = [
    "no session",
    "guest of another case",
    "practitioner of an agency not in the case",
    "case member",
    "manager (agency in the case, not a member)",
    "admin of another agency",
    "auditor",
];

/// (method, route as the router spells it, status per role in `ROLES` order).
/// 303 = redirected to sign in (pages), 401 = the API's "sign in", 404 = not
/// found (also what an outsider gets), 403 = refused to someone who may see
/// the thing, 400/415/422 = past the access check, refused for the empty body.
#[rustfmt::skip]
pub const MATRIX: &[(&str, &str, [u16; 7])] = &[
    ("DELETE", "/api/cases/{case_id}/members/{person_id}", [401, 422, 422, 422, 422, 422, 422]),
    ("DELETE", "/api/channels/{channel_id}/messages/{seq}", [401, 404, 404, 404, 404, 404, 404]),
    ("GET", "/", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/admin/people", [303, 403, 403, 403, 403, 200, 403]),
    ("GET", "/api/agencies", [401, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/cases", [401, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/cases/{case_id}", [401, 404, 404, 200, 404, 404, 404]),
    ("GET", "/api/channels/{channel_id}/messages", [401, 404, 404, 200, 404, 404, 404]),
    ("GET", "/api/channels/{channel_id}/messages/{seq}/reads", [401, 404, 404, 404, 404, 404, 404]),
    ("GET", "/api/openapi.json", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/search", [401, 422, 422, 422, 422, 422, 422]),
    ("GET", "/api/session", [401, 200, 200, 200, 200, 200, 200]),
    ("GET", "/assets/{name}", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/audit", [303, 404, 404, 404, 404, 404, 200]),
    ("GET", "/audit/break-glass", [303, 404, 404, 404, 404, 404, 200]),
    ("GET", "/audit/export.csv", [303, 404, 404, 404, 404, 404, 200]),
    ("GET", "/audit/export.json", [303, 404, 404, 404, 404, 404, 200]),
    ("GET", "/break-glass", [303, 200, 200, 200, 200, 200, 200]),
    ("GET", "/cases", [303, 200, 200, 200, 200, 200, 200]),
    ("GET", "/cases/{case_id}", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/consent", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/consent/{record_id}", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/cases/{case_id}/meetings/new", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/missing", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/missing/{episode_id}", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/cases/{case_id}/missing/{episode_id}/interview", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/cases/{case_id}/sharing", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/sharing.csv", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/sharing.json", [303, 404, 404, 200, 404, 404, 404]),
    ("GET", "/cases/{case_id}/strategy-prompts/{prompt_id}", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/cases/{case_id}/subject-access.json", [303, 404, 404, 403, 404, 404, 404]),
    ("GET", "/dashboard", [303, 200, 200, 200, 200, 200, 200]),
    ("GET", "/healthz", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/meetings/{meeting_id}", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/metrics", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/search", [303, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sharing", [303, 403, 403, 403, 403, 403, 200]),
    ("GET", "/sharing/export.csv", [303, 403, 403, 403, 403, 403, 200]),
    ("GET", "/sharing/export.json", [303, 403, 403, 403, 403, 403, 200]),
    ("GET", "/sign-in", [200, 303, 303, 303, 303, 303, 303]),
    ("GET", "/sign-in/email", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sign-in/email/link", [200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sign-in/oidc/{id}", [404, 404, 404, 404, 404, 404, 404]),
    ("GET", "/sign-in/oidc/{id}/callback", [404, 404, 404, 404, 404, 404, 404]),
    ("GET", "/ws", [400, 400, 400, 400, 400, 400, 400]),
    ("PATCH", "/api/channels/{channel_id}/messages/{seq}", [401, 422, 422, 422, 422, 422, 422]),
    ("POST", "/admin/people", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/admin/people/{person_id}/deactivate", [303, 403, 403, 403, 403, 404, 403]),
    ("POST", "/admin/people/{person_id}/role", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/api/cases/{case_id}/members", [401, 422, 422, 422, 422, 422, 422]),
    ("POST", "/api/channels/{channel_id}/messages", [401, 422, 422, 422, 422, 422, 422]),
    ("POST", "/api/channels/{channel_id}/read", [401, 422, 422, 422, 422, 422, 422]),
    ("POST", "/audit/break-glass/{break_glass_id}/review", [303, 404, 404, 404, 404, 404, 400]),
    ("POST", "/break-glass", [303, 404, 404, 404, 400, 404, 404]),
    ("POST", "/cases/{case_id}/clock", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/consent", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/consent/{record_id}/changes", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/consent/{record_id}/overrides", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/consent/{record_id}/overrides/{override_id}/decide", [303, 404, 404, 403, 404, 404, 404]),
    ("POST", "/cases/{case_id}/deadlines/{deadline_id}/complete", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/deadlines/{deadline_id}/extend", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/extensions/{extension_id}/decide", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/meetings", [303, 400, 400, 400, 400, 400, 400]),
    ("POST", "/cases/{case_id}/members", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/cases/{case_id}/members/{person_id}/remove", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/cases/{case_id}/messages", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/cases/{case_id}/missing", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/interview/attempts", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/interview/interviewer", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/interview/outcome", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/cases/{case_id}/missing/{episode_id}/findings", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/findings", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/findings/share", [303, 404, 404, 404, 404, 404, 404]),
    ("GET", "/findings/{share_id}", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/findings/{share_id}/acknowledge", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/messages", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/return", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/sharing-basis", [303, 404, 404, 403, 404, 404, 404]),
    ("POST", "/cases/{case_id}/sharing/decisions", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/sharing/records", [303, 404, 404, 400, 404, 404, 404]),
    ("POST", "/cases/{case_id}/strategy-prompts/{prompt_id}/decline", [303, 404, 404, 403, 404, 404, 404]),
    ("POST", "/dev/sign-in", [422, 422, 422, 422, 422, 422, 422]),
    ("POST", "/meetings/{meeting_id}/acknowledge", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/actions", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/actions/{action_id}/status", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/attendance", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/cancel", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/circulate", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/messages", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/meetings/{meeting_id}/minutes", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/outcome", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/reschedule", [303, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/respond", [303, 422, 422, 422, 422, 422, 422]),
    ("POST", "/sign-in/email", [422, 422, 422, 422, 422, 422, 422]),
    ("POST", "/sign-in/email/code", [422, 422, 422, 422, 422, 422, 422]),
    ("POST", "/sign-in/email/link", [422, 422, 422, 422, 422, 422, 422]),
    ("POST", "/sign-out", [303, 303, 303, 303, 303, 303, 303]),
];

/// The role that is in the case.
const MEMBER: usize = 3;

/// Demo people (server/src/seed.rs) and the two the test adds.
const GUEST: &str = "gill.potter@oak-lane-surgery.example";
const OTHER_ADMIN: &str = "pat.quinn@northshire-homes.example";
const WHO: [Option<&str>; 7] = [
    None,
    Some(GUEST),
    Some("dana.wright@northshire-homes.example"),
    Some("tom.evans@riverside-academy.example"),
    Some("priya.shah@northshire-police.example"),
    Some(OTHER_ADMIN),
    Some("ria.chen@northshire-council.example"),
];

/// Every `.route("path", method(..).method(..))` in a router source file.
fn routes_in_source(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The call's text, to its closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let call = &rest[..end];
        let path = call.split('"').nth(1).unwrap_or_default().to_string();
        for method in ["get", "post", "put", "patch", "delete"] {
            let calls = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if calls {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A route with its parameters' names dropped, to compare across spellings.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The ids a route's parameters take: the demo case's own where the seed has
/// them, an unknown id where it has none (the row then records 404s).
struct Ids {
    case: String,
    channel: String,
    person: String,
}

fn fill(path: &str, ids: &Ids, case: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = &rest[open + 1..close];
        out.push_str(match name {
            "case_id" => case,
            "channel_id" => &ids.channel,
            "person_id" => &ids.person,
            "seq" => "1",
            "name" => "app.js",
            "id" => "no-such-provider",
            _ => "00000000-0000-4000-8000-000000000000",
        });
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// Send one request as `who` (or no one); status and body.
async fn call(app: &TestApp, who: Option<&Signed>, method: &str, path: &str) -> (u16, String) {
    let client = who.map_or_else(|| app.client(), |w| w.client.clone());
    let csrf = who.map_or("", |w| w.csrf.as_str());
    let url = app.url(path);
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let req = client.request(m, url);
    let req = if method == "GET" {
        req
    } else if path.starts_with("/api/") {
        req.header("origin", &app.base)
            .header("x-csrf-token", csrf)
            .json(&json!({}))
    } else {
        req.header("origin", &app.base)
            .form(&[("csrf_token", csrf)])
    };
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    (status, body)
}

/// Bodies that differ only in per-response tokens are the same answer.
fn normalise(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("nonce=\"") {
        out.push_str(&rest[..at + 7]);
        rest = &rest[at + 7..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out
}

/// A fresh server with the demo data, the guest (in Kai Brennan's case) and
/// an admin at Northshire Homes; the person of `role` signed in.
async fn setup(role: usize) -> (TestApp, Option<Signed>, Ids) {
    let app = TestApp::start().await;
    let db = app.db().await;
    let by = By {
        person_id: None,
        label: "test",
    };
    let surgery = agencies::add(&db, by, 0, "Oak Lane Surgery", AgencyKind::Health, None)
        .await
        .expect("agency");
    let guest = people::add(
        &db,
        by,
        0,
        people::NewPerson {
            agency_id: &surgery.id,
            name: "Dr Gill Potter",
            email: GUEST,
            role: Role::Practitioner,
            guest: true,
        },
    )
    .await
    .expect("guest");
    let homes = people::find_by_email(&db, "dana.wright@northshire-homes.example")
        .await
        .expect("Dana")
        .agency_id;
    people::add(
        &db,
        by,
        0,
        people::NewPerson {
            agency_id: &homes,
            name: "Pat Quinn",
            email: OTHER_ADMIN,
            role: Role::Admin,
            guest: false,
        },
    )
    .await
    .expect("admin");
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    cases::add_member(&db, by, 0, &kai, &guest.id, "GP for the family", None)
        .await
        .expect("guest in Kai's case");
    let kim = people::find_by_email(&db, "kim.okafor@northshire-nhs.example")
        .await
        .expect("Kim");
    db.close().await;
    let (case, channel) = app.case_and_channel("Lily Ashworth").await;
    let who = match WHO[role] {
        Some(email) => Some(app.sign_in(email).await),
        None => None,
    };
    (
        app,
        who,
        Ids {
            case,
            channel,
            person: kim.id,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_gives_each_role_its_documented_outcome() {
    // Every route the router registers, and every one the API documents.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/http");
    let mut routes: BTreeMap<(String, String), &str> = BTreeMap::new();
    for file in std::fs::read_dir(&root).expect("server/src/http") {
        let path = file.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let src = std::fs::read_to_string(&path).expect("source");
            for r in routes_in_source(&src) {
                routes.insert(r, "router");
            }
        }
    }
    assert!(
        routes.len() > 80,
        "the router parser found only {} routes",
        routes.len()
    );
    let (app, _, _) = setup(0).await;
    let doc: serde_json::Value = app
        .client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi json");
    let by_shape: BTreeMap<(String, String), (String, String)> = routes
        .keys()
        .map(|(m, p)| ((m.clone(), shape(p)), (m.clone(), p.clone())))
        .collect();
    let mut documented = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            let m = method.to_uppercase();
            documented += 1;
            if !by_shape.contains_key(&(m.clone(), shape(path))) {
                routes.insert((m, path.clone()), "OpenAPI document only");
            }
        }
    }
    drop(app);

    let matrix: BTreeMap<(String, String), [u16; 7]> = MATRIX
        .iter()
        .map(|(m, p, s)| ((m.to_string(), shape(p)), *s))
        .collect();
    let print = std::env::var_os("CONFER_MATRIX_PRINT").is_some();
    let mut observed: BTreeMap<(String, String), [u16; 7]> = BTreeMap::new();
    let mut failures = Vec::new();
    for role in 0..ROLES.len() {
        let (app, who, ids) = setup(role).await;
        for (method, path) in routes.keys() {
            let (status, body) =
                call(&app, who.as_ref(), method, &fill(path, &ids, &ids.case)).await;
            observed
                .entry((method.clone(), path.clone()))
                .or_insert([0; 7])[role] = status;
            // To anyone not in the case, the answer is the one for a case that
            // does not exist (a member may be told "forbidden": they know it exists).
            if path.contains("{case_id}") && WHO[role] != WHO[MEMBER] {
                let unknown = uuid::Uuid::new_v4().to_string();
                let (s2, b2) = call(&app, who.as_ref(), method, &fill(path, &ids, &unknown)).await;
                if (s2, normalise(&b2)) != (status, normalise(&body)) {
                    failures.push(format!(
                        "{method} {path} as {}: {status} for Lily's case but {s2} for an unknown case (or a different body)",
                        ROLES[role]
                    ));
                }
            }
        }
    }
    let mut cells = 0;
    for ((method, path), got) in &observed {
        let row = format!("    (\"{method}\", \"{path}\", {got:?}),");
        if print {
            println!("{row}");
        }
        match matrix.get(&(method.clone(), shape(path))) {
            None => failures.push(format!(
                "{method} {path} ({}) has no row in the authorisation matrix (tests/it/authz_matrix.rs); observed:\n{row}",
                routes[&(method.clone(), path.clone())]
            )),
            Some(want) => {
                for role in 0..ROLES.len() {
                    cells += 1;
                    if want[role] != got[role] {
                        failures.push(format!(
                            "{method} {path} as {}: want {}, got {}",
                            ROLES[role], want[role], got[role]
                        ));
                    }
                }
            }
        }
    }
    for (m, p, _) in MATRIX {
        if !observed
            .keys()
            .any(|(om, op)| om == m && shape(op) == shape(p))
        {
            failures.push(format!("{m} {p} is in the matrix but no longer a route"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "authorisation matrix: {} routes ({documented} documented in OpenAPI) x {} roles = {cells} outcomes checked",
        observed.len(),
        ROLES.len()
    );
}

/// (websocket operation, outcome per role in `ROLES` order): the reply's
/// `type`, or its error `code`; "refused" = the upgrade itself is refused
/// (401), "none" = no reply before the following ping's pong.
#[rustfmt::skip]
pub const WS_MATRIX: &[(&str, [&str; 7])] = &[
    ("ping", ["refused", "pong", "pong", "pong", "pong", "pong", "pong"]),
    ("read", ["refused", "not_found", "not_found", "ok", "not_found", "not_found", "not_found"]),
    ("send", ["refused", "not_found", "not_found", "ack", "not_found", "not_found", "not_found"]),
    ("subscribe", ["refused", "not_found", "not_found", "subscribed", "not_found", "not_found", "not_found"]),
    ("typing", ["refused", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed", "not_subscribed"]),
    ("unsubscribe", ["refused", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed", "unsubscribed"]),
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
    let want: BTreeMap<&str, [&str; 7]> = WS_MATRIX.iter().map(|(o, s)| (*o, *s)).collect();
    let mut observed: BTreeMap<String, [String; 7]> = BTreeMap::new();
    let mut failures = Vec::new();
    for (role, role_name) in ROLES.iter().enumerate() {
        let (app, who, ids) = setup(role).await;
        let Some(who) = who else {
            let refused = match open_with(&app, None, Some(&app.base), Some("confer.v1")).await {
                Upgrade::Refused(401) => "refused".to_string(),
                Upgrade::Refused(s) => format!("refused {s}"),
                Upgrade::Open(_) => "open".to_string(),
            };
            for op in &ops {
                observed.entry(op.clone()).or_default()[role] = refused.clone();
            }
            continue;
        };
        let mut ws = Ws::connect(&app, &who).await;
        for op in &ops {
            let got = ws_outcome(&mut ws, op, &ids.channel).await;
            // An outsider's answer for a real channel is the answer for no channel at all.
            if role != MEMBER {
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
                "websocket operation {op} has no row in WS_MATRIX (tests/it/authz_matrix.rs); observed:\n{row}"
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
