//! The auditor's search of information-sharing records across cases, and
//! its CSV and JSON exports with the same filters. Auditors only; every
//! search and export is audited with its filters.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::AppState;
use super::error::{AppError, AppResult};
use super::form::Fields;
use super::session::SignedIn;
use super::sharing_export;
use crate::calendar;
use crate::domain::clock::Millis;
use crate::domain::sharing_records::{Refusal, SharingAuditor, authorize_sharing_search};
use crate::store::audit::{self, NewEvent};
use crate::store::sharing_search::{self, Filter, SharingRecord};
use crate::web::sharing_pages::{FormError, RecordRow, SharingSearchPage};

/// Results on the page; the exports take up to [`EXPORT_LIMIT`].
const PAGE_LIMIT: i64 = 200;
const EXPORT_LIMIT: i64 = 100_000;

fn auditor(who: &SignedIn) -> AppResult<SharingAuditor> {
    authorize_sharing_search(&who.person.id, who.person.role).ok_or_else(|| {
        AppError::Forbidden(
            "Only information-governance auditors can search sharing records across cases. \
             A case's own records are on its \"Who knows what\" page."
                .into(),
        )
    })
}

/// The form's fields as typed.
struct Asked {
    case_reference: String,
    person: String,
    agency_id: String,
    from: String,
    to: String,
    searched: bool,
}

impl Asked {
    fn parse(query: &Option<String>) -> Asked {
        let f = Fields::parse(query.as_deref().unwrap_or_default().as_bytes());
        Asked {
            case_reference: f.get("case").trim().to_string(),
            person: f.get("person").trim().to_string(),
            agency_id: f.get("agency").trim().to_string(),
            from: f.get("from").trim().to_string(),
            to: f.get("to").trim().to_string(),
            searched: query.as_deref().is_some_and(|q| !q.is_empty()),
        }
    }

    /// The filter, or which field is wrong.
    fn filter(&self) -> Result<Filter, Refusal> {
        let day =
            |text: &str, field: &'static str, next: bool| -> Result<Option<Millis>, Refusal> {
                if text.is_empty() {
                    return Ok(None);
                }
                let refuse = || Refusal {
                    field,
                    message: "Enter the date like 2026-11-24.".into(),
                };
                let date =
                    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| refuse())?;
                let date = if next {
                    date.succ_opt().ok_or_else(refuse)?
                } else {
                    date
                };
                let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(refuse)?;
                calendar::from_london_local(midnight)
                    .map(Some)
                    .map_err(|_| refuse())
            };
        let from = day(&self.from, "from", false)?;
        let until = day(&self.to, "to", true)?;
        if let (Some(f), Some(u)) = (from, until)
            && u <= f
        {
            return Err(Refusal {
                field: "to",
                message: "The end date must be on or after the start date.".into(),
            });
        }
        if self.person.chars().count() > 200 || self.case_reference.chars().count() > 40 {
            return Err(Refusal {
                field: "person",
                message: "Search for a shorter name or reference.".into(),
            });
        }
        let some = |t: &str| Some(t.to_string()).filter(|t| !t.is_empty());
        Ok(Filter {
            case_reference: some(&self.case_reference),
            person: some(&self.person),
            agency_id: some(&self.agency_id),
            from,
            until,
        })
    }

    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("case", &self.case_reference)
            .append_pair("person", &self.person)
            .append_pair("agency", &self.agency_id)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .finish()
    }
}

async fn audited_search(
    state: &AppState,
    who: &SignedIn,
    auditor: &SharingAuditor,
    filter: &Filter,
    limit: i64,
    what: &str,
) -> AppResult<(Vec<SharingRecord>, bool)> {
    let now = state.now();
    let (records, more) = sharing_search::search(&state.db, auditor, filter, limit, now).await?;
    audit::record(
        &state.db,
        now,
        NewEvent {
            actor_id: Some(&who.person.id),
            actor_label: &who.person.name,
            action: what,
            case_id: None,
            subject: None,
            detail: json!({
                "case_reference": filter.case_reference,
                "person": filter.person,
                "agency_id": filter.agency_id,
                "from": filter.from,
                "until": filter.until,
                "results": records.len(),
            }),
        },
    )
    .await?;
    Ok((records, more))
}

pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let auditor = auditor(&who)?;
    let asked = Asked::parse(&query);
    let mut page = SharingSearchPage {
        chrome: who.chrome(&state),
        case_reference: asked.case_reference.clone(),
        person: asked.person.clone(),
        agency_id: asked.agency_id.clone(),
        from: asked.from.clone(),
        to: asked.to.clone(),
        agencies: sharing_search::agencies(&state.db).await?,
        error: None,
        results: None,
        more: false,
        query: asked.query(),
    };
    if asked.searched {
        match asked.filter() {
            Ok(filter) => {
                let (records, more) = audited_search(
                    &state,
                    &who,
                    &auditor,
                    &filter,
                    PAGE_LIMIT,
                    "sharing.searched",
                )
                .await?;
                page.results = Some(records.iter().map(RecordRow::of).collect());
                page.more = more;
            }
            Err(r) => {
                page.error = Some(FormError {
                    field: r.field.to_string(),
                    message: r.message,
                });
                return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
            }
        }
    }
    Ok(Html(page.render()?).into_response())
}

async fn export(
    state: &AppState,
    who: &SignedIn,
    query: &Option<String>,
) -> AppResult<(Filter, Vec<SharingRecord>)> {
    let auditor = auditor(who)?;
    let filter = Asked::parse(query)
        .filter()
        .map_err(|r| AppError::BadRequest(r.message))?;
    let (records, _) = audited_search(
        state,
        who,
        &auditor,
        &filter,
        EXPORT_LIMIT,
        "sharing.exported",
    )
    .await?;
    Ok((filter, records))
}

pub async fn csv(
    State(state): State<AppState>,
    who: SignedIn,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let (_, records) = export(&state, &who, &query).await?;
    Ok(sharing_export::download(
        sharing_export::csv(&records),
        "text/csv; charset=utf-8",
        "sharing-records.csv",
    ))
}

pub async fn json(
    State(state): State<AppState>,
    who: SignedIn,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let (filter, records) = export(&state, &who, &query).await?;
    let about = json!({
        "case_reference": filter.case_reference,
        "person": filter.person,
        "agency_id": filter.agency_id,
        "from": filter.from.map(crate::domain::clock::rfc3339),
        "until": filter.until.map(crate::domain::clock::rfc3339),
    });
    let doc = sharing_export::json_document(&records, about, state.now());
    Ok(sharing_export::download(
        doc.to_string(),
        "application/json",
        "sharing-records.json",
    ))
}
