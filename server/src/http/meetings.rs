//! Meeting pages: convening from a case, the meeting's page (the invitation
//! for someone invited, the whole record for the case team), answers,
//! changes and cancellation, and the meeting's own discussion. Recording
//! (attendance, outcome, actions, minutes) is in `meeting_record`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::case_page::{MessageForm, message_views, post_from_form};
use super::error::{AppError, AppResult};
use super::meeting_mail;
use super::session::{MaybeSignedIn, SignedForm, SignedIn};
use crate::calendar::{self, Method};
use crate::domain::clock::Millis;
use crate::domain::meetings::{
    Category, MeetingKind, Mode, Need, Outcome, PlanDecision, Response as Answer, Section47,
    agency_rules,
};
use crate::domain::vocabulary::AgencyKind;
use crate::store::deadlines::{self, parse_day};
use crate::store::meetings::{self, CSC_MANAGER, Convene, MeetingAccess, NewGuest, Reach};
use crate::store::{StoreError, agencies, cases, channels, people, sessions, strategy_prompts};
use crate::web::meeting_pages::{
    ActionRow, AnswerView, AttendanceRow, ChannelView, Choice, CirculationRow, ConvenePage,
    InvitationRow, MeetingPage, Requirement,
};
use crate::web::templates::when;

/// A urlencoded form with repeated keys (checkbox lists).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

/// A date (`YYYY-MM-DD`) and time (`HH:MM`) in London, as an instant.
pub fn london_instant(date: &str, time: &str) -> Result<Millis, String> {
    let parsed = chrono::NaiveDateTime::parse_from_str(
        &format!("{} {}", date.trim(), time.trim()),
        "%Y-%m-%d %H:%M",
    )
    .map_err(|_| "Enter the date like 2026-12-01 and the time like 10:30.".to_string())?;
    calendar::from_london_local(parsed).map_err(|e| e.to_string())
}

fn london_date_text(ms: Millis) -> (String, String) {
    let local = calendar::london_local(ms);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M").to_string(),
    )
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    chosen: T,
    value: impl Fn(T) -> String,
    label: impl Fn(T) -> String,
) -> Vec<Choice> {
    all.iter()
        .map(|k| Choice {
            value: value(*k),
            label: label(*k),
            checked: *k == chosen,
            hint: String::new(),
        })
        .collect()
}

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

/// Remember where a signed-out person was going, so that signing in brings
/// them back to the meeting their invitation links to.
const NEXT_COOKIE: &str = "__Host-confer_next";

pub fn next_cookie(path: &str) -> String {
    format!("{NEXT_COOKIE}={path}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=1800")
}

/// The remembered meeting path, if any and well-formed.
pub fn next_path(headers: &http::HeaderMap) -> Option<String> {
    super::session::cookie(headers, NEXT_COOKIE).filter(|v| {
        v.strip_prefix("/meetings/").is_some_and(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    })
}

pub fn clear_next_cookie() -> String {
    format!("{NEXT_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The meeting's page.
pub async fn page(
    State(state): State<AppState>,
    who: MaybeSignedIn,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(who) = who.0 else {
        let mut res = Redirect::to("/sign-in").into_response();
        if id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            super::pages::set_cookie(&mut res, &next_cookie(&format!("/meetings/{id}")))?;
        }
        return Ok(res);
    };
    Ok(Html(render(&state, &who, &id, None).await?).into_response())
}

pub(super) async fn access_for(
    state: &AppState,
    who: &SignedIn,
    id: &str,
) -> AppResult<MeetingAccess> {
    Ok(meetings::authorize(
        &state.db,
        &who.person.actor(),
        who.person.guest,
        id,
        state.now(),
    )
    .await?)
}

/// Build the meeting page for this person.
pub(super) async fn render(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    error: Option<String>,
) -> AppResult<String> {
    let now = state.now();
    let actor = who.person.actor();
    let access = access_for(state, who, id).await?;
    let meeting = meetings::get(&state.db, &access).await?;
    let calendar = state.settings.meetings.calendar();
    let today = meetings::london_date(now);
    let (date, time) = london_date_text(meeting.starts_at);
    let reach = match access.reach() {
        Reach::Member(_) => "member",
        Reach::Invitee => "invitee",
        Reach::Recipient => "recipient",
    };
    let answers = meetings::invitations_for_me(&state.db, &access, &actor, who.person.guest)
        .await?
        .into_iter()
        .map(|i| AnswerView {
            addressed_to: if i.person_id.is_some() {
                "you".into()
            } else {
                format!("{}'s duty address", i.agency_name)
            },
            agency: i.agency_name.clone(),
            response: i.response.label().to_string(),
            nominated: i.response == Answer::Nominated,
            invitation_id: i.id,
        })
        .collect();
    let mut page = MeetingPage {
        chrome: who.chrome(state),
        id: meeting.id.clone(),
        case_id: meeting.case_id.clone(),
        case_reference: meeting.case_reference.clone(),
        child_name: None,
        kind_label: meeting.kind.label().to_string(),
        when: meeting_mail::when_text(meeting.starts_at, meeting.ends_at),
        date,
        time,
        minutes_long: (meeting.ends_at - meeting.starts_at) / 60_000,
        mode: meeting.mode.label().to_string(),
        modes: choices(
            Mode::ALL,
            meeting.mode,
            |m| m.as_str().to_string(),
            |m| m.label().to_string(),
        ),
        location: meeting.location.clone(),
        chair: meeting.chair_name.clone(),
        organiser: meeting.organiser_name.clone(),
        status: meeting.status.clone(),
        cancel_reason: meeting.cancel_reason.clone(),
        reach,
        answers,
        invitations: Vec::new(),
        warnings: Vec::new(),
        exclusions: Vec::new(),
        can_manage: false,
        can_record: false,
        record_open: now >= meeting.starts_at - meetings::OPENS_BEFORE_MS,
        needs_seniority: meeting.kind.needs_seniority(),
        attendance: Vec::new(),
        attendance_agencies: Vec::new(),
        outcome_shape: match meeting.kind {
            MeetingKind::StrategyDiscussion => "strategy",
            MeetingKind::InitialConference | MeetingKind::ReviewConference => "conference",
            _ => "progress",
        },
        outcome: meeting
            .outcome
            .as_ref()
            .map(outcome_lines)
            .unwrap_or_default(),
        outcome_recorded: meeting.outcome.is_some(),
        categories: Category::ALL
            .iter()
            .map(|c| Choice {
                value: c.as_str().into(),
                label: c.label().into(),
                checked: false,
                hint: String::new(),
            })
            .collect(),
        plan_choices: plan_choices(meeting.kind),
        actions: Vec::new(),
        owner_agencies: Vec::new(),
        owner_people: Vec::new(),
        minutes: String::new(),
        circulated: meeting.circulated_at.map(when),
        record_due: None,
        circulations: Vec::new(),
        to_acknowledge: false,
        acknowledged: None,
        channel: None,
        error,
    };
    // Circulated records: recipients (members or not) read and acknowledge.
    if let Some(mine) = meetings::my_circulation(&state.db, &access).await? {
        page.to_acknowledge = mine.acknowledged_at.is_none();
        page.acknowledged = mine.acknowledged_at.map(when);
        page.minutes = meeting.minutes.clone();
    }
    if !matches!(access.reach(), Reach::Invitee) {
        page.actions = deadlines::actions_of_meeting(&state.db, &access, today)
            .await?
            .into_iter()
            .map(|a| action_row(a, &actor, false))
            .collect();
    }
    let Reach::Member(case_access) = access.reach() else {
        if matches!(access.reach(), Reach::Invitee) {
            page.outcome.clear();
        } else {
            // A recipient outside the case reads the circulated record: audited too.
            crate::store::audit::record(
                &state.db,
                now,
                crate::store::audit::NewEvent {
                    actor_id: Some(&who.person.id),
                    actor_label: &who.person.name,
                    action: "case.read",
                    case_id: Some(access.case_id()),
                    subject: Some(access.meeting_id()),
                    detail: serde_json::json!({ "what": "circulated meeting record" }),
                },
            )
            .await?;
        }
        return Ok(page.render()?);
    };
    // The whole record, for members of the case.
    let case = cases::get(&state.db, case_access).await?;
    page.child_name = Some(case.child_name.clone());
    page.minutes = meeting.minutes.clone();
    page.can_manage = meetings::may_manage(&state.db, &access, &actor).await?;
    page.can_record = meetings::may_record(&state.db, &access, &actor).await?;
    let invitations = meetings::invitations(&state.db, &access).await?;
    page.invitations = invitations
        .iter()
        .map(|i| InvitationRow {
            agency: i.agency_name.clone(),
            who: i
                .person_name
                .clone()
                .unwrap_or_else(|| format!("Duty address ({})", i.email)),
            response: i.response.label().to_string(),
            accepted: i.response == Answer::Accepted,
            note: i.response_note.clone(),
        })
        .collect();
    page.exclusions = meetings::exclusions(&state.db, &access)
        .await?
        .into_iter()
        .map(|e| {
            (
                e.label,
                format!("{} (recorded by {})", e.reason, e.recorded_by),
            )
        })
        .collect();
    let attendance = meetings::attendance(&state.db, &access).await?;
    let mut agency_ids: Vec<(String, String)> = invitations
        .iter()
        .map(|i| (i.agency_id.clone(), i.agency_name.clone()))
        .collect();
    for p in [&meeting.chair_id, &meeting.organiser_id] {
        let person = people::get(&state.db, p).await?;
        agency_ids.push((person.agency_id, person.agency_name));
    }
    let not_taking_part = meetings::required_not_taking_part(&state.db, &meeting).await?;
    page.warnings = warnings(
        state,
        &meeting,
        &not_taking_part,
        &attendance,
        &page.exclusions,
        now,
    );
    page.attendance = attendance
        .iter()
        .map(|a| AttendanceRow {
            agency: a.agency_name.clone(),
            attended: if a.attended {
                "Attended".into()
            } else {
                "Did not attend".into()
            },
            attendees: a.attendees.clone(),
            senior: match a.senior_enough {
                Some(true) => "Yes".into(),
                Some(false) => "No".into(),
                None => String::new(),
            },
            note: a.note.clone(),
        })
        .collect();
    agency_ids.sort_by(|a, b| a.1.cmp(&b.1));
    agency_ids.dedup();
    page.attendance_agencies = agency_ids
        .iter()
        .map(|(id, name)| Choice {
            value: id.clone(),
            label: name.clone(),
            checked: false,
            hint: String::new(),
        })
        .collect();
    page.owner_agencies = agencies::list(&state.db)
        .await?
        .into_iter()
        .map(|a| Choice {
            value: a.id,
            label: a.name,
            checked: false,
            hint: String::new(),
        })
        .collect();
    page.owner_people = cases::team(&state.db, case_access, now)
        .await?
        .into_iter()
        .map(|m| Choice {
            value: m.person_id,
            label: format!("{} — {}", m.name, m.agency_name),
            checked: false,
            hint: String::new(),
        })
        .collect();
    page.actions = deadlines::actions_of_meeting(&state.db, &access, today)
        .await?
        .into_iter()
        .map(|a| action_row(a, &actor, page.can_record))
        .collect();
    page.circulations = meetings::circulations(&state.db, &access)
        .await?
        .into_iter()
        .map(|c| CirculationRow {
            who: c.person_name,
            agency: c.agency_name,
            acknowledged: c
                .acknowledged_at
                .map(|at| format!("Acknowledged {}", when(at)))
                .unwrap_or_else(|| "Not yet acknowledged".into()),
        })
        .collect();
    if meeting.kind.record_due_next_working_day() && meeting.circulated_at.is_none() {
        let held = meetings::london_date(meeting.starts_at);
        let due = calendar.add_working_days(held, 1);
        page.record_due = Some(format!(
            "The record is due to every participating agency by {} (one working day after the meeting).{}",
            due,
            if today > due { " It is overdue." } else { "" }
        ));
    }
    // The meeting's own discussion, for those in it.
    if let Ok(channel_access) =
        channels::authorize(&state.db, &actor, &meeting.channel_id, now).await
    {
        let channel = channels::get(&state.db, &channel_access).await?;
        page.channel = Some(ChannelView {
            messages: message_views(state, who, &channel_access, channel.last_seq).await?,
            channel_id: channel.id,
            last_seq: channel.last_seq,
            client_id: sessions::new_token(),
            post_url: format!("/meetings/{}/messages", meeting.id),
        });
    }
    cases::record_read(&state.db, &actor, case_access, now, "meeting").await?;
    Ok(page.render()?)
}

fn plan_choices(kind: MeetingKind) -> Vec<Choice> {
    let list: &[(PlanDecision, &str)] = match kind {
        MeetingKind::InitialConference => &[
            (PlanDecision::Made, "A child protection plan is made"),
            (PlanDecision::NotMade, "No child protection plan"),
        ],
        MeetingKind::ReviewConference => &[
            (
                PlanDecision::Continues,
                "The child protection plan continues",
            ),
            (PlanDecision::Ended, "The child protection plan ends"),
        ],
        _ => &[],
    };
    list.iter()
        .map(|(p, label)| Choice {
            value: serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            label: (*label).to_string(),
            checked: false,
            hint: String::new(),
        })
        .collect()
}

fn action_row(
    a: deadlines::Action,
    actor: &crate::domain::access::Actor,
    can_record: bool,
) -> ActionRow {
    let owns = match &a.owner_person_id {
        Some(p) => *p == actor.person_id,
        None => a.owner_agency_id == actor.agency_id,
    };
    ActionRow {
        owner: match &a.owner_person_name {
            Some(name) => format!("{name} ({})", a.owner_agency_name),
            None => a.owner_agency_name.clone(),
        },
        open: a.status == crate::domain::meetings::ActionStatus::Open,
        status: a.status.as_str().to_string(),
        may_change: owns || can_record,
        overdue: a.overdue,
        id: a.id,
        meeting_id: a.meeting_id,
        case_reference: a.case_reference,
        description: a.description,
        due_on: a.due_on,
    }
}

/// The outcome as label/value lines for the page.
pub fn outcome_lines(o: &Outcome) -> Vec<(String, String)> {
    let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_string();
    match o {
        Outcome::Strategy {
            section_47,
            immediate_safety_actions,
            family_told,
            family_told_when,
            initial_conference_needed,
        } => vec![
            (
                "Section 47 enquiry".into(),
                match section_47 {
                    Section47::None => "No enquiry".into(),
                    Section47::SingleAgency => "Yes: single agency (children's social care)".into(),
                    Section47::Joint => "Yes: joint with the police".into(),
                },
            ),
            (
                "Immediate safety actions".into(),
                immediate_safety_actions.clone(),
            ),
            ("What the family is told".into(), family_told.clone()),
            ("When the family is told".into(), family_told_when.clone()),
            (
                "Initial child protection conference needed".into(),
                yes_no(*initial_conference_needed),
            ),
        ],
        Outcome::Conference {
            plan,
            category,
            core_group_members,
        } => vec![
            (
                "Child protection plan".into(),
                match plan {
                    PlanDecision::Made => "Made",
                    PlanDecision::NotMade => "Not made",
                    PlanDecision::Continues => "Continues",
                    PlanDecision::Ended => "Ended",
                }
                .into(),
            ),
            (
                "Category".into(),
                category
                    .map(|c| c.label().to_string())
                    .unwrap_or_else(|| "None".into()),
            ),
            ("Core group members".into(), core_group_members.clone()),
        ],
        Outcome::Progress { plan_progress } => {
            vec![("Progress of the plan".into(), plan_progress.clone())]
        }
    }
}

/// What the organiser and chair should be told: required agencies with
/// nobody who accepted (close to the start), and required agencies that did
/// not attend (once attendance is recorded).
fn warnings(
    state: &AppState,
    meeting: &meetings::Meeting,
    not_taking_part: &[AgencyKind],
    attendance: &[meetings::Attendance],
    exclusions: &[(String, String)],
    now: Millis,
) -> Vec<String> {
    let mut out = Vec::new();
    let excused: Vec<AgencyKind> = AgencyKind::ALL
        .iter()
        .copied()
        .filter(|k| exclusions.iter().any(|(label, _)| label == k.label()))
        .collect();
    let window = state.settings.meetings.required_agency_warning_hours as i64 * 3_600_000;
    if meeting.status == "scheduled" && now >= meeting.starts_at - window {
        for k in not_taking_part {
            out.push(format!(
                "Nobody from {} has accepted yet, and the meeting starts {}.",
                k.label().to_lowercase(),
                meeting_mail::when_text(meeting.starts_at, meeting.ends_at)
            ));
        }
    }
    if !attendance.is_empty() {
        for rule in agency_rules(meeting.kind)
            .iter()
            .filter(|r| r.need == Need::Required && !excused.contains(&r.agency))
        {
            if !attendance
                .iter()
                .any(|a| a.agency_kind == rule.agency && a.attended)
            {
                out.push(format!(
                    "No attendance is recorded for {}, which this kind of meeting requires: record it, with the reason if they did not attend.",
                    rule.agency.label().to_lowercase()
                ));
            }
        }
        if meeting.kind.needs_seniority() {
            for a in attendance
                .iter()
                .filter(|a| a.attended && a.senior_enough == Some(false))
            {
                out.push(format!(
                    "{}'s attendee was not senior enough to make decisions for the agency.",
                    a.agency_name
                ));
            }
        }
    }
    out
}

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

/// Show a refused change on the meeting's page.
pub(super) async fn refuse(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    message: String,
) -> AppResult<Response> {
    let html = render(state, who, id, Some(message)).await?;
    Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
}

/// Map a store refusal to the page (invalid input) or an error page.
pub(super) async fn outcome_of(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    result: Result<(), StoreError>,
    anchor: &str,
) -> AppResult<Response> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/meetings/{id}#{anchor}")).into_response()),
        Err(StoreError::Invalid(m)) => refuse(state, who, id, m).await,
        Err(StoreError::Conflict(m)) => {
            refuse(
                state,
                who,
                id,
                format!("{}{}.", m[..1].to_uppercase(), &m[1..]),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
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

/// Parse a `YYYY-MM-DD` date from a form.
pub(super) fn form_day(text: &str) -> Result<time::Date, String> {
    parse_day(text).ok_or_else(|| "Enter the date like 2026-12-01.".to_string())
}
