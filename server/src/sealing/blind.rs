//! A blind index: finding sealed text by its words without storing them.
//!
//! Message bodies and return-home-interview findings are sealed, so the
//! search index cannot hold their words either. Instead each row carries a
//! `search_terms` column: for every distinct word of its text, stemmed the
//! English way ([`crate::domain::search::stems`]), a token `t` + 16 hex
//! digits, the first 64 bits of HMAC-SHA256 under an index key. The tokens
//! are sorted, so neither the order nor the repetition of words is kept.
//! FTS5 (SQLite) and a GIN index (PostgreSQL) index the tokens; a search
//! hashes its words the same way and asks for rows holding all of them.
//!
//! Each sealing key has its own index key, derived from it (HMAC-SHA256 of
//! a fixed label under the sealing key), so a row's tokens are under the
//! key its text is sealed with, `confer keys rotate` re-indexes what it
//! re-seals, and a search asks for each word under every key in the file,
//! finding rows not yet re-sealed.
//!
//! What it gives away: someone holding the database (not the key file)
//! sees which rows share a word, and how often each token occurs, never the
//! word. Guessing a word means knowing the index key.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::KeyRing;
use crate::domain::search::stems;

const LABEL: &[u8] = b"confer blind index v1";

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A keyed HMAC, ready to hash words (cloned per word, so the key's
/// blocks are hashed once).
pub(super) type IndexKey = Hmac<Sha256>;

/// The index key belonging to a sealing key.
pub(super) fn derive(sealing_key: &[u8]) -> IndexKey {
    <IndexKey as KeyInit>::new_from_slice(&mac(sealing_key, LABEL))
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

fn token(index_key: &IndexKey, stem: &str) -> String {
    let mut mac = index_key.clone();
    mac.update(stem.as_bytes());
    let full: [u8; 32] = mac.finalize().into_bytes().into();
    format!("t{}", hex::encode(&full[..8]))
}

impl KeyRing {
    /// The blind index of `texts` under the current key: one token per
    /// distinct stemmed word, sorted, space-separated ("" for no words).
    pub fn index_text(&self, texts: &[&str]) -> String {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        let Some(key) = ring.index.get(&ring.current) else {
            unreachable!("parse() checks that the current key is present")
        };
        let mut tokens: Vec<String> = texts
            .iter()
            .flat_map(|text| stems(text))
            .map(|stem| token(key, &stem))
            .collect();
        tokens.sort_unstable();
        tokens.dedup();
        tokens.join(" ")
    }

    /// For each of `stems`, its token under every key in the file: a row
    /// matches when it holds, for every stem, one of that stem's tokens.
    pub fn query_tokens(&self, stems: &[String]) -> Vec<Vec<String>> {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        stems
            .iter()
            .map(|stem| ring.index.values().map(|key| token(key, stem)).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::KeyRing;

    #[test]
    fn the_index_holds_no_word_and_matches_stemmed_words_under_every_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.toml");
        let keys = KeyRing::create(&path).expect("key file");
        let index = keys.index_text(&["Lily was missing again, missing", "Ashworth"]);
        assert!(!index.to_lowercase().contains("lily"));
        assert!(!index.to_lowercase().contains("miss"));
        let tokens: Vec<&str> = index.split(' ').collect();
        assert_eq!(tokens.len(), 5, "one token per distinct stem: {index}");
        assert!(tokens.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(tokens.iter().all(|t| t.len() == 17
            && t.starts_with('t')
            && t[1..].bytes().all(|b| b.is_ascii_hexdigit())));
        let missed = keys.query_tokens(&crate::domain::search::stems("missed"));
        assert_eq!(missed.len(), 1);
        assert!(index.contains(&missed[0][0]), "'missed' finds 'missing'");
        // After rotation a search asks under both keys, and new rows use the new one.
        keys.add_key().expect("rotate");
        let both = keys.query_tokens(&crate::domain::search::stems("lily"));
        assert_eq!(both[0].len(), 2);
        assert!(both[0].iter().any(|t| index.contains(t.as_str())));
        let fresh = keys.index_text(&["Lily"]);
        assert_ne!(fresh, keys.index_text(&["Ashworth"]));
        assert!(both[0].contains(&fresh));
        assert!(!index.contains(&fresh), "a new key gives new tokens");
        assert_eq!(keys.index_text(&["", "  ,.;"]), "");
    }
}
