//! The waste ledger of goodhart: what gaming cost, in tokens and dollars,
//! per pattern, session, person, team and week.
//!
//! A stage after scoring. From the session and user features
//! ([`goodhart_features::Features`]) and a [`PriceTable`], [`estimate`]
//! computes conservative lower-bound estimates of the waste of every session
//! and user per pattern ([`PATTERNS`]): redundant spawns' tokens, uncached
//! re-sends of already-loaded context, looped repeats of a prompt, output
//! beyond the organisation's typical output per request, padding changes and
//! the pre-snapshot excess over the honest share. Every measure is taken
//! *above an organisation-wide baseline share*, so volume is not waste: a
//! heavy user with the usual ratios gets (almost) none. `docs/features.md`
//! ("Waste ledger") documents the method.
//!
//! Dollars come from the data's `cost_usd` where present (**billed**),
//! otherwise from the price table (**estimated**, list prices dated
//! [`DEFAULT_PRICES_DATE`], overridable per model glob); the two are kept in
//! separate columns. Tokens of a model in neither are **unpriced**: counted
//! and listed ([`WasteEstimate::unpriced_models`]), never priced at zero.
//!
//! [`ledger`] folds the sessions into weekly rows (week × team × pattern,
//! small teams suppressed), [`totals`] gives the organisation's totals, and
//! [`with_user_columns`] / [`with_session_columns`] add the waste columns to
//! the score tables.
//!
//! # Example
//!
//! ```
//! use goodhart_features::{features, FeatureOptions};
//! use goodhart_schema::{hash_str, EventBatch, EventKind, Names, Presence};
//! use goodhart_waste::{estimate, PriceTable, WasteOptions, PATTERNS};
//!
//! // One session of "ann": the same prompt sent 5 times, on claude-sonnet-4-5.
//! let n = 5;
//! let t0 = 1_717_171_200_000_000_i64;
//! let batch = EventBatch {
//!     ts_us: (0..n).map(|i| t0 + i as i64 * 60_000_000).collect(),
//!     user: vec![hash_str("ann"); n],
//!     session: vec![hash_str("s1"); n],
//!     kind: vec![EventKind::Request; n],
//!     agent: vec![0; n],
//!     parent_agent: vec![0; n],
//!     model: vec![hash_str("claude-sonnet-4-5"); n],
//!     input_tokens: vec![1_000; n],
//!     output_tokens: vec![100; n],
//!     cache_read_tokens: vec![0; n],
//!     cache_write_tokens: vec![0; n],
//!     task_hash: vec![hash_str("fix the build"); n],
//!     context_hash: vec![0; n],
//!     change_id: vec![0; n],
//!     lines: vec![0; n],
//!     cost_nanousd: vec![0; n],
//!     n: vec![],
//!     presence: Presence { task_hash: true, input_tokens: true, output_tokens: true,
//!                          model: true, ..Presence::default() },
//!     names: Names {
//!         users: vec![(hash_str("ann"), "ann".into())],
//!         sessions: vec![(hash_str("s1"), "s1".into())],
//!         models: vec![(hash_str("claude-sonnet-4-5"), "claude-sonnet-4-5".into())],
//!     },
//! };
//! let f = features(&[batch], &FeatureOptions::default(), None).unwrap();
//! let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
//! let ann = &w.users[0].figures;
//! let lp = PATTERNS.iter().position(|p| *p == "prompt-loop").unwrap();
//! // A lone user is their own baseline... except that the loop share's
//! // baseline is the median over users, here ann herself: nothing is waste
//! // relative to an organisation of one.
//! assert_eq!(ann.tokens[lp], 0);
//! // Priced at list prices: 5 × (1000 × $3 + 100 × $15) / 1M.
//! assert!((ann.spend_usd() - 0.0225).abs() < 1e-12);
//! assert_eq!(w.users[0].basis.as_str(), "estimated");
//! ```
#![deny(missing_docs)]

mod estimate;
mod ledger;
mod prices;

pub use estimate::{
    estimate, pattern_column, week_start, Baselines, PriceBasis, SessionWaste, UserWaste,
    WasteEstimate, WasteFigures, WasteOptions, PATTERNS,
};
pub use ledger::{
    ledger, ledger_batch, ledger_schema, totals, waste_column_names, with_session_columns,
    with_user_columns, LedgerRow, PatternTotal, Totals, NO_TEAM,
};
pub use prices::{PriceRule, PriceTable, PricesSection, DEFAULT_PRICES_DATE};

/// Why the waste stage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasteError {
    /// A price setting is invalid.
    #[error("invalid price setting `{setting}` in goodhart.toml: {reason}")]
    Price {
        /// The setting, e.g. `prices.models[0].output`.
        setting: String,
        /// What is wrong and the fix.
        reason: String,
    },
    /// A feature column the estimate needs is missing (a bug or a feature
    /// table from another version).
    #[error("the feature table has no usable column `{0}`; recompute the features with this goodhart version")]
    MissingColumn(String),
    /// Building an Arrow table failed.
    #[error("building the waste table failed: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}
