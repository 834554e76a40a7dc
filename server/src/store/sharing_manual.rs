//! Information-sharing records written by hand: shares that happened
//! outside Confer (a phone call to a GP) and decisions not to share, by any
//! member of the case. Each is checked by the domain
//! ([`crate::domain::sharing_records`]), written with its audit event in one
//! transaction, and never changed afterwards: a correction is a new record
//! that says which one it corrects.

use sqlx::Row;

use super::audit::{self};
use super::sharing::{NewRecord, insert_in};
use super::sharing_state;
use super::{Db, StoreError, StoreResult, new_id};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::consent::ConsentState;
use crate::domain::sharing_records::{
    Basis, ManualShare, NotSharing, Refusal, Source, check_manual, check_not_sharing, state_word,
};

/// A consent record of the case, as the manual form offers it.
#[derive(Clone, Debug)]
pub struct ConsentOption {
    pub id: String,
    /// "Claire Ashworth (mother), for safeguarding: given".
    pub label: String,
    pub state: ConsentState,
}

/// The case's consent records with their current states.
pub async fn consent_options(db: &Db, access: &CaseAccess) -> StoreResult<Vec<ConsentOption>> {
    let state = sharing_state::snapshot(db, access.case_id()).await?;
    let rows = sqlx::query(
        "SELECT id, subject_name, relationship, purpose FROM consent_records WHERE case_id = $1 \
         ORDER BY created_at, id",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("id")?;
        let Some(current) = state.consents.iter().find(|c| c.record_id == id) else {
            continue;
        };
        let (name, relationship, purpose): (String, String, String) = (
            r.try_get("subject_name")?,
            r.try_get("relationship")?,
            r.try_get("purpose")?,
        );
        out.push(ConsentOption {
            label: format!(
                "{name} ({relationship}), for {purpose}: {}",
                state_word(current.state)
            ),
            id,
            state: current.state,
        });
    }
    Ok(out)
}

/// Whether an agency exists.
async fn agency_exists(db: &Db, agency_id: &str) -> StoreResult<bool> {
    Ok(sqlx::query("SELECT 1 AS one FROM agencies WHERE id = $1")
        .bind(agency_id)
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

async fn check_agency(db: &Db, agency_id: Option<&str>) -> StoreResult<Result<(), Refusal>> {
    match agency_id {
        Some(a) if !agency_exists(db, a).await? => Ok(Err(Refusal {
            field: "to_agency_id",
            message: "Choose an agency from the list, or none.".into(),
        })),
        _ => Ok(Ok(())),
    }
}

/// Write a record and its audit event together; returns the record's id.
async fn write(
    db: &Db,
    actor: &Actor,
    record: NewRecord,
    action: &str,
    now: Millis,
) -> StoreResult<String> {
    let id = record.id.clone();
    let mut tx = db.write().await?;
    if insert_in(&mut tx, std::slice::from_ref(&record)).await? != 1 {
        return Err(StoreError::Conflict("that record".into()));
    }
    audit::by_actor(
        &mut tx,
        now,
        actor,
        action,
        Some(&record.case_id),
        Some(&id),
        serde_json::json!({
            "source": record.source.as_str(),
            "to_agency_id": record.to_agency_id,
            "shared_at": record.shared_at,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Record a share that happened outside Confer. The inner error says which
/// field to correct; nothing is written then.
pub async fn record_share(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    share: &ManualShare,
    to_agency_id: Option<&str>,
    now: Millis,
) -> StoreResult<Result<String, Refusal>> {
    let options = consent_options(db, access).await?;
    let given: Vec<&str> = options
        .iter()
        .filter(|o| o.state == ConsentState::Given)
        .map(|o| o.id.as_str())
        .collect();
    if let Err(r) = check_manual(share, &given, now) {
        return Ok(Err(r));
    }
    if let Err(r) = check_agency(db, to_agency_id).await? {
        return Ok(Err(r));
    }
    let Some(lawful_basis) = share.lawful_basis else {
        return Err(StoreError::Invalid("a lawful basis is needed".into()));
    };
    let record = NewRecord {
        id: new_id(),
        case_id: access.case_id().to_string(),
        source: Source::Manual,
        item_ref: new_id(),
        what: share.what.trim().to_string(),
        from_person_id: Some(actor.person_id.clone()),
        from_agency_id: Some(actor.agency_id.clone()),
        to_agency_id: to_agency_id.map(str::to_string),
        to_person_id: None,
        to_description: share.to_description.trim().to_string(),
        shared_at: share.shared_at,
        purpose: share.purpose.trim().to_string(),
        basis: Some(Basis {
            lawful_basis,
            consent_state: share
                .consent_record_id
                .as_ref()
                .map(|_| ConsentState::Given),
            consent_record_id: share.consent_record_id.clone(),
            without_consent_reason: share
                .consent_record_id
                .is_none()
                .then(|| share.without_consent_reason.trim().to_string()),
            override_id: None,
        }),
        reasons: String::new(),
        recorded_by: Some(actor.person_id.clone()),
        created_at: now,
    };
    Ok(Ok(
        write(db, actor, record, "sharing.manual_recorded", now).await?
    ))
}

/// Record a decision not to share, with its reasons.
pub async fn record_not_sharing(
    db: &Db,
    access: &CaseAccess,
    actor: &Actor,
    decision: &NotSharing,
    to_agency_id: Option<&str>,
    now: Millis,
) -> StoreResult<Result<String, Refusal>> {
    if let Err(r) = check_not_sharing(decision, now) {
        return Ok(Err(r));
    }
    if let Err(r) = check_agency(db, to_agency_id).await? {
        return Ok(Err(r));
    }
    let record = NewRecord {
        id: new_id(),
        case_id: access.case_id().to_string(),
        source: Source::NotShared,
        item_ref: new_id(),
        what: decision.what.trim().to_string(),
        from_person_id: Some(actor.person_id.clone()),
        from_agency_id: Some(actor.agency_id.clone()),
        to_agency_id: to_agency_id.map(str::to_string),
        to_person_id: None,
        to_description: decision.to_description.trim().to_string(),
        shared_at: decision.decided_at,
        purpose: decision.purpose.trim().to_string(),
        basis: None,
        reasons: decision.reasons.trim().to_string(),
        recorded_by: Some(actor.person_id.clone()),
        created_at: now,
    };
    Ok(Ok(write(
        db,
        actor,
        record,
        "sharing.not_shared_recorded",
        now,
    )
    .await?))
}
