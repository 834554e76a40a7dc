//! Meetings (DESIGN.md, "Meeting" and "Statutory clock"): the kinds, which
//! agencies each kind requires or recommends, the shape of each kind's
//! recorded outcome, and the deadlines an outcome sets. No I/O: the store
//! keeps what these functions decide.
//!
//! Sources: Working Together to Safeguard Children 2023, chapter 3
//! ("Providing help, support and protection": strategy discussions, section
//! 47 enquiries, initial and review child protection conferences, core
//! groups), and the Children Act 1989 section 47.

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

/// A deadline that an outcome sets: what is due and by which day (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub kind: DeadlineKind,
    pub due_on: Date,
}

/// The deadlines a meeting held on `held_on` sets by its outcome (DESIGN.md's
/// table). The strategy record deadline comes from holding the meeting itself.
pub fn deadlines_from(
    kind: MeetingKind,
    held_on: Date,
    outcome: &Outcome,
    calendar: &Calendar,
) -> Vec<Due> {
    let mut out = Vec::new();
    let mut due = |kind, due_on| out.push(Due { kind, due_on });
    if kind.record_due_next_working_day() {
        due(
            DeadlineKind::StrategyRecord,
            calendar.add_working_days(held_on, 1),
        );
    }
    match (kind, outcome) {
        (
            MeetingKind::StrategyDiscussion,
            Outcome::Strategy {
                section_47,
                initial_conference_needed,
                ..
            },
        ) if *section_47 != Section47::None || *initial_conference_needed => {
            due(
                DeadlineKind::InitialConference,
                Limit::InitialConference.due(calendar, held_on),
            );
        }
        (
            MeetingKind::InitialConference,
            Outcome::Conference {
                plan: PlanDecision::Made,
                ..
            },
        ) => {
            due(
                DeadlineKind::FirstCoreGroup,
                Limit::FirstCoreGroup.due(calendar, held_on),
            );
            due(DeadlineKind::FirstReview, add_months(held_on, 3));
        }
        (
            MeetingKind::ReviewConference,
            Outcome::Conference {
                plan: PlanDecision::Continues,
                ..
            },
        ) => {
            due(DeadlineKind::NextReview, add_months(held_on, 6));
        }
        _ => {}
    }
    out
}

/// An event recorded on a case that starts the statutory clock by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockEvent {
    /// A concern that the child is suffering, or likely to suffer, significant
    /// harm: a strategy discussion the same or the next working day.
    ConcernOfSignificantHarm,
    /// A referral accepted for assessment: the assessment within 45 working days.
    ReferralAccepted,
}

impl ClockEvent {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "concern" => Some(ClockEvent::ConcernOfSignificantHarm),
            "referral" => Some(ClockEvent::ReferralAccepted),
            _ => None,
        }
    }
}

/// The deadline an event on `on` starts. `next_day`: whether a strategy
/// discussion may wait until the next working day (configurable).
pub fn deadline_for_event(event: ClockEvent, on: Date, calendar: &Calendar, next_day: bool) -> Due {
    match event {
        ClockEvent::ConcernOfSignificantHarm => Due {
            kind: DeadlineKind::StrategyDiscussion,
            due_on: Limit::StrategyDiscussion { next_day }.due(calendar, on),
        },
        ClockEvent::ReferralAccepted => Due {
            kind: DeadlineKind::Assessment,
            due_on: Limit::Assessment.due(calendar, on),
        },
    }
}

/// Where a deadline stands on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Met { on: Date, late: bool },
    Due { working_days_left: i64 },
    DueToday,
    Overdue { working_days: i64 },
}

impl Standing {
    pub fn of(due_on: Date, met_on: Option<Date>, today: Date, calendar: &Calendar) -> Self {
        if let Some(on) = met_on {
            return Standing::Met {
                on,
                late: on > due_on,
            };
        }
        if today == due_on {
            Standing::DueToday
        } else if today < due_on {
            Standing::Due {
                working_days_left: calendar.working_days_between(today, due_on),
            }
        } else {
            Standing::Overdue {
                working_days: calendar.working_days_between(due_on, today).max(1),
            }
        }
    }

    pub fn is_overdue(self) -> bool {
        matches!(self, Standing::Overdue { .. })
    }

    /// Short text for pages: "due in 3 working days", "overdue by 2 working days".
    pub fn describe(self) -> String {
        fn days(n: i64) -> String {
            if n == 1 {
                "1 working day".into()
            } else {
                format!("{n} working days")
            }
        }
        match self {
            Standing::Met { on, late: false } => format!("met on {on}"),
            Standing::Met { on, late: true } => format!("met late, on {on}"),
            Standing::DueToday => "due today".into(),
            Standing::Due { working_days_left } => format!("due in {}", days(working_days_left)),
            Standing::Overdue { working_days } => format!("overdue by {}", days(working_days)),
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
    use proptest::prelude::*;
    use time::macros::date;

    fn strategy(s47: Section47, icpc: bool) -> Outcome {
        Outcome::Strategy {
            section_47: s47,
            immediate_safety_actions: "Child stays with grandmother tonight".into(),
            family_told: "That an enquiry starts".into(),
            family_told_when: "Today by the social worker".into(),
            initial_conference_needed: icpc,
        }
    }

    fn conference(plan: PlanDecision, category: Option<Category>) -> Outcome {
        Outcome::Conference {
            plan,
            category,
            core_group_members: "Social worker, school DSL, health visitor".into(),
        }
    }

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

    #[test]
    fn a_section_47_decision_sets_the_initial_conference_fifteen_working_days_on() {
        let cal = Calendar::default();
        // Thursday 10 December 2026: 15 working days runs over Christmas
        // (25 and 28 December are bank holidays in 2026) and New Year.
        let dues = deadlines_from(
            MeetingKind::StrategyDiscussion,
            date!(2026 - 12 - 10),
            &strategy(Section47::Joint, true),
            &cal,
        );
        assert_eq!(
            dues,
            vec![
                Due {
                    kind: DeadlineKind::StrategyRecord,
                    due_on: date!(2026 - 12 - 11)
                },
                Due {
                    kind: DeadlineKind::InitialConference,
                    due_on: date!(2027 - 01 - 05)
                },
            ]
        );
        // No enquiry: only the record is due. Friday's record is due Monday.
        let dues = deadlines_from(
            MeetingKind::StrategyDiscussion,
            date!(2026 - 11 - 27),
            &strategy(Section47::None, false),
            &cal,
        );
        assert_eq!(
            dues,
            vec![Due {
                kind: DeadlineKind::StrategyRecord,
                due_on: date!(2026 - 11 - 30)
            }]
        );
    }

    #[test]
    fn a_plan_sets_the_first_core_group_and_the_reviews() {
        let cal = Calendar::default();
        let dues = deadlines_from(
            MeetingKind::InitialConference,
            date!(2027 - 03 - 18),
            &conference(PlanDecision::Made, Some(Category::Neglect)),
            &cal,
        );
        // 10 working days from Thursday 18 March 2027 skips Good Friday
        // (26 March) and Easter Monday (29 March).
        assert_eq!(
            dues,
            vec![
                Due {
                    kind: DeadlineKind::FirstCoreGroup,
                    due_on: date!(2027 - 04 - 05)
                },
                Due {
                    kind: DeadlineKind::FirstReview,
                    due_on: date!(2027 - 06 - 18)
                },
            ]
        );
        assert!(
            deadlines_from(
                MeetingKind::InitialConference,
                date!(2027 - 03 - 18),
                &conference(PlanDecision::NotMade, None),
                &cal,
            )
            .is_empty()
        );
        assert_eq!(
            deadlines_from(
                MeetingKind::ReviewConference,
                date!(2027 - 08 - 31),
                &conference(PlanDecision::Continues, Some(Category::Neglect)),
                &cal,
            ),
            vec![Due {
                kind: DeadlineKind::NextReview,
                due_on: date!(2028 - 02 - 29)
            }]
        );
        assert!(
            deadlines_from(
                MeetingKind::ReviewConference,
                date!(2027 - 08 - 31),
                &conference(PlanDecision::Ended, None),
                &cal,
            )
            .is_empty()
        );
    }

    #[test]
    fn events_on_the_case_start_their_own_deadlines() {
        let cal = Calendar::default();
        // A concern on Friday 27 November 2026: Monday at the latest, or the same day.
        let d = deadline_for_event(
            ClockEvent::ConcernOfSignificantHarm,
            date!(2026 - 11 - 27),
            &cal,
            true,
        );
        assert_eq!(
            (d.kind, d.due_on),
            (DeadlineKind::StrategyDiscussion, date!(2026 - 11 - 30))
        );
        let d = deadline_for_event(
            ClockEvent::ConcernOfSignificantHarm,
            date!(2026 - 11 - 27),
            &cal,
            false,
        );
        assert_eq!(d.due_on, date!(2026 - 11 - 27));
        assert_eq!(
            DeadlineKind::StrategyDiscussion.met_by(),
            Some(MeetingKind::StrategyDiscussion)
        );
        // 45 working days from Monday 2 November 2026 run over Christmas.
        let d = deadline_for_event(
            ClockEvent::ReferralAccepted,
            date!(2026 - 11 - 02),
            &cal,
            true,
        );
        assert_eq!(
            (d.kind, d.due_on),
            (DeadlineKind::Assessment, date!(2027 - 01 - 07))
        );
        assert_eq!(DeadlineKind::Assessment.met_by(), None);
    }

    #[test]
    fn standing_counts_working_days() {
        let cal = Calendar::default();
        let due = date!(2026 - 12 - 24);
        assert_eq!(
            Standing::of(due, None, date!(2026 - 12 - 21), &cal),
            Standing::Due {
                working_days_left: 3
            }
        );
        assert_eq!(Standing::of(due, None, due, &cal), Standing::DueToday);
        // 25 and 28 December 2026 are bank holidays; 26–27 a weekend.
        assert_eq!(
            Standing::of(due, None, date!(2026 - 12 - 29), &cal),
            Standing::Overdue { working_days: 1 }
        );
        assert_eq!(
            Standing::of(
                due,
                Some(date!(2026 - 12 - 29)),
                date!(2027 - 01 - 10),
                &cal
            ),
            Standing::Met {
                on: date!(2026 - 12 - 29),
                late: true
            }
        );
        assert_eq!(
            Standing::Overdue { working_days: 2 }.describe(),
            "overdue by 2 working days"
        );
    }

    #[test]
    fn extensions_need_a_manager_a_reason_and_a_later_date() {
        let (a, b) = (date!(2026 - 12 - 01), date!(2026 - 12 - 08));
        assert!(check_extension(true, "Parent in hospital", a, b).is_ok());
        assert!(check_extension(false, "Parent in hospital", a, b).is_err());
        assert!(check_extension(true, " ", a, b).is_err());
        assert!(check_extension(true, "Parent in hospital", b, a).is_err());
    }

    proptest! {
        #[test]
        fn derived_deadlines_fall_on_working_days_or_calendar_months(
            day in 0i64..3650,
            s47 in prop_oneof![Just(Section47::None), Just(Section47::SingleAgency), Just(Section47::Joint)],
        ) {
            let cal = Calendar::default();
            let held = date!(2024 - 01 - 01) + time::Duration::days(day);
            for due in deadlines_from(MeetingKind::StrategyDiscussion, held, &strategy(s47, false), &cal) {
                prop_assert!(due.due_on > held);
                prop_assert!(cal.is_working_day(due.due_on));
            }
        }
    }
}
