//! Nobody outside the case sees or changes anything of its consent; a
//! record's page lists what was shared under it.

use crate::consent::*;
use crate::harness::{DANA, RIA, SAM, TestApp};
use crate::meetings::form;

#[tokio::test]
async fn nobody_outside_the_case_sees_or_changes_anything_of_its_consent() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await;
    let record = mothers_record(&app, &sam, &case, "police", "refused").await;
    let kais = mothers_record(&app, &sam, &kai, "all", "sought").await;
    let db = app.db().await;
    let override_id = uuid::Uuid::new_v4().to_string();
    db.close().await;
    let before = (
        audit_events(&app).await,
        count(
            &app,
            "SELECT COUNT(*) FROM consent_versions WHERE record_id <> $1",
            "",
        )
        .await,
        count(
            &app,
            "SELECT COUNT(*) FROM sharing_overrides WHERE case_id = $1",
            &case,
        )
        .await,
    );
    for outsider in [DANA, RIA] {
        let who = app.sign_in(outsider).await;
        let not_found_page = who
            .get(&app, "/cases/no-such-case/consent")
            .await
            .text()
            .await
            .unwrap();
        for path in [
            format!("/cases/{case}/consent"),
            format!("/cases/{case}/consent/{record}"),
        ] {
            let res = who.get(&app, &path).await;
            assert_eq!(res.status(), 404, "{outsider} GET {path}");
            let text = res.text().await.unwrap();
            assert_eq!(text, not_found_page, "the same page as for no case at all");
            for leak in [LILY, MOTHER, "Refused"] {
                assert!(!text.contains(leak));
            }
        }
        let mut posts: Vec<(String, Vec<(&str, &str)>)> = vec![
            (format!("/cases/{case}/consent"), {
                let mut f = vec![
                    ("relationship", "mother"),
                    ("subject_name", "X"),
                    ("purpose", "Y"),
                    ("scope", "all"),
                ];
                f.extend(state_fields("refused"));
                f
            }),
            (
                format!("/cases/{case}/consent/{record}/changes"),
                state_fields("sought"),
            ),
            (
                format!("/cases/{case}/consent/{record}/overrides"),
                vec![
                    ("agency_kind", "police"),
                    ("lawful_basis", "public_task"),
                    ("reason", "Risk"),
                ],
            ),
            (
                format!("/cases/{case}/consent/{record}/overrides/{override_id}/decide"),
                vec![("decision", "approve")],
            ),
            (
                format!("/cases/{case}/sharing-basis"),
                vec![("lawful_basis", "consent"), ("purpose", "Z")],
            ),
        ];
        if outsider == DANA {
            // A member of Kai's case cannot reach Lily's record through Kai's.
            posts.push((
                format!("/cases/{kai}/consent/{record}/changes"),
                state_fields("sought"),
            ));
        }
        for (path, fields) in &posts {
            let res = form(&app, &who, path, fields).await;
            assert_eq!(res.status(), 404, "{outsider} POST {path}");
        }
    }
    let dana = app.sign_in(DANA).await;
    assert_eq!(
        dana.get(&app, &format!("/cases/{kai}/consent/{record}"))
            .await
            .status(),
        404,
        "another case's record is not found through this one"
    );
    assert_eq!(
        dana.get(&app, &format!("/cases/{kai}/consent/{kais}"))
            .await
            .status(),
        200,
        "Dana is in Kai's case"
    );
    let after = (
        audit_events(&app).await,
        count(
            &app,
            "SELECT COUNT(*) FROM consent_versions WHERE record_id <> $1",
            "",
        )
        .await,
        count(
            &app,
            "SELECT COUNT(*) FROM sharing_overrides WHERE case_id = $1",
            &case,
        )
        .await,
    );
    assert_eq!(before, after, "nothing written");
}

#[tokio::test]
async fn a_records_page_shows_what_was_shared_under_it() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let record = mothers_record(&app, &sam, &case, "health", "given").await;
    let path = format!("/cases/{case}/consent/{record}");
    let (_, before) = page(&app, &sam, &path).await;
    assert!(before.contains("Nothing recorded as shared under this record"));

    // An information-sharing record that relied on this consent (written
    // here directly: the sharing log fills these in as it shares).
    let db = app.db().await;
    sqlx::query(
        "INSERT INTO sharing_records (id, case_id, source, item_ref, what, from_person_id, to_description, \
         shared_at, purpose, lawful_basis, consent_record_id, consent_state, created_at) \
         VALUES ($1, $2, 'manual', $3, $4, $5, $6, $7, $8, 'consent', $9, 'given', $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&case)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind("Phone call about the referral")
    .bind(&sam.person_id)
    .bind("Dr Okafor, Riverside Surgery")
    .bind(app.clock_now())
    .bind("Health assessment")
    .bind(&record)
    .execute(db.pool())
    .await
    .unwrap();
    db.close().await;
    let (_, after) = page(&app, &sam, &path).await;
    for text in [
        "Phone call about the referral",
        "Dr Okafor, Riverside Surgery",
        "Consent",
    ] {
        assert!(after.contains(text), "the page shows {text}");
    }
}
