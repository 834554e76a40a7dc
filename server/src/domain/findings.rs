//! Structured findings of a return home interview (issue 7, part 3): what
//! the child said about why they went and where, who with, indicators of
//! exploitation, harm, their wishes, and the interviewer's assessment of
//! risk; and who may read an entry restricted for third-party identities.
//!
//! Sources: Statutory guidance on children who run away or go missing from
//! home or care (DfE, January 2014): the return interview should identify
//! push and pull factors, where and with whom the child was, and any harm or
//! exploitation, and the information is shared with those who must act on
//! it. DESIGN.md, "Restricted item": a restricted item names who may read
//! it; everyone else sees that something is withheld and why.

use super::missing::InterviewOutcome;
use super::vocabulary::vocabulary;

vocabulary!(
    /// What a structured entry of the findings names.
    EntryKind, "entry kind" {
        Place => "place",
        Associate => "associate",
        Address => "address",
        Vehicle => "vehicle",
    }
);

vocabulary!(
    /// The interviewer's assessment of risk.
    Risk, "risk" {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

impl EntryKind {
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::Place => "Place",
            EntryKind::Associate => "Associate",
            EntryKind::Address => "Address",
            EntryKind::Vehicle => "Vehicle",
        }
    }
}

impl Risk {
    pub fn label(self) -> &'static str {
        match self {
            Risk::Low => "Low",
            Risk::Medium => "Medium",
            Risk::High => "High",
        }
    }
}

/// The indicators of exploitation the findings may show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Indicators {
    pub sexual: bool,
    pub criminal: bool,
    pub county_lines: bool,
    pub other: bool,
}

impl Indicators {
    pub fn any(self) -> bool {
        self.sexual || self.criminal || self.county_lines || self.other
    }

    /// The indicators shown, in words (also what a search finds them by).
    pub fn words(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.sexual {
            out.push("sexual exploitation");
        }
        if self.criminal {
            out.push("criminal exploitation");
        }
        if self.county_lines {
            out.push("county lines");
        }
        if self.other {
            out.push("other exploitation");
        }
        out
    }

    /// The strategy prompt's detail: no child data, only the indicators.
    pub fn prompt_detail(self) -> String {
        format!("Findings show indicators of {}", self.words().join(", "))
    }
}

/// Most structured entries in one findings record.
pub const MAX_ENTRIES: usize = 40;

/// Whether findings may be recorded after this outcome: a completed
/// interview; or one the child declined where the carers were offered the
/// chance and contributed (their account is findings too). Not before an
/// outcome, and not for an interview not completed.
pub fn findings_allowed(
    outcome: Option<InterviewOutcome>,
    carers_offered: Option<bool>,
    carers_contribution: &str,
) -> Result<(), String> {
    match outcome {
        Some(InterviewOutcome::Completed) => Ok(()),
        Some(InterviewOutcome::Declined)
            if carers_offered == Some(true) && !carers_contribution.trim().is_empty() =>
        {
            Ok(())
        }
        None => Err("Record the interview's outcome before its findings.".into()),
        _ => Err(
            "Findings are recorded for a completed interview, or a declined one the carers contributed to."
                .into(),
        ),
    }
}

/// Who reads a restricted entry in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// A member of the case from the case-holding agency (the lead social
    /// worker's), or the interviewer.
    Holder,
    /// A recipient of a share: only if the sharer released restricted entries.
    Recipient { released: bool },
    /// Any other member of the case.
    Member,
}

impl Reader {
    pub fn reads_restricted(self) -> bool {
        matches!(self, Reader::Holder | Reader::Recipient { released: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_follow_the_outcome() {
        assert!(findings_allowed(Some(InterviewOutcome::Completed), None, "").is_ok());
        assert!(findings_allowed(None, None, "").is_err());
        assert!(findings_allowed(Some(InterviewOutcome::NotCompleted), None, "").is_err());
        assert!(findings_allowed(Some(InterviewOutcome::Declined), Some(false), "").is_err());
        assert!(
            findings_allowed(Some(InterviewOutcome::Declined), Some(true), "He stays out").is_ok()
        );
    }

    #[test]
    fn restricted_entries_reach_holders_and_released_recipients_only() {
        assert!(Reader::Holder.reads_restricted());
        assert!(Reader::Recipient { released: true }.reads_restricted());
        assert!(!Reader::Recipient { released: false }.reads_restricted());
        assert!(!Reader::Member.reads_restricted());
    }

    #[test]
    fn the_prompt_names_only_the_indicators() {
        let i = Indicators {
            criminal: true,
            county_lines: true,
            ..Indicators::default()
        };
        assert!(i.any() && !Indicators::default().any());
        assert_eq!(
            i.prompt_detail(),
            "Findings show indicators of criminal exploitation, county lines"
        );
    }
}
