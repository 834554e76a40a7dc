//! Holding information back (DESIGN.md, "Consent record"): when consent
//! covering an agency is refused or withdrawn, a message posted in the case
//! does not reach that agency's people until a practitioner records an
//! override with its lawful basis and reason (approved by a manager of the
//! case-holding agency, where the partnership requires it).
//!
//! The mechanism is the restricted message (DESIGN.md, "Restricted item"):
//! the message is restricted to every agency not held back, plus the
//! author's own, so held-back agencies see only a placeholder and the
//! sequence stays gap-free. An override adds the agency to the message's
//! audience; nothing is ever copied.

use super::access::{Actor, CaseAccess};
use super::channels::Audience;
use super::consent::{ConsentState, Sharing, sharing};
use super::sharing::{LawfulBasis, Scope};
use super::vocabulary::{AgencyKind, Role};

/// Longest reason for an override.
pub const MAX_REASON: usize = 2000;

/// An agency of the partnership, as the gate needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agency {
    pub id: String,
    pub kind: AgencyKind,
    /// Whether it has current members in the case (only they can have
    /// been told anything, so only they get a withheld record).
    pub in_case: bool,
}

/// What happens to one message in a case where something is held back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldBack {
    /// The message's restriction: the author's own, narrowed, or the one
    /// the gate imposes.
    pub restriction: (Audience, String),
    /// (agency id, consent record id) for each agency in the case that the
    /// message would otherwise have reached.
    pub withheld: Vec<(String, String)>,
}

/// The restriction reason for what is held back from these kinds (the
/// author's own kind, if among them, is held back except for their agency).
pub fn held_back_reason(kinds: &[AgencyKind], author_kind: Option<AgencyKind>) -> String {
    let names = kinds
        .iter()
        .map(|k| {
            let name = k.label().to_lowercase();
            if Some(*k) == author_kind {
                format!("{name} (except the author's own agency)")
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("Held back from {names}: consent refused or withdrawn; an override is needed")
}

/// The restriction reason of a message once some of what was held back has
/// been released: the author's own reason is kept; the "held back" part
/// names only the agency kinds still held back, or says that nothing is.
pub fn reason_after_release(
    reason: &str,
    still_held: &[AgencyKind],
    author_kind: Option<AgencyKind>,
) -> String {
    let author_part = match reason.find("Held back from ") {
        Some(i) => reason[..i].trim_end().trim_end_matches('.').trim_end(),
        None => reason.trim(),
    };
    let held = if still_held.is_empty() {
        "No longer held back: consent or an override now allows sharing".to_string()
    } else {
        held_back_reason(still_held, author_kind)
    };
    if author_part.is_empty() {
        held
    } else {
        format!("{author_part}. {held}")
    }
}

/// Decide who may see a message posted in a case where the agency kinds in
/// `blocked` (each with the consent record that blocks it) are held back.
///
/// - Nothing blocked: `None`, the message goes as the author sent it.
/// - Otherwise the message is restricted to every agency whose kind is not
///   held back, plus the author's own agency (practitioners are never held
///   back from their own agency's messages); if the author chose a
///   restriction, the gate only narrows it (agencies and named people of
///   held-back agencies drop out), never widens it.
/// - Each held-back agency with members in the case that the message would
///   otherwise have reached gets a withheld record, so an override can
///   release it later.
///
/// `person_agency` gives the agency of a person named in the author's
/// restriction (`None` when unknown: they drop out).
pub fn hold_back(
    blocked: &[(AgencyKind, String)],
    agencies: &[Agency],
    author_agency_id: &str,
    chosen: Option<&(Audience, String)>,
    person_agency: impl Fn(&str) -> Option<String>,
) -> Option<HeldBack> {
    if blocked.is_empty() {
        return None;
    }
    let record_for = |kind: AgencyKind| {
        blocked
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, r)| r.clone())
    };
    let allowed = |agency_id: &str| {
        agency_id == author_agency_id
            || agencies
                .iter()
                .any(|a| a.id == agency_id && record_for(a.kind).is_none())
    };
    let kinds: Vec<AgencyKind> = blocked.iter().map(|(k, _)| *k).collect();
    let author_kind = agencies
        .iter()
        .find(|a| a.id == author_agency_id)
        .map(|a| a.kind);
    let note = held_back_reason(&kinds, author_kind);
    let mut withheld = Vec::new();
    let restriction = match chosen {
        None => {
            let mut agencies_allowed: Vec<String> = agencies
                .iter()
                .filter(|a| allowed(&a.id))
                .map(|a| a.id.clone())
                .collect();
            if !agencies_allowed.iter().any(|a| a == author_agency_id) {
                agencies_allowed.push(author_agency_id.to_string());
            }
            for a in agencies {
                if a.in_case
                    && a.id != author_agency_id
                    && let Some(record) = record_for(a.kind)
                {
                    withheld.push((a.id.clone(), record));
                }
            }
            (
                Audience {
                    agencies: agencies_allowed,
                    people: Vec::new(),
                },
                note,
            )
        }
        Some((audience, reason)) => {
            let people: Vec<(String, Option<String>)> = audience
                .people
                .iter()
                .map(|p| (p.clone(), person_agency(p)))
                .collect();
            for a in agencies {
                let intended = audience.agencies.contains(&a.id)
                    || people.iter().any(|(_, ag)| ag.as_deref() == Some(&a.id));
                if intended
                    && a.in_case
                    && a.id != author_agency_id
                    && let Some(record) = record_for(a.kind)
                {
                    withheld.push((a.id.clone(), record));
                }
            }
            (
                Audience {
                    agencies: audience
                        .agencies
                        .iter()
                        .filter(|a| allowed(a))
                        .cloned()
                        .collect(),
                    people: people
                        .into_iter()
                        .filter(|(_, ag)| ag.as_deref().is_some_and(allowed))
                        .map(|(p, _)| p)
                        .collect(),
                },
                format!("{}. {note}", reason.trim().trim_end_matches('.')),
            )
        }
    };
    Some(HeldBack {
        restriction,
        withheld,
    })
}

/// Why an override cannot be recorded as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideInvalid {
    /// Only refused or withdrawn consent (or messages still held back under it) needs one.
    NothingToOverride,
    /// The agency kind is not one the consent record covers.
    OutsideScope(AgencyKind),
    /// Sharing against a refusal cannot rest on consent.
    ConsentIsNotABasis,
    ReasonMissing,
    ReasonTooLong,
}

impl OverrideInvalid {
    pub fn message(&self) -> String {
        match self {
            OverrideInvalid::NothingToOverride => "Only consent that is refused or withdrawn needs an override to share.".into(),
            OverrideInvalid::OutsideScope(kind) => format!(
                "This consent record does not cover {}: information already reaches them.",
                kind.label().to_lowercase()
            ),
            OverrideInvalid::ConsentIsNotABasis => "Consent cannot be the lawful basis for sharing against a refusal or withdrawal: choose public task, legal obligation, vital interests or law enforcement.".into(),
            OverrideInvalid::ReasonMissing => "Say why you are sharing without consent: what risk to the child the sharing addresses.".into(),
            OverrideInvalid::ReasonTooLong => format!("The reason can be at most {MAX_REASON} characters."),
        }
    }
}

/// Check an override of a consent record in `state` with `scope`, for one
/// agency kind (or `None`: every kind the record covers). Consent is never
/// a precondition for sharing to protect a child (the information-sharing
/// advice for safeguarding practitioners), but sharing against a refusal
/// rests on a basis other than consent, and the reason is recorded. A
/// record that is no longer refused may still be overridden while messages
/// held back under it wait (`held_back`), to release them.
pub fn check_override(
    state: ConsentState,
    held_back: bool,
    scope: &Scope,
    kind: Option<AgencyKind>,
    basis: LawfulBasis,
    reason: &str,
) -> Result<(), OverrideInvalid> {
    if sharing(state) != Sharing::NeedsOverride && !held_back {
        return Err(OverrideInvalid::NothingToOverride);
    }
    if let Some(k) = kind
        && !scope.covers(k)
    {
        return Err(OverrideInvalid::OutsideScope(k));
    }
    if basis == LawfulBasis::Consent {
        return Err(OverrideInvalid::ConsentIsNotABasis);
    }
    if reason.trim().is_empty() {
        return Err(OverrideInvalid::ReasonMissing);
    }
    if reason.chars().count() > MAX_REASON {
        return Err(OverrideInvalid::ReasonTooLong);
    }
    Ok(())
}

/// Proof that the actor may approve or refuse overrides on one case.
#[derive(Clone, Debug)]
pub struct OverrideApprover {
    case_id: String,
    person_id: String,
}

impl OverrideApprover {
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
}

/// Where the partnership requires it, an override waits for a manager of
/// the case-holding agency (the lead social worker's) who is in the case
/// team: the agency accountable for the child's plan answers for sharing
/// against a family's wishes. A practitioner, a manager of another agency
/// or a manager outside the case may not approve.
pub fn authorize_override_approval(
    actor: &Actor,
    access: &CaseAccess,
    case_holding_agency_id: &str,
) -> Option<OverrideApprover> {
    let allowed = access.person_id() == actor.person_id
        && actor.role == Role::Manager
        && actor.agency_id == case_holding_agency_id;
    allowed.then(|| OverrideApprover {
        case_id: access.case_id().to_string(),
        person_id: actor.person_id.clone(),
    })
}

/// Proof that the actor may set a case's default lawful basis and purpose.
#[derive(Clone, Debug)]
pub struct SharingDefaultsEditor {
    case_id: String,
}

impl SharingDefaultsEditor {
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
}

/// The lead social worker, or a manager in the case team, sets the case's
/// default lawful basis and purpose (they own the case's plan, as they own
/// who is involved).
pub fn authorize_sharing_defaults(
    actor: &Actor,
    access: &CaseAccess,
    lead_social_worker_id: &str,
) -> Option<SharingDefaultsEditor> {
    let allowed = access.person_id() == actor.person_id
        && (actor.person_id == lead_social_worker_id || actor.role == Role::Manager);
    allowed.then(|| SharingDefaultsEditor {
        case_id: access.case_id().to_string(),
    })
}

/// Longest purpose for sharing.
pub const MAX_PURPOSE: usize = 500;

/// A case's default purpose for sharing: said, and short enough to show.
pub fn check_purpose(purpose: &str) -> Result<(), String> {
    if purpose.trim().is_empty() {
        return Err("Say what information about the case is shared for.".into());
    }
    if purpose.chars().count() > MAX_PURPOSE {
        return Err(format!(
            "The purpose can be at most {MAX_PURPOSE} characters."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::{Grant, authorize_case};

    fn agencies() -> Vec<Agency> {
        [
            ("csc", AgencyKind::ChildrensSocialCare, true),
            ("police", AgencyKind::Police, true),
            ("nhs", AgencyKind::Health, true),
            ("school", AgencyKind::Education, true),
            ("homes", AgencyKind::Housing, false),
        ]
        .into_iter()
        .map(|(id, kind, in_case)| Agency {
            id: id.into(),
            kind,
            in_case,
        })
        .collect()
    }

    fn police_refused() -> Vec<(AgencyKind, String)> {
        vec![(AgencyKind::Police, "r1".into())]
    }

    #[test]
    fn nothing_blocked_leaves_the_message_alone() {
        assert_eq!(hold_back(&[], &agencies(), "csc", None, |_| None), None);
    }

    #[test]
    fn a_blocked_kind_is_left_out_of_the_audience_and_withheld() {
        let held = hold_back(&police_refused(), &agencies(), "csc", None, |_| None).unwrap();
        let (audience, reason) = &held.restriction;
        assert_eq!(audience.agencies, ["csc", "nhs", "school", "homes"]);
        assert!(audience.people.is_empty());
        assert!(reason.contains("Held back from police"), "{reason}");
        assert_eq!(held.withheld, [("police".to_string(), "r1".to_string())]);
    }

    #[test]
    fn the_authors_own_agency_is_never_held_back() {
        let held = hold_back(&police_refused(), &agencies(), "police", None, |_| None).unwrap();
        assert!(held.restriction.0.agencies.contains(&"police".to_string()));
        assert!(held.withheld.is_empty());
        assert!(
            held.restriction
                .1
                .contains("police (except the author's own agency)"),
            "{}",
            held.restriction.1
        );
    }

    #[test]
    fn a_housing_agency_without_members_is_held_back_but_not_withheld() {
        let blocked = vec![(AgencyKind::Housing, "r2".into())];
        let held = hold_back(&blocked, &agencies(), "csc", None, |_| None).unwrap();
        assert!(!held.restriction.0.agencies.contains(&"homes".to_string()));
        assert!(held.withheld.is_empty());
    }

    #[test]
    fn an_authors_restriction_is_narrowed_never_widened() {
        let chosen = (
            Audience {
                agencies: vec!["police".into(), "nhs".into()],
                people: vec!["lee".into(), "tom".into()],
            },
            "police-sensitive".to_string(),
        );
        let held = hold_back(
            &police_refused(),
            &agencies(),
            "csc",
            Some(&chosen),
            |p| match p {
                "lee" => Some("police".into()),
                "tom" => Some("school".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(held.restriction.0.agencies, ["nhs"]);
        assert_eq!(held.restriction.0.people, ["tom"]);
        assert!(
            held.restriction
                .1
                .starts_with("police-sensitive. Held back")
        );
        assert_eq!(held.withheld, [("police".to_string(), "r1".to_string())]);
        // An author's restriction that never meant police withholds nothing from them.
        let school_only = (
            Audience {
                agencies: vec!["school".into()],
                people: vec![],
            },
            "education only".to_string(),
        );
        let held = hold_back(
            &police_refused(),
            &agencies(),
            "csc",
            Some(&school_only),
            |_| None,
        )
        .unwrap();
        assert_eq!(held.restriction.0.agencies, ["school"]);
        assert!(held.withheld.is_empty());
    }

    #[test]
    fn overrides_need_a_refusal_a_basis_other_than_consent_and_a_reason() {
        let scope = Scope::Kinds(vec![AgencyKind::Police]);
        let ok = |state, kind, basis, reason: &str| {
            check_override(state, false, &scope, kind, basis, reason)
        };
        let why = "Joint section 47 enquiry: risk of significant harm";
        assert!(
            ok(
                ConsentState::Refused,
                Some(AgencyKind::Police),
                LawfulBasis::PublicTask,
                why
            )
            .is_ok()
        );
        assert!(
            ok(
                ConsentState::Withdrawn,
                None,
                LawfulBasis::LawEnforcement,
                why
            )
            .is_ok()
        );
        assert_eq!(
            ok(ConsentState::Given, None, LawfulBasis::PublicTask, why),
            Err(OverrideInvalid::NothingToOverride)
        );
        assert!(
            check_override(
                ConsentState::Sought,
                true,
                &scope,
                None,
                LawfulBasis::PublicTask,
                why
            )
            .is_ok(),
            "messages still held back can be released"
        );
        assert_eq!(
            ok(
                ConsentState::Refused,
                Some(AgencyKind::Health),
                LawfulBasis::PublicTask,
                why
            ),
            Err(OverrideInvalid::OutsideScope(AgencyKind::Health))
        );
        assert_eq!(
            ok(ConsentState::Refused, None, LawfulBasis::Consent, why),
            Err(OverrideInvalid::ConsentIsNotABasis)
        );
        assert_eq!(
            ok(ConsentState::Refused, None, LawfulBasis::PublicTask, "  "),
            Err(OverrideInvalid::ReasonMissing)
        );
    }

    fn actor(id: &str, agency: &str, role: Role) -> Actor {
        Actor {
            person_id: id.into(),
            agency_id: agency.into(),
            name: id.into(),
            role,
        }
    }

    fn access(person: &str) -> CaseAccess {
        let grant = Grant {
            case_id: "c1".into(),
            person_id: person.into(),
            expires_at: None,
            ended_at: None,
        };
        authorize_case(&actor(person, "x", Role::Practitioner), Some(&grant), 0).unwrap()
    }

    #[test]
    fn only_a_manager_of_the_case_holding_agency_in_the_case_approves() {
        let alex = actor("alex", "csc", Role::Manager);
        assert!(authorize_override_approval(&alex, &access("alex"), "csc").is_some());
        let sam = actor("sam", "csc", Role::Practitioner);
        assert!(authorize_override_approval(&sam, &access("sam"), "csc").is_none());
        let priya = actor("priya", "police", Role::Manager);
        assert!(authorize_override_approval(&priya, &access("priya"), "csc").is_none());
        assert!(
            authorize_override_approval(&alex, &access("sam"), "csc").is_none(),
            "not with another's access"
        );
    }

    #[test]
    fn the_lead_or_a_manager_sets_the_cases_basis() {
        let sam = actor("sam", "csc", Role::Practitioner);
        assert!(authorize_sharing_defaults(&sam, &access("sam"), "sam").is_some());
        let lee = actor("lee", "police", Role::Practitioner);
        assert!(authorize_sharing_defaults(&lee, &access("lee"), "sam").is_none());
        let priya = actor("priya", "police", Role::Manager);
        assert!(authorize_sharing_defaults(&priya, &access("priya"), "sam").is_some());
        assert!(check_purpose("  ").is_err());
        assert!(check_purpose(&"x".repeat(MAX_PURPOSE + 1)).is_err());
    }

    #[test]
    fn a_release_rewrites_only_the_held_back_part_of_the_reason() {
        use AgencyKind::*;
        let both = held_back_reason(&[Police, Education], None);
        assert_eq!(
            reason_after_release(&both, &[Education], None),
            held_back_reason(&[Education], None)
        );
        let after = reason_after_release(&both, &[], None);
        assert!(after.starts_with("No longer held back"), "{after}");
        let chosen = format!("police-sensitive. {both}");
        let after = reason_after_release(&chosen, &[], None);
        assert!(after.starts_with("police-sensitive. No longer"), "{after}");
        assert!(!after.contains("Held back"), "{after}");
    }
}
