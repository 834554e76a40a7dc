//! Exports of information-sharing records (CSV parsed back with an
//! independent parser, JSON checked field by field), the auditor's search
//! export with its filters, the subject-access export with its third-party
//! marking, and how long the delivery log takes to write its records.

use std::time::Instant;

use serde_json::Value;

use crate::harness::{ALEX, KIM, LEE, RIA, SAM, TOM, TestApp};
use crate::meetings::{day_after, form};
use crate::sharing::{delivered, read, say};

async fn get(app: &TestApp, who: &crate::harness::Signed, path: &str) -> (u16, String, String) {
    let res = who.get(app, path).await;
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a well-formed CSV row"))
        .collect();
    (headers, rows)
}

fn column(headers: &[String], name: &str) -> usize {
    headers
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no {name} column"))
}

#[tokio::test]
async fn a_cases_records_export_as_csv_and_json_that_parse_back() {
    let app = TestApp::start().await;
    let (case_id, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let kim = app.sign_in(KIM).await;
    let m = say(&app, &sam, &ch, "s1", "Home visit booked.").await;
    for who in [&lee, &kim] {
        read(&app, who, &ch).await;
        delivered(&app, &m, &who.person_id).await;
    }
    // A manual record whose text needs quoting and would be a formula.
    let res = form(
        &app,
        &kim,
        &format!("/cases/{case_id}/sharing/records"),
        &[
            ("to_description", "Dr Adams, GP \"Riverside\" Surgery"),
            ("what", "=Summary of concerns,\nby phone"),
            ("on", &day_after(&app, 0)),
            ("purpose", "Safeguarding"),
            ("lawful_basis", "public_task"),
            ("without_consent_reason", "Would place the child at risk"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);

    let (status, kind, text) = get(&app, &sam, &format!("/cases/{case_id}/sharing.csv")).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let (headers, rows) = parse_csv(&text);
    assert_eq!(rows.len(), 3, "two deliveries and a phone call");
    for h in [
        "record_id",
        "case_reference",
        "what",
        "from_person",
        "to_agency",
        "shared_at",
        "purpose",
        "lawful_basis",
        "consent_record_id",
        "without_consent_reason",
    ] {
        column(&headers, h);
    }
    let what = column(&headers, "what");
    let to = column(&headers, "to_description");
    let manual = rows
        .iter()
        .find(|r| &r[column(&headers, "source")] == "manual")
        .unwrap();
    assert_eq!(
        &manual[what], "'=Summary of concerns,\nby phone",
        "quoted and defused"
    );
    assert_eq!(&manual[to], "Dr Adams, GP \"Riverside\" Surgery");
    let mut agencies: Vec<&str> = rows
        .iter()
        .filter(|r| &r[column(&headers, "source")] == "message")
        .map(|r| &r[column(&headers, "to_agency")])
        .collect();
    agencies.sort();
    assert_eq!(
        agencies,
        ["Northshire NHS Foundation Trust", "Northshire Police"]
    );
    assert!(
        !text.contains("Home visit booked"),
        "never the message text"
    );
    for r in &rows {
        assert!(
            time::OffsetDateTime::parse(
                &r[column(&headers, "shared_at")],
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
        assert_eq!(&r[column(&headers, "lawful_basis")], "public_task");
    }

    let (status, kind, text) = get(&app, &sam, &format!("/cases/{case_id}/sharing.json")).await;
    assert_eq!(status, 200);
    assert_eq!(kind, "application/json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(doc["export"]["kind"], "information_sharing_records");
    assert_eq!(doc["export"]["count"], 3);
    let records = doc["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let ids_csv: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    for r in records {
        let obj = r.as_object().unwrap();
        for h in &headers {
            assert!(obj.contains_key(h), "JSON lacks {h}");
        }
        assert!(ids_csv.contains(&r["record_id"].as_str().unwrap()));
        assert!(r["shared_at_ms"].is_i64());
        assert!(
            r["lawful_basis_citation"]
                .as_str()
                .unwrap()
                .contains("Article 6(1)(e)")
        );
    }
    // Exports are audited.
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'sharing.exported' AND case_id = $1",
    )
    .bind(&case_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn an_auditors_export_keeps_to_the_filters_and_names_no_child() {
    let app = TestApp::start().await;
    let (lily, lily_ch) = app.case_and_channel("Lily Ashworth").await;
    let (kai, kai_ch) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let a = say(&app, &sam, &lily_ch, "l1", "About Lily.").await;
    let b = say(&app, &sam, &kai_ch, "k1", "About Kai.").await;
    read(&app, &lee, &lily_ch).await;
    read(&app, &tom, &lily_ch).await;
    read(&app, &lee, &kai_ch).await;
    delivered(&app, &a, &lee.person_id).await;
    delivered(&app, &a, &tom.person_id).await;
    delivered(&app, &b, &lee.person_id).await;
    let db = app.db().await;
    let reference = |id: &str| {
        let db = db.clone();
        let id = id.to_string();
        async move {
            confer::store::cases::find_for_operator(&db, &id)
                .await
                .unwrap()
                .reference
        }
    };
    let (lily_ref, kai_ref) = (reference(&lily).await, reference(&kai).await);
    let police = lee.agency_id.clone();

    let ria = app.sign_in(RIA).await;
    // Everything: three records over two cases.
    let (status, _, text) = get(&app, &ria, "/sharing/export.csv").await;
    assert_eq!(status, 200);
    let (headers, rows) = parse_csv(&text);
    assert_eq!(rows.len(), 3);
    let case_col = column(&headers, "case_reference");
    let child_col = column(&headers, "child_name");
    assert!(
        rows.iter().all(|r| r[child_col].is_empty()),
        "no child's name for an auditor outside the cases"
    );
    for hidden in ["Lily", "Kai", "Ashworth", "Brennan", "About"] {
        assert!(!text.contains(hidden), "{hidden} in the auditor's export");
    }
    // By case reference (any case), agency and time.
    let (_, _, text) = get(
        &app,
        &ria,
        &format!("/sharing/export.csv?case={}", lily_ref.to_lowercase()),
    )
    .await;
    let (_, rows) = parse_csv(&text);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r[case_col] == lily_ref));
    let (_, _, text) = get(&app, &ria, &format!("/sharing/export.json?agency={police}")).await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    let refs: Vec<&str> = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["case_reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 2);
    assert!(refs.contains(&lily_ref.as_str()) && refs.contains(&kai_ref.as_str()));
    assert_eq!(doc["export"]["about"]["agency_id"], police.as_str());
    let (_, _, text) = get(&app, &ria, "/sharing/export.json?person=riverside").await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["export"]["count"], 1, "Tom's school by email");
    let tomorrow = day_after(&app, 1);
    let (_, _, text) = get(&app, &ria, &format!("/sharing/export.json?from={tomorrow}")).await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["export"]["count"], 0);
    let today = day_after(&app, 0);
    let (_, _, text) = get(
        &app,
        &ria,
        &format!("/sharing/export.json?from={today}&to={today}"),
    )
    .await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["export"]["count"], 3);

    // An auditor who is also a member of a case sees its child's name there only.
    sqlx::query(
        "INSERT INTO case_memberships (id, case_id, person_id, granted_by, granted_by_label, granted_at, reason) \
         VALUES ($1, $2, $3, NULL, 'test', $4, 'case audit')",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&kai)
    .bind(&ria.person_id)
    .bind(app.clock_now())
    .execute(db.pool())
    .await
    .unwrap();
    let (_, _, text) = get(&app, &ria, "/sharing/export.json").await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    for r in doc["records"].as_array().unwrap() {
        let expected = if r["case_reference"] == kai_ref.as_str() {
            Value::from("Kai Brennan")
        } else {
            Value::Null
        };
        assert_eq!(r["child_name"], expected);
    }
}

#[tokio::test]
async fn the_subject_access_export_holds_everything_and_marks_third_party_items() {
    let app = TestApp::start().await;
    let (case_id, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let alex = app.sign_in(ALEX).await;
    say(&app, &sam, &ch, "s1", "Lily is settled at school.").await;
    say(
        &app,
        &sam,
        &ch,
        "s2",
        "Spoke to Harris and to Claire Ashworth today.",
    )
    .await;
    let res = lee
        .post_json(
            &app,
            &format!("/api/channels/{ch}/messages"),
            &serde_json::json!({
                "client_id": "l1",
                "body": "Police-only: the uncle has a record.",
                "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    // A consent record for the mother (as the consent register writes it).
    let db = app.db().await;
    let record = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO consent_records (id, case_id, subject_name, relationship, purpose, scope, created_by, created_at) \
         VALUES ($1, $2, 'Claire Ashworth', 'mother', 'safeguarding', 'all', $3, $4)",
    )
    .bind(&record)
    .bind(&case_id)
    .bind(&sam.person_id)
    .bind(app.clock_now())
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO consent_versions (record_id, version, state, detail, why, recorded_by, recorded_at) \
         VALUES ($1, 1, 'sought', '', 'Asked at the home visit', $2, $3)",
    )
    .bind(&record)
    .bind(&sam.person_id)
    .bind(app.clock_now())
    .execute(db.pool())
    .await
    .unwrap();

    let path = format!("/cases/{case_id}/subject-access.json");
    assert_eq!(
        sam.get(&app, &path).await.status(),
        403,
        "a practitioner, even the lead"
    );
    assert_eq!(lee.get(&app, &path).await.status(), 403);
    let (status, kind, text) = get(&app, &alex, &path).await;
    assert_eq!(status, 200);
    assert_eq!(kind, "application/json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(doc["export"]["kind"], "subject_access");
    assert_eq!(doc["case"]["child_name"], "Lily Ashworth");
    assert_eq!(doc["case"]["third_party"], false);
    let messages = doc["channels"][0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "every message, the restricted one too");
    let by_seq = |seq: i64| messages.iter().find(|m| m["seq"] == seq).unwrap();
    assert_eq!(by_seq(1)["body"], "Lily is settled at school.");
    assert_eq!(
        by_seq(1)["third_party"],
        false,
        "the holding agency about the child"
    );
    let named = by_seq(2);
    assert_eq!(named["third_party"], true);
    let why = named["third_party_reason"].as_str().unwrap();
    assert!(why.contains("DC Lee Harris (Northshire Police)"), "{why}");
    assert!(why.contains("Claire Ashworth, the child's mother"), "{why}");
    let police = by_seq(3);
    assert_eq!(police["body"], "Police-only: the uncle has a record.");
    assert_eq!(police["restricted"], true);
    assert_eq!(police["third_party"], true);
    let why = police["third_party_reason"].as_str().unwrap();
    assert!(
        why.contains("another agency") && why.contains("police-sensitive"),
        "{why}"
    );
    // Every item carries its marking.
    for section in ["case_team", "consent_records", "sharing_records"] {
        for item in doc[section].as_array().unwrap() {
            assert!(item["third_party"].is_boolean(), "{section}: {item}");
        }
    }
    let mother = &doc["consent_records"][0];
    assert_eq!(mother["third_party"], true);
    assert_eq!(mother["versions"][0]["why"], "Asked at the home visit");
    let team = doc["case_team"].as_array().unwrap();
    let lee_row = team
        .iter()
        .find(|t| t["person"] == "DC Lee Harris")
        .unwrap();
    assert_eq!(lee_row["third_party"], true);
    let sam_row = team.iter().find(|t| t["person"] == "Sam Patel").unwrap();
    assert_eq!(sam_row["third_party"], false);
    // Audited.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'case.subject_access_export' AND case_id = $1 AND actor_id = $2",
    )
    .bind(&case_id)
    .bind(&alex.person_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    // An auditor who is not a member: not found.
    let ria = app.sign_in(RIA).await;
    assert_eq!(ria.get(&app, &path).await.status(), 404);
}

/// How long the delivery log's write takes with and without the sharing
/// records: 10,000 deliveries across agencies (1,000 messages, each to ten
/// people of five agencies) in batches of 1,000, the log's batch size. Each
/// variant runs three times on fresh messages, interleaved; the best and
/// the median are printed. Run with `--ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn measure_the_delivery_log_with_sharing_records() {
    use confer::store::messages::{Post, insert_batch};
    use confer::store::receipts::{Delivery, record_deliveries};
    use std::time::Duration;

    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let db = app.db().await;
    let people: Vec<confer::domain::channels::Viewer> = {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, agency_id FROM people ORDER BY email")
                .fetch_all(db.pool())
                .await
                .unwrap();
        rows.into_iter()
            .map(|(person_id, agency_id)| confer::domain::channels::Viewer {
                person_id,
                agency_id,
            })
            .collect()
    };
    let mut round = 0;
    let mut fresh = async || -> Vec<Delivery> {
        round += 1;
        let mut sent = Vec::new();
        for chunk in 0..4 {
            let posts: Vec<Post> = (0..250)
                .map(|i| Post {
                    channel_id: ch.clone(),
                    author_id: sam.person_id.clone(),
                    client_id: format!("m{round}-{chunk}-{i}"),
                    body: "x".into(),
                    restricted: None,
                })
                .collect();
            let gates = confer::store::withholding::Gates::default();
            for p in insert_batch(&db, &gates, &posts, app.clock_now())
                .await
                .unwrap()
            {
                sent.push(p.message);
            }
        }
        let mut out = Vec::new();
        for (i, m) in sent.iter().enumerate() {
            for p in 0..10 {
                out.push(Delivery::of(
                    m,
                    &people[(i + p) % people.len()],
                    1_000 + i as i64,
                ));
            }
        }
        out
    };
    let (mut only, mut with, mut again) = (Vec::new(), Vec::new(), Vec::new());
    let mut written = 0;
    for _ in 0..3 {
        let batch = fresh().await;
        let started = Instant::now();
        for chunk in batch.chunks(1000) {
            record_deliveries(&db, chunk).await.unwrap();
        }
        only.push(started.elapsed());
        let batch = fresh().await;
        let started = Instant::now();
        for chunk in batch.chunks(1000) {
            written += confer::store::sharing::record_deliveries(&db, chunk, 2_000)
                .await
                .unwrap();
        }
        with.push(started.elapsed());
        // The same deliveries again (pages shown again): nothing new to write.
        let started = Instant::now();
        for chunk in batch.chunks(1000) {
            confer::store::sharing::record_deliveries(&db, chunk, 3_000)
                .await
                .unwrap();
        }
        again.push(started.elapsed());
    }
    let show = |mut v: Vec<Duration>| {
        v.sort();
        format!("best {:?}, median {:?}", v[0], v[1])
    };
    println!("10,000 deliveries in batches of 1,000, three runs each:");
    println!("  deliveries only:                 {}", show(only));
    println!(
        "  with sharing records:            {} ({written} records in all)",
        show(with)
    );
    println!("  repeated (all already recorded): {}", show(again));
}
