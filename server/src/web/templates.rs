//! Page templates. Every page extends `layout.html`, which carries the
//! header, the signed-in person and the sign-out form.

use askama::Template;

use crate::store::cases::{Case, Member};
use crate::store::people::Person;
use crate::web::assets::ASSET_VERSION;

/// What the layout needs to know about the viewer.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    /// The signed-in person's name and agency, if any.
    pub who: Option<(String, String)>,
    pub csrf_token: String,
    pub development: bool,
    /// Whether to offer the agency administration link.
    pub admin: bool,
    /// Whether to offer the audit log (auditors).
    pub auditor: bool,
    /// Whether to offer break glass (managers).
    pub manager: bool,
}

impl Chrome {
    pub fn asset_version(&self) -> &'static str {
        ASSET_VERSION
    }
}

#[derive(Template)]
#[template(path = "start.html")]
pub struct StartPage {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    /// OpenID Connect providers: (id, label shown on the button).
    pub providers: Vec<(String, String)>,
    /// Demo people offered by the development sign-in; empty when it is off.
    pub demo_people: Vec<Person>,
    pub dev_sign_in: bool,
}

#[derive(Template)]
#[template(path = "email_start.html")]
pub struct EmailStartPage {
    pub chrome: Chrome,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "email_code.html")]
pub struct EmailCodePage {
    pub chrome: Chrome,
    pub email: String,
    pub error: Option<String>,
    pub minutes: u64,
}

#[derive(Template)]
#[template(path = "email_link.html")]
pub struct EmailLinkPage {
    pub chrome: Chrome,
    pub token: String,
}

#[derive(Template)]
#[template(path = "admin_people.html")]
pub struct AdminPeoplePage {
    pub chrome: Chrome,
    pub agency_name: String,
    pub people: Vec<Person>,
    pub roles: Vec<&'static str>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "cases.html")]
pub struct CasesPage {
    pub chrome: Chrome,
    pub cases: Vec<Case>,
}

#[derive(Template)]
#[template(path = "case.html")]
pub struct CasePage {
    pub chrome: Chrome,
    pub case: Case,
    pub team: Vec<Member>,
    pub channel_id: String,
    pub last_seq: i64,
    pub messages: Vec<MessageView>,
    /// A fresh idempotency key for the form, so a double submit posts once.
    pub client_id: String,
    pub error: Option<String>,
    /// Whether the viewer may change the team (lead social worker, or a manager in it).
    pub can_manage: bool,
    /// Agencies a new guest may belong to: (id, name).
    pub agencies: Vec<(String, String)>,
    pub team_error: Option<String>,
    /// The case's meetings, newest first.
    pub meetings: Vec<crate::web::meeting_pages::MeetingRow>,
    /// The statutory clock: deadlines set by recorded outcomes.
    pub deadlines: Vec<crate::web::meeting_pages::DeadlineRow>,
    pub clock_error: Option<String>,
    /// Managers agree to extensions.
    pub is_manager: bool,
    /// The case's basis for everyday sharing and what consent holds back.
    pub sharing: crate::web::consent_pages::BasisView,
    pub consent_records: usize,
    /// Missing episodes: open return home interview clocks and strategy prompts.
    pub missing: crate::web::missing_pages::MissingSummary,
}

/// One message as the case page shows it to one person.
#[derive(Clone, Debug)]
pub struct MessageView {
    pub seq: i64,
    pub visible: bool,
    pub own: bool,
    pub author: String,
    pub agency: String,
    pub body: String,
    pub when: String,
    pub edited: bool,
    pub removed: Option<String>,
    pub restriction: Option<String>,
    /// For the viewer's own messages: who has read them.
    pub read_by: Vec<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: String,
    pub message: String,
}

/// A date-time for people, in London where the partnership works:
/// `2026-11-24 09:30` (GMT in winter, BST in summer), as meeting times are.
pub fn when(ms: i64) -> String {
    crate::calendar::london_local(ms)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Display helpers the templates call on store rows.
trait Shown {
    fn granted_when(&self) -> String;
    fn expires_when(&self) -> String;
}

impl Shown for Member {
    fn granted_when(&self) -> String {
        when(self.granted_at)
    }
    fn expires_when(&self) -> String {
        self.expires_at
            .map(when)
            .unwrap_or_else(|| "No expiry".into())
    }
}

impl CasePage {
    fn opened_when(&self) -> String {
        when(self.case.opened_at)
    }
    fn post_url(&self) -> String {
        format!("/cases/{}/messages", self.case.id)
    }
}
