//! Cases and case memberships. Reading anything of a case takes a
//! [`CaseAccess`], which only [`authorize`] (through the domain rule) builds.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::agencies::By;
use super::audit::{self, NewEvent};
use super::{Conn, Db, StoreError, StoreResult, new_id};
use crate::domain::access::{Actor, CaseAccess, Grant, Refused, authorize_case};
use crate::domain::clock::Millis;
use crate::domain::vocabulary::{AgencyKind, CaseStatus, Role};

/// The case as its members see it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Case {
    pub id: String,
    pub reference: String,
    pub child_name: String,
    pub child_dob: String,
    pub la_reference: String,
    pub status: CaseStatus,
    pub lead_social_worker_id: String,
    pub lead_social_worker_name: String,
    pub opened_at: Millis,
}

/// One current member of a case team.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Member {
    pub person_id: String,
    pub name: String,
    pub role: Role,
    pub agency_name: String,
    pub agency_kind: AgencyKind,
    pub granted_by_label: String,
    pub granted_at: Millis,
    pub reason: String,
    pub expires_at: Option<Millis>,
}

const CASE_SELECT: &str = "SELECT c.id, c.reference, c.child_name, c.child_dob, c.la_reference, c.status, \
     c.lead_social_worker_id, p.name AS lead_name, c.opened_at \
     FROM cases c JOIN people p ON p.id = c.lead_social_worker_id";

/// The columns that identify a child, sealed at rest ([`crate::sealing`]).
pub const SEALED: [&str; 3] = ["child_name", "child_dob", "la_reference"];

/// Open one of the sealed columns of a `cases` row.
pub fn child_field(db: &Db, row: &AnyRow, column: &str) -> StoreResult<String> {
    db.open_sealed(&format!("cases.{column}"), row.try_get(column)?)
}

fn case_from_row(db: &Db, row: &AnyRow) -> StoreResult<Case> {
    let status: String = row.try_get("status")?;
    Ok(Case {
        id: row.try_get("id")?,
        reference: row.try_get("reference")?,
        child_name: child_field(db, row, "child_name")?,
        child_dob: child_field(db, row, "child_dob")?,
        la_reference: child_field(db, row, "la_reference")?,
        status: status.parse().map_err(StoreError::Invalid)?,
        lead_social_worker_id: row.try_get("lead_social_worker_id")?,
        lead_social_worker_name: row.try_get("lead_name")?,
        opened_at: row.try_get("opened_at")?,
    })
}

/// A new case to open.
#[derive(Clone, Debug)]
pub struct NewCase<'a> {
    pub child_name: &'a str,
    /// `YYYY-MM-DD`.
    pub child_dob: &'a str,
    pub la_reference: &'a str,
    pub lead_social_worker_id: &'a str,
}

/// Confer's own case reference: letters and digits that cannot be confused
/// (no 0/O, 1/I/L), meaningless outside Confer.
pub fn new_reference() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    let code: String = (0..6)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("CF-{code}")
}

fn valid_date(text: &str) -> bool {
    crate::domain::clock::parse_day(text).is_some()
}

/// Open a case; the lead social worker becomes its first member.
pub async fn open(db: &Db, by: By<'_>, now: Millis, new: NewCase<'_>) -> StoreResult<Case> {
    if new.child_name.trim().is_empty() {
        return Err(StoreError::Invalid("a case needs the child's name".into()));
    }
    if !valid_date(new.child_dob.trim()) {
        return Err(StoreError::Invalid(
            "the date of birth must be a date like 2014-05-30".into(),
        ));
    }
    let lead = super::people::get(db, new.lead_social_worker_id).await?;
    if lead.agency_kind != crate::domain::vocabulary::AgencyKind::ChildrensSocialCare
        || lead.guest
        || !lead.active
    {
        return Err(StoreError::Invalid(
            "the lead social worker must be an active member of a children's social care agency"
                .into(),
        ));
    }
    let id = new_id();
    let reference = new_reference();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO cases (id, reference, child_name, child_dob, la_reference, status, lead_social_worker_id, opened_at) \
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)",
    )
    .bind(&id)
    .bind(&reference)
    .bind(db.seal("cases.child_name", new.child_name.trim())?)
    .bind(db.seal("cases.child_dob", new.child_dob.trim())?)
    .bind(db.seal("cases.la_reference", new.la_reference.trim())?)
    .bind(new.lead_social_worker_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, "a case with that reference"))?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: by.person_id,
            actor_label: by.label,
            action: "case.opened",
            case_id: Some(&id),
            subject: Some(&reference),
            detail: serde_json::json!({ "lead_social_worker_id": new.lead_social_worker_id }),
        },
    )
    .await?;
    super::channels::create_in(&mut tx, &id, "case", "Case discussion", now).await?;
    grant_in(
        &mut tx,
        by,
        now,
        &id,
        new.lead_social_worker_id,
        "lead social worker",
        None,
    )
    .await?;
    tx.commit().await?;
    find_for_operator(db, &id).await
}

/// Grant a person need-to-know access to a case.
pub async fn add_member(
    db: &Db,
    by: By<'_>,
    now: Millis,
    case_id: &str,
    person_id: &str,
    reason: &str,
    expires_at: Option<Millis>,
) -> StoreResult<()> {
    if reason.trim().is_empty() {
        return Err(StoreError::Invalid(
            "adding someone to a case needs a reason".into(),
        ));
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(StoreError::Invalid(
            "the expiry must be in the future".into(),
        ));
    }
    let mut tx = db.write().await?;
    grant_in(
        &mut tx,
        by,
        now,
        case_id,
        person_id,
        reason.trim(),
        expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn grant_in(
    conn: &mut Conn,
    by: By<'_>,
    now: Millis,
    case_id: &str,
    person_id: &str,
    reason: &str,
    expires_at: Option<Millis>,
) -> StoreResult<()> {
    // An expired grant no longer counts, so end it before granting afresh.
    sqlx::query(
        "UPDATE case_memberships SET ended_at = $1, ended_by_label = $2, end_reason = 'expired' \
         WHERE case_id = $3 AND person_id = $4 AND ended_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1",
    )
    .bind(now)
    .bind(by.label)
    .bind(case_id)
    .bind(person_id)
    .execute(&mut *conn)
    .await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO case_memberships (id, case_id, person_id, granted_by, granted_by_label, granted_at, reason, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(case_id)
    .bind(person_id)
    .bind(by.person_id)
    .bind(by.label)
    .bind(now)
    .bind(reason)
    .bind(expires_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, "that person is already a member of the case"))?;
    audit::append(
        conn,
        now,
        NewEvent {
            actor_id: by.person_id,
            actor_label: by.label,
            action: "case.member_added",
            case_id: Some(case_id),
            subject: Some(person_id),
            detail: serde_json::json!({ "membership_id": id, "expires_at": expires_at }),
        },
    )
    .await?;
    Ok(())
}

/// End a person's membership of a case at once.
pub async fn end_membership(
    db: &Db,
    by: By<'_>,
    now: Millis,
    case_id: &str,
    person_id: &str,
    reason: &str,
) -> StoreResult<()> {
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE case_memberships SET ended_at = $1, ended_by_label = $2, end_reason = $3 \
         WHERE case_id = $4 AND person_id = $5 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(by.label)
    .bind(reason)
    .bind(case_id)
    .bind(person_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: by.person_id,
            actor_label: by.label,
            action: "case.member_removed",
            case_id: Some(case_id),
            subject: Some(person_id),
            detail: serde_json::json!({ "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Check need-to-know. Every refusal is [`StoreError::NotFound`], the same as
/// for a case that does not exist, so nobody outside a case learns it exists.
pub async fn authorize(
    db: &Db,
    actor: &Actor,
    case_id: &str,
    now: Millis,
) -> StoreResult<CaseAccess> {
    let row = sqlx::query(
        "SELECT case_id, person_id, expires_at, ended_at FROM case_memberships \
         WHERE case_id = $1 AND person_id = $2 AND ended_at IS NULL",
    )
    .bind(case_id)
    .bind(&actor.person_id)
    .fetch_optional(db.pool())
    .await?;
    let grant = row
        .map(|r| -> StoreResult<Grant> {
            Ok(Grant {
                case_id: r.try_get("case_id")?,
                person_id: r.try_get("person_id")?,
                expires_at: r.try_get("expires_at")?,
                ended_at: r.try_get("ended_at")?,
            })
        })
        .transpose()?;
    authorize_case(actor, grant.as_ref(), now).map_err(|_: Refused| StoreError::NotFound)
}

/// The cases a person may currently see, newest first.
pub async fn list_for(db: &Db, actor: &Actor, now: Millis) -> StoreResult<Vec<Case>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{CASE_SELECT} JOIN case_memberships m ON m.case_id = c.id \
         WHERE m.person_id = $1 AND m.ended_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > $2) \
         ORDER BY c.opened_at DESC, c.reference"
    )))
    .bind(&actor.person_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| case_from_row(db, r)).collect()
}

/// One case, for someone with access to it.
pub async fn get(db: &Db, access: &CaseAccess) -> StoreResult<Case> {
    find_for_operator(db, access.case_id()).await
}

/// The current case team, for someone with access to the case.
pub async fn team(db: &Db, access: &CaseAccess, now: Millis) -> StoreResult<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT p.id AS person_id, p.name, p.role, a.name AS agency_name, a.kind AS agency_kind, \
         m.granted_by_label, m.granted_at, m.reason, m.expires_at \
         FROM case_memberships m JOIN people p ON p.id = m.person_id JOIN agencies a ON a.id = p.agency_id \
         WHERE m.case_id = $1 AND m.ended_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > $2) \
         ORDER BY a.name, p.name",
    )
    .bind(access.case_id())
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            let kind: String = r.try_get("agency_kind")?;
            Ok(Member {
                person_id: r.try_get("person_id")?,
                name: r.try_get("name")?,
                role: role.parse().map_err(StoreError::Invalid)?,
                agency_name: r.try_get("agency_name")?,
                agency_kind: kind.parse().map_err(StoreError::Invalid)?,
                granted_by_label: r.try_get("granted_by_label")?,
                granted_at: r.try_get("granted_at")?,
                reason: r.try_get("reason")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

/// Record that a person read a case's details (every read of case content is audited).
pub async fn record_read(
    db: &Db,
    actor: &Actor,
    access: &CaseAccess,
    now: Millis,
    what: &str,
) -> StoreResult<()> {
    audit::record(
        db,
        now,
        NewEvent {
            actor_id: Some(access.person_id()),
            actor_label: &actor.name,
            action: "case.read",
            case_id: Some(access.case_id()),
            subject: None,
            detail: serde_json::json!({ "what": what }),
        },
    )
    .await?;
    Ok(())
}

/// Find a case by id or reference without an access check: for the
/// operator at the command line, who administers the database itself.
pub async fn find_for_operator(db: &Db, id_or_reference: &str) -> StoreResult<Case> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{CASE_SELECT} WHERE c.id = $1 OR c.reference = $1"
    )))
    .bind(id_or_reference.trim())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref()
        .map(|r| case_from_row(db, r))
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Every case, for the operator at the command line.
pub async fn list_for_operator(db: &Db) -> StoreResult<Vec<Case>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{CASE_SELECT} ORDER BY c.opened_at, c.reference"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| case_from_row(db, r)).collect()
}

/// Re-seal up to `batch` cases whose child-identifying columns are plaintext
/// or sealed under an older key, each under the current key, in one short
/// write transaction (so a running server waits at most one batch). Returns
/// how many were re-sealed; 0 means none is left.
pub async fn reseal_batch(db: &Db, batch: i64) -> StoreResult<usize> {
    let keys = db
        .keys()
        .ok_or_else(|| StoreError::Invalid("no encryption key file is loaded".into()))?
        .clone();
    let current = format!("cf1:{}:%", keys.current_id());
    let mut tx = db.write().await?;
    let rows = sqlx::query(
        "SELECT id, child_name, child_dob, la_reference FROM cases \
         WHERE child_name NOT LIKE $1 OR child_dob NOT LIKE $1 OR la_reference NOT LIKE $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(&current)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut done = 0;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let mut sealed = Vec::with_capacity(SEALED.len());
        for column in SEALED {
            let name = format!("cases.{column}");
            let plain = keys.open(&name, &row.try_get::<String, _>(column)?)?;
            sealed.push(keys.seal(&name, &plain));
        }
        sqlx::query(
            "UPDATE cases SET child_name = $1, child_dob = $2, la_reference = $3 WHERE id = $4",
        )
        .bind(&sealed[0])
        .bind(&sealed[1])
        .bind(&sealed[2])
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        done += 1;
    }
    tx.commit().await?;
    Ok(done)
}

/// How many cases' child-identifying columns are sealed under each key id
/// ("plaintext" for values written before sealing began).
pub async fn sealed_by_key(db: &Db) -> StoreResult<std::collections::BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT child_name FROM cases")
        .fetch_all(db.pool())
        .await?;
    let mut counts = std::collections::BTreeMap::new();
    for row in &rows {
        let value: String = row.try_get("child_name")?;
        let key = crate::sealing::KeyRing::key_of(&value).unwrap_or("plaintext");
        *counts.entry(key.to_string()).or_insert(0) += 1;
    }
    Ok(counts)
}
