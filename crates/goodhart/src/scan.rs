//! The pipeline: Parquet → validated batches → features → scores → alerts →
//! sinks and outputs. [`features`] and [`score`] are the Arrow-in, Arrow-out
//! steps an analyst embeds; [`scan`] is the nightly job behind `goodhart scan`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use goodhart_alerts::{
    AlertCandidate, DeliverOptions, DeliveryReport, OpenMode, ReconcileOptions, StateStore,
    SyncReport,
};
use goodhart_detect::{ScoreOptions, Scores, UserExplanation};
use goodhart_features::{FeatureOptions, Features, SessionAccumulator};
use goodhart_io::{DateWindow, EventFile, ReadOptions};
use goodhart_schema::{IngestReport, Roster};

pub use crate::bucketed::MemoryBudget;
use serde::Serialize;

use crate::config::LoadedConfig;
use crate::outputs::OutputSet;
use crate::report::ReportData;
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
        let d = self.discover(window)?;
        Ok((d.files, d.pruned.len() as u64))
    }

    /// Everything [`goodhart_io::discover_all`] found under each event path:
    /// files to read (sorted, each once), pruned and skipped entries.
    pub fn discover(&self, window: Option<DateWindow>) -> Result<goodhart_io::Discovered, Error> {
        let mut all = goodhart_io::Discovered::default();
        for p in &self.events {
            let d = goodhart_io::discover_all(p, window)?;
            all.pruned.extend(d.pruned);
            all.files.extend(d.files);
            all.skipped.extend(d.skipped);
        }
        all.files.sort_by(|a, b| a.label.cmp(&b.label));
        all.files.dedup_by(|a, b| a.path == b.path);
        if self.events.len() > 1 {
            // Copies across inputs (each input was checked on its own).
            let (files, copies) = goodhart_io::dedup_identical(std::mem::take(&mut all.files))?;
            all.files = files;
            all.skipped.extend(copies);
        }
        Ok(all)
    }
}

pub use goodhart_core::Window;

/// Features computed from a dataset, with the ingest accounting.
#[derive(Debug, Clone)]
pub struct FeatureRun {
    /// Session and user features.
    pub features: Features,
    /// Rows read / accepted / quarantined, per file and reason.
    pub ingest: IngestReport,
    /// The quarantined rows (with `reason`), sorted by file and row.
    pub quarantine: Vec<RecordBatch>,
    /// Or, from [`features_spilling`], the files holding them (see
    /// [`goodhart_io::write_quarantine`]).
    pub quarantine_spilled: Vec<PathBuf>,
    /// The roster, when the dataset has one.
    pub roster: Option<Roster>,
    /// Entries of the event tree not read (FIFOs, sockets, devices, second
    /// paths to a file), one warning line each.
    pub skipped: Vec<String>,
    /// Accepted events per day of the window, first day first (empty without a window).
    pub daily_events: Vec<u64>,
    /// Accepted events identical to an earlier one in user, session, time,
    /// event kind, agents and hashes (task, context, change): counted, not removed.
    pub duplicate_events: u64,
    /// Buckets the feature pass was split into (1: in memory; see [`crate::bucketed`]).
    pub buckets: usize,
}

/// The fold state of the in-memory feature pass: the accumulator, events
/// per window day and the event keys (for the duplicate count).
pub(crate) struct EventFold {
    pub(crate) acc: SessionAccumulator,
    pub(crate) daily: Vec<u64>,
    pub(crate) keys: Vec<u64>,
}

impl EventFold {
    /// Empty, for a window of `days` days (0: no window).
    pub(crate) fn new(opts: &FeatureOptions, days: usize) -> EventFold {
        EventFold {
            acc: SessionAccumulator::with_options(opts),
            daily: vec![0; days],
            keys: Vec::new(),
        }
    }

    /// Folds a validated batch in (the window starts at `start_us`).
    pub(crate) fn add(&mut self, b: &goodhart_schema::EventBatch, start_us: i64) {
        self.acc.add_batch(b);
        self.keys.extend((0..b.len()).map(|i| event_key(b, i)));
        if !self.daily.is_empty() {
            for &ts in &b.ts_us {
                count_day(&mut self.daily, start_us, ts);
            }
        }
    }

    /// Combines two (exact, associative and commutative).
    pub(crate) fn merge(mut self, o: EventFold) -> EventFold {
        for (x, y) in self.daily.iter_mut().zip(o.daily) {
            *x += y;
        }
        self.keys.extend(o.keys);
        EventFold {
            acc: SessionAccumulator::merge(self.acc, o.acc),
            daily: self.daily,
            keys: self.keys,
        }
    }
}

/// The error of a window in which no event was accepted (with the dates the
/// data covers, from the footers of the files read and pruned).
pub(crate) fn check_not_empty(
    window: Option<Window>,
    report: &IngestReport,
    found: &goodhart_io::Discovered,
) -> Result<(), Error> {
    if let Some(w) = window {
        if report.counts.rows_accepted == 0 {
            let mut all = found.files.clone();
            all.extend(found.pruned.iter().cloned());
            return Err(Error::EmptyWindow {
                first: w.first_day(),
                last: w.as_of,
                rows_read: report.counts.rows_read,
                data: goodhart_io::date_range(&all)?,
            });
        }
    }
    Ok(())
}

/// The dataset's roster, when it has one.
pub(crate) fn read_roster(dataset: &Dataset) -> Result<Option<Roster>, Error> {
    Ok(match &dataset.roster {
        Some(p) => Some(goodhart_io::read_roster(p)?),
        None => None,
    })
}

/// Adds an accepted event at `ts` to the events per day of a window
/// starting at `start_us` (`daily` empty: no window, nothing counted).
pub(crate) fn count_day(daily: &mut [u64], start_us: i64, ts: i64) {
    // Accepted rows lie inside the window, so the index is in range.
    let d = (ts - start_us).div_euclid(goodhart_core::time::US_PER_DAY) as usize;
    if let Some(n) = daily.get_mut(d) {
        *n += 1;
    }
}

/// Number of events whose [`event_key`] repeats an earlier one's.
pub(crate) fn duplicate_count(mut keys: Vec<u64>) -> u64 {
    rayon::slice::ParallelSliceMut::par_sort_unstable(&mut keys[..]);
    keys.windows(2).filter(|w| w[0] == w[1]).count() as u64
}

/// A 64-bit key of the identity of event `i`: user, session, time, kind,
/// agents and the task, context and change hashes. Equal keys are counted as
/// duplicate events (8 bytes per accepted row are kept until the end of the
/// pass; a false match needs a 64-bit collision).
pub(crate) fn event_key(b: &goodhart_schema::EventBatch, i: usize) -> u64 {
    let mut buf = [0u8; 8 * 9];
    let parts = [
        b.ts_us[i] as u64,
        b.user[i],
        b.session[i],
        b.kind[i] as u64,
        b.agent[i],
        b.parent_agent[i],
        b.task_hash[i],
        b.context_hash[i],
        b.change_id[i],
    ];
    for (chunk, v) in buf.chunks_exact_mut(8).zip(parts) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&buf)
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
    features_spilling(dataset, opts, window, progress, None)
}

/// [`features`], with the quarantined rows streamed to files in
/// `quarantine_spill` ([`FeatureRun::quarantine_spilled`]) instead of kept in
/// memory: peak memory then does not grow with the rows set aside.
pub fn features_spilling(
    dataset: &Dataset,
    opts: &FeatureOptions,
    window: Option<Window>,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    quarantine_spill: Option<&Path>,
) -> Result<FeatureRun, Error> {
    features_within(
        dataset,
        opts,
        window,
        progress,
        quarantine_spill,
        &MemoryBudget::unlimited(),
    )
}

/// [`features_spilling`] within a memory budget: when the estimated working
/// set of the in-memory pass exceeds [`MemoryBudget::limit`] (or a bucket
/// count is forced), the pass is split by user into buckets spilled to
/// scratch files ([`crate::bucketed`]). The result is the same either way
/// (tables, row accounting, quarantine, duplicate and daily counts), except
/// [`FeatureRun::buckets`].
pub fn features_within(
    dataset: &Dataset,
    opts: &FeatureOptions,
    window: Option<Window>,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    quarantine_spill: Option<&Path>,
    budget: &MemoryBudget,
) -> Result<FeatureRun, Error> {
    let dw = window.map(DateWindow::from);
    let found = dataset.discover(dw)?;
    let (files, pruned) = (&found.files, found.pruned.len() as u64);
    let read = ReadOptions {
        window: dw,
        progress,
        quarantine_spill,
        ..ReadOptions::default()
    };
    let days = window.map_or(0, |w| w.days as usize);
    let start_us = dw.map_or(0, |w| w.start_us);
    let buckets = budget.buckets_for(files);
    let empty_window = |report: &IngestReport| check_not_empty(window, report, &found);
    let read_roster = || read_roster(dataset);
    if buckets > 1 {
        let base = budget
            .scratch
            .as_deref()
            .or(quarantine_spill)
            .map_or_else(std::env::temp_dir, Path::to_path_buf);
        let scratch = goodhart_io::SpillDir::beside(&base.join("buckets"))?;
        let mut ingested =
            crate::bucketed::split(files, &read, buckets, (days, start_us), scratch.path())?;
        ingested.report.files_pruned = pruned;
        empty_window(&ingested.report)?;
        let roster = read_roster()?;
        let split = ingested.value;
        let (features, duplicate_events) = split.features(opts, roster.as_ref(), scratch.path())?;
        drop(scratch);
        return Ok(FeatureRun {
            features,
            ingest: ingested.report,
            quarantine: ingested.quarantine,
            quarantine_spilled: ingested.quarantine_spilled,
            roster,
            skipped: found.skipped.iter().map(ToString::to_string).collect(),
            daily_events: split.daily,
            duplicate_events,
            buckets,
        });
    }
    let mut ingested = goodhart_io::fold_events(
        files,
        &read,
        || EventFold::new(opts, days),
        |f, batch| f.add(batch, start_us),
        EventFold::merge,
    )?;
    ingested.report.files_pruned = pruned;
    empty_window(&ingested.report)?;
    let EventFold {
        acc,
        daily: daily_events,
        keys,
    } = ingested.value;
    let duplicate_events = duplicate_count(keys);
    let roster = read_roster()?;
    let features = goodhart_features::finalize(acc, opts, roster.as_ref())?;
    Ok(FeatureRun {
        features,
        ingest: ingested.report,
        quarantine: ingested.quarantine,
        quarantine_spilled: ingested.quarantine_spilled,
        roster,
        skipped: found.skipped.iter().map(ToString::to_string).collect(),
        daily_events,
        duplicate_events,
        buckets: 1,
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
    let evidence = u.patterns.iter().map(|p| p.evidence.clone()).collect();
    AlertCandidate {
        user_id: u.user_id.clone(),
        cohort: u.cohort.clone(),
        pattern,
        severity: u.severity,
        score: u.score,
        window: window.into(),
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
    /// Start a new alert state when the state file is missing, empty or foreign (it is moved
    /// aside). Without it such a state is refused before anything is read or written.
    pub init_state: bool,
    /// Memory of the feature pass (`--memory-limit`, `[scan] memory_limit`);
    /// the outputs do not depend on it.
    pub memory: MemoryBudget,
    /// How the feature cache in the state directory is used (`--full`:
    /// [`crate::cache::CacheMode::Full`]); a dry run only reads it. The
    /// outputs do not depend on it.
    pub feature_cache: crate::cache::CacheMode,
}

impl ScanOptions {
    fn state_mode(&self) -> OpenMode {
        if self.init_state {
            OpenMode::Init
        } else {
            OpenMode::CreateIfMissing
        }
    }
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
    /// Steps of the feature pass through the feature cache (within
    /// `ingest_and_features_ms`).
    pub feature_pass: crate::cache::CacheTimings,
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
    /// Whether the window's last day looks complete (see [`Completeness`]).
    pub completeness: Completeness,
    /// Rows read / accepted / quarantined and per reason.
    pub rows: RowSummary,
    /// Users scored.
    pub users: u64,
    /// Sessions scored.
    pub sessions: u64,
    /// How cohorts were formed.
    pub cohort_method: goodhart_detect::CohortMethod,
    /// Teams whose typical member shows a waste pattern against the rest of
    /// the organisation (team-level findings, strongest first; empty
    /// without a roster). Reported here, not alerted per person: each
    /// member of such a team is also scored against the organisation.
    pub cohort_findings: Vec<goodhart_detect::CohortFinding>,
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
    /// Verdicts taken back from resolved Jira tickets before the lifecycle (`null`: no
    /// `[jira]`, or a dry run).
    pub jira_sync: Option<SyncReport>,
    /// Small-group suppression and retention figures of this run.
    pub privacy: crate::privacy::PrivacySummary,
    /// The waste ledger's organisation totals (#11).
    pub waste: goodhart_waste::Totals,
    /// Buckets the feature pass was split into to stay within the memory
    /// limit (1: in memory). Like the timings, it depends on the machine
    /// and `--memory-limit`, not on the data alone; no other output does.
    pub feature_buckets: usize,
    /// What the feature cache reused and what was read (with
    /// [`Summary::feature_buckets`] and the timings, the only part of the
    /// outputs that depends on earlier runs and the machine).
    pub feature_cache: crate::cache::CacheSummary,
    /// Stage timings (with [`Summary::feature_buckets`], the only part of the
    /// outputs that varies between runs on the same input).
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
    /// Entries named like event files that were not read, each with why
    /// (a FIFO, socket or device; a second path to a file already read).
    pub files_skipped: Vec<String>,
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

/// The completeness check of a window's last day: a run is flagged
/// incomplete when the last day holds fewer accepted events than
/// `min_share` (`[scan] min_last_day_share`, default 0.5) times what is
/// usual for that day. An export that stopped early, or a last partition that
/// has not fully arrived, shows up this way. An incomplete run still writes
/// its outputs and raises its alerts, but auto-resolves none, and
/// `goodhart scan` exits with code 4.
///
/// What is usual: when the window holds at least [`MIN_SAME_WEEKDAYS`]
/// earlier days of the last day's weekday, the median of those that hold any
/// event (`basis: same_weekday`), so that a Saturday is compared with
/// Saturdays, not with the working week; when all of them are empty the
/// weekday is a quiet one and an empty last day is complete. Otherwise the
/// median of all earlier days that hold any event (`basis: all_days`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    /// The last day of the window.
    pub last_day: NaiveDate,
    /// Accepted events on it.
    pub last_day_events: u64,
    /// Median of the accepted events per earlier day it is compared with
    /// (days with none left out); `null` when none of them holds an event.
    pub trailing_median: Option<f64>,
    /// Which earlier days: `same_weekday` or `all_days`.
    pub basis: &'static str,
    /// `last_day_events / trailing_median`.
    pub share: Option<f64>,
    /// The threshold (0: the check is off).
    pub min_share: f64,
    /// False when `share < min_share`.
    pub complete: bool,
}

/// Earlier days of the same weekday a window needs before the completeness
/// check compares the last day with them alone (two: one odd week cannot set
/// the expectation).
pub const MIN_SAME_WEEKDAYS: usize = 2;

fn median_of_nonzero(days: impl Iterator<Item = u64>) -> Option<f64> {
    let mut v: Vec<u64> = days.filter(|&n| n > 0).collect();
    v.sort_unstable();
    let m = v.len();
    (m > 0).then(|| {
        if m % 2 == 1 {
            v[m / 2] as f64
        } else {
            (v[m / 2 - 1] + v[m / 2]) as f64 / 2.0
        }
    })
}

impl Completeness {
    /// Assesses `daily` (accepted events per day of `window`, first day first).
    ///
    /// ```
    /// use goodhart::scan::{Completeness, Window};
    /// let w = Window { as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 5).unwrap(), days: 5 };
    /// assert!(Completeness::assess(w, &[100, 0, 90, 110, 60], 0.5).complete);
    /// let c = Completeness::assess(w, &[100, 0, 90, 110, 40], 0.5);
    /// assert!(!c.complete);
    /// assert_eq!((c.trailing_median, c.basis), (Some(100.0), "all_days"));
    /// assert!(Completeness::assess(w, &[100, 0, 90, 110, 40], 0.0).complete);
    /// // Three weeks of an office-hours team, the last day a quiet Saturday: compared
    /// // with the earlier Saturdays, not with the working week.
    /// let week = [100, 100, 100, 100, 100, 4, 0];
    /// let daily: Vec<u64> = week.iter().cycle().take(20).copied().collect();
    /// let sat = Window { as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 24).unwrap(), days: 20 };
    /// let c = Completeness::assess(sat, &daily, 0.5);
    /// assert!(c.complete);
    /// assert_eq!((c.trailing_median, c.basis), (Some(4.0), "same_weekday"));
    /// // ... and a Sunday, on which that team never works, is a quiet day, not a gap.
    /// let sun = Window { as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), days: 21 };
    /// let daily: Vec<u64> = week.iter().cycle().take(21).copied().collect();
    /// assert!(Completeness::assess(sun, &daily, 0.5).complete);
    /// // A Monday that stopped early is still caught against the earlier Mondays.
    /// let mut daily: Vec<u64> = week.iter().cycle().take(22).copied().collect();
    /// daily[21] = 30;
    /// let mon = Window { as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 26).unwrap(), days: 22 };
    /// assert!(!Completeness::assess(mon, &daily, 0.5).complete);
    /// ```
    pub fn assess(window: Window, daily: &[u64], min_share: f64) -> Completeness {
        let last_day_events = daily.last().copied().unwrap_or(0);
        let earlier = &daily[..daily.len().saturating_sub(1)];
        // Earlier days of the last day's weekday: 7, 14, ... days before it.
        let same: Vec<u64> = earlier.iter().rev().skip(6).step_by(7).copied().collect();
        let (basis, trailing_median, quiet) = if same.len() >= MIN_SAME_WEEKDAYS {
            let med = median_of_nonzero(same.iter().copied());
            ("same_weekday", med, med.is_none())
        } else {
            (
                "all_days",
                median_of_nonzero(earlier.iter().copied()),
                false,
            )
        };
        let share = trailing_median.map(|med| last_day_events as f64 / med);
        Completeness {
            last_day: window.as_of,
            last_day_events,
            trailing_median,
            basis,
            share,
            min_share,
            complete: min_share <= 0.0 || quiet || share.is_none_or(|s| s >= min_share),
        }
    }

    /// The warning shown when the window looks incomplete.
    pub fn warning(&self) -> Option<String> {
        if self.complete {
            return None;
        }
        Some(format!(
            "the last day of the window ({}) holds {} events, {:.0}% of the median of the earlier {} ({}), below the {:.0}% of [scan] min_last_day_share: the data looks incomplete, so no alert was auto-resolved. Fix: check that the export for {} arrived, then re-run",
            self.last_day,
            self.last_day_events,
            self.share.unwrap_or(0.0) * 100.0,
            if self.basis == "same_weekday" {
                format!("{}s", self.last_day.format("%A"))
            } else {
                "days".to_string()
            },
            self.trailing_median.unwrap_or(0.0),
            self.min_share * 100.0,
            self.last_day
        ))
    }
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
    /// Accepted rows identical to an earlier one (same user, session, ts,
    /// event, agents and hashes): counted here, still used.
    pub duplicate_events: u64,
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
    /// Verdicts taken back from Jira (`None`: no `[jira]`, or a dry run).
    pub jira_sync: Option<SyncReport>,
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
    /// A named point of the run was passed (e.g. `"alert state committed"`),
    /// for fault-injection tests that stop the process at each point.
    pub checkpoint: Option<&'a dyn Fn(&str)>,
    /// A warning for the operator (one line, e.g. an input entry that was skipped).
    pub warn: Option<&'a dyn Fn(&str)>,
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

/// The nightly job: features, scores, alert lifecycle, delivery, outputs.
///
/// Outputs: `user_scores.parquet`, `session_scores.parquet`, `alerts.jsonl`,
/// `summary.json`, `report.html`, and `quarantine.parquet` when rows were set
/// aside. They form one set ([`crate::outputs`]): written into a staging
/// directory and switched in as a whole at the end, so the output directory
/// always holds one run's complete set.
///
/// Order of effects: the outputs are written and flushed to disk first
/// (with the alert statuses of a rolled-back preview of the lifecycle);
/// only then does the state record the alerts and queue their deliveries
/// (one transaction), the deliveries are sent, `alerts.jsonl` and
/// `summary.json` are rewritten with the ticket keys and delivery figures,
/// and the set is published. A failure while writing outputs therefore
/// changes no state; a kill after the state commit but before the switch
/// leaves the previous set, and a re-run of the night repeats the same
/// statuses (the lifecycle is idempotent for a day already seen) and sends
/// nothing twice (the outbox).
///
/// A window without any accepted event is an [`Error::EmptyWindow`] (nothing
/// written, no state changed). A window whose last day looks incomplete
/// ([`Completeness`]) is scanned, but no alert is auto-resolved.
// One piece: the order of effects (outputs staged and flushed, then the state committed,
// deliveries sent, the set published) is the crash-safety contract documented above; it is
// checked by reading it top to bottom here.
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
    let checkpoint = |s: &str| {
        if let Some(f) = hooks.checkpoint {
            f(s);
        }
    };
    // Every setting checked before anything is read.
    let pipeline = crate::Pipeline::builder()
        .config(opts.config.clone())
        .window(opts.window)
        .build()?;
    let fopts = pipeline.feature_options();
    let acfg = pipeline.alerts_config().clone();
    let policy = acfg.policy();
    // An empty or foreign state is refused before anything is read or written.
    StateStore::check(&opts.state_dir, opts.state_mode())?;
    let mut timings = Timings::default();

    // First, so that a foreign --out is refused before any work, and what an
    // interrupted run left is cleaned.
    let set = OutputSet::stage(&opts.out_dir)?;
    checkpoint("staging directory created");

    stage("features");
    let t = Instant::now();
    let spill = goodhart_io::SpillDir::beside(&set.path("quarantine.parquet"))?;
    // Held (with the cache's lock) until the outputs are written.
    let cached = crate::cache::features_cached(
        dataset,
        fopts,
        opts.window,
        hooks.rows,
        spill.path(),
        &opts.memory,
        &crate::cache::CacheOptions {
            dir: opts.state_dir.join(crate::cache::CACHE_DIR),
            // A dry run changes no state: it may reuse the cache, never store.
            mode: match opts.feature_cache {
                crate::cache::CacheMode::Incremental if opts.dry_run => {
                    crate::cache::CacheMode::ReadOnly
                }
                crate::cache::CacheMode::Full if opts.dry_run => crate::cache::CacheMode::Off,
                m => m,
            },
        },
        &opts.config.hash,
        &checkpoint,
    )?;
    let (run, feature_cache) = (&cached.run, &cached.summary);
    if let Some(w) = hooks.warn {
        for m in &feature_cache.warnings {
            w(m);
        }
    }
    if let Some(w) = hooks.warn {
        for s in &run.skipped {
            w(s);
        }
    }
    let completeness =
        Completeness::assess(opts.window, &run.daily_events, cfg.scan.min_last_day_share);
    if let (Some(w), Some(m)) = (hooks.warn, completeness.warning()) {
        w(&m);
    }
    timings.ingest_and_features_ms = t.elapsed().as_millis() as u64;
    timings.feature_pass = cached.timings.clone();
    checkpoint("features computed");

    stage("scoring");
    let t = Instant::now();
    let scores = pipeline.score(&run.features)?;
    timings.scoring_ms = t.elapsed().as_millis() as u64;
    checkpoint("scores computed");

    // Privacy (#12): small-group suppression (alerts, report, waste ledger).
    let k = acfg.privacy.min_group_size;
    stage("waste");
    let waste = pipeline.waste(&run.features, &scores)?;
    checkpoint("waste estimated");

    stage("alerts");
    let t = Instant::now();
    let (candidates, evidence_withheld) = pipeline.alert_candidates(&scores, &waste);
    let (_scratch, mut store) = open_state(opts)?;
    let mut dopts = DeliverOptions::from_config(&acfg, opts.now);
    dopts.dry_run = opts.dry_run;
    // Verdicts from resolved Jira tickets first, so tonight's lifecycle honours them.
    let jira_sync = match (&acfg.jira, opts.dry_run) {
        (Some(_), false) => Some(goodhart_alerts::sync_jira_verdicts(
            &mut store,
            &acfg,
            &dopts,
            opts.window.as_of,
        )?),
        _ => None,
    };
    let mut ropts = ReconcileOptions::default();
    ropts.auto_resolve = completeness.complete;
    ropts.commit = false;
    let mut preview = store.reconcile_with(&candidates, opts.window.as_of, &policy, ropts)?;
    // The report's weekly trend: the state's ledger with tonight's complete weeks.
    let this_run = crate::waste::state_rows(&waste, opts.window.as_of);
    let mut history = store.ledger()?;
    history.retain(|h| this_run.iter().all(|r| r.week != h.week));
    history.extend(this_run);
    let waste_report = crate::waste::report_section(&waste, &history, k);
    fill_tickets(&store, &mut preview.alerts)?;
    timings.alerts_ms = t.elapsed().as_millis() as u64;
    checkpoint("alert lifecycle previewed");

    stage("outputs");
    let t = Instant::now();
    let w = |name: &str, r: Result<(), goodhart_io::IoError>| -> Result<(), Error> {
        r?;
        checkpoint(&format!("{name} staged"));
        Ok(())
    };
    w(
        "user_scores.parquet",
        goodhart_io::write_parquet_atomic(
            &set.path("user_scores.parquet"),
            waste.users_table.schema(),
            std::slice::from_ref(&waste.users_table),
        ),
    )?;
    w(
        "session_scores.parquet",
        goodhart_io::write_parquet_atomic(
            &set.path("session_scores.parquet"),
            waste.sessions_table.schema(),
            std::slice::from_ref(&waste.sessions_table),
        ),
    )?;
    w(
        "waste.parquet",
        goodhart_io::write_parquet_atomic(
            &set.path("waste.parquet"),
            waste.ledger_table.schema(),
            std::slice::from_ref(&waste.ledger_table),
        ),
    )?;
    if run.ingest.counts.rows_quarantined > 0 {
        w(
            "quarantine.parquet",
            goodhart_io::write_quarantine(
                &set.path("quarantine.parquet"),
                &run.quarantine,
                &run.quarantine_spilled,
            ),
        )?;
    }
    drop(spill);
    let light = |reconciled: &goodhart_alerts::Reconciled,
                 delivery: &DeliveryReport,
                 purged: &goodhart_alerts::PurgeReport,
                 timings: &Timings|
     -> Result<Summary, Error> {
        let (by_sev, by_status) = tallies(&reconciled.alerts);
        let mut report = ReportData::from_scan(
            &scores,
            &reconciled.alerts,
            &run.ingest.counts,
            opts.window,
            crate::VERSION,
            completeness
                .warning()
                .into_iter()
                .chain(run.skipped.iter().cloned())
                .collect(),
        );
        crate::privacy::protect_report(&mut report, &scores, k);
        report.waste = Some(waste_report.clone());
        crate::report::write_report(&report, &set.path("report.html"))?;
        checkpoint("report.html staged");
        w(
            "alerts.jsonl",
            goodhart_io::write_bytes_atomic(
                &set.path("alerts.jsonl"),
                &goodhart_alerts::to_jsonl(&reconciled.alerts)?,
            ),
        )?;
        let summary = RunFacts {
            dataset,
            opts,
            run,
            scores: &scores,
            completeness: &completeness,
            min_group_size: k,
            evidence_withheld,
            waste: &waste.totals,
            jira_sync: jira_sync.as_ref(),
            feature_cache,
        }
        .summary(reconciled, delivery, purged, timings, by_sev, by_status);
        let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
        w(
            "summary.json",
            goodhart_io::write_bytes_atomic(
                &set.path("summary.json"),
                format!("{json}\n").as_bytes(),
            ),
        )?;
        Ok(summary)
    };
    // Every output is on disk (with the previewed statuses) before the state changes.
    light(
        &preview,
        &DeliveryReport::default(),
        &goodhart_alerts::PurgeReport::default(),
        &timings,
    )?;
    set.sync()?;
    checkpoint("output set flushed");

    // The state records the alerts and queues their deliveries in one
    // transaction; the deliveries go out; then the final set is published.
    let t_alerts = Instant::now();
    let mut reconciled = store.reconcile_with(&candidates, opts.window.as_of, &policy, {
        ropts.commit = true;
        ropts
    })?;
    checkpoint("alert state committed");
    store.record_ledger(&crate::waste::state_rows(&waste, opts.window.as_of))?;
    checkpoint("waste ledger recorded");
    let delivery = goodhart_alerts::deliver(&mut store, &acfg, &reconciled.alerts, &dopts)?;
    fill_tickets(&store, &mut reconciled.alerts)?;
    checkpoint("deliveries sent");
    timings.alerts_ms += t_alerts.elapsed().as_millis() as u64;
    timings.outputs_ms = t.elapsed().as_millis() as u64;
    // Privacy (#12): retention purge of the state and the managed outputs (not in a dry run).
    let purged = if opts.dry_run {
        goodhart_alerts::PurgeReport::default()
    } else {
        crate::privacy::purge(&acfg, &opts.state_dir, opts.window.as_of, opts.now)?
    };
    let summary = light(&reconciled, &delivery, &purged, &timings)?;
    let out_dir = set.out_dir().to_path_buf();
    let mut outputs: Vec<PathBuf> = crate::outputs::OUTPUT_FILES
        .iter()
        .map(|n| out_dir.join(n))
        .collect();
    if run.ingest.counts.rows_quarantined == 0 {
        outputs.retain(|p| !p.ends_with("quarantine.parquet"));
    }
    set.publish()?;
    checkpoint("output set published");

    // Rolling backup of the state after a successful run (never in a dry run).
    if !opts.dry_run {
        store.backup(opts.now, acfg.alerts.keep_backups as usize)?;
    }

    Ok(ScanOutcome {
        summary,
        alerts: reconciled.alerts,
        delivery,
        jira_sync,
        outputs,
        scores,
    })
}

/// What a scan knows once it has scored, for its `summary.json`.
struct RunFacts<'a> {
    dataset: &'a Dataset,
    opts: &'a ScanOptions,
    run: &'a FeatureRun,
    scores: &'a Scores,
    completeness: &'a Completeness,
    min_group_size: usize,
    evidence_withheld: u64,
    waste: &'a goodhart_waste::Totals,
    jira_sync: Option<&'a SyncReport>,
    feature_cache: &'a crate::cache::CacheSummary,
}

impl RunFacts<'_> {
    /// The summary of a run whose alerts are `reconciled` (previewed or
    /// committed) and delivered as `delivery`.
    fn summary(
        &self,
        reconciled: &goodhart_alerts::Reconciled,
        delivery: &DeliveryReport,
        purged: &goodhart_alerts::PurgeReport,
        timings: &Timings,
        alerts_by_severity: BTreeMap<String, u64>,
        alerts_by_status: BTreeMap<String, u64>,
    ) -> Summary {
        let (opts, run, scores, k) = (self.opts, self.run, self.scores, self.min_group_size);
        let c = &run.ingest.counts;
        Summary {
            tool_version: crate::VERSION.to_string(),
            schema_version: goodhart_schema::SCHEMA_VERSION.to_string(),
            config_path: opts.config.path.as_ref().map(|p| p.display().to_string()),
            config_hash: opts.config.hash.clone(),
            inputs: Inputs {
                events: self
                    .dataset
                    .events
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                roster: self
                    .dataset
                    .roster
                    .as_ref()
                    .map(|p| p.display().to_string()),
                files_read: run.ingest.files.len() as u64,
                files_pruned: run.ingest.files_pruned,
                files_skipped: run.skipped.clone(),
            },
            window: WindowSummary {
                start: opts.window.first_day(),
                end: opts.window.as_of,
                days: opts.window.days,
            },
            completeness: self.completeness.clone(),
            rows: RowSummary {
                read: c.rows_read,
                accepted: c.rows_accepted,
                quarantined: c.rows_quarantined,
                quarantined_by_reason: c.reasons.clone(),
                duplicate_events: run.duplicate_events,
            },
            users: scores.users.num_rows() as u64,
            sessions: scores.sessions.num_rows() as u64,
            cohort_method: scores.cohort_method,
            cohort_findings: scores.cohort_findings.clone(),
            alerts_by_severity,
            alerts_by_status,
            alerts_suppressed: reconciled.suppressed as u64,
            alerts_resolved: reconciled.resolved.len() as u64,
            delivery: DeliverySummary::from(delivery),
            jira_sync: self.jira_sync.cloned(),
            privacy: crate::privacy::PrivacySummary {
                min_group_size: k,
                cohorts_below_min_group_size: crate::privacy::cohort_sizes(scores)
                    .values()
                    .filter(|n| **n < k)
                    .count() as u64,
                evidence_withheld: self.evidence_withheld,
                purged: *purged,
            },
            waste: self.waste.clone(),
            feature_buckets: run.buckets,
            feature_cache: self.feature_cache.clone(),
            timings_ms: timings.clone(),
        }
    }
}

fn tallies(alerts: &[goodhart_alerts::Alert]) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut by_sev: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for a in alerts {
        *by_sev
            .entry(a.candidate.severity.as_str().to_string())
            .or_default() += 1;
        *by_status.entry(a.status.as_str().to_string()).or_default() += 1;
    }
    (by_sev, by_status)
}

fn fill_tickets(store: &StateStore, alerts: &mut [goodhart_alerts::Alert]) -> Result<(), Error> {
    for a in alerts {
        if a.ticket.is_none() {
            a.ticket = store.ticket(&a.fingerprint)?;
        }
    }
    Ok(())
}

/// The state store of a scan. A dry run works on a throwaway copy of the
/// state database (returned with it, to live as long as the store), so it
/// changes nothing.
fn open_state(opts: &ScanOptions) -> Result<(Option<tempfile::TempDir>, StateStore), Error> {
    if !opts.dry_run {
        return Ok((
            None,
            StateStore::open_with(&opts.state_dir, opts.state_mode())?,
        ));
    }
    let scratch = tempfile::tempdir().map_err(|source| Error::Write {
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
    let store = StateStore::open_with(scratch.path(), opts.state_mode())?;
    Ok((Some(scratch), store))
}

/// Writes bytes atomically: [`goodhart_io::write_bytes_atomic`] (temporary
/// sibling with the umask's mode, fsync, rename, fsync of the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    Ok(goodhart_io::write_bytes_atomic(path, bytes)?)
}
