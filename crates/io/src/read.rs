//! Streaming, parallel read of events files: one `(file, row group)` per unit of work.

use crate::discover::{discover_all, DateWindow, EventFile};
use crate::error::{io_err, IoError};
use crate::write::write_parquet_atomic;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use goodhart_schema::{
    check_events_schema, normalize_at, quarantine_schema, Counts, EventBatch, FileReport,
    IngestReport, Presence, ValidateOptions,
};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
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
    /// With [`ReadOptions::keep_quarantine`]: a directory where each unit of
    /// work streams its quarantined rows (`q-<unit>.parquet`, one row group
    /// per batch) instead of keeping them in memory, so that peak memory does
    /// not grow with the number of rows set aside. They are listed in
    /// [`Ingested::quarantine_spilled`]; [`write_quarantine`] turns them into
    /// the quarantine file. The caller creates and removes the directory.
    pub quarantine_spill: Option<&'a Path>,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            window: None,
            batch_size: DEFAULT_BATCH_SIZE,
            progress: None,
            keep_quarantine: true,
            quarantine_spill: None,
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
            .field("quarantine_spill", &self.quarantine_spill)
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
    /// With [`ReadOptions::quarantine_spill`]: the files holding the
    /// quarantined rows instead, in `(source_file, row_index)` order.
    pub quarantine_spilled: Vec<std::path::PathBuf>,
    /// For each of [`Ingested::quarantine_spilled`], the position in the
    /// caller's `files` of the file its rows came from (each spill file
    /// holds rows of one file).
    pub quarantine_spilled_from: Vec<usize>,
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

/// The UTC days the events of `files` span, from the Parquet footers: the
/// min/max statistics of each row group's `ts` column, or, for a file
/// without them, its `date=` partition. `None` when neither is known.
/// No data page is read, so this is cheap enough for an error message
/// ("the window holds no events; the data covers ... to ...").
pub fn date_range(files: &[EventFile]) -> Result<Option<(NaiveDate, NaiveDate)>, IoError> {
    use arrow::datatypes::{DataType, TimeUnit};
    use parquet::file::statistics::Statistics;
    let mut range: Option<(NaiveDate, NaiveDate)> = None;
    let mut widen = |d: NaiveDate| {
        range = Some(match range {
            None => (d, d),
            Some((a, b)) => (a.min(d), b.max(d)),
        });
    };
    for f in files {
        let file = File::open(&f.path).map_err(io_err(&f.path))?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| {
            IoError::NotParquet {
                path: f.path.clone(),
                detail: e.to_string(),
            }
        })?;
        let to_us: Option<fn(i64) -> i64> = match meta.schema().field_with_name("ts") {
            Ok(field) => match field.data_type() {
                DataType::Timestamp(TimeUnit::Second, _) => Some(|v| v.saturating_mul(1_000_000)),
                DataType::Timestamp(TimeUnit::Millisecond, _) => Some(|v| v.saturating_mul(1_000)),
                DataType::Timestamp(TimeUnit::Microsecond, _) => Some(|v| v),
                DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(|v| v / 1_000),
                _ => None,
            },
            Err(_) => None,
        };
        let leaf = (0..meta.parquet_schema().num_columns())
            .find(|&i| meta.parquet_schema().column(i).path().string() == "ts");
        let mut found = false;
        if let (Some(to_us), Some(leaf)) = (to_us, leaf) {
            for rg in meta.metadata().row_groups() {
                if let Some(Statistics::Int64(s)) = rg.column(leaf).statistics() {
                    for v in [s.min_opt(), s.max_opt()].into_iter().flatten() {
                        if let Some(t) = chrono::DateTime::from_timestamp_micros(to_us(*v)) {
                            widen(t.date_naive());
                            found = true;
                        }
                    }
                }
            }
        }
        if !found {
            if let Some(d) = f.date {
                widen(d);
            }
        }
    }
    Ok(range)
}

/// One unit of work's output, keyed by its position in the global unit order.
struct UnitOut {
    unit: usize,
    counts: Counts,
    quarantine: Vec<RecordBatch>,
    spilled: Option<std::path::PathBuf>,
}

/// The quarantined rows of one unit of work, kept or streamed to a spill file.
enum Sink {
    Memory(Vec<RecordBatch>),
    Spill {
        dir: std::path::PathBuf,
        unit: usize,
        /// Boxed: the writer is large and the in-memory variant small.
        writer: Option<Box<(std::path::PathBuf, ArrowWriter<File>)>>,
    },
}

impl Sink {
    fn push(&mut self, batch: RecordBatch) -> Result<(), IoError> {
        match self {
            Sink::Memory(v) => v.push(batch),
            Sink::Spill { dir, unit, writer } => {
                if writer.is_none() {
                    let path = dir.join(format!("q-{unit:010}.parquet"));
                    let file = File::create(&path).map_err(io_err(&path))?;
                    // Uncompressed: a scratch file read back once.
                    let w = ArrowWriter::try_new(file, quarantine_schema(), None)
                        .map_err(|e| spill_err(&path, e))?;
                    *writer = Some(Box::new((path, w)));
                }
                let (path, w) = &mut **writer.as_mut().expect("created above");
                w.write(&batch).map_err(|e| spill_err(path, e))?;
                // One row group per batch, so the batches come back as they were.
                w.flush().map_err(|e| spill_err(path, e))?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(Vec<RecordBatch>, Option<std::path::PathBuf>), IoError> {
        match self {
            Sink::Memory(v) => Ok((v, None)),
            Sink::Spill { writer: None, .. } => Ok((Vec::new(), None)),
            Sink::Spill {
                writer: Some(b), ..
            } => {
                let (path, w) = *b;
                w.close().map_err(|e| spill_err(&path, e))?;
                Ok((Vec::new(), Some(path)))
            }
        }
    }
}

fn spill_err(path: &Path, e: parquet::errors::ParquetError) -> IoError {
    IoError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn read_unit<A>(
    file: &EventFile,
    fm: &FileMeta,
    (unit, group, first_row): (usize, usize, u64),
    opts: &ReadOptions<'_>,
    acc: &mut A,
    fold: &(impl Fn(&mut A, &EventBatch) -> Result<(), IoError> + Sync),
) -> Result<(Counts, Vec<RecordBatch>, Option<std::path::PathBuf>), IoError> {
    let handle = File::open(&file.path).map_err(io_err(&file.path))?;
    let corrupt = |detail: String| IoError::Corrupt {
        path: file.path.clone(),
        row_group: group,
        column: bad_column(file, fm, group, opts.batch_size),
        detail,
    };
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, fm.meta.clone())
        .with_projection(fm.mask.clone())
        .with_row_groups(vec![group])
        .with_batch_size(opts.batch_size)
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    let vopts = ValidateOptions {
        window: opts.window.map(DateWindow::as_tuple),
    };
    let mut row = first_row;
    let mut counts = Counts::default();
    let mut quarantine = match opts.quarantine_spill {
        Some(dir) if opts.keep_quarantine => Sink::Spill {
            dir: dir.to_path_buf(),
            unit,
            writer: None,
        },
        _ => Sink::Memory(Vec::new()),
    };
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let n = batch.num_rows() as u64;
        let out = normalize_at(&batch, &vopts, &file.label, row)?;
        row += n;
        if !out.events.is_empty() {
            fold(acc, &out.events)?;
        }
        counts.add(&out.counts);
        if opts.keep_quarantine && out.quarantine.num_rows() > 0 {
            quarantine.push(out.quarantine)?;
        }
        if let Some(p) = opts.progress {
            p(n);
        }
    }
    let (kept, spilled) = quarantine.finish()?;
    Ok((counts, kept, spilled))
}

/// The first projected column of row group `group` that fails to decode on
/// its own (`None` when each decodes alone): called only after a decode
/// error, to name the column in the message.
fn bad_column(file: &EventFile, fm: &FileMeta, group: usize, batch_size: usize) -> Option<String> {
    let schema = fm.meta.parquet_schema();
    let roots: Vec<usize> = (0..schema.root_schema().get_fields().len())
        .filter(|&i| {
            // A root is projected when any of its leaves is.
            (0..schema.num_columns())
                .any(|leaf| schema.get_column_root_idx(leaf) == i && fm.mask.leaf_included(leaf))
        })
        .collect();
    roots.into_iter().find_map(|root| {
        let handle = File::open(&file.path).ok()?;
        let name = schema.root_schema().get_fields()[root].name().to_string();
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, fm.meta.clone())
            .with_projection(ProjectionMask::roots(schema, [root]))
            .with_row_groups(vec![group])
            .with_batch_size(batch_size)
            .build();
        let failed = match reader {
            Err(_) => true,
            Ok(mut r) => r.any(|b| b.is_err()),
        };
        failed.then_some(name)
    })
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
    try_fold_events(
        files,
        opts,
        init,
        |a, b| {
            fold(a, b);
            Ok(())
        },
        |a, b| Ok(reduce(a, b)),
    )
}

/// [`fold_events`] with a `fold` and `reduce` that can fail (e.g. they write
/// the batches somewhere): the first error stops the pass and is returned
/// (which one, when several units fail at once, depends on scheduling).
pub fn try_fold_events<A: Send>(
    files: &[EventFile],
    opts: &ReadOptions<'_>,
    init: impl Fn() -> A + Sync + Send,
    fold: impl Fn(&mut A, &EventBatch) -> Result<(), IoError> + Sync + Send,
    reduce: impl Fn(A, A) -> Result<A, IoError> + Sync + Send,
) -> Result<Ingested<A>, IoError> {
    try_fold_events_by_file(files, opts, init, |a, _, b| fold(a, b), reduce)
}

/// [`try_fold_events`], with `fold` also given the position in `files` of
/// the file each batch came from (e.g. to keep something per file).
pub fn try_fold_events_by_file<A: Send>(
    files: &[EventFile],
    opts: &ReadOptions<'_>,
    init: impl Fn() -> A + Sync + Send,
    fold: impl Fn(&mut A, usize, &EventBatch) -> Result<(), IoError> + Sync + Send,
    reduce: impl Fn(A, A) -> Result<A, IoError> + Sync + Send,
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
                let caller = order[fi];
                let (counts, quarantine, spilled) = read_unit(
                    &owned[fi],
                    &metas[fi],
                    (ui, g, first),
                    opts,
                    &mut acc,
                    &|a: &mut A, b: &EventBatch| fold(a, caller, b),
                )?;
                outs.push(UnitOut {
                    unit: ui,
                    counts,
                    quarantine,
                    spilled,
                });
                Ok::<_, IoError>((acc, outs))
            },
        )
        .try_reduce(
            || (init(), Vec::new()),
            |(a, mut ao), (b, bo)| {
                ao.extend(bo);
                Ok((reduce(a, b)?, ao))
            },
        )?;
    outs.sort_by_key(|o| o.unit);

    let mut per_file: Vec<Counts> = vec![Counts::default(); owned.len()];
    let mut quarantine = Vec::new();
    let mut quarantine_spilled = Vec::new();
    let mut quarantine_spilled_from = Vec::new();
    for o in outs {
        let fi = units[o.unit].0;
        per_file[fi].add(&o.counts);
        quarantine.extend(o.quarantine);
        if let Some(p) = o.spilled {
            quarantine_spilled.push(p);
            quarantine_spilled_from.push(order[fi]);
        }
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
        quarantine_spilled,
        quarantine_spilled_from,
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
    let spill = quarantine_out.map(SpillDir::beside).transpose()?;
    let opts = ReadOptions {
        window,
        keep_quarantine: quarantine_out.is_some(),
        quarantine_spill: spill.as_ref().map(SpillDir::path),
        ..ReadOptions::default()
    };
    let out = fold_dataset(path, &opts, || (), |_, _| {}, |_, _| {})?;
    if let Some(q) = quarantine_out {
        write_quarantine(q, &out.quarantine, &out.quarantine_spilled)?;
    }
    Ok(out.report)
}

/// A scratch directory for quarantine spill files, beside an output file
/// (same file system, not a RAM-backed /tmp), removed when dropped.
#[derive(Debug)]
pub struct SpillDir(tempfile::TempDir);

impl SpillDir {
    /// `.<name>.spill-<pid>-<random>` beside `path`.
    pub fn beside(path: &Path) -> Result<SpillDir, IoError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tempfile::Builder::new()
            .prefix(&format!(".{name}.spill-{}-", std::process::id()))
            .tempdir_in(dir)
            .map(SpillDir)
            .map_err(io_err(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Writes the quarantine file from [`Ingested::quarantine`] (in memory) or
/// [`Ingested::quarantine_spilled`] (streamed back batch by batch, so memory
/// holds one row group of the output at a time). Both give the bytes
/// [`write_parquet_atomic`] writes for the same rows.
pub fn write_quarantine(
    dest: &Path,
    batches: &[RecordBatch],
    spilled: &[std::path::PathBuf],
) -> Result<(), IoError> {
    if spilled.is_empty() {
        return write_parquet_atomic(dest, quarantine_schema(), batches);
    }
    crate::write::write_atomic(dest, |file| {
        let werr = |e| spill_err(dest, e);
        let mut w = ArrowWriter::try_new(
            file,
            quarantine_schema(),
            Some(crate::write::writer_properties()),
        )
        .map_err(werr)?;
        for b in batches {
            w.write(b).map_err(werr)?;
        }
        for p in spilled {
            let f = File::open(p).map_err(io_err(p))?;
            let meta = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new())
                .map_err(|e| spill_err(p, e))?;
            for rg in 0..meta.metadata().num_row_groups() {
                let rows = meta.metadata().row_group(rg).num_rows().max(1) as usize;
                let f = File::open(p).map_err(io_err(p))?;
                let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta.clone())
                    .with_row_groups(vec![rg])
                    .with_batch_size(rows)
                    .build()
                    .map_err(|e| spill_err(p, e))?;
                for b in reader {
                    let b = b.map_err(|e| spill_err(p, e.into()))?;
                    w.write(&b).map_err(werr)?;
                }
            }
        }
        w.into_inner().map_err(werr)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    /// An events file whose `session_id` values hold `é` (C3 A9), plain-encoded
    /// and uncompressed, with every `C3 A9` then replaced by `FF FE`: the pages
    /// stay well-formed, the strings are no longer UTF-8.
    fn file_with_invalid_utf8(path: &Path) {
        let n = 100;
        let batch = RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter_values(0..n)) as ArrayRef,
            ),
            (
                "user_id",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("u{i}")),
                )) as _,
            ),
            (
                "session_id",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("s-\u{e9}\u{e9}-{i}")),
                )) as _,
            ),
            (
                "event",
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "request"))) as _,
            ),
            (
                "output_tokens",
                Arc::new(Int64Array::from_iter_values(0..n)) as _,
            ),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
            .build();
        let mut bytes = Vec::new();
        let mut w = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let mut hits = 0;
        for i in 0..bytes.len() - 1 {
            if bytes[i] == 0xC3 && bytes[i + 1] == 0xA9 {
                bytes[i] = 0xFF;
                bytes[i + 1] = 0xFE;
                hits += 1;
            }
        }
        assert!(hits >= 2 * n as usize, "{hits}");
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn invalid_utf8_names_file_row_group_and_column_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        file_with_invalid_utf8(&path);
        let files = vec![EventFile::from_path(&path)];
        let e =
            fold_events(&files, &ReadOptions::default(), || (), |_, _| {}, |_, _| {}).unwrap_err();
        match &e {
            IoError::Corrupt {
                row_group, column, ..
            } => {
                assert_eq!(*row_group, 0);
                assert_eq!(column.as_deref(), Some("session_id"));
            }
            other => panic!("not Corrupt: {other}"),
        }
        let m = e.to_string();
        assert!(
            m.contains("bad.parquet") && m.contains("row group 0"),
            "{m}"
        );
        assert!(m.contains("column session_id"), "{m}");
        // The cause is in the message once, and not repeated by a `source` chain.
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(
            m.matches("UTF").count().max(m.matches("utf").count()),
            1,
            "{m}"
        );
    }
}

#[cfg(test)]
mod by_file_tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;

    /// `n` request rows of user `user`; every third has negative output tokens
    /// (quarantined).
    fn write(path: &Path, user: &str, n: i64) {
        let batch = RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter_values(0..n)) as ArrayRef,
            ),
            (
                "user_id",
                Arc::new(StringArray::from_iter_values((0..n).map(|_| user))) as _,
            ),
            (
                "session_id",
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "s"))) as _,
            ),
            (
                "event",
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "request"))) as _,
            ),
            (
                "output_tokens",
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| {
                    if i % 3 == 0 {
                        -1
                    } else {
                        i
                    }
                }))) as _,
            ),
        ])
        .unwrap();
        write_parquet_atomic(path, batch.schema(), &[batch]).unwrap();
    }

    #[test]
    fn batches_and_spilled_quarantine_name_the_callers_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = tempfile::tempdir().unwrap();
        // Given out of label order: positions refer to this order, not the labels'.
        let files: Vec<EventFile> = [("c.parquet", "carol", 9), ("a.parquet", "ann", 30)]
            .iter()
            .map(|(name, user, n)| {
                let p = dir.path().join(name);
                write(&p, user, *n);
                EventFile::from_path(p)
            })
            .collect();
        let opts = ReadOptions {
            quarantine_spill: Some(spill.path()),
            batch_size: 4,
            ..ReadOptions::default()
        };
        let out = try_fold_events_by_file(
            &files,
            &opts,
            || [(0u64, 0u64); 2],
            |acc, fi, b| {
                let users: std::collections::BTreeSet<u64> = b.user.iter().copied().collect();
                assert_eq!(users.len(), 1, "a batch holds rows of one file");
                let want = goodhart_schema::hash_str(if fi == 0 { "carol" } else { "ann" });
                assert!(users.contains(&want), "file {fi} got another file's rows");
                acc[fi].0 += b.len() as u64;
                acc[fi].1 += 1;
                Ok(())
            },
            |a, b| {
                Ok([
                    (a[0].0 + b[0].0, a[0].1 + b[0].1),
                    (a[1].0 + b[1].0, a[1].1 + b[1].1),
                ])
            },
        )
        .unwrap();
        // Rows i % 3 == 0 are set aside: 3 of 9, 10 of 30.
        assert_eq!(out.value[0].0, 6);
        assert_eq!(out.value[1].0, 20);
        // One spill file per file (one row group each), in label order: a, then c.
        assert_eq!(out.quarantine_spilled.len(), 2);
        assert_eq!(out.quarantine_spilled_from, vec![1, 0]);
        let rows = |p: &Path| read_parquet_rows(p);
        assert_eq!(rows(&out.quarantine_spilled[0]), 10);
        assert_eq!(rows(&out.quarantine_spilled[1]), 3);
    }

    fn read_parquet_rows(p: &Path) -> usize {
        crate::write::read_parquet(p)
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum()
    }
}
