//! The information-sharing pages: a case's "who knows what" with the forms
//! for manual records and decisions not to share, and the auditor's search.

use askama::Template;

use super::templates::{Chrome, when};
use crate::store::sharing_search::{AgencyTold, PersonTold, SharingRecord};

/// One record as the pages show it.
#[derive(Clone, Debug)]
pub struct RecordRow {
    pub id: String,
    pub short_id: String,
    pub case_reference: String,
    pub child_name: Option<String>,
    pub kind: String,
    pub when: String,
    pub what: String,
    pub from: String,
    pub to: String,
    pub purpose: String,
    pub basis: String,
    /// The consent relied on, or why without.
    pub consent: String,
    pub reasons: String,
    pub recorded: String,
    /// Shared while a refused or withdrawn consent covered the agency.
    pub review: bool,
}

impl RecordRow {
    pub fn of(r: &SharingRecord) -> RecordRow {
        let from = match (&r.from_person, &r.from_agency) {
            (Some(p), Some(a)) => format!("{p} ({a})"),
            (Some(p), None) => p.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        };
        let mut to = Vec::new();
        if !r.to_description.is_empty() {
            to.push(r.to_description.clone());
        }
        match (&r.to_person, &r.to_agency) {
            (Some(p), Some(a)) => to.push(format!("{a} (first to receive it: {p})")),
            (None, Some(a)) => to.push(a.clone()),
            (Some(p), None) => to.push(p.clone()),
            (None, None) => {}
        }
        let consent = if r.relied_on_consent() {
            format!(
                "Relied on consent: {}",
                r.consent_subject
                    .clone()
                    .unwrap_or_else(|| format!("record {}", short(r.consent_record_id.as_deref())))
            )
        } else {
            r.without_consent_reason
                .clone()
                .map(|w| format!("Without consent: {w}"))
                .unwrap_or_default()
        };
        RecordRow {
            id: r.id.clone(),
            short_id: short(Some(r.id.as_str())),
            case_reference: r.case_reference.clone(),
            child_name: r.child_name.clone(),
            kind: r.source.label().to_string(),
            when: when(r.shared_at),
            what: r.what.clone(),
            from,
            to: to.join("; "),
            purpose: r.purpose.clone(),
            basis: r
                .lawful_basis
                .map(|b| format!("{} — {}", b.label(), b.citation()))
                .unwrap_or_else(|| "Not shared".into()),
            consent,
            reasons: r.reasons.clone(),
            recorded: match &r.recorded_by {
                Some(by) => format!("{by}, {}", when(r.created_at)),
                None => format!("Automatically, {}", when(r.created_at)),
            },
            review: r.consent_record_id.is_some() && !r.relied_on_consent(),
        }
    }
}

/// The first eight characters of an id: enough for people to refer to a record.
pub fn short(id: Option<&str>) -> String {
    id.map(|i| i.chars().take(8).collect()).unwrap_or_default()
}

/// An agency that has received information, for the page.
#[derive(Clone, Debug)]
pub struct AgencyRow {
    pub agency: String,
    pub items: i64,
    pub first: String,
    pub last: String,
    pub bases: String,
    pub without_consent: i64,
}

impl AgencyRow {
    pub fn of(a: &AgencyTold) -> AgencyRow {
        let mut bases = a.bases.clone();
        bases.sort();
        bases.dedup();
        AgencyRow {
            agency: a.agency.clone(),
            items: a.items,
            first: when(a.first),
            last: when(a.last),
            bases: bases.join(", "),
            without_consent: a.without_consent,
        }
    }
}

/// A person who has received information, for the page.
#[derive(Clone, Debug)]
pub struct PersonRow {
    pub name: String,
    pub agency: String,
    pub messages: i64,
    pub meeting_records: i64,
    pub first: String,
    pub last: String,
}

impl PersonRow {
    pub fn of(p: &PersonTold) -> PersonRow {
        PersonRow {
            name: p.name.clone(),
            agency: p.agency.clone(),
            messages: p.messages,
            meeting_records: p.meeting_records,
            first: when(p.first),
            last: when(p.last),
        }
    }
}

/// What the person typed into one of the forms, to show it again with an error.
#[derive(Clone, Debug, Default)]
pub struct Entered {
    pub to_description: String,
    pub to_agency_id: String,
    pub what: String,
    pub on: String,
    pub at: String,
    pub purpose: String,
    pub lawful_basis: String,
    pub consent_record_id: String,
    pub without_consent_reason: String,
    pub reasons: String,
    pub corrects: String,
}

/// An error beside a form: the field (for the link) and the message.
#[derive(Clone, Debug)]
pub struct FormError {
    pub field: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "sharing.html")]
pub struct SharingPage {
    pub chrome: Chrome,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub agencies_told: Vec<AgencyRow>,
    pub people_told: Vec<PersonRow>,
    pub records: Vec<RecordRow>,
    /// All the case's shares (the table shows the newest few).
    pub total: i64,
    pub manual: Vec<RecordRow>,
    pub decisions: Vec<RecordRow>,
    /// For the forms: agencies (id, name), lawful bases (code, label),
    /// given consents (id, label), earlier records to correct (id, label).
    pub agencies: Vec<(String, String)>,
    pub bases: Vec<(String, String)>,
    pub consents: Vec<(String, String)>,
    pub corrections: Vec<(String, String)>,
    pub share: Entered,
    pub share_error: Option<FormError>,
    pub decision: Entered,
    pub decision_error: Option<FormError>,
    /// Managers (and auditors) in the case may export everything held.
    pub can_subject_access: bool,
}

#[derive(Template)]
#[template(path = "sharing_search.html")]
pub struct SharingSearchPage {
    pub chrome: Chrome,
    pub case_reference: String,
    pub person: String,
    pub agency_id: String,
    pub from: String,
    pub to: String,
    pub agencies: Vec<(String, String)>,
    pub error: Option<FormError>,
    /// `None` before a search.
    pub results: Option<Vec<RecordRow>>,
    pub more: bool,
    /// The filters as a query string, for the export links.
    pub query: String,
}
