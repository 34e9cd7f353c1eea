//! Parquet output (atomic, deterministic) and small-table input helpers.

use crate::discover::discover_all;
use crate::error::{io_err, IoError};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use goodhart_schema::{roster_from_batches, Roster};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowLeafColumn};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion,
};
use rayon::prelude::*;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The Parquet writer settings behind every file goodhart writes (scan
/// outputs, imported lakes, synthetic organisations), with every property
/// that could vary pinned, so that the same batches always give the same
/// bytes (parquet-rs writes no timestamps) and an upgrade of parquet's
/// defaults cannot change them silently: format 1.0 pages, zstd level 1,
/// dictionaries, page statistics, no key-value metadata, row groups of at
/// most [`DEFAULT_ROW_GROUP_ROWS`] rows and no byte limit. `created_by` names
/// the writer (e.g. `goodhart 0.1.0`). Callers change what they need (row
/// group size) on the returned builder.
pub fn deterministic_writer_properties(created_by: String) -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(created_by)
        .set_max_row_group_row_count(Some(DEFAULT_ROW_GROUP_ROWS))
        .set_max_row_group_bytes(None)
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(None)
}

/// Rows per row group unless a writer says otherwise (parquet-rs' default).
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1024 * 1024;

/// [`deterministic_writer_properties`] of the scan outputs.
pub(crate) fn writer_properties() -> WriterProperties {
    deterministic_writer_properties(format!("goodhart {}", env!("CARGO_PKG_VERSION"))).build()
}

/// Writes a file atomically: [`goodhart_core::write_atomic`] (temporary
/// sibling with the umask's mode, fsync, rename, fsync of the directory), the
/// one writer behind every goodhart output.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(File) -> Result<File, IoError>,
) -> Result<(), IoError> {
    goodhart_core::write_atomic(path, write)
}

/// [`write_atomic`] of a byte string.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    Ok(goodhart_core::write_bytes_atomic(path, bytes)?)
}

/// Flushes a directory's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    Ok(goodhart_core::sync_dir(dir)?)
}

/// Writes `batches` to `path` as one Parquet file, atomically ([`write_atomic`]).
///
/// Readers see the old file or the new one, never half a file. zstd
/// compression; the bytes depend only on the schema and the batches (no
/// timestamps are written). Every batch must have `schema`.
pub fn write_parquet_atomic(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), IoError> {
    write_atomic(path, |file| {
        write_columns_parallel(file, schema, batches, writer_properties()).map_err(|e| {
            IoError::Write {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })
    })
}

/// Writes `batches` as Parquet with the columns of each row group encoded
/// (and zstd-compressed) in parallel on rayon's pool.
///
/// The bytes are those [`ArrowWriter`] writes for the same batches: the same
/// writer and Arrow-schema metadata, the same row-group boundaries (our
/// properties set a row limit and no byte limit) and the same sequence of
/// `write` calls into each column writer; only the order in which columns
/// are encoded differs. `ArrowWriter` itself encodes one column after the
/// other, which made writing the 59-column session table a serial step.
fn write_columns_parallel<W: Write + Send>(
    out: W,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> parquet::errors::Result<W> {
    debug_assert!(props.max_row_group_bytes().is_none());
    let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let (mut writer, factory) =
        ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;

    // Row groups as lists of batch slices, split exactly where ArrowWriter splits.
    let mut groups: Vec<Vec<RecordBatch>> = Vec::new();
    let mut buffered = 0usize;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let mut remaining = b.clone();
        while remaining.num_rows() > 0 {
            if buffered == 0 {
                groups.push(Vec::new());
            }
            let take = remaining.num_rows().min(max_rows - buffered);
            groups
                .last_mut()
                .expect("a group was pushed")
                .push(remaining.slice(0, take));
            remaining = remaining.slice(take, remaining.num_rows() - take);
            buffered += take;
            if buffered == max_rows {
                buffered = 0;
            }
        }
    }

    for (index, group) in groups.iter().enumerate() {
        // One job per leaf column: its writer and its leaves of every slice.
        let mut jobs: Vec<(_, Vec<ArrowLeafColumn>)> = factory
            .create_column_writers(index)?
            .into_iter()
            .map(|w| (w, Vec::with_capacity(group.len())))
            .collect();
        for slice in group {
            let mut leaf = 0;
            for (field, column) in schema.fields().iter().zip(slice.columns()) {
                for l in compute_leaves(field, column)? {
                    jobs[leaf].1.push(l);
                    leaf += 1;
                }
            }
        }
        let chunks: Vec<ArrowColumnChunk> = jobs
            .into_par_iter()
            .map(|(mut w, leaves)| {
                for l in &leaves {
                    w.write(l)?;
                }
                w.close()
            })
            .collect::<parquet::errors::Result<_>>()?;
        let mut row_group = writer.next_row_group()?;
        for c in chunks {
            c.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    writer.into_inner()
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
/// See [`goodhart_schema::roster_from_batches`] for the accepted columns. A
/// user id listed more than once (in one file or across files) is an
/// [`IoError::DuplicateRosterUser`] naming the user and every row: which
/// team counts would otherwise be a silent guess.
pub fn read_roster(path: &Path) -> Result<Roster, IoError> {
    use arrow::array::AsArray;
    let files = discover_all(path, None)?.files;
    let mut entries = Vec::new();
    let mut rows_of: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in &files {
        let batches = read_parquet(&f.path)?;
        let r = roster_from_batches(&batches, &f.label)?;
        let mut row = 0u64;
        for b in &batches {
            // roster_from_batches checked the column exists and is text-like.
            if let Some(c) = b.column_by_name("user_id") {
                if let Ok(c) = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8) {
                    for u in c.as_string::<i32>().iter() {
                        if let Some(u) = u {
                            rows_of
                                .entry(u.to_string())
                                .or_default()
                                .push(format!("{} row {row}", f.label));
                        }
                        row += 1;
                    }
                }
            }
        }
        entries.extend(r.iter().cloned());
    }
    if let Some((user, rows)) = rows_of.into_iter().find(|(_, rows)| rows.len() > 1) {
        return Err(IoError::DuplicateRosterUser { user, rows });
    }
    Ok(Roster::new(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
    use std::sync::Arc;

    fn batch(start: u64, n: u64) -> RecordBatch {
        let ids: Vec<Option<String>> = (start..start + n)
            .map(|i| (i % 5 != 0).then(|| format!("user-{}", i % 13)))
            .collect();
        let counts: Vec<u64> = (start..start + n).map(|i| i * 7 % 11).collect();
        let ratios: Vec<Option<f64>> = (start..start + n)
            .map(|i| (i % 3 != 0).then(|| i as f64 / 9.0))
            .collect();
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("count", Arc::new(UInt64Array::from(counts)) as ArrayRef),
            ("ratio", Arc::new(Float64Array::from(ratios)) as ArrayRef),
        ])
        .unwrap()
    }

    fn reference(schema: SchemaRef, batches: &[RecordBatch], props: WriterProperties) -> Vec<u8> {
        let mut w = ArrowWriter::try_new(Vec::new(), schema, Some(props)).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn parallel_column_encoding_writes_arrow_writers_bytes() {
        // Row groups of 7 rows over batches of 5, 0, 9, 3 and 20 rows: groups
        // end inside batches, at batch ends and on an empty batch.
        let sizes = [5u64, 0, 9, 3, 20];
        let mut batches = Vec::new();
        let mut start = 0;
        for n in sizes {
            batches.push(batch(start, n));
            start += n;
        }
        let schema = batches[0].schema();
        for rows in [1usize, 7, 14, 1 << 20] {
            let props = || {
                WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_max_row_group_row_count(Some(rows))
                    .build()
            };
            let ours =
                write_columns_parallel(Vec::new(), schema.clone(), &batches, props()).unwrap();
            assert_eq!(
                ours,
                reference(schema.clone(), &batches, props()),
                "row groups of {rows}"
            );
        }
        // No batches at all: a valid empty file, as ArrowWriter writes it.
        let ours =
            write_columns_parallel(Vec::new(), schema.clone(), &[], writer_properties()).unwrap();
        assert_eq!(ours, reference(schema, &[], writer_properties()));
    }

    #[test]
    fn a_roster_listing_a_user_twice_is_refused_naming_user_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.parquet");
        let b = RecordBatch::try_from_iter([
            (
                "user_id",
                Arc::new(StringArray::from(vec!["alice", "bob", "alice"])) as ArrayRef,
            ),
            (
                "team",
                Arc::new(StringArray::from(vec!["infra", "web", "data"])) as ArrayRef,
            ),
        ])
        .unwrap();
        write_parquet_atomic(&path, b.schema(), &[b]).unwrap();
        let e = read_roster(&path).unwrap_err();
        assert!(matches!(e, IoError::DuplicateRosterUser { .. }), "{e}");
        let m = e.to_string();
        assert!(m.contains("\"alice\"") && m.contains("2 times"), "{m}");
        assert!(
            m.contains("users.parquet row 0") && m.contains("users.parquet row 2"),
            "{m}"
        );
        assert!(!m.contains("bob"), "{m}");
    }
}
