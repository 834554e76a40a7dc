//! The JSON API: session.

use super::*;

#[tokio::test]
async fn the_session_names_the_signed_in_person_and_gives_the_csrf_token() {
    let app = TestApp::start().await;
    let tom = app.sign_in(TOM).await;
    let r = get(&app, &tom, "/api/session").await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let s = r.json();
    assert_eq!(s["person"]["id"], tom.person_id.as_str());
    assert_eq!(s["person"]["name"], "Tom Evans");
    assert_eq!(s["person"]["email"], TOM);
    assert_eq!(s["person"]["role"], "practitioner");
    assert_eq!(s["person"]["agency_id"], tom.agency_id.as_str());
    assert_eq!(s["person"]["agency"], "Riverside Academy");
    assert_eq!(s["person"]["guest"], false);
    assert_eq!(s["csrf_token"], tom.csrf.as_str());
    assert!(tom.csrf.len() >= 16, "a guessable token: {}", tom.csrf);

    // Each session has its own token.
    let other = app.sign_in(TOM).await;
    assert_ne!(other.csrf, tom.csrf);
}

#[tokio::test]
async fn signed_out_callers_get_a_json_401_from_every_endpoint() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let anon = app.client();
    let r = Reply::from(anon.get(app.url("/api/session")).send().await.unwrap()).await;
    r.expect(401, "unauthorized");
    assert!(r.content_type.starts_with("application/json"), "{r:?}");

    // A made-up session cookie is no better than none.
    let r = Reply::from(
        anon.get(app.url("/api/session"))
            .header("cookie", "__Host-confer_session=not-a-real-session")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(401, "unauthorized");

    for (method, path) in [
        (Method::GET, "/api/agencies".to_string()),
        (Method::GET, "/api/cases".to_string()),
        (Method::GET, format!("/api/cases/{case}")),
        (Method::POST, members(&case)),
        (
            Method::DELETE,
            format!("{}/{}", members(&case), unknown_id()),
        ),
        (Method::GET, messages(&ch)),
        (Method::POST, messages(&ch)),
        (Method::PATCH, message(&ch, 1)),
        (Method::DELETE, message(&ch, 1)),
        (Method::GET, reads(&ch, 1)),
        (Method::POST, read(&ch)),
    ] {
        let r = Reply::from(
            anon.request(method.clone(), app.url(&path))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        assert_eq!(r.code(), "unauthorized", "{method} {path}");
    }

    // After signing out, the old session no longer answers.
    let sam = app.sign_in(SAM).await;
    let out = sam
        .client
        .post(app.url("/sign-out"))
        .form(&[("csrf_token", sam.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    get(&app, &sam, "/api/session")
        .await
        .expect(401, "unauthorized");
}
