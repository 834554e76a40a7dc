//! Email one-time codes for guests, through a real SMTP conversation.

use confer::domain::vocabulary::{AgencyKind, Role};
use confer::store::Db;
use confer::store::agencies::{self, By};
use confer::store::people::{self, NewPerson};

use crate::harness::TestApp;
use crate::smtp_sink::SmtpSink;

const GUEST: &str = "dr.gp@oaklane-surgery.example";
const MINUTE: i64 = 60_000;

/// Oak Lane Surgery, a health agency outside the partnership, and its GP
/// Dr Gill Potter with this email: a guest, who signs in by emailed code.
pub async fn add_surgery_guest(db: &Db, email: &str) -> people::Person {
    let by = By {
        person_id: None,
        label: "test",
    };
    let surgery = agencies::add(db, by, 0, "Oak Lane Surgery", AgencyKind::Health, None)
        .await
        .expect("agency");
    let guest = NewPerson {
        agency_id: &surgery.id,
        name: "Dr Gill Potter",
        email,
        role: Role::Practitioner,
        guest: true,
    };
    people::add(db, by, 0, guest).await.expect("guest")
}

async fn app_with_guest(sink: &SmtpSink) -> TestApp {
    let app = TestApp::builder().smtp(sink.port).start().await;
    add_surgery_guest(&app.db().await, GUEST).await;
    app
}

async fn request_code(app: &TestApp, client: &reqwest::Client, email: &str) -> reqwest::Response {
    client
        .post(app.url("/sign-in/email"))
        .form(&[("email", email)])
        .send()
        .await
        .unwrap()
}

async fn enter_code(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    code: &str,
) -> reqwest::Response {
    client
        .post(app.url("/sign-in/email/code"))
        .form(&[("email", email), ("code", code)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_guest_signs_in_with_the_code_from_a_real_email() {
    let sink = SmtpSink::start().await;
    let app = app_with_guest(&sink).await;
    let client = app.client();
    let page = request_code(&app, &client, "Dr.GP@OakLane-Surgery.example").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Check your email"));

    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec![GUEST.to_string()]);
    assert!(mail[0].data.contains("Subject: Your Confer sign-in code"));
    let code = mail[0].code();
    assert_eq!(code.len(), 6);
    // The code is stored only as a hash.
    let db = app.db().await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT code_hash FROM email_codes")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert!(!stored[0].0.contains(&code));

    let res = enter_code(
        &app,
        &client,
        GUEST,
        &format!("{} {}", &code[..3], &code[3..]),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("__Host-confer_session=")
    );
    let cases = client.get(app.url("/cases")).send().await.unwrap();
    assert_eq!(cases.status(), 200);
    assert!(
        cases
            .text()
            .await
            .unwrap()
            .contains("Signed in as Dr Gill Potter")
    );

    // Works once.
    let again = app.client();
    let res = enter_code(&app, &again, GUEST, &code).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The code is wrong or has expired")
    );

    let events = confer::store::audit::recent(&db, 10).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"session.code_requested"), "{actions:?}");
    assert!(actions.contains(&"session.signed_in"), "{actions:?}");
    assert!(actions.contains(&"session.sign_in_failed"), "{actions:?}");
}

#[tokio::test]
async fn a_code_expires_after_ten_minutes() {
    let sink = SmtpSink::start().await;
    let app = app_with_guest(&sink).await;
    let client = app.client();
    request_code(&app, &client, GUEST).await;
    let code = sink.wait_for(1).await[0].code();
    app.clock.advance(10 * MINUTE);
    assert_eq!(enter_code(&app, &client, GUEST, &code).await.status(), 400);

    // A fresh code, used within its lifetime, works; asking again retires the older one.
    request_code(&app, &client, GUEST).await;
    let older = sink.wait_for(2).await[1].code();
    request_code(&app, &client, GUEST).await;
    let newest = sink.wait_for(3).await[2].code();
    if older != newest {
        assert_eq!(
            enter_code(&app, &client, GUEST, &older).await.status(),
            400,
            "only the newest code counts"
        );
    }
    app.clock.advance(9 * MINUTE);
    assert_eq!(
        enter_code(&app, &client, GUEST, &newest).await.status(),
        303
    );
}

#[tokio::test]
async fn repeated_wrong_codes_lock_the_address_out() {
    let sink = SmtpSink::start().await;
    let app = app_with_guest(&sink).await;
    let client = app.client();
    request_code(&app, &client, GUEST).await;
    let code = sink.wait_for(1).await[0].code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(enter_code(&app, &client, GUEST, wrong).await.status(), 400);
    }
    // Locked: even the right code is refused now.
    let res = enter_code(&app, &client, GUEST, &code).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Too many wrong codes"));
    // After the window the lock lifts (the code has expired by then too).
    app.clock.advance(16 * MINUTE);
    request_code(&app, &client, GUEST).await;
    let code = sink.wait_for(2).await[1].code();
    assert_eq!(enter_code(&app, &client, GUEST, &code).await.status(), 303);
}

#[tokio::test]
async fn code_requests_are_rate_limited_per_address_and_per_client() {
    let sink = SmtpSink::start().await;
    let app = app_with_guest(&sink).await;
    let client = app.client();
    for _ in 0..5 {
        assert_eq!(request_code(&app, &client, GUEST).await.status(), 200);
    }
    sink.wait_for(5).await;
    let res = request_code(&app, &client, GUEST).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Too many codes"));
    // Per client: 20 requests across many addresses, then held.
    for i in 0..15 {
        assert_eq!(
            request_code(&app, &client, &format!("someone{i}@nowhere.example"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        request_code(&app, &client, "another@nowhere.example")
            .await
            .status(),
        429
    );
    assert_eq!(sink.count().await, 5, "no further mail was sent");
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answer_and_the_answer_never_waits_for_mail() {
    let sink = SmtpSink::start().await;
    let app = app_with_guest(&sink).await;
    // The mail server stalls: a response that waited for delivery would hang.
    sink.pause();
    let started = std::time::Instant::now();
    let known = request_code(&app, &app.client(), GUEST).await;
    let known_status = known.status();
    let known_body = known.text().await.unwrap().replace(GUEST, "ADDRESS");
    let unknown = request_code(&app, &app.client(), "nobody@nowhere.example").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown
        .text()
        .await
        .unwrap()
        .replace("nobody@nowhere.example", "ADDRESS");
    assert_eq!(known_status, unknown_status);
    assert_eq!(
        known_body, unknown_body,
        "the page must not tell whether the address is known"
    );
    assert_eq!(
        sink.count().await,
        0,
        "both answers came back while the mail server was stalled"
    );
    println!(
        "known + unknown code requests answered in {:?} with delivery stalled",
        started.elapsed()
    );
    sink.resume();
    assert_eq!(
        sink.wait_for(1).await.len(),
        1,
        "only the known address gets mail"
    );
    // A wrong code for an unknown address fails exactly like one for a known address.
    let a = enter_code(&app, &app.client(), "nobody@nowhere.example", "123456").await;
    let b = enter_code(&app, &app.client(), GUEST, "12345x").await;
    assert_eq!(a.status(), b.status());
}

#[tokio::test]
async fn the_mailed_link_signs_in_only_when_the_person_presses_continue() {
    let sink = SmtpSink::start().await;
    let app = app_with_guest(&sink).await;
    let client = app.client();
    request_code(&app, &client, GUEST).await;
    let token = sink.wait_for(1).await[0].link_token();
    // A mail scanner fetching the link spends nothing.
    let page = client
        .get(app.url(&format!("/sign-in/email/link?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Continue"));
    let res = client
        .post(app.url("/sign-in/email/link"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        client.get(app.url("/cases")).send().await.unwrap().status(),
        200
    );
    // Once only.
    let res = app
        .client()
        .post(app.url("/sign-in/email/link"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn development_mail_goes_to_the_outbox_folder() {
    let app = TestApp::start().await; // default transport: outbox
    let res = request_code(&app, &app.client(), "tom.evans@riverside-academy.example").await;
    assert_eq!(res.status(), 200);
    let outbox = app.data_dir.join("outbox");
    for _ in 0..100 {
        if std::fs::read_dir(&outbox)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let file = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("Your Confer sign-in code"));
    assert!(text.contains("tom.evans@riverside-academy.example"));
}
