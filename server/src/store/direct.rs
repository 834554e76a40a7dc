//! The message writer's own SQLite connection (issue 8, session 8).
//!
//! sqlx runs each SQLite connection on a worker thread of its own and hands
//! it every statement through a channel: a round trip, two thread wake-ups,
//! per statement. A group commit made four of them (`BEGIN IMMEDIATE`, the
//! lookups, the writes, `COMMIT`), and with both cores busy each wake-up
//! waited for a turn: session 8 measured about 0.2 ms a round trip, most of
//! a batch's 1.7 ms. This connection instead runs a whole batch in one call
//! on the writer's own thread ([`Direct::run`]), through `rusqlite`, the
//! same SQLite library sqlx links.
//!
//! It is one more connection to the same file, with the settings of
//! [`super::Db::write`]'s (`synchronous = NORMAL`, its commits made durable
//! by [`super::wal_sync`]), and it takes the same in-process write turn, so
//! it never meets another writer at SQLite's lock. It does not checkpoint
//! the log itself: a checkpoint in the commit would hold the write turn for
//! many milliseconds; [`checkpoints`] does it beside the writers.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use super::script::{Script, Value};

/// Statements kept prepared. Multi-row statements here carry a power of two
/// rows, at most 16 (`Script::chunks`), so each has five shapes and a
/// batch's statements are a few dozen shapes in all.
const PREPARED: usize = 64;

pub(crate) struct Direct {
    conn: Mutex<Connection>,
}

impl Direct {
    /// Open the database file `path` (already created and migrated).
    pub(crate) fn open(path: &Path) -> Result<Direct, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(error)?;
        conn.set_prepared_statement_cache_capacity(PREPARED);
        Ok(Direct {
            conn: Mutex::new(conn),
        })
    }

    /// Run `f` on the connection, on this thread. The caller holds the
    /// write turn. On a multi-threaded runtime the worker's other tasks move
    /// to another thread meanwhile (`block_in_place`), so a slow disk never
    /// stalls them; a current-thread runtime (unit tests) just runs it.
    pub(crate) fn run<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let call = || {
            // The connection holds no state across calls that a panic in
            // another one could have left half-done (a transaction rolls
            // back when dropped): a poisoned lock is taken as it is.
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(call),
            _ => call(),
        }
    }
}

/// Log size past which [`checkpoints`] starts copying the log into the
/// database (SQLite's own automatic checkpoint starts at 1,000 pages, about
/// this).
pub(crate) const CHECKPOINT_AT: u64 = 4 << 20;

/// Frames in the log past which [`checkpoints`] also makes the log start
/// again from its beginning (4 MiB of 4 KiB pages).
pub(crate) const RESTART_AT: i64 = 1000;

/// Checkpoint the log of the database file `file` through `pool`, beside
/// the writers, once it has grown past `at` bytes ([`CHECKPOINT_AT`]),
/// until `direct` is dropped with the last [`super::Db`].
///
/// Every 250 ms, in two steps on one connection borrowed from the pool
/// before either (so the turn is never held while waiting for the pool):
///
/// 1. `PASSIVE`, which never waits for or blocks a writer or a reader,
///    copies what no reader still needs while the writers go on: the bulk.
/// 2. Once the log holds `restart_at` frames or more, the same again
///    holding the process's write `turn`, so that no commit is appended
///    meanwhile: it copies the few frames committed during step 1, and
///    unless a reader still needs some, the whole log is then in the
///    database and the next commit starts the log again from its
///    beginning, writing over the old frames.
///
/// Without step 2 a log written to without pause is never wholly copied
/// (each commit lands while the last frames are being copied), so SQLite
/// never starts it again: session 9 saw it reach 380 MB in 15 s of
/// workload (c), every `fdatasync` of it extending the file.
pub(crate) fn checkpoints(
    pool: sqlx::AnyPool,
    file: &Path,
    direct: std::sync::Weak<Direct>,
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    at: u64,
    restart_at: i64,
) {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if direct.strong_count() == 0 || pool.is_closed() {
                return;
            }
            let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
            if size < at {
                continue;
            }
            // One connection for both steps, borrowed before the turn is
            // taken: writers never wait behind a wait for the pool.
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "no connection to checkpoint the write-ahead log; will retry");
                    continue;
                }
            };
            let Some(frames) = checkpoint(&mut conn).await else {
                continue;
            };
            if frames >= restart_at {
                let _turn = turn.lock().await;
                checkpoint(&mut conn).await;
            }
        }
    });
}

/// One `PASSIVE` checkpoint; the frames in the log, if it ran.
async fn checkpoint(conn: &mut sqlx::AnyConnection) -> Option<i64> {
    // Its row: busy, frames in the log, frames copied.
    match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await
        .and_then(|row| sqlx::Row::try_get::<i64, _>(&row, 1))
    {
        Ok(frames) => Some(frames),
        Err(e) => {
            tracing::warn!(error = %e, "checkpoint of the write-ahead log failed; will retry");
            None
        }
    }
}

/// One row a statement returned: its columns by name.
pub(crate) struct Row {
    columns: Vec<(String, SqlValue)>,
}

impl Row {
    fn get(&self, name: &str) -> Result<&SqlValue, StoreError> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| protocol(format!("no column {name}")))
    }
}

/// Read a row's columns by name, from sqlx or from this connection.
pub(crate) trait Columns {
    fn has(&self, name: &str) -> bool;
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn int(&self, name: &str) -> Result<i64, StoreError>;
}

impl Columns for Row {
    fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|(n, _)| n == name)
    }
    fn text(&self, name: &str) -> Result<String, StoreError> {
        match self.get(name)? {
            SqlValue::Text(t) => Ok(t.clone()),
            other => Err(protocol(format!(
                "{name} is {:?}, not text",
                other.data_type()
            ))),
        }
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        match self.get(name)? {
            SqlValue::Integer(i) => Ok(*i),
            other => Err(protocol(format!(
                "{name} is {:?}, not an integer",
                other.data_type()
            ))),
        }
    }
}

impl Columns for sqlx::any::AnyRow {
    fn has(&self, name: &str) -> bool {
        use sqlx::{Column, Row};
        self.columns().iter().any(|c| c.name() == name)
    }
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

impl Script<'_> {
    /// Run every statement on `conn`, one prepared statement each.
    pub(crate) fn execute_direct(self, conn: &Connection) -> Result<u64, StoreError> {
        let mut changed = 0u64;
        for s in self.into_statements() {
            let mut stmt = conn.prepare_cached(&s.sql).map_err(error)?;
            bind(&mut stmt, &s.values)?;
            changed += stmt.raw_execute().map_err(error)? as u64;
        }
        Ok(changed)
    }

    /// Run every statement on `conn`; the rows they return, in order.
    pub(crate) fn fetch_direct(self, conn: &Connection) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        for s in self.into_statements() {
            let mut stmt = conn.prepare_cached(&s.sql).map_err(error)?;
            bind(&mut stmt, &s.values)?;
            let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next().map_err(error)? {
                let columns = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Ok((n.clone(), row.get::<_, SqlValue>(i).map_err(error)?)))
                    .collect::<Result<_, StoreError>>()?;
                out.push(Row { columns });
            }
        }
        Ok(out)
    }
}

/// Bind a statement's values: `?` placeholders in order, `$N` ones (a
/// numbered statement: `Script::base` is 0 here) by their number.
fn bind(stmt: &mut rusqlite::Statement<'_>, values: &[Value<'_>]) -> Result<(), StoreError> {
    for index in 1..=stmt.parameter_count() {
        let at = match stmt.parameter_name(index) {
            Some(name) => name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .ok_or_else(|| protocol(format!("unexpected parameter {name}")))?,
            None => index - 1,
        };
        let value = values
            .get(at)
            .ok_or_else(|| protocol(format!("no value for parameter {index}")))?;
        match value {
            Value::Text(t) => stmt.raw_bind_parameter(index, *t),
            Value::Owned(t) => stmt.raw_bind_parameter(index, t.as_str()),
            Value::Int(i) => stmt.raw_bind_parameter(index, *i),
            Value::MaybeText(t) => stmt.raw_bind_parameter(index, *t),
        }
        .map_err(error)?;
    }
    Ok(())
}

fn protocol(why: String) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(why))
}

/// A SQLite failure as the rest of the store reports one: the disk or the
/// lock away is "unavailable" (the sender retries), anything else a fault.
pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(
            C::DatabaseBusy
            | C::DatabaseLocked
            | C::SystemIoFailure
            | C::DiskFull
            | C::CannotOpen
            | C::ReadOnly
            | C::OutOfMemory,
        ) => StoreError::Unavailable(e.to_string()),
        _ => protocol(format!("sqlite: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)")
            .expect("table");
        conn
    }

    #[test]
    fn positional_and_numbered_statements_bind_their_own_values() {
        let conn = table();
        let mut script = Script::direct();
        let p = script.placeholders();
        script
            .push(
                format!("INSERT INTO t (a, b, c) VALUES {}", p.list(1, 3)),
                vec![Value::Text("one"), Value::Int(1), Value::MaybeText(None)],
            )
            .expect("push");
        // Numbered values count from this statement's own first, and may repeat.
        assert_eq!(script.base(), 0);
        script.push_numbered(
            "INSERT INTO t (a, b, c) VALUES ($1, $2, $1)".into(),
            vec![Value::Owned("two".into()), Value::Int(2)],
        );
        // A `?` statement may follow a numbered one here.
        script
            .push(
                "INSERT INTO t (a, b, c) VALUES (?, ?, ?)".into(),
                vec![
                    Value::Text("three"),
                    Value::Int(3),
                    Value::MaybeText(Some("x")),
                ],
            )
            .expect("push after numbered");
        assert_eq!(script.execute_direct(&conn).expect("execute"), 3);

        let mut read = Script::direct();
        read.push("SELECT a, b, c FROM t ORDER BY b".into(), Vec::new())
            .expect("push");
        let rows = read.fetch_direct(&conn).expect("fetch");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].text("a").expect("a"), "two");
        assert_eq!(rows[1].text("c").expect("c"), "two");
        assert_eq!(rows[2].int("b").expect("b"), 3);
        assert!(rows[0].has("c") && !rows[0].has("d"));
        // NULL is not text: an error, not a panic or an empty string.
        assert!(rows[0].text("c").is_err());
        assert!(rows[0].int("a").is_err());
        assert!(rows[0].text("d").is_err());
    }

    #[test]
    fn a_failing_statement_is_an_error_and_a_busy_database_is_unavailable() {
        let conn = table();
        let mut script = Script::direct();
        script
            .push(
                "INSERT INTO nowhere (a) VALUES (?)".into(),
                vec![Value::Int(1)],
            )
            .expect("push");
        let err = script.execute_direct(&conn).expect_err("no such table");
        assert!(!err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("nowhere"), "{err}");

        let mut short = Script::direct();
        short
            .push(
                "INSERT INTO t (a, b) VALUES (?, ?)".into(),
                vec![Value::Int(1)],
            )
            .expect("push");
        assert!(
            short.execute_direct(&conn).is_err(),
            "a missing value is refused"
        );

        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(error(busy).is_unavailable());
    }

    #[test]
    fn the_writer_connection_opens_a_database_file_with_its_settings() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("x.sqlite3");
        Connection::open(&file)
            .and_then(|c| c.execute_batch("CREATE TABLE t (a TEXT)"))
            .expect("create");
        let direct = Direct::open(&file).expect("open");
        let settings = direct.run(|conn| {
            let get = |pragma: &str| -> i64 {
                conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                    .expect(pragma)
            };
            (
                get("synchronous"),
                get("foreign_keys"),
                get("wal_autocheckpoint"),
            )
        });
        // NORMAL (1): the fsync is wal_sync's; checkpoints are `checkpoints`'.
        assert_eq!(settings, (1, 1, 0));
        assert!(Direct::open(&dir.path().join("missing").join("y.sqlite3")).is_err());
    }

    /// A database file `x.sqlite3` in `dir`, in WAL mode, with a pool and
    /// the writer's own connection.
    async fn wal_file(dir: &Path) -> (std::path::PathBuf, sqlx::AnyPool, std::sync::Arc<Direct>) {
        sqlx::any::install_default_drivers();
        let file = dir.join("x.sqlite3");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let pool = sqlx::AnyPool::connect(&url).await.expect("pool");
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .expect("wal");
        let direct = std::sync::Arc::new(Direct::open(&file).expect("open"));
        (file, pool, direct)
    }

    #[tokio::test]
    async fn the_log_is_checkpointed_beside_the_writer_once_it_grows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (file, pool, direct) = wal_file(dir.path()).await;
        let db_size = || std::fs::metadata(&file).map_or(0, |m| m.len());
        direct.run(|conn| {
            conn.execute_batch("CREATE TABLE t (a TEXT)")
                .expect("table");
            for _ in 0..100 {
                conn.execute("INSERT INTO t (a) VALUES (?)", [&"x".repeat(4000)])
                    .expect("insert");
            }
        });
        // The writer's own connection never checkpoints: it is all in the log.
        assert!(db_size() < 64 << 10, "{}", db_size());
        checkpoints(
            pool.clone(),
            &file,
            std::sync::Arc::downgrade(&direct),
            std::sync::Arc::default(),
            64 << 10,
            RESTART_AT,
        );
        let mut waited = 0;
        while db_size() < 400 << 10 && waited < 40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(db_size() >= 400 << 10, "not checkpointed: {}", db_size());
        // The task ends with the connection it serves.
        drop(direct);
        tokio::time::sleep(Duration::from_millis(600)).await;
        pool.close().await;
    }

    /// The largest the log grew while a writer committed a 4 KB row about
    /// every millisecond for 2 s, with the checkpoint task running and a
    /// restart once the log holds 64 frames.
    async fn largest_log() -> u64 {
        let dir = tempfile::tempdir().expect("temp dir");
        let (file, pool, direct) = wal_file(dir.path()).await;
        direct.run(|conn| {
            conn.execute_batch("CREATE TABLE t (a TEXT)")
                .expect("table")
        });
        let turn = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        checkpoints(
            pool.clone(),
            &file,
            std::sync::Arc::downgrade(&direct),
            turn.clone(),
            64 << 10,
            64,
        );
        let wal = dir.path().join("x.sqlite3-wal");
        let mut largest = 0;
        let until = std::time::Instant::now() + Duration::from_millis(2000);
        while std::time::Instant::now() < until {
            {
                let _turn = turn.lock().await;
                direct.run(|conn| {
                    conn.execute("INSERT INTO t (a) VALUES (?)", [&"x".repeat(4000)])
                        .expect("insert")
                });
            }
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(direct);
        pool.close().await;
        largest
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_written_to_without_pause_starts_again_from_its_beginning() {
        // About 4 MB a second for 2 s: with a restart once the log holds 64
        // frames, the log file stays within about a tick's commits.
        let largest = largest_log().await;
        assert!(largest < 3 << 20, "the log grew to {largest} bytes");
    }
}
