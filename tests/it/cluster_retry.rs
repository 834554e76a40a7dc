//! Issue 8: a node that hears of messages but cannot fetch them (its
//! database connection refuses for a moment: a failover, a full pool) tries
//! again on its own, so a client on it gets them without waiting for the
//! channel's next message. Made deterministic by having node B connect as
//! a role of its own and taking its right to read `messages` away, then
//! back: B's listening connection hears every notification throughout.
//! PostgreSQL with two real `confer` processes, as in `cluster.rs`.

use crate::cluster_nodes::{seqs, two_nodes_b_as};
use crate::harness::{SAM, TOM};
use crate::scrape::{metrics, sample};
use crate::ws_client::Ws;

#[tokio::test]
async fn a_node_that_cannot_fetch_notified_messages_tries_again_until_it_can() {
    let role = format!("confer_node_b_{}", uuid::Uuid::new_v4().simple());
    let Some((a, b, _dir)) = two_nodes_b_as(&[], None, Some(&role)).await else {
        return;
    };
    let (_, channel) = a.case_and_channel("Lily Ashworth").await;
    let sam = a.sign_in(SAM).await;
    let tom = b.sign_in(TOM).await;
    let mut sam_ws = Ws::connect(&a, &sam).await;
    let mut tom_ws = Ws::connect(&b, &tom).await;
    tom_ws.subscribe(&channel, 0).await;
    sam_ws.say(&channel, "f1", "before").await;
    assert_eq!(seqs(&mut tom_ws, 1).await, vec![1]);

    // B may no longer read messages: it hears of two more, and cannot fetch them.
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&a.database_url)
        .await
        .unwrap();
    let set = |sql: &str| sqlx::AssertSqlSafe(sql.replace("{role}", &role));
    sqlx::query(set("REVOKE SELECT ON messages FROM {role}"))
        .execute(&mut db)
        .await
        .unwrap();
    for id in ["f2", "f3"] {
        let ack = sam_ws.say(&channel, id, "while B cannot read").await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    tom_ws.quiet_for(600).await;
    assert!(
        sample(&metrics(&b).await, "confer_cluster_fetch_retries_total") >= 1.0,
        "B did not try again"
    );
    assert_eq!(sample(&metrics(&b).await, "confer_cluster_listening"), 1.0);

    // Readable again: B delivers both with no new message to prompt it.
    sqlx::query(set("GRANT SELECT ON messages TO {role}"))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(seqs(&mut tom_ws, 2).await, vec![2, 3]);
    tom_ws.quiet_for(500).await;
    sam_ws.say(&channel, "f4", "after").await;
    assert_eq!(seqs(&mut tom_ws, 1).await, vec![4]);
    tom_ws.quiet_for(300).await;
}
