//! Search across the cases a person is a member of: the page `/search` (a
//! GET form that works without JavaScript) and `GET /api/search`. Both run
//! the same audited search (see [`crate::domain::search`] for the rules).

use askama::Template;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::{ApiQuery, ApiResult, Caller, invalid};
use super::error::AppResult;
use super::form::Fields;
use super::session::SignedIn;
use crate::domain::access::Actor;
use crate::domain::clock::Millis;
use crate::domain::search::{
    MAX_RESULTS, Terms, findings_link, message_link, parse, plain_snippet,
};
use crate::store::search::{self, MessageHit};
use crate::store::search_findings::{self, FindingHit};
use crate::web::search_pages::{ResultRow, SearchPage};

/// What a search found: messages and findings, newest first, at most
/// [`MAX_RESULTS`] in all.
struct Found {
    messages: Vec<MessageHit>,
    findings: Vec<FindingHit>,
    more: bool,
}

/// Search and record that it was made.
async fn audited(state: &AppState, actor: &Actor, terms: &Terms) -> AppResult<Found> {
    let now = state.now();
    let (mut messages, more_m) =
        search::messages(&state.db, actor, terms, MAX_RESULTS, now).await?;
    let (mut findings, more_f) =
        search_findings::findings(&state.db, actor, terms, MAX_RESULTS, now).await?;
    // Keep the newest MAX_RESULTS of both kinds together (each list is
    // newest first).
    let keep = usize::try_from(MAX_RESULTS).unwrap_or(0);
    let mut more = more_m || more_f;
    if messages.len() + findings.len() > keep {
        let (mut i, mut j) = (0, 0);
        while i + j < keep {
            let message_first = match (messages.get(i), findings.get(j)) {
                (Some(m), Some(f)) => m.created_at >= f.at,
                (Some(_), None) => true,
                _ => false,
            };
            if message_first {
                i += 1;
            } else {
                j += 1;
            }
        }
        messages.truncate(i);
        findings.truncate(j);
        more = true;
    }
    let cases: Vec<&str> = messages
        .iter()
        .map(|m| m.case_id.as_str())
        .chain(findings.iter().map(|f| f.case_id.as_str()))
        .collect();
    search::record(&state.db, actor, terms, &cases, now).await?;
    Ok(Found {
        messages,
        findings,
        more,
    })
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes());
    // The form was sent (even empty) when the query names `q`.
    let asked = !fields.all("q").is_empty();
    let mut page = SearchPage {
        chrome: who.chrome(&state),
        q: fields.get("q"),
        error: None,
        results: None,
        more: false,
    };
    if asked {
        match parse(&page.q) {
            Ok(terms) => {
                let found = audited(&state, &who.person.actor(), &terms).await?;
                let mut rows: Vec<ResultRow> = found.messages.iter().map(ResultRow::of).collect();
                rows.extend(found.findings.iter().map(ResultRow::of_findings));
                rows.sort_by_key(|r| std::cmp::Reverse(r.at));
                page.results = Some(rows);
                page.more = found.more;
            }
            Err(refused) => {
                page.error = Some(refused.message());
                return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
            }
        }
    }
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub struct ApiAsked {
    #[serde(default)]
    q: String,
}

/// One hit as the API gives it.
fn hit_json(hit: &MessageHit) -> Value {
    json!({
        "type": "message",
        "case_id": hit.case_id,
        "case_reference": hit.case_reference,
        "channel_id": hit.channel_id,
        "channel_name": hit.channel_name,
        "message_id": hit.message_id,
        "seq": hit.seq,
        "author": { "name": hit.author_name, "agency": hit.author_agency },
        "created_at": hit.created_at,
        "edited": hit.edited,
        "restricted": hit.restricted,
        "snippet": plain_snippet(&hit.snippet),
        "link": message_link(&hit.place, hit.seq),
    })
}

/// One findings hit as the API gives it.
fn findings_json(hit: &FindingHit) -> Value {
    json!({
        "type": "findings",
        "case_id": hit.case_id,
        "case_reference": hit.case_reference,
        "findings_id": hit.findings_id,
        "episode_id": hit.episode_id,
        "recorded_by": { "name": hit.author_name, "agency": hit.author_agency },
        "updated_at": hit.at,
        "restricted": hit.restricted,
        "snippet": plain_snippet(&hit.snippet),
        "link": findings_link(&hit.case_id, &hit.episode_id),
    })
}

pub async fn api(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiQuery(asked): ApiQuery<ApiAsked>,
) -> ApiResult<Json<Value>> {
    let terms = parse(&asked.q).map_err(|r| invalid("invalid_query", r.message()))?;
    let found = audited(&state, &who.person.actor(), &terms).await?;
    let mut results: Vec<(Millis, Value)> = found
        .messages
        .iter()
        .map(|h| (h.created_at, hit_json(h)))
        .chain(found.findings.iter().map(|h| (h.at, findings_json(h))))
        .collect();
    results.sort_by_key(|r| std::cmp::Reverse(r.0));
    Ok(Json(json!({
        "results": results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "has_more": found.more,
    })))
}
