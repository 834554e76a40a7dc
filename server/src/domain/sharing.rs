//! Information sharing (DESIGN.md, "Information-sharing record" and "Lawful
//! basis"): the lawful bases, what a consent record covers, and the one
//! decision every automatic share goes through — share, on which basis and
//! relying on what, or hold back until an override.
//!
//! Consent is never a precondition for sharing to protect a child. What a
//! refusal or a withdrawal does is stop *automatic* sharing with the agencies
//! it covers until a practitioner records an override (lawful basis and
//! reason, approved by a manager if the partnership requires it).

use super::consent::{ConsentState, Sharing, sharing};
use super::vocabulary::{AgencyKind, vocabulary};

vocabulary!(
    /// The lawful bases for sharing (DESIGN.md, "Lawful basis").
    LawfulBasis, "lawful basis" {
        PublicTask => "public_task",
        LegalObligation => "legal_obligation",
        VitalInterests => "vital_interests",
        LawEnforcement => "law_enforcement",
        Consent => "consent",
    }
);

impl LawfulBasis {
    /// The basis as the law states it, for records, pages and exports.
    pub fn citation(self) -> &'static str {
        match self {
            LawfulBasis::PublicTask => {
                "UK GDPR Article 6(1)(e) public task; for special category data Article 9(2)(g) and \
                 Data Protection Act 2018 Schedule 1 paragraph 18 (safeguarding of children and individuals at risk)"
            }
            LawfulBasis::LegalObligation => {
                "UK GDPR Article 6(1)(c) legal obligation; for special category data Data Protection Act 2018 \
                 Schedule 1 paragraph 18"
            }
            LawfulBasis::VitalInterests => "UK GDPR Article 6(1)(d) vital interests",
            LawfulBasis::LawEnforcement => {
                "Data Protection Act 2018 Part 3 (law enforcement processing), Schedule 8 paragraph 4 \
                 (safeguarding of children and individuals at risk)"
            }
            LawfulBasis::Consent => "UK GDPR Article 6(1)(a) consent",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LawfulBasis::PublicTask => "Public task (safeguarding)",
            LawfulBasis::LegalObligation => "Legal obligation",
            LawfulBasis::VitalInterests => "Vital interests",
            LawfulBasis::LawEnforcement => "Law enforcement (police)",
            LawfulBasis::Consent => "Consent",
        }
    }
}

/// Which agencies a consent record covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Kinds(Vec<AgencyKind>),
}

impl Scope {
    /// Parse the stored form: `all`, or agency kinds separated by commas.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let text = text.trim();
        if text == "all" {
            return Ok(Scope::All);
        }
        let kinds = text
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| k.parse::<AgencyKind>())
            .collect::<Result<Vec<_>, _>>()?;
        if kinds.is_empty() {
            return Err("a consent record covers at least one kind of agency, or all".into());
        }
        Ok(Scope::Kinds(kinds))
    }

    /// The stored form.
    pub fn stored(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Kinds(k) => k.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
        }
    }

    pub fn covers(&self, kind: AgencyKind) -> bool {
        match self {
            Scope::All => true,
            Scope::Kinds(k) => k.contains(&kind),
        }
    }

    /// For pages: "all agencies" or "health, education".
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "all agencies".into(),
            Scope::Kinds(k) => k
                .iter()
                .map(|k| k.label().to_lowercase())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A consent record's current state, as the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentView {
    pub record_id: String,
    pub scope: Scope,
    pub state: ConsentState,
    /// For `not_sought`: the reason, which becomes the reason for sharing without consent.
    pub not_sought_reason: Option<String>,
}

/// An approved override of one consent record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideView {
    pub id: String,
    pub consent_record_id: String,
    /// `None`: every agency the record covers.
    pub agency_kind: Option<AgencyKind>,
    pub lawful_basis: LawfulBasis,
    pub reason: String,
}

/// What to do about sharing with one agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Share {
        lawful_basis: LawfulBasis,
        /// The consent record relied on, when there is a given consent covering the agency.
        consent_record_id: Option<String>,
        /// Otherwise why it is shared without consent.
        without_consent_reason: Option<String>,
        /// The override it goes ahead under, when consent was refused or withdrawn.
        override_id: Option<String>,
    },
    /// Held back: this refused or withdrawn consent covers the agency and
    /// nothing overrides it.
    Blocked { consent_record_id: String },
}

impl Decision {
    pub fn is_blocked(&self) -> bool {
        matches!(self, Decision::Blocked { .. })
    }
}

/// Decide how information from a case may reach an agency of kind `to`.
pub fn decide(
    case_basis: LawfulBasis,
    to: AgencyKind,
    consents: &[ConsentView],
    overrides: &[OverrideView],
) -> Decision {
    let covering: Vec<&ConsentView> = consents.iter().filter(|c| c.scope.covers(to)).collect();
    let mut overridden: Option<&OverrideView> = None;
    for c in covering
        .iter()
        .filter(|c| sharing(c.state) == Sharing::NeedsOverride)
    {
        let found = overrides
            .iter()
            .find(|o| o.consent_record_id == c.record_id && o.agency_kind.is_none_or(|k| k == to));
        match found {
            Some(o) => overridden = overridden.or(Some(o)),
            None => {
                return Decision::Blocked {
                    consent_record_id: c.record_id.clone(),
                };
            }
        }
    }
    if let Some(o) = overridden {
        return Decision::Share {
            lawful_basis: o.lawful_basis,
            consent_record_id: None,
            without_consent_reason: Some(format!("Override: {}", o.reason)),
            override_id: Some(o.id.clone()),
        };
    }
    if let Some(given) = covering.iter().find(|c| c.state == ConsentState::Given) {
        return Decision::Share {
            lawful_basis: case_basis,
            consent_record_id: Some(given.record_id.clone()),
            without_consent_reason: None,
            override_id: None,
        };
    }
    let reason = covering
        .iter()
        .find(|c| c.state == ConsentState::NotSought)
        .and_then(|c| c.not_sought_reason.clone())
        .map(|r| format!("Consent not sought: {r}"))
        .unwrap_or_else(|| {
            format!(
                "Shared to safeguard the child under {}; consent is not relied on",
                case_basis.label().to_lowercase()
            )
        });
    Decision::Share {
        lawful_basis: case_basis,
        consent_record_id: None,
        without_consent_reason: Some(reason),
        override_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(id: &str, scope: Scope, state: ConsentState) -> ConsentView {
        ConsentView {
            record_id: id.into(),
            scope,
            state,
            not_sought_reason: None,
        }
    }

    #[test]
    fn with_no_consent_records_sharing_goes_ahead_on_the_case_basis() {
        let d = decide(LawfulBasis::PublicTask, AgencyKind::Health, &[], &[]);
        match d {
            Decision::Share {
                lawful_basis,
                consent_record_id: None,
                without_consent_reason: Some(why),
                override_id: None,
            } => {
                assert_eq!(lawful_basis, LawfulBasis::PublicTask);
                assert!(why.contains("not relied on"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_given_consent_is_relied_on_for_the_agencies_it_covers_only() {
        let c = [consent(
            "c1",
            Scope::Kinds(vec![AgencyKind::Health]),
            ConsentState::Given,
        )];
        assert!(matches!(
            decide(LawfulBasis::PublicTask, AgencyKind::Health, &c, &[]),
            Decision::Share { consent_record_id: Some(ref id), .. } if id == "c1"
        ));
        assert!(matches!(
            decide(LawfulBasis::PublicTask, AgencyKind::Education, &c, &[]),
            Decision::Share {
                consent_record_id: None,
                ..
            }
        ));
    }

    #[test]
    fn refused_or_withdrawn_consent_blocks_until_overridden() {
        for state in [ConsentState::Refused, ConsentState::Withdrawn] {
            let c = [consent("c1", Scope::All, state)];
            assert_eq!(
                decide(LawfulBasis::PublicTask, AgencyKind::Education, &c, &[]),
                Decision::Blocked {
                    consent_record_id: "c1".into()
                }
            );
            // An override for police does not reach education.
            let police_only = [OverrideView {
                id: "o1".into(),
                consent_record_id: "c1".into(),
                agency_kind: Some(AgencyKind::Police),
                lawful_basis: LawfulBasis::LawEnforcement,
                reason: "Joint section 47 enquiry".into(),
            }];
            assert!(
                decide(
                    LawfulBasis::PublicTask,
                    AgencyKind::Education,
                    &c,
                    &police_only
                )
                .is_blocked()
            );
            match decide(
                LawfulBasis::PublicTask,
                AgencyKind::Police,
                &c,
                &police_only,
            ) {
                Decision::Share {
                    lawful_basis,
                    override_id: Some(o),
                    without_consent_reason: Some(why),
                    ..
                } => {
                    assert_eq!(lawful_basis, LawfulBasis::LawEnforcement);
                    assert_eq!(o, "o1");
                    assert!(why.contains("Joint section 47 enquiry"));
                }
                other => panic!("{other:?}"),
            }
        }
        // Outside the refused record's scope, nothing is blocked.
        let c = [consent(
            "c1",
            Scope::Kinds(vec![AgencyKind::Housing]),
            ConsentState::Refused,
        )];
        assert!(!decide(LawfulBasis::PublicTask, AgencyKind::Health, &c, &[]).is_blocked());
    }

    #[test]
    fn a_not_sought_reason_becomes_the_reason_for_sharing_without_consent() {
        let c = [ConsentView {
            not_sought_reason: Some("seeking it would place the child at risk".into()),
            ..consent("c1", Scope::All, ConsentState::NotSought)
        }];
        match decide(LawfulBasis::PublicTask, AgencyKind::Police, &c, &[]) {
            Decision::Share {
                without_consent_reason: Some(why),
                ..
            } => assert!(why.contains("would place the child at risk")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scopes_round_trip_and_bad_ones_are_refused() {
        for text in ["all", "health", "health,education,police"] {
            assert_eq!(Scope::parse(text).unwrap().stored(), text);
        }
        assert!(Scope::parse("").is_err());
        assert!(Scope::parse("health,social_services").is_err());
        for b in LawfulBasis::ALL {
            assert_eq!(b.as_str().parse::<LawfulBasis>(), Ok(*b));
            assert!(!b.citation().is_empty());
        }
    }
}
