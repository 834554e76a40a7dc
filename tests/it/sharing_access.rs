//! Who may see what of the sharing records.

use crate::harness::{DANA, LEE, RIA, SAM, TOM, TestApp};
use crate::meetings::{day_after, form};
use crate::sharing::*;

#[tokio::test]
async fn who_may_see_what_of_the_sharing_records() {
    let app = TestApp::start().await;
    let (case_id, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let secret = "Lily disclosed something at school today.";
    let m = say(&app, &sam, &ch, "s1", secret).await;
    read(&app, &lee, &ch).await;
    delivered(&app, &m, &lee.person_id).await;
    let reference = {
        let db = app.db().await;
        confer::store::cases::find_for_operator(&db, &case_id)
            .await
            .unwrap()
            .reference
    };

    // Dana (housing) is not in the case: the same "not found" everywhere.
    let dana = app.sign_in(DANA).await;
    for path in [
        format!("/cases/{case_id}/sharing"),
        format!("/cases/{case_id}/sharing.csv"),
        format!("/cases/{case_id}/sharing.json"),
        format!("/cases/{case_id}/subject-access.json"),
    ] {
        assert_eq!(dana.get(&app, &path).await.status(), 404, "{path}");
    }
    for to in ["records", "decisions"] {
        let res = form(
            &app,
            &dana,
            &format!("/cases/{case_id}/sharing/{to}"),
            &[
                ("what", "x"),
                ("to_description", "y"),
                ("on", &day_after(&app, 0)),
                ("reasons", "z"),
            ],
        )
        .await;
        assert_eq!(res.status(), 404, "{to}");
    }
    assert!(
        rows(&app, &case_id)
            .await
            .iter()
            .all(|r| r.source == "message")
    );
    // Nor can a practitioner search across cases.
    for path in [
        "/sharing",
        "/sharing?search=1",
        "/sharing/export.csv",
        "/sharing/export.json",
    ] {
        assert_eq!(dana.get(&app, path).await.status(), 403, "{path}");
        let tom = app.sign_in(TOM).await;
        assert_eq!(tom.get(&app, path).await.status(), 403, "{path}");
    }
    // A practitioner in the case sees its records but cannot export everything held.
    let tom = app.sign_in(TOM).await;
    assert_eq!(
        tom.get(&app, &format!("/cases/{case_id}/sharing"))
            .await
            .status(),
        200
    );
    assert_eq!(
        tom.get(&app, &format!("/cases/{case_id}/subject-access.json"))
            .await
            .status(),
        403
    );

    // Ria (auditor, in no case) searches: the reference, never the child or the text.
    let ria = app.sign_in(RIA).await;
    let (status, page) = text(&app, &ria, "/sharing").await;
    assert_eq!(status, 200);
    assert!(!page.contains("id=\"results\""), "no search yet");
    let (status, page) = text(
        &app,
        &ria,
        &format!("/sharing?case={reference}&person=&agency=&from=&to="),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains(&reference));
    assert!(page.contains("message 1 in Case discussion"));
    assert!(page.contains("DC Lee Harris"));
    for hidden in ["Lily", "Ashworth", "disclosed", "NCC-104233"] {
        assert!(!page.contains(hidden), "the auditor saw {hidden}");
    }
    for path in [
        format!("/cases/{case_id}/sharing"),
        format!("/cases/{case_id}/sharing.csv"),
        format!("/cases/{case_id}/subject-access.json"),
    ] {
        assert_eq!(ria.get(&app, &path).await.status(), 404, "{path}");
    }
    // Bad search input: a clear error.
    let (status, page) = text(&app, &ria, "/sharing?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(summary(&page).contains("Enter the date like"));
    let (status, _) = text(&app, &ria, "/sharing/export.csv?to=31-12-2026").await;
    assert_eq!(status, 400);
    // Her searches are audited.
    let db = app.db().await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'sharing.searched' AND actor_id = $1",
    )
    .bind(&ria.person_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
}
