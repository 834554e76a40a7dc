//! The dashboard: a practitioner's upcoming meetings, actions and records to
//! acknowledge; for a manager, also every case their agency works on with
//! meetings due, overdue deadlines and overdue actions, oldest first.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::AppState;
use super::error::AppResult;
use super::meeting_mail::when_text;
use super::session::SignedIn;
use crate::domain::vocabulary::Role;
use crate::store::{dashboard, deadlines, meetings};
use crate::web::meeting_pages::{ActionRow, CaseRow, DashboardPage, MeetingRow};

fn meeting_row(m: &meetings::Meeting) -> MeetingRow {
    MeetingRow {
        id: m.id.clone(),
        kind: m.kind.label().to_string(),
        when: when_text(m.starts_at, m.ends_at),
        status: m.status.clone(),
        case_reference: m.case_reference.clone(),
        child_name: None,
    }
}

pub async fn page(State(state): State<AppState>, who: SignedIn) -> AppResult<Html<String>> {
    let now = state.now();
    let today = meetings::london_date(now);
    let actor = who.person.actor();
    let calendar = state.settings.meetings.calendar();
    let upcoming = dashboard::upcoming_for(&state.db, &actor, who.person.guest, now).await?;
    let actions: Vec<ActionRow> = deadlines::actions_for(&state.db, &actor, today, now)
        .await?
        .into_iter()
        .map(|a| ActionRow {
            owner: a
                .owner_person_name
                .clone()
                .unwrap_or_else(|| a.owner_agency_name.clone()),
            open: true,
            status: a.status.as_str().to_string(),
            may_change: true,
            overdue: a.overdue,
            id: a.id,
            meeting_id: a.meeting_id,
            case_reference: a.case_reference,
            description: a.description,
            due_on: a.due_on,
        })
        .collect();
    let to_acknowledge = dashboard::to_acknowledge(&state.db, &actor)
        .await?
        .iter()
        .map(|t| meeting_row(&t.meeting))
        .collect();
    let manager = actor.role == Role::Manager;
    let cases = if manager {
        dashboard::manager_overview(&state.db, &actor, &calendar, today, now)
            .await?
            .into_iter()
            .map(|c| CaseRow {
                next_meeting: c
                    .next_meeting
                    .as_ref()
                    .map(|m| format!("{}: {}", m.kind.label(), when_text(m.starts_at, m.ends_at)))
                    .unwrap_or_else(|| "None scheduled".into()),
                deadlines: c
                    .deadlines
                    .iter()
                    .map(|(kind, due, standing)| {
                        (
                            kind.label().to_string(),
                            format!("{due}: {}", standing.describe()),
                            standing.is_overdue(),
                        )
                    })
                    .collect(),
                overdue_actions: c
                    .overdue_actions
                    .iter()
                    .map(|a| {
                        // What the action says is case content: members only.
                        if c.child_name.is_some() {
                            format!(
                                "{} — {} (due {})",
                                a.description, a.owner_agency_name, a.due_on
                            )
                        } else {
                            format!("An action for {} (due {})", a.owner_agency_name, a.due_on)
                        }
                    })
                    .collect(),
                oldest_overdue: c.oldest_overdue.map(|d| d.to_string()).unwrap_or_default(),
                case_id: c.case_id,
                reference: c.reference,
                child_name: c.child_name,
                lead: c.lead_name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = DashboardPage {
        chrome: who.chrome(&state),
        today: today.to_string(),
        meetings: upcoming.iter().map(meeting_row).collect(),
        actions,
        to_acknowledge,
        manager,
        cases,
        missing: super::missing::dashboard(&state, &actor, manager, now).await?,
    };
    Ok(Html(page.render()?))
}
