//! Reading posted page forms: urlencoded fields with repeated keys, and
//! dates and times as London people type them.

use crate::calendar;
use crate::domain::clock::Millis;

/// A urlencoded form with repeated keys (checkbox lists).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

/// A date (`YYYY-MM-DD`) and time (`HH:MM`) in London, as an instant.
pub fn london_instant(date: &str, time: &str) -> Result<Millis, String> {
    let parsed = chrono::NaiveDateTime::parse_from_str(
        &format!("{} {}", date.trim(), time.trim()),
        "%Y-%m-%d %H:%M",
    )
    .map_err(|_| "Enter the date like 2026-12-01 and the time like 10:30.".to_string())?;
    calendar::from_london_local(parsed).map_err(|e| e.to_string())
}
