//! The development sign-in, the demo data behind it, and session lifetimes.

use crate::harness::{SAM, TestApp};
use crate::security::csrf_token;

#[tokio::test]
async fn development_sign_in_sets_a_host_only_secure_session_cookie() {
    let app = TestApp::start().await;
    let db = app.db().await;
    let sam = confer::store::people::find_by_email(&db, SAM)
        .await
        .unwrap();
    let res = app
        .client()
        .post(app.url("/dev/sign-in"))
        .form(&[("person_id", sam.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-confer_session="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    // Only a hash of the token is stored.
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT id_hash FROM sessions")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, token);
}

#[tokio::test]
async fn pages_that_need_a_session_send_you_to_sign_in() {
    let app = TestApp::start().await;
    let client = app.client();
    for path in ["/cases", "/cases/anything"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(res.headers()["location"], "/sign-in");
    }
    // A made-up cookie is no session.
    let res = client
        .get(app.url("/cases"))
        .header("cookie", "__Host-confer_session=0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn sign_out_revokes_the_session_everywhere() {
    let app = TestApp::start().await;
    let client = app.sign_in_as(SAM).await;
    let page = client
        .get(app.url("/cases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Signed in as Sam Patel"));
    // Keep a copy of the cookie, as a thief would.
    let db = app.db().await;
    let res = client
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", csrf_token(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let revoked: Vec<(Option<i64>,)> = sqlx::query_as("SELECT revoked_at FROM sessions")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert!(
        revoked[0].0.is_some(),
        "the server-side session is revoked, not just the cookie cleared"
    );
    let events = confer::store::audit::recent(&db, 5).await.unwrap();
    assert_eq!(events[0].action, "session.signed_out");
}

#[tokio::test]
async fn sessions_end_after_the_idle_and_absolute_time_outs() {
    let app = TestApp::start().await;
    let minute = 60_000;

    // Idle: 30 minutes without a request.
    let client = app.sign_in_as(SAM).await;
    app.clock.advance(29 * minute);
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        200
    );
    app.clock.advance(29 * minute);
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        200,
        "activity resets the idle timer"
    );
    app.clock.advance(31 * minute);
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        303,
        "idle too long"
    );

    // Absolute: 12 hours however active.
    let client = app.sign_in_as(SAM).await;
    for _ in 0..(12 * 60 / 20 - 1) {
        app.clock.advance(20 * minute);
        assert_eq!(
            client.get(app.url("/cases")).send().await.unwrap().status(),
            200
        );
    }
    app.clock.advance(20 * minute);
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        303,
        "past 12 hours"
    );
}

#[tokio::test]
async fn demo_data_is_seeded_once_in_development_only() {
    let app = TestApp::start().await;
    let db = app.db().await;
    let agencies = confer::store::agencies::list(&db).await.unwrap();
    assert_eq!(agencies.len(), 6);
    let kinds: Vec<_> = agencies.iter().map(|a| a.kind.as_str()).collect();
    for kind in [
        "childrens_social_care",
        "police",
        "health",
        "education",
        "housing",
        "other",
    ] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    assert_eq!(
        confer::store::cases::list_for_operator(&db)
            .await
            .unwrap()
            .len(),
        3
    );

    // Restart on the same database: nothing is seeded twice.
    let (dir, url) = (app.data_dir.clone(), app.database_url.clone());
    // The data folder goes with the stopped server; its key file must stay
    // with the database (the restart refuses sealed cases without it).
    let keys = std::fs::read(&app.key_file).unwrap();
    app.stop().await.unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("confer-keys.toml"), keys).unwrap();
    let again = TestApp::builder().reuse(&dir, &url).start().await;
    assert_eq!(confer::store::agencies::list(&db).await.unwrap().len(), 6);
    again.stop().await.unwrap();
}

#[tokio::test]
async fn production_never_seeds_and_never_offers_the_development_sign_in() {
    let app = TestApp::builder().production().start().await;
    let db = app.db().await;
    assert!(confer::store::agencies::list(&db).await.unwrap().is_empty());
    let client = app.client();
    let page = client
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Continue as"), "{page}");
    assert!(!page.contains("Demo"), "no demo banner in production");
    let res = client
        .post(app.url("/dev/sign-in"))
        .form(&[("person_id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn development_sign_in_is_refused_when_not_listening_on_loopback() {
    // Listening on every interface (reached here through loopback only).
    let app = TestApp::builder().bind("0.0.0.0:0").start().await;
    let db = app.db().await;
    let sam = confer::store::people::find_by_email(&db, SAM)
        .await
        .unwrap();
    let client = app.client();
    let page = client
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Continue as"));
    let res = client
        .post(app.url("/dev/sign-in"))
        .form(&[("person_id", sam.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers().get("set-cookie").is_none());
}
