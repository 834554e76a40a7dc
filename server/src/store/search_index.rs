//! The SQLite message search index (`messages_fts`), brought up to date in
//! bulk rather than by a trigger per message (migration 0013, session 13).
//!
//! FTS5 writes a new segment for every statement that adds to it, so a
//! trigger made each group commit pay for a segment or more (one per
//! 16-row `INSERT`), about a seventh of the single writer's time under load.
//! Instead `search_indexed.upto` marks the highest `messages` rowid the
//! index holds, and [`CATCH_UP`] adds everything above it in one statement:
//!
//! - the message writer puts it into a batch's transaction when it last
//!   did so [`EVERY`] ago or more (so at once when sends are rare, a few
//!   times a second under load), and runs it alone once sends pause;
//! - a search runs it first when the index is behind ([`catch_up`]), so a
//!   search finds every message stored before it, as it did with the trigger.
//!
//! PostgreSQL's index is a GIN index the engine keeps itself: nothing here
//! applies to it.

use std::time::Duration;

use super::{Db, StoreResult};
use crate::config::Engine;

/// How long the writer may leave new messages out of the index under load.
pub(crate) const EVERY: Duration = Duration::from_millis(250);

/// How long sends must pause before the writer indexes what is left.
pub(crate) const IDLE: Duration = Duration::from_millis(50);

/// Add every message the index lacks, then move the mark: statements with
/// no values, for a batch's script or a transaction of their own.
pub(crate) const CATCH_UP: [&str; 2] = [
    "INSERT INTO messages_fts (rowid, search_terms) \
     SELECT rowid, search_terms FROM messages WHERE rowid > (SELECT upto FROM search_indexed) ORDER BY rowid",
    "UPDATE search_indexed SET upto = (SELECT MAX(rowid) FROM messages) \
     WHERE upto < (SELECT COALESCE(MAX(rowid), 0) FROM messages)",
];

/// Whether the index lacks any message (always false on PostgreSQL).
pub async fn behind(db: &Db) -> StoreResult<bool> {
    if db.engine() != Engine::Sqlite {
        return Ok(false);
    }
    let (behind,): (i64,) = sqlx::query_as(
        "SELECT (SELECT upto FROM search_indexed) < (SELECT COALESCE(MAX(rowid), 0) FROM messages)",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(behind != 0)
}

/// Bring the index up to date, in a write transaction of its own, if it is
/// behind. A no-op on PostgreSQL.
pub async fn catch_up(db: &Db) -> StoreResult<()> {
    if !behind(db).await? {
        return Ok(());
    }
    let mut tx = db.write().await?;
    for sql in CATCH_UP {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
