//! Break glass: a manager opens a case they are not in, with a reason, for
//! a limited time; the lead social worker is emailed; an auditor reviews the
//! opening. Everyone else gets the same refusal as for a case that does not
//! exist.

use crate::audit_pages::{PRIYA, actions_since, assert_no_child_name, lily, post_form};
use crate::harness::{ALEX, LEE, RIA, SAM, TestApp};
use crate::smtp_sink::SmtpSink;

const MINUTE: i64 = 60_000;

#[tokio::test]
async fn break_glass_opens_a_case_for_a_while_alerts_the_lead_and_is_reviewed() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(|s| s.audit.break_glass_minutes = 45)
        .start()
        .await;
    let (lily_id, reference) = lily(&app).await;
    let db = app.db().await;
    let count = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM break_glass")
            .fetch_one(db.pool())
            .await
            .unwrap();
        n
    };

    let priya = app.sign_in(PRIYA).await;
    let page = priya.get(&app, "/cases").await.text().await.unwrap();
    assert!(
        page.contains("href=\"/break-glass\""),
        "managers are offered break glass"
    );
    assert_eq!(
        priya.get(&app, &format!("/cases/{lily_id}")).await.status(),
        404
    );
    let form = priya.get(&app, "/break-glass").await;
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("45 minutes"));

    // A reason is required; nothing happens without one.
    let res = post_form(
        &priya,
        &app,
        "/break-glass",
        &[("reference", &reference), ("reason", "  ")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Enter the reason you need to open this case")
    );
    assert_eq!(count().await, 0);
    assert_eq!(
        priya.get(&app, &format!("/cases/{lily_id}")).await.status(),
        404
    );

    let reason = "Out-of-hours call from the hospital about a child on this case";
    let res = post_form(
        &priya,
        &app,
        "/break-glass",
        &[("reference", &reference.to_lowercase()), ("reason", reason)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/cases/{lily_id}").as_str()
    );
    let case = priya.get(&app, &format!("/cases/{lily_id}")).await;
    assert_eq!(case.status(), 200);
    let page = case.text().await.unwrap();
    assert!(
        page.contains("Lily Ashworth"),
        "the manager now sees the case"
    );
    assert!(
        page.contains(&format!("Break glass: {reason}")),
        "the team sees why"
    );
    assert_eq!(count().await, 1);

    // The lead social worker is told: reference, who and why; not the child.
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec![SAM.to_string()]);
    let body = mail[0].body();
    assert!(mail[0].data.contains(&format!(
        "Subject: Break glass: DS Priya Shah opened case {reference}"
    )));
    assert!(
        body.contains(&reference) && body.contains("DS Priya Shah"),
        "{body}"
    );
    assert!(
        body.contains("Out-of-hours call from the hospital"),
        "{body}"
    );
    assert!(!mail[0].data.contains("Lily") && !mail[0].data.contains("Ashworth"));

    // Audited: the opening, the grant, and flagged for review.
    let recent = actions_since(&app, 6).await;
    assert!(
        recent.contains(&("case.break_glass".to_string(), Some(lily_id.clone()))),
        "{recent:?}"
    );
    assert!(recent.contains(&("case.member_added".to_string(), Some(lily_id.clone()))));
    let (reviewed,): (Option<i64>,) = sqlx::query_as("SELECT reviewed_at FROM break_glass")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(reviewed, None);

    // Already a member: said so, nothing done.
    let res = post_form(
        &priya,
        &app,
        "/break-glass",
        &[("reference", &reference), ("reason", reason)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("already a member of case")
    );
    assert_eq!(count().await, 1);

    // The auditor reviews it: a note is required, and it is reviewed once.
    let ria = app.sign_in(RIA).await;
    let list = ria.get(&app, "/audit/break-glass").await;
    assert_eq!(list.status(), 200);
    let page = list.text().await.unwrap();
    assert_no_child_name(&page);
    assert!(page.contains(&reference) && page.contains("DS Priya Shah (Northshire Police)"));
    assert!(page.contains("Awaiting review") && page.contains(reason));
    let (id,): (String,) = sqlx::query_as("SELECT id FROM break_glass")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let path = format!("/audit/break-glass/{id}/review");
    let res = post_form(&ria, &app, &path, &[("note", "")]).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Enter a note about your review")
    );
    let res = post_form(
        &ria,
        &app,
        &path,
        &[("note", "Checked with the duty manager: justified.")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let page = ria
        .get(&app, "/audit/break-glass")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Reviewed") && page.contains("Checked with the duty manager: justified.")
    );
    assert!(!page.contains("Awaiting review"));
    let res = post_form(&ria, &app, &path, &[("note", "again")]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("already reviewed"));
    let res = post_form(
        &ria,
        &app,
        "/audit/break-glass/no-such-id/review",
        &[("note", "n")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let recent = actions_since(&app, 3).await;
    assert!(
        recent.contains(&(
            "case.break_glass_reviewed".to_string(),
            Some(lily_id.clone())
        )),
        "{recent:?}"
    );

    // Access ends after the configured minutes.
    app.clock.advance(44 * MINUTE);
    let priya = app.sign_in(PRIYA).await;
    assert_eq!(
        priya.get(&app, &format!("/cases/{lily_id}")).await.status(),
        200
    );
    app.clock.advance(2 * MINUTE);
    let priya = app.sign_in(PRIYA).await;
    assert_eq!(
        priya.get(&app, &format!("/cases/{lily_id}")).await.status(),
        404
    );
    let page = priya.get(&app, "/cases").await.text().await.unwrap();
    assert!(!page.contains("Lily"), "the case left the manager's list");
}

#[tokio::test]
async fn break_glass_refuses_everyone_else_alike_and_says_nothing_of_cases() {
    let app = TestApp::start().await;
    let (_, lily_ref) = lily(&app).await;
    let db = app.db().await;
    let refusal = "No case with that reference, or you cannot open it";

    // A practitioner, a police officer and the auditor naming a real case;
    // a manager naming one that does not exist: the same answer.
    for (email, reference) in [
        (SAM, lily_ref.as_str()),
        (LEE, lily_ref.as_str()),
        (RIA, lily_ref.as_str()),
        (PRIYA, "CF-ZZZZZZ"),
    ] {
        let who = app.sign_in(email).await;
        assert_eq!(who.get(&app, "/break-glass").await.status(), 200, "{email}");
        let res = post_form(
            &who,
            &app,
            "/break-glass",
            &[("reference", reference), ("reason", "need to see it")],
        )
        .await;
        assert_eq!(res.status(), 404, "{email}");
        let page = res.text().await.unwrap();
        assert!(page.contains(refusal), "{email}");
        assert_no_child_name(&page);
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM break_glass")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    let refused: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT case_id, detail FROM audit_events WHERE action = 'case.break_glass_refused' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(refused.len(), 4);
    assert!(
        refused.iter().all(|(case, _)| case.is_none()),
        "a refusal names no case"
    );
    assert!(refused[0].1.contains("not_a_manager") && refused[3].1.contains("no_such_case"));
    assert!(
        refused.iter().all(|(_, d)| !d.contains("CF-")),
        "nothing typed is kept"
    );

    // Without the form's token nothing happens.
    let alex = app.sign_in(ALEX).await;
    let res = alex
        .client
        .post(app.url("/break-glass"))
        .form(&[
            ("csrf_token", "wrong"),
            ("reference", lily_ref.as_str()),
            ("reason", "r"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A manager already in the case is told so.
    let res = post_form(
        &alex,
        &app,
        "/break-glass",
        &[("reference", &lily_ref), ("reason", "r")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("already a member"));
}
