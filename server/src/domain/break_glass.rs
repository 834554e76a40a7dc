//! Break glass (DESIGN.md, "Security posture": "managers may 'break glass'
//! with a recorded reason, which alerts the case's lead"; issue 6, item 7):
//! a manager who is not in a case may open it, for a limited time, with a
//! mandatory reason. The opening is audited, flagged for an auditor's
//! review, and the case's lead social worker is told.

use super::access::Actor;
use super::clock::Millis;
use super::vocabulary::Role;

/// The longest reason or review note accepted, in characters.
pub const MAX_TEXT: usize = 2000;

/// What a refused break-glass attempt says, whatever the cause (not a
/// manager, no such case): nobody learns from the refusal whether a case
/// exists.
pub const REFUSAL: &str = "No case with that reference, or you cannot open it";

/// Proof that the actor may break glass: an active `manager` of an agency
/// who signs in as a member, not as a guest invited to one case.
#[derive(Clone, Debug)]
pub struct BreakGlassManager {
    person_id: String,
    name: String,
}

impl BreakGlassManager {
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Managers may break glass; nobody else, and no guest (a guest sees one
/// case or meeting and nothing else, DESIGN.md "Guest practitioner").
pub fn authorize_break_glass(actor: &Actor, guest: bool) -> Option<BreakGlassManager> {
    (actor.role == Role::Manager && !guest).then(|| BreakGlassManager {
        person_id: actor.person_id.clone(),
        name: actor.name.clone(),
    })
}

/// Why a break-glass form was refused before anything was looked up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("Enter the reason you need to open this case")]
    ReasonMissing,
    #[error("Enter a note about your review")]
    NoteMissing,
    #[error("Keep it under {MAX_TEXT} characters")]
    TooLong,
}

/// The reason, trimmed: required, and bounded.
pub fn check_reason(reason: &str) -> Result<String, FormError> {
    bounded(reason, FormError::ReasonMissing)
}

/// An auditor's review note, trimmed: required, and bounded.
pub fn check_review_note(note: &str) -> Result<String, FormError> {
    bounded(note, FormError::NoteMissing)
}

fn bounded(text: &str, missing: FormError) -> Result<String, FormError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(missing);
    }
    if text.chars().count() > MAX_TEXT {
        return Err(FormError::TooLong);
    }
    Ok(text.to_string())
}

/// The reason written on the time-limited membership, so the case team sees
/// how the manager came to be there.
pub fn membership_reason(reason: &str) -> String {
    format!("Break glass: {reason}")
}

/// When access opened at `now` for `minutes` ends (exclusive).
pub fn expires_at(now: Millis, minutes: u64) -> Millis {
    let minutes = i64::try_from(minutes).unwrap_or(i64::MAX);
    now.saturating_add(minutes.saturating_mul(60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            person_id: "p".into(),
            agency_id: "a".into(),
            name: "Alex".into(),
            role,
        }
    }

    #[test]
    fn only_managers_who_are_not_guests_break_glass() {
        assert!(authorize_break_glass(&actor(Role::Manager), false).is_some());
        assert!(authorize_break_glass(&actor(Role::Manager), true).is_none());
        for role in [Role::Practitioner, Role::Admin, Role::Auditor] {
            assert!(authorize_break_glass(&actor(role), false).is_none());
        }
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert_eq!(check_reason("  "), Err(FormError::ReasonMissing));
        assert_eq!(
            check_reason(" out of hours call ").as_deref(),
            Ok("out of hours call")
        );
        assert_eq!(
            check_reason(&"x".repeat(MAX_TEXT + 1)),
            Err(FormError::TooLong)
        );
        assert_eq!(check_review_note(""), Err(FormError::NoteMissing));
        assert_eq!(membership_reason("r"), "Break glass: r");
    }

    #[test]
    fn access_lasts_the_configured_minutes() {
        assert_eq!(expires_at(1_000, 60), 1_000 + 3_600_000);
        assert_eq!(expires_at(1_000, u64::MAX), i64::MAX);
    }
}
