//! The matrix's world: a fresh server with the demo data and the records the
//! routes act on in Lily Ashworth's case, fresh records for each write that
//! would use up its target, and a count of every table to show that a
//! refused write changed nothing.

use confer::domain::vocabulary::Role;
use confer::store::agencies::By;
use confer::store::{Db, cases, people};
use serde_json::{Value, json};
use sqlx::Row;

use super::bodies::{Body, People, body, fill};
use crate::email_codes::add_surgery_guest;
use crate::harness::{ALEX, DANA, KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::meetings::convene;

/// Demo people (server/src/seed.rs) and the two the test adds, in `ROLES` order.
pub const GUEST: &str = "gill.potter@oak-lane-surgery.example";
pub const OTHER_ADMIN: &str = "pat.quinn@northshire-homes.example";
pub const WHO: [Option<&str>; 8] = [
    None,
    Some(GUEST),
    Some(DANA),
    Some(TOM),
    Some("priya.shah@northshire-police.example"),
    Some(OTHER_ADMIN),
    Some("ria.chen@northshire-council.example"),
    Some(SAM),
];

/// The records a route's parameters and bodies name.
#[derive(Clone)]
pub struct Ids {
    pub case: String,
    pub channel: String,
    /// A member of Lily's case (not the lead), at Northshire Homes.
    pub person: String,
    /// Tom's message in the case channel.
    pub seq: i64,
    /// A strategy discussion Sam convened, with Tom invited.
    pub meeting: String,
    /// A missing episode of Lily's that Sam recorded.
    pub episode: String,
    /// Her mother's consent record.
    pub record: String,
    /// The case's Confer reference (for break glass).
    pub reference: String,
    /// A deadline the strategy discussion clock set, an extension Sam asked
    /// for, an override Sam asked for, the strategy prompt the findings
    /// raised, Tom's share of the findings with DC Lee Harris, an action of
    /// the meeting. Empty where the server would not make one (the row then
    /// records 404s).
    pub deadline: String,
    pub extension: String,
    pub override_id: String,
    pub prompt: String,
    pub share: String,
    pub action: String,
}

/// One role's server: the app, the person signed in, the makers of records.
pub struct World {
    pub app: TestApp,
    pub who: Option<Signed>,
    pub ids: Ids,
    db: Db,
    sam: Signed,
    tom: Signed,
    homes: String,
}

/// A fresh server with the demo data, the guest (in Kai Brennan's case), an
/// admin at Northshire Homes and Lily's records; the person of `role` signed in.
pub async fn setup(role: usize) -> World {
    let app = TestApp::start().await;
    let db = app.db().await;
    let by = By {
        person_id: None,
        label: "test",
    };
    let guest = add_surgery_guest(&db, GUEST).await;
    let homes = people::find_by_email(&db, DANA)
        .await
        .expect("Dana")
        .agency_id;
    add_person(&db, &homes, "Pat Quinn", OTHER_ADMIN, Role::Admin).await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    cases::add_member(&db, by, 0, &kai, &guest.id, "GP for the family", None)
        .await
        .expect("guest in Kai's case");
    let (case, channel) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let reference = crate::meetings_dashboard::reference_of(&app, &case).await;
    let mut world = World {
        who: match WHO[role] {
            Some(email) => Some(app.sign_in(email).await),
            None => None,
        },
        ids: Ids {
            case: case.clone(),
            channel,
            person: String::new(),
            seq: 0,
            meeting: String::new(),
            episode: String::new(),
            record: String::new(),
            reference,
            deadline: String::new(),
            extension: String::new(),
            override_id: String::new(),
            prompt: String::new(),
            share: String::new(),
            action: String::new(),
        },
        app,
        db,
        sam,
        tom,
        homes,
    };
    world.ids.person = world.new_member().await;
    world.ids.seq = world.new_message().await;
    world.ids.meeting = world.new_meeting().await;
    world.ids.episode = world.new_episode(4).await;
    world.ids.record = world.new_record().await;
    world.ids.deadline = world.new_deadline().await;
    let ids = world.ids.clone();
    #[rustfmt::skip]
    let made = [
        (&world.sam, "/cases/{case_id}/deadlines/{deadline_id}/extend", "deadline_extensions"),
        (&world.sam, "/cases/{case_id}/consent/{record_id}/overrides", "sharing_overrides"),
        (&world.tom, "/cases/{case_id}/missing/{episode_id}/findings/share", "findings_shares"),
        (&world.sam, "/meetings/{meeting_id}/actions", "meeting_actions"),
    ];
    let mut got = Vec::new();
    for (who, route, table) in made {
        let path = fill(route, &ids, &case);
        got.push(world.make(who, &path, route, table).await);
    }
    [
        world.ids.extension,
        world.ids.override_id,
        world.ids.share,
        world.ids.action,
    ] = got.try_into().expect("four");
    world.ids.prompt = world
        .ids_in("strategy_prompts")
        .await
        .pop()
        .unwrap_or_default();
    world
}

/// One step of an episode: who posts, where, what.
type Step<'a> = (&'a Signed, String, Vec<(&'a str, &'a str)>);

/// Add a person (not a guest: [`add_surgery_guest`] adds the guest).
async fn add_person(
    db: &Db,
    agency_id: &str,
    name: &str,
    email: &str,
    role: Role,
) -> people::Person {
    let by = By {
        person_id: None,
        label: "test",
    };
    let new = people::NewPerson {
        agency_id,
        name,
        email,
        role,
        guest: false,
    };
    people::add(db, by, 0, new).await.expect("person")
}

impl World {
    /// A new person at Northshire Homes in Lily's case team.
    async fn new_member(&self) -> String {
        let by = By {
            person_id: None,
            label: "test",
        };
        let n = uuid::Uuid::new_v4().simple().to_string();
        let email = format!("robin.{n}@northshire-homes.example");
        let p = add_person(
            &self.db,
            &self.homes,
            "Robin Hale",
            &email,
            Role::Practitioner,
        )
        .await;
        let now = self.app.clock_now();
        cases::add_member(
            &self.db,
            by,
            now,
            &self.ids.case,
            &p.id,
            "tenancy support",
            None,
        )
        .await
        .expect("in Lily's case");
        p.id
    }

    /// A new message of Tom's in the case channel; its seq.
    async fn new_message(&self) -> i64 {
        let res = self
            .tom
            .post_json(
                &self.app,
                &format!("/api/channels/{}/messages", self.ids.channel),
                &json!({"client_id": uuid::Uuid::new_v4().to_string(), "body": "Lily was in school today"}),
            )
            .await;
        assert_eq!(res.status(), 201, "Tom's message");
        let v: Value = res.json().await.expect("message json");
        v["seq"].as_i64().expect("seq")
    }

    /// A new strategy discussion for Lily, chaired by Sam, with Tom invited.
    async fn new_meeting(&self) -> String {
        let ids: Vec<String> = {
            let mut v = Vec::new();
            for e in [LEE, KIM, ALEX, TOM] {
                v.push(people::find_by_email(&self.db, e).await.expect("person").id);
            }
            v
        };
        // Ten minutes ahead: its record is open (from 15 minutes before).
        let (date, time) = crate::missing::date_time(self.app.clock_now() + 600_000);
        let mut f: Vec<(&str, &str)> = vec![
            ("kind", "strategy_discussion"),
            ("date", &date),
            ("time", &time),
            ("minutes", "60"),
            ("mode", "video_link"),
            ("location", "Teams: link in Confer"),
            ("chair_id", &self.sam.person_id),
            ("case_access", "meeting"),
        ];
        for id in &ids {
            f.push(("people", id));
        }
        convene(&self.app, &self.sam, &self.ids.case, &f)
            .await
            .expect("convened")
    }

    /// A new missing episode of Lily's, reported 35 hours ago by Sam, taken
    /// as far as `stage`: 0 open; 1 returned; 2 Tom assigned to interview
    /// her; 3 the interview completed; 4 Tom's findings recorded.
    async fn new_episode(&self, stage: u8) -> String {
        let (app, case) = (&self.app, &self.ids.case);
        let now = app.clock_now();
        let id = crate::missing::report(app, &self.sam, case, now - 35 * HOUR)
            .await
            .expect("episode recorded");
        let at = format!("/cases/{case}/missing/{id}");
        if stage >= 1 {
            crate::missing::record_return(app, &self.sam, case, &id, now - 30 * HOUR)
                .await
                .expect("returned");
        }
        let (d, t) = crate::missing::date_time(now - 20 * HOUR);
        let steps: [Step; 3] = [
            (
                &self.sam,
                format!("{at}/interview/interviewer"),
                vec![("interviewer_id", self.tom.person_id.as_str())],
            ),
            (
                &self.tom,
                format!("{at}/interview/outcome"),
                vec![("outcome", "completed"), ("date", &d), ("time", &t)],
            ),
            (&self.tom, format!("{at}/findings"), Vec::new()),
        ];
        for (i, (who, path, fields)) in steps.into_iter().enumerate() {
            if stage < i as u8 + 2 {
                break;
            }
            let findings = crate::missing_findings::findings_fields("high");
            let fields: Vec<(&str, &str)> = if fields.is_empty() {
                findings.iter().map(|(k, v)| (*k, v.as_str())).collect()
            } else {
                fields
            };
            let (status, why) = crate::missing_findings::post(app, who, &path, &fields).await;
            assert_eq!(status, 303, "{path}: {why}");
        }
        id
    }

    /// Sign the role's person in again: a session of its own for a write
    /// that begins or ends one.
    pub async fn new_session(&mut self, role: usize) {
        if let Some(email) = WHO[role] {
            self.who = Some(self.app.sign_in(email).await);
        }
    }

    /// The ids a table holds.
    async fn ids_in(&self, table: &str) -> Vec<String> {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM {table}")))
            .fetch_all(self.db.pool())
            .await
            .expect("ids")
            .iter()
            .map(|r| r.try_get::<String, _>(0).expect("id"))
            .collect()
    }

    /// Post `route`'s valid body to `path` as `who`; the id of the row it
    /// added to `table`, or "" if it added none.
    async fn make(&self, who: &Signed, path: &str, route: &str, table: &str) -> String {
        let before = self.ids_in(table).await;
        let people = People {
            who: Some(who),
            sam: &self.sam.person_id,
            tom: &self.tom.person_id,
            invitation: String::new(),
        };
        let Body::Form(mut f) = body("POST", route, &self.ids, &self.app, &people) else {
            panic!("{route} takes a form");
        };
        f.insert(0, ("csrf_token".into(), who.csrf.clone()));
        let res = who
            .client
            .post(self.app.url(path))
            .form(&f)
            .send()
            .await
            .expect("POST");
        assert_eq!(
            res.status(),
            303,
            "{path}: {}",
            crate::meetings::error_text(&res.text().await.unwrap_or_default())
        );
        let after = self.ids_in(table).await;
        after
            .into_iter()
            .find(|id| !before.contains(id))
            .unwrap_or_default()
    }

    /// A new deadline: Sam records a concern, which starts the strategy
    /// discussion clock.
    async fn new_deadline(&self) -> String {
        let path = format!("/cases/{}/clock", self.ids.case);
        self.make(&self.sam, &path, "/cases/{case_id}/clock", "deadlines")
            .await
    }

    /// A new consent record: Lily's mother refuses sharing with housing
    /// (which leaves the police share of findings free).
    async fn new_record(&self) -> String {
        crate::consent::mothers_record(&self.app, &self.sam, &self.ids.case, "housing", "refused")
            .await
    }

    /// The ids for one request: a write that would use up its target (a
    /// person removed, a message redacted, a meeting cancelled, an episode
    /// closed) gets a new one, so that every row's outcome is its own.
    pub async fn ids_for(&self, method: &str, path: &str) -> Ids {
        let mut ids = self.ids.clone();
        if method == "GET" {
            return ids;
        }
        if path.contains("{person_id}") {
            ids.person = self.new_member().await;
        }
        if path.contains("{seq}") {
            ids.seq = self.new_message().await;
        }
        if path.contains("{meeting_id}") && !path.contains("{action_id}") {
            ids.meeting = self.new_meeting().await;
        }
        if path.contains("{episode_id}") {
            let stage = if path.ends_with("/interviewer") {
                1
            } else if path.contains("/interview/") {
                2
            } else if path.ends_with("/findings") {
                3
            } else if path.ends_with("/share") {
                4
            } else {
                0
            };
            ids.episode = self.new_episode(stage).await;
        }
        if path.contains("{record_id}") && !path.contains("{override_id}") {
            ids.record = self.new_record().await;
        }
        if path.contains("{deadline_id}") {
            ids.deadline = self.new_deadline().await;
        }
        ids
    }

    /// Tom's invitation to a meeting.
    async fn invitation(&self, meeting: &str) -> String {
        let row = sqlx::query(
            "SELECT id FROM meeting_invitations WHERE meeting_id = $1 AND person_id = $2",
        )
        .bind(meeting)
        .bind(&self.tom.person_id)
        .fetch_optional(self.db.pool())
        .await
        .expect("invitation");
        row.map(|r| r.try_get::<String, _>(0).expect("id"))
            .unwrap_or_default()
    }

    /// How many rows each table holds, and how many are in each state a
    /// write changes: a refused write must leave all of it as it was.
    pub async fn snapshot(&self) -> Vec<(String, i64)> {
        let mut parts: Vec<String> = TABLES
            .iter()
            .map(|t| format!("(SELECT COUNT(*) FROM {t})"))
            .collect();
        parts.extend(STATES.iter().map(|s| format!("({s})")));
        let sql = format!("SELECT {}", parts.join(", "));
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.db.pool())
            .await
            .expect("snapshot");
        TABLES
            .iter()
            .chain(STATES.iter())
            .enumerate()
            .map(|(i, name)| (name.to_string(), row.try_get::<i64, _>(i).expect("count")))
            .collect()
    }

    /// The actions of the last `n` audit events.
    pub async fn last_actions(&self, n: i64) -> Vec<String> {
        sqlx::query("SELECT action FROM audit_events ORDER BY seq DESC LIMIT $1")
            .bind(n)
            .fetch_all(self.db.pool())
            .await
            .expect("audit events")
            .iter()
            .map(|r| r.try_get::<String, _>(0).expect("action"))
            .collect()
    }

    /// The filled path and body for `method path` as this role.
    pub async fn request(&self, method: &str, path: &str, case: &str, ids: &Ids) -> (String, Body) {
        let url = fill(path, ids, case);
        let csrf = self
            .who
            .as_ref()
            .map_or("", |w| w.csrf.as_str())
            .to_string();
        let people = People {
            who: self.who.as_ref(),
            sam: &self.sam.person_id,
            tom: &self.tom.person_id,
            invitation: self.invitation(&ids.meeting).await,
        };
        let body = body(method, path, ids, &self.app, &people);
        let body = match body {
            Body::Form(mut f) => {
                f.insert(0, ("csrf_token".into(), csrf));
                Body::Form(f)
            }
            b => b,
        };
        (url, body)
    }
}

const HOUR: i64 = 3_600_000;

/// Tables whose rows a write adds. Left out: sessions and sign-in
/// bookkeeping; audit events that record a refusal or a page shown again
/// with its error (a refused sign-in or break glass, `case.read`); and the
/// sharing records of message deliveries, which the delivery writer adds in
/// the background.
const TABLES: &[&str] = &[
    "agencies",
    "people",
    "cases",
    "case_memberships",
    "audit_events WHERE action NOT IN ('case.read', 'session.sign_in_failed', 'case.break_glass_refused')",
    "channels",
    "channel_restrictions",
    "messages",
    "message_restrictions",
    "message_versions",
    "read_receipts",
    "meetings",
    "meeting_invitations",
    "meeting_exclusions",
    "meeting_attendance",
    "meeting_actions",
    "minutes_circulations",
    "deadlines",
    "deadline_extensions",
    "consent_records",
    "consent_versions",
    "sharing_overrides",
    "sharing_records WHERE source <> 'message'",
    "break_glass",
    "missing_episodes",
    "return_interviews",
    "rhi_attempts",
    "strategy_prompts",
    "rhi_findings",
    "finding_entries",
    "findings_shares",
];

/// States a write changes in place.
const STATES: &[&str] = &[
    "SELECT COUNT(*) FROM people WHERE status = 'deactivated'",
    "SELECT COUNT(*) FROM people WHERE role <> 'practitioner'",
    "SELECT COUNT(*) FROM case_memberships WHERE ended_at IS NOT NULL",
    "SELECT COUNT(*) FROM messages WHERE edited_at IS NOT NULL OR redacted_at IS NOT NULL",
    "SELECT COUNT(*) FROM meetings WHERE status <> 'scheduled'",
    "SELECT COUNT(*) FROM missing_episodes WHERE returned_at IS NOT NULL",
];
