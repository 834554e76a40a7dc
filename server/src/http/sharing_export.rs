//! Information-sharing records as files: CSV (RFC 4180, for a spreadsheet)
//! and JSON (for systems), with the same columns. References and bases
//! only, never the content of what was shared.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::clock::{Millis, rfc3339};
use crate::store::sharing_search::SharingRecord;

/// The columns, in order.
pub const HEADERS: [&str; 24] = [
    "record_id",
    "case_reference",
    "child_name",
    "kind",
    "source",
    "what",
    "item_ref",
    "from_person",
    "from_agency",
    "to_agency",
    "to_person",
    "to_description",
    "shared_at",
    "purpose",
    "lawful_basis",
    "lawful_basis_citation",
    "consent_record_id",
    "consent_state",
    "consent_subject",
    "without_consent_reason",
    "override_id",
    "reasons",
    "recorded_by",
    "recorded_at",
];

/// A record's values, in the order of [`HEADERS`].
fn values(r: &SharingRecord) -> [String; 24] {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        r.id.clone(),
        r.case_reference.clone(),
        opt(&r.child_name),
        r.source.label().to_string(),
        r.source.as_str().to_string(),
        r.what.clone(),
        r.item_ref.clone(),
        opt(&r.from_person),
        opt(&r.from_agency),
        opt(&r.to_agency),
        opt(&r.to_person),
        r.to_description.clone(),
        rfc3339(r.shared_at),
        r.purpose.clone(),
        r.lawful_basis
            .map(|b| b.as_str().to_string())
            .unwrap_or_default(),
        r.lawful_basis
            .map(|b| b.citation().to_string())
            .unwrap_or_default(),
        opt(&r.consent_record_id),
        opt(&r.consent_state),
        opt(&r.consent_subject),
        opt(&r.without_consent_reason),
        opt(&r.override_id),
        r.reasons.clone(),
        opt(&r.recorded_by),
        rfc3339(r.created_at),
    ]
}

/// One CSV field: quoted when it holds a separator, a quote or a line
/// break (quotes doubled). A field a spreadsheet would run as a formula
/// (starting `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed
/// with `'`: free text typed by a practitioner must not become code on the
/// officer's machine.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The records as CSV: a header row, then one row per record, CRLF line ends.
pub fn csv(records: &[SharingRecord]) -> String {
    let mut out = HEADERS.join(",");
    out.push_str("\r\n");
    for r in records {
        let row: Vec<String> = values(r).iter().map(|v| field(v)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One record as a JSON object with the CSV's columns (empty ones as null).
fn object(r: &SharingRecord) -> Value {
    let mut o = serde_json::Map::new();
    for (h, v) in HEADERS.iter().zip(values(r)) {
        o.insert(
            h.to_string(),
            if v.is_empty() {
                Value::Null
            } else {
                Value::String(v)
            },
        );
    }
    o.insert("shared_at_ms".into(), json!(r.shared_at));
    Value::Object(o)
}

/// The records as one JSON document, with what was asked for.
pub fn json_document(records: &[SharingRecord], about: Value, now: Millis) -> Value {
    json!({
        "export": {
            "kind": "information_sharing_records",
            "generated_at": rfc3339(now),
            "count": records.len(),
            "about": about,
        },
        "records": records.iter().map(object).collect::<Vec<_>>(),
    })
}

/// A download response.
pub fn download(body: String, content_type: &'static str, filename: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"",
        filename.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
            "_"
        )
    );
    (
        [
            (http::header::CONTENT_TYPE, content_type.to_string()),
            (http::header::CONTENT_DISPOSITION, disposition),
            (http::header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "'-1");
    }

    #[test]
    fn an_empty_export_still_has_its_header() {
        let text = csv(&[]);
        assert!(text.starts_with("record_id,case_reference,"));
        assert_eq!(text.matches("\r\n").count(), 1);
    }
}
