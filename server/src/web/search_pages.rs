//! The search page: a GET form (works without JavaScript) and its results.

use askama::Template;

use super::templates::{Chrome, when};
use crate::domain::search::{findings_link, message_link, segments};
use crate::store::search::MessageHit;
use crate::store::search_findings::FindingHit;

/// One result as the page shows it.
#[derive(Clone, Debug)]
pub struct ResultRow {
    pub link: String,
    pub case_reference: String,
    pub child_name: String,
    pub channel_name: String,
    pub author: String,
    pub agency: String,
    pub when: String,
    pub restricted: bool,
    /// When it was written (for ordering the two kinds of hit together).
    pub at: crate::domain::clock::Millis,
    /// The snippet in runs; `true` marks a matched word.
    pub snippet: Vec<(String, bool)>,
}

impl ResultRow {
    pub fn of(hit: &MessageHit) -> ResultRow {
        ResultRow {
            link: message_link(&hit.place, hit.seq),
            case_reference: hit.case_reference.clone(),
            child_name: hit.child_name.clone(),
            channel_name: hit.channel_name.clone(),
            author: hit.author_name.clone(),
            agency: hit.author_agency.clone(),
            when: when(hit.created_at),
            restricted: hit.restricted,
            at: hit.created_at,
            snippet: segments(&hit.snippet),
        }
    }

    pub fn of_findings(hit: &FindingHit) -> ResultRow {
        ResultRow {
            link: findings_link(&hit.case_id, &hit.episode_id),
            case_reference: hit.case_reference.clone(),
            child_name: hit.child_name.clone(),
            channel_name: "Return home interview findings".into(),
            author: hit.author_name.clone(),
            agency: hit.author_agency.clone(),
            when: when(hit.at),
            restricted: hit.restricted,
            at: hit.at,
            snippet: segments(&hit.snippet),
        }
    }
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub chrome: Chrome,
    pub q: String,
    pub error: Option<String>,
    /// `None` until a search is made.
    pub results: Option<Vec<ResultRow>>,
    pub more: bool,
}
