//! The statements of one group commit, each run once per batch rather than
//! once per post (session 5's send-path profile: with SQLite every statement
//! is a round trip to sqlx's worker thread, and the writer made three or
//! four of them per message). A batch of N posts in C channels by A authors
//! costs one duplicate lookup, one sequence allocation (two on PostgreSQL),
//! one author lookup and one multi-row insert per [`ROWS`] messages; on
//! SQLite the three lookups are one round trip, and the inserts (with the
//! deliveries the batch carries) another (session 7, `store::script`).

use std::collections::HashMap;

use super::Post;
use crate::config::Engine;
use crate::domain::clock::Millis;
use crate::store::direct::Columns;
use crate::store::script::{Script, Value};
use crate::store::{StoreError, StoreResult};

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

/// What a channel's row says for this batch.
pub(super) struct ChannelRow {
    /// The first sequence number allocated to this batch.
    pub next_seq: i64,
    /// How many were allocated.
    pub allocated: i64,
    pub case_id: String,
    pub sharing_version: i64,
}

/// An author as messages show them: name, agency id, agency name.
pub(super) type Author = (String, String, String);

/// What the batch's writes need to know, read in one round trip on SQLite.
pub(super) struct Lookups {
    /// The sequence numbers of posts whose `client_id` was used before by
    /// the same author in the same channel (the `messages_idempotency` index).
    pub earlier: HashMap<Key, i64>,
    pub channels: HashMap<String, ChannelRow>,
    pub authors: HashMap<String, Author>,
}

/// Look up earlier posts with the same keys, allocate `counts` sequence
/// numbers in each channel (in one `UPDATE … RETURNING`) and read the
/// authors, in one [`Script`]. The allocation cannot wait for the lookup
/// without a second round trip, so it counts every post new: the caller
/// gives back what a repeat did not use ([`give_back`]), inside the same
/// transaction, so no number is ever skipped. On PostgreSQL the channel rows
/// are locked first in id order (as a consent change does in
/// `withholding::bump_in`), so the two can never deadlock. A channel that
/// does not exist fails the batch (`NotFound`).
pub(super) fn push_lookups<'a>(
    script: &mut Script<'a>,
    engine: Engine,
    posts: &'a [Post],
    counts: &'a [(String, i64)],
    author_ids: &[&'a str],
) -> StoreResult<()> {
    let p = script.placeholders();
    for chunk in script.chunks(posts, ROWS) {
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
        let values = chunk
            .iter()
            .flat_map(|p| {
                [
                    Value::Text(&p.channel_id),
                    Value::Text(&p.author_id),
                    Value::Text(&p.client_id),
                ]
            })
            .collect();
        script.push(sql, values)?;
    }
    for chunk in script.chunks(counts, ROWS) {
        if engine == Engine::Postgres {
            let sql = format!(
                "SELECT id AS locked FROM channels WHERE id IN {} ORDER BY id FOR UPDATE",
                p.list(1, chunk.len())
            );
            script.push(sql, chunk.iter().map(|(id, _)| Value::Text(id)).collect())?;
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
        let mut values: Vec<Value> = chunk
            .iter()
            .flat_map(|(id, n)| [Value::Text(id), Value::Int(*n)])
            .collect();
        values.extend(chunk.iter().map(|(id, _)| Value::Text(id)));
        script.push(sql, values)?;
    }
    for chunk in script.chunks(author_ids, ROWS) {
        let sql = format!(
            "SELECT p.id AS author, p.name, p.agency_id, a.name AS agency FROM people p JOIN agencies a ON a.id = p.agency_id WHERE p.id IN {}",
            p.list(1, chunk.len())
        );
        script.push(sql, chunk.iter().map(|id| Value::Text(id)).collect())?;
    }
    Ok(())
}

/// What [`push_lookups`]' statements returned.
pub(super) fn read_lookups(
    rows: &[impl Columns],
    counts: &[(String, i64)],
) -> StoreResult<Lookups> {
    let mut out = Lookups {
        earlier: HashMap::new(),
        channels: HashMap::with_capacity(counts.len()),
        authors: HashMap::new(),
    };
    // Each row has its own statement's columns.
    for r in rows {
        if r.has("client_id") {
            out.earlier.insert(
                (
                    r.text("channel_id")?,
                    r.text("author_id")?,
                    r.text("client_id")?,
                ),
                r.int("seq")?,
            );
        } else if r.has("last_seq") {
            let id = r.text("id")?;
            let last = r.int("last_seq")?;
            let n = counts.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n);
            out.channels.insert(
                id,
                ChannelRow {
                    next_seq: last - n + 1,
                    allocated: n,
                    case_id: r.text("case_id")?,
                    sharing_version: r.int("sharing_version")?,
                },
            );
        } else if r.has("agency") {
            out.authors.insert(
                r.text("author")?,
                (r.text("name")?, r.text("agency_id")?, r.text("agency")?),
            );
        }
    }
    if counts.iter().any(|(id, _)| !out.channels.contains_key(id)) {
        return Err(StoreError::NotFound);
    }
    Ok(out)
}

/// Give back the numbers allocated to posts that turned out to be repeats
/// of earlier ones (`unused` per channel), so the channel's sequence has no
/// gap. Rare: only a resend after a lost ack needs it.
pub(super) fn push_give_back<'a>(
    script: &mut Script<'a>,
    unused: &'a [(String, i64)],
) -> StoreResult<()> {
    let p = script.placeholders();
    for (channel, n) in unused {
        script.push(
            format!(
                "UPDATE channels SET last_seq = last_seq - {} WHERE id = {}",
                p.one(1),
                p.one(2)
            ),
            vec![Value::Int(*n), Value::Text(channel)],
        )?;
    }
    Ok(())
}

/// One row of `messages` to insert.
pub(super) struct NewRow<'a> {
    pub id: &'a str,
    pub post: &'a Post,
    /// The post's text as stored: sealed.
    pub body: &'a str,
    /// Its blind index.
    pub search_terms: &'a str,
    pub seq: i64,
    pub created_at: Millis,
    pub restriction_reason: Option<&'a str>,
}

/// Add the batch's messages, in multi-row `INSERT`s, to `script`.
pub(super) fn push_rows<'a>(script: &mut Script<'a>, rows: &'a [NewRow<'a>]) -> StoreResult<()> {
    let p = script.placeholders();
    const COLUMNS: usize = 10;
    for chunk in script.chunks(rows, ROWS) {
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
                Value::Text(r.body),
                Value::Int(r.created_at),
                Value::Int(i64::from(r.restriction_reason.is_some())),
                Value::MaybeText(r.restriction_reason),
                Value::Text(r.search_terms),
            ]);
        }
        script.push(sql, values)?;
    }
    Ok(())
}
