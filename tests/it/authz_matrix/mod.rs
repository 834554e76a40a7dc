//! The authorisation matrix: every HTTP route, found in the router's source
//! and in `/api/openapi.json`, tried as eight kinds of person against the
//! demo case of Lily Ashworth, with the outcome each must get written down
//! once, in `MATRIX` below. A route in the router or the OpenAPI document
//! without a row fails the test and prints the row to add. For every case-
//! scoped route, an outsider's answer for the real case is byte-for-byte
//! the answer for a case that does not exist.
//!
//! Every request is one a person could send: real ids (a message, a
//! meeting, a missing episode taken to its findings, a consent record, a
//! deadline, an extension, an override, a strategy prompt, an action, all
//! in Lily's case: `world.rs`), the form its page posts or the JSON the API
//! documents, the CSRF token and a same-origin `Origin`. So a 404 or 403 is
//! the access check, not a malformed request. A write that uses up its
//! target gets a fresh one, and writes that change who the caller is run
//! last, each in a new session, so every row is deterministic; every refused
//! write is checked to have changed no table.
//!
//! Adding a route: give it a body in `bodies.rs` if it takes one, and add
//! one line to `MATRIX` (the failure message prints it with the statuses
//! observed; check each one before pasting). `CONFER_MATRIX_PRINT=1` prints
//! the whole table as observed; `CONFER_MATRIX_DEBUG=1` prints the reason
//! given for each 400, 403 and 422.

mod bodies;
mod world;
mod ws;

use std::collections::BTreeMap;

use bodies::Body;
use world::{World, setup};

/// The eight kinds of person, in the order of each row's statuses.
pub const ROLES: [&str; 8] = [
    "no session",
    "guest of another case",
    "practitioner of an agency not in the case",
    "case member",
    "manager (agency in the case, not a member)",
    "admin of another agency",
    "auditor",
    "lead social worker of the case",
];

/// (method, route as the router spells it, status per role in `ROLES` order).
/// 200/201/204, and 303 from a signed-in write = done; 303 without a
/// session = sent to sign in, 401 = the API's "sign in"; 404 = not found
/// (also what an outsider gets); 403 = refused to someone who may see the
/// thing. A 400 past the access check is the product's own rule: the
/// record of a meeting is acknowledged only once circulated, and circulated
/// only with an outcome; an emailed code or link here is a wrong one. 404
/// for everyone where the person acting is none of the eight: a break-glass
/// review needs a break glass, a share of findings is for its recipient,
/// completing an assessment needs an assessment (not the strategy
/// discussion's deadline), and a meeting's channel is for those who accepted.
#[rustfmt::skip]
pub const MATRIX: &[(&str, &str, [u16; 8])] = &[
    ("DELETE", "/api/cases/{case_id}/members/{person_id}", [401, 404, 404, 403, 404, 404, 404, 204]),
    ("DELETE", "/api/channels/{channel_id}/messages/{seq}", [401, 404, 404, 200, 404, 404, 404, 403]),
    ("GET", "/", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/admin/people", [303, 403, 403, 403, 403, 200, 403, 403]),
    ("GET", "/api/agencies", [401, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/cases", [401, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/cases/{case_id}", [401, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/api/channels/{channel_id}/messages", [401, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/api/channels/{channel_id}/messages/{seq}/reads", [401, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/api/openapi.json", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/search", [401, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api/session", [401, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/assets/{name}", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/audit", [303, 404, 404, 404, 404, 404, 200, 404]),
    ("GET", "/audit/break-glass", [303, 404, 404, 404, 404, 404, 200, 404]),
    ("GET", "/audit/export.csv", [303, 404, 404, 404, 404, 404, 200, 404]),
    ("GET", "/audit/export.json", [303, 404, 404, 404, 404, 404, 200, 404]),
    ("GET", "/break-glass", [303, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/cases", [303, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/cases/{case_id}", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/consent", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/consent/{record_id}", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/meetings/new", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/missing", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/missing/{episode_id}", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/missing/{episode_id}/findings", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/missing/{episode_id}/interview", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/sharing", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/sharing.csv", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/sharing.json", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/strategy-prompts/{prompt_id}", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/cases/{case_id}/subject-access.json", [303, 404, 404, 403, 404, 404, 404, 403]),
    ("GET", "/dashboard", [303, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/findings/{share_id}", [303, 404, 404, 404, 404, 404, 404, 404]),
    ("GET", "/healthz", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/meetings/{meeting_id}", [303, 404, 404, 200, 404, 404, 404, 200]),
    ("GET", "/metrics", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/search", [303, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sharing", [303, 403, 403, 403, 403, 403, 200, 403]),
    ("GET", "/sharing/export.csv", [303, 403, 403, 403, 403, 403, 200, 403]),
    ("GET", "/sharing/export.json", [303, 403, 403, 403, 403, 403, 200, 403]),
    ("GET", "/sign-in", [200, 303, 303, 303, 303, 303, 303, 303]),
    ("GET", "/sign-in/email", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sign-in/email/link", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sign-in/oidc/{id}", [404, 404, 404, 404, 404, 404, 404, 404]),
    ("GET", "/sign-in/oidc/{id}/callback", [404, 404, 404, 404, 404, 404, 404, 404]),
    ("GET", "/ws", [400, 400, 400, 400, 400, 400, 400, 400]),
    ("PATCH", "/api/channels/{channel_id}/messages/{seq}", [401, 404, 404, 200, 404, 404, 404, 403]),
    ("POST", "/admin/people", [303, 403, 403, 403, 403, 303, 403, 403]),
    ("POST", "/admin/people/{person_id}/deactivate", [303, 403, 403, 403, 403, 303, 403, 403]),
    ("POST", "/admin/people/{person_id}/role", [303, 403, 403, 403, 403, 303, 403, 403]),
    ("POST", "/api/cases/{case_id}/members", [401, 404, 404, 403, 404, 404, 404, 201]),
    ("POST", "/api/channels/{channel_id}/messages", [401, 404, 404, 201, 404, 404, 404, 201]),
    ("POST", "/api/channels/{channel_id}/read", [401, 404, 404, 204, 404, 404, 404, 204]),
    ("POST", "/audit/break-glass/{break_glass_id}/review", [303, 404, 404, 404, 404, 404, 404, 404]),
    ("POST", "/break-glass", [303, 404, 404, 404, 303, 404, 404, 404]),
    ("POST", "/cases/{case_id}/clock", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/consent", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/consent/{record_id}/changes", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/consent/{record_id}/overrides", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/consent/{record_id}/overrides/{override_id}/decide", [303, 404, 404, 403, 404, 404, 404, 403]),
    ("POST", "/cases/{case_id}/deadlines/{deadline_id}/complete", [303, 404, 404, 404, 404, 404, 404, 404]),
    ("POST", "/cases/{case_id}/deadlines/{deadline_id}/extend", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/extensions/{extension_id}/decide", [303, 404, 404, 403, 404, 404, 404, 403]),
    ("POST", "/cases/{case_id}/meetings", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/members", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/members/{person_id}/remove", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/messages", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/findings", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/findings/share", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/interview/attempts", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/interview/interviewer", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/interview/outcome", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/messages", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/missing/{episode_id}/return", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/sharing-basis", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/sharing/decisions", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/sharing/records", [303, 404, 404, 303, 404, 404, 404, 303]),
    ("POST", "/cases/{case_id}/strategy-prompts/{prompt_id}/decline", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/dev/sign-in", [303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST", "/findings/{share_id}/acknowledge", [303, 404, 404, 404, 404, 404, 404, 404]),
    ("POST", "/meetings/{meeting_id}/acknowledge", [303, 404, 404, 400, 404, 404, 404, 400]),
    ("POST", "/meetings/{meeting_id}/actions", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/actions/{action_id}/status", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/attendance", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/cancel", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/circulate", [303, 404, 404, 403, 404, 404, 404, 400]),
    ("POST", "/meetings/{meeting_id}/messages", [303, 404, 404, 404, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/minutes", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/outcome", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/reschedule", [303, 404, 404, 403, 404, 404, 404, 303]),
    ("POST", "/meetings/{meeting_id}/respond", [303, 404, 404, 303, 404, 404, 404, 404]),
    ("POST", "/sign-in/email", [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST", "/sign-in/email/code", [400, 400, 400, 400, 400, 400, 400, 400]),
    ("POST", "/sign-in/email/link", [400, 400, 400, 400, 400, 400, 400, 400]),
    ("POST", "/sign-out", [303, 303, 303, 303, 303, 303, 303, 303]),
];

/// The roles in Lily's case team (the member and the lead).
pub const IN_CASE: [usize; 2] = [3, 7];

/// Writes that change who the caller is or what they may see (a case opened
/// by breaking the glass, a session begun or ended): they run after every
/// other route, each in a new session of the role's person.
const ISOLATED: [(&str, &str); 3] = [
    ("POST", "/break-glass"),
    ("POST", "/dev/sign-in"),
    ("POST", "/sign-out"),
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

/// Send one request as the world's person (or no one); status, where it
/// redirects to, and body.
async fn call(w: &World, method: &str, url: &str, body: Body) -> (u16, String, String) {
    let app = &w.app;
    let client = w
        .who
        .as_ref()
        .map_or_else(|| app.client(), |w| w.client.clone());
    let csrf = w.who.as_ref().map_or("", |w| w.csrf.as_str());
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(m, app.url(url));
    if method != "GET" {
        req = req.header("origin", &app.base).header("x-csrf-token", csrf);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Form(f) => req.form(&f),
    };
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.text().await.unwrap_or_default();
    (status, location, body)
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

/// Try one route as the world's person: the status; and 1 if it was a
/// refused write, checked to have changed nothing. An outsider's answer for
/// Lily's case must be the answer for a case that does not exist.
async fn check(
    w: &World,
    role: usize,
    method: &str,
    path: &str,
    failures: &mut Vec<String>,
) -> (u16, usize) {
    let ids = w.ids_for(method, path).await;
    let write = method != "GET";
    let before = if write {
        Some(w.snapshot().await)
    } else {
        None
    };
    let (url, body) = w.request(method, path, &ids.case, &ids).await;
    let (status, location, text) = call(w, method, &url, body).await;
    if std::env::var_os("CONFER_MATRIX_DEBUG").is_some() && matches!(status, 400 | 403 | 422) {
        let why = crate::meetings::error_text(&text);
        eprintln!(
            "{method} {path} as {}: {status} {why} {}",
            ROLES[role],
            text.get(..200).unwrap_or(&text)
        );
    }
    let mut refused = 0;
    let unchanged = |before: &Option<Vec<(String, i64)>>, after: Vec<(String, i64)>, what: &str| {
        let changed: Vec<String> = before
            .iter()
            .flatten()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("{} {} -> {}", a.0, a.1, b.1))
            .collect();
        (!changed.is_empty()).then(|| {
            format!(
                "{method} {path} as {} ({what}) was refused but changed: {}",
                ROLES[role],
                changed.join(", ")
            )
        })
    };
    if write && (status >= 400 || location.starts_with("/sign-in")) {
        refused = 1;
        let after = w.snapshot().await;
        let audit = after[4].1 - before.as_ref().map_or(0, |b| b[4].1);
        failures.extend(unchanged(&before, after, "Lily's case"));
        if audit > 0 {
            failures.push(format!(
                "  audit actions: {:?} status {status}",
                w.last_actions(audit).await
            ));
        }
    }
    // To anyone not in the case, the answer is the one for a case that does
    // not exist (a member may be told "forbidden": they know it exists).
    if path.contains("{case_id}") && !IN_CASE.contains(&role) {
        let unknown = uuid::Uuid::new_v4().to_string();
        let (url2, body2) = w.request(method, path, &unknown, &ids).await;
        let (s2, _, b2) = call(w, method, &url2, body2).await;
        if (s2, normalise(&b2)) != (status, normalise(&text)) {
            failures.push(format!(
                "{method} {path} as {}: {status} for Lily's case but {s2} for an unknown case (or a different body)",
                ROLES[role]
            ));
        }
        if write && s2 >= 400 {
            failures.extend(unchanged(&before, w.snapshot().await, "an unknown case"));
        }
    }
    (status, refused)
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
    let app = crate::harness::TestApp::start().await;
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

    let matrix: BTreeMap<(String, String), [u16; 8]> = MATRIX
        .iter()
        .map(|(m, p, s)| ((m.to_string(), shape(p)), *s))
        .collect();
    let print = std::env::var_os("CONFER_MATRIX_PRINT").is_some();
    let mut observed: BTreeMap<(String, String), [u16; 8]> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut refused_writes = 0;
    for role in 0..ROLES.len() {
        let mut world = setup(role).await;
        for (method, path) in routes.keys() {
            if !ISOLATED.contains(&(method.as_str(), path.as_str())) {
                let got = check(&world, role, method, path, &mut failures).await;
                observed
                    .entry((method.clone(), path.clone()))
                    .or_insert([0; 8])[role] = got.0;
                refused_writes += got.1;
            }
        }
        for (method, path) in ISOLATED {
            if routes.contains_key(&(method.to_string(), path.to_string())) {
                world.new_session(role).await;
                let got = check(&world, role, method, path, &mut failures).await;
                observed
                    .entry((method.to_string(), path.to_string()))
                    .or_insert([0; 8])[role] = got.0;
                refused_writes += got.1;
            }
        }
    }
    let writes: Vec<&(String, String)> = observed.keys().filter(|(m, _)| m != "GET").collect();
    let mut cells = 0;
    for ((method, path), got) in &observed {
        let row = format!("    (\"{method}\", \"{path}\", {got:?}),");
        if print {
            println!("{row}");
        }
        match matrix.get(&(method.clone(), shape(path))) {
            None => failures.push(format!(
                "{method} {path} ({}) has no row in the authorisation matrix (tests/it/authz_matrix/mod.rs); observed:\n{row}",
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
        "authorisation matrix: {} routes ({documented} documented in OpenAPI) x {} roles = {cells} outcomes checked; \
         {} routes take a body, each sent a valid one; {} of them succeed for someone; \
         {refused_writes} refused writes changed nothing",
        observed.len(),
        ROLES.len(),
        writes.len(),
        writes
            .iter()
            .filter(|k| observed[*k].iter().skip(1).any(|s| *s < 400))
            .count(),
    );
}
