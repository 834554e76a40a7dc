//! The dashboards: a practitioner's meetings and actions, a manager's cases
//! with meetings due, overdue deadlines and actions.

use crate::harness::{ALEX, DANA, KIM, LEE, SAM, TestApp};
use crate::meetings::{done, form, person_id, strategy_discussion};
use crate::meetings_clock::*;
use time::Duration;

/// The rows of the manager's table of cases.
pub fn case_rows(dashboard: &str) -> Vec<String> {
    dashboard
        .split("confer-case-row")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap().to_string())
        .collect()
}

pub async fn reference_of(app: &TestApp, case_id: &str) -> String {
    let db = app.db().await;
    let (r,): (String,) = sqlx::query_as("SELECT reference FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    r
}

#[tokio::test]
pub async fn dashboards_show_upcoming_meetings_own_actions_and_a_managers_overdue_cases() {
    let app = TestApp::start().await;
    let (lily, _) = app.case_and_channel("Lily Ashworth").await;
    let (noah, _) = app.case_and_channel("Noah Okoye").await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    let (lily_ref, noah_ref, kai_ref) = (
        reference_of(&app, &lily).await,
        reference_of(&app, &noah).await,
        reference_of(&app, &kai).await,
    );
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let id = strategy_discussion(&app, &sam, &lily).await;
    let police = agency_id(&app, "police").await;
    let lee_id = person_id(&app, LEE).await;
    let thursday = monday + Duration::days(3);
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/actions"),
        &[
            ("description", "Visit Lily Ashworth at school with the DSL"),
            ("owner_agency_id", &police),
            ("owner_person_id", &lee_id),
            ("due_on", &thursday.to_string()),
        ],
    )
    .await;
    done(&res);

    // Invitees see the meeting coming; the owner sees their action.
    let (lee, kim, dana) = (
        app.sign_in(LEE).await,
        app.sign_in(KIM).await,
        app.sign_in(DANA).await,
    );
    for who in [&sam, &lee, &kim] {
        let d = page(&app, who, "/dashboard").await;
        assert!(
            d.contains(&format!("/meetings/{id}")),
            "upcoming for {}",
            who.person_id
        );
        assert!(d.contains(&format!("Strategy discussion — case {lily_ref}")));
        assert!(!d.contains("Your agency&#x27;s cases") && !d.contains("Your agency's cases"));
    }
    let d = page(&app, &lee, "/dashboard").await;
    assert!(
        d.contains("Visit Lily Ashworth at school"),
        "the owner's action"
    );
    assert!(!d.contains("overdue</strong>"), "not overdue yet");
    let d = page(&app, &kim, "/dashboard").await;
    assert!(
        !d.contains("Visit Lily Ashworth at school"),
        "not Kim's action"
    );
    let d = page(&app, &dana, "/dashboard").await;
    assert!(
        !d.contains(&format!("/meetings/{id}")),
        "Dana is not invited"
    );
    assert!(!d.contains("Visit Lily"));

    // Held, recorded, then left: the record and the action fall overdue.
    let sam = at(&app, london(monday + Duration::days(2), 10, 0), &[SAM])
        .await
        .remove(0);
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{id}/outcome"),
        &[
            ("section_47", "single_agency"),
            (
                "immediate_safety_actions",
                "None needed: safety plan in place",
            ),
            ("family_told", "That an enquiry is starting"),
            ("family_told_when", "Today"),
            ("initial_conference_needed", "yes"),
        ],
    )
    .await;
    done(&res);
    let next_monday = monday + Duration::days(7);
    app.clock.set(london(next_monday, 9, 0));
    let (lee, alex, priya, sam) = (
        app.sign_in(LEE).await,
        app.sign_in(ALEX).await,
        app.sign_in(PRIYA).await,
        app.sign_in(SAM).await,
    );
    let d = page(&app, &lee, "/dashboard").await;
    assert!(
        !d.contains(&format!("/meetings/{id}\"")),
        "the meeting is past"
    );
    assert!(d.contains("Visit Lily Ashworth at school"));
    assert!(d.contains("overdue</strong>"), "the action is overdue");
    let d = page(&app, &sam, "/dashboard").await;
    assert!(
        case_rows(&d).is_empty(),
        "a practitioner has no agency overview"
    );

    // Alex (children's social care manager, in every case): all three, with names,
    // Lily's first because something there is overdue.
    let record_due = working_days_on(monday + Duration::days(2), 1);
    let d = page(&app, &alex, "/dashboard").await;
    let rows = case_rows(&d);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[0].contains(&lily_ref) && rows[0].contains("Lily Ashworth"),
        "{}",
        rows[0]
    );
    assert!(
        rows[0].contains(&format!("overdue since {}", record_due.min(thursday))),
        "{}",
        rows[0]
    );
    assert!(
        rows.iter()
            .any(|r| r.contains(&noah_ref) && r.contains("Noah Okoye"))
    );
    assert!(
        rows.iter()
            .any(|r| r.contains(&kai_ref) && r.contains("Kai Brennan"))
    );

    // Priya (police manager, in Noah's case only): every case police work on,
    // the child named only in Noah's, and nothing of Lily's case content.
    let d = page(&app, &priya, "/dashboard").await;
    let rows = case_rows(&d);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let lily_row = rows
        .iter()
        .find(|r| r.contains(&lily_ref))
        .expect("Lily's case: Lee works on it");
    assert!(lily_row.contains("overdue since"), "{lily_row}");
    assert!(
        rows.iter()
            .any(|r| r.contains(&noah_ref) && r.contains("Noah Okoye"))
    );
    assert!(rows.iter().any(|r| r.contains(&kai_ref)));
    for secret in [
        "Lily",
        "Ashworth",
        "Kai Brennan",
        "NCC-104233",
        "2013-04-17",
    ] {
        assert!(!d.contains(secret), "Priya's dashboard shows {secret}");
    }
    assert!(
        !d.contains(&format!("/cases/{lily}")),
        "no link into Lily's case"
    );
    assert!(d.contains(&format!("/cases/{noah}")));
}
