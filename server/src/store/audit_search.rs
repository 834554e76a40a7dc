//! The auditor's search of the audit log (issue 6, items 5 and 6): by case,
//! person, agency, time and action, newest first, a page at a time, and in
//! full for exports. Every function takes an [`Auditor`], which only
//! `authorize_auditor` builds. Rows carry the Confer case reference, never
//! anything of the case itself: the join to `cases` reads its reference only.

use sqlx::{AssertSqlSafe, Row};

use super::{Db, StoreResult};
use crate::domain::audit::Auditor;
use crate::domain::clock::Millis;

/// What to search for; every part is optional and they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub case_id: Option<String>,
    /// Events by any of these people (an empty list matches nothing).
    pub actor_ids: Option<Vec<String>>,
    /// Events by people of this agency.
    pub agency_id: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<Millis>,
    /// Until this instant (exclusive).
    pub until: Option<Millis>,
    pub action: Option<String>,
}

/// One event as the auditor sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Found {
    pub seq: i64,
    pub at: Millis,
    pub actor_id: Option<String>,
    /// The actor's name when the event was written.
    pub actor_label: String,
    pub actor_agency: Option<String>,
    pub action: String,
    pub case_id: Option<String>,
    pub case_reference: Option<String>,
    pub subject: Option<String>,
    /// JSON text: ids and codes, never content.
    pub detail: String,
    pub hash: String,
}

enum Arg {
    Text(String),
    Int(i64),
}

/// The WHERE clause and its arguments, numbered from `$1`.
fn conditions(filter: &Filter, before: Option<i64>) -> (String, Vec<Arg>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    fn push(clauses: &mut Vec<String>, args: &mut Vec<Arg>, clause: &str, arg: Arg) {
        args.push(arg);
        clauses.push(clause.replace('?', &format!("${}", args.len())));
    }
    if let Some(c) = &filter.case_id {
        push(
            &mut clauses,
            &mut args,
            "e.case_id = ?",
            Arg::Text(c.clone()),
        );
    }
    if let Some(ids) = &filter.actor_ids {
        if ids.is_empty() {
            clauses.push("1 = 0".into());
        } else {
            let mut marks = Vec::with_capacity(ids.len());
            for id in ids {
                args.push(Arg::Text(id.clone()));
                marks.push(format!("${}", args.len()));
            }
            clauses.push(format!("e.actor_id IN ({})", marks.join(", ")));
        }
    }
    if let Some(a) = &filter.agency_id {
        push(
            &mut clauses,
            &mut args,
            "p.agency_id = ?",
            Arg::Text(a.clone()),
        );
    }
    if let Some(from) = filter.from {
        push(&mut clauses, &mut args, "e.at >= ?", Arg::Int(from));
    }
    if let Some(until) = filter.until {
        push(&mut clauses, &mut args, "e.at < ?", Arg::Int(until));
    }
    if let Some(action) = &filter.action {
        push(
            &mut clauses,
            &mut args,
            "e.action = ?",
            Arg::Text(action.clone()),
        );
    }
    if let Some(before) = before {
        push(&mut clauses, &mut args, "e.seq < ?", Arg::Int(before));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

const FROM: &str = "FROM audit_events e LEFT JOIN people p ON p.id = e.actor_id \
     LEFT JOIN agencies a ON a.id = p.agency_id LEFT JOIN cases c ON c.id = e.case_id";

/// Matching events older than `before` (a sequence number), newest first.
pub async fn search(
    db: &Db,
    _auditor: &Auditor,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Found>> {
    let (where_sql, args) = conditions(filter, before);
    let sql = format!(
        "SELECT e.seq, e.at, e.actor_id, e.actor_label, a.name AS actor_agency, e.action, e.case_id, \
         c.reference AS case_reference, e.subject, e.detail, e.hash {FROM} {where_sql} \
         ORDER BY e.seq DESC LIMIT ${}",
        args.len() + 1
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t),
            Arg::Int(i) => q.bind(i),
        };
    }
    let rows = q.bind(limit).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(Found {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                actor_id: r.try_get("actor_id")?,
                actor_label: r.try_get("actor_label")?,
                actor_agency: r.try_get("actor_agency")?,
                action: r.try_get("action")?,
                case_id: r.try_get("case_id")?,
                case_reference: r.try_get("case_reference")?,
                subject: r.try_get("subject")?,
                detail: r.try_get("detail")?,
                hash: r.try_get("hash")?,
            })
        })
        .collect()
}

/// How many events match.
pub async fn count(db: &Db, _auditor: &Auditor, filter: &Filter) -> StoreResult<i64> {
    let (where_sql, args) = conditions(filter, None);
    let mut q = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n {FROM} {where_sql}"
    )));
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t),
            Arg::Int(i) => q.bind(i),
        };
    }
    let row = q.fetch_one(db.pool()).await?;
    Ok(row.try_get("n")?)
}

/// Every action the log holds, for the search form's list.
pub async fn actions(db: &Db, _auditor: &Auditor) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT action FROM audit_events ORDER BY action")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("action")?))
        .collect()
}

/// The most people a name search may match; a search that matches more
/// should be narrowed.
pub const MAX_PEOPLE: i64 = 200;

/// People whose email is `text` or whose name contains it (any case).
pub async fn people_matching(db: &Db, _auditor: &Auditor, text: &str) -> StoreResult<Vec<String>> {
    let text = text.trim().to_lowercase();
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let rows = sqlx::query(
        "SELECT id FROM people WHERE email = $1 OR LOWER(name) LIKE $2 ESCAPE '\\' ORDER BY name LIMIT $3",
    )
    .bind(&text)
    .bind(format!("%{escaped}%"))
    .bind(MAX_PEOPLE)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("id")?))
        .collect()
}

/// A case's id by its Confer reference (or id): the auditor searches by
/// reference and learns nothing else of the case.
pub async fn case_id_by_reference(
    db: &Db,
    _auditor: &Auditor,
    reference: &str,
) -> StoreResult<Option<String>> {
    let reference = reference.trim();
    let row = sqlx::query("SELECT id FROM cases WHERE reference = $1 OR id = $2")
        .bind(reference.to_uppercase())
        .bind(reference)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get::<String, _>("id")).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_their_arguments_in_order() {
        let filter = Filter {
            case_id: Some("c".into()),
            actor_ids: Some(vec!["p1".into(), "p2".into()]),
            agency_id: Some("a".into()),
            from: Some(1),
            until: Some(2),
            action: Some("case.read".into()),
        };
        let (sql, args) = conditions(&filter, Some(9));
        assert_eq!(
            sql,
            "WHERE e.case_id = $1 AND e.actor_id IN ($2, $3) AND p.agency_id = $4 \
             AND e.at >= $5 AND e.at < $6 AND e.action = $7 AND e.seq < $8"
        );
        assert_eq!(args.len(), 8);
        assert_eq!(conditions(&Filter::default(), None).0, "");
        let nobody = Filter {
            actor_ids: Some(vec![]),
            ..Filter::default()
        };
        assert_eq!(conditions(&nobody, None).0, "WHERE 1 = 0");
    }
}
