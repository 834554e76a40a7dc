//! Search over findings of return home interviews (the second kind of hit,
//! beside messages in [`super::search`]): their text and indicators, and
//! their structured entries (places, associates, addresses, vehicles).
//! The text is sealed, so both engines match the blind index in each row's
//! `search_terms` ([`crate::sealing::blind`]): SQLite through the FTS5
//! tables `rhi_findings_fts` and `finding_entries_fts`, PostgreSQL through
//! GIN indexes. Who may see a hit is decided in the query: a
//! current membership of the case, and for a restricted entry, being of the
//! case-holding agency (the lead social worker's) or the interviewer — so a
//! restricted entry is never found by its value by anyone else.

use std::collections::HashSet;

use sqlx::Row;

use super::findings::FindingsText;
use super::search::{bound, index_match, snippet_of};
use super::{Db, StoreResult};
use crate::domain::access::Actor;
use crate::domain::clock::Millis;
use crate::domain::search::Terms;

/// One findings record found.
#[derive(Clone, Debug)]
pub struct FindingHit {
    pub findings_id: String,
    pub case_id: String,
    pub case_reference: String,
    pub child_name: String,
    pub episode_id: String,
    pub author_name: String,
    pub author_agency: String,
    pub at: Millis,
    /// Whether the match was in a restricted entry (the searcher may read it).
    pub restricted: bool,
    pub snippet: String,
}

const MEMBER: &str = "EXISTS (SELECT 1 FROM case_memberships cm WHERE cm.case_id = f.case_id AND cm.person_id = $2 \
       AND cm.ended_at IS NULL AND (cm.expires_at IS NULL OR cm.expires_at > $4))";

/// A restricted entry is found only by the case-holding agency and the interviewer.
const ENTRY_VISIBLE: &str = "(e.restricted = 0 OR i.interviewer_person_id = $2 OR EXISTS (SELECT 1 FROM cases lc \
       JOIN people lp ON lp.id = lc.lead_social_worker_id WHERE lc.id = f.case_id AND lp.agency_id = $3))";

const COLUMNS: &str = "f.id, f.case_id, c.reference, c.child_name, i.episode_id, p.name AS author_name, \
     a.name AS agency_name, f.updated_at";

/// The findings' answers, sealed, for the snippet.
const TEXT: &str = "f.indicators, f.push_factors, f.pull_factors, f.where_child_was, f.who_with, f.harm, \
     f.child_wishes, f.wants_next, f.free_text";

const JOINS: &str = "JOIN return_interviews i ON i.id = f.interview_id JOIN cases c ON c.id = f.case_id \
     JOIN people p ON p.id = f.updated_by JOIN agencies a ON a.id = p.agency_id";

/// Findings matching `terms` that `actor` may read, newest first: at most
/// `limit`, and whether there were more.
pub async fn findings(
    db: &Db,
    actor: &Actor,
    terms: &Terms,
    limit: i64,
    now: Millis,
) -> StoreResult<(Vec<FindingHit>, bool)> {
    let text_sql = format!(
        "SELECT {COLUMNS}, CAST(0 AS BIGINT) AS restricted, {TEXT} FROM rhi_findings f {JOINS} \
         WHERE {} AND {MEMBER} AND $3 = $3 ORDER BY f.updated_at DESC, f.id LIMIT $5",
        index_match(db, "f", "rhi_findings_fts")
    );
    let entry_sql = format!(
        "SELECT {COLUMNS}, e.restricted, e.value, e.note FROM finding_entries e \
         JOIN rhi_findings f ON f.id = e.findings_id {JOINS} \
         WHERE {} AND {MEMBER} AND {ENTRY_VISIBLE} ORDER BY f.updated_at DESC, f.id LIMIT $5",
        index_match(db, "e", "finding_entries_fts")
    );
    let stems = terms.stems();
    let mut hits: Vec<FindingHit> = Vec::new();
    let mut seen = HashSet::new();
    for (sql, entries) in [(entry_sql, true), (text_sql, false)] {
        let query = bound(db, sql, terms, actor, now, limit)?;
        for row in query.fetch_all(db.pool()).await? {
            let id: String = row.try_get("id")?;
            if !seen.insert(id.clone()) {
                continue;
            }
            let restricted: i64 = row.try_get("restricted")?;
            let text = if entries {
                let value = db.open_sealed("finding_entries.value", row.try_get("value")?)?;
                let note = db.open_sealed("finding_entries.note", row.try_get("note")?)?;
                format!("{value} {note}")
            } else {
                let indicators: String = row.try_get("indicators")?;
                let mut answers = vec![indicators];
                for (column, _, _) in FindingsText::FIELDS {
                    answers.push(
                        db.open_sealed(&format!("rhi_findings.{column}"), row.try_get(column)?)?,
                    );
                }
                answers.retain(|a| !a.is_empty());
                // The first answer with a match, as FTS5's snippet chose its best column.
                answers
                    .iter()
                    .find(|a| crate::domain::search::snippet(a, &stems).is_some())
                    .unwrap_or(&answers.join(" "))
                    .clone()
            };
            hits.push(FindingHit {
                findings_id: id,
                case_id: row.try_get("case_id")?,
                case_reference: row.try_get("reference")?,
                child_name: super::cases::child_field(db, &row, "child_name")?,
                episode_id: row.try_get("episode_id")?,
                author_name: row.try_get("author_name")?,
                author_agency: row.try_get("agency_name")?,
                at: row.try_get("updated_at")?,
                restricted: restricted == 1,
                snippet: snippet_of(&text, &stems),
            });
        }
    }
    hits.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| a.findings_id.cmp(&b.findings_id))
    });
    let more = hits.len() as i64 > limit;
    hits.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((hits, more))
}
