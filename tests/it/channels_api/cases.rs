//! The JSON API: cases and agencies.

use super::*;

#[tokio::test]
async fn members_see_their_cases_with_team_and_channels_and_outsiders_see_nothing() {
    let app = TestApp::start().await;
    let (lily, lily_ch) = app.case_and_channel("Lily Ashworth").await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    let sam = app.sign_in(SAM).await;
    let tom = app.sign_in(TOM).await;
    let ria = app.sign_in(RIA).await;

    let names = |v: &Value| -> Vec<String> {
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["child_name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = get(&app, &sam, "/api/cases").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        names(&r.json()),
        ["Kai Brennan", "Lily Ashworth"],
        "newest first"
    );
    assert_eq!(
        names(&get(&app, &tom, "/api/cases").await.json()),
        ["Lily Ashworth"]
    );
    let r = get(&app, &ria, "/api/cases").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"cases": []}),
        "an auditor has no case without membership"
    );

    let r = get(&app, &tom, &format!("/api/cases/{lily}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.json();
    assert_eq!(c["case"]["id"], lily.as_str());
    assert_eq!(c["case"]["child_name"], "Lily Ashworth");
    assert_eq!(c["case"]["child_dob"], "2013-04-17");
    assert_eq!(c["case"]["la_reference"], "NCC-104233");
    assert_eq!(c["case"]["status"], "open");
    assert_eq!(c["case"]["lead_social_worker_id"], sam.person_id.as_str());
    assert_eq!(c["case"]["lead_social_worker_name"], "Sam Patel");
    assert!(c["case"]["reference"].as_str().unwrap().starts_with("CF-"));
    let team: Vec<(String, String)> = c["team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["agency_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(team.len(), 5, "{team:?}");
    for (name, agency) in [
        (
            "Sam Patel",
            "Northshire County Council Children's Social Care",
        ),
        (
            "Alex Morgan",
            "Northshire County Council Children's Social Care",
        ),
        ("DC Lee Harris", "Northshire Police"),
        ("Kim Okafor", "Northshire NHS Foundation Trust"),
        ("Tom Evans", "Riverside Academy"),
    ] {
        assert!(
            team.contains(&(name.to_string(), agency.to_string())),
            "{name} of {agency} in {team:?}"
        );
    }
    let tom_row = c["team"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Tom Evans")
        .unwrap();
    assert_eq!(
        tom_row["reason"],
        "designated safeguarding lead at the child's school"
    );
    assert_eq!(tom_row["role"], "practitioner");
    assert_eq!(tom_row["agency_kind"], "education");
    let channels = c["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0]["id"], lily_ch.as_str());
    assert_eq!(channels[0]["kind"], "case");
    assert_eq!(channels[0]["case_id"], lily.as_str());
    assert_eq!(channels[0]["last_seq"], 0);
    assert!(!r.text.contains("Kai") && !r.text.contains("Dana"));

    // Tom is not on Kai's case; Ria on none: the same answer as for no case at all.
    let missing = get(&app, &tom, &format!("/api/cases/{}", unknown_id())).await;
    missing.expect(404, "not_found");
    for (who, case) in [(&tom, &kai), (&ria, &lily), (&ria, &kai)] {
        let hidden = get(&app, who, &format!("/api/cases/{case}")).await;
        assert_eq!(
            (hidden.status, &hidden.text),
            (missing.status, &missing.text)
        );
    }

    // Reading a case over the API is audited, for members only.
    let db = app.db().await;
    let events = confer::store::audit::recent(&db, 50).await.unwrap();
    let read_events: Vec<_> = events.iter().filter(|e| e.action == "case.read").collect();
    assert_eq!(read_events.len(), 1, "Tom's one successful read");
    assert_eq!(read_events[0].case_id.as_deref(), Some(lily.as_str()));
}

#[tokio::test]
async fn the_agencies_of_the_partnership_are_listed_for_anyone_signed_in() {
    let app = TestApp::start().await;
    let ria = app.sign_in(RIA).await;
    let r = get(&app, &ria, "/api/agencies").await;
    assert_eq!(r.status, 200);
    let list = r.json()["agencies"].as_array().unwrap().clone();
    let mut got: Vec<(String, String)> = list
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "Northshire County Council Children's Social Care",
                "childrens_social_care"
            ),
            ("Northshire Homes", "housing"),
            ("Northshire NHS Foundation Trust", "health"),
            ("Northshire Police", "police"),
            ("Northshire Return Interview Service", "other"),
            ("Riverside Academy", "education"),
        ]
        .map(|(n, k)| (n.to_string(), k.to_string()))
    );
    let tom = app.sign_in(TOM).await;
    let school = list
        .iter()
        .find(|a| a["name"] == "Riverside Academy")
        .unwrap();
    assert_eq!(school["id"], tom.agency_id.as_str());
    // Only what a restriction needs: no people, no admin details.
    assert_eq!(school.as_object().unwrap().len(), 3, "{school}");
}
