//! Need-to-know: nothing of a case without a current membership, and the
//! same "not found" for a case you may not see as for one that does not exist.

use confer::domain::access::Actor;
use confer::domain::vocabulary::{AgencyKind, Role};
use confer::store::agencies::{self, By};
use confer::store::cases::{self, NewCase};
use confer::store::people::{self, NewPerson};
use confer::store::{Db, StoreError};

use crate::harness::{DANA, RIA, SAM, TOM, TestApp};

const OPERATOR: By<'static> = By {
    person_id: None,
    label: "test",
};
const HOUR: i64 = 3_600_000;

async fn person(db: &Db, agency: &str, email: &str, role: Role) -> Actor {
    people::add(
        db,
        OPERATOR,
        0,
        NewPerson {
            agency_id: agency,
            name: email,
            email,
            role,
            guest: false,
        },
    )
    .await
    .unwrap()
    .actor()
}

#[tokio::test]
async fn store_level_membership_rules() {
    let app = TestApp::builder().without_demo_data().start().await;
    let db = app.db().await;
    let t0 = 1_000 * HOUR;
    let csc = agencies::add(
        &db,
        OPERATOR,
        t0,
        "CSC",
        AgencyKind::ChildrensSocialCare,
        None,
    )
    .await
    .unwrap();
    let police = agencies::add(&db, OPERATOR, t0, "Police", AgencyKind::Police, None)
        .await
        .unwrap();
    let lead = person(&db, &csc.id, "lead@csc.example", Role::Practitioner).await;
    let officer = person(
        &db,
        &police.id,
        "officer@police.example",
        Role::Practitioner,
    )
    .await;
    let manager = person(&db, &csc.id, "manager@csc.example", Role::Manager).await;
    let auditor = person(&db, &csc.id, "auditor@csc.example", Role::Auditor).await;

    let case = cases::open(
        &db,
        OPERATOR,
        t0,
        NewCase {
            child_name: "Child One",
            child_dob: "2015-01-01",
            la_reference: "LA-1",
            lead_social_worker_id: &lead.person_id,
        },
    )
    .await
    .unwrap();

    // The lead is a member from the start.
    let access = cases::authorize(&db, &lead, &case.id, t0).await.unwrap();
    assert_eq!(
        cases::get(&db, &access).await.unwrap().child_name,
        "Child One"
    );
    assert_eq!(cases::list_for(&db, &lead, t0).await.unwrap().len(), 1);

    // Nobody else, whatever their role, sees anything of it: the same
    // NotFound as for a case that does not exist.
    for outsider in [&officer, &manager, &auditor] {
        assert!(cases::list_for(&db, outsider, t0).await.unwrap().is_empty());
        assert!(matches!(
            cases::authorize(&db, outsider, &case.id, t0).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(matches!(
        cases::authorize(&db, &lead, "no-such-case", t0).await,
        Err(StoreError::NotFound)
    ));

    // A membership with an expiry counts until then, and not after.
    cases::add_member(
        &db,
        OPERATOR,
        t0,
        &case.id,
        &officer.person_id,
        "section 47 enquiry",
        Some(t0 + HOUR),
    )
    .await
    .unwrap();
    assert!(
        cases::authorize(&db, &officer, &case.id, t0 + HOUR - 1)
            .await
            .is_ok()
    );
    assert_eq!(
        cases::list_for(&db, &officer, t0 + HOUR - 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        cases::authorize(&db, &officer, &case.id, t0 + HOUR).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        cases::list_for(&db, &officer, t0 + HOUR)
            .await
            .unwrap()
            .is_empty()
    );
    let team = cases::team(&db, &access, t0 + HOUR).await.unwrap();
    assert_eq!(team.len(), 1, "expired members leave the team list");

    // Granted again after expiry; then removed, which takes effect at once.
    cases::add_member(
        &db,
        OPERATOR,
        t0 + 2 * HOUR,
        &case.id,
        &officer.person_id,
        "new concern",
        None,
    )
    .await
    .unwrap();
    assert!(
        cases::authorize(&db, &officer, &case.id, t0 + 2 * HOUR)
            .await
            .is_ok()
    );
    cases::end_membership(
        &db,
        OPERATOR,
        t0 + 3 * HOUR,
        &case.id,
        &officer.person_id,
        "no longer involved",
    )
    .await
    .unwrap();
    assert!(matches!(
        cases::authorize(&db, &officer, &case.id, t0 + 3 * HOUR).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        cases::end_membership(
            &db,
            OPERATOR,
            t0 + 3 * HOUR,
            &case.id,
            &officer.person_id,
            "again"
        )
        .await,
        Err(StoreError::NotFound)
    ));

    // A grant needs a reason and a future expiry; a duplicate is a conflict.
    assert!(matches!(
        cases::add_member(&db, OPERATOR, t0, &case.id, &manager.person_id, "  ", None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        cases::add_member(
            &db,
            OPERATOR,
            t0,
            &case.id,
            &manager.person_id,
            "x",
            Some(t0)
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        cases::add_member(&db, OPERATOR, t0, &case.id, &lead.person_id, "again", None).await,
        Err(StoreError::Conflict(_))
    ));

    // The history is kept: every grant and removal is audited.
    let events = confer::store::audit::recent(&db, 100).await.unwrap();
    let for_case: Vec<_> = events
        .iter()
        .filter(|e| e.case_id.as_deref() == Some(case.id.as_str()))
        .collect();
    assert_eq!(
        for_case
            .iter()
            .filter(|e| e.action == "case.member_added")
            .count(),
        3,
        "lead, officer, officer again"
    );
    assert_eq!(
        for_case
            .iter()
            .filter(|e| e.action == "case.member_removed")
            .count(),
        1
    );
}

#[tokio::test]
async fn pages_show_members_their_cases_and_outsiders_nothing() {
    let app = TestApp::start().await;
    let sam = app.sign_in_as(SAM).await;
    let list = sam
        .get(app.url("/cases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("Lily Ashworth") && list.contains("Kai Brennan"),
        "{list}"
    );
    assert!(!list.contains("Noah Okoye"), "Sam is not on Noah's case");

    let db = app.db().await;
    let all = cases::list_for_operator(&db).await.unwrap();
    let lily = all
        .iter()
        .find(|c| c.child_name == "Lily Ashworth")
        .unwrap();
    let kai = all.iter().find(|c| c.child_name == "Kai Brennan").unwrap();

    let page = sam
        .get(app.url(&format!("/cases/{}", lily.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("NCC-104233")
            && page.contains("Tom Evans")
            && page.contains("designated safeguarding lead")
    );

    // Tom (the school) is on Lily's case but not Kai's; the answer for Kai's
    // case is byte-for-byte the answer for a case that does not exist.
    let tom = app.sign_in_as(TOM).await;
    assert_eq!(
        tom.get(app.url(&format!("/cases/{}", lily.id)))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let hidden = tom
        .get(app.url(&format!("/cases/{}", kai.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
    let hidden = hidden.text().await.unwrap();
    let missing = tom
        .get(app.url(&format!("/cases/{}", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(hidden, missing.text().await.unwrap());
    assert!(!hidden.contains("Kai"));

    // An auditor has no case content without membership.
    let ria = app.sign_in_as(RIA).await;
    let list = ria
        .get(app.url("/cases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains("Lily") && !list.contains("Kai") && !list.contains("Noah"));
    assert_eq!(
        ria.get(app.url(&format!("/cases/{}", lily.id)))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Dana (housing) is on Kai's case only.
    let dana = app.sign_in_as(DANA).await;
    let list = dana
        .get(app.url("/cases"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("Kai Brennan") && !list.contains("Lily"));

    // Reading a case is audited (who and which case; no child data in the event).
    let events = confer::store::audit::recent(&db, 20).await.unwrap();
    let reads: Vec<_> = events.iter().filter(|e| e.action == "case.read").collect();
    assert_eq!(reads.len(), 2, "Sam and Tom each read Lily's case once");
    assert!(
        reads
            .iter()
            .all(|e| e.case_id.as_deref() == Some(lily.id.as_str()))
    );
}

#[tokio::test]
async fn removal_from_a_case_takes_effect_on_the_next_request() {
    let app = TestApp::start().await;
    let tom = app.sign_in_as(TOM).await;
    let db = app.db().await;
    let lily = cases::list_for_operator(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.child_name == "Lily Ashworth")
        .unwrap();
    let url = app.url(&format!("/cases/{}", lily.id));
    assert_eq!(tom.get(&url).send().await.unwrap().status(), 200);
    let tom_person = people::find_by_email(&db, TOM).await.unwrap();
    cases::end_membership(
        &db,
        OPERATOR,
        app.clock_now(),
        &lily.id,
        &tom_person.id,
        "left the school",
    )
    .await
    .unwrap();
    assert_eq!(tom.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_lead_manages_the_team_from_the_case_page_and_others_cannot() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let page_url = app.url(&format!("/cases/{case_id}"));
    let sam = app.sign_in(crate::harness::SAM).await;
    let html = sam
        .client
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Add someone to this case"),
        "the lead sees the form"
    );
    let csrf = crate::security::csrf_token(&html);

    // Add Dana (housing) with a reason and an end date.
    let res = sam
        .client
        .post(app.url(&format!("/cases/{case_id}/members")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", DANA),
            ("reason", "housing officer for the family"),
            ("until", "2099-12-31"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let dana = app.sign_in(DANA).await;
    assert_eq!(
        dana.client.get(&page_url).send().await.unwrap().status(),
        200
    );
    let html = sam
        .client
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("housing officer for the family"), "{html}");
    assert!(
        html.contains("2100-01-01"),
        "access ends at the end of the given day"
    );

    // A bad request is explained on the page and changes nothing.
    let res = sam
        .client
        .post(app.url(&format!("/cases/{case_id}/members")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "nobody@nowhere.example"),
            ("reason", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Nobody has that email address")
    );

    // Tom, a practitioner in the team but not its lead, sees no form and cannot post one.
    let tom = app.sign_in(TOM).await;
    let html = tom
        .client
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Add someone to this case"));
    let res = tom
        .client
        .post(app.url(&format!("/cases/{case_id}/members")))
        .form(&[
            ("csrf_token", crate::security::csrf_token(&html).as_str()),
            ("email", DANA),
            ("reason", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The lead removes Dana with a reason: her access ends at once.
    let res = sam
        .client
        .post(app.url(&format!(
            "/cases/{case_id}/members/{}/remove",
            dana.person_id
        )))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("reason", "no longer involved"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        dana.client.get(&page_url).send().await.unwrap().status(),
        404
    );
}
