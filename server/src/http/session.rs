//! The session cookie and the signed-in person, as extractors.

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, header};

use super::AppState;
use super::error::AppError;
use crate::store::people::{self, Person};
use crate::store::sessions::{self, Session};
use crate::web::templates::Chrome;

/// `__Host-` binds the cookie to this exact origin: Secure, path `/`, no Domain.
pub const COOKIE: &str = "__Host-confer_session";

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The value of the request's cookie called `name`, if it sent one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// The session token from the request's cookies, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE).filter(|v| v.len() <= 128)
}

/// A signed-in, active person with a live session.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub person: Person,
    pub session: Session,
    pub token: String,
}

impl SignedIn {
    pub fn chrome(&self, state: &AppState) -> Chrome {
        Chrome {
            who: Some((self.person.name.clone(), self.person.agency_name.clone())),
            csrf_token: self.session.csrf_token.clone(),
            development: state.settings.server.mode == crate::config::Mode::Development,
            admin: self.person.role == crate::domain::vocabulary::Role::Admin,
            auditor: self.person.role == crate::domain::vocabulary::Role::Auditor,
            manager: self.person.role == crate::domain::vocabulary::Role::Manager
                && !self.person.guest,
        }
    }

    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        use subtle_eq::constant_time_eq;
        if constant_time_eq(submitted.as_bytes(), self.session.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "The form had expired. Go back, reload the page and try again.".into(),
            ))
        }
    }
}

mod subtle_eq {
    /// Compare without an early exit, so timing does not reveal how much matched.
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

async fn load(parts: &Parts, state: &AppState) -> Result<Option<SignedIn>, AppError> {
    let Some(token) = token(&parts.headers) else {
        return Ok(None);
    };
    let now = state.now();
    let Some(session) = sessions::lookup(&state.db, &token, now).await? else {
        return Ok(None);
    };
    let person = match people::get(&state.db, &session.person_id).await {
        Ok(p) if p.active => p,
        Ok(_) | Err(crate::store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(SignedIn {
        person,
        session,
        token,
    }))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        load(parts, state).await?.ok_or(AppError::SignInRequired)
    }
}

/// The signed-in person if there is one; pages that anyone may see use this.
#[derive(Clone, Debug)]
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl MaybeSignedIn {
    pub fn chrome(&self, state: &AppState) -> Chrome {
        match &self.0 {
            Some(s) => s.chrome(state),
            None => Chrome {
                development: state.settings.server.mode == crate::config::Mode::Development,
                ..Chrome::default()
            },
        }
    }
}

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeSignedIn(load(parts, state).await?))
    }
}

/// A signed-in person's form post (urlencoded, repeated keys kept), with the
/// form's CSRF token already checked: the preamble every page form shares.
/// It reads the body, so it comes last among a handler's arguments.
pub struct SignedForm {
    pub who: SignedIn,
    pub f: super::form::Fields,
}

impl axum::extract::FromRequest<AppState> for SignedForm {
    type Rejection = axum::response::Response;
    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (mut parts, body) = req.into_parts();
        let who = SignedIn::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = axum::extract::Request::from_parts(parts, body);
        let body =
            <axum::body::Bytes as axum::extract::FromRequest<AppState>>::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let f = super::form::Fields::parse(&body);
        who.check_csrf(&f.get("csrf_token"))
            .map_err(IntoResponse::into_response)?;
        Ok(SignedForm { who, f })
    }
}
