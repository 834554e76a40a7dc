//! Audit events are append-only and tamper-evident (DESIGN.md, "Audit
//! event"): each carries the hash of the one before, so changing, removing or
//! reordering any event breaks every hash after it, which `confer audit
//! verify` detects.

use sha2::{Digest, Sha256};

use super::clock::Millis;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit event as chained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Millis,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub case_id: Option<String>,
    pub subject: Option<String>,
    /// JSON text.
    pub detail: String,
}

/// The hash of `record` chained after `prev_hash`: SHA-256 over the previous
/// hash and every field, each length-prefixed so that no two different events
/// serialise to the same bytes.
pub fn chain_hash(prev_hash: &str, record: &AuditRecord) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev_hash.as_bytes());
    field(&record.seq.to_be_bytes());
    field(&record.at.to_be_bytes());
    field(record.actor_id.as_deref().unwrap_or("\u{0}").as_bytes());
    field(record.actor_label.as_bytes());
    field(record.action.as_bytes());
    field(record.case_id.as_deref().unwrap_or("\u{0}").as_bytes());
    field(record.subject.as_deref().unwrap_or("\u{0}").as_bytes());
    field(record.detail.as_bytes());
    hex::encode(h.finalize())
}

/// Where a chain first fails to verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainBreak {
    /// Sequence numbers must run 1, 2, 3, ... with no gap.
    Gap { expected: i64, found: i64 },
    /// The stored previous hash is not the hash of the event before.
    PrevMismatch { seq: i64 },
    /// The stored hash is not the hash of the event's contents.
    HashMismatch { seq: i64 },
}

/// Checks events in order, one at a time, so a chain of any length is
/// verified in constant memory.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
        }
    }
}

impl ChainVerifier {
    pub fn check(
        &mut self,
        record: &AuditRecord,
        stored_prev: &str,
        stored_hash: &str,
    ) -> Result<(), ChainBreak> {
        if record.seq != self.next_seq {
            return Err(ChainBreak::Gap {
                expected: self.next_seq,
                found: record.seq,
            });
        }
        if stored_prev != self.prev_hash {
            return Err(ChainBreak::PrevMismatch { seq: record.seq });
        }
        if chain_hash(stored_prev, record) != stored_hash {
            return Err(ChainBreak::HashMismatch { seq: record.seq });
        }
        self.next_seq += 1;
        self.prev_hash = stored_hash.to_string();
        Ok(())
    }

    /// How many events verified so far.
    pub fn verified(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last verified event (the chain head).
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, action: &str) -> AuditRecord {
        AuditRecord {
            seq,
            at: 1_000 + seq,
            actor_id: None,
            actor_label: "cli:test".into(),
            action: action.into(),
            case_id: None,
            subject: None,
            detail: "{}".into(),
        }
    }

    fn chain(n: i64) -> Vec<(AuditRecord, String, String)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|i| {
                let r = rec(i, "agency.added");
                let h = chain_hash(&prev, &r);
                let out = (r, prev.clone(), h.clone());
                prev = h;
                out
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let mut v = ChainVerifier::default();
        for (r, p, h) in chain(5) {
            v.check(&r, &p, &h).unwrap();
        }
        assert_eq!(v.verified(), 5);
    }

    #[test]
    fn editing_deleting_or_reordering_an_event_is_detected() {
        let mut edited = chain(3);
        edited[1].0.action = "something.else".into();
        let mut v = ChainVerifier::default();
        v.check(&edited[0].0, &edited[0].1, &edited[0].2).unwrap();
        assert_eq!(
            v.check(&edited[1].0, &edited[1].1, &edited[1].2),
            Err(ChainBreak::HashMismatch { seq: 2 })
        );

        let mut deleted = chain(3);
        deleted.remove(1);
        let mut v = ChainVerifier::default();
        v.check(&deleted[0].0, &deleted[0].1, &deleted[0].2)
            .unwrap();
        assert_eq!(
            v.check(&deleted[1].0, &deleted[1].1, &deleted[1].2),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );

        // Renumbering after a deletion still breaks the link to the previous hash.
        let mut renumbered = chain(3);
        renumbered.remove(1);
        renumbered[1].0.seq = 2;
        let mut v = ChainVerifier::default();
        v.check(&renumbered[0].0, &renumbered[0].1, &renumbered[0].2)
            .unwrap();
        assert_eq!(
            v.check(&renumbered[1].0, &renumbered[1].1, &renumbered[1].2),
            Err(ChainBreak::PrevMismatch { seq: 2 })
        );
    }
}
