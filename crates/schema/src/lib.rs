//! Canonical usage-event schema v1 for goodhart.
//!
//! (Crate docs to be completed by the schema/ingest work.)
#![deny(missing_docs)]

mod event;
mod roster;

pub use event::{hash_str, merge_sorted, EventBatch, EventKind, Names, Presence, NULL_HASH};
pub use roster::{Roster, RosterEntry};

/// Version of the canonical input schema this crate implements.
pub const SCHEMA_VERSION: &str = "1";

/// Canonical column names of the events table.
pub mod col {
    /// Event time.
    pub const TS: &str = "ts";
    /// The person.
    pub const USER_ID: &str = "user_id";
    /// One assistant session.
    pub const SESSION_ID: &str = "session_id";
    /// Event kind.
    pub const EVENT: &str = "event";
    /// Agent that made a request / the spawned agent.
    pub const AGENT_ID: &str = "agent_id";
    /// Spawning agent.
    pub const PARENT_AGENT_ID: &str = "parent_agent_id";
    /// Model name.
    pub const MODEL: &str = "model";
    /// Uncached input tokens.
    pub const INPUT_TOKENS: &str = "input_tokens";
    /// Output tokens.
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    /// Cache-read input tokens.
    pub const CACHE_READ_TOKENS: &str = "cache_read_tokens";
    /// Cache-write input tokens.
    pub const CACHE_WRITE_TOKENS: &str = "cache_write_tokens";
    /// Instruction fingerprint.
    pub const TASK_HASH: &str = "task_hash";
    /// Context fingerprint.
    pub const CONTEXT_HASH: &str = "context_hash";
    /// Change reference.
    pub const CHANGE_ID: &str = "change_id";
    /// Change size in lines.
    pub const LINES: &str = "lines";
    /// Billed cost.
    pub const COST_USD: &str = "cost_usd";
}
