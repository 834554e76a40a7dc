//! Search across the cases a person is a member of (see
//! [`crate::domain::search`] for the rules). The only engine-specific SQL in
//! the store besides the migrations: the text is sealed, so both engines
//! match a blind index of keyed word hashes ([`crate::sealing::blind`]) in
//! `messages.search_terms`: SQLite through the FTS5 table `messages_fts`,
//! PostgreSQL through the GIN index on `to_tsvector('simple',
//! search_terms)`. Snippets are made from the opened text. Who may see a hit is the same portable
//! condition on both, applied in the query so that the limit counts only
//! what the person may see.

use sqlx::{AssertSqlSafe, Row};

use super::audit::{self, NewEvent};
use super::{Db, StoreResult};
use crate::config::Engine;
use crate::domain::access::Actor;
use crate::domain::clock::Millis;
use crate::domain::search::{Place, Terms, snippet};

/// One message found.
#[derive(Clone, Debug)]
pub struct MessageHit {
    pub message_id: String,
    pub channel_id: String,
    pub channel_name: String,
    pub seq: i64,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub author_name: String,
    pub author_agency: String,
    pub created_at: Millis,
    pub edited: bool,
    /// Restricted, but to an audience that includes the searcher.
    pub restricted: bool,
    /// A few words around the match, matches between
    /// [`crate::domain::search::MARK_START`] and [`crate::domain::search::MARK_END`].
    pub snippet: String,
    pub place: Place,
}

/// The condition that a message `m` in channel `ch` is one the viewer ($2
/// person, $3 agency, at $4) reads in full: a current membership of its
/// case, the channel's narrowing if any (`domain::channels::may_see_channel`),
/// and the message's restriction if any (`domain::channels::sight`).
const VISIBLE: &str = "EXISTS (SELECT 1 FROM case_memberships cm WHERE cm.case_id = ch.case_id AND cm.person_id = $2 \
       AND cm.ended_at IS NULL AND (cm.expires_at IS NULL OR cm.expires_at > $4)) \
     AND (NOT EXISTS (SELECT 1 FROM channel_restrictions cr WHERE cr.channel_id = ch.id) \
       OR EXISTS (SELECT 1 FROM channel_restrictions cr WHERE cr.channel_id = ch.id AND (cr.agency_id = $3 OR cr.person_id = $2))) \
     AND (m.restricted = 0 OR m.author_id = $2 \
       OR EXISTS (SELECT 1 FROM message_restrictions mr WHERE mr.message_id = m.id AND (mr.agency_id = $3 OR mr.person_id = $2))) \
     AND m.redacted_at IS NULL";

const COLUMNS: &str = "m.id, m.channel_id, ch.name AS channel_name, ch.kind AS channel_kind, m.seq, ch.case_id, \
     c.reference, c.child_name, p.name AS author_name, a.name AS agency_name, m.created_at, m.edited_at, m.restricted, \
     (SELECT mt.id FROM meetings mt WHERE mt.channel_id = ch.id) AS meeting_id, \
     (SELECT me.id FROM missing_episodes me WHERE me.channel_id = ch.id) AS episode_id";

const JOINS: &str = "JOIN channels ch ON ch.id = m.channel_id JOIN cases c ON c.id = ch.case_id \
     JOIN people p ON p.id = m.author_id JOIN agencies a ON a.id = p.agency_id";

/// The blind-index query for `terms` as the engine takes it: every word
/// required, each as its token under any key in the key file (rows not
/// yet re-sealed after a rotation are still found). Tokens are `t` and hex
/// digits, so nothing typed reaches the query text.
fn index_query(db: &Db, terms: &Terms) -> StoreResult<String> {
    let keys = db
        .keys()
        .ok_or_else(|| super::StoreError::Invalid("no encryption key file is loaded".into()))?;
    // A search is rare and the key file small: read it again, so that rows
    // just re-sealed by `confer keys rotate` under a new key are found.
    if let Err(e) = keys.reload() {
        tracing::warn!(error = %e, "cannot re-read the encryption key file");
    }
    let per_word = keys.query_tokens(&terms.stems());
    let (or, and) = match db.engine() {
        Engine::Sqlite => (" OR ", " AND "),
        Engine::Postgres => (" | ", " & "),
    };
    Ok(per_word
        .iter()
        .map(|tokens| format!("({})", tokens.join(or)))
        .collect::<Vec<_>>()
        .join(and))
}

/// Where a row's `search_terms` (alias `alias`, FTS5 table `fts` on SQLite)
/// holds every word of $1.
pub(super) fn index_match(db: &Db, alias: &str, fts: &str) -> String {
    match db.engine() {
        Engine::Sqlite => {
            format!("{alias}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH $1)")
        }
        Engine::Postgres => {
            format!("to_tsvector('simple', {alias}.search_terms) @@ to_tsquery('simple', $1)")
        }
    }
}

/// A search statement with its parameters: $1 the blind-index query, $2
/// the person, $3 their agency, $4 now, $5 the limit plus one.
pub(super) fn bound<'q>(
    db: &Db,
    sql: String,
    terms: &Terms,
    actor: &'q Actor,
    now: Millis,
    limit: i64,
) -> StoreResult<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>> {
    Ok(sqlx::query(AssertSqlSafe(sql))
        .bind(index_query(db, terms)?)
        .bind(&actor.person_id)
        .bind(&actor.agency_id)
        .bind(now)
        .bind(limit + 1))
}

/// Messages matching `terms` that `actor` may read, newest first: at most
/// `limit`, and whether there were more.
pub async fn messages(
    db: &Db,
    actor: &Actor,
    terms: &Terms,
    limit: i64,
    now: Millis,
) -> StoreResult<(Vec<MessageHit>, bool)> {
    // Everything stored before the search is found (SQLite's index is
    // brought up to date in bulk: `search_index`).
    super::search_index::catch_up(db).await?;
    let sql = format!(
        "SELECT {COLUMNS}, m.body FROM messages m {JOINS} WHERE {} AND {VISIBLE} \
         ORDER BY m.created_at DESC, m.id LIMIT $5",
        index_match(db, "m", "messages_fts")
    );
    let rows = bound(db, sql, terms, actor, now, limit)?
        .fetch_all(db.pool())
        .await?;
    let stems = terms.stems();
    let mut hits = Vec::with_capacity(rows.len());
    for row in &rows {
        let case_id: String = row.try_get("case_id")?;
        let kind: String = row.try_get("channel_kind")?;
        let meeting_id: Option<String> = row.try_get("meeting_id")?;
        let episode_id: Option<String> = row.try_get("episode_id")?;
        let place = match (kind.as_str(), meeting_id, episode_id) {
            ("meeting", Some(meeting_id), _) => Place::Meeting { meeting_id },
            ("missing_episode", _, Some(episode_id)) => Place::MissingEpisode {
                case_id: case_id.clone(),
                episode_id,
            },
            _ => Place::Case {
                case_id: case_id.clone(),
            },
        };
        let restricted: i64 = row.try_get("restricted")?;
        let body = db.open_sealed("messages.body", row.try_get("body")?)?;
        let edited_at: Option<Millis> = row.try_get("edited_at")?;
        hits.push(MessageHit {
            message_id: row.try_get("id")?,
            channel_id: row.try_get("channel_id")?,
            channel_name: row.try_get("channel_name")?,
            seq: row.try_get("seq")?,
            case_id,
            case_reference: row.try_get("reference")?,
            child_name: super::cases::child_field(db, row, "child_name")?,
            author_name: row.try_get("author_name")?,
            author_agency: row.try_get("agency_name")?,
            created_at: row.try_get("created_at")?,
            edited: edited_at.is_some(),
            restricted: restricted == 1,
            snippet: snippet_of(&body, &stems),
            place,
        });
    }
    let more = hits.len() as i64 > limit;
    hits.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((hits, more))
}

/// The snippet of a hit: the words around the match, or (when the words
/// matched only through a hash collision, or a stem the text splits
/// differently) the text's beginning.
pub(super) fn snippet_of(text: &str, stems: &[String]) -> String {
    snippet(text, stems).unwrap_or_else(|| {
        let start: Vec<&str> = text.split_whitespace().take(24).collect();
        start.join(" ")
    })
}

/// Record a search: who, when, how many words and results (never the
/// words), and a read of every case that results came from, in one
/// transaction. `hit_cases` holds each result's case (messages and
/// findings alike).
pub async fn record(
    db: &Db,
    actor: &Actor,
    terms: &Terms,
    hit_cases: &[&str],
    now: Millis,
) -> StoreResult<()> {
    let hits = hit_cases;
    let mut cases: Vec<(&str, usize)> = Vec::new();
    for case_id in hits {
        match cases.iter_mut().find(|(c, _)| c == case_id) {
            Some((_, n)) => *n += 1,
            None => cases.push((case_id, 1)),
        }
    }
    let mut events = vec![(
        "search.performed",
        None,
        serde_json::json!({ "words": terms.len(), "results": hits.len(), "cases": cases.len() }),
    )];
    for (case_id, n) in cases {
        events.push((
            "case.read",
            Some(case_id),
            serde_json::json!({ "what": "search results", "results": n }),
        ));
    }
    let mut tx = db.write().await?;
    for (action, case_id, detail) in events {
        let event = NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action,
            case_id,
            subject: None,
            detail,
        };
        audit::append(&mut tx, now, event).await?;
    }
    tx.commit().await?;
    Ok(())
}
