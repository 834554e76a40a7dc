//! Changing who is in a case team, shared by the JSON API and the case page:
//! the lead social worker or a manager in the team adds people (inviting a
//! guest by email if they are new) and removes them, which ends their live
//! subscriptions at once.

use super::AppState;
use super::api::{AddMember, ApiError, ApiResult, invalid};
use super::error::AppError;
use super::session::SignedIn;
use crate::domain::access::{MembershipManager, authorize_membership_change};
use crate::store::agencies::By;
use crate::store::cases::Case;
use crate::store::{StoreError, agencies, cases, people};

/// The outcome of adding someone.
pub struct Added {
    pub person_id: String,
    pub invited: bool,
}

/// The case, if this person may change its team; 403 if they are in the
/// team but may not, 404 if they are not in it at all.
pub async fn manager_of(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
) -> ApiResult<(MembershipManager, Case)> {
    let actor = who.person.actor();
    let access = cases::authorize(&state.db, &actor, case_id, state.now()).await?;
    let case = cases::get(&state.db, &access).await?;
    let manager = authorize_membership_change(&actor, &access, &case.lead_social_worker_id).ok_or_else(|| {
        ApiError::App(AppError::Forbidden(
            "Only the case's lead social worker or a manager in the case team can change who is in it.".into(),
        ))
    })?;
    Ok((manager, case))
}

pub async fn add(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    request: &AddMember,
) -> ApiResult<Added> {
    let now = state.now();
    let (manager, case) = manager_of(state, who, case_id).await?;
    if request.reason.trim().is_empty() {
        return Err(invalid(
            "invalid",
            "Give a reason why this person needs to know.",
        ));
    }
    if request.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid("invalid", "The expiry must be in the future."));
    }
    let by = By {
        person_id: Some(&who.person.id),
        label: &who.person.name,
    };
    let (person, invited) = match people::find_by_email(&state.db, &request.email).await {
        Ok(p) => (p, false),
        Err(StoreError::NotFound) => {
            let Some(guest) = &request.guest else {
                return Err(invalid(
                    "unknown_person",
                    "Nobody has that email address. To invite a guest, give their name and agency.",
                ));
            };
            agencies::find(&state.db, &guest.agency_id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => invalid("unknown_agency", "No such agency."),
                    other => other.into(),
                })?;
            let p = people::add(
                &state.db,
                by,
                now,
                people::NewPerson {
                    agency_id: &guest.agency_id,
                    name: &guest.name,
                    email: &request.email,
                    role: crate::domain::vocabulary::Role::Practitioner,
                    guest: true,
                },
            )
            .await?;
            (p, true)
        }
        Err(e) => return Err(e.into()),
    };
    if !person.active {
        return Err(invalid("inactive", "That person's account is deactivated."));
    }
    cases::add_member(
        &state.db,
        by,
        now,
        manager.case_id(),
        &person.id,
        &request.reason,
        request.expires_at,
    )
    .await?;
    if invited {
        // The invitation names Confer's own case reference, never the child.
        state.mailer.send_later(
            crate::mail::Outgoing {
                to: person.email.clone(),
                subject: "You have been invited to Confer".into(),
                body: format!(
                    "{} of {} has invited you to work with them on case {} in Confer, the secure multi-agency service.\n\n\
                     To sign in, go to {}/sign-in/email and enter this email address: we will send you a code.\n",
                    who.person.name,
                    who.person.agency_name,
                    case.reference,
                    state
                        .settings
                        .server
                        .public_url
                        .clone()
                        .unwrap_or_else(|| "https://localhost:8443".into())
                        .trim_end_matches('/')
                ),
                calendar: None,
            },
            "case invitation",
        );
    }
    Ok(Added {
        person_id: person.id,
        invited,
    })
}

pub async fn remove(
    state: &AppState,
    who: &SignedIn,
    case_id: &str,
    person_id: &str,
    reason: &str,
) -> ApiResult<()> {
    let (manager, case) = manager_of(state, who, case_id).await?;
    if person_id == case.lead_social_worker_id {
        return Err(invalid(
            "lead",
            "The lead social worker cannot be removed; change the lead first.",
        ));
    }
    if reason.trim().is_empty() {
        return Err(invalid(
            "invalid",
            "Give a reason for ending this person's access.",
        ));
    }
    let by = By {
        person_id: Some(&who.person.id),
        label: &who.person.name,
    };
    cases::end_membership(
        &state.db,
        by,
        state.now(),
        manager.case_id(),
        person_id,
        reason.trim(),
    )
    .await?;
    state.hub.case_access_ended(manager.case_id(), person_id);
    Ok(())
}
