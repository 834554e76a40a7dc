//! The auditor's pages (search, CSV and JSON exports), driven over HTTPS as
//! people would use them. An auditor never sees case content through any of
//! them. Break glass and its review are in `break_glass.rs`.

use std::collections::HashSet;

use confer::domain::clock::Clock;
use confer::store::audit::{self, NewEvent};

use crate::harness::{ALEX, LEE, RIA, SAM, Signed, TestApp};

/// A police manager who is not in Lily's case (see server/src/seed.rs).
pub(crate) const PRIYA: &str = "priya.shah@northshire-police.example";

/// What an auditor's page must never hold: the demo child's name.
pub(crate) fn assert_no_child_name(text: &str) {
    assert!(
        !text.contains("Lily") && !text.contains("Ashworth"),
        "an auditor's page or export holds the child's name"
    );
}

pub(crate) async fn lily(app: &TestApp) -> (String, String) {
    let (id, _) = app.case_and_channel("Lily Ashworth").await;
    let db = app.db().await;
    let case = confer::store::cases::find_for_operator(&db, &id)
        .await
        .unwrap();
    (id, case.reference)
}

pub(crate) async fn actions_since(app: &TestApp, n: i64) -> Vec<(String, Option<String>)> {
    let db = app.db().await;
    confer::store::audit::recent(&db, n)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.case_id))
        .collect()
}

pub(crate) async fn post_form(
    who: &Signed,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", who.csrf.as_str())];
    form.extend_from_slice(fields);
    who.client
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

const AUDITOR_PAGES: &[&str] = &[
    "/audit",
    "/audit?case=CF-234567",
    "/audit/export.csv",
    "/audit/export.json",
    "/audit/break-glass",
];

#[tokio::test]
async fn only_auditors_reach_the_audit_pages_and_never_case_content() {
    let app = TestApp::start().await;
    let (lily_id, reference) = lily(&app).await;

    // No session: to the sign-in page.
    let anonymous = app.client();
    for path in AUDITOR_PAGES.iter().chain(&["/break-glass"]) {
        let res = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(res.headers()["location"], "/sign-in", "{path}");
    }
    // Practitioners, a police officer and a manager: as if nothing were there.
    for email in [SAM, LEE, ALEX, PRIYA] {
        let who = app.sign_in(email).await;
        for path in AUDITOR_PAGES {
            let res = who.get(&app, path).await;
            assert_eq!(res.status(), 404, "{email} {path}");
        }
        let page = who.get(&app, "/cases").await.text().await.unwrap();
        assert!(
            !page.contains("href=\"/audit\""),
            "{email} is offered the audit log"
        );
        let res = post_form(&who, &app, "/audit/break-glass/x/review", &[("note", "n")]).await;
        assert_eq!(res.status(), 404, "{email}");
    }

    let ria = app.sign_in(RIA).await;
    let page = ria.get(&app, "/cases").await.text().await.unwrap();
    assert!(
        page.contains("href=\"/audit\""),
        "the auditor's menu offers the audit log"
    );
    assert!(!page.contains("href=\"/break-glass\""));
    // The auditor is in no case and reads none.
    let res = ria.get(&app, &format!("/cases/{lily_id}")).await;
    assert_eq!(res.status(), 404);
    let res = ria.get(&app, &format!("/api/cases/{lily_id}")).await;
    assert_eq!(res.status(), 404);

    // The log shows Lily's case by its reference, never her name.
    let sam = app.sign_in(SAM).await;
    assert_eq!(
        sam.get(&app, &format!("/cases/{lily_id}")).await.status(),
        200
    );
    for path in AUDITOR_PAGES {
        let res = ria.get(&app, path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_no_child_name(&res.text().await.unwrap());
    }
    let res = ria.get(&app, &format!("/audit?case={reference}")).await;
    let page = res.text().await.unwrap();
    assert!(
        page.contains(&reference) && page.contains("case.read"),
        "{page}"
    );
    assert!(page.contains("Sam Patel"));
    assert_no_child_name(&page);

    // Each search and export is itself in the log, with the case it was about.
    let recent = actions_since(&app, 8).await;
    assert_eq!(
        recent[0],
        ("audit.searched".to_string(), Some(lily_id.clone()))
    );
    let all: HashSet<String> = recent.into_iter().map(|(a, _)| a).collect();
    assert!(all.contains("audit.exported"), "{all:?}");
}

#[tokio::test]
async fn the_auditor_searches_by_case_person_agency_time_and_action() {
    let app = TestApp::start().await;
    let (lily_id, reference) = lily(&app).await;
    let sam = app.sign_in(SAM).await;
    assert_eq!(
        sam.get(&app, &format!("/cases/{lily_id}")).await.status(),
        200
    );
    let lee = app.sign_in(LEE).await;
    assert_eq!(
        lee.get(&app, &format!("/cases/{lily_id}")).await.status(),
        200
    );
    let ria = app.sign_in(RIA).await;
    let db = app.db().await;
    let police = confer::store::agencies::find(&db, "Northshire Police")
        .await
        .unwrap();

    let json = |query: String| {
        let ria = ria.clone();
        let url = app.url(&format!("/audit/export.json?{query}"));
        async move {
            let res = ria.client.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{query}");
            let rows: Vec<serde_json::Value> = res.json().await.unwrap();
            rows
        }
    };

    let by_case = json(format!("case={}", reference.to_lowercase())).await;
    assert!(!by_case.is_empty());
    assert!(
        by_case
            .iter()
            .all(|r| r["case_reference"] == reference.as_str())
    );
    assert!(by_case.iter().any(|r| r["action"] == "case.opened"));

    let by_email = json(format!("person={SAM}")).await;
    assert!(!by_email.is_empty());
    assert!(by_email.iter().all(|r| r["actor_name"] == "Sam Patel"));
    let by_name = json("person=lee+har".into()).await;
    assert!(!by_name.is_empty());
    assert!(by_name.iter().all(|r| r["actor_name"] == "DC Lee Harris"));
    assert!(json("person=nobody+at+all".into()).await.is_empty());

    let by_agency = json(format!("agency={}", police.id)).await;
    let names: HashSet<&str> = by_agency
        .iter()
        .map(|r| r["actor_agency"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["Northshire Police"]));

    let reads = json(format!("action=case.read&case={reference}")).await;
    let readers: HashSet<&str> = reads
        .iter()
        .map(|r| r["actor_name"].as_str().unwrap())
        .collect();
    assert_eq!(readers, HashSet::from(["Sam Patel", "DC Lee Harris"]));

    // Dates are London days; "to" includes its day.
    let today = confer::calendar::london_local(app.clock.now_ms()).date();
    let tomorrow = today.succ_opt().unwrap();
    let on_today = json(format!("from={today}&to={today}&action=case.read")).await;
    assert_eq!(on_today.len(), reads.len());
    assert!(json(format!("from={tomorrow}")).await.is_empty());

    // Bad input is reported and searches nothing.
    for (query, words) in [
        ("from=2026-02-30", "real date"),
        ("from=2026-03-02&to=2026-03-01", "on or before"),
        ("agency=not-an-agency", "Choose an agency"),
        ("before=zero", "does not exist"),
    ] {
        let res = ria.get(&app, &format!("/audit?{query}")).await;
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.text().await.unwrap().contains(words), "{query}");
        let res = ria.get(&app, &format!("/audit/export.csv?{query}")).await;
        assert_eq!(res.status(), 400, "{query}");
    }
    let res = ria.get(&app, "/audit?case=CF-ZZZZZZ").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("No case has the reference CF-ZZZZZZ"),
        "{page}"
    );
    assert!(page.contains("No events match"));
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let app = TestApp::start().await;
    let db = app.db().await;
    for i in 0..150 {
        audit::record(
            &db,
            app.clock.now_ms(),
            NewEvent {
                actor_id: None,
                actor_label: "load test",
                action: "test.filler",
                case_id: None,
                subject: None,
                detail: serde_json::json!({ "i": i }),
            },
        )
        .await
        .unwrap();
    }
    let ria = app.sign_in(RIA).await;
    let first = ria
        .get(&app, "/audit?action=test.filler")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(first.matches("<code>test.filler</code>").count(), 100);
    assert!(
        first.contains("{&quot;i&quot;:149}") || first.contains("{&#34;i&#34;:149}"),
        "newest first"
    );
    // The "Older events" link keeps the search and pages by sequence number.
    let first = first.replace("&#38;", "&").replace("&amp;", "&");
    let at = first
        .find("/audit?action=test.filler&before=")
        .expect("a link to older events");
    let link: String = first[at..].chars().take_while(|c| *c != '"').collect();
    let second = ria.get(&app, &link).await.text().await.unwrap();
    assert_eq!(second.matches("<code>test.filler</code>").count(), 50);
    assert!(!second.contains("before="), "no page after the last");
    assert!(second.contains("Newest events"));
}

#[tokio::test]
async fn exports_parse_back_as_csv_and_json() {
    let app = TestApp::start().await;
    let (lily_id, reference) = lily(&app).await;
    let sam = app.sign_in(SAM).await;
    assert_eq!(
        sam.get(&app, &format!("/cases/{lily_id}")).await.status(),
        200
    );
    // A detail with commas, quotes and a formula-like text, to test quoting.
    let db = app.db().await;
    audit::record(
        &db,
        app.clock.now_ms(),
        NewEvent {
            actor_id: None,
            actor_label: "=cmd|' /C calc'!A0",
            action: "test.quoting",
            case_id: Some(&lily_id),
            subject: Some("a, \"b\"\nc"),
            detail: serde_json::json!({ "list": [1, 2, 3], "text": "x, \"y\"" }),
        },
    )
    .await
    .unwrap();
    let ria = app.sign_in(RIA).await;

    let res = ria
        .get(&app, &format!("/audit/export.csv?case={reference}"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"confer-audit-")
            && disposition.ends_with(".csv\"")
    );
    let text = res.text().await.unwrap();
    assert_no_child_name(&text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "seq",
            "at_utc",
            "at_london",
            "actor_id",
            "actor_name",
            "actor_agency",
            "action",
            "case_id",
            "case_reference",
            "subject",
            "detail",
            "hash"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(
        rows.len() >= 3,
        "opened, members added, read, the test event"
    );
    let mut last_seq = i64::MAX;
    for row in &rows {
        assert_eq!(row.len(), 12);
        let seq: i64 = row[0].parse().unwrap();
        assert!(seq < last_seq, "newest first");
        last_seq = seq;
        assert_eq!(&row[7], lily_id.as_str());
        assert_eq!(&row[8], reference.as_str());
        serde_json::from_str::<serde_json::Value>(&row[10]).expect("detail is JSON");
        assert_eq!(row[11].len(), 64);
        time::OffsetDateTime::parse(&row[1], &time::format_description::well_known::Rfc3339)
            .unwrap();
        time::OffsetDateTime::parse(&row[2], &time::format_description::well_known::Rfc3339)
            .unwrap();
    }
    let quoting = rows.iter().find(|r| &r[6] == "test.quoting").unwrap();
    assert_eq!(&quoting[4], "'=cmd|' /C calc'!A0", "a formula is defused");
    assert_eq!(&quoting[9], "a, \"b\"\nc");
    let detail: serde_json::Value = serde_json::from_str(&quoting[10]).unwrap();
    assert_eq!(detail["text"], "x, \"y\"");

    let res = ria
        .get(&app, &format!("/audit/export.json?case={reference}"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.text().await.unwrap();
    assert_no_child_name(&text);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let array = json.as_array().expect("an array");
    // The JSON export was made after the CSV one, whose own event is about this case.
    assert_eq!(array.len(), rows.len() + 1);
    assert_eq!(array[0]["action"], "audit.exported");
    assert_eq!(array[0]["detail"]["format"], "csv");
    for (o, row) in array[1..].iter().zip(&rows) {
        let o = o.as_object().unwrap();
        assert_eq!(o.len(), 12);
        assert_eq!(o["seq"].as_i64().unwrap().to_string(), &row[0]);
        assert_eq!(o["hash"], &row[11]);
        assert!(o["detail"].is_object(), "detail is kept as JSON");
    }
    let quoted = array
        .iter()
        .find(|o| o["action"] == "test.quoting")
        .unwrap();
    assert_eq!(
        quoted["actor_name"], "=cmd|' /C calc'!A0",
        "JSON keeps the text as it is"
    );
    assert_eq!(quoted["actor_id"], serde_json::Value::Null);

    // An export of nothing still has its header row, and is audited too.
    let res = ria
        .get(&app, "/audit/export.csv?action=no.such.action")
        .await;
    let text = res.text().await.unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("seq,at_utc,"));
    let res = ria
        .get(&app, "/audit/export.json?action=no.such.action")
        .await;
    assert_eq!(res.text().await.unwrap().trim(), "[]");
    let exports = ria
        .get(&app, "/audit/export.json?action=audit.exported")
        .await
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap();
    assert_eq!(exports.len(), 4);
    assert_eq!(exports[0]["actor_name"], "Ria Chen");
}
