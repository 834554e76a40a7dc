//! The JSON API: membership.

use super::*;

async fn team_ids(app: &TestApp, who: &Signed, case: &str) -> Vec<String> {
    let r = get(app, who, &format!("/api/cases/{case}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_lead_adds_a_member_who_can_then_use_the_channel() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    post_ok(&app, &sam, &ch, "s1", "Family facing eviction.").await;
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");

    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "family's housing officer"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let added = r.json();
    assert_eq!(added["person_id"], dana.person_id.as_str());
    assert_eq!(added["case_id"], case.as_str());
    assert_eq!(added["invited"], false);

    // At once, with her existing session.
    let seen = list(&app, &dana, &ch).await;
    assert_eq!(seen[0]["body"], "Family facing eviction.");
    post_ok(&app, &dana, &ch, "d1", "Rent arrears cleared.").await;
    let cases = get(&app, &dana, "/api/cases").await.json();
    let names: Vec<_> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["child_name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"Lily Ashworth".to_string()), "{names:?}");

    let team = get(&app, &sam, &format!("/api/cases/{case}")).await.json()["team"].clone();
    let dana_row = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["person_id"] == dana.person_id.as_str())
        .expect("Dana in the team")
        .clone();
    assert_eq!(dana_row["reason"], "family's housing officer");
    assert_eq!(dana_row["granted_by_label"], "Sam Patel");
    assert_eq!(dana_row["agency_name"], "Northshire Homes");

    // Adding her twice: a conflict, not a second membership.
    send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "again"}),
    )
    .await
    .expect(409, "conflict");

    // A manager in the team may add people too.
    let alex = app.sign_in(ALEX).await;
    let r = send(
        &app,
        &alex,
        Method::POST,
        &members(&case),
        &json!({"email": PRIYA, "reason": "police decision-maker"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn only_the_lead_or_a_manager_in_the_team_may_change_who_is_in_it() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let tom = app.sign_in(TOM).await;
    let ria = app.sign_in(RIA).await;
    let dana = app.sign_in(DANA).await;
    let kim_id = person_id(&app, KIM).await.unwrap();
    let body = json!({"email": DANA, "reason": "housing"});

    // Tom is in the team but neither lead nor manager.
    send(&app, &tom, Method::POST, &members(&case), &body)
        .await
        .expect(403, "forbidden");
    send(
        &app,
        &tom,
        Method::DELETE,
        &format!("{}/{kim_id}", members(&case)),
        &json!({"reason": "not needed"}),
    )
    .await
    .expect(403, "forbidden");

    // Ria is an auditor outside the team: the case does not exist for her.
    for (method, path, body) in [
        (Method::POST, members(&case), body.clone()),
        (
            Method::DELETE,
            format!("{}/{kim_id}", members(&case)),
            json!({"reason": "not needed"}),
        ),
    ] {
        let hidden = send(&app, &ria, method.clone(), &path, &body).await;
        hidden.expect(404, "not_found");
        let missing = send(
            &app,
            &ria,
            method,
            &path.replace(&case, &unknown_id()),
            &body,
        )
        .await;
        assert_eq!((hidden.status, hidden.text), (missing.status, missing.text));
    }
    // Nor may Ria add herself, nor Dana (in another case's team) add herself.
    for (who, email) in [(&ria, RIA), (&dana, DANA)] {
        send(
            &app,
            who,
            Method::POST,
            &members(&case),
            &json!({"email": email, "reason": "curious"}),
        )
        .await
        .expect(404, "not_found");
    }

    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    get(&app, &ria, &messages(&ch))
        .await
        .expect(404, "not_found");
    assert_eq!(
        get(&app, &app.sign_in(KIM).await, &messages(&ch))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn membership_requests_are_checked() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    let now = app.clock_now();
    let police = app.sign_in(LEE).await.agency_id;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing reason", json!({"email": DANA}), "invalid_body"),
        (
            "blank reason",
            json!({"email": DANA, "reason": "  "}),
            "reason|invalid",
        ),
        (
            "missing email",
            json!({"reason": "housing"}),
            "invalid_body",
        ),
        (
            "unknown field",
            json!({"email": DANA, "reason": "housing", "role": "admin"}),
            "invalid_body",
        ),
        (
            "expiry in the past",
            json!({"email": DANA, "reason": "housing", "expires_at": now - HOUR}),
            "invalid",
        ),
        (
            "expiry now",
            json!({"email": DANA, "reason": "housing", "expires_at": now}),
            "invalid",
        ),
        (
            "unknown email, no guest details",
            json!({"email": "nobody@nowhere.example", "reason": "housing"}),
            "unknown_person",
        ),
        (
            "guest of an unknown agency",
            json!({"email": "new.person@charity.example", "reason": "advocate",
                   "guest": {"name": "New Person", "agency_id": unknown_id()}}),
            "unknown_agency",
        ),
        (
            "guest without a name",
            json!({"email": "new.person@charity.example", "reason": "advocate",
                   "guest": {"agency_id": police}}),
            "invalid_body",
        ),
    ];
    for (what, body, code) in &cases {
        let r = send(&app, &sam, Method::POST, &members(&case), body).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert!(code_is(&r.code(), code), "{what}: {}", r.text);
    }
    // Nobody was added, and no guest was created.
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    assert!(!team_ids(&app, &sam, &case).await.contains(&dana.person_id));
    assert_eq!(person_id(&app, "nobody@nowhere.example").await, None);
    assert_eq!(person_id(&app, "new.person@charity.example").await, None);
    send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "x"}),
    )
    .await;
    assert!(team_ids(&app, &sam, &case).await.contains(&dana.person_id));
}

#[tokio::test]
async fn a_membership_with_an_expiry_ends_then() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let dana = app.sign_in(DANA).await;
    // Shorter than the session idle timeout, so the session outlives the grant.
    let until = app.clock_now() + 10 * 60_000;
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "for the housing panel", "expires_at": until}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let team = get(&app, &sam, &format!("/api/cases/{case}")).await.json()["team"].clone();
    let row = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["person_id"] == dana.person_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["expires_at"], until);
    assert_eq!(get(&app, &dana, &messages(&ch)).await.status, 200);

    app.clock.advance(10 * 60_000 - 1);
    assert_eq!(get(&app, &dana, &messages(&ch)).await.status, 200);
    app.clock.advance(1);
    get(&app, &dana, &messages(&ch))
        .await
        .expect(404, "not_found");
    get(&app, &dana, &format!("/api/cases/{case}"))
        .await
        .expect(404, "not_found");
    assert!(!team_ids(&app, &sam, &case).await.contains(&dana.person_id));

    // Granted again after it ran out: access returns.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": DANA, "reason": "second housing panel"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(get(&app, &dana, &messages(&ch)).await.status, 200);
}

/// The text of the first `.eml` in the development outbox, waiting up to 5 s.
async fn outbox_mail(app: &TestApp) -> String {
    let outbox = app.data_dir.join("outbox");
    for _ in 0..100 {
        if let Ok(dir) = std::fs::read_dir(&outbox) {
            let files: Vec<_> = dir
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            if let Some(f) = files.first() {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                if !text.is_empty() {
                    // Undo quoted-printable soft line breaks, if used.
                    return text
                        .replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "=");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail in {}", outbox.display());
}

#[tokio::test]
async fn inviting_a_guest_creates_them_and_mails_the_case_reference_but_not_the_child() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let housing = app.sign_in(DANA).await.agency_id;
    let email = "pat.guest@charity.example";
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({
            "email": email,
            "reason": "independent advocate for the family",
            "guest": {"name": "Pat Guest", "agency_id": housing},
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let added = r.json();
    assert_eq!(added["invited"], true);
    let guest_id = added["person_id"].as_str().unwrap().to_string();

    let db = app.db().await;
    let guest = confer::store::people::find_by_email(&db, email)
        .await
        .unwrap();
    assert_eq!(guest.id, guest_id);
    assert!(guest.guest);
    assert_eq!(guest.name, "Pat Guest");
    assert_eq!(guest.agency_id, housing);
    let reference = confer::store::cases::find_for_operator(&db, &case)
        .await
        .unwrap()
        .reference;

    let mail = outbox_mail(&app).await;
    assert!(mail.contains(email), "{mail}");
    assert!(mail.contains(&reference), "the case reference: {mail}");
    assert!(mail.contains("Sam Patel"), "{mail}");
    for child in ["Lily", "Ashworth", "2013-04-17", "NCC-104233"] {
        assert!(
            !mail.contains(child),
            "mail names the child ({child}): {mail}"
        );
    }

    // The guest is in the team and, once signed in, can use the channel.
    assert!(team_ids(&app, &sam, &case).await.contains(&guest_id));
    let pat = app.sign_in(email).await;
    let s = get(&app, &pat, "/api/session").await.json();
    assert_eq!(s["person"]["guest"], true);
    assert_eq!(get(&app, &pat, &messages(&ch)).await.status, 200);
    // But only this case.
    let (_, kai) = app.case_and_channel("Kai Brennan").await;
    get(&app, &pat, &messages(&kai))
        .await
        .expect(404, "not_found");
}

#[tokio::test]
async fn a_refused_invitation_creates_nobody_so_the_corrected_one_is_still_sent() {
    let app = TestApp::start().await;
    let (case, _) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let housing = app.sign_in(DANA).await.agency_id;
    let email = "jo.advocate@charity.example";
    let guest = json!({"name": "Jo Advocate", "agency_id": housing});

    // The lead forgets the reason, then gives an expiry in the past.
    for bad in [
        json!({"email": email, "reason": " ", "guest": guest}),
        json!({"email": email, "reason": "advocate", "expires_at": app.clock_now() - HOUR, "guest": guest}),
    ] {
        let r = send(&app, &sam, Method::POST, &members(&case), &bad).await;
        assert_eq!(r.status, 422, "{}", r.text);
    }
    assert_eq!(
        person_id(&app, email).await,
        None,
        "a refused invitation left a guest account behind"
    );

    // Corrected: the invitation goes out.
    let r = send(
        &app,
        &sam,
        Method::POST,
        &members(&case),
        &json!({"email": email, "reason": "advocate", "guest": guest}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["invited"], true, "{}", r.text);
    let mail = outbox_mail(&app).await;
    assert!(mail.contains(email));
}

#[tokio::test]
async fn removing_a_member_ends_their_access_at_once_but_the_lead_cannot_be_removed() {
    let app = TestApp::start().await;
    let (case, ch) = app.case_and_channel("Lily Ashworth").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let alex = app.sign_in(ALEX).await;
    let kim = app.sign_in(KIM).await;
    post_ok(&app, &sam, &ch, "s1", "Case conference minutes.").await;
    assert_eq!(get(&app, &tom, &messages(&ch)).await.status, 200);
    let remove = |person: &str| format!("{}/{person}", members(&case));

    // A reason is required.
    send(
        &app,
        &sam,
        Method::DELETE,
        &remove(&tom.person_id),
        &json!({}),
    )
    .await
    .expect(422, "invalid_body");
    send(
        &app,
        &sam,
        Method::DELETE,
        &remove(&tom.person_id),
        &json!({"reason": "  "}),
    )
    .await
    .expect(422, "reason|invalid");
    assert_eq!(get(&app, &tom, &messages(&ch)).await.status, 200);

    let r = send(
        &app,
        &sam,
        Method::DELETE,
        &remove(&tom.person_id),
        &json!({"reason": "left the school"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Tom's next request is refused, exactly as for a channel that does not exist.
    let hidden = get(&app, &tom, &messages(&ch)).await;
    hidden.expect(404, "not_found");
    assert_eq!(
        hidden.text,
        get(&app, &tom, &messages(&unknown_id())).await.text
    );
    post(&app, &tom, &ch, "t1", "Still here?")
        .await
        .expect(404, "not_found");
    get(&app, &tom, &format!("/api/cases/{case}"))
        .await
        .expect(404, "not_found");
    assert_eq!(
        get(&app, &tom, "/api/cases").await.json()["cases"],
        json!([])
    );
    assert!(!team_ids(&app, &sam, &case).await.contains(&tom.person_id));
    assert_eq!(stored_messages(&app, &ch).await, 1);

    // Removing him again, or someone never in the team: not found.
    let dana_id = person_id(&app, DANA).await.unwrap();
    for person in [tom.person_id.as_str(), dana_id.as_str(), "no-such-person"] {
        send(
            &app,
            &sam,
            Method::DELETE,
            &remove(person),
            &json!({"reason": "tidying"}),
        )
        .await
        .expect(404, "not_found");
    }

    // Nobody removes the lead, not even the manager, not even himself.
    for who in [&alex, &sam] {
        send(
            &app,
            who,
            Method::DELETE,
            &remove(&sam.person_id),
            &json!({"reason": "reassigned"}),
        )
        .await
        .expect(422, "lead");
    }
    assert_eq!(get(&app, &sam, &messages(&ch)).await.status, 200);

    // A manager in the team may remove others.
    let r = send(
        &app,
        &alex,
        Method::DELETE,
        &remove(&kim.person_id),
        &json!({"reason": "health input complete"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    get(&app, &kim, &messages(&ch))
        .await
        .expect(404, "not_found");

    let db = app.db().await;
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let removed: Vec<_> = events
        .iter()
        .filter(|e| e.action == "case.member_removed")
        .map(|e| e.subject.clone().unwrap())
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.contains(&tom.person_id) && removed.contains(&kim.person_id));
}
