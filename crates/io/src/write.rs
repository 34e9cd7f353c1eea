//! Parquet output (atomic, deterministic) and small-table input helpers.

use crate::discover::discover_all;
use crate::error::{io_err, IoError};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use goodhart_schema::{roster_from_batches, Roster};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writer settings: zstd, and a fixed `created_by` so that the same batches
/// always give the same bytes (parquet-rs writes no timestamps).
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("goodhart {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A temporary sibling of `path`. Hand-written rather than `tempfile`, whose
/// files are created with mode 0600, which would leave outputs unreadable to
/// the rest of an analyst's team after the rename.
fn temp_sibling(path: &Path) -> Result<(PathBuf, File), IoError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(dir)(e)),
        }
    }
}

/// Writes `batches` to `path` as one Parquet file, atomically.
///
/// The data goes to a temporary file in the same directory, is flushed to
/// disk, then renamed over `path`: readers see the old file or the new one,
/// never half a file. zstd compression; the bytes depend only on the schema
/// and the batches (no timestamps are written). Every batch must have
/// `schema`.
pub fn write_parquet_atomic(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), IoError> {
    let (tmp, file) = temp_sibling(path)?;
    let result = (|| {
        let werr = |e: parquet::errors::ParquetError| IoError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut w = ArrowWriter::try_new(file, schema, Some(writer_properties())).map_err(werr)?;
        for b in batches {
            w.write(b).map_err(werr)?;
        }
        let file = w.into_inner().map_err(werr)?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a whole Parquet file into memory (for small tables, analysts and tests).
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, IoError> {
    let file = File::open(path).map_err(io_err(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| IoError::NotParquet {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?
        .build()
        .map_err(|source| IoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    reader
        .map(|b| {
            b.map_err(|e| IoError::Read {
                path: path.to_path_buf(),
                source: e.into(),
            })
        })
        .collect()
}

/// Reads the roster (`users.parquet`, or a directory of roster Parquet files).
///
/// See [`goodhart_schema::roster_from_batches`] for the accepted columns.
/// When a user id appears more than once, the first occurrence (in path
/// order, then row order) wins.
pub fn read_roster(path: &Path) -> Result<Roster, IoError> {
    let files = discover_all(path, None)?.files;
    let mut entries = Vec::new();
    for f in &files {
        let batches = read_parquet(&f.path)?;
        let r = roster_from_batches(&batches, &f.label)?;
        if files.len() == 1 {
            return Ok(r);
        }
        entries.extend(r.iter().cloned());
    }
    Ok(Roster::new(entries))
}
