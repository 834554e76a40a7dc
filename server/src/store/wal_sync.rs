//! Durable commits on SQLite with the write lock released before the fsync
//! (issue 8).
//!
//! With `synchronous = FULL` SQLite fsyncs the write-ahead log inside every
//! commit, while it still holds the database's write lock: nothing else can
//! write during the fsync, and the message writer's next batch waits for it.
//! Write transactions ([`super::Db::write`]) therefore run on a connection
//! with `synchronous = NORMAL`, whose commit appends to the log without an
//! fsync, and then wait here until a *later* `fdatasync` of the log file
//! has returned. One thread makes those calls, each covering every commit
//! registered before it started (a group fsync), while the next transaction
//! already writes.
//!
//! Durability is unchanged: a commit returns (and a message is acknowledged)
//! only once its log frames are on disk. SQLite's recovery replays the log
//! up to the last valid commit frame, so what survives a power loss is a
//! prefix of the commits: every commit that returned, and perhaps some of the
//! ones still waiting (never acknowledged; their senders retry with the same
//! `client_id`). Checkpoints on a `NORMAL` connection sync the log before
//! copying it and the database file after, as they do under `FULL`; a new
//! log file's directory entry is synced once, as SQLite does.
//!
//! A failed `fdatasync` leaves the kernel's copy of the file in doubt (its
//! dirty pages may be dropped), so it is not retried: every waiting and later
//! commit fails, and the node refuses writes until it is restarted and
//! SQLite recovers from what is on disk (as PostgreSQL does after a failed
//! fsync).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

/// Where the log stands: commits registered, and synced up to which.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Synced {
    upto: u64,
    /// Set once for good by a failed fdatasync.
    broken: Option<String>,
}

struct Shared {
    wal: PathBuf,
    /// (commits registered, stopping)
    state: Mutex<(u64, bool)>,
    wake: Condvar,
    synced: watch::Sender<Synced>,
}

/// The log's syncing thread; stops when the last [`crate::store::Db`]
/// holding it is dropped.
pub(crate) struct WalSync {
    shared: Arc<Shared>,
}

/// A commit whose log frames are written but not yet known to be on disk.
#[must_use = "a commit is durable only once `durable` returns"]
#[derive(Debug)]
pub struct Pending {
    ticket: u64,
    synced: Option<watch::Receiver<Synced>>,
}

impl Pending {
    /// A commit that needs no wait (PostgreSQL, an in-memory database).
    pub(crate) fn ready() -> Pending {
        Pending {
            ticket: 0,
            synced: None,
        }
    }

    /// Wait until the commit is on disk.
    pub async fn durable(self) -> Result<(), sqlx::Error> {
        let Some(mut rx) = self.synced else {
            return Ok(());
        };
        let ticket = self.ticket;
        let seen = rx
            .wait_for(|s| s.upto >= ticket || s.broken.is_some())
            .await
            .map_err(|_| failed("the log's sync thread stopped"))?;
        match &seen.broken {
            Some(why) if seen.upto < ticket => Err(failed(why)),
            _ => Ok(()),
        }
    }
}

fn failed(why: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!(
        "the write-ahead log could not be synced to disk: {why}"
    )))
}

impl WalSync {
    /// Sync the log of the database file `db`.
    pub(crate) fn start(db: &Path) -> std::io::Result<WalSync> {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let shared = Arc::new(Shared {
            wal: PathBuf::from(wal),
            state: Mutex::new((0, false)),
            wake: Condvar::new(),
            synced: watch::Sender::new(Synced::default()),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("confer-wal-sync".into())
            .spawn(move || run(&worker))?;
        Ok(WalSync { shared })
    }

    /// Register a commit that has just returned; call before the write
    /// lock is released, so tickets follow commit order.
    pub(crate) fn committed(&self) -> Pending {
        let ticket = {
            let mut state = self
                .shared
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.0 += 1;
            state.0
        };
        self.shared.wake.notify_one();
        Pending {
            ticket,
            synced: Some(self.shared.synced.subscribe()),
        }
    }
}

impl Drop for WalSync {
    fn drop(&mut self) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.1 = true;
        drop(state);
        self.shared.wake.notify_one();
    }
}

impl Shared {
    /// Wait until `done` holds for (commits registered, stopping); returns
    /// the state then. A poisoned lock is taken as it is: the state is two
    /// plain numbers, never left half-written.
    fn wait_until(&self, done: impl Fn(&(u64, bool)) -> bool) -> (u64, bool) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while !done(&state) {
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *state
    }
}

fn run(shared: &Shared) {
    let mut log = OpenLog::default();
    let mut upto = 0u64;
    loop {
        let (target, _) =
            shared.wait_until(|&(registered, stopping)| registered != upto || stopping);
        if target == upto {
            return;
        }
        // Every commit registered by now has written its frames: one sync
        // covers them all.
        match log.sync(&shared.wal) {
            Ok(()) => {
                upto = target;
                shared.synced.send_modify(|s| s.upto = upto);
            }
            Err(e) => {
                tracing::error!(error = %e, wal = %shared.wal.display(),
                    "fdatasync of the write-ahead log failed; refusing writes until restarted");
                shared
                    .synced
                    .send_modify(|s| s.broken = Some(e.to_string()));
                // Park until stopped: nothing more is acknowledged.
                shared.wait_until(|&(_, stopping)| stopping);
                return;
            }
        }
    }
}

/// The log file as last opened, by inode: SQLite deletes the log when its
/// last connection closes and creates a new one later.
#[derive(Default)]
struct OpenLog {
    file: Option<(File, u64)>,
}

impl OpenLog {
    fn sync(&mut self, wal: &Path) -> std::io::Result<()> {
        let inode = match std::fs::metadata(wal) {
            Ok(m) => m.ino(),
            // No log: the last connection closed, after checkpointing every
            // frame into the database file and syncing it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if self.file.as_ref().map(|(_, i)| *i) != Some(inode) {
            let file = File::open(wal)?;
            // A new file is durable only once its directory entry is.
            if let Some(dir) = wal.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                File::open(dir)?.sync_all()?;
            }
            self.file = Some((file, inode));
        }
        match &self.file {
            Some((file, _)) => file.sync_data(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_is_durable_only_after_a_sync_that_started_after_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("x.sqlite3");
        std::fs::write(dir.path().join("x.sqlite3-wal"), b"frames").expect("wal");
        let sync = WalSync::start(&db).expect("start");
        let first = sync.committed();
        let second = sync.committed();
        assert!(second.ticket > first.ticket);
        first.durable().await.expect("first synced");
        second.durable().await.expect("second synced");
        assert!(sync.shared.synced.borrow().upto >= 2);
    }

    #[tokio::test]
    async fn no_log_file_means_nothing_is_left_to_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sync = WalSync::start(&dir.path().join("gone.sqlite3")).expect("start");
        sync.committed().durable().await.expect("durable");
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_commit_from_then_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("x.sqlite3");
        // A log path whose folder is a file: looking it up fails (not
        // "not found"), as a failing disk would.
        let sync = WalSync {
            shared: Arc::new(Shared {
                wal: db.join("not-a-dir-wal"),
                state: Mutex::new((0, false)),
                wake: Condvar::new(),
                synced: watch::Sender::new(Synced::default()),
            }),
        };
        std::fs::write(&db, b"a file, not a folder").expect("file");
        let worker = sync.shared.clone();
        std::thread::spawn(move || run(&worker));
        let err = sync.committed().durable().await.expect_err("must fail");
        assert!(err.to_string().contains("could not be synced"), "{err}");
        let later = sync.committed().durable().await.expect_err("still failing");
        assert!(later.to_string().contains("could not be synced"), "{later}");
    }
}
