//! Missing episodes over HTTP: who may record episodes and returns (the
//! police, a care provider and children's social care in the case) and who
//! may not (another agency in the case is refused; anyone outside the case,
//! a guest of another case included, gets the same not-found as an unknown
//! id); the episode's own discussion; the 72-hour clock (due, at risk,
//! overdue, completed in time or late) on the pages and dashboards.

use time::Duration;

use crate::harness::{ALEX, DANA, KIM, LEE, SAM, Signed, TOM, TestApp};
use crate::meetings::{error_text, form};
use crate::meetings_clock::{PRIYA, at, london, monday_morning};

pub const JESS: &str = "jess.carter@oak-house.example";
pub const ROBIN: &str = "robin.shaw@missing-service.example";
const HOUR: i64 = 3_600_000;

/// London date and time fields for an instant.
pub fn date_time(ms: i64) -> (String, String) {
    let local = confer::calendar::london_local(ms);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:%M").to_string(),
    )
}

/// A children's home (a care provider, registered as an `other` agency)
/// with Jess, a member of Kai's case team; and a commissioned missing
/// service with nobody in Confer yet.
pub async fn care_provider(app: &TestApp, case_id: &str) {
    let db = app.db().await;
    let by = confer::store::agencies::By {
        person_id: None,
        label: "test",
    };
    let now = app.clock_now();
    let home = confer::store::agencies::add(
        &db,
        by,
        now,
        "Oak House Children's Home",
        confer::domain::vocabulary::AgencyKind::Other,
        None,
    )
    .await
    .unwrap();
    confer::store::agencies::add(
        &db,
        by,
        now,
        "Northshire Missing Service",
        confer::domain::vocabulary::AgencyKind::Other,
        None,
    )
    .await
    .unwrap();
    let jess = confer::store::people::add(
        &db,
        by,
        now,
        confer::store::people::NewPerson {
            agency_id: &home.id,
            name: "Jess Carter",
            email: JESS,
            role: confer::domain::vocabulary::Role::Practitioner,
            guest: false,
        },
    )
    .await
    .unwrap();
    confer::store::cases::add_member(
        &db,
        by,
        now,
        case_id,
        &jess.id,
        "the child's residential carer",
        None,
    )
    .await
    .unwrap();
    db.close().await;
}

/// Kai's case with the care provider, the clock at a Monday 09:00 in
/// London, and Lee (police) and Sam (the lead social worker) signed in.
pub async fn kai_on_monday(app: &TestApp) -> (String, time::Date, i64, Signed, Signed) {
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    care_provider(app, &kai).await;
    let monday = monday_morning(app);
    let now = london(monday, 9, 0);
    let [lee, sam] = at(app, now, &[LEE, SAM]).await.try_into().ok().unwrap();
    (kai, monday, now, lee, sam)
}

/// Record an episode; the new episode's id, or the status and error.
pub async fn report(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    at_ms: i64,
) -> Result<String, (u16, String)> {
    let (date, time) = date_time(at_ms);
    let res = form(
        app,
        who,
        &format!("/cases/{case_id}/missing"),
        &[
            ("date", &date),
            ("time", &time),
            ("reported_by", "Night carer"),
            ("police_reference", "NP-26-0412"),
        ],
    )
    .await;
    redirected_id(res, &format!("/cases/{case_id}/missing/")).await
}

async fn redirected_id(res: reqwest::Response, prefix: &str) -> Result<String, (u16, String)> {
    if res.status() == 303 {
        let to = res.headers()["location"].to_str().unwrap().to_string();
        return Ok(to
            .trim_start_matches(prefix)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string());
    }
    let status = res.status().as_u16();
    Err((status, error_text(&res.text().await.unwrap())))
}

/// Record the return at `at_ms`.
pub async fn record_return(
    app: &TestApp,
    who: &Signed,
    case_id: &str,
    episode: &str,
    at_ms: i64,
) -> Result<(), (u16, String)> {
    let (date, time) = date_time(at_ms);
    let res = form(
        app,
        who,
        &format!("/cases/{case_id}/missing/{episode}/return"),
        &[
            ("date", &date),
            ("time", &time),
            ("found_where", "Bus station in the city centre"),
            ("found_by", "Police patrol"),
            ("harmed", "no"),
        ],
    )
    .await;
    redirected_id(res, "").await.map(|_| ())
}

/// GET a page: status and body.
pub async fn page(app: &TestApp, who: &Signed, path: &str) -> (u16, String) {
    let res = who.get(app, path).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// How many rows a query counts (one `$1` bind).
pub async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let db = app.db().await;
    let n: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    db.close().await;
    n.0
}

/// What each query counts (each with a `$1` bound to "x0").
pub async fn counts(app: &TestApp, queries: &[&str]) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in queries {
        out.push(count(app, sql, "x0").await);
    }
    out
}

/// Everything an invalid request must leave untouched.
pub async fn snapshot(app: &TestApp) -> Vec<i64> {
    counts(
        app,
        &[
        "SELECT COUNT(*) FROM missing_episodes WHERE $1 = $1",
        "SELECT COUNT(*) FROM missing_episodes WHERE returned_at IS NOT NULL AND $1 = $1",
        "SELECT COUNT(*) FROM return_interviews WHERE outcome IS NOT NULL AND $1 = $1",
        "SELECT COUNT(*) FROM return_interviews WHERE interviewer_person_id IS NOT NULL AND $1 = $1",
        "SELECT COUNT(*) FROM rhi_attempts WHERE $1 = $1",
        "SELECT COUNT(*) FROM strategy_prompts WHERE status <> 'open' AND $1 = $1",
        "SELECT COUNT(*) FROM audit_events WHERE action LIKE 'missing.%' OR action LIKE 'strategy_prompt.%' OR $1 = 'x'",
        ],
    )
    .await
}

/// Add a guest of another agency to a case, as a case team would.
pub async fn guest_in(app: &TestApp, case_id: &str, email: &str) {
    let db = app.db().await;
    let by = confer::store::agencies::By {
        person_id: None,
        label: "test",
    };
    let agency = confer::store::agencies::find(&db, "Riverside Academy")
        .await
        .unwrap();
    let p = confer::store::people::add(
        &db,
        by,
        app.clock_now(),
        confer::store::people::NewPerson {
            agency_id: &agency.id,
            name: "Guest Teacher",
            email,
            role: confer::domain::vocabulary::Role::Practitioner,
            guest: true,
        },
    )
    .await
    .unwrap();
    confer::store::cases::add_member(&db, by, app.clock_now(), case_id, &p.id, "invited", None)
        .await
        .unwrap();
    db.close().await;
}

#[tokio::test]
async fn police_care_providers_and_social_care_record_others_are_refused_or_see_nothing() {
    let app = TestApp::start().await;
    let (kai, _) = app.case_and_channel("Kai Brennan").await;
    let (lily, _) = app.case_and_channel("Lily Ashworth").await;
    care_provider(&app, &kai).await;
    guest_in(&app, &lily, "guest.teacher@riverside-academy.example").await;
    let monday = monday_morning(&app);
    let now = london(monday, 9, 0);
    let [lee, jess, sam, dana, kim, priya, guest] = at(
        &app,
        now,
        &[
            LEE,
            JESS,
            SAM,
            DANA,
            KIM,
            PRIYA,
            "guest.teacher@riverside-academy.example",
        ],
    )
    .await
    .try_into()
    .ok()
    .unwrap();

    // The police, the care provider and children's social care record.
    let by_police = report(&app, &lee, &kai, now - 13 * HOUR).await.unwrap();
    let by_home = report(&app, &jess, &kai, now - 2 * HOUR).await.unwrap();
    record_return(&app, &jess, &kai, &by_home, now - HOUR)
        .await
        .unwrap();
    record_return(&app, &sam, &kai, &by_police, now - 3 * HOUR)
        .await
        .unwrap();
    let (status, list) = page(&app, &sam, &format!("/cases/{kai}/missing")).await;
    assert_eq!(status, 200);
    assert!(
        list.contains(&format!("/cases/{kai}/missing/{by_police}")),
        "{list}"
    );
    assert!(list.contains("NP-26-0412"));
    assert!(list.contains("id=\"trend-current\">2 episodes"), "{list}");

    // Housing is in the case but does not record episodes: refused, nothing written.
    let before = snapshot(&app).await;
    let (status, why) = report(&app, &dana, &kai, now - HOUR).await.unwrap_err();
    assert_eq!(status, 403, "{why}");
    let (status, _) = page(&app, &dana, &format!("/cases/{kai}/missing/{by_police}")).await;
    assert_eq!(status, 200, "housing in the case reads the episode");
    assert_eq!(snapshot(&app).await, before);

    // Outside the case: exactly the not-found of an unknown id.
    for who in [&kim, &priya, &guest] {
        let (unknown_status, unknown_body) = page(
            &app,
            who,
            "/cases/00000000-0000-0000-0000-000000000000/missing",
        )
        .await;
        assert_eq!(unknown_status, 404);
        for path in [
            format!("/cases/{kai}/missing"),
            format!("/cases/{kai}/missing/{by_police}"),
            format!("/cases/{kai}/missing/{by_police}/interview"),
        ] {
            let (status, body) = page(&app, who, &path).await;
            assert_eq!(status, 404, "{path}");
            assert_eq!(body, unknown_body, "the same page as for an unknown id");
        }
        assert_eq!(
            report(&app, who, &kai, now - HOUR).await.unwrap_err().0,
            404
        );
        assert_eq!(
            record_return(&app, who, &kai, &by_police, now)
                .await
                .unwrap_err()
                .0,
            404
        );
    }
    // Kai's episode reached through Lily's case, by a member of Lily's: not found.
    let tom = app.sign_in(TOM).await;
    assert_eq!(
        page(&app, &tom, &format!("/cases/{lily}/missing/{by_police}"))
            .await
            .0,
        404
    );
    assert_eq!(
        page(&app, &sam, &format!("/cases/{kai}/missing/nope"))
            .await
            .0,
        404
    );
    assert_eq!(snapshot(&app).await, before);

    // The episode's own discussion.
    let (_, episode) = page(&app, &sam, &format!("/cases/{kai}/missing/{by_police}")).await;
    assert!(episode.contains("id=\"confer-channel\""), "{episode}");
    let res = form(
        &app,
        &sam,
        &format!("/cases/{kai}/missing/{by_police}/messages"),
        &[
            ("client_id", "m1"),
            ("body", "Found with two older youths."),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, episode) = page(&app, &lee, &format!("/cases/{kai}/missing/{by_police}")).await;
    assert!(episode.contains("Found with two older youths."));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "missing.episode_recorded"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "missing.return_recorded"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn the_72_hour_clock_is_due_then_at_risk_then_overdue_and_closes_in_time_or_late() {
    let app = TestApp::start().await;
    let (kai, monday, returned, lee, sam) = kai_on_monday(&app).await;
    let first = report(&app, &lee, &kai, returned - 12 * HOUR)
        .await
        .unwrap();
    record_return(&app, &lee, &kai, &first, returned)
        .await
        .unwrap();
    let rhi = format!("/cases/{kai}/missing/{first}/interview");
    let (_, body) = page(&app, &sam, &rhi).await;
    let thursday = (monday + Duration::days(3)).to_string();
    assert!(body.contains("id=\"rhi-clock\">due</strong>"), "{body}");
    assert!(
        body.contains(&format!("due by {thursday} 09:00")),
        "a plain 72 hours: {body}"
    );

    // The lead social worker is not independent; a guest from the missing service is.
    let sam_id = sam.person_id.clone();
    let res = form(
        &app,
        &sam,
        &format!("{rhi}/interviewer"),
        &[("interviewer_id", &sam_id)],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(error_text(&res.text().await.unwrap()).contains("independent"));
    let db = app.db().await;
    let service = confer::store::agencies::find(&db, "Northshire Missing Service")
        .await
        .unwrap();
    db.close().await;
    let res = form(
        &app,
        &sam,
        &format!("{rhi}/interviewer"),
        &[
            ("guest_name", "Robin Shaw"),
            ("guest_email", ROBIN),
            ("guest_agency_id", &service.id),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let robin = app.sign_in(ROBIN).await;
    let (status, body) = page(&app, &robin, &rhi).await;
    assert_eq!(status, 200, "the guest interviewer joined the case team");
    assert!(body.contains("Robin Shaw (Northshire Missing Service)"));

    // Wednesday 09:00: 24 hours left, at risk; on the dashboards.
    let [robin, sam, alex] = at(&app, returned + 48 * HOUR, &[ROBIN, SAM, ALEX])
        .await
        .try_into()
        .ok()
        .unwrap();
    let (_, body) = page(&app, &robin, &rhi).await;
    assert!(body.contains("id=\"rhi-clock\">at risk</strong>"), "{body}");
    for who in [&robin, &sam] {
        let (_, dash) = page(&app, who, "/dashboard").await;
        assert!(dash.contains(&format!("{rhi}\">Case")), "{dash}");
        assert!(dash.contains("confer-rhi-clock\">at risk"), "{dash}");
    }
    let (_, dash) = page(&app, &alex, "/dashboard").await;
    assert!(
        dash.contains("id=\"team-rhi-list\""),
        "the manager sees the agency's clock: {dash}"
    );
    let (_, case_page) = page(&app, &sam, &format!("/cases/{kai}")).await;
    assert!(
        case_page.contains("confer-rhi-clock\">at risk"),
        "{case_page}"
    );

    // A minute past the deadline: overdue; the outcome now is late.
    let [robin, sam] = at(&app, returned + 72 * HOUR + 60_000, &[ROBIN, SAM])
        .await
        .try_into()
        .ok()
        .unwrap();
    let (_, dash) = page(&app, &robin, "/dashboard").await;
    assert!(dash.contains("confer-rhi-clock\">overdue"), "{dash}");
    let (date, time) = date_time(returned + 72 * HOUR + 60_000);
    let res = form(
        &app,
        &robin,
        &format!("{rhi}/outcome"),
        &[("outcome", "completed"), ("date", &date), ("time", &time)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, body) = page(&app, &sam, &rhi).await;
    assert!(
        body.contains("id=\"rhi-clock\">completed late</strong>"),
        "{body}"
    );
    let (_, dash) = page(&app, &robin, "/dashboard").await;
    assert!(
        !dash.contains(&rhi),
        "a closed interview leaves the dashboard"
    );

    // An interview completed by its deadline is in time (recorded afterwards).
    let second = report(&app, &lee_again(&app).await, &kai, returned + 10 * HOUR)
        .await
        .unwrap();
    record_return(&app, &sam, &kai, &second, returned + 20 * HOUR)
        .await
        .unwrap();
    let rhi2 = format!("/cases/{kai}/missing/{second}/interview");
    let robin_id = robin.person_id.clone();
    assert_eq!(
        form(
            &app,
            &sam,
            &format!("{rhi2}/interviewer"),
            &[("interviewer_id", &robin_id)]
        )
        .await
        .status(),
        303
    );
    let (date, time) = date_time(returned + 30 * HOUR);
    let res = form(
        &app,
        &robin,
        &format!("{rhi2}/outcome"),
        &[("outcome", "completed"), ("date", &date), ("time", &time)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, body) = page(&app, &sam, &rhi2).await;
    assert!(
        body.contains("id=\"rhi-clock\">completed in time</strong>"),
        "{body}"
    );
}

async fn lee_again(app: &TestApp) -> Signed {
    app.sign_in(LEE).await
}
