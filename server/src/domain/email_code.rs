//! Email one-time codes for guest practitioners (DESIGN.md, "Guest
//! practitioner"): short-lived, single-use, stored only as hashes, with rate
//! limits per address and per client and a lock-out after repeated failures.

use sha2::{Digest, Sha256};

/// A six-digit code, shown as `123 456`.
pub fn new_code() -> String {
    use rand::RngExt;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// What a person typed, reduced to its digits: spaces and dashes are
/// forgiven, anything else is not a code.
pub fn normalise(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// The stored form of a code: bound to the code's own random id, so equal
/// codes issued to different people hash differently.
pub fn hash_code(code_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{code_id}:{code}").as_bytes()))
}

/// Compare without an early exit, so timing does not reveal how much matched.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Limits in force, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_address: u32,
    pub per_client: u32,
    pub max_failures: u32,
}

/// Why a request or an attempt is held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    TooManyRequests,
    LockedOut,
}

/// May another code be requested, given what this window has seen?
/// Counts are of earlier requests (this one not included).
pub fn may_request(limits: Limits, by_address: i64, by_client: i64) -> Result<(), Held> {
    if by_address >= i64::from(limits.per_address) || by_client >= i64::from(limits.per_client) {
        Err(Held::TooManyRequests)
    } else {
        Ok(())
    }
}

/// May a code be tried, given the failures this window has seen? A locked
/// address stays locked for the rest of the window even for the right code.
pub fn may_attempt(
    limits: Limits,
    failures_by_address: i64,
    failures_by_client: i64,
) -> Result<(), Held> {
    if failures_by_address >= i64::from(limits.max_failures)
        || failures_by_client >= i64::from(limits.max_failures).saturating_mul(4)
    {
        Err(Held::LockedOut)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_address: 5,
        per_client: 20,
        max_failures: 5,
    };

    #[test]
    fn codes_are_six_digits_and_typing_is_forgiving() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(normalise(&c), Some(c.clone()));
        }
        assert_eq!(normalise(" 123 456 "), Some("123456".into()));
        assert_eq!(normalise("123-456"), Some("123456".into()));
        assert_eq!(normalise("12345"), None);
        assert_eq!(normalise("12345a"), None);
        assert_eq!(normalise("1234567"), None);
    }

    #[test]
    fn hashes_bind_the_code_to_its_id() {
        assert_ne!(hash_code("a", "123456"), hash_code("b", "123456"));
        assert!(same(&hash_code("a", "123456"), &hash_code("a", "123456")));
        assert!(!same(&hash_code("a", "123456"), &hash_code("a", "123457")));
    }

    #[test]
    fn limits_hold_requests_and_lock_out_failures() {
        assert!(may_request(LIMITS, 4, 0).is_ok());
        assert_eq!(may_request(LIMITS, 5, 0), Err(Held::TooManyRequests));
        assert_eq!(may_request(LIMITS, 0, 20), Err(Held::TooManyRequests));
        assert!(may_attempt(LIMITS, 4, 4).is_ok());
        assert_eq!(may_attempt(LIMITS, 5, 5), Err(Held::LockedOut));
        assert_eq!(may_attempt(LIMITS, 0, 20), Err(Held::LockedOut));
    }
}
