//! Answers to an invitation, changes of time or place, cancellation, and
//! posts to the meeting's discussion.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{access_for, london_instant, outcome_of, refuse};
use crate::calendar::Method;
use crate::domain::meetings::{Mode, Response as Answer};
use crate::http::AppState;
use crate::http::case_page::{MessageForm, post_from_form};
use crate::http::error::AppResult;
use crate::http::meeting_mail;
use crate::http::session::{SignedForm, SignedIn};
use crate::store::meetings;
use crate::store::{StoreError, channels};

#[derive(Deserialize)]
pub struct AnswerForm {
    csrf_token: String,
    invitation_id: String,
    response: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    nominee_email: String,
    #[serde(default)]
    nominee_name: String,
}

/// Answer an invitation.
pub async fn respond(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<AnswerForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let access = access_for(&state, &who, &id).await?;
    let response: Answer = match form.response.parse() {
        Ok(r) => r,
        Err(_) => return refuse(&state, &who, &id, "Choose an answer.".into()).await,
    };
    let nominee = (response == Answer::Nominated)
        .then_some((form.nominee_email.trim(), form.nominee_name.trim()))
        .filter(|(email, _)| !email.is_empty());
    let answered = match meetings::respond(
        &state.db,
        &access,
        &who.person,
        &form.invitation_id,
        response,
        &form.note,
        nominee,
        state.now(),
    )
    .await
    {
        Ok(a) => a,
        Err(StoreError::Invalid(m)) => return refuse(&state, &who, &id, m).await,
        Err(e) => return Err(e.into()),
    };
    if answered.access_ended {
        let meeting = meetings::get(&state.db, &access).await?;
        state
            .hub
            .case_access_ended(&meeting.case_id, &who.person.id);
    }
    if let Some(invitation) = answered.nominee_invitation {
        let all = crate::store::meetings::invitations_unchecked(&state.db, &id).await?;
        let access = access_for(&state, &who, &id).await?;
        let meeting = meetings::get(&state.db, &access).await?;
        meeting_mail::send(&state, &meeting, &all, &[&invitation], Method::Request);
    }
    Ok(Redirect::to(&format!("/meetings/{id}")).into_response())
}

/// Change the time, place or mode: everyone still invited gets an update.
pub async fn reschedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let starts_at = match london_instant(&f.get("date"), &f.get("time")) {
        Ok(t) => t,
        Err(m) => return refuse(&state, &who, &id, m).await,
    };
    let Ok(minutes) = f.get("minutes").trim().parse::<i64>() else {
        return refuse(
            &state,
            &who,
            &id,
            "Enter the expected length in minutes.".into(),
        )
        .await;
    };
    let Ok(mode) = f.get("mode").parse::<Mode>() else {
        return refuse(&state, &who, &id, "Choose how people will meet.".into()).await;
    };
    let result = meetings::reschedule(
        &state.db,
        &access,
        &who.person.actor(),
        starts_at,
        starts_at + minutes * 60_000,
        mode,
        &f.get("location"),
        state.now(),
    )
    .await;
    match result {
        Ok(meeting) => {
            let all = meetings::invitations(&state.db, &access).await?;
            meeting_mail::send_to_all(&state, &meeting, &all, Method::Request);
            Ok(Redirect::to(&format!("/meetings/{id}")).into_response())
        }
        Err(e) => outcome_of(&state, &who, &id, Err(e), "").await,
    }
}

#[derive(Deserialize)]
pub struct CancelForm {
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

/// Cancel: everyone still invited gets the calendar cancellation.
pub async fn cancel(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CancelForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let access = access_for(&state, &who, &id).await?;
    match meetings::cancel(
        &state.db,
        &access,
        &who.person.actor(),
        &form.reason,
        state.now(),
    )
    .await
    {
        Ok((meeting, ended)) => {
            for person in &ended {
                state.hub.case_access_ended(&meeting.case_id, person);
            }
            let all = meetings::invitations(&state.db, &access).await?;
            meeting_mail::send_to_all(&state, &meeting, &all, Method::Cancel);
            Ok(Redirect::to(&format!("/meetings/{id}")).into_response())
        }
        Err(e) => outcome_of(&state, &who, &id, Err(e), "").await,
    }
}

/// Post to the meeting's discussion from its page (no JavaScript needed).
pub async fn post_message(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<MessageForm>,
) -> AppResult<Response> {
    who.check_csrf(form.csrf_token())?;
    let access = access_for(&state, &who, &id).await?;
    let meeting = meetings::get(&state.db, &access).await?;
    let channel_access = channels::authorize(
        &state.db,
        &who.person.actor(),
        &meeting.channel_id,
        state.now(),
    )
    .await?;
    if let Err(message) = post_from_form(&state, &who, &channel_access, form).await? {
        return refuse(&state, &who, &id, message).await;
    }
    Ok(Redirect::to(&format!("/meetings/{id}#latest")).into_response())
}
