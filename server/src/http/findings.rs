//! Findings of a return home interview: the case team's page (read, record
//! or change, share with named people) and a recipient's page (read,
//! acknowledge). Restricted entries are shown only to those who may read
//! them; everyone else sees that an entry is withheld and why.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;

use super::AppState;
use super::case_form::{CaseView, case_form, invalid, show};
use super::error::AppResult;
use super::form::Fields;
use super::session::SignedIn;
use crate::domain::findings::{EntryKind, Indicators, Reader, findings_allowed};
use crate::store::findings::{self, Entry, Findings, FindingsText, NewFindings};
use crate::store::findings_sharing;
use crate::store::rhi::may_manage_interview;
use crate::store::{StoreError, cases, missing};
use crate::web::findings_pages::{
    EntryRow, EntryView, FindingsForm, FindingsPage, FindingsView, ShareRow, SharedFindingsPage,
};
use crate::web::templates::when;

/// Empty rows offered for new entries below the recorded ones.
const SPARE_ROWS: usize = 3;
/// Entry rows the form reads at most.
const MAX_ROWS: usize = crate::domain::findings::MAX_ENTRIES;

/// The findings as this reader may see them.
pub(super) fn view(f: &Findings, reader: Reader) -> FindingsView {
    let rows = FindingsText::FIELDS
        .iter()
        .zip(f.text.values())
        .filter(|(_, v)| !v.is_empty())
        .map(|((_, label, _), v)| (label.to_string(), v.to_string()))
        .collect();
    FindingsView {
        rows,
        indicators: f.indicators.words(),
        risk: f.risk.label().to_string(),
        entries: f
            .entries
            .iter()
            .map(|e| {
                let hidden = e.restricted && !reader.reads_restricted();
                EntryView {
                    kind: e.kind.label().to_string(),
                    value: if hidden {
                        String::new()
                    } else {
                        e.value.clone()
                    },
                    note: if hidden {
                        String::new()
                    } else {
                        e.note.clone()
                    },
                    restricted: e.restricted,
                    withheld: hidden.then(|| e.restriction_reason.clone()),
                }
            })
            .collect(),
        recorded: format!("by {} on {}", f.recorded_by_name, when(f.recorded_at)),
    }
}

fn form_of(f: Option<&Findings>) -> FindingsForm {
    let mut form = FindingsForm::default();
    if let Some(f) = f {
        form = FindingsForm {
            push_factors: f.text.push_factors.clone(),
            pull_factors: f.text.pull_factors.clone(),
            where_child_was: f.text.where_child_was.clone(),
            who_with: f.text.who_with.clone(),
            sexual: f.indicators.sexual,
            criminal: f.indicators.criminal,
            county_lines: f.indicators.county_lines,
            other: f.indicators.other,
            harm: f.text.harm.clone(),
            child_wishes: f.text.child_wishes.clone(),
            wants_next: f.text.wants_next.clone(),
            risk: f.risk.as_str().to_string(),
            free_text: f.text.free_text.clone(),
            entries: f
                .entries
                .iter()
                .enumerate()
                .map(|(n, e)| EntryRow {
                    n,
                    kind: e.kind.as_str().to_string(),
                    value: e.value.clone(),
                    note: e.note.clone(),
                    restricted: e.restricted,
                    reason: e.restriction_reason.clone(),
                })
                .collect(),
        };
    }
    let n = form.entries.len();
    form.entries.extend((n..n + SPARE_ROWS).map(|n| EntryRow {
        n,
        ..EntryRow::default()
    }));
    form
}

/// The form as posted, for showing it again with the error.
fn form_posted(f: &Fields) -> FindingsForm {
    let ind = f.all("indicator");
    let has = |v: &str| ind.iter().any(|i| i == v);
    let mut entries: Vec<EntryRow> = (0..MAX_ROWS)
        .map(|n| EntryRow {
            n,
            kind: f.get(&format!("entry_kind_{n}")),
            value: f.get(&format!("entry_value_{n}")),
            note: f.get(&format!("entry_note_{n}")),
            restricted: f.get(&format!("entry_restricted_{n}")) == "yes",
            reason: f.get(&format!("entry_reason_{n}")),
        })
        .filter(|e| !e.kind.is_empty() || !e.value.trim().is_empty())
        .collect();
    for (n, e) in entries.iter_mut().enumerate() {
        e.n = n;
    }
    let n = entries.len();
    entries.extend((n..n + SPARE_ROWS).map(|n| EntryRow {
        n,
        ..EntryRow::default()
    }));
    FindingsForm {
        push_factors: f.get("push_factors"),
        pull_factors: f.get("pull_factors"),
        where_child_was: f.get("where_child_was"),
        who_with: f.get("who_with"),
        sexual: has("sexual"),
        criminal: has("criminal"),
        county_lines: has("county_lines"),
        other: has("other"),
        harm: f.get("harm"),
        child_wishes: f.get("child_wishes"),
        wants_next: f.get("wants_next"),
        risk: f.get("risk"),
        free_text: f.get("free_text"),
        entries,
    }
}

/// Read the posted findings; an entry row with a kind and no value (or the
/// reverse), an unknown kind, indicator or risk is refused.
fn parse(f: &Fields) -> Result<NewFindings, String> {
    let mut indicators = Indicators::default();
    for i in f.all("indicator") {
        match i.as_str() {
            "sexual" => indicators.sexual = true,
            "criminal" => indicators.criminal = true,
            "county_lines" => indicators.county_lines = true,
            "other" => indicators.other = true,
            _ => return Err("Choose indicators from the list.".into()),
        }
    }
    let risk = match f.get("risk").as_str() {
        "" => None,
        r => Some(
            r.parse()
                .map_err(|_| "Choose low, medium or high risk.".to_string())?,
        ),
    };
    let mut entries = Vec::new();
    for n in 0..MAX_ROWS {
        let kind = f.get(&format!("entry_kind_{n}"));
        let value = f.get(&format!("entry_value_{n}"));
        if kind.is_empty() && value.trim().is_empty() {
            continue;
        }
        let kind: EntryKind = kind
            .parse()
            .map_err(|_| format!("Choose the kind of entry {}.", n + 1))?;
        entries.push(Entry {
            kind,
            value,
            note: f.get(&format!("entry_note_{n}")),
            restricted: f.get(&format!("entry_restricted_{n}")) == "yes",
            restriction_reason: f.get(&format!("entry_reason_{n}")),
        });
    }
    if f.has(&format!("entry_kind_{MAX_ROWS}")) || f.has(&format!("entry_value_{MAX_ROWS}")) {
        return Err(format!("At most {MAX_ROWS} entries."));
    }
    let text = FindingsText::try_from_fn(|column| Ok::<_, String>(f.get(column)))?;
    Ok(NewFindings {
        text,
        indicators,
        risk,
        entries,
    })
}

/// The case team's findings page.
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    show(&state, &who, &case_id, |v| {
        render(v, &episode_id, None, None)
    })
    .await
}

async fn render(
    v: CaseView<'_>,
    episode_id: &str,
    posted: Option<&Fields>,
    error: Option<String>,
) -> AppResult<String> {
    let (state, who, now) = (v.state, v.who, v.now);
    let interview = missing::interview_of(&state.db, &v.access, episode_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let recorded = findings::of_interview(&state.db, &v.access, &interview.id).await?;
    let reader = findings::reader(&state.db, &v.actor, &v.access, &interview).await?;
    let not_yet = findings_allowed(
        interview.outcome,
        interview.carers_offered,
        &interview.carers_contribution,
    )
    .err();
    let can_record =
        not_yet.is_none() && may_manage_interview(&state.db, &v.actor, &interview).await?;
    let shares = match &recorded {
        Some(f) => findings_sharing::of_findings(&state.db, &v.access, &f.id)
            .await?
            .into_iter()
            .map(|s| ShareRow {
                name: s.person_name,
                agency: s.agency_name,
                shared: format!("{} by {}", when(s.shared_at), s.shared_by_name),
                lawful_basis: s.lawful_basis,
                released: s.release_restricted,
                acknowledged: s
                    .acknowledged_at
                    .map(when)
                    .unwrap_or_else(|| "Not yet".into()),
            })
            .collect(),
        None => Vec::new(),
    };
    let page = FindingsPage {
        chrome: who.chrome(state),
        case_id: v.case.id.clone(),
        case_reference: v.case.reference.clone(),
        child_name: v.case.child_name.clone(),
        episode_id: episode_id.to_string(),
        findings: recorded.as_ref().map(|f| view(f, reader)),
        not_yet,
        can_record,
        // Only holders edit, and they read every entry; others get no form.
        form: match posted {
            Some(p) => form_posted(p),
            None => form_of(recorded.as_ref()),
        },
        shares,
        error,
    };
    cases::record_read(
        &state.db,
        &v.actor,
        &v.access,
        now,
        "return home interview findings",
    )
    .await?;
    Ok(page.render()?)
}

/// The findings page's address, at `anchor`.
fn back(case_id: &str, episode_id: &str, anchor: &str) -> String {
    format!("/cases/{case_id}/missing/{episode_id}/findings#{anchor}")
}

/// Record the findings, or change them.
pub async fn record(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let f = &c.f;
    let result = async {
        let new = invalid(parse(f))?;
        findings::save(&state.db, &c.actor, &c.access, &episode_id, c.now, new).await
    }
    .await;
    c.settle(
        result,
        |_| back(&case_id, &episode_id, "findings"),
        |v, m| render(v, &episode_id, Some(f), Some(m)),
    )
    .await
}

/// Share the findings with named people.
pub async fn share(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, episode_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let c = case_form(&state, &who, &case_id, &body).await?;
    let (f, actor, now, access) = (&c.f, &c.actor, c.now, &c.access);
    let interview = missing::interview_of(&state.db, access, &episode_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let release = f.get("release_restricted") == "yes";
    let emails = f.all("recipient");
    let result =
        findings_sharing::share(&state.db, actor, access, &interview, &emails, release, now).await;
    if let Ok(ids) = &result {
        let base = state.link_base();
        let case = cases::get(&state.db, access).await?;
        for (id, email) in ids {
            super::meeting_mail::remind(
                &state,
                email,
                format!(
                    "Return home interview findings to read — case {}",
                    case.reference
                ),
                format!(
                    "{} has shared the findings of a return home interview (case {}) with you. \
                     Please read them and acknowledge that you have:\n{base}/findings/{id}",
                    who.person.name, case.reference
                ),
            );
        }
    }
    c.settle(
        result,
        |_| back(&case_id, &episode_id, "shares"),
        |v, m| render(v, &episode_id, None, Some(m)),
    )
    .await
}

/// A recipient's page: the findings shared with them and the acknowledgement.
pub async fn shared(
    State(state): State<AppState>,
    who: SignedIn,
    Path(share_id): Path<String>,
) -> AppResult<Html<String>> {
    Ok(Html(render_shared(&state, &who, &share_id, None).await?))
}

async fn render_shared(
    state: &AppState,
    who: &SignedIn,
    share_id: &str,
    error: Option<String>,
) -> AppResult<String> {
    let actor = who.person.actor();
    let (share, f) = findings_sharing::for_recipient(&state.db, &actor, share_id).await?;
    let page = SharedFindingsPage {
        chrome: who.chrome(state),
        share_id: share.id.clone(),
        case_reference: share.case_reference.clone(),
        shared_by: share.shared_by_name.clone(),
        shared: when(share.shared_at),
        findings: view(
            &f,
            Reader::Recipient {
                released: share.release_restricted,
            },
        ),
        acknowledged: share.acknowledged_at.map(when),
        error,
    };
    findings_sharing::record_read(&state.db, &actor, &share, state.now()).await?;
    Ok(page.render()?)
}

/// The recipient acknowledges having read the findings.
pub async fn acknowledge(
    State(state): State<AppState>,
    who: SignedIn,
    Path(share_id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let f = Fields::parse(&body);
    who.check_csrf(&f.get("csrf_token"))?;
    let actor = who.person.actor();
    match findings_sharing::acknowledge(&state.db, &actor, &share_id, state.now()).await {
        Ok(()) => Ok(Redirect::to(&format!("/findings/{share_id}#acknowledged")).into_response()),
        Err(StoreError::Invalid(m)) => {
            let html = render_shared(&state, &who, &share_id, Some(m)).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
