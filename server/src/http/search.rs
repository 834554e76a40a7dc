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
use super::meetings::Fields;
use super::session::SignedIn;
use crate::domain::access::Actor;
use crate::domain::search::{MAX_RESULTS, Terms, message_link, parse, plain_snippet};
use crate::store::search::{self, MessageHit};
use crate::web::search_pages::{ResultRow, SearchPage};

/// Search and record that it was made.
async fn audited(
    state: &AppState,
    actor: &Actor,
    terms: &Terms,
) -> AppResult<(Vec<MessageHit>, bool)> {
    let now = state.now();
    let (hits, more) = search::messages(&state.db, actor, terms, MAX_RESULTS, now).await?;
    search::record(&state.db, actor, terms, &hits, now).await?;
    Ok((hits, more))
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
                let (hits, more) = audited(&state, &who.person.actor(), &terms).await?;
                page.results = Some(hits.iter().map(ResultRow::of).collect());
                page.more = more;
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

pub async fn api(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiQuery(asked): ApiQuery<ApiAsked>,
) -> ApiResult<Json<Value>> {
    let terms = parse(&asked.q).map_err(|r| invalid("invalid_query", r.message()))?;
    let (hits, more) = audited(&state, &who.person.actor(), &terms).await?;
    Ok(Json(json!({
        "results": hits.iter().map(hit_json).collect::<Vec<_>>(),
        "has_more": more,
    })))
}
