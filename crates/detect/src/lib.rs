//! Tokenmaxxing scoring for goodhart: peer cohorts, robust baselines, named
//! pattern detectors, multivariate support, a 0–100 score with severities,
//! and explanations.
//!
//! # What it does
//!
//! [`score`] takes the two feature tables of `goodhart-features` (one row
//! per user, one row per session; see `docs/features.md`) as Arrow
//! `RecordBatch`es and returns them scored:
//!
//! 1. **Peer cohorts** ([`cohort`]). The roster team (`team` column) by
//!    default; without a roster, behavioural peer groups from linfa's
//!    k-means (seeded) on volume-free usage-mix ratios scaled with linfa's
//!    standard scaler, `k = round(sqrt(n / 50))` clamped to `[2, 8]`.
//!    Cohorts smaller than `min_cohort_size` (8) fall back to the whole
//!    `organisation`.
//! 2. **Robust baselines** ([`robust`]) per cohort and feature: median and
//!    MAD of `log1p(x)`, robust `z = (log1p(x) - median) / (1.4826 MAD)`.
//!    Degenerate cases are explicit: MAD = 0 (zero-inflated features) →
//!    `(p90 - p10) / 2.563`, then a per-feature absolute floor, so one
//!    stray redundant spawn is not "infinitely" anomalous; z is clipped.
//!    Deciles and one-sided spreads are estimated by iterative reweighting
//!    from the high-breakdown start `max(MAD, floor)`: values beyond 3.5
//!    spreads are left out first, so a quarter of a cohort gaming (or two
//!    padders in a team of twelve) does not widen the spread that measures
//!    them.
//! 3. **Pattern detectors** ([`patterns`]), one per named pattern:
//!    `redundant-agent-spawns`, `context-reload-churn`, `prompt-loop`,
//!    `output-inflation`, `tokens-without-output`, `change-padding`,
//!    `leaderboard-sprint`. Each uses waste *ratios* (never raw volume),
//!    shrinks ratios with small denominators toward the cohort median, and
//!    requires the value to be *materially* wasteful in absolute terms
//!    before its z counts: detectors fire on evidence strength, not rank,
//!    so an organisation without gamers gets (almost) no alerts and a power
//!    user who ships proportionally more fires nothing. They implement
//!    linfa's `Fit` (learn cohort baselines) and `Predict` (strength per
//!    row) with checked params.
//! 4. **Multivariate support**: the isolation forest ([`iforest`]) and
//!    ECOD ([`ecod`]) over the users' waste z-scores add at most
//!    `multivariate_max` (1.0) robust-z units: they support, never drive.
//! 5. **Combination**: `E = s1 + w s2 + w² s3 + ... + multivariate`
//!    (pattern strengths sorted descending, `w = 0.3`), mapped monotonically
//!    to `score = 100 (1 - exp(-(E / 5)²))`. Severities: `low` ≥ 20,
//!    `medium` ≥ 40, `high` ≥ 60 (alerts by default), `critical` ≥ 85.
//! 6. **Explanations** ([`Explanation`]): per user the top patterns with the
//!    value, the typical (median) value, p95 and percentile of the user's
//!    *peers* (the cohort without the user, and how many they are), the
//!    sessions that show it most and one line of text. Patterns that fired
//!    (strength ≥ `fire_strength`) come first; weaker ones are marked as
//!    context ([`CONTEXT_PREFIX`], `fired = false`).
//!
//! 7. **Team-level findings** ([`finding`]): a roster team whose typical
//!    member shows a pattern against the rest of the organisation is
//!    reported ([`Scores::cohort_findings`]) and its members are scored
//!    against the organisation for that pattern too. Behavioural groups get
//!    none (see [`ScoreOptions::cohort_findings`]).
//!
//! Everything is deterministic: rows are processed in id order (input order
//! never matters), randomness is seeded, ties are broken by id.
//!
//! [`eval::evaluate`] measures quality against labels (average precision,
//! precision / recall at k, hard negatives) next to two baselines.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
//! use arrow::record_batch::RecordBatch;
//! use goodhart_detect::{score, ScoreOptions, Severity};
//!
//! // 40 users of one team: everybody re-spawns ~2% of agent tasks except
//! // u-39, who re-spawns 60%.
//! let ids: Vec<String> = (0..40).map(|i| format!("u-{i:02}")).collect();
//! let ratio: Vec<f64> = (0..40).map(|i| if i == 39 { 0.6 } else { 0.01 + (i % 5) as f64 * 0.005 }).collect();
//! let users = RecordBatch::try_from_iter(vec![
//!     ("user_id", Arc::new(StringArray::from(ids.clone())) as ArrayRef),
//!     ("team", Arc::new(StringArray::from(vec!["core"; 40])) as ArrayRef),
//!     ("redundant_spawn_ratio", Arc::new(Float64Array::from(ratio)) as ArrayRef),
//!     ("spawns", Arc::new(UInt64Array::from(vec![200u64; 40])) as ArrayRef),
//! ]).unwrap();
//! let sessions = RecordBatch::try_from_iter(vec![
//!     ("session_id", Arc::new(StringArray::from(vec!["s-1", "s-2"])) as ArrayRef),
//!     ("user_id", Arc::new(StringArray::from(vec!["u-39", "u-00"])) as ArrayRef),
//!     ("redundant_spawns", Arc::new(UInt64Array::from(vec![23u64, 0])) as ArrayRef),
//! ]).unwrap();
//!
//! let scores = score(&users, &sessions, &ScoreOptions::default()).unwrap();
//! let top = &scores.explanations[0];
//! assert_eq!(top.user_id, "u-39");
//! assert!(top.severity >= Severity::High);
//! assert_eq!(top.patterns[0].pattern, "redundant-agent-spawns");
//! assert_eq!(top.patterns[0].sessions, vec!["s-1".to_string()]);
//! assert!(top.patterns[0].text.starts_with("re-spawned an already spawned task 23 times in session s-1"));
//! // Nobody else alerts; patterns without columns are reported as not evaluated.
//! assert!(scores.explanations[1..].iter().all(|e| !e.alert));
//! assert!(top.not_evaluated.iter().any(|n| n.pattern == "prompt-loop"));
//! ```
#![deny(missing_docs)]

pub mod cohort;
mod columns;
pub mod eval;
pub mod finding;
pub mod options;
pub mod patterns;
pub mod robust;
mod score;
pub use cohort::CohortMethod;
pub use ecod::{Ecod, EcodParams, FeatureContribution, Tail};
pub use finding::CohortFinding;
/// The generic outlier detectors live in `goodhart-outlier` (usable without
/// the rest of goodhart); re-exported here under their old paths.
pub use goodhart_outlier::{ecod, iforest, table};
pub use iforest::{
    IsolationForest, IsolationForestParams, IsolationForestValidParams, OutlierError,
};
pub use table::{average_precision, roc_auc, score_table, table_to_matrix, Method};

pub use options::{ColumnsRead, ScoreOptions, Severity, SeverityThresholds};
pub use patterns::{
    Direction, FeatureSpec, PatternModel, PatternParams, PatternSpec, Unit, ValidPatternParams,
};
pub use score::{
    score, Explanation, MultivariateEvidence, NotEvaluated, Scores, UserExplanation, CONTEXT_PREFIX,
};

/// Errors of scoring and evaluation. Messages name the table, column or
/// setting at fault and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// A required column is missing.
    #[error("the {table} has no column `{column}`: add it (column names are listed in docs/features.md)")]
    MissingColumn {
        /// Which table.
        table: String,
        /// Column name.
        column: String,
    },
    /// A column has an unusable type.
    #[error(
        "column `{column}` of the {table} is {found}; expected {expected}: cast it or drop it"
    )]
    ColumnType {
        /// Which table.
        table: String,
        /// Column name.
        column: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A required value is null.
    #[error(
        "column `{column}` of the {table} is null at row {row}: every row needs a value there"
    )]
    NullValue {
        /// Which table.
        table: String,
        /// Column name.
        column: String,
        /// Row index (0-based).
        row: usize,
    },
    /// An id that must be unique appears twice.
    #[error("`{id}` appears more than once in column `{column}` of the {table}: ids must be unique (aggregate per id first)")]
    DuplicateId {
        /// Which table.
        table: String,
        /// Column name.
        column: String,
        /// The repeated id.
        id: String,
    },
    /// A setting is out of range.
    #[error("invalid setting `{setting}` = {value}: {fix}")]
    InvalidSetting {
        /// Setting name (path for nested settings).
        setting: String,
        /// Offending value.
        value: String,
        /// How to fix it.
        fix: String,
    },
    /// An input matrix has the wrong shape.
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        /// What was being checked.
        what: String,
        /// Expected shape.
        expected: String,
        /// Found shape.
        found: String,
    },
    /// Fitting a model failed.
    #[error("model fitting failed: {0}")]
    Model(String),
    /// The isolation forest / ECOD failed.
    #[error(transparent)]
    Outlier(#[from] OutlierError),
    /// linfa reported an error.
    #[error("linfa: {0}")]
    Linfa(#[from] linfa::Error),
    /// Building an Arrow table failed.
    #[error("building the output table: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}
