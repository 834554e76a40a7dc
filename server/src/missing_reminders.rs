//! The scheduler's reminders for missing episodes (called from
//! [`crate::jobs::run_once`]): a return home interview at risk (within
//! `missing.rhi_at_risk_hours_before` of its 72-hour deadline) or overdue
//! goes to the interviewer and the lead social worker, and a prompt to
//! convene a strategy discussion to the lead social worker
//! (`missing.prompt_email`); findings shared and not acknowledged within
//! `missing.acknowledgement_escalation_hours` go to the recipient's agency's
//! duty address and the sharer's agency's managers. Each key is claimed in `reminders_sent` before
//! sending, so each goes once, across restarts and nodes. Mail carries the
//! case reference and a link, never the child's details.

use crate::domain::missing::RhiStanding;
use crate::http::AppState;
use crate::http::meeting_mail::remind;
use crate::store::{StoreResult, dashboard, findings_sharing, missing_clock};
use crate::web::templates::when;

/// One pass; returns how many messages were sent.
pub async fn run_once(state: &AppState) -> StoreResult<usize> {
    let now = state.now();
    let settings = &state.settings.missing;
    let base = state.link_base();
    let mut sent = 0;
    for i in missing_clock::all_open(&state.db).await? {
        let standing = RhiStanding::of(i.due_at, None, now, settings.rhi_at_risk_hours_before);
        let (kind, subject, lead_in) = match standing {
            RhiStanding::AtRisk => (
                "rhi-at-risk",
                format!("Return home interview due soon — case {}", i.case_reference),
                format!(
                    "The return home interview for case {} must be offered by {} (72 hours after the child's return) and no outcome is recorded yet.",
                    i.case_reference,
                    when(i.due_at)
                ),
            ),
            RhiStanding::Overdue => (
                "rhi-overdue",
                format!("Overdue: return home interview — case {}", i.case_reference),
                format!(
                    "The return home interview for case {} was due by {} (72 hours after the child's return) and no outcome is recorded. \
                     Keep trying to reach the child and record every attempt.",
                    i.case_reference,
                    when(i.due_at)
                ),
            ),
            _ => continue,
        };
        let assigned = match &i.interviewer_name {
            Some(name) => format!("Interviewer: {name}."),
            None => "No interviewer is assigned yet.".to_string(),
        };
        let link = format!(
            "{base}/cases/{}/missing/{}/interview",
            i.case_id, i.episode_id
        );
        let mut to: Vec<String> = i.interviewer_email.iter().cloned().collect();
        to.push(i.lead_email.clone());
        to.sort();
        to.dedup();
        for email in to {
            let key = format!("{kind}:{}:{email}", i.interview_id);
            if dashboard::claim_reminder(&state.db, &key, now).await? {
                remind(
                    state,
                    &email,
                    subject.clone(),
                    format!("{lead_in}\n{assigned}\n{link}"),
                );
                sent += 1;
            }
        }
    }
    if settings.prompt_email {
        for p in missing_clock::all_open_prompts(&state.db).await? {
            let key = format!("strategy-prompt:{}", p.id);
            if dashboard::claim_reminder(&state.db, &key, now).await? {
                remind(
                    state,
                    &p.lead_email,
                    format!("Consider a strategy discussion — case {}", p.case_reference),
                    format!(
                        "Confer prompts a strategy discussion for case {}: {}. Convene one, or record why not:\n{base}/cases/{}/strategy-prompts/{}",
                        p.case_reference, p.detail, p.case_id, p.id
                    ),
                );
                sent += 1;
            }
        }
    }
    let hours = i64::try_from(settings.acknowledgement_escalation_hours).unwrap_or(i64::MAX);
    for e in findings_sharing::unacknowledged(
        &state.db,
        now.saturating_sub(hours.saturating_mul(3_600_000)),
    )
    .await?
    {
        for email in &e.to {
            let key = format!("findings-unacknowledged:{}:{email}", e.share_id);
            if dashboard::claim_reminder(&state.db, &key, now).await? {
                remind(
                    state,
                    email,
                    format!("Findings not acknowledged — case {}", e.case_reference),
                    format!(
                        "The findings of a return home interview (case {}) were shared with {} ({}) on {} and have not been acknowledged after {hours} hours. \
                         Please make sure they are read and acted on.\n{base}/",
                        e.case_reference,
                        e.recipient_name,
                        e.recipient_agency,
                        when(e.shared_at)
                    ),
                );
                sent += 1;
            }
        }
    }
    Ok(sent)
}
