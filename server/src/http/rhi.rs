//! The return home interview's page: its 72-hour clock, assigning the
//! independent interviewer (someone in the case team, or a guest invited by
//! email from a commissioned service), every attempt to reach the child, and
//! the outcome.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::case_form::{CaseForm, CaseView, case_form, invalid, show};
use super::error::AppResult;
use super::form::{Fields, london_instant};
use super::meeting_mail::remind;
use super::missing::{clock_view, now_fields, yes_no};
use super::session::SignedIn;
use crate::domain::missing::{
    AttemptMethod, AttemptOutcome, InterviewOutcome, OutcomeRecord, check_assign,
};
use crate::domain::vocabulary::{AgencyKind, Role};
use crate::store::agencies::{self, By};
use crate::store::missing;
use crate::store::rhi::{self as interviews, NewAttempt};
use crate::store::{StoreError, cases, people};
use crate::web::meeting_pages::Choice;
use crate::web::missing_pages::{AttemptRow, RhiPage};
use crate::web::templates::when;

fn choices<T: Copy>(
    all: &[T],
    value: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Choice> {
    all.iter()
        .map(|k| Choice {
            value: value(*k).to_string(),
            label: label(*k).to_string(),
            checked: false,
            hint: String::new(),
        })
        .collect()
}

/// The interview's page.
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    show(&state, &who, &case_id, |v| render(v, &episode_id, None)).await
}

async fn render(v: CaseView<'_>, episode_id: &str, error: Option<String>) -> AppResult<String> {
    let (state, who, now) = (v.state, v.who, v.now);
    let episode = missing::episode(&state.db, &v.access, episode_id).await?;
    let interview = missing::interview_of(&state.db, &v.access, episode_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let is_csc = who.person.agency_kind == AgencyKind::ChildrensSocialCare;
    let mut outcome = Vec::new();
    if let Some((o, at)) = interview.closed() {
        outcome.push((
            "Outcome".to_string(),
            format!("{} on {}", o.label(), when(at)),
        ));
        if o == InterviewOutcome::Declined {
            outcome.push((
                "Carers offered the chance to contribute".to_string(),
                if interview.carers_offered == Some(true) {
                    "Yes"
                } else {
                    "No"
                }
                .to_string(),
            ));
            if !interview.carers_contribution.is_empty() {
                outcome.push((
                    "What the carers contributed".to_string(),
                    interview.carers_contribution.clone(),
                ));
            }
        }
        if o == InterviewOutcome::NotCompleted {
            outcome.push((
                "Why not completed".to_string(),
                interview.not_completed_reason.clone(),
            ));
        }
    }
    let (date, time) = now_fields(now);
    let page = RhiPage {
        chrome: who.chrome(state),
        case_id: v.case.id.clone(),
        case_reference: v.case.reference.clone(),
        child_name: v.case.child_name.clone(),
        episode_id: episode.id.clone(),
        returned: episode.returned_at.map(when).unwrap_or_default(),
        clock: clock_view(state, &interview, now),
        interviewer: interview.interviewer_name.as_ref().map(|n| {
            format!(
                "{n} ({})",
                interview.interviewer_agency.clone().unwrap_or_default()
            )
        }),
        open: interview.outcome.is_none(),
        can_assign: is_csc,
        can_manage: interviews::may_manage_interview(&state.db, &v.actor, &interview).await?,
        team: cases::team(&state.db, &v.access, now)
            .await?
            .into_iter()
            .filter(|m| m.person_id != v.case.lead_social_worker_id)
            .map(|m| Choice {
                value: m.person_id,
                label: format!("{} — {}", m.name, m.agency_name),
                checked: false,
                hint: String::new(),
            })
            .collect(),
        agencies: agencies::list(&state.db)
            .await?
            .into_iter()
            .map(|a| Choice {
                value: a.id,
                label: a.name,
                checked: false,
                hint: String::new(),
            })
            .collect(),
        attempts: interviews::attempts(&state.db, &v.access, &interview.id)
            .await?
            .into_iter()
            .map(|a| AttemptRow {
                when: when(a.attempted_at),
                method: a.method.label().to_string(),
                outcome: a.outcome.label().to_string(),
                note: a.note,
                recorded_by: a.recorded_by_name,
            })
            .collect(),
        methods: choices(AttemptMethod::ALL, |m| m.as_str(), |m| m.label()),
        attempt_outcomes: choices(AttemptOutcome::ALL, |o| o.as_str(), |o| o.label()),
        outcome,
        date,
        time,
        error,
    };
    cases::record_read(&state.db, &v.actor, &v.access, now, "return home interview").await?;
    Ok(page.render()?)
}

/// The interview page's address, at `anchor`.
fn back(case_id: &str, episode_id: &str, anchor: &str) -> String {
    format!("/cases/{case_id}/missing/{episode_id}/interview#{anchor}")
}

/// Back to the interview at `anchor` after a change, or the page again
/// with the reason ([`CaseForm::settle`]).
async fn to_interview<T>(
    c: &CaseForm<'_>,
    case_id: &str,
    episode_id: &str,
    result: Result<T, StoreError>,
    anchor: &str,
) -> AppResult<Response> {
    c.settle(
        result,
        |_| back(case_id, episode_id, anchor),
        |v, m| render(v, episode_id, Some(m)),
    )
    .await
}

/// Assign the interviewer: someone in the team, or a guest invited by email.
pub async fn assign(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let (f, actor, now, access) = (&c.f, &c.actor, c.now, &c.access);
    // Unknown episodes, and episodes without a return, are not found before anything is created.
    let interview = missing::interview_of(&state.db, access, &episode_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if who.person.agency_kind != AgencyKind::ChildrensSocialCare {
        return Err(StoreError::Forbidden(
            "Children's social care assigns the return home interview.".into(),
        )
        .into());
    }
    let case = cases::get(&state.db, access).await?;
    let assigned = async {
        // A closed interview takes no interviewer: refuse before inviting anyone.
        invalid(check_assign(
            &interview.state(),
            "",
            &case.lead_social_worker_id,
        ))?;
        let interviewer_id = if f.has("guest_email") {
            guest_interviewer(&state, &who, access, f).await?
        } else if f.has("interviewer_id") {
            f.get("interviewer_id")
        } else {
            return Err(StoreError::Invalid(
                "Choose the interviewer, or invite one by email.".into(),
            ));
        };
        interviews::assign_interviewer(&state.db, actor, access, &episode_id, &interviewer_id, now)
            .await?;
        Ok(interviewer_id)
    }
    .await;
    let interviewer_id = match assigned {
        Ok(id) => id,
        Err(e) => {
            return c.refusal(e, |v, m| render(v, &episode_id, Some(m))).await;
        }
    };
    let interviewer = people::get(&state.db, &interviewer_id).await?;
    let base = state.link_base();
    remind(
        &state,
        &interviewer.email,
        format!("Return home interview to arrange — case {}", case.reference),
        format!(
            "{} asks you to carry out the independent return home interview for a child on case {} who has returned from a missing episode. \
             It should be offered within 72 hours of the return. Record every attempt to reach the child, and the outcome, in Confer:\n{base}/cases/{}/missing/{}/interview\n\
             If you have no Confer account of your own, sign in at {base}/sign-in/email with this email address: a code will be sent to you.",
            who.person.name, case.reference, case.id, episode_id
        ),
    );
    Ok(Redirect::to(&back(&case_id, &episode_id, "rhi")).into_response())
}

/// A guest from a commissioned service: found by email or added to their
/// agency, and joined to the case team for the interview.
async fn guest_interviewer(
    state: &AppState,
    who: &SignedIn,
    access: &crate::domain::access::CaseAccess,
    f: &Fields,
) -> Result<String, StoreError> {
    let now = state.now();
    let name = f.get("guest_name");
    let email = f.get("guest_email");
    if name.trim().is_empty() || people::normalise_email(&email).is_err() {
        return Err(StoreError::Invalid(
            "A guest interviewer needs a name and a valid email address.".into(),
        ));
    }
    let agency_id = f.get("guest_agency_id");
    agencies::find(&state.db, &agency_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => StoreError::Invalid("Choose the guest's agency.".into()),
            other => other,
        })?;
    let by = By {
        person_id: Some(&who.person.id),
        label: &who.person.name,
    };
    let person = match people::find_by_email(&state.db, &email).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => {
            people::add(
                &state.db,
                by,
                now,
                people::NewPerson {
                    agency_id: &agency_id,
                    name: name.trim(),
                    email: &email,
                    role: Role::Practitioner,
                    guest: true,
                },
            )
            .await?
        }
        Err(e) => return Err(e),
    };
    if !person.active {
        return Err(StoreError::Invalid(format!(
            "{} cannot be assigned: their account is deactivated.",
            person.name
        )));
    }
    if !cases::team(&state.db, access, now)
        .await?
        .iter()
        .any(|m| m.person_id == person.id)
    {
        cases::add_member(
            &state.db,
            by,
            now,
            access.case_id(),
            &person.id,
            "independent return home interview",
            None,
        )
        .await?;
    }
    Ok(person.id)
}

fn parse_attempt(f: &Fields) -> Result<NewAttempt, String> {
    Ok(NewAttempt {
        attempted_at: london_instant(&f.get("date"), &f.get("time"))?,
        method: f
            .get("method")
            .parse()
            .map_err(|_| "Choose how you tried to reach the child.".to_string())?,
        outcome: f
            .get("outcome")
            .parse()
            .map_err(|_| "Choose what came of the attempt.".to_string())?,
        note: f.get("note"),
    })
}

fn parse_outcome(f: &Fields) -> Result<OutcomeRecord, String> {
    Ok(OutcomeRecord {
        outcome: f
            .get("outcome")
            .parse()
            .map_err(|_| "Choose the outcome.".to_string())?,
        at: london_instant(&f.get("date"), &f.get("time"))?,
        carers_offered: yes_no(&f.get("carers_offered")),
        carers_contribution: f.get("carers_contribution"),
        not_completed_reason: f.get("not_completed_reason"),
    })
}

/// Record an attempt to reach the child.
pub async fn attempt(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let result = async {
        let a = invalid(parse_attempt(&c.f))?;
        interviews::record_attempt(&state.db, &c.actor, &c.access, &episode_id, c.now, a).await
    }
    .await;
    to_interview(&c, &case_id, &episode_id, result, "attempts").await
}

/// Record the interview's outcome.
pub async fn outcome(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let result = async {
        let o = invalid(parse_outcome(&c.f))?;
        interviews::record_outcome(&state.db, &c.actor, &c.access, &episode_id, c.now, o).await
    }
    .await;
    to_interview(&c, &case_id, &episode_id, result, "rhi").await
}
