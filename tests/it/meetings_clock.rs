//! The statutory clock over HTTP: what conference, core group and child in
//! need outcomes set and meet, extending a deadline (a reason and a
//! manager's agreement), the dashboards, passing an agency's invitation to a
//! colleague, and case access that lasts only as long as the meeting.

use time::{Date, Duration, Weekday};

use crate::harness::{ALEX, DANA, KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::meetings::{convene, done, error_text, form, person_id, strategy_discussion};
use crate::smtp_sink::SmtpSink;

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

fn deadline<'a>(all: &'a [Stored], kind: &str) -> &'a Stored {
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
fn months_on(d: Date, months: u32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months as i32;
    let (year, month) = (
        total / 12,
        time::Month::try_from((total % 12 + 1) as u8).unwrap(),
    );
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, d.day().min(last)).unwrap()
}

fn working_days_on(d: Date, n: u32) -> Date {
    confer::domain::working_days::Calendar::default().add_working_days(d, n)
}

async fn outcome_of(app: &TestApp, meeting_id: &str) -> (Option<String>, String) {
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
async fn strategy_with_enquiry(app: &TestApp, monday: Date, case_id: &str) -> (String, Signed) {
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
async fn an_initial_conference_making_a_plan_sets_the_core_group_and_review_and_meets_its_own_deadline()
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
async fn an_initial_conference_without_a_plan_sets_no_deadline_and_a_plan_needs_its_category() {
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
async fn a_review_conference_continuing_the_plan_sets_the_next_review_six_months_on() {
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
async fn core_group_and_child_in_need_outcomes_need_the_plans_progress() {
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

async fn due_on(app: &TestApp, deadline_id: &str) -> String {
    let db = app.db().await;
    let (due,): (String,) = sqlx::query_as("SELECT due_on FROM deadlines WHERE id = $1")
        .bind(deadline_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    due
}

async fn extension_rows(
    app: &TestApp,
    deadline_id: &str,
) -> Vec<(String, String, String, Option<String>)> {
    let db = app.db().await;
    let rows = sqlx::query_as(
        "SELECT id, new_due_on, status, decided_by FROM deadline_extensions WHERE deadline_id = $1 ORDER BY requested_at, id",
    )
    .bind(deadline_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    db.close().await;
    rows
}

#[tokio::test]
async fn a_deadline_moves_only_with_a_reason_and_a_managers_agreement() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let (strategy, _) = strategy_with_enquiry(&app, monday, &case_id).await;
    let db = app.db().await;
    let (deadline_id, statutory): (String, String) = sqlx::query_as(
        "SELECT id, statutory_due_on FROM deadlines WHERE case_id = $1 AND kind = 'initial_conference'",
    )
    .bind(&case_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let old = confer::store::deadlines::parse_day(&statutory).unwrap();
    let later = (old + Duration::days(7)).to_string();
    let extend = format!("/cases/{case_id}/deadlines/{deadline_id}/extend");
    let (sam, lee, alex, dana) = (
        app.sign_in(SAM).await,
        app.sign_in(LEE).await,
        app.sign_in(ALEX).await,
        app.sign_in(DANA).await,
    );

    // The social worker asks: it waits for a manager.
    let res = form(
        &app,
        &sam,
        &extend,
        &[
            ("new_due_on", &later),
            ("reason", "Father in hospital until the 20th"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/cases/{case_id}#clock").as_str()
    );
    let ext = extension_rows(&app, &deadline_id).await;
    assert_eq!(ext.len(), 1);
    assert_eq!(
        (ext[0].1.as_str(), ext[0].2.as_str()),
        (later.as_str(), "requested")
    );
    let ext_id = ext[0].0.clone();
    assert_eq!(
        due_on(&app, &deadline_id).await,
        statutory,
        "unchanged while waiting"
    );
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains("waiting for a manager"), "{row}");
    assert!(row.contains("Father in hospital"), "{row}");
    assert!(
        !row.contains(&format!("statutory date {statutory}")),
        "{row}"
    );
    // One request at a time.
    let res = form(
        &app,
        &sam,
        &extend,
        &[("new_due_on", &later), ("reason", "Again")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(extension_rows(&app, &deadline_id).await.len(), 1);

    // Neither a practitioner of another agency nor the social worker agrees.
    let decide = format!("/cases/{case_id}/extensions/{ext_id}/decide");
    for who in [&lee, &sam] {
        let res = form(&app, who, &decide, &[("decision", "agree")]).await;
        assert_eq!(res.status(), 403);
    }
    // Someone outside the case learns nothing, whether or not it exists.
    for path in [&extend, &decide] {
        let res = form(
            &app,
            &dana,
            path,
            &[
                ("new_due_on", &later),
                ("reason", "x"),
                ("decision", "agree"),
            ],
        )
        .await;
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(due_on(&app, &deadline_id).await, statutory);
    assert_eq!(extension_rows(&app, &deadline_id).await[0].2, "requested");

    // The manager agrees: the date moves; the statutory date stays on record.
    let res = form(&app, &alex, &decide, &[("decision", "agree")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(due_on(&app, &deadline_id).await, later);
    let (statutory_now,): (String,) =
        sqlx::query_as("SELECT statutory_due_on FROM deadlines WHERE id = $1")
            .bind(&deadline_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(statutory_now, statutory);
    let ext = extension_rows(&app, &deadline_id).await;
    assert_eq!(ext[0].2, "agreed");
    assert_eq!(ext[0].3.as_deref(), Some(alex.person_id.as_str()));
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains(&later), "{row}");
    assert!(
        row.contains(&format!("statutory date {statutory}")),
        "{row}"
    );
    assert!(row.contains("agreed by Alex Morgan"), "{row}");
    // Decided once.
    let res = form(&app, &alex, &decide, &[("decision", "refuse")]).await;
    assert_eq!(res.status(), 400);

    // Even a manager needs a reason, and a later date.
    let even_later = (old + Duration::days(10)).to_string();
    let res = form(
        &app,
        &alex,
        &extend,
        &[("new_due_on", &even_later), ("reason", "  ")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("reason"));
    let earlier = (old + Duration::days(3)).to_string();
    let res = form(
        &app,
        &alex,
        &extend,
        &[("new_due_on", &earlier), ("reason", "Room booked")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("later than"));
    assert_eq!(extension_rows(&app, &deadline_id).await.len(), 1);
    assert_eq!(due_on(&app, &deadline_id).await, later);
    // A manager's own request is agreed as it is made.
    let res = form(
        &app,
        &alex,
        &extend,
        &[
            ("new_due_on", &even_later),
            ("reason", "Interpreter needed"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(due_on(&app, &deadline_id).await, even_later);
    let ext = extension_rows(&app, &deadline_id).await;
    assert_eq!(ext.len(), 2);
    assert!(ext.iter().all(|e| e.2 == "agreed"), "{ext:?}");

    // Correcting a detail of the strategy discussion's record keeps the
    // deadline it set, with its agreed later date and their history.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{strategy}/outcome"),
        &[
            ("section_47", "joint"),
            ("immediate_safety_actions", "Stays with her grandmother"),
            ("family_told", "That a joint enquiry is starting"),
            ("family_told_when", "Today at 4pm, by the social worker"),
            ("initial_conference_needed", "yes"),
        ],
    )
    .await;
    done(&res);
    let (id_now, due_now): (String, String) = sqlx::query_as(
        "SELECT id, due_on FROM deadlines WHERE case_id = $1 AND kind = 'initial_conference'",
    )
    .bind(&case_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(
        (id_now.as_str(), due_now.as_str()),
        (deadline_id.as_str(), even_later.as_str())
    );
    assert_eq!(extension_rows(&app, &deadline_id).await.len(), 2);
    let case_page = page(&app, &sam, &format!("/cases/{case_id}")).await;
    let row = deadline_row(&case_page, "Initial child protection conference");
    assert!(row.contains("agreed by Alex Morgan"), "{row}");
    // A correction that no longer needs a conference removes it.
    let res = form(
        &app,
        &sam,
        &format!("/meetings/{strategy}/outcome"),
        &[
            ("section_47", "none"),
            ("immediate_safety_actions", "Stays with her grandmother"),
            ("family_told", "That no enquiry is needed"),
            ("family_told_when", "Today at 4pm, by the social worker"),
        ],
    )
    .await;
    done(&res);
    let kinds: Vec<String> = stored_deadlines(&app, &case_id)
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(kinds, vec!["strategy_record".to_string()]);
}

/// The rows of the manager's table of cases.
fn case_rows(dashboard: &str) -> Vec<String> {
    dashboard
        .split("confer-case-row")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap().to_string())
        .collect()
}

async fn reference_of(app: &TestApp, case_id: &str) -> String {
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
async fn dashboards_show_upcoming_meetings_own_actions_and_a_managers_overdue_cases() {
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

#[tokio::test]
async fn an_agency_invitation_can_be_taken_up_or_passed_on_within_that_agency_only() {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder().smtp(sink.port).start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let (police, health) = (
        agency_id(&app, "police").await,
        agency_id(&app, "health").await,
    );
    let guest_email = "rowan.green@riverside-surgery.example";
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        monday + Duration::days(2),
        "10:00",
        &[KIM, ALEX],
        &[
            ("agencies", &police),
            ("guest_email", guest_email),
            ("guest_name", "Dr Rowan Green"),
            ("guest_agency_id", &health),
        ],
    )
    .await;
    let mail = sink.wait_for(4).await;
    let mut to: Vec<String> = mail.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let mut expected = vec![ALEX, "mash@northshire-police.example", KIM, guest_email];
    expected.sort();
    assert_eq!(to, expected);
    let db = app.db().await;
    let (duty,): (String,) = sqlx::query_as(
        "SELECT id FROM meeting_invitations WHERE meeting_id = $1 AND person_id IS NULL",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let duty_state = || {
        let db = db.clone();
        let duty = duty.clone();
        async move {
            let row: (Option<String>, String) =
                sqlx::query_as("SELECT person_id, response FROM meeting_invitations WHERE id = $1")
                    .bind(&duty)
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
            row
        }
    };

    // Any police officer sees the agency's invitation, in the case or not.
    let lee = app.sign_in(LEE).await;
    let priya = app.sign_in(PRIYA).await;
    for who in [&lee, &priya] {
        let p = page(&app, who, &format!("/meetings/{id}")).await;
        assert_eq!(invitation_ids(&p), vec![duty.clone()]);
        assert!(p.contains("duty address"));
    }
    // Nobody of another agency can take it up: a health guest, or Kim of health.
    let guest = app.sign_in(guest_email).await;
    let kim = app.sign_in(KIM).await;
    let p = page(&app, &guest, &format!("/meetings/{id}")).await;
    assert!(
        !invitation_ids(&p).contains(&duty),
        "the guest has only their own invitation"
    );
    for who in [&guest, &kim] {
        let res = form(
            &app,
            who,
            &format!("/meetings/{id}/respond"),
            &[("invitation_id", &duty), ("response", "accepted")],
        )
        .await;
        assert_eq!(res.status(), 404);
    }
    assert_eq!(duty_state().await, (None, "pending".to_string()));

    // Lee cannot pass it outside the police.
    let res = form(
        &app,
        &lee,
        &format!("/meetings/{id}/respond"),
        &[
            ("invitation_id", &duty),
            ("response", "nominated"),
            ("nominee_email", KIM),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let err = error_text(&res.text().await.unwrap());
    assert!(
        err.contains("only nominate a colleague from Northshire Police"),
        "{err}"
    );
    assert_eq!(duty_state().await, (None, "pending".to_string()));

    // Lee passes it to Priya: she is invited by email and accepts.
    let res = form(
        &app,
        &lee,
        &format!("/meetings/{id}/respond"),
        &[
            ("invitation_id", &duty),
            ("response", "nominated"),
            ("nominee_email", PRIYA),
            ("note", "DS Shah decides for the police"),
        ],
    )
    .await;
    done(&res);
    assert_eq!(
        duty_state().await,
        (Some(lee.person_id.clone()), "nominated".to_string())
    );
    let mail = sink.wait_for(5).await;
    assert_eq!(mail[4].to, vec![PRIYA.to_string()]);
    assert!(
        mail[4].data.contains("text/calendar"),
        "a calendar invitation"
    );
    assert!(mail[4].body().contains(&format!("/meetings/{id}")));
    for secret in ["Lily", "Ashworth", "NCC-104233", "2013-04-17"] {
        assert!(!mail[4].data.contains(secret));
    }
    let (nominee, from): (String, Option<String>) = sqlx::query_as(
        "SELECT person_id, nominated_from FROM meeting_invitations WHERE meeting_id = $1 AND response = 'pending' AND email = $2",
    )
    .bind(&id)
    .bind(PRIYA)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(nominee, priya.person_id);
    assert_eq!(from.as_deref(), Some(duty.as_str()));
    let p = page(&app, &lee, &format!("/meetings/{id}")).await;
    assert!(p.contains("Nominated a colleague"));
    assert!(
        !p.contains("Send your answer"),
        "passed on: nothing left for Lee to answer"
    );
    answer(&app, &priya, &id, "accepted").await;
    let p = page(&app, &sam, &format!("/meetings/{id}")).await;
    let invitations: Vec<&str> = p.split("confer-invitation").skip(1).collect();
    assert!(
        invitations
            .iter()
            .any(|r| r.contains("DS Priya Shah") && r.contains(">Accepted")),
        "the organiser sees Priya coming"
    );
    assert!(
        invitations
            .iter()
            .any(|r| r.contains("DC Lee Harris") && r.contains("Nominated a colleague"))
    );
}

#[tokio::test]
async fn meeting_case_access_lasts_until_the_meeting_ends() {
    let app = TestApp::start().await;
    let (case_id, _) = app.case_and_channel("Lily Ashworth").await;
    let monday = monday_morning(&app);
    let sam = app.sign_in(SAM).await;
    let day = monday + Duration::days(2);
    let id = convene_at(
        &app,
        &sam,
        &case_id,
        "strategy_discussion",
        day,
        "10:00",
        &[PRIYA, KIM, ALEX],
        &[("case_access", "meeting")],
    )
    .await;
    let priya = app.sign_in(PRIYA).await;
    let case_path = format!("/cases/{case_id}");
    assert_eq!(
        priya.get(&app, &case_path).await.status(),
        404,
        "not before accepting"
    );
    let p = page(&app, &priya, &format!("/meetings/{id}")).await;
    assert!(!p.contains("Lily"), "an invitation does not name the child");
    answer(&app, &priya, &id, "accepted").await;
    let res = priya.get(&app, &case_path).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Lily Ashworth"));

    // Still there in the last minute of the meeting…
    let priya = at(&app, london(day, 10, 59), &[PRIYA]).await.remove(0);
    assert_eq!(priya.get(&app, &case_path).await.status(), 200);
    // …and gone once it has ended.
    let priya = at(&app, london(day, 11, 1), &[PRIYA]).await.remove(0);
    assert_eq!(priya.get(&app, &case_path).await.status(), 404);
    let res = priya.get(&app, &format!("/meetings/{id}")).await;
    if res.status() == 200 {
        let p = res.text().await.unwrap();
        assert!(
            !p.contains("Lily"),
            "the meeting page no longer names the child"
        );
    } else {
        assert_eq!(res.status(), 404);
    }
    let d = page(&app, &priya, "/dashboard").await;
    assert!(!d.contains(&format!("/cases/{case_id}")));
    // The case team members are unaffected.
    let sam = app.sign_in(SAM).await;
    assert_eq!(sam.get(&app, &case_path).await.status(), 200);
}
