//! The auditor's search of the audit log, and its CSV and JSON exports
//! (issue 6, items 5, 6 and 8). Auditors only: anyone else gets "not found",
//! as for any page they may not see. Every search and export is itself an
//! audit event (`audit.searched`, `audit.exported`) naming what was asked
//! for, as ids: nothing typed into the form is kept.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::session::SignedIn;
use crate::calendar::from_london_local;
use crate::domain::audit::{Auditor, authorize_auditor};
use crate::domain::clock::Millis;
use crate::store::audit::{self, NewEvent};
use crate::store::audit_search::{self, Filter, Found};
use crate::store::{agencies, break_glass};
use crate::web::audit_pages::{
    AuditPage, CheckpointRow, EventRow, SearchValues, london_rfc3339, utc_rfc3339,
};
use crate::web::meeting_pages::Choice;

/// Events per page of results.
const PAGE: i64 = 100;
/// The most events one export holds.
pub const EXPORT_MAX: i64 = 100_000;

pub(super) fn auditor_of(who: &SignedIn) -> AppResult<Auditor> {
    authorize_auditor(&who.person.actor()).ok_or(AppError::NotFound)
}

/// The search as the query string carries it. Every field is text, so a
/// malformed value is reported on the page rather than rejected blindly.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    case: String,
    person: String,
    agency: String,
    from: String,
    to: String,
    action: String,
    before: String,
}

impl SearchQuery {
    /// The search without its paging, as a query string.
    fn to_query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("case", &self.case),
            ("person", &self.person),
            ("agency", &self.agency),
            ("from", &self.from),
            ("to", &self.to),
            ("action", &self.action),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

/// A search made ready to run.
struct Resolved {
    filter: Filter,
    before: Option<i64>,
    /// Set when part of the search matched nothing to look in.
    notice: Option<String>,
}

fn london_day_start(
    text: &str,
    field: &str,
) -> Result<Option<(Millis, chrono::NaiveDate)>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("The {field} date must be a real date, like 2026-11-24"))?;
    let at = from_london_local(day.and_time(chrono::NaiveTime::MIN)).map_err(|e| e.to_string())?;
    Ok(Some((at, day)))
}

async fn resolve(state: &AppState, auditor: &Auditor, q: &SearchQuery) -> Result<Resolved, String> {
    let mut filter = Filter::default();
    let mut notice = None;
    let from = london_day_start(&q.from, "from")?;
    let to = london_day_start(&q.to, "to")?;
    if let (Some((_, f)), Some((_, t))) = (&from, &to)
        && f > t
    {
        return Err("The from date must be on or before the to date".into());
    }
    filter.from = from.map(|(at, _)| at);
    if let Some((_, day)) = to {
        let next = day
            .succ_opt()
            .ok_or_else(|| "The to date is too far in the future".to_string())?;
        filter.until = Some(
            from_london_local(next.and_time(chrono::NaiveTime::MIN)).map_err(|e| e.to_string())?,
        );
    }
    let before = match q.before.trim() {
        "" => None,
        b => Some(
            b.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| "That page of results does not exist".to_string())?,
        ),
    };
    let action = q.action.trim();
    if action.len() > 100 {
        return Err("Choose an action from the list".into());
    }
    if !action.is_empty() {
        filter.action = Some(action.to_string());
    }
    let agency = q.agency.trim();
    if !agency.is_empty() {
        let known = agencies::list(&state.db)
            .await
            .map_err(|_| "The agencies could not be listed; try again".to_string())?;
        if !known.iter().any(|a| a.id == agency) {
            return Err("Choose an agency from the list".into());
        }
        filter.agency_id = Some(agency.to_string());
    }
    let case = q.case.trim();
    if case.len() > 100 {
        return Err("A case reference looks like CF-7K3M9Q".into());
    }
    if !case.is_empty() {
        match audit_search::case_id_by_reference(&state.db, auditor, case).await {
            Ok(Some(id)) => filter.case_id = Some(id),
            Ok(None) => {
                notice = Some(format!("No case has the reference {case}."));
                filter.case_id = Some(String::new());
            }
            Err(_) => return Err("The search failed; try again".into()),
        }
    }
    let person = q.person.trim();
    if person.chars().count() > 200 {
        return Err("Enter an email address or part of a name".into());
    }
    if !person.is_empty() {
        let ids = audit_search::people_matching(&state.db, auditor, person)
            .await
            .map_err(|_| "The search failed; try again".to_string())?;
        if ids.is_empty() {
            notice = Some("Nobody's email or name matches that.".into());
        } else if ids.len() as i64 >= audit_search::MAX_PEOPLE {
            return Err("That matches too many people: enter more of the name".into());
        }
        filter.actor_ids = Some(ids);
    }
    Ok(Resolved {
        filter,
        before,
        notice,
    })
}

/// What a search asked for, for its own audit event: ids, never typed text.
fn described(filter: &Filter, before: Option<i64>, count: usize) -> serde_json::Value {
    serde_json::json!({
        "case_id": filter.case_id,
        "person_ids": filter.actor_ids,
        "agency_id": filter.agency_id,
        "from": filter.from,
        "until": filter.until,
        "action": filter.action,
        "before": before,
        "events": count,
    })
}

async fn record(
    state: &AppState,
    auditor: &Auditor,
    action: &str,
    filter: &Filter,
    detail: serde_json::Value,
) -> AppResult<()> {
    audit::record(
        &state.db,
        state.now(),
        NewEvent {
            actor_id: Some(auditor.person_id()),
            actor_label: auditor.name(),
            action,
            case_id: filter.case_id.as_deref().filter(|c| !c.is_empty()),
            subject: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// GET /audit: the search form and a page of results, newest first.
pub async fn search(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<SearchQuery>,
) -> AppResult<Response> {
    let auditor = auditor_of(&who)?;
    let resolved = resolve(&state, &auditor, &q).await;
    let agencies = agencies::list(&state.db).await?;
    let actions = audit_search::actions(&state.db, &auditor).await?;
    let mut page = AuditPage {
        chrome: who.chrome(&state),
        values: SearchValues {
            case: q.case.trim().to_string(),
            person: q.person.trim().to_string(),
            from: q.from.trim().to_string(),
            to: q.to.trim().to_string(),
        },
        agencies: agencies
            .into_iter()
            .map(|a| Choice {
                checked: a.id == q.agency.trim(),
                value: a.id,
                label: a.name,
                hint: String::new(),
            })
            .collect(),
        actions: actions
            .into_iter()
            .map(|a| Choice {
                checked: a == q.action.trim(),
                label: a.clone(),
                value: a,
                hint: String::new(),
            })
            .collect(),
        error: None,
        notice: None,
        rows: Vec::new(),
        query: q.to_query_string(),
        older: None,
        paged: false,
        checkpoints: audit::recent_checkpoints(&state.db, 5)
            .await?
            .iter()
            .map(CheckpointRow::from)
            .collect(),
        awaiting_review: break_glass::list(&state.db, &auditor, 1000)
            .await?
            .iter()
            .filter(|o| o.reviewed_at.is_none())
            .count(),
    };
    let resolved = match resolved {
        Ok(r) => r,
        Err(why) => {
            page.error = Some(why);
            return Ok((http::StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
        }
    };
    let mut found = audit_search::search(
        &state.db,
        &auditor,
        &resolved.filter,
        resolved.before,
        PAGE + 1,
    )
    .await?;
    if found.len() as i64 > PAGE {
        found.truncate(PAGE as usize);
        page.older = found.last().map(|f| f.seq);
    }
    record(
        &state,
        &auditor,
        "audit.searched",
        &resolved.filter,
        described(&resolved.filter, resolved.before, found.len()),
    )
    .await?;
    page.rows = found.iter().map(EventRow::from).collect();
    page.notice = resolved.notice;
    page.paged = resolved.before.is_some();
    Ok(Html(page.render()?).into_response())
}

/// Every event a search matches, newest first, for an export.
async fn everything(
    state: &AppState,
    auditor: &Auditor,
    q: &SearchQuery,
) -> AppResult<(Filter, Vec<Found>)> {
    let resolved = resolve(state, auditor, q)
        .await
        .map_err(AppError::BadRequest)?;
    let filter = resolved.filter;
    let total = audit_search::count(&state.db, auditor, &filter).await?;
    if total > EXPORT_MAX {
        return Err(AppError::BadRequest(format!(
            "{total} events match, more than the {EXPORT_MAX} one export may hold: narrow the dates and export in parts."
        )));
    }
    let mut all: Vec<Found> = Vec::new();
    let mut before = resolved.before;
    loop {
        let page = audit_search::search(&state.db, auditor, &filter, before, 1000).await?;
        let done = page.len() < 1000;
        before = page.last().map(|f| f.seq);
        all.extend(page);
        if done || all.len() as i64 >= EXPORT_MAX {
            break;
        }
    }
    Ok((filter, all))
}

/// The exported fields, in CSV column order; JSON objects use the same names.
pub const COLUMNS: [&str; 12] = [
    "seq",
    "at_utc",
    "at_london",
    "actor_id",
    "actor_name",
    "actor_agency",
    "action",
    "case_id",
    "case_reference",
    "subject",
    "detail",
    "hash",
];

/// One event's exported fields, in [`COLUMNS`] order.
fn exported(f: &Found) -> [String; 12] {
    [
        f.seq.to_string(),
        utc_rfc3339(f.at),
        london_rfc3339(f.at),
        f.actor_id.clone().unwrap_or_default(),
        f.actor_label.clone(),
        f.actor_agency.clone().unwrap_or_default(),
        f.action.clone(),
        f.case_id.clone().unwrap_or_default(),
        f.case_reference.clone().unwrap_or_default(),
        f.subject.clone().unwrap_or_default(),
        f.detail.clone(),
        f.hash.clone(),
    ]
}

/// One CSV field (RFC 4180). A field that a spreadsheet would run as a
/// formula gets a leading apostrophe (OWASP's advice on CSV injection).
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn attachment(state: &AppState, content_type: &'static str, ext: &str, body: String) -> Response {
    let stamp = chrono::DateTime::from_timestamp_millis(state.now())
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ");
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"confer-audit-{stamp}.{ext}\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// GET /audit/export.csv: every matching event, with a header row.
pub async fn export_csv(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<SearchQuery>,
) -> AppResult<Response> {
    let auditor = auditor_of(&who)?;
    let (filter, found) = everything(&state, &auditor, &q).await?;
    let mut body = COLUMNS.join(",");
    body.push_str("\r\n");
    for f in &found {
        let fields: Vec<String> = exported(f).iter().map(|v| csv_field(v)).collect();
        body.push_str(&fields.join(","));
        body.push_str("\r\n");
    }
    let mut detail = described(&filter, None, found.len());
    detail["format"] = "csv".into();
    record(&state, &auditor, "audit.exported", &filter, detail).await?;
    Ok(attachment(&state, "text/csv; charset=utf-8", "csv", body))
}

/// GET /audit/export.json: every matching event, as a JSON array.
pub async fn export_json(
    State(state): State<AppState>,
    who: SignedIn,
    Query(q): Query<SearchQuery>,
) -> AppResult<Response> {
    let auditor = auditor_of(&who)?;
    let (filter, found) = everything(&state, &auditor, &q).await?;
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|f| {
            let mut o = serde_json::Map::new();
            for (k, v) in COLUMNS.iter().zip(exported(f)) {
                let value = match *k {
                    "seq" => serde_json::Value::from(f.seq),
                    // The detail is JSON already: keep it as an object.
                    "detail" => serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v)),
                    "actor_id" | "actor_agency" | "case_id" | "case_reference" | "subject"
                        if v.is_empty() =>
                    {
                        serde_json::Value::Null
                    }
                    _ => serde_json::Value::String(v),
                };
                o.insert((*k).to_string(), value);
            }
            serde_json::Value::Object(o)
        })
        .collect();
    let body = serde_json::to_string_pretty(&rows)
        .map_err(|e| AppError::Internal(format!("export: {e}")))?;
    let mut detail = described(&filter, None, found.len());
    detail["format"] = "json".into();
    record(&state, &auditor, "audit.exported", &filter, detail).await?;
    Ok(attachment(&state, "application/json", "json", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(r#"{"a":1,"b":2}"#), r#""{""a"":1,""b"":2}""#);
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }

    #[test]
    fn the_query_string_keeps_the_search_not_the_page() {
        let q = SearchQuery {
            case: " CF-ABC234 ".into(),
            person: "Alex Morgan".into(),
            before: "10".into(),
            ..SearchQuery::default()
        };
        assert_eq!(q.to_query_string(), "case=CF-ABC234&person=Alex+Morgan");
    }
}
