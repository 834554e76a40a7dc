//! `confer keys list` and `confer keys rotate` (see `crate::sealing`).

use std::io::Write;

use super::{CliError, KeysCommand, operator_label};
use crate::app;
use crate::config::Settings;
use crate::store::audit::{self, NewEvent};
use crate::store::cases;

/// Cases re-sealed per write transaction.
const BATCH: i64 = 200;

pub(super) async fn run(
    cmd: KeysCommand,
    settings: &Settings,
    now: i64,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let db = app::open_database(settings).await?;
    let keys = db
        .keys()
        .cloned()
        .ok_or_else(|| CliError::Other("no key file is loaded".into()))?;
    match cmd {
        KeysCommand::List => {
            let counts = cases::sealed_by_key(&db).await?;
            writeln!(out, "Key file {}", keys.path().display())?;
            for (i, id) in keys.ids().iter().enumerate() {
                let n = counts.get(id).copied().unwrap_or(0);
                let current = if i == 0 { " (current)" } else { "" };
                writeln!(out, "{id}{current}: seals {n} case(s)")?;
            }
            for (id, n) in counts.iter().filter(|(id, _)| !keys.ids().contains(id)) {
                writeln!(out, "{id}: {n} case(s) NOT READABLE with this key file")?;
            }
        }
        KeysCommand::Rotate => {
            let old = keys.current_id();
            let new = keys.add_key().map_err(crate::store::StoreError::from)?;
            writeln!(
                out,
                "Added key {new} to {}; it is now current (was {old}).",
                keys.path().display()
            )?;
            let mut resealed = 0;
            loop {
                let n = cases::reseal_batch(&db, BATCH).await?;
                if n == 0 {
                    break;
                }
                resealed += n;
            }
            let label = operator_label();
            let mut tx = db.write().await?;
            audit::append(
                &mut tx,
                now,
                NewEvent {
                    actor_id: None,
                    actor_label: &label,
                    action: "encryption.rotated",
                    case_id: None,
                    subject: Some(&new),
                    detail: serde_json::json!({ "previous_key": old, "cases_resealed": resealed }),
                },
            )
            .await?;
            tx.commit().await.map_err(crate::store::StoreError::from)?;
            writeln!(
                out,
                "Re-sealed {resealed} case(s) under {new}. Keep {old} in the key file until every \
                 node has restarted or run one scheduler pass, then `confer keys list` shows 0 for it."
            )?;
        }
    }
    Ok(())
}
