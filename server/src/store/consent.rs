//! The consent register of a case (DESIGN.md, "Consent record"): records
//! for the child and each parent or carer, each a chain of append-only
//! versions (the database refuses updates and deletes). Every change is
//! checked by [`crate::domain::consent::apply_for`] first, so a refused
//! change writes nothing; each is audited (ids and codes only) in the same
//! transaction, and bumps the case's sharing version so that the message
//! writer holds back, or stops holding back, from the very next message.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{self};
use super::withholding::{Released, bump_in, held_back_under, release_in};
use super::{Conn, Db, StoreError, StoreResult, new_id};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::consent::{
    Change, Circumstances, ConsentState, Evidence, NotSoughtReason, Relationship, apply_for,
};
use crate::domain::sharing::Scope;

/// Longest name of the person a record is about.
pub const MAX_NAME: usize = 200;
/// Longest purpose, evidence, reason or view.
pub const MAX_TEXT: usize = 4000;

/// One version of a consent record.
#[derive(Clone, Debug)]
pub struct Version {
    pub version: i64,
    pub state: ConsentState,
    pub evidence: Option<Evidence>,
    pub detail: String,
    /// The stored code, when not sought.
    pub not_sought_reason: Option<String>,
    pub gillick_competent: Option<bool>,
    pub child_view: String,
    pub why: String,
    pub recorded_by: String,
    pub recorded_by_agency: String,
    pub recorded_at: Millis,
}

/// A consent record with its whole history, oldest version first.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub case_id: String,
    pub subject_name: String,
    pub relationship: Relationship,
    pub purpose: String,
    pub scope: Scope,
    pub created_at: Millis,
    pub versions: Vec<Version>,
}

impl Record {
    pub fn current(&self) -> Option<&Version> {
        self.versions.last()
    }
    pub fn state(&self) -> Option<ConsentState> {
        self.current().map(|v| v.state)
    }
}

/// A new record's fixed details.
#[derive(Clone, Debug)]
pub struct NewRecord {
    pub subject_name: String,
    pub relationship: Relationship,
    pub purpose: String,
    pub scope: Scope,
}

/// A change with what goes with it.
#[derive(Clone, Debug)]
pub struct Proposal {
    pub change: Change,
    pub with: Circumstances,
}

fn too_long(what: &str, text: &str, max: usize) -> StoreResult<()> {
    if text.chars().count() > max {
        return Err(StoreError::Invalid(format!(
            "{what} can be at most {max} characters."
        )));
    }
    Ok(())
}

fn check_texts(p: &Proposal) -> StoreResult<()> {
    too_long("The reason for recording this", &p.with.why, MAX_TEXT)?;
    too_long("The child's view", &p.with.child_view, MAX_TEXT)?;
    too_long("The evidence", &detail_of(&p.change), MAX_TEXT)
}

fn detail_of(change: &Change) -> String {
    match change {
        Change::Give { detail, .. } => detail.trim().to_string(),
        Change::NotSeek {
            reason: NotSoughtReason::Other(text),
        } => text.trim().to_string(),
        _ => String::new(),
    }
}

async fn insert_version(
    conn: &mut Conn,
    record_id: &str,
    version: i64,
    state: ConsentState,
    p: &Proposal,
    actor: &Actor,
    now: Millis,
) -> StoreResult<()> {
    let (evidence, reason) = match &p.change {
        Change::Give { evidence, .. } => (Some(evidence.as_str()), None),
        Change::NotSeek { reason } => (None, Some(reason.code())),
        _ => (None, None),
    };
    sqlx::query(
        "INSERT INTO consent_versions (record_id, version, state, evidence, detail, not_sought_reason, \
         gillick_competent, child_view, why, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(record_id)
    .bind(version)
    .bind(state.as_str())
    .bind(evidence)
    .bind(detail_of(&p.change))
    .bind(reason)
    .bind(p.with.gillick_competent.map(i64::from))
    .bind(p.with.child_view.trim())
    .bind(p.with.why.trim())
    .bind(&actor.person_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(
            e,
            "someone else changed this consent record at the same moment: reload the page and try again",
        )
    })?;
    Ok(())
}

/// Add a record to the case's register with its first state.
pub async fn add(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    new: &NewRecord,
    first: &Proposal,
    now: Millis,
) -> StoreResult<String> {
    if new.subject_name.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Give the name of the person whose consent this is.".into(),
        ));
    }
    too_long("The name", &new.subject_name, MAX_NAME)?;
    if new.purpose.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Say what the consent is for (the purpose of sharing).".into(),
        ));
    }
    too_long("The purpose", &new.purpose, MAX_TEXT)?;
    check_texts(first)?;
    let state = apply_for(new.relationship, None, &first.change, &first.with)
        .map_err(|e| StoreError::Invalid(e.message()))?;
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO consent_records (id, case_id, subject_name, relationship, purpose, scope, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(access.case_id())
    .bind(new.subject_name.trim())
    .bind(new.relationship.as_str())
    .bind(new.purpose.trim())
    .bind(new.scope.stored())
    .bind(&actor.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    insert_version(&mut tx, &id, 1, state, first, actor, now).await?;
    bump_in(&mut tx, access.case_id()).await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "consent.record_added",
        Some(access.case_id()),
        Some(&id),
        serde_json::json!({
            "version": 1,
            "state": state.as_str(),
            "relationship": new.relationship.as_str(),
            "scope": new.scope.stored(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What a recorded change led to.
#[derive(Clone, Debug)]
pub struct Changed {
    pub version: i64,
    pub from: ConsentState,
    pub state: ConsentState,
    /// Messages held back under this record that consent now given releases.
    pub released: Vec<Released>,
}

/// Record a change to one record of the case: a new version.
pub async fn change(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    record_id: &str,
    proposal: &Proposal,
    now: Millis,
) -> StoreResult<Changed> {
    check_texts(proposal)?;
    let mut tx = db.write().await?;
    let row = sqlx::query(
        "SELECT r.relationship, v.version, v.state FROM consent_records r \
         JOIN consent_versions v ON v.record_id = r.id \
         WHERE r.id = $1 AND r.case_id = $2 \
         ORDER BY v.version DESC LIMIT 1",
    )
    .bind(record_id)
    .bind(access.case_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let relationship: Relationship = row
        .try_get::<String, _>("relationship")?
        .parse()
        .map_err(StoreError::Invalid)?;
    let latest: i64 = row.try_get("version")?;
    let from: ConsentState = row
        .try_get::<String, _>("state")?
        .parse()
        .map_err(StoreError::Invalid)?;
    let state = apply_for(relationship, Some(from), &proposal.change, &proposal.with)
        .map_err(|e| StoreError::Invalid(e.message()))?;
    let version = latest + 1;
    insert_version(&mut tx, record_id, version, state, proposal, actor, now).await?;
    bump_in(&mut tx, access.case_id()).await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "consent.changed",
        Some(access.case_id()),
        Some(record_id),
        serde_json::json!({
            "version": version,
            "from": from.as_str(),
            "state": state.as_str(),
        }),
    )
    .await?;
    // The person agreed: what was held back under their refusal may go.
    let released = if state == ConsentState::Given {
        let released = release_in(&mut tx, access.case_id(), record_id, None, now).await?;
        if !released.is_empty() {
            audit_release(&mut tx, access, actor, record_id, None, &released, now).await?;
        }
        released
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(Changed {
        version,
        from,
        state,
        released,
    })
}

/// Audit a release: which messages reached which agencies, by id.
pub(crate) async fn audit_release(
    conn: &mut Conn,
    access: &CaseAccess,
    actor: &Actor,
    record_id: &str,
    override_id: Option<&str>,
    released: &[Released],
    now: Millis,
) -> StoreResult<()> {
    let pairs: Vec<serde_json::Value> = released
        .iter()
        .map(|r| serde_json::json!({ "message_id": r.message_id, "agency_id": r.agency_id }))
        .collect();
    audit::by_actor(
        conn,
        now,
        actor,
        "consent.withheld_released",
        Some(access.case_id()),
        Some(record_id),
        serde_json::json!({ "override_id": override_id, "released": pairs }),
    )
    .await?;
    Ok(())
}

const RECORD_SELECT: &str = "SELECT id, case_id, subject_name, relationship, purpose, scope, created_at FROM consent_records";

fn record_from_row(r: &AnyRow) -> StoreResult<Record> {
    let relationship: String = r.try_get("relationship")?;
    let scope: String = r.try_get("scope")?;
    Ok(Record {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        subject_name: r.try_get("subject_name")?,
        relationship: relationship.parse().map_err(StoreError::Invalid)?,
        purpose: r.try_get("purpose")?,
        scope: Scope::parse(&scope).map_err(StoreError::Invalid)?,
        created_at: r.try_get("created_at")?,
        versions: Vec::new(),
    })
}

fn version_from_row(r: &AnyRow) -> StoreResult<Version> {
    let state: String = r.try_get("state")?;
    let evidence: Option<String> = r.try_get("evidence")?;
    let gillick: Option<i64> = r.try_get("gillick_competent")?;
    Ok(Version {
        version: r.try_get("version")?,
        state: state.parse().map_err(StoreError::Invalid)?,
        evidence: evidence.as_deref().and_then(Evidence::parse),
        detail: r.try_get("detail")?,
        not_sought_reason: r.try_get("not_sought_reason")?,
        gillick_competent: gillick.map(|g| g == 1),
        child_view: r.try_get("child_view")?,
        why: r.try_get("why")?,
        recorded_by: r.try_get("recorded_by_name")?,
        recorded_by_agency: r.try_get("recorded_by_agency")?,
        recorded_at: r.try_get("recorded_at")?,
    })
}

const VERSION_SELECT: &str = "SELECT v.record_id, v.version, v.state, v.evidence, v.detail, v.not_sought_reason, \
     v.gillick_competent, v.child_view, v.why, p.name AS recorded_by_name, a.name AS recorded_by_agency, v.recorded_at \
     FROM consent_versions v JOIN people p ON p.id = v.recorded_by JOIN agencies a ON a.id = p.agency_id";

/// The case's register, oldest record first, each with its history.
pub async fn list(db: &Db, access: &CaseAccess) -> StoreResult<Vec<Record>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{RECORD_SELECT} WHERE case_id = $1 ORDER BY created_at, id"
    )))
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let mut records = rows
        .iter()
        .map(record_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VERSION_SELECT} JOIN consent_records r ON r.id = v.record_id WHERE r.case_id = $1 ORDER BY v.record_id, v.version"
    )))
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    for r in &rows {
        let record_id: String = r.try_get("record_id")?;
        if let Some(record) = records.iter_mut().find(|x| x.id == record_id) {
            record.versions.push(version_from_row(r)?);
        }
    }
    Ok(records)
}

/// One record of the case with its history.
pub async fn get(db: &Db, access: &CaseAccess, record_id: &str) -> StoreResult<Record> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{RECORD_SELECT} WHERE id = $1 AND case_id = $2"
    )))
    .bind(record_id)
    .bind(access.case_id())
    .fetch_optional(db.pool())
    .await?
    .ok_or(StoreError::NotFound)?;
    let mut record = record_from_row(&row)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VERSION_SELECT} WHERE v.record_id = $1 ORDER BY v.version"
    )))
    .bind(record_id)
    .fetch_all(db.pool())
    .await?;
    record.versions = rows
        .iter()
        .map(version_from_row)
        .collect::<StoreResult<_>>()?;
    Ok(record)
}

/// One act of sharing relied on, or made against, a consent record.
#[derive(Clone, Debug)]
pub struct SharedUnder {
    pub what: String,
    pub to: String,
    pub shared_at: Millis,
    pub lawful_basis: String,
}

/// What has been shared under a record (the information-sharing records
/// that name it), newest first.
pub async fn shared_under(
    db: &Db,
    access: &CaseAccess,
    record_id: &str,
) -> StoreResult<Vec<SharedUnder>> {
    let rows = sqlx::query(
        "SELECT s.what, s.shared_at, s.lawful_basis, s.to_description, a.name AS agency, p.name AS person \
         FROM sharing_records s LEFT JOIN agencies a ON a.id = s.to_agency_id LEFT JOIN people p ON p.id = s.to_person_id \
         WHERE s.case_id = $1 AND s.consent_record_id = $2 ORDER BY s.shared_at DESC, s.id",
    )
    .bind(access.case_id())
    .bind(record_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let agency: Option<String> = r.try_get("agency")?;
            let person: Option<String> = r.try_get("person")?;
            let described: String = r.try_get("to_description")?;
            let to = match (person, agency) {
                (Some(p), Some(a)) => format!("{p} ({a})"),
                (Some(p), None) => p,
                (None, Some(a)) => a,
                (None, None) => described,
            };
            Ok(SharedUnder {
                what: r.try_get("what")?,
                to,
                shared_at: r.try_get("shared_at")?,
                lawful_basis: r.try_get("lawful_basis")?,
            })
        })
        .collect()
}

/// How many messages wait, held back under a record, per agency.
pub async fn held_back(
    db: &Db,
    access: &CaseAccess,
    record_id: &str,
) -> StoreResult<Vec<(String, i64)>> {
    let mut conn = db.pool().acquire().await?;
    held_back_under(&mut conn, access.case_id(), record_id).await
}

/// Who to tell of a withdrawal: the current case members of the agencies
/// the record covers, and anyone a sharing record says received
/// information under it, except the person who recorded it. Email
/// addresses, each once.
pub async fn withdrawal_recipients(
    db: &Db,
    access: &CaseAccess,
    record: &Record,
    recorded_by: &str,
    now: Millis,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT p.id, p.email, a.kind FROM case_memberships m JOIN people p ON p.id = m.person_id \
         JOIN agencies a ON a.id = p.agency_id \
         WHERE m.case_id = $1 AND m.ended_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > $2) AND p.status = 'active' \
         UNION \
         SELECT p.id, p.email, a.kind FROM sharing_records s JOIN people p ON p.id = s.to_person_id \
         JOIN agencies a ON a.id = p.agency_id \
         WHERE s.case_id = $1 AND s.consent_record_id = $3 AND p.status = 'active'",
    )
    .bind(access.case_id())
    .bind(now)
    .bind(&record.id)
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<String> = Vec::new();
    for r in &rows {
        let id: String = r.try_get("id")?;
        let email: String = r.try_get("email")?;
        let kind: String = r.try_get("kind")?;
        let covered = kind
            .parse()
            .map(|k| record.scope.covers(k))
            .unwrap_or(false);
        if id != recorded_by && covered && !out.contains(&email) {
            out.push(email);
        }
    }
    out.sort();
    Ok(out)
}
