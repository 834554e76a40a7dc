//! Search across the cases a person is a member of (see
//! [`crate::domain::search`] for the rules). The only engine-specific SQL in
//! the store besides the migrations: SQLite matches through the FTS5 table
//! `messages_fts`, PostgreSQL through the GIN index on
//! `to_tsvector('english', body)`. Who may see a hit is the same portable
//! condition on both, applied in the query so that the limit counts only
//! what the person may see.

use sqlx::{AssertSqlSafe, Row};

use super::audit::{self, NewEvent};
use super::{Db, StoreResult};
use crate::config::Engine;
use crate::domain::access::Actor;
use crate::domain::clock::Millis;
use crate::domain::search::{MARK_END, MARK_START, Place, Terms};

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
    /// A few words around the match, matches between [`MARK_START`] and [`MARK_END`].
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

/// A search statement with its parameters: $1 the words (as the engine
/// takes them), $2 the person, $3 their agency, $4 now, $5 the limit plus
/// one, and on PostgreSQL $6 the snippet's options.
pub(super) fn bound<'q>(
    db: &Db,
    sql: String,
    terms: &Terms,
    actor: &'q Actor,
    now: Millis,
    limit: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let query_text = match db.engine() {
        Engine::Sqlite => terms.fts5(),
        Engine::Postgres => terms.plain(),
    };
    let query = sqlx::query(AssertSqlSafe(sql))
        .bind(query_text)
        .bind(&actor.person_id)
        .bind(&actor.agency_id)
        .bind(now)
        .bind(limit + 1);
    match db.engine() {
        Engine::Postgres => query.bind(format!(
            "StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=10, MaxFragments=2, FragmentDelimiter=\" … \""
        )),
        Engine::Sqlite => query,
    }
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
    let sql = match db.engine() {
        Engine::Sqlite => format!(
            "SELECT {COLUMNS}, snippet(messages_fts, 0, char(2), char(3), '…', 24) AS snippet \
             FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid {JOINS} \
             WHERE messages_fts MATCH $1 AND {VISIBLE} \
             ORDER BY m.created_at DESC, m.id LIMIT $5"
        ),
        Engine::Postgres => format!(
            "SELECT {COLUMNS}, ts_headline('english', m.body, plainto_tsquery('english', $1), $6) AS snippet \
             FROM messages m {JOINS} \
             WHERE to_tsvector('english', m.body) @@ plainto_tsquery('english', $1) AND {VISIBLE} \
             ORDER BY m.created_at DESC, m.id LIMIT $5"
        ),
    };
    let rows = bound(db, sql, terms, actor, now, limit)
        .fetch_all(db.pool())
        .await?;
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
            snippet: row.try_get("snippet")?,
            place,
        });
    }
    let more = hits.len() as i64 > limit;
    hits.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((hits, more))
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
