//! The statements of one group commit, each run once per batch rather than
//! once per post (session 5's send-path profile: with SQLite every statement
//! is a round trip to sqlx's worker thread, and the writer made three or
//! four of them per message). A batch of N posts in C channels by A authors
//! costs one duplicate lookup, one sequence allocation (two on PostgreSQL),
//! one author lookup and one multi-row insert per [`ROWS`] messages.

use std::collections::HashMap;

use sqlx::Row;

use super::Post;
use crate::config::Engine;
use crate::domain::clock::Millis;
use crate::store::script::{Script, Value};
use crate::store::{Conn, Placeholders, StoreError, StoreResult};

/// Posts looked up, or messages inserted, per statement (at most 10
/// parameters a row: well inside both engines' limits).
const ROWS: usize = 100;

/// A post's idempotency key: channel, author, client id.
pub(super) type Key = (String, String, String);

pub(super) fn key(post: &Post) -> Key {
    (
        post.channel_id.clone(),
        post.author_id.clone(),
        post.client_id.clone(),
    )
}

/// The sequence numbers of posts whose `client_id` was used before by the
/// same author in the same channel (the `messages_idempotency` index).
pub(super) async fn earlier(conn: &mut Conn, posts: &[Post]) -> StoreResult<HashMap<Key, i64>> {
    let p = Placeholders::of(conn);
    let mut out = HashMap::new();
    for chunk in posts.chunks(ROWS) {
        let terms: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(channel_id = {} AND author_id = {} AND client_id = {})",
                    p.one(i * 3 + 1),
                    p.one(i * 3 + 2),
                    p.one(i * 3 + 3)
                )
            })
            .collect();
        let sql = format!(
            "SELECT channel_id, author_id, client_id, seq FROM messages WHERE {}",
            terms.join(" OR ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in chunk {
            q = q.bind(&p.channel_id).bind(&p.author_id).bind(&p.client_id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.insert(
                (
                    r.try_get("channel_id")?,
                    r.try_get("author_id")?,
                    r.try_get("client_id")?,
                ),
                r.try_get("seq")?,
            );
        }
    }
    Ok(out)
}

/// What a channel's row says for this batch.
pub(super) struct ChannelRow {
    /// The first sequence number allocated to this batch.
    pub next_seq: i64,
    pub case_id: String,
    pub sharing_version: i64,
}

/// Allocate `count` sequence numbers in each channel, in one `UPDATE …
/// RETURNING`. On PostgreSQL the rows are locked first in id order (as a
/// consent change does in `withholding::bump_in`), so the two can never
/// deadlock. A channel that does not exist fails the batch (`NotFound`).
pub(super) async fn allocate(
    conn: &mut Conn,
    engine: Engine,
    counts: &[(String, i64)],
) -> StoreResult<HashMap<String, ChannelRow>> {
    let p = Placeholders::of(conn);
    let mut out = HashMap::with_capacity(counts.len());
    for chunk in counts.chunks(ROWS) {
        if engine == Engine::Postgres {
            let sql = format!(
                "SELECT id FROM channels WHERE id IN {} ORDER BY id FOR UPDATE",
                p.list(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, _) in chunk {
                q = q.bind(id);
            }
            q.fetch_all(&mut *conn).await?;
        }
        let cases: Vec<String> = (0..chunk.len())
            .map(|i| format!("WHEN {} THEN {}", p.one(i * 2 + 1), p.one(i * 2 + 2)))
            .collect();
        let sql = format!(
            "UPDATE channels SET last_seq = last_seq + CASE id {} ELSE 0 END WHERE id IN {} \
             RETURNING id, last_seq, case_id, sharing_version",
            cases.join(" "),
            p.list(chunk.len() * 2 + 1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, n) in chunk {
            q = q.bind(id).bind(*n);
        }
        for (id, _) in chunk {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let id: String = r.try_get("id")?;
            let last: i64 = r.try_get("last_seq")?;
            let n = chunk.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n);
            out.insert(
                id,
                ChannelRow {
                    next_seq: last - n + 1,
                    case_id: r.try_get("case_id")?,
                    sharing_version: r.try_get("sharing_version")?,
                },
            );
        }
    }
    if counts.iter().any(|(id, _)| !out.contains_key(id)) {
        return Err(StoreError::NotFound);
    }
    Ok(out)
}

/// An author as messages show them: name, agency id, agency name.
pub(super) type Author = (String, String, String);

/// The authors of a batch, in one query.
pub(super) async fn authors(conn: &mut Conn, ids: &[&str]) -> StoreResult<HashMap<String, Author>> {
    let p = Placeholders::of(conn);
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS) {
        let sql = format!(
            "SELECT p.id, p.name, p.agency_id, a.name AS agency FROM people p JOIN agencies a ON a.id = p.agency_id WHERE p.id IN {}",
            p.list(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.insert(
                r.try_get("id")?,
                (
                    r.try_get("name")?,
                    r.try_get("agency_id")?,
                    r.try_get("agency")?,
                ),
            );
        }
    }
    Ok(out)
}

/// One row of `messages` to insert.
pub(super) struct NewRow<'a> {
    pub id: &'a str,
    pub post: &'a Post,
    /// The post's text as stored: sealed.
    pub body: String,
    /// Its blind index.
    pub search_terms: String,
    pub seq: i64,
    pub created_at: Millis,
    pub restriction_reason: Option<&'a str>,
}

/// Add the batch's messages, in multi-row `INSERT`s, to `script`.
pub(super) fn push_rows<'a>(script: &mut Script<'a>, rows: &'a [NewRow<'a>]) -> StoreResult<()> {
    let p = script.placeholders();
    const COLUMNS: usize = 10;
    for chunk in rows.chunks(ROWS) {
        let placeholders: Vec<String> = (0..chunk.len())
            .map(|i| p.list(i * COLUMNS + 1, COLUMNS))
            .collect();
        let sql = format!(
            "INSERT INTO messages (id, channel_id, seq, author_id, client_id, body, created_at, restricted, restriction_reason, search_terms) VALUES {}",
            placeholders.join(", ")
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for r in chunk {
            values.extend([
                Value::Text(r.id),
                Value::Text(&r.post.channel_id),
                Value::Int(r.seq),
                Value::Text(&r.post.author_id),
                Value::Text(&r.post.client_id),
                Value::Text(&r.body),
                Value::Int(r.created_at),
                Value::Int(i64::from(r.restriction_reason.is_some())),
                Value::MaybeText(r.restriction_reason),
                Value::Text(&r.search_terms),
            ]);
        }
        script.push(sql, values)?;
    }
    Ok(())
}
