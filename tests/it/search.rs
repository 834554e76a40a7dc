//! Search across a person's cases (`/search`, `GET /api/search`), on
//! whichever engine the suite runs on: members find what they could read by
//! opening it, linked to the record; a member of another case, an agency
//! held back by consent, and anyone a message is restricted away from find
//! nothing; ended and expired memberships find nothing; edits, removals and
//! bad input; the audit keeps who searched, never the words.
//!
//! Demo partnership (see `server/src/seed.rs`): on Lily Ashworth's case are
//! Sam (children's social care, the lead), Alex (his manager), Lee (police),
//! Kim (health) and Tom (school). Dana (housing) is on Kai's case only; Ria
//! (auditor) is on no case.

use serde_json::{Value, json};

use crate::consent::{LILY, mothers_record};
use crate::harness::{ALEX, DANA, KIM, LEE, RIA, SAM, Signed, TestApp};

const SIGHTING: &str =
    "Lily was seen near the Mill Lane garages with an older man in a blue Vauxhall Corsa.";
const HOUR: i64 = 3_600_000;

/// Post through the JSON API; the sequence number.
async fn post(app: &TestApp, who: &Signed, ch: &str, client_id: &str, body: Value) -> i64 {
    let mut body = body;
    body["client_id"] = json!(client_id);
    let res = who
        .post_json(app, &format!("/api/channels/{ch}/messages"), &body)
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["seq"].as_i64().unwrap()
}

async fn say(app: &TestApp, who: &Signed, ch: &str, client_id: &str, text: &str) -> i64 {
    post(app, who, ch, client_id, json!({ "body": text })).await
}

/// The API's answer to a search: status and body.
pub async fn api(app: &TestApp, who: &Signed, q: &str) -> (u16, Value) {
    let res = who
        .client
        .get(app.url("/api/search"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The hits `who` gets through the API.
pub async fn found(app: &TestApp, who: &Signed, q: &str) -> Vec<Value> {
    let (status, body) = api(app, who, q).await;
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

/// The search page as `who` sees it.
async fn page(app: &TestApp, who: &Signed, q: &str) -> (u16, String) {
    let res = who
        .client
        .get(app.url("/search"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn members_find_messages_linked_to_the_record_and_outsiders_find_nothing() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    say(
        &app,
        &sam,
        &ch,
        "s-0",
        "Planning meeting moved to Thursday.",
    )
    .await;
    let seq = say(&app, &sam, &ch, "s-1", SIGHTING).await;

    // A member of the case finds it, through the API and the page, with
    // the words stemmed the same way on both engines ("corsas", "garage").
    for q in ["vauxhall corsa", "Corsas", "mill lane garage"] {
        let hits = found(&app, &kim, q).await;
        assert_eq!(hits.len(), 1, "{q}: {hits:?}");
        let hit = &hits[0];
        assert_eq!(hit["case_id"], case.as_str());
        assert_eq!(hit["channel_id"], ch.as_str());
        assert_eq!(hit["seq"], seq);
        assert_eq!(hit["link"], format!("/cases/{case}#m-{seq}"));
        assert_eq!(hit["author"]["name"], "Sam Patel");
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(snippet.contains("Vauxhall Corsa"), "{snippet}");
    }
    let (status, html) = page(&app, &kim, "vauxhall").await;
    assert_eq!(status, 200);
    assert!(html.contains("<mark>Vauxhall</mark>"), "{html}");
    assert!(html.contains(&format!("href=\"/cases/{case}#m-{seq}\"")));
    assert!(html.contains(LILY));
    // The link lands on the message.
    let case_page = kim.get(&app, &format!("/cases/{case}")).await;
    assert!(
        case_page
            .text()
            .await
            .unwrap()
            .contains(&format!("id=\"m-{seq}\""))
    );
    // Every word is required.
    assert!(found(&app, &kim, "vauxhall thursday").await.is_empty());

    // A member of another case, and an auditor on no case, find nothing.
    for outsider in [DANA, RIA] {
        let o = app.sign_in(outsider).await;
        assert!(found(&app, &o, "vauxhall corsa").await.is_empty());
        let (status, html) = page(&app, &o, "vauxhall corsa").await;
        assert_eq!(status, 200);
        assert!(html.contains("Nothing found in your cases."));
        assert!(!html.contains("Mill Lane"));
        assert!(!html.contains(LILY));
    }

    // Not signed in: the API says so, the page sends you to sign in.
    let anon = app.client();
    let res = anon
        .get(app.url("/api/search?q=vauxhall"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = anon
        .get(app.url("/search?q=vauxhall"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let text = res.text().await.unwrap();
    assert!(!text.contains("Mill Lane"));
}

#[tokio::test]
async fn restricted_messages_are_found_only_by_their_audience() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel(LILY).await;
    let lee = app.sign_in(LEE).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    let police = lee.agency_id.clone();
    post(
        &app,
        &lee,
        &ch,
        "l-1",
        json!({ "body": "Intelligence links the Corsa's driver to a county lines network.",
                "restricted_to": { "agencies": [police], "people": [], "reason": "police-sensitive" } }),
    )
    .await;
    post(
        &app,
        &lee,
        &ch,
        "l-2",
        json!({ "body": "The Corsa is registered to an address on Mill Lane.",
                "restricted_to": { "agencies": [], "people": [sam.person_id], "reason": "third-party identity" } }),
    )
    .await;

    // The author finds both; the named person finds the one naming him.
    let lee_hits = found(&app, &lee, "corsa").await;
    assert_eq!(lee_hits.len(), 2);
    assert!(lee_hits.iter().all(|h| h["restricted"] == true));
    let sam_hits = found(&app, &sam, "corsa").await;
    assert_eq!(sam_hits.len(), 1);
    assert!(
        sam_hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("Mill Lane")
    );
    assert!(found(&app, &sam, "county lines").await.is_empty());
    let (_, html) = page(&app, &sam, "county lines").await;
    assert!(!html.contains("network"), "not even a snippet");
    // Everyone else in the case: nothing, not even that something exists.
    assert!(found(&app, &kim, "corsa").await.is_empty());
    let (_, html) = page(&app, &kim, "corsa").await;
    assert!(html.contains("Nothing found in your cases."));
}

#[tokio::test]
async fn a_message_held_back_by_consent_is_not_found_by_the_held_back_agency() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let lee = app.sign_in(LEE).await;
    let kim = app.sign_in(KIM).await;
    mothers_record(&app, &sam, &case, "police", "refused").await;
    say(
        &app,
        &sam,
        &ch,
        "s-1",
        "Mother says her partner has moved back into the flat.",
    )
    .await;

    assert!(found(&app, &lee, "partner flat").await.is_empty());
    let (_, html) = page(&app, &lee, "partner flat").await;
    assert!(!html.contains("moved back"));
    assert_eq!(found(&app, &kim, "partner flat").await.len(), 1);
    assert_eq!(found(&app, &sam, "partner flat").await.len(), 1);
}

#[tokio::test]
async fn narrowed_channels_and_ended_or_expired_access_find_nothing() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    let alex = app.sign_in(ALEX).await;
    let dana = app.sign_in(DANA).await;

    // A channel of the case narrowed to Sam and Alex (as a meeting's is to its invitees).
    let db = app.db().await;
    let narrow = "search-test-channel";
    sqlx::query("INSERT INTO channels (id, case_id, kind, name, last_seq, created_at) VALUES ($1, $2, 'meeting', 'Professionals meeting', 0, $3)")
        .bind(narrow)
        .bind(&case)
        .bind(app.clock_now())
        .execute(db.pool())
        .await
        .unwrap();
    for person in [&sam.person_id, &alex.person_id] {
        sqlx::query("INSERT INTO channel_restrictions (channel_id, person_id) VALUES ($1, $2)")
            .bind(narrow)
            .bind(person)
            .execute(db.pool())
            .await
            .unwrap();
    }
    say(
        &app,
        &sam,
        narrow,
        "n-1",
        "Escalation to the exploitation panel agreed.",
    )
    .await;
    assert_eq!(found(&app, &alex, "exploitation panel").await.len(), 1);
    assert!(found(&app, &kim, "exploitation panel").await.is_empty());

    // A time-limited grant (as meeting-only access and break glass are):
    // found while it lasts, not after.
    say(
        &app,
        &sam,
        &ch,
        "s-1",
        "Housing officer to check the tenancy at Flat 4.",
    )
    .await;
    let res = sam
        .post_json(
            &app,
            &format!("/api/cases/{case}/members"),
            &json!({ "email": DANA, "reason": "Tenancy check", "expires_at": app.clock_now() + HOUR }),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(found(&app, &dana, "tenancy").await.len(), 1);
    app.clock.advance(HOUR);
    // (Sessions end after an idle hour too: sign in afresh.)
    let dana = app.sign_in(DANA).await;
    let kim = app.sign_in(KIM).await;
    let sam = app.sign_in(SAM).await;
    assert!(found(&app, &dana, "tenancy").await.is_empty());

    // An ended membership: nothing at once.
    assert_eq!(found(&app, &kim, "tenancy").await.len(), 1);
    let res = kim
        .client
        .delete(app.url(&format!("/api/cases/{case}/members/{}", kim.person_id)))
        .header("x-csrf-token", &kim.csrf)
        .json(&json!({ "reason": "left" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "only the lead or a manager removes");
    let res = sam
        .client
        .delete(app.url(&format!("/api/cases/{case}/members/{}", kim.person_id)))
        .header("x-csrf-token", &sam.csrf)
        .json(&json!({ "reason": "No longer involved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(found(&app, &kim, "tenancy").await.is_empty());
}

#[tokio::test]
async fn edits_and_removals_change_what_is_found() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    let seq = say(&app, &sam, &ch, "s-1", "Seen at the bus station.").await;
    edit(&app, &sam, &ch, seq, "Seen at the railway station.").await;
    assert!(found(&app, &kim, "bus").await.is_empty());
    let hits = found(&app, &kim, "railway").await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["edited"], true);
    let removed = sam
        .client
        .delete(app.url(&format!("/api/channels/{ch}/messages/{seq}")))
        .header("x-csrf-token", &sam.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    assert!(found(&app, &kim, "railway").await.is_empty());
    assert!(found(&app, &sam, "railway").await.is_empty());
}

/// Edit a message through the API as `who`.
async fn edit(app: &TestApp, who: &Signed, ch: &str, seq: i64, text: &str) {
    let res = who
        .client
        .patch(app.url(&format!("/api/channels/{ch}/messages/{seq}")))
        .header("x-csrf-token", &who.csrf)
        .json(&json!({ "body": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// On SQLite: FTS5 compares the index with the messages table row by row.
async fn index_whole(db: &confer::store::Db) {
    if db.engine() == confer::config::Engine::Sqlite {
        sqlx::query("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
            .execute(db.pool())
            .await
            .expect("the search index matches the messages table");
    }
}

#[tokio::test]
async fn messages_the_index_has_not_taken_in_yet_are_found_and_edits_keep_it_whole() {
    use confer::store::messages::{Post, insert_sealed_batch_carrying, seal};
    use confer::store::search_index::behind;

    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    let db = app.db().await;
    let sqlite = db.engine() == confer::config::Engine::Sqlite;
    // Stored as the writer stores a batch under load: on SQLite the index
    // takes these in later, in bulk (store::search_index).
    let posts: Vec<Post> = [
        ("later-1", "Seen at the bus station."),
        ("later-2", "Dropped off near the ferry terminal."),
    ]
    .iter()
    .map(|(client_id, body)| Post {
        channel_id: ch.clone(),
        author_id: sam.person_id.clone(),
        client_id: client_id.to_string(),
        body: body.to_string(),
        restricted: None,
    })
    .collect();
    let sealed: Vec<_> = posts.iter().map(|p| seal(&db, p).unwrap()).collect();
    let gates = confer::store::withholding::Gates::default();
    let (posted, pending) =
        insert_sealed_batch_carrying(&db, &gates, &posts, &sealed, app.clock_now(), &[], false)
            .await
            .unwrap();
    pending.durable().await.unwrap();
    assert_eq!(behind(&db).await.unwrap(), sqlite);

    // Edited before the index holds it: nothing is taken out of the index
    // that was never put in, and the edit does not index it either.
    let seq = posted[0].message.seq;
    edit(&app, &sam, &ch, seq, "Seen at the railway station.").await;
    assert_eq!(behind(&db).await.unwrap(), sqlite);

    // A search brings the index up to date first: the current text is found.
    assert!(found(&app, &kim, "bus").await.is_empty());
    let hits = found(&app, &kim, "railway").await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["edited"], true);
    assert_eq!(found(&app, &kim, "ferry").await.len(), 1);
    assert!(!behind(&db).await.unwrap());
    index_whole(&db).await;

    // Edited again, now that the index holds it: the old words leave it.
    edit(&app, &sam, &ch, seq, "Seen at the coach station.").await;
    assert!(found(&app, &kim, "railway").await.is_empty());
    assert_eq!(found(&app, &kim, "coach").await.len(), 1);
    index_whole(&db).await;
}

#[tokio::test]
async fn the_writer_indexes_what_it_left_out_once_sends_pause() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let db = app.db().await;
    // Back to back: the writer puts new messages into the index at most every
    // 250 ms, so some of these wait for it; with no search to prompt it, it
    // takes them in once sends pause.
    for i in 0..20 {
        say(
            &app,
            &sam,
            &ch,
            &format!("pause-{i}"),
            "Home by nine, said the carer.",
        )
        .await;
    }
    let started = std::time::Instant::now();
    while confer::store::search_index::behind(&db).await.unwrap() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the index still lacks messages 5 s after the last send"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    index_whole(&db).await;
}

#[tokio::test]
async fn bad_searches_are_refused_clearly_and_operators_are_just_words() {
    let app = TestApp::start().await;
    let (_, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    say(&app, &sam, &ch, "s-1", "Near the canal towpath at night.").await;

    for q in ["", "  ?!  ", &"x".repeat(201), "a b c d e f g h i"] {
        let (status, body) = api(&app, &sam, q).await;
        assert_eq!(status, 422, "{q}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
        let (status, html) = page(&app, &sam, q).await;
        assert_eq!(status, 400);
        assert!(html.contains("govuk-error-message"), "{html}");
    }
    let res = sam.get(&app, "/api/search").await;
    assert_eq!(res.status(), 422);
    // The empty form: no search made, no error.
    let res = sam.get(&app, "/search").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(!html.contains("govuk-error-message") && !html.contains("id=\"results\""));

    // What would be query syntax in FTS5 or tsquery is read as words.
    for q in [
        "\"canal",
        "canal*",
        "NEAR(canal towpath)",
        "body:canal",
        "canal OR x",
        "canal & !x",
        "-canal",
        "canal'",
        "(canal",
    ] {
        let (status, body) = api(&app, &sam, q).await;
        assert_eq!(status, 200, "{q}: {body}");
    }
    assert_eq!(found(&app, &sam, "NEAR(canal towpath)").await.len(), 1);
    assert!(
        found(&app, &sam, "canal OR x").await.is_empty(),
        "OR is a word"
    );
    // Markup in a message never reaches the page as markup: SQLite's
    // snippet keeps it (escaped), PostgreSQL's drops tags (its parser reads
    // them as markup and indexes none of their words).
    say(
        &app,
        &sam,
        &ch,
        "s-2",
        "<script>alert(1)</script> canal boat",
    )
    .await;
    let hits = found(&app, &sam, "canal boat").await;
    assert_eq!(hits.len(), 1);
    let snippet = hits[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("canal boat"), "{snippet}");
    let (_, html) = page(&app, &sam, "canal boat").await;
    assert!(html.contains("<mark>canal</mark>"));
    assert!(!html.contains("<script>alert"), "{html}");
}

#[tokio::test]
async fn searches_are_audited_without_the_words() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel(LILY).await;
    let sam = app.sign_in(SAM).await;
    let kim = app.sign_in(KIM).await;
    say(&app, &sam, &ch, "s-1", "Associate known as Tyler Brookes.").await;
    assert_eq!(found(&app, &kim, "tyler brookes").await.len(), 1);
    page(&app, &kim, "nothing matches this").await;

    let db = app.db().await;
    let rows: Vec<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT action, actor_id, case_id, detail FROM audit_events WHERE action IN ('search.performed', 'case.read') \
         AND actor_id = $1 ORDER BY seq",
    )
    .bind(&kim.person_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let searches: Vec<_> = rows.iter().filter(|r| r.0 == "search.performed").collect();
    assert_eq!(searches.len(), 2);
    let first: Value = serde_json::from_str(&searches[0].3).unwrap();
    assert_eq!(first["words"], 2);
    assert_eq!(first["results"], 1);
    let second: Value = serde_json::from_str(&searches[1].3).unwrap();
    assert_eq!(second["results"], 0);
    assert!(rows.iter().any(|r| r.0 == "case.read"
        && r.2.as_deref() == Some(case.as_str())
        && r.3.contains("search results")));
    // The words are nowhere in the audit log.
    let all: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT detail, subject FROM audit_events")
            .fetch_all(db.pool())
            .await
            .unwrap();
    for (detail, subject) in all {
        let text = format!("{detail} {}", subject.unwrap_or_default()).to_lowercase();
        assert!(
            !text.contains("tyler") && !text.contains("brookes"),
            "{text}"
        );
        assert!(!text.contains("nothing matches"), "{text}");
    }
}

#[tokio::test]
async fn a_missing_episode_message_links_to_the_episode_page() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel(LILY).await;
    let lee = app.sign_in(LEE).await;
    let kim = app.sign_in(KIM).await;
    let episode = crate::missing::report(&app, &lee, &case, app.clock_now() - 2 * HOUR)
        .await
        .unwrap();
    let db = app.db().await;
    let (channel,): (String,) =
        sqlx::query_as("SELECT channel_id FROM missing_episodes WHERE id = $1")
            .bind(&episode)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let seq = say(
        &app,
        &lee,
        &channel,
        "l-1",
        "Found at a flat above the kebab shop.",
    )
    .await;
    let hits = found(&app, &kim, "kebab shop").await;
    assert_eq!(hits.len(), 1);
    let link = format!("/cases/{case}/missing/{episode}#m-{seq}");
    assert_eq!(hits[0]["link"], link.as_str());
    let (status, html) = page(&app, &kim, "kebab").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("href=\"{link}\"")));
    let episode_page = kim
        .get(&app, &format!("/cases/{case}/missing/{episode}"))
        .await;
    assert_eq!(episode_page.status(), 200);
    assert!(
        episode_page
            .text()
            .await
            .unwrap()
            .contains(&format!("id=\"m-{seq}\""))
    );
    // Someone outside the case finds nothing of the episode.
    let dana = app.sign_in(DANA).await;
    assert!(found(&app, &dana, "kebab").await.is_empty());
}
