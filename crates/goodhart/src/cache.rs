//! The feature cache: what a nightly scan keeps of each event file so that
//! the next night decodes and validates only the files that are new or
//! changed.
//!
//! # What is stored
//! `<state>/feature-cache/` holds, per event file read by the last scan
//! whose rows all lay inside its window (an *entry*):
//! - the file's validated events, exactly as the fold saw them, as Arrow IPC
//!   runs (the format of the bucketed pass, [`goodhart_io::RunWriter`]);
//! - its quarantined rows, as Parquet in the quarantine schema;
//! - its row accounting ([`goodhart_schema::Counts`]) and the range of its
//!   timestamps.
//!
//! `manifest.json` lists the entries with what keys them: the file's label
//! (its path as discovered), size, modification time and XXH3-128 content
//! hash, the window it was read with, and, for the whole cache, the cache
//! format, the goodhart version and the configuration hash.
//!
//! # When an entry is reused
//! A file's entry is reused when its label, size and content hash are those
//! stored (a file touched but not changed is reused; any byte changed is
//! re-read), and every timestamp of the file lies inside both the stored
//! window and tonight's (so no row changes between accepted and
//! `outside_window`). A different format, goodhart version or configuration
//! invalidates every entry. Entries of files no longer found (deleted, or
//! pruned because the window slid past their partition) are dropped.
//!
//! Folding the stored events gives the same accumulator as decoding the file
//! again (the fold is exact, associative and commutative), so the scan's
//! outputs are byte-identical to a cold scan's; `summary.json`'s
//! `feature_cache` says what was reused and what was read.
//!
//! # Killed runs
//! New entries are written to fresh directories; `manifest.json` is replaced
//! atomically once they are complete, and only then are the directories of
//! dropped entries removed. A run killed at any point leaves the old manifest
//! (with its complete entries) or the new one; directories no manifest lists
//! are removed by the next run. An entry whose files are missing or of the
//! wrong size is re-read; a stored run that fails to read makes the scan
//! fall back to a cold read of everything (with a warning).
//!
//! # Scope
//! The cache is used by the in-memory feature pass. A scan whose window needs
//! the bucketed pass ([`crate::bucketed`]) reads every file (the cache is left
//! as it is). The cache keeps hashed events and the user, session and model
//! names of the window, as the outputs do; no prompt text. `goodhart purge`
//! removes the entries whose newest row is older than `[retention]
//! state_days` ([`purge`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use goodhart_features::FeatureOptions;
use goodhart_io::{EventFile, EventRun, ReadOptions, RunWriter};
use goodhart_schema::{Counts, EventBatch, FileReport, IngestReport, Presence};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scan::{
    check_not_empty, duplicate_count, read_roster, Dataset, EventFold, FeatureRun, Window,
};
use crate::Error;

/// The cache's directory under the state directory.
pub const CACHE_DIR: &str = "feature-cache";
/// Version of the stored format; a different one invalidates every entry.
/// Bump it when the run format, validation or the fold changes.
pub const CACHE_FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const ENTRIES: &str = "entries";

/// How a scan uses the feature cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CacheMode {
    /// Reuse valid entries, store what was read (the default of `goodhart scan`).
    #[default]
    Incremental,
    /// Reuse nothing (`--full`); store what was read.
    Full,
    /// Reuse valid entries, store nothing (`--dry-run`).
    ReadOnly,
    /// Neither read nor write the cache.
    Off,
}

/// Where the cache is and how to use it.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// The cache directory (`<state>/feature-cache`).
    pub dir: PathBuf,
    /// How to use it.
    pub mode: CacheMode,
}

/// What the feature cache did in one scan (`summary.json`'s `feature_cache`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CacheSummary {
    /// `incremental`, `full`, `read-only` or `off`.
    pub mode: String,
    /// Why every file was read, when none could be reused (`--full`, no
    /// cache yet, another goodhart version, another configuration, ...).
    pub cold_reason: Option<String>,
    /// Files whose stored entry was used.
    pub files_reused: u64,
    /// Files decoded and validated: new, changed, or not reusable.
    pub files_read: u64,
    /// Of `files_read`: files with an entry that could not be reused
    /// (content changed, or rows no longer all inside the window).
    pub files_changed: u64,
    /// Stored entries dropped: their file is gone or out of the window.
    pub entries_dropped: u64,
    /// Rows (accepted + quarantined) taken from stored entries.
    pub rows_reused: u64,
    /// Rows decoded from files.
    pub rows_read: u64,
    /// Entries stored by this run (files read whose rows all lie in the window).
    pub entries_written: u64,
    /// Bytes the cache holds after this run.
    pub stored_bytes: u64,
    /// Warnings (a cache that could not be read or written; the scan went on).
    pub warnings: Vec<String>,
}

/// Milliseconds per step of a feature pass through the cache (all zero when
/// it fell back to a cold pass).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CacheTimings {
    /// Hashing the event files (content keys).
    pub hash: u64,
    /// Decoding, validating and folding the files read (and storing them).
    pub decode: u64,
    /// Folding the stored entries.
    pub stored: u64,
    /// Finishing the session and user tables.
    pub finalize: u64,
    /// Writing the manifest and removing dropped entries.
    pub publish: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    tool_version: String,
    config_hash: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    label: String,
    size: u64,
    /// Modification time, nanoseconds since the epoch (informational: the
    /// content hash decides).
    mtime_ns: i64,
    /// XXH3-128 of the file's bytes, hex.
    hash: String,
    /// The window the file was read with, `[start, end)` in microseconds.
    window: (i64, i64),
    /// Smallest and largest timestamp of the file's rows (accepted or
    /// quarantined), `None` when none had one.
    ts_range: Option<(i64, i64)>,
    counts: Counts,
    /// Entry directory, under `entries/`.
    dir: String,
    runs: Vec<StoredRun>,
    /// Quarantine files in the entry directory, in row order.
    quarantine: Vec<StoredFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRun {
    events: StoredFile,
    names: StoredFile,
    rows: u64,
    presence: Presence,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredFile {
    name: String,
    bytes: u64,
}

impl Entry {
    fn rows(&self) -> u64 {
        self.counts.rows_read
    }

    fn files(&self) -> impl Iterator<Item = &StoredFile> {
        self.runs
            .iter()
            .flat_map(|r| [&r.events, &r.names])
            .chain(&self.quarantine)
    }

    /// Every stored file is there with the size written.
    fn intact(&self, root: &Path) -> bool {
        let dir = root.join(ENTRIES).join(&self.dir);
        self.files().all(|f| {
            std::fs::metadata(dir.join(&f.name)).is_ok_and(|m| m.is_file() && m.len() == f.bytes)
        })
    }

    fn inside(&self, w: (i64, i64)) -> bool {
        match self.ts_range {
            None => true,
            Some((lo, hi)) => w.0 <= lo && hi < w.1,
        }
    }
}

/// A file's identity tonight.
struct Identity {
    size: u64,
    mtime_ns: i64,
    hash: String,
}

/// Modification time in nanoseconds since the epoch (0 when unknown).
fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Moves `p` into `dir` under its own name: the stored file, with its size.
fn store_file(p: &Path, dir: &Path) -> Result<StoredFile, Error> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = dir.join(&name);
    std::fs::rename(p, &to).map_err(write_err(&to))?;
    let bytes = std::fs::metadata(&to).map_err(write_err(&to))?.len();
    Ok(StoredFile { name, bytes })
}

fn identity(f: &EventFile) -> std::io::Result<Identity> {
    let meta = std::fs::metadata(&f.path)?;
    let mtime_ns = mtime_ns(&meta);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut file = std::fs::File::open(&f.path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Identity {
        size: meta.len(),
        mtime_ns,
        hash: format!("{:032x}", h.digest128()),
    })
}

/// The cache directory, locked for this run.
struct Locked {
    root: PathBuf,
    /// Held while the cache is in use (released when dropped).
    lock: std::fs::File,
    manifest: Option<Manifest>,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl Locked {
    /// Opens (creating) and locks the cache; `Ok(None)` when another run
    /// holds it. Directories no manifest lists (a killed run's) are removed.
    fn open(root: &Path, writable: bool) -> Result<Option<Locked>, Error> {
        if writable {
            std::fs::create_dir_all(root.join(ENTRIES)).map_err(write_err(root))?;
        } else if !root.join(MANIFEST).is_file() {
            return Ok(None);
        }
        let lock_path = root.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(write_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(write_err(&lock_path)(e)),
        }
        let manifest = std::fs::read(root.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok());
        let locked = Locked {
            root: root.to_path_buf(),
            lock,
            manifest,
        };
        if writable {
            locked.collect_garbage();
        }
        Ok(Some(locked))
    }

    /// Removes entry directories the manifest does not list, and stale
    /// manifest temporaries (best effort: a leftover is retried next run).
    fn collect_garbage(&self) {
        let listed: std::collections::HashSet<&str> = self
            .manifest
            .iter()
            .flat_map(|m| m.entries.iter().map(|e| e.dir.as_str()))
            .collect();
        if let Ok(rd) = std::fs::read_dir(self.root.join(ENTRIES)) {
            for e in rd.flatten() {
                let name = e.file_name();
                if !listed.contains(name.to_string_lossy().as_ref()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

/// Runs of one file written by this run (one per worker that read part of it).
#[derive(Default)]
struct Writers {
    open: Vec<(usize, RunWriter)>,
    ts: BTreeMap<usize, (i64, i64)>,
}

/// The result of [`features_cached`].
#[derive(Debug)]
pub struct CachedFeatures {
    /// The features, as a cold pass gives them.
    pub run: FeatureRun,
    /// What the cache reused and read.
    pub summary: CacheSummary,
    /// Steps of the feature pass.
    pub timings: CacheTimings,
    /// The cache's lock, held until this is dropped: the quarantine files of
    /// [`FeatureRun::quarantine_spilled`] may lie in the cache, and no other
    /// run may drop them before they are written out.
    lock: Option<std::fs::File>,
}

impl CachedFeatures {
    fn cold(run: FeatureRun, summary: CacheSummary) -> CachedFeatures {
        CachedFeatures {
            run,
            summary,
            timings: CacheTimings::default(),
            lock: None,
        }
    }

    /// Whether the cache's lock is held (released when this is dropped).
    pub fn holds_lock(&self) -> bool {
        self.lock.is_some()
    }
}

/// [`crate::scan::features_within`] through the feature cache: stored entries
/// are folded instead of their files, the files read are stored. The
/// [`FeatureRun`] is the one a cold pass gives (its quarantine is in
/// [`FeatureRun::quarantine_spilled`]).
///
/// `quarantine_spill` is where the rows set aside by files read go when
/// nothing is stored (read-only mode). `checkpoint` is called with named
/// points (fault injection in tests).
#[allow(clippy::too_many_arguments)]
pub fn features_cached(
    dataset: &Dataset,
    opts: &FeatureOptions,
    window: Window,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    quarantine_spill: &Path,
    budget: &crate::scan::MemoryBudget,
    cache: &CacheOptions,
    config_hash: &str,
    checkpoint: &dyn Fn(&str),
) -> Result<CachedFeatures, Error> {
    let mode_name = match cache.mode {
        CacheMode::Incremental => "incremental",
        CacheMode::Full => "full",
        CacheMode::ReadOnly => "read-only",
        CacheMode::Off => "off",
    };
    let mut summary = CacheSummary {
        mode: mode_name.to_string(),
        ..CacheSummary::default()
    };
    let mut timings = CacheTimings::default();
    let cold = |summary: &mut CacheSummary, reason: &str| -> Result<FeatureRun, Error> {
        summary.cold_reason = Some(reason.to_string());
        let run = crate::scan::features_within(
            dataset,
            opts,
            Some(window),
            progress,
            Some(quarantine_spill),
            budget,
        )?;
        summary.files_read = run.ingest.files_read;
        summary.rows_read = run.ingest.counts.rows_read;
        Ok(run)
    };
    if cache.mode == CacheMode::Off {
        let run = cold(&mut summary, "the feature cache is off")?;
        return Ok(CachedFeatures::cold(run, summary));
    }
    let dw = goodhart_io::DateWindow::from(window);
    let found = dataset.discover(Some(dw))?;
    let files = &found.files;
    if budget.buckets_for(files) > 1 {
        let run = cold(
            &mut summary,
            "the window needs the bucketed pass (memory limit); the cache is not used",
        )?;
        return Ok(CachedFeatures::cold(run, summary));
    }
    let writable = matches!(cache.mode, CacheMode::Incremental | CacheMode::Full);
    let mut locked = match Locked::open(&cache.dir, writable) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let reason = if writable {
                "another run holds the feature cache"
            } else {
                "no feature cache yet"
            };
            let run = cold(&mut summary, reason)?;
            return Ok(CachedFeatures::cold(run, summary));
        }
        Err(e) => {
            summary
                .warnings
                .push(format!("feature cache not used: {e}"));
            let run = cold(&mut summary, "the feature cache could not be opened")?;
            return Ok(CachedFeatures::cold(run, summary));
        }
    };

    // Which stored entries are valid for tonight.
    let t = Instant::now();
    let ids: Vec<std::io::Result<Identity>> = files.par_iter().map(identity).collect();
    timings.hash = t.elapsed().as_millis() as u64;
    let w = dw.as_tuple();
    let stored: BTreeMap<&str, &Entry> = match &locked.manifest {
        Some(m)
            if cache.mode != CacheMode::Full
                && m.format == CACHE_FORMAT
                && m.tool_version == crate::VERSION
                && m.config_hash == config_hash =>
        {
            m.entries.iter().map(|e| (e.label.as_str(), e)).collect()
        }
        other => {
            summary.cold_reason = Some(
                match other {
                    _ if cache.mode == CacheMode::Full => "--full",
                    None => "no feature cache yet",
                    Some(m) if m.format != CACHE_FORMAT => "another cache format",
                    Some(m) if m.tool_version != crate::VERSION => "another goodhart version",
                    Some(_) => "another configuration",
                }
                .to_string(),
            );
            BTreeMap::new()
        }
    };
    let mut reuse: Vec<(usize, Entry)> = Vec::new();
    let mut read: Vec<usize> = Vec::new();
    for (i, (f, id)) in files.iter().zip(&ids).enumerate() {
        let hit = match (stored.get(f.label.as_str()), id) {
            (Some(e), Ok(id)) => {
                let ok = e.size == id.size
                    && e.hash == id.hash
                    && e.inside(e.window)
                    && e.inside(w)
                    && e.intact(&locked.root);
                if !ok {
                    summary.files_changed += 1;
                }
                ok.then(|| (*e).clone())
            }
            _ => None,
        };
        match hit {
            Some(e) => reuse.push((i, e)),
            None => read.push(i),
        }
    }
    let kept: std::collections::HashSet<&str> = files.iter().map(|f| f.label.as_str()).collect();
    summary.entries_dropped = locked.manifest.as_ref().map_or(0, |m| {
        m.entries
            .iter()
            .filter(|e| !kept.contains(e.label.as_str()))
            .count() as u64
    });

    let days = window.days as usize;
    let start_us = dw.start_us;
    let mut fresh_entries: Vec<(usize, Entry)> = Vec::new();

    // 1. The files read: decoded, validated, folded, and stored.
    let t = Instant::now();
    let read_files: Vec<EventFile> = read.iter().map(|&i| files[i].clone()).collect();
    let nonce = format!(
        "{}-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        std::process::id()
    );
    let staging = locked.root.join(ENTRIES).join(format!("{nonce}-staging"));
    if writable {
        std::fs::create_dir_all(&staging).map_err(write_err(&staging))?;
    }
    let seq = AtomicUsize::new(0);
    let read_opts = ReadOptions {
        window: Some(dw),
        progress,
        quarantine_spill: Some(if writable {
            staging.as_path()
        } else {
            quarantine_spill
        }),
        ..ReadOptions::default()
    };
    let ingested = goodhart_io::try_fold_events_by_file(
        &read_files,
        &read_opts,
        || (EventFold::new(opts, days), Writers::default()),
        |(fold, writers), fi, b| {
            fold.add(b, start_us);
            if writable {
                let (lo, hi) = b
                    .ts_us
                    .iter()
                    .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
                let r = writers.ts.entry(fi).or_insert((lo, hi));
                *r = (r.0.min(lo), r.1.max(hi));
                let at = match writers.open.iter().position(|(f, _)| *f == fi) {
                    Some(at) => at,
                    None => {
                        let stem = format!("f{fi}-r{}", seq.fetch_add(1, Ordering::Relaxed));
                        writers.open.push((fi, RunWriter::create(&staging, &stem)?));
                        writers.open.len() - 1
                    }
                };
                let rows: Vec<u32> = (0..b.len() as u32).collect();
                writers.open[at].1.write(b, &rows)?;
            }
            Ok(())
        },
        |(fa, mut wa), (fb, wb)| {
            wa.open.extend(wb.open);
            for (k, (lo, hi)) in wb.ts {
                let r = wa.ts.entry(k).or_insert((lo, hi));
                *r = (r.0.min(lo), r.1.max(hi));
            }
            Ok((fa.merge(fb), wa))
        },
    )?;
    let (mut fold, writers) = ingested.value;
    timings.decode = t.elapsed().as_millis() as u64;
    summary.files_read = read_files.len() as u64;
    summary.rows_read = ingested.report.counts.rows_read;
    let report_of: BTreeMap<&str, &Counts> = ingested
        .report
        .files
        .iter()
        .map(|f| (f.file.as_str(), &f.counts))
        .collect();

    if writable {
        let mut runs: BTreeMap<usize, Vec<EventRun>> = BTreeMap::new();
        for (fi, w) in writers.open {
            runs.entry(fi).or_default().push(w.finish()?);
        }
        let mut quarantine: BTreeMap<usize, Vec<PathBuf>> = BTreeMap::new();
        for (p, &fi) in ingested
            .quarantine_spilled
            .iter()
            .zip(&ingested.quarantine_spilled_from)
        {
            quarantine.entry(fi).or_default().push(p.clone());
        }
        for (fi, f) in read_files.iter().enumerate() {
            let Some(Ok(id)) = ids.get(read[fi]) else {
                continue;
            };
            let counts = report_of
                .get(f.label.as_str())
                .map(|c| (*c).clone())
                .unwrap_or_default();
            // Rows outside the window: tonight's answer for this file depends
            // on the window; it is read again next time, not stored.
            if counts.reasons.contains_key("outside_window") || !identity_matches(f, id) {
                continue;
            }
            let q = quarantine.remove(&fi).unwrap_or_default();
            let mut range = writers.ts.get(&fi).copied();
            for p in &q {
                if let Some((lo, hi)) = quarantine_ts_range(p)? {
                    range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
            }
            let entry_runs = runs.remove(&fi).unwrap_or_default();
            let dir_name = format!("{nonce}-{fi}");
            let dir = locked.root.join(ENTRIES).join(&dir_name);
            let entry = Entry {
                label: f.label.clone(),
                size: id.size,
                mtime_ns: id.mtime_ns,
                hash: id.hash.clone(),
                window: w,
                ts_range: range,
                counts,
                dir: dir_name,
                runs: Vec::new(),
                quarantine: Vec::new(),
            };
            if !entry.inside(w) {
                continue;
            }
            std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
            let mut entry = entry;
            for r in entry_runs {
                entry.runs.push(StoredRun {
                    events: store_file(&r.events, &dir)?,
                    names: store_file(&r.names, &dir)?,
                    rows: r.rows,
                    presence: r.presence,
                });
            }
            for p in q {
                entry.quarantine.push(store_file(&p, &dir)?);
            }
            fresh_entries.push((read[fi], entry));
        }
        checkpoint("feature cache entries written");
    }

    // 2. The stored entries, folded as their files would have been.
    let t = Instant::now();
    let runs: Vec<EventRun> = reuse
        .iter()
        .flat_map(|(_, e)| {
            let dir = locked.root.join(ENTRIES).join(&e.dir);
            e.runs
                .iter()
                .map(move |r| EventRun {
                    events: dir.join(&r.events.name),
                    names: dir.join(&r.names.name),
                    rows: r.rows,
                    presence: r.presence,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let stored_fold = runs
        .par_iter()
        .map(|run| -> Result<EventFold, goodhart_io::IoError> {
            let mut f = EventFold::new(opts, days);
            goodhart_io::read_run_events(run, |b| {
                f.add(&b, start_us);
                if let Some(p) = progress {
                    p(b.len() as u64);
                }
                Ok(())
            })?;
            let names = goodhart_io::read_run_names(run)?;
            f.acc.add_batch(&EventBatch {
                names,
                ..EventBatch::default()
            });
            Ok(f)
        })
        .try_reduce(|| EventFold::new(opts, days), |a, b| Ok(a.merge(b)));
    let stored_fold = match stored_fold {
        Ok(f) => f,
        Err(e) => {
            // A damaged entry: tonight reads everything; the cache is rebuilt.
            drop(locked);
            let mut summary = CacheSummary {
                mode: mode_name.to_string(),
                ..CacheSummary::default()
            };
            summary.warnings.push(format!(
                "a stored entry could not be read ({e}); every file was read"
            ));
            let run = cold(&mut summary, "a stored entry could not be read")?;
            let _ = std::fs::remove_file(cache.dir.join(MANIFEST));
            return Ok(CachedFeatures::cold(run, summary));
        }
    };
    fold = fold.merge(stored_fold);
    timings.stored = t.elapsed().as_millis() as u64;
    summary.files_reused = reuse.len() as u64;
    summary.rows_reused = reuse.iter().map(|(_, e)| e.rows()).sum();

    // The accounting and quarantine, per file in label order, as a cold pass.
    let mut reports: Vec<FileReport> = ingested.report.files.clone();
    reports.extend(reuse.iter().map(|(_, e)| FileReport {
        file: e.label.clone(),
        counts: e.counts.clone(),
    }));
    let report = IngestReport::from_files(reports, found.pruned.len() as u64);
    check_not_empty(Some(window), &report, &found)?;
    let mut by_label: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (_, e) in reuse.iter().chain(&fresh_entries) {
        let dir = locked.root.join(ENTRIES).join(&e.dir);
        by_label.insert(
            e.label.clone(),
            e.quarantine.iter().map(|q| dir.join(&q.name)).collect(),
        );
    }
    // Files read but not stored: their rows set aside stay in spill files
    // (moved out of the cache's staging directory, which is removed).
    for (p, &fi) in ingested
        .quarantine_spilled
        .iter()
        .zip(&ingested.quarantine_spilled_from)
    {
        if !p.exists() {
            continue; // moved into an entry above
        }
        let p = if p.starts_with(&staging) {
            let to = quarantine_spill.join(format!(
                "cache-{}",
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            if std::fs::rename(p, &to).is_err() {
                std::fs::copy(p, &to).map_err(write_err(&to))?;
            }
            to
        } else {
            p.clone()
        };
        by_label
            .entry(read_files[fi].label.clone())
            .or_default()
            .push(p);
    }
    let quarantine_spilled: Vec<PathBuf> = by_label.into_values().flatten().collect();

    let t = Instant::now();
    let roster = read_roster(dataset)?;
    let duplicate_events = duplicate_count(std::mem::take(&mut fold.keys));
    let features = goodhart_features::finalize(fold.acc, opts, roster.as_ref())?;
    timings.finalize = t.elapsed().as_millis() as u64;

    // 3. Publish: the manifest lists tonight's entries (reused and new).
    let t = Instant::now();
    if writable {
        let mut entries: Vec<(usize, Entry)> = reuse.into_iter().chain(fresh_entries).collect();
        entries.sort_by_key(|(i, _)| *i);
        summary.entries_written = entries.len() as u64 - summary.files_reused;
        let manifest = Manifest {
            format: CACHE_FORMAT,
            tool_version: crate::VERSION.to_string(),
            config_hash: config_hash.to_string(),
            entries: entries.into_iter().map(|(_, e)| e).collect(),
        };
        summary.stored_bytes = manifest
            .entries
            .iter()
            .flat_map(|e| e.files().map(|f| f.bytes))
            .sum();
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Write {
            path: locked.root.join(MANIFEST),
            source: std::io::Error::other(e),
        })?;
        goodhart_io::write_bytes_atomic(&locked.root.join(MANIFEST), &bytes)?;
        checkpoint("feature cache manifest written");
        let _ = std::fs::remove_dir_all(&staging);
        // Dropped and replaced entries: no manifest lists them any more.
        locked.manifest = Some(manifest);
        locked.collect_garbage();
    }
    timings.publish = t.elapsed().as_millis() as u64;

    Ok(CachedFeatures {
        run: FeatureRun {
            features,
            ingest: report,
            quarantine: Vec::new(),
            quarantine_spilled,
            roster,
            skipped: found.skipped.iter().map(ToString::to_string).collect(),
            daily_events: fold.daily,
            duplicate_events,
            buckets: 1,
        },
        summary,
        timings,
        lock: Some(locked.lock),
    })
}

/// Removes the entries of the cache at `dir` whose newest row is before
/// `cutoff_us` (retention; `goodhart purge`), and returns how many. A missing
/// cache, or one another run holds, removes nothing.
pub fn purge(dir: &Path, cutoff_us: i64) -> Result<u64, Error> {
    let Some(locked) = Locked::open(dir, false)? else {
        return Ok(0);
    };
    let Some(mut manifest) = locked.manifest.clone() else {
        return Ok(0);
    };
    let before = manifest.entries.len();
    manifest
        .entries
        .retain(|e| e.ts_range.is_none_or(|(_, hi)| hi >= cutoff_us));
    let removed = (before - manifest.entries.len()) as u64;
    if removed > 0 {
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Write {
            path: dir.join(MANIFEST),
            source: std::io::Error::other(e),
        })?;
        goodhart_io::write_bytes_atomic(&dir.join(MANIFEST), &bytes)?;
        Locked {
            manifest: Some(manifest),
            ..locked
        }
        .collect_garbage();
    }
    Ok(removed)
}

/// Whether `f` still has the size and modification time hashed (a file
/// rewritten while it was read is not stored).
fn identity_matches(f: &EventFile, id: &Identity) -> bool {
    std::fs::metadata(&f.path).is_ok_and(|m| m.len() == id.size && mtime_ns(&m) == id.mtime_ns)
}

/// Smallest and largest non-null `ts` of a quarantine spill file.
fn quarantine_ts_range(path: &Path) -> Result<Option<(i64, i64)>, Error> {
    use arrow::array::AsArray;
    use arrow::datatypes::TimestampMicrosecondType;
    let mut range: Option<(i64, i64)> = None;
    for b in goodhart_io::read_parquet(path)? {
        let Some(col) = b.column_by_name("ts") else {
            continue;
        };
        let Some(ts) = col.as_primitive_opt::<TimestampMicrosecondType>() else {
            continue;
        };
        for t in ts.iter().flatten() {
            range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_at_a_time_holds_the_cache_and_leftovers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(CACHE_DIR);
        // A read-only open of a cache that does not exist yet finds nothing.
        assert!(Locked::open(&root, false).unwrap().is_none());
        let first = Locked::open(&root, true).unwrap().expect("free");
        // A second run (another open file description) is refused while the first holds it.
        assert!(Locked::open(&root, true).unwrap().is_none());
        // A killed run's directory, not in any manifest, is removed by the next open.
        std::fs::create_dir_all(root.join(ENTRIES).join("123-4-staging")).unwrap();
        drop(first);
        let second = Locked::open(&root, true).unwrap().expect("free again");
        assert_eq!(std::fs::read_dir(root.join(ENTRIES)).unwrap().count(), 0);
        drop(second);
    }

    #[test]
    fn an_entry_is_reusable_only_inside_both_windows_and_intact() {
        let dir = tempfile::tempdir().unwrap();
        let e = Entry {
            label: "x".into(),
            size: 1,
            mtime_ns: 0,
            hash: "0".into(),
            window: (0, 100),
            ts_range: Some((10, 20)),
            counts: Counts::default(),
            dir: "d".into(),
            runs: Vec::new(),
            quarantine: vec![StoredFile {
                name: "q.parquet".into(),
                bytes: 3,
            }],
        };
        assert!(e.inside((10, 21)));
        assert!(!e.inside((11, 100)), "a row before the window");
        assert!(!e.inside((0, 20)), "the end is exclusive");
        // The stored file must be there with its size.
        assert!(!e.intact(dir.path()));
        let d = dir.path().join(ENTRIES).join("d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("q.parquet"), b"abcd").unwrap();
        assert!(!e.intact(dir.path()), "wrong size");
        std::fs::write(d.join("q.parquet"), b"abc").unwrap();
        assert!(e.intact(dir.path()));
    }
}
