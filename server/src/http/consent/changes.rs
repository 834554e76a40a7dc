//! Changing a consent record, and overrides ("share anyway") with their approval; what a change releases or stops.

use super::*;

/// A change to each state that passes the checks of content, to ask the
/// state machine only about the transition (for which choices to offer).
pub(super) fn probe(s: ConsentState) -> Change {
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
pub(super) async fn publish_released(state: &AppState, released: &[Released]) {
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
pub(super) fn tell_of_withdrawal(
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
    Path((case_id, record_id)): Path<(String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
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
    Path((case_id, record_id)): Path<(String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
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
    Path((case_id, record_id, override_id)): Path<(String, String, String)>,
    SignedForm { who, f }: SignedForm,
) -> AppResult<Response> {
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
