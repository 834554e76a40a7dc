//! Sealing the free text at rest: message bodies (and their earlier
//! versions) and return-home-interview findings (see [`crate::sealing`]).
//!
//! New rows are written sealed, with their blind index
//! ([`crate::sealing::blind`]). This module seals what is not: rows written
//! before sealing began (a server started on an older database seals them
//! in the background, [`start_backfill`]) and rows sealed under an older
//! key (`confer keys rotate`, [`reseal_all`]). It walks each table once in
//! key order, a short write transaction per batch, so a running server
//! waits at most one batch. Once a walk has sealed everything, a marker
//! row spares the next starts another walk (see [`is_sealed`]).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Db, StoreError, StoreResult, cases};
use crate::config::Engine;
use crate::sealing::KeyRing;

/// Rows re-sealed per write transaction.
pub const BATCH: i64 = 200;

/// A table with sealed columns.
pub struct Table {
    pub name: &'static str,
    /// The primary key: one text column, or a text column and a number.
    key: &'static [&'static str],
    /// The sealed columns, as `<table>.<column>` is their associated data.
    sealed: &'static [&'static str],
    /// Plaintext columns that the blind index also covers.
    plain_indexed: &'static [&'static str],
    /// Whether the table has a blind index (`search_terms`).
    indexed: bool,
}

pub const TABLES: [Table; 4] = [
    Table {
        name: "messages",
        key: &["id"],
        sealed: &["body"],
        plain_indexed: &[],
        indexed: true,
    },
    Table {
        name: "message_versions",
        key: &["message_id", "version"],
        sealed: &["body"],
        plain_indexed: &[],
        indexed: false,
    },
    Table {
        name: "rhi_findings",
        key: &["id"],
        sealed: &[
            "push_factors",
            "pull_factors",
            "where_child_was",
            "who_with",
            "harm",
            "child_wishes",
            "wants_next",
            "free_text",
        ],
        plain_indexed: &["indicators"],
        indexed: true,
    },
    Table {
        name: "finding_entries",
        key: &["id"],
        sealed: &["value", "note"],
        plain_indexed: &[],
        indexed: true,
    },
];

/// Where a walk through a table has got to.
#[derive(Clone, Debug, Default)]
struct Cursor(String, i64);

fn keys_of(db: &Db) -> StoreResult<std::sync::Arc<KeyRing>> {
    db.keys()
        .cloned()
        .ok_or_else(|| StoreError::Invalid("no encryption key file is loaded".into()))
}

/// Whether a stored row needs sealing: a value in plaintext or under an
/// older key, or text with no blind index yet.
fn needs_work(keys: &KeyRing, table: &Table, row: &AnyRow) -> StoreResult<bool> {
    let mut any_text = false;
    for column in table.sealed {
        let value: String = row.try_get(*column)?;
        if !value.is_empty() {
            any_text = true;
            if keys.needs_sealing(&value) {
                return Ok(true);
            }
        }
    }
    if table.indexed && any_text {
        let terms: String = row.try_get("search_terms")?;
        return Ok(terms.is_empty());
    }
    Ok(false)
}

/// Seal the next batch of `table` after `cursor`: returns the rows
/// re-sealed and where the next batch starts (`None` at the end).
async fn batch(
    db: &Db,
    table: &Table,
    cursor: &Cursor,
    size: i64,
) -> StoreResult<(usize, Option<Cursor>)> {
    let keys = keys_of(db)?;
    let mut columns: Vec<&str> = table.key.to_vec();
    columns.extend(table.sealed);
    columns.extend(table.plain_indexed);
    if table.indexed {
        columns.push("search_terms");
    }
    let after = match table.key {
        // Every parameter appears once, whatever the key (PostgreSQL types them).
        [_] => format!("{} > $1 AND $2 = $2", table.key[0]),
        _ => format!("({}) > ($1, $2)", table.key.join(", ")),
    };
    let lock = match db.engine() {
        Engine::Postgres => " FOR UPDATE",
        Engine::Sqlite => "",
    };
    let mut tx = db.write().await?;
    let select = format!(
        "SELECT {} FROM {} WHERE {after} ORDER BY {} LIMIT $3{lock}",
        columns.join(", "),
        table.name,
        table.key.join(", "),
    );
    let rows = sqlx::query(AssertSqlSafe(select))
        .bind(&cursor.0)
        .bind(cursor.1)
        .bind(size)
        .fetch_all(&mut *tx)
        .await?;
    let mut done = 0;
    for row in &rows {
        if !needs_work(&keys, table, row)? {
            continue;
        }
        let mut plain = Vec::with_capacity(table.sealed.len());
        for column in table.sealed {
            let name = format!("{}.{column}", table.name);
            plain.push(keys.open(&name, &row.try_get::<String, _>(*column)?)?);
        }
        let mut sets: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for (column, text) in table.sealed.iter().zip(&plain) {
            sets.push(format!("{column} = ${}", sets.len() + 1));
            values.push(db.seal_text(&format!("{}.{column}", table.name), text)?);
        }
        if table.indexed {
            let mut texts: Vec<String> = Vec::new();
            for column in table.plain_indexed {
                texts.push(row.try_get(*column)?);
            }
            texts.extend(plain.iter().cloned());
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            sets.push(format!("search_terms = ${}", sets.len() + 1));
            values.push(keys.index_text(&texts));
        }
        let n = values.len();
        let condition = match table.key {
            [one] => format!("{one} = ${}", n + 1),
            _ => format!(
                "{} = ${} AND {} = ${}",
                table.key[0],
                n + 1,
                table.key[1],
                n + 2
            ),
        };
        let update = format!(
            "UPDATE {} SET {} WHERE {condition}",
            table.name,
            sets.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(update));
        for value in values {
            query = query.bind(value);
        }
        query = query.bind(row.try_get::<String, _>(table.key[0])?);
        if table.key.len() > 1 {
            query = query.bind(row.try_get::<i64, _>(table.key[1])?);
        }
        query.execute(&mut *tx).await?;
        done += 1;
    }
    tx.commit().await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == size => Some(Cursor(
            last.try_get(table.key[0])?,
            if table.key.len() > 1 {
                last.try_get(table.key[1])?
            } else {
                0
            },
        )),
        _ => None,
    };
    Ok((done, next))
}

/// Seal every row of `table` that is in plaintext or under an older key;
/// returns how many were re-sealed.
pub async fn reseal_table(db: &Db, table: &Table) -> StoreResult<usize> {
    let mut cursor = Cursor::default();
    let mut total = 0;
    loop {
        let (done, next) = batch(db, table, &cursor, BATCH).await?;
        total += done;
        match next {
            Some(next) => cursor = next,
            None => return Ok(total),
        }
    }
}

/// Seal everything not sealed under the current key: the cases' child-
/// identifying columns and every table of [`TABLES`]. Returns the count
/// re-sealed per table. Sets the sealing marker ([`is_sealed`]) when done.
pub async fn reseal_all(db: &Db) -> StoreResult<BTreeMap<&'static str, usize>> {
    claim(db).await?;
    let counts = walk(db).await?;
    confirm(db).await?;
    Ok(counts)
}

/// One walk through every sealed table.
async fn walk(db: &Db) -> StoreResult<BTreeMap<&'static str, usize>> {
    let mut counts = BTreeMap::new();
    let mut resealed = 0;
    loop {
        let n = cases::reseal_batch(db, BATCH).await?;
        if n == 0 {
            break;
        }
        resealed += n;
    }
    counts.insert("cases", resealed);
    for table in &TABLES {
        counts.insert(table.name, reseal_table(db, table).await?);
    }
    Ok(counts)
}

// The sealing marker (`sealing_marker`, migration 0012) spares a server
// start the walk through every table once everything is sealed: an O(1)
// look instead of O(rows). Its one row says 'sealing' from before a walk
// starts and 'sealed' once a walk has finished. It is never trusted beyond
// what the database itself guarantees:
// - a database from before 0012 (or restored from a backup taken before
//   it) has no row, so its first start walks;
// - this version never writes plaintext; whatever writes it anyway (an
//   older node still running during an upgrade, a hand edit) fires the
//   migration's triggers, which delete the row, so the next start walks;
// - the row is claimed ('sealing') before the walk and confirmed only if it
//   is still there after it, so plaintext written during the walk, behind
//   its cursor, leaves no 'sealed' behind (one gap: on PostgreSQL an older
//   node's write transaction already open when the claim commits deletes
//   nothing; that node's next plaintext write deletes the row again);
// - a walk that stops half way (a crash, an interrupted `keys rotate`)
//   leaves 'sealing', so the next start walks and finishes it.
// 'sealed' means no plaintext and every text indexed, not that every row is
// under the current key: that is what `keys rotate` and `keys list` are for.

/// Whether the sealing marker says every row is sealed and indexed.
pub async fn is_sealed(db: &Db) -> StoreResult<bool> {
    let state: Option<(String,)> = sqlx::query_as("SELECT state FROM sealing_marker WHERE id = 1")
        .fetch_optional(db.pool())
        .await?;
    Ok(state.is_some_and(|(s,)| s == "sealed"))
}

/// Before a walk: a plaintext write from now on deletes the row.
async fn claim(db: &Db) -> StoreResult<()> {
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO sealing_marker (id, state) VALUES (1, 'sealing') \
         ON CONFLICT (id) DO UPDATE SET state = 'sealing'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// After a walk: 'sealed', unless a plaintext write deleted the claim
/// meanwhile (then the next start walks again). Returns whether it did.
async fn confirm(db: &Db) -> StoreResult<bool> {
    let mut tx = db.write().await?;
    let done = sqlx::query("UPDATE sealing_marker SET state = 'sealed' WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// On start: seal and index, in the background, what an older version
/// left in plaintext (and finish an interrupted rotation), unless the
/// sealing marker says there is nothing to do. The marker is looked at and
/// claimed before this returns, so before the server answers a request.
pub async fn start_backfill(db: Db) {
    match is_sealed(&db).await {
        Ok(true) => return,
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for rows to seal");
            return;
        }
    }
    if let Err(e) = claim(&db).await {
        tracing::warn!(error = %e, "cannot look for rows to seal");
        return;
    }
    tokio::spawn(async move {
        let sealed = match walk(&db).await {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "sealing older rows stopped; it resumes at the next start");
                return;
            }
        };
        if sealed.values().any(|n| *n > 0) {
            tracing::info!(counts = ?sealed, "sealed rows written before sealing began");
        }
        match confirm(&db).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("plaintext was written while sealing; the next start seals it")
            }
            Err(e) => tracing::warn!(error = %e, "cannot mark the database sealed"),
        }
    });
}

/// How many rows of each table are sealed under each key id ("plaintext"
/// for rows written before sealing began; rows with no text are not
/// counted; a row counts under the key of its first non-empty column).
pub async fn sealed_by_key(db: &Db) -> StoreResult<BTreeMap<String, BTreeMap<String, i64>>> {
    let mut out = BTreeMap::new();
    out.insert("cases".to_string(), cases::sealed_by_key(db).await?);
    for table in &TABLES {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} AS v FROM {} WHERE {} <> ''",
            table.sealed.join(" || "),
            table.name,
            table.sealed.join(" || ")
        )))
        .fetch_all(db.pool())
        .await?;
        let mut counts = BTreeMap::new();
        for row in &rows {
            let value: String = row.try_get("v")?;
            let key = KeyRing::key_of(&value).unwrap_or("plaintext");
            *counts.entry(key.to_string()).or_insert(0) += 1;
        }
        out.insert(table.name.to_string(), counts);
    }
    Ok(out)
}
