//! Holding messages back from agencies whose consent was refused or
//! withdrawn (see [`crate::domain::withholding`]), and releasing them.
//!
//! The message writer asks [`Gates::hold_back_in`] about every post, inside
//! its own transaction. The case's sharing version travels on the channel
//! row the writer already updates for the sequence number, so:
//!
//! - a case that has never had a consent record or override (version 0)
//!   costs nothing: no cache lookup, no query;
//! - otherwise the case's decisions are cached in memory by version, and a
//!   change anywhere (this process, another process or another node) is
//!   seen by the very next send, because every change bumps the version on
//!   the case's channel rows in its own transaction ([`bump_in`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::Row;

use super::sharing_state::snapshot_in;
use super::{Conn, StoreResult};
use crate::domain::channels::Audience;
use crate::domain::clock::Millis;
use crate::domain::vocabulary::AgencyKind;
use crate::domain::withholding::{Agency, HeldBack, hold_back};

/// A case's held-back agency kinds at one sharing version.
#[derive(Clone, Debug)]
struct CaseGate {
    version: i64,
    blocked: Vec<(AgencyKind, String)>,
}

/// The per-process cache of each case's gate.
#[derive(Debug, Default)]
pub struct Gates {
    cases: Mutex<HashMap<String, Arc<CaseGate>>>,
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<CaseGate>>> {
        // The map holds only derived data: a poisoned lock loses nothing.
        self.cases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drop a case's entry (after a change here: the version check would
    /// catch it anyway, this just frees it at once).
    pub fn forget(&self, case_id: &str) {
        self.lock().remove(case_id);
    }

    /// How many cases are cached (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    /// Whether a post in `case_id` (whose channel row carried `version`)
    /// is known to go as sent without a read: no consent change ever, or a
    /// cached gate of that version that holds nobody back.
    pub(crate) fn known_open(&self, case_id: &str, version: i64) -> bool {
        version == 0
            || self
                .lock()
                .get(case_id)
                .is_some_and(|g| g.version == version && g.blocked.is_empty())
    }

    async fn gate_in(
        &self,
        conn: &mut Conn,
        case_id: &str,
        version: i64,
    ) -> StoreResult<Arc<CaseGate>> {
        if let Some(g) = self.lock().get(case_id).filter(|g| g.version == version) {
            return Ok(g.clone());
        }
        let snapshot = snapshot_in(conn, case_id).await?;
        let gate = Arc::new(CaseGate {
            version,
            blocked: snapshot.blocked(),
        });
        self.lock().insert(case_id.to_string(), gate.clone());
        Ok(gate)
    }

    /// Decide, inside the writer's transaction, what a post in a channel of
    /// `case_id` (whose channel row carried `version`) becomes: `None` when
    /// nothing is held back (the post goes as sent).
    pub(crate) async fn hold_back_in(
        &self,
        conn: &mut Conn,
        case_id: &str,
        version: i64,
        author_agency_id: &str,
        chosen: Option<&(Audience, String)>,
        now: Millis,
    ) -> StoreResult<Option<HeldBack>> {
        if version == 0 {
            return Ok(None);
        }
        let gate = self.gate_in(conn, case_id, version).await?;
        if gate.blocked.is_empty() {
            return Ok(None);
        }
        // Only a case with something held back gets here: read who is in it.
        let agencies = agencies_in(conn, case_id, now).await?;
        let mut people: HashMap<String, Option<String>> = HashMap::new();
        if let Some((audience, _)) = chosen {
            for person in &audience.people {
                let row = sqlx::query("SELECT agency_id FROM people WHERE id = $1")
                    .bind(person)
                    .fetch_optional(&mut *conn)
                    .await?;
                let agency = row
                    .map(|r| r.try_get::<String, _>("agency_id"))
                    .transpose()?;
                people.insert(person.clone(), agency);
            }
        }
        Ok(hold_back(
            &gate.blocked,
            &agencies,
            author_agency_id,
            chosen,
            |p| people.get(p).cloned().flatten(),
        ))
    }
}

async fn agencies_in(conn: &mut Conn, case_id: &str, now: Millis) -> StoreResult<Vec<Agency>> {
    let rows = sqlx::query(
        "SELECT a.id, a.kind, (SELECT COUNT(*) FROM case_memberships m JOIN people p ON p.id = m.person_id \
         WHERE m.case_id = $1 AND p.agency_id = a.id AND m.ended_at IS NULL \
         AND (m.expires_at IS NULL OR m.expires_at > $2)) AS members \
         FROM agencies a ORDER BY a.name, a.id",
    )
    .bind(case_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(Agency {
                id: r.try_get("id")?,
                kind: kind.parse().map_err(super::StoreError::Invalid)?,
                in_case: r.try_get::<i64, _>("members")? > 0,
            })
        })
        .collect()
}

/// Record, in the writer's transaction, the agencies a message was held back from.
pub(crate) async fn record_withheld(
    conn: &mut Conn,
    message_id: &str,
    case_id: &str,
    withheld: &[(String, String)],
    now: Millis,
) -> StoreResult<()> {
    for (agency_id, record_id) in withheld {
        sqlx::query(
            "INSERT INTO withheld_messages (message_id, case_id, agency_id, consent_record_id, withheld_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(message_id)
        .bind(case_id)
        .bind(agency_id)
        .bind(record_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A case's consent or overrides changed: bump its sharing version on the
/// case and on every channel of it, in the changing transaction. Taking the
/// case row first orders this against channel creation, which copies the
/// version under the same row lock.
pub(crate) async fn bump_in(conn: &mut Conn, case_id: &str) -> StoreResult<i64> {
    let version: i64 = sqlx::query(
        "UPDATE cases SET sharing_version = sharing_version + 1 WHERE id = $1 RETURNING sharing_version",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(super::StoreError::NotFound)?
    .try_get("sharing_version")?;
    // One row at a time in id order: the message writer takes channel rows
    // in the same order (`realtime::writer`), so neither can hold a row the
    // other is waiting for. A single `UPDATE ... WHERE case_id` locks in
    // whatever order its scan finds the rows.
    let channels: Vec<String> =
        sqlx::query_scalar("SELECT id FROM channels WHERE case_id = $1 ORDER BY id")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
    for channel in channels {
        sqlx::query("UPDATE channels SET sharing_version = $1 WHERE id = $2")
            .bind(version)
            .bind(&channel)
            .execute(&mut *conn)
            .await?;
    }
    Ok(version)
}

/// A message released to an agency it had been held back from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    pub message_id: String,
    pub channel_id: String,
    pub seq: i64,
    pub agency_id: String,
}

/// Release the messages held back under one consent record from every
/// agency that the case's sharing state (as changed in this transaction)
/// no longer holds back: the agency joins each message's audience. A
/// message still held back by another record is moved under that one, so
/// an override of it releases the message.
pub(crate) async fn release_in(
    conn: &mut Conn,
    case_id: &str,
    record_id: &str,
    override_id: Option<&str>,
    now: Millis,
) -> StoreResult<Vec<Released>> {
    let snapshot = snapshot_in(conn, case_id).await?;
    let rows = sqlx::query(
        "SELECT w.message_id, w.agency_id, a.kind, m.channel_id, m.seq FROM withheld_messages w \
         JOIN agencies a ON a.id = w.agency_id JOIN messages m ON m.id = w.message_id \
         WHERE w.case_id = $1 AND w.consent_record_id = $2 AND w.released_at IS NULL \
         ORDER BY m.channel_id, m.seq, a.id",
    )
    .bind(case_id)
    .bind(record_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut released = Vec::new();
    for r in &rows {
        let message_id: String = r.try_get("message_id")?;
        let agency_id: String = r.try_get("agency_id")?;
        let kind: AgencyKind = r
            .try_get::<String, _>("kind")?
            .parse()
            .map_err(super::StoreError::Invalid)?;
        match snapshot.decide(kind) {
            crate::domain::sharing::Decision::Blocked { consent_record_id } => {
                if consent_record_id != record_id {
                    sqlx::query(
                        "UPDATE withheld_messages SET consent_record_id = $1 WHERE message_id = $2 AND agency_id = $3",
                    )
                    .bind(&consent_record_id)
                    .bind(&message_id)
                    .bind(&agency_id)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            crate::domain::sharing::Decision::Share { .. } => {
                let already: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM message_restrictions WHERE message_id = $1 AND agency_id = $2",
                )
                .bind(&message_id)
                .bind(&agency_id)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?;
                if already == 0 {
                    sqlx::query(
                        "INSERT INTO message_restrictions (message_id, agency_id) VALUES ($1, $2)",
                    )
                    .bind(&message_id)
                    .bind(&agency_id)
                    .execute(&mut *conn)
                    .await?;
                }
                sqlx::query(
                    "UPDATE withheld_messages SET released_at = $1, override_id = $2 WHERE message_id = $3 AND agency_id = $4",
                )
                .bind(now)
                .bind(override_id)
                .bind(&message_id)
                .bind(&agency_id)
                .execute(&mut *conn)
                .await?;
                released.push(Released {
                    message_id,
                    channel_id: r.try_get("channel_id")?,
                    seq: r.try_get("seq")?,
                    agency_id,
                });
            }
        }
    }
    let mut rewritten: Vec<&str> = Vec::new();
    for r in &released {
        if !rewritten.contains(&r.message_id.as_str()) {
            rewritten.push(&r.message_id);
            rewrite_reason(conn, &r.message_id).await?;
        }
    }
    Ok(released)
}

/// After a release, the message's restriction reason names only the agency
/// kinds it is still held back from (the author's own reason is kept).
async fn rewrite_reason(conn: &mut Conn, message_id: &str) -> StoreResult<()> {
    let row = sqlx::query(
        "SELECT m.restriction_reason, a.kind FROM messages m JOIN people p ON p.id = m.author_id \
         JOIN agencies a ON a.id = p.agency_id WHERE m.id = $1",
    )
    .bind(message_id)
    .fetch_one(&mut *conn)
    .await?;
    let Some(reason) = row.try_get::<Option<String>, _>("restriction_reason")? else {
        return Ok(());
    };
    let author_kind: Option<AgencyKind> = row.try_get::<String, _>("kind")?.parse().ok();
    let mut still_held: Vec<AgencyKind> = Vec::new();
    for h in sqlx::query(
        "SELECT DISTINCT a.kind FROM withheld_messages w JOIN agencies a ON a.id = w.agency_id \
         WHERE w.message_id = $1 AND w.released_at IS NULL ORDER BY a.kind",
    )
    .bind(message_id)
    .fetch_all(&mut *conn)
    .await?
    {
        if let Ok(kind) = h.try_get::<String, _>("kind")?.parse() {
            still_held.push(kind);
        }
    }
    let reason =
        crate::domain::withholding::reason_after_release(&reason, &still_held, author_kind);
    sqlx::query("UPDATE messages SET restriction_reason = $1 WHERE id = $2")
        .bind(reason)
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How many messages are held back under one record, per agency name.
pub(crate) async fn held_back_under(
    conn: &mut Conn,
    case_id: &str,
    record_id: &str,
) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT a.name, COUNT(*) AS n FROM withheld_messages w JOIN agencies a ON a.id = w.agency_id \
         WHERE w.case_id = $1 AND w.consent_record_id = $2 AND w.released_at IS NULL \
         GROUP BY a.name ORDER BY a.name",
    )
    .bind(case_id)
    .bind(record_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("n")?)))
        .collect()
}
