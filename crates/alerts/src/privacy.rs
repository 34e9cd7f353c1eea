//! Keyed pseudonyms for user ids in outbound payloads.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{EnvSource, PrivacyConfig, Secret};
use crate::error::Result;

/// `"p-"` followed by the first 16 lowercase hex digits of HMAC-SHA256(key, user_id).
///
/// The key is the raw bytes of the configured key string. Without the key the pseudonym cannot
/// be linked back to the user; with the local state store, `whois` can.
///
/// ```
/// let p = goodhart_alerts::pseudonym(b"k", "alice");
/// assert!(p.starts_with("p-") && p.len() == 18);
/// assert_ne!(p, goodhart_alerts::pseudonym(b"other key", "alice"));
/// ```
pub fn pseudonym(key: &[u8], user_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(user_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(18);
    out.push_str("p-");
    for b in &digest[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A configured pseudonymiser (holds the key; `Debug` redacts it).
#[derive(Clone)]
pub struct Pseudonymizer {
    key: Secret,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("key", &self.key)
            .finish()
    }
}

impl Pseudonymizer {
    /// A pseudonymiser with an explicit key.
    pub fn new(key: Secret) -> Self {
        Pseudonymizer { key }
    }

    /// `Some` when `[privacy] pseudonymize = true`; the key is read from the variable named by
    /// `key_env` and a missing variable is an error naming it.
    pub fn from_config(cfg: &PrivacyConfig, env: &EnvSource) -> Result<Option<Self>> {
        if !cfg.pseudonymize {
            return Ok(None);
        }
        let key = env.require(&cfg.key_env, "[privacy] key_env")?;
        Ok(Some(Pseudonymizer { key }))
    }

    /// Pseudonym of a user, see [`pseudonym`].
    pub fn pseudonym(&self, user_id: &str) -> String {
        pseudonym(self.key.expose().as_bytes(), user_id)
    }
}
