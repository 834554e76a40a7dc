//! Encryption at rest ("sealing") for the columns that identify a child.
//!
//! A sealed value is `cf1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`:
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) with a random
//! 192-bit nonce, and the column's name as associated data, so a value
//! copied into another column does not open. The key id travels with the
//! value, so old values stay readable while `confer keys rotate` re-seals
//! them under the new key, one batch at a time, with the service running.
//!
//! Keys live in a TOML key file (`encryption.key_file`, by default
//! `<data_dir>/confer-keys.toml`, mode 0600), kept and backed up apart from
//! the database:
//!
//! ```toml
//! current = "k3f9a01c2"
//! [keys]
//! k3f9a01c2 = "<32 bytes, base64url>"
//! ```
//!
//! A value without the `cf1:` prefix is plaintext written before sealing
//! began; it reads as it is, and the next rotation seals it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

pub mod blind;

const PREFIX: &str = "cf1:";
const NONCE: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("encryption key {0} is not in the key file")]
    UnknownKey(String),
    #[error("a sealed value does not open: it is damaged, or belongs to another column")]
    Damaged,
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    current: String,
    keys: BTreeMap<String, String>,
}

struct Ring {
    current: String,
    ciphers: BTreeMap<String, XChaCha20Poly1305>,
    /// Each key's blind-index key, derived from it ([`blind`]).
    index: BTreeMap<String, blind::IndexKey>,
}

/// The keys a process seals and opens with.
pub struct KeyRing {
    path: PathBuf,
    ring: RwLock<Ring>,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> SealError {
    SealError::KeyFile {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn new_key() -> (String, String) {
    use rand::RngExt;
    let mut rng = rand::rng();
    let id: [u8; 4] = rng.random();
    let key: [u8; 32] = rng.random();
    (format!("k{}", hex::encode(id)), B64.encode(key))
}

fn parse(path: &Path, text: &str) -> Result<Ring, SealError> {
    let file: KeyFile = toml::from_str(text).map_err(|e| file_error(path, e.message()))?;
    let mut ciphers = BTreeMap::new();
    let mut index = BTreeMap::new();
    for (id, key) in &file.keys {
        let bytes = B64
            .decode(key.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| file_error(path, format!("key {id} is not 32 bytes of base64url")))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| file_error(path, format!("key {id} is not a valid key")))?;
        ciphers.insert(id.clone(), cipher);
        index.insert(id.clone(), blind::derive(&bytes));
    }
    if !ciphers.contains_key(&file.current) {
        return Err(file_error(
            path,
            format!("current key {} is not among the keys", file.current),
        ));
    }
    Ok(Ring {
        current: file.current,
        ciphers,
        index,
    })
}

/// Write the key file whole, readable by its owner only: replacing any
/// previous one in a single rename, or, when `fresh`, only if there is none
/// (a hard link fails on an existing file, so two nodes starting at once on a
/// shared key file cannot both create one).
fn write_file(path: &Path, file: &KeyFile, fresh: bool) -> Result<(), SealError> {
    let text = format!(
        "# Confer's encryption keys. Keep this file secret, and back it up apart from the database:\n\
         # without it, the child-identifying columns of a backup cannot be read.\n{}",
        toml::to_string(file).map_err(|e| file_error(path, e))?
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| file_error(path, e))?;
    }
    let scratch = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(&scratch).map_err(|e| file_error(path, e))?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| file_error(path, e))?;
    let placed = if fresh {
        std::fs::hard_link(&scratch, path).and_then(|()| std::fs::remove_file(&scratch))
    } else {
        std::fs::rename(&scratch, path)
    };
    placed.map_err(|e| {
        let _ = std::fs::remove_file(&scratch);
        file_error(path, e)
    })
}

impl KeyRing {
    /// Read the key file.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            ring: RwLock::new(parse(path, &text)?),
        })
    }

    /// Create a key file with one new key; refuses to replace one.
    pub fn create(path: &Path) -> Result<Self, SealError> {
        if path.exists() {
            return Err(file_error(path, "exists already"));
        }
        let (id, key) = new_key();
        write_file(
            path,
            &KeyFile {
                current: id.clone(),
                keys: BTreeMap::from([(id, key)]),
            },
            true,
        )?;
        Self::load(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-read the key file (after `confer keys rotate` added a key).
    pub fn reload(&self) -> Result<(), SealError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| file_error(&self.path, e))?;
        let fresh = parse(&self.path, &text)?;
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        *ring = fresh;
        Ok(())
    }

    /// Add a new key to the file and make it current; returns its id.
    pub fn add_key(&self) -> Result<String, SealError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| file_error(&self.path, e))?;
        let mut file: KeyFile =
            toml::from_str(&text).map_err(|e| file_error(&self.path, e.message()))?;
        let (id, key) = new_key();
        file.keys.insert(id.clone(), key);
        file.current = id.clone();
        write_file(&self.path, &file, false)?;
        self.reload()?;
        Ok(id)
    }

    /// The ids in the key file, the current one first.
    pub fn ids(&self) -> Vec<String> {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        let mut ids = vec![ring.current.clone()];
        ids.extend(ring.ciphers.keys().filter(|k| **k != ring.current).cloned());
        ids
    }

    pub fn current_id(&self) -> String {
        self.ring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone()
    }

    /// Seal `plain` for `column` under the current key.
    pub fn seal(&self, column: &str, plain: &str) -> String {
        use rand::RngExt;
        let nonce: [u8; NONCE] = rand::rng().random();
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        let Some(cipher) = ring.ciphers.get(&ring.current) else {
            unreachable!("parse() checks that the current key is present")
        };
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: column.as_bytes(),
        };
        // Encryption fails only for messages beyond 256 GiB.
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", ring.current, B64.encode(bytes))
    }

    /// Open a value read from `column`; plaintext (not yet sealed) passes through.
    pub fn open(&self, column: &str, stored: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let (id, body) = rest.split_once(':').ok_or(SealError::Damaged)?;
        if !self.has_key(id) {
            // Another process may have rotated: read the file once more.
            let _ = self.reload();
        }
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        let cipher = ring
            .ciphers
            .get(id)
            .ok_or_else(|| SealError::UnknownKey(id.to_string()))?;
        let bytes = B64.decode(body).map_err(|_| SealError::Damaged)?;
        if bytes.len() < NONCE {
            return Err(SealError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealError::Damaged)?;
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SealError::Damaged)
    }

    fn has_key(&self, id: &str) -> bool {
        self.ring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ciphers
            .contains_key(id)
    }

    /// Whether a stored value is plaintext or sealed under an older key.
    pub fn needs_sealing(&self, stored: &str) -> bool {
        let current = self.current_id();
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_none_or(|(id, _)| id != current)
    }

    /// The key id a stored value is sealed under, if it is sealed.
    pub fn key_of(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> (tempfile::TempDir, KeyRing) {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = KeyRing::create(&dir.path().join("keys.toml")).expect("key file");
        (dir, keys)
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_column_and_hides_the_plaintext() {
        let (_dir, keys) = ring();
        let sealed = keys.seal("cases.child_name", "Lily Ashworth");
        assert!(sealed.starts_with(&format!("cf1:{}:", keys.current_id())));
        assert!(!sealed.contains("Lily"));
        assert_ne!(
            sealed,
            keys.seal("cases.child_name", "Lily Ashworth"),
            "fresh nonce"
        );
        assert_eq!(
            keys.open("cases.child_name", &sealed).unwrap(),
            "Lily Ashworth"
        );
        assert!(matches!(
            keys.open("cases.la_reference", &sealed),
            Err(SealError::Damaged)
        ));
        let mut flipped = sealed.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.open("cases.child_name", &flipped).is_err());
        assert_eq!(keys.open("cases.child_name", "plain").unwrap(), "plain");
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_marks_them_for_resealing() {
        let (dir, keys) = ring();
        let old = keys.seal("c", "x");
        let first = keys.current_id();
        assert!(!keys.needs_sealing(&old));
        assert!(keys.needs_sealing("plaintext"));
        // Another process (the CLI) adds a key: this ring learns it lazily.
        let other = KeyRing::load(&dir.path().join("keys.toml")).unwrap();
        let second = other.add_key().unwrap();
        assert_ne!(first, second);
        let new = other.seal("c", "y");
        assert_eq!(
            keys.open("c", &new).unwrap(),
            "y",
            "reloads for an unknown key"
        );
        assert_eq!(keys.current_id(), second);
        assert!(keys.needs_sealing(&old));
        assert_eq!(keys.open("c", &old).unwrap(), "x");
        assert_eq!(keys.ids(), vec![second, first]);
    }

    #[test]
    fn a_bad_key_file_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        for (text, why) in [
            ("current = \"a\"\n[keys]\na = \"short\"\n", "not 32 bytes"),
            ("current = \"b\"\n[keys]\n", "not among the keys"),
            ("nonsense", "key file"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = KeyRing::load(&path).err().expect("refused").to_string();
            assert!(e.contains(why), "{e}");
        }
        assert!(KeyRing::create(&path).is_err(), "never replaces a key file");
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _keys) = ring();
        let mode = std::fs::metadata(dir.path().join("keys.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
