//! The meeting's page: the invitation for someone invited, the whole
//! record for the case team.

use askama::Template;

use super::{access_for, choices, london_date_text};
use crate::domain::clock::Millis;
use crate::domain::meetings::{
    Category, MeetingKind, Mode, Need, Outcome, PlanDecision, Response as Answer, Section47,
    agency_rules,
};
use crate::domain::vocabulary::AgencyKind;
use crate::http::AppState;
use crate::http::case_page::message_views;
use crate::http::error::AppResult;
use crate::http::meeting_mail;
use crate::http::session::SignedIn;
use crate::store::deadlines;
use crate::store::meetings::{self, Reach};
use crate::store::{agencies, cases, channels, people, sessions};
use crate::web::meeting_pages::{
    ActionRow, AnswerView, AttendanceRow, ChannelView, Choice, CirculationRow, InvitationRow,
    MeetingPage,
};
use crate::web::templates::when;

/// Build the meeting page for this person.
pub(in crate::http) async fn render(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    error: Option<String>,
) -> AppResult<String> {
    let now = state.now();
    let actor = who.person.actor();
    let access = access_for(state, who, id).await?;
    let meeting = meetings::get(&state.db, &access).await?;
    let calendar = state.settings.meetings.calendar();
    let today = meetings::london_date(now);
    let (date, time) = london_date_text(meeting.starts_at);
    let reach = match access.reach() {
        Reach::Member(_) => "member",
        Reach::Invitee => "invitee",
        Reach::Recipient => "recipient",
    };
    let answers = meetings::invitations_for_me(&state.db, &access, &actor, who.person.guest)
        .await?
        .into_iter()
        .map(|i| AnswerView {
            addressed_to: if i.person_id.is_some() {
                "you".into()
            } else {
                format!("{}'s duty address", i.agency_name)
            },
            agency: i.agency_name.clone(),
            response: i.response.label().to_string(),
            nominated: i.response == Answer::Nominated,
            invitation_id: i.id,
        })
        .collect();
    let mut page = MeetingPage {
        chrome: who.chrome(state),
        id: meeting.id.clone(),
        case_id: meeting.case_id.clone(),
        case_reference: meeting.case_reference.clone(),
        child_name: None,
        kind_label: meeting.kind.label().to_string(),
        when: meeting_mail::when_text(meeting.starts_at, meeting.ends_at),
        date,
        time,
        minutes_long: (meeting.ends_at - meeting.starts_at) / 60_000,
        mode: meeting.mode.label().to_string(),
        modes: choices(
            Mode::ALL,
            meeting.mode,
            |m| m.as_str().to_string(),
            |m| m.label().to_string(),
        ),
        location: meeting.location.clone(),
        chair: meeting.chair_name.clone(),
        organiser: meeting.organiser_name.clone(),
        status: meeting.status.clone(),
        cancel_reason: meeting.cancel_reason.clone(),
        reach,
        answers,
        invitations: Vec::new(),
        warnings: Vec::new(),
        exclusions: Vec::new(),
        can_manage: false,
        can_record: false,
        record_open: now >= meeting.starts_at - meetings::OPENS_BEFORE_MS,
        needs_seniority: meeting.kind.needs_seniority(),
        attendance: Vec::new(),
        attendance_agencies: Vec::new(),
        outcome_shape: match meeting.kind {
            MeetingKind::StrategyDiscussion => "strategy",
            MeetingKind::InitialConference | MeetingKind::ReviewConference => "conference",
            _ => "progress",
        },
        outcome: meeting
            .outcome
            .as_ref()
            .map(outcome_lines)
            .unwrap_or_default(),
        outcome_recorded: meeting.outcome.is_some(),
        categories: Category::ALL
            .iter()
            .map(|c| Choice {
                value: c.as_str().into(),
                label: c.label().into(),
                checked: false,
                hint: String::new(),
            })
            .collect(),
        plan_choices: plan_choices(meeting.kind),
        actions: Vec::new(),
        owner_agencies: Vec::new(),
        owner_people: Vec::new(),
        minutes: String::new(),
        circulated: meeting.circulated_at.map(when),
        record_due: None,
        circulations: Vec::new(),
        to_acknowledge: false,
        acknowledged: None,
        channel: None,
        error,
    };
    // Circulated records: recipients (members or not) read and acknowledge.
    if let Some(mine) = meetings::my_circulation(&state.db, &access).await? {
        page.to_acknowledge = mine.acknowledged_at.is_none();
        page.acknowledged = mine.acknowledged_at.map(when);
        page.minutes = meeting.minutes.clone();
    }
    if !matches!(access.reach(), Reach::Invitee) {
        page.actions = deadlines::actions_of_meeting(&state.db, &access, today)
            .await?
            .into_iter()
            .map(|a| action_row(a, &actor, false))
            .collect();
    }
    let Reach::Member(case_access) = access.reach() else {
        if matches!(access.reach(), Reach::Invitee) {
            page.outcome.clear();
        } else {
            // A recipient outside the case reads the circulated record: audited too.
            crate::store::audit::record(
                &state.db,
                now,
                crate::store::audit::NewEvent {
                    actor_id: Some(&who.person.id),
                    actor_label: &who.person.name,
                    action: "case.read",
                    case_id: Some(access.case_id()),
                    subject: Some(access.meeting_id()),
                    detail: serde_json::json!({ "what": "circulated meeting record" }),
                },
            )
            .await?;
        }
        return Ok(page.render()?);
    };
    // The whole record, for members of the case.
    let case = cases::get(&state.db, case_access).await?;
    page.child_name = Some(case.child_name.clone());
    page.minutes = meeting.minutes.clone();
    page.can_manage = meetings::may_manage(&state.db, &access, &actor).await?;
    page.can_record = meetings::may_record(&state.db, &access, &actor).await?;
    let invitations = meetings::invitations(&state.db, &access).await?;
    page.invitations = invitations
        .iter()
        .map(|i| InvitationRow {
            agency: i.agency_name.clone(),
            who: i
                .person_name
                .clone()
                .unwrap_or_else(|| format!("Duty address ({})", i.email)),
            response: i.response.label().to_string(),
            accepted: i.response == Answer::Accepted,
            note: i.response_note.clone(),
        })
        .collect();
    page.exclusions = meetings::exclusions(&state.db, &access)
        .await?
        .into_iter()
        .map(|e| {
            (
                e.label,
                format!("{} (recorded by {})", e.reason, e.recorded_by),
            )
        })
        .collect();
    let attendance = meetings::attendance(&state.db, &access).await?;
    let mut agency_ids: Vec<(String, String)> = invitations
        .iter()
        .map(|i| (i.agency_id.clone(), i.agency_name.clone()))
        .collect();
    for p in [&meeting.chair_id, &meeting.organiser_id] {
        let person = people::get(&state.db, p).await?;
        agency_ids.push((person.agency_id, person.agency_name));
    }
    let not_taking_part = meetings::required_not_taking_part(&state.db, &meeting).await?;
    page.warnings = warnings(
        state,
        &meeting,
        &not_taking_part,
        &attendance,
        &page.exclusions,
        now,
    );
    page.attendance = attendance
        .iter()
        .map(|a| AttendanceRow {
            agency: a.agency_name.clone(),
            attended: if a.attended {
                "Attended".into()
            } else {
                "Did not attend".into()
            },
            attendees: a.attendees.clone(),
            senior: match a.senior_enough {
                Some(true) => "Yes".into(),
                Some(false) => "No".into(),
                None => String::new(),
            },
            note: a.note.clone(),
        })
        .collect();
    agency_ids.sort_by(|a, b| a.1.cmp(&b.1));
    agency_ids.dedup();
    page.attendance_agencies = agency_ids
        .iter()
        .map(|(id, name)| Choice {
            value: id.clone(),
            label: name.clone(),
            checked: false,
            hint: String::new(),
        })
        .collect();
    page.owner_agencies = agencies::list(&state.db)
        .await?
        .into_iter()
        .map(|a| Choice {
            value: a.id,
            label: a.name,
            checked: false,
            hint: String::new(),
        })
        .collect();
    page.owner_people = cases::team(&state.db, case_access, now)
        .await?
        .into_iter()
        .map(|m| Choice {
            value: m.person_id,
            label: format!("{} — {}", m.name, m.agency_name),
            checked: false,
            hint: String::new(),
        })
        .collect();
    page.actions = deadlines::actions_of_meeting(&state.db, &access, today)
        .await?
        .into_iter()
        .map(|a| action_row(a, &actor, page.can_record))
        .collect();
    page.circulations = meetings::circulations(&state.db, &access)
        .await?
        .into_iter()
        .map(|c| CirculationRow {
            who: c.person_name,
            agency: c.agency_name,
            acknowledged: c
                .acknowledged_at
                .map(|at| format!("Acknowledged {}", when(at)))
                .unwrap_or_else(|| "Not yet acknowledged".into()),
        })
        .collect();
    if meeting.kind.record_due_next_working_day() && meeting.circulated_at.is_none() {
        let held = meetings::london_date(meeting.starts_at);
        let due = calendar.add_working_days(held, 1);
        page.record_due = Some(format!(
            "The record is due to every participating agency by {} (one working day after the meeting).{}",
            due,
            if today > due { " It is overdue." } else { "" }
        ));
    }
    // The meeting's own discussion, for those in it.
    if let Ok(channel_access) =
        channels::authorize(&state.db, &actor, &meeting.channel_id, now).await
    {
        let channel = channels::get(&state.db, &channel_access).await?;
        page.channel = Some(ChannelView {
            messages: message_views(state, who, &channel_access, channel.last_seq).await?,
            channel_id: channel.id,
            last_seq: channel.last_seq,
            client_id: sessions::new_token(),
            post_url: format!("/meetings/{}/messages", meeting.id),
        });
    }
    cases::record_read(&state.db, &actor, case_access, now, "meeting").await?;
    Ok(page.render()?)
}

fn plan_choices(kind: MeetingKind) -> Vec<Choice> {
    let list: &[(PlanDecision, &str)] = match kind {
        MeetingKind::InitialConference => &[
            (PlanDecision::Made, "A child protection plan is made"),
            (PlanDecision::NotMade, "No child protection plan"),
        ],
        MeetingKind::ReviewConference => &[
            (
                PlanDecision::Continues,
                "The child protection plan continues",
            ),
            (PlanDecision::Ended, "The child protection plan ends"),
        ],
        _ => &[],
    };
    list.iter()
        .map(|(p, label)| Choice {
            value: serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            label: (*label).to_string(),
            checked: false,
            hint: String::new(),
        })
        .collect()
}

fn action_row(
    a: deadlines::Action,
    actor: &crate::domain::access::Actor,
    can_record: bool,
) -> ActionRow {
    let owns = match &a.owner_person_id {
        Some(p) => *p == actor.person_id,
        None => a.owner_agency_id == actor.agency_id,
    };
    ActionRow {
        owner: match &a.owner_person_name {
            Some(name) => format!("{name} ({})", a.owner_agency_name),
            None => a.owner_agency_name.clone(),
        },
        open: a.status == crate::domain::meetings::ActionStatus::Open,
        status: a.status.as_str().to_string(),
        may_change: owns || can_record,
        overdue: a.overdue,
        id: a.id,
        meeting_id: a.meeting_id,
        case_reference: a.case_reference,
        description: a.description,
        due_on: a.due_on,
    }
}

/// The outcome as label/value lines for the page.
pub fn outcome_lines(o: &Outcome) -> Vec<(String, String)> {
    let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_string();
    match o {
        Outcome::Strategy {
            section_47,
            immediate_safety_actions,
            family_told,
            family_told_when,
            initial_conference_needed,
        } => vec![
            (
                "Section 47 enquiry".into(),
                match section_47 {
                    Section47::None => "No enquiry".into(),
                    Section47::SingleAgency => "Yes: single agency (children's social care)".into(),
                    Section47::Joint => "Yes: joint with the police".into(),
                },
            ),
            (
                "Immediate safety actions".into(),
                immediate_safety_actions.clone(),
            ),
            ("What the family is told".into(), family_told.clone()),
            ("When the family is told".into(), family_told_when.clone()),
            (
                "Initial child protection conference needed".into(),
                yes_no(*initial_conference_needed),
            ),
        ],
        Outcome::Conference {
            plan,
            category,
            core_group_members,
        } => vec![
            (
                "Child protection plan".into(),
                match plan {
                    PlanDecision::Made => "Made",
                    PlanDecision::NotMade => "Not made",
                    PlanDecision::Continues => "Continues",
                    PlanDecision::Ended => "Ended",
                }
                .into(),
            ),
            (
                "Category".into(),
                category
                    .map(|c| c.label().to_string())
                    .unwrap_or_else(|| "None".into()),
            ),
            ("Core group members".into(), core_group_members.clone()),
        ],
        Outcome::Progress { plan_progress } => {
            vec![("Progress of the plan".into(), plan_progress.clone())]
        }
    }
}

/// What the organiser and chair should be told: required agencies with
/// nobody who accepted (close to the start), and required agencies that did
/// not attend (once attendance is recorded).
fn warnings(
    state: &AppState,
    meeting: &meetings::Meeting,
    not_taking_part: &[AgencyKind],
    attendance: &[meetings::Attendance],
    exclusions: &[(String, String)],
    now: Millis,
) -> Vec<String> {
    let mut out = Vec::new();
    let excused: Vec<AgencyKind> = AgencyKind::ALL
        .iter()
        .copied()
        .filter(|k| exclusions.iter().any(|(label, _)| label == k.label()))
        .collect();
    let window = state.settings.meetings.required_agency_warning_hours as i64 * 3_600_000;
    if meeting.status == "scheduled" && now >= meeting.starts_at - window {
        for k in not_taking_part {
            out.push(format!(
                "Nobody from {} has accepted yet, and the meeting starts {}.",
                k.label().to_lowercase(),
                meeting_mail::when_text(meeting.starts_at, meeting.ends_at)
            ));
        }
    }
    if !attendance.is_empty() {
        for rule in agency_rules(meeting.kind)
            .iter()
            .filter(|r| r.need == Need::Required && !excused.contains(&r.agency))
        {
            if !attendance
                .iter()
                .any(|a| a.agency_kind == rule.agency && a.attended)
            {
                out.push(format!(
                    "No attendance is recorded for {}, which this kind of meeting requires: record it, with the reason if they did not attend.",
                    rule.agency.label().to_lowercase()
                ));
            }
        }
        if meeting.kind.needs_seniority() {
            for a in attendance
                .iter()
                .filter(|a| a.attended && a.senior_enough == Some(false))
            {
                out.push(format!(
                    "{}'s attendee was not senior enough to make decisions for the agency.",
                    a.agency_name
                ));
            }
        }
    }
    out
}
