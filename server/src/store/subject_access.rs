//! The subject-access export: everything Confer holds about one child, as
//! one JSON document for the information-governance officer, each item
//! marked for the third-party review ([`crate::domain::subject_access`]).
//! Restricted messages and earlier texts of edited or removed messages are
//! included: the officer, not the export, decides what is disclosed.

use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::sharing_search::{self, SharingRecord};
use super::{Db, StoreResult};
use crate::domain::access::CaseAccess;
use crate::domain::clock::{Millis, rfc3339};
use crate::domain::subject_access::{Marking, Review, SubjectAccess, ThirdParty};

mod meetings;

use meetings::meetings;

fn at(ms: Option<Millis>) -> Value {
    ms.map_or(Value::Null, |m| Value::String(rfc3339(m)))
}

/// Put the marking into an item.
fn marked(mut item: Value, m: Marking) -> Value {
    if let Value::Object(o) = &mut item {
        o.insert("third_party".into(), Value::Bool(m.third_party));
        o.insert(
            "third_party_reason".into(),
            m.third_party_reason.map_or(Value::Null, Value::String),
        );
    }
    item
}

fn text(r: &AnyRow, col: &str) -> StoreResult<String> {
    Ok(r.try_get::<Option<String>, _>(col)?.unwrap_or_default())
}

/// Everyone the review must know about: people of other agencies who appear
/// in the case, and the family members named in its consent records.
async fn review(db: &Db, case_id: &str, holder: &str, child: &str) -> StoreResult<Review> {
    let rows = sqlx::query(
        "SELECT DISTINCT p.name, a.name AS agency FROM people p JOIN agencies a ON a.id = p.agency_id \
         WHERE p.agency_id <> $2 AND p.id IN ( \
           SELECT person_id FROM case_memberships WHERE case_id = $1 \
           UNION SELECT m.author_id FROM messages m JOIN channels ch ON ch.id = m.channel_id WHERE ch.case_id = $1 \
           UNION SELECT i.person_id FROM meeting_invitations i JOIN meetings mt ON mt.id = i.meeting_id WHERE mt.case_id = $1 AND i.person_id IS NOT NULL \
           UNION SELECT chair_id FROM meetings WHERE case_id = $1 \
           UNION SELECT organiser_id FROM meetings WHERE case_id = $1)",
    )
    .bind(case_id)
    .bind(holder)
    .fetch_all(db.pool())
    .await?;
    let mut people = Vec::with_capacity(rows.len());
    for r in &rows {
        let (name, agency): (String, String) = (r.try_get("name")?, r.try_get("agency")?);
        people.push(ThirdParty {
            who: format!("{name} ({agency})"),
            name,
        });
    }
    let rows = sqlx::query(
        "SELECT DISTINCT subject_name, relationship FROM consent_records WHERE case_id = $1 AND relationship <> 'child'",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?;
    for r in &rows {
        let (name, relationship): (String, String) =
            (r.try_get("subject_name")?, r.try_get("relationship")?);
        let who = match relationship.as_str() {
            "other" => format!("{name}, a person connected to the child"),
            rel => format!("{name}, the child's {rel}"),
        };
        people.push(ThirdParty { name, who });
    }
    Ok(Review::new(holder, child, people))
}

/// Everything held about the child of one case.
pub async fn export(
    db: &Db,
    access: &CaseAccess,
    proof: &SubjectAccess,
    now: Millis,
) -> StoreResult<Value> {
    let case_id = proof.case_id();
    let c = sqlx::query(
        "SELECT c.reference, c.child_name, c.child_dob, c.la_reference, c.status, c.opened_at, c.closed_at, \
         c.lawful_basis, c.sharing_purpose, p.name AS lead, p.agency_id AS holder, a.name AS holder_name \
         FROM cases c JOIN people p ON p.id = c.lead_social_worker_id JOIN agencies a ON a.id = p.agency_id \
         WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_one(db.pool())
    .await?;
    let holder: String = c.try_get("holder")?;
    let child = super::cases::child_field(db, &c, "child_name")?;
    let review = review(db, case_id, &holder, &child).await?;
    let case = marked(
        json!({
            "id": case_id,
            "reference": text(&c, "reference")?,
            "child_name": child,
            "child_dob": super::cases::child_field(db, &c, "child_dob")?,
            "la_reference": super::cases::child_field(db, &c, "la_reference")?,
            "status": text(&c, "status")?,
            "opened_at": at(c.try_get("opened_at")?),
            "closed_at": at(c.try_get("closed_at")?),
            "lead_social_worker": text(&c, "lead")?,
            "case_holding_agency": text(&c, "holder_name")?,
            "lawful_basis": text(&c, "lawful_basis")?,
            "sharing_purpose": text(&c, "sharing_purpose")?,
        }),
        Marking::default(),
    );
    Ok(json!({
        "export": {
            "kind": "subject_access",
            "generated_at": rfc3339(now),
            "case_reference": text(&c, "reference")?,
            "notice": "Everything Confer holds about this child, for the information-governance officer's review before anything is disclosed. Items marked third_party contain information written by or about someone other than the child or the case-holding agency: decide on each before disclosure.",
        },
        "case": case,
        "case_team": team(db, case_id, &holder).await?,
        "consent_records": consents(db, case_id, &review).await?,
        "sharing_overrides": overrides(db, case_id, &review).await?,
        "channels": channels(db, case_id, &review).await?,
        "meetings": meetings(db, case_id, &holder, &review).await?,
        "deadlines": deadlines(db, case_id, &review).await?,
        "sharing_records": sharing_records(db, access, &holder, &review).await?,
    }))
}

async fn team(db: &Db, case_id: &str, holder: &str) -> StoreResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT p.name, p.role, p.agency_id, a.name AS agency, m.granted_by_label, m.granted_at, m.reason, \
         m.expires_at, m.ended_at, m.end_reason FROM case_memberships m JOIN people p ON p.id = m.person_id \
         JOIN agencies a ON a.id = p.agency_id WHERE m.case_id = $1 ORDER BY m.granted_at, p.name",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let (name, agency_id, agency) =
                (text(r, "name")?, text(r, "agency_id")?, text(r, "agency")?);
            let m = if agency_id == holder {
                Marking::default()
            } else {
                Marking::of(vec![format!("Names {name} ({agency}), a professional of another agency")])
            };
            Ok(marked(
                json!({
                    "person": name, "role": text(r, "role")?, "agency": agency,
                    "granted_by": text(r, "granted_by_label")?, "granted_at": at(r.try_get("granted_at")?),
                    "reason": text(r, "reason")?, "expires_at": at(r.try_get("expires_at")?),
                    "ended_at": at(r.try_get("ended_at")?), "end_reason": r.try_get::<Option<String>, _>("end_reason")?,
                }),
                m,
            ))
        })
        .collect()
}

async fn consents(db: &Db, case_id: &str, review: &Review) -> StoreResult<Vec<Value>> {
    let records = sqlx::query(
        "SELECT r.id, r.subject_name, r.relationship, r.purpose, r.scope, p.name AS created_by, r.created_at \
         FROM consent_records r JOIN people p ON p.id = r.created_by WHERE r.case_id = $1 ORDER BY r.created_at, r.id",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(records.len());
    for r in &records {
        let id = text(r, "id")?;
        let versions = sqlx::query(
            "SELECT v.version, v.state, v.evidence, v.detail, v.not_sought_reason, v.gillick_competent, v.child_view, \
             v.why, p.name AS recorded_by, p.agency_id, a.name AS agency, v.recorded_at FROM consent_versions v \
             JOIN people p ON p.id = v.recorded_by JOIN agencies a ON a.id = p.agency_id \
             WHERE v.record_id = $1 ORDER BY v.version",
        )
        .bind(&id)
        .fetch_all(db.pool())
        .await?;
        let mut history = Vec::with_capacity(versions.len());
        for v in &versions {
            let (by, agency_id, agency) = (
                text(v, "recorded_by")?,
                text(v, "agency_id")?,
                text(v, "agency")?,
            );
            let (detail, view, why) = (text(v, "detail")?, text(v, "child_view")?, text(v, "why")?);
            let gillick: Option<i64> = v.try_get("gillick_competent")?;
            history.push(marked(
                json!({
                    "version": v.try_get::<i64, _>("version")?, "state": text(v, "state")?,
                    "evidence": v.try_get::<Option<String>, _>("evidence")?, "detail": detail,
                    "not_sought_reason": v.try_get::<Option<String>, _>("not_sought_reason")?,
                    "gillick_competent": gillick.map(|g| g == 1), "child_view": view, "why": why,
                    "recorded_by": by, "recorded_by_agency": agency, "recorded_at": at(v.try_get("recorded_at")?),
                }),
                review.mark(Some((by.as_str(), agency_id.as_str(), agency.as_str())), &[detail.as_str(), view.as_str(), why.as_str()], &[]),
            ));
        }
        let (subject, relationship) = (text(r, "subject_name")?, text(r, "relationship")?);
        let m = if relationship == "child" {
            Marking::default()
        } else {
            Marking::of(vec![format!(
                "About {subject}, the child's {relationship}: a family member's personal data"
            )])
        };
        out.push(marked(
            json!({
                "id": id, "subject_name": subject, "relationship": relationship,
                "purpose": text(r, "purpose")?, "scope": text(r, "scope")?,
                "created_by": text(r, "created_by")?, "created_at": at(r.try_get("created_at")?),
                "versions": history,
            }),
            m,
        ));
    }
    Ok(out)
}

async fn overrides(db: &Db, case_id: &str, review: &Review) -> StoreResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT o.id, o.consent_record_id, o.agency_kind, o.lawful_basis, o.reason, p.name AS requested_by, \
         p.agency_id, a.name AS agency, o.requested_at, o.status, d.name AS decided_by, o.decided_at \
         FROM sharing_overrides o JOIN people p ON p.id = o.requested_by JOIN agencies a ON a.id = p.agency_id \
         LEFT JOIN people d ON d.id = o.decided_by WHERE o.case_id = $1 ORDER BY o.requested_at, o.id",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let (by, agency_id, agency, reason) =
                (text(r, "requested_by")?, text(r, "agency_id")?, text(r, "agency")?, text(r, "reason")?);
            Ok(marked(
                json!({
                    "id": text(r, "id")?, "consent_record_id": text(r, "consent_record_id")?,
                    "agency_kind": text(r, "agency_kind")?, "lawful_basis": text(r, "lawful_basis")?,
                    "reason": reason, "requested_by": by, "requested_by_agency": agency,
                    "requested_at": at(r.try_get("requested_at")?), "status": text(r, "status")?,
                    "decided_by": r.try_get::<Option<String>, _>("decided_by")?, "decided_at": at(r.try_get("decided_at")?),
                }),
                review.mark(Some((by.as_str(), agency_id.as_str(), agency.as_str())), &[reason.as_str()], &[]),
            ))
        })
        .collect()
}

async fn channels(db: &Db, case_id: &str, review: &Review) -> StoreResult<Vec<Value>> {
    let chans = sqlx::query(
        "SELECT id, kind, name FROM channels WHERE case_id = $1 ORDER BY created_at, id",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(chans.len());
    for ch in &chans {
        let id = text(ch, "id")?;
        let rows = sqlx::query(
            "SELECT m.id, m.seq, p.name AS author, p.agency_id, a.name AS agency, m.body, m.created_at, m.edited_at, \
             m.redacted_at, rb.name AS redacted_by, m.restricted, m.restriction_reason FROM messages m \
             JOIN people p ON p.id = m.author_id JOIN agencies a ON a.id = p.agency_id \
             LEFT JOIN people rb ON rb.id = m.redacted_by WHERE m.channel_id = $1 ORDER BY m.seq",
        )
        .bind(&id)
        .fetch_all(db.pool())
        .await?;
        let mut messages = Vec::with_capacity(rows.len());
        for r in &rows {
            let mid = text(r, "id")?;
            let (author, agency_id, agency, body) = (
                text(r, "author")?,
                text(r, "agency_id")?,
                text(r, "agency")?,
                db.open_sealed("messages.body", text(r, "body")?)?,
            );
            let restricted = r.try_get::<i64, _>("restricted")? == 1;
            let earlier = sqlx::query(
                "SELECT v.version, v.body, v.replaced_at, p.name AS replaced_by, v.change FROM message_versions v \
                 JOIN people p ON p.id = v.replaced_by WHERE v.message_id = $1 ORDER BY v.version",
            )
            .bind(&mid)
            .fetch_all(db.pool())
            .await?;
            let mut texts = vec![body.clone()];
            let mut versions = Vec::with_capacity(earlier.len());
            for v in &earlier {
                let earlier_body = db.open_sealed("message_versions.body", text(v, "body")?)?;
                texts.push(earlier_body.clone());
                versions.push(json!({
                    "version": v.try_get::<i64, _>("version")?, "body": earlier_body,
                    "replaced_at": at(v.try_get("replaced_at")?), "replaced_by": text(v, "replaced_by")?,
                    "change": text(v, "change")?,
                }));
            }
            let audience = if restricted {
                let aud = sqlx::query(
                    "SELECT COALESCE(a.name, p.name) AS name FROM message_restrictions r \
                     LEFT JOIN agencies a ON a.id = r.agency_id LEFT JOIN people p ON p.id = r.person_id \
                     WHERE r.message_id = $1",
                )
                .bind(&mid)
                .fetch_all(db.pool())
                .await?;
                aud.iter()
                    .map(|a| text(a, "name"))
                    .collect::<StoreResult<Vec<_>>>()?
            } else {
                Vec::new()
            };
            let reason: Option<String> = r.try_get("restriction_reason")?;
            let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let m = review
                .mark(
                    Some((author.as_str(), agency_id.as_str(), agency.as_str())),
                    &text_refs,
                    &[],
                )
                .and(restricted.then(|| {
                    format!(
                        "Restricted to {} ({})",
                        audience.join(", "),
                        reason.clone().unwrap_or_default()
                    )
                }));
            messages.push(marked(
                json!({
                    "id": mid, "seq": r.try_get::<i64, _>("seq")?, "author": author, "author_agency": agency,
                    "body": body, "created_at": at(r.try_get("created_at")?), "edited_at": at(r.try_get("edited_at")?),
                    "redacted_at": at(r.try_get("redacted_at")?),
                    "redacted_by": r.try_get::<Option<String>, _>("redacted_by")?,
                    "restricted": restricted, "restricted_to": audience, "restriction_reason": reason,
                    "earlier_versions": versions,
                }),
                m,
            ));
        }
        out.push(json!({
            "id": id, "kind": text(ch, "kind")?, "name": text(ch, "name")?, "messages": messages,
        }));
    }
    Ok(out)
}

async fn rows_of(db: &Db, sql: &str, id: &str) -> StoreResult<Vec<AnyRow>> {
    Ok(sqlx::query(AssertSqlSafe(sql.to_string()))
        .bind(id)
        .fetch_all(db.pool())
        .await?)
}

async fn deadlines(db: &Db, case_id: &str, review: &Review) -> StoreResult<Vec<Value>> {
    let rows = rows_of(
        db,
        "SELECT id, kind, started_on, note, statutory_due_on, due_on, met_on FROM deadlines \
         WHERE case_id = $1 ORDER BY started_on, id",
        case_id,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for d in &rows {
        let id = text(d, "id")?;
        let mut extensions = Vec::new();
        for e in rows_of(db, "SELECT e.old_due_on, e.new_due_on, e.reason, r.name AS requested_by, r.agency_id, \
             a.name AS agency, e.status, dp.name AS decided_by FROM deadline_extensions e JOIN people r ON r.id = e.requested_by \
             JOIN agencies a ON a.id = r.agency_id LEFT JOIN people dp ON dp.id = e.decided_by WHERE e.deadline_id = $1 \
             ORDER BY e.requested_at", &id).await? {
            let (by, agency_id, agency, reason) =
                (text(&e, "requested_by")?, text(&e, "agency_id")?, text(&e, "agency")?, text(&e, "reason")?);
            extensions.push(marked(json!({
                "old_due_on": text(&e, "old_due_on")?, "new_due_on": text(&e, "new_due_on")?, "reason": reason,
                "requested_by": by, "status": text(&e, "status")?, "decided_by": e.try_get::<Option<String>, _>("decided_by")?,
            }), review.mark(Some((by.as_str(), agency_id.as_str(), agency.as_str())), &[reason.as_str()], &[])));
        }
        let note = text(d, "note")?;
        out.push(marked(
            json!({
                "kind": text(d, "kind")?, "started_on": text(d, "started_on")?, "note": note,
                "statutory_due_on": text(d, "statutory_due_on")?, "due_on": text(d, "due_on")?,
                "met_on": d.try_get::<Option<String>, _>("met_on")?, "extensions": extensions,
            }),
            review.mark(None, &[note.as_str()], &[]),
        ));
    }
    Ok(out)
}

async fn sharing_records(
    db: &Db,
    access: &CaseAccess,
    holder: &str,
    review: &Review,
) -> StoreResult<Vec<Value>> {
    let records = sharing_search::of_case(db, access, sharing_search::ALL, None).await?;
    Ok(records
        .iter()
        .map(|r| sharing_item(r, holder, review))
        .collect())
}

fn sharing_item(r: &SharingRecord, holder: &str, review: &Review) -> Value {
    let from = r
        .from_person
        .as_deref()
        .zip(r.from_agency_id.as_deref())
        .zip(r.from_agency.as_deref())
        .map(|((n, id), a)| (n, id, a));
    let to = match (&r.to_person, &r.to_agency, &r.to_agency_id) {
        (Some(p), Some(a), Some(id)) if id != holder => Some(ThirdParty {
            name: p.clone(),
            who: format!("{p} ({a})"),
        }),
        _ => None,
    };
    let named: Vec<&ThirdParty> = to.iter().collect();
    let texts = [
        r.what.as_str(),
        r.to_description.as_str(),
        r.reasons.as_str(),
        r.without_consent_reason.as_deref().unwrap_or_default(),
    ];
    let mut m = review.mark(from, &texts, &named);
    if !r.to_description.is_empty() && !m.third_party {
        m = m.and(Some(format!(
            "Names the recipient as written: {}",
            r.to_description
        )));
    }
    marked(
        json!({
            "id": r.id, "source": r.source.as_str(), "item_ref": r.item_ref, "what": r.what,
            "from_person": r.from_person, "from_agency": r.from_agency, "to_agency": r.to_agency,
            "to_person": r.to_person, "to_description": r.to_description, "shared_at": at(Some(r.shared_at)),
            "purpose": r.purpose, "lawful_basis": r.lawful_basis.map(|b| b.as_str()),
            "consent_record_id": r.consent_record_id, "consent_state": r.consent_state,
            "without_consent_reason": r.without_consent_reason, "override_id": r.override_id,
            "reasons": r.reasons, "recorded_by": r.recorded_by,
        }),
        m,
    )
}
