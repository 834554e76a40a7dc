//! A case's information sharing, for its members: "who knows what", the
//! forms for shares outside Confer and decisions not to share, and the
//! case's records as CSV and JSON.

use askama::Template;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;
use serde_json::json;

use super::AppState;
use super::error::{AppError, AppResult};
use super::form::Fields;
use super::session::{SignedForm, SignedIn};
use super::sharing_export;
use crate::calendar;
use crate::domain::access::CaseAccess;
use crate::domain::clock::Millis;
use crate::domain::consent::ConsentState;
use crate::domain::sharing::LawfulBasis;
use crate::domain::sharing_records::{ManualShare, NotSharing, Refusal, Source};
use crate::domain::subject_access::authorize_subject_access;
use crate::store::audit::{self, NewEvent};
use crate::store::{cases, sharing_manual, sharing_search, sharing_state};
use crate::web::sharing_pages::{
    AgencyRow, Entered, FormError, PersonRow, RecordRow, SharingPage, short,
};
use crate::web::templates::when;

/// How many records the page lists; the exports hold all of them.
const PAGE_RECORDS: i64 = 200;

/// Which form failed, with what was entered.
enum Failed {
    Share(Entered, Refusal),
    Decision(Entered, Refusal),
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Html<String>> {
    render(&state, &who, &case_id, None).await.map(Html)
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    failed: Option<Failed>,
) -> AppResult<String> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, case_id, now).await?;
    let case = cases::get(&state.db, &access).await?;
    let snapshot = sharing_state::snapshot(&state.db, access.case_id()).await?;
    let db = &state.db;
    let records =
        sharing_search::of_case(db, &access, sharing_search::SHARES, Some(PAGE_RECORDS)).await?;
    let manual = sharing_search::of_case(db, &access, &[Source::Manual], None).await?;
    let decisions = sharing_search::of_case(db, &access, &[Source::NotShared], None).await?;
    let consents = sharing_manual::consent_options(db, &access)
        .await?
        .into_iter()
        .filter(|c| c.state == ConsentState::Given)
        .map(|c| (c.id, c.label))
        .collect();
    let corrections = manual
        .iter()
        .chain(&decisions)
        .map(|r| {
            (
                r.id.clone(),
                format!(
                    "{} {} ({}): {}",
                    r.source.label(),
                    short(Some(r.id.as_str())),
                    when(r.shared_at),
                    cut(&r.what)
                ),
            )
        })
        .collect();
    let fresh = Entered {
        purpose: snapshot.purpose.clone(),
        lawful_basis: snapshot.lawful_basis.as_str().to_string(),
        on: calendar::london_local(now).format("%Y-%m-%d").to_string(),
        ..Entered::default()
    };
    let (mut share, mut share_error, mut decision, mut decision_error) =
        (fresh.clone(), None, fresh, None);
    match failed {
        Some(Failed::Share(e, r)) => {
            share = e;
            share_error = Some(form_error(r));
        }
        Some(Failed::Decision(e, r)) => {
            decision = e;
            decision_error = Some(form_error(r));
        }
        None => {}
    }
    let page = SharingPage {
        chrome: who.chrome(state),
        case_id: case.id.clone(),
        case_reference: case.reference.clone(),
        child_name: case.child_name.clone(),
        agencies_told: sharing_search::agencies_told(db, &access)
            .await?
            .iter()
            .map(AgencyRow::of)
            .collect(),
        people_told: sharing_search::people_told(db, &access)
            .await?
            .iter()
            .map(PersonRow::of)
            .collect(),
        total: sharing_search::count_of_case(db, &access, sharing_search::SHARES).await?,
        records: records.iter().map(RecordRow::of).collect(),
        manual: manual.iter().map(RecordRow::of).collect(),
        decisions: decisions.iter().map(RecordRow::of).collect(),
        agencies: sharing_search::agencies(db).await?,
        bases: LawfulBasis::ALL
            .iter()
            .map(|b| (b.as_str().to_string(), b.label().to_string()))
            .collect(),
        consents,
        corrections,
        share,
        share_error,
        decision,
        decision_error,
        can_subject_access: authorize_subject_access(&actor, &access).is_some(),
    };
    cases::record_read(db, &actor, &access, now, "who knows what").await?;
    Ok(page.render()?)
}

fn cut(text: &str) -> String {
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

fn form_error(r: Refusal) -> FormError {
    FormError {
        field: r.field.to_string(),
        message: r.message,
    }
}

fn entered(f: &Fields) -> Entered {
    Entered {
        to_description: f.get("to_description"),
        to_agency_id: f.get("to_agency_id"),
        what: f.get("what"),
        on: f.get("on").trim().to_string(),
        at: f.get("at").trim().to_string(),
        purpose: f.get("purpose"),
        lawful_basis: f.get("lawful_basis"),
        consent_record_id: f.get("consent_record_id"),
        without_consent_reason: f.get("without_consent_reason"),
        reasons: f.get("reasons"),
        corrects: f.get("corrects"),
    }
}

/// The instant of a London date and optional time. Without a time: noon,
/// so that the date reads the same in UTC, or now if that is earlier today.
fn instant(on: &str, at: &str, field: &'static str, now: Millis) -> Result<Millis, Refusal> {
    let refuse = |m: &str| Refusal {
        field,
        message: m.to_string(),
    };
    let date = chrono::NaiveDate::parse_from_str(on, "%Y-%m-%d")
        .map_err(|_| refuse("Enter the date like 2026-11-24."))?;
    let time = if at.is_empty() {
        chrono::NaiveTime::from_hms_opt(12, 0, 0)
            .ok_or_else(|| refuse("Enter the time like 14:30."))?
    } else {
        chrono::NaiveTime::parse_from_str(at, "%H:%M")
            .map_err(|_| refuse("Enter the time like 14:30, or leave it empty."))?
    };
    let instant = calendar::from_london_local(date.and_time(time))
        .map_err(|_| refuse("That date and time does not exist in London."))?;
    let today = calendar::london_local(now).date() == date;
    Ok(if at.is_empty() && today {
        instant.min(now)
    } else {
        instant
    })
}

/// The text a correction starts with, if the record it corrects is one of
/// this case's manual records or decisions.
async fn correction(
    state: &AppState,
    access: &CaseAccess,
    corrects: &str,
    field: &'static str,
) -> AppResult<Result<String, Refusal>> {
    if corrects.trim().is_empty() {
        return Ok(Ok(String::new()));
    }
    let earlier = sharing_search::of_case(
        &state.db,
        access,
        &[Source::Manual, Source::NotShared],
        None,
    )
    .await?;
    Ok(match earlier.iter().find(|r| r.id == corrects.trim()) {
        Some(r) => Ok(format!(
            "Corrects record {} of {}: ",
            short(Some(r.id.as_str())),
            when(r.shared_at)
        )),
        None => Err(Refusal {
            field,
            message: "Choose the record this corrects from the list.".into(),
        }),
    })
}

async fn refused(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    f: Failed,
) -> AppResult<Response> {
    let html = render(state, who, case_id, Some(f)).await?;
    Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
}

/// Record a share that happened outside Confer.
pub async fn record_share(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let e = entered(&f);
    let shared_at = match instant(&e.on, &e.at, "shared_on", now) {
        Ok(at) => at,
        Err(r) => return refused(&state, &who, &case_id, Failed::Share(e, r)).await,
    };
    let prefix = match correction(&state, &access, &e.corrects, "corrects").await? {
        Ok(p) => p,
        Err(r) => return refused(&state, &who, &case_id, Failed::Share(e, r)).await,
    };
    let share = ManualShare {
        to_description: e.to_description.clone(),
        what: if e.what.trim().is_empty() {
            String::new()
        } else {
            format!("{prefix}{}", e.what.trim())
        },
        shared_at,
        purpose: e.purpose.clone(),
        lawful_basis: e.lawful_basis.parse().ok(),
        consent_record_id: Some(e.consent_record_id.trim().to_string()).filter(|c| !c.is_empty()),
        without_consent_reason: e.without_consent_reason.clone(),
    };
    let agency = Some(e.to_agency_id.trim()).filter(|a| !a.is_empty());
    match sharing_manual::record_share(&state.db, &access, &actor, &share, agency, now).await? {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{case_id}/sharing#manual")).into_response()),
        Err(r) => refused(&state, &who, &case_id, Failed::Share(e, r)).await,
    }
}

/// Record a decision not to share.
pub async fn record_decision(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let e = entered(&f);
    let decided_at = match instant(&e.on, "", "decided_on", now) {
        Ok(at) => at,
        Err(r) => return refused(&state, &who, &case_id, Failed::Decision(e, r)).await,
    };
    let prefix = match correction(&state, &access, &e.corrects, "corrects").await? {
        Ok(p) => p,
        Err(r) => return refused(&state, &who, &case_id, Failed::Decision(e, r)).await,
    };
    let decision = NotSharing {
        to_description: e.to_description.clone(),
        what: if e.what.trim().is_empty() {
            String::new()
        } else {
            format!("{prefix}{}", e.what.trim())
        },
        decided_at,
        purpose: e.purpose.clone(),
        reasons: e.reasons.clone(),
    };
    let agency = Some(e.to_agency_id.trim()).filter(|a| !a.is_empty());
    match sharing_manual::record_not_sharing(&state.db, &access, &actor, &decision, agency, now)
        .await?
    {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{case_id}/sharing#decisions")).into_response()),
        Err(r) => refused(&state, &who, &case_id, Failed::Decision(e, r)).await,
    }
}

/// Every record of the case, for an export (audited).
async fn export_records(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    format: &str,
) -> AppResult<(String, Vec<sharing_search::SharingRecord>)> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, case_id, now).await?;
    let case = cases::get(&state.db, &access).await?;
    let records = sharing_search::of_case(&state.db, &access, sharing_search::ALL, None).await?;
    audit::record(
        &state.db,
        now,
        NewEvent {
            actor_id: Some(&actor.person_id),
            actor_label: &actor.name,
            action: "sharing.exported",
            case_id: Some(access.case_id()),
            subject: None,
            detail: json!({ "format": format, "records": records.len() }),
        },
    )
    .await
    .map_err(AppError::from)?;
    Ok((case.reference, records))
}

pub async fn case_csv(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Response> {
    let (reference, records) = export_records(&state, &who, &case_id, "csv").await?;
    Ok(sharing_export::download(
        sharing_export::csv(&records),
        "text/csv; charset=utf-8",
        &format!("sharing-{reference}.csv"),
    ))
}

pub async fn case_json(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Response> {
    let (reference, records) = export_records(&state, &who, &case_id, "json").await?;
    let doc = sharing_export::json_document(
        &records,
        json!({ "case_reference": reference }),
        state.now(),
    );
    Ok(sharing_export::download(
        doc.to_string(),
        "application/json",
        &format!("sharing-{reference}.json"),
    ))
}
