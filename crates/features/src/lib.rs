//! Session and user waste features for goodhart, computed in one mergeable
//! parallel pass over validated usage events.
//!
//! # What this crate does
//!
//! Tokenmaxxing — burning AI tokens to climb a usage leaderboard — leaves
//! traces in *how* tokens are spent, not in how many: the same sub-agent task
//! spawned again and again, the same context re-sent uncached, the same
//! prompt looped, bloated outputs for trivial changes, and a sprint before
//! the weekly ranking snapshot. This crate turns
//! [`EventBatch`](goodhart_schema::EventBatch)es into two Arrow tables that
//! measure exactly those patterns as **ratios** (volume is not guilt):
//!
//! * a **session table** — one row per (user, session): timing, volume,
//!   redundant spawns, spawn tree, context reloads, outcome, loops, output
//!   inflation, waste tokens;
//! * a **user table** — one row per user over a window (default 28 days
//!   ending at `as_of`): totals and rates computed from sums, shares of
//!   sessions showing each waste pattern, the worst session values (the
//!   evidence), the pre-snapshot sprint shares and a trend.
//!
//! Every column is defined in `docs/features.md`. Where a needed optional
//! input column was absent, the feature is null — never 0, never NaN.
//!
//! # How it runs
//!
//! The pass is a fold: [`SessionAccumulator::with_options`] per worker,
//! [`SessionAccumulator::add_batch`] per batch, [`SessionAccumulator::merge`]
//! to combine workers (associative, commutative and exact: integer sums,
//! minima/maxima, first-by-timestamp, list unions sorted later), then
//! [`finalize`]. The output is therefore identical for any file order,
//! row-group size or thread count. Memory grows with users, sessions and
//! sub-agents, plus a compact record per row that an ordered feature needs
//! (32 bytes per request for `longest_run`, the loop features and the
//! request after a reload, 32 per
//! context load with a hash for `reloads_within_ttl`, 8 per other event for
//! `active_min`). `finalize` turns sessions into Arrow rows a chunk of users
//! at a time, freeing the fold state as it goes.
//!
//! # Example
//!
//! ```
//! use goodhart_features::{features, FeatureOptions};
//! use goodhart_schema::{hash_str, EventBatch, EventKind, Names, Presence};
//! use arrow::array::{Array, AsArray};
//! use arrow::datatypes::UInt64Type;
//!
//! // One session: the same prompt sent three times, no accepted change.
//! let t0 = 1_717_171_200_000_000_i64; // 2024-05-31 16:00 UTC
//! let n = 3;
//! let batch = EventBatch {
//!     ts_us: (0..n).map(|i| t0 + i as i64 * 60_000_000).collect(),
//!     user: vec![hash_str("ann"); n],
//!     session: vec![hash_str("s1"); n],
//!     kind: vec![EventKind::Request; n],
//!     agent: vec![0; n],
//!     parent_agent: vec![0; n],
//!     model: vec![0; n],
//!     input_tokens: vec![100; n],
//!     output_tokens: vec![50; n],
//!     cache_read_tokens: vec![0; n],
//!     cache_write_tokens: vec![0; n],
//!     task_hash: vec![hash_str("fix the build"); n],
//!     context_hash: vec![0; n],
//!     change_id: vec![0; n],
//!     lines: vec![0; n],
//!     cost_nanousd: vec![0; n],
//!     n: vec![], // schema v1.1 count column absent: every row is one event
//!     presence: Presence { task_hash: true, input_tokens: true, output_tokens: true,
//!                          ..Presence::default() },
//!     names: Names {
//!         users: vec![(hash_str("ann"), "ann".into())],
//!         sessions: vec![(hash_str("s1"), "s1".into())],
//!         models: vec![],
//!     },
//! };
//! let f = features(&[batch], &FeatureOptions::default(), None).unwrap();
//! let s = &f.sessions;
//! let col = |name: &str| s.column_by_name(name).unwrap().as_primitive::<UInt64Type>().value(0);
//! assert_eq!(col("requests"), 3);
//! assert_eq!(col("loop_requests"), 2);   // 3 sends of one prompt = 2 repeats
//! assert_eq!(col("longest_run"), 3);
//! assert_eq!(col("total_tokens"), 450);
//! // No context_hash column in the input: reloads are unknown, not zero.
//! assert!(s.column_by_name("reloads").unwrap().is_null(0));
//! assert_eq!(f.users.num_rows(), 1);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod accumulate;
mod error;
mod finalize;
mod options;
pub mod org;

pub use accumulate::SessionAccumulator;
pub use error::FeatureError;
pub use finalize::{finalize, finalize_with, session_schema, user_schema, Features, ModelTokens};
pub use options::{FeatureOptions, Snapshot};
pub use org::{concat_parts, task_users, CommonPrompts, TaskUsers};

use arrow::record_batch::RecordBatch;
use goodhart_schema::{EventBatch, Roster};
use rayon::prelude::*;

/// Folds batches into one accumulator in parallel (rayon's global pool or
/// the pool this is called from).
///
/// ```
/// use goodhart_features::{accumulate, FeatureOptions};
/// let acc = accumulate(&[], &FeatureOptions::default());
/// assert_eq!(acc.sessions(), 0);
/// ```
pub fn accumulate(batches: &[EventBatch], opts: &FeatureOptions) -> SessionAccumulator {
    batches
        .par_iter()
        .fold(
            || SessionAccumulator::with_options(opts),
            |mut acc, b| {
                acc.add_batch(b);
                acc
            },
        )
        .reduce(
            || SessionAccumulator::with_options(opts),
            SessionAccumulator::merge,
        )
}

/// Session and user features of in-memory batches (analyst convenience).
///
/// # Errors
/// See [`finalize`].
pub fn features(
    batches: &[EventBatch],
    opts: &FeatureOptions,
    roster: Option<&Roster>,
) -> Result<Features, FeatureError> {
    opts.validate()?;
    finalize(accumulate(batches, opts), opts, roster)
}

/// The session table only (see [`features`]).
///
/// # Errors
/// See [`finalize`].
pub fn session_features(
    batches: &[EventBatch],
    opts: &FeatureOptions,
) -> Result<RecordBatch, FeatureError> {
    Ok(features(batches, opts, None)?.sessions)
}
