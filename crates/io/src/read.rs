//! Streaming, parallel read of events files: one `(file, row group)` per unit of work.

use crate::discover::{discover_all, DateWindow, EventFile};
use crate::error::{io_err, IoError};
use crate::write::write_parquet_atomic;
use arrow::record_batch::RecordBatch;
use goodhart_schema::{
    check_events_schema, normalize_at, quarantine_schema, Counts, EventBatch, FileReport,
    IngestReport, Presence, ValidateOptions,
};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use std::fs::File;
use std::path::Path;

/// Default number of rows per decoded batch.
pub const DEFAULT_BATCH_SIZE: usize = 64 * 1024;

/// How to read events.
#[derive(Clone, Copy)]
pub struct ReadOptions<'a> {
    /// Analysis window; rows outside are quarantined as `outside_window`.
    pub window: Option<DateWindow>,
    /// Rows per decoded batch (memory per worker thread grows with it). Must be > 0.
    pub batch_size: usize,
    /// Called (from worker threads) with the number of rows just processed,
    /// e.g. to advance a progress bar whose length is [`count_rows`].
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Keep the quarantined rows in [`Ingested::quarantine`] (default `true`).
    /// Their number is not bounded (e.g. a narrow window over unpartitioned
    /// data quarantines most rows as `outside_window`), so set it to `false`
    /// when they will not be written; the report counts them either way.
    pub keep_quarantine: bool,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            window: None,
            batch_size: DEFAULT_BATCH_SIZE,
            progress: None,
            keep_quarantine: true,
        }
    }
}

impl std::fmt::Debug for ReadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("window", &self.window)
            .field("batch_size", &self.batch_size)
            .field("progress", &self.progress.map(|_| "<callback>"))
            .field("keep_quarantine", &self.keep_quarantine)
            .finish()
    }
}

/// The result of [`fold_events`].
#[derive(Debug, Clone)]
pub struct Ingested<A> {
    /// The folded value (`reduce` of every worker's `fold`s).
    pub value: A,
    /// Row accounting, per file (sorted by file) and in total.
    pub report: IngestReport,
    /// Quarantined rows in [`quarantine_schema`] form, sorted by
    /// `(source_file, row_index)`.
    pub quarantine: Vec<RecordBatch>,
    /// Which optional columns any file had.
    pub presence: Presence,
}

struct FileMeta {
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    presence: Presence,
    /// `(row group, first row of the group within the file)`.
    groups: Vec<(usize, u64)>,
    rows: u64,
}

fn open_meta(f: &EventFile) -> Result<FileMeta, IoError> {
    let file = File::open(&f.path).map_err(io_err(&f.path))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| {
        IoError::NotParquet {
            path: f.path.clone(),
            detail: e.to_string(),
        }
    })?;
    let idx = check_events_schema(meta.schema(), &f.label)?;
    let mask = ProjectionMask::roots(meta.parquet_schema(), idx.present_fields());
    let mut groups = Vec::new();
    let mut rows = 0u64;
    for (i, rg) in meta.metadata().row_groups().iter().enumerate() {
        groups.push((i, rows));
        rows += u64::try_from(rg.num_rows()).unwrap_or(0);
    }
    Ok(FileMeta {
        meta,
        mask,
        presence: idx.presence(),
        groups,
        rows,
    })
}

/// Reads every file's footer (in parallel) and returns them in `files` order.
/// On failure the error of the first failing file (in `files` order) is returned,
/// so errors are deterministic too.
fn open_all(files: &[EventFile]) -> Result<Vec<FileMeta>, IoError> {
    let metas: Vec<Result<FileMeta, IoError>> = files.par_iter().map(open_meta).collect();
    metas.into_iter().collect()
}

/// Total number of rows in `files` (from the Parquet footers; no data is read).
///
/// Fails like [`fold_events`] on a missing, non-Parquet or wrongly typed file.
pub fn count_rows(files: &[EventFile]) -> Result<u64, IoError> {
    Ok(open_all(files)?.iter().map(|m| m.rows).sum())
}

/// One unit of work's output, keyed by its position in the global unit order.
struct UnitOut {
    unit: usize,
    counts: Counts,
    quarantine: Vec<RecordBatch>,
}

#[allow(clippy::too_many_arguments)]
fn read_unit<A>(
    file: &EventFile,
    fm: &FileMeta,
    group: usize,
    first_row: u64,
    opts: &ReadOptions<'_>,
    acc: &mut A,
    fold: &(impl Fn(&mut A, &EventBatch) + Sync),
) -> Result<(Counts, Vec<RecordBatch>), IoError> {
    let handle = File::open(&file.path).map_err(io_err(&file.path))?;
    let read_err = |source| IoError::Read {
        path: file.path.clone(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, fm.meta.clone())
        .with_projection(fm.mask.clone())
        .with_row_groups(vec![group])
        .with_batch_size(opts.batch_size)
        .build()
        .map_err(read_err)?;
    let vopts = ValidateOptions {
        window: opts.window.map(DateWindow::as_tuple),
    };
    let mut row = first_row;
    let mut counts = Counts::default();
    let mut quarantine = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| IoError::Read {
            path: file.path.clone(),
            source: e.into(),
        })?;
        let n = batch.num_rows() as u64;
        let out = normalize_at(&batch, &vopts, &file.label, row)?;
        row += n;
        if !out.events.is_empty() {
            fold(acc, &out.events);
        }
        counts.add(&out.counts);
        if opts.keep_quarantine && out.quarantine.num_rows() > 0 {
            quarantine.push(out.quarantine);
        }
        if let Some(p) = opts.progress {
            p(n);
        }
    }
    Ok((counts, quarantine))
}

/// Reads, validates and folds every event of `files` in one parallel pass.
///
/// Each file's footer is read first (its schema checked, so a bad file fails
/// before any work is done); then every `(file, row group)` is a rayon task:
/// only the canonical columns the file has are decoded (column projection),
/// in batches of [`ReadOptions::batch_size`] rows, each batch validated by
/// [`normalize_at`] and its accepted rows handed to `fold` on that worker's
/// accumulator (`init()` makes one per worker split); accumulators are then
/// combined with `reduce`. Memory is bounded by the accumulators plus one
/// batch per worker thread, never the whole dataset.
///
/// `fold` and `reduce` must be associative and commutative (work is split
/// differently with different thread counts). The report and the quarantine
/// are made deterministic here: counts are integer sums, files are sorted by
/// label, and quarantine batches are ordered by `(source_file, row_index)`.
///
/// ```no_run
/// use goodhart_io::{discover, fold_events, ReadOptions};
/// let files = discover(std::path::Path::new("events/"), None)?;
/// let out = fold_events(
///     &files,
///     &ReadOptions::default(),
///     || 0u64,
///     |sum, b| *sum += b.output_tokens.iter().sum::<u64>(),
///     |a, b| a + b,
/// )?;
/// println!("{} output tokens in {} rows", out.value, out.report.counts.rows_accepted);
/// # Ok::<(), goodhart_io::IoError>(())
/// ```
pub fn fold_events<A: Send>(
    files: &[EventFile],
    opts: &ReadOptions<'_>,
    init: impl Fn() -> A + Sync + Send,
    fold: impl Fn(&mut A, &EventBatch) + Sync + Send,
    reduce: impl Fn(A, A) -> A + Sync + Send,
) -> Result<Ingested<A>, IoError> {
    if opts.batch_size == 0 {
        return Err(IoError::InvalidOption {
            option: "batch_size",
            message: "must be at least 1 (the default is 65536)".to_string(),
        });
    }
    // Files in label order, so that units (and so the quarantine) come out
    // sorted by (source_file, row_index) whatever order the caller used.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| files[a].label.cmp(&files[b].label));
    let owned: Vec<EventFile> = order.iter().map(|&i| files[i].clone()).collect();
    let metas = open_all(&owned)?;

    let units: Vec<(usize, usize, u64)> = metas
        .iter()
        .enumerate()
        .flat_map(|(fi, m)| m.groups.iter().map(move |&(g, first)| (fi, g, first)))
        .collect();

    let (value, mut outs) = units
        .par_iter()
        .enumerate()
        .try_fold(
            || (init(), Vec::<UnitOut>::new()),
            |(mut acc, mut outs), (ui, &(fi, g, first))| {
                let (counts, quarantine) =
                    read_unit(&owned[fi], &metas[fi], g, first, opts, &mut acc, &fold)?;
                outs.push(UnitOut {
                    unit: ui,
                    counts,
                    quarantine,
                });
                Ok::<_, IoError>((acc, outs))
            },
        )
        .try_reduce(
            || (init(), Vec::new()),
            |(a, mut ao), (b, bo)| {
                ao.extend(bo);
                Ok((reduce(a, b), ao))
            },
        )?;
    outs.sort_by_key(|o| o.unit);

    let mut per_file: Vec<Counts> = vec![Counts::default(); owned.len()];
    let mut quarantine = Vec::new();
    for o in outs {
        per_file[units[o.unit].0].add(&o.counts);
        quarantine.extend(o.quarantine);
    }
    let reports = owned
        .iter()
        .zip(per_file)
        .map(|(f, counts)| FileReport {
            file: f.label.clone(),
            counts,
        })
        .collect();
    let presence = metas
        .iter()
        .fold(Presence::default(), |p, m| p.union(m.presence));
    Ok(Ingested {
        value,
        report: IngestReport::from_files(reports, 0),
        quarantine,
        presence,
    })
}

/// [`discover_all`] + [`fold_events`]: reads the dataset at `path`, with
/// `date=` partitions outside `opts.window` pruned (counted in
/// `report.files_pruned`).
pub fn fold_dataset<A: Send>(
    path: &Path,
    opts: &ReadOptions<'_>,
    init: impl Fn() -> A + Sync + Send,
    fold: impl Fn(&mut A, &EventBatch) + Sync + Send,
    reduce: impl Fn(A, A) -> A + Sync + Send,
) -> Result<Ingested<A>, IoError> {
    let d = discover_all(path, opts.window)?;
    let mut out = fold_events(&d.files, opts, init, fold, reduce)?;
    out.report.files_pruned = d.pruned.len() as u64;
    Ok(out)
}

/// Validates the dataset at `path` without computing anything (`goodhart validate`).
///
/// Returns the row accounting per file and per reason; when `quarantine_out`
/// is given, writes the quarantined rows there (atomically, as Parquet in
/// [`quarantine_schema`] form, sorted by `(source_file, row_index)`; an
/// empty file when nothing was quarantined).
pub fn validate(
    path: &Path,
    window: Option<DateWindow>,
    quarantine_out: Option<&Path>,
) -> Result<IngestReport, IoError> {
    let opts = ReadOptions {
        window,
        keep_quarantine: quarantine_out.is_some(),
        ..ReadOptions::default()
    };
    let out = fold_dataset(path, &opts, || (), |_, _| {}, |_, _| {})?;
    if let Some(q) = quarantine_out {
        write_parquet_atomic(q, quarantine_schema(), &out.quarantine)?;
    }
    Ok(out.report)
}
