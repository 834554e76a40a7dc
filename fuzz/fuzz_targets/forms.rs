//! Parsers of what people type into forms: the urlencoded body
//! (`http::form::Fields`), a search, days and London times, and the vocabulary
//! and consent/sharing codes a form carries. None may panic; each that
//! accepts a value gives it back unchanged when written out.
#![no_main]

use confer::domain::consent::{ConsentState, Evidence, NotSoughtReason};
use confer::domain::meetings::ClockEvent;
use confer::domain::sharing::Scope;
use confer::domain::sharing_records::Source;
use confer::domain::vocabulary::{AgencyKind, Role};
use confer::domain::search::{parse as parse_search, snippet, stems};
use confer::http::form::{Fields, london_instant};
use confer::store::deadlines::parse_day;
use libfuzzer_sys::fuzz_target;

fn round_trip<T: std::str::FromStr + std::fmt::Display>(text: &str) {
    if let Ok(v) = text.parse::<T>() {
        assert_eq!(v.to_string(), text);
    }
}

fuzz_target!(|data: &[u8]| {
    let fields = Fields::parse(data);
    for name in ["date", "time", "kind", "role", "state", "reason", "other", "scope", "source"] {
        let first = fields.get(name);
        let all = fields.all(name);
        assert_eq!(all.first().cloned().unwrap_or_default(), first);
        assert_eq!(fields.has(name), all.iter().any(|v| !v.is_empty()));
    }
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    // A search: words, stems, and a snippet of the text around them.
    if let Ok(terms) = parse_search(a) {
        assert!(!terms.is_empty());
        let wanted = terms.stems();
        if let Some(cut) = snippet(b, &wanted) {
            assert!(cut.chars().filter(|c| *c == '\u{2}').count() >= 1);
        }
    }
    let _ = stems(&text);
    for value in [a, b, fields.get("date").as_str()] {
        if let Some(day) = parse_day(value) {
            assert_eq!(parse_day(&day.to_string()), Some(day));
        }
        let _ = london_instant(value, b);
        round_trip::<AgencyKind>(value);
        round_trip::<Role>(value);
        if let Ok(s) = value.parse::<ConsentState>() {
            assert_eq!(s.as_str(), value);
        }
        if let Some(e) = Evidence::parse(value) {
            assert_eq!(e.as_str(), value);
        }
        if let Some(r) = NotSoughtReason::parse(value, b) {
            assert_eq!(r.code(), value);
        }
        let _ = ClockEvent::parse(value);
        if let Ok(scope) = Scope::parse(value) {
            assert_eq!(Scope::parse(&scope.stored()), Ok(scope));
        }
        if let Ok(s) = Source::parse(value) {
            assert_eq!(s.as_str(), value);
        }
    }
});
