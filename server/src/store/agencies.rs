//! Agencies: the organisations taking part in the partnership.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{self, NewEvent};
use super::{Db, StoreError, StoreResult, new_id};
use crate::domain::clock::Millis;
use crate::domain::vocabulary::AgencyKind;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Agency {
    pub id: String,
    pub name: String,
    pub kind: AgencyKind,
    pub duty_email: Option<String>,
}

fn from_row(row: &AnyRow) -> StoreResult<Agency> {
    let kind: String = row.try_get("kind")?;
    Ok(Agency {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: kind.parse().map_err(StoreError::Invalid)?,
        duty_email: row.try_get("duty_email")?,
    })
}

/// Who made a change, for the audit log.
#[derive(Clone, Copy, Debug)]
pub struct By<'a> {
    pub person_id: Option<&'a str>,
    pub label: &'a str,
}

pub async fn add(
    db: &Db,
    by: By<'_>,
    now: Millis,
    name: &str,
    kind: AgencyKind,
    duty_email: Option<&str>,
) -> StoreResult<Agency> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid("an agency needs a name".into()));
    }
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO agencies (id, name, kind, duty_email, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(name)
    .bind(kind.as_str())
    .bind(duty_email)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, &format!("an agency named '{name}'")))?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: by.person_id,
            actor_label: by.label,
            action: "agency.added",
            case_id: None,
            subject: Some(&id),
            detail: serde_json::json!({ "kind": kind.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Agency {
        id,
        name: name.to_string(),
        kind,
        duty_email: duty_email.map(str::to_string),
    })
}

pub async fn list(db: &Db) -> StoreResult<Vec<Agency>> {
    let rows = sqlx::query("SELECT id, name, kind, duty_email FROM agencies ORDER BY name")
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Find an agency by its id or its exact name.
pub async fn find(db: &Db, id_or_name: &str) -> StoreResult<Agency> {
    let row =
        sqlx::query("SELECT id, name, kind, duty_email FROM agencies WHERE id = $1 OR name = $1")
            .bind(id_or_name.trim())
            .fetch_optional(db.pool())
            .await?;
    row.as_ref()
        .map(from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

pub async fn count(db: &Db) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM agencies")
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get("n")?)
}
