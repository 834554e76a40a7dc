//! One consent record's page: its history, the changes it allows, overrides, and what was shared under it.

use super::*;

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
pub(super) struct RecordErrors {
    pub(super) draft: Draft,
    pub(super) change: Option<String>,
    pub(super) override_reason: String,
    pub(super) override_kind: String,
    pub(super) override_error: Option<String>,
}

pub(super) fn version_details(v: &consent::Version) -> Vec<String> {
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

pub(super) async fn render_record(
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
