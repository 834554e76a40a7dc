//! Outgoing mail with lettre: SMTP (STARTTLS, implicit TLS, or plain to a
//! relay on loopback) in production, `.eml` files in `<data_dir>/outbox` in
//! development. Mail never carries child-identifying data: sign-in codes,
//! and (later) meeting invitations with Confer's own case reference only.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailTransport, Settings, SmtpSecurity};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail.from: '{0}' is not a mailbox like \"Confer <confer@example.org>\"")]
    From(String),
    #[error("mail address '{0}' is not valid")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("cannot deliver: {0}")]
    Send(String),
    #[error("mail.smtp: {0}")]
    Smtp(String),
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf, AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends mail through the configured transport.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Outbox(dir, _) => format!("outbox {}", dir.display()),
            Transport::Smtp(_) => "smtp".into(),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &kind)
            .finish()
    }
}

/// One message to send: plain text only (no HTML, no tracking, no remote
/// content), optionally with a meeting invitation.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// An iCalendar invitation or cancellation (see [`crate::calendar`]).
    pub calendar: Option<CalendarPart>,
}

/// The calendar part of an invitation email.
#[derive(Clone, Debug)]
pub struct CalendarPart {
    /// The iTIP method, as in the calendar's METHOD line: "REQUEST" or "CANCEL".
    pub method: &'static str,
    /// The iCalendar text from [`crate::calendar::render`].
    pub ics: String,
}

impl CalendarPart {
    pub fn new(method: crate::calendar::Method, ics: String) -> Self {
        Self {
            method: method.as_str(),
            ics,
        }
    }
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .mail
            .from
            .parse()
            .map_err(|_| MailError::From(settings.mail.from.clone()))?;
        let transport = match settings.mail.transport {
            MailTransport::Outbox => {
                let dir = settings.server.data_dir.join("outbox");
                Transport::Outbox(dir.clone(), AsyncFileTransport::new(dir))
            }
            MailTransport::Smtp => {
                let smtp = &settings.mail.smtp;
                let mut builder = match smtp.security {
                    SmtpSecurity::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(|e| MailError::Smtp(e.to_string()))?
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                        .map_err(|e| MailError::Smtp(e.to_string()))?,
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                };
                builder = builder
                    .port(smtp.port)
                    .timeout(Some(Duration::from_secs(20)));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose().to_string(),
                    ));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self { from, transport })
    }

    /// Send one message; returns once the transport has accepted it.
    pub async fn send(&self, out: &Outgoing) -> Result<(), MailError> {
        let to: Mailbox = out
            .to
            .parse()
            .map_err(|_| MailError::Address(out.to.clone()))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(out.subject.clone());
        let message = match &out.calendar {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(out.body.clone()),
            Some(calendar) => builder.multipart(invitation(&out.body, calendar)?),
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Outbox(dir, t) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    MailError::Send(format!("cannot create {}: {e}", dir.display()))
                })?;
                t.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Send(e.to_string()))
            }
            Transport::Smtp(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Send(e.to_string())),
        }
    }

    /// Send in the background: the caller's response must not wait for (or
    /// reveal anything through the timing of) delivery. Failures are logged
    /// without the address.
    pub fn send_later(&self, out: Outgoing, what: &'static str) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&out).await {
                tracing::error!(error = %e, what, "mail delivery failed");
            }
        });
    }
}

/// The shape Outlook and Gmail both show as an invitation with accept and
/// decline buttons: the text and the calendar as alternatives of one
/// another (the `text/calendar` part carrying the iTIP method), and the same
/// calendar again as an `invite.ics` attachment for clients that only offer
/// attachments.
fn invitation(body: &str, calendar: &CalendarPart) -> Result<MultiPart, MailError> {
    let method = match calendar.method {
        "REQUEST" | "CANCEL" => calendar.method,
        other => {
            return Err(MailError::Build(format!(
                "unknown calendar method '{other}'"
            )));
        }
    };
    let calendar_type =
        ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
            .map_err(|e| MailError::Build(e.to_string()))?;
    let attachment_type = ContentType::parse("application/ics; name=\"invite.ics\"")
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(MultiPart::mixed()
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(body.to_string()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(calendar_type)
                        .body(calendar.ics.clone()),
                ),
        )
        .singlepart(
            Attachment::new("invite.ics".to_string()).body(calendar.ics.clone(), attachment_type),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_is_text_and_calendar_alternatives_plus_an_ics_attachment() {
        let ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n".to_string();
        let part = CalendarPart::new(crate::calendar::Method::Request, ics);
        let formatted = invitation("Join the meeting in Confer.\n", &part)
            .unwrap()
            .formatted();
        let text = String::from_utf8(formatted).unwrap();
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
        };
        let mixed = at("multipart/mixed");
        let alternative = at("multipart/alternative");
        let plain = at("text/plain; charset=utf-8");
        let calendar = at("text/calendar; charset=utf-8; method=REQUEST");
        let attachment = at("application/ics");
        assert!(mixed < alternative && alternative < plain && plain < calendar);
        assert!(calendar < attachment);
        at("Content-Disposition: attachment; filename=\"invite.ics\"");
        at("Join the meeting in Confer.");
        assert_eq!(text.matches("METHOD:REQUEST").count(), 2);
    }

    #[test]
    fn invitation_rejects_an_unknown_method() {
        let part = CalendarPart {
            method: "PUBLISH\r\nX-Injected: yes",
            ics: String::new(),
        };
        assert!(matches!(
            invitation("body", &part),
            Err(MailError::Build(_))
        ));
    }
}
