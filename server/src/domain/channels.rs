//! Channels and messages (DESIGN.md, "Channel", "Restricted item"): who may
//! see a channel, who may see a restricted message, and how much others see
//! of one.
//!
//! A restricted message is shown in full only to its author and to the
//! agencies and people it names. Everyone else in the channel receives a
//! placeholder carrying only its sequence number and time: never its author,
//! text or the reason. We keep the placeholder (rather than hiding the
//! message entirely) so that every member sees a gap-free sequence, which is
//! what lets a client prove it has missed nothing, and so that a practitioner
//! knows to ask the right agency when something they cannot see exists.

use super::clock::Millis;

/// Longest message body, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest idempotency key a client may choose.
pub const MAX_CLIENT_ID: usize = 100;

/// The person looking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub person_id: String,
    pub agency_id: String,
}

/// A named audience: agencies and people. Empty means "no narrowing".
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Audience {
    #[serde(default)]
    pub agencies: Vec<String>,
    #[serde(default)]
    pub people: Vec<String>,
}

impl Audience {
    pub fn is_empty(&self) -> bool {
        self.agencies.is_empty() && self.people.is_empty()
    }
    pub fn includes(&self, viewer: &Viewer) -> bool {
        self.agencies.contains(&viewer.agency_id) || self.people.contains(&viewer.person_id)
    }
}

/// Whether a case member may see a channel: every member for an
/// unrestricted channel, otherwise only the named agencies and people.
pub fn may_see_channel(viewer: &Viewer, restriction: &Audience) -> bool {
    restriction.is_empty() || restriction.includes(viewer)
}

/// How much of a message a viewer sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sight {
    Full,
    /// Only that a restricted message exists, its sequence number and time.
    Placeholder,
}

pub fn sight(viewer: &Viewer, author_id: &str, restricted_to: Option<&Audience>) -> Sight {
    match restricted_to {
        None => Sight::Full,
        Some(_) if viewer.person_id == author_id => Sight::Full,
        Some(audience) if audience.includes(viewer) => Sight::Full,
        Some(_) => Sight::Placeholder,
    }
}

/// Why a message may not be sent as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    EmptyBody,
    BodyTooLarge,
    BadClientId,
    RestrictionNeedsReason,
    RestrictionNeedsAudience,
}

impl Invalid {
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::EmptyBody => "empty_body",
            Invalid::BodyTooLarge => "body_too_large",
            Invalid::BadClientId => "bad_client_id",
            Invalid::RestrictionNeedsReason | Invalid::RestrictionNeedsAudience => {
                "bad_restriction"
            }
        }
    }
    pub fn message(&self) -> String {
        match self {
            Invalid::EmptyBody => "A message needs some text.".into(),
            Invalid::BodyTooLarge => format!("A message can be at most {MAX_BODY_BYTES} bytes."),
            Invalid::BadClientId => format!("client_id must be 1 to {MAX_CLIENT_ID} characters."),
            Invalid::RestrictionNeedsReason => {
                "A restricted message needs a reason (for example police-sensitive information)."
                    .into()
            }
            Invalid::RestrictionNeedsAudience => {
                "A restricted message must name at least one agency or person.".into()
            }
        }
    }
}

/// Check a message before it is stored.
pub fn check_message(
    client_id: &str,
    body: &str,
    restriction: Option<(&Audience, &str)>,
) -> Result<(), Invalid> {
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
        return Err(Invalid::BadClientId);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Invalid::BodyTooLarge);
    }
    if body.trim().is_empty() {
        return Err(Invalid::EmptyBody);
    }
    if let Some((audience, reason)) = restriction {
        if audience.is_empty() {
            return Err(Invalid::RestrictionNeedsAudience);
        }
        if reason.trim().is_empty() {
            return Err(Invalid::RestrictionNeedsReason);
        }
    }
    Ok(())
}

/// Who may edit a message: its author, while it is not redacted.
pub fn may_edit(viewer: &Viewer, author_id: &str, redacted_at: Option<Millis>) -> bool {
    viewer.person_id == author_id && redacted_at.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(person: &str, agency: &str) -> Viewer {
        Viewer {
            person_id: person.into(),
            agency_id: agency.into(),
        }
    }

    #[test]
    fn restricted_messages_show_in_full_only_to_the_author_and_the_named() {
        let police_only = Audience {
            agencies: vec!["police".into()],
            people: vec!["lead".into()],
        };
        assert_eq!(
            sight(&v("officer", "police"), "officer", Some(&police_only)),
            Sight::Full
        );
        assert_eq!(
            sight(&v("other-officer", "police"), "officer", Some(&police_only)),
            Sight::Full
        );
        assert_eq!(
            sight(&v("lead", "csc"), "officer", Some(&police_only)),
            Sight::Full
        );
        assert_eq!(
            sight(&v("teacher", "school"), "officer", Some(&police_only)),
            Sight::Placeholder
        );
        assert_eq!(sight(&v("teacher", "school"), "officer", None), Sight::Full);
    }

    #[test]
    fn channels_narrow_only_when_restricted() {
        assert!(may_see_channel(&v("a", "x"), &Audience::default()));
        let only_x = Audience {
            agencies: vec!["x".into()],
            people: vec![],
        };
        assert!(may_see_channel(&v("a", "x"), &only_x));
        assert!(!may_see_channel(&v("b", "y"), &only_x));
    }

    #[test]
    fn messages_are_checked_before_storing() {
        assert!(check_message("c1", "hello", None).is_ok());
        assert_eq!(check_message("", "hello", None), Err(Invalid::BadClientId));
        assert_eq!(check_message("c1", "  \n", None), Err(Invalid::EmptyBody));
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(check_message("c1", &big, None), Err(Invalid::BodyTooLarge));
        let police = Audience {
            agencies: vec!["p".into()],
            people: vec![],
        };
        assert_eq!(
            check_message("c1", "x", Some((&police, " "))),
            Err(Invalid::RestrictionNeedsReason)
        );
        assert_eq!(
            check_message("c1", "x", Some((&Audience::default(), "why"))),
            Err(Invalid::RestrictionNeedsAudience)
        );
        assert!(check_message("c1", "x", Some((&police, "police-sensitive"))).is_ok());
    }
}
