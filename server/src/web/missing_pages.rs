//! The pages of missing episodes, return home interviews and strategy
//! prompts, as plain views (text already formatted).

use askama::Template;

use super::meeting_pages::{ChannelView, Choice};
use super::templates::Chrome;
use crate::domain::missing::RhiStanding;

/// A return home interview's clock as a tag: words and a GOV.UK tag colour.
#[derive(Clone, Debug)]
pub struct ClockView {
    pub words: String,
    pub colour: &'static str,
    /// "Due by 2026-11-24 09:30".
    pub due: String,
}

impl ClockView {
    pub fn new(standing: RhiStanding, due: String) -> Self {
        let colour = match standing {
            RhiStanding::Due => "blue",
            RhiStanding::AtRisk => "yellow",
            RhiStanding::Overdue => "red",
            RhiStanding::Closed { in_time: true, .. } => "green",
            RhiStanding::Closed { in_time: false, .. } => "orange",
        };
        Self {
            words: standing.describe(),
            colour,
            due,
        }
    }
}

/// One episode in the case's list.
#[derive(Clone, Debug)]
pub struct EpisodeRow {
    pub id: String,
    pub reported: String,
    pub reported_by: String,
    pub police_reference: String,
    pub returned: Option<String>,
    pub clock: Option<ClockView>,
}

/// A prompt to convene a strategy discussion, in a list.
#[derive(Clone, Debug)]
pub struct PromptRow {
    pub id: String,
    pub case_id: String,
    pub case_reference: String,
    pub detail: String,
    pub status: String,
    pub raised: String,
}

/// Repeat missing: this window against the one before.
#[derive(Clone, Debug)]
pub struct TrendView {
    pub window_days: u64,
    pub current: usize,
    pub previous: usize,
    pub direction: &'static str,
    pub threshold: u64,
}

/// An open return home interview on the dashboard (case reference only).
#[derive(Clone, Debug)]
pub struct RhiRow {
    pub case_id: String,
    pub case_reference: String,
    pub episode_id: String,
    pub interviewer: String,
    pub clock: ClockView,
}

/// The dashboard's part: interviews to do, the manager's agency's clocks at
/// risk or overdue, and prompts to convene a strategy discussion.
#[derive(Clone, Debug, Default)]
pub struct MissingDashboard {
    pub mine: Vec<RhiRow>,
    pub team: Vec<RhiRow>,
    pub prompts: Vec<PromptRow>,
    /// Findings shared with this person to acknowledge: (share id, case reference).
    pub findings: Vec<(String, String)>,
}

/// What the case page shows of missing episodes.
#[derive(Clone, Debug, Default)]
pub struct MissingSummary {
    pub episodes: usize,
    /// Open interviews: (episode id, clock).
    pub open_clocks: Vec<(String, ClockView)>,
    pub prompts: Vec<PromptRow>,
}

#[derive(Template)]
#[template(path = "missing.html")]
pub struct MissingPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub can_record: bool,
    pub trend: TrendView,
    pub episodes: Vec<EpisodeRow>,
    pub prompts: Vec<PromptRow>,
    pub date: String,
    pub time: String,
    pub reported_by: String,
    pub police_reference: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "missing_episode.html")]
pub struct EpisodePage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub id: String,
    pub reported: String,
    pub reported_by: String,
    pub police_reference: String,
    pub recorded_by: String,
    pub returned: Option<String>,
    pub found_where: String,
    pub found_by: String,
    pub harmed: String,
    pub harm_detail: String,
    pub can_record: bool,
    pub clock: Option<ClockView>,
    pub interviewer: String,
    pub date: String,
    pub time: String,
    pub error: Option<String>,
    pub channel: Option<ChannelView>,
}

/// One attempt to reach the child.
#[derive(Clone, Debug)]
pub struct AttemptRow {
    pub when: String,
    pub method: String,
    pub outcome: String,
    pub note: String,
    pub recorded_by: String,
}

#[derive(Template)]
#[template(path = "rhi.html")]
pub struct RhiPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub episode_id: String,
    pub returned: String,
    pub clock: ClockView,
    pub interviewer: Option<String>,
    pub open: bool,
    pub can_assign: bool,
    pub can_manage: bool,
    pub team: Vec<Choice>,
    pub agencies: Vec<Choice>,
    pub attempts: Vec<AttemptRow>,
    pub methods: Vec<Choice>,
    pub attempt_outcomes: Vec<Choice>,
    /// The recorded outcome, as (label, value) lines.
    pub outcome: Vec<(String, String)>,
    pub date: String,
    pub time: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "strategy_prompt.html")]
pub struct PromptPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub id: String,
    pub detail: String,
    pub raised: String,
    pub status: String,
    pub meeting_id: Option<String>,
    pub declined_reason: String,
    pub decided: String,
    pub can_decide: bool,
    pub error: Option<String>,
}
