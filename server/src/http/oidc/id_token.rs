//! The ID token: its claim types, its validation (signature against the
//! provider's published keys, issuer, audience, expiry by Confer's clock,
//! nonce; OpenID Connect Core 1.0 §3.1.3.7), and who it says the person is.

use std::collections::HashMap;

use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, EmptyExtraTokenFields, IdToken,
    IdTokenClaims, IdTokenFields, IdTokenVerifier, Nonce, SignatureVerificationError,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::discovery::Metadata;
use super::refusal::Reason;
use crate::config::OidcProvider;
use crate::domain::clock::Millis;

/// How far in the future an ID token's `iat` may be (clock skew).
const MAX_FUTURE_IAT_MS: Millis = 5 * 60_000;

/// Claims beyond the standard ones, by name (e.g. Entra ID's `upn`), so the
/// email claim can be any claim the provider sends.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    other: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for ExtraClaims {}

pub type Claims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;
pub type TokenFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type Token = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
/// A chrono instant for the verifier; out of range means "the far future",
/// so a conversion problem can only make a token look expired.
fn instant(ms: Millis) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// Signature algorithms that use the provider's published keys (never the
/// client secret as an HMAC key, never `none`).
fn published_key_algs(metadata: &Metadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|a| {
            matches!(
                a,
                A::RsaSsaPkcs1V15Sha256
                    | A::RsaSsaPkcs1V15Sha384
                    | A::RsaSsaPkcs1V15Sha512
                    | A::RsaSsaPssSha256
                    | A::RsaSsaPssSha384
                    | A::RsaSsaPssSha512
                    | A::EcdsaP256Sha256
                    | A::EcdsaP384Sha384
                    | A::EcdsaP521Sha512
                    | A::EdDsa
            )
        })
        .cloned()
        .collect()
}

fn verifier<'a>(
    metadata: &Metadata,
    provider: &OidcProvider,
    now: Millis,
) -> IdTokenVerifier<'a, CoreJsonWebKey> {
    // A public-client verifier: signatures are checked only against the
    // provider's published keys. Expiry is judged by Confer's clock.
    IdTokenVerifier::new_public_client(
        ClientId::new(provider.client_id.clone()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(published_key_algs(metadata))
    .set_time_fn(move || instant(now))
    .set_issue_time_verifier_fn(move |iat| {
        if iat > instant(now.saturating_add(MAX_FUTURE_IAT_MS)) {
            Err("issued in the future".to_string())
        } else {
            Ok(())
        }
    })
}

pub fn verify(
    token: &Token,
    metadata: &Metadata,
    provider: &OidcProvider,
    nonce: &Nonce,
    now: Millis,
) -> Result<Claims, Reason> {
    token
        .claims(&verifier(metadata, provider, now), nonce)
        .cloned()
        .map_err(|e| {
            let reason = match &e {
                ClaimsVerificationError::Expired(_) => Reason::IdTokenExpired,
                ClaimsVerificationError::InvalidAudience(_) => Reason::IdTokenWrongAudience,
                ClaimsVerificationError::InvalidIssuer(_) => Reason::IdTokenWrongIssuer,
                ClaimsVerificationError::InvalidNonce(_) => Reason::IdTokenNonceMismatch,
                ClaimsVerificationError::SignatureVerification(_) => Reason::IdTokenBadSignature,
                _ => Reason::IdTokenInvalid,
            };
            // Verification errors name issuers, audiences and times: not secrets.
            tracing::warn!(provider = %provider.id, error = %e, "an ID token failed validation");
            reason
        })
}

/// Whether the token's signature failed only because its key is not in the
/// cached set (so a refreshed set might have it).
pub fn names_unknown_key(token: &Token, metadata: &Metadata, provider: &OidcProvider) -> bool {
    matches!(
        token.signing_key(&verifier(metadata, provider, 0)),
        Err(SignatureVerificationError::NoMatchingKey)
    )
}

/// Who the provider says the person is.
pub struct Identity {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

impl Identity {
    pub fn from_id_token(claims: &Claims, claim: &str) -> Self {
        let email = match claim {
            "email" => claims.email().map(|e| e.as_str().to_string()),
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_string()),
            other => extra_text(claims.additional_claims(), other),
        };
        Self {
            email,
            email_verified: (claim == "email")
                .then(|| claims.email_verified())
                .flatten(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
        }
    }

    pub fn from_userinfo(info: &UserInfoClaims<ExtraClaims, CoreGenderClaim>, claim: &str) -> Self {
        let email = match claim {
            "email" => info.email().map(|e| e.as_str().to_string()),
            "preferred_username" => info.preferred_username().map(|u| u.as_str().to_string()),
            other => extra_text(info.additional_claims(), other),
        };
        Self {
            email,
            email_verified: (claim == "email").then(|| info.email_verified()).flatten(),
            name: info
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
        }
    }
}

fn extra_text(extra: &ExtraClaims, claim: &str) -> Option<String> {
    extra
        .other
        .get(claim)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}
