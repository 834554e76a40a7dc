//! The case page: the case's details, its discussion (history, a form that
//! posts without JavaScript, live updates with it) and its team, which the
//! lead social worker or a manager in it can change.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::api::{AddMember, ApiError, GuestDetails};
use super::case_team;
use super::error::{AppError, AppResult};
use super::session::SignedIn;
use crate::domain::access::authorize_membership_change;
use crate::domain::channels::{Audience, Sight, check_message};
use crate::store::messages::{self, Post};
use crate::store::receipts::{self, Delivery};
use crate::store::{cases, channels, sessions};
use crate::web::meeting_pages::{DeadlineRow, MeetingRow};
use crate::web::templates::{CasePage, MessageView, when};

pub async fn case(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Html<String>> {
    render_case(&state, &who, &case_id, None, None, None)
        .await
        .map(Html)
}

/// How many recent messages the case page shows.
const PAGE_MESSAGES: i64 = 50;

async fn render_case(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    error: Option<String>,
    team_error: Option<String>,
    clock_error: Option<String>,
) -> AppResult<String> {
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, case_id, now).await?;
    let case = cases::get(&state.db, &access).await?;
    let team = cases::team(&state.db, &access, now).await?;
    let channel = channels::case_channel(&state.db, &access).await?;
    let channel_access = channels::authorize(&state.db, &actor, &channel.id, now).await?;
    let views = message_views(state, who, &channel_access, channel.last_seq).await?;
    cases::record_read(&state.db, &actor, &access, now, "case overview").await?;
    let can_manage =
        authorize_membership_change(&actor, &access, &case.lead_social_worker_id).is_some();
    let agencies = if can_manage {
        crate::store::agencies::list(&state.db)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect()
    } else {
        Vec::new()
    };
    let snapshot = crate::store::sharing_state::snapshot(&state.db, access.case_id()).await?;
    let page = CasePage {
        sharing: super::consent::basis_view(&snapshot, &[]),
        consent_records: snapshot.consents.len(),
        chrome: who.chrome(state),
        case,
        team,
        channel_id: channel.id,
        last_seq: channel.last_seq,
        messages: views,
        client_id: sessions::new_token(),
        error,
        can_manage,
        agencies,
        team_error,
        meetings: meeting_rows(state, &access).await?,
        deadlines: deadline_rows(state, &access, now).await?,
        clock_error,
        is_manager: actor.role == crate::domain::vocabulary::Role::Manager,
        missing: super::missing::case_summary(state, &access, now).await?,
    };
    Ok(page.render()?)
}

/// The last messages of a channel as one person sees them; records their
/// delivery. Shared by the case page and the meeting page.
pub(super) async fn message_views(
    state: &AppState,
    who: &SignedIn,
    channel_access: &channels::ChannelAccess,
    last_seq: i64,
) -> AppResult<Vec<MessageView>> {
    let now = state.now();
    let from = (last_seq - PAGE_MESSAGES).max(0);
    let stored = messages::after(&state.db, channel_access, from, PAGE_MESSAGES).await?;
    let viewer = channel_access.viewer().clone();
    let mut views = Vec::with_capacity(stored.len());
    for m in &stored {
        let visible = m.sight_for(&viewer) == Sight::Full;
        let own = m.author_id == who.person.id;
        let read_by = if own && visible {
            receipts::readers(&state.db, channel_access, m.seq)
                .await?
                .into_iter()
                .filter(|r| r.person_id != who.person.id)
                .map(|r| format!("{} ({})", r.name, r.agency))
                .collect()
        } else {
            Vec::new()
        };
        if visible {
            state.deliveries.record(Delivery::of(m, &viewer, now)).await;
        }
        views.push(MessageView {
            seq: m.seq,
            visible,
            own,
            author: if visible {
                m.author_name.clone()
            } else {
                String::new()
            },
            agency: if visible {
                m.author_agency_name.clone()
            } else {
                String::new()
            },
            body: if visible && m.redacted_at.is_none() {
                m.body.clone()
            } else {
                String::new()
            },
            when: when(m.created_at),
            edited: m.edited_at.is_some(),
            removed: m.redacted_at.map(|at| {
                format!(
                    "Removed by {} at {}",
                    m.redacted_by_name.clone().unwrap_or_default(),
                    when(at)
                )
            }),
            restriction: if visible {
                m.restriction_reason.clone()
            } else {
                None
            },
            read_by,
        });
    }
    Ok(views)
}

#[derive(Deserialize)]
pub struct MessageForm {
    csrf_token: String,
    client_id: String,
    body: String,
    #[serde(default)]
    restrict: Option<String>,
    #[serde(default)]
    reason: String,
}

impl MessageForm {
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Post to the case channel from the page's form (works without JavaScript).
pub async fn post_case_message(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let channel = channels::case_channel(&state.db, &access).await?;
    let channel_access = channels::authorize(&state.db, &actor, &channel.id, now).await?;
    if let Err(message) = post_from_form(&state, &who, &channel_access, form).await? {
        let html = render_case(&state, &who, &case_id, Some(message), None, None).await?;
        return Ok((StatusCode::BAD_REQUEST, Html(html)).into_response());
    }
    Ok(Redirect::to(&format!("/cases/{case_id}#latest")).into_response())
}

/// Post a message from a page's form to a channel the person may use.
/// The inner error is the message to show beside the form.
pub(super) async fn post_from_form(
    state: &AppState,
    who: &SignedIn,
    channel_access: &channels::ChannelAccess,
    form: MessageForm,
) -> AppResult<Result<(), String>> {
    state
        .limits
        .admit_send(&who.person.id, state.now())
        .map_err(|s| AppError::TooManyRequests(s.message()))?;
    let restricted = form.restrict.is_some().then(|| {
        (
            Audience {
                agencies: vec![who.person.agency_id.clone()],
                people: vec![],
            },
            form.reason.trim().to_string(),
        )
    });
    if let Err(e) = check_message(
        &form.client_id,
        &form.body,
        restricted.as_ref().map(|(a, r)| (a, r.as_str())),
    ) {
        return Ok(Err(e.message()));
    }
    state
        .writer
        .post(Post {
            channel_id: channel_access.channel_id().to_string(),
            author_id: who.person.id.clone(),
            client_id: form.client_id,
            body: form.body,
            restricted,
        })
        .await?;
    Ok(Ok(()))
}

#[derive(Deserialize)]
pub struct AddMemberForm {
    csrf_token: String,
    email: String,
    reason: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    guest_name: String,
    #[serde(default)]
    guest_agency_id: String,
}

/// Add someone to the case team from the case page (lead or manager).
pub async fn add_case_member(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
    Form(form): Form<AddMemberForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let expires_at = match form.until.trim() {
        "" => None,
        day => match end_of_day(day) {
            Some(ms) => Some(ms),
            None => {
                let html = render_case(
                    &state,
                    &who,
                    &case_id,
                    None,
                    Some("Enter the last day of access as a date, like 2026-12-31".into()),
                    None,
                )
                .await?;
                return Ok((StatusCode::BAD_REQUEST, Html(html)).into_response());
            }
        },
    };
    let guest = (!form.guest_name.trim().is_empty()).then(|| GuestDetails {
        name: form.guest_name.trim().to_string(),
        agency_id: form.guest_agency_id.clone(),
    });
    let request = AddMember {
        email: form.email.trim().to_string(),
        reason: form.reason,
        expires_at,
        guest,
    };
    match case_team::add(&state, &who, &case_id, &request).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{case_id}#team")).into_response()),
        Err(e) => team_error(&state, &who, &case_id, e).await,
    }
}

#[derive(Deserialize)]
pub struct RemoveMemberForm {
    csrf_token: String,
    reason: String,
}

/// End someone's access from the case page (lead or manager).
pub async fn remove_case_member(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, person_id)): Path<(String, String)>,
    Form(form): Form<RemoveMemberForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    match case_team::remove(&state, &who, &case_id, &person_id, &form.reason).await {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{case_id}#team")).into_response()),
        Err(e) => team_error(&state, &who, &case_id, e).await,
    }
}

/// Show a refused team change on the case page; access errors stay errors.
async fn team_error(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    e: ApiError,
) -> AppResult<Response> {
    let message = match e {
        ApiError::Invalid { message, .. } => message,
        ApiError::App(AppError::Conflict(what)) => format!("{what}."),
        ApiError::App(AppError::BadRequest(why)) => why,
        ApiError::App(other) => return Err(other),
        ApiError::SlowDown(s) => return Err(AppError::TooManyRequests(s.message())),
    };
    let html = render_case(state, who, case_id, None, Some(message), None).await?;
    Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
}

/// The instant just after the given day ends (UTC), for "access until".
fn end_of_day(day: &str) -> Option<i64> {
    crate::domain::clock::end_of_day(crate::domain::clock::parse_day(day)?)
}

/// Show a refused deadline change on the case page.
pub(super) async fn refuse_clock(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    message: String,
) -> AppResult<Response> {
    let html = render_case(state, who, case_id, None, None, Some(message)).await?;
    Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
}

async fn meeting_rows(
    state: &AppState,
    access: &crate::domain::access::CaseAccess,
) -> AppResult<Vec<MeetingRow>> {
    Ok(crate::store::meetings::of_case(&state.db, access)
        .await?
        .into_iter()
        .map(|m| MeetingRow {
            kind: m.kind.label().to_string(),
            when: super::meeting_mail::when_text(m.starts_at, m.ends_at),
            status: m.status.clone(),
            case_reference: m.case_reference.clone(),
            child_name: None,
            id: m.id,
        })
        .collect())
}

async fn deadline_rows(
    state: &AppState,
    access: &crate::domain::access::CaseAccess,
    now: i64,
) -> AppResult<Vec<DeadlineRow>> {
    let calendar = state.settings.meetings.calendar();
    let today = crate::store::meetings::london_date(now);
    Ok(
        crate::store::deadlines::of_case(&state.db, access, &calendar, today)
            .await?
            .into_iter()
            .map(|d| DeadlineRow {
                label: d.kind.label().to_string(),
                rule: d.kind.rule().to_string(),
                due_on: d.due_on.to_string(),
                statutory_due_on: d.statutory_due_on.to_string(),
                standing: d.standing.describe(),
                overdue: d.standing.is_overdue(),
                met: d.met_on.is_some(),
                started: if d.source_meeting_id.is_some() {
                    String::new()
                } else {
                    format!("started {}: {}", d.started_on, d.note)
                },
                assessment: d.kind == crate::domain::meetings::DeadlineKind::Assessment,
                source_meeting_id: d.source_meeting_id,
                extensions: d
                    .extensions
                    .into_iter()
                    .map(|e| {
                        let waiting = e.status == "requested";
                        let text = format!(
                            "{} → {}: {} (asked by {}{})",
                            e.old_due_on,
                            e.new_due_on,
                            e.reason,
                            e.requested_by,
                            match (e.status.as_str(), &e.decided_by) {
                                ("agreed", Some(m)) => format!("; agreed by {m}"),
                                ("refused", Some(m)) => format!("; refused by {m}"),
                                _ => "; waiting for a manager".to_string(),
                            }
                        );
                        (e.id, text, waiting)
                    })
                    .collect(),
                id: d.id,
            })
            .collect(),
    )
}
