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
    let body = db.open_sealed("messages.body", body).expect("opens");
    db.close().await;
    body
}

/// A message's earlier texts, opened (they are sealed at rest), as
/// `(version, body, replaced_by, change)`.
async fn versions(app: &TestApp, message_id: &str) -> Vec<(i64, String, String, String)> {
    let db = app.db().await;
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT version, body, replaced_by, change FROM message_versions WHERE message_id = $1 ORDER BY version",
    )
    .bind(message_id)
    .fetch_all(db.pool())
    .await
    .expect("versions");
    let opened = rows
        .into_iter()
        .map(|(v, body, by, change)| {
            let body = db
                .open_sealed("message_versions.body", body)
                .expect("opens");
            (v, body, by, change)
        })
        .collect();
    db.close().await;
    opened
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

mod cases;
mod concurrency;
mod deliveries;
mod edits;
mod messages;
mod openapi;
mod receipts;
mod restricted;
mod session;
mod team;
