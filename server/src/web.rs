//! The web interface's embedded assets (built from `web/` by `build.rs`) and
//! its server-rendered templates (in `web/templates/`, checked at compile
//! time by askama).

pub mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));

    /// An embedded asset by file name, with its content type.
    pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
        ASSETS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, ct, bytes)| (*ct, *bytes))
    }
}

pub mod audit_pages;
pub mod consent_pages;
pub mod findings_pages;
pub mod meeting_pages;
pub mod missing_pages;
pub mod search_pages;
pub mod sharing_pages;
pub mod templates;
