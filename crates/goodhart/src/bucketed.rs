//! The bucketed feature pass: peak memory follows a limit, not the number of
//! events (#15).
//!
//! The in-memory pass ([`crate::scan::features`]) keeps every session's
//! per-request records for the whole window, so its memory grows with the
//! events. Users are independent until the cohort baselines, except for the
//! organisation-wide common-prompt rule (distinct users per task hash), which
//! [`goodhart_features::org`] computes exactly over parts. So when the
//! working set would not fit [`MemoryBudget::limit`], the pass is split by
//! user into `B` buckets:
//!
//! 1. **split**: one parallel read of the files (the same
//!    [`goodhart_io::try_fold_events`] as the in-memory pass, so the row
//!    accounting, quarantine, progress and errors are the same); each
//!    validated batch is split by a well-mixed hash of the user hash modulo
//!    `B` and the parts are appended to one spilled run per bucket (Arrow
//!    IPC, [`goodhart_io::RunWriter`]) in a scratch directory; the events
//!    per day are counted on the way;
//! 2. **phase 1**, bucket by bucket: fold the bucket's run, count its
//!    duplicate events (a duplicate repeats its user, so it lies in the same
//!    bucket), and keep only [`goodhart_features::task_users`], reduced to
//!    distinct users per task hash (buckets hold disjoint users, so the
//!    organisation's counts are the sums), written sorted to a scratch file;
//! 3. the common prompts: a streaming merge of those files into
//!    [`CommonPrompts::from_counts`] (the threshold comes from the number of
//!    users in the window, the sum over buckets);
//! 4. **phase 2**, bucket by bucket: fold the run again and
//!    [`goodhart_features::finalize_with`] it with the common prompts, the
//!    window fixed for every bucket and the whole organisation's
//!    optional-column presence;
//! 5. [`goodhart_features::concat_parts`] puts the rows in the in-memory
//!    order.
//!
//! Peak memory is then about one bucket's fold state plus the finished
//! tables, at the cost of writing and twice reading the accepted events
//! (about 130 bytes each) on the scratch file system.

use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use goodhart_features::{CommonPrompts, FeatureOptions, Features, SessionAccumulator};
use goodhart_io::{EventFile, EventRun, Ingested, IoError, ReadOptions, RunWriter};
use goodhart_schema::{EventBatch, Presence, Roster};
use rayon::prelude::*;

use crate::Error;

/// Estimated peak memory of the in-memory feature pass per event row read,
/// in bytes. Measured (BENCHMARKS.md, "Memory limit"): peak RSS of
/// `goodhart features` / `goodhart scan` in memory on the 10M-event
/// synthetic organisation (8000 users, 21 days) divided by its rows, release
/// build with mimalloc: 1363 MiB / 10,438,507 rows = 137 bytes (the scan:
/// 135). It covers the fold state (a 32-byte record per request and context
/// load, 8 per other event, growth slack of the lists, the session maps),
/// the 8-byte event keys of the duplicate count and the finished tables. It
/// is an estimate: rows are counted from the Parquet footers before
/// reading, so rows later quarantined count too, and organisations with
/// other mixes of events differ.
pub const ESTIMATED_BYTES_PER_ROW: u64 = 140;

/// At most this many buckets: each is two open scratch files during the
/// split and one pass over its run per phase.
pub const MAX_BUCKETS: usize = 128;

/// Share of the memory available at start used when no limit is given.
pub const DEFAULT_LIMIT_SHARE: f64 = 0.5;

/// Default limit where the available memory cannot be read (not Linux).
pub const FALLBACK_LIMIT_BYTES: u64 = 4 << 30;

/// How much memory the feature pass may use, and where it spills.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes the feature pass should stay within (`None`: no limit, in memory).
    pub limit: Option<u64>,
    /// Use this many buckets whatever the estimate (tests, benchmarks); 1 = in memory.
    pub buckets: Option<NonZeroUsize>,
    /// Directory for the scratch files (a fresh subdirectory is made and
    /// removed). `None`: the quarantine spill directory when there is one
    /// (beside the outputs), else the system's temporary directory.
    pub scratch: Option<PathBuf>,
}

impl MemoryBudget {
    /// No limit: the in-memory pass.
    pub fn unlimited() -> MemoryBudget {
        MemoryBudget::default()
    }

    /// A limit of `bytes`.
    pub fn limit(bytes: u64) -> MemoryBudget {
        MemoryBudget {
            limit: Some(bytes),
            ..MemoryBudget::default()
        }
    }

    /// Exactly `n` buckets (1: in memory).
    pub fn buckets(n: NonZeroUsize) -> MemoryBudget {
        MemoryBudget {
            buckets: Some(n),
            ..MemoryBudget::default()
        }
    }

    /// The number of buckets for `rows` event rows: the forced count, else
    /// `ceil(rows × ESTIMATED_BYTES_PER_ROW / limit)` between 1 and
    /// [`MAX_BUCKETS`] (1 without a limit).
    ///
    /// ```
    /// use goodhart::bucketed::MemoryBudget;
    /// assert_eq!(MemoryBudget::unlimited().plan(1 << 40), 1);
    /// let gb = 1u64 << 30;
    /// assert_eq!(MemoryBudget::limit(gb).plan(7_000_000), 1); // ~0.98 GB needed
    /// assert_eq!(MemoryBudget::limit(gb / 8).plan(7_000_000), 8);
    /// assert_eq!(MemoryBudget::limit(1).plan(10_000_000), 128);
    /// ```
    pub fn plan(&self, rows: u64) -> usize {
        if let Some(n) = self.buckets {
            return n.get().min(MAX_BUCKETS);
        }
        let Some(limit) = self.limit else { return 1 };
        let need = rows.saturating_mul(ESTIMATED_BYTES_PER_ROW);
        let b = need.div_ceil(limit.max(1));
        (b.clamp(1, MAX_BUCKETS as u64)) as usize
    }

    /// [`MemoryBudget::plan`] for `files`: their rows from the Parquet
    /// footers only (no data read). A file that cannot be opened is left for
    /// the pass to report, as it would be without a limit.
    pub fn buckets_for(&self, files: &[goodhart_io::EventFile]) -> usize {
        match (self.buckets, self.limit) {
            (None, None) => 1,
            (Some(_), _) => self.plan(0),
            (None, Some(_)) => goodhart_io::count_rows(files).map_or(1, |rows| self.plan(rows)),
        }
    }
}

/// The default memory limit: [`DEFAULT_LIMIT_SHARE`] of `MemAvailable` in
/// `/proc/meminfo` at start (Linux), else [`FALLBACK_LIMIT_BYTES`].
pub fn default_memory_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_available(&s))
        .map_or(FALLBACK_LIMIT_BYTES, |b| {
            ((b as f64) * DEFAULT_LIMIT_SHARE) as u64
        })
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut f = line.split_whitespace().skip(1);
    let n: u64 = f.next()?.parse().ok()?;
    match f.next() {
        Some("kB") | None => n.checked_mul(1024),
        _ => None,
    }
}

/// Parses a size: a number (decimals allowed) and a unit, `B`, `K`/`KB`/`KiB`,
/// `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (case-insensitive; every unit is
/// binary: 1 GB = 1 GiB = 2^30 bytes); a bare number is bytes.
///
/// ```
/// use goodhart::bucketed::parse_size;
/// assert_eq!(parse_size("2GB"), Ok(2 << 30));
/// assert_eq!(parse_size("512MiB"), Ok(512 << 20));
/// assert_eq!(parse_size("1.5G"), Ok(3 << 29));
/// assert_eq!(parse_size(" 64 kb "), Ok(64 << 10));
/// assert_eq!(parse_size("1000"), Ok(1000));
/// assert!(parse_size("0").is_err());
/// assert!(parse_size("2 parsecs").is_err());
/// assert!(parse_size("-1G").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        format!(
            "{s:?} is not a size; write a number and a unit, e.g. 2GB, 512MiB or 1.5G \
             (units B, K, M, G, T; binary: 1G = 1024 MiB)"
        )
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!(
            "{s:?} is not a usable size; give at least 1 byte, e.g. 2GB"
        ));
    }
    Ok(bytes.round() as u64)
}

/// The bucket of a user: a well-mixed hash of the user hash (xxh3 of its
/// bytes; the user hash itself may be structured) modulo `buckets`.
pub fn bucket_of(user: u64, buckets: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(&user.to_le_bytes()) % buckets as u64) as usize
}

/// What the split pass leaves: one run per bucket, the events per day and
/// the last event time.
pub(crate) struct Split {
    runs: Vec<EventRun>,
    /// Accepted events per day of the window.
    pub daily: Vec<u64>,
    /// Latest accepted event time (`i64::MIN`: none).
    max_ts: i64,
}

/// The per-worker state of the split pass (the runs are shared).
struct SplitState {
    daily: Vec<u64>,
    max_ts: i64,
}

/// Step 1: reads `files` once, as the in-memory pass does, splitting every
/// validated batch by user into `buckets` runs in `dir`.
pub(crate) fn split(
    files: &[EventFile],
    read: &ReadOptions<'_>,
    buckets: usize,
    (days, start_us): (usize, i64),
    dir: &Path,
) -> Result<Ingested<Split>, Error> {
    let writers: Vec<Mutex<RunWriter>> = (0..buckets)
        .map(|k| RunWriter::create(dir, &format!("bucket-{k:04}")).map(Mutex::new))
        .collect::<Result<_, _>>()?;
    let ingested = goodhart_io::try_fold_events(
        files,
        read,
        || SplitState {
            daily: vec![0u64; days],
            max_ts: i64::MIN,
        },
        |st, batch| {
            let mut rows: Vec<Vec<u32>> = vec![Vec::new(); buckets];
            for (i, &u) in batch.user.iter().enumerate() {
                rows[bucket_of(u, buckets)].push(i as u32);
            }
            for (k, r) in rows.iter().enumerate() {
                if !r.is_empty() {
                    writers[k]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .write(batch, r)?;
                }
            }
            for &ts in &batch.ts_us {
                st.max_ts = st.max_ts.max(ts);
                crate::scan::count_day(&mut st.daily, start_us, ts);
            }
            Ok(())
        },
        |mut a, b| {
            for (x, y) in a.daily.iter_mut().zip(b.daily) {
                *x += y;
            }
            a.max_ts = a.max_ts.max(b.max_ts);
            Ok(a)
        },
    )?;
    let runs = writers
        .into_iter()
        .map(|w| {
            w.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .finish()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Ingested {
        value,
        report,
        quarantine,
        quarantine_spilled,
        quarantine_spilled_from,
        presence,
    } = ingested;
    Ok(Ingested {
        value: Split {
            runs,
            daily: value.daily,
            max_ts: value.max_ts,
        },
        report,
        quarantine,
        quarantine_spilled,
        quarantine_spilled_from,
        presence,
    })
}

/// Folds a run into an accumulator in parallel, with, when `keys` is set,
/// the event keys of its rows. A reader thread decodes the run into a short
/// queue; rayon's workers fold what it has decoded, so memory holds the fold
/// state and a few batches.
fn fold_run(
    run: &EventRun,
    opts: &FeatureOptions,
    keys: bool,
) -> Result<(SessionAccumulator, Vec<u64>), Error> {
    let names = goodhart_io::read_run_names(run)?;
    // A bounded channel: the reader stays at most `cap` batches ahead.
    let cap = 2 * rayon::current_num_threads().max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<EventBatch>(cap);
    let (read, (mut acc, k)) = std::thread::scope(|s| {
        // An OS thread, not a rayon task: the workers below block waiting for it.
        let reader = s.spawn(move || {
            // The workers only stop once the reader has dropped `tx`, so a
            // send cannot fail.
            goodhart_io::read_run_events(run, |b| {
                let _ = tx.send(b);
                Ok(())
            })
        });
        let folded = rx
            .into_iter()
            .par_bridge()
            .fold(
                || (SessionAccumulator::with_options(opts), Vec::<u64>::new()),
                |(mut acc, mut k), b| {
                    acc.add_batch(&b);
                    if keys {
                        k.extend((0..b.len()).map(|i| crate::scan::event_key(&b, i)));
                    }
                    (acc, k)
                },
            )
            .reduce(
                || (SessionAccumulator::with_options(opts), Vec::new()),
                |(a, mut ka), (b, kb)| {
                    ka.extend(kb);
                    (SessionAccumulator::merge(a, b), ka)
                },
            );
        let read = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (read, folded)
    });
    read?;
    // The run's names (the batches read back carry none).
    acc.add_batch(&EventBatch {
        names,
        ..EventBatch::default()
    });
    Ok((acc, k))
}

fn scratch_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| {
        Error::Io(IoError::Spill {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// Distinct users per task hash of one bucket, sorted by task, as
/// little-endian `(task, users)` pairs.
fn write_counts(path: &Path, pairs: &[(u64, u64)]) -> Result<(), Error> {
    let file = std::fs::File::create(path).map_err(scratch_err(path))?;
    let mut w = BufWriter::new(file);
    for g in pairs.chunk_by(|a, b| a.0 == b.0) {
        w.write_all(&g[0].0.to_le_bytes())
            .and_then(|()| w.write_all(&(g.len() as u64).to_le_bytes()))
            .map_err(scratch_err(path))?;
    }
    w.flush().map_err(scratch_err(path))
}

struct CountReader {
    path: PathBuf,
    r: BufReader<std::fs::File>,
}

impl CountReader {
    fn next(&mut self) -> Result<Option<(u64, u64)>, Error> {
        let mut buf = [0u8; 16];
        match self.r.read_exact(&mut buf) {
            Ok(()) => {
                let (a, b) = buf.split_at(8);
                Ok(Some((
                    u64::from_le_bytes(a.try_into().expect("8 bytes")),
                    u64::from_le_bytes(b.try_into().expect("8 bytes")),
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(scratch_err(&self.path)(e)),
        }
    }
}

/// Step 3: the organisation's common prompts from the per-bucket counts
/// (a k-way merge; only the common task hashes are kept in memory).
fn common_prompts(
    opts: &FeatureOptions,
    n_users: usize,
    files: &[PathBuf],
) -> Result<CommonPrompts, Error> {
    let mut readers = Vec::with_capacity(files.len());
    for p in files {
        let f = std::fs::File::open(p).map_err(scratch_err(p))?;
        readers.push(CountReader {
            path: p.clone(),
            r: BufReader::new(f),
        });
    }
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some((t, n)) = r.next()? {
            heap.push(std::cmp::Reverse((t, i, n)));
        }
    }
    let mut merged: Vec<(u64, usize)> = Vec::new();
    let threshold = opts.common_prompt_threshold(n_users);
    let mut current: Option<(u64, u64)> = None;
    while let Some(std::cmp::Reverse((t, i, n))) = heap.pop() {
        match &mut current {
            Some((ct, cn)) if *ct == t => *cn += n,
            _ => {
                if let Some((ct, cn)) = current.take() {
                    if cn as usize >= threshold {
                        merged.push((ct, cn as usize));
                    }
                }
                current = Some((t, n));
            }
        }
        if let Some((t2, n2)) = readers[i].next()? {
            heap.push(std::cmp::Reverse((t2, i, n2)));
        }
    }
    if let Some((ct, cn)) = current {
        if cn as usize >= threshold {
            merged.push((ct, cn as usize));
        }
    }
    Ok(CommonPrompts::from_counts(threshold, merged))
}

impl Split {
    /// Steps 2 to 5: the features of the whole organisation and its
    /// duplicate-event count. `dir` holds the per-bucket count files.
    pub(crate) fn features(
        &self,
        opts: &FeatureOptions,
        roster: Option<&Roster>,
        dir: &Path,
    ) -> Result<(Features, u64), Error> {
        // Every bucket must use the window the whole organisation would:
        // without `as_of` it ends with the day of the last event.
        let mut opts = opts.clone();
        if opts.as_of.is_none() && self.max_ts != i64::MIN {
            opts.as_of =
                chrono::DateTime::from_timestamp_micros(self.max_ts).map(|t| t.date_naive());
        }
        let presence = self
            .runs
            .iter()
            .fold(Presence::default(), |p, r| p.union(r.presence));

        // Phase 1.
        let mut duplicates = 0u64;
        let mut n_users = 0usize;
        let mut count_files = Vec::with_capacity(self.runs.len());
        for (k, run) in self.runs.iter().enumerate() {
            let (acc, keys) = fold_run(run, &opts, true)?;
            duplicates += crate::scan::duplicate_count(keys);
            let t = goodhart_features::task_users(&acc, &opts);
            drop(acc);
            n_users += t.users.len();
            let path = dir.join(format!("bucket-{k:04}.tasks"));
            write_counts(&path, &t.pairs)?;
            count_files.push(path);
        }
        let common = common_prompts(&opts, n_users, &count_files)?;
        for p in &count_files {
            let _ = std::fs::remove_file(p);
        }

        // Phase 2.
        let mut parts = Vec::with_capacity(self.runs.len());
        for run in &self.runs {
            let (mut acc, _) = fold_run(run, &opts, false)?;
            acc.add_presence(presence);
            parts.push(goodhart_features::finalize_with(
                acc,
                &opts,
                roster,
                Some(&common),
            )?);
        }
        Ok((goodhart_features::concat_parts(parts)?, duplicates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_bytes() {
        let info =
            "MemTotal:       24598204 kB\nMemFree:         1000 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(mem_available(info), Some(22_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
        assert!(default_memory_limit() > 0);
    }

    #[test]
    fn buckets_are_well_spread_for_sequential_user_hashes() {
        // Structured hashes (here: consecutive integers) still fill every bucket evenly.
        let mut per = [0usize; 7];
        for u in 0..7_000u64 {
            per[bucket_of(u, 7)] += 1;
        }
        assert!(per.iter().all(|&n| (850..1150).contains(&n)), "{per:?}");
    }
}
