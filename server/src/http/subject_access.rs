//! The subject-access export of everything held about a child, for a
//! manager in the case team (or an auditor who is a member), audited as
//! `case.subject_access_export`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::error::{AppError, AppResult};
use super::session::SignedIn;
use super::sharing_export;
use crate::domain::subject_access::authorize_subject_access;
use crate::store::audit::{self, NewEvent};
use crate::store::{cases, subject_access};

pub async fn export(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let proof = authorize_subject_access(&actor, &access).ok_or_else(|| {
        AppError::Forbidden(
            "Only a manager in the case team can export everything held about the child.".into(),
        )
    })?;
    let doc = subject_access::export(&state.db, &access, &proof, now).await?;
    let reference = doc["export"]["case_reference"]
        .as_str()
        .unwrap_or("case")
        .to_string();
    let messages: usize = doc["channels"]
        .as_array()
        .map(|chs| {
            chs.iter()
                .map(|c| c["messages"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    audit::record(
        &state.db,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "case.subject_access_export",
            case_id: Some(access.case_id()),
            subject: None,
            detail: json!({ "messages": messages }),
        },
    )
    .await?;
    Ok(sharing_export::download(
        doc.to_string(),
        "application/json",
        &format!("subject-access-{reference}.json"),
    ))
}
