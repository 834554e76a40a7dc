//! OpenID Connect against the stand-in provider: who is let in once the
//! token is valid (known person, agency, email domain, verified email, where
//! the email comes from), and how the client authenticates.

use super::*;

#[tokio::test]
async fn an_unknown_person_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.email = Some("nobody@northshire-police.example".into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "unknown_person").await;
    let db = app.db().await;
    assert!(
        people::find_by_email(&db, "nobody@northshire-police.example")
            .await
            .is_err(),
        "nobody was created"
    );
}

#[tokio::test]
async fn an_unknown_person_is_created_when_the_provider_allows_it() {
    let (stub, app) = setup_with(|p| {
        p.create_unknown_people = true;
        p.allowed_email_domains = vec!["northshire-police.example".into()];
    })
    .await;
    stub.set(|b| {
        b.email = Some("Casey.Doyle@Northshire-Police.example".into());
        b.name = Some("Casey Doyle".into());
    });
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let page = signed_in_page(&app, &client).await;
    assert!(page.contains("Signed in as Casey Doyle"), "{page}");

    let db = app.db().await;
    let casey = people::find_by_email(&db, "casey.doyle@northshire-police.example")
        .await
        .unwrap();
    assert_eq!(casey.agency_name, POLICE);
    assert_eq!(casey.role.as_str(), "practitioner");
    assert!(!casey.guest);
    let row = sqlx::query(
        "SELECT actor_label, detail FROM audit_events WHERE action = 'person.added' AND subject = $1",
    )
    .bind(&casey.id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let label: String = row.get("actor_label");
    let detail: String = row.get("detail");
    assert_eq!(label, format!("OpenID Connect ({ID})"));
    assert!(detail.contains("\"practitioner\""), "{detail}");

    // Just-in-time creation still keeps to the allowed domains.
    stub.set(|b| b.email = Some("someone@elsewhere.example".into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "email_domain_not_allowed").await;
}

#[tokio::test]
async fn an_email_domain_that_is_not_allowed_is_refused() {
    let (stub, app) = setup_with(|p| {
        p.allowed_email_domains = vec!["northshire-police.example".into()];
    })
    .await;
    stub.set(|b| b.email = Some(SAM.into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "email_domain_not_allowed").await;
}

#[tokio::test]
async fn a_person_of_another_agency_is_refused() {
    let (stub, app) = setup().await;
    // Sam exists, but at Northshire Council, not the police.
    stub.set(|b| b.email = Some(SAM.into()));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "wrong_agency").await;
}

#[tokio::test]
async fn an_unverified_email_is_refused() {
    let (stub, app) = setup().await;
    stub.set(|b| b.email_verified = Some(false));
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "email_not_verified").await;
}

#[tokio::test]
async fn the_email_comes_from_userinfo_when_the_id_token_lacks_it() {
    let (stub, app) = setup().await;
    stub.set(|b| {
        b.email = None;
        b.userinfo_email = Some(LEE.into());
    });
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let page = signed_in_page(&app, &client).await;
    assert!(page.contains("Signed in as DC Lee Harris"));
}

#[tokio::test]
async fn the_email_can_come_from_another_claim() {
    // Entra ID style: the address in `upn`, no `email` claim at all.
    let (stub, app) = setup_with(|p| p.email_claim = "upn".into()).await;
    stub.set(|b| {
        b.email = None;
        b.extra_claim = Some(("upn".into(), LEE.into()));
    });
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    signed_in_page(&app, &client).await;

    // With neither the claim nor userinfo holding it, refused.
    stub.set(|b| b.extra_claim = None);
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_refused(&app, res, 403, "email_missing").await;
}

#[tokio::test]
async fn a_provider_that_only_takes_the_secret_in_the_body_works() {
    let stub = StubProvider::start().await;
    stub.set(|b| {
        b.email = Some(LEE.into());
        b.client_secret_post = true;
    });
    let app = TestApp::builder()
        .oidc(stub.config(ID, POLICE))
        .start()
        .await;
    let client = app.client();
    let callback = to_callback(&app, &client).await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    signed_in_page(&app, &client).await;
}

#[tokio::test]
async fn an_unreachable_provider_is_explained() {
    let stub = StubProvider::start().await;
    let mut config = stub.config(ID, POLICE);
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::builder().oidc(config).start().await;
    let res = app
        .client()
        .get(app.url(&format!("/sign-in/oidc/{ID}")))
        .send()
        .await
        .unwrap();
    assert_refused(&app, res, 502, "provider_unavailable").await;
}
