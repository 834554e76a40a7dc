//! The writer's group commit runs each statement once per batch (session 5):
//! repeats of a `client_id` within one batch and from an earlier batch still
//! get the first result, each channel's numbers stay gap-free, and a batch
//! naming an unknown channel writes nothing. On SQLite a batch also
//! carries the delivery log's queued deliveries into its transaction.

use confer::store::StoreError;
use confer::store::messages::{Post, insert_batch};
use confer::store::withholding::Gates;

use crate::harness::{SAM, TOM, TestApp};

fn post(channel: &str, author: &str, client_id: &str, body: &str) -> Post {
    Post {
        channel_id: channel.to_string(),
        author_id: author.to_string(),
        client_id: client_id.to_string(),
        body: body.to_string(),
        restricted: None,
    }
}

#[tokio::test]
async fn one_batch_numbers_each_channel_gap_free_and_answers_repeats_with_the_first_result() {
    let app = TestApp::start().await;
    let (_, one) = app.case_and_channel("Lily Ashworth").await;
    let (_, two) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await.person_id;
    let tom = app.sign_in(TOM).await.person_id;
    let db = app.db().await;
    let gates = Gates::default();

    let first = insert_batch(
        &db,
        &gates,
        &[
            post(&one, &sam, "a", "first in one"),
            post(&two, &sam, "a", "first in two"),
            post(&one, &sam, "a", "a repeat in the same batch"),
            post(&one, &tom, "a", "another author's own client id"),
            post(&one, &sam, "b", "second in one"),
        ],
        app.clock_now(),
    )
    .await
    .unwrap();
    let seqs: Vec<(i64, bool)> = first.iter().map(|p| (p.message.seq, p.duplicate)).collect();
    assert_eq!(
        seqs,
        vec![(1, false), (1, false), (1, true), (2, false), (3, false)]
    );
    assert_eq!(first[2].message.id, first[0].message.id);
    assert_eq!(first[2].message.body, "first in one");
    assert_eq!(first[0].message.author_name, "Sam Patel");
    assert_eq!(first[3].message.author_id, tom);

    // A repeat of an earlier batch's post, beside a new one.
    let second = insert_batch(
        &db,
        &gates,
        &[
            post(&one, &sam, "b", "sent again after a reconnect"),
            post(&one, &sam, "c", "third"),
        ],
        app.clock_now(),
    )
    .await
    .unwrap();
    assert!(second[0].duplicate);
    assert_eq!(second[0].message.id, first[4].message.id);
    assert_eq!(second[0].message.body, "second in one");
    assert_eq!((second[1].message.seq, second[1].duplicate), (4, false));

    // An unknown channel sinks its batch: nothing is written, no number used.
    let bad = insert_batch(
        &db,
        &gates,
        &[
            post(&one, &sam, "d", "lost with its batch"),
            post("no-such-channel", &sam, "d", "nowhere"),
        ],
        app.clock_now(),
    )
    .await;
    assert!(matches!(bad, Err(StoreError::NotFound)), "{bad:?}");
    let after = insert_batch(
        &db,
        &gates,
        &[post(&one, &sam, "d", "fourth")],
        app.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!((after[0].message.seq, after[0].duplicate), (5, false));
    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, body FROM messages WHERE channel_id = $1 ORDER BY seq")
            .bind(&one)
            .fetch_all(db.pool())
            .await
            .unwrap();
    // Sealed at rest: open them to compare.
    let opened: Vec<String> = stored
        .iter()
        .map(|(_, b)| db.open_sealed("messages.body", b.clone()).unwrap())
        .collect();
    let bodies: Vec<&str> = opened.iter().map(String::as_str).collect();
    assert_eq!(
        bodies,
        vec![
            "first in one",
            "another author's own client id",
            "second in one",
            "third",
            "fourth"
        ]
    );
}

/// The id and agency of a person, as their session sees them.
async fn viewer(db: &confer::store::Db, person_id: &str) -> confer::domain::channels::Viewer {
    let (agency_id,): (String,) = sqlx::query_as("SELECT agency_id FROM people WHERE id = $1")
        .bind(person_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    confer::domain::channels::Viewer {
        person_id: person_id.to_string(),
        agency_id,
    }
}

async fn records_for(db: &confer::store::Db, message_id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT to_person_id, what FROM sharing_records WHERE source = 'message' AND item_ref = $1",
    )
    .bind(message_id)
    .fetch_all(db.pool())
    .await
    .unwrap()
}

/// On SQLite the writer carries queued deliveries into its batch's own
/// transaction (session 6): they are written with the batch, and a batch
/// that fails writes none of them.
#[tokio::test]
async fn a_batch_writes_the_deliveries_it_carries_and_a_failed_batch_writes_none() {
    use confer::store::messages::insert_batch_carrying;
    use confer::store::receipts::{Delivery, delivered_to};
    use confer::store::sharing::Carried;

    let app = TestApp::start().await;
    let (_, one) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await.person_id;
    let lee = app.sign_in(crate::harness::LEE).await.person_id;
    let db = app.db().await;
    let gates = Gates::default();
    let sent = insert_batch(
        &db,
        &gates,
        &[post(&one, &sam, "x", "for the police")],
        1_000,
    )
    .await
    .unwrap();
    let m = &sent[0].message;
    let mut carried = Carried::new(vec![Delivery::of(m, &viewer(&db, &lee).await, 2_000)]);
    carried.derive_records(&db, 2_000).await.unwrap();

    let bad = insert_batch_carrying(
        &db,
        &gates,
        &[post("no-such-channel", &sam, "y", "nowhere")],
        3_000,
        std::slice::from_ref(&carried),
    )
    .await;
    assert!(matches!(bad, Err(StoreError::NotFound)), "{bad:?}");
    assert!(delivered_to(&db, &m.id).await.unwrap().is_empty());
    assert!(records_for(&db, &m.id).await.is_empty());

    insert_batch_carrying(
        &db,
        &gates,
        &[post(&one, &sam, "y", "next")],
        3_000,
        &[carried],
    )
    .await
    .unwrap()
    .1
    .durable()
    .await
    .unwrap();
    assert_eq!(
        delivered_to(&db, &m.id).await.unwrap(),
        vec![(lee.clone(), 2_000)]
    );
    assert_eq!(
        records_for(&db, &m.id).await,
        vec![(lee, "message 1 in Case discussion".to_string())]
    );
}

/// A flush of the delivery log answers only once batches the writer took
/// are in the database: it waits for the writer's transaction, and writes
/// those a failed transaction gave back.
#[tokio::test]
async fn a_flush_waits_for_carried_deliveries_and_writes_those_given_back() {
    use confer::realtime::deliveries::DeliveryLog;
    use confer::store::receipts::{Delivery, delivered_to};
    use confer::store::sharing::Carried;
    use std::sync::Arc;
    use std::time::Duration;

    let app = TestApp::start().await;
    let (_, one) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await.person_id;
    let tom = app.sign_in(TOM).await.person_id;
    let db = app.db().await;
    let sent = insert_batch(
        &db,
        &Gates::default(),
        &[post(&one, &sam, "x", "hello")],
        1_000,
    )
    .await
    .unwrap();
    let m = sent[0].message.clone();
    let log = DeliveryLog::start(db.clone(), Arc::new(confer::domain::clock::SystemClock));

    // The writer is in a transaction carrying batches; one of them (Tom's
    // delivery) is given back, as a failed transaction does.
    let (turn, _) = log.carry().await;
    let mut batch = Carried::new(vec![Delivery::of(&m, &viewer(&db, &tom).await, 2_000)]);
    batch.derive_records(&db, 2_000).await.unwrap();
    log.give_back(vec![batch]);
    assert_eq!(log.queued(), 1);
    // No message batch carries it again (were it what failed, it would sink
    // every batch that did): the log writes it itself.
    let (also, taken) = log.carry().await;
    assert!(taken.is_empty());
    drop(also);
    let flushing = tokio::spawn({
        let log = log.clone();
        async move { log.flush().await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !flushing.is_finished(),
        "the flush waits for the writer's transaction"
    );
    drop(turn);
    tokio::time::timeout(Duration::from_secs(10), flushing)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivered_to(&db, &m.id).await.unwrap(), vec![(tom, 2_000)]);
    assert_eq!(log.queued(), 0);
}
