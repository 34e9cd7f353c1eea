//! Standard Webhooks signing and verification (<https://www.standardwebhooks.com/>).
//!
//! A delivery is an HTTP POST of a JSON body with three headers:
//!
//! * `webhook-id`: the outbox delivery id, identical across retries of one delivery
//!   (receivers use it to de-duplicate);
//! * `webhook-timestamp`: unix seconds of the attempt;
//! * `webhook-signature`: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`.
//!
//! The key: a secret of the form `whsec_<base64>` (the format Standard Webhooks libraries
//! generate) is base64-decoded after the prefix; any other secret string is used as its raw
//! UTF-8 bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HMAC key bytes for a configured secret (see the module docs).
/// A `whsec_` secret whose remainder is not valid base64 is used as raw bytes.
pub fn secret_key(secret: &str) -> Vec<u8> {
    if let Some(b64) = secret.strip_prefix("whsec_") {
        if let Ok(key) = STANDARD.decode(b64.trim()) {
            return key;
        }
    }
    secret.as_bytes().to_vec()
}

fn mac(secret: &str, id: &str, timestamp: i64, body: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&secret_key(secret)).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The `webhook-signature` header value for a message: `v1,<base64 signature>`.
///
/// ```
/// use goodhart_alerts::{sign_webhook, verify_signature};
/// let sig = sign_webhook("whsec_c2VjcmV0", "msg_1", 1_700_000_000, r#"{"a":1}"#);
/// assert!(sig.starts_with("v1,"));
/// assert!(verify_signature("whsec_c2VjcmV0", "msg_1", 1_700_000_000, r#"{"a":1}"#, &sig));
/// assert!(!verify_signature("whsec_c2VjcmV0", "msg_2", 1_700_000_000, r#"{"a":1}"#, &sig));
/// ```
pub fn sign_webhook(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let tag = mac(secret, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Check a `webhook-signature` header (which may list several space-separated signatures,
/// e.g. during secret rotation) against the message. Constant-time comparison; only `v1`
/// signatures are considered. Receivers should also reject timestamps too far from their clock
/// (Standard Webhooks suggests 5 minutes) and de-duplicate on `webhook-id`.
pub fn verify_signature(secret: &str, id: &str, timestamp: i64, body: &str, header: &str) -> bool {
    header.split_whitespace().any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(tag) = STANDARD.decode(b64) else {
            return false;
        };
        mac(secret, id, timestamp, body).verify_slice(&tag).is_ok()
    })
}
