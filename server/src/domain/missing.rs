//! Missing episodes and return home interviews: the 72-hour clock, who may
//! record what, the interview's lifecycle, and repeat missing.
//!
//! Sources: Statutory guidance on children who run away or go missing from
//! home or care (DfE, January 2014): a return interview is offered within
//! 72 hours of the child's return, by an independent person (someone not
//! involved in caring for the child). Working Together to Safeguard Children
//! (2023): a strategy discussion is convened whenever there is reasonable
//! cause to suspect a child is suffering, or likely to suffer, significant
//! harm — repeated missing episodes are such a sign.

use super::clock::Millis;
use super::vocabulary::{AgencyKind, vocabulary};
use super::working_days::RETURN_HOME_INTERVIEW_HOURS;

const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;

vocabulary!(
    /// How an interviewer tried to reach the child.
    AttemptMethod, "attempt method" {
        Visit => "visit",
        Phone => "phone",
        TextMessage => "text_message",
        Video => "video",
        Letter => "letter",
        ViaCarer => "via_carer",
        Other => "other",
    }
);

vocabulary!(
    /// What came of one attempt to reach the child.
    AttemptOutcome, "attempt outcome" {
        SpokeToChild => "spoke_to_child",
        NoResponse => "no_response",
        ChildNotAvailable => "child_not_available",
        AppointmentMade => "appointment_made",
        ChildDeclined => "child_declined",
        Other => "other",
    }
);

vocabulary!(
    /// How a return home interview ended.
    InterviewOutcome, "interview outcome" {
        Completed => "completed",
        Declined => "declined",
        NotCompleted => "not_completed",
    }
);

vocabulary!(
    /// Why Confer prompts the lead social worker to convene a strategy discussion.
    PromptReason, "prompt reason" {
        RepeatMissing => "repeat_missing",
        ExploitationIndicators => "exploitation_indicators",
    }
);

impl AttemptMethod {
    pub fn label(self) -> &'static str {
        match self {
            AttemptMethod::Visit => "Visit",
            AttemptMethod::Phone => "Phone call",
            AttemptMethod::TextMessage => "Text message",
            AttemptMethod::Video => "Video call",
            AttemptMethod::Letter => "Letter",
            AttemptMethod::ViaCarer => "Through the carer",
            AttemptMethod::Other => "Other",
        }
    }
}

impl AttemptOutcome {
    pub fn label(self) -> &'static str {
        match self {
            AttemptOutcome::SpokeToChild => "Spoke to the child",
            AttemptOutcome::NoResponse => "No response",
            AttemptOutcome::ChildNotAvailable => "Child not available",
            AttemptOutcome::AppointmentMade => "Appointment made",
            AttemptOutcome::ChildDeclined => "Child declined",
            AttemptOutcome::Other => "Other",
        }
    }
}

impl InterviewOutcome {
    pub fn label(self) -> &'static str {
        match self {
            InterviewOutcome::Completed => "Completed",
            InterviewOutcome::Declined => "Declined by the child",
            InterviewOutcome::NotCompleted => "Not completed",
        }
    }
}

/// The instant by which the return interview must be offered: the return
/// plus a plain 72 hours (not working days).
pub fn rhi_due_at(returned_at: Millis) -> Millis {
    returned_at + RETURN_HOME_INTERVIEW_HOURS * HOUR_MS
}

/// Where a return interview's clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RhiStanding {
    /// Open, and more than the at-risk margin before the deadline.
    Due,
    /// Open, within the at-risk margin of the deadline.
    AtRisk,
    /// Open, past the deadline.
    Overdue,
    /// An outcome is recorded; `in_time` when it was reached by the deadline.
    Closed {
        outcome: InterviewOutcome,
        in_time: bool,
    },
}

impl RhiStanding {
    /// The clock at `now`, for an interview due at `due_at` whose outcome
    /// (if any) was reached at `outcome_at`. The deadline itself is still in
    /// time; at risk from `at_risk_hours` before it.
    pub fn of(
        due_at: Millis,
        outcome: Option<(InterviewOutcome, Millis)>,
        now: Millis,
        at_risk_hours: u64,
    ) -> Self {
        if let Some((outcome, at)) = outcome {
            return RhiStanding::Closed {
                outcome,
                in_time: at <= due_at,
            };
        }
        let margin = i64::try_from(at_risk_hours).unwrap_or(i64::MAX / HOUR_MS) * HOUR_MS;
        if now > due_at {
            RhiStanding::Overdue
        } else if now >= due_at.saturating_sub(margin) {
            RhiStanding::AtRisk
        } else {
            RhiStanding::Due
        }
    }

    pub fn is_open(self) -> bool {
        !matches!(self, RhiStanding::Closed { .. })
    }

    /// A short word for pages and tags: due, at risk, overdue, completed in time…
    pub fn describe(self) -> String {
        match self {
            RhiStanding::Due => "due".into(),
            RhiStanding::AtRisk => "at risk".into(),
            RhiStanding::Overdue => "overdue".into(),
            RhiStanding::Closed { outcome, in_time } => format!(
                "{} {}",
                outcome.label().to_lowercase(),
                if in_time { "in time" } else { "late" }
            ),
        }
    }
}

/// The agencies whose members of a case may record a missing episode and
/// the child's return: children's social care, the police, and the child's
/// care provider. Confer has no care-provider agency kind; children's homes
/// and fostering providers are registered as `other` (see docs/missing-episodes.md).
pub fn may_record_episode(kind: AgencyKind) -> bool {
    matches!(
        kind,
        AgencyKind::ChildrensSocialCare | AgencyKind::Police | AgencyKind::Other
    )
}

/// The interview's facts a transition is checked against.
#[derive(Clone, Debug)]
pub struct InterviewState {
    pub returned_at: Millis,
    pub outcome: Option<InterviewOutcome>,
    pub interviewer_person_id: Option<String>,
}

/// An outcome to record.
#[derive(Clone, Debug)]
pub struct OutcomeRecord {
    pub outcome: InterviewOutcome,
    pub at: Millis,
    /// Declined: whether the carers were offered the chance to contribute.
    pub carers_offered: Option<bool>,
    pub carers_contribution: String,
    pub not_completed_reason: String,
}

/// Whether an attempt may be recorded: only while the interview is open,
/// at or after the return and not in the future.
pub fn check_attempt(state: &InterviewState, at: Millis, now: Millis) -> Result<(), String> {
    if let Some(o) = state.outcome {
        return Err(format!(
            "The interview is closed ({}): no more attempts can be recorded.",
            o.label().to_lowercase()
        ));
    }
    check_instant(state.returned_at, at, now, "The attempt")
}

/// Whether an interviewer may be assigned: only while the interview is open,
/// and never the lead social worker (the interviewer is independent of the
/// child's care).
pub fn check_assign(
    state: &InterviewState,
    interviewer: &str,
    lead_social_worker: &str,
) -> Result<(), String> {
    if let Some(o) = state.outcome {
        return Err(format!(
            "The interview is closed ({}): the interviewer cannot change.",
            o.label().to_lowercase()
        ));
    }
    if interviewer == lead_social_worker {
        return Err("The return home interview is done by someone independent of the child's care: choose someone other than the lead social worker.".into());
    }
    Ok(())
}

/// Whether an outcome may be recorded: once, with an interviewer assigned,
/// at an instant between the return and now, with what each outcome needs.
pub fn check_outcome(state: &InterviewState, o: &OutcomeRecord, now: Millis) -> Result<(), String> {
    if let Some(done) = state.outcome {
        return Err(format!(
            "The interview's outcome is already recorded ({}): it cannot be recorded again.",
            done.label().to_lowercase()
        ));
    }
    if state.interviewer_person_id.is_none() {
        return Err("Assign an independent interviewer before recording the outcome.".into());
    }
    check_instant(state.returned_at, o.at, now, "The outcome")?;
    match o.outcome {
        InterviewOutcome::Completed => Ok(()),
        InterviewOutcome::Declined => match o.carers_offered {
            None => {
                Err("Say whether the child's carers were offered the chance to contribute.".into())
            }
            Some(true) if o.carers_contribution.trim().is_empty() => {
                Err("Record what the carers contributed (or that they chose not to).".into())
            }
            _ => Ok(()),
        },
        InterviewOutcome::NotCompleted if o.not_completed_reason.trim().is_empty() => {
            Err("Give the reason the interview was not completed.".into())
        }
        InterviewOutcome::NotCompleted => Ok(()),
    }
}

fn check_instant(returned_at: Millis, at: Millis, now: Millis, what: &str) -> Result<(), String> {
    if at < returned_at {
        return Err(format!("{what} cannot be before the child's return."));
    }
    if at > now {
        return Err(format!("{what} cannot be in the future."));
    }
    Ok(())
}

/// Whether a return may be recorded: once, not before the child went missing,
/// not in the future.
pub fn check_return(
    reported_missing_at: Millis,
    already_returned: bool,
    returned_at: Millis,
    now: Millis,
) -> Result<(), String> {
    if already_returned {
        return Err("The return is already recorded for this episode.".into());
    }
    if returned_at < reported_missing_at {
        return Err("The return cannot be before the child was reported missing.".into());
    }
    if returned_at > now {
        return Err("The return cannot be in the future.".into());
    }
    Ok(())
}

/// Episodes in the rolling window ending at `now` and in the window before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trend {
    pub window_days: u64,
    pub current: usize,
    pub previous: usize,
}

impl Trend {
    /// Count episodes (by when the child was reported missing) in
    /// `(now - window, now]` and in the window before it.
    pub fn of(reported: &[Millis], now: Millis, window_days: u64) -> Self {
        let window = i64::try_from(window_days).unwrap_or(i64::MAX / DAY_MS) * DAY_MS;
        let current = count_in(reported, now - window, now);
        let previous = count_in(reported, now - 2 * window, now - window);
        Trend {
            window_days,
            current,
            previous,
        }
    }

    /// "Rising", "falling" or "steady" compared with the window before.
    pub fn direction(self) -> &'static str {
        match self.current.cmp(&self.previous) {
            std::cmp::Ordering::Greater => "rising",
            std::cmp::Ordering::Less => "falling",
            std::cmp::Ordering::Equal => "steady",
        }
    }
}

fn count_in(reported: &[Millis], after: Millis, up_to: Millis) -> usize {
    reported
        .iter()
        .filter(|&&t| t > after && t <= up_to)
        .count()
}

/// Whether the episode reported at `at` makes the child's count in the
/// window ending then reach the threshold (DESIGN.md: default 3 in 90 days).
pub fn reaches_threshold(
    reported: &[Millis],
    at: Millis,
    window_days: u64,
    threshold: u64,
) -> bool {
    let n = Trend::of(reported, at, window_days).current;
    threshold > 0 && n as u64 >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETURNED: Millis = 1_000 * HOUR_MS;

    fn open(interviewer: Option<&str>) -> InterviewState {
        InterviewState {
            returned_at: RETURNED,
            outcome: None,
            interviewer_person_id: interviewer.map(str::to_string),
        }
    }

    fn outcome(o: InterviewOutcome, at: Millis) -> OutcomeRecord {
        OutcomeRecord {
            outcome: o,
            at,
            carers_offered: None,
            carers_contribution: String::new(),
            not_completed_reason: String::new(),
        }
    }

    #[test]
    fn the_clock_is_a_plain_72_hours_from_the_return() {
        assert_eq!(rhi_due_at(RETURNED), RETURNED + 72 * HOUR_MS);
    }

    #[test]
    fn due_then_at_risk_then_overdue() {
        let due = rhi_due_at(RETURNED);
        let s = |now| RhiStanding::of(due, None, now, 24);
        assert_eq!(s(RETURNED), RhiStanding::Due);
        assert_eq!(s(due - 24 * HOUR_MS - 1), RhiStanding::Due);
        assert_eq!(s(due - 24 * HOUR_MS), RhiStanding::AtRisk);
        assert_eq!(
            s(due),
            RhiStanding::AtRisk,
            "the deadline itself is in time"
        );
        assert_eq!(s(due + 1), RhiStanding::Overdue);
        assert_eq!(s(due + 1).describe(), "overdue");
    }

    #[test]
    fn an_outcome_closes_the_clock_in_time_or_late() {
        let due = rhi_due_at(RETURNED);
        let c = RhiStanding::of(due, Some((InterviewOutcome::Completed, due)), due + 99, 24);
        assert_eq!(
            c,
            RhiStanding::Closed {
                outcome: InterviewOutcome::Completed,
                in_time: true
            }
        );
        assert_eq!(c.describe(), "completed in time");
        let late = RhiStanding::of(due, Some((InterviewOutcome::Completed, due + 1)), due, 24);
        assert_eq!(late.describe(), "completed late");
        assert!(!late.is_open());
    }

    #[test]
    fn police_csc_and_care_providers_record_episodes_others_do_not() {
        for k in AgencyKind::ALL {
            let expected = matches!(
                k,
                AgencyKind::ChildrensSocialCare | AgencyKind::Police | AgencyKind::Other
            );
            assert_eq!(may_record_episode(*k), expected, "{k}");
        }
    }

    #[test]
    fn each_outcome_needs_what_it_needs() {
        let s = open(Some("int"));
        let now = RETURNED + 10 * HOUR_MS;
        assert!(check_outcome(&s, &outcome(InterviewOutcome::Completed, now), now).is_ok());
        let mut d = outcome(InterviewOutcome::Declined, now);
        assert!(check_outcome(&s, &d, now).unwrap_err().contains("carers"));
        d.carers_offered = Some(true);
        assert!(
            check_outcome(&s, &d, now)
                .unwrap_err()
                .contains("contributed")
        );
        d.carers_contribution = "Carer says she stayed with a friend".into();
        assert!(check_outcome(&s, &d, now).is_ok());
        d.carers_offered = Some(false);
        d.carers_contribution.clear();
        assert!(check_outcome(&s, &d, now).is_ok());
        let mut n = outcome(InterviewOutcome::NotCompleted, now);
        assert!(check_outcome(&s, &n, now).unwrap_err().contains("reason"));
        n.not_completed_reason = "Child moved out of area".into();
        assert!(check_outcome(&s, &n, now).is_ok());
    }

    #[test]
    fn invalid_transitions_are_refused() {
        let now = RETURNED + 10 * HOUR_MS;
        let c = outcome(InterviewOutcome::Completed, now);
        assert!(
            check_outcome(&open(None), &c, now)
                .unwrap_err()
                .contains("Assign")
        );
        let mut closed = open(Some("int"));
        closed.outcome = Some(InterviewOutcome::Completed);
        assert!(
            check_outcome(&closed, &c, now)
                .unwrap_err()
                .contains("already")
        );
        assert!(
            check_attempt(&closed, now, now)
                .unwrap_err()
                .contains("closed")
        );
        assert!(check_assign(&closed, "x", "lead").is_err());
        assert!(
            check_assign(&open(None), "lead", "lead")
                .unwrap_err()
                .contains("independent")
        );
        assert!(check_assign(&open(None), "x", "lead").is_ok());
        assert!(
            check_attempt(&open(None), RETURNED - 1, now)
                .unwrap_err()
                .contains("before")
        );
        assert!(
            check_attempt(&open(None), now + 1, now)
                .unwrap_err()
                .contains("future")
        );
        assert!(
            check_outcome(
                &open(Some("i")),
                &outcome(InterviewOutcome::Completed, now + 1),
                now
            )
            .is_err()
        );
        assert!(check_return(10, false, 9, 20).is_err());
        assert!(check_return(10, false, 21, 20).is_err());
        assert!(check_return(10, true, 15, 20).is_err());
        assert!(check_return(10, false, 15, 20).is_ok());
    }

    #[test]
    fn three_in_the_window_reach_the_threshold_three_spread_wider_do_not() {
        let day = DAY_MS;
        let start = 1_000 * day;
        let tight = [start, start + 40 * day, start + 89 * day];
        assert!(reaches_threshold(&tight, start + 89 * day, 90, 3));
        assert!(!reaches_threshold(&tight[..2], start + 40 * day, 90, 3));
        // The first is exactly 90 days before the third: outside the window.
        let wide = [start, start + 45 * day, start + 90 * day];
        assert!(!reaches_threshold(&wide, start + 90 * day, 90, 3));
        assert!(
            !reaches_threshold(&tight, start + 89 * day, 90, 0),
            "0 turns prompts off"
        );
    }

    #[test]
    fn the_trend_compares_this_window_with_the_one_before() {
        let day = DAY_MS;
        let now = 1_000 * day;
        let t = Trend::of(
            &[now - 200 * day, now - 100 * day, now - 5 * day, now - day],
            now,
            90,
        );
        assert_eq!((t.current, t.previous), (2, 1));
        assert_eq!(t.direction(), "rising");
        let t = Trend::of(&[now - 100 * day], now, 90);
        assert_eq!(t.direction(), "falling");
    }
}
