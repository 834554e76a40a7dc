//! The hub's rules for a full queue.
use super::*;

fn message(seq: i64) -> Outbound {
    Outbound::Message(Arc::new(StoredMessage {
        id: format!("m{seq}"),
        channel_id: "c1".into(),
        seq,
        author_id: "ann".into(),
        author_name: "Ann".into(),
        author_agency_id: "csc".into(),
        author_agency_name: "Children's Social Care".into(),
        client_id: format!("k{seq}"),
        body: "hello".into(),
        created_at: 1_000,
        edited_at: None,
        redacted_at: None,
        redacted_by_name: None,
        restricted_to: None,
        restriction_reason: None,
        frame_for_others: OnceLock::new(),
    }))
}

/// A hub with one connection subscribed to `c1` that takes nothing
/// from its queue.
fn one_idle_connection() -> (Hub, Registration) {
    let hub = Hub::default();
    let who = Someone {
        id: "tom".into(),
        name: "Tom".into(),
        agency: "Police".into(),
    };
    let reg = hub.register(who, "h".into());
    hub.subscribe(reg.id, "c1", "case1");
    (hub, reg)
}

fn controls(reg: &mut Registration) -> Vec<Control> {
    std::iter::from_fn(|| reg.control.try_recv().ok()).collect()
}

#[test]
fn a_burst_beyond_the_queue_is_left_for_the_connection_to_fetch_not_a_disconnection() {
    let (hub, mut reg) = one_idle_connection();
    for seq in 1..=300 {
        hub.publish_local("c1", message(seq), None);
    }
    assert_eq!(controls(&mut reg), vec![Control::CatchUp], "asked once");
    assert!(!reg.kicked.is_cancelled());
    assert_eq!(hub.stats.deferred.get(), 300 - QUEUE as u64 + 1);
    assert_eq!(hub.stats.too_slow.get(), 0);
    // The connection takes the catch-up (clearing the flag); the next
    // overflow asks again.
    reg.flags.behind_since.store(0, Ordering::Relaxed);
    hub.publish_local("c1", message(301), None);
    assert_eq!(controls(&mut reg), vec![Control::CatchUp]);
}

#[test]
fn a_queue_left_full_past_the_grace_is_too_slow_unless_its_connection_waits_for_the_database() {
    let (hub, mut reg) = one_idle_connection();
    for seq in 1..=QUEUE as i64 + 1 {
        hub.publish_local("c1", message(seq), None);
    }
    assert_eq!(controls(&mut reg), vec![Control::CatchUp]);
    let long_ago = (crate::metrics::wall_ms() as u64).saturating_sub(GRACE_MS + 1_000);
    reg.flags.behind_since.store(long_ago, Ordering::Relaxed);
    {
        // Waiting for the database: the server is slow, not the client.
        let flags = reg.flags.clone();
        let _waiting = flags.waiting();
        hub.publish_local("c1", message(QUEUE as i64 + 2), None);
        assert!(controls(&mut reg).is_empty());
        assert!(!reg.kicked.is_cancelled());
    }
    hub.publish_local("c1", message(QUEUE as i64 + 3), None);
    assert_eq!(
        controls(&mut reg),
        vec![Control::Close {
            code: close::TOO_SLOW,
            reason: "too slow: reconnect and resume from your last sequence number",
        }]
    );
    assert!(reg.kicked.is_cancelled());
    assert_eq!(hub.stats.too_slow.get(), 1);
    // Given up on: offered nothing more.
    assert!(!hub.has_subscribers("c1"));
}

#[test]
fn a_receipt_that_finds_the_queue_full_cannot_be_fetched_again_so_the_client_is_too_slow() {
    let (hub, mut reg) = one_idle_connection();
    // Its own presence took one place in the queue.
    for seq in 1..QUEUE as i64 {
        hub.publish_local("c1", message(seq), None);
    }
    assert!(controls(&mut reg).is_empty());
    let receipt = Outbound::Receipt {
        channel: "c1".into(),
        who: Someone {
            id: "sam".into(),
            name: "Sam".into(),
            agency: "CSC".into(),
        },
        seq: 1,
        at: 1_000,
    };
    hub.publish_local("c1", receipt, None);
    assert!(matches!(
        controls(&mut reg).as_slice(),
        [Control::Close {
            code: close::TOO_SLOW,
            ..
        }]
    ));
    assert!(reg.kicked.is_cancelled());
}
