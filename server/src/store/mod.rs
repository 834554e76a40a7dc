//! Storage: one portable query set run through sqlx's `Any` driver on SQLite
//! (the embedded default) or PostgreSQL. Queries use `$1` placeholders, text
//! ids and BIGINT millisecond instants, which both engines accept; engine
//! specifics (pragmas, triggers) live in the per-engine migrations and here.
//! One module per aggregate.

pub mod agencies;
pub mod audit;
pub mod audit_batch;
pub mod audit_search;
pub mod break_glass;
pub mod cases;
pub mod channels;
pub mod cluster;
pub mod consent;
pub mod dashboard;
pub mod deadlines;
pub(crate) mod direct;
pub mod email_codes;
pub mod findings;
pub mod findings_sharing;
pub mod meetings;
pub mod messages;
pub mod missing;
pub mod missing_clock;
pub mod oidc_flows;
pub mod overrides;
pub mod people;
pub mod receipts;
pub mod resealing;
pub mod rhi;
pub(crate) mod script;

pub(crate) use script::Placeholders;
pub mod search;
pub mod search_findings;
pub mod search_index;
pub mod sessions;
pub mod sharing;
pub mod sharing_manual;
pub mod sharing_search;
pub mod sharing_state;
pub mod strategy_prompts;
pub mod subject_access;
pub mod wal_sync;
pub mod withholding;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Executor};

use crate::config::{DatabaseUrl, Engine};
use crate::sealing::KeyRing;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// A storage error. Constraint violations are told apart so the edge can
/// answer 409/422 instead of 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("encryption at rest: {0}")]
    Sealing(#[from] crate::sealing::SealError),
    /// The database could not be reached (see [`StoreError::is_unavailable`]);
    /// one failure told to several waiting callers.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Map a unique-constraint violation to [`StoreError::Conflict`].
    pub(crate) fn conflict_on_unique(e: sqlx::Error, what: &str) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(what.to_string());
        }
        StoreError::Database(e)
    }

    /// Whether the database could not be reached (down, restarting, failing
    /// over, or no connection free within the pool's wait): the caller is
    /// told to try again shortly rather than shown a server fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => unreachable(e),
            StoreError::Unavailable(_) => true,
            _ => false,
        }
    }
}

/// A connection-level failure, as opposed to a fault in the query: no
/// connection within the wait, a broken socket, or PostgreSQL ending the
/// session (SQLSTATE class 08, or 57P01–57P03: shut down, crashed, starting).
pub(crate) fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a query waits for a pooled connection (or for a new one while
/// the database refuses them) before the request is refused as unavailable
/// (503, `Retry-After`): short enough that nobody waits long on a database
/// that is down, long enough that a busy moment under load is not a refusal.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How a SQLite connection syncs its commits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// fsync the log inside each commit (every pooled connection, so
    /// statements that write outside [`Db::write`] stay durable).
    Full,
    /// No fsync in the commit: [`Db::write`]'s connection, whose commits
    /// wait for [`wal_sync`] instead.
    Normal,
}

fn pool_options(engine: Engine, max_connections: u32, sync: Sync) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A SQLite connection is a file handle in this process: it cannot go
        // stale, so the round trip to check it before each use is saved.
        .test_before_acquire(engine != Engine::Sqlite)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    // WAL lets readers run beside the writer; FULL makes a
                    // commit durable before it returns (NORMAL: see Sync).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute(match sync {
                        Sync::Full => "PRAGMA synchronous = FULL",
                        Sync::Normal => "PRAGMA synchronous = NORMAL",
                    })
                    .await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    if sync == Sync::Normal {
                        // Checkpoints run beside the writers (direct::checkpoints).
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                    }
                    // Sorts and statement journals in memory rather
                    // than in temporary files opened, written and
                    // unlinked many times a second under load.
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
                }
                Ok(())
            })
        })
}

/// A SQLite file's writing connections.
#[derive(Clone)]
struct Writes {
    pool: AnyPool,
    sync: Arc<wal_sync::WalSync>,
    direct: Arc<direct::Direct>,
}

/// The process's turn to write (SQLite), held from `BEGIN` until the
/// commit is registered with [`wal_sync`].
pub(crate) struct Turn {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    sync: Option<Arc<wal_sync::WalSync>>,
}

impl Turn {
    /// A transaction has just committed under this turn: register it for
    /// the log's fsync (so tickets follow commits), then give the turn up.
    pub(crate) fn committed(self) -> wal_sync::Pending {
        let pending = match &self.sync {
            Some(sync) => sync.committed(),
            None => wal_sync::Pending::ready(),
        };
        drop(self.guard);
        pending
    }
}

/// The database: a pool plus what the engines need told apart.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
    /// SQLite has one writer at a time. Queueing writers here, in process,
    /// replaces SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between
    /// retries: the benchmark saw hundreds of such sleeps a second when the
    /// message writer and the delivery log met.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite (a file): the connection write transactions run on, which
    /// commits without an fsync and then waits for the log's syncing
    /// thread ([`wal_sync`]), so the write lock is free during the fsync;
    /// and the message writer's own connection ([`direct`]).
    writes: Option<Writes>,
    /// On a running server: the group commit for single audit events.
    audit_batcher: Option<audit_batch::Batcher>,
    /// Names this process in cluster notifications, so a node skips its own
    /// (see [`cluster`]).
    node_id: Arc<str>,
    /// The keys for sealed columns ([`crate::sealing`]); see [`Db::with_keys`].
    keys: Option<Arc<KeyRing>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("engine", &self.engine).finish()
    }
}

/// Whether the schema is ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

impl Db {
    /// Connect (creating the SQLite file and its folder if needed).
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let engine = url
            .engine()
            .ok_or_else(|| StoreError::Invalid("database.url has an unsupported scheme".into()))?;
        let mut url_text = url.expose().to_string();
        if engine == Engine::Sqlite {
            ensure_sqlite_folder(&url_text)?;
            // A new deployment's database file must be created, not refused.
            if !url_text.contains("mode=") && !url_text.contains(":memory:") {
                url_text.push(if url_text.contains('?') { '&' } else { '?' });
                url_text.push_str("mode=rwc");
            }
        }
        let pool = pool_options(engine, max_connections, Sync::Full)
            .connect(&url_text)
            .await?;
        let write_lock = (engine == Engine::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let writes = match (sqlite_file(&url_text), &write_lock) {
            (Some(file), Some(turn)) => {
                let writer = pool_options(engine, 1, Sync::Normal)
                    .connect(&url_text)
                    .await?;
                let sync = wal_sync::WalSync::start(&file).map_err(sqlx::Error::Io)?;
                let direct = Arc::new(direct::Direct::open(&file)?);
                direct::checkpoints(
                    pool.clone(),
                    &file,
                    Arc::downgrade(&direct),
                    turn.clone(),
                    direct::CHECKPOINT_AT,
                    direct::RESTART_AT,
                );
                Some(Writes {
                    pool: writer,
                    sync: Arc::new(sync),
                    direct,
                })
            }
            _ => None,
        };
        Ok(Self {
            pool,
            engine,
            write_lock,
            writes,
            audit_batcher: None,
            node_id: new_id().into(),
            keys: None,
        })
    }

    /// This handle, sealing and opening child-identifying columns with `keys`.
    pub fn with_keys(mut self, keys: Arc<KeyRing>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// This handle with the key file that `settings` names
    /// (`encryption.key_file`, else `<data_dir>/confer-keys.toml`). A missing
    /// file is created only while the database holds no sealed value: a
    /// restored database without its key file is refused, never given a new
    /// key it cannot use.
    pub async fn with_key_file(self, path: &std::path::Path) -> StoreResult<Self> {
        let keys = if path.exists() {
            KeyRing::load(path)?
        } else {
            let (sealed,): (i64,) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM cases WHERE child_name LIKE 'cf1:%' OR la_reference LIKE 'cf1:%') \
                 + (SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE body LIKE 'cf1:%' LIMIT 1) m)",
            )
            .fetch_one(&self.pool)
            .await?;
            if sealed > 0 {
                return Err(StoreError::Sealing(crate::sealing::SealError::KeyFile {
                    path: path.display().to_string(),
                    reason: format!(
                        "missing, and the database holds sealed values ({sealed}): \
                         put back the key file kept with this database's backups"
                    ),
                }));
            }
            match KeyRing::create(path) {
                Ok(keys) => keys,
                // Another node sharing the key file created it first.
                Err(_) if path.exists() => KeyRing::load(path)?,
                Err(e) => return Err(e.into()),
            }
        };
        Ok(self.with_keys(Arc::new(keys)))
    }

    /// The key ring, when one is loaded.
    pub fn keys(&self) -> Option<&Arc<KeyRing>> {
        self.keys.as_ref()
    }

    /// Seal a value for `column` under the current key.
    pub fn seal(&self, column: &str, plain: &str) -> StoreResult<String> {
        let keys = self.keys.as_ref().ok_or_else(|| {
            StoreError::Invalid("no encryption key file is loaded to seal with".into())
        })?;
        Ok(keys.seal(column, plain))
    }

    /// Seal free text (a message, findings) for `column`; empty text stays
    /// empty, so a removed message or an unanswered field holds nothing.
    pub fn seal_text(&self, column: &str, plain: &str) -> StoreResult<String> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        self.seal(column, plain)
    }

    /// The blind index of `texts` under the current key
    /// ([`crate::sealing::blind`]), for a row's `search_terms`.
    pub fn blind_index(&self, texts: &[&str]) -> StoreResult<String> {
        let keys = self.keys.as_ref().ok_or_else(|| {
            StoreError::Invalid("no encryption key file is loaded to index with".into())
        })?;
        Ok(keys.index_text(texts))
    }

    /// Open a value read from `column` (plaintext written before sealing passes through).
    pub fn open_sealed(&self, column: &str, stored: String) -> StoreResult<String> {
        match &self.keys {
            Some(keys) => Ok(keys.open(column, &stored)?),
            None if KeyRing::key_of(&stored).is_none() => Ok(stored),
            None => Err(StoreError::Invalid(
                "no encryption key file is loaded to open a sealed value".into(),
            )),
        }
    }

    /// This handle, with single audit events ([`audit::record`]) appended
    /// through a group-committing task (see [`audit_batch`]). For servers;
    /// command-line tools append directly.
    pub fn with_audit_batching(mut self) -> Self {
        if self.audit_batcher.is_none() {
            self.audit_batcher = Some(audit_batch::Batcher::start(self.clone()));
        }
        self
    }

    pub(crate) fn audit_batcher(&self) -> Option<&audit_batch::Batcher> {
        self.audit_batcher.as_ref()
    }

    /// This process's name in cluster notifications.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn migrator(&self) -> &'static Migrator {
        match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Apply every migration not yet applied; returns how many there are in all.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let migrator = self.migrator();
        migrator.run(&self.pool).await?;
        Ok(migrator.iter().count())
    }

    /// Ready when the database answers and every migration this binary knows is applied.
    pub async fn readiness(&self) -> Readiness {
        // A probe must answer quickly: a database that does not answer in
        // two seconds is as good as down.
        match tokio::time::timeout(Duration::from_secs(2), self.check_ready()).await {
            Ok(r) => r,
            Err(_) => Readiness::NotReady("database did not answer within 2 seconds".into()),
        }
    }

    async fn check_ready(&self) -> Readiness {
        if let Err(e) = sqlx::query("SELECT 1").execute(&self.pool).await {
            tracing::warn!(error = %e, "database did not answer the readiness probe");
            return Readiness::NotReady("database unavailable".into());
        }
        let applied: Result<Vec<(i64,)>, _> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await;
        let applied = match applied {
            Ok(rows) => rows.into_iter().map(|(v,)| v).collect::<Vec<_>>(),
            Err(_) => return Readiness::NotReady("migrations not applied".into()),
        };
        let missing: Vec<i64> = self
            .migrator()
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        if missing.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(format!("migrations not applied: {missing:?}"))
        }
    }

    /// Begin a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), waiting up to the busy timeout, so a transaction
    /// that reads before it writes cannot fail half-way on a lock upgrade.
    pub async fn write(&self) -> StoreResult<Tx> {
        let turn = self.turn().await;
        let pool = self.writes.as_ref().map_or(&self.pool, |w| &w.pool);
        let inner = match self.engine {
            Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => pool.begin().await?,
        };
        Ok(Tx { inner, turn })
    }

    /// Wait for the turn to write (SQLite; PostgreSQL's writers need none).
    pub(crate) async fn turn(&self) -> Turn {
        Turn {
            guard: match &self.write_lock {
                Some(lock) => Some(lock.clone().lock_owned().await),
                None => None,
            },
            sync: self.writes.as_ref().map(|w| w.sync.clone()),
        }
    }

    /// The message writer's own connection, on a SQLite file.
    pub(crate) fn direct(&self) -> Option<&direct::Direct> {
        self.writes.as_ref().map(|w| &*w.direct)
    }

    /// Commit any queued audit events, then close every connection.
    pub async fn close(&self) {
        if let Some(b) = &self.audit_batcher {
            b.flush().await;
        }
        self.pool.close().await;
    }
}

/// The file a SQLite URL names (none for an in-memory database).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

fn ensure_sqlite_folder(url: &str) -> StoreResult<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

/// A fresh random id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh time-ordered id (UUIDv7) for rows written at a high rate
/// (messages, sharing records, audit events): new keys land at the end of
/// their indexes instead of at random pages, so a commit dirties few pages.
/// Not for anything that must be unguessable: it carries its creation time
/// and 74 random bits.
pub fn new_ordered_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A connection inside a caller's transaction: store functions that must
/// commit together (a change and its audit event) take one of these.
pub type Conn = AnyConnection;

/// A write transaction; on SQLite it also holds the process's write turn
/// until it is committed or dropped.
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    turn: Turn,
}

impl Tx {
    /// Commit, returning once the commit is durable.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.commit_pending().await?.durable().await
    }

    /// Commit and release the write lock, returning what to wait on before
    /// anyone is told the commit happened: on SQLite the log's fsync, which
    /// then overlaps the next transaction (the message writer acknowledges a
    /// batch only after [`wal_sync::Pending::durable`]).
    pub async fn commit_pending(self) -> Result<wal_sync::Pending, sqlx::Error> {
        let Tx { inner, turn } = self;
        inner.commit().await?;
        Ok(turn.committed())
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}
