//! Information-sharing records written automatically, as a side effect of
//! work (DESIGN.md, "Information-sharing record"): whenever Confer moves case
//! information across an agency boundary.
//!
//! - **Messages.** When the delivery log writes a batch, each message
//!   delivered to a person of another agency than its author's gives one
//!   record per receiving agency, however often and to however many of its
//!   people it is delivered: the unique index on (source, item, agency) and
//!   `ON CONFLICT DO NOTHING` keep the first. The records are written in the
//!   delivery batch's own transaction, so a delivery is never logged without
//!   its share; everything they need is read before that transaction takes
//!   the write lock.
//! - **Minutes.** Circulating a meeting's record gives one record per
//!   receiving agency other than the circulator's, in the circulation's
//!   transaction (see [`super::meetings::circulate`]).
//!
//! Each record names what was shared by reference ("message 12 in Case
//! discussion"), never a copy, with the case's purpose and the lawful basis,
//! consent and override the case's sharing decision gives for the receiving
//! agency's kind ([`super::sharing_state::Snapshot::decide`]).

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, Row};

use super::meetings::Meeting;
use super::receipts::{self, Delivery};
use super::script::{Script, Value};
use super::sharing_state::{self, Snapshot};
use super::{Conn, Db, Placeholders, StoreError, StoreResult, new_ordered_id};
use crate::domain::access::Actor;
use crate::domain::clock::Millis;
use crate::domain::sharing::LawfulBasis;
use crate::domain::sharing_records::{Basis, Source, basis_of, state_word};
use crate::domain::vocabulary::AgencyKind;

/// One record to write.
#[derive(Clone, Debug)]
pub(crate) struct NewRecord {
    pub id: String,
    pub case_id: String,
    pub source: Source,
    pub item_ref: String,
    pub what: String,
    pub from_person_id: Option<String>,
    pub from_agency_id: Option<String>,
    pub to_agency_id: Option<String>,
    pub to_person_id: Option<String>,
    pub to_description: String,
    pub shared_at: Millis,
    pub purpose: String,
    /// `None` for a decision not to share.
    pub basis: Option<Basis>,
    pub reasons: String,
    pub recorded_by: Option<String>,
    pub created_at: Millis,
}

const COLUMNS: &str = "id, case_id, source, item_ref, what, from_person_id, from_agency_id, to_agency_id, \
     to_person_id, to_description, shared_at, purpose, lawful_basis, consent_record_id, consent_state, \
     without_consent_reason, override_id, reasons, recorded_by, created_at";
/// Rows per statement: at most 20 parameters each, well inside both
/// engines' limits.
const CHUNK: usize = 200;

/// A statement's parameters, each distinct value bound once: a batch's
/// records mostly repeat the same case, purpose, basis and reason, so this
/// binds a fraction of the values (binding dominates the cost of a wide
/// multi-row insert).
struct Params {
    /// Added to every number: the script's values before this statement.
    base: usize,
    texts: HashMap<String, usize>,
    ints: HashMap<i64, usize>,
    order: Vec<Param>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl Params {
    fn new(base: usize) -> Params {
        Params {
            base,
            texts: HashMap::new(),
            ints: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// The placeholder for a value (`NULL` for none).
    fn text(&mut self, value: Option<&str>) -> String {
        let Some(v) = value else {
            return "NULL".into();
        };
        let n = match self.texts.get(v) {
            Some(n) => *n,
            None => {
                self.order.push(Param::Text(v.to_string()));
                self.texts.insert(v.to_string(), self.order.len());
                self.order.len()
            }
        };
        format!("${}", self.base + n)
    }

    fn int(&mut self, value: i64) -> String {
        let n = match self.ints.get(&value) {
            Some(n) => *n,
            None => {
                self.order.push(Param::Int(value));
                self.ints.insert(value, self.order.len());
                self.order.len()
            }
        };
        format!("${}", self.base + n)
    }
}

/// Insert records in the caller's transaction; automatic records already
/// written for the same item and agency are left as they are. Returns how
/// many rows were inserted.
pub(crate) async fn insert_in(conn: &mut Conn, records: &[NewRecord]) -> StoreResult<u64> {
    let mut script = Script::new(conn);
    push_records(&mut script, records)?;
    script.execute(conn).await
}

/// Add the statements inserting `records` to `script` (numbered values:
/// after every `?` statement).
pub(crate) fn push_records<'a>(
    script: &mut Script<'a>,
    records: &'a [NewRecord],
) -> StoreResult<()> {
    if script.is_direct() {
        return push_records_direct(script, records);
    }
    for chunk in script.chunks(records, CHUNK) {
        let mut p = Params::new(script.base());
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            let b = r.basis.as_ref();
            let state = b.and_then(|b| b.consent_state).map(stored_state);
            let values = [
                p.text(Some(&r.id)),
                p.text(Some(&r.case_id)),
                p.text(Some(r.source.as_str())),
                p.text(Some(&r.item_ref)),
                p.text(Some(&r.what)),
                p.text(r.from_person_id.as_deref()),
                p.text(r.from_agency_id.as_deref()),
                p.text(r.to_agency_id.as_deref()),
                p.text(r.to_person_id.as_deref()),
                p.text(Some(&r.to_description)),
                p.int(r.shared_at),
                p.text(Some(&r.purpose)),
                p.text(b.map(|b| b.lawful_basis.as_str())),
                p.text(b.and_then(|b| b.consent_record_id.as_deref())),
                p.text(state.as_deref()),
                p.text(b.and_then(|b| b.without_consent_reason.as_deref())),
                p.text(b.and_then(|b| b.override_id.as_deref())),
                p.text(Some(&r.reasons)),
                p.text(r.recorded_by.as_deref()),
                p.int(r.created_at),
            ];
            rows.push(format!("({})", values.join(", ")));
        }
        let sql = format!(
            "INSERT INTO sharing_records ({COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
            rows.join(", ")
        );
        let values = p
            .order
            .into_iter()
            .map(|v| match v {
                Param::Text(t) => Value::Owned(t),
                Param::Int(i) => Value::Int(i),
            })
            .collect();
        script.push_numbered(sql, values);
    }
    Ok(())
}

/// [`push_records`] on the message writer's own connection (session 12):
/// every value its own `?`, NULLs bound rather than written, so a statement's
/// text depends on its row count alone and its prepared form is kept in the
/// connection's cache. The shared-value numbering above made each batch's
/// text unique: a fresh prepare per batch (8% of the writer's time on
/// workload c), each pushing a reusable statement out of the cache.
fn push_records_direct<'a>(script: &mut Script<'a>, records: &'a [NewRecord]) -> StoreResult<()> {
    const WIDTH: usize = 20;
    let p = script.placeholders();
    for chunk in script.chunks(records, CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| p.list(i * WIDTH + 1, WIDTH))
            .collect();
        let sql = format!(
            "INSERT INTO sharing_records ({COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
            rows.join(", ")
        );
        let mut values = Vec::with_capacity(chunk.len() * WIDTH);
        for r in chunk {
            let b = r.basis.as_ref();
            let state = b.and_then(|b| b.consent_state).map(stored_state);
            values.extend([
                Value::Text(&r.id),
                Value::Text(&r.case_id),
                Value::Text(r.source.as_str()),
                Value::Text(&r.item_ref),
                Value::Text(&r.what),
                Value::MaybeText(r.from_person_id.as_deref()),
                Value::MaybeText(r.from_agency_id.as_deref()),
                Value::MaybeText(r.to_agency_id.as_deref()),
                Value::MaybeText(r.to_person_id.as_deref()),
                Value::Text(&r.to_description),
                Value::Int(r.shared_at),
                Value::Text(&r.purpose),
                Value::MaybeText(b.map(|b| b.lawful_basis.as_str())),
                Value::MaybeText(b.and_then(|b| b.consent_record_id.as_deref())),
                state.map_or(Value::MaybeText(None), Value::Owned),
                Value::MaybeText(b.and_then(|b| b.without_consent_reason.as_deref())),
                Value::MaybeText(b.and_then(|b| b.override_id.as_deref())),
                Value::Text(&r.reasons),
                Value::MaybeText(r.recorded_by.as_deref()),
                Value::Int(r.created_at),
            ]);
        }
        script.push(sql, values)?;
    }
    Ok(())
}

/// The stored form of a consent state (`not_sought`, not "not sought").
fn stored_state(state: crate::domain::consent::ConsentState) -> String {
    state_word(state).replace(' ', "_")
}

/// Deliveries to write, with the sharing records they imply (derived
/// before any write transaction takes the write lock).
#[derive(Default)]
pub struct Carried {
    pub deliveries: Vec<Delivery>,
    /// `None` until derived.
    records: Option<Vec<NewRecord>>,
}

impl Carried {
    pub fn new(deliveries: Vec<Delivery>) -> Carried {
        Carried {
            deliveries,
            records: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Derive the records the deliveries imply (once).
    pub async fn derive_records(&mut self, db: &Db, now: Millis) -> StoreResult<()> {
        if self.records.is_some() || self.deliveries.is_empty() {
            return Ok(());
        }
        let records = match records_for(db, &self.deliveries, now).await {
            Ok(r) => r,
            // Stored data this code cannot read (a consent state it does not
            // know) is not going to change by retrying: keep the deliveries,
            // which hold what is needed to derive the records again, rather
            // than stall the log and every connection behind it.
            Err(StoreError::Invalid(why)) => {
                tracing::error!(error = %why, count = self.deliveries.len(), "cannot derive sharing records for a delivery batch");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        self.records = Some(records);
        Ok(())
    }

    /// Add the deliveries' inserts to `script` (the message writer's
    /// transaction, on SQLite: one commit for both). Push every carried
    /// batch's deliveries before any batch's records ([`Script`]).
    pub(crate) fn push_deliveries<'a>(&'a self, script: &mut Script<'a>) -> StoreResult<()> {
        receipts::push_deliveries(script, &self.deliveries)
    }

    /// Add the derived records' inserts to `script`.
    pub(crate) fn push_records<'a>(&'a self, script: &mut Script<'a>) -> StoreResult<()> {
        if self.deliveries.is_empty() {
            return Ok(());
        }
        match &self.records {
            Some(records) => push_records(script, records),
            None => Err(StoreError::Invalid(
                "delivery records written before they were derived".into(),
            )),
        }
    }

    /// Derive the records, then write everything in a transaction of its
    /// own. Returns how many new records were written.
    pub async fn write(&mut self, db: &Db, now: Millis) -> StoreResult<u64> {
        if self.deliveries.is_empty() {
            return Ok(0);
        }
        self.derive_records(db, now).await?;
        let mut tx = db.write().await?;
        let mut deliveries = Script::new(&tx);
        self.push_deliveries(&mut deliveries)?;
        deliveries.execute(&mut tx).await?;
        let mut records = Script::new(&tx);
        self.push_records(&mut records)?;
        let written = records.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(written)
    }
}

/// Write a batch of deliveries and the sharing records they imply, in one
/// transaction. Returns how many new records were written.
pub async fn record_deliveries(db: &Db, deliveries: &[Delivery], now: Millis) -> StoreResult<u64> {
    Carried::new(deliveries.to_vec()).write(db, now).await
}

/// Values to look up in lists of at most this many (both engines take far
/// more parameters, but long statements plan slowly).
const LOOKUP: usize = 500;

/// Each channel's case and name.
async fn channels_of(db: &Db, ids: &[&str]) -> StoreResult<HashMap<String, (String, String)>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LOOKUP) {
        let sql = format!(
            "SELECT id, case_id, name FROM channels WHERE id IN {}",
            Placeholders::for_engine(db.engine()).list(1, chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(db.pool()).await? {
            out.insert(
                r.try_get("id")?,
                (r.try_get("case_id")?, r.try_get("name")?),
            );
        }
    }
    Ok(out)
}

/// Each agency's kind.
async fn kinds_of(db: &Db, ids: &[&str]) -> StoreResult<HashMap<String, AgencyKind>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LOOKUP) {
        let sql = format!(
            "SELECT id, kind FROM agencies WHERE id IN {}",
            Placeholders::for_engine(db.engine()).list(1, chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(db.pool()).await? {
            let kind: String = r.try_get("kind")?;
            out.insert(r.try_get("id")?, kind.parse().map_err(StoreError::Invalid)?);
        }
    }
    Ok(out)
}

/// The sharing state of several cases. Most cases have no consent records:
/// their state is the case's basis and purpose, read for all of them at
/// once. The others are read in full by [`sharing_state::snapshot`].
pub(crate) async fn snapshots(
    db: &Db,
    case_ids: &[&str],
) -> StoreResult<HashMap<String, Snapshot>> {
    let mut out = HashMap::with_capacity(case_ids.len());
    for chunk in case_ids.chunks(LOOKUP) {
        let sql = format!(
            "SELECT c.id, c.lawful_basis, c.sharing_purpose, \
             (SELECT COUNT(*) FROM consent_records r WHERE r.case_id = c.id) AS consents \
             FROM cases c WHERE c.id IN {}",
            Placeholders::for_engine(db.engine()).list(1, chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(db.pool()).await? {
            let id: String = r.try_get("id")?;
            let consents: i64 = r.try_get("consents")?;
            let snapshot = if consents > 0 {
                sharing_state::snapshot(db, &id).await?
            } else {
                let basis: String = r.try_get("lawful_basis")?;
                Snapshot {
                    case_id: id.clone(),
                    lawful_basis: basis.parse::<LawfulBasis>().map_err(StoreError::Invalid)?,
                    purpose: r.try_get("sharing_purpose")?,
                    consents: Vec::new(),
                    overrides: Vec::new(),
                }
            };
            out.insert(id, snapshot);
        }
    }
    Ok(out)
}

/// The records a batch of deliveries implies: one per message and
/// receiving agency other than the author's, from its first delivery in
/// the batch. Earlier batches' records stand: the insert leaves them as
/// they are (`ON CONFLICT DO NOTHING` on `sharing_records_automatic`), so
/// nothing is read back to find them. What the records say of the message
/// and the recipient's agency comes with each delivery; only the channel's
/// case and name, the agencies' kinds and the cases' sharing state are read.
async fn records_for(db: &Db, deliveries: &[Delivery], now: Millis) -> StoreResult<Vec<NewRecord>> {
    // (message, receiving agency) → the first delivery.
    let mut first: HashMap<(&str, &str), &Delivery> = HashMap::new();
    for d in deliveries {
        if d.agency_id == d.author_agency_id {
            continue;
        }
        first
            .entry((d.message_id.as_str(), d.agency_id.as_str()))
            .and_modify(|e| {
                if d.at < e.at {
                    *e = d;
                }
            })
            .or_insert(d);
    }
    if first.is_empty() {
        return Ok(Vec::new());
    }
    let distinct = |f: fn(&Delivery) -> &str| -> Vec<&str> {
        let set: HashSet<&str> = first.values().map(|d| f(d)).collect();
        set.into_iter().collect()
    };
    let channels = channels_of(db, &distinct(|d| d.channel_id.as_str())).await?;
    let kinds = kinds_of(db, &distinct(|d| d.agency_id.as_str())).await?;
    let cases: Vec<&str> = channels
        .values()
        .map(|(case, _)| case.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let states = snapshots(db, &cases).await?;
    let mut records = Vec::with_capacity(first.len());
    for ((message_id, agency_id), d) in first {
        let (Some((case_id, channel_name)), Some(kind)) =
            (channels.get(&d.channel_id), kinds.get(agency_id))
        else {
            continue;
        };
        let Some(state) = states.get(case_id) else {
            continue;
        };
        let decision = state.decide(*kind);
        records.push(NewRecord {
            id: new_ordered_id(),
            case_id: case_id.clone(),
            source: Source::Message,
            item_ref: message_id.to_string(),
            what: format!("message {} in {}", d.seq, channel_name),
            from_person_id: Some(d.author_id.clone()),
            from_agency_id: Some(d.author_agency_id.clone()),
            to_agency_id: Some(agency_id.to_string()),
            to_person_id: Some(d.person_id.clone()),
            to_description: String::new(),
            shared_at: d.at,
            purpose: state.purpose.clone(),
            basis: Some(basis_of(&decision, state.lawful_basis, &state.consents)),
            reasons: String::new(),
            recorded_by: None,
            created_at: now,
        });
    }
    // A stable order keeps the inserts' lock order the same on every node.
    records.sort_by(|a, b| {
        (a.shared_at, &a.item_ref, &a.to_agency_id).cmp(&(
            b.shared_at,
            &b.item_ref,
            &b.to_agency_id,
        ))
    });
    Ok(records)
}

/// The records for a meeting's circulated record: one per receiving agency
/// other than the circulator's, naming its first recipient, written in the
/// circulation's transaction. `recipients` are (person, agency) pairs.
pub(crate) async fn record_circulation_in(
    conn: &mut Conn,
    state: &Snapshot,
    meeting: &Meeting,
    by: &Actor,
    recipients: &[(String, String)],
    now: Millis,
) -> StoreResult<u64> {
    let mut receiving: Vec<(&str, &str)> = Vec::new();
    for (person, agency) in recipients {
        if *agency != by.agency_id && !receiving.iter().any(|(a, _)| a == agency) {
            receiving.push((agency, person));
        }
    }
    if receiving.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "SELECT id, kind FROM agencies WHERE id IN {}",
        Placeholders::of(conn).list(1, receiving.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for (agency, _) in &receiving {
        q = q.bind(*agency);
    }
    let mut kinds = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        let kind: String = r.try_get("kind")?;
        kinds.insert(
            r.try_get::<String, _>("id")?,
            kind.parse::<AgencyKind>().map_err(StoreError::Invalid)?,
        );
    }
    let what = format!(
        "record of the {} held {} (outcome, actions and minutes)",
        meeting.kind.label().to_lowercase(),
        meeting.held_on.as_deref().unwrap_or("(date not recorded)")
    );
    let mut records = Vec::with_capacity(receiving.len());
    for (agency, person) in receiving {
        let kind = kinds.get(agency).copied().ok_or(StoreError::NotFound)?;
        let decision = state.decide(kind);
        records.push(NewRecord {
            id: new_ordered_id(),
            case_id: meeting.case_id.clone(),
            source: Source::Minutes,
            item_ref: meeting.id.clone(),
            what: what.clone(),
            from_person_id: Some(by.person_id.clone()),
            from_agency_id: Some(by.agency_id.clone()),
            to_agency_id: Some(agency.to_string()),
            to_person_id: Some(person.to_string()),
            to_description: String::new(),
            shared_at: now,
            purpose: state.purpose.clone(),
            basis: Some(basis_of(&decision, state.lawful_basis, &state.consents)),
            reasons: String::new(),
            recorded_by: None,
            created_at: now,
        });
    }
    insert_in(conn, &records).await
}

#[cfg(test)]
mod tests;
