//! The consent register's pages (they work without JavaScript): the case's
//! basis for everyday sharing, its consent records with their history,
//! changes, overrides ("share anyway") and their approval. Any case member
//! may record consent; nobody outside the case learns anything (404).

mod changes;
mod record;

pub use changes::*;
pub use record::*;

use std::sync::Arc;

use askama::Template;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;

use super::AppState;
use super::error::{AppError, AppResult};
use super::form::Fields;
use super::session::{SignedForm, SignedIn};
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

pub(super) fn choice(value: &str, label: &str, checked: bool, hint: &str) -> Choice {
    Choice {
        value: value.into(),
        label: label.into(),
        checked,
        hint: hint.into(),
    }
}

/// The GOV.UK tag colour for a state.
pub(super) fn tag(state: Option<ConsentState>) -> &'static str {
    match state {
        Some(ConsentState::Given) => "green",
        Some(ConsentState::Refused) => "red",
        Some(ConsentState::Withdrawn) => "orange",
        Some(ConsentState::Sought) => "blue",
        Some(ConsentState::NotSought) | None => "grey",
    }
}

pub(super) fn state_label(state: Option<ConsentState>) -> String {
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

pub(super) fn state_choices(allowed: impl Fn(ConsentState) -> bool, chosen: &str) -> Vec<Choice> {
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

pub(super) fn evidence_choices(chosen: &str) -> Vec<Choice> {
    [("verbal", "Verbally"), ("written", "In writing")]
        .iter()
        .map(|(v, l)| choice(v, l, chosen == *v, ""))
        .collect()
}

pub(super) fn reason_choices(chosen: &str) -> Vec<Choice> {
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

pub(super) fn gillick_choices(chosen: &str) -> Vec<Choice> {
    [
        ("yes", "Yes, competent"),
        ("no", "No, not competent"),
        ("not_assessed", "Not assessed"),
    ]
    .iter()
    .map(|(v, l)| choice(v, l, chosen == *v, ""))
    .collect()
}

pub(super) fn basis_choices(chosen: LawfulBasis, with_consent: bool) -> Vec<Choice> {
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

pub(super) fn draft_of(f: &Fields) -> Draft {
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

pub(super) fn proposal_of(f: &Fields) -> Result<Proposal, String> {
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

pub(super) fn scope_of(f: &Fields) -> Result<Scope, String> {
    if f.get("scope") != "kinds" {
        return Ok(Scope::All);
    }
    let kinds = f.all("kinds");
    if kinds.is_empty() {
        return Err("Choose the kinds of agency the consent covers, or all agencies.".into());
    }
    Scope::parse(&kinds.join(","))
}

pub(super) async fn authorize(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
) -> AppResult<CaseAccess> {
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

pub(super) async fn render_register(
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
    Path(case_id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
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
    Path(case_id): Path<String>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
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
