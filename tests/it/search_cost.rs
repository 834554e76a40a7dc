//! What the full-text index costs the message writer: the same batches of
//! messages stored with the index maintained in every transaction (SQLite's
//! FTS5 table, PostgreSQL's GIN index) and without it (on SQLite, indexed
//! once after the last batch, as the writer does under load; on PostgreSQL
//! the index dropped for the run), interleaved, three runs each; the best
//! and the median are printed.
//! Run with `--ignored --nocapture` (and `CONFER_TEST_DATABASE_URL` for
//! PostgreSQL).

use std::time::{Duration, Instant};

use crate::harness::{SAM, TestApp};

const MESSAGES: usize = 2_000;
/// Posts per transaction: the websocket writer's group commit gathers
/// whatever is waiting; 50 is a busy moment.
const BATCH: usize = 50;

const WORDS: &[&str] = &[
    "seen",
    "near",
    "the",
    "garages",
    "with",
    "older",
    "man",
    "blue",
    "car",
    "school",
    "attendance",
    "mother",
    "reports",
    "returned",
    "late",
    "phone",
    "new",
    "trainers",
    "cash",
    "police",
    "visit",
    "strategy",
    "discussion",
    "tomorrow",
    "health",
    "assessment",
    "missing",
    "overnight",
    "friend",
    "address",
    "station",
    "county",
    "lines",
    "concern",
    "carer",
    "agreed",
    "plan",
    "review",
];

/// A message of about 30 words, different each time.
fn body(n: usize) -> String {
    (0..30)
        .map(|i| WORDS[(n * 7 + i * 13 + i * i) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn summary(runs: &mut [Duration]) -> String {
    runs.sort();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / MESSAGES as f64;
    format!(
        "best {:?} ({:.0} µs/message), median {:?} ({:.0} µs/message)",
        runs[0],
        per(runs[0]),
        runs[runs.len() / 2],
        per(runs[runs.len() / 2])
    )
}

#[tokio::test]
#[ignore]
async fn measure_the_cost_of_the_search_index_on_message_insert() {
    use confer::config::Engine;
    use confer::store::messages::{Post, insert_sealed_batch_carrying, seal};

    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let db = app.db().await;
    let gates = confer::store::withholding::Gates::default();
    // PostgreSQL: with and without its GIN index. SQLite: the index brought
    // up to date in every batch's transaction, or once after all of them
    // (as the writer does under load, `store::search_index`).
    let (drop_sql, create_sql) = (
        "DROP INDEX messages_search_terms",
        "CREATE INDEX messages_search_terms ON messages USING GIN (to_tsvector('simple', search_terms))",
    );
    let pg = db.engine() == Engine::Postgres;
    let mut n = 0;
    let mut run = async |every_batch: bool| -> Duration {
        if pg && !every_batch {
            sqlx::query(drop_sql).execute(db.pool()).await.unwrap();
        }
        let posts: Vec<Post> = (0..MESSAGES)
            .map(|i| Post {
                channel_id: ch.clone(),
                author_id: sam.person_id.clone(),
                client_id: format!("m{n}-{i}"),
                body: body(n * MESSAGES + i),
                restricted: None,
            })
            .collect();
        n += 1;
        let started = Instant::now();
        for chunk in posts.chunks(BATCH) {
            let sealed: Vec<_> = chunk.iter().map(|p| seal(&db, p).unwrap()).collect();
            let (_, pending) = insert_sealed_batch_carrying(
                &db,
                &gates,
                chunk,
                &sealed,
                app.clock_now(),
                &[],
                every_batch,
            )
            .await
            .unwrap();
            pending.durable().await.unwrap();
        }
        confer::store::search_index::catch_up(&db).await.unwrap();
        let took = started.elapsed();
        if pg && !every_batch {
            sqlx::query(create_sql).execute(db.pool()).await.unwrap();
        }
        took
    };
    // A warm-up run of each, not counted.
    run(true).await;
    run(false).await;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        with.push(run(true).await);
        without.push(run(false).await);
    }
    println!(
        "{:?}: {MESSAGES} messages of ~30 words in batches of {BATCH}",
        db.engine()
    );
    println!("  index kept in every batch: {}", summary(&mut with));
    let other = if pg {
        "without the search index: "
    } else {
        "indexed once, at the end: "
    };
    println!("  {other}{}", summary(&mut without));
}
