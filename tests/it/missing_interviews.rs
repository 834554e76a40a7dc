//! Return home interviews over HTTP: every attempt to reach the child, each
//! outcome with what it needs, invalid transitions refused with nothing
//! written, who may record; and the scheduler's reminders (at risk, overdue)
//! sent once each over real SMTP, not again after a restart.

use crate::harness::{DANA, SAM, Signed, TOM, TestApp, fresh_database_url};
use crate::meetings::{error_text, form};
use crate::missing::{
    ROBIN, count, date_time, kai_on_monday, page, record_return, report, snapshot,
};
use crate::smtp_sink::{Received, SmtpSink};

const HOUR: i64 = 3_600_000;

async fn post(app: &TestApp, who: &Signed, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let res = form(app, who, path, fields).await;
    let status = res.status().as_u16();
    (status, error_text(&res.text().await.unwrap_or_default()))
}

/// Post an attempt (date, time) by this method with this outcome.
async fn attempt(
    app: &TestApp,
    who: &Signed,
    rhi: &str,
    (date, time): (&str, &str),
    method: &str,
    outcome: &str,
) -> (u16, String) {
    post(
        app,
        who,
        &format!("{rhi}/attempts"),
        &[
            ("date", date),
            ("time", time),
            ("method", method),
            ("outcome", outcome),
        ],
    )
    .await
}

/// Post an outcome of this kind (date, time) with its other fields.
async fn outcome(
    app: &TestApp,
    who: &Signed,
    rhi: &str,
    kind: &str,
    (date, time): (&str, &str),
    extra: &[(&str, &str)],
) -> (u16, String) {
    let mut fields = vec![("outcome", kind), ("date", date), ("time", time)];
    fields.extend_from_slice(extra);
    post(app, who, &format!("{rhi}/outcome"), &fields).await
}

/// An episode of Kai's, returned at `returned`; the interview's path.
async fn returned_episode(app: &TestApp, lee: &Signed, kai: &str, returned: i64) -> String {
    let id = report(app, lee, kai, returned - 5 * HOUR).await.unwrap();
    record_return(app, lee, kai, &id, returned).await.unwrap();
    format!("/cases/{kai}/missing/{id}/interview")
}

/// The commissioned missing service's id.
async fn missing_service(app: &TestApp) -> String {
    let db = app.db().await;
    let service = confer::store::agencies::find(&db, "Northshire Missing Service")
        .await
        .unwrap();
    db.close().await;
    service.id
}

async fn assign_guest(app: &TestApp, sam: &Signed, rhi: &str) {
    let service = missing_service(app).await;
    let (status, why) = post(
        app,
        sam,
        &format!("{rhi}/interviewer"),
        &[
            ("guest_name", "Robin Shaw"),
            ("guest_email", ROBIN),
            ("guest_agency_id", &service),
        ],
    )
    .await;
    assert_eq!(status, 303, "{why}");
}

#[tokio::test]
async fn attempts_each_outcome_and_invalid_transitions_that_write_nothing() {
    let app = TestApp::start().await;
    let (kai, _, returned, lee, sam) = kai_on_monday(&app).await;
    let a = returned_episode(&app, &lee, &kai, returned - 30 * HOUR).await;
    let b = returned_episode(&app, &lee, &kai, returned - 20 * HOUR).await;
    let c = returned_episode(&app, &lee, &kai, returned - 10 * HOUR).await;

    // No outcome before an interviewer is assigned.
    let (date, time) = date_time(returned);
    let before = snapshot(&app).await;
    let (status, why) = outcome(&app, &sam, &a, "completed", (&date, &time), &[]).await;
    assert_eq!((status, why.contains("Assign")), (400, true), "{why}");
    assert_eq!(snapshot(&app).await, before);
    assign_guest(&app, &sam, &a).await;
    let robin = app.sign_in(ROBIN).await;
    let robin_id = robin.person_id.clone();
    for rhi in [&b, &c] {
        assert_eq!(
            post(
                &app,
                &sam,
                &format!("{rhi}/interviewer"),
                &[("interviewer_id", &robin_id)]
            )
            .await
            .0,
            303
        );
    }

    // Two attempts, then the interview.
    for (hours, method, outcome, note) in [
        (25, "phone", "no_response", "Rang twice, no answer"),
        (22, "visit", "spoke_to_child", "Seen at home"),
    ] {
        let (d, t) = date_time(returned - hours * HOUR);
        let (status, why) = post(
            &app,
            &robin,
            &format!("{a}/attempts"),
            &[
                ("date", &d),
                ("time", &t),
                ("method", method),
                ("outcome", outcome),
                ("note", note),
            ],
        )
        .await;
        assert_eq!(status, 303, "{why}");
    }
    let (_, body) = page(&app, &sam, &a).await;
    assert_eq!(body.matches("confer-attempt").count(), 2, "{body}");
    assert!(body.contains("Rang twice, no answer") && body.contains("Spoke to the child"));
    let (d, t) = date_time(returned - 22 * HOUR);
    assert_eq!(
        outcome(&app, &robin, &a, "completed", (&d, &t), &[])
            .await
            .0,
        303
    );

    // Closed: no more attempts, no second outcome, no new interviewer.
    let before = snapshot(&app).await;
    let (status, why) = attempt(&app, &robin, &a, (&date, &time), "phone", "other").await;
    assert_eq!((status, why.contains("closed")), (400, true), "{why}");
    let (status, why) = outcome(
        &app,
        &robin,
        &a,
        "not_completed",
        (&date, &time),
        &[("not_completed_reason", "x")],
    )
    .await;
    assert_eq!((status, why.contains("already")), (400, true), "{why}");
    let lee_id = lee.person_id.clone();
    assert_eq!(
        post(
            &app,
            &sam,
            &format!("{a}/interviewer"),
            &[("interviewer_id", &lee_id)]
        )
        .await
        .0,
        400
    );
    let service = missing_service(&app).await;
    let (status, why) = post(
        &app,
        &sam,
        &format!("{a}/interviewer"),
        &[
            ("guest_name", "Late Guest"),
            ("guest_email", "late.guest@missing-service.example"),
            ("guest_agency_id", &service),
        ],
    )
    .await;
    assert_eq!((status, why.contains("closed")), (400, true), "{why}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM people WHERE email = $1",
            "late.guest@missing-service.example"
        )
        .await,
        0,
        "nobody is invited to a closed interview"
    );
    // Bad input: a future attempt, an unknown method, a second return, a return before the report.
    let (fd, ft) = date_time(returned + HOUR);
    let (status, why) = attempt(&app, &robin, &b, (&fd, &ft), "phone", "no_response").await;
    assert_eq!((status, why.contains("future")), (400, true), "{why}");
    assert_eq!(
        attempt(
            &app,
            &robin,
            &b,
            (&date, &time),
            "carrier pigeon",
            "no_response"
        )
        .await
        .0,
        400
    );
    let episode_b = b
        .trim_end_matches("/interview")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let err = record_return(&app, &lee, &kai, &episode_b, returned)
        .await
        .unwrap_err();
    assert_eq!((err.0, err.1.contains("already")), (400, true), "{err:?}");
    assert_eq!(
        attempt(
            &app,
            &robin,
            &b,
            ("2026-02-30", &time),
            "phone",
            "no_response"
        )
        .await
        .0,
        400
    );
    // Housing in the case may not record; someone outside it finds nothing.
    let dana = app.sign_in(DANA).await;
    assert_eq!(
        attempt(&app, &dana, &b, (&date, &time), "phone", "no_response")
            .await
            .0,
        403
    );
    let tom = app.sign_in(TOM).await;
    assert_eq!(
        attempt(&app, &tom, &b, (&date, &time), "phone", "no_response")
            .await
            .0,
        404
    );
    assert_eq!(
        outcome(&app, &tom, &b, "completed", (&date, &time), &[])
            .await
            .0,
        404
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "nothing written by refused requests"
    );

    // Declined by the child: the carers' chance to contribute is recorded.
    let (status, why) = outcome(&app, &robin, &b, "declined", (&date, &time), &[]).await;
    assert_eq!((status, why.contains("carers")), (400, true), "{why}");
    let (status, why) = outcome(
        &app,
        &robin,
        &b,
        "declined",
        (&date, &time),
        &[("carers_offered", "yes")],
    )
    .await;
    assert_eq!((status, why.contains("contributed")), (400, true), "{why}");
    assert_eq!(snapshot(&app).await, before);
    assert_eq!(
        outcome(
            &app,
            &robin,
            &b,
            "declined",
            (&date, &time),
            &[
                ("carers_offered", "yes"),
                (
                    "carers_contribution",
                    "Carer thinks an older friend collects him"
                )
            ]
        )
        .await
        .0,
        303
    );
    let (_, body) = page(&app, &sam, &b).await;
    assert!(
        body.contains("Declined by the child")
            && body.contains("Carer thinks an older friend collects him"),
        "{body}"
    );

    // Not completed: a reason is needed.
    let (status, why) = outcome(&app, &sam, &c, "not_completed", (&date, &time), &[]).await;
    assert_eq!((status, why.contains("reason")), (400, true), "{why}");
    assert_eq!(
        outcome(
            &app,
            &sam,
            &c,
            "not_completed",
            (&date, &time),
            &[("not_completed_reason", "Family moved out of the area")]
        )
        .await
        .0,
        303
    );
    let (_, body) = page(&app, &sam, &c).await;
    assert!(body.contains("Family moved out of the area"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "missing.rhi_attempt_recorded"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "missing.rhi_outcome_recorded"
        )
        .await,
        3
    );
}

fn fast(s: &mut confer::config::Settings) {
    s.meetings.scheduler_interval_seconds = 1;
}

fn about<'a>(mail: &'a [Received], subject: &str) -> Vec<&'a Received> {
    mail.iter().filter(|m| m.data.contains(subject)).collect()
}

#[tokio::test]
async fn at_risk_and_overdue_reminders_go_once_each_even_across_a_restart() {
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .reuse(dir.path(), &url)
        .start()
        .await;
    let (kai, _, returned, lee, sam) = kai_on_monday(&app).await;
    let rhi = returned_episode(&app, &lee, &kai, returned).await;
    assign_guest(&app, &sam, &rhi).await;
    let mail = sink.exactly(1).await;
    assert_eq!(
        mail[0].to,
        vec![ROBIN.to_string()],
        "the interviewer is told"
    );
    assert!(mail[0].body().contains(&rhi), "{}", mail[0].body());

    // 47 hours after the return: not yet at risk. 48: at risk, to both.
    app.clock.set(returned + 47 * HOUR);
    sink.exactly(1).await;
    app.clock.set(returned + 48 * HOUR);
    let mail = sink.exactly(3).await;
    let mut to: Vec<String> = about(&mail, "due soon")
        .iter()
        .flat_map(|m| m.to.clone())
        .collect();
    to.sort();
    assert_eq!(to, vec![ROBIN.to_string(), SAM.to_string()]);

    // Restart on the same database: nothing again.
    let now = app.clock_now();
    app.stop().await.unwrap();
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .reuse(dir.path(), &url)
        .start()
        .await;
    app.clock.set(now + HOUR);
    sink.exactly(3).await;
    // Past the deadline: overdue, to both, once.
    app.clock.set(returned + 72 * HOUR + 60_000);
    let mail = sink.exactly(5).await;
    let overdue = about(&mail, "Overdue: return home interview");
    assert_eq!(overdue.len(), 2);
    app.clock.advance(5 * HOUR);
    let mail = sink.exactly(5).await;
    for m in &mail {
        for secret in ["Kai", "Brennan", "2010-11-02", "NCC-099871"] {
            assert!(
                !m.data.contains(secret),
                "a message names the child: {}",
                m.data
            );
        }
    }
}
