//! The one entry point: settings checked once, then features → scores →
//! waste → alert candidates, from a dataset on disk or batches in memory.
//!
//! [`Pipeline`] is what `goodhart scan`, the Python package and an embedding
//! analyst call. Its builder takes the configuration and the window; `build`
//! checks every setting into typed options (feature, scoring, alert and price
//! settings) so that a bad setting fails before any data is read. Each stage
//! is also a method of its own ([`Pipeline::score`], [`Pipeline::waste`],
//! [`Pipeline::alert_candidates`]) for callers that time or interleave them.
//!
//! ```
//! use goodhart::pipeline::{Events, Pipeline};
//! use goodhart::scan::Dataset;
//! use goodhart::synth::{generate, SynthConfig};
//! use goodhart::Window;
//!
//! let dir = tempfile::tempdir()?;
//! let mut cfg = SynthConfig::new(60, 7, 3);
//! cfg.gaming_share = 0.1;
//! generate(&cfg, dir.path())?;
//!
//! let pipeline = Pipeline::builder()
//!     .window(Window::new(chrono::NaiveDate::from_ymd_opt(2026, 10, 7).unwrap(), 7)?)
//!     .build()?;
//! let dataset = Dataset::locate(&[dir.path().to_path_buf()], None)?;
//! let a = pipeline.run(Events::Dataset(&dataset))?;
//! // Nothing is lost: every row read was accepted or quarantined.
//! let c = &a.run.ingest.counts;
//! assert_eq!(c.rows_read, c.rows_accepted + c.rows_quarantined);
//! // One row per user, with the waste columns `user_scores.parquet` has.
//! assert_eq!(a.waste.users_table.num_rows(), a.run.features.users.num_rows());
//! assert!(a.waste.users_table.column_by_name("waste_usd").is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use goodhart_alerts::{AlertCandidate, AlertsConfig};
use goodhart_detect::{ScoreOptions, Scores};
use goodhart_features::{FeatureOptions, Features};
use goodhart_schema::Roster;
use serde::Serialize;

use crate::batches::{features_from_batches, Cancel};
use crate::config::LoadedConfig;
use crate::scan::{features, Dataset, FeatureRun, Window};
use crate::waste::WasteRun;
use crate::Error;

/// Settings of a [`Pipeline`], before they are checked.
#[derive(Debug, Clone, Default)]
pub struct PipelineBuilder {
    config: Option<LoadedConfig>,
    window: Option<Window>,
}

impl PipelineBuilder {
    /// The configuration (default: the built-in settings).
    pub fn config(mut self, config: LoadedConfig) -> PipelineBuilder {
        self.config = Some(config);
        self
    }

    /// The window (default: the configuration's `[scan] as_of`, else today
    /// in UTC, and its `[scan] window`, else 28 days).
    pub fn window(mut self, window: Window) -> PipelineBuilder {
        self.window = Some(window);
        self
    }

    /// Checks every setting into typed options.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting (and the file) for a bad
    /// feature, scoring, alert or price setting.
    pub fn build(self) -> Result<Pipeline, Error> {
        let config = self.config.unwrap_or_default();
        let cfg = &config.config;
        let window = self.window.unwrap_or_else(|| Window {
            as_of: cfg
                .scan
                .as_of
                .unwrap_or_else(|| chrono::Utc::now().date_naive()),
            days: cfg.window_days(),
        });
        let features = cfg
            .feature_options(Some(window.as_of), window.days)
            .map_err(|m| config.error(m))?;
        let scoring = cfg.score_options().map_err(|m| config.error(m))?;
        let alerts = cfg.alerts_config();
        alerts.validate()?;
        goodhart_waste::PriceTable::from_section(&cfg.prices)
            .map_err(|e| config.error(e.to_string()))?;
        Ok(Pipeline {
            config,
            window,
            features,
            scoring,
            alerts,
        })
    }
}

/// The analysis `goodhart scan` runs, with its settings checked: features,
/// scores, waste and alert candidates (no alert state, delivery or output
/// files; [`crate::scan::scan`] adds those).
#[derive(Debug, Clone)]
pub struct Pipeline {
    config: LoadedConfig,
    window: Window,
    features: FeatureOptions,
    scoring: ScoreOptions,
    alerts: AlertsConfig,
}

impl Pipeline {
    /// A builder with the built-in settings.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The configuration.
    pub fn config(&self) -> &LoadedConfig {
        &self.config
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }

    /// The checked feature settings.
    pub fn feature_options(&self) -> &FeatureOptions {
        &self.features
    }

    /// The checked scoring settings.
    pub fn score_options(&self) -> &ScoreOptions {
        &self.scoring
    }

    /// The checked alert settings.
    pub fn alerts_config(&self) -> &AlertsConfig {
        &self.alerts
    }

    /// Smallest group whose figures are shown (`[privacy] min_group_size`).
    pub fn min_group_size(&self) -> usize {
        self.alerts.privacy.min_group_size
    }

    /// Features of `events`, rows outside the window set aside. `cancel` is
    /// asked between chunks of in-memory batches.
    ///
    /// # Errors
    /// As [`crate::scan::features`] / [`features_from_batches`].
    pub fn features(
        &self,
        events: Events<'_>,
        cancel: Option<Cancel<'_>>,
    ) -> Result<FeatureRun, Error> {
        match events {
            Events::Dataset(d) => features(d, &self.features, Some(self.window), None),
            Events::Batches {
                batches,
                source,
                roster,
            } => features_from_batches(
                batches,
                &source,
                &self.features,
                Some(self.window),
                roster,
                cancel,
            ),
        }
    }

    /// Scores and explanations of `features`.
    ///
    /// # Errors
    /// As [`crate::scan::score`].
    pub fn score(&self, features: &Features) -> Result<Scores, Error> {
        crate::scan::score(features, &self.scoring)
    }

    /// Waste estimates, the window's ledger (small groups suppressed) and the
    /// score tables with their waste columns.
    ///
    /// # Errors
    /// [`Error::Config`] for a price setting; others from `goodhart-waste`.
    pub fn waste(&self, features: &Features, scores: &Scores) -> Result<WasteRun, Error> {
        crate::waste::run(
            features,
            scores,
            &self.config.config.prices,
            self.window,
            self.min_group_size(),
        )
        .map_err(|e| match e {
            goodhart_waste::WasteError::Price { .. } => self.config.error(e.to_string()),
            e => Error::from(e),
        })
    }

    /// One alert candidate per user at or above the alert severity, carrying
    /// the waste of its pattern, with the cohort figures of small cohorts
    /// withheld. Returns the candidates and the number of evidence items
    /// whose figures were withheld.
    pub fn alert_candidates(
        &self,
        scores: &Scores,
        waste: &WasteRun,
    ) -> (Vec<AlertCandidate>, u64) {
        let mut candidates = crate::scan::alert_candidates(scores, self.window);
        crate::waste::add_alert_waste(&mut candidates, waste, self.window);
        let withheld = self.withhold_small_groups(&mut candidates, scores);
        (candidates, withheld)
    }

    /// Small-group suppression of `candidates` (scored as `scores`): the
    /// cohort figures of cohorts under [`Pipeline::min_group_size`] people
    /// are withheld. Returns the number of evidence items changed.
    pub fn withhold_small_groups(&self, candidates: &mut [AlertCandidate], scores: &Scores) -> u64 {
        let sizes = crate::privacy::cohort_sizes(scores);
        crate::privacy::withhold_small_group_figures(candidates, &sizes, self.min_group_size())
    }

    /// Every stage on `events`.
    ///
    /// # Errors
    /// As the stages.
    pub fn run(&self, events: Events<'_>) -> Result<Analysis, Error> {
        self.run_cancellable(events, None)
    }

    /// [`Pipeline::run`], asking `cancel` between stages (and between chunks
    /// of in-memory batches): [`Error::Interrupted`] when it says so.
    ///
    /// # Errors
    /// As the stages; [`Error::Interrupted`].
    pub fn run_cancellable(
        &self,
        events: Events<'_>,
        cancel: Option<Cancel<'_>>,
    ) -> Result<Analysis, Error> {
        let stop = || -> Result<(), Error> {
            match cancel.is_some_and(|c| c()) {
                true => Err(Error::Interrupted),
                false => Ok(()),
            }
        };
        let run = self.features(events, cancel)?;
        stop()?;
        let scores = self.score(&run.features)?;
        stop()?;
        let waste = self.waste(&run.features, &scores)?;
        let (alerts, evidence_withheld) = self.alert_candidates(&scores, &waste);
        let mut by_sev: BTreeMap<String, u64> = BTreeMap::new();
        for a in &alerts {
            *by_sev.entry(a.severity.as_str().to_string()).or_default() += 1;
        }
        let (config, window) = (&self.config, self.window);
        let c = &run.ingest.counts;
        let summary = AnalysisSummary {
            tool_version: crate::VERSION.to_string(),
            schema_version: goodhart_schema::SCHEMA_VERSION.to_string(),
            config_path: config.path.as_ref().map(|p| p.display().to_string()),
            config_hash: config.hash.clone(),
            window: crate::scan::WindowSummary {
                start: window.first_day(),
                end: window.as_of,
                days: window.days,
            },
            rows: crate::scan::RowSummary {
                read: c.rows_read,
                accepted: c.rows_accepted,
                quarantined: c.rows_quarantined,
                quarantined_by_reason: c.reasons.clone(),
                duplicate_events: run.duplicate_events,
            },
            files_read: run.ingest.files.len() as u64,
            files_pruned: run.ingest.files_pruned,
            users: scores.users.num_rows() as u64,
            sessions: scores.sessions.num_rows() as u64,
            cohort_method: scores.cohort_method,
            alerts_by_severity: by_sev,
            waste: waste.totals.clone(),
            evidence_withheld,
        };
        Ok(Analysis {
            run,
            scores,
            waste,
            alerts,
            summary,
        })
    }
}

/// What a [`Pipeline`] reads.
pub enum Events<'a> {
    /// A dataset on disk (read as `goodhart scan` reads it).
    Dataset(&'a Dataset),
    /// Record batches in memory (see [`crate::batches::features_from_batches`]).
    Batches {
        /// The batches.
        batches: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send + 'a>,
        /// Name of the input in messages.
        source: String,
        /// The roster, when there is one.
        roster: Option<Roster>,
    },
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Events::Dataset(d) => f.debug_tuple("Dataset").field(d).finish(),
            Events::Batches { source, .. } => f
                .debug_struct("Batches")
                .field("source", source)
                .finish_non_exhaustive(),
        }
    }
}

/// Figures of one [`Pipeline::run`] (the parts of `summary.json` that do not
/// depend on the alert state or the outputs).
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisSummary {
    /// goodhart version.
    pub tool_version: String,
    /// Input schema version.
    pub schema_version: String,
    /// Configuration file used (`null`: built-in defaults).
    pub config_path: Option<String>,
    /// XXH3-64 of the configuration file.
    pub config_hash: String,
    /// The window.
    pub window: crate::scan::WindowSummary,
    /// Rows read / accepted / quarantined and per reason.
    pub rows: crate::scan::RowSummary,
    /// Files read (1 for in-memory batches).
    pub files_read: u64,
    /// Files skipped by date-partition pruning.
    pub files_pruned: u64,
    /// Users scored.
    pub users: u64,
    /// Sessions scored.
    pub sessions: u64,
    /// How cohorts were formed.
    pub cohort_method: goodhart_detect::CohortMethod,
    /// Alert candidates, by severity.
    pub alerts_by_severity: BTreeMap<String, u64>,
    /// The waste ledger's organisation totals.
    pub waste: goodhart_waste::Totals,
    /// Evidence items whose cohort figures were withheld (small-group suppression).
    pub evidence_withheld: u64,
}

/// Everything a [`Pipeline::run`] produced.
#[derive(Debug)]
pub struct Analysis {
    /// Features and ingest accounting.
    pub run: FeatureRun,
    /// Scores and explanations.
    pub scores: Scores,
    /// Waste estimates, the weekly ledger, and the score tables with their
    /// waste columns (`waste.users_table` is `user_scores.parquet`).
    pub waste: WasteRun,
    /// One alert candidate per user at or above the alert severity (no
    /// lifecycle state), with the waste of its pattern and small-group
    /// suppression applied, as `goodhart scan` delivers them.
    pub alerts: Vec<AlertCandidate>,
    /// Figures.
    pub summary: AnalysisSummary,
}
