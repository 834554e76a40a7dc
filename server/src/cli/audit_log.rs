//! `confer audit checkpoint` and `confer audit verify`: the operator's side
//! of the tamper-evident audit log (see docs/operations.md, "Verifying the
//! audit log").

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, operator_label};
use crate::app;
use crate::config::Settings;
use crate::domain::audit::Checkpoint;
use crate::store::{Db, StoreError, audit};

/// `confer audit checkpoint [--out FILE]`. The file is checked to be
/// writable before anything is recorded, so a bad path changes nothing.
pub(super) async fn checkpoint(
    settings: &Settings,
    now: i64,
    file: Option<&std::path::Path>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let created = match file {
        Some(path) => {
            let existed = path.exists();
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
            !existed
        }
        None => false,
    };
    let checkpoint = match (record_checkpoint(settings, now).await, file) {
        (Ok(c), _) => c,
        (Err(e), Some(path)) => {
            if created {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    let json = checkpoint.to_json();
    match file {
        None => writeln!(out, "{json}")?,
        Some(path) => {
            std::fs::write(path, format!("{json}\n")).map_err(|e| {
                CliError::Other(format!(
                    "checkpoint at event {} recorded, but {} cannot be written: {e}",
                    checkpoint.seq,
                    path.display()
                ))
            })?;
            writeln!(
                out,
                "Checkpoint at event {} (hash {}) written to {}.",
                checkpoint.seq,
                checkpoint.hash,
                path.display()
            )?;
        }
    }
    Ok(())
}

async fn record_checkpoint(settings: &Settings, now: i64) -> Result<Checkpoint, CliError> {
    let db = app::open_database(settings).await?;
    audit::checkpoint(&db, now, &operator_label())
        .await
        .map_err(|e| match e {
            StoreError::Invalid(why) => CliError::Other(why),
            other => CliError::Store(other),
        })
}

/// `confer audit verify [--checkpoint FILE]...`: reads only; neither
/// migrates nor creates anything.
pub(super) async fn verify(
    settings: &Settings,
    files: &[PathBuf],
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    // Read the checkpoints first: a bad file is bad usage, whatever the log holds.
    let mut checkpoints = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("cannot read checkpoint {}: {e}", path.display()))
        })?;
        let c = Checkpoint::parse(&text)
            .map_err(|why| CliError::Usage(format!("checkpoint {}: {why}", path.display())))?;
        checkpoints.push(c);
    }
    let db = Db::connect(&settings.database_url(), 1).await?;
    if db.readiness().await != crate::store::Readiness::Ready {
        return Err(CliError::Other(
            "the database is unreachable or its schema is not this version's: run `confer migrate` first".into(),
        ));
    }
    let v = audit::verify_with(&db, checkpoints).await?;
    match v.problem {
        None => {
            writeln!(
                out,
                "Audit log verified: {} events, chain head {}.",
                v.verified, v.head_hash
            )?;
            if !files.is_empty() {
                writeln!(
                    out,
                    "Checkpoints held: {} of {}.",
                    v.checkpoints_matched,
                    files.len()
                )?;
            }
            Ok(())
        }
        Some(problem) => Err(CliError::Other(format!(
            "audit log FAILED verification after {} good events: {problem}",
            v.verified
        ))),
    }
}
