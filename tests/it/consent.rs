//! The consent register over its pages (no JavaScript): records for the
//! child and a parent with their first state, changes as new versions with
//! who, when and why, the child's view and Gillick competence, every
//! invalid transition refused with the domain's own message and nothing
//! written, versions that the database will not let anyone rewrite, the
//! case's basis for sharing, withdrawal notices by real SMTP with no child
//! data, and nothing at all for people outside the case.
//!
//! Demo partnership (server/src/seed.rs): Lily Ashworth's case has Sam
//! (lead social worker), Alex (his manager), Lee (police), Kim (health) and
//! Tom (school). Dana (housing) is on Kai's case only; Ria is an auditor on
//! no case.

use confer::domain::consent::{Change, ConsentState, Evidence, NotSoughtReason, apply};

use crate::harness::{KIM, SAM, Signed, TOM, TestApp};
use crate::meetings::{error_text, form};

pub const LILY: &str = "Lily Ashworth";
pub const MOTHER: &str = "Jane Ashworth";

/// Undo the HTML escaping of a page's text, for comparing messages.
pub fn unescape(text: &str) -> String {
    text.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The fields of a consent state.
pub fn state_fields(state: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut f = vec![("state", state), ("why", "Discussed at the home visit")];
    match state {
        "given" => {
            f.push(("evidence", "verbal"));
            f.push(("detail", "Agreed by phone to Sam Patel"));
        }
        "not_sought" => f.push(("not_sought_reason", "would_place_child_at_risk")),
        _ => {}
    }
    f
}

/// Add a record (a parent's unless `fields` say otherwise); the record's id
/// or the page's error text.
pub async fn add_record(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    fields: &[(&str, &str)],
) -> Result<String, (u16, String)> {
    let res = form(app, who, &format!("/cases/{case_id}/consent"), fields).await;
    let status = res.status().as_u16();
    if status == 303 {
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let prefix = format!("/cases/{case_id}/consent/");
        assert!(location.starts_with(&prefix), "{location}");
        return Ok(location[prefix.len()..].to_string());
    }
    let body = res.text().await.unwrap();
    Err((status, unescape(&error_text(&body))))
}

/// A mother's record covering `scope` ("all" or kinds separated by commas) in `state`.
pub async fn mothers_record(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    scope: &str,
    state: &'static str,
) -> String {
    let mut fields: Vec<(&str, &str)> = vec![
        ("relationship", "mother"),
        ("subject_name", MOTHER),
        (
            "purpose",
            "Sharing information about the family's circumstances",
        ),
    ];
    let kinds: Vec<&str> = scope.split(',').collect();
    if scope == "all" {
        fields.push(("scope", "all"));
    } else {
        fields.push(("scope", "kinds"));
        for k in &kinds {
            fields.push(("kinds", k));
        }
    }
    fields.extend(state_fields(state));
    add_record(app, who, case_id, &fields)
        .await
        .unwrap_or_else(|e| panic!("record added: {e:?}"))
}

/// Record a change; `Err((status, error text))` when refused.
pub async fn change(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    record_id: &str,
    fields: &[(&str, &str)],
) -> Result<(), (u16, String)> {
    let res = form(
        app,
        who,
        &format!("/cases/{case_id}/consent/{record_id}/changes"),
        fields,
    )
    .await;
    let status = res.status().as_u16();
    if status == 303 {
        return Ok(());
    }
    let body = res.text().await.unwrap();
    Err((status, unescape(&error_text(&body))))
}

pub async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_one(db.pool())
        .await
        .expect("count");
    db.close().await;
    n
}

pub async fn versions(app: &TestApp, record_id: &str) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM consent_versions WHERE record_id = $1",
        record_id,
    )
    .await
}

/// Audit events of changes (not reads, not sign-ins).
pub async fn audit_events(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM audit_events WHERE action <> $1 AND action NOT LIKE 'session.%'",
        "case.read",
    )
    .await
}

pub async fn page(app: &TestApp, who: &Signed, path: &str) -> (u16, String) {
    let res = who.get(app, path).await;
    let status = res.status().as_u16();
    (status, unescape(&res.text().await.unwrap()))
}

#[tokio::test]
pub async fn a_register_keeps_every_version_with_who_when_and_why_and_the_childs_own_view() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    let tom = app.sign_in(TOM).await;

    let child = add_record(
        &app,
        &sam,
        &case,
        &[
            ("relationship", "child"),
            ("subject_name", LILY),
            ("purpose", "Sharing health information with the school"),
            ("scope", "kinds"),
            ("kinds", "health"),
            ("kinds", "education"),
            ("state", "sought"),
            (
                "why",
                "Asked at the home visit; Lily wants to think about it",
            ),
        ],
    )
    .await
    .expect("added");
    // Any case member may record consent: the school adds the mother's.
    let mother = mothers_record(&app, &tom, &case, "all", "refused").await;

    // The child's own decision needs a judgement of her competence first.
    let given = [
        ("state", "given"),
        ("evidence", "verbal"),
        ("detail", "Lily agreed in her session with the school nurse"),
        ("why", "School nurse session, 3 March"),
        ("child_view", "Happy for the nurse to talk to her teacher"),
    ];
    let e = change(&app, &kim, &case, &child, &given).await.unwrap_err();
    assert_eq!(e.0, 400);
    assert!(e.1.contains("competent (Gillick)"), "{}", e.1);
    assert_eq!(versions(&app, &child).await, 1, "nothing written");
    let mut competent = given.to_vec();
    competent.push(("gillick", "yes"));
    change(&app, &kim, &case, &child, &competent)
        .await
        .expect("a competent child gives consent");

    // The register lists both; the record shows its whole history.
    let (status, register) = page(&app, &sam, &format!("/cases/{case}/consent")).await;
    assert_eq!(status, 200);
    for text in [
        LILY,
        MOTHER,
        "Given",
        "Refused",
        "health, education",
        "all agencies",
    ] {
        assert!(register.contains(text), "register shows {text}");
    }
    assert!(
        register.contains("Messages in this case are held back from"),
        "the mother's refusal holds back every agency"
    );
    let (status, record) = page(&app, &tom, &format!("/cases/{case}/consent/{child}")).await;
    assert_eq!(status, 200);
    for text in [
        "Given verbally: Lily agreed in her session with the school nurse",
        "Judged competent (Gillick) to decide",
        "The child's view: Happy for the nurse to talk to her teacher",
        "School nurse session, 3 March",
        "Kim Okafor (Northshire NHS Foundation Trust)",
        "Asked at the home visit; Lily wants to think about it",
        "Sam Patel (Northshire County Council Children's Social Care)",
    ] {
        assert!(record.contains(text), "history shows {text}");
    }
    let newest = record.find("School nurse session").unwrap();
    let oldest = record.find("Asked at the home visit").unwrap();
    assert!(newest < oldest, "newest version first");

    // Stored as versions 1 and 2; audited by id, never by name or content.
    assert_eq!(versions(&app, &child).await, 2);
    let db = app.db().await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, subject, detail FROM audit_events WHERE action LIKE 'consent.%' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "consent.record_added",
            "consent.record_added",
            "consent.changed"
        ]
    );
    assert_eq!(rows[0].1, child);
    assert_eq!(rows[1].1, mother);
    for (_, _, detail) in &rows {
        for leak in [
            "Lily",
            "Ashworth",
            "nurse",
            "home visit",
            "school",
            "teacher",
        ] {
            assert!(!detail.contains(leak), "audit detail {detail} has {leak}");
        }
    }
    let (recorded_by,): (String,) = sqlx::query_as(
        "SELECT p.email FROM consent_versions v JOIN people p ON p.id = v.recorded_by WHERE v.record_id = $1 AND v.version = 2",
    )
    .bind(&child)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(recorded_by, KIM);
    db.close().await;
}

/// Bring a new mother's record to `state` (withdrawn: given, then withdrawn).
pub async fn record_in(app: &TestApp, who: &Signed, case: &str, state: ConsentState) -> String {
    match state {
        ConsentState::Withdrawn => {
            let id = mothers_record(app, who, case, "health", "given").await;
            change(app, who, case, &id, &state_fields("withdrawn"))
                .await
                .expect("withdrawn");
            id
        }
        s => mothers_record(app, who, case, "health", static_name(s)).await,
    }
}

pub fn static_name(s: ConsentState) -> &'static str {
    match s {
        ConsentState::Sought => "sought",
        ConsentState::Given => "given",
        ConsentState::Refused => "refused",
        ConsentState::Withdrawn => "withdrawn",
        ConsentState::NotSought => "not_sought",
    }
}

pub fn domain_change(s: ConsentState) -> Change {
    match s {
        ConsentState::Sought => Change::Seek,
        ConsentState::Given => Change::Give {
            evidence: Evidence::Verbal,
            detail: "Agreed by phone to Sam Patel".into(),
        },
        ConsentState::Refused => Change::Refuse,
        ConsentState::Withdrawn => Change::Withdraw,
        ConsentState::NotSought => Change::NotSeek {
            reason: NotSoughtReason::WouldPlaceChildAtRisk,
        },
    }
}

#[tokio::test]
pub async fn every_invalid_transition_is_refused_with_the_domains_message_and_nothing_is_written() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let mut refused = 0;
    for from in ConsentState::ALL {
        let record = record_in(&app, &sam, &case, *from).await;
        for to in ConsentState::ALL {
            let Err(invalid) = apply(Some(*from), &domain_change(*to)) else {
                continue;
            };
            let before = (
                versions(&app, &record).await,
                audit_events(&app).await,
                count(
                    &app,
                    "SELECT sharing_version FROM cases WHERE id = $1",
                    &case,
                )
                .await,
            );
            let (status, text) =
                change(&app, &sam, &case, &record, &state_fields(static_name(*to)))
                    .await
                    .expect_err("refused");
            assert_eq!(status, 400, "{from:?} → {to:?}");
            assert_eq!(text, invalid.message(), "{from:?} → {to:?}");
            let after = (
                versions(&app, &record).await,
                audit_events(&app).await,
                count(
                    &app,
                    "SELECT sharing_version FROM cases WHERE id = $1",
                    &case,
                )
                .await,
            );
            assert_eq!(before, after, "{from:?} → {to:?} wrote nothing");
            refused += 1;
        }
    }
    assert!(
        refused >= 6,
        "the state machine refuses several transitions"
    );

    // A new record cannot start as withdrawn; bad content is refused too.
    let records = count(
        &app,
        "SELECT COUNT(*) FROM consent_records WHERE case_id = $1",
        &case,
    )
    .await;
    let mut start_withdrawn: Vec<(&str, &str)> = vec![
        ("relationship", "father"),
        ("subject_name", "Mark Ashworth"),
        ("purpose", "Sharing with school"),
        ("scope", "all"),
    ];
    start_withdrawn.extend(state_fields("withdrawn"));
    let (status, text) = add_record(&app, &sam, &case, &start_withdrawn)
        .await
        .unwrap_err();
    assert_eq!(status, 400);
    assert_eq!(text, apply(None, &Change::Withdraw).unwrap_err().message());
    let record = record_in(&app, &sam, &case, ConsentState::Sought).await;
    for (fields, says) in [
        (
            vec![
                ("state", "given"),
                ("evidence", "written"),
                ("why", "Form signed"),
            ],
            "Record the evidence of consent",
        ),
        (
            vec![
                ("state", "given"),
                ("detail", "Form in the file"),
                ("why", "Form signed"),
            ],
            "verbally or in writing",
        ),
        (
            vec![("state", "refused"), ("why", "  ")],
            "Say why this is being recorded",
        ),
        (
            vec![
                ("state", "not_sought"),
                ("not_sought_reason", "other"),
                ("why", "x"),
            ],
            "Say why consent was not sought",
        ),
        (
            vec![("state", "refused"), ("why", "x"), ("gillick", "yes")],
            "recorded on the child's own consent record",
        ),
        (
            vec![("state", "maybe"), ("why", "x")],
            "Choose where consent stands",
        ),
    ] {
        let (status, text) = change(&app, &sam, &case, &record, &fields)
            .await
            .unwrap_err();
        assert_eq!(status, 400);
        assert!(text.contains(says), "{text} should say {says}");
    }
    assert_eq!(versions(&app, &record).await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM consent_records WHERE case_id = $1",
            &case
        )
        .await,
        records + 1
    );
    // A child judged not competent does not decide on their own record.
    let (status, text) = add_record(
        &app,
        &sam,
        &case,
        &[
            ("relationship", "child"),
            ("subject_name", LILY),
            ("purpose", "Sharing with school"),
            ("scope", "all"),
            ("state", "refused"),
            ("gillick", "no"),
            ("child_view", "Wants her mum to decide"),
            ("why", "Home visit"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(status, 400);
    assert!(
        text.contains("parent or carer with parental responsibility"),
        "{text}"
    );
}
