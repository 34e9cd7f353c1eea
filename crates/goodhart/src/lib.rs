//! # goodhart
//!
//! Finds *tokenmaxxing* — people gaming AI-usage leaderboards by burning
//! tokens (redundant agent spawns, repeated uncached context reloads, prompt
//! loops, inflated outputs, padded changes, sprints before the weekly ranking
//! snapshot) — in histories of AI-usage events stored as Parquet.
//!
//! This is the facade an analyst embeds: Arrow in, Arrow out. Each stage lives
//! in its own crate and is re-exported here:
//!
//! | stage | crate | re-exported as |
//! |---|---|---|
//! | canonical schema v1, validation, quarantine | `goodhart-schema` | [`schema`] |
//! | file discovery, streaming parallel Parquet ingest | `goodhart-io` | [`io`] |
//! | session and user waste features | `goodhart-features` | [`features`] |
//! | cohorts, pattern detectors, Isolation Forest, ECOD, scores, evaluation | `goodhart-detect` | [`detect`] |
//! | alert lifecycle, Jira / webhook sinks, pseudonymisation | `goodhart-alerts` | [`alerts`] |
//! | labeled synthetic organisation | `goodhart-synth` | [`synth`] |
//! | vendor exports into the canonical lake | `goodhart-import` | [`import`] |
//!
//! The pipeline itself ([`scan`]) wires them in one direction: Parquet →
//! validated batches → session and user features → cohort baselines →
//! detectors → scores and explanations → alerts → sinks and outputs.
//!
//! ## Principles
//!
//! * **Volume is not guilt**: scores come from waste ratios compared within
//!   peer cohorts; raw totals never drive a score on their own.
//! * **Every score explains itself**: value, cohort typical value, sessions.
//! * **Nothing is lost**: rows read = rows accepted + rows quarantined.
//! * **Deterministic**: same input, same output, whatever the thread count.
//! * **Private**: only hashes of prompts and contexts ever enter the tool.
//!
//! ## Example: features and scores of a synthetic organisation
//!
//! ```
//! use goodhart::scan::{features, score, Dataset, Window};
//! use goodhart::synth::{generate, SynthConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let mut cfg = SynthConfig::new(60, 7, 3);
//! cfg.gaming_share = 0.1;
//! generate(&cfg, dir.path())?;
//!
//! let dataset = Dataset::locate(&[dir.path().to_path_buf()], None)?;
//! let window = Window { as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 7).unwrap(), days: 7 };
//! let mut fopts = goodhart::features::FeatureOptions::default();
//! fopts.as_of = Some(window.as_of);
//! fopts.window_days = window.days;
//! let run = features(&dataset, &fopts, Some(window), None)?;
//! // Nothing is lost: every row read was accepted or quarantined.
//! let c = &run.ingest.counts;
//! assert_eq!(c.rows_read, c.rows_accepted + c.rows_quarantined);
//!
//! let scores = score(&run.features, &goodhart::detect::ScoreOptions::default())?;
//! assert_eq!(scores.users.num_rows(), run.features.users.num_rows());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod batches;
pub mod config;
mod error;
pub mod inventory;
pub mod ledger;
pub mod outputs;
pub mod pipeline;
pub mod privacy;
pub mod report;
pub mod scan;
pub mod suite;
pub mod waste;

pub use config::{Config, LoadedConfig};
pub use error::Error;
pub use pipeline::{Analysis, Events, Pipeline};

pub use goodhart_alerts as alerts;
pub use goodhart_core as core;
pub use goodhart_core::{Severity, Window};
pub use goodhart_detect as detect;
pub use goodhart_features as features;
pub use goodhart_import as import;
pub use goodhart_io as io;
pub use goodhart_schema as schema;
pub use goodhart_synth as synth;

/// Version of goodhart.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
