//! What the matrix sends: each route's path with real ids, and a valid body
//! for every route that takes one, as its page's form or the API documents.

use serde_json::{Value, json};

use super::world::{GUEST, Ids};
use crate::harness::{LEE, Signed, TestApp};
use crate::meetings::day_after;

/// What a request carries.
pub enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
}

/// The path with its parameters filled: `case` for the case (Lily's, or an
/// unknown one), the records in `ids` for the rest, an unknown id where the
/// test has no record of that kind (the row then records 404s).
pub fn fill(path: &str, ids: &Ids, case: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = &rest[open + 1..close];
        let seq = ids.seq.to_string();
        let value = (match name {
            "case_id" => case,
            "channel_id" => &ids.channel,
            "person_id" => &ids.person,
            "seq" => &seq,
            "meeting_id" => &ids.meeting,
            "episode_id" => &ids.episode,
            "record_id" => &ids.record,
            "deadline_id" => &ids.deadline,
            "extension_id" => &ids.extension,
            "override_id" => &ids.override_id,
            "prompt_id" => &ids.prompt,
            "share_id" => &ids.share,
            "action_id" => &ids.action,
            "name" => "app.js",
            "id" => "no-such-provider",
            _ => "",
        })
        .to_string();
        out.push_str(if value.is_empty() {
            "00000000-0000-4000-8000-000000000000"
        } else {
            &value
        });
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    if path == "/api/search" || path == "/search" {
        out.push_str("?q=school");
    }
    out
}

fn form(fields: &[(&str, &str)]) -> Body {
    Body::Form(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Who a body names: the person sending it (if anyone), Sam (the lead),
/// Tom (the member, invited to the meeting) and Tom's invitation to it.
pub struct People<'a> {
    pub who: Option<&'a Signed>,
    pub sam: &'a str,
    pub tom: &'a str,
    pub invitation: String,
}

/// A valid body for the route: what its own page's form or the API
/// documentation sends, naming Lily's records.
pub fn body(method: &str, path: &str, ids: &Ids, app: &TestApp, people: &People) -> Body {
    let People {
        who,
        sam,
        tom,
        invitation,
    } = people;
    let (who, sam, tom) = (*who, *sam, *tom);
    if method == "GET" {
        return Body::None;
    }
    let today = day_after(app, 0);
    let (date, time) = crate::missing::date_time(app.clock_now() - 600_000);
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let client_id = uuid::Uuid::new_v4().to_string();
    let message = [
        ("client_id", client_id.as_str()),
        ("body", "Seen at the bus station"),
    ];
    match (method, path) {
        // The JSON API.
        ("DELETE", "/api/cases/{case_id}/members/{person_id}") => {
            Body::Json(json!({"reason": "Tenancy support has ended"}))
        }
        ("DELETE", "/api/channels/{channel_id}/messages/{seq}") => Body::None,
        ("PATCH", "/api/channels/{channel_id}/messages/{seq}") => {
            Body::Json(json!({"body": "Lily was in school all day"}))
        }
        ("POST", "/api/cases/{case_id}/members") => Body::Json(json!({
            "email": format!("nurse.{unique}@northshire-nhs.example"),
            "reason": "Named nurse for the family",
            "guest": {"name": "Nell Ward", "agency_id": who.map_or("", |w| w.agency_id.as_str())},
        })),
        ("POST", "/api/channels/{channel_id}/messages") => {
            Body::Json(json!({"client_id": client_id, "body": "Seen at the bus station"}))
        }
        ("POST", "/api/channels/{channel_id}/read") => Body::Json(json!({"seq": ids.seq})),
        // Sign-in and administration.
        ("POST", "/dev/sign-in") => {
            form(&[("person_id", who.map_or(sam, |w| w.person_id.as_str()))])
        }
        ("POST", "/sign-in/email") => form(&[("email", GUEST)]),
        ("POST", "/sign-in/email/code") => form(&[("email", GUEST), ("code", "000000")]),
        ("POST", "/sign-in/email/link") => form(&[("token", &unique)]),
        ("POST", "/admin/people") => form(&[
            ("name", "Robin Hale"),
            ("email", &format!("robin.{unique}@northshire-homes.example")),
            ("role", "practitioner"),
        ]),
        ("POST", "/admin/people/{person_id}/role") => form(&[("role", "manager")]),
        ("POST", "/break-glass") => form(&[
            ("reference", &ids.reference),
            (
                "reason",
                "Police called out of hours: child found, need the plan",
            ),
        ]),
        ("POST", "/audit/break-glass/{break_glass_id}/review") => {
            form(&[("note", "Justified: out-of-hours call")])
        }
        // The case page.
        ("POST", "/cases/{case_id}/messages")
        | ("POST", "/meetings/{meeting_id}/messages")
        | ("POST", "/cases/{case_id}/missing/{episode_id}/messages") => form(&message),
        ("POST", "/cases/{case_id}/members") => form(&[
            ("email", "ben.adeyemi@northshire-nhs.example"),
            ("reason", "Named doctor for safeguarding"),
        ]),
        ("POST", "/cases/{case_id}/members/{person_id}/remove") => {
            form(&[("reason", "Tenancy support has ended")])
        }
        // Consent and sharing.
        ("POST", "/cases/{case_id}/consent") => {
            let mut f = vec![
                ("relationship", "father"),
                ("subject_name", "Mark Ashworth"),
                ("purpose", "Sharing information about the family"),
                ("scope", "all"),
            ];
            f.extend(crate::consent::state_fields("given"));
            form(&f)
        }
        ("POST", "/cases/{case_id}/consent/{record_id}/changes") => {
            form(&crate::consent::state_fields("given"))
        }
        ("POST", "/cases/{case_id}/consent/{record_id}/overrides") => form(&[
            ("agency_kind", "housing"),
            ("lawful_basis", "public_task"),
            ("reason", "Risk of significant harm"),
        ]),
        ("POST", "/cases/{case_id}/consent/{record_id}/overrides/{override_id}/decide") => {
            form(&[("decision", "approve"), ("reason", "Agreed")])
        }
        ("POST", "/cases/{case_id}/sharing-basis") => form(&[
            ("lawful_basis", "public_task"),
            (
                "purpose",
                "Safeguarding and promoting the welfare of the child",
            ),
        ]),
        ("POST", "/cases/{case_id}/sharing/records") => form(&[
            ("to_description", "Dr Adams, Riverside Surgery"),
            ("what", "Summary of concerns, by phone"),
            ("on", &today),
            ("purpose", "Safeguarding"),
            ("lawful_basis", "public_task"),
            ("without_consent_reason", "Would place the child at risk"),
        ]),
        ("POST", "/cases/{case_id}/sharing/decisions") => form(&[
            ("what", "School attendance record"),
            ("to_description", "Youth club"),
            ("on", &today),
            ("purpose", "Club membership"),
            ("reasons", "Not needed for the club's purpose"),
        ]),
        // Meetings, their record and the statutory clock.
        ("POST", "/cases/{case_id}/meetings") => {
            let date = day_after(app, 3);
            form(&[
                ("kind", "professionals"),
                ("date", &date),
                ("time", "11:00"),
                ("minutes", "30"),
                ("mode", "phone"),
                ("location", "Conference line"),
                ("chair_id", who.map_or("", |w| w.person_id.as_str())),
                ("people", sam),
                ("case_access", "meeting"),
            ])
        }
        ("POST", "/cases/{case_id}/clock") => form(&[
            ("event", "concern"),
            ("on", &today),
            ("note", "School reported bruising; police informed"),
        ]),
        ("POST", "/cases/{case_id}/deadlines/{deadline_id}/extend") => form(&[
            ("new_due_on", &day_after(app, 10)),
            ("reason", "Family away"),
        ]),
        ("POST", "/cases/{case_id}/deadlines/{deadline_id}/complete") => form(&[("on", &today)]),
        ("POST", "/cases/{case_id}/extensions/{extension_id}/decide") => {
            form(&[("decision", "agree")])
        }
        ("POST", "/meetings/{meeting_id}/respond") => {
            form(&[("invitation_id", invitation), ("response", "accepted")])
        }
        ("POST", "/meetings/{meeting_id}/reschedule") => form(&[
            ("date", &day_after(app, 4)),
            ("time", "14:00"),
            ("minutes", "60"),
            ("mode", "video_link"),
            ("location", "Teams: link in Confer"),
        ]),
        ("POST", "/meetings/{meeting_id}/cancel") => form(&[("reason", "Family moved away")]),
        ("POST", "/meetings/{meeting_id}/attendance") => form(&[
            ("agency_id", who.map_or("", |w| w.agency_id.as_str())),
            ("attended", "yes"),
            ("attendees", "Sam Patel"),
            ("senior_enough", "yes"),
        ]),
        ("POST", "/meetings/{meeting_id}/outcome") => form(&[
            ("section_47", "none"),
            ("immediate_safety_actions", "None needed"),
            ("family_told", "Mother told by phone"),
            ("family_told_when", &today),
        ]),
        ("POST", "/meetings/{meeting_id}/actions") => form(&[
            ("description", "Home visit"),
            ("owner_agency_id", who.map_or("", |w| w.agency_id.as_str())),
            ("due_on", &day_after(app, 5)),
        ]),
        ("POST", "/meetings/{meeting_id}/actions/{action_id}/status") => {
            form(&[("status", "done")])
        }
        ("POST", "/meetings/{meeting_id}/minutes") => form(&[("minutes", "Discussed the plan")]),
        // Missing episodes, interviews and findings.
        ("POST", "/cases/{case_id}/missing") => form(&[
            ("date", &date),
            ("time", &time),
            ("reported_by", "Night carer"),
            ("police_reference", "NP-26-0412"),
        ]),
        ("POST", "/cases/{case_id}/missing/{episode_id}/return") => form(&[
            ("date", &date),
            ("time", &time),
            ("found_where", "Bus station in the city centre"),
            ("found_by", "Police patrol"),
            ("harmed", "no"),
        ]),
        ("POST", "/cases/{case_id}/missing/{episode_id}/interview/interviewer") => {
            form(&[("interviewer_id", tom)])
        }
        ("POST", "/cases/{case_id}/missing/{episode_id}/interview/attempts") => form(&[
            ("date", &date),
            ("time", &time),
            ("method", "phone"),
            ("outcome", "no_response"),
        ]),
        ("POST", "/cases/{case_id}/missing/{episode_id}/interview/outcome") => {
            form(&[("outcome", "completed"), ("date", &date), ("time", &time)])
        }
        ("POST", "/cases/{case_id}/missing/{episode_id}/findings") => {
            let f = crate::missing_findings::findings_fields("high");
            Body::Form(f.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }
        ("POST", "/cases/{case_id}/missing/{episode_id}/findings/share") => {
            form(&[("recipient", LEE)])
        }
        ("POST", "/cases/{case_id}/strategy-prompts/{prompt_id}/decline") => {
            form(&[("reason", "Already discussed at the strategy meeting")])
        }
        // Everything else takes the CSRF token alone (circulate, acknowledge,
        // deactivate, sign out) or, on the API, an empty object.
        (_, p) if p.starts_with("/api/") => Body::Json(json!({})),
        _ => form(&[]),
    }
}
