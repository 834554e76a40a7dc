//! The statutory clock over HTTP: what conference, core group and child in
//! need outcomes set and meet, extending a deadline (a reason and a
//! manager's agreement), the dashboards, passing an agency's invitation to a
//! colleague, and case access that lasts only as long as the meeting.

use time::{Date, Duration, Weekday};

use crate::harness::{KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::meetings::{convene, done, error_text, form, person_id, strategy_discussion};

pub const PRIYA: &str = "priya.shah@northshire-police.example";

/// The instant of a wall-clock time in London.
pub fn london(day: Date, hh: u32, mm: u32) -> i64 {
    let local =
        chrono::NaiveDate::from_ymd_opt(day.year(), u8::from(day.month()).into(), day.day().into())
            .unwrap()
            .and_hms_opt(hh, mm, 0)
            .unwrap();
    confer::calendar::from_london_local(local).unwrap()
}

/// Move the server's clock to a Monday at 09:00 in London, at least a week
/// ahead (so that weekdays and working days in a test are known); returns
/// that Monday. Sign in after calling this: sessions idle out.
pub fn monday_morning(app: &TestApp) -> Date {
    let mut day = confer::store::meetings::london_date(app.clock_now()) + Duration::days(7);
    while day.weekday() != Weekday::Monday {
        day += Duration::days(1);
    }
    app.clock.set(london(day, 9, 0));
    day
}

/// Set the clock to a time and sign these people in again.
pub async fn at(app: &TestApp, ms: i64, emails: &[&str]) -> Vec<Signed> {
    app.clock.set(ms);
    let mut out = Vec::new();
    for e in emails {
        out.push(app.sign_in(e).await);
    }
    out
}

/// Convene a meeting of any kind as `who` (who chairs it), inviting these
/// people by email; `extra` adds or overrides fields. Returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn convene_at(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    kind: &str,
    day: Date,
    time: &str,
    people: &[&str],
    extra: &[(&str, &str)],
) -> String {
    let mut ids = Vec::new();
    for p in people {
        ids.push(person_id(app, p).await);
    }
    let date = day.to_string();
    let mut fields: Vec<(&str, &str)> = vec![
        ("kind", kind),
        ("date", &date),
        ("time", time),
        ("minutes", "60"),
        ("mode", "video_link"),
        ("location", "Teams: link in Confer"),
        ("chair_id", &who.person_id),
        ("case_access", "meeting"),
    ];
    for id in &ids {
        fields.push(("people", id));
    }
    fields.extend_from_slice(extra);
    convene(app, who, case_id, &fields).await.expect("convened")
}

/// The invitation ids a person can answer on a meeting's page.
pub fn invitation_ids(page: &str) -> Vec<String> {
    page.split("name=\"invitation_id\" value=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

pub async fn page(app: &TestApp, who: &Signed, path: &str) -> String {
    let res = who.get(app, path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.unwrap()
}

/// Answer the (only) invitation this person sees on the meeting's page.
pub async fn answer(app: &TestApp, who: &Signed, meeting_id: &str, response: &str) {
    let p = page(app, who, &format!("/meetings/{meeting_id}")).await;
    let ids = invitation_ids(&p);
    assert_eq!(ids.len(), 1, "one invitation to answer");
    let res = form(
        app,
        who,
        &format!("/meetings/{meeting_id}/respond"),
        &[("invitation_id", &ids[0]), ("response", response)],
    )
    .await;
    done(&res);
}

/// The police agency's id.
pub async fn agency_id(app: &TestApp, kind: &str) -> String {
    let db = app.db().await;
    let agencies = confer::store::agencies::list(&db).await.unwrap();
    db.close().await;
    agencies
        .into_iter()
        .find(|a| a.kind.as_str() == kind)
        .unwrap()
        .id
}

/// One stored deadline: (kind, source meeting, statutory date, due date, met on, met by).
type Stored = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

pub async fn stored_deadlines(app: &TestApp, case_id: &str) -> Vec<Stored> {
    let db = app.db().await;
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT kind, source_meeting_id, statutory_due_on, due_on, met_on, met_by_meeting_id \
         FROM deadlines WHERE case_id = $1 ORDER BY kind",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    db.close().await;
    rows
}

pub fn deadline<'a>(all: &'a [Stored], kind: &str) -> &'a Stored {
    all.iter()
        .find(|d| d.0 == kind)
        .unwrap_or_else(|| panic!("no {kind} deadline in {all:?}"))
}

/// The case page's row for one deadline (by its label).
pub fn deadline_row(case_page: &str, label: &str) -> String {
    case_page
        .split(&format!("data-deadline=\"{label}\""))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row for {label}"))
        .to_string()
}

/// `months` calendar months on, the day clamped to the month's end.
pub fn months_on(d: Date, months: u32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months as i32;
    let (year, month) = (
        total / 12,
        time::Month::try_from((total % 12 + 1) as u8).unwrap(),
    );
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, d.day().min(last)).unwrap()
}

pub fn working_days_on(d: Date, n: u32) -> Date {
    confer::domain::working_days::Calendar::default().add_working_days(d, n)
}

pub async fn outcome_of(app: &TestApp, meeting_id: &str) -> (Option<String>, String) {
    let db = app.db().await;
    let row: (Option<String>, String) =
        sqlx::query_as("SELECT outcome, status FROM meetings WHERE id = $1")
            .bind(meeting_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    db.close().await;
    row
}

/// Hold Sam's strategy discussion (two days on, 10:00) and record that a
/// joint section 47 enquiry starts and an initial conference is needed.
/// Returns the meeting's id and Sam signed in again at the meeting's start.
pub async fn strategy_with_enquiry(app: &TestApp, monday: Date, case_id: &str) -> (String, Signed) {
    let sam = app.sign_in(SAM).await;
    let id = strategy_discussion(app, &sam, case_id).await;
    let sam = at(app, london(monday + Duration::days(2), 10, 5), &[SAM])
        .await
        .remove(0);
    let res = form(
        app,
        &sam,
        &format!("/meetings/{id}/outcome"),
        &[
            ("section_47", "joint"),
            ("immediate_safety_actions", "Stays with her grandmother"),
            ("family_told", "That a joint enquiry is starting"),
            ("family_told_when", "Today, by the social worker"),
            ("initial_conference_needed", "yes"),
        ],
    )
    .await;
    done(&res);
    (id, sam)
}

#[tokio::test]
pub async fn an_initial_conference_making_a_plan_sets_the_core_group_and_review_and_meets_its_own_deadline()
 {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let (strategy, _) = strategy_with_enquiry(&app, monday, &case_id).await;
    let wednesday = monday + Duration::days(2);
    let conference_due = working_days_on(wednesday, 15);
    let before = stored_deadlines(&app, &case_id).await;
    let ic = deadline(&before, "initial_conference");
    assert_eq!(ic.1, strategy);
    assert_eq!(ic.3, conference_due.to_string());
    assert_eq!(ic.4, None, "not met yet");

    // The conference, a week after the strategy discussion, with the four
    // agencies a conference requires.
    let sam = app.sign_in(SAM).await;
    let held = wednesday + Duration::days(7);
    let conference = convene_at(
        &app,
        &sam,
        &case_id,
        "initial_child_protection_conference",
        held,
        "10:00",
        &[LEE, KIM, TOM],
        &[],
    )
    .await;
    let sam = at(&app, london(held, 10, 5), &[SAM]).await.remove(0);
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{conference}/outcome"),
        &[
            ("plan", "made"),
            ("category", "neglect"),
            ("core_group_members", "Sam Patel, Tom Evans, Kim Okafor"),
        ],
    )
    .await;
    done(&res);

    let after = stored_deadlines(&app, &case_id).await;
    let core = deadline(&after, "first_core_group");
    let review = deadline(&after, "first_review");
    let core_due = working_days_on(held, 10);
    let review_due = months_on(held, 3);
    assert_eq!(
        (core.1.as_str(), core.3.as_str()),
        (conference.as_str(), core_due.to_string().as_str())
    );
    assert_eq!(core.2, core.3, "the statutory date is the due date");
    assert_eq!(
        (review.1.as_str(), review.3.as_str()),
        (conference.as_str(), review_due.to_string().as_str())
    );
    let ic = deadline(&after, "initial_conference");
    assert_eq!(
        ic.4.as_deref(),
        Some(held.to_string().as_str()),
        "met on the day held"
    );
    assert_eq!(ic.5.as_deref(), Some(conference.as_str()));

    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains(&format!("met on {held}")), "{row}");
    let row = deadline_row(&case_page, "First core group meeting");
    assert!(row.contains(&core_due.to_string()), "{row}");
    assert!(
        row.contains("within 10 working days of the initial conference"),
        "{row}"
    );
    let row = deadline_row(&case_page, "First review conference");
    assert!(row.contains(&review_due.to_string()), "{row}");

    // The first core group, held the next Monday, meets its deadline.
    let core_day = held + Duration::days(5);
    let core_group = convene_at(
        &app,
        &sam,
        &case_id,
        "core_group",
        core_day,
        "14:00",
        &[TOM],
        &[],
    )
    .await;
    let sam = at(&app, london(core_day, 14, 0), &[SAM]).await.remove(0);
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{core_group}/outcome"),
        &[(
            "plan_progress",
            "Attendance at school is up; home visits weekly.",
        )],
    )
    .await;
    done(&res);
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "First core group meeting");
    assert!(row.contains(&format!("met on {core_day}")), "{row}");
    let row = deadline_row(&case_page, "First review conference");
    assert!(
        !row.contains("met on"),
        "a core group does not meet the review: {row}"
    );
}

#[tokio::test]
pub async fn an_initial_conference_without_a_plan_sets_no_deadline_and_a_plan_needs_its_category() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let day = monday + Duration::days(2);
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "initial_child_protection_conference",
        day,
        "10:00",
        &[LEE, KIM, TOM],
        &[],
    )
    .await;
    let sam = at(&app, london(day, 10, 0), &[SAM]).await.remove(0);
    let path = format!("/meetings/{id}/outcome");

    // A plan without its category: refused, and nothing is stored.
    let res = form(
        &app,
        &sam,
        &path,
        &[
            ("plan", "made"),
            ("category", ""),
            ("core_group_members", "Sam, Tom, Kim"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let err = error_text(&res.text().await.unwrap());
    assert!(err.contains("category"), "{err}");
    assert_eq!(outcome_of(&app, &id).await, (None, "scheduled".to_string()));
    assert!(stored_deadlines(&app, &case_id).await.is_empty());

    // No plan: recorded, and no deadline follows.
    let res = form(
        &app,
        &sam,
        &path,
        &[("plan", "not_made"), ("core_group_members", "")],
    )
    .await;
    done(&res);
    let (outcome, status) = outcome_of(&app, &id).await;
    assert!(outcome.unwrap().contains("not_made"));
    assert_eq!(status, "held");
    assert!(stored_deadlines(&app, &case_id).await.is_empty());
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    assert!(case_page.contains("No deadlines yet"));

    // Corrected to a plan, then back: the plan's deadlines come and go.
    let res = form(
        &app,
        &sam,
        &path,
        &[
            ("plan", "made"),
            ("category", "emotional_abuse"),
            ("core_group_members", "Sam, Tom, Kim"),
        ],
    )
    .await;
    done(&res);
    assert_eq!(stored_deadlines(&app, &case_id).await.len(), 2);
    let res = form(&app, &sam, &path, &[("plan", "not_made")]).await;
    done(&res);
    assert!(stored_deadlines(&app, &case_id).await.is_empty());
}

#[tokio::test]
pub async fn a_review_conference_continuing_the_plan_sets_the_next_review_six_months_on() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let first = monday + Duration::days(2);
    let review = convene_at(
        &app,
        &sam,
        &case_id,
        "review_child_protection_conference",
        first,
        "10:00",
        &[LEE, KIM, TOM],
        &[],
    )
    .await;
    let sam = at(&app, london(first, 10, 0), &[SAM]).await.remove(0);
    let path = format!("/meetings/{review}/outcome");
    // A review decides whether the plan continues, not whether one is made.
    let res = form(
        &app,
        &sam,
        &path,
        &[
            ("plan", "made"),
            ("category", "neglect"),
            ("core_group_members", "Sam, Tom"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(stored_deadlines(&app, &case_id).await.is_empty());
    let res = form(
        &app,
        &sam,
        &path,
        &[
            ("plan", "continues"),
            ("category", "neglect"),
            ("core_group_members", "Sam, Tom"),
        ],
    )
    .await;
    done(&res);
    let next_due = months_on(first, 6);
    let all = stored_deadlines(&app, &case_id).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let next = deadline(&all, "next_review");
    assert_eq!(next.3, next_due.to_string());
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Next review conference");
    assert!(row.contains(&next_due.to_string()), "{row}");
    assert!(
        row.contains("within 6 months of the previous review"),
        "{row}"
    );

    // The next review ends the plan: it meets the deadline and sets none.
    let second = first + Duration::days(14);
    let last = convene_at(
        &app,
        &sam,
        &case_id,
        "review_child_protection_conference",
        second,
        "10:00",
        &[LEE, KIM, TOM],
        &[],
    )
    .await;
    let sam = at(&app, london(second, 10, 0), &[SAM]).await.remove(0);
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{last}/outcome"),
        &[("plan", "ended")],
    )
    .await;
    done(&res);
    let all = stored_deadlines(&app, &case_id).await;
    assert_eq!(
        all.len(),
        1,
        "ending the plan sets no further review: {all:?}"
    );
    assert_eq!(all[0].4.as_deref(), Some(second.to_string().as_str()));
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Next review conference");
    assert!(row.contains(&format!("met on {second}")), "{row}");
}

#[tokio::test]
pub async fn core_group_and_child_in_need_outcomes_need_the_plans_progress() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let day = monday + Duration::days(1);
    let core_group = convene_at(
        &app,
        &sam,
        &case_id,
        "core_group",
        day,
        "10:00",
        &[TOM, KIM],
        &[],
    )
    .await;
    let cin = convene_at(
        &app,
        &sam,
        &case_id,
        "child_in_need",
        day,
        "11:00",
        &[TOM],
        &[],
    )
    .await;
    let sam = at(&app, london(day, 11, 0), &[SAM]).await.remove(0);
    for (id, progress) in [
        (
            &core_group,
            "Core group: school attendance is 96% this half term.",
        ),
        (
            &cin,
            "Child in need: family support worker visits twice a week.",
        ),
    ] {
        let path = format!("/meetings/{id}/outcome");
        for blank in ["", "   "] {
            let res = form(&app, &sam, &path, &[("plan_progress", blank)]).await;
            assert_eq!(res.status(), 400, "blank progress '{blank}'");
            let err = error_text(&res.text().await.unwrap());
            assert!(err.contains("progress of the plan"), "{err}");
            assert_eq!(outcome_of(&app, id).await, (None, "scheduled".to_string()));
        }
        let res = form(&app, &sam, &path, &[("plan_progress", progress)]).await;
        done(&res);
        let (outcome, status) = outcome_of(&app, id).await;
        assert!(outcome.unwrap().contains(progress));
        assert_eq!(status, "held");
        let p = page(&app, &sam, &format!("/meetings/{id}")).await;
        assert!(p.contains("Progress of the plan"));
        assert!(p.contains(progress));
    }
    assert!(
        stored_deadlines(&app, &case_id).await.is_empty(),
        "progress sets no statutory deadline"
    );
}
