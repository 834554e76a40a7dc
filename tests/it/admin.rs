//! Agency administration: admins manage their own agency's people only.

use crate::harness::{SAM, TOM, TestApp};
use crate::security::csrf_token;

const JO_ADMIN: &str = "jo.fraser@northshire-council.example";
const LEE_POLICE: &str = "lee.harris@northshire-police.example";

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn an_admin_adds_people_and_sets_roles_in_their_own_agency() {
    let app = TestApp::start().await;
    let jo = app.sign_in_as(JO_ADMIN).await;
    let (status, html) = page(&app, &jo, "/admin/people").await;
    assert_eq!(status, 200);
    assert!(html.contains("sam.patel@northshire-council.example"));
    assert!(
        !html.contains(LEE_POLICE),
        "other agencies' people are not listed"
    );
    let csrf = csrf_token(&html);

    let res = jo
        .post(app.url("/admin/people"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Pat New"),
            ("email", "pat.new@northshire-council.example"),
            ("role", "practitioner"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let db = app.db().await;
    let pat = confer::store::people::find_by_email(&db, "pat.new@northshire-council.example")
        .await
        .unwrap();
    assert_eq!(
        pat.agency_name,
        "Northshire County Council Children's Social Care"
    );

    // Bad input is a clear error that changes nothing.
    let res = jo
        .post(app.url("/admin/people"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "X"),
            ("email", "pat.new@northshire-council.example"),
            ("role", "practitioner"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("already exists"));
    let res = jo
        .post(app.url("/admin/people"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Y"),
            ("email", "y@northshire-council.example"),
            ("role", "overlord"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        confer::store::people::find_by_email(&db, "y@northshire-council.example")
            .await
            .is_err()
    );

    let res = jo
        .post(app.url(&format!("/admin/people/{}/role", pat.id)))
        .form(&[("csrf_token", csrf.as_str()), ("role", "manager")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let pat = confer::store::people::get(&db, &pat.id).await.unwrap();
    assert_eq!(pat.role.as_str(), "manager");
    let events = confer::store::audit::recent(&db, 5).await.unwrap();
    assert_eq!(events[0].action, "person.role_changed");
    assert_eq!(events[0].subject.as_deref(), Some(pat.id.as_str()));

    // Another agency's person: the same "not found" as nobody.
    let lee = confer::store::people::find_by_email(&db, LEE_POLICE)
        .await
        .unwrap();
    for target in [lee.id.as_str(), "no-such-person"] {
        let res = jo
            .post(app.url(&format!("/admin/people/{target}/role")))
            .form(&[("csrf_token", csrf.as_str()), ("role", "admin")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{target}");
    }
    assert_eq!(
        confer::store::people::get(&db, &lee.id)
            .await
            .unwrap()
            .role
            .as_str(),
        "practitioner"
    );

    // Without the CSRF token nothing happens.
    let res = jo
        .post(app.url(&format!("/admin/people/{}/role", pat.id)))
        .form(&[("csrf_token", "forged"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        confer::store::people::get(&db, &pat.id)
            .await
            .unwrap()
            .role
            .as_str(),
        "manager"
    );
}

#[tokio::test]
async fn nobody_but_an_admin_reaches_administration() {
    let app = TestApp::start().await;
    for email in [
        SAM,
        TOM,
        "alex.morgan@northshire-council.example",
        "ria.chen@northshire-council.example",
    ] {
        let client = app.sign_in_as(email).await;
        let (status, html) = page(&app, &client, "/admin/people").await;
        assert_eq!(status, 403, "{email}");
        assert!(
            !html.contains("@northshire-council.example"),
            "{email} sees no list"
        );
        let (_, cases) = page(&app, &client, "/cases").await;
        let csrf = csrf_token(&cases);
        let res = client
            .post(app.url("/admin/people"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("name", "Z"),
                ("email", "z@z.example"),
                ("role", "admin"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{email}");
    }
    let (status, _) = page(&app, &app.client(), "/admin/people").await;
    assert_eq!(status, 303, "signed out: sent to sign in");
}

#[tokio::test]
async fn deactivating_a_person_ends_their_sessions_at_once() {
    let app = TestApp::start().await;
    let sam = app.sign_in_as(SAM).await;
    assert_eq!(page(&app, &sam, "/cases").await.0, 200);
    let jo = app.sign_in_as(JO_ADMIN).await;
    let (_, html) = page(&app, &jo, "/admin/people").await;
    let db = app.db().await;
    let sam_id = confer::store::people::find_by_email(&db, SAM)
        .await
        .unwrap()
        .id;
    let res = jo
        .post(app.url(&format!("/admin/people/{sam_id}/deactivate")))
        .form(&[("csrf_token", csrf_token(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        page(&app, &sam, "/cases").await.0,
        303,
        "Sam's session is gone"
    );
    // And Sam cannot sign in again with an emailed code.
    let res = app
        .client()
        .post(app.url("/sign-in/email"))
        .form(&[("email", SAM)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = confer::store::audit::recent(&db, 5).await.unwrap();
    assert!(events.iter().any(|e| e.action == "person.deactivated"));
    let codes: Vec<(String,)> = sqlx::query_as("SELECT id FROM email_codes WHERE person_id = $1")
        .bind(&sam_id)
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert!(
        codes.is_empty(),
        "no code is issued to a deactivated person"
    );
}
