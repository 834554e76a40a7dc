//! The consent register's pages (they work without JavaScript): the case's
//! basis for everyday sharing, its consent records with their history,
//! changes, overrides ("share anyway") and their approval. Any case member
//! may record consent; nobody outside the case learns anything (404).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;

use super::AppState;
use super::error::{AppError, AppResult};
use super::meetings::Fields;
use super::session::SignedIn;
use crate::domain::access::CaseAccess;
use crate::domain::consent::{
    Change, Circumstances, ConsentState, Evidence, NotSoughtReason, Relationship,
};
use crate::domain::sharing::{LawfulBasis, Scope};
use crate::domain::vocabulary::AgencyKind;
use crate::domain::withholding::authorize_sharing_defaults;
use crate::realtime::hub::Outbound;
use crate::store::consent::{self, NewRecord, Proposal, Record};
use crate::store::sharing_state::{self, Snapshot, not_sought_text};
use crate::store::withholding::Released;
use crate::store::{StoreError, cases, messages, overrides};
use crate::web::consent_pages::{
    BasisView, ConsentPage, ConsentRecordPage, Draft, OverrideRow, RecordRow, SharedRow, VersionRow,
};
use crate::web::meeting_pages::Choice;
use crate::web::templates::when;

fn choice(value: &str, label: &str, checked: bool, hint: &str) -> Choice {
    Choice {
        value: value.into(),
        label: label.into(),
        checked,
        hint: hint.into(),
    }
}

/// The GOV.UK tag colour for a state.
fn tag(state: Option<ConsentState>) -> &'static str {
    match state {
        Some(ConsentState::Given) => "green",
        Some(ConsentState::Refused) => "red",
        Some(ConsentState::Withdrawn) => "orange",
        Some(ConsentState::Sought) => "blue",
        Some(ConsentState::NotSought) | None => "grey",
    }
}

fn state_label(state: Option<ConsentState>) -> String {
    state.map_or("Not recorded".into(), |s| {
        let l = s.label();
        let mut c = l.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    })
}

const STATE_HINTS: &[(ConsentState, &str)] = &[
    (ConsentState::Sought, "Asked, no answer yet"),
    (
        ConsentState::Given,
        "Agreed: record how (verbal or written) and the evidence",
    ),
    (
        ConsentState::Refused,
        "Said no: automatic sharing with the agencies it covers stops until an override",
    ),
    (
        ConsentState::Withdrawn,
        "Agreed before, no longer: sharing stops at once and earlier recipients are told",
    ),
    (ConsentState::NotSought, "Not asked, for a recorded reason"),
];

fn state_choices(allowed: impl Fn(ConsentState) -> bool, chosen: &str) -> Vec<Choice> {
    STATE_HINTS
        .iter()
        .filter(|(s, _)| allowed(*s))
        .map(|(s, hint)| {
            choice(
                s.as_str(),
                &state_label(Some(*s)),
                chosen == s.as_str(),
                hint,
            )
        })
        .collect()
}

fn evidence_choices(chosen: &str) -> Vec<Choice> {
    [("verbal", "Verbally"), ("written", "In writing")]
        .iter()
        .map(|(v, l)| choice(v, l, chosen == *v, ""))
        .collect()
}

fn reason_choices(chosen: &str) -> Vec<Choice> {
    [
        "would_place_child_at_risk",
        "would_prejudice_police_investigation",
        "could_not_be_obtained_in_time",
    ]
    .iter()
    .map(|code| {
        let text = not_sought_text(code, "");
        let mut c = text.chars();
        let label = c
            .next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default();
        choice(code, &label, chosen == *code, "")
    })
    .chain(std::iter::once(choice(
        "other",
        "Another reason (write it in the evidence box)",
        chosen == "other",
        "",
    )))
    .collect()
}

fn gillick_choices(chosen: &str) -> Vec<Choice> {
    [
        ("yes", "Yes, competent"),
        ("no", "No, not competent"),
        ("not_assessed", "Not assessed"),
    ]
    .iter()
    .map(|(v, l)| choice(v, l, chosen == *v, ""))
    .collect()
}

fn basis_choices(chosen: LawfulBasis, with_consent: bool) -> Vec<Choice> {
    LawfulBasis::ALL
        .iter()
        .filter(|b| with_consent || **b != LawfulBasis::Consent)
        .map(|b| choice(b.as_str(), b.label(), *b == chosen, b.citation()))
        .collect()
}

/// The case's basis and what is held back, for the case page and the register.
pub(super) fn basis_view(snapshot: &Snapshot, records: &[Record]) -> BasisView {
    let held_back = snapshot
        .blocked()
        .into_iter()
        .map(|(kind, record_id)| {
            let whose = records
                .iter()
                .find(|r| r.id == record_id)
                .map(|r| {
                    format!(
                        ": consent {} ({})",
                        r.state().map_or("refused", ConsentState::label),
                        r.relationship.label().to_lowercase()
                    )
                })
                .unwrap_or_else(|| ": consent refused or withdrawn".into());
            format!("{}{whose}", kind.label())
        })
        .collect();
    BasisView {
        label: snapshot.lawful_basis.label().into(),
        citation: snapshot.lawful_basis.citation().into(),
        purpose: snapshot.purpose.clone(),
        held_back,
    }
}

fn draft_of(f: &Fields) -> Draft {
    Draft {
        subject_name: f.get("subject_name"),
        relationship: f.get("relationship"),
        purpose: f.get("purpose"),
        scope_all: f.get("scope") != "kinds",
        kinds: f.all("kinds"),
        state: f.get("state"),
        evidence: f.get("evidence"),
        detail: f.get("detail"),
        not_sought_reason: f.get("not_sought_reason"),
        gillick: f.get("gillick"),
        child_view: f.get("child_view"),
        why: f.get("why"),
    }
}

fn proposal_of(f: &Fields) -> Result<Proposal, String> {
    let change = match f.get("state").as_str() {
        "sought" => Change::Seek,
        "given" => Change::Give {
            evidence: Evidence::parse(&f.get("evidence"))
                .ok_or("Say whether consent was given verbally or in writing.")?,
            detail: f.get("detail"),
        },
        "refused" => Change::Refuse,
        "withdrawn" => Change::Withdraw,
        "not_sought" => Change::NotSeek {
            reason: NotSoughtReason::parse(&f.get("not_sought_reason"), &f.get("detail"))
                .ok_or("Choose why consent was not sought.")?,
        },
        _ => return Err("Choose where consent stands.".into()),
    };
    let gillick_competent = match f.get("gillick").as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    Ok(Proposal {
        change,
        with: Circumstances {
            why: f.get("why"),
            gillick_competent,
            child_view: f.get("child_view"),
        },
    })
}

fn scope_of(f: &Fields) -> Result<Scope, String> {
    if f.get("scope") != "kinds" {
        return Ok(Scope::All);
    }
    let kinds = f.all("kinds");
    if kinds.is_empty() {
        return Err("Choose the kinds of agency the consent covers, or all agencies.".into());
    }
    Scope::parse(&kinds.join(","))
}

async fn authorize(state: &AppState, who: &SignedIn, case_id: &str) -> AppResult<CaseAccess> {
    Ok(cases::authorize(&state.db, &who.person.actor(), case_id, state.now()).await?)
}

/// The register: the basis for sharing, the records, the form to add one.
pub async fn page(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
) -> AppResult<Html<String>> {
    render_register(&state, &who, &case_id, Draft::default(), None, None)
        .await
        .map(Html)
}

async fn render_register(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    draft: Draft,
    error: Option<String>,
    basis_error: Option<String>,
) -> AppResult<String> {
    let actor = who.person.actor();
    let now = state.now();
    let access = authorize(state, who, case_id).await?;
    let case = cases::get(&state.db, &access).await?;
    let snapshot = sharing_state::snapshot(&state.db, access.case_id()).await?;
    let records = consent::list(&state.db, &access).await?;
    cases::record_read(&state.db, &actor, &access, now, "consent register").await?;
    let rows = records
        .iter()
        .map(|r| RecordRow {
            id: r.id.clone(),
            subject: r.subject_name.clone(),
            relationship: r.relationship.label().into(),
            purpose: r.purpose.clone(),
            scope: r.scope.describe(),
            state: state_label(r.state()),
            tag: tag(r.state()),
            updated: r.current().map(|v| when(v.recorded_at)).unwrap_or_default(),
        })
        .collect();
    let relationship = if draft.relationship.is_empty() {
        "child".to_string()
    } else {
        draft.relationship.clone()
    };
    let page = ConsentPage {
        chrome: who.chrome(state),
        case_id: case.id.clone(),
        case_reference: case.reference.clone(),
        child_name: case.child_name.clone(),
        basis: basis_view(&snapshot, &records),
        can_set_basis: authorize_sharing_defaults(&actor, &access, &case.lead_social_worker_id)
            .is_some(),
        bases: basis_choices(snapshot.lawful_basis, true),
        records: rows,
        relationships: Relationship::ALL
            .iter()
            .map(|r| choice(r.as_str(), r.label(), r.as_str() == relationship, ""))
            .collect(),
        kinds: AgencyKind::ALL
            .iter()
            .map(|k| {
                choice(
                    k.as_str(),
                    k.label(),
                    draft.kinds.iter().any(|d| d == k.as_str()),
                    "",
                )
            })
            .collect(),
        // A new record cannot start as withdrawn: only consent given can be.
        first_states: state_choices(|s| s != ConsentState::Withdrawn, &draft.state),
        evidence: evidence_choices(&draft.evidence),
        reasons: reason_choices(&draft.not_sought_reason),
        gillick: gillick_choices(&draft.gillick),
        draft,
        error,
        basis_error,
    };
    Ok(page.render()?)
}

/// Add a consent record with its first state.
pub async fn add_record(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let f = Fields::parse(&body);
    who.check_csrf(&f.get("csrf_token"))?;
    let access = authorize(&state, &who, &case_id).await?;
    let parsed = (|| -> Result<(NewRecord, Proposal), String> {
        let relationship: Relationship = f.get("relationship").parse()?;
        let new = NewRecord {
            subject_name: f.get("subject_name"),
            relationship,
            purpose: f.get("purpose"),
            scope: scope_of(&f)?,
        };
        Ok((new, proposal_of(&f)?))
    })();
    let result = match parsed {
        Ok((new, first)) => {
            consent::add(
                &state.db,
                &access,
                &who.person.actor(),
                &new,
                &first,
                state.now(),
            )
            .await
        }
        Err(m) => Err(StoreError::Invalid(m)),
    };
    match result {
        Ok(id) => {
            state.gates.forget(access.case_id());
            Ok(Redirect::to(&format!("/cases/{case_id}/consent/{id}")).into_response())
        }
        Err(StoreError::Invalid(m)) => {
            let html = render_register(&state, &who, &case_id, draft_of(&f), Some(m), None).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Set the case's default lawful basis and purpose (lead or a manager in the case).
pub async fn set_basis(
    State(state): State<AppState>,
    who: SignedIn,
    Path(case_id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let f = Fields::parse(&body);
    who.check_csrf(&f.get("csrf_token"))?;
    let actor = who.person.actor();
    let access = authorize(&state, &who, &case_id).await?;
    let case = cases::get(&state.db, &access).await?;
    let Some(editor) = authorize_sharing_defaults(&actor, &access, &case.lead_social_worker_id)
    else {
        return Err(AppError::Forbidden(
            "Only the lead social worker or a manager in the case team can change the basis for sharing.".into(),
        ));
    };
    let result = match f.get("lawful_basis").parse::<LawfulBasis>() {
        Ok(basis) => {
            sharing_state::set_defaults(
                &state.db,
                &editor,
                &actor,
                basis,
                &f.get("purpose"),
                state.now(),
            )
            .await
        }
        Err(_) => Err(StoreError::Invalid("Choose a lawful basis.".into())),
    };
    match result {
        Ok(()) => {
            state.gates.forget(access.case_id());
            Ok(Redirect::to(&format!("/cases/{case_id}/consent#basis")).into_response())
        }
        Err(StoreError::Invalid(m)) => {
            let html =
                render_register(&state, &who, &case_id, Draft::default(), None, Some(m)).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// One record: its history, changes, overrides, what was shared under it.
pub async fn record_page(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, record_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    render_record(&state, &who, &case_id, &record_id, RecordErrors::default())
        .await
        .map(Html)
}

/// What a refused form on the record page brings back.
#[derive(Default)]
struct RecordErrors {
    draft: Draft,
    change: Option<String>,
    override_reason: String,
    override_kind: String,
    override_error: Option<String>,
}

fn version_details(v: &consent::Version) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = v.evidence {
        out.push(format!(
            "Given {}: {}",
            if e == Evidence::Written {
                "in writing"
            } else {
                "verbally"
            },
            v.detail
        ));
    }
    if let Some(code) = &v.not_sought_reason {
        out.push(format!("Not sought: {}", not_sought_text(code, &v.detail)));
    }
    match v.gillick_competent {
        Some(true) => out.push("Judged competent (Gillick) to decide".into()),
        Some(false) => out.push("Judged not competent (Gillick) to decide".into()),
        None => {}
    }
    if !v.child_view.is_empty() {
        out.push(format!("The child's view: {}", v.child_view));
    }
    out
}

async fn render_record(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    record_id: &str,
    errors: RecordErrors,
) -> AppResult<String> {
    let actor = who.person.actor();
    let now = state.now();
    let access = authorize(state, who, case_id).await?;
    let case = cases::get(&state.db, &access).await?;
    let record = consent::get(&state.db, &access, record_id).await?;
    cases::record_read(&state.db, &actor, &access, now, "consent record").await?;
    let held_back = consent::held_back(&state.db, &access, record_id).await?;
    let shared = consent::shared_under(&state.db, &access, record_id).await?;
    let can_approve = overrides::approver(&state.db, &access, &actor)
        .await?
        .is_some();
    let current = record.state();
    let version = record.current().map_or(0, |v| v.version);
    let override_rows = overrides::of_case(&state.db, &access)
        .await?
        .into_iter()
        .filter(|o| o.consent_record_id == record.id)
        .map(|o| {
            let stale = o.consent_version != version;
            let (status, tag) = match (o.status.as_str(), stale) {
                ("approved", false) => (
                    format!(
                        "Approved by {} at {}",
                        o.decided_by.clone().unwrap_or_default(),
                        o.decided_at.map(when).unwrap_or_default()
                    ),
                    "green",
                ),
                ("approved", true) => (
                    "Approved, for an earlier version of this record: no longer in force".into(),
                    "grey",
                ),
                ("refused", _) => (
                    format!(
                        "Refused by {} at {}",
                        o.decided_by.clone().unwrap_or_default(),
                        o.decided_at.map(when).unwrap_or_default()
                    ),
                    "red",
                ),
                (_, false) => ("Waiting for a manager's approval".into(), "yellow"),
                (_, true) => ("Asked for an earlier version of this record".into(), "grey"),
            };
            OverrideRow {
                reaches: o
                    .agency_kind
                    .map_or("Every agency the record covers".into(), |k| {
                        k.label().to_string()
                    }),
                basis: o.lawful_basis.label().into(),
                citation: o.lawful_basis.citation().into(),
                reason: o.reason.clone(),
                requested: format!("{} by {}", when(o.requested_at), o.requested_by),
                waiting: o.status == "requested" && !stale,
                status,
                tag,
                id: o.id,
            }
        })
        .collect();
    let kinds: Vec<AgencyKind> = match &record.scope {
        Scope::All => AgencyKind::ALL.to_vec(),
        Scope::Kinds(k) => k.clone(),
    };
    let mut override_kinds = vec![choice(
        "all",
        &format!("Every agency it covers ({})", record.scope.describe()),
        errors.override_kind.is_empty() || errors.override_kind == "all",
        "",
    )];
    override_kinds.extend(kinds.iter().map(|k| {
        choice(
            k.as_str(),
            k.label(),
            errors.override_kind == k.as_str(),
            "",
        )
    }));
    let can_override = current.is_some_and(|s| {
        crate::domain::consent::sharing(s) == crate::domain::consent::Sharing::NeedsOverride
    }) || !held_back.is_empty();
    let page = ConsentRecordPage {
        chrome: who.chrome(state),
        case_id: case.id.clone(),
        case_reference: case.reference.clone(),
        child_name: case.child_name.clone(),
        record_id: record.id.clone(),
        subject: record.subject_name.clone(),
        relationship: record.relationship.label().into(),
        is_child: record.relationship == Relationship::Child,
        purpose: record.purpose.clone(),
        scope: record.scope.describe(),
        state: state_label(current),
        tag: tag(current),
        history: record
            .versions
            .iter()
            .rev()
            .map(|v| VersionRow {
                version: v.version,
                state: state_label(Some(v.state)),
                tag: tag(Some(v.state)),
                details: version_details(v),
                why: v.why.clone(),
                who: format!("{} ({})", v.recorded_by, v.recorded_by_agency),
                when: when(v.recorded_at),
            })
            .collect(),
        states: state_choices(
            |s| crate::domain::consent::apply(current, &probe(s)).is_ok(),
            &errors.draft.state,
        ),
        evidence: evidence_choices(&errors.draft.evidence),
        reasons: reason_choices(&errors.draft.not_sought_reason),
        gillick: gillick_choices(&errors.draft.gillick),
        draft: errors.draft,
        change_error: errors.change,
        overrides: override_rows,
        can_override,
        override_kinds,
        override_bases: basis_choices(LawfulBasis::PublicTask, false),
        override_reason: errors.override_reason,
        override_error: errors.override_error,
        approval_needed: state.settings.sharing.override_needs_manager_approval,
        can_approve,
        held_back,
        shared: shared
            .into_iter()
            .map(|s| SharedRow {
                what: s.what,
                to: s.to,
                when: when(s.shared_at),
                basis: s
                    .lawful_basis
                    .parse::<LawfulBasis>()
                    .map_or(s.lawful_basis.clone(), |b| b.label().to_string()),
            })
            .collect(),
    };
    Ok(page.render()?)
}

/// A change to each state that passes the checks of content, to ask the
/// state machine only about the transition (for which choices to offer).
fn probe(s: ConsentState) -> Change {
    match s {
        ConsentState::Sought => Change::Seek,
        ConsentState::Given => Change::Give {
            evidence: Evidence::Verbal,
            detail: "-".into(),
        },
        ConsentState::Refused => Change::Refuse,
        ConsentState::Withdrawn => Change::Withdraw,
        ConsentState::NotSought => Change::NotSeek {
            reason: NotSoughtReason::CouldNotBeObtainedInTime,
        },
    }
}

/// Send the released messages to live connections again, now that more
/// agencies may see them.
async fn publish_released(state: &AppState, released: &[Released]) {
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for r in released {
        if seen.contains(&(r.channel_id.as_str(), r.seq)) {
            continue;
        }
        seen.push((r.channel_id.as_str(), r.seq));
        match messages::after_unchecked(&state.db, &r.channel_id, r.seq - 1, 1).await {
            Ok(mut found) => {
                if let Some(m) = found.pop() {
                    state
                        .hub
                        .publish(&r.channel_id, Outbound::Updated(Arc::new(m)), None);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not publish a released message"),
        }
    }
}

/// Tell the people who had received information under a withdrawn consent.
/// The mail names Confer's case reference only: never the child, nor the
/// person whose consent it was.
fn tell_of_withdrawal(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    reference: &str,
    recipients: Vec<String>,
) {
    let link = format!("{}/cases/{case_id}/consent", state.link_base());
    for to in recipients {
        state.mailer.send_later(
            crate::mail::Outgoing {
                to,
                subject: format!("Consent withdrawn on Confer case {reference}"),
                body: format!(
                    "{} of {} has recorded in Confer that consent to share information on case {reference} has been withdrawn.\n\n\
                     Confer has stopped sharing the case's information automatically with the agencies that consent covered. \
                     You may have received information under it before: check what your agency holds and how it is used, \
                     and speak to the case's lead social worker if you are unsure.\n\n\
                     Sign in to see the case's consent record:\n{link}\n\n\
                     This message deliberately contains no details of the child or family.\n",
                    who.person.name, who.person.agency_name,
                ),
                calendar: None,
            },
            "consent withdrawal notice",
        );
    }
}

/// Record a change to a record: a new version.
pub async fn change(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, record_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let f = Fields::parse(&body);
    who.check_csrf(&f.get("csrf_token"))?;
    let actor = who.person.actor();
    let now = state.now();
    let access = authorize(&state, &who, &case_id).await?;
    let result = match proposal_of(&f) {
        Ok(p) => consent::change(&state.db, &access, &actor, &record_id, &p, now).await,
        Err(m) => Err(StoreError::Invalid(m)),
    };
    match result {
        Ok(changed) => {
            state.gates.forget(access.case_id());
            publish_released(&state, &changed.released).await;
            if changed.state == ConsentState::Withdrawn {
                let record = consent::get(&state.db, &access, &record_id).await?;
                let recipients = consent::withdrawal_recipients(
                    &state.db,
                    &access,
                    &record,
                    &actor.person_id,
                    now,
                )
                .await?;
                let case = cases::get(&state.db, &access).await?;
                tell_of_withdrawal(&state, &who, &case.id, &case.reference, recipients);
            }
            Ok(
                Redirect::to(&format!("/cases/{case_id}/consent/{record_id}#history"))
                    .into_response(),
            )
        }
        Err(StoreError::Invalid(m)) | Err(StoreError::Conflict(m)) => {
            let errors = RecordErrors {
                draft: draft_of(&f),
                change: Some(m),
                ..RecordErrors::default()
            };
            let html = render_record(&state, &who, &case_id, &record_id, errors).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// "Share anyway": an override with its lawful basis and reason.
pub async fn request_override(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, record_id)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let f = Fields::parse(&body);
    who.check_csrf(&f.get("csrf_token"))?;
    let access = authorize(&state, &who, &case_id).await?;
    let kind_text = f.get("agency_kind");
    let parsed = (|| -> Result<overrides::Request, String> {
        let agency_kind = match kind_text.as_str() {
            "" | "all" => None,
            k => Some(k.parse::<AgencyKind>()?),
        };
        let lawful_basis = f
            .get("lawful_basis")
            .parse::<LawfulBasis>()
            .map_err(|_| "Choose the lawful basis for sharing.".to_string())?;
        Ok(overrides::Request {
            agency_kind,
            lawful_basis,
            reason: f.get("reason"),
        })
    })();
    let result = match parsed {
        Ok(ask) => {
            overrides::request(
                &state.db,
                &access,
                &who.person.actor(),
                &record_id,
                &ask,
                state.settings.sharing.override_needs_manager_approval,
                state.now(),
            )
            .await
        }
        Err(m) => Err(StoreError::Invalid(m)),
    };
    match result {
        Ok(outcome) => {
            state.gates.forget(access.case_id());
            publish_released(&state, &outcome.released).await;
            Ok(
                Redirect::to(&format!("/cases/{case_id}/consent/{record_id}#overrides"))
                    .into_response(),
            )
        }
        Err(StoreError::Invalid(m)) | Err(StoreError::Conflict(m)) => {
            let errors = RecordErrors {
                override_reason: f.get("reason"),
                override_kind: kind_text,
                override_error: Some(m),
                ..RecordErrors::default()
            };
            let html = render_record(&state, &who, &case_id, &record_id, errors).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A manager of the case-holding agency approves or refuses an override.
pub async fn decide_override(
    State(state): State<AppState>,
    who: SignedIn,
    Path((case_id, record_id, override_id)): Path<(String, String, String)>,
    body: Bytes,
) -> AppResult<Response> {
    let f = Fields::parse(&body);
    who.check_csrf(&f.get("csrf_token"))?;
    let actor = who.person.actor();
    let access = authorize(&state, &who, &case_id).await?;
    let Some(approver) = overrides::approver(&state.db, &access, &actor).await? else {
        return Err(AppError::Forbidden(
            "Only a manager of the case-holding agency who is in the case team can approve or refuse an override.".into(),
        ));
    };
    let approve = match f.get("decision").as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return Err(AppError::BadRequest("Choose to approve or refuse.".into())),
    };
    let result = overrides::decide(
        &state.db,
        &access,
        &approver,
        &actor,
        &record_id,
        &override_id,
        approve,
        state.now(),
    )
    .await;
    match result {
        Ok(outcome) => {
            state.gates.forget(access.case_id());
            publish_released(&state, &outcome.released).await;
            Ok(
                Redirect::to(&format!("/cases/{case_id}/consent/{record_id}#overrides"))
                    .into_response(),
            )
        }
        Err(StoreError::Invalid(m)) => {
            let errors = RecordErrors {
                override_error: Some(m),
                ..RecordErrors::default()
            };
            let html = render_record(&state, &who, &case_id, &record_id, errors).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
