//! The pages of a return home interview's findings: the case team's page
//! (read, record, share) and a recipient's page (read, acknowledge).

use askama::Template;

use super::templates::Chrome;

/// One structured entry as the reader may see it: the value, or only that
/// it is withheld and why.
#[derive(Clone, Debug)]
pub struct EntryView {
    pub kind: String,
    pub value: String,
    pub note: String,
    pub restricted: bool,
    /// Set when the reader may not see the value.
    pub withheld: Option<String>,
}

/// The findings, formatted for reading.
#[derive(Clone, Debug)]
pub struct FindingsView {
    /// (label, text) lines.
    pub rows: Vec<(String, String)>,
    pub indicators: Vec<&'static str>,
    pub risk: String,
    pub entries: Vec<EntryView>,
    pub recorded: String,
}

/// A row of the findings form's entries.
#[derive(Clone, Debug, Default)]
pub struct EntryRow {
    pub n: usize,
    pub kind: String,
    pub value: String,
    pub note: String,
    pub restricted: bool,
    pub reason: String,
}

/// The form's current values.
#[derive(Clone, Debug, Default)]
pub struct FindingsForm {
    pub push_factors: String,
    pub pull_factors: String,
    pub where_child_was: String,
    pub who_with: String,
    pub sexual: bool,
    pub criminal: bool,
    pub county_lines: bool,
    pub other: bool,
    pub harm: String,
    pub child_wishes: String,
    pub wants_next: String,
    pub risk: String,
    pub free_text: String,
    pub entries: Vec<EntryRow>,
}

#[derive(Clone, Debug)]
pub struct ShareRow {
    pub name: String,
    pub agency: String,
    pub shared: String,
    pub lawful_basis: String,
    pub released: bool,
    pub acknowledged: String,
}

#[derive(Template)]
#[template(path = "findings.html")]
pub struct FindingsPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub episode_id: String,
    pub findings: Option<FindingsView>,
    /// Why findings cannot be recorded yet, if they cannot.
    pub not_yet: Option<String>,
    pub can_record: bool,
    pub form: FindingsForm,
    pub shares: Vec<ShareRow>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "findings_shared.html")]
pub struct SharedFindingsPage {
    pub chrome: Chrome,
    pub share_id: String,
    pub case_reference: String,
    pub shared_by: String,
    pub shared: String,
    pub findings: FindingsView,
    pub acknowledged: Option<String>,
    pub error: Option<String>,
}
