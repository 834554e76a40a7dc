//! People: practitioners, each belonging to one agency with one role there.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::agencies::By;
use super::audit::{self, NewEvent};
use super::{Db, StoreError, StoreResult, new_id};
use crate::domain::access::{Actor, AgencyAdmin};
use crate::domain::clock::Millis;
use crate::domain::vocabulary::{AgencyKind, Role};

#[derive(Clone, Debug, serde::Serialize)]
pub struct Person {
    pub id: String,
    pub agency_id: String,
    pub agency_name: String,
    pub agency_kind: AgencyKind,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub guest: bool,
    pub active: bool,
}

impl Person {
    pub fn actor(&self) -> Actor {
        Actor {
            person_id: self.id.clone(),
            agency_id: self.agency_id.clone(),
            name: self.name.clone(),
            role: self.role,
        }
    }
}

const SELECT: &str = "SELECT p.id, p.agency_id, a.name AS agency_name, a.kind AS agency_kind, p.name, p.email, \
     p.role, p.kind, p.status FROM people p JOIN agencies a ON a.id = p.agency_id";

fn from_row(row: &AnyRow) -> StoreResult<Person> {
    let role: String = row.try_get("role")?;
    let kind: String = row.try_get("kind")?;
    let agency_kind: String = row.try_get("agency_kind")?;
    let status: String = row.try_get("status")?;
    Ok(Person {
        id: row.try_get("id")?,
        agency_id: row.try_get("agency_id")?,
        agency_name: row.try_get("agency_name")?,
        agency_kind: agency_kind.parse().map_err(StoreError::Invalid)?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        role: role.parse().map_err(StoreError::Invalid)?,
        guest: kind == "guest",
        active: status == "active",
    })
}

/// A new person to add.
#[derive(Clone, Debug)]
pub struct NewPerson<'a> {
    pub agency_id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub guest: bool,
}

/// Normalise an email address for storage and lookup; refuse obvious non-addresses.
pub fn normalise_email(email: &str) -> StoreResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(StoreError::Invalid(format!(
            "'{email}' is not an email address"
        )))
    }
}

pub async fn add(db: &Db, by: By<'_>, now: Millis, new: NewPerson<'_>) -> StoreResult<Person> {
    let email = normalise_email(new.email)?;
    let name = new.name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid("a person needs a name".into()));
    }
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO people (id, agency_id, name, email, role, kind, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
    )
    .bind(&id)
    .bind(new.agency_id)
    .bind(name)
    .bind(&email)
    .bind(new.role.as_str())
    .bind(if new.guest { "guest" } else { "member" })
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, &format!("a person with the email {email}")))?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: by.person_id,
            actor_label: by.label,
            action: "person.added",
            case_id: None,
            subject: Some(&id),
            detail: serde_json::json!({ "agency_id": new.agency_id, "role": new.role.as_str(), "guest": new.guest }),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, &id).await
}

pub async fn get(db: &Db, id: &str) -> StoreResult<Person> {
    let row = sqlx::query(AssertSqlSafe(format!("{SELECT} WHERE p.id = $1")))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref()
        .map(from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

pub async fn find_by_email(db: &Db, email: &str) -> StoreResult<Person> {
    let email = normalise_email(email).map_err(|_| StoreError::NotFound)?;
    let row = sqlx::query(AssertSqlSafe(format!("{SELECT} WHERE p.email = $1")))
        .bind(email)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref()
        .map(from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Everyone, or one agency's people, by agency then name.
pub async fn list(db: &Db, agency_id: Option<&str>) -> StoreResult<Vec<Person>> {
    let rows = match agency_id {
        Some(a) => {
            sqlx::query(AssertSqlSafe(format!(
                "{SELECT} WHERE p.agency_id = $1 ORDER BY a.name, p.name"
            )))
            .bind(a)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(AssertSqlSafe(format!("{SELECT} ORDER BY a.name, p.name")))
                .fetch_all(db.pool())
                .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// An agency admin's view of their own agency's people.
pub async fn list_for_admin(db: &Db, admin: &AgencyAdmin) -> StoreResult<Vec<Person>> {
    list(db, Some(admin.agency_id())).await
}

/// Look up a person, but only within the admin's own agency: anyone else is
/// [`StoreError::NotFound`].
async fn in_agency(db: &Db, admin: &AgencyAdmin, person_id: &str) -> StoreResult<Person> {
    let person = get(db, person_id).await?;
    if person.agency_id == admin.agency_id() {
        Ok(person)
    } else {
        Err(StoreError::NotFound)
    }
}

/// Change a person's role within the admin's agency. Audited.
pub async fn set_role(
    db: &Db,
    admin: &AgencyAdmin,
    now: Millis,
    person_id: &str,
    role: Role,
) -> StoreResult<Person> {
    let person = in_agency(db, admin, person_id).await?;
    if person.role == role {
        return Ok(person);
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE people SET role = $1 WHERE id = $2 AND agency_id = $3")
        .bind(role.as_str())
        .bind(person_id)
        .bind(admin.agency_id())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(admin.person_id()),
            actor_label: admin.name(),
            action: "person.role_changed",
            case_id: None,
            subject: Some(person_id),
            detail: serde_json::json!({ "from": person.role.as_str(), "to": role.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, person_id).await
}

/// Deactivate a person in the admin's agency: they can no longer sign in,
/// and every session they hold is revoked at once. Audited.
pub async fn deactivate(
    db: &Db,
    admin: &AgencyAdmin,
    now: Millis,
    person_id: &str,
) -> StoreResult<()> {
    in_agency(db, admin, person_id).await?;
    if person_id == admin.person_id() {
        return Err(StoreError::Invalid("you cannot deactivate yourself".into()));
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE people SET status = 'deactivated' WHERE id = $1 AND agency_id = $2")
        .bind(person_id)
        .bind(admin.agency_id())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE person_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(admin.person_id()),
            actor_label: admin.name(),
            action: "person.deactivated",
            case_id: None,
            subject: Some(person_id),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether every named agency and person exists (for restriction lists).
pub async fn all_exist(db: &Db, agencies: &[String], people: &[String]) -> StoreResult<bool> {
    for a in agencies {
        if sqlx::query("SELECT 1 FROM agencies WHERE id = $1")
            .bind(a)
            .fetch_optional(db.pool())
            .await?
            .is_none()
        {
            return Ok(false);
        }
    }
    for p in people {
        if sqlx::query("SELECT 1 FROM people WHERE id = $1")
            .bind(p)
            .fetch_optional(db.pool())
            .await?
            .is_none()
        {
            return Ok(false);
        }
    }
    Ok(true)
}
