//! The deadlines an outcome or an event on the case sets, and how each stands today (working days).

use super::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::meetings::test_support::*;
    use proptest::prelude::*;
    use time::macros::date;

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
