//! Keyed pseudonyms for what identifies a person in outbound payloads: user ids, session ids
//! (which often embed a user name or email) and, when configured, cohort (team) names.

use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::config::{EnvSource, PrivacyConfig, Secret};
use crate::error::Result;

/// Domain of session pseudonyms: the HMAC key of session pseudonyms is
/// HMAC-SHA256(key, this), so a session pseudonym never equals a user pseudonym of the same
/// string, and neither reveals the other.
const SESSION_DOMAIN: &[u8] = b"goodhart/pseudonym/session/v1";
/// Domain of cohort pseudonyms (see [`SESSION_DOMAIN`]).
const COHORT_DOMAIN: &[u8] = b"goodhart/pseudonym/cohort/v1";

fn hmac16(key: &[u8], prefix: &str, input: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(input);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    for b in &digest[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn subkey(key: &[u8], domain: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(domain);
    mac.finalize().into_bytes().to_vec()
}

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
    hmac16(key, "p-", user_id.as_bytes())
}

/// `"s-"` followed by the first 16 lowercase hex digits of
/// HMAC-SHA256(HMAC-SHA256(key, `"goodhart/pseudonym/session/v1"`), session_id): a keyed
/// pseudonym of a session id, domain-separated from user pseudonyms.
///
/// ```
/// use goodhart_alerts::{pseudonym, session_pseudonym};
/// let s = session_pseudonym(b"k", "alice@corp/42");
/// assert!(s.starts_with("s-") && s.len() == 18);
/// // The same string as a user id and as a session id gives unrelated pseudonyms.
/// assert_ne!(&s[2..], &pseudonym(b"k", "alice@corp/42")[2..]);
/// ```
pub fn session_pseudonym(key: &[u8], session_id: &str) -> String {
    hmac16(&subkey(key, SESSION_DOMAIN), "s-", session_id.as_bytes())
}

/// `"c-"` followed by 16 hex digits: the keyed pseudonym of a cohort (team) name, derived like
/// [`session_pseudonym`] with the domain `"goodhart/pseudonym/cohort/v1"`.
pub fn cohort_pseudonym(key: &[u8], cohort: &str) -> String {
    hmac16(&subkey(key, COHORT_DOMAIN), "c-", cohort.as_bytes())
}

/// A configured pseudonymiser (holds the key; `Debug` redacts it).
#[derive(Clone)]
pub struct Pseudonymizer {
    key: Secret,
    cohorts: bool,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("key", &self.key)
            .field("cohorts", &self.cohorts)
            .finish()
    }
}

impl Pseudonymizer {
    /// A pseudonymiser with an explicit key (user and session ids; cohorts kept).
    pub fn new(key: Secret) -> Self {
        Pseudonymizer {
            key,
            cohorts: false,
        }
    }

    /// Also pseudonymise cohort names.
    pub fn with_cohorts(mut self, cohorts: bool) -> Self {
        self.cohorts = cohorts;
        self
    }

    /// Whether cohort names are pseudonymised.
    pub fn cohorts(&self) -> bool {
        self.cohorts
    }

    /// `Some` when `[privacy] pseudonymize = true`; the key is read from the variable named by
    /// `key_env` and a missing variable is an error naming it.
    pub fn from_config(cfg: &PrivacyConfig, env: &EnvSource) -> Result<Option<Self>> {
        if !cfg.pseudonymize {
            return Ok(None);
        }
        let key = env.require(&cfg.key_env, "[privacy] key_env")?;
        Ok(Some(Pseudonymizer {
            key,
            cohorts: cfg.pseudonymize_cohorts,
        }))
    }

    /// Pseudonym of a user, see [`pseudonym`].
    pub fn pseudonym(&self, user_id: &str) -> String {
        pseudonym(self.key.expose().as_bytes(), user_id)
    }

    /// Pseudonym of a session, see [`session_pseudonym`].
    pub fn session(&self, session_id: &str) -> String {
        session_pseudonym(self.key.expose().as_bytes(), session_id)
    }

    /// Pseudonym of a cohort, see [`cohort_pseudonym`].
    pub fn cohort(&self, cohort: &str) -> String {
        cohort_pseudonym(self.key.expose().as_bytes(), cohort)
    }
}

/// What kind of real identifier a substitution hides (named in leak errors, never the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IdKind {
    User,
    Session,
    Cohort,
}

impl IdKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IdKind::User => "user id",
            IdKind::Session => "session id",
            IdKind::Cohort => "cohort name",
        }
    }
}

/// Replaces the real identifiers of one alert by their pseudonyms in any text, and checks a
/// finished payload for leftovers.
///
/// Hand-rolled on top of `aho-corasick` because the rules are specific: user and session ids
/// are replaced wherever they occur (leftmost-longest, so a session id that embeds the user id
/// is replaced whole), cohort names only as whole words (a team called `core` must not turn
/// `score` into `sc-…`), and the pseudonyms and public fingerprint already in the text are
/// left intact even when a short real id happens to occur inside their hex digits.
pub(crate) struct Substitution {
    /// Pass 1: user and session ids (and protected tokens, mapped to themselves).
    strict: Option<(AhoCorasick, Vec<String>)>,
    /// Pass 2: cohort names, whole words only (and protected tokens).
    words: Option<(AhoCorasick, Vec<String>, usize)>,
    /// (real, kind, strict) for the leak check.
    reals: Vec<(String, IdKind)>,
    protected: Vec<String>,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl Substitution {
    /// `pairs` are (real, pseudonym, kind); `protected` are tokens never to be rewritten
    /// (the public fingerprint). Empty reals are ignored.
    pub(crate) fn new(pairs: &[(String, String, IdKind)], protected: &[String]) -> Self {
        let mut protected: Vec<String> = protected
            .iter()
            .chain(pairs.iter().map(|(_, p, _)| p))
            .filter(|p| !p.is_empty())
            .cloned()
            .collect();
        protected.sort();
        protected.dedup();
        let build = |kinds: &[IdKind]| {
            let mut pats: Vec<String> = Vec::new();
            let mut reps: Vec<String> = Vec::new();
            for (real, pseudo, kind) in pairs {
                if kinds.contains(kind) && !real.is_empty() && !pats.contains(real) {
                    pats.push(real.clone());
                    reps.push(pseudo.clone());
                }
            }
            let n_real = pats.len();
            if n_real == 0 {
                return None;
            }
            for p in &protected {
                if !pats.contains(p) {
                    pats.push(p.clone());
                    reps.push(p.clone());
                }
            }
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&pats)
                .expect("literal patterns build");
            Some((ac, reps, n_real))
        };
        let strict = build(&[IdKind::User, IdKind::Session]).map(|(a, r, _)| (a, r));
        let words = build(&[IdKind::Cohort]);
        let mut reals: Vec<(String, IdKind)> = pairs
            .iter()
            .filter(|(r, _, _)| !r.is_empty())
            .map(|(r, _, k)| (r.clone(), *k))
            .collect();
        reals.sort();
        reals.dedup();
        Substitution {
            strict,
            words,
            reals,
            protected,
        }
    }

    /// `text` with every real identifier replaced by its pseudonym.
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = match &self.strict {
            Some((ac, reps)) => ac.replace_all(text, reps),
            None => text.to_string(),
        };
        if let Some((ac, reps, n_real)) = &self.words {
            let bytes = out.as_bytes();
            let mut s = String::with_capacity(out.len());
            let mut last = 0;
            for m in ac.find_iter(&out) {
                let pid = m.pattern().as_usize();
                let bounded = (m.start() == 0 || !is_word_byte(bytes[m.start() - 1]))
                    && (m.end() == bytes.len() || !is_word_byte(bytes[m.end()]));
                if pid < *n_real && bounded {
                    s.push_str(&out[last..m.start()]);
                    s.push_str(&reps[pid]);
                    last = m.end();
                }
            }
            s.push_str(&out[last..]);
            out = s;
        }
        out
    }

    /// Rewrite every string (not object keys) in `v`.
    pub(crate) fn apply_json(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.apply(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.apply_json(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.apply_json(x)),
            _ => {}
        }
    }

    /// The first real identifier left in any string of `v`, as (JSON path, kind). Protected
    /// tokens are masked first; cohort names count only as whole words.
    pub(crate) fn leak(&self, v: &Value) -> Option<(String, IdKind)> {
        fn walk(
            sub: &Substitution,
            v: &Value,
            path: &mut String,
            out: &mut Option<(String, IdKind)>,
        ) {
            if out.is_some() {
                return;
            }
            match v {
                Value::String(s) => {
                    let mut masked = s.clone();
                    for p in &sub.protected {
                        masked = masked.replace(p.as_str(), "\u{1}");
                    }
                    for (real, kind) in &sub.reals {
                        let hit = match kind {
                            IdKind::Cohort => {
                                let b = masked.as_bytes();
                                masked.match_indices(real.as_str()).any(|(i, m)| {
                                    (i == 0 || !is_word_byte(b[i - 1]))
                                        && (i + m.len() == b.len() || !is_word_byte(b[i + m.len()]))
                                })
                            }
                            _ => masked.contains(real.as_str()),
                        };
                        if hit {
                            *out = Some((path.clone(), *kind));
                            return;
                        }
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        walk(sub, x, path, out);
                        path.truncate(len);
                    }
                }
                Value::Object(o) => {
                    for (k, x) in o {
                        let len = path.len();
                        path.push('.');
                        path.push_str(k);
                        walk(sub, x, path, out);
                        path.truncate(len);
                    }
                }
                _ => {}
            }
        }
        let mut out = None;
        walk(self, v, &mut String::new(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub() -> Substitution {
        Substitution::new(
            &[
                (
                    "alice@corp".into(),
                    "p-aaaaaaaaaaaaaaaa".into(),
                    IdKind::User,
                ),
                (
                    "alice@corp/7".into(),
                    "s-bbbbbbbbbbbbbbbb".into(),
                    IdKind::Session,
                ),
                ("core".into(), "c-cccccccccccccccc".into(), IdKind::Cohort),
                ("ab".into(), "p-dddddddddddddddd".into(), IdKind::User),
            ],
            &["0123456789abcdef".into()],
        )
    }

    #[test]
    fn sessions_embedding_the_user_are_replaced_whole() {
        let s = sub();
        assert_eq!(
            s.apply("alice@corp looped in session alice@corp/7 (alice@corp/8)"),
            "p-aaaaaaaaaaaaaaaa looped in session s-bbbbbbbbbbbbbbbb (p-aaaaaaaaaaaaaaaa/8)"
        );
    }

    #[test]
    fn cohorts_only_as_words_and_protected_tokens_kept() {
        let s = sub();
        assert_eq!(
            s.apply("team core, score 3, fp 0123456789abcdef, ab"),
            "team c-cccccccccccccccc, score 3, fp 0123456789abcdef, p-dddddddddddddddd"
        );
        // "ab" occurs in the protected fingerprint and in pseudonyms: left alone there.
        let v = serde_json::json!({"a": ["x p-dddddddddddddddd 0123456789abcdef"]});
        assert_eq!(s.leak(&v), None);
        let v = serde_json::json!({"a": ["ok", {"b": "the core team"}]});
        assert_eq!(s.leak(&v), Some((".a[1].b".into(), IdKind::Cohort)));
        let v = serde_json::json!({"x": "scores"});
        assert_eq!(s.leak(&v), None);
        let v = serde_json::json!({"x": "cab"});
        assert_eq!(s.leak(&v), Some((".x".into(), IdKind::User)));
        let mut v = serde_json::json!({"x": ["alice@corp/7", 3, {"k": "core"}]});
        s.apply_json(&mut v);
        assert_eq!(s.leak(&v), None);
        assert_eq!(v["x"][0], "s-bbbbbbbbbbbbbbbb");
    }

    #[test]
    fn session_and_cohort_pseudonyms_are_domain_separated() {
        let k = b"key";
        let (p, s, c) = (
            pseudonym(k, "x"),
            session_pseudonym(k, "x"),
            cohort_pseudonym(k, "x"),
        );
        assert!(p.starts_with("p-") && s.starts_with("s-") && c.starts_with("c-"));
        assert_ne!(p[2..], s[2..]);
        assert_ne!(s[2..], c[2..]);
        assert_eq!(s, session_pseudonym(k, "x"));
        assert_ne!(s, session_pseudonym(b"other", "x"));
    }
}
