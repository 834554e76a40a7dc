//! Recording a meeting: attendance per agency, the structured outcome (which
//! sets the statutory clock), actions, minutes, their circulation and each
//! recipient's acknowledgement; and extending a deadline.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::error::AppResult;
use super::form::Fields;
use super::meeting_mail;
use super::meetings::{access_for, form_day, outcome_of, refuse};
use super::session::{SignedForm, SignedIn};
use crate::domain::meetings::{
    ActionStatus, Category, ClockEvent, Outcome, PlanDecision, Section47,
};
use crate::store::{StoreError, cases, deadlines, meetings};

/// Record one agency's attendance.
pub async fn attendance(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let attended = match f.get("attended").as_str() {
        "yes" => true,
        "no" => false,
        _ => return refuse(&state, &who, &id, "Say whether the agency attended.".into()).await,
    };
    let senior = match f.get("senior_enough").as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let result = meetings::record_attendance(
        &state.db,
        &access,
        &who.person.actor(),
        &f.get("agency_id"),
        attended,
        &f.get("attendees"),
        senior,
        &f.get("note"),
        state.now(),
    )
    .await;
    outcome_of(&state, &who, &id, result, "attendance").await
}

/// The outcome from the form for the meeting's kind.
fn outcome_from(f: &Fields, shape: &str) -> Result<Outcome, String> {
    match shape {
        "strategy" => Ok(Outcome::Strategy {
            section_47: match f.get("section_47").as_str() {
                "none" => Section47::None,
                "single_agency" => Section47::SingleAgency,
                "joint" => Section47::Joint,
                _ => return Err("Record whether a section 47 enquiry starts.".into()),
            },
            immediate_safety_actions: f.get("immediate_safety_actions"),
            family_told: f.get("family_told"),
            family_told_when: f.get("family_told_when"),
            initial_conference_needed: f.get("initial_conference_needed") == "yes",
        }),
        "conference" => Ok(Outcome::Conference {
            plan: match f.get("plan").as_str() {
                "made" => PlanDecision::Made,
                "not_made" => PlanDecision::NotMade,
                "continues" => PlanDecision::Continues,
                "ended" => PlanDecision::Ended,
                _ => return Err("Record the decision about the child protection plan.".into()),
            },
            category: match f.get("category").as_str() {
                "" => None,
                c => Some(
                    Category::ALL
                        .into_iter()
                        .find(|k| k.as_str() == c)
                        .ok_or_else(|| "Choose a category from the list.".to_string())?,
                ),
            },
            core_group_members: f.get("core_group_members"),
        }),
        _ => Ok(Outcome::Progress {
            plan_progress: f.get("plan_progress"),
        }),
    }
}

/// Record the structured outcome.
pub async fn outcome(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let meeting = meetings::get(&state.db, &access).await?;
    let shape = match meeting.kind {
        crate::domain::meetings::MeetingKind::StrategyDiscussion => "strategy",
        crate::domain::meetings::MeetingKind::InitialConference
        | crate::domain::meetings::MeetingKind::ReviewConference => "conference",
        _ => "progress",
    };
    let outcome = match outcome_from(&f, shape) {
        Ok(o) => o,
        Err(m) => return refuse(&state, &who, &id, m).await,
    };
    let result = meetings::record_outcome(
        &state.db,
        &access,
        &who.person.actor(),
        &outcome,
        &state.settings.meetings.calendar(),
        state.now(),
    )
    .await;
    outcome_of(&state, &who, &id, result, "outcome").await
}

/// Add an action.
pub async fn add_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let due = match form_day(&f.get("due_on")) {
        Ok(d) => d,
        Err(m) => return refuse(&state, &who, &id, m).await,
    };
    let person = f.get("owner_person_id");
    let mut agency = f.get("owner_agency_id");
    if !person.is_empty() && agency.is_empty() {
        // A named person's agency owns the action with them.
        if let Ok(p) = crate::store::people::get(&state.db, &person).await {
            agency = p.agency_id;
        }
    }
    let result = deadlines::add_action(
        &state.db,
        &access,
        &who.person.actor(),
        &f.get("description"),
        &agency,
        (!person.is_empty()).then_some(person.as_str()),
        due,
        state.now(),
    )
    .await
    .map(|_| ());
    outcome_of(&state, &who, &id, result, "actions").await
}

/// Mark an action done (or cancelled, or open again).
pub async fn action_status(
    State(state): State<AppState>,
    Path((id, action_id)): Path<(String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let Ok(status) = f.get("status").parse::<ActionStatus>() else {
        return refuse(&state, &who, &id, "Choose the action's status.".into()).await;
    };
    let result = deadlines::set_action_status(
        &state.db,
        &access,
        &who.person.actor(),
        &action_id,
        status,
        state.now(),
    )
    .await;
    outcome_of(&state, &who, &id, result, "actions").await
}

/// Save the draft minutes.
pub async fn minutes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let result = meetings::save_minutes(
        &state.db,
        &access,
        &who.person.actor(),
        &f.get("minutes"),
        state.now(),
    )
    .await;
    outcome_of(&state, &who, &id, result, "minutes").await
}

/// Circulate the record to every participating agency; each recipient is
/// told by email (with the link only) and acknowledges on the page.
pub async fn circulate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, .. }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let actor = who.person.actor();
    match meetings::circulate(&state.db, &access, &actor, state.now()).await {
        Ok(recipients) => {
            let meeting = meetings::get(&state.db, &access).await?;
            let link = format!("{}/meetings/{}", state.link_base(), meeting.id);
            for r in recipients.iter().filter(|r| r.person_id != actor.person_id) {
                meeting_mail::remind(
                    &state,
                    &r.email,
                    format!(
                        "Record to read: {} — case {}",
                        meeting.kind.label(),
                        meeting.case_reference
                    ),
                    format!(
                        "{} has circulated the record of the {} (case {}). Please read it and acknowledge that you have:\n{link}",
                        who.person.name,
                        meeting.kind.label().to_lowercase(),
                        meeting.case_reference
                    ),
                );
            }
            Ok(Redirect::to(&format!("/meetings/{id}#minutes")).into_response())
        }
        Err(e) => outcome_of(&state, &who, &id, Err(e), "minutes").await,
    }
}

/// Acknowledge having read the circulated record.
pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { who, .. }: SignedForm,
) -> AppResult<Response> {
    let access = access_for(&state, &who, &id).await?;
    let result = meetings::acknowledge(&state.db, &access, &who.person.actor(), state.now()).await;
    outcome_of(&state, &who, &id, result, "minutes").await
}

/// Ask for (or, as a manager, agree) a later date for a deadline.
pub async fn extend(
    State(state): State<AppState>,
    Path((case_id, deadline_id)): Path<(String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let access = cases::authorize(&state.db, &actor, &case_id, state.now()).await?;
    let result = match form_day(&f.get("new_due_on")) {
        Ok(day) => {
            deadlines::request_extension(
                &state.db,
                &access,
                &actor,
                &deadline_id,
                day,
                &f.get("reason"),
                state.now(),
            )
            .await
        }
        Err(m) => Err(StoreError::Invalid(m)),
    };
    case_outcome(&state, &who, &case_id, result).await
}

/// A manager agrees to or refuses a requested extension.
pub async fn decide(
    State(state): State<AppState>,
    Path((case_id, extension_id)): Path<(String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let access = cases::authorize(&state.db, &actor, &case_id, state.now()).await?;
    let result = deadlines::decide_extension(
        &state.db,
        &access,
        &actor,
        &extension_id,
        f.get("decision") == "agree",
        state.now(),
    )
    .await;
    case_outcome(&state, &who, &case_id, result).await
}

/// Start the clock from an event on the case (a concern of significant
/// harm, an accepted referral).
pub async fn start_clock(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let result = match (ClockEvent::parse(&f.get("event")), form_day(&f.get("on"))) {
        (None, _) => Err(StoreError::Invalid("Choose what happened.".into())),
        (_, Err(m)) => Err(StoreError::Invalid(m)),
        (Some(event), Ok(on)) => {
            deadlines::start_clock(
                &state.db,
                &access,
                &actor,
                event,
                on,
                &f.get("note"),
                &state.settings.meetings.calendar(),
                state.settings.meetings.strategy_discussion_next_working_day,
                meetings::london_date(now),
                now,
            )
            .await
        }
    };
    case_outcome(&state, &who, &case_id, result).await
}

/// Record that an assessment is complete.
pub async fn complete(
    State(state): State<AppState>,
    Path((case_id, deadline_id)): Path<(String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let result = match form_day(&f.get("on")) {
        Ok(on) => {
            deadlines::complete_assessment(
                &state.db,
                &access,
                &actor,
                &deadline_id,
                on,
                meetings::london_date(now),
                now,
            )
            .await
        }
        Err(m) => Err(StoreError::Invalid(m)),
    };
    case_outcome(&state, &who, &case_id, result).await
}

async fn case_outcome(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    result: Result<(), StoreError>,
) -> AppResult<Response> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{case_id}#clock")).into_response()),
        Err(StoreError::Invalid(m)) | Err(StoreError::Conflict(m)) => {
            super::case_page::refuse_clock(state, who, case_id, m).await
        }
        Err(e) => Err(e.into()),
    }
}
