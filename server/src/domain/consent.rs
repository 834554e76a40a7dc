//! Consent to share information (DESIGN.md, "Consent record"): the states a
//! record may be in, the changes allowed between them, and what each state
//! means for automatic sharing. Records are never overwritten: each change
//! is a new version, checked here first.
//!
//! Consent is one lawful basis among several and, for safeguarding, seldom
//! the right one: it is never a precondition for sharing to protect a child.
//! What a refusal or a withdrawal does is stop *automatic* sharing until a
//! practitioner records an override with its lawful basis and reason.
//!
//! A child's own record carries their view and whether they are judged
//! competent to decide (Gillick v West Norfolk and Wisbech AHA [1986] AC 112;
//! the information-sharing advice for safeguarding practitioners, 2024): a
//! child judged competent decides for themselves; for a child who is not,
//! their view is still recorded, and consent is sought from a parent or carer
//! with parental responsibility on that person's own record.

use super::vocabulary::vocabulary;

vocabulary!(
    /// Whose consent a record is about: the child, or a parent or carer.
    Relationship, "relationship" {
        Child => "child",
        Mother => "mother",
        Father => "father",
        Parent => "parent",
        Carer => "carer",
        Other => "other",
    }
);

impl Relationship {
    pub fn label(self) -> &'static str {
        match self {
            Relationship::Child => "The child",
            Relationship::Mother => "Mother",
            Relationship::Father => "Father",
            Relationship::Parent => "Parent",
            Relationship::Carer => "Carer",
            Relationship::Other => "Other person with parental responsibility or caring role",
        }
    }
}

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

impl ConsentState {
    pub const ALL: &'static [ConsentState] = &[
        ConsentState::Sought,
        ConsentState::Given,
        ConsentState::Refused,
        ConsentState::Withdrawn,
        ConsentState::NotSought,
    ];

    /// The stored name, e.g. `not_sought`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Sought => "sought",
            ConsentState::Given => "given",
            ConsentState::Refused => "refused",
            ConsentState::Withdrawn => "withdrawn",
            ConsentState::NotSought => "not_sought",
        }
    }

    /// For people: "not sought".
    pub fn label(self) -> &'static str {
        label(self)
    }
}

impl std::str::FromStr for ConsentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsentState::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown consent state '{s}'"))
    }
}

/// How consent was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    Verbal,
    Written,
}

impl Evidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Verbal => "verbal",
            Evidence::Written => "written",
        }
    }
    pub fn parse(s: &str) -> Option<Evidence> {
        match s {
            "verbal" => Some(Evidence::Verbal),
            "written" => Some(Evidence::Written),
            _ => None,
        }
    }
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

impl NotSoughtReason {
    /// The stored code (the text of "other" is stored as the detail).
    pub fn code(&self) -> &'static str {
        match self {
            NotSoughtReason::WouldPlaceChildAtRisk => "would_place_child_at_risk",
            NotSoughtReason::WouldPrejudicePoliceInvestigation => {
                "would_prejudice_police_investigation"
            }
            NotSoughtReason::CouldNotBeObtainedInTime => "could_not_be_obtained_in_time",
            NotSoughtReason::Other(_) => "other",
        }
    }

    /// From a form's code and, for "other", its text.
    pub fn parse(code: &str, other: &str) -> Option<NotSoughtReason> {
        match code {
            "would_place_child_at_risk" => Some(NotSoughtReason::WouldPlaceChildAtRisk),
            "would_prejudice_police_investigation" => {
                Some(NotSoughtReason::WouldPrejudicePoliceInvestigation)
            }
            "could_not_be_obtained_in_time" => Some(NotSoughtReason::CouldNotBeObtainedInTime),
            "other" => Some(NotSoughtReason::Other(other.trim().to_string())),
            _ => None,
        }
    }
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

/// What goes with every change besides the change itself: why it is
/// recorded and, on the child's own record, their view and whether they are
/// judged competent (Gillick) to decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Circumstances {
    pub why: String,
    /// `None`: not assessed (or not the child's record).
    pub gillick_competent: Option<bool>,
    pub child_view: String,
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
    /// Every change says why it is recorded.
    WhyMissing,
    /// Gillick competence and the child's own view belong on the child's record.
    ChildOnly,
    /// The child's own decision needs a judgement of their competence first.
    CompetenceMissing,
    /// A child judged not competent does not decide on their own record.
    NotCompetent { to: ConsentState },
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
            Invalid::WhyMissing => "Say why this is being recorded (for example, where and when it was discussed).".into(),
            Invalid::ChildOnly => "Gillick competence and the child's own view are recorded on the child's own consent record, not a parent's or carer's.".into(),
            Invalid::CompetenceMissing => "Record whether the child is judged competent (Gillick) to decide before recording their own decision.".into(),
            Invalid::NotCompetent { to } => format!(
                "A child judged not competent to decide cannot have consent recorded as {} on their own record. Record their view, and seek consent from a parent or carer with parental responsibility on that person's record.",
                label(*to)
            ),
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

/// The decisions a person makes for themselves: giving, refusing, withdrawing.
fn is_decision(state: ConsentState) -> bool {
    matches!(
        state,
        ConsentState::Given | ConsentState::Refused | ConsentState::Withdrawn
    )
}

/// Check a change to the record of a person with this relationship to the
/// child, with what goes with it, and return the new state. Besides
/// [`apply`]'s rules:
///
/// - every change says why it is recorded;
/// - only the child's own record carries Gillick competence and their view;
/// - on the child's record, giving, refusing or withdrawing consent is the
///   child's own decision, so it needs them judged competent (Gillick):
///   not assessed is refused, and judged not competent is refused with the
///   advice to seek a parent's or carer's consent instead. Seeking consent,
///   or recording that it was not sought, needs no judgement.
pub fn apply_for(
    relationship: Relationship,
    current: Option<ConsentState>,
    change: &Change,
    with: &Circumstances,
) -> Result<ConsentState, Invalid> {
    if with.why.trim().is_empty() {
        return Err(Invalid::WhyMissing);
    }
    if relationship != Relationship::Child
        && (with.gillick_competent.is_some() || !with.child_view.trim().is_empty())
    {
        return Err(Invalid::ChildOnly);
    }
    let to = apply(current, change)?;
    if relationship == Relationship::Child && is_decision(to) {
        match with.gillick_competent {
            None => return Err(Invalid::CompetenceMissing),
            Some(false) => return Err(Invalid::NotCompetent { to }),
            Some(true) => {}
        }
    }
    Ok(to)
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

    fn with(why: &str, gillick: Option<bool>, view: &str) -> Circumstances {
        Circumstances {
            why: why.into(),
            gillick_competent: gillick,
            child_view: view.into(),
        }
    }

    #[test]
    fn a_competent_child_decides_and_a_child_who_is_not_has_their_view_recorded() {
        let why = "Visited at home, 24 Nov";
        let competent = with(why, Some(true), "Doesn't want school told");
        assert_eq!(
            apply_for(Relationship::Child, None, &Change::Refuse, &competent),
            Ok(ConsentState::Refused)
        );
        let not_assessed = with(why, None, "");
        assert_eq!(
            apply_for(Relationship::Child, None, &Change::Refuse, &not_assessed),
            Err(Invalid::CompetenceMissing)
        );
        let not_competent = with(why, Some(false), "Upset, wants mum to decide");
        let e = apply_for(Relationship::Child, None, &give(), &not_competent).unwrap_err();
        assert!(e.message().contains("parent or carer"), "{}", e.message());
        // Asking, or not asking, needs no judgement; the view is still kept.
        assert_eq!(
            apply_for(Relationship::Child, None, &Change::Seek, &not_competent),
            Ok(ConsentState::Sought)
        );
        // A parent's record carries no Gillick judgement or child's view.
        assert_eq!(
            apply_for(Relationship::Mother, None, &Change::Refuse, &competent),
            Err(Invalid::ChildOnly)
        );
        assert_eq!(
            apply_for(
                Relationship::Mother,
                None,
                &Change::Refuse,
                &with(why, None, "")
            ),
            Ok(ConsentState::Refused)
        );
        assert_eq!(
            apply_for(
                Relationship::Mother,
                None,
                &Change::Refuse,
                &with(" ", None, "")
            ),
            Err(Invalid::WhyMissing)
        );
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

        /// The same histories on anyone's record, each change with any
        /// Gillick judgement and view: whatever is accepted is what `apply`
        /// accepts; a child's record only ever takes a decision (given,
        /// refused, withdrawn) from a child judged competent; a parent's or
        /// carer's record never carries a judgement or a child's view; and a
        /// refused change leaves the state as it was.
        #[test]
        fn gillick_rules_hold_over_any_history(
            relationship in proptest::sample::select(Relationship::ALL),
            steps in proptest::collection::vec(
                (any_change(), proptest::option::of(any::<bool>()), any::<bool>(), any::<bool>()),
                0..40,
            ),
        ) {
            let mut state: Option<ConsentState> = None;
            for (change, gillick, has_view, has_why) in &steps {
                let circumstances = Circumstances {
                    why: if *has_why { "Discussed at home visit".into() } else { String::new() },
                    gillick_competent: *gillick,
                    child_view: if *has_view { "Wants to be asked first".into() } else { String::new() },
                };
                match apply_for(relationship, state, change, &circumstances) {
                    Ok(next) => {
                        prop_assert!(has_why);
                        prop_assert_eq!(Ok(next), apply(state, change));
                        if relationship == Relationship::Child {
                            if is_decision(next) {
                                prop_assert_eq!(*gillick, Some(true));
                            }
                        } else {
                            prop_assert!(gillick.is_none() && !has_view);
                        }
                        state = Some(next);
                    }
                    Err(_) => {
                        // Nothing changes; `state` stays as it was.
                    }
                }
            }
        }
    }
}
