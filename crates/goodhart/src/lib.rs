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
//! | severities, the window, evidence, weekly waste figures, time units, atomic writes | `goodhart-core` | [`core`] |
//! | file discovery, streaming parallel Parquet ingest | `goodhart-io` | [`io`] |
//! | session and user waste features | `goodhart-features` | [`features`] |
//! | Isolation Forest, ECOD, outlier scores of any numeric table | `goodhart-outlier` | [`detect`] (`detect::iforest`, `detect::ecod`, `detect::table`) |
//! | cohorts, pattern detectors, scores, evaluation | `goodhart-detect` | [`detect`] |
//! | alert lifecycle, Jira / webhook sinks, pseudonymisation | `goodhart-alerts` | [`alerts`] |
//! | labeled synthetic organisation | `goodhart-synth` | [`synth`] |
//! | vendor exports into the canonical lake | `goodhart-import` | [`import`] |
//! | the HTML report (askama templates, SVG charts, computed CSP hashes) | `goodhart-report` | [`report`] |
//!
//! The pipeline itself ([`scan`]) wires them in one direction: Parquet →
//! validated batches → session and user features → cohort baselines →
//! detectors → scores and explanations → alerts → sinks and outputs. Above a
//! memory limit the feature step is split by user into buckets spilled to
//! disk ([`bucketed`]), with the same results.
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
//! ## Example: the pipeline on the committed sample
//!
//! [`Pipeline`] is the one entry point (see [`pipeline`]); the README's
//! "Embedding the library" shows this same code.
//!
//! ```
//! use goodhart::scan::Dataset;
//! use goodhart::{Config, Events, Pipeline};
//!
//! # let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
//! # std::env::set_current_dir(root)?;
//! let sample = std::path::Path::new("data/sample");
//! let pipeline = Pipeline::builder()
//!     .config(Config::load(&sample.join("goodhart.toml"))?) // its window: 15 days to 2026-10-15
//!     .build()?; // every setting is checked here, before any data is read
//! let dataset = Dataset::locate(&[sample.join("events")], Some(&sample.join("users.parquet")))?;
//! let a = pipeline.run(Events::Dataset(&dataset))?;
//! // `user_scores.parquet` as an Arrow RecordBatch: scores, explanations, waste columns.
//! println!("{} users scored", a.waste.users_table.num_rows());
//! for alert in &a.alerts {
//!     println!("{} {} {} {:.0}", alert.user_id, alert.pattern, alert.severity, alert.score);
//! }
//! # assert_eq!(a.waste.users_table.num_rows(), 300);
//! # assert!(!a.alerts.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod batches;
pub mod bucketed;
pub mod cache;
pub mod config;
mod error;
pub mod inventory;
pub mod ledger;
pub mod outputs;
pub mod pipeline;
pub mod privacy;
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
pub use goodhart_report as report;
pub use goodhart_schema as schema;
pub use goodhart_synth as synth;

/// Version of goodhart.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
