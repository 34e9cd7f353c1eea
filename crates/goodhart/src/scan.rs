//! The pipeline: Parquet → validated batches → features → scores → alerts →
//! sinks and outputs. [`features`] and [`score`] are the Arrow-in, Arrow-out
//! steps an analyst embeds; [`scan`] is the nightly job behind `goodhart scan`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt64Type};
use chrono::{DateTime, Days, NaiveDate, Utc};
use goodhart_alerts::{
    AlertCandidate, AlertsConfig, DeliverOptions, DeliveryReport, Evidence, StateStore,
};
use goodhart_detect::{ScoreOptions, Scores, UserExplanation};
use goodhart_features::{FeatureOptions, Features, SessionAccumulator};
use goodhart_io::{DateWindow, EventFile, ReadOptions};
use goodhart_schema::{IngestReport, Roster};
use serde::Serialize;

use crate::config::LoadedConfig;
use crate::report::{ReportData, ReportUser};
use crate::Error;

/// Where a dataset's events and roster are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Event files or directories (read recursively).
    pub events: Vec<PathBuf>,
    /// The roster file, when there is one.
    pub roster: Option<PathBuf>,
    /// The dataset directory, when the input was one (its `goodhart.toml` is found there).
    pub root: Option<PathBuf>,
}

impl Dataset {
    /// Resolves command-line inputs: one directory holding `events/` (and
    /// optionally `users.parquet`), or any number of event files / directories.
    /// `roster` overrides the dataset's `users.parquet`.
    pub fn locate(inputs: &[PathBuf], roster: Option<&Path>) -> Result<Dataset, Error> {
        if inputs.is_empty() {
            return Err(Error::Dataset {
                path: PathBuf::from("."),
                message: "no input given. Fix: pass a dataset directory holding events/".into(),
            });
        }
        for p in inputs {
            if !p.exists() {
                return Err(Error::Dataset {
                    path: p.clone(),
                    message: "no such file or directory. Fix: pass a dataset directory holding \
                              events/ (and optionally users.parquet), or event Parquet files"
                        .into(),
                });
            }
        }
        if let [dir] = inputs {
            if dir.join("events").is_dir() {
                let default_roster = dir.join("users.parquet");
                return Ok(Dataset {
                    events: vec![dir.join("events")],
                    roster: roster
                        .map(Path::to_path_buf)
                        .or_else(|| default_roster.is_file().then_some(default_roster)),
                    root: Some(dir.clone()),
                });
            }
        }
        Ok(Dataset {
            events: inputs.to_vec(),
            roster: roster.map(Path::to_path_buf),
            root: None,
        })
    }

    /// The event files to read for `window` (hive `date=` partitions outside it are
    /// skipped) and the number of files skipped.
    pub fn files(&self, window: Option<DateWindow>) -> Result<(Vec<EventFile>, u64), Error> {
        let mut files = Vec::new();
        let mut pruned = 0u64;
        for p in &self.events {
            let d = goodhart_io::discover_all(p, window)?;
            pruned += d.pruned.len() as u64;
            files.extend(d.files);
        }
        files.sort_by(|a, b| a.label.cmp(&b.label));
        files.dedup_by(|a, b| a.path == b.path);
        Ok((files, pruned))
    }
}

/// The analysis window: `days` days ending with `as_of` (inclusive, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Last day analysed.
    pub as_of: NaiveDate,
    /// Number of days.
    pub days: u32,
}

impl Window {
    /// First day analysed.
    pub fn first_day(&self) -> NaiveDate {
        self.as_of - Days::new(u64::from(self.days.saturating_sub(1)))
    }

    /// The window as an ingest filter.
    pub fn date_window(&self) -> DateWindow {
        DateWindow::from_dates(self.first_day(), self.as_of)
    }
}

/// Features computed from a dataset, with the ingest accounting.
#[derive(Debug, Clone)]
pub struct FeatureRun {
    /// Session and user features.
    pub features: Features,
    /// Rows read / accepted / quarantined, per file and reason.
    pub ingest: IngestReport,
    /// The quarantined rows (with `reason`), sorted by file and row.
    pub quarantine: Vec<RecordBatch>,
    /// The roster, when the dataset has one.
    pub roster: Option<Roster>,
}

/// Reads a dataset in one streaming parallel pass and computes its features.
///
/// With a `window`, rows outside it are quarantined (`outside_window`) and
/// partitions outside it are not read. `progress` is called with the number of
/// rows processed as they are.
pub fn features(
    dataset: &Dataset,
    opts: &FeatureOptions,
    window: Option<Window>,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<FeatureRun, Error> {
    let dw = window.map(|w| w.date_window());
    let (files, pruned) = dataset.files(dw)?;
    let read = ReadOptions {
        window: dw,
        progress,
        ..ReadOptions::default()
    };
    let mut ingested = goodhart_io::fold_events(
        &files,
        &read,
        || SessionAccumulator::with_options(opts),
        |acc, batch| acc.add_batch(batch),
        SessionAccumulator::merge,
    )?;
    ingested.report.files_pruned = pruned;
    let roster = match &dataset.roster {
        Some(p) => Some(goodhart_io::read_roster(p)?),
        None => None,
    };
    let features = goodhart_features::finalize(ingested.value, opts, roster.as_ref())?;
    Ok(FeatureRun {
        features,
        ingest: ingested.report,
        quarantine: ingested.quarantine,
        roster,
    })
}

/// Scores users and sessions (cohorts, pattern detectors, multivariate
/// detectors, explanations).
pub fn score(features: &Features, opts: &ScoreOptions) -> Result<Scores, Error> {
    Ok(goodhart_detect::score(
        &features.users,
        &features.sessions,
        opts,
    )?)
}

/// Pattern key of alerts raised by the multivariate detectors alone.
pub const MULTIVARIATE_PATTERN: &str = "multivariate-outlier";

/// Turns the users at or above the alert severity into alert candidates: one
/// per user, keyed by the user's strongest pattern.
pub fn alert_candidates(scores: &Scores, window: Window) -> Vec<AlertCandidate> {
    scores
        .explanations
        .iter()
        .filter(|u| u.alert)
        .map(|u| candidate(u, window))
        .collect()
}

fn candidate(u: &UserExplanation, window: Window) -> AlertCandidate {
    let pattern = u
        .patterns
        .first()
        .map(|p| p.pattern.clone())
        .unwrap_or_else(|| MULTIVARIATE_PATTERN.to_string());
    let evidence = u
        .patterns
        .iter()
        .map(|p| Evidence {
            pattern: p.pattern.clone(),
            feature: p.feature.clone(),
            value: p.value,
            typical: p.typical,
            p95: p.p95,
            percentile: p.percentile,
            sessions: p.sessions.clone(),
            text: p.text.clone(),
        })
        .collect();
    AlertCandidate {
        user_id: u.user_id.clone(),
        cohort: u.cohort.clone(),
        pattern,
        severity: u
            .severity
            .as_str()
            .parse()
            .unwrap_or(goodhart_alerts::Severity::High),
        score: u.score,
        window: goodhart_alerts::Window {
            start: window.first_day(),
            end: window.as_of,
        },
        evidence,
    }
}

/// Settings of one [`scan`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The configuration (with where it came from).
    pub config: LoadedConfig,
    /// The window.
    pub window: Window,
    /// Output directory.
    pub out_dir: PathBuf,
    /// State directory (alert lifecycle database).
    pub state_dir: PathBuf,
    /// Print what the sinks would send; send nothing and leave the state untouched.
    pub dry_run: bool,
    /// Time of the run (outbox timestamps).
    pub now: DateTime<Utc>,
}

/// Milliseconds spent per stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Reading, validating and feature extraction (one pass).
    pub ingest_and_features_ms: u64,
    /// Cohorts, detectors, explanations.
    pub scoring_ms: u64,
    /// Alert lifecycle and delivery.
    pub alerts_ms: u64,
    /// Writing the output files.
    pub outputs_ms: u64,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// goodhart version.
    pub tool_version: String,
    /// Input schema version.
    pub schema_version: String,
    /// Configuration file used (`null`: built-in defaults).
    pub config_path: Option<String>,
    /// XXH3-64 of the configuration file.
    pub config_hash: String,
    /// Inputs.
    pub inputs: Inputs,
    /// The window.
    pub window: WindowSummary,
    /// Rows read / accepted / quarantined and per reason.
    pub rows: RowSummary,
    /// Users scored.
    pub users: u64,
    /// Sessions scored.
    pub sessions: u64,
    /// How cohorts were formed.
    pub cohort_method: String,
    /// Alerts raised, by severity.
    pub alerts_by_severity: BTreeMap<String, u64>,
    /// Alerts raised, by lifecycle status (new, ongoing, reopened).
    pub alerts_by_status: BTreeMap<String, u64>,
    /// Candidates dropped by an active false-positive suppression.
    pub alerts_suppressed: u64,
    /// Alerts resolved by this run.
    pub alerts_resolved: u64,
    /// Delivery outcome.
    pub delivery: DeliverySummary,
    /// Stage timings (the only part of the outputs that varies between identical runs).
    pub timings_ms: Timings,
}

/// Inputs of a scan.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    /// Event paths.
    pub events: Vec<String>,
    /// Roster path.
    pub roster: Option<String>,
    /// Event files read.
    pub files_read: u64,
    /// Event files skipped by date-partition pruning.
    pub files_pruned: u64,
}

/// The window in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    /// First day.
    pub start: NaiveDate,
    /// Last day (the as-of date).
    pub end: NaiveDate,
    /// Days.
    pub days: u32,
}

/// Row accounting in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RowSummary {
    /// Rows read.
    pub read: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Quarantined rows per reason.
    pub quarantined_by_reason: BTreeMap<String, u64>,
}

/// Delivery figures in `summary.json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliverySummary {
    /// A dry run: nothing was sent.
    pub dry_run: bool,
    /// Deliveries acknowledged by their sink.
    pub sent: u64,
    /// Jira issues created.
    pub tickets_created: u64,
    /// Jira comments added.
    pub comments_added: u64,
    /// Webhook messages accepted.
    pub webhooks_posted: u64,
    /// Deliveries rejected permanently.
    pub failed: u64,
    /// Deliveries left pending for the next run.
    pub pending: u64,
}

impl From<&DeliveryReport> for DeliverySummary {
    fn from(r: &DeliveryReport) -> Self {
        DeliverySummary {
            dry_run: r.dry_run,
            sent: r.sent as u64,
            tickets_created: r.tickets_created.len() as u64,
            comments_added: r.comments_added as u64,
            webhooks_posted: r.webhooks_posted as u64,
            failed: r.failed.len() as u64,
            pending: r.still_pending as u64,
        }
    }
}

/// Everything a scan produced.
#[derive(Debug)]
pub struct ScanOutcome {
    /// `summary.json`.
    pub summary: Summary,
    /// The alerts written to `alerts.jsonl`.
    pub alerts: Vec<goodhart_alerts::Alert>,
    /// What the sinks did (or, in a dry run, would do).
    pub delivery: DeliveryReport,
    /// The files written.
    pub outputs: Vec<PathBuf>,
    /// The scores.
    pub scores: Scores,
}

/// Hooks for progress display; all optional.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Rows processed, as ingest goes.
    pub rows: Option<&'a (dyn Fn(u64) + Sync)>,
    /// A stage starts (`"features"`, `"scoring"`, `"alerts"`, `"outputs"`).
    pub stage: Option<&'a dyn Fn(&str)>,
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

/// The nightly job: features, scores, alert lifecycle, delivery, outputs.
///
/// Outputs (each written atomically: temporary file, then rename): `user_scores.parquet`,
/// `session_scores.parquet`, `alerts.jsonl`, `summary.json`, `report.html`, and
/// `quarantine.parquet` when rows were set aside (a stale one from an earlier run is
/// removed otherwise).
pub fn scan(
    dataset: &Dataset,
    opts: &ScanOptions,
    hooks: &Hooks<'_>,
) -> Result<ScanOutcome, Error> {
    let cfg = &opts.config.config;
    let stage = |s: &str| {
        if let Some(f) = hooks.stage {
            f(s);
        }
    };
    let bad_cfg = |m: String| opts.config.error(m);
    let fopts = cfg
        .feature_options(Some(opts.window.as_of), opts.window.days)
        .map_err(&bad_cfg)?;
    let sopts = cfg.score_options().map_err(&bad_cfg)?;
    let acfg = cfg.alerts_config();
    acfg.validate()?;
    let mut timings = Timings::default();

    stage("features");
    let t = Instant::now();
    let run = features(dataset, &fopts, Some(opts.window), hooks.rows)?;
    timings.ingest_and_features_ms = t.elapsed().as_millis() as u64;

    stage("scoring");
    let t = Instant::now();
    let scores = score(&run.features, &sopts)?;
    timings.scoring_ms = t.elapsed().as_millis() as u64;

    stage("alerts");
    let t = Instant::now();
    let candidates = alert_candidates(&scores, opts.window);
    let (reconciled, delivery) = lifecycle(&candidates, &acfg, opts)?;
    timings.alerts_ms = t.elapsed().as_millis() as u64;

    stage("outputs");
    let t = Instant::now();
    std::fs::create_dir_all(&opts.out_dir).map_err(|source| Error::Write {
        path: opts.out_dir.clone(),
        source,
    })?;
    let mut outputs = Vec::new();
    let out = |name: &str| opts.out_dir.join(name);

    goodhart_io::write_parquet_atomic(
        &out("user_scores.parquet"),
        scores.users.schema(),
        std::slice::from_ref(&scores.users),
    )?;
    outputs.push(out("user_scores.parquet"));
    goodhart_io::write_parquet_atomic(
        &out("session_scores.parquet"),
        scores.sessions.schema(),
        std::slice::from_ref(&scores.sessions),
    )?;
    outputs.push(out("session_scores.parquet"));
    goodhart_alerts::write_jsonl(out("alerts.jsonl"), &reconciled.alerts)?;
    outputs.push(out("alerts.jsonl"));
    let quarantine_path = out("quarantine.parquet");
    if run.ingest.counts.rows_quarantined > 0 {
        goodhart_io::write_parquet_atomic(
            &quarantine_path,
            goodhart_schema::quarantine_schema(),
            &run.quarantine,
        )?;
        outputs.push(quarantine_path);
    } else if quarantine_path.exists() {
        std::fs::remove_file(&quarantine_path).map_err(|source| Error::Write {
            path: quarantine_path.clone(),
            source,
        })?;
    }

    let mut by_sev: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for a in &reconciled.alerts {
        *by_sev
            .entry(a.candidate.severity.as_str().to_string())
            .or_default() += 1;
        *by_status.entry(a.status.as_str().to_string()).or_default() += 1;
    }
    let report = report_data(&scores, &run, opts.window, &by_sev, &reconciled.alerts);
    crate::report::write_report(&report, &out("report.html"))?;
    outputs.push(out("report.html"));
    timings.outputs_ms = t.elapsed().as_millis() as u64;

    let c = &run.ingest.counts;
    let summary = Summary {
        tool_version: crate::VERSION.to_string(),
        schema_version: goodhart_schema::SCHEMA_VERSION.to_string(),
        config_path: opts.config.path.as_ref().map(|p| p.display().to_string()),
        config_hash: opts.config.hash.clone(),
        inputs: Inputs {
            events: dataset
                .events
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            roster: dataset.roster.as_ref().map(|p| p.display().to_string()),
            files_read: run.ingest.files.len() as u64,
            files_pruned: run.ingest.files_pruned,
        },
        window: WindowSummary {
            start: opts.window.first_day(),
            end: opts.window.as_of,
            days: opts.window.days,
        },
        rows: RowSummary {
            read: c.rows_read,
            accepted: c.rows_accepted,
            quarantined: c.rows_quarantined,
            quarantined_by_reason: c.reasons.clone(),
        },
        users: scores.users.num_rows() as u64,
        sessions: scores.sessions.num_rows() as u64,
        cohort_method: scores.cohort_method.clone(),
        alerts_by_severity: by_sev,
        alerts_by_status: by_status,
        alerts_suppressed: reconciled.suppressed as u64,
        alerts_resolved: reconciled.resolved.len() as u64,
        delivery: DeliverySummary::from(&delivery),
        timings_ms: timings,
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    write_atomic(&out("summary.json"), format!("{json}\n").as_bytes())?;
    outputs.push(out("summary.json"));

    Ok(ScanOutcome {
        summary,
        alerts: reconciled.alerts,
        delivery,
        outputs,
        scores,
    })
}

/// Runs the alert lifecycle and the deliveries. A dry run works on a throwaway
/// copy of the state database, so it changes nothing.
fn lifecycle(
    candidates: &[AlertCandidate],
    acfg: &AlertsConfig,
    opts: &ScanOptions,
) -> Result<(goodhart_alerts::Reconciled, DeliveryReport), Error> {
    let scratch;
    let state_dir = if opts.dry_run {
        scratch = tempfile::tempdir().map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        // The database and, after an unclean stop, its write-ahead log.
        for suffix in ["", "-wal"] {
            let name = format!("{}{suffix}", goodhart_alerts::STATE_FILE);
            let db = opts.state_dir.join(&name);
            if db.is_file() {
                std::fs::copy(&db, scratch.path().join(&name)).map_err(|source| Error::Write {
                    path: db.clone(),
                    source,
                })?;
            }
        }
        scratch.path().to_path_buf()
    } else {
        opts.state_dir.clone()
    };
    let mut store = StateStore::open(&state_dir)?;
    let mut reconciled = store.reconcile(candidates, opts.window.as_of, &acfg.policy())?;
    let mut dopts = DeliverOptions::from_config(acfg, opts.now);
    dopts.dry_run = opts.dry_run;
    let delivery = goodhart_alerts::deliver(&mut store, acfg, &reconciled.alerts, &dopts)?;
    for a in &mut reconciled.alerts {
        if a.ticket.is_none() {
            a.ticket = store.ticket(&a.fingerprint)?;
        }
    }
    Ok((reconciled, delivery))
}

/// Writes bytes atomically (temporary sibling, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn col_u64(b: &RecordBatch, name: &str, i: usize) -> Option<u64> {
    let c = b.column_by_name(name)?;
    let a = c.as_primitive_opt::<UInt64Type>()?;
    a.is_valid(i).then(|| a.value(i))
}

fn col_f64(b: &RecordBatch, name: &str, i: usize) -> Option<f64> {
    let c = b.column_by_name(name)?;
    let a = c.as_primitive_opt::<Float64Type>()?;
    a.is_valid(i).then(|| a.value(i))
}

/// Builds the HTML report's data from the scores.
fn report_data(
    scores: &Scores,
    run: &FeatureRun,
    window: Window,
    by_sev: &BTreeMap<String, u64>,
    alerts: &[goodhart_alerts::Alert],
) -> ReportData {
    let status: BTreeMap<&str, &str> = alerts
        .iter()
        .map(|a| (a.candidate.user_id.as_str(), a.status.as_str()))
        .collect();
    let mut prevalence: BTreeMap<String, u64> = BTreeMap::new();
    let users: Vec<ReportUser> = scores
        .explanations
        .iter()
        .enumerate()
        .map(|(i, u)| {
            // Count what a reviewer calls fired: strength >= fire_strength
            // (patterns listed as context do not count).
            for p in u.patterns.iter().filter(|p| p.fired) {
                *prevalence.entry(p.pattern.clone()).or_default() += 1;
            }
            ReportUser {
                user_id: u.user_id.clone(),
                cohort: u.cohort.clone(),
                score: u.score,
                severity: u.severity.as_str().to_string(),
                total_tokens: col_u64(&scores.users, "total_tokens", i).unwrap_or(0),
                accepted_changes: col_u64(&scores.users, "accepted", i).unwrap_or(0),
                tokens_per_accepted_change: col_f64(&scores.users, "tokens_per_accepted_change", i),
                patterns: u.patterns.iter().map(|p| p.pattern.clone()).collect(),
                explanations: u.patterns.iter().map(|p| p.text.clone()).collect(),
                alert_status: status.get(u.user_id.as_str()).map(|s| s.to_string()),
            }
        })
        .collect();
    let mut pattern_prevalence: Vec<(String, u64)> = prevalence.into_iter().collect();
    pattern_prevalence.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let c = &run.ingest.counts;
    ReportData {
        title: "goodhart: tokenmaxxing report".to_string(),
        tool_version: crate::VERSION.to_string(),
        as_of: window.as_of,
        window_days: window.days,
        rows_read: c.rows_read,
        rows_accepted: c.rows_accepted,
        rows_quarantined: c.rows_quarantined,
        users_scored: scores.users.num_rows() as u64,
        sessions_scored: scores.sessions.num_rows() as u64,
        alerts_by_severity: by_sev.clone(),
        users,
        pattern_prevalence,
        top_users: 50,
    }
}
