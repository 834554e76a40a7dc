//! The shape of each kind's recorded outcome, checked before it is stored, and the rule for extending a deadline.

use super::*;

/// The strategy discussion's agreed next step (Children Act 1989 s47).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section47 {
    /// No section 47 enquiry.
    None,
    SingleAgency,
    Joint,
}

/// A child protection plan decision at a conference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanDecision {
    /// Initial conference: a plan is made.
    Made,
    /// Initial conference: no plan.
    NotMade,
    /// Review conference: the plan continues.
    Continues,
    /// Review conference: the plan ends.
    Ended,
}

/// The category of abuse or neglect under which a plan is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Neglect,
    PhysicalAbuse,
    SexualAbuse,
    EmotionalAbuse,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Neglect,
        Category::PhysicalAbuse,
        Category::SexualAbuse,
        Category::EmotionalAbuse,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Neglect => "neglect",
            Category::PhysicalAbuse => "physical_abuse",
            Category::SexualAbuse => "sexual_abuse",
            Category::EmotionalAbuse => "emotional_abuse",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Category::Neglect => "Neglect",
            Category::PhysicalAbuse => "Physical abuse",
            Category::SexualAbuse => "Sexual abuse",
            Category::EmotionalAbuse => "Emotional abuse",
        }
    }
}

/// The structured outcome of a meeting; the shape depends on its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Outcome {
    Strategy {
        section_47: Section47,
        immediate_safety_actions: String,
        /// What the family is told.
        family_told: String,
        /// When (or why not yet).
        family_told_when: String,
        initial_conference_needed: bool,
    },
    Conference {
        plan: PlanDecision,
        category: Option<Category>,
        core_group_members: String,
    },
    Progress {
        plan_progress: String,
    },
}

/// Why an outcome does not fit its meeting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OutcomeError(pub String);

fn err<T>(message: &str) -> Result<T, OutcomeError> {
    Err(OutcomeError(message.to_string()))
}

/// Check an outcome against its meeting's kind.
pub fn check_outcome(kind: MeetingKind, outcome: &Outcome) -> Result<(), OutcomeError> {
    match (kind, outcome) {
        (
            MeetingKind::StrategyDiscussion,
            Outcome::Strategy {
                section_47,
                immediate_safety_actions,
                family_told,
                family_told_when,
                initial_conference_needed,
            },
        ) => {
            if immediate_safety_actions.trim().is_empty() {
                return err("Record the immediate safety actions (or \"none needed\" and why).");
            }
            if family_told.trim().is_empty() || family_told_when.trim().is_empty() {
                return err("Record what the family is told and when (or why not yet).");
            }
            if *initial_conference_needed && *section_47 == Section47::None {
                return err(
                    "An initial child protection conference follows a section 47 enquiry: record the enquiry too.",
                );
            }
            Ok(())
        }
        (MeetingKind::StrategyDiscussion, _) => {
            err("A strategy discussion records the section 47 decision.")
        }
        (MeetingKind::InitialConference, Outcome::Conference { plan, category, .. }) => {
            match plan {
                PlanDecision::Made => {}
                PlanDecision::NotMade => {}
                _ => return err("An initial conference decides whether a plan is made."),
            }
            check_category(*plan, *category, outcome)
        }
        (MeetingKind::ReviewConference, Outcome::Conference { plan, category, .. }) => {
            match plan {
                PlanDecision::Continues | PlanDecision::Ended => {}
                _ => {
                    return err("A review conference decides whether the plan continues or ends.");
                }
            }
            check_category(*plan, *category, outcome)
        }
        (MeetingKind::InitialConference | MeetingKind::ReviewConference, _) => {
            err("A conference records the child protection plan decision.")
        }
        (_, Outcome::Progress { plan_progress }) => {
            if plan_progress.trim().is_empty() {
                err("Record the progress of the plan.")
            } else {
                Ok(())
            }
        }
        (_, _) => err("This meeting records the plan's progress."),
    }
}

fn check_category(
    plan: PlanDecision,
    category: Option<Category>,
    outcome: &Outcome,
) -> Result<(), OutcomeError> {
    let plan_in_force = matches!(plan, PlanDecision::Made | PlanDecision::Continues);
    if plan_in_force && category.is_none() {
        return err("A child protection plan needs its category.");
    }
    if !plan_in_force && category.is_some() {
        return err("A category is recorded only with a plan.");
    }
    if let Outcome::Conference {
        core_group_members, ..
    } = outcome
        && plan_in_force
        && core_group_members.trim().is_empty()
    {
        return err("Name the core group members.");
    }
    Ok(())
}

/// A deadline extension may be agreed only by a manager, and needs a reason.
pub fn check_extension(
    agreed_by_manager: bool,
    reason: &str,
    old_due: Date,
    new_due: Date,
) -> Result<(), OutcomeError> {
    if !agreed_by_manager {
        return err("Only a manager in the case team can agree to extend a deadline.");
    }
    if reason.trim().is_empty() {
        return err("Give the reason for the delay.");
    }
    if new_due <= old_due {
        return err("The new date must be later than the current one.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::meetings::test_support::*;

    #[test]
    fn outcomes_must_fit_their_kind() {
        use MeetingKind::*;
        assert!(check_outcome(StrategyDiscussion, &strategy(Section47::Joint, true)).is_ok());
        assert!(check_outcome(StrategyDiscussion, &strategy(Section47::None, true)).is_err());
        assert!(
            check_outcome(
                StrategyDiscussion,
                &Outcome::Progress {
                    plan_progress: "x".into()
                }
            )
            .is_err()
        );
        let mut no_family = strategy(Section47::SingleAgency, false);
        if let Outcome::Strategy { family_told, .. } = &mut no_family {
            family_told.clear();
        }
        assert!(check_outcome(StrategyDiscussion, &no_family).is_err());

        assert!(
            check_outcome(
                InitialConference,
                &conference(PlanDecision::Made, Some(Category::Neglect))
            )
            .is_ok()
        );
        assert!(check_outcome(InitialConference, &conference(PlanDecision::Made, None)).is_err());
        assert!(check_outcome(InitialConference, &conference(PlanDecision::NotMade, None)).is_ok());
        assert!(
            check_outcome(
                InitialConference,
                &conference(PlanDecision::NotMade, Some(Category::Neglect))
            )
            .is_err()
        );
        assert!(
            check_outcome(
                InitialConference,
                &conference(PlanDecision::Continues, Some(Category::Neglect))
            )
            .is_err()
        );
        assert!(
            check_outcome(
                ReviewConference,
                &conference(PlanDecision::Continues, Some(Category::EmotionalAbuse))
            )
            .is_ok()
        );
        assert!(check_outcome(ReviewConference, &conference(PlanDecision::Ended, None)).is_ok());
        assert!(
            check_outcome(
                ReviewConference,
                &conference(PlanDecision::Made, Some(Category::Neglect))
            )
            .is_err()
        );
        let mut no_core_group = conference(PlanDecision::Made, Some(Category::SexualAbuse));
        if let Outcome::Conference {
            core_group_members, ..
        } = &mut no_core_group
        {
            core_group_members.clear();
        }
        assert!(check_outcome(InitialConference, &no_core_group).is_err());
        for kind in [
            CoreGroup,
            ChildInNeed,
            Professionals,
            ReturnHomeInterviewDebrief,
        ] {
            assert!(
                check_outcome(
                    kind,
                    &Outcome::Progress {
                        plan_progress: "Attendance up".into()
                    }
                )
                .is_ok()
            );
            assert!(
                check_outcome(
                    kind,
                    &Outcome::Progress {
                        plan_progress: " ".into()
                    }
                )
                .is_err()
            );
            assert!(check_outcome(kind, &strategy(Section47::Joint, true)).is_err());
        }
    }
}
