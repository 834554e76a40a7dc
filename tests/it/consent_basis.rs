//! The consent register's guarantees beyond single records: versions the
//! database will not let anyone rewrite, the case's basis for sharing set by
//! the lead or a manager, and withdrawal notices by real SMTP carrying the
//! case reference only. Demo partnership as in `consent.rs`.

use crate::consent::{LILY, MOTHER, change, mothers_record, page, state_fields};
use crate::harness::{ALEX, KIM, LEE, SAM, TOM, TestApp};
use crate::meetings::form;
use crate::smtp_sink::SmtpSink;
#[tokio::test]
pub async fn consent_versions_cannot_be_rewritten_or_deleted() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let record = mothers_record(&app, &sam, &case, "all", "refused").await;
    let db = app.db().await;
    let update = sqlx::query("UPDATE consent_versions SET state = 'given' WHERE record_id = $1")
        .bind(&record)
        .execute(db.pool())
        .await;
    let e = update.expect_err("an update is refused").to_string();
    assert!(e.contains("append-only"), "{e}");
    let delete = sqlx::query("DELETE FROM consent_versions WHERE record_id = $1")
        .bind(&record)
        .execute(db.pool())
        .await;
    assert!(delete.is_err(), "a delete is refused");
    let (state,): (String,) =
        sqlx::query_as("SELECT state FROM consent_versions WHERE record_id = $1")
            .bind(&record)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(state, "refused");
    db.close().await;
}

#[tokio::test]
pub async fn the_lead_or_a_manager_sets_the_cases_basis_for_sharing_shown_on_the_case_page() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let (_, before) = page(&app, &lee, &format!("/cases/{case}")).await;
    assert!(before.contains("Public task (safeguarding)"));
    assert!(before.contains("Article 6(1)(e)"));
    assert!(before.contains("Safeguarding and promoting the welfare of the child"));
    assert!(before.contains("None recorded"));

    let path = format!("/cases/{case}/sharing-basis");
    let res = form(
        &app,
        &lee,
        &path,
        &[("lawful_basis", "consent"), ("purpose", "x")],
    )
    .await;
    assert_eq!(res.status(), 403, "a practitioner who is not the lead");
    let res = form(
        &app,
        &sam,
        &path,
        &[("lawful_basis", "legal_obligation"), ("purpose", " ")],
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = form(
        &app,
        &sam,
        &path,
        &[
            ("lawful_basis", "whim"),
            ("purpose", "Child protection plan"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let (_, unchanged) = page(&app, &lee, &format!("/cases/{case}")).await;
    assert!(unchanged.contains("Public task (safeguarding)"));

    let purpose = "Section 47 enquiry and the child protection plan";
    let res = form(
        &app,
        &sam,
        &path,
        &[("lawful_basis", "legal_obligation"), ("purpose", purpose)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, after) = page(&app, &lee, &format!("/cases/{case}")).await;
    assert!(after.contains("Legal obligation"));
    assert!(after.contains("Article 6(1)(c)"));
    assert!(after.contains(purpose));
    let alex = app.sign_in(ALEX).await;
    let res = form(
        &app,
        &alex,
        &path,
        &[("lawful_basis", "public_task"), ("purpose", purpose)],
    )
    .await;
    assert_eq!(res.status(), 303, "a manager in the case");
    let db = app.db().await;
    let (detail,): (String,) = sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'case.sharing_basis_set' ORDER BY seq LIMIT 1",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(detail.contains("legal_obligation"));
    assert!(!detail.contains("Section 47"), "no free text in the log");
    db.close().await;
}

#[tokio::test]
pub async fn withdrawal_tells_the_agencies_it_covered_by_case_reference_only() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder().smtp(sink.port).start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let db = app.db().await;
    let lily = confer::store::cases::find_for_operator(&db, &case)
        .await
        .unwrap();
    db.close().await;

    // Consent covering health only: only Kim hears of its withdrawal.
    let health = mothers_record(&app, &sam, &case, "health", "given").await;
    change(&app, &sam, &case, &health, &state_fields("withdrawn"))
        .await
        .expect("withdrawn");
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, [KIM]);

    // Consent covering every agency: everyone in the case but the recorder.
    let all = mothers_record(&app, &sam, &case, "all", "given").await;
    change(&app, &sam, &case, &all, &state_fields("withdrawn"))
        .await
        .expect("withdrawn");
    let mail = sink.wait_for(5).await;
    let mut to: Vec<String> = mail[1..].iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let mut expected = vec![ALEX, KIM, LEE, TOM];
    expected.sort();
    assert_eq!(to, expected);
    for m in &mail {
        let text = m.body();
        assert!(text.contains(&lily.reference), "{text}");
        assert!(text.contains("withdrawn"), "{text}");
        for leak in [
            "Lily",
            "Ashworth",
            MOTHER,
            "2013-04-17",
            "NCC-104233",
            "family's circumstances",
            "Agreed by phone",
        ] {
            assert!(
                !m.data.contains(leak),
                "the notice leaks {leak}: {}",
                m.data
            );
        }
    }
}
