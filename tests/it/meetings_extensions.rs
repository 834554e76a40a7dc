//! Extending a deadline: a reason and the agreement of a manager in the case.

use crate::harness::{ALEX, DANA, LEE, SAM, TestApp};
use crate::meetings::{done, error_text, form};
use crate::meetings_clock::*;
use time::Duration;

pub async fn due_on(app: &TestApp, deadline_id: &str) -> String {
    let db = app.db().await;
    let (due,): (String,) = sqlx::query_as("SELECT due_on FROM deadlines WHERE id = $1")
        .bind(deadline_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    due
}

pub async fn extension_rows(
    app: &TestApp,
    deadline_id: &str,
) -> Vec<(String, String, String, Option<String>)> {
    let db = app.db().await;
    let rows = sqlx::query_as(
        "SELECT id, new_due_on, status, decided_by FROM deadline_extensions WHERE deadline_id = $1 ORDER BY requested_at, id",
    )
    .bind(deadline_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    db.close().await;
    rows
}

#[tokio::test]
pub async fn a_deadline_moves_only_with_a_reason_and_a_managers_agreement() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let (strategy, _) = strategy_with_enquiry(&app, monday, &case_id).await;
    let db = app.db().await;
    let (deadline_id, statutory): (String, String) = sqlx::query_as(
        "SELECT id, statutory_due_on FROM deadlines WHERE case_id = $1 AND kind = 'initial_conference'",
    )
    .bind(&case_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let old = confer::store::deadlines::parse_day(&statutory).unwrap();
    let later = (old + Duration::days(7)).to_string();
    let extend = format!("/cases/{case_id}/deadlines/{deadline_id}/extend");
    let (sam, lee, alex, dana) = (
        app.sign_in(SAM).await,
        app.sign_in(LEE).await,
        app.sign_in(ALEX).await,
        app.sign_in(DANA).await,
    );

    // The social worker asks: it waits for a manager.
    let res = form(
        &app,
        &sam,
        &extend,
        &[
            ("new_due_on", &later),
            ("reason", "Father in hospital until the 20th"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/cases/{case_id}#clock").as_str()
    );
    let ext = extension_rows(&app, &deadline_id).await;
    assert_eq!(ext.len(), 1);
    assert_eq!(
        (ext[0].1.as_str(), ext[0].2.as_str()),
        (later.as_str(), "requested")
    );
    let ext_id = ext[0].0.clone();
    assert_eq!(
        due_on(&app, &deadline_id).await,
        statutory,
        "unchanged while waiting"
    );
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains("waiting for a manager"), "{row}");
    assert!(row.contains("Father in hospital"), "{row}");
    assert!(
        !row.contains(&format!("statutory date {statutory}")),
        "{row}"
    );
    // One request at a time.
    let res = form(
        &app,
        &sam,
        &extend,
        &[("new_due_on", &later), ("reason", "Again")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(extension_rows(&app, &deadline_id).await.len(), 1);

    // Neither a practitioner of another agency nor the social worker agrees.
    let decide = format!("/cases/{case_id}/extensions/{ext_id}/decide");
    for who in [&lee, &sam] {
        let res = form(&app, who, &decide, &[("decision", "agree")]).await;
        assert_eq!(res.status(), 403);
    }
    // Someone outside the case learns nothing, whether or not it exists.
    for path in [&extend, &decide] {
        let res = form(
            &app,
            &dana,
            path,
            &[
                ("new_due_on", &later),
                ("reason", "x"),
                ("decision", "agree"),
            ],
        )
        .await;
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(due_on(&app, &deadline_id).await, statutory);
    assert_eq!(extension_rows(&app, &deadline_id).await[0].2, "requested");

    // The manager agrees: the date moves; the statutory date stays on record.
    let res = form(&app, &alex, &decide, &[("decision", "agree")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(due_on(&app, &deadline_id).await, later);
    let (statutory_now,): (String,) =
        sqlx::query_as("SELECT statutory_due_on FROM deadlines WHERE id = $1")
            .bind(&deadline_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(statutory_now, statutory);
    let ext = extension_rows(&app, &deadline_id).await;
    assert_eq!(ext[0].2, "agreed");
    assert_eq!(ext[0].3.as_deref(), Some(alex.person_id.as_str()));
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains(&later), "{row}");
    assert!(
        row.contains(&format!("statutory date {statutory}")),
        "{row}"
    );
    assert!(row.contains("agreed by Alex Morgan"), "{row}");
    // Decided once.
    let res = form(&app, &alex, &decide, &[("decision", "refuse")]).await;
    assert_eq!(res.status(), 400);

    // Even a manager needs a reason, and a later date.
    let even_later = (old + Duration::days(10)).to_string();
    let res = form(
        &app,
        &alex,
        &extend,
        &[("new_due_on", &even_later), ("reason", "  ")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("reason"));
    let earlier = (old + Duration::days(3)).to_string();
    let res = form(
        &app,
        &alex,
        &extend,
        &[("new_due_on", &earlier), ("reason", "Room booked")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("later than"));
    assert_eq!(extension_rows(&app, &deadline_id).await.len(), 1);
    assert_eq!(due_on(&app, &deadline_id).await, later);
    // A manager's own request is agreed as it is made.
    let res = form(
        &app,
        &alex,
        &extend,
        &[
            ("new_due_on", &even_later),
            ("reason", "Interpreter needed"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(due_on(&app, &deadline_id).await, even_later);
    let ext = extension_rows(&app, &deadline_id).await;
    assert_eq!(ext.len(), 2);
    assert!(ext.iter().all(|e| e.2 == "agreed"), "{ext:?}");

    // Correcting a detail of the strategy discussion's record keeps the
    // deadline it set, with its agreed later date and their history.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{strategy}/outcome"),
        &[
            ("section_47", "joint"),
            ("immediate_safety_actions", "Stays with her grandmother"),
            ("family_told", "That a joint enquiry is starting"),
            ("family_told_when", "Today at 4pm, by the social worker"),
            ("initial_conference_needed", "yes"),
        ],
    )
    .await;
    done(&res);
    let (id_now, due_now): (String, String) = sqlx::query_as(
        "SELECT id, due_on FROM deadlines WHERE case_id = $1 AND kind = 'initial_conference'",
    )
    .bind(&case_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(
        (id_now.as_str(), due_now.as_str()),
        (deadline_id.as_str(), even_later.as_str())
    );
    assert_eq!(extension_rows(&app, &deadline_id).await.len(), 2);
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains("agreed by Alex Morgan"), "{row}");
    // A correction that no longer needs a conference removes it.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{strategy}/outcome"),
        &[
            ("section_47", "none"),
            ("immediate_safety_actions", "Stays with her grandmother"),
            ("family_told", "That no enquiry is needed"),
            ("family_told_when", "Today at 4pm, by the social worker"),
        ],
    )
    .await;
    done(&res);
    let kinds: Vec<String> = stored_deadlines(&app, &case_id)
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(kinds, vec!["strategy_record".to_string()]);
}
