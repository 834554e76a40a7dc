//! Sharing findings over HTTP: each share a sharing record with its lawful
//! basis; who may share; each recipient reads (restricted entries withheld
//! unless released) and acknowledges; an unacknowledged share escalates by
//! email once, after the configured hours, to the recipient's agency's duty
//! address and the sharer's agency's managers.

use crate::harness::{ALEX, KIM, LEE, SAM, TOM, TestApp};
use crate::missing::{count, counts, page};
use crate::missing_findings::{Interviewed, findings_fields, interviewed, post, record};
use crate::smtp_sink::{Received, SmtpSink};

const HOUR: i64 = 3_600_000;

fn fast(s: &mut confer::config::Settings) {
    s.meetings.scheduler_interval_seconds = 1;
    s.missing.acknowledgement_escalation_hours = 10;
}

/// The share ids of a person, oldest first.
async fn shares_of(app: &TestApp, email: &str) -> Vec<String> {
    let db = app.db().await;
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT s.id FROM findings_shares s JOIN people p ON p.id = s.person_id WHERE p.email = $1 ORDER BY s.shared_at",
    )
    .bind(email)
    .fetch_all(db.pool())
    .await
    .unwrap();
    db.close().await;
    rows.into_iter().map(|r| r.0).collect()
}

async fn written(app: &TestApp) -> Vec<i64> {
    counts(
        app,
        &[
            "SELECT COUNT(*) FROM findings_shares WHERE $1 = $1",
            "SELECT COUNT(*) FROM sharing_records WHERE $1 = $1",
            "SELECT COUNT(*) FROM findings_shares WHERE acknowledged_at IS NOT NULL AND $1 = $1",
        ],
    )
    .await
}

#[tokio::test]
async fn findings_are_shared_read_acknowledged_and_escalated_once() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder()
        .smtp(sink.port)
        .configure(fast)
        .start()
        .await;
    let Interviewed {
        app,
        kai,
        episode,
        sam,
        lee,
        jess,
        ..
    } = interviewed(app).await;
    let share = format!("{episode}/findings/share");
    let before = written(&app).await;
    // Nothing to share before the findings are recorded.
    let (status, why) = post(&app, &jess, &share, &[("recipient", LEE)]).await;
    assert_eq!(
        (status, why.contains("Record the findings")),
        (400, true),
        "{why}"
    );
    assert_eq!(
        record(&app, &jess, &episode, &findings_fields("high"))
            .await
            .0,
        303
    );
    // The interviewer was told of the assignment, the lead of the prompt.
    let mails = sink.exactly(2).await.len();

    // Refused, writing nothing: the police may not share; an unknown address,
    // oneself, no recipient; an outsider finds nothing.
    let (status, _) = post(&app, &lee, &share, &[("recipient", KIM)]).await;
    assert_eq!(status, 403);
    for (recipients, says) in [
        (
            vec![LEE, "nobody@nowhere.example"],
            "nobody@nowhere.example",
        ),
        (vec![SAM], "yourself"),
        (vec![""], "at least one"),
        (vec![LEE, LEE], "already"),
    ] {
        let f: Vec<(&str, &str)> = recipients.iter().map(|r| ("recipient", *r)).collect();
        let (status, why) = post(&app, &sam, &share, &f).await;
        assert_eq!((status, why.contains(says)), (400, true), "{says}: {why}");
    }
    let tom = app.sign_in(TOM).await;
    assert_eq!(post(&app, &tom, &share, &[("recipient", KIM)]).await.0, 404);
    assert_eq!(
        written(&app).await,
        before,
        "nothing written by refused shares"
    );

    // The lead social worker shares with the police and health (not in the case).
    let (status, why) = post(
        &app,
        &sam,
        &share,
        &[("recipient", LEE), ("recipient", KIM)],
    )
    .await;
    assert_eq!(status, 303, "{why}");
    let records = "SELECT COUNT(*) FROM sharing_records WHERE source = 'findings' AND lawful_basis IS NOT NULL \
                   AND to_person_id IS NOT NULL AND case_id = $1";
    assert_eq!(count(&app, records, &kai).await, 2);
    let (_, body) = page(&app, &sam, &format!("{episode}/findings")).await;
    assert_eq!(body.matches("confer-share").count(), 2, "{body}");
    assert!(
        body.contains("DC Lee Harris") && body.contains("Kim Okafor") && body.contains("Not yet")
    );
    // Each recipient is told by email, with the link only.
    let mail = sink.exactly(mails + 2).await;
    let told: Vec<&Received> = mail
        .iter()
        .filter(|m| m.data.contains("findings to read"))
        .collect();
    assert_eq!(told.len(), 2);

    // Kim reads them: the restricted entry is withheld, with its reason.
    let kim = app.sign_in(KIM).await;
    let kim_share = shares_of(&app, KIM).await.remove(0);
    let lee_share = shares_of(&app, LEE).await.remove(0);
    let (status, body) = page(&app, &kim, &format!("/findings/{kim_share}")).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Mill Road takeaway") && !body.contains("Dean Marsh"),
        "{body}"
    );
    assert!(
        body.contains("Withheld") && body.contains("I have read these findings"),
        "{body}"
    );
    // Nobody else opens Kim's share; the dashboard lists it for Kim.
    assert_eq!(
        page(&app, &tom, &format!("/findings/{kim_share}")).await.0,
        404
    );
    assert_eq!(
        page(&app, &lee, &format!("/findings/{kim_share}")).await.0,
        404
    );
    assert_eq!(
        post(
            &app,
            &tom,
            &format!("/findings/{kim_share}/acknowledge"),
            &[]
        )
        .await
        .0,
        404
    );
    let (_, dash) = page(&app, &kim, "/dashboard").await;
    assert!(
        dash.contains("Findings to acknowledge") && dash.contains(&kim_share),
        "{dash}"
    );
    assert_eq!(
        post(
            &app,
            &kim,
            &format!("/findings/{kim_share}/acknowledge"),
            &[]
        )
        .await
        .0,
        303
    );
    let (status, why) = post(
        &app,
        &kim,
        &format!("/findings/{kim_share}/acknowledge"),
        &[],
    )
    .await;
    assert_eq!((status, why.contains("already")), (400, true), "{why}");
    let (_, dash) = page(&app, &kim, "/dashboard").await;
    assert!(!dash.contains(&kim_share), "{dash}");

    // Released to Tom: he reads the restricted entry.
    let (status, why) = post(
        &app,
        &jess,
        &share,
        &[("recipient", TOM), ("release_restricted", "yes")],
    )
    .await;
    assert_eq!(status, 303, "{why}");
    let tom_share = shares_of(&app, TOM).await.remove(0);
    let (_, body) = page(&app, &tom, &format!("/findings/{tom_share}")).await;
    assert!(body.contains("Dean Marsh"), "{body}");
    assert_eq!(
        post(
            &app,
            &tom,
            &format!("/findings/{tom_share}/acknowledge"),
            &[]
        )
        .await
        .0,
        303
    );
    let mails = sink.exactly(mails + 3).await.len();

    // Lee has not acknowledged: not escalated before 10 hours, then once,
    // to the police's duty address and the sharer's (Sam's) manager.
    let shared_at = app.clock_now();
    app.clock.set(shared_at + 10 * HOUR - 60_000);
    sink.exactly(mails).await;
    app.clock.set(shared_at + 10 * HOUR);
    let mail = sink.exactly(mails + 2).await;
    let escalated: Vec<&Received> = mail
        .iter()
        .filter(|m| m.data.contains("not acknowledged"))
        .collect();
    let mut to: Vec<String> = escalated.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            ALEX.to_string(),
            "mash@northshire-police.example".to_string()
        ]
    );
    assert!(escalated.iter().all(|m| m.body().contains("DC Lee Harris")));
    app.clock.advance(5 * HOUR);
    let mail = sink.exactly(mails + 2).await;
    for m in &mail {
        for secret in [
            "Kai",
            "Brennan",
            "2010-11-02",
            "NCC-099871",
            "Dean Marsh",
            "Mill Road",
        ] {
            assert!(
                !m.data.contains(secret),
                "a message names the child or the findings: {}",
                m.data
            );
        }
    }
    drop(lee_share);
}
