//! A prompt to convene a strategy discussion: why it was raised, the link
//! to the convening form (pre-filled with the kind and the reason), or the
//! form to record why no strategy discussion is convened.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, Response};

use super::AppState;
use super::case_form::{CaseView, case_form, show};
use super::error::AppResult;
use super::session::SignedIn;
use crate::store::{cases, strategy_prompts};
use crate::web::missing_pages::PromptPage;
use crate::web::templates::when;

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, prompt_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    show(&state, &who, &case_id, |v| render(v, &prompt_id, None)).await
}

async fn render(v: CaseView<'_>, prompt_id: &str, error: Option<String>) -> AppResult<String> {
    let (state, who, now) = (v.state, v.who, v.now);
    let p = strategy_prompts::get(&state.db, &v.access, prompt_id).await?;
    let page = PromptPage {
        chrome: who.chrome(state),
        case_id: v.case.id.clone(),
        case_reference: v.case.reference.clone(),
        child_name: v.case.child_name.clone(),
        id: p.id.clone(),
        detail: p.detail.clone(),
        raised: when(p.raised_at),
        status: p.status.clone(),
        meeting_id: p.meeting_id.clone(),
        declined_reason: p.declined_reason.clone(),
        decided: match (&p.decided_by_name, p.decided_at) {
            (Some(name), Some(at)) => format!("{name}, {}", when(at)),
            _ => String::new(),
        },
        can_decide: strategy_prompts::may_decide(&state.db, &v.actor, &v.access).await?,
        error,
    };
    cases::record_read(&state.db, &v.actor, &v.access, now, "strategy prompt").await?;
    Ok(page.render()?)
}

/// Record why no strategy discussion is convened.
pub async fn decline(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, prompt_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let reason = c.f.get("reason");
    let result =
        strategy_prompts::decline(&state.db, &c.actor, &c.access, &prompt_id, &reason, c.now).await;
    c.settle(
        result,
        |()| format!("/cases/{case_id}/strategy-prompts/{prompt_id}"),
        |v, m| render(v, &prompt_id, Some(m)),
    )
    .await
}
