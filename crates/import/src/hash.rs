//! Keyed hashing (HMAC-SHA256) of prompts, contexts and tasks.
//!
//! Vendors' exports carry prompt text, file contents and tool outputs. None of
//! it may leave the importer: `task_hash` and `context_hash` are keyed hashes,
//! so a common prompt cannot be recovered by hashing guesses without the key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The documented fixed key used when no key is configured.
///
/// With it, hashes are still stable across runs and machines, but anyone who
/// knows this constant can test guesses; the CLI warns when it is used.
pub const DEFAULT_HASH_KEY: &str = "goodhart-import-default-key-v1";

/// HMAC-SHA256 with one key; hashes are 128-bit lowercase hex strings.
#[derive(Clone)]
pub struct KeyedHasher {
    mac: Hmac<Sha256>,
    default_key: bool,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("KeyedHasher")
            .field("default_key", &self.default_key)
            .finish_non_exhaustive()
    }
}

impl KeyedHasher {
    /// A hasher with `key`.
    pub fn new(key: &[u8]) -> KeyedHasher {
        KeyedHasher {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length"),
            default_key: false,
        }
    }

    /// A hasher with [`DEFAULT_HASH_KEY`].
    pub fn with_default_key() -> KeyedHasher {
        KeyedHasher {
            default_key: true,
            ..KeyedHasher::new(DEFAULT_HASH_KEY.as_bytes())
        }
    }

    /// True when the documented fixed key is in use.
    pub fn is_default_key(&self) -> bool {
        self.default_key
    }

    /// Keyed hash of `parts` in the domain `domain` (e.g. `"prompt"`).
    ///
    /// Each part is length-prefixed, so `["ab", "c"]` and `["a", "bc"]`
    /// differ; domains keep a prompt and a file with the same bytes apart.
    ///
    /// ```
    /// use goodhart_import::KeyedHasher;
    /// let h = KeyedHasher::new(b"secret");
    /// let a = h.hash("prompt", &[b"fix the build"]);
    /// assert_eq!(a.len(), 32);
    /// assert_eq!(a, h.hash("prompt", &[b"fix the build"]));
    /// assert_ne!(a, KeyedHasher::new(b"other").hash("prompt", &[b"fix the build"]));
    /// assert_ne!(a, h.hash("context", &[b"fix the build"]));
    /// ```
    pub fn hash(&self, domain: &str, parts: &[&[u8]]) -> String {
        let mut m = self.mac.clone();
        m.update(domain.as_bytes());
        m.update(&[0]);
        for p in parts {
            m.update(&(p.len() as u64).to_le_bytes());
            m.update(p);
        }
        hex(&m.finalize().into_bytes()[..16])
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[usize::from(b >> 4)] as char);
        s.push(D[usize::from(b & 15)] as char);
    }
    s
}

/// SHA-256 of `bytes`, lowercase hex (content hashes in the manifest).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&Sha256::digest(bytes))
}
