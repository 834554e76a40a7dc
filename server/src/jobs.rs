//! The reminder scheduler: inside the server, one pass every
//! `meetings.scheduler_interval_seconds`. Each reminder has a key that is
//! claimed in the database before the mail is sent, so a restart (or a
//! second node) never sends the same reminder twice. It reads "now" from
//! the server's clock, so tests move time instead of waiting for it.

use tokio_util::sync::CancellationToken;

use crate::domain::meetings::Response;
use crate::http::AppState;
use crate::http::meeting_mail::{remind, when_text};
use crate::store::{StoreResult, dashboard, meetings};

/// Run the scheduler until `shutdown` is cancelled.
pub fn start(state: AppState, shutdown: CancellationToken) {
    let every =
        std::time::Duration::from_secs(state.settings.meetings.scheduler_interval_seconds.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    // Learn a key added by `confer keys rotate`, so that new
                    // values are sealed under it.
                    if let Some(keys) = state.db.keys()
                        && let Err(e) = keys.reload()
                    {
                        tracing::warn!(error = %e, "cannot re-read the encryption key file");
                    }
                    // One node at a time across a cluster (issue 8; see
                    // store::cluster::once_across_cluster): None = another node is on it.
                    match crate::store::cluster::once_across_cluster(&state.db, run_once(&state)).await {
                        Ok(None | Some(0)) => {}
                        Ok(Some(sent)) => tracing::info!(sent, "reminders sent"),
                        Err(e) => tracing::warn!(error = %e, "reminder pass failed; retrying at the next one"),
                    }
                }
            }
        }
    });
}

/// One pass: claim and send every reminder that is due. Returns how many were sent.
pub async fn run_once(state: &AppState) -> StoreResult<usize> {
    let now = state.now();
    let today = meetings::london_date(now);
    let settings = &state.settings.meetings;
    let base = state.link_base();
    let mut sent = 0;

    // Before a meeting: everyone still invited, and the organiser.
    let soon = now + settings.reminder_hours_before as i64 * 3_600_000;
    for m in dashboard::meetings_starting(&state.db, now, soon).await? {
        let link = format!("{base}/meetings/{}", m.id);
        let subject = format!("Reminder: {} — case {}", m.kind.label(), m.case_reference);
        let body = format!(
            "Reminder: the {} (case {}) is {}.\nHow: {}\nWhere: {}\n{link}",
            m.kind.label().to_lowercase(),
            m.case_reference,
            when_text(m.starts_at, m.ends_at),
            m.mode.label(),
            m.location
        );
        let mut recipients = vec![m.organiser_email.clone()];
        for i in meetings::invitations_unchecked(&state.db, &m.id).await? {
            if matches!(
                i.response,
                Response::Pending | Response::Accepted | Response::Tentative
            ) {
                recipients.push(i.email.clone());
            }
        }
        // One reminder per address, however many invitations lead to it
        // (someone invited in person who also took up their agency's).
        for email in &mut recipients {
            *email = email.trim().to_lowercase();
        }
        recipients.sort();
        recipients.dedup();
        for email in recipients {
            let key = format!("meeting-soon:{}:{}:{email}", m.id, m.sequence);
            if dashboard::claim_reminder(&state.db, &key, now).await? {
                remind(state, &email, subject.clone(), body.clone());
                sent += 1;
            }
        }
    }

    // Required agencies with nobody who accepted, close to the start.
    let window = now + settings.required_agency_warning_hours as i64 * 3_600_000;
    for m in dashboard::meetings_starting(&state.db, now, window).await? {
        let missing = meetings::required_not_taking_part(&state.db, &m).await?;
        if missing.is_empty() {
            continue;
        }
        let key = format!("required-agency:{}:{}", m.id, m.sequence);
        if dashboard::claim_reminder(&state.db, &key, now).await? {
            let names: Vec<String> = missing.iter().map(|k| k.label().to_lowercase()).collect();
            let mut to = vec![m.organiser_email.clone()];
            if m.chair_email != m.organiser_email {
                to.push(m.chair_email.clone());
            }
            for email in to {
                remind(
                    state,
                    &email,
                    format!(
                        "Warning: no acceptance yet from a required agency — case {}",
                        m.case_reference
                    ),
                    format!(
                        "The {} (case {}) is {}, and nobody from {} has accepted. A {} needs them: chase the invitation, \
                         invite someone else, or record why they are left out.\n{base}/meetings/{}",
                        m.kind.label().to_lowercase(),
                        m.case_reference,
                        when_text(m.starts_at, m.ends_at),
                        names.join(", "),
                        m.kind.label().to_lowercase(),
                        m.id
                    ),
                );
                sent += 1;
            }
        }
    }

    // Overdue actions: the owner, or the owning agency's duty address.
    for (a, to) in dashboard::overdue_actions(&state.db, today).await? {
        let Some(to) = to else { continue };
        let key = format!("action-overdue:{}:{}", a.id, a.due_on);
        if dashboard::claim_reminder(&state.db, &key, now).await? {
            remind(
                state,
                &to,
                format!("Overdue action — case {}", a.case_reference),
                format!(
                    "An action agreed at a meeting about case {} was due on {} and is not done.\n{base}/meetings/{}#actions",
                    a.case_reference, a.due_on, a.meeting_id
                ),
            );
            sent += 1;
        }
    }

    // Overdue deadlines of the statutory clock: the lead social worker.
    for d in dashboard::overdue_deadlines(&state.db, today).await? {
        let key = format!("deadline-overdue:{}:{}", d.id, d.due_on);
        if dashboard::claim_reminder(&state.db, &key, now).await? {
            remind(
                state,
                &d.lead_email,
                format!("Overdue: {} — case {}", d.kind.label(), d.case_reference),
                format!(
                    "The statutory deadline \"{}\" ({}) for case {} was {} and is not met. If there is a reason for the delay, \
                     record it and ask a manager to agree a new date.\n{base}/cases/{}#clock",
                    d.kind.label(),
                    d.kind.rule(),
                    d.case_reference,
                    d.due_on,
                    d.case_id
                ),
            );
            sent += 1;
        }
    }
    sent += crate::missing_reminders::run_once(state).await?;
    Ok(sent)
}
