//! `confer backup PATH` and `confer restore PATH` (docs/operations.md,
//! "Backup and restore").
//!
//! On SQLite the backup is one file: `VACUUM INTO` copies the database as of
//! one read transaction, so it is consistent while the server keeps
//! writing (WAL readers do not block the writer). It holds everything
//! Confer needs to serve again. Deliberately left out, and said so on every
//! run: `data_dir/tls` (the development certificate and its private key —
//! a key is a secret that must not travel inside a data backup, and
//! development mode makes a new one on start; production certificates live
//! outside the data directory and are the operator's to back up) and
//! `data_dir/outbox` (development mail, already delivered as files).
//!
//! On PostgreSQL the database is the operator's `pg_dump`/`pg_restore`
//! business: running `pg_dump` from here would put the database password on
//! a command line other users can read, so Confer explains the route instead.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::config::{Engine, Settings};
use crate::store::{Db, Readiness, audit, sqlite_file};

const LEFT_OUT: &str = "Not included: data_dir/tls (the development certificate and its private key: \
development mode makes a new one; back up production certificates where you keep them) and \
data_dir/outbox (development mail).";

const POSTGRES_ROUTE: &str = "the database is PostgreSQL: back it up with \
`pg_dump --format=custom --file=confer.dump DBNAME` and restore it with \
`pg_restore --dbname=NEWDB --no-owner confer.dump`, then point database.url at NEWDB and run \
`confer migrate` and `confer audit verify` (docs/operations.md, \"Backup and restore\")";

/// What a snapshot holds, checked before it is kept.
struct Checked {
    messages: i64,
    events: i64,
    head: String,
}

/// Open a SQLite file, bring its schema to this version, verify the audit
/// chain and count the messages.
async fn check(file: &Path, migrate: bool) -> Result<Checked, CliError> {
    let url = crate::config::DatabaseUrl::new(format!("sqlite://{}?mode=rw", file.display()));
    let db = Db::connect(&url, 1).await?;
    let result = async {
        if migrate {
            db.migrate().await?;
        } else if db.readiness().await != Readiness::Ready {
            return Err(CliError::Other(
                "the copy's schema is not this version's".into(),
            ));
        }
        let v = audit::verify_with(&db, Vec::new()).await?;
        if let Some(problem) = v.problem {
            return Err(CliError::Other(format!(
                "the audit log FAILED verification after {} good events: {problem}",
                v.verified
            )));
        }
        let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
            .fetch_one(db.pool())
            .await
            .map_err(crate::store::StoreError::from)?;
        Ok(Checked {
            messages,
            events: v.verified,
            head: v.head_hash,
        })
    }
    .await;
    db.close().await;
    result
}

/// A backup holds children's records: readable by Confer's account alone,
/// whatever the umask.
fn keep_private(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::File::open(file)?.sync_all()
}

/// A scratch name beside `path`, so the final rename stays on one file system.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

fn remove_sqlite(file: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = file.as_os_str().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// `confer backup PATH`.
pub(super) async fn backup(
    settings: &Settings,
    path: &Path,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let url = settings.database_url();
    if url.engine() == Some(Engine::Postgres) {
        return Err(CliError::Usage(POSTGRES_ROUTE.into()));
    }
    if path.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists: a backup never overwrites a file; choose a new name",
            path.display()
        )));
    }
    let live = Db::connect(&url, 1).await?;
    if live.readiness().await != Readiness::Ready {
        live.close().await;
        return Err(CliError::Other(
            "the database is unreachable or its schema is not this version's: run `confer migrate` first".into(),
        ));
    }
    let scratch = partial(path);
    remove_sqlite(&scratch);
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(scratch.display().to_string())
        .execute(live.pool())
        .await;
    live.close().await;
    if let Err(e) = copied {
        remove_sqlite(&scratch);
        return Err(CliError::Other(format!(
            "cannot write a snapshot to {}: {e}",
            path.display()
        )));
    }
    let checked = match check(&scratch, false).await {
        Ok(c) => c,
        Err(e) => {
            remove_sqlite(&scratch);
            return Err(e);
        }
    };
    keep_private(&scratch)
        .and_then(|()| std::fs::rename(&scratch, path))
        .map_err(|e| CliError::Other(format!("cannot keep {}: {e}", path.display())))?;
    writeln!(
        out,
        "Backed up to {}: {} messages; audit log verified, {} events, chain head {}.\n{LEFT_OUT}",
        path.display(),
        checked.messages,
        checked.events,
        checked.head
    )?;
    Ok(())
}

/// `confer restore PATH`: into a data directory that is empty or absent.
pub(super) async fn restore(
    settings: &Settings,
    path: &Path,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let url = settings.database_url();
    if url.engine() == Some(Engine::Postgres) {
        return Err(CliError::Usage(POSTGRES_ROUTE.into()));
    }
    if !path.is_file() {
        return Err(CliError::Usage(format!(
            "{} is not a backup file",
            path.display()
        )));
    }
    let Some(target) = sqlite_file(url.expose()) else {
        return Err(CliError::Usage(
            "database.url names no SQLite file to restore into".into(),
        ));
    };
    let folder = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let occupied = [&folder, &settings.server.data_dir]
        .into_iter()
        .any(|dir| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()));
    if occupied || target.exists() {
        return Err(CliError::Usage(format!(
            "{} is not empty: restore only into a fresh data directory, never over one in use",
            folder.display()
        )));
    }
    std::fs::create_dir_all(&folder)
        .map_err(|e| CliError::Other(format!("cannot create {}: {e}", folder.display())))?;
    let scratch = partial(&target);
    std::fs::copy(path, &scratch)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?;
    let checked = match check(&scratch, true).await {
        Ok(c) => c,
        Err(e) => {
            remove_sqlite(&scratch);
            return Err(CliError::Other(format!(
                "{} is not a usable backup: {e}",
                path.display()
            )));
        }
    };
    keep_private(&scratch)
        .and_then(|()| std::fs::rename(&scratch, &target))
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", target.display())))?;
    writeln!(
        out,
        "Restored {} into {}: {} messages; audit log verified, {} events, chain head {}.",
        path.display(),
        target.display(),
        checked.messages,
        checked.events,
        checked.head
    )?;
    Ok(())
}
