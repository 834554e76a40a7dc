//! Consent to share information (DESIGN.md, "Consent record"): the states a
//! record may be in, the changes allowed between them, and what each state
//! means for automatic sharing. Records are never overwritten: each change
//! is a new version, checked here first.
//!
//! Consent is one lawful basis among several and, for safeguarding, seldom
//! the right one: it is never a precondition for sharing to protect a child.
//! What a refusal or a withdrawal does is stop *automatic* sharing until a
//! practitioner records an override with its lawful basis and reason.

/// The state of one consent record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Sought,
    Given,
    Refused,
    Withdrawn,
    NotSought,
}

/// How consent was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    Verbal,
    Written,
}

/// Why consent was not sought (the guidance's usual reasons, or another).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotSoughtReason {
    WouldPlaceChildAtRisk,
    WouldPrejudicePoliceInvestigation,
    CouldNotBeObtainedInTime,
    Other(String),
}

/// A proposed change to a consent record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Seek,
    Give { evidence: Evidence, detail: String },
    Refuse,
    Withdraw,
    NotSeek { reason: NotSoughtReason },
}

impl Change {
    pub fn target(&self) -> ConsentState {
        match self {
            Change::Seek => ConsentState::Sought,
            Change::Give { .. } => ConsentState::Given,
            Change::Refuse => ConsentState::Refused,
            Change::Withdraw => ConsentState::Withdrawn,
            Change::NotSeek { .. } => ConsentState::NotSought,
        }
    }
}

/// Why a change is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The change makes no sense from the current state.
    Transition {
        from: Option<ConsentState>,
        to: ConsentState,
    },
    /// Consent given needs a note of the evidence (who said what, or where the form is).
    EvidenceMissing,
    /// "Other" needs the reason spelled out.
    ReasonMissing,
}

impl Invalid {
    pub fn message(&self) -> String {
        match self {
            Invalid::Transition { from: None, to } => {
                format!("A new consent record cannot start as {}.", label(*to))
            }
            Invalid::Transition { from: Some(from), to } => format!(
                "Consent that is {} cannot become {}.{}",
                label(*from),
                label(*to),
                hint(*from, *to)
            ),
            Invalid::EvidenceMissing => "Record the evidence of consent: who gave it, how and when, or where the signed form is.".into(),
            Invalid::ReasonMissing => "Say why consent was not sought.".into(),
        }
    }
}

fn label(s: ConsentState) -> &'static str {
    match s {
        ConsentState::Sought => "sought",
        ConsentState::Given => "given",
        ConsentState::Refused => "refused",
        ConsentState::Withdrawn => "withdrawn",
        ConsentState::NotSought => "not sought",
    }
}

fn hint(from: ConsentState, to: ConsentState) -> &'static str {
    match (from, to) {
        (ConsentState::Given, ConsentState::Refused) => {
            " If the person no longer agrees, record a withdrawal."
        }
        (
            ConsentState::Sought | ConsentState::Refused | ConsentState::NotSought,
            ConsentState::Withdrawn,
        ) => " Only consent that was given can be withdrawn.",
        _ => "",
    }
}

/// Check a change against the current state (`None` for a new record) and
/// return the new state. Allowed:
///
/// - a new record may start as sought, given, refused or not sought;
/// - sought → given, refused, not sought;
/// - given → withdrawn, or given again (confirmed with new evidence);
/// - refused, withdrawn, not sought → sought or given (asked again, changed mind);
/// - refused → not sought is not allowed (asking again is `sought`).
pub fn apply(current: Option<ConsentState>, change: &Change) -> Result<ConsentState, Invalid> {
    use ConsentState::*;
    match change {
        Change::Give { detail, .. } if detail.trim().is_empty() => {
            return Err(Invalid::EvidenceMissing);
        }
        Change::NotSeek {
            reason: NotSoughtReason::Other(why),
        } if why.trim().is_empty() => return Err(Invalid::ReasonMissing),
        _ => {}
    }
    let to = change.target();
    let allowed = matches!(
        (current, to),
        (None, Sought | Given | Refused | NotSought)
            | (Some(Sought), Given | Refused | NotSought)
            | (Some(Given), Withdrawn | Given)
            | (Some(Refused | Withdrawn | NotSought), Sought | Given)
    );
    if allowed {
        Ok(to)
    } else {
        Err(Invalid::Transition { from: current, to })
    }
}

/// What a consent state means for automatic sharing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Share on the case's lawful basis, relying on this record where it is consent.
    Automatic,
    /// Stop: sharing needs an explicit override with lawful basis and reason.
    NeedsOverride,
}

pub fn sharing(state: ConsentState) -> Sharing {
    match state {
        ConsentState::Refused | ConsentState::Withdrawn => Sharing::NeedsOverride,
        _ => Sharing::Automatic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn give() -> Change {
        Change::Give {
            evidence: Evidence::Verbal,
            detail: "Mother agreed by phone to Sam Patel, 24 Nov".into(),
        }
    }

    #[test]
    fn the_usual_journeys_are_allowed() {
        let s = apply(None, &Change::Seek).unwrap();
        let s = apply(Some(s), &give()).unwrap();
        let s = apply(Some(s), &Change::Withdraw).unwrap();
        assert_eq!(s, ConsentState::Withdrawn);
        assert_eq!(sharing(s), Sharing::NeedsOverride);
        let s = apply(Some(s), &Change::Seek).unwrap();
        assert_eq!(sharing(s), Sharing::Automatic);
        let not_sought = apply(
            None,
            &Change::NotSeek {
                reason: NotSoughtReason::WouldPlaceChildAtRisk,
            },
        )
        .unwrap();
        assert_eq!(sharing(not_sought), Sharing::Automatic);
    }

    #[test]
    fn nonsense_is_refused_with_a_useful_message() {
        let e = apply(Some(ConsentState::Given), &Change::Refuse).unwrap_err();
        assert!(
            e.message().contains("record a withdrawal"),
            "{}",
            e.message()
        );
        let e = apply(Some(ConsentState::Sought), &Change::Withdraw).unwrap_err();
        assert!(
            e.message().contains("Only consent that was given"),
            "{}",
            e.message()
        );
        assert!(apply(None, &Change::Withdraw).is_err());
        let blank = Change::Give {
            evidence: Evidence::Written,
            detail: "  ".into(),
        };
        assert_eq!(apply(None, &blank), Err(Invalid::EvidenceMissing));
        let other = Change::NotSeek {
            reason: NotSoughtReason::Other(String::new()),
        };
        assert_eq!(apply(None, &other), Err(Invalid::ReasonMissing));
    }

    fn any_change() -> impl Strategy<Value = Change> {
        prop_oneof![
            Just(Change::Seek),
            Just(give()),
            Just(Change::Refuse),
            Just(Change::Withdraw),
            Just(Change::NotSeek {
                reason: NotSoughtReason::CouldNotBeObtainedInTime
            }),
        ]
    }

    proptest! {
        /// Replaying any history, keeping only the changes `apply` accepts:
        /// withdrawal only ever follows consent given, refused consent never
        /// silently becomes withdrawn or not sought, and automatic sharing
        /// stops exactly when the latest state is refused or withdrawn.
        #[test]
        fn histories_keep_the_rules(changes in proptest::collection::vec(any_change(), 0..40)) {
            let mut state: Option<ConsentState> = None;
            for change in &changes {
                // Refused changes leave the record as it was.
                if let Ok(next) = apply(state, change) {
                    if next == ConsentState::Withdrawn {
                        prop_assert_eq!(state, Some(ConsentState::Given));
                    }
                    if state == Some(ConsentState::Refused) {
                        prop_assert!(matches!(next, ConsentState::Sought | ConsentState::Given));
                    }
                    prop_assert_eq!(next, change.target());
                    state = Some(next);
                }
            }
            if let Some(s) = state {
                let stops = matches!(s, ConsentState::Refused | ConsentState::Withdrawn);
                prop_assert_eq!(sharing(s) == Sharing::NeedsOverride, stops);
            }
        }
    }
}
