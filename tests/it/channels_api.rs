//! The JSON API (`server/src/http/api.rs`), for the person who may and the
//! person who may not: messages, restricted messages, read receipts, edits
//! and redactions, case membership, cases and the delivery log.
//!
//! Demo partnership (see `server/src/seed.rs`): on Lily Ashworth's case are
//! Sam (children's social care, the lead), Alex (his manager), Lee (police),
//! Kim (health) and Tom (school). Dana (housing) is on Kai's case only; Ria
//! (auditor) is on no case.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALEX, DANA, KIM, LEE, RIA, SAM, Signed, TOM, TestApp};

const PRIYA: &str = "priya.shah@northshire-police.example";
const HOUR: i64 = 3_600_000;
const MAX_BODY: usize = 16 * 1024;

// ---------------------------------------------------------------- helpers

/// One response, read to the end.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    text: String,
}

impl Reply {
    async fn from(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = res.text().await.expect("response body");
        Reply {
            status,
            content_type,
            text,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "expected JSON ({e}); got {} [{}]: {}",
                self.status, self.content_type, self.text
            )
        })
    }

    /// The `error.code` of a JSON error.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {} {}", self.status, self.text))
            .to_string()
    }

    /// Asserts the status and the JSON error code (`"a|b"`: either).
    #[track_caller]
    fn expect(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(code_is(&self.code(), code), "{}", self.text);
        self
    }
}

/// Whether an error code is one of `"a|b"`.
fn code_is(code: &str, expected: &str) -> bool {
    expected.split('|').any(|c| c == code)
}

/// A request as `who`, with their CSRF token (as the web client sends it).
fn req(app: &TestApp, who: &Signed, method: Method, path: &str) -> reqwest::RequestBuilder {
    who.client
        .request(method, app.url(path))
        .header("x-csrf-token", &who.csrf)
}

async fn send(app: &TestApp, who: &Signed, method: Method, path: &str, body: &Value) -> Reply {
    Reply::from(
        req(app, who, method, path)
            .json(body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

async fn get(app: &TestApp, who: &Signed, path: &str) -> Reply {
    Reply::from(who.get(app, path).await).await
}

async fn delete(app: &TestApp, who: &Signed, path: &str) -> Reply {
    Reply::from(
        req(app, who, Method::DELETE, path)
            .send()
            .await
            .expect("DELETE"),
    )
    .await
}

fn messages(ch: &str) -> String {
    format!("/api/channels/{ch}/messages")
}

fn message(ch: &str, seq: i64) -> String {
    format!("/api/channels/{ch}/messages/{seq}")
}

fn reads(ch: &str, seq: i64) -> String {
    format!("/api/channels/{ch}/messages/{seq}/reads")
}

fn read(ch: &str) -> String {
    format!("/api/channels/{ch}/read")
}

fn members(case: &str) -> String {
    format!("/api/cases/{case}/members")
}

async fn post(app: &TestApp, who: &Signed, ch: &str, client_id: &str, body: &str) -> Reply {
    let body = json!({ "client_id": client_id, "body": body });
    Reply::from(who.post_json(app, &messages(ch), &body).await).await
}

/// Posts and expects a new message; returns its `message` object.
async fn post_ok(app: &TestApp, who: &Signed, ch: &str, client_id: &str, body: &str) -> Value {
    let r = post(app, who, ch, client_id, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["message"].clone()
}

/// Every message in a channel as `who` sees it.
async fn list(app: &TestApp, who: &Signed, ch: &str) -> Vec<Value> {
    let r = get(app, who, &format!("{}?after_seq=0&limit=500", messages(ch))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["messages"].as_array().expect("messages").clone()
}

fn seqs(list: &[Value]) -> Vec<i64> {
    list.iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_one(db.pool())
        .await
        .expect("count");
    db.close().await;
    n
}

async fn stored_messages(app: &TestApp, ch: &str) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM messages WHERE channel_id = $1",
        ch,
    )
    .await
}

async fn stored_body(app: &TestApp, ch: &str, seq: i64) -> String {
    let db = app.db().await;
    let (body,): (String,) =
        sqlx::query_as("SELECT body FROM messages WHERE channel_id = $1 AND seq = $2")
            .bind(ch)
            .bind(seq)
            .fetch_one(db.pool())
            .await
            .expect("stored message");
    db.close().await;
    body
}

async fn person_id(app: &TestApp, email: &str) -> Option<String> {
    let db = app.db().await;
    let p = confer::store::people::find_by_email(&db, email).await.ok();
    db.close().await;
    p.map(|p| p.id)
}

fn unknown_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------- session

#[tokio::test]
async fn the_session_names_the_signed_in_person_and_gives_the_csrf_token() {
    let app = TestApp::start().await;
    let tom = app.sign_in(TOM).await;
    let r = get(&app, &tom, "/api/session").await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let s = r.json();
    assert_eq!(s["person"]["id"], tom.person_id.as_str());
    assert_eq!(s["person"]["name"], "Tom Evans");
    assert_eq!(s["person"]["email"], TOM);
    assert_eq!(s["person"]["role"], "practitioner");
    assert_eq!(s["person"]["agency_id"], tom.agency_id.as_str());
    assert_eq!(s["person"]["agency"], "Riverside Academy");
    assert_eq!(s["person"]["guest"], false);
    assert_eq!(s["csrf_token"], tom.csrf.as_str());
    assert!(tom.csrf.len() >= 16, "a guessable token: {}", tom.csrf);

    // Each session has its own token.
    let other = app.sign_in(TOM).await;
    assert_ne!(other.csrf, tom.csrf);
}

#[tokio::test]
async fn signed_out_callers_get_a_json_401_from_every_endpoint() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let anon = app.client();
    let r = Reply::from(anon.get(app.url("/api/session")).send().await.unwrap()).await;
    r.expect(401, "unauthorized");
    assert!(r.content_type.starts_with("application/json"), "{r:?}");

    // A made-up session cookie is no better than none.
    let r = Reply::from(
        anon.get(app.url("/api/session"))
            .header("cookie", "__Host-confer_session=not-a-real-session")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(401, "unauthorized");

    for (method, path) in [
        (Method::GET, "/api/agencies".to_string()),
        (Method::GET, "/api/cases".to_string()),
        (Method::GET, format!("/api/cases/{case}")),
        (Method::POST, members(&case)),
        (
            Method::DELETE,
            format!("{}/{}", members(&case), unknown_id()),
        ),
        (Method::GET, messages(&ch)),
        (Method::POST, messages(&ch)),
        (Method::PATCH, message(&ch, 1)),
        (Method::DELETE, message(&ch, 1)),
        (Method::GET, reads(&ch, 1)),
        (Method::POST, read(&ch)),
    ] {
        let r = Reply::from(
            anon.request(method.clone(), app.url(&path))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        assert_eq!(r.code(), "unauthorized", "{method} {path}");
    }

    // After signing out, the old session no longer answers.
    let sam = app.sign_in(SAM).await;
    let out = sam
        .client
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", sam.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    get(&app, &sam, "/api/session")
        .await
        .expect(401, "unauthorized");
}

// ---------------------------------------------------------------- messages

#[tokio::test]
async fn members_post_messages_that_are_numbered_in_order_and_listed_with_the_authors_agency() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let kim = app.sign_in(KIM).await;

    let r = post(
        &app,
        &sam,
        &ch,
        "sam-1",
        "Strategy meeting at 10:00 tomorrow.",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.json();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["client_id"], "sam-1");
    assert_eq!(
        first["message"]["body"],
        "Strategy meeting at 10:00 tomorrow."
    );
    assert_eq!(first["message"]["author"]["name"], "Sam Patel");
    assert_eq!(
        first["message"]["author"]["agency"],
        "Northshire County Council Children's Social Care"
    );
    assert_eq!(first["message"]["id"], first["message_id"]);

    let r = post(
        &app,
        &tom,
        &ch,
        "tom-1",
        "Lily was in school today and seemed well.",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["seq"], 2);

    // Any member sees both, in order, with who wrote them and for which agency.
    let seen = list(&app, &kim, &ch).await;
    assert_eq!(seqs(&seen), [1, 2]);
    assert_eq!(seen[0]["body"], "Strategy meeting at 10:00 tomorrow.");
    assert_eq!(seen[0]["author"]["id"], sam.person_id.as_str());
    assert_eq!(
        seen[0]["author"]["agency"],
        "Northshire County Council Children's Social Care"
    );
    assert_eq!(seen[0]["author"]["agency_id"], sam.agency_id.as_str());
    assert_eq!(seen[1]["body"], "Lily was in school today and seemed well.");
    assert_eq!(seen[1]["author"]["name"], "Tom Evans");
    assert_eq!(seen[1]["author"]["agency"], "Riverside Academy");
    for m in &seen {
        assert_eq!(m["visible"], true);
        assert_eq!(m["restricted"], false);
        assert_eq!(m["channel"], ch.as_str());
        assert!(m["edited_at"].is_null() && m["redacted_at"].is_null());
        // The sender's idempotency key is theirs alone.
        assert!(m["client_id"].is_null(), "{m}");
    }
    let own = list(&app, &sam, &ch).await;
    assert_eq!(own[0]["client_id"], "sam-1");

    // after_seq lists only what came later.
    let r = get(&app, &kim, &format!("{}?after_seq=1", messages(&ch))).await;
    assert_eq!(seqs(r.json()["messages"].as_array().unwrap()), [2]);

    // The channel's position shows on the case.
    let case = get(
        &app,
        &kim,
        &format!(
            "/api/cases/{}",
            app.case_and_channel("Lily Ashworth").await.0
        ),
    )
    .await;
    assert_eq!(case.json()["channels"][0]["last_seq"], 2);
}

#[tokio::test]
async fn listing_pages_through_a_channel_with_limit_has_more_and_next_after_seq() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    for i in 1..=5 {
        post_ok(&app, &sam, &ch, &format!("c{i}"), &format!("note {i}")).await;
    }
    let page = |after: i64| {
        let path = format!("{}?after_seq={after}&limit=2", messages(&ch));
        let app = &app;
        let sam = &sam;
        async move { get(app, sam, &path).await.json() }
    };
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let p = page(after).await;
        let got = seqs(p["messages"].as_array().unwrap());
        pages.push((got.clone(), p["has_more"].as_bool().unwrap()));
        after = p["next_after_seq"].as_i64().unwrap();
        if !p["has_more"].as_bool().unwrap() {
            break;
        }
        assert!(pages.len() < 10, "paging does not end: {pages:?}");
    }
    assert_eq!(
        pages,
        [(vec![1, 2], true), (vec![3, 4], true), (vec![5], false)]
    );
    assert_eq!(after, 5);

    // Nothing new: an empty page that keeps the position.
    let p = page(5).await;
    assert_eq!(p["messages"], json!([]));
    assert_eq!(p["has_more"], false);
    assert_eq!(p["next_after_seq"], 5);

    // Without parameters: everything from the start.
    let p = get(&app, &sam, &messages(&ch)).await.json();
    assert_eq!(seqs(p["messages"].as_array().unwrap()), [1, 2, 3, 4, 5]);
    assert_eq!(p["has_more"], false);
    assert_eq!(p["next_after_seq"], 5);
    let bodies: Vec<_> = p["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["note 1", "note 2", "note 3", "note 4", "note 5"]);
}

#[tokio::test]
async fn a_retried_post_with_the_same_client_id_is_stored_once() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;

    let r = post(
        &app,
        &sam,
        &ch,
        "retry-me",
        "Referral received from the school.",
    )
    .await;
    assert_eq!(r.status, 201);
    let first = r.json();

    // The network dropped the answer; the client sends again.
    let r = post(
        &app,
        &sam,
        &ch,
        "retry-me",
        "Referral received from the school.",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = r.json();
    assert_eq!(again["seq"], 1);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(
        again["message"]["body"],
        "Referral received from the school."
    );

    // Even with a changed body, the first result stands.
    let r = post(&app, &sam, &ch, "retry-me", "Something else entirely").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["message"]["body"],
        "Referral received from the school."
    );

    let seen = list(&app, &tom, &ch).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(stored_messages(&app, &ch).await, 1);

    // The key is the sender's own: someone else may use the same one.
    let r = post(&app, &tom, &ch, "retry-me", "Attendance record attached.").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["seq"], 2);
    // And a new key is a new message.
    let r = post(
        &app,
        &sam,
        &ch,
        "retry-me-2",
        "Referral received from the school.",
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["seq"], 3);
    assert_eq!(seqs(&list(&app, &sam, &ch).await), [1, 2, 3]);
}

#[tokio::test]
async fn outsiders_get_the_same_not_found_as_for_a_channel_that_does_not_exist() {
    let app = TestApp::start().await;
    let (_, lily) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    post_ok(&app, &sam, &lily, "s1", "Child protection plan agreed.").await;

    let dana = app.sign_in(DANA).await; // housing: on Kai's case, not Lily's
    let ria = app.sign_in(RIA).await; // auditor: on no case
    let nowhere = unknown_id();

    type Probe = (Method, fn(&str) -> String, Option<Value>);
    let probes: Vec<Probe> = vec![
        (
            Method::GET,
            |c| format!("{}?after_seq=0", messages(c)),
            None,
        ),
        (
            Method::POST,
            messages,
            Some(json!({"client_id": "x1", "body": "Can I see this?"})),
        ),
        (Method::POST, read, Some(json!({"seq": 1}))),
        (Method::GET, |c| reads(c, 1), None),
        (
            Method::PATCH,
            |c| message(c, 1),
            Some(json!({"body": "overwritten"})),
        ),
        (Method::DELETE, |c| message(c, 1), None),
    ];
    for who in [&dana, &ria] {
        for (method, path, body) in &probes {
            let mut answers = Vec::new();
            for c in [lily.as_str(), nowhere.as_str()] {
                let mut rb = req(&app, who, method.clone(), &path(c));
                if let Some(b) = body {
                    rb = rb.json(b);
                }
                answers.push(Reply::from(rb.send().await.unwrap()).await);
            }
            let (hidden, missing) = (&answers[0], &answers[1]);
            hidden.expect(404, "not_found");
            assert_eq!(
                (hidden.status, &hidden.text),
                (missing.status, &missing.text),
                "{method} {}: a hidden channel must look like a missing one",
                path("{ch}")
            );
            assert!(!hidden.text.contains("Child protection"), "{}", hidden.text);
        }
    }
    // A member asking for a channel that does not exist gets the same answer.
    get(&app, &sam, &messages(&nowhere))
        .await
        .expect(404, "not_found");

    // Nothing the outsiders tried changed anything.
    let seen = list(&app, &sam, &lily).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["body"], "Child protection plan agreed.");
    assert!(seen[0]["redacted_at"].is_null() && seen[0]["edited_at"].is_null());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM read_receipts WHERE channel_id = $1",
            &lily
        )
        .await,
        0
    );

    // Dana is not refused everything: on Kai's case she may post.
    let (_, kai) = app.case_and_channel("Kai Brennan").await;
    post_ok(&app, &dana, &kai, "d1", "Tenancy review next week.").await;
}

#[tokio::test]
async fn writes_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    post_ok(&app, &sam, &ch, "s1", "Original text.").await;

    let dana_id = dana.person_id.clone();
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            messages(&ch),
            json!({"client_id": "forged", "body": "forged"}),
        ),
        (Method::PATCH, message(&ch, 1), json!({"body": "forged"})),
        (Method::DELETE, message(&ch, 1), json!({})),
        (Method::POST, read(&ch), json!({"seq": 1})),
        (
            Method::POST,
            members(&case),
            json!({"email": DANA, "reason": "forged"}),
        ),
        (
            Method::DELETE,
            format!("{}/{}", members(&case), person_id(&app, TOM).await.unwrap()),
            json!({"reason": "forged"}),
        ),
    ];
    for (method, path, body) in &writes {
        for token in [None, Some("0000"), Some("")] {
            let mut rb = sam.client.request(method.clone(), app.url(path)).json(body);
            if let Some(t) = token {
                rb = rb.header("x-csrf-token", t);
            }
            let r = Reply::from(rb.send().await.unwrap()).await;
            assert_eq!(r.status, 403, "{method} {path} token {token:?}: {}", r.text);
            assert_eq!(r.code(), "forbidden");
        }
        // Another session's token (Dana's, with Sam's cookie) is no better.
        let r = Reply::from(
            sam.client
                .request(method.clone(), app.url(path))
                .header("x-csrf-token", &dana.csrf)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            r.status, 403,
            "{method} {path} with another's token: {}",
            r.text
        );
        // The right token from another site: refused by the same-origin rule.
        let r = Reply::from(
            req(&app, &sam, method.clone(), path)
                .header("sec-fetch-site", "cross-site")
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 403, "{method} {path} cross-site: {}", r.text);
    }

    let seen = list(&app, &sam, &ch).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["body"], "Original text.");
    assert!(seen[0]["edited_at"].is_null() && seen[0]["redacted_at"].is_null());
    assert_eq!(stored_messages(&app, &ch).await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM read_receipts WHERE channel_id = $1",
            &ch
        )
        .await,
        0
    );
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    let team = get(&app, &sam, &format!("/api/cases/{case}")).await.json()["team"].clone();
    let team_ids: Vec<_> = team
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!team_ids.contains(&dana_id));
    assert!(team_ids.contains(&person_id(&app, TOM).await.unwrap()));

    // Reads need no token.
    let r = sam
        .client
        .get(app.url(&messages(&ch)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn invalid_messages_are_refused_with_a_code_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let path = messages(&ch);

    let too_long = "x".repeat(MAX_BODY + 1);
    // 5,462 euro signs: under the limit in characters, over it in bytes.
    let too_many_bytes = "€".repeat(MAX_BODY / 3 + 1);
    let long_id = "k".repeat(101);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "empty body",
            json!({"client_id": "a", "body": ""}),
            "empty_body",
        ),
        (
            "whitespace body",
            json!({"client_id": "a", "body": " \n\t  "}),
            "empty_body",
        ),
        (
            "body over 16 KiB",
            json!({"client_id": "a", "body": too_long}),
            "body_too_large",
        ),
        (
            "body over 16 KiB in bytes",
            json!({"client_id": "a", "body": too_many_bytes}),
            "body_too_large",
        ),
        (
            "missing client_id",
            json!({"body": "hello"}),
            "invalid_body",
        ),
        (
            "empty client_id",
            json!({"client_id": "", "body": "hello"}),
            "bad_client_id",
        ),
        (
            "client_id over 100 characters",
            json!({"client_id": long_id, "body": "hello"}),
            "bad_client_id",
        ),
        ("missing body", json!({"client_id": "a"}), "invalid_body"),
        (
            "body not text",
            json!({"client_id": "a", "body": 42}),
            "invalid_body",
        ),
        (
            "unknown field",
            json!({"client_id": "a", "body": "hello", "urgent": true}),
            "invalid_body",
        ),
        ("not an object", json!(["hello"]), "invalid_body"),
    ];
    for (what, body, code) in &cases {
        let r = send(&app, &sam, Method::POST, &path, body).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(r.code(), *code, "{what}: {}", r.text);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: a message for people too"
        );
    }

    // Malformed JSON.
    let r = Reply::from(
        req(&app, &sam, Method::POST, &path)
            .header("content-type", "application/json")
            .body(r#"{"client_id": "a", "body": "#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(422, "invalid_body");

    // Not JSON at all.
    let r = Reply::from(
        req(&app, &sam, Method::POST, &path)
            .header("content-type", "text/plain")
            .body(r#"{"client_id": "a", "body": "hello"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(415, "invalid_body");
    let r = Reply::from(
        req(&app, &sam, Method::POST, &path)
            .form(&[("client_id", "a"), ("body", "hello")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(415, "invalid_body");

    assert_eq!(stored_messages(&app, &ch).await, 0);
    assert!(list(&app, &sam, &ch).await.is_empty());

    // A negative position.
    get(&app, &sam, &format!("{path}?after_seq=-1"))
        .await
        .expect(422, "after_seq");

    // The limits themselves are allowed: 16 KiB exactly, a 100-character key.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &path,
        &json!({"client_id": "k".repeat(100), "body": "y".repeat(MAX_BODY)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.json()["seq"], 1, "refused posts used no sequence numbers");
    assert_eq!(stored_messages(&app, &ch).await, 1);
}

#[tokio::test]
async fn an_over_limit_request_body_is_refused_with_413() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let huge = json!({"client_id": "big", "body": "z".repeat(2 * 1024 * 1024)});
    let r = send(&app, &sam, Method::POST, &messages(&ch), &huge).await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.code(), "invalid_body");
    assert_eq!(stored_messages(&app, &ch).await, 0);
    // The server is fine afterwards.
    post_ok(&app, &sam, &ch, "small", "ok").await;
}

#[tokio::test]
async fn malformed_query_and_path_parameters_get_a_json_error() {
    // api.rs: "Errors are {"error": {"code", "message"}}".
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    post_ok(&app, &sam, &ch, "s1", "hello").await;
    for (method, path, body) in [
        (
            Method::GET,
            format!("{}?after_seq=abc", messages(&ch)),
            None,
        ),
        (Method::GET, format!("{}?limit=lots", messages(&ch)), None),
        (
            Method::GET,
            format!("/api/channels/{ch}/messages/first/reads"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/channels/{ch}/messages/first"),
            Some(json!({"body": "x"})),
        ),
    ] {
        let mut rb = req(&app, &sam, method.clone(), &path);
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        let r = Reply::from(rb.send().await.unwrap()).await;
        assert!(
            r.status == 400 || r.status == 422,
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        assert!(
            r.content_type.starts_with("application/json"),
            "{method} {path}: expected a JSON error, got [{}] {}",
            r.content_type,
            r.text
        );
        assert!(!r.code().is_empty());
    }
    assert_eq!(list(&app, &sam, &ch).await[0]["body"], "hello");
}

// ---------------------------------------------------------------- restricted

#[tokio::test]
async fn a_restricted_message_is_shown_in_full_only_to_its_audience_and_others_see_a_placeholder() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let police = lee.agency_id.clone();

    // A second police officer joins, to show the audience is the agency.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": PRIYA, "reason": "police decision-maker"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let priya = app.sign_in(PRIYA).await;

    post_ok(&app, &sam, &ch, "s1", "Initial strategy discussion held.").await;
    let secret = "Suspect interviewed under caution on 3 March.";
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": secret,
            "restricted_to": {"agencies": [police], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let posted = r.json();
    assert_eq!(posted["seq"], 2);
    assert_eq!(posted["message"]["body"], secret);
    assert_eq!(posted["message"]["restricted"], true);
    assert_eq!(posted["message"]["restriction_reason"], "police-sensitive");
    post_ok(&app, &tom, &ch, "t1", "Attendance has dropped this term.").await;

    // The author and the named agency see it all.
    for who in [&lee, &priya] {
        let seen = list(&app, who, &ch).await;
        assert_eq!(seqs(&seen), [1, 2, 3]);
        let m = &seen[1];
        assert_eq!(m["visible"], true);
        assert_eq!(m["body"], secret);
        assert_eq!(m["author"]["name"], "DC Lee Harris");
        assert_eq!(m["restricted"], true);
        assert_eq!(m["restriction_reason"], "police-sensitive");
        assert_eq!(m["restricted_to"]["agencies"], json!([police]));
    }

    // Everyone else sees that something is there, and nothing of it, with
    // no gap in the sequence.
    for who in [&tom, &sam] {
        let r = get(&app, who, &format!("{}?after_seq=0", messages(&ch))).await;
        assert_eq!(r.status, 200);
        for leak in [
            secret,
            "police-sensitive",
            "Lee Harris",
            lee.person_id.as_str(),
            "lee-1",
        ] {
            assert!(!r.text.contains(leak), "{leak} leaked: {}", r.text);
        }
        let seen = r.json()["messages"].as_array().unwrap().clone();
        assert_eq!(seqs(&seen), [1, 2, 3], "gap-free for everyone");
        let m = seen[1].as_object().unwrap();
        assert_eq!(m["visible"], false);
        assert_eq!(m["restricted"], true);
        assert_eq!(m["seq"], 2);
        for absent in [
            "body",
            "author",
            "restriction_reason",
            "restricted_to",
            "client_id",
            "edited_at",
        ] {
            assert!(!m.contains_key(absent), "placeholder has {absent}: {m:?}");
        }
        assert_eq!(seen[0]["visible"], true);
        assert_eq!(seen[2]["body"], "Attendance has dropped this term.");
    }

    // Nor who has read it: the same 404 as for a message that does not exist.
    let hidden = get(&app, &tom, &reads(&ch, 2)).await;
    hidden.expect(404, "not_found");
    let missing = get(&app, &tom, &reads(&ch, 99)).await;
    assert_eq!(hidden.text, missing.text);
    assert_eq!(get(&app, &tom, &reads(&ch, 3)).await.status, 200);
    assert_eq!(get(&app, &lee, &reads(&ch, 2)).await.status, 200);
    assert_eq!(get(&app, &priya, &reads(&ch, 2)).await.status, 200);

    // Naming a person: Sam (children's social care) sees this one.
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-2",
            "body": "Disclosure for the lead social worker only.",
            "restricted_to": {"people": [sam.person_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        list(&app, &sam, &ch).await[3]["body"],
        "Disclosure for the lead social worker only."
    );
    let for_tom = list(&app, &tom, &ch).await;
    assert_eq!(seqs(&for_tom), [1, 2, 3, 4]);
    assert_eq!(for_tom[3]["visible"], false);
    assert!(for_tom[3].get("body").is_none());
    // Lee's agency colleague is not named on this one, but Lee is its author.
    assert_eq!(list(&app, &priya, &ch).await[3]["visible"], false);
    assert_eq!(list(&app, &lee, &ch).await[3]["visible"], true);
}

#[tokio::test]
async fn restrictions_without_a_reason_or_an_audience_or_naming_strangers_are_refused() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let police = lee.agency_id.clone();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no reason",
            json!({"agencies": [police]}),
            "bad_restriction",
        ),
        (
            "blank reason",
            json!({"agencies": [police], "reason": "   "}),
            "bad_restriction",
        ),
        (
            "no audience",
            json!({"reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "empty audience",
            json!({"agencies": [], "people": [], "reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "unknown agency",
            json!({"agencies": [unknown_id()], "reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "unknown person",
            json!({"agencies": [police], "people": [unknown_id()], "reason": "police-sensitive"}),
            "bad_restriction",
        ),
        (
            "unknown field",
            json!({"agencies": [police], "reason": "police-sensitive", "until": 5}),
            "invalid_body",
        ),
    ];
    for (what, restriction, code) in &cases {
        let r = send(
            &app,
            &lee,
            Method::POST,
            &messages(&ch),
            &json!({"client_id": "r", "body": "Sensitive.", "restricted_to": restriction}),
        )
        .await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(r.code(), *code, "{what}: {}", r.text);
    }
    assert_eq!(stored_messages(&app, &ch).await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM message_restrictions r JOIN messages m ON m.id = r.message_id \
             WHERE m.channel_id = $1",
            &ch
        )
        .await,
        0
    );
}

// ---------------------------------------------------------------- read receipts

#[tokio::test]
async fn read_receipts_show_who_has_read_a_message_and_for_which_agency() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let kim = app.sign_in(KIM).await;
    post_ok(&app, &sam, &ch, "s1", "Core group on Friday.").await;
    post_ok(
        &app,
        &sam,
        &ch,
        "s2",
        "Please send your reports by Thursday.",
    )
    .await;

    let r = get(&app, &sam, &reads(&ch, 1)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"seq": 1, "read_by": []}));

    // Tom reads up to the latest message: that counts for the earlier one too.
    let t_read = app.clock_now();
    let r = send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": 2})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    for seq in [1, 2] {
        let r = get(&app, &sam, &reads(&ch, seq)).await.json();
        assert_eq!(r["seq"], seq);
        let by = r["read_by"].as_array().unwrap();
        assert_eq!(by.len(), 1, "{r}");
        assert_eq!(by[0]["person_id"], tom.person_id.as_str());
        assert_eq!(by[0]["name"], "Tom Evans");
        assert_eq!(by[0]["agency"], "Riverside Academy");
        assert_eq!(by[0]["agency_id"], tom.agency_id.as_str());
        assert_eq!(by[0]["read_at"], t_read);
    }

    // Kim has read only the first.
    app.clock.advance(60_000);
    let k_read = app.clock_now();
    assert_eq!(
        send(&app, &kim, Method::POST, &read(&ch), &json!({"seq": 1}))
            .await
            .status,
        204
    );
    let first = get(&app, &tom, &reads(&ch, 1)).await.json();
    let names: Vec<_> = first["read_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["read_at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Kim Okafor".to_string(), k_read),
            ("Tom Evans".to_string(), t_read)
        ],
        "by agency: Northshire NHS Foundation Trust, then Riverside Academy"
    );
    let second = get(&app, &tom, &reads(&ch, 2)).await.json();
    assert_eq!(second["read_by"].as_array().unwrap().len(), 1);

    // Marking an earlier message later does not move Tom's marker back, nor
    // change when he first read.
    app.clock.advance(60_000);
    assert_eq!(
        send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": 1}))
            .await
            .status,
        204
    );
    let second = get(&app, &sam, &reads(&ch, 2)).await.json();
    assert_eq!(second["read_by"][0]["person_id"], tom.person_id.as_str());
    assert_eq!(second["read_by"][0]["read_at"], t_read);

    // Beyond the last message, or before the first: refused.
    for seq in [3, 0, -1] {
        let r = send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": seq})).await;
        assert_eq!(r.status, 422, "seq {seq}: {}", r.text);
    }
    send(&app, &tom, Method::POST, &read(&ch), &json!({}))
        .await
        .expect(422, "invalid_body");
    // Who read a message that does not exist: not found.
    get(&app, &sam, &reads(&ch, 3))
        .await
        .expect(404, "not_found");

    // A later message: unread until marked.
    post_ok(&app, &kim, &ch, "k1", "Report sent.").await;
    assert_eq!(
        get(&app, &sam, &reads(&ch, 3)).await.json()["read_by"],
        json!([])
    );
}

#[tokio::test]
async fn people_who_saw_only_a_placeholder_are_not_listed_as_readers_of_a_restricted_message() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Arrest planned for Thursday.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    post_ok(&app, &sam, &ch, "s1", "Visit done.").await;

    // Tom reads the channel up to the end; he has seen only a placeholder
    // for message 1.
    assert_eq!(
        send(&app, &tom, Method::POST, &read(&ch), &json!({"seq": 2}))
            .await
            .status,
        204
    );
    assert_eq!(
        get(&app, &sam, &reads(&ch, 2)).await.json()["read_by"][0]["name"],
        "Tom Evans"
    );
    let readers = get(&app, &lee, &reads(&ch, 1)).await.json();
    let names: Vec<_> = readers["read_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !names.contains(&"Tom Evans".to_string()),
        "Tom never saw the police-only message, yet its author is told he read it: {readers}"
    );
}

// ---------------------------------------------------------------- edits and redactions

#[tokio::test]
async fn authors_edit_their_own_messages_and_the_earlier_text_is_kept() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let posted = post_ok(&app, &sam, &ch, "s1", "Home visit booked for Tuesday.").await;
    let message_id = posted["id"].as_str().unwrap().to_string();

    app.clock.advance(5 * 60_000);
    let edited_at = app.clock_now();
    let r = send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Home visit booked for Wednesday."}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = r.json();
    assert_eq!(m["body"], "Home visit booked for Wednesday.");
    assert_eq!(m["edited_at"], edited_at);
    assert_eq!(m["seq"], 1);
    assert!(m["redacted_at"].is_null());

    let seen = list(&app, &tom, &ch).await;
    assert_eq!(seen.len(), 1, "an edit is not a new message");
    assert_eq!(seen[0]["body"], "Home visit booked for Wednesday.");
    assert_eq!(seen[0]["edited_at"], edited_at);

    // Someone else may not edit it.
    send(
        &app,
        &tom,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Tom's version"}),
    )
    .await
    .expect(403, "forbidden");
    // Nor may an edit empty it, and a message that does not exist is not found.
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "  "}),
    )
    .await
    .expect(422, "empty_body");
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "y".repeat(MAX_BODY + 1)}),
    )
    .await
    .expect(422, "body_too_large");
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"text": "x"}),
    )
    .await
    .expect(422, "invalid_body");
    send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 7),
        &json!({"body": "x"}),
    )
    .await
    .expect(404, "not_found");
    assert_eq!(
        stored_body(&app, &ch, 1).await,
        "Home visit booked for Wednesday."
    );

    // A second edit; every earlier text stays for auditors.
    let r = send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Home visit booked for Thursday."}),
    )
    .await;
    assert_eq!(r.status, 200);
    let db = app.db().await;
    let versions: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT version, body, replaced_by, change FROM message_versions WHERE message_id = $1 ORDER BY version",
    )
    .bind(&message_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        versions,
        [
            (
                1,
                "Home visit booked for Tuesday.".to_string(),
                sam.person_id.clone(),
                "edited".to_string()
            ),
            (
                2,
                "Home visit booked for Wednesday.".to_string(),
                sam.person_id.clone(),
                "edited".to_string()
            ),
        ]
    );

    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let edits: Vec<_> = events
        .iter()
        .filter(|e| e.action == "message.edited")
        .collect();
    assert_eq!(edits.len(), 2, "two edits, and the refused ones not at all");
    for e in edits {
        assert_eq!(e.case_id.as_deref(), Some(case.as_str()));
        assert_eq!(e.subject.as_deref(), Some(message_id.as_str()));
    }
}

#[tokio::test]
async fn authors_and_managers_in_the_team_redact_but_other_practitioners_may_not() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let alex = app.sign_in(ALEX).await;
    let kim = app.sign_in(KIM).await;
    let sams = post_ok(
        &app,
        &sam,
        &ch,
        "s1",
        "Posted to the wrong case by mistake.",
    )
    .await;
    let toms = post_ok(&app, &tom, &ch, "t1", "Unkind remark about the family.").await;

    // Tom (a practitioner, not the author) may not remove Sam's message.
    delete(&app, &tom, &message(&ch, 1))
        .await
        .expect(403, "forbidden");
    // Nor Kim remove Tom's.
    delete(&app, &kim, &message(&ch, 2))
        .await
        .expect(403, "forbidden");
    assert_eq!(
        stored_body(&app, &ch, 1).await,
        "Posted to the wrong case by mistake."
    );

    // The author may.
    app.clock.advance(60_000);
    let at = app.clock_now();
    let r = delete(&app, &sam, &message(&ch, 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = r.json();
    assert_eq!(m["body"], "");
    assert_eq!(m["redacted_at"], at);
    assert_eq!(m["redacted_by"], "Sam Patel");

    // Alex, a manager in the case team, may remove Tom's.
    let r = delete(&app, &alex, &message(&ch, 2)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["redacted_by"], "Alex Morgan");
    assert_eq!(r.json()["body"], "");

    // Everyone sees both gone, in place (no gap).
    let seen = list(&app, &kim, &ch).await;
    assert_eq!(seqs(&seen), [1, 2]);
    for m in &seen {
        assert_eq!(m["body"], "");
        assert!(m["redacted_at"].is_i64(), "{m}");
    }
    let text = get(&app, &kim, &messages(&ch)).await.text;
    assert!(
        !text.contains("wrong case") && !text.contains("Unkind"),
        "{text}"
    );
    assert_eq!(stored_body(&app, &ch, 1).await, "");

    // The author cannot bring the text back by editing.
    let r = send(
        &app,
        &sam,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "restored"}),
    )
    .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_eq!(list(&app, &sam, &ch).await[0]["body"], "");

    // The removed texts are kept for auditors, and the removals are audited.
    let db = app.db().await;
    for (m, text) in [
        (&sams, "Posted to the wrong case by mistake."),
        (&toms, "Unkind remark about the family."),
    ] {
        let versions: Vec<(String, String)> = sqlx::query_as(
            "SELECT body, change FROM message_versions WHERE message_id = $1 ORDER BY version",
        )
        .bind(m["id"].as_str().unwrap())
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(versions, [(text.to_string(), "redacted".to_string())]);
    }
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let redactions: Vec<_> = events
        .iter()
        .filter(|e| e.action == "message.redacted")
        .collect();
    assert_eq!(redactions.len(), 2);
    assert!(
        redactions
            .iter()
            .all(|e| e.case_id.as_deref() == Some(case.as_str()))
    );
    let subjects: Vec<_> = redactions
        .iter()
        .map(|e| e.subject.clone().unwrap())
        .collect();
    assert!(subjects.contains(&sams["id"].as_str().unwrap().to_string()));
    assert!(subjects.contains(&toms["id"].as_str().unwrap().to_string()));

    // Removing a message that does not exist: not found.
    delete(&app, &sam, &message(&ch, 9))
        .await
        .expect(404, "not_found");
}

#[tokio::test]
async fn a_manager_cannot_redact_a_restricted_message_they_cannot_see() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let alex = app.sign_in(ALEX).await; // children's social care manager
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Intelligence from the force: do not share.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(list(&app, &alex, &ch).await[0]["visible"], false);

    let r = delete(&app, &alex, &message(&ch, 1)).await;
    assert!(
        r.status == 404 || r.status == 403,
        "Alex sees only a placeholder, yet could remove the police's message: {} {}",
        r.status,
        r.text
    );
    let seen = list(&app, &lee, &ch).await;
    assert_eq!(
        seen[0]["body"],
        "Intelligence from the force: do not share."
    );
    assert!(seen[0]["redacted_at"].is_null());
}

// ---------------------------------------------------------------- membership

async fn team_ids(app: &TestApp, who: &Signed, case: &str) -> Vec<String> {
    let r = get(app, who, &format!("/api/cases/{case}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_lead_adds_a_member_who_can_then_use_the_channel() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    post_ok(&app, &sam, &ch, "s1", "Family facing eviction.").await;
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");

    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "family's housing officer"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let added = r.json();
    assert_eq!(added["person_id"], dana.person_id.as_str());
    assert_eq!(added["case_id"], case.as_str());
    assert_eq!(added["invited"], false);

    // At once, with her existing session.
    let seen = list(&app, &dana, &ch).await;
    assert_eq!(seen[0]["body"], "Family facing eviction.");
    post_ok(&app, &dana, &ch, "d1", "Rent arrears cleared.").await;
    let cases = get(&app, &dana, "/api/cases").await.json();
    let names: Vec<_> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["child_name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"Lily Ashworth".to_string()), "{names:?}");

    let team = get(&app, &sam, &format!("/api/cases/{case}")).await.json()["team"].clone();
    let dana_row = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["person_id"] == dana.person_id.as_str())
        .expect("Dana in the team")
        .clone();
    assert_eq!(dana_row["reason"], "family's housing officer");
    assert_eq!(dana_row["granted_by_label"], "Sam Patel");
    assert_eq!(dana_row["agency_name"], "Northshire Homes");

    // Adding her twice: a conflict, not a second membership.
    send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "again"}),
    )
    .await
    .expect(409, "conflict");

    // A manager in the team may add people too.
    let alex = app.sign_in(ALEX).await;
    let r = send(
        &app,
        &alex,
        Method::POST,
        &members(&case),
        &json!({"email": PRIYA, "reason": "police decision-maker"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn only_the_lead_or_a_manager_in_the_team_may_change_who_is_in_it() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let tom = app.sign_in(TOM).await;
    let ria = app.sign_in(RIA).await;
    let dana = app.sign_in(DANA).await;
    let kim_id = person_id(&app, KIM).await.unwrap();
    let body = json!({"email": DANA, "reason": "housing"});

    // Tom is in the team but neither lead nor manager.
    send(&app, &tom, Method::POST, &members(&case), &body)
        .await
        .expect(403, "forbidden");
    send(
        &app,
        &tom,
        Method::DELETE,
        &format!("{}/{kim_id}", members(&case)),
        &json!({"reason": "not needed"}),
    )
    .await
    .expect(403, "forbidden");

    // Ria is an auditor outside the team: the case does not exist for her.
    for (method, path, body) in [
        (Method::POST, members(&case), body.clone()),
        (
            Method::DELETE,
            format!("{}/{kim_id}", members(&case)),
            json!({"reason": "not needed"}),
        ),
    ] {
        let hidden = send(&app, &ria, method.clone(), &path, &body).await;
        hidden.expect(404, "not_found");
        let missing = send(
            &app,
            &ria,
            method,
            &path.replace(&case, &unknown_id()),
            &body,
        )
        .await;
        assert_eq!((hidden.status, hidden.text), (missing.status, missing.text));
    }
    // Nor may Ria add herself, nor Dana (in another case's team) add herself.
    for (who, email) in [(&ria, RIA), (&dana, DANA)] {
        send(
            &app,
            who,
            Method::POST,
            &members(&case),
            &json!({"email": email, "reason": "curious"}),
        )
        .await
        .expect(404, "not_found");
    }

    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    get(&app, &ria, &messages(&ch))
        .await
        .expect(404, "not_found");
    assert_eq!(
        get(&app, &app.sign_in(KIM).await, &messages(&ch))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn membership_requests_are_checked() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    let now = app.clock_now();
    let police = app.sign_in(LEE).await.agency_id;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing reason", json!({"email": DANA}), "invalid_body"),
        (
            "blank reason",
            json!({"email": DANA, "reason": "  "}),
            "reason|invalid",
        ),
        (
            "missing email",
            json!({"reason": "housing"}),
            "invalid_body",
        ),
        (
            "unknown field",
            json!({"email": DANA, "reason": "housing", "role": "admin"}),
            "invalid_body",
        ),
        (
            "expiry in the past",
            json!({"email": DANA, "reason": "housing", "expires_at": now - HOUR}),
            "invalid",
        ),
        (
            "expiry now",
            json!({"email": DANA, "reason": "housing", "expires_at": now}),
            "invalid",
        ),
        (
            "unknown email, no guest details",
            json!({"email": "nobody@nowhere.example", "reason": "housing"}),
            "unknown_person",
        ),
        (
            "guest of an unknown agency",
            json!({"email": "new.person@charity.example", "reason": "advocate",
                   "guest": {"name": "New Person", "agency_id": unknown_id()}}),
            "unknown_agency",
        ),
        (
            "guest without a name",
            json!({"email": "new.person@charity.example", "reason": "advocate",
                   "guest": {"agency_id": police}}),
            "invalid_body",
        ),
    ];
    for (what, body, code) in &cases {
        let r = send(&app, &sam, Method::POST, &members(&case), body).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert!(code_is(&r.code(), code), "{what}: {}", r.text);
    }
    // Nobody was added, and no guest was created.
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    assert!(!team_ids(&app, &sam, &case).await.contains(&dana.person_id));
    assert_eq!(person_id(&app, "nobody@nowhere.example").await, None);
    assert_eq!(person_id(&app, "new.person@charity.example").await, None);
    send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "x"}),
    )
    .await;
    assert!(team_ids(&app, &sam, &case).await.contains(&dana.person_id));
}

#[tokio::test]
async fn a_membership_with_an_expiry_ends_then() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    // Shorter than the session idle timeout, so the session outlives the grant.
    let until = app.clock_now() + 10 * 60_000;
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "for the housing panel", "expires_at": until}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let team = get(&app, &sam, &format!("/api/cases/{case}")).await.json()["team"].clone();
    let row = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["person_id"] == dana.person_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["expires_at"], until);
    assert_eq!(get(&app, &dana, &messages(&ch)).await.status, 200);

    app.clock.advance(10 * 60_000 - 1);
    assert_eq!(get(&app, &dana, &messages(&ch)).await.status, 200);
    app.clock.advance(1);
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    get(&app, &dana, &format!("/api/cases/{case}"))
        .await
        .expect(404, "not_found");
    assert!(!team_ids(&app, &sam, &case).await.contains(&dana.person_id));

    // Granted again after it ran out: access returns.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "second housing panel"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(get(&app, &dana, &messages(&ch)).await.status, 200);
}

/// The text of the first `.eml` in the development outbox, waiting up to 5 s.
async fn outbox_mail(app: &TestApp) -> String {
    let outbox = app.data_dir.join("outbox");
    for _ in 0..100 {
        if let Ok(dir) = std::fs::read_dir(&outbox) {
            let files: Vec<_> = dir
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            if let Some(f) = files.first() {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                if !text.is_empty() {
                    // Undo quoted-printable soft line breaks, if used.
                    return text
                        .replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "=");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail in {}", outbox.display());
}

#[tokio::test]
async fn inviting_a_guest_creates_them_and_mails_the_case_reference_but_not_the_child() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let housing = app.sign_in(DANA).await.agency_id;
    let email = "pat.guest@charity.example";
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({
            "email": email,
            "reason": "independent advocate for the family",
            "guest": {"name": "Pat Guest", "agency_id": housing},
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let added = r.json();
    assert_eq!(added["invited"], true);
    let guest_id = added["person_id"].as_str().unwrap().to_string();

    let db = app.db().await;
    let guest = confer::store::people::find_by_email(&db, email)
        .await
        .unwrap();
    assert_eq!(guest.id, guest_id);
    assert!(guest.guest);
    assert_eq!(guest.name, "Pat Guest");
    assert_eq!(guest.agency_id, housing);
    let reference = confer::store::cases::find_for_operator(&db, &case)
        .await
        .unwrap()
        .reference;

    let mail = outbox_mail(&app).await;
    assert!(mail.contains(email), "{mail}");
    assert!(mail.contains(&reference), "the case reference: {mail}");
    assert!(mail.contains("Sam Patel"), "{mail}");
    for child in ["Lily", "Ashworth", "2013-04-17", "NCC-104233"] {
        assert!(
            !mail.contains(child),
            "mail names the child ({child}): {mail}"
        );
    }

    // The guest is in the team and, once signed in, can use the channel.
    assert!(team_ids(&app, &sam, &case).await.contains(&guest_id));
    let pat = app.sign_in(email).await;
    let s = get(&app, &pat, "/api/session").await.json();
    assert_eq!(s["person"]["guest"], true);
    assert_eq!(get(&app, &pat, &messages(&ch)).await.status, 200);
    // But only this case.
    let (_, kai) = app.case_and_channel("Kai Brennan").await;
    get(&app, &pat, &messages(&kai))
        .await
        .expect(404, "not_found");
}

#[tokio::test]
async fn a_refused_invitation_creates_nobody_so_the_corrected_one_is_still_sent() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let housing = app.sign_in(DANA).await.agency_id;
    let email = "jo.advocate@charity.example";
    let guest = json!({"name": "Jo Advocate", "agency_id": housing});

    // The lead forgets the reason, then gives an expiry in the past.
    for bad in [
        json!({"email": email, "reason": " ", "guest": guest}),
        json!({"email": email, "reason": "advocate", "expires_at": app.clock_now() - HOUR, "guest": guest}),
    ] {
        let r = send(&app, &sam, Method::POST, &members(&case), &bad).await;
        assert_eq!(r.status, 422, "{}", r.text);
    }
    assert_eq!(
        person_id(&app, email).await,
        None,
        "a refused invitation left a guest account behind"
    );

    // Corrected: the invitation goes out.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": email, "reason": "advocate", "guest": guest}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["invited"], true, "{}", r.text);
    let mail = outbox_mail(&app).await;
    assert!(mail.contains(email));
}

#[tokio::test]
async fn removing_a_member_ends_their_access_at_once_but_the_lead_cannot_be_removed() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let alex = app.sign_in(ALEX).await;
    let kim = app.sign_in(KIM).await;
    post_ok(&app, &sam, &ch, "s1", "Case conference minutes.").await;
    assert_eq!(get(&app, &tom, &messages(&ch)).await.status, 200);
    let remove = |person: &str| format!("{}/{person}", members(&case));

    // A reason is required.
    send(
        &app,
        &sam,
        Method::DELETE,
        &remove(&tom.person_id),
        &json!({}),
    )
    .await
    .expect(422, "invalid_body");
    send(
        &app,
        &sam,
        Method::DELETE,
        &remove(&tom.person_id),
        &json!({"reason": "  "}),
    )
    .await
    .expect(422, "reason|invalid");
    assert_eq!(get(&app, &tom, &messages(&ch)).await.status, 200);

    let r = send(
        &app,
        &sam,
        Method::DELETE,
        &remove(&tom.person_id),
        &json!({"reason": "left the school"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Tom's next request is refused, exactly as for a channel that does not exist.
    let hidden = get(&app, &tom, &messages(&ch)).await;
    hidden.expect(404, "not_found");
    assert_eq!(
        hidden.text,
        get(&app, &tom, &messages(&unknown_id())).await.text
    );
    post(&app, &tom, &ch, "t1", "Still here?")
        .await
        .expect(404, "not_found");
    get(&app, &tom, &format!("/api/cases/{case}"))
        .await
        .expect(404, "not_found");
    assert_eq!(
        get(&app, &tom, "/api/cases").await.json()["cases"],
        json!([])
    );
    assert!(!team_ids(&app, &sam, &case).await.contains(&tom.person_id));
    assert_eq!(stored_messages(&app, &ch).await, 1);

    // Removing him again, or someone never in the team: not found.
    let dana_id = person_id(&app, DANA).await.unwrap();
    for person in [tom.person_id.as_str(), dana_id.as_str(), "no-such-person"] {
        send(
            &app,
            &sam,
            Method::DELETE,
            &remove(person),
            &json!({"reason": "tidying"}),
        )
        .await
        .expect(404, "not_found");
    }

    // Nobody removes the lead, not even the manager, not even himself.
    for who in [&alex, &sam] {
        send(
            &app,
            who,
            Method::DELETE,
            &remove(&sam.person_id),
            &json!({"reason": "reassigned"}),
        )
        .await
        .expect(422, "lead");
    }
    assert_eq!(get(&app, &sam, &messages(&ch)).await.status, 200);

    // A manager in the team may remove others.
    let r = send(
        &app,
        &alex,
        Method::DELETE,
        &remove(&kim.person_id),
        &json!({"reason": "health input complete"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    get(&app, &kim, &messages(&ch))
        .await
        .expect(404, "not_found");

    let db = app.db().await;
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let removed: Vec<_> = events
        .iter()
        .filter(|e| e.action == "case.member_removed")
        .map(|e| e.subject.clone().unwrap())
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.contains(&tom.person_id) && removed.contains(&kim.person_id));
}

// ---------------------------------------------------------------- cases and agencies

#[tokio::test]
async fn members_see_their_cases_with_team_and_channels_and_outsiders_see_nothing() {
    let app = TestApp::start().await;
    let (lily, lily_ch) = app.case_and_channel("Lily Ashworth").await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let ria = app.sign_in(RIA).await;

    let names = |v: &Value| -> Vec<String> {
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["child_name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = get(&app, &sam, "/api/cases").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        names(&r.json()),
        ["Kai Brennan", "Lily Ashworth"],
        "newest first"
    );
    assert_eq!(
        names(&get(&app, &tom, "/api/cases").await.json()),
        ["Lily Ashworth"]
    );
    let r = get(&app, &ria, "/api/cases").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"cases": []}),
        "an auditor has no case without membership"
    );

    let r = get(&app, &tom, &format!("/api/cases/{lily}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.json();
    assert_eq!(c["case"]["id"], lily.as_str());
    assert_eq!(c["case"]["child_name"], "Lily Ashworth");
    assert_eq!(c["case"]["child_dob"], "2013-04-17");
    assert_eq!(c["case"]["la_reference"], "NCC-104233");
    assert_eq!(c["case"]["status"], "open");
    assert_eq!(c["case"]["lead_social_worker_id"], sam.person_id.as_str());
    assert_eq!(c["case"]["lead_social_worker_name"], "Sam Patel");
    assert!(c["case"]["reference"].as_str().unwrap().starts_with("CF-"));
    let team: Vec<(String, String)> = c["team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["agency_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(team.len(), 5, "{team:?}");
    for (name, agency) in [
        (
            "Sam Patel",
            "Northshire County Council Children's Social Care",
        ),
        (
            "Alex Morgan",
            "Northshire County Council Children's Social Care",
        ),
        ("DC Lee Harris", "Northshire Police"),
        ("Kim Okafor", "Northshire NHS Foundation Trust"),
        ("Tom Evans", "Riverside Academy"),
    ] {
        assert!(
            team.contains(&(name.to_string(), agency.to_string())),
            "{name} of {agency} in {team:?}"
        );
    }
    let tom_row = c["team"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Tom Evans")
        .unwrap();
    assert_eq!(
        tom_row["reason"],
        "designated safeguarding lead at the child's school"
    );
    assert_eq!(tom_row["role"], "practitioner");
    assert_eq!(tom_row["agency_kind"], "education");
    let channels = c["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0]["id"], lily_ch.as_str());
    assert_eq!(channels[0]["kind"], "case");
    assert_eq!(channels[0]["case_id"], lily.as_str());
    assert_eq!(channels[0]["last_seq"], 0);
    assert!(!r.text.contains("Kai") && !r.text.contains("Dana"));

    // Tom is not on Kai's case; Ria on none: the same answer as for no case at all.
    let missing = get(&app, &tom, &format!("/api/cases/{}", unknown_id())).await;
    missing.expect(404, "not_found");
    for (who, case) in [(&tom, &kai), (&ria, &lily), (&ria, &kai)] {
        let hidden = get(&app, who, &format!("/api/cases/{case}")).await;
        assert_eq!(
            (hidden.status, &hidden.text),
            (missing.status, &missing.text)
        );
    }

    // Reading a case over the API is audited, for members only.
    let db = app.db().await;
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let read_events: Vec<_> = events.iter().filter(|e| e.action == "case.read").collect();
    assert_eq!(read_events.len(), 1, "Tom's one successful read");
    assert_eq!(read_events[0].case_id.as_deref(), Some(lily.as_str()));
}

#[tokio::test]
async fn the_agencies_of_the_partnership_are_listed_for_anyone_signed_in() {
    let app = TestApp::start().await;
    let ria = app.sign_in(RIA).await;
    let r = get(&app, &ria, "/api/agencies").await;
    assert_eq!(r.status, 200);
    let list = r.json()["agencies"].as_array().unwrap().clone();
    let mut got: Vec<(String, String)> = list
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "Northshire County Council Children's Social Care",
                "childrens_social_care"
            ),
            ("Northshire Homes", "housing"),
            ("Northshire NHS Foundation Trust", "health"),
            ("Northshire Police", "police"),
            ("Riverside Academy", "education"),
        ]
        .map(|(n, k)| (n.to_string(), k.to_string()))
    );
    let tom = app.sign_in(TOM).await;
    let school = list
        .iter()
        .find(|a| a["name"] == "Riverside Academy")
        .unwrap();
    assert_eq!(school["id"], tom.agency_id.as_str());
    // Only what a restriction needs: no people, no admin details.
    assert_eq!(school.as_object().unwrap().len(), 3, "{school}");
}

// ---------------------------------------------------------------- the delivery log

async fn delivered(app: &TestApp, message_id: &str) -> Vec<String> {
    let db = app.db().await;
    let rows = confer::store::receipts::delivered_to(&db, message_id)
        .await
        .unwrap();
    db.close().await;
    rows.into_iter().map(|(p, _)| p).collect()
}

/// Waits (up to ~2 s: the log is written in batches) until `person` has
/// been recorded as sent `message_id`.
async fn wait_for_delivery(app: &TestApp, message_id: &str, person: &str) {
    for _ in 0..40 {
        if delivered(app, message_id).await.iter().any(|p| p == person) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery of {message_id} to {person} recorded");
}

#[tokio::test]
async fn listing_messages_records_their_delivery_but_not_of_placeholders() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let open = post_ok(&app, &sam, &ch, "s1", "Please all read the plan.").await;
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Police-only update.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    let restricted = r.json()["message"].clone();
    let later = post_ok(&app, &sam, &ch, "s2", "Plan updated.").await;
    let id = |m: &Value| m["id"].as_str().unwrap().to_string();

    assert!(
        delivered(&app, &id(&open)).await.is_empty(),
        "posting is not delivery"
    );

    let seen = list(&app, &tom, &ch).await;
    assert_eq!(seqs(&seen), [1, 2, 3]);
    wait_for_delivery(&app, &id(&open), &tom.person_id).await;
    wait_for_delivery(&app, &id(&later), &tom.person_id).await;
    // Written in the same batch as the others, if at all: Tom was sent only
    // a placeholder, never the message.
    assert!(
        !delivered(&app, &id(&restricted))
            .await
            .contains(&tom.person_id),
        "a placeholder recorded as delivered"
    );

    // Lee, in the audience, is recorded as sent it.
    list(&app, &lee, &ch).await;
    wait_for_delivery(&app, &id(&restricted), &lee.person_id).await;
    assert_eq!(
        delivered(&app, &id(&restricted)).await,
        std::slice::from_ref(&lee.person_id)
    );

    // Listing again keeps the first delivery only.
    let first: Vec<_> = {
        let db = app.db().await;
        confer::store::receipts::delivered_to(&db, &id(&open))
            .await
            .unwrap()
    };
    app.clock.advance(60_000);
    list(&app, &tom, &ch).await;
    list(&app, &sam, &ch).await;
    wait_for_delivery(&app, &id(&open), &sam.person_id).await;
    let db = app.db().await;
    let again = confer::store::receipts::delivered_to(&db, &id(&open))
        .await
        .unwrap();
    let tom_rows: Vec<_> = again.iter().filter(|(p, _)| *p == tom.person_id).collect();
    assert_eq!(tom_rows.len(), 1);
    assert_eq!(
        tom_rows[0].1,
        first.iter().find(|(p, _)| *p == tom.person_id).unwrap().1
    );
}

// ---------------------------------------------------------------- at the same time

#[tokio::test]
async fn messages_posted_at_the_same_time_get_distinct_gap_free_numbers() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let posts = (0..24).map(|i| {
        let who = if i % 2 == 0 { &sam } else { &tom };
        let app = &app;
        let ch = &ch;
        async move { post(app, who, ch, &format!("c{i}"), &format!("message {i}")).await }
    });
    let replies = futures_util::future::join_all(posts).await;
    let mut got: Vec<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.json()["seq"].as_i64().unwrap()
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, (1..=24).collect::<Vec<_>>());
    assert_eq!(
        seqs(&list(&app, &tom, &ch).await),
        (1..=24).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn marking_a_message_read_twice_at_once_is_not_an_error() {
    // Two tabs open, or a double click: both reach the server together.
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let path = read(&ch);
    // A few rounds, as the race does not show every time.
    for seq in 1..=6 {
        post_ok(
            &app,
            &sam,
            &ch,
            &format!("s{seq}"),
            "Please confirm you have seen this.",
        )
        .await;
        let body = json!({ "seq": seq });
        let marks = (0..10).map(|_| send(&app, &tom, Method::POST, &path, &body));
        let replies = futures_util::future::join_all(marks).await;
        for r in &replies {
            assert_eq!(r.status, 204, "seq {seq}: {}", r.text);
        }
        let by = get(&app, &sam, &reads(&ch, seq)).await.json()["read_by"].clone();
        assert_eq!(by.as_array().unwrap().len(), 1, "{by}");
    }
}

#[tokio::test]
async fn edits_saved_at_the_same_time_all_keep_the_text_they_replaced() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let posted = post_ok(&app, &sam, &ch, "s1", "Draft: meeting on Monday.").await;
    let path = message(&ch, 1);
    let edits = (0..6).map(|i| {
        let body = json!({"body": format!("Meeting on Monday (v{i}).")});
        let app = &app;
        let sam = &sam;
        let path = &path;
        async move { send(app, sam, Method::PATCH, path, &body).await }
    });
    let replies = futures_util::future::join_all(edits).await;
    let mut accepted = Vec::new();
    for (i, r) in replies.iter().enumerate() {
        assert!(
            r.status == 200 || r.status == 409,
            "a double-submitted edit failed: {} {}",
            r.status,
            r.text
        );
        if r.status == 200 {
            accepted.push(format!("Meeting on Monday (v{i})."));
        }
    }
    // Every text that was ever live is kept: the earlier ones in
    // message_versions, the last in the message itself.
    let db = app.db().await;
    let mut history: Vec<String> = sqlx::query_as::<_, (String,)>(
        "SELECT body FROM message_versions WHERE message_id = $1 ORDER BY version",
    )
    .bind(posted["id"].as_str().unwrap())
    .fetch_all(db.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(b,)| b)
    .collect();
    history.push(stored_body(&app, &ch, 1).await);
    history.sort();
    let mut expected = accepted.clone();
    expected.push("Draft: meeting on Monday.".to_string());
    expected.sort();
    assert_eq!(
        history, expected,
        "accepted edits {accepted:?}: some live text is missing from the history"
    );
}

#[tokio::test]
async fn an_edit_racing_a_removal_leaves_no_text_in_the_removed_message() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    // The author saves an edit while a manager removes the message: it ends
    // removed, with no text left in the live row, and neither request fails.
    let alex = app.sign_in(ALEX).await;
    let late = json!({"body": "late edit"});
    for i in 1..=8 {
        post_ok(&app, &sam, &ch, &format!("s{i}"), &format!("Note {i}.")).await;
        let path = message(&ch, i);
        let (edit, redact) = tokio::join!(
            send(&app, &sam, Method::PATCH, &path, &late),
            delete(&app, &alex, &path),
        );
        assert_eq!(redact.status, 200, "{}", redact.text);
        assert!(edit.status < 500, "{} {}", edit.status, edit.text);
        let m = &list(&app, &sam, &ch).await[i as usize - 1];
        assert_eq!(m["body"], "");
        assert!(m["redacted_at"].is_i64());
        assert_eq!(
            stored_body(&app, &ch, i).await,
            "",
            "an edit landed after the removal (edit answered {} {})",
            edit.status,
            edit.text
        );
        // An edit that lost the race is refused, as editing a removed message
        // is; one that was accepted was live, so the removal kept its text.
        if edit.status == 200 {
            // (Its answer may already show the removal that followed it.)
            assert!(
                edit.json()["edited_at"].is_i64(),
                "the edit of message {i} answered 200 but was not applied: {}",
                edit.text
            );
            let id = m["id"].as_str().unwrap();
            let kept = count(
                &app,
                "SELECT COUNT(*) FROM message_versions WHERE message_id = $1 AND body = 'late edit'",
                id,
            )
            .await;
            assert_eq!(
                kept, 1,
                "the accepted edit's text is missing from the history of message {i}"
            );
        }
    }
}

#[tokio::test]
async fn editing_or_removing_a_restricted_message_keeps_it_from_everyone_else() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Warrant executed at the address.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);

    let r = send(
        &app,
        &lee,
        Method::PATCH,
        &message(&ch, 1),
        &json!({"body": "Warrant executed at the address; two arrests."}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["restricted"], true);
    assert_eq!(r.json()["restriction_reason"], "police-sensitive");
    let for_tom = get(&app, &tom, &messages(&ch)).await;
    assert!(!for_tom.text.contains("arrests") && !for_tom.text.contains("Warrant"));
    let m = for_tom.json()["messages"][0].clone();
    assert_eq!(m["visible"], false, "{m}");
    assert!(
        m.get("body").is_none() && m.get("edited_at").is_none(),
        "{m}"
    );

    let r = delete(&app, &lee, &message(&ch, 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = get(&app, &tom, &messages(&ch)).await.json()["messages"][0].clone();
    assert_eq!(m["visible"], false, "{m}");
    assert!(
        m.get("redacted_by").is_none() && m.get("redacted_at").is_none(),
        "{m}"
    );
    // Lee still sees it as his own, removed.
    let m = &list(&app, &lee, &ch).await[0];
    assert_eq!(m["visible"], true);
    assert_eq!(m["body"], "");
    assert_eq!(m["redacted_by"], "DC Lee Harris");
}
