//! Break glass (issue 6, item 7): a manager opens a case they are not in,
//! with a reason, for `audit.break_glass_minutes`; the case's lead social
//! worker is emailed; auditors review every opening. Rules in
//! [`crate::domain::break_glass`], storage in [`crate::store::break_glass`].

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;

use super::AppState;
use super::audit_pages::auditor_of;
use super::error::{AppError, AppResult};
use super::session::SignedIn;
use crate::domain::audit::Auditor;
use crate::domain::break_glass::{REFUSAL, authorize_break_glass, check_reason, check_review_note};
use crate::mail::Outgoing;
use crate::store::StoreError;
use crate::store::audit::{self, NewEvent};
use crate::store::break_glass::{self, Opened, Outcome};
use crate::web::audit_pages::{
    BreakGlassPage, BreakGlassReviewPage, OpeningRow, london_text, utc_text,
};

fn form_page(state: &AppState, who: &SignedIn) -> BreakGlassPage {
    BreakGlassPage {
        chrome: who.chrome(state),
        minutes: state.settings.audit.break_glass_minutes,
        reference: String::new(),
        reason: String::new(),
        error: None,
        error_field: "",
        notice: None,
        case_link: None,
    }
}

fn respond(status: StatusCode, page: BreakGlassPage) -> AppResult<Response> {
    Ok((status, Html(page.render()?)).into_response())
}

/// GET /break-glass: the form. Anyone signed in sees it (it reveals no
/// case); only managers get anywhere with it.
pub async fn form(State(state): State<AppState>, who: SignedIn) -> AppResult<Response> {
    respond(StatusCode::OK, form_page(&state, &who))
}

#[derive(Deserialize)]
pub struct OpenForm {
    csrf_token: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    reason: String,
}

/// POST /break-glass.
pub async fn open(
    State(state): State<AppState>,
    who: SignedIn,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<OpenForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let now = state.now();
    let mut page = form_page(&state, &who);
    page.reference = form.reference.trim().chars().take(100).collect();
    page.reason = form.reason.chars().take(4000).collect();
    let actor = who.person.actor();
    let Some(manager) = authorize_break_glass(&actor, who.person.guest) else {
        // The same words as for a case that does not exist, and nothing looked up.
        break_glass::record_refusal(&state.db, &actor, now).await?;
        page.error = Some(REFUSAL.into());
        page.error_field = "reference";
        return respond(StatusCode::NOT_FOUND, page);
    };
    if page.reference.is_empty() {
        page.error = Some("Enter the Confer case reference, like CF-7K3M9Q".into());
        page.error_field = "reference";
        return respond(StatusCode::BAD_REQUEST, page);
    }
    let reason = match check_reason(&form.reason) {
        Ok(r) => r,
        Err(e) => {
            page.error = Some(e.to_string());
            page.error_field = "reason";
            return respond(StatusCode::BAD_REQUEST, page);
        }
    };
    let minutes = state.settings.audit.break_glass_minutes;
    match break_glass::open(&state.db, &manager, now, &page.reference, &reason, minutes).await? {
        Outcome::NoSuchCase => {
            page.error = Some(REFUSAL.into());
            page.error_field = "reference";
            respond(StatusCode::NOT_FOUND, page)
        }
        Outcome::AlreadyMember {
            case_id,
            case_reference,
        } => {
            page.notice = Some(format!(
                "You are already a member of case {case_reference}, so nothing was done."
            ));
            page.case_link = Some(format!("/cases/{case_id}"));
            page.reason = String::new();
            respond(StatusCode::OK, page)
        }
        Outcome::Opened(opened) => {
            alert_lead(&state, &who, &opened, &reason, &uri, &headers);
            Ok(Redirect::to(&format!("/cases/{}", opened.case_id)).into_response())
        }
    }
}

/// Email the case's lead social worker: the reference, who, when, why, and
/// until when. Never the child's name (DESIGN.md: the reference is what is
/// safe in mail).
fn alert_lead(
    state: &AppState,
    who: &SignedIn,
    opened: &Opened,
    reason: &str,
    uri: &Uri,
    headers: &HeaderMap,
) {
    let link = format!(
        "{}/cases/{}",
        state.public_base(uri, headers),
        opened.case_id
    );
    let body = format!(
        "Dear {lead},\n\n\
         {manager} ({agency}), a manager who is not in the team of case {reference}, \
         opened the case in Confer by breaking glass at {at} (London: {at_london}).\n\n\
         The reason they gave:\n{reason}\n\n\
         Their access ends at {until} (London: {until_london}) unless the case team adds them. \
         Everything they read is recorded, and an auditor will review this opening. \
         If you did not expect it, speak to them or to your information governance team.\n\n\
         Case {reference}: {link}\n",
        lead = opened.lead_name,
        manager = who.person.name,
        agency = who.person.agency_name,
        reference = opened.case_reference,
        at = utc_text(state.now()),
        at_london = london_text(state.now()),
        until = utc_text(opened.expires_at),
        until_london = london_text(opened.expires_at),
    );
    state.mailer.send_later(
        Outgoing {
            to: opened.lead_email.clone(),
            subject: format!(
                "Break glass: {} opened case {}",
                who.person.name, opened.case_reference
            ),
            body,
            calendar: None,
        },
        "break-glass alert",
    );
}

async fn review_page(
    state: &AppState,
    who: &SignedIn,
    auditor: &Auditor,
    error: Option<(String, String)>,
) -> AppResult<Response> {
    let openings = break_glass::list(&state.db, auditor, 500).await?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let (error, error_id) = match error {
        Some((e, id)) => (Some(e), id),
        None => (None, String::new()),
    };
    let page = BreakGlassReviewPage {
        chrome: who.chrome(state),
        openings: openings.iter().map(OpeningRow::from).collect(),
        error,
        error_id,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// GET /audit/break-glass: every opening, those awaiting review first.
/// Viewing them (with the managers' reasons) is itself audited.
pub async fn list(State(state): State<AppState>, who: SignedIn) -> AppResult<Response> {
    let auditor = auditor_of(&who)?;
    audit::record(
        &state.db,
        state.now(),
        NewEvent {
            actor_id: Some(auditor.person_id()),
            actor_label: auditor.name(),
            action: "audit.searched",
            case_id: None,
            subject: None,
            detail: serde_json::json!({ "view": "break_glass" }),
        },
    )
    .await?;
    review_page(&state, &who, &auditor, None).await
}

#[derive(Deserialize)]
pub struct ReviewForm {
    csrf_token: String,
    #[serde(default)]
    note: String,
}

/// POST /audit/break-glass/{id}/review.
pub async fn review(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let auditor = auditor_of(&who)?;
    let note = match check_review_note(&form.note) {
        Ok(n) => n,
        Err(e) => {
            return review_page(&state, &who, &auditor, Some((e.to_string(), id))).await;
        }
    };
    match break_glass::review(&state.db, &auditor, state.now(), &id, &note).await {
        Ok(()) => Ok(Redirect::to("/audit/break-glass").into_response()),
        Err(StoreError::Conflict(why)) => {
            let mut why = why;
            if let Some(first) = why.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            review_page(&state, &who, &auditor, Some((why, id))).await
        }
        Err(StoreError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}
