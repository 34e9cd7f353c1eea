//! The pipeline on record batches already in memory (an embedding program's
//! Arrow tables, a Python caller's pyarrow or polars frames), with no file in
//! between: [`features_from_batches`]; [`crate::Pipeline`] runs the whole
//! analysis (features, scores, waste, alert candidates and a summary) on
//! them without the alert lifecycle or the output files that
//! [`crate::scan::scan`] writes.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
//! use goodhart::batches::features_from_batches;
//! use goodhart::features::FeatureOptions;
//!
//! let ts = TimestampMicrosecondArray::from(vec![1_717_171_200_000_000, 1_717_171_260_000_000])
//!     .with_timezone("UTC");
//! let batch = RecordBatch::try_from_iter([
//!     ("ts", Arc::new(ts) as ArrayRef),
//!     ("user_id", Arc::new(StringArray::from(vec!["ann", "ann"])) as ArrayRef),
//!     ("session_id", Arc::new(StringArray::from(vec!["s1", "s1"])) as ArrayRef),
//!     ("event", Arc::new(StringArray::from(vec!["request", "bogus"])) as ArrayRef),
//!     ("input_tokens", Arc::new(UInt64Array::from(vec![100, 100])) as ArrayRef),
//! ])?;
//! let run = features_from_batches([Ok(batch)], "events", &FeatureOptions::default(), None, None, None)?;
//! let c = &run.ingest.counts;
//! assert_eq!((c.rows_read, c.rows_accepted, c.rows_quarantined), (2, 1, 1));
//! assert_eq!(run.features.users.num_rows(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use goodhart_features::{CommonPrompts, FeatureOptions, SessionAccumulator, TaskUsers};
use goodhart_schema::{normalize_at, Counts, FileReport, IngestReport, Roster, ValidateOptions};
use rayon::prelude::*;

use crate::scan::{event_key, FeatureRun, Window};
use crate::Error;

/// Asked between chunks of work: `true` stops the run with [`Error::Interrupted`].
pub type Cancel<'a> = &'a (dyn Fn() -> bool + Sync);

/// Features of events given as Arrow record batches, validated exactly as
/// rows read from Parquet files are ([`normalize_at`]: same checks, same
/// quarantine reasons; rows outside `window` are quarantined as
/// `outside_window`).
///
/// `source` names the input in error messages and in the ingest report (as
/// a file name would). Batches are pulled from `batches` a few at a time (two
/// per worker thread), validated and folded in parallel, so memory holds the
/// accumulators plus those few batches, never the whole stream; the batches
/// themselves are read in place, not copied. `cancel` is asked between those
/// chunks. The result does not depend on the thread count or on how the rows
/// are split into batches.
///
/// # Errors
/// [`Error::Io`] (schema) when the batches lack a required column or have one
/// of a wrong type, [`Error::Stream`] when the stream fails, [`Error::Features`]
/// for bad options, [`Error::Interrupted`] when `cancel` said so.
pub fn features_from_batches<I>(
    batches: I,
    source: &str,
    opts: &FeatureOptions,
    window: Option<Window>,
    roster: Option<Roster>,
    cancel: Option<Cancel<'_>>,
) -> Result<FeatureRun, Error>
where
    I: IntoIterator<Item = Result<RecordBatch, ArrowError>>,
{
    let folded = fold_batches(batches, source, opts, window, cancel)?;
    folded.finish(source, opts, roster, None)
}

/// Phase 1 of the features of one part of an organisation (see
/// [`goodhart_features::org`]): the part's users in the window and its
/// distinct `(task hash, user)` request pairs. Batches are validated as in
/// [`features_from_batches`].
///
/// # Errors
/// As [`features_from_batches`].
pub fn task_users_from_batches<I>(
    batches: I,
    source: &str,
    opts: &FeatureOptions,
    window: Option<Window>,
    cancel: Option<Cancel<'_>>,
) -> Result<TaskUsers, Error>
where
    I: IntoIterator<Item = Result<RecordBatch, ArrowError>>,
{
    let folded = fold_batches(batches, source, opts, window, cancel)?;
    Ok(goodhart_features::task_users(&folded.acc, opts))
}

/// Phase 2 of the features of one part of an organisation (e.g. one user's
/// events): [`features_from_batches`] with the organisation's common prompts
/// (from every part's [`task_users_from_batches`]) instead of the part's own.
/// The part's session and user rows are then those of a run over the whole
/// organisation.
///
/// # Errors
/// As [`features_from_batches`].
pub fn part_features_from_batches<I>(
    batches: I,
    source: &str,
    opts: &FeatureOptions,
    window: Option<Window>,
    roster: Option<Roster>,
    common: &CommonPrompts,
) -> Result<FeatureRun, Error>
where
    I: IntoIterator<Item = Result<RecordBatch, ArrowError>>,
{
    let folded = fold_batches(batches, source, opts, window, None)?;
    folded.finish(source, opts, roster, Some(common))
}

/// The fold over validated batches, before `finalize`.
struct Folded {
    acc: SessionAccumulator,
    counts: Counts,
    quarantine: Vec<RecordBatch>,
    duplicate_events: u64,
}

impl Folded {
    fn finish(
        self,
        source: &str,
        opts: &FeatureOptions,
        roster: Option<Roster>,
        common: Option<&CommonPrompts>,
    ) -> Result<FeatureRun, Error> {
        let features = goodhart_features::finalize_with(self.acc, opts, roster.as_ref(), common)?;
        let ingest = IngestReport::from_files(
            vec![FileReport {
                file: source.to_string(),
                counts: self.counts,
            }],
            0,
        );
        // In-memory batches have no files to skip and no hive days.
        Ok(FeatureRun {
            features,
            ingest,
            quarantine: self.quarantine,
            quarantine_spilled: Vec::new(),
            roster,
            skipped: Vec::new(),
            daily_events: Vec::new(),
            duplicate_events: self.duplicate_events,
            buckets: 1,
        })
    }
}

fn fold_batches<I>(
    batches: I,
    source: &str,
    opts: &FeatureOptions,
    window: Option<Window>,
    cancel: Option<Cancel<'_>>,
) -> Result<Folded, Error>
where
    I: IntoIterator<Item = Result<RecordBatch, ArrowError>>,
{
    opts.validate()?;
    let vopts = ValidateOptions {
        window: window.map(|w| goodhart_io::DateWindow::from(w).as_tuple()),
    };
    let chunk_len = 2 * rayon::current_num_threads().max(1);
    let mut acc = SessionAccumulator::with_options(opts);
    let mut counts = Counts::default();
    let mut quarantine = Vec::new();
    let mut next_row = 0u64;
    // Identity keys of the accepted events, for the duplicate count (as the
    // dataset path counts them: 8 bytes per accepted row until the end).
    let mut keys: Vec<u64> = Vec::new();
    let mut it = batches.into_iter();
    loop {
        if cancel.is_some_and(|c| c()) {
            return Err(Error::Interrupted);
        }
        let mut chunk = Vec::with_capacity(chunk_len);
        for b in it.by_ref().take(chunk_len) {
            let b = b.map_err(|e| Error::Stream {
                source_name: source.to_string(),
                message: e.to_string(),
            })?;
            let first = next_row;
            next_row += b.num_rows() as u64;
            chunk.push((first, b));
        }
        if chunk.is_empty() {
            break;
        }
        let normalized = chunk
            .par_iter()
            .map(|(first, b)| normalize_at(b, &vopts, source, *first))
            .collect::<Result<Vec<_>, _>>()
            .map_err(goodhart_io::IoError::from)?;
        let (part, part_keys) = normalized
            .par_iter()
            .fold(
                || (SessionAccumulator::with_options(opts), Vec::new()),
                |(mut a, mut k), n| {
                    if !n.events.is_empty() {
                        a.add_batch(&n.events);
                        k.extend((0..n.events.len()).map(|i| event_key(&n.events, i)));
                    }
                    (a, k)
                },
            )
            .reduce(
                || (SessionAccumulator::with_options(opts), Vec::new()),
                |(a, mut ka), (b, kb)| {
                    ka.extend(kb);
                    (SessionAccumulator::merge(a, b), ka)
                },
            );
        acc = acc.merge(part);
        keys.extend(part_keys);
        for n in normalized {
            counts.add(&n.counts);
            if n.quarantine.num_rows() > 0 {
                quarantine.push(n.quarantine);
            }
        }
    }
    if cancel.is_some_and(|c| c()) {
        return Err(Error::Interrupted);
    }
    keys.par_sort_unstable();
    let duplicate_events = keys.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    Ok(Folded {
        acc,
        counts,
        quarantine,
        duplicate_events,
    })
}
