//! Subject access (UK GDPR Article 15): everything held about a child, for
//! the information-governance officer to review before anything is
//! disclosed. Who may export it, and which items hold third-party
//! information to consider for redaction.
//!
//! The rule (issue 6): an item is third-party information when it was
//! written by someone other than the child or the case-holding agency
//! (messages by other agencies' staff), or contains information about such
//! a person (names of professionals of other agencies, names of family
//! members). The case-holding agency is the lead social worker's: its own
//! staff acting in their professional role are not third parties to its
//! record. The marking is a prompt for the review, not the redaction: the
//! officer decides.

use super::access::{Actor, CaseAccess};
use super::vocabulary::Role;

/// Proof that the actor may export everything held about one child: a
/// manager in the case team, or an auditor who is also a member (break
/// glass or not, the membership is what counts).
#[derive(Clone, Debug)]
pub struct SubjectAccess {
    case_id: String,
}

impl SubjectAccess {
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
}

pub fn authorize_subject_access(actor: &Actor, access: &CaseAccess) -> Option<SubjectAccess> {
    let allowed = access.person_id() == actor.person_id
        && matches!(actor.role, Role::Manager | Role::Auditor);
    allowed.then(|| SubjectAccess {
        case_id: access.case_id().to_string(),
    })
}

/// Someone whose name in an item makes it third-party information.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThirdParty {
    pub name: String,
    /// Who they are, for the reason: "DC Lee Harris (Northshire Police)",
    /// "the child's mother".
    pub who: String,
}

/// Whether an item is third-party information, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Marking {
    pub third_party: bool,
    /// For the redaction review: what makes it third-party information.
    pub third_party_reason: Option<String>,
}

/// What the review knows about a case: its holding agency and the people
/// who are third parties to it.
#[derive(Clone, Debug)]
pub struct Review {
    case_agency_id: String,
    child_surname: Option<String>,
    people: Vec<ThirdParty>,
}

impl Review {
    pub fn new(case_agency_id: &str, child_name: &str, people: Vec<ThirdParty>) -> Review {
        Review {
            case_agency_id: case_agency_id.to_string(),
            child_surname: surname(child_name),
            people,
        }
    }

    /// Mark an item written by someone of `author_agency` (None: written by
    /// Confer itself), with these texts and naming these people outright.
    pub fn mark(
        &self,
        author: Option<(&str, &str, &str)>,
        texts: &[&str],
        named: &[&ThirdParty],
    ) -> Marking {
        let mut reasons = Vec::new();
        if let Some((name, agency_id, agency)) = author
            && agency_id != self.case_agency_id
        {
            reasons.push(format!("Written by {name} of {agency}, another agency"));
        }
        let mut found: Vec<&str> = named.iter().map(|p| p.who.as_str()).collect();
        for p in &self.people {
            if texts.iter().any(|t| self.mentions(t, &p.name)) && !found.contains(&p.who.as_str()) {
                found.push(&p.who);
            }
        }
        if !found.is_empty() {
            reasons.push(format!("Names {}", found.join(", ")));
        }
        Marking::of(reasons)
    }

    /// The third party with this exact name, if the review knows one.
    pub fn person(&self, name: &str) -> Option<&ThirdParty> {
        self.people.iter().find(|p| p.name == name)
    }

    /// Whether `text` names `name`: the full name, or the family name on its
    /// own when it is not the child's (a relative's shared surname would
    /// otherwise flag every mention of the child).
    fn mentions(&self, text: &str, name: &str) -> bool {
        let text = text.to_lowercase();
        let full = name.trim().to_lowercase();
        if full.is_empty() {
            return false;
        }
        if text.contains(&full) {
            return true;
        }
        match surname(&full) {
            Some(s) if Some(&s) != self.child_surname.as_ref() => text
                .split(|c: char| !c.is_alphanumeric() && c != '-')
                .any(|w| w == s),
            _ => false,
        }
    }
}

impl Marking {
    /// Third-party when there is any reason; the reasons joined.
    pub fn of(reasons: Vec<String>) -> Marking {
        Marking {
            third_party: !reasons.is_empty(),
            third_party_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        }
    }

    /// Add a reason (e.g. a restriction) to a marking.
    pub fn and(self, reason: Option<String>) -> Marking {
        let mut reasons: Vec<String> = self.third_party_reason.into_iter().collect();
        reasons.extend(reason);
        Marking::of(reasons)
    }
}

/// The last word of a name of two words or more, lower-cased, if it is long
/// enough to mean something on its own.
fn surname(name: &str) -> Option<String> {
    let words: Vec<&str> = name.split_whitespace().collect();
    let last = words.last()?;
    (words.len() > 1 && last.chars().count() >= 3).then(|| last.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::{Grant, authorize_case};

    fn review() -> Review {
        Review::new(
            "csc",
            "Lily Ashworth",
            vec![
                ThirdParty {
                    name: "DC Lee Harris".into(),
                    who: "DC Lee Harris (Northshire Police)".into(),
                },
                ThirdParty {
                    name: "Claire Ashworth".into(),
                    who: "Claire Ashworth, the child's mother".into(),
                },
            ],
        )
    }

    #[test]
    fn items_by_other_agencies_or_naming_third_parties_are_marked() {
        let r = review();
        let own = r.mark(
            Some(("Sam Patel", "csc", "Children's Social Care")),
            &["Lily is safe at school."],
            &[],
        );
        assert_eq!(
            own,
            Marking::default(),
            "the holding agency about the child"
        );
        let police = r.mark(
            Some(("DC Lee Harris", "police", "Northshire Police")),
            &["Visited."],
            &[],
        );
        assert!(police.third_party);
        assert!(
            police
                .third_party_reason
                .unwrap()
                .contains("another agency")
        );
        let names = r.mark(
            Some(("Sam Patel", "csc", "Children's Social Care")),
            &["Spoke to Harris and to claire ashworth about Ashworth family plans."],
            &[],
        );
        let why = names.third_party_reason.unwrap();
        assert!(why.contains("DC Lee Harris (Northshire Police)"), "{why}");
        assert!(why.contains("the child's mother"), "{why}");
        // The child's surname alone does not name the mother.
        assert!(!r.mark(None, &["The Ashworth household."], &[]).third_party);
        let restricted = Marking::default().and(Some("Restricted: police-sensitive".into()));
        assert!(restricted.third_party);
    }

    #[test]
    fn managers_and_auditors_in_the_case_may_export() {
        let grant = Grant {
            case_id: "c1".into(),
            person_id: "p1".into(),
            expires_at: None,
            ended_at: None,
        };
        for role in Role::ALL {
            let actor = Actor {
                person_id: "p1".into(),
                agency_id: "a1".into(),
                name: "X".into(),
                role: *role,
            };
            let access = authorize_case(&actor, Some(&grant), 0).unwrap();
            assert_eq!(
                authorize_subject_access(&actor, &access).is_some(),
                matches!(role, Role::Manager | Role::Auditor),
                "{role}"
            );
        }
    }
}
