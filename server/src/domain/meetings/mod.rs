//! Meetings (DESIGN.md, "Meeting" and "Statutory clock"): the kinds, which
//! agencies each kind requires or recommends, the shape of each kind's
//! recorded outcome, and the deadlines an outcome sets. No I/O: the store
//! keeps what these functions decide.
//!
//! Sources: Working Together to Safeguard Children 2023, chapter 3
//! ("Providing help, support and protection": strategy discussions, section
//! 47 enquiries, initial and review child protection conferences, core
//! groups), and the Children Act 1989 section 47.

mod clock;
mod outcome;

pub use clock::*;
pub use outcome::*;

use serde::{Deserialize, Serialize};
use time::Date;

use super::vocabulary::{AgencyKind, vocabulary};
use super::working_days::{Calendar, Limit, add_months};

vocabulary!(
    /// The kinds of meeting (DESIGN.md, "Meeting").
    MeetingKind, "meeting kind" {
        StrategyDiscussion => "strategy_discussion",
        InitialConference => "initial_child_protection_conference",
        ReviewConference => "review_child_protection_conference",
        CoreGroup => "core_group",
        ChildInNeed => "child_in_need",
        Professionals => "professionals",
        ReturnHomeInterviewDebrief => "return_home_interview_debrief",
    }
);

vocabulary!(
    /// How people take part.
    Mode, "meeting mode" {
        FaceToFace => "face_to_face",
        VideoLink => "video_link",
        Phone => "phone",
    }
);

vocabulary!(
    /// An invitee's answer. `Nominated`: they passed the invitation to a colleague.
    Response, "response" {
        Pending => "pending",
        Accepted => "accepted",
        Declined => "declined",
        Tentative => "tentative",
        Nominated => "nominated",
    }
);

vocabulary!(
    /// The status of an action agreed at a meeting.
    ActionStatus, "action status" {
        Open => "open",
        Done => "done",
        Cancelled => "cancelled",
    }
);

vocabulary!(
    /// A deadline of the statutory clock that a recorded outcome sets.
    DeadlineKind, "deadline" {
        StrategyDiscussion => "strategy_discussion",
        Assessment => "assessment",
        StrategyRecord => "strategy_record",
        InitialConference => "initial_conference",
        FirstCoreGroup => "first_core_group",
        FirstReview => "first_review",
        NextReview => "next_review",
    }
);

impl MeetingKind {
    pub fn label(self) -> &'static str {
        match self {
            MeetingKind::StrategyDiscussion => "Strategy discussion",
            MeetingKind::InitialConference => "Initial child protection conference",
            MeetingKind::ReviewConference => "Review child protection conference",
            MeetingKind::CoreGroup => "Core group meeting",
            MeetingKind::ChildInNeed => "Child in need meeting",
            MeetingKind::Professionals => "Professionals meeting",
            MeetingKind::ReturnHomeInterviewDebrief => "Return home interview debrief",
        }
    }

    /// Whether the chair confirms, per agency, that the person attending was
    /// senior enough to make decisions for it (Working Together 2023, chapter 3).
    pub fn needs_seniority(self) -> bool {
        self == MeetingKind::StrategyDiscussion
    }

    /// The meeting's record is due within one working day of the meeting
    /// (DESIGN.md, "Statutory clock": circulated to every participating agency).
    pub fn record_due_next_working_day(self) -> bool {
        self == MeetingKind::StrategyDiscussion
    }
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::FaceToFace => "Face to face",
            Mode::VideoLink => "Video link",
            Mode::Phone => "Phone",
        }
    }
}

impl Response {
    pub fn label(self) -> &'static str {
        match self {
            Response::Pending => "No answer yet",
            Response::Accepted => "Accepted",
            Response::Declined => "Declined",
            Response::Tentative => "Tentative",
            Response::Nominated => "Nominated a colleague",
        }
    }
}

impl DeadlineKind {
    pub fn label(self) -> &'static str {
        match self {
            DeadlineKind::StrategyDiscussion => "Strategy discussion",
            DeadlineKind::Assessment => "Assessment completed",
            DeadlineKind::StrategyRecord => "Strategy discussion record circulated",
            DeadlineKind::InitialConference => "Initial child protection conference",
            DeadlineKind::FirstCoreGroup => "First core group meeting",
            DeadlineKind::FirstReview => "First review conference",
            DeadlineKind::NextReview => "Next review conference",
        }
    }

    /// The kind of meeting whose holding meets this deadline, if one does
    /// (the strategy record is met by circulating minutes instead).
    pub fn met_by(self) -> Option<MeetingKind> {
        match self {
            DeadlineKind::StrategyRecord | DeadlineKind::Assessment => None,
            DeadlineKind::StrategyDiscussion => Some(MeetingKind::StrategyDiscussion),
            DeadlineKind::InitialConference => Some(MeetingKind::InitialConference),
            DeadlineKind::FirstCoreGroup => Some(MeetingKind::CoreGroup),
            DeadlineKind::FirstReview | DeadlineKind::NextReview => {
                Some(MeetingKind::ReviewConference)
            }
        }
    }

    /// Where the limit comes from, for pages and docs.
    pub fn rule(self) -> &'static str {
        match self {
            DeadlineKind::StrategyDiscussion => {
                "the same or next working day after a concern of significant harm"
            }
            DeadlineKind::Assessment => "within 45 working days of the referral being accepted",
            DeadlineKind::StrategyRecord => "within 1 working day of the strategy discussion",
            DeadlineKind::InitialConference => {
                "within 15 working days of the strategy discussion that started a section 47 enquiry"
            }
            DeadlineKind::FirstCoreGroup => "within 10 working days of the initial conference",
            DeadlineKind::FirstReview => "within 3 months of the initial conference",
            DeadlineKind::NextReview => "within 6 months of the previous review",
        }
    }
}

/// How strongly a kind of meeting needs an agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Leaving it out needs a recorded reason.
    Required,
    /// Proposed by the form; leaving it out needs nothing.
    Recommended,
}

/// One agency rule of a meeting kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AgencyRule {
    pub agency: AgencyKind,
    pub need: Need,
    /// Said on the form and in the docs, e.g. "a social worker and their manager".
    pub note: &'static str,
}

const fn rule(agency: AgencyKind, need: Need, note: &'static str) -> AgencyRule {
    AgencyRule { agency, need, note }
}

/// Which agencies a kind of meeting requires and recommends.
pub fn agency_rules(kind: MeetingKind) -> &'static [AgencyRule] {
    use AgencyKind::*;
    use Need::*;
    match kind {
        // Working Together 2023, chapter 3: social worker and manager, police,
        // health, each senior enough to decide; education and the referring
        // agency should be involved.
        MeetingKind::StrategyDiscussion => {
            const {
                &[
                    rule(
                        ChildrensSocialCare,
                        Required,
                        "a social worker and their manager",
                    ),
                    rule(
                        Police,
                        Required,
                        "senior enough to make decisions for the police",
                    ),
                    rule(
                        Health,
                        Required,
                        "senior enough to make decisions for health",
                    ),
                    rule(Education, Recommended, "the child's school or nursery"),
                ]
            }
        }
        // Conferences: the professionals most involved with the child and
        // family, including police, health and education.
        MeetingKind::InitialConference | MeetingKind::ReviewConference => {
            const {
                &[
                    rule(
                        ChildrensSocialCare,
                        Required,
                        "the social worker and their manager",
                    ),
                    rule(Police, Required, "police safeguarding"),
                    rule(Health, Required, "GP, health visitor or school nurse"),
                    rule(Education, Required, "the child's school or nursery"),
                    rule(Housing, Recommended, "where housing is part of the picture"),
                    rule(
                        Probation,
                        Recommended,
                        "where an adult in the household is supervised",
                    ),
                ]
            }
        }
        // Core group: the lead social worker and the professionals in
        // direct contact with the family.
        MeetingKind::CoreGroup => {
            const {
                &[
                    rule(ChildrensSocialCare, Required, "the lead social worker"),
                    rule(
                        Health,
                        Recommended,
                        "professionals in direct contact with the family",
                    ),
                    rule(
                        Education,
                        Recommended,
                        "professionals in direct contact with the family",
                    ),
                ]
            }
        }
        MeetingKind::ChildInNeed => {
            const {
                &[
                    rule(ChildrensSocialCare, Required, "the lead social worker"),
                    rule(Health, Recommended, "the child's health professionals"),
                    rule(Education, Recommended, "the child's school or nursery"),
                ]
            }
        }
        MeetingKind::Professionals => {
            const {
                &[rule(
                    ChildrensSocialCare,
                    Required,
                    "the lead social worker",
                )]
            }
        }
        MeetingKind::ReturnHomeInterviewDebrief => {
            const {
                &[
                    rule(ChildrensSocialCare, Required, "the lead social worker"),
                    rule(Police, Recommended, "the missing person coordinator"),
                    rule(Education, Recommended, "the school's safeguarding lead"),
                ]
            }
        }
    }
}

/// Which required agencies a set of invited agency kinds leaves out, and
/// which of those still lack a recorded reason.
pub fn missing_required(
    kind: MeetingKind,
    invited: &[AgencyKind],
    reasons: &[(AgencyKind, String)],
) -> Vec<(AgencyRule, Option<String>)> {
    agency_rules(kind)
        .iter()
        .filter(|r| r.need == Need::Required && !invited.contains(&r.agency))
        .map(|r| {
            let reason = reasons
                .iter()
                .find(|(k, why)| *k == r.agency && !why.trim().is_empty())
                .map(|(_, why)| why.trim().to_string());
            (*r, reason)
        })
        .collect()
}

/// Required agencies with nobody who has accepted, for the organiser's warning.
pub fn required_without_acceptance(
    kind: MeetingKind,
    accepted: &[AgencyKind],
    excused: &[AgencyKind],
) -> Vec<AgencyKind> {
    agency_rules(kind)
        .iter()
        .filter(|r| r.need == Need::Required)
        .map(|r| r.agency)
        .filter(|k| !accepted.contains(k) && !excused.contains(k))
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn strategy(s47: Section47, icpc: bool) -> Outcome {
        Outcome::Strategy {
            section_47: s47,
            immediate_safety_actions: "Child stays with grandmother tonight".into(),
            family_told: "That an enquiry starts".into(),
            family_told_when: "Today by the social worker".into(),
            initial_conference_needed: icpc,
        }
    }

    pub(crate) fn conference(plan: PlanDecision, category: Option<Category>) -> Outcome {
        Outcome::Conference {
            plan,
            category,
            core_group_members: "Social worker, school DSL, health visitor".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_discussions_require_social_care_police_and_health() {
        let required: Vec<_> = agency_rules(MeetingKind::StrategyDiscussion)
            .iter()
            .filter(|r| r.need == Need::Required)
            .map(|r| r.agency)
            .collect();
        assert_eq!(
            required,
            vec![
                AgencyKind::ChildrensSocialCare,
                AgencyKind::Police,
                AgencyKind::Health
            ]
        );
        let missing = missing_required(
            MeetingKind::StrategyDiscussion,
            &[AgencyKind::ChildrensSocialCare, AgencyKind::Education],
            &[(AgencyKind::Health, "GP on leave; covered by note".into())],
        );
        assert_eq!(missing.len(), 2);
        assert_eq!(missing[0].0.agency, AgencyKind::Police);
        assert_eq!(missing[0].1, None);
        assert_eq!(
            missing[1].1.as_deref(),
            Some("GP on leave; covered by note")
        );
        // A blank reason is no reason.
        let blank = missing_required(
            MeetingKind::StrategyDiscussion,
            &[AgencyKind::ChildrensSocialCare, AgencyKind::Police],
            &[(AgencyKind::Health, "  ".into())],
        );
        assert_eq!(blank[0].1, None);
    }

    #[test]
    fn every_kind_requires_childrens_social_care() {
        for kind in MeetingKind::ALL {
            assert!(
                agency_rules(*kind).iter().any(
                    |r| r.agency == AgencyKind::ChildrensSocialCare && r.need == Need::Required
                ),
                "{kind}"
            );
        }
    }
}
