//! The sharing records' statements on the writer's own connection.

use super::*;
use crate::domain::consent::ConsentState;

fn record(n: usize, full: bool) -> NewRecord {
    NewRecord {
        id: format!("r-{n}-{full}"),
        case_id: format!("case-{n}"),
        source: Source::Message,
        item_ref: format!("m-{n}"),
        what: format!("message {n} in Case discussion"),
        from_person_id: Some(format!("p-{n}")),
        from_agency_id: full.then(|| "police".to_string()),
        to_agency_id: Some(format!("a-{n}")),
        to_person_id: full.then(|| format!("q-{n}")),
        to_description: String::new(),
        shared_at: n as i64,
        purpose: "Section 47 enquiry".into(),
        basis: full.then(|| Basis {
            lawful_basis: LawfulBasis::PublicTask,
            consent_record_id: Some(format!("c-{n}")),
            consent_state: Some(ConsentState::NotSought),
            without_consent_reason: Some("risk of significant harm".into()),
            override_id: None,
        }),
        reasons: String::new(),
        recorded_by: None,
        created_at: 7,
    }
}

/// On the writer's own connection the statement text must not depend
/// on the values (repeated ones, NULL ones), or each batch prepares a
/// statement of its own and pushes reusable ones out of the cache.
#[test]
fn direct_record_statements_have_one_text_per_row_count() {
    let texts = |records: &[NewRecord]| {
        let mut script = Script::direct();
        push_records(&mut script, records).expect("push");
        script
            .into_statements()
            .into_iter()
            .map(|s| (s.sql, s.values.len()))
            .collect::<Vec<_>>()
    };
    let sparse: Vec<NewRecord> = (0..3).map(|n| record(n, false)).collect();
    let full: Vec<NewRecord> = (0..3).map(|n| record(n % 2, true)).collect();
    let (a, b) = (texts(&sparse), texts(&full));
    assert_eq!(a, b);
    // Three rows: a statement of two and one of one, every column bound.
    assert_eq!(a.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![40, 20]);
    assert!(
        a.iter()
            .all(|(sql, _)| !sql.contains("NULL") && !sql.contains('$'))
    );
}
