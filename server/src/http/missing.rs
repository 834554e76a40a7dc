//! Missing-episode pages: the case's episodes with their clocks and the
//! repeat-missing trend, recording an episode and a return, and the
//! episode's page with its own discussion. Interviews are in `rhi`,
//! strategy prompts in `strategy_prompts`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::case_form::{CaseView, case_form, invalid, refused, show};
use super::case_page::{MessageForm, message_views, post_from_form};
use super::error::AppResult;
use super::form::{Fields, london_instant};
use super::session::SignedIn;
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::missing::{RhiStanding, Trend};
use crate::store::missing::{self, Interview, NewEpisode, NewReturn, Repeat};
use crate::store::missing_clock::{self, OpenInterview};
use crate::store::{cases, channels, sessions, strategy_prompts};
use crate::web::meeting_pages::ChannelView;
use crate::web::missing_pages::{
    ClockView, EpisodePage, EpisodeRow, MissingDashboard, MissingPage, MissingSummary, PromptRow,
    RhiRow, TrendView,
};
use crate::web::templates::when;

/// A yes/no radio: None when neither was chosen.
pub(super) fn yes_no(value: &str) -> Option<bool> {
    match value {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Today's date and the time now in London, for a form's defaults.
pub(super) fn now_fields(now: Millis) -> (String, String) {
    let local = crate::calendar::london_local(now);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M").to_string(),
    )
}

/// An interview's clock for pages.
pub(super) fn clock_view(state: &AppState, i: &Interview, now: Millis) -> ClockView {
    let standing = RhiStanding::of(
        i.due_at,
        i.closed(),
        now,
        state.settings.missing.rhi_at_risk_hours_before,
    );
    ClockView::new(standing, format!("due by {}", when(i.due_at)))
}

pub(super) fn repeat(state: &AppState) -> Repeat {
    Repeat {
        window_days: state.settings.missing.repeat_window_days,
        threshold: state.settings.missing.repeat_threshold,
    }
}

pub(super) fn prompt_row(p: &strategy_prompts::Prompt, case_reference: &str) -> PromptRow {
    PromptRow {
        id: p.id.clone(),
        case_id: p.case_id.clone(),
        case_reference: case_reference.to_string(),
        detail: p.detail.clone(),
        status: p.status.clone(),
        raised: when(p.raised_at),
    }
}

/// Open return home interview clocks and open strategy prompts, for the case page.
pub(super) async fn case_summary(
    state: &AppState,
    access: &CaseAccess,
    now: Millis,
) -> AppResult<MissingSummary> {
    let episodes = missing::episodes(&state.db, access).await?;
    let case = cases::get(&state.db, access).await?;
    Ok(MissingSummary {
        episodes: episodes.len(),
        open_clocks: episodes
            .iter()
            .filter_map(|(e, i)| {
                i.as_ref()
                    .filter(|i| i.outcome.is_none())
                    .map(|i| (e.id.clone(), clock_view(state, i, now)))
            })
            .collect(),
        prompts: strategy_prompts::of_case(&state.db, access)
            .await?
            .iter()
            .filter(|p| p.status == "open")
            .map(|p| prompt_row(p, &case.reference))
            .collect(),
    })
}

/// The dashboard's part: interviews assigned to this person or on cases they
/// lead (all open ones, with their clocks); for a manager, the clocks at risk
/// or overdue on every case their agency works on; open prompts on cases
/// this person leads.
pub(super) async fn dashboard(
    state: &AppState,
    actor: &Actor,
    manager: bool,
    now: Millis,
) -> AppResult<MissingDashboard> {
    let at_risk_hours = state.settings.missing.rhi_at_risk_hours_before;
    let row = |o: &OpenInterview| RhiRow {
        case_id: o.case_id.clone(),
        case_reference: o.case_reference.clone(),
        episode_id: o.episode_id.clone(),
        interviewer: o
            .interviewer_name
            .clone()
            .unwrap_or_else(|| "not assigned".into()),
        clock: ClockView::new(
            RhiStanding::of(o.due_at, None, now, at_risk_hours),
            format!("due by {}", when(o.due_at)),
        ),
    };
    let mine = missing_clock::open_for(&state.db, actor, now)
        .await?
        .iter()
        .map(row)
        .collect();
    let team = if manager {
        missing_clock::open_for_manager(&state.db, actor, now)
            .await?
            .iter()
            .filter(|o| RhiStanding::of(o.due_at, None, now, at_risk_hours) != RhiStanding::Due)
            .map(row)
            .collect()
    } else {
        Vec::new()
    };
    let prompts = missing_clock::open_prompts_for_lead(&state.db, actor)
        .await?
        .into_iter()
        .map(|p| PromptRow {
            id: p.id,
            case_id: p.case_id,
            case_reference: p.case_reference,
            detail: p.detail,
            status: "open".into(),
            raised: String::new(),
        })
        .collect();
    let findings = crate::store::findings_sharing::to_acknowledge(&state.db, actor)
        .await?
        .into_iter()
        .map(|s| (s.id, s.case_reference))
        .collect();
    Ok(MissingDashboard {
        mine,
        team,
        prompts,
        findings,
    })
}

/// The case's missing episodes.
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Html<String>> {
    show(&state, &who, &case_id, |v| render_list(v, None, None)).await
}

async fn render_list(
    v: CaseView<'_>,
    form: Option<&Fields>,
    error: Option<String>,
) -> AppResult<String> {
    let (state, who, now) = (v.state, v.who, v.now);
    let episodes = missing::episodes(&state.db, &v.access).await?;
    let reported: Vec<Millis> = episodes
        .iter()
        .map(|(e, _)| e.reported_missing_at)
        .collect();
    let settings = &state.settings.missing;
    let trend = Trend::of(&reported, now, settings.repeat_window_days);
    let (date, time) = now_fields(now);
    let field = |name: &str, default: &str| {
        form.map(|f| f.get(name))
            .unwrap_or_else(|| default.to_string())
    };
    let page = MissingPage {
        chrome: who.chrome(state),
        case_id: v.case.id.clone(),
        case_reference: v.case.reference.clone(),
        child_name: v.case.child_name.clone(),
        can_record: missing::may_record(&state.db, &v.actor).await?,
        trend: TrendView {
            window_days: trend.window_days,
            current: trend.current,
            previous: trend.previous,
            direction: trend.direction(),
            threshold: settings.repeat_threshold,
        },
        episodes: episodes
            .iter()
            .map(|(e, i)| EpisodeRow {
                id: e.id.clone(),
                reported: when(e.reported_missing_at),
                reported_by: e.reported_by.clone(),
                police_reference: e.police_reference.clone(),
                returned: e.returned_at.map(when),
                clock: i.as_ref().map(|i| clock_view(state, i, now)),
            })
            .collect(),
        prompts: strategy_prompts::of_case(&state.db, &v.access)
            .await?
            .iter()
            .map(|p| prompt_row(p, &v.case.reference))
            .collect(),
        date: field("date", &date),
        time: field("time", &time),
        reported_by: field("reported_by", ""),
        police_reference: field("police_reference", ""),
        error,
    };
    cases::record_read(&state.db, &v.actor, &v.access, now, "missing episodes").await?;
    Ok(page.render()?)
}

/// Record a missing episode.
pub async fn record(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let f = &c.f;
    let result = async {
        let new = NewEpisode {
            reported_missing_at: invalid(london_instant(&f.get("date"), &f.get("time")))?,
            reported_by: f.get("reported_by"),
            police_reference: f.get("police_reference"),
        };
        missing::record_episode(&state.db, &c.actor, &c.access, c.now, new, repeat(&state)).await
    }
    .await;
    c.settle(
        result,
        |id| format!("/cases/{case_id}/missing/{id}"),
        |v, m| render_list(v, Some(f), Some(m)),
    )
    .await
}

/// One episode, with its return (or the form to record it) and its discussion.
pub async fn episode(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    show(&state, &who, &case_id, |v| {
        render_episode(v, &episode_id, None)
    })
    .await
}

async fn render_episode(
    v: CaseView<'_>,
    episode_id: &str,
    error: Option<String>,
) -> AppResult<String> {
    let (state, who, now) = (v.state, v.who, v.now);
    let e = missing::episode(&state.db, &v.access, episode_id).await?;
    let interview = missing::interview_of(&state.db, &v.access, episode_id).await?;
    let (date, time) = now_fields(now);
    let mut page = EpisodePage {
        chrome: who.chrome(state),
        case_id: v.case.id.clone(),
        case_reference: v.case.reference.clone(),
        child_name: v.case.child_name.clone(),
        id: e.id.clone(),
        reported: when(e.reported_missing_at),
        reported_by: e.reported_by.clone(),
        police_reference: e.police_reference.clone(),
        recorded_by: format!("{} on {}", e.recorded_by_name, when(e.recorded_at)),
        returned: e.returned_at.map(when),
        found_where: e.found_where.clone(),
        found_by: e.found_by.clone(),
        harmed: match e.harmed {
            Some(true) => "Yes".into(),
            Some(false) => "No".into(),
            None => String::new(),
        },
        harm_detail: e.harm_detail.clone(),
        can_record: missing::may_record(&state.db, &v.actor).await?,
        clock: interview.as_ref().map(|i| clock_view(state, i, now)),
        interviewer: interview
            .as_ref()
            .and_then(|i| i.interviewer_name.clone())
            .unwrap_or_else(|| "not assigned yet".into()),
        date,
        time,
        error,
        channel: None,
    };
    if let Ok(channel_access) = channels::authorize(&state.db, &v.actor, &e.channel_id, now).await {
        let channel = channels::get(&state.db, &channel_access).await?;
        page.channel = Some(ChannelView {
            messages: message_views(state, who, &channel_access, channel.last_seq).await?,
            channel_id: channel.id,
            last_seq: channel.last_seq,
            client_id: sessions::new_token(),
            post_url: format!("/cases/{}/missing/{}/messages", v.case.id, e.id),
        });
    }
    cases::record_read(&state.db, &v.actor, &v.access, now, "missing episode").await?;
    Ok(page.render()?)
}

/// Record the child's return: opens the return home interview.
pub async fn record_return(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let f = &c.f;
    let result = async {
        let r = NewReturn {
            returned_at: invalid(london_instant(&f.get("date"), &f.get("time")))?,
            found_where: f.get("found_where"),
            found_by: f.get("found_by"),
            harmed: yes_no(&f.get("harmed")),
            harm_detail: f.get("harm_detail"),
        };
        missing::record_return(&state.db, &c.actor, &c.access, &episode_id, c.now, r).await
    }
    .await;
    c.settle(
        result,
        |_| format!("/cases/{case_id}/missing/{episode_id}/interview"),
        |v, m| render_episode(v, &episode_id, Some(m)),
    )
    .await
}

/// Post to the episode's discussion from the page's form.
pub async fn post_message(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    axum::Form(form): axum::Form<MessageForm>,
) -> AppResult<Response> {
    who.check_csrf(form.csrf_token())?;
    let actor = who.person.actor();
    let now = state.now();
    let access = cases::authorize(&state.db, &actor, &case_id, now).await?;
    let e = missing::episode(&state.db, &access, &episode_id).await?;
    let channel_access = channels::authorize(&state.db, &actor, &e.channel_id, now).await?;
    if let Err(message) = post_from_form(&state, &who, &channel_access, form).await? {
        return refused(&state, &who, &case_id, |v| {
            render_episode(v, &episode_id, Some(message))
        })
        .await;
    }
    Ok(Redirect::to(&format!("/cases/{case_id}/missing/{episode_id}#latest")).into_response())
}
