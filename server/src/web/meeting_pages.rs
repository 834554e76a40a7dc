//! The pages of meetings, the statutory clock and the dashboard. Handlers
//! turn store rows into these plain views (text already formatted), so the
//! templates only lay them out.

use askama::Template;

use super::templates::{Chrome, MessageView};

/// One choice in a form: value, label, whether it is chosen.
#[derive(Clone, Debug)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
    /// Extra words after the label (e.g. "Required: a social worker and their manager").
    pub hint: String,
}

/// A required agency that the form will ask a reason for leaving out.
#[derive(Clone, Debug)]
pub struct Requirement {
    pub key: String,
    pub label: String,
    pub note: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "meeting_new.html")]
pub struct ConvenePage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub kinds: Vec<Choice>,
    pub kind_label: String,
    pub kind: String,
    /// What the kind requires and recommends, as sentences.
    pub rules: Vec<String>,
    pub date: String,
    pub time: String,
    pub minutes: String,
    pub modes: Vec<Choice>,
    pub location: String,
    pub chairs: Vec<Choice>,
    pub people: Vec<Choice>,
    pub agencies: Vec<Choice>,
    pub guest_agencies: Vec<Choice>,
    pub requirements: Vec<Requirement>,
    pub case_access_case: bool,
    pub error: Option<String>,
    /// The strategy prompt this meeting answers: (id, why).
    pub prompt: Option<(String, String)>,
}

/// One row of "who is coming".
#[derive(Clone, Debug)]
pub struct InvitationRow {
    pub agency: String,
    pub who: String,
    pub response: String,
    pub accepted: bool,
    pub note: String,
}

/// An invitation the viewer may answer.
#[derive(Clone, Debug)]
pub struct AnswerView {
    pub invitation_id: String,
    pub agency: String,
    /// "you" or "your agency's duty address".
    pub addressed_to: String,
    pub response: String,
    pub nominated: bool,
}

#[derive(Clone, Debug)]
pub struct AttendanceRow {
    pub agency: String,
    pub attended: String,
    pub attendees: String,
    pub senior: String,
    pub note: String,
}

#[derive(Clone, Debug)]
pub struct ActionRow {
    pub id: String,
    pub meeting_id: String,
    pub case_reference: String,
    pub description: String,
    pub owner: String,
    pub due_on: String,
    pub status: String,
    pub open: bool,
    pub overdue: bool,
    pub may_change: bool,
}

#[derive(Clone, Debug)]
pub struct CirculationRow {
    pub who: String,
    pub agency: String,
    pub acknowledged: String,
}

/// The meeting's own discussion, when the viewer is in it.
#[derive(Clone, Debug)]
pub struct ChannelView {
    pub channel_id: String,
    pub last_seq: i64,
    pub messages: Vec<MessageView>,
    pub client_id: String,
    pub post_url: String,
}

#[derive(Template)]
#[template(path = "meeting.html")]
pub struct MeetingPage {
    pub chrome: Chrome,
    pub id: String,
    pub case_id: String,
    pub case_reference: String,
    /// Only for members of the case.
    pub child_name: Option<String>,
    pub kind_label: String,
    pub when: String,
    pub date: String,
    pub time: String,
    pub minutes_long: i64,
    pub mode: String,
    pub modes: Vec<Choice>,
    pub location: String,
    pub chair: String,
    pub organiser: String,
    pub status: String,
    pub cancel_reason: Option<String>,
    /// "member", "invitee" or "recipient".
    pub reach: &'static str,
    pub answers: Vec<AnswerView>,
    pub invitations: Vec<InvitationRow>,
    pub warnings: Vec<String>,
    pub exclusions: Vec<(String, String)>,
    pub can_manage: bool,
    pub can_record: bool,
    pub record_open: bool,
    pub needs_seniority: bool,
    pub attendance: Vec<AttendanceRow>,
    pub attendance_agencies: Vec<Choice>,
    /// Which outcome form: "strategy", "conference" or "progress".
    pub outcome_shape: &'static str,
    pub outcome: Vec<(String, String)>,
    pub outcome_recorded: bool,
    pub categories: Vec<Choice>,
    pub plan_choices: Vec<Choice>,
    pub actions: Vec<ActionRow>,
    pub owner_agencies: Vec<Choice>,
    pub owner_people: Vec<Choice>,
    pub minutes: String,
    pub circulated: Option<String>,
    pub record_due: Option<String>,
    pub circulations: Vec<CirculationRow>,
    pub to_acknowledge: bool,
    pub acknowledged: Option<String>,
    pub channel: Option<ChannelView>,
    pub error: Option<String>,
}

/// A deadline on the case page.
#[derive(Clone, Debug)]
pub struct DeadlineRow {
    pub id: String,
    pub label: String,
    pub rule: String,
    pub due_on: String,
    pub statutory_due_on: String,
    pub standing: String,
    pub overdue: bool,
    pub met: bool,
    /// The meeting whose outcome set it, if one did.
    pub source_meeting_id: Option<String>,
    /// What started it otherwise: the day and the note.
    pub started: String,
    /// An assessment deadline, which is met by recording its completion.
    pub assessment: bool,
    /// (extension id, text, waiting for a manager)
    pub extensions: Vec<(String, String, bool)>,
}

/// A meeting in a list.
#[derive(Clone, Debug)]
pub struct MeetingRow {
    pub id: String,
    pub kind: String,
    pub when: String,
    pub status: String,
    pub case_reference: String,
    pub child_name: Option<String>,
}

/// One case on a manager's dashboard.
#[derive(Clone, Debug)]
pub struct CaseRow {
    pub case_id: String,
    pub reference: String,
    pub child_name: Option<String>,
    pub lead: String,
    pub next_meeting: String,
    pub deadlines: Vec<(String, String, bool)>,
    pub overdue_actions: Vec<String>,
    pub oldest_overdue: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub today: String,
    pub meetings: Vec<MeetingRow>,
    pub actions: Vec<ActionRow>,
    pub to_acknowledge: Vec<MeetingRow>,
    pub manager: bool,
    pub cases: Vec<CaseRow>,
    /// Return home interviews and strategy prompts (missing episodes).
    pub missing: crate::web::missing_pages::MissingDashboard,
}
