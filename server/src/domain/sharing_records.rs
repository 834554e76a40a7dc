//! Information-sharing records (DESIGN.md, "Information-sharing record"):
//! what an automatic record says about its basis, what a manual record and
//! a decision not to share must hold, who may search the log across cases,
//! and what an auditor who is not in a case may read of its records.
//!
//! The government's advice on information sharing for safeguarding
//! practitioners asks them to record every decision, whether or not they
//! share: if they share, what, with whom, when, why and on what lawful
//! basis, with or without consent; if they do not, the reasons. Records are
//! append-only: a correction is a new record that refers to the old one.

use super::clock::Millis;
use super::consent::ConsentState;
use super::sharing::{ConsentView, Decision, LawfulBasis};
use super::vocabulary::Role;

/// Where a record came from (the `source` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A message delivered to a person of another agency than its author's.
    Message,
    /// A meeting's record (outcome, actions, minutes) circulated.
    Minutes,
    /// Return-home-interview findings shared.
    Findings,
    /// A share outside Confer, recorded by hand.
    Manual,
    /// A decision not to share, with its reasons.
    NotShared,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Message => "message",
            Source::Minutes => "minutes",
            Source::Findings => "findings",
            Source::Manual => "manual",
            Source::NotShared => "not_shared",
        }
    }

    pub fn parse(text: &str) -> Result<Source, String> {
        Ok(match text {
            "message" => Source::Message,
            "minutes" => Source::Minutes,
            "findings" => Source::Findings,
            "manual" => Source::Manual,
            "not_shared" => Source::NotShared,
            other => return Err(format!("unknown sharing record source '{other}'")),
        })
    }

    /// Made by Confer as a side effect of work, not typed by anyone.
    pub fn is_automatic(self) -> bool {
        matches!(self, Source::Message | Source::Minutes | Source::Findings)
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::Message => "Message delivered",
            Source::Minutes => "Meeting record circulated",
            Source::Findings => "Findings shared",
            Source::Manual => "Shared outside Confer",
            Source::NotShared => "Decision not to share",
        }
    }
}

/// What a share went ahead on: the lawful basis and either the consent
/// relied on or why it went without.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basis {
    pub lawful_basis: LawfulBasis,
    pub consent_record_id: Option<String>,
    /// The state of that consent record when the share was recorded.
    pub consent_state: Option<ConsentState>,
    pub without_consent_reason: Option<String>,
    pub override_id: Option<String>,
}

/// The basis an automatic record states, from the case's sharing decision
/// for the receiving agency.
///
/// A `Blocked` decision means information reached an agency while a
/// refused or withdrawn consent covered it and no override was in place
/// (consent changed between delivery and the record being written, or a
/// path that does not go through the consent gate). The share happened, so
/// it is recorded, on the case's basis, naming the consent record and
/// saying plainly that it needs review: a record is never dropped.
pub fn basis_of(decision: &Decision, case_basis: LawfulBasis, consents: &[ConsentView]) -> Basis {
    let state_of = |id: &str| consents.iter().find(|c| c.record_id == id).map(|c| c.state);
    match decision {
        Decision::Share {
            lawful_basis,
            consent_record_id,
            without_consent_reason,
            override_id,
        } => Basis {
            lawful_basis: *lawful_basis,
            consent_state: consent_record_id.as_deref().and_then(state_of),
            consent_record_id: consent_record_id.clone(),
            without_consent_reason: without_consent_reason.clone(),
            override_id: override_id.clone(),
        },
        Decision::Blocked { consent_record_id } => {
            let state = state_of(consent_record_id);
            Basis {
                lawful_basis: case_basis,
                consent_record_id: Some(consent_record_id.clone()),
                consent_state: state,
                without_consent_reason: Some(format!(
                    "Reached this agency while consent was {} and no override was in place: review this share",
                    state.map_or("refused or withdrawn", state_word)
                )),
                override_id: None,
            }
        }
    }
}

/// A consent state in words, for records and pages.
pub fn state_word(state: ConsentState) -> &'static str {
    match state {
        ConsentState::Sought => "sought",
        ConsentState::Given => "given",
        ConsentState::Refused => "refused",
        ConsentState::Withdrawn => "withdrawn",
        ConsentState::NotSought => "not sought",
    }
}

/// Longest free text in a manual record or a decision.
pub const MAX_TEXT: usize = 4_000;

/// A share that happened outside Confer (a phone call to a GP), as entered.
#[derive(Clone, Debug, Default)]
pub struct ManualShare {
    /// To whom, as written ("Dr Okafor, Riverside Surgery").
    pub to_description: String,
    pub what: String,
    pub shared_at: Millis,
    pub purpose: String,
    pub lawful_basis: Option<LawfulBasis>,
    /// The consent record relied on, if any.
    pub consent_record_id: Option<String>,
    /// Otherwise, why it was shared without consent.
    pub without_consent_reason: String,
}

/// A decision not to share, as entered.
#[derive(Clone, Debug, Default)]
pub struct NotSharing {
    /// With whom sharing was considered.
    pub to_description: String,
    /// What was not shared.
    pub what: String,
    pub decided_at: Millis,
    pub purpose: String,
    pub reasons: String,
}

/// Why a manual record or a decision was refused: the field and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: &str) -> Result<(), Refusal> {
    Err(Refusal {
        field,
        message: message.to_string(),
    })
}

fn text(field: &'static str, value: &str, missing: &str) -> Result<(), Refusal> {
    if value.trim().is_empty() {
        return refuse(field, missing);
    }
    if value.chars().count() > MAX_TEXT {
        return refuse(
            field,
            &format!("Keep it to {MAX_TEXT} characters or fewer."),
        );
    }
    Ok(())
}

/// When something happened must be known and not in the future (a minute's
/// grace for clocks that disagree).
fn past(field: &'static str, at: Millis, now: Millis) -> Result<(), Refusal> {
    if at > now + 60_000 {
        return refuse(field, "The date and time cannot be in the future.");
    }
    Ok(())
}

/// Check a manual record: to whom, what, when (not in the future), the
/// purpose, the lawful basis, and either the consent relied on (a record
/// of the case that is given now) or the reason for sharing without
/// consent. `given` lists the case's consent records currently given.
pub fn check_manual(share: &ManualShare, given: &[&str], now: Millis) -> Result<(), Refusal> {
    text(
        "to_description",
        &share.to_description,
        "Say who the information was shared with.",
    )?;
    text("what", &share.what, "Say what was shared.")?;
    past("shared_on", share.shared_at, now)?;
    text("purpose", &share.purpose, "Say why it was shared.")?;
    if share.lawful_basis.is_none() {
        return refuse("lawful_basis", "Choose the lawful basis for sharing.");
    }
    match &share.consent_record_id {
        Some(id) if !given.contains(&id.as_str()) => refuse(
            "consent_record_id",
            "That consent record is not given: choose a given consent, or say why you shared without consent.",
        ),
        Some(_) => Ok(()),
        None => text(
            "without_consent_reason",
            &share.without_consent_reason,
            "Say why it was shared without consent, or choose the consent relied on.",
        ),
    }
}

/// Check a decision not to share: what, with whom, when, and the reasons.
pub fn check_not_sharing(decision: &NotSharing, now: Millis) -> Result<(), Refusal> {
    text("what", &decision.what, "Say what was not shared.")?;
    text(
        "to_description",
        &decision.to_description,
        "Say who it was not shared with.",
    )?;
    past("decided_on", decision.decided_at, now)?;
    text(
        "purpose",
        &decision.purpose,
        "Say what sharing was considered for.",
    )?;
    text(
        "reasons",
        &decision.reasons,
        "Give the reasons for not sharing.",
    )
}

/// Proof that the actor may search information-sharing records across
/// cases: information-governance auditors only. It reaches references and
/// bases, never case content; a child's name only where the auditor is a
/// member of the case.
#[derive(Clone, Debug)]
pub struct SharingAuditor {
    person_id: String,
}

impl SharingAuditor {
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
}

pub fn authorize_sharing_search(person_id: &str, role: Role) -> Option<SharingAuditor> {
    (role == Role::Auditor).then(|| SharingAuditor {
        person_id: person_id.to_string(),
    })
}

/// Free text of a record (what was shared, to whom, the reasons) as an
/// auditor outside the case reads it: practitioners are asked to describe,
/// not copy, but may still name the child, so the child's names and local
/// authority reference are masked.
pub fn mask_child(text: &str, child_name: &str, la_reference: &str) -> String {
    let mut words: Vec<String> = child_name
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .filter(|w| w.chars().count() >= 2)
        .collect();
    let la = la_reference.trim().to_lowercase();
    if !la.is_empty() {
        words.push(la);
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let lower = word.to_lowercase();
        let bare = lower.trim_end_matches("'s").trim_end_matches('\'');
        if words.iter().any(|w| *w == lower || *w == bare) {
            out.push_str("[child]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sharing::Scope;

    fn manual() -> ManualShare {
        ManualShare {
            to_description: "Dr Okafor, Riverside Surgery".into(),
            what: "The concerns discussed at the strategy discussion".into(),
            shared_at: 1_000,
            purpose: "Safeguarding".into(),
            lawful_basis: Some(LawfulBasis::PublicTask),
            consent_record_id: None,
            without_consent_reason: "Seeking consent would place the child at risk".into(),
        }
    }

    #[test]
    fn a_manual_record_needs_whom_what_when_why_and_basis_and_consent_or_reason() {
        assert_eq!(check_manual(&manual(), &[], 2_000), Ok(()));
        let field = |s: ManualShare| check_manual(&s, &["c1"], 2_000).unwrap_err().field;
        assert_eq!(
            field(ManualShare {
                to_description: " ".into(),
                ..manual()
            }),
            "to_description"
        );
        assert_eq!(
            field(ManualShare {
                what: String::new(),
                ..manual()
            }),
            "what"
        );
        assert_eq!(
            field(ManualShare {
                shared_at: 1_000_000,
                ..manual()
            }),
            "shared_on"
        );
        assert_eq!(
            field(ManualShare {
                lawful_basis: None,
                ..manual()
            }),
            "lawful_basis"
        );
        assert_eq!(
            field(ManualShare {
                without_consent_reason: String::new(),
                ..manual()
            }),
            "without_consent_reason"
        );
        assert_eq!(
            field(ManualShare {
                consent_record_id: Some("c2".into()),
                ..manual()
            }),
            "consent_record_id",
            "only a given consent can be relied on"
        );
        let relying = ManualShare {
            consent_record_id: Some("c1".into()),
            without_consent_reason: String::new(),
            ..manual()
        };
        assert_eq!(check_manual(&relying, &["c1"], 2_000), Ok(()));
        assert_eq!(
            field(ManualShare {
                what: "x".repeat(MAX_TEXT + 1),
                ..manual()
            }),
            "what"
        );
    }

    #[test]
    fn a_decision_not_to_share_needs_its_reasons() {
        let d = NotSharing {
            to_description: "The child's father".into(),
            what: "The new address".into(),
            decided_at: 1_000,
            purpose: "Contact arrangements".into(),
            reasons: "Risk of harm to the mother".into(),
        };
        assert_eq!(check_not_sharing(&d, 2_000), Ok(()));
        let no_reasons = NotSharing {
            reasons: "  ".into(),
            ..d.clone()
        };
        assert_eq!(
            check_not_sharing(&no_reasons, 2_000).unwrap_err().field,
            "reasons"
        );
    }

    #[test]
    fn a_blocked_decision_is_still_recorded_and_flagged_for_review() {
        let consents = [ConsentView {
            record_id: "c1".into(),
            scope: Scope::All,
            state: ConsentState::Withdrawn,
            not_sought_reason: None,
        }];
        let b = basis_of(
            &Decision::Blocked {
                consent_record_id: "c1".into(),
            },
            LawfulBasis::PublicTask,
            &consents,
        );
        assert_eq!(b.lawful_basis, LawfulBasis::PublicTask);
        assert_eq!(b.consent_state, Some(ConsentState::Withdrawn));
        assert!(b.without_consent_reason.unwrap().contains("withdrawn"));
        let given = [ConsentView {
            state: ConsentState::Given,
            ..consents[0].clone()
        }];
        let b = basis_of(
            &Decision::Share {
                lawful_basis: LawfulBasis::PublicTask,
                consent_record_id: Some("c1".into()),
                without_consent_reason: None,
                override_id: None,
            },
            LawfulBasis::PublicTask,
            &given,
        );
        assert_eq!(b.consent_state, Some(ConsentState::Given));
    }

    #[test]
    fn only_auditors_search_the_log() {
        for role in Role::ALL {
            assert_eq!(
                authorize_sharing_search("p", *role).is_some(),
                *role == Role::Auditor
            );
        }
    }

    #[test]
    fn the_childs_names_are_masked_for_auditors_outside_the_case() {
        assert_eq!(
            mask_child(
                "Told Lily's GP about ASHWORTH family; ref NCC-104233.",
                "Lily Ashworth",
                "NCC-104233"
            ),
            "Told [child] GP about [child] family; ref [child]."
        );
        assert_eq!(
            mask_child("Lilyanne and Ashworthy", "Lily Ashworth", "NCC-1"),
            "Lilyanne and Ashworthy"
        );
    }

    #[test]
    fn sources_round_trip() {
        for s in [
            Source::Message,
            Source::Minutes,
            Source::Findings,
            Source::Manual,
            Source::NotShared,
        ] {
            assert_eq!(Source::parse(s.as_str()), Ok(s));
        }
        assert!(Source::parse("copy").is_err());
    }
}
