//! `confer keys list` and `confer keys rotate` (see `crate::sealing`).

use std::collections::BTreeMap;
use std::io::Write;

use super::{CliError, KeysCommand, operator_label};
use crate::app;
use crate::config::Settings;
use crate::store::audit::{self, NewEvent};
use crate::store::resealing;

/// "3 case(s), 120 messages, ..." sealed under `id`.
fn tally(counts: &BTreeMap<String, BTreeMap<String, i64>>, id: &str) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(table, c)| {
            let n = c.get(id).copied().unwrap_or(0);
            if table == "cases" {
                format!("{n} case(s)")
            } else {
                format!("{n} {table}")
            }
        })
        .collect();
    parts.join(", ")
}

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
            let counts = resealing::sealed_by_key(&db).await?;
            writeln!(out, "Key file {}", keys.path().display())?;
            let ids = keys.ids();
            for (i, id) in ids.iter().enumerate() {
                let current = if i == 0 { " (current)" } else { "" };
                writeln!(out, "{id}{current}: seals {}", tally(&counts, id))?;
            }
            let mut others: Vec<&String> = counts
                .values()
                .flat_map(|c| c.keys())
                .filter(|id| !ids.contains(id))
                .collect();
            others.sort();
            others.dedup();
            for id in others {
                let what = if id == "plaintext" {
                    "NOT SEALED yet (sealed when the server starts)"
                } else {
                    "NOT READABLE with this key file"
                };
                writeln!(out, "{id}: {} {what}", tally(&counts, id))?;
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
            let resealed = resealing::reseal_all(&db).await?;
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
                    detail: serde_json::json!({
                        "previous_key": old,
                        "cases_resealed": resealed.get("cases").copied().unwrap_or(0),
                        "resealed": resealed,
                    }),
                },
            )
            .await?;
            tx.commit().await.map_err(crate::store::StoreError::from)?;
            let summary: Vec<String> = resealed
                .iter()
                .map(|(t, n)| match *t {
                    "cases" => format!("{n} case(s)"),
                    t => format!("{n} {t}"),
                })
                .collect();
            writeln!(
                out,
                "Re-sealed {} under {new}, and re-indexed what is searchable. Keep {old} in the key file \
                 until every node has restarted or run one scheduler pass, then `confer keys rotate` \
                 again or `confer keys list` shows what still uses it.",
                summary.join(", ")
            )?;
        }
    }
    Ok(())
}
