//! Actions agreed at meetings: an owner (a person or an agency), a due date on the same clock, and a status.

use super::*;

/// An action agreed at a meeting.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Action {
    pub id: String,
    pub meeting_id: String,
    pub case_id: String,
    pub case_reference: String,
    pub description: String,
    pub owner_person_id: Option<String>,
    pub owner_person_name: Option<String>,
    pub owner_agency_id: String,
    pub owner_agency_name: String,
    pub due_on: String,
    pub status: ActionStatus,
    pub overdue: bool,
}

pub(crate) const ACTION_SELECT: &str = "SELECT x.id, x.meeting_id, x.case_id, c.reference, x.description, x.owner_person_id, \
     p.name AS owner_person_name, x.owner_agency_id, a.name AS owner_agency_name, x.due_on, x.status \
     FROM meeting_actions x JOIN cases c ON c.id = x.case_id JOIN agencies a ON a.id = x.owner_agency_id \
     LEFT JOIN people p ON p.id = x.owner_person_id";

pub(crate) fn action_from_row(r: &sqlx::any::AnyRow, today: Date) -> StoreResult<Action> {
    let status: String = r.try_get("status")?;
    let status: ActionStatus = status.parse().map_err(StoreError::Invalid)?;
    let due_on: String = r.try_get("due_on")?;
    Ok(Action {
        overdue: status == ActionStatus::Open && parse_day(&due_on).is_some_and(|d| d < today),
        id: r.try_get("id")?,
        meeting_id: r.try_get("meeting_id")?,
        case_id: r.try_get("case_id")?,
        case_reference: r.try_get("reference")?,
        description: r.try_get("description")?,
        owner_person_id: r.try_get("owner_person_id")?,
        owner_person_name: r.try_get("owner_person_name")?,
        owner_agency_id: r.try_get("owner_agency_id")?,
        owner_agency_name: r.try_get("owner_agency_name")?,
        due_on,
        status,
    })
}

/// The actions of a meeting (members of the case and recipients of its record).
pub async fn actions_of_meeting(
    db: &Db,
    access: &MeetingAccess,
    today: Date,
) -> StoreResult<Vec<Action>> {
    if matches!(access.reach(), Reach::Invitee) {
        return Err(StoreError::NotFound);
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{ACTION_SELECT} WHERE x.meeting_id = $1 ORDER BY x.due_on, x.created_at"
    )))
    .bind(access.meeting_id())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| action_from_row(r, today)).collect()
}

/// The open actions a person owns, or their agency owns without a named
/// person on a case they are a member of (need-to-know: an action's words
/// are case content).
pub async fn actions_for(
    db: &Db,
    actor: &Actor,
    today: Date,
    now: Millis,
) -> StoreResult<Vec<Action>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{ACTION_SELECT} WHERE x.status = 'open' AND c.status = 'open' AND (x.owner_person_id = $1 OR \
         (x.owner_person_id IS NULL AND x.owner_agency_id = $2 AND EXISTS (SELECT 1 FROM case_memberships cm \
           WHERE cm.case_id = x.case_id AND cm.person_id = $1 AND cm.ended_at IS NULL \
           AND (cm.expires_at IS NULL OR cm.expires_at > $3)))) ORDER BY x.due_on, x.created_at"
    )))
    .bind(&actor.person_id)
    .bind(&actor.agency_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| action_from_row(r, today)).collect()
}

/// Add an action (the chair or organiser).
#[allow(clippy::too_many_arguments)]
pub async fn add_action(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    description: &str,
    owner_agency_id: &str,
    owner_person_id: Option<&str>,
    due_on: Date,
    now: Millis,
) -> StoreResult<String> {
    if !crate::store::meetings::may_record(db, access, actor).await? {
        return Err(if access.is_member() {
            StoreError::Forbidden("Only the chair or the organiser records actions.".into())
        } else {
            StoreError::NotFound
        });
    }
    if crate::store::meetings::get(db, access)
        .await?
        .circulated_at
        .is_some()
    {
        return Err(StoreError::Invalid(
            "The record has been circulated: agree new actions at another meeting.".into(),
        ));
    }
    let description = description.trim();
    if description.is_empty() || description.chars().count() > 2000 {
        return Err(StoreError::Invalid(
            "Describe the action (2,000 characters at most).".into(),
        ));
    }
    crate::store::agencies::find(db, owner_agency_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                StoreError::Invalid("Choose the agency that owns the action.".into())
            }
            other => other,
        })?;
    if let Some(pid) = owner_person_id {
        let p = crate::store::people::get(db, pid)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => StoreError::Invalid("No such person.".into()),
                other => other,
            })?;
        if p.agency_id != owner_agency_id {
            return Err(StoreError::Invalid(format!(
                "{} is not in the agency chosen as the action's owner.",
                p.name
            )));
        }
    }
    let id = new_id();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO meeting_actions (id, meeting_id, case_id, description, owner_person_id, owner_agency_id, due_on, \
         status, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $9)",
    )
    .bind(&id)
    .bind(access.meeting_id())
    .bind(access.case_id())
    .bind(description)
    .bind(owner_person_id)
    .bind(owner_agency_id)
    .bind(due_on.to_string())
    .bind(&actor.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::by_actor(&mut tx, now, actor, "meeting.action_added", Some(access.case_id()), Some(&id), serde_json::json!({ "meeting_id": access.meeting_id(), "owner_agency_id": owner_agency_id,
                                        "owner_person_id": owner_person_id, "due_on": due_on.to_string() }))
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Change an action's status: its owner (person, or anyone of the owning
/// agency when no person is named), or the meeting's chair or organiser.
pub async fn set_action_status(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    action_id: &str,
    status: ActionStatus,
    now: Millis,
) -> StoreResult<()> {
    if !access.is_member() {
        return Err(StoreError::NotFound);
    }
    let row = sqlx::query("SELECT owner_person_id, owner_agency_id FROM meeting_actions WHERE id = $1 AND meeting_id = $2")
        .bind(action_id)
        .bind(access.meeting_id())
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    let owner: Option<String> = row.try_get("owner_person_id")?;
    let agency: String = row.try_get("owner_agency_id")?;
    let owns = match &owner {
        Some(p) => *p == actor.person_id,
        None => agency == actor.agency_id,
    };
    if !owns && !crate::store::meetings::may_record(db, access, actor).await? {
        return Err(StoreError::Forbidden(
            "Only the action's owner, the chair or the organiser can change it.".into(),
        ));
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE meeting_actions SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(action_id)
        .execute(&mut *tx)
        .await?;
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "meeting.action_updated",
        Some(access.case_id()),
        Some(action_id),
        serde_json::json!({ "status": status.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
