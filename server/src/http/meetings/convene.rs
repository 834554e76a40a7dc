//! Convening a meeting from a case: the form, its checks, and storing it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;
use serde::Deserialize;

use super::{Fields, choices, london_date_text, london_instant};
use crate::calendar::Method;
use crate::domain::meetings::{MeetingKind, Mode, Need, agency_rules};
use crate::domain::vocabulary::AgencyKind;
use crate::http::AppState;
use crate::http::error::{AppError, AppResult};
use crate::http::meeting_mail;
use crate::http::session::{SignedForm, SignedIn};
use crate::store::meetings::{self, CSC_MANAGER, Convene, NewGuest};
use crate::store::{StoreError, agencies, cases, strategy_prompts};
use crate::web::meeting_pages::{Choice, ConvenePage, Requirement};

#[derive(Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    kind: Option<String>,
    /// A strategy prompt (missing episodes) this meeting answers: the form
    /// shows why, and the meeting is linked to the prompt when convened.
    #[serde(default)]
    prompt: Option<String>,
}

/// The convening form. The kind (chosen by a link or the form's "update"
/// button, no JavaScript needed) decides which agencies are proposed.
pub async fn new_form(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
    Query(q): Query<NewQuery>,
) -> AppResult<Html<String>> {
    let kind = q
        .kind
        .as_deref()
        .and_then(|k| k.parse().ok())
        .unwrap_or(MeetingKind::StrategyDiscussion);
    let page = convene_page(
        &state,
        &who,
        &case_id,
        kind,
        None,
        None,
        q.prompt.as_deref(),
    )
    .await?;
    Ok(Html(page.render()?))
}

async fn convene_page(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    kind: MeetingKind,
    form: Option<&Fields>,
    error: Option<String>,
    prompt: Option<&str>,
) -> AppResult<ConvenePage> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, case_id, now).await?;
    let case = cases::get(&state.db, &access).await?;
    let prompt = match prompt.filter(|p| !p.is_empty()) {
        Some(id) => match strategy_prompts::get(&state.db, &access, id).await {
            Ok(p) if p.status == "open" => Some((p.id, p.detail)),
            Ok(_) | Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let team = cases::team(&state.db, &access, now).await?;
    let all_agencies = agencies::list(&state.db).await?;
    let rules = agency_rules(kind);
    let proposed = |k: AgencyKind| rules.iter().any(|r| r.agency == k);
    let picked = |name: &str, value: &str, default: bool| match form {
        Some(f) => f.all(name).iter().any(|v| v == value),
        None => default,
    };
    let people = team
        .iter()
        .filter(|m| m.person_id != who.person.id)
        .map(|m| Choice {
            value: m.person_id.clone(),
            label: format!("{} — {}", m.name, m.agency_name),
            checked: picked("people", &m.person_id, proposed(m.agency_kind)),
            hint: rules
                .iter()
                .find(|r| r.agency == m.agency_kind)
                .map(|r| match r.need {
                    Need::Required => "Required agency".to_string(),
                    Need::Recommended => "Recommended agency".to_string(),
                })
                .unwrap_or_default(),
        })
        .collect();
    let team_kinds: Vec<AgencyKind> = team.iter().map(|m| m.agency_kind).collect();
    let agencies: Vec<Choice> = all_agencies
        .iter()
        .filter(|a| a.duty_email.is_some())
        .map(|a| Choice {
            value: a.id.clone(),
            label: a.name.clone(),
            // Proposed when the kind needs the agency and nobody of that kind is in the team.
            checked: picked(
                "agencies",
                &a.id,
                rules
                    .iter()
                    .any(|r| r.agency == a.kind && r.need == Need::Required)
                    && !team_kinds.contains(&a.kind),
            ),
            hint: rules
                .iter()
                .find(|r| r.agency == a.kind)
                .map(|r| match r.need {
                    Need::Required => format!("Required: {}", r.note),
                    Need::Recommended => format!("Recommended: {}", r.note),
                })
                .unwrap_or_default(),
        })
        .collect();
    let mut requirements: Vec<Requirement> = rules
        .iter()
        .filter(|r| r.need == Need::Required)
        .map(|r| Requirement {
            key: r.agency.as_str().to_string(),
            label: r.agency.label().to_string(),
            note: r.note.to_string(),
            reason: form
                .map(|f| f.get(&format!("reason_{}", r.agency.as_str())))
                .unwrap_or_default(),
        })
        .collect();
    if kind.needs_seniority() {
        requirements.push(Requirement {
            key: CSC_MANAGER.to_string(),
            label: meetings::requirement_label(CSC_MANAGER),
            note: "the social worker's manager takes part in a strategy discussion".into(),
            reason: form
                .map(|f| f.get(&format!("reason_{CSC_MANAGER}")))
                .unwrap_or_default(),
        });
    }
    let chosen_chair = form
        .map(|f| f.get("chair_id"))
        .unwrap_or_else(|| who.person.id.clone());
    let chairs = team
        .iter()
        .map(|m| Choice {
            value: m.person_id.clone(),
            label: format!("{} — {}", m.name, m.agency_name),
            checked: m.person_id == chosen_chair,
            hint: String::new(),
        })
        .collect();
    let mode = form
        .and_then(|f| f.get("mode").parse().ok())
        .unwrap_or(Mode::VideoLink);
    let field = |name: &str, default: &str| {
        form.map(|f| f.get(name))
            .unwrap_or_else(|| default.to_string())
    };
    let (default_date, _) = london_date_text(now + 24 * 3_600_000);
    Ok(ConvenePage {
        chrome: who.chrome(state),
        case_id: case.id.clone(),
        case_reference: case.reference.clone(),
        child_name: case.child_name.clone(),
        kinds: choices(
            MeetingKind::ALL,
            kind,
            |k| k.as_str().to_string(),
            |k| k.label().to_string(),
        ),
        kind_label: kind.label().to_string(),
        kind: kind.as_str().to_string(),
        rules: rules
            .iter()
            .map(|r| {
                format!(
                    "{}: {} ({})",
                    match r.need {
                        Need::Required => "Required",
                        Need::Recommended => "Recommended",
                    },
                    r.agency.label(),
                    r.note
                )
            })
            .collect(),
        date: field("date", &default_date),
        time: field("time", "10:00"),
        minutes: field("minutes", "60"),
        modes: choices(
            Mode::ALL,
            mode,
            |m| m.as_str().to_string(),
            |m| m.label().to_string(),
        ),
        location: field("location", ""),
        chairs,
        people,
        agencies,
        guest_agencies: all_agencies
            .iter()
            .map(|a| Choice {
                value: a.id.clone(),
                label: a.name.clone(),
                checked: form.is_some_and(|f| f.get("guest_agency_id") == a.id),
                hint: String::new(),
            })
            .collect(),
        requirements,
        case_access_case: form.is_some_and(|f| f.get("case_access") == "case"),
        error,
        prompt,
    })
}

/// Convene: store the meeting, then send the invitations.
pub async fn convene(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let kind: MeetingKind = f
        .get("kind")
        .parse()
        .map_err(|_| AppError::BadRequest("Choose the kind of meeting.".into()))?;
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    if f.has("update") {
        // "Show the agencies for this kind": re-render with the new kind.
        let page = convene_page(
            &state,
            &who,
            &case_id,
            kind,
            None,
            None,
            Some(&f.get("prompt")),
        )
        .await?;
        return Ok(Html(page.render()?).into_response());
    }
    let request = match convene_request(&f, kind) {
        Ok(r) => r,
        Err(message) => return refuse_convene(&state, &who, &case_id, kind, &f, message).await,
    };
    let id = match meetings::convene(&state.db, &actor, &access, now, request).await {
        Ok(id) => id,
        Err(StoreError::Invalid(message)) => {
            return refuse_convene(&state, &who, &case_id, kind, &f, message).await;
        }
        Err(e) => return Err(e.into()),
    };
    if f.has("prompt") && kind == MeetingKind::StrategyDiscussion {
        // Already acted on, or not this case's: the meeting stands unlinked.
        if let Err(e) =
            strategy_prompts::link_meeting(&state.db, &actor, &access, &f.get("prompt"), &id, now)
                .await
        {
            tracing::info!(error = %e, "the strategy prompt was not linked to the meeting");
        }
    }
    let meeting_access = meetings::authorize(&state.db, &actor, who.person.guest, &id, now).await?;
    let meeting = meetings::get(&state.db, &meeting_access).await?;
    let invitations = meetings::invitations(&state.db, &meeting_access).await?;
    meeting_mail::send_to_all(&state, &meeting, &invitations, Method::Request);
    Ok(Redirect::to(&format!("/meetings/{id}")).into_response())
}

fn convene_request(f: &Fields, kind: MeetingKind) -> Result<Convene, String> {
    let starts_at = london_instant(&f.get("date"), &f.get("time"))?;
    let minutes: i64 = f
        .get("minutes")
        .trim()
        .parse()
        .map_err(|_| "Enter the expected length in minutes, like 60.".to_string())?;
    if !(1..=480).contains(&minutes) {
        return Err("The expected length must be between 1 minute and 8 hours.".into());
    }
    let mode: Mode = f
        .get("mode")
        .parse()
        .map_err(|_| "Choose how people will meet.".to_string())?;
    let guests = if f.get("guest_email").trim().is_empty() {
        Vec::new()
    } else {
        vec![NewGuest {
            email: f.get("guest_email").trim().to_string(),
            name: f.get("guest_name").trim().to_string(),
            agency_id: f.get("guest_agency_id"),
        }]
    };
    let mut reasons: Vec<(String, String)> = AgencyKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str().to_string(),
                f.get(&format!("reason_{}", k.as_str())),
            )
        })
        .collect();
    reasons.push((
        CSC_MANAGER.to_string(),
        f.get(&format!("reason_{CSC_MANAGER}")),
    ));
    Ok(Convene {
        kind,
        starts_at,
        ends_at: starts_at + minutes * 60_000,
        mode,
        location: f.get("location"),
        chair_id: f.get("chair_id"),
        case_access: if f.get("case_access") == "case" {
            "case".into()
        } else {
            "meeting".into()
        },
        people: f.all("people"),
        agencies: f.all("agencies"),
        guests,
        reasons,
    })
}

async fn refuse_convene(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    kind: MeetingKind,
    f: &Fields,
    message: String,
) -> AppResult<Response> {
    let page = convene_page(
        state,
        who,
        case_id,
        kind,
        Some(f),
        Some(message),
        Some(&f.get("prompt")),
    )
    .await?;
    Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
}
