//! Need-to-know (DESIGN.md, "Security posture"): nothing of a case is visible
//! without a current case membership. Permissions are types (STYLE.md habit
//! 4): [`CaseAccess`] can only be built by [`authorize_case`], and every store
//! query that reads case content takes one, so a handler that forgot the
//! check does not compile.

use super::clock::Millis;
use super::vocabulary::Role;

/// The signed-in person on whose behalf a request runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub person_id: String,
    pub agency_id: String,
    pub name: String,
    pub role: Role,
}

/// A person's need-to-know grant on one case, as stored.
#[derive(Clone, Debug)]
pub struct Grant {
    pub case_id: String,
    pub person_id: String,
    pub expires_at: Option<Millis>,
    pub ended_at: Option<Millis>,
}

impl Grant {
    /// A grant counts only until it ends or expires; expiry is exclusive.
    pub fn is_current(&self, now: Millis) -> bool {
        self.ended_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Proof that one person may see one case at the moment it was built.
#[derive(Clone, Debug)]
pub struct CaseAccess {
    case_id: String,
    person_id: String,
    expires_at: Option<Millis>,
}

impl CaseAccess {
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
    /// When the grant behind this access runs out, if it does: holders of
    /// long-lived access (websocket subscriptions) must stop at that instant.
    pub fn expires_at(&self) -> Option<Millis> {
        self.expires_at
    }
}

/// Why access was refused. Callers must show the same "not found" for
/// every variant, so that nobody learns whether a case they cannot see exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    NoGrant,
    Expired,
}

/// Decide whether `actor` may see the case that `grant` (the actor's grant on
/// it, if any) belongs to. Roles grant nothing by themselves: a manager or an
/// auditor without a membership sees nothing (break-glass comes later, with
/// its own recorded reason).
pub fn authorize_case(
    actor: &Actor,
    grant: Option<&Grant>,
    now: Millis,
) -> Result<CaseAccess, Refused> {
    let grant = grant.ok_or(Refused::NoGrant)?;
    if grant.person_id != actor.person_id {
        return Err(Refused::NoGrant);
    }
    if !grant.is_current(now) {
        return Err(Refused::Expired);
    }
    Ok(CaseAccess {
        case_id: grant.case_id.clone(),
        person_id: grant.person_id.clone(),
        expires_at: grant.expires_at,
    })
}

/// Proof that the actor administers one agency: the only way to reach the
/// store's people-administration functions, which act within that agency only.
#[derive(Clone, Debug)]
pub struct AgencyAdmin {
    agency_id: String,
    person_id: String,
    name: String,
}

impl AgencyAdmin {
    pub fn agency_id(&self) -> &str {
        &self.agency_id
    }
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Only an agency's `admin` administers it (DESIGN.md, "Practitioner": roles
/// are per agency), and only that agency: no role reaches another agency's
/// people or any case content.
pub fn authorize_agency_admin(actor: &Actor) -> Option<AgencyAdmin> {
    (actor.role == Role::Admin).then(|| AgencyAdmin {
        agency_id: actor.agency_id.clone(),
        person_id: actor.person_id.clone(),
        name: actor.name.clone(),
    })
}

/// Proof that the actor may change who is in one case's team.
#[derive(Clone, Debug)]
pub struct MembershipManager {
    case_id: String,
}

impl MembershipManager {
    pub fn case_id(&self) -> &str {
        &self.case_id
    }
}

/// The case's lead social worker, or a manager who is in the case team,
/// may add and remove members (Working Together: the lead practitioner and
/// their manager own who is involved). Nobody outside the team may.
pub fn authorize_membership_change(
    actor: &Actor,
    access: &CaseAccess,
    lead_social_worker_id: &str,
) -> Option<MembershipManager> {
    let allowed = access.person_id == actor.person_id
        && (actor.person_id == lead_social_worker_id || actor.role == Role::Manager);
    allowed.then(|| MembershipManager {
        case_id: access.case_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            person_id: "p1".into(),
            agency_id: "a1".into(),
            name: "Sam".into(),
            role: Role::Manager,
        }
    }

    fn grant(expires_at: Option<Millis>, ended_at: Option<Millis>) -> Grant {
        Grant {
            case_id: "c1".into(),
            person_id: "p1".into(),
            expires_at,
            ended_at,
        }
    }

    #[test]
    fn the_lead_or_a_manager_in_the_team_changes_membership() {
        let access = authorize_case(&actor(), Some(&grant(None, None)), 10).unwrap();
        let mut a = actor();
        a.role = Role::Practitioner;
        assert!(authorize_membership_change(&a, &access, "someone-else").is_none());
        assert!(
            authorize_membership_change(&a, &access, "p1").is_some(),
            "the lead"
        );
        a.role = Role::Manager;
        assert!(
            authorize_membership_change(&a, &access, "someone-else").is_some(),
            "a manager in the team"
        );
        a.person_id = "p2".into();
        assert!(
            authorize_membership_change(&a, &access, "p2").is_none(),
            "not with another's access"
        );
    }

    #[test]
    fn only_admins_administer_and_only_their_own_agency() {
        for role in Role::ALL {
            let mut a = actor();
            a.role = *role;
            let admin = authorize_agency_admin(&a);
            assert_eq!(admin.is_some(), *role == Role::Admin, "{role}");
            if let Some(admin) = admin {
                assert_eq!(admin.agency_id(), "a1");
            }
        }
    }

    #[test]
    fn a_current_grant_gives_access_to_that_case_only() {
        let access = authorize_case(&actor(), Some(&grant(None, None)), 10).unwrap();
        assert_eq!(access.case_id(), "c1");
        assert_eq!(access.person_id(), "p1");
    }

    #[test]
    fn no_grant_expired_or_ended_grants_and_someone_elses_grant_are_refused() {
        assert_eq!(
            authorize_case(&actor(), None, 10).unwrap_err(),
            Refused::NoGrant
        );
        assert_eq!(
            authorize_case(&actor(), Some(&grant(Some(10), None)), 10).unwrap_err(),
            Refused::Expired
        );
        assert!(authorize_case(&actor(), Some(&grant(Some(11), None)), 10).is_ok());
        assert_eq!(
            authorize_case(&actor(), Some(&grant(None, Some(5))), 10).unwrap_err(),
            Refused::Expired
        );
        let mut other = grant(None, None);
        other.person_id = "p2".into();
        assert_eq!(
            authorize_case(&actor(), Some(&other), 10).unwrap_err(),
            Refused::NoGrant
        );
    }
}
