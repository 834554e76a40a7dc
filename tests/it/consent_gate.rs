//! The gate: a message in a case where consent covering an agency is
//! refused or withdrawn does not reach that agency's people (over the
//! websocket, the JSON API or the pages) until an override with a lawful
//! basis and reason, approved by a manager where the partnership requires
//! it; the override releases what was held back; a case without consent
//! records behaves exactly as before.

use serde_json::{Value, json};

use crate::consent::{LILY, change, count, mothers_record, state_fields};
use crate::harness::{ALEX, KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::meetings::{error_text, form};
use crate::ws_client::Ws;

const CONFIDENTIAL: &str = "Mother disclosed that her partner has returned to the home.";

/// Post through the JSON API; the message as the author sees it.
async fn post_api(app: &TestApp, who: &Signed, ch: &str, client_id: &str, body: &str) -> Value {
    let res = who
        .post_json(
            app,
            &format!("/api/channels/{ch}/messages"),
            &json!({ "client_id": client_id, "body": body }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["message"].clone()
}

/// Every message of a channel as `who` sees it through the API.
async fn list(app: &TestApp, who: &Signed, ch: &str) -> Vec<Value> {
    let res = who
        .get(
            app,
            &format!("/api/channels/{ch}/messages?after_seq=0&limit=500"),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone()
}

/// The message with this sequence number, as `who` sees it.
async fn seen(app: &TestApp, who: &Signed, ch: &str, seq: i64) -> Value {
    list(app, who, ch)
        .await
        .into_iter()
        .find(|m| m["seq"] == seq)
        .unwrap_or_else(|| panic!("message {seq} is listed"))
}

/// The next `message` frame on a websocket, as its viewer sees it.
async fn next_message(ws: &mut Ws) -> Value {
    ws.next_of(&["message"]).await["message"].clone()
}

async fn share_anyway(
    app: &TestApp,
    who: &Signed,
    case: &str,
    record: &str,
    kind: &str,
    reason: &str,
) -> reqwest::Response {
    form(
        app,
        who,
        &format!("/cases/{case}/consent/{record}/overrides"),
        &[
            ("agency_kind", kind),
            ("lawful_basis", "public_task"),
            ("reason", reason),
        ],
    )
    .await
}

#[tokio::test]
async fn refused_consent_covering_police_holds_a_message_back_from_police_on_every_path() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let kim = app.sign_in(KIM).await;
    let mut lee_ws = Ws::connect(&app, &lee).await;
    let mut kim_ws = Ws::connect(&app, &kim).await;
    lee_ws.subscribe(&ch, 0).await;
    kim_ws.subscribe(&ch, 0).await;

    mothers_record(&app, &sam, &case, "police", "refused").await;

    // The JSON API.
    let own = post_api(&app, &sam, &ch, "api-1", CONFIDENTIAL).await;
    assert_eq!(own["body"], CONFIDENTIAL, "the author sees it all");
    assert_eq!(own["restricted"], true);
    let reason = own["restriction_reason"].as_str().unwrap();
    assert!(reason.contains("Held back from police"), "{reason}");
    let at_lee = next_message(&mut lee_ws).await;
    assert_eq!(at_lee["visible"], false);
    assert!(at_lee.get("body").is_none());
    let at_kim = next_message(&mut kim_ws).await;
    assert_eq!(at_kim["visible"], true, "health is not covered");
    assert_eq!(at_kim["body"], CONFIDENTIAL);

    // The websocket.
    let mut sam_ws = Ws::connect(&app, &sam).await;
    sam_ws.subscribe(&ch, 1).await;
    let ack = sam_ws
        .say(&ch, "ws-1", "Strategy discussion tomorrow at 10.")
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(next_message(&mut lee_ws).await["visible"], false);
    assert_eq!(
        next_message(&mut kim_ws).await["body"],
        "Strategy discussion tomorrow at 10."
    );

    // The case page's form.
    let res = form(
        &app,
        &sam,
        &format!("/cases/{case}/messages"),
        &[
            ("client_id", "page-1"),
            ("body", "Posted from the case page."),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(next_message(&mut lee_ws).await["visible"], false);
    assert_eq!(next_message(&mut kim_ws).await["visible"], true);

    // Read back later: the same.
    for m in list(&app, &lee, &ch).await {
        assert_eq!(m["visible"], false, "{m}");
    }
    let lee_page = lee
        .get(&app, &format!("/cases/{case}"))
        .await
        .text()
        .await
        .unwrap();
    for text in [
        CONFIDENTIAL,
        "Posted from the case page.",
        "Strategy discussion",
    ] {
        assert!(!lee_page.contains(text), "Lee's case page shows {text}");
    }
    assert!(lee_page.contains("Messages are held back from: Police"));
    for m in list(&app, &kim, &ch).await {
        assert_eq!(m["visible"], true, "{m}");
    }
    // A withheld record for police (in the case), none for anyone else.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM withheld_messages WHERE agency_id = $1 AND released_at IS NULL",
            &lee.agency_id,
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM withheld_messages WHERE agency_id <> $1",
            &lee.agency_id,
        )
        .await,
        0
    );

    // Police's own messages still reach police, and everyone else.
    let from_lee = post_api(&app, &lee, &ch, "lee-1", "Officers attended last night.").await;
    let seq = from_lee["seq"].as_i64().unwrap();
    assert_eq!(seen(&app, &kim, &ch, seq).await["visible"], true);
    assert_eq!(seen(&app, &sam, &ch, seq).await["visible"], true);
}

#[tokio::test]
async fn a_case_without_consent_records_behaves_exactly_as_before() {
    let app = TestApp::start().await;
    let (lily, lily_ch) = app.case_and_channel(LILY).await;
    let (_, kai_ch) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;

    // Before anything: plain messages, no gate state at all.
    let m = post_api(&app, &sam, &lily_ch, "c-1", "Hello team").await;
    assert_eq!(m["restricted"], false);
    assert!(m["restriction_reason"].is_null());
    assert_eq!(
        count(
            &app,
            "SELECT sharing_version FROM channels WHERE id = $1",
            &lily_ch
        )
        .await,
        0
    );

    // A refusal on Lily's case changes nothing on Kai's.
    mothers_record(&app, &sam, &lily, "all", "refused").await;
    let m = post_api(&app, &sam, &kai_ch, "k-1", "Kai was found safe.").await;
    assert_eq!(m["restricted"], false);
    let at_lee = seen(&app, &lee, &kai_ch, m["seq"].as_i64().unwrap()).await;
    assert_eq!(at_lee["visible"], true);
    assert_eq!(at_lee["restricted"], false);
    assert_eq!(
        count(
            &app,
            "SELECT sharing_version FROM channels WHERE id = $1",
            &kai_ch
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM withheld_messages WHERE message_id <> $1",
            ""
        )
        .await,
        0
    );
    // The earlier message on Lily's case is not touched by the later refusal.
    assert_eq!(seen(&app, &lee, &lily_ch, 1).await["body"], "Hello team");

    // Consent given holds nothing back.
    let (noah, noah_ch) = app.case_and_channel("Noah Okoye").await;
    let alex = app.sign_in(ALEX).await;
    mothers_record(&app, &alex, &noah, "all", "given").await;
    let m = post_api(&app, &alex, &noah_ch, "n-1", "Plan agreed").await;
    assert_eq!(m["restricted"], false);
}

#[tokio::test]
async fn an_override_releases_what_was_held_back_and_later_messages_flow() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let tom = app.sign_in(TOM).await;
    let record = mothers_record(&app, &sam, &case, "police,education", "refused").await;
    post_api(&app, &sam, &ch, "m-1", CONFIDENTIAL).await;
    assert_eq!(seen(&app, &lee, &ch, 1).await["visible"], false);
    assert_eq!(seen(&app, &tom, &ch, 1).await["visible"], false);
    let mut lee_ws = Ws::connect(&app, &lee).await;
    lee_ws.subscribe(&ch, 1).await;

    // Refused without a reason, or on a basis of consent: nothing written.
    let res = share_anyway(&app, &sam, &case, &record, "police", "  ").await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("Say why"));
    let res = form(
        &app,
        &sam,
        &format!("/cases/{case}/consent/{record}/overrides"),
        &[
            ("agency_kind", "police"),
            ("lawful_basis", "consent"),
            ("reason", "Risk"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = share_anyway(&app, &sam, &case, &record, "health", "Risk").await;
    assert_eq!(res.status(), 400, "health is not covered by this record");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM sharing_overrides WHERE case_id = $1",
            &case
        )
        .await,
        0
    );

    // Police only: a joint section 47 enquiry.
    let res = share_anyway(
        &app,
        &sam,
        &case,
        &record,
        "police",
        "Joint section 47 enquiry: risk of significant harm",
    )
    .await;
    assert_eq!(res.status(), 303);
    let updated = lee_ws.next_of(&["message_updated"]).await;
    assert_eq!(updated["seq"], 1);
    assert_eq!(updated["message"]["visible"], true);
    assert_eq!(updated["message"]["body"], CONFIDENTIAL);
    assert_eq!(seen(&app, &lee, &ch, 1).await["body"], CONFIDENTIAL);
    assert_eq!(
        seen(&app, &tom, &ch, 1).await["visible"],
        false,
        "education is still held back"
    );
    // The reason now names only what is still held back.
    let reason = seen(&app, &sam, &ch, 1).await["restriction_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("Held back from education"), "{reason}");
    assert!(!reason.contains("police"), "{reason}");
    let db = app.db().await;
    let (released_at, override_id): (Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT released_at, override_id FROM withheld_messages WHERE agency_id = $1",
    )
    .bind(&lee.agency_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(released_at.is_some());
    let (approved_id, status, decided_by): (String, String, Option<String>) = sqlx::query_as(
        "SELECT id, status, decided_by FROM sharing_overrides WHERE consent_record_id = $1",
    )
    .bind(&record)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(override_id.as_deref(), Some(approved_id.as_str()));
    assert_eq!(status, "approved", "no manager's approval configured");
    assert_eq!(decided_by.as_deref(), Some(sam.person_id.as_str()));
    let actions: Vec<(String,)> = sqlx::query_as(
        "SELECT action FROM audit_events WHERE action LIKE 'consent.override%' OR action = 'consent.withheld_released' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["consent.override_recorded", "consent.withheld_released"]
    );
    db.close().await;

    // Later messages reach police at once; education still waits.
    post_api(&app, &sam, &ch, "m-2", "Visit planned for Thursday.").await;
    assert_eq!(
        lee_ws.next_of(&["message"]).await["message"]["visible"],
        true
    );
    assert_eq!(seen(&app, &tom, &ch, 2).await["visible"], false);

    // The rest of the record: every agency it covers.
    let res = share_anyway(
        &app,
        &sam,
        &case,
        &record,
        "all",
        "The school must know to keep her safe at pick-up",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(seen(&app, &tom, &ch, 1).await["body"], CONFIDENTIAL);
    assert_eq!(seen(&app, &tom, &ch, 2).await["visible"], true);
    let m = post_api(&app, &sam, &ch, "m-3", "All agencies now.").await;
    assert_eq!(m["restricted"], false, "nothing is held back any more");
    let page = sam
        .get(&app, &format!("/cases/{case}/consent/{record}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Joint section 47 enquiry"));
    assert!(page.contains("Public task (safeguarding)"));
    assert!(page.contains("Article 6(1)(e)"));
}

#[tokio::test]
async fn with_manager_approval_configured_the_override_waits_for_alex_and_sam_cannot_approve() {
    let app = TestApp::builder()
        .configure(|s| s.sharing.override_needs_manager_approval = true)
        .start()
        .await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let alex = app.sign_in(ALEX).await;
    let record = mothers_record(&app, &sam, &case, "police", "refused").await;
    post_api(&app, &sam, &ch, "m-1", CONFIDENTIAL).await;

    let res = share_anyway(&app, &sam, &case, &record, "police", "Joint enquiry").await;
    assert_eq!(res.status(), 303);
    let db = app.db().await;
    let (override_id, status): (String, String) =
        sqlx::query_as("SELECT id, status FROM sharing_overrides WHERE consent_record_id = $1")
            .bind(&record)
            .fetch_one(db.pool())
            .await
            .unwrap();
    db.close().await;
    assert_eq!(status, "requested");
    assert_eq!(
        seen(&app, &lee, &ch, 1).await["visible"],
        false,
        "still held back"
    );
    post_api(&app, &sam, &ch, "m-2", "Still waiting.").await;
    assert_eq!(seen(&app, &lee, &ch, 2).await["visible"], false);
    let page = sam
        .get(&app, &format!("/cases/{case}/consent/{record}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Waiting for a manager"));
    assert!(
        !page.contains(
            "overrides/{override_id}/decide"
                .replace("{override_id}", &override_id)
                .as_str()
        ),
        "Sam is not offered the approval"
    );
    // The same again while it waits is refused.
    let res = share_anyway(&app, &sam, &case, &record, "police", "Joint enquiry").await;
    assert_eq!(res.status(), 400);

    let decide = format!("/cases/{case}/consent/{record}/overrides/{override_id}/decide");
    for who in [&sam, &lee] {
        let res = form(&app, who, &decide, &[("decision", "approve")]).await;
        assert_eq!(
            res.status(),
            403,
            "only a manager of the case-holding agency"
        );
    }
    assert_eq!(seen(&app, &lee, &ch, 1).await["visible"], false);

    let alex_page = alex
        .get(&app, &format!("/cases/{case}/consent/{record}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(alex_page.contains(&decide), "Alex is offered the approval");
    let res = form(&app, &alex, &decide, &[("decision", "approve")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(seen(&app, &lee, &ch, 1).await["body"], CONFIDENTIAL);
    assert_eq!(seen(&app, &lee, &ch, 2).await["body"], "Still waiting.");
    post_api(&app, &sam, &ch, "m-3", "Now shared.").await;
    assert_eq!(seen(&app, &lee, &ch, 3).await["visible"], true);
    let res = form(&app, &alex, &decide, &[("decision", "refuse")]).await;
    assert_eq!(res.status(), 400, "already decided");
    let db = app.db().await;
    let (status, decided_by): (String, String) =
        sqlx::query_as("SELECT status, decided_by FROM sharing_overrides WHERE id = $1")
            .bind(&override_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), decided_by.as_str()),
        ("approved", alex.person_id.as_str())
    );
    let actions: Vec<(String,)> = sqlx::query_as(
        "SELECT action FROM audit_events WHERE action LIKE 'consent.override%' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["consent.override_requested", "consent.override_approved"]
    );
    db.close().await;
}

#[tokio::test]
async fn withdrawal_stops_automatic_sharing_at_once_in_every_channel_of_the_case() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let alex = app.sign_in(ALEX).await;
    let record = mothers_record(&app, &sam, &case, "all", "given").await;
    post_api(&app, &sam, &ch, "m-1", "Shared with consent.").await;
    assert_eq!(
        seen(&app, &lee, &ch, 1).await["body"],
        "Shared with consent."
    );

    change(&app, &sam, &case, &record, &state_fields("withdrawn"))
        .await
        .expect("withdrawn");
    post_api(&app, &sam, &ch, "m-2", CONFIDENTIAL).await;
    assert_eq!(seen(&app, &lee, &ch, 2).await["visible"], false);
    assert_eq!(
        seen(&app, &alex, &ch, 2).await["body"],
        CONFIDENTIAL,
        "the author's own agency is never held back"
    );
    assert_eq!(
        seen(&app, &lee, &ch, 1).await["body"],
        "Shared with consent.",
        "what was shared before stays shared"
    );

    // A channel opened after the withdrawal is held back too.
    let db = app.db().await;
    let mut tx = db.write().await.unwrap();
    let meeting_ch = confer::store::channels::create_in(
        &mut tx,
        &case,
        "meeting",
        "Strategy discussion",
        app.clock_now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    db.close().await;
    post_api(&app, &sam, &meeting_ch, "mm-1", CONFIDENTIAL).await;
    assert_eq!(seen(&app, &lee, &meeting_ch, 1).await["visible"], false);

    // Consent given again releases what was held back under it.
    change(&app, &sam, &case, &record, &state_fields("given"))
        .await
        .expect("given again");
    assert_eq!(seen(&app, &lee, &ch, 2).await["body"], CONFIDENTIAL);
    assert_eq!(seen(&app, &lee, &meeting_ch, 1).await["body"], CONFIDENTIAL);
    let m = post_api(&app, &sam, &ch, "m-3", "Back to normal.").await;
    assert_eq!(m["restricted"], false);
}
