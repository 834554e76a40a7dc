//! The JSON API: the delivery log.

use super::*;

async fn delivered(app: &TestApp, message_id: &str) -> Vec<String> {
    let db = app.db().await;
    let rows = confer::store::receipts::delivered_to(&db, message_id)
        .await
        .unwrap();
    db.close().await;
    rows.into_iter().map(|(p, _)| p).collect()
}

/// Waits (up to ~2 s: the log is written in batches) until `person` has
/// been recorded as sent `message_id`.
async fn wait_for_delivery(app: &TestApp, message_id: &str, person: &str) {
    for _ in 0..40 {
        if delivered(app, message_id).await.iter().any(|p| p == person) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery of {message_id} to {person} recorded");
}

#[tokio::test]
async fn listing_messages_records_their_delivery_but_not_of_placeholders() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let open = post_ok(&app, &sam, &ch, "s1", "Please all read the plan.").await;
    let r = send(
        &app,
        &lee,
        Method::POST,
        &messages(&ch),
        &json!({
            "client_id": "lee-1",
            "body": "Police-only update.",
            "restricted_to": {"agencies": [lee.agency_id], "reason": "police-sensitive"},
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    let restricted = r.json()["message"].clone();
    let later = post_ok(&app, &sam, &ch, "s2", "Plan updated.").await;
    let id = |m: &Value| m["id"].as_str().unwrap().to_string();

    assert!(
        delivered(&app, &id(&open)).await.is_empty(),
        "posting is not delivery"
    );

    let seen = list(&app, &tom, &ch).await;
    assert_eq!(seqs(&seen), [1, 2, 3]);
    wait_for_delivery(&app, &id(&open), &tom.person_id).await;
    wait_for_delivery(&app, &id(&later), &tom.person_id).await;
    // Written in the same batch as the others, if at all: Tom was sent only
    // a placeholder, never the message.
    assert!(
        !delivered(&app, &id(&restricted))
            .await
            .contains(&tom.person_id),
        "a placeholder recorded as delivered"
    );

    // Lee, in the audience, is recorded as sent it.
    list(&app, &lee, &ch).await;
    wait_for_delivery(&app, &id(&restricted), &lee.person_id).await;
    assert_eq!(
        delivered(&app, &id(&restricted)).await,
        std::slice::from_ref(&lee.person_id)
    );

    // Listing again keeps the first delivery only.
    let first: Vec<_> = {
        let db = app.db().await;
        confer::store::receipts::delivered_to(&db, &id(&open))
            .await
            .unwrap()
    };
    app.clock.advance(60_000);
    list(&app, &tom, &ch).await;
    list(&app, &sam, &ch).await;
    wait_for_delivery(&app, &id(&open), &sam.person_id).await;
    let db = app.db().await;
    let again = confer::store::receipts::delivered_to(&db, &id(&open))
        .await
        .unwrap();
    let tom_rows: Vec<_> = again.iter().filter(|(p, _)| *p == tom.person_id).collect();
    assert_eq!(tom_rows.len(), 1);
    assert_eq!(
        tom_rows[0].1,
        first.iter().find(|(p, _)| *p == tom.person_id).unwrap().1
    );
}
