//! The subject-access export's meetings: invitations, exclusions,
//! attendance, outcome, actions and minutes, each marked for the review.

use serde_json::{Value, json};
use sqlx::Row;

use super::{at, marked, rows_of, text};
use crate::domain::subject_access::{Marking, Review, ThirdParty};
use crate::store::meetings::{MEETING_SELECT, meeting_from_row};
use crate::store::{Db, StoreResult};

pub(super) async fn meetings(
    db: &Db,
    case_id: &str,
    holder: &str,
    review: &Review,
) -> StoreResult<Vec<Value>> {
    let rows = rows_of(
        db,
        &format!("{MEETING_SELECT} WHERE m.case_id = $1 ORDER BY m.starts_at, m.id"),
        case_id,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let m = meeting_from_row(row)?;
        let chair_agency = rows_of(db, "SELECT p.agency_id, a.name FROM people p JOIN agencies a ON a.id = p.agency_id WHERE p.id = $1", &m.chair_id).await?;
        let (chair_agency_id, chair_agency) = match chair_agency.first() {
            Some(r) => (text(r, "agency_id")?, text(r, "name")?),
            None => (String::new(), String::new()),
        };
        let chair = Some((
            m.chair_name.as_str(),
            chair_agency_id.as_str(),
            chair_agency.as_str(),
        ));
        let invitations = rows_of(db, "SELECT p.name AS person, i.agency_id, a.name AS agency, i.response, i.response_note \
             FROM meeting_invitations i JOIN agencies a ON a.id = i.agency_id LEFT JOIN people p ON p.id = i.person_id \
             WHERE i.meeting_id = $1 ORDER BY a.name, p.name", &m.id).await?;
        let mut invited = Vec::new();
        for i in &invitations {
            let (person, agency_id, agency) = (
                text(i, "person")?,
                text(i, "agency_id")?,
                text(i, "agency")?,
            );
            let mk = if agency_id != holder && !person.is_empty() {
                Marking::of(vec![format!(
                    "Names {person} ({agency}), a professional of another agency"
                )])
            } else {
                Marking::default()
            };
            invited.push(marked(
                json!({
                    "person": person, "agency": agency, "response": text(i, "response")?,
                    "note": text(i, "response_note")?,
                }),
                mk,
            ));
        }
        let exclusions = rows_of(db, "SELECT requirement, reason FROM meeting_exclusions WHERE meeting_id = $1 ORDER BY requirement", &m.id).await?
            .iter()
            .map(|e| Ok(json!({ "requirement": text(e, "requirement")?, "reason": text(e, "reason")? })))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut attendance = Vec::new();
        for a in rows_of(db, "SELECT t.agency_id, a.name AS agency, t.attended, t.attendees, t.senior_enough, t.note \
             FROM meeting_attendance t JOIN agencies a ON a.id = t.agency_id WHERE t.meeting_id = $1 ORDER BY a.name", &m.id).await? {
            let (agency_id, agency, attendees) = (text(&a, "agency_id")?, text(&a, "agency")?, text(&a, "attendees")?);
            let mk = if agency_id != holder && !attendees.trim().is_empty() {
                Marking::of(vec![format!("Names the attendees of {agency}, another agency")])
            } else {
                review.mark(None, &[attendees.as_str(), text(&a, "note")?.as_str()], &[])
            };
            attendance.push(marked(json!({
                "agency": agency, "attended": a.try_get::<i64, _>("attended")? == 1, "attendees": attendees,
                "senior_enough": a.try_get::<Option<i64>, _>("senior_enough")?.map(|s| s == 1), "note": text(&a, "note")?,
            }), mk));
        }
        let mut actions = Vec::new();
        for a in rows_of(db, "SELECT x.description, p.name AS owner, x.owner_agency_id, a.name AS agency, x.due_on, x.status \
             FROM meeting_actions x JOIN agencies a ON a.id = x.owner_agency_id LEFT JOIN people p ON p.id = x.owner_person_id \
             WHERE x.meeting_id = $1 ORDER BY x.created_at", &m.id).await? {
            let (owner, agency_id, agency, description) =
                (text(&a, "owner")?, text(&a, "owner_agency_id")?, text(&a, "agency")?, text(&a, "description")?);
            let named = (agency_id != holder && !owner.is_empty()).then(|| ThirdParty {
                name: owner.clone(),
                who: format!("{owner} ({agency})"),
            });
            let named: Vec<&ThirdParty> = named.iter().collect();
            actions.push(marked(json!({
                "description": description, "owner": owner, "owner_agency": agency,
                "due_on": text(&a, "due_on")?, "status": text(&a, "status")?,
            }), review.mark(chair, &[description.as_str()], &named)));
        }
        let outcome = serde_json::to_value(&m.outcome).unwrap_or(Value::Null);
        let outcome_text = outcome.to_string();
        out.push(json!({
            "id": m.id, "kind": m.kind.as_str(), "starts_at": at(Some(m.starts_at)), "ends_at": at(Some(m.ends_at)),
            "location": m.location, "status": m.status, "cancel_reason": m.cancel_reason,
            "chair": m.chair_name, "organiser": m.organiser_name,
            "invitations": invited, "exclusions": exclusions, "attendance": attendance,
            "outcome": marked(json!({ "held_on": m.held_on, "decisions": outcome }), review.mark(chair, &[outcome_text.as_str()], &[])),
            "actions": actions,
            "minutes": marked(json!({ "text": m.minutes, "circulated_at": at(m.circulated_at) }), review.mark(chair, &[m.minutes.as_str()], &[])),
        }));
    }
    Ok(out)
}
