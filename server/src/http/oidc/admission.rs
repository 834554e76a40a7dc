//! Who may come in: the person with the provider's email address, in the
//! provider's agency, active; or, when the provider opts in, a new
//! practitioner of that agency (issue 3: "a person is signed in only if they
//! exist for that agency").

use super::Stop;
use super::id_token::Identity;
use super::refusal::Reason;
use crate::config::OidcProvider;
use crate::domain::clock::Millis;
use crate::domain::vocabulary::Role;
use crate::http::AppState;
use crate::store::StoreError;
use crate::store::agencies::{self, By};
use crate::store::people::{self, NewPerson, Person};

/// The person to sign in: they must exist in the provider's agency and be
/// active, or be created there when the provider allows it.
pub async fn admit(
    app: &AppState,
    provider: &OidcProvider,
    identity: Identity,
    now: Millis,
) -> Result<Person, Stop> {
    let db = &app.db;
    if identity.email_verified == Some(false) {
        return Err(Reason::EmailNotVerified.into());
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|e| people::normalise_email(e).ok())
        .ok_or(Reason::EmailMissing)?;
    if !domain_allowed(&email, &provider.allowed_email_domains) {
        return Err(Reason::EmailDomainNotAllowed.into());
    }
    let agency = match agencies::find(db, &provider.agency).await {
        Ok(a) => a,
        Err(StoreError::NotFound) => {
            tracing::error!(provider = %provider.id, "the provider's agency does not exist: create it with `confer agency add`");
            return Err(Reason::ProviderMisconfigured.into());
        }
        Err(e) => return Err(e.into()),
    };
    let person = match people::find_by_email(db, &email).await {
        Ok(p) => p,
        Err(StoreError::NotFound) if provider.create_unknown_people => {
            create(
                app,
                provider,
                &agency.id,
                &email,
                identity.name.as_deref(),
                now,
            )
            .await?
        }
        Err(StoreError::NotFound) => return Err(Reason::UnknownPerson.into()),
        Err(e) => return Err(e.into()),
    };
    if person.agency_id != agency.id {
        return Err(Reason::WrongAgency.into());
    }
    if !person.active {
        return Err(Reason::PersonInactive.into());
    }
    Ok(person)
}

/// Just-in-time creation (opt-in per provider): a practitioner of the
/// provider's agency, audited as `person.added` by the provider.
async fn create(
    app: &AppState,
    provider: &OidcProvider,
    agency_id: &str,
    email: &str,
    name: Option<&str>,
    now: Millis,
) -> Result<Person, Stop> {
    let db = &app.db;
    let fallback = email.split('@').next().unwrap_or(email);
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(fallback);
    let label = format!("OpenID Connect ({})", provider.id);
    let added = people::add(
        db,
        By {
            person_id: None,
            label: &label,
        },
        now,
        NewPerson {
            agency_id,
            name,
            email,
            role: Role::Practitioner,
            guest: false,
        },
    )
    .await;
    match added {
        Ok(p) => {
            tracing::info!(provider = %provider.id, person_id = %p.id, "added a practitioner on first sign-in");
            Ok(p)
        }
        // Two first sign-ins at once: the other one created them.
        Err(StoreError::Conflict(_)) => Ok(people::find_by_email(db, email).await?),
        Err(e) => Err(e.into()),
    }
}

/// With no list, any domain; else the address's domain must be listed
/// exactly (case-insensitively; a leading `@` in the list is allowed).
fn domain_allowed(email: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    allowed.iter().any(|d| {
        d.trim()
            .trim_start_matches('@')
            .eq_ignore_ascii_case(domain)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_exactly_and_case_insensitively() {
        let allowed = vec![
            "Northshire-Police.example".to_string(),
            "@nhs.net".to_string(),
        ];
        assert!(domain_allowed("lee@northshire-police.example", &allowed));
        assert!(domain_allowed("kim@nhs.net", &allowed));
        assert!(!domain_allowed(
            "eve@evil.northshire-police.example",
            &allowed
        ));
        assert!(!domain_allowed(
            "eve@northshire-police.example.evil",
            &allowed
        ));
        assert!(domain_allowed("anyone@anywhere.example", &[]));
    }
}
