//! Audit events are append-only and tamper-evident (DESIGN.md, "Audit
//! event"): each carries the hash of the one before, so changing, removing or
//! reordering any event breaks every hash after it, which `confer audit
//! verify` detects.

use sha2::{Digest, Sha256};

use super::access::Actor;
use super::clock::Millis;
use super::vocabulary::Role;

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
    /// The event verifies against its neighbours, but its hash is not the one
    /// a checkpoint recorded: the chain was rewritten, hashes and all, at or
    /// before `seq` (and after `since`, the last checkpoint that matched).
    CheckpointMismatch {
        seq: i64,
        since: Option<i64>,
        checkpoint: Checkpoint,
    },
    /// The log ends at `last`, but a checkpoint recorded event `seq`: the
    /// tail was removed and the head moved back to hide it.
    EndsBeforeCheckpoint { last: i64, checkpoint: Checkpoint },
}

/// A checkpoint: the chain head at one moment, exported by `confer audit
/// checkpoint` so that a copy held outside the database proves, later, that
/// nothing up to it was rewritten (issue 6: "periodic checkpoints (the head
/// hash) can be exported so that a copy held elsewhere proves nothing was
/// rewritten"). Written and read as `{"seq":N,"hash":"…","at":"RFC 3339"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last event's sequence number (0 for an empty log).
    pub seq: i64,
    /// That event's hash (the genesis hash for an empty log).
    pub hash: String,
    /// When the checkpoint was taken, RFC 3339 UTC.
    pub at: String,
}

impl Checkpoint {
    /// Read a checkpoint file's text, refusing anything that is not exactly
    /// one well-formed checkpoint.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let c: Checkpoint = serde_json::from_str(text.trim()).map_err(|e| {
            format!("not a checkpoint like {{\"seq\":1,\"hash\":\"…\",\"at\":\"…\"}}: {e}")
        })?;
        if c.seq < 0 {
            return Err("seq must not be negative".into());
        }
        if c.hash.len() != 64
            || !c
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("hash must be 64 lower-case hexadecimal digits".into());
        }
        if time::OffsetDateTime::parse(&c.at, &time::format_description::well_known::Rfc3339)
            .is_err()
        {
            return Err("at must be an RFC 3339 time like 2026-11-24T09:30:00Z".into());
        }
        if c.seq == 0 && c.hash != GENESIS_HASH {
            return Err("a checkpoint of an empty log must hold the genesis hash".into());
        }
        Ok(c)
    }

    /// The checkpoint's one-line JSON text, fields in the order above.
    pub fn to_json(&self) -> String {
        // Serialising three plain fields cannot fail; the fallback is never used.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Checks events in order, one at a time, so a chain of any length is
/// verified in constant memory; and, given checkpoints, that each
/// checkpointed event still has the hash it had then.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    /// Sorted by sequence number.
    checkpoints: Vec<Checkpoint>,
    last_matched: Option<i64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            checkpoints: Vec::new(),
            last_matched: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier that also holds the chain to these checkpoints.
    pub fn with_checkpoints(mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|c| c.seq);
        let mut v = Self {
            checkpoints,
            ..Self::default()
        };
        // A checkpoint of the empty log holds by definition.
        if v.checkpoints.iter().any(|c| c.seq == 0) {
            v.last_matched = Some(0);
        }
        v
    }

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
        for c in self.checkpoints.iter().filter(|c| c.seq == record.seq) {
            if c.hash != stored_hash {
                return Err(ChainBreak::CheckpointMismatch {
                    seq: record.seq,
                    since: self.last_matched,
                    checkpoint: c.clone(),
                });
            }
            self.last_matched = Some(record.seq);
        }
        self.next_seq += 1;
        self.prev_hash = stored_hash.to_string();
        Ok(())
    }

    /// After the last event: every checkpoint must lie within the chain.
    pub fn finish(&self) -> Result<(), ChainBreak> {
        match self
            .checkpoints
            .iter()
            .rev()
            .find(|c| c.seq > self.verified())
        {
            Some(c) => Err(ChainBreak::EndsBeforeCheckpoint {
                last: self.verified(),
                checkpoint: c.clone(),
            }),
            None => Ok(()),
        }
    }

    /// How many checkpoints were held to so far.
    pub fn checkpoints_matched(&self) -> usize {
        self.checkpoints
            .iter()
            .filter(|c| c.seq < self.next_seq)
            .count()
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

/// Proof that the actor is an auditor: the only way to reach the log's
/// search, exports and the break-glass review. DESIGN.md, "Practitioner":
/// an `auditor` (information governance) reads logs, never case content
/// unless also granted membership — so this grants no [`CaseAccess`].
///
/// [`CaseAccess`]: super::access::CaseAccess
#[derive(Clone, Debug)]
pub struct Auditor {
    person_id: String,
    name: String,
}

impl Auditor {
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Only people whose role is `auditor` search the audit log.
pub fn authorize_auditor(actor: &Actor) -> Option<Auditor> {
    (actor.role == Role::Auditor).then(|| Auditor {
        person_id: actor.person_id.clone(),
        name: actor.name.clone(),
    })
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

    fn checkpoint(seq: i64, hash: &str) -> Checkpoint {
        Checkpoint {
            seq,
            hash: hash.into(),
            at: "2026-11-24T09:30:00Z".into(),
        }
    }

    #[test]
    fn a_chain_rewritten_with_fresh_hashes_fails_its_checkpoint() {
        let original = chain(5);
        let cp = checkpoint(4, &original[3].2);
        // Rewrite from event 3 on, recomputing every hash after it.
        let mut prev = original[1].2.clone();
        let mut rewritten = original[..2].to_vec();
        for (r, _, _) in &original[2..] {
            let mut r = r.clone();
            if r.seq == 3 {
                r.action = "nothing.happened".into();
            }
            let h = chain_hash(&prev, &r);
            rewritten.push((r, prev.clone(), h.clone()));
            prev = h;
        }
        let mut plain = ChainVerifier::default();
        for (r, p, h) in &rewritten {
            plain.check(r, p, h).unwrap();
        }
        let early = checkpoint(2, &original[1].2);
        let mut held = ChainVerifier::with_checkpoints(vec![cp.clone(), early]);
        for (r, p, h) in &rewritten[..3] {
            held.check(r, p, h).unwrap();
        }
        assert_eq!(
            held.check(&rewritten[3].0, &rewritten[3].1, &rewritten[3].2),
            Err(ChainBreak::CheckpointMismatch {
                seq: 4,
                since: Some(2),
                checkpoint: cp
            })
        );
    }

    #[test]
    fn a_chain_that_ends_before_a_checkpoint_is_short() {
        let c = chain(5);
        let mut v = ChainVerifier::with_checkpoints(vec![checkpoint(5, &c[4].2)]);
        for (r, p, h) in &c[..3] {
            v.check(r, p, h).unwrap();
        }
        assert!(matches!(
            v.finish(),
            Err(ChainBreak::EndsBeforeCheckpoint { last: 3, .. })
        ));
        for (r, p, h) in &c[3..] {
            v.check(r, p, h).unwrap();
        }
        assert_eq!(v.finish(), Ok(()));
        assert_eq!(v.checkpoints_matched(), 1);
    }

    #[test]
    fn checkpoint_files_are_read_strictly() {
        let good = checkpoint(7, &"ab".repeat(32));
        assert_eq!(Checkpoint::parse(&good.to_json()), Ok(good.clone()));
        assert!(good.to_json().starts_with("{\"seq\":7,\"hash\":"));
        for bad in [
            "",
            "{}",
            r#"{"seq":-1,"hash":"00","at":"2026-11-24T09:30:00Z"}"#,
            r#"{"seq":1,"hash":"XYZ","at":"2026-11-24T09:30:00Z"}"#,
            &format!(
                r#"{{"seq":1,"hash":"{}","at":"yesterday"}}"#,
                "a".repeat(64)
            ),
            &format!(
                r#"{{"seq":1,"hash":"{}","at":"2026-11-24T09:30:00Z","extra":1}}"#,
                "a".repeat(64)
            ),
            &format!(
                r#"{{"seq":0,"hash":"{}","at":"2026-11-24T09:30:00Z"}}"#,
                "a".repeat(64)
            ),
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_auditors_are_auditors() {
        let mut actor = Actor {
            person_id: "p".into(),
            agency_id: "a".into(),
            name: "Ria".into(),
            role: Role::Auditor,
        };
        assert!(authorize_auditor(&actor).is_some());
        for role in [Role::Practitioner, Role::Manager, Role::Admin] {
            actor.role = role;
            assert!(authorize_auditor(&actor).is_none());
        }
    }
}
