//! A consent change and the message writer at the same time (PostgreSQL's
//! known deadlock): a change locks every channel row of the case, a batch of
//! sends locks the rows of the channels it posts to. Both take them in
//! channel-id order, so neither waits for the other in a cycle, and no send
//! and no change fails.

use serde_json::json;

use crate::consent::{LILY, change, mothers_record, state_fields};
use crate::harness::{KIM, SAM, TOM, TestApp};

#[tokio::test]
async fn consent_changes_while_several_channels_are_posted_to_all_succeed() {
    let app = TestApp::start().await;
    let (case, first) = app.case_and_channel(LILY).await;
    let db = app.db().await;
    let mut channels = vec![first];
    for i in 0..5 {
        let mut tx = db.write().await.unwrap();
        let ch = confer::store::channels::create_in(
            &mut tx,
            &case,
            "meeting",
            &format!("Strategy discussion {i}"),
            app.clock_now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        channels.push(ch);
    }
    db.close().await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let kim = app.sign_in(KIM).await;
    let record = mothers_record(&app, &sam, &case, "all", "given").await;

    let changes = async {
        let mut failed = Vec::new();
        for round in 0..12 {
            let state = if round % 2 == 0 { "withdrawn" } else { "given" };
            if let Err(e) = change(&app, &sam, &case, &record, &state_fields(state)).await {
                failed.push(e);
            }
        }
        failed
    };
    // Each sender walks the channels in a different order, so one writer
    // batch holds several channels in every order of arrival.
    let senders = [&sam, &tom, &kim].into_iter().enumerate().map(|(n, who)| {
        let app = &app;
        let channels = &channels;
        async move {
            let posts = (0..40).map(|i| {
                let ch = &channels[(i * (n + 1) + n) % channels.len()];
                let body = json!({ "client_id": format!("{n}-{i}"), "body": format!("Note {i}.") });
                async move {
                    let res = who
                        .post_json(app, &format!("/api/channels/{ch}/messages"), &body)
                        .await;
                    (res.status().as_u16(), res.text().await.unwrap_or_default())
                }
            });
            futures_util::future::join_all(posts).await
        }
    });
    let (failed_changes, sent) = tokio::join!(changes, futures_util::future::join_all(senders));
    assert!(
        failed_changes.is_empty(),
        "consent changes failed: {failed_changes:?}"
    );
    let failed: Vec<_> = sent.iter().flatten().filter(|(s, _)| *s != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of 120 sends failed: {failed:?}",
        failed.len()
    );

    // Every message is stored once, each channel numbered without gaps.
    let db = app.db().await;
    for ch in &channels {
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM messages WHERE channel_id = $1 ORDER BY seq")
                .bind(ch)
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    }
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages m JOIN channels c ON c.id = m.channel_id WHERE c.case_id = $1",
    )
    .bind(&case)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(total, 120);
    db.close().await;
}
