//! The writer's group commit runs each statement once per batch (session 5):
//! repeats of a `client_id` within one batch and from an earlier batch still
//! get the first result, each channel's numbers stay gap-free, and a batch
//! naming an unknown channel writes nothing.

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
