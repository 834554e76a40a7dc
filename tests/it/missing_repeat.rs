//! Repeat missing: the threshold (3 episodes in 90 days by default) prompts
//! the lead social worker on the case page, the dashboard and by email
//! (once); three episodes spread over more than 90 days do not. The prompt
//! pre-fills the convening form, and the strategy discussion convened from
//! it is linked; or the lead records why not.

use std::time::Duration as Wait;

use crate::harness::{ALEX, DANA, KIM, LEE, SAM, TestApp};
use crate::meetings::{error_text, form};
use crate::meetings_clock::{PRIYA, at, convene_at, london, monday_morning};
use crate::missing::{count, page, report, snapshot};
use crate::smtp_sink::SmtpSink;

const DAY: i64 = 86_400_000;

async fn open_prompts(app: &TestApp, case_id: &str) -> Vec<String> {
    let db = app.db().await;
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM strategy_prompts WHERE case_id = $1 AND status = 'open'")
            .bind(case_id)
            .fetch_all(db.pool())
            .await
            .unwrap();
    db.close().await;
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn three_in_ninety_days_prompt_the_lead_three_spread_wider_do_not_and_convening_links_the_meeting()
 {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(|s| s.meetings.scheduler_interval_seconds = 1)
        .start()
        .await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    let (noah, _) = app.case_and_channel("Noah Okoye").await;
    let monday = monday_morning(&app);
    let now = london(monday, 9, 0);
    let [lee, priya, sam] = at(&app, now, &[LEE, PRIYA, SAM])
        .await
        .try_into()
        .ok()
        .unwrap();

    // Kai: 89 days, 50 days and an hour ago. Two are not enough.
    report(&app, &lee, &kai, now - 89 * DAY).await.unwrap();
    report(&app, &lee, &kai, now - 50 * DAY).await.unwrap();
    assert!(open_prompts(&app, &kai).await.is_empty());
    let third = report(&app, &lee, &kai, now - 3_600_000).await.unwrap();
    let prompts = open_prompts(&app, &kai).await;
    assert_eq!(prompts.len(), 1, "the third in 90 days prompts");
    let prompt = prompts[0].clone();
    // Noah: three over more than 90 days (120, 60 and 0 days ago): no prompt.
    for days in [120, 60, 0] {
        report(&app, &priya, &noah, now - days * DAY - 3_600_000)
            .await
            .unwrap();
    }
    assert!(
        open_prompts(&app, &noah).await.is_empty(),
        "3 spread over more than 90 days"
    );
    let alex = app.sign_in(ALEX).await;
    let (_, noah_page) = page(&app, &alex, &format!("/cases/{noah}/missing")).await;
    assert!(
        noah_page.contains("id=\"trend-current\">2 episodes"),
        "{noah_page}"
    );
    assert!(
        noah_page.contains("id=\"trend-previous\">1 episode<"),
        "{noah_page}"
    );
    assert!(
        noah_page.contains("id=\"trend-direction\">rising"),
        "{noah_page}"
    );

    // The lead sees it on the case page, the missing page and the dashboard, and by email once.
    let (_, case_page) = page(&app, &sam, &format!("/cases/{kai}")).await;
    assert!(
        case_page.contains(&format!("/cases/{kai}/strategy-prompts/{prompt}")),
        "{case_page}"
    );
    assert!(case_page.contains("3 missing episodes in 90 days"));
    let (_, dash) = page(&app, &sam, "/dashboard").await;
    assert!(
        dash.contains(&format!("/cases/{kai}/strategy-prompts/{prompt}")),
        "{dash}"
    );
    sink.wait_for(1).await;
    tokio::time::sleep(Wait::from_millis(2500)).await;
    let mail = sink.wait_for(1).await;
    assert_eq!(mail.len(), 1, "one prompt email");
    assert_eq!(mail[0].to, vec![SAM.to_string()]);
    assert!(
        mail[0]
            .body()
            .contains(&format!("/strategy-prompts/{prompt}"))
    );
    assert!(!mail[0].data.contains("Kai") && !mail[0].data.contains("Brennan"));
    // Outside the case: not found.
    let kim = app.sign_in(KIM).await;
    assert_eq!(
        page(
            &app,
            &kim,
            &format!("/cases/{kai}/strategy-prompts/{prompt}")
        )
        .await
        .0,
        404
    );

    // Convene from the prompt: the form says why and carries it; the meeting is linked.
    let (_, prompt_page) = page(
        &app,
        &sam,
        &format!("/cases/{kai}/strategy-prompts/{prompt}"),
    )
    .await;
    let convene_link =
        format!("/cases/{kai}/meetings/new?kind=strategy_discussion&amp;prompt={prompt}");
    assert!(prompt_page.contains(&convene_link), "{prompt_page}");
    let (status, convene_form) = page(&app, &sam, &convene_link.replace("&amp;", "&")).await;
    assert_eq!(status, 200);
    assert!(
        convene_form.contains("id=\"prompt-reason\""),
        "{convene_form}"
    );
    assert!(convene_form.contains("3 missing episodes in 90 days"));
    assert!(convene_form.contains(&format!("name=\"prompt\" value=\"{prompt}\"")));
    assert!(convene_form.contains("value=\"strategy_discussion\" selected"));
    let meeting = convene_at(
        &app,
        &sam,
        &kai,
        "strategy_discussion",
        monday + time::Duration::days(1),
        "10:00",
        &[LEE, ALEX],
        &[
            ("prompt", &prompt),
            ("reason_health", "No health involvement with Kai at present"),
        ],
    )
    .await;
    let (_, prompt_page) = page(
        &app,
        &sam,
        &format!("/cases/{kai}/strategy-prompts/{prompt}"),
    )
    .await;
    assert!(
        prompt_page.contains(&format!("href=\"/meetings/{meeting}\"")),
        "{prompt_page}"
    );
    assert!(open_prompts(&app, &kai).await.is_empty());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM strategy_prompts WHERE meeting_id = $1",
            &meeting
        )
        .await,
        1
    );
    assert!(
        !page(&app, &sam, "/dashboard")
            .await
            .1
            .contains("/strategy-prompts/")
    );

    // A fourth episode prompts again; this time the lead records why not.
    report(&app, &lee, &kai, now - 1_800_000).await.unwrap();
    let again = open_prompts(&app, &kai).await;
    assert_eq!(again.len(), 1);
    let again = again[0].clone();
    assert_ne!(again, prompt);
    let decline = format!("/cases/{kai}/strategy-prompts/{again}/decline");
    let before = snapshot(&app).await;
    let res = form(&app, &sam, &decline, &[("reason", "  ")]).await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("reason"));
    let dana = app.sign_in(DANA).await;
    assert_eq!(
        form(&app, &dana, &decline, &[("reason", "not mine")])
            .await
            .status(),
        403
    );
    assert_eq!(
        form(&app, &kim, &decline, &[("reason", "not mine")])
            .await
            .status(),
        404
    );
    assert_eq!(snapshot(&app).await, before, "refusals write nothing");
    let res = form(
        &app,
        &sam,
        &decline,
        &[(
            "reason",
            "Strategy discussion held yesterday covers this episode",
        )],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, prompt_page) = page(
        &app,
        &sam,
        &format!("/cases/{kai}/strategy-prompts/{again}"),
    )
    .await;
    assert!(
        prompt_page
            .contains("Not convened: Strategy discussion held yesterday covers this episode"),
        "{prompt_page}"
    );
    assert!(prompt_page.contains("Sam Patel"));
    let res = form(&app, &sam, &decline, &[("reason", "again")]).await;
    assert_eq!(res.status(), 400, "already acted on");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "strategy_prompt.declined"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "strategy_prompt.convened"
        )
        .await,
        1
    );
    let _ = third;
}
