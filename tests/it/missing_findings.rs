//! Findings of a return home interview over HTTP: who may record them (the
//! interviewer, children's social care) and who may not (the police in the
//! case: refused; anyone outside the case: the not-found of an unknown id);
//! only once the outcome allows; bad input writes nothing; exploitation
//! indicators raise one strategy prompt; restricted entries are withheld
//! from members outside the case-holding agency.

use crate::harness::{KIM, Signed, TOM, TestApp};
use crate::meetings::{error_text, form};
use crate::missing::{JESS, count, counts, date_time, kai_on_monday, page, record_return, report};

const HOUR: i64 = 3_600_000;

pub async fn post(
    app: &TestApp,
    who: &Signed,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let res = form(app, who, path, fields).await;
    let status = res.status().as_u16();
    (status, error_text(&res.text().await.unwrap_or_default()))
}

/// Kai's case with an episode returned 30 hours ago, Jess (the care
/// provider) assigned as interviewer and the interview completed.
pub struct Interviewed {
    pub app: TestApp,
    pub kai: String,
    /// `/cases/{kai}/missing/{episode}`
    pub episode: String,
    pub sam: Signed,
    pub lee: Signed,
    pub jess: Signed,
    /// The clock's time (Monday 09:00).
    pub now: i64,
}

pub async fn interviewed(app: TestApp) -> Interviewed {
    let (kai, _, now, lee, sam) = kai_on_monday(&app).await;
    let id = report(&app, &lee, &kai, now - 35 * HOUR).await.unwrap();
    record_return(&app, &lee, &kai, &id, now - 30 * HOUR)
        .await
        .unwrap();
    let episode = format!("/cases/{kai}/missing/{id}");
    let jess = app.sign_in(JESS).await;
    let jess_id = jess.person_id.clone();
    let (status, why) = post(
        &app,
        &sam,
        &format!("{episode}/interview/interviewer"),
        &[("interviewer_id", &jess_id)],
    )
    .await;
    assert_eq!(status, 303, "{why}");
    let (d, t) = date_time(now - 20 * HOUR);
    let fields = [
        ("outcome", "completed"),
        ("date", d.as_str()),
        ("time", t.as_str()),
    ];
    let (status, why) = post(
        &app,
        &jess,
        &format!("{episode}/interview/outcome"),
        &fields,
    )
    .await;
    assert_eq!(status, 303, "{why}");
    Interviewed {
        app,
        kai,
        episode,
        sam,
        lee,
        jess,
        now,
    }
}

/// An interviewed episode whose findings the interviewer has recorded
/// ([`findings_fields`], high risk).
pub async fn with_findings(app: TestApp) -> Interviewed {
    let done = interviewed(app).await;
    let (status, why) = record(
        &done.app,
        &done.jess,
        &done.episode,
        &findings_fields("high"),
    )
    .await;
    assert_eq!(status, 303, "{why}");
    done
}

/// The findings form: criminal exploitation and county lines, a place and
/// a restricted associate.
pub fn findings_fields(risk: &str) -> Vec<(&'static str, String)> {
    [
        ("push_factors", "Arguments at home about curfew"),
        ("pull_factors", "Older friends with money"),
        ("where_child_was", "A flat above the takeaway on Mill Road"),
        ("who_with", "Two older boys"),
        ("indicator", "criminal"),
        ("indicator", "county_lines"),
        ("harm", "Bruised wrist"),
        ("child_wishes", "To stay at Oak House"),
        ("wants_next", "To see his sister more"),
        ("risk", risk),
        ("free_text", "He carried a phone he would not explain"),
        ("entry_kind_0", "place"),
        ("entry_value_0", "Mill Road takeaway"),
        ("entry_note_0", "Stayed two nights"),
        ("entry_kind_1", "associate"),
        ("entry_value_1", "Dean Marsh"),
        ("entry_note_1", "Drives a grey Astra"),
        ("entry_restricted_1", "yes"),
        (
            "entry_reason_1",
            "Third-party identity: police intelligence",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The findings form with these fields' values replaced.
pub fn changed(with: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut f = findings_fields("high");
    for (k, v) in with {
        f.retain(|(key, _)| key != k);
        f.push((k, v.to_string()));
    }
    f
}

pub async fn record(
    app: &TestApp,
    who: &Signed,
    episode: &str,
    fields: &[(&'static str, String)],
) -> (u16, String) {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(app, who, &format!("{episode}/findings"), &f).await
}

async fn written(app: &TestApp) -> Vec<i64> {
    counts(
        app,
        &[
            "SELECT COUNT(*) FROM rhi_findings WHERE $1 = $1",
            "SELECT COUNT(*) FROM finding_entries WHERE $1 = $1",
            "SELECT COUNT(*) FROM strategy_prompts WHERE $1 = $1",
            "SELECT COUNT(*) FROM audit_events WHERE action LIKE 'missing.findings%' OR $1 = 'x'",
        ],
    )
    .await
}

#[tokio::test]
async fn findings_are_recorded_by_the_interviewer_and_raise_one_prompt() {
    let Interviewed {
        app,
        kai,
        episode,
        sam,
        lee,
        jess,
        now,
    } = interviewed(TestApp::start().await).await;
    // Before the outcome: no findings.
    let id = report(&app, &lee, &kai, now - 10 * HOUR).await.unwrap();
    record_return(&app, &lee, &kai, &id, now - 8 * HOUR)
        .await
        .unwrap();
    let open = format!("/cases/{kai}/missing/{id}");
    let before = written(&app).await;
    let (status, why) = record(&app, &sam, &open, &findings_fields("high")).await;
    assert_eq!((status, why.contains("outcome")), (400, true), "{why}");
    assert_eq!(written(&app).await, before);

    let before = written(&app).await;
    // Outsiders: the same not-found as an unknown id, for the page and the form.
    let tom = app.sign_in(TOM).await;
    let kim = app.sign_in(KIM).await;
    assert_eq!(
        page(&app, &tom, &format!("{episode}/findings")).await.0,
        404
    );
    assert_eq!(
        page(
            &app,
            &sam,
            &format!("/cases/{kai}/missing/no-such-episode/findings")
        )
        .await
        .0,
        404
    );
    assert_eq!(
        record(&app, &kim, &episode, &findings_fields("high"))
            .await
            .0,
        404
    );
    // The police in the case may read but not write.
    let (status, why) = record(&app, &lee, &episode, &findings_fields("high")).await;
    assert_eq!(status, 403, "{why}");
    // Bad input.
    let without_risk: Vec<_> = findings_fields("high")
        .into_iter()
        .filter(|(k, _)| *k != "risk")
        .collect();
    let mut astrology = findings_fields("high");
    astrology.push(("indicator", "astrology".into()));
    for (f, says) in [
        (without_risk, "risk"),
        (changed(&[("risk", "extreme")]), "risk"),
        (astrology, "indicators"),
        (changed(&[("entry_kind_0", "boat")]), "kind"),
        (changed(&[("entry_value_0", "")]), "value"),
        (changed(&[("harm", &"x".repeat(5000))]), "too long"),
    ] {
        let (status, why) = record(&app, &jess, &episode, &f).await;
        assert_eq!(
            (status, why.to_lowercase().contains(says)),
            (400, true),
            "{says}: {why}"
        );
    }
    assert_eq!(
        written(&app).await,
        before,
        "nothing written by refused requests"
    );

    // The interviewer records them: one prompt, naming only the indicators.
    let (status, why) = record(&app, &jess, &episode, &findings_fields("high")).await;
    assert_eq!(status, 303, "{why}");
    let prompts = "SELECT COUNT(*) FROM strategy_prompts WHERE reason = 'exploitation_indicators' AND case_id = $1";
    assert_eq!(count(&app, prompts, &kai).await, 1);
    let detail = "SELECT COUNT(*) FROM strategy_prompts WHERE detail = 'Findings show indicators of criminal exploitation, county lines' AND case_id = $1";
    assert_eq!(count(&app, detail, &kai).await, 1);
    // Changed by children's social care: still one prompt, entries replaced.
    let edit = changed(&[
        ("risk", "medium"),
        ("entry_kind_2", "vehicle"),
        ("entry_value_2", "Grey Astra"),
    ]);
    let (status, why) = record(&app, &sam, &episode, &edit).await;
    assert_eq!(status, 303, "{why}");
    assert_eq!(
        count(&app, prompts, &kai).await,
        1,
        "one prompt per findings record"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM finding_entries WHERE case_id = $1",
            &kai
        )
        .await,
        3
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_events WHERE action = 'missing.findings_updated' AND case_id = $1", &kai).await, 1);

    // The case-holding agency and the interviewer read the restricted entry;
    // the police in the case see that it is withheld and why.
    for who in [&sam, &jess] {
        let (status, body) = page(&app, who, &format!("{episode}/findings")).await;
        assert_eq!(status, 200);
        assert!(
            body.contains("Dean Marsh") && body.contains("Grey Astra") && body.contains("Medium"),
            "{body}"
        );
    }
    let (status, body) = page(&app, &lee, &format!("{episode}/findings")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("Dean Marsh") && !body.contains("Drives a grey Astra"),
        "{body}"
    );
    assert!(
        body.contains("Withheld") && body.contains("police intelligence"),
        "{body}"
    );
    assert!(
        body.contains("Mill Road takeaway") && !body.contains("Save the findings"),
        "{body}"
    );
}

/// Search finds findings by place, associate, indicator and free text, in
/// the searcher's cases only, and a restricted entry only for those who may
/// read it; hits link to the findings page.
#[tokio::test]
async fn search_finds_findings_honouring_restrictions() {
    let Interviewed {
        app,
        episode,
        sam,
        lee,
        ..
    } = with_findings(TestApp::start().await).await;
    let link = format!("{episode}/findings");
    let findings_hits = |hits: Vec<serde_json::Value>| -> Vec<String> {
        hits.into_iter()
            .filter(|h| h["type"] == "findings")
            .map(|h| h["link"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // By place (an entry), associate (restricted), indicator, free text.
    for q in [
        "takeaway",
        "Dean Marsh",
        "county lines",
        "curfew",
        "unexplained phone",
    ] {
        let want: Vec<String> = if q == "unexplained phone" {
            Vec::new()
        } else {
            vec![link.clone()]
        };
        assert_eq!(
            findings_hits(crate::search::found(&app, &sam, q).await),
            want,
            "{q}"
        );
    }
    // The police in the case find the findings, but not by the restricted entry.
    assert_eq!(
        findings_hits(crate::search::found(&app, &lee, "takeaway").await),
        vec![link.clone()]
    );
    assert_eq!(
        findings_hits(crate::search::found(&app, &lee, "criminal exploitation").await),
        vec![link.clone()]
    );
    assert!(findings_hits(crate::search::found(&app, &lee, "Dean Marsh").await).is_empty());
    assert!(findings_hits(crate::search::found(&app, &lee, "grey Astra").await).is_empty());
    // Outside the case: nothing.
    let tom = app.sign_in(TOM).await;
    for q in ["takeaway", "Dean", "county lines"] {
        assert!(crate::search::found(&app, &tom, q).await.is_empty(), "{q}");
    }
    // The page lists the hit with its link.
    let res = sam.get(&app, "/search?q=Mill+Road").await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&link) && html.contains("Return home interview findings"),
        "{html}"
    );
    // The child's name is opened from its sealed column, never shown sealed.
    assert!(
        html.contains("Kai Brennan") && !html.contains("cf1:"),
        "{html}"
    );
}
