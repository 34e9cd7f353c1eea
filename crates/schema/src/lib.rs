//! Canonical usage-event schema v1.1 for goodhart: checking, row validation,
//! quarantine and row accounting.
//!
//! goodhart reads AI-usage event histories (one row per event) from Parquet.
//! This crate knows what those tables must look like and turns one Arrow
//! [`RecordBatch`](arrow::record_batch::RecordBatch) into the validated,
//! hashed, columnar [`EventBatch`] that feature extraction consumes:
//!
//! * [`check_events_schema`] checks an Arrow schema: required columns
//!   (`ts`, `user_id`, `session_id`, `event`) present, every canonical column
//!   of an accepted type (timestamps of any unit with no or a UTC time zone;
//!   Utf8 / LargeUtf8 / Utf8View / dictionary strings; any integer type for
//!   counts; Float64 or Float32 cost). Errors ([`SchemaError`]) name the
//!   file, the column, the type found, what was expected and the fix.
//! * [`normalize`] / [`normalize_at`] validate every row. A row that fails a
//!   check is never dropped silently: it is *quarantined* with the first
//!   failing [`QuarantineReason`] and kept, cast to [`quarantine_schema`], so
//!   that `rows_read == rows_accepted + rows_quarantined` always holds
//!   ([`Counts`], [`IngestReport`]).
//! * Strings are hashed with [`hash_str`] (once per dictionary value for
//!   dictionary-encoded columns); only user ids, session ids and model names
//!   are kept as strings ([`Names`]). Prompt text never enters the schema.
//! * [`roster_from_batches`] reads the optional roster (`users.parquet`).
//! * [`describe_schema`] / [`schema_json`] document the schema for
//!   `goodhart schema`.
//!
//! Everything here is deterministic: the same batch gives the same output,
//! and all counts are integer sums so that combining them in any order gives
//! the same totals.
//!
//! # Example
//!
//! ```
//! use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
//! use arrow::record_batch::RecordBatch;
//! use goodhart_schema::{hash_str, normalize, EventKind, ValidateOptions};
//! use std::sync::Arc;
//!
//! let batch = RecordBatch::try_from_iter([
//!     ("ts", Arc::new(TimestampMillisecondArray::from(vec![1_000, 2_000, 3_000])) as _),
//!     ("user_id", Arc::new(StringArray::from(vec![Some("ana"), None, Some("bo")])) as _),
//!     ("session_id", Arc::new(StringArray::from(vec!["s1", "s2", "s3"])) as _),
//!     ("event", Arc::new(StringArray::from(vec!["request", "request", "agent_spawn"])) as _),
//!     ("input_tokens", Arc::new(Int64Array::from(vec![Some(120), Some(5), None])) as _),
//! ])
//! .unwrap();
//!
//! let out = normalize(&batch, &ValidateOptions::default(), "events.parquet").unwrap();
//! // Row 1 has no user: quarantined, the others are accepted.
//! assert_eq!(out.counts.rows_read, 3);
//! assert_eq!(out.counts.rows_accepted, 2);
//! assert_eq!(out.counts.reasons["null_user_id"], 1);
//! assert_eq!(out.events.ts_us, vec![1_000_000, 3_000_000]);
//! assert_eq!(out.events.user, vec![hash_str("ana"), hash_str("bo")]);
//! assert_eq!(out.events.kind, vec![EventKind::Request, EventKind::AgentSpawn]);
//! assert_eq!(out.events.input_tokens, vec![120, 0]); // null count = 0
//! assert!(out.events.presence.input_tokens && !out.events.presence.model);
//! assert_eq!(out.events.names.user(hash_str("bo")), Some("bo"));
//! assert_eq!(out.quarantine.num_rows(), 1);
//! ```
#![deny(missing_docs)]

mod check;
mod describe;
mod error;
mod event;
mod normalize;
mod report;
mod roster;

pub use check::{
    accepts, check_events_schema, is_utc_equivalent, ColumnIndex, ColumnKind, ColumnSpec,
    EVENT_COLUMNS, N_EVENT_COLUMNS, ROSTER_COLUMNS,
};
pub use describe::{describe_schema, schema_json};
pub use error::SchemaError;
pub use event::{hash_str, merge_sorted, EventBatch, EventKind, Names, Presence, NULL_HASH};
pub use normalize::{
    normalize, normalize_at, quarantine_schema, Normalized, QuarantineReason, ValidateOptions,
    Q_REASON, Q_ROW_INDEX, Q_SOURCE_FILE,
};
pub use report::{Counts, FileReport, IngestReport};
pub use roster::{roster_from_batches, Roster, RosterEntry};

/// Version of the canonical input schema this crate implements.
pub const SCHEMA_VERSION: &str = "1.1";

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
    /// Schema v1.1: how many events of its kind the row stands for.
    pub const N: &str = "n";
}
