//! The validated, canonical in-memory form of usage events.
//!
//! [`EventBatch`] is what ingest hands to feature extraction: one struct of
//! columns, every string already hashed to a `u64` (see [`hash_str`]), every
//! token count non-negative, every timestamp in UTC microseconds. Only the
//! strings that must come back out (user ids, session ids, model names) are
//! kept, once per distinct value per batch, in [`Names`].

use serde::{Deserialize, Serialize};

/// Hash reserved for "null" in every hashed column.
pub const NULL_HASH: u64 = 0;

/// Stable 64-bit fingerprint of a string (XXH3-64, seed 0).
///
/// The same string gives the same hash on every platform, in every run and
/// every version of goodhart that keeps schema v1. `0` is reserved for null, so
/// a string that would hash to 0 is mapped to 1.
///
/// ```
/// use goodhart_schema::{hash_str, NULL_HASH};
/// // Frozen values (XXH3-64 seed 0, computed independently with Python's
/// // `xxhash.xxh3_64_intdigest`): hashes are stored in state and outputs.
/// assert_eq!(hash_str("u-1"), 16_893_806_204_199_389_168);
/// assert_eq!(hash_str("u-2"), 14_123_029_475_014_410_461);
/// assert_eq!(hash_str(""), 3_244_421_341_483_603_138);
/// assert_ne!(hash_str(""), NULL_HASH);
/// ```
pub fn hash_str(s: &str) -> u64 {
    match xxhash_rust::xxh3::xxh3_64(s.as_bytes()) {
        NULL_HASH => 1,
        h => h,
    }
}

/// The kind of a usage event (the `event` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum EventKind {
    /// A model request made by an agent.
    Request = 0,
    /// A (sub-)agent was spawned.
    AgentSpawn = 1,
    /// A context (file set, document) was loaded into the conversation.
    ContextLoad = 2,
    /// A change proposed by the assistant was accepted.
    ChangeAccepted = 3,
    /// A change proposed by the assistant was rejected.
    ChangeRejected = 4,
    /// A previously accepted change was reverted.
    ChangeReverted = 5,
}

impl EventKind {
    /// Every kind, in the order of their numeric codes.
    pub const ALL: [EventKind; 6] = [
        EventKind::Request,
        EventKind::AgentSpawn,
        EventKind::ContextLoad,
        EventKind::ChangeAccepted,
        EventKind::ChangeRejected,
        EventKind::ChangeReverted,
    ];

    /// The spelling used in the `event` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Request => "request",
            EventKind::AgentSpawn => "agent_spawn",
            EventKind::ContextLoad => "context_load",
            EventKind::ChangeAccepted => "change_accepted",
            EventKind::ChangeRejected => "change_rejected",
            EventKind::ChangeReverted => "change_reverted",
        }
    }

    /// Parses the `event` column's spelling (exact, lower case).
    ///
    /// ```
    /// use goodhart_schema::EventKind;
    /// assert_eq!(EventKind::parse("agent_spawn"), Some(EventKind::AgentSpawn));
    /// assert_eq!(EventKind::parse("Agent_Spawn"), None);
    /// ```
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which optional columns were present in the source of a batch.
///
/// A feature that needs a column that was absent is *unavailable* (null in
/// the output), never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Presence {
    /// `agent_id` column present.
    pub agent_id: bool,
    /// `parent_agent_id` column present.
    pub parent_agent_id: bool,
    /// `model` column present.
    pub model: bool,
    /// `input_tokens` column present.
    pub input_tokens: bool,
    /// `output_tokens` column present.
    pub output_tokens: bool,
    /// `cache_read_tokens` column present.
    pub cache_read_tokens: bool,
    /// `cache_write_tokens` column present.
    pub cache_write_tokens: bool,
    /// `task_hash` column present.
    pub task_hash: bool,
    /// `context_hash` column present.
    pub context_hash: bool,
    /// `change_id` column present.
    pub change_id: bool,
    /// `lines` column present.
    pub lines: bool,
    /// `cost_usd` column present.
    pub cost_usd: bool,
}

impl Presence {
    /// Every optional column present.
    pub const ALL: Presence = Presence {
        agent_id: true,
        parent_agent_id: true,
        model: true,
        input_tokens: true,
        output_tokens: true,
        cache_read_tokens: true,
        cache_write_tokens: true,
        task_hash: true,
        context_hash: true,
        change_id: true,
        lines: true,
        cost_usd: true,
    };

    /// Column-wise OR: a column is available when any part of the data had it.
    pub fn union(self, o: Presence) -> Presence {
        Presence {
            agent_id: self.agent_id || o.agent_id,
            parent_agent_id: self.parent_agent_id || o.parent_agent_id,
            model: self.model || o.model,
            input_tokens: self.input_tokens || o.input_tokens,
            output_tokens: self.output_tokens || o.output_tokens,
            cache_read_tokens: self.cache_read_tokens || o.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens || o.cache_write_tokens,
            task_hash: self.task_hash || o.task_hash,
            context_hash: self.context_hash || o.context_hash,
            change_id: self.change_id || o.change_id,
            lines: self.lines || o.lines,
            cost_usd: self.cost_usd || o.cost_usd,
        }
    }
}

/// Distinct strings of a batch that must come back out, keyed by their hash.
///
/// Sorted by hash, no duplicates, so two `Names` merge in linear time and the
/// result does not depend on the order batches arrive in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// `(hash_str(user_id), user_id)`.
    pub users: Vec<(u64, Box<str>)>,
    /// `(hash_str(session_id), session_id)`.
    pub sessions: Vec<(u64, Box<str>)>,
    /// `(hash_str(model), model)`.
    pub models: Vec<(u64, Box<str>)>,
}

impl Names {
    /// Merges `other` into `self`, keeping both sorted and distinct.
    pub fn merge(&mut self, other: Names) {
        merge_sorted(&mut self.users, other.users);
        merge_sorted(&mut self.sessions, other.sessions);
        merge_sorted(&mut self.models, other.models);
    }

    /// Looks a user id up by hash.
    pub fn user(&self, h: u64) -> Option<&str> {
        lookup(&self.users, h)
    }

    /// Looks a session id up by hash.
    pub fn session(&self, h: u64) -> Option<&str> {
        lookup(&self.sessions, h)
    }

    /// Looks a model name up by hash.
    pub fn model(&self, h: u64) -> Option<&str> {
        lookup(&self.models, h)
    }
}

fn lookup(v: &[(u64, Box<str>)], h: u64) -> Option<&str> {
    v.binary_search_by_key(&h, |(k, _)| *k)
        .ok()
        .map(|i| &*v[i].1)
}

/// Merges two sorted, distinct `(hash, string)` lists.
///
/// On the (astronomically unlikely) event of two strings with one hash, the
/// lexicographically smaller string wins, so the result is order independent.
pub fn merge_sorted(a: &mut Vec<(u64, Box<str>)>, b: Vec<(u64, Box<str>)>) {
    if b.is_empty() {
        return;
    }
    if a.is_empty() {
        *a = b;
        return;
    }
    let left = std::mem::take(a);
    let mut out = Vec::with_capacity(left.len() + b.len());
    let mut l = left.into_iter().peekable();
    let mut r = b.into_iter().peekable();
    loop {
        match (l.peek(), r.peek()) {
            (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                std::cmp::Ordering::Less => out.push(l.next().expect("peeked")),
                std::cmp::Ordering::Greater => out.push(r.next().expect("peeked")),
                std::cmp::Ordering::Equal => {
                    let x = l.next().expect("peeked");
                    let y = r.next().expect("peeked");
                    out.push(if x.1 <= y.1 { x } else { y });
                }
            },
            (Some(_), None) => out.extend(l.by_ref()),
            (None, Some(_)) => out.extend(r.by_ref()),
            (None, None) => break,
        }
    }
    *a = out;
}

/// Validated events in canonical columnar form.
///
/// All columns have the same length. Nullable hashed columns use
/// [`NULL_HASH`]; null token counts and `lines` are 0 (the schema says a null
/// count means none); `cost_nanousd` is the billed cost in billionths of a
/// dollar (exact integer sums, so totals do not depend on summation order),
/// 0 where unknown. [`EventBatch::presence`] says which optional columns the
/// source had at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventBatch {
    /// Event time, microseconds since the Unix epoch, UTC.
    pub ts_us: Vec<i64>,
    /// `hash_str(user_id)`.
    pub user: Vec<u64>,
    /// `hash_str(session_id)`.
    pub session: Vec<u64>,
    /// The event kind.
    pub kind: Vec<EventKind>,
    /// `hash_str(agent_id)`, [`NULL_HASH`] for the main agent.
    pub agent: Vec<u64>,
    /// `hash_str(parent_agent_id)`, [`NULL_HASH`] for the main agent.
    pub parent_agent: Vec<u64>,
    /// `hash_str(model)` or [`NULL_HASH`].
    pub model: Vec<u64>,
    /// Uncached input tokens.
    pub input_tokens: Vec<u64>,
    /// Output tokens (reasoning included).
    pub output_tokens: Vec<u64>,
    /// Input tokens served from the prompt cache.
    pub cache_read_tokens: Vec<u64>,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: Vec<u64>,
    /// `hash_str(task_hash)` or [`NULL_HASH`].
    pub task_hash: Vec<u64>,
    /// `hash_str(context_hash)` or [`NULL_HASH`].
    pub context_hash: Vec<u64>,
    /// `hash_str(change_id)` or [`NULL_HASH`].
    pub change_id: Vec<u64>,
    /// Change size in lines (0 when null).
    pub lines: Vec<u32>,
    /// Billed cost in 1e-9 USD (0 when null).
    pub cost_nanousd: Vec<i64>,
    /// Schema v1.1 count column: 0 = a single event (`n` null or absent),
    /// k >= 1 = an aggregate row standing for k events. Empty when no row of
    /// the batch is an aggregate (the v1 case), else one entry per row.
    pub n: Vec<u64>,
    /// Which optional columns the source had.
    pub presence: Presence,
    /// The strings behind the user, session and model hashes of this batch.
    pub names: Names,
}

impl EventBatch {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.ts_us.len()
    }

    /// True when the batch holds no events.
    pub fn is_empty(&self) -> bool {
        self.ts_us.is_empty()
    }

    /// How many events row `i` stands for (1 for a single event).
    #[inline]
    pub fn count(&self, i: usize) -> u64 {
        self.n.get(i).copied().filter(|&k| k != 0).unwrap_or(1)
    }

    /// True when row `i` is an aggregate (an explicit `n`, schema v1.1).
    #[inline]
    pub fn is_aggregate(&self, i: usize) -> bool {
        self.n.get(i).is_some_and(|&k| k != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_merge_is_sorted_distinct_and_order_independent() {
        let a = vec![(1, "a".into()), (5, "e".into())];
        let b = vec![(3, "c".into()), (5, "e".into()), (9, "i".into())];
        let mut x = a.clone();
        merge_sorted(&mut x, b.clone());
        let mut y = b;
        merge_sorted(&mut y, a);
        assert_eq!(x, y);
        assert_eq!(x.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 3, 5, 9]);
    }

    #[test]
    fn event_kind_round_trips() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
