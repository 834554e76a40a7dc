//! The auditor's pages (the audit log's search, the break-glass review) and
//! the manager's break-glass form. Handlers turn store rows into these plain
//! views, with times already written out in UTC and in London.

use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Europe::London;

use super::meeting_pages::Choice;
use super::templates::Chrome;
use crate::domain::clock::Millis;
use crate::store::audit::RecordedCheckpoint;
use crate::store::audit_search::Found;
use crate::store::break_glass::Opening;

fn instant(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `2026-11-24 09:30:15 UTC`: audit times keep their seconds.
pub fn utc_text(ms: Millis) -> String {
    instant(ms).format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2026-07-01 10:30:15 BST`: the same instant on London's clocks.
pub fn london_text(ms: Millis) -> String {
    instant(ms)
        .with_timezone(&London)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// RFC 3339 in UTC with milliseconds, for exports.
pub fn utc_rfc3339(ms: Millis) -> String {
    instant(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 with London's offset (+00:00 or +01:00), for exports.
pub fn london_rfc3339(ms: Millis) -> String {
    instant(ms)
        .with_timezone(&London)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// One audit event as the search page shows it.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub seq: i64,
    pub utc: String,
    pub london: String,
    pub who: String,
    pub agency: String,
    pub action: String,
    pub case_reference: String,
    pub subject: String,
    pub detail: String,
}

impl From<&Found> for EventRow {
    fn from(f: &Found) -> Self {
        Self {
            seq: f.seq,
            utc: utc_text(f.at),
            london: london_text(f.at),
            who: f.actor_label.clone(),
            agency: f.actor_agency.clone().unwrap_or_default(),
            action: f.action.clone(),
            case_reference: f.case_reference.clone().unwrap_or_default(),
            subject: f.subject.clone().unwrap_or_default(),
            detail: f.detail.clone(),
        }
    }
}

/// One recorded checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub when: String,
    pub by: String,
}

impl From<&RecordedCheckpoint> for CheckpointRow {
    fn from(c: &RecordedCheckpoint) -> Self {
        Self {
            seq: c.seq,
            hash: c.hash.clone(),
            when: utc_text(c.taken_at),
            by: c.taken_by.clone(),
        }
    }
}

/// The search form's values, as entered (shown back on the page).
#[derive(Clone, Debug, Default)]
pub struct SearchValues {
    pub case: String,
    pub person: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub values: SearchValues,
    pub agencies: Vec<Choice>,
    pub actions: Vec<Choice>,
    pub error: Option<String>,
    /// Why there are no results, when the search matched nothing to look in.
    pub notice: Option<String>,
    pub rows: Vec<EventRow>,
    /// The search as a query string (no paging), for exports and paging links.
    pub query: String,
    /// The `before` of the next (older) page, if there is one.
    pub older: Option<i64>,
    /// Whether this is a later page (offer a way back to the newest).
    pub paged: bool,
    pub checkpoints: Vec<CheckpointRow>,
    pub awaiting_review: usize,
}

impl AuditPage {
    fn export_link(&self, format: &str) -> String {
        if self.query.is_empty() {
            format!("/audit/export.{format}")
        } else {
            format!("/audit/export.{format}?{}", self.query)
        }
    }
    fn older_link(&self, before: impl std::fmt::Display) -> String {
        if self.query.is_empty() {
            format!("/audit?before={before}")
        } else {
            format!("/audit?{}&before={before}", self.query)
        }
    }
    fn newest_link(&self) -> String {
        if self.query.is_empty() {
            "/audit".into()
        } else {
            format!("/audit?{}", self.query)
        }
    }
}

/// One break-glass opening on the review page.
#[derive(Clone, Debug)]
pub struct OpeningRow {
    pub id: String,
    pub case_reference: String,
    pub who: String,
    pub reason: String,
    pub started: String,
    pub started_london: String,
    pub expires: String,
    pub reviewed: Option<String>,
    pub note: String,
}

impl From<&Opening> for OpeningRow {
    fn from(o: &Opening) -> Self {
        Self {
            id: o.id.clone(),
            case_reference: o.case_reference.clone(),
            who: format!("{} ({})", o.person_name, o.agency_name),
            reason: o.reason.clone(),
            started: utc_text(o.started_at),
            started_london: london_text(o.started_at),
            expires: utc_text(o.expires_at),
            reviewed: match (&o.reviewed_by, o.reviewed_at) {
                (Some(by), Some(at)) => Some(format!("{by}, {}", utc_text(at))),
                _ => None,
            },
            note: o.review_note.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit_break_glass.html")]
pub struct BreakGlassReviewPage {
    pub chrome: Chrome,
    pub openings: Vec<OpeningRow>,
    pub error: Option<String>,
    /// The opening the error is about.
    pub error_id: String,
}

#[derive(Template)]
#[template(path = "break_glass.html")]
pub struct BreakGlassPage {
    pub chrome: Chrome,
    pub minutes: u64,
    pub reference: String,
    pub reason: String,
    pub error: Option<String>,
    /// Which field the error is about: "reference", "reason" or "".
    pub error_field: &'static str,
    /// Shown instead of an error when nothing needed doing.
    pub notice: Option<String>,
    /// With the notice: the case the manager can already open.
    pub case_link: Option<String>,
}
