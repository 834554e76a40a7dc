//! The consent register's pages. Handlers turn store rows into these plain
//! views (text already formatted), so the templates only lay them out.

use askama::Template;

use super::meeting_pages::Choice;
use super::templates::Chrome;

/// What a form had in it, kept when it is refused so nothing typed is lost.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub subject_name: String,
    pub relationship: String,
    pub purpose: String,
    pub scope_all: bool,
    pub kinds: Vec<String>,
    pub state: String,
    pub evidence: String,
    pub detail: String,
    pub not_sought_reason: String,
    pub gillick: String,
    pub child_view: String,
    pub why: String,
}

/// A consent record in the register's list.
#[derive(Clone, Debug)]
pub struct RecordRow {
    pub id: String,
    pub subject: String,
    pub relationship: String,
    pub purpose: String,
    pub scope: String,
    pub state: String,
    /// The GOV.UK tag colour for the state.
    pub tag: &'static str,
    pub updated: String,
}

/// The case's sharing basis, as shown.
#[derive(Clone, Debug)]
pub struct BasisView {
    pub label: String,
    pub citation: String,
    pub purpose: String,
    /// "Police (consent refused by the child's mother)", one per held-back kind.
    pub held_back: Vec<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub basis: BasisView,
    pub can_set_basis: bool,
    pub bases: Vec<Choice>,
    pub records: Vec<RecordRow>,
    pub relationships: Vec<Choice>,
    pub kinds: Vec<Choice>,
    pub first_states: Vec<Choice>,
    pub evidence: Vec<Choice>,
    pub reasons: Vec<Choice>,
    pub gillick: Vec<Choice>,
    pub draft: Draft,
    pub error: Option<String>,
    pub basis_error: Option<String>,
}

/// One version in a record's history.
#[derive(Clone, Debug)]
pub struct VersionRow {
    pub version: i64,
    pub state: String,
    pub tag: &'static str,
    /// Evidence, reason not sought, Gillick judgement and view, as lines.
    pub details: Vec<String>,
    pub why: String,
    pub who: String,
    pub when: String,
}

/// One override, as shown.
#[derive(Clone, Debug)]
pub struct OverrideRow {
    pub id: String,
    pub reaches: String,
    pub basis: String,
    pub citation: String,
    pub reason: String,
    pub requested: String,
    pub status: String,
    pub tag: &'static str,
    /// Waiting for a manager (and for the current version of the record).
    pub waiting: bool,
}

/// One act of sharing under the record.
#[derive(Clone, Debug)]
pub struct SharedRow {
    pub what: String,
    pub to: String,
    pub when: String,
    pub basis: String,
}

#[derive(Template)]
#[template(path = "consent_record.html")]
pub struct ConsentRecordPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub record_id: String,
    pub subject: String,
    pub relationship: String,
    pub is_child: bool,
    pub purpose: String,
    pub scope: String,
    pub state: String,
    pub tag: &'static str,
    pub history: Vec<VersionRow>,
    pub states: Vec<Choice>,
    pub evidence: Vec<Choice>,
    pub reasons: Vec<Choice>,
    pub gillick: Vec<Choice>,
    pub draft: Draft,
    pub change_error: Option<String>,
    pub overrides: Vec<OverrideRow>,
    /// Whether "Share anyway" is offered (refused or withdrawn, or messages still held back).
    pub can_override: bool,
    pub override_kinds: Vec<Choice>,
    pub override_bases: Vec<Choice>,
    pub override_reason: String,
    pub override_error: Option<String>,
    pub approval_needed: bool,
    pub can_approve: bool,
    /// (agency, how many messages) held back under this record.
    pub held_back: Vec<(String, i64)>,
    pub shared: Vec<SharedRow>,
}
