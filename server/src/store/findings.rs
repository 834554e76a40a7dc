//! Structured findings of a return home interview (rules in
//! [`crate::domain::findings`]): one record per interview, with structured
//! entries that can be restricted. Recorded and edited by the interviewer or
//! children's social care in the case, once the outcome allows; exploitation
//! indicators raise a strategy prompt in the same transaction.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::missing::{Interview, audit_missing, text};
use super::rhi::{forbidden_to_manage, locked_interview, may_manage_interview};
use super::strategy_prompts::raise_strategy_prompt;
use super::{Db, StoreError, StoreResult, cases, new_id};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::clock::Millis;
use crate::domain::findings::{EntryKind, Indicators, MAX_ENTRIES, Reader, Risk, findings_allowed};
use crate::domain::missing::PromptReason;

/// Reason shown for a restricted entry when the recorder gave none.
pub const DEFAULT_REASON: &str =
    "Third-party identity: restricted to the case-holding agency and the interviewer";

#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: EntryKind,
    pub value: String,
    pub note: String,
    pub restricted: bool,
    pub restriction_reason: String,
}

/// The findings' answers in words, in the form's order; sealed at rest
/// (`rhi_findings.<column>`, see [`crate::sealing`]).
#[derive(Clone, Debug, Default)]
pub struct FindingsText {
    pub push_factors: String,
    pub pull_factors: String,
    pub where_child_was: String,
    pub who_with: String,
    pub harm: String,
    pub child_wishes: String,
    pub wants_next: String,
    pub free_text: String,
}

impl FindingsText {
    /// Each answer's column (also its form field), its label, and how an
    /// error message names it.
    pub const FIELDS: [(&'static str, &'static str, &'static str); 8] = [
        ("push_factors", "Push factors", "the push factors"),
        ("pull_factors", "Pull factors", "the pull factors"),
        (
            "where_child_was",
            "Where the child was",
            "where the child was",
        ),
        (
            "who_with",
            "Who the child was with",
            "who the child was with",
        ),
        ("harm", "Harm", "the harm"),
        ("child_wishes", "The child's wishes", "the child's wishes"),
        (
            "wants_next",
            "What the child wants to happen next",
            "what the child wants to happen next",
        ),
        ("free_text", "Anything else", "the notes"),
    ];

    /// The answers, in the order of [`Self::FIELDS`].
    pub fn values(&self) -> [&str; 8] {
        [
            &self.push_factors,
            &self.pull_factors,
            &self.where_child_was,
            &self.who_with,
            &self.harm,
            &self.child_wishes,
            &self.wants_next,
            &self.free_text,
        ]
    }

    /// The answers, each given by `get` from its column's name.
    pub fn try_from_fn<E>(mut get: impl FnMut(&str) -> Result<String, E>) -> Result<Self, E> {
        Ok(Self {
            push_factors: get("push_factors")?,
            pull_factors: get("pull_factors")?,
            where_child_was: get("where_child_was")?,
            who_with: get("who_with")?,
            harm: get("harm")?,
            child_wishes: get("child_wishes")?,
            wants_next: get("wants_next")?,
            free_text: get("free_text")?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Findings {
    pub id: String,
    pub interview_id: String,
    pub case_id: String,
    pub text: FindingsText,
    pub indicators: Indicators,
    pub risk: Risk,
    pub recorded_by_name: String,
    pub recorded_at: Millis,
    pub updated_at: Millis,
    pub entries: Vec<Entry>,
}

/// What the form gives.
#[derive(Clone, Debug, Default)]
pub struct NewFindings {
    pub text: FindingsText,
    pub indicators: Indicators,
    pub risk: Option<Risk>,
    pub entries: Vec<Entry>,
}

const SELECT: &str = "SELECT f.id, f.interview_id, f.case_id, f.push_factors, f.pull_factors, f.where_child_was, \
     f.who_with, f.exploitation_sexual, f.exploitation_criminal, f.exploitation_county_lines, f.exploitation_other, \
     f.harm, f.child_wishes, f.wants_next, f.risk, f.free_text, p.name AS recorded_by_name, f.recorded_at, f.updated_at \
     FROM rhi_findings f JOIN people p ON p.id = f.recorded_by";

fn flag(r: &AnyRow, column: &str) -> StoreResult<bool> {
    Ok(r.try_get::<i64, _>(column)? == 1)
}

fn from_row(db: &Db, r: &AnyRow) -> StoreResult<Findings> {
    let risk: String = r.try_get("risk")?;
    Ok(Findings {
        id: r.try_get("id")?,
        interview_id: r.try_get("interview_id")?,
        case_id: r.try_get("case_id")?,
        text: FindingsText::try_from_fn(|column| {
            db.open_sealed(&format!("rhi_findings.{column}"), r.try_get(column)?)
        })?,
        indicators: Indicators {
            sexual: flag(r, "exploitation_sexual")?,
            criminal: flag(r, "exploitation_criminal")?,
            county_lines: flag(r, "exploitation_county_lines")?,
            other: flag(r, "exploitation_other")?,
        },
        risk: risk.parse().map_err(StoreError::Invalid)?,
        recorded_by_name: r.try_get("recorded_by_name")?,
        recorded_at: r.try_get("recorded_at")?,
        updated_at: r.try_get("updated_at")?,
        entries: Vec::new(),
    })
}

/// The findings with this id, with their entries; no access check (callers
/// hold a case access or a share).
pub(super) async fn by_id(db: &Db, id: &str) -> StoreResult<Findings> {
    let row = sqlx::query(AssertSqlSafe(format!("{SELECT} WHERE f.id = $1")))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    with_entries(db, from_row(db, &row)?).await
}

async fn with_entries(db: &Db, mut f: Findings) -> StoreResult<Findings> {
    let rows = sqlx::query(
        "SELECT kind, value, note, restricted, restriction_reason FROM finding_entries \
         WHERE findings_id = $1 ORDER BY position",
    )
    .bind(&f.id)
    .fetch_all(db.pool())
    .await?;
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        f.entries.push(Entry {
            kind: kind.parse().map_err(StoreError::Invalid)?,
            value: db.open_sealed("finding_entries.value", r.try_get("value")?)?,
            note: db.open_sealed("finding_entries.note", r.try_get("note")?)?,
            restricted: flag(r, "restricted")?,
            restriction_reason: r.try_get("restriction_reason")?,
        });
    }
    Ok(f)
}

/// The findings of an interview in the case, if recorded.
pub async fn of_interview(
    db: &Db,
    access: &CaseAccess,
    interview_id: &str,
) -> StoreResult<Option<Findings>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE f.interview_id = $1 AND f.case_id = $2"
    )))
    .bind(interview_id)
    .bind(access.case_id())
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(r) => Ok(Some(with_entries(db, from_row(db, &r)?).await?)),
        None => Ok(None),
    }
}

/// How a member of the case reads restricted entries: in full if they are
/// of the case-holding agency (the lead social worker's) or the interviewer.
pub async fn reader(
    db: &Db,
    actor: &Actor,
    access: &CaseAccess,
    interview: &Interview,
) -> StoreResult<Reader> {
    if interview.interviewer_person_id.as_deref() == Some(actor.person_id.as_str()) {
        return Ok(Reader::Holder);
    }
    let case = cases::get(db, access).await?;
    let lead = super::people::get(db, &case.lead_social_worker_id).await?;
    Ok(if lead.agency_id == actor.agency_id {
        Reader::Holder
    } else {
        Reader::Member
    })
}

fn check(f: &NewFindings) -> StoreResult<(NewFindings, Risk)> {
    let risk = f.risk.ok_or_else(|| {
        StoreError::Invalid("Choose the interviewer's assessment of risk.".into())
    })?;
    if f.entries.len() > MAX_ENTRIES {
        return Err(StoreError::Invalid(format!(
            "At most {MAX_ENTRIES} entries."
        )));
    }
    let mut entries = Vec::with_capacity(f.entries.len());
    for e in &f.entries {
        let reason = text(
            &e.restriction_reason,
            "the reason for the restriction",
            500,
            false,
        )?;
        entries.push(Entry {
            kind: e.kind,
            value: text(&e.value, "each entry's value", 200, true)?,
            note: text(&e.note, "an entry's note", 500, false)?,
            restricted: e.restricted,
            restriction_reason: match (e.restricted, reason.is_empty()) {
                (true, true) => DEFAULT_REASON.to_string(),
                (true, false) => reason,
                (false, _) => String::new(),
            },
        });
    }
    let values = f.text.values();
    let checked = FindingsText::try_from_fn(|column| {
        let Some((n, (_, _, what))) = FindingsText::FIELDS
            .iter()
            .enumerate()
            .find(|(_, field)| field.0 == column)
        else {
            unreachable!("FIELDS names every answer")
        };
        let most = if column == "free_text" { 8000 } else { 4000 };
        text(values[n], what, most, false)
    })?;
    Ok((
        NewFindings {
            text: checked,
            indicators: f.indicators,
            risk: Some(risk),
            entries,
        },
        risk,
    ))
}

/// Record the findings of the episode's interview, or replace them. Returns
/// the findings' id.
pub async fn save(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    episode_id: &str,
    now: Millis,
    input: NewFindings,
) -> StoreResult<String> {
    let (f, risk) = check(&input)?;
    let mut tx = db.write().await?;
    let interview = locked_interview(&mut tx, access, episode_id).await?;
    if !may_manage_interview(db, by, &interview).await? {
        return Err(forbidden_to_manage());
    }
    findings_allowed(
        interview.outcome,
        interview.carers_offered,
        &interview.carers_contribution,
    )
    .map_err(StoreError::Invalid)?;
    let existing: Option<String> =
        sqlx::query("SELECT id FROM rhi_findings WHERE interview_id = $1")
            .bind(&interview.id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
    let id = existing.clone().unwrap_or_else(new_id);
    let i = f.indicators;
    let b = |v: bool| i64::from(v);
    if existing.is_none() {
        sqlx::query(
            "INSERT INTO rhi_findings (id, interview_id, case_id, risk, recorded_by, recorded_at, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $5, $6)",
        )
        .bind(&id)
        .bind(&interview.id)
        .bind(access.case_id())
        .bind(risk.as_str())
        .bind(&by.person_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    // The answers, sealed, then the flags and the rest ($1 is the id).
    let answers: Vec<String> = FindingsText::FIELDS
        .iter()
        .enumerate()
        .map(|(n, (column, _, _))| format!("{column} = ${}", n + 2))
        .collect();
    let mut update = sqlx::query(AssertSqlSafe(format!(
        "UPDATE rhi_findings SET {}, exploitation_sexual = $10, exploitation_criminal = $11, \
         exploitation_county_lines = $12, exploitation_other = $13, risk = $14, indicators = $15, \
         search_terms = $16, updated_by = $17, updated_at = $18 WHERE id = $1",
        answers.join(", ")
    )))
    .bind(&id);
    for ((column, _, _), value) in FindingsText::FIELDS.iter().zip(f.text.values()) {
        update = update.bind(db.seal_text(&format!("rhi_findings.{column}"), value)?);
    }
    let words = i.words().join("; ");
    let mut searched = vec![words.as_str()];
    searched.extend(f.text.values());
    update
        .bind(b(i.sexual))
        .bind(b(i.criminal))
        .bind(b(i.county_lines))
        .bind(b(i.other))
        .bind(risk.as_str())
        .bind(&words)
        .bind(db.blind_index(&searched)?)
        .bind(&by.person_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM finding_entries WHERE findings_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    for (n, e) in f.entries.iter().enumerate() {
        sqlx::query(
            "INSERT INTO finding_entries (id, findings_id, case_id, position, kind, value, note, restricted, restriction_reason, search_terms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new_id())
        .bind(&id)
        .bind(access.case_id())
        .bind(n as i64)
        .bind(e.kind.as_str())
        .bind(db.seal_text("finding_entries.value", &e.value)?)
        .bind(db.seal_text("finding_entries.note", &e.note)?)
        .bind(b(e.restricted))
        .bind(&e.restriction_reason)
        .bind(db.blind_index(&[&e.value, &e.note])?)
        .execute(&mut *tx)
        .await?;
    }
    let action = if existing.is_some() {
        "missing.findings_updated"
    } else {
        "missing.findings_recorded"
    };
    let detail = serde_json::json!({
        "findings_id": id,
        "risk": risk.as_str(),
        "indicators": i.words(),
        "entries": f.entries.len(),
        "restricted_entries": f.entries.iter().filter(|e| e.restricted).count(),
    });
    audit_missing(&mut tx, by, access, now, action, &interview.id, detail).await?;
    if i.any() {
        raise_strategy_prompt(
            &mut tx,
            access.case_id(),
            PromptReason::ExploitationIndicators,
            &i.prompt_detail(),
            &id,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}
