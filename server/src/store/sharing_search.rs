//! Reading information-sharing records: a case's own ("who knows what",
//! for its members) and an auditor's search across cases.
//!
//! Records hold references, never content. A case member reads them in
//! full. An auditor who is not a member of a case reads its records under
//! the Confer case reference only: no child's name, no consent subject's
//! name, and the child's names masked in free text
//! ([`crate::domain::sharing_records::mask_child`]).

use std::collections::{BTreeMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Db, StoreError, StoreResult};
use crate::domain::access::CaseAccess;
use crate::domain::clock::Millis;
use crate::domain::sharing::LawfulBasis;
use crate::domain::sharing_records::{SharingAuditor, Source, mask_child};

/// One record as read.
#[derive(Clone, Debug)]
pub struct SharingRecord {
    pub id: String,
    pub case_id: String,
    pub case_reference: String,
    /// Only for a reader who is a member of the case.
    pub child_name: Option<String>,
    pub source: Source,
    pub item_ref: String,
    pub what: String,
    pub from_person_id: Option<String>,
    pub from_person: Option<String>,
    pub from_agency_id: Option<String>,
    pub from_agency: Option<String>,
    pub to_agency_id: Option<String>,
    pub to_agency: Option<String>,
    pub to_person_id: Option<String>,
    pub to_person: Option<String>,
    pub to_description: String,
    pub shared_at: Millis,
    pub purpose: String,
    /// `None` for a decision not to share.
    pub lawful_basis: Option<LawfulBasis>,
    pub consent_record_id: Option<String>,
    pub consent_state: Option<String>,
    /// Whose consent, e.g. "Claire Ashworth (mother)": case members only.
    pub consent_subject: Option<String>,
    pub without_consent_reason: Option<String>,
    pub override_id: Option<String>,
    pub reasons: String,
    pub recorded_by_id: Option<String>,
    pub recorded_by: Option<String>,
    pub created_at: Millis,
}

impl SharingRecord {
    /// Relied on a consent that was given when the share was recorded.
    pub fn relied_on_consent(&self) -> bool {
        self.consent_record_id.is_some() && self.consent_state.as_deref() == Some("given")
    }
}

const SELECT: &str = "SELECT s.id, s.case_id, c.reference, c.child_name, c.la_reference, s.source, s.item_ref, s.what, \
     s.from_person_id, fp.name AS from_person, s.from_agency_id, fa.name AS from_agency, \
     s.to_agency_id, ta.name AS to_agency, s.to_person_id, tp.name AS to_person, s.to_description, \
     s.shared_at, s.purpose, s.lawful_basis, s.consent_record_id, s.consent_state, \
     cr.subject_name AS consent_subject, cr.relationship AS consent_relationship, \
     s.without_consent_reason, s.override_id, s.reasons, s.recorded_by, rb.name AS recorded_by_name, s.created_at \
     FROM sharing_records s JOIN cases c ON c.id = s.case_id \
     LEFT JOIN people fp ON fp.id = s.from_person_id \
     LEFT JOIN agencies fa ON fa.id = s.from_agency_id \
     LEFT JOIN agencies ta ON ta.id = s.to_agency_id \
     LEFT JOIN people tp ON tp.id = s.to_person_id \
     LEFT JOIN people rb ON rb.id = s.recorded_by \
     LEFT JOIN consent_records cr ON cr.id = s.consent_record_id";

fn from_row(db: &Db, row: &AnyRow, member: bool) -> StoreResult<SharingRecord> {
    let source: String = row.try_get("source")?;
    let basis: Option<String> = row.try_get("lawful_basis")?;
    let child = super::cases::child_field(db, row, "child_name")?;
    let la = super::cases::child_field(db, row, "la_reference")?;
    let text = |t: String| {
        if member {
            t
        } else {
            mask_child(&t, &child, &la)
        }
    };
    let subject: Option<String> = row.try_get("consent_subject")?;
    let relationship: Option<String> = row.try_get("consent_relationship")?;
    let without: Option<String> = row.try_get("without_consent_reason")?;
    Ok(SharingRecord {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        case_reference: row.try_get("reference")?,
        child_name: member.then(|| child.clone()),
        source: Source::parse(&source).map_err(StoreError::Invalid)?,
        item_ref: row.try_get("item_ref")?,
        what: text(row.try_get("what")?),
        from_person_id: row.try_get("from_person_id")?,
        from_person: row.try_get("from_person")?,
        from_agency_id: row.try_get("from_agency_id")?,
        from_agency: row.try_get("from_agency")?,
        to_agency_id: row.try_get("to_agency_id")?,
        to_agency: row.try_get("to_agency")?,
        to_person_id: row.try_get("to_person_id")?,
        to_person: row.try_get("to_person")?,
        to_description: text(row.try_get("to_description")?),
        shared_at: row.try_get("shared_at")?,
        purpose: text(row.try_get("purpose")?),
        lawful_basis: basis
            .map(|b| b.parse::<LawfulBasis>().map_err(StoreError::Invalid))
            .transpose()?,
        consent_record_id: row.try_get("consent_record_id")?,
        consent_state: row.try_get("consent_state")?,
        consent_subject: match (member, subject, relationship) {
            (true, Some(s), Some(r)) => Some(format!("{s} ({r})")),
            _ => None,
        },
        without_consent_reason: without.map(text),
        override_id: row.try_get("override_id")?,
        reasons: text(row.try_get("reasons")?),
        recorded_by_id: row.try_get("recorded_by")?,
        recorded_by: row.try_get("recorded_by_name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn source_list(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A case's records of these kinds, newest first; `limit` of them, or all.
pub async fn of_case(
    db: &Db,
    access: &CaseAccess,
    sources: &[Source],
    limit: Option<i64>,
) -> StoreResult<Vec<SharingRecord>> {
    // The sources are this module's own constants, never input.
    let sql = format!(
        "{SELECT} WHERE s.case_id = $1 AND s.source IN ({}) ORDER BY s.shared_at DESC, s.created_at DESC, s.id LIMIT $2",
        source_list(sources)
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(access.case_id())
        .bind(limit.unwrap_or(i64::MAX))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| from_row(db, r, true)).collect()
}

/// Every kind of record.
pub const ALL: &[Source] = &[
    Source::Message,
    Source::Minutes,
    Source::Findings,
    Source::Manual,
    Source::NotShared,
];
/// Shares (automatic and manual), not decisions not to share.
pub const SHARES: &[Source] = &[
    Source::Message,
    Source::Minutes,
    Source::Findings,
    Source::Manual,
];

/// How many records a case has of these kinds.
pub async fn count_of_case(db: &Db, access: &CaseAccess, sources: &[Source]) -> StoreResult<i64> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM sharing_records WHERE case_id = $1 AND source IN ({})",
        source_list(sources)
    );
    Ok(sqlx::query(AssertSqlSafe(sql))
        .bind(access.case_id())
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// One agency that has received information from a case.
#[derive(Clone, Debug)]
pub struct AgencyTold {
    pub agency_id: String,
    pub agency: String,
    pub items: i64,
    pub first: Millis,
    pub last: Millis,
    /// The lawful bases relied on, as labels.
    pub bases: Vec<String>,
    /// Shares that relied on no given consent (a lawful basis alone, an
    /// override, or consent not sought).
    pub without_consent: i64,
}

/// Every agency that has received information from a case, by name.
pub async fn agencies_told(db: &Db, access: &CaseAccess) -> StoreResult<Vec<AgencyTold>> {
    let rows = sqlx::query(
        "SELECT s.to_agency_id, a.name, s.lawful_basis, COUNT(*) AS n, MIN(s.shared_at) AS first, \
         MAX(s.shared_at) AS last, \
         SUM(CASE WHEN s.consent_state = 'given' THEN 0 ELSE 1 END) AS without_consent \
         FROM sharing_records s JOIN agencies a ON a.id = s.to_agency_id \
         WHERE s.case_id = $1 AND s.source <> 'not_shared' \
         GROUP BY s.to_agency_id, a.name, s.lawful_basis ORDER BY a.name",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let mut by: BTreeMap<(String, String), AgencyTold> = BTreeMap::new();
    for r in &rows {
        let id: String = r.try_get("to_agency_id")?;
        let name: String = r.try_get("name")?;
        let basis: Option<String> = r.try_get("lawful_basis")?;
        let (n, first, last, without): (i64, i64, i64, i64) = (
            r.try_get("n")?,
            r.try_get("first")?,
            r.try_get("last")?,
            r.try_get("without_consent")?,
        );
        let entry = by
            .entry((name.clone(), id.clone()))
            .or_insert_with(|| AgencyTold {
                agency_id: id,
                agency: name,
                items: 0,
                first,
                last,
                bases: Vec::new(),
                without_consent: 0,
            });
        entry.items += n;
        entry.first = entry.first.min(first);
        entry.last = entry.last.max(last);
        entry.without_consent += without;
        if let Some(b) = basis.and_then(|b| b.parse::<LawfulBasis>().ok()) {
            entry.bases.push(b.label().to_string());
        }
    }
    Ok(by.into_values().collect())
}

/// One person who has received information from a case in Confer.
#[derive(Clone, Debug)]
pub struct PersonTold {
    pub person_id: String,
    pub name: String,
    pub agency: String,
    pub messages: i64,
    pub meeting_records: i64,
    pub first: Millis,
    pub last: Millis,
}

/// Everyone who has been delivered a message of the case or sent a
/// meeting's record, by agency and name.
pub async fn people_told(db: &Db, access: &CaseAccess) -> StoreResult<Vec<PersonTold>> {
    let messages = sqlx::query(
        "SELECT d.person_id, p.name, a.name AS agency, COUNT(*) AS n, MIN(d.delivered_at) AS first, \
         MAX(d.delivered_at) AS last \
         FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN channels ch ON ch.id = m.channel_id \
         JOIN people p ON p.id = d.person_id JOIN agencies a ON a.id = p.agency_id \
         WHERE ch.case_id = $1 GROUP BY d.person_id, p.name, a.name",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let minutes = sqlx::query(
        "SELECT c.person_id, p.name, a.name AS agency, COUNT(*) AS n, MIN(c.circulated_at) AS first, \
         MAX(c.circulated_at) AS last \
         FROM minutes_circulations c JOIN meetings m ON m.id = c.meeting_id \
         JOIN people p ON p.id = c.person_id JOIN agencies a ON a.id = c.agency_id \
         WHERE m.case_id = $1 GROUP BY c.person_id, p.name, a.name",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let mut by: BTreeMap<(String, String, String), PersonTold> = BTreeMap::new();
    for (rows, is_minutes) in [(&messages, false), (&minutes, true)] {
        for r in rows {
            let id: String = r.try_get("person_id")?;
            let name: String = r.try_get("name")?;
            let agency: String = r.try_get("agency")?;
            let (n, first, last): (i64, i64, i64) =
                (r.try_get("n")?, r.try_get("first")?, r.try_get("last")?);
            let e = by
                .entry((agency.clone(), name.clone(), id.clone()))
                .or_insert_with(|| PersonTold {
                    person_id: id,
                    name,
                    agency,
                    messages: 0,
                    meeting_records: 0,
                    first,
                    last,
                });
            if is_minutes {
                e.meeting_records += n;
            } else {
                e.messages += n;
            }
            e.first = e.first.min(first);
            e.last = e.last.max(last);
        }
    }
    Ok(by.into_values().collect())
}

/// An auditor's search. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The Confer case reference, e.g. `CF-7K2M9Q`.
    pub case_reference: Option<String>,
    /// Part of a person's name or email: the sharer, the recipient, whoever
    /// recorded it, or the "to whom" of a manual record.
    pub person: Option<String>,
    /// An agency that shared or received.
    pub agency_id: Option<String>,
    /// From this instant (inclusive)...
    pub from: Option<Millis>,
    /// ...to this one (exclusive).
    pub until: Option<Millis>,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// Add a value to bind; returns its placeholder number.
fn push(binds: &mut Vec<Bind>, b: Bind) -> usize {
    binds.push(b);
    binds.len()
}

/// `%text%` for `LIKE ... ESCAPE '\'`, lower-cased, with the wildcards
/// escaped so that they match themselves.
fn contains(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Records across cases matching the filter, newest first, at most `limit`;
/// with whether more matched.
pub async fn search(
    db: &Db,
    auditor: &SharingAuditor,
    filter: &Filter,
    limit: i64,
    now: Millis,
) -> StoreResult<(Vec<SharingRecord>, bool)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    if let Some(r) = &filter.case_reference {
        let n = push(&mut binds, Bind::Text(r.trim().to_uppercase()));
        clauses.push(format!("c.reference = ${n}"));
    }
    if let Some(p) = &filter.person {
        let n = push(&mut binds, Bind::Text(contains(p)));
        clauses.push(format!(
            "(LOWER(fp.name) LIKE ${n} ESCAPE '\\' OR LOWER(fp.email) LIKE ${n} ESCAPE '\\' \
             OR LOWER(tp.name) LIKE ${n} ESCAPE '\\' OR LOWER(tp.email) LIKE ${n} ESCAPE '\\' \
             OR LOWER(rb.name) LIKE ${n} ESCAPE '\\' OR LOWER(rb.email) LIKE ${n} ESCAPE '\\' \
             OR LOWER(s.to_description) LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(a) = &filter.agency_id {
        let n = push(&mut binds, Bind::Text(a.clone()));
        clauses.push(format!(
            "(s.from_agency_id = ${n} OR s.to_agency_id = ${n})"
        ));
    }
    if let Some(from) = filter.from {
        let n = push(&mut binds, Bind::Int(from));
        clauses.push(format!("s.shared_at >= ${n}"));
    }
    if let Some(until) = filter.until {
        let n = push(&mut binds, Bind::Int(until));
        clauses.push(format!("s.shared_at < ${n}"));
    }
    let n = push(&mut binds, Bind::Int(limit.saturating_add(1)));
    let sql = format!(
        "{SELECT}{}{} ORDER BY s.shared_at DESC, s.created_at DESC, s.id LIMIT ${n}",
        if clauses.is_empty() { "" } else { " WHERE " },
        clauses.join(" AND ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    let rows = q.fetch_all(db.pool()).await?;
    let member_of = cases_of(db, auditor.person_id(), now).await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let case_id: String = r.try_get("case_id")?;
            from_row(db, r, member_of.contains(&case_id))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let more = out.len() as i64 > limit;
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((out, more))
}

/// The cases a person is currently a member of.
async fn cases_of(db: &Db, person_id: &str, now: Millis) -> StoreResult<HashSet<String>> {
    let rows = sqlx::query(
        "SELECT case_id FROM case_memberships WHERE person_id = $1 AND ended_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(person_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(r.try_get("case_id")?)).collect()
}

/// The agencies, for the search form: (id, name).
pub async fn agencies(db: &Db) -> StoreResult<Vec<(String, String)>> {
    Ok(super::agencies::list(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}
