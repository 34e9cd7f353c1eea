//! Streaming, parallel Parquet ingest and atomic Parquet output for goodhart.
//!
//! goodhart's input is a history of AI-usage events stored as Parquet: one
//! file, or a directory tree of `*.parquet` files, typically hive-partitioned
//! by day (`events/date=2026-10-05/part-0.parquet`). This crate
//!
//! * finds the files ([`discover`], [`discover_all`]): sorted, hidden and
//!   `_`-prefixed files ignored, `key=value` partitions parsed, `date=`
//!   partitions outside the analysis window ([`DateWindow`]) pruned;
//! * reads them in one parallel pass ([`fold_events`], [`fold_dataset`]):
//!   each `(file, row group)` is a rayon task that decodes only the canonical
//!   columns, validates every row with [`goodhart_schema::normalize_at`] and
//!   folds the accepted rows ([`goodhart_schema::EventBatch`]) into a
//!   per-worker accumulator, so memory is bounded by the accumulators, not by
//!   the number of events;
//! * accounts for every row: accepted or quarantined with a reason
//!   ([`goodhart_schema::IngestReport`], deterministic whatever the thread
//!   count or file order), with the quarantined rows kept as Arrow batches;
//! * writes Parquet atomically and deterministically
//!   ([`write_parquet_atomic`]) and reads small tables ([`read_parquet`],
//!   [`read_roster`]).
//!
//! Errors ([`IoError`]) name the file and the fix.
//!
//! # Example
//!
//! ```
//! use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
//! use arrow::record_batch::RecordBatch;
//! use goodhart_io::{discover, fold_events, write_parquet_atomic, ReadOptions};
//!
//! let dir = std::env::temp_dir().join(format!("goodhart-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(dir.join("date=2026-10-05"))?;
//! let batch = RecordBatch::try_from_iter([
//!     ("ts", std::sync::Arc::new(TimestampMicrosecondArray::from(vec![1, 2, 3])) as _),
//!     ("user_id", std::sync::Arc::new(StringArray::from(vec!["a", "b", "a"])) as _),
//!     ("session_id", std::sync::Arc::new(StringArray::from(vec!["s", "t", "s"])) as _),
//!     ("event", std::sync::Arc::new(StringArray::from(vec!["request", "request", "bogus"])) as _),
//!     ("output_tokens", std::sync::Arc::new(Int64Array::from(vec![10, 20, 30])) as _),
//! ])
//! .unwrap();
//! let file = dir.join("date=2026-10-05/part-0.parquet");
//! write_parquet_atomic(&file, batch.schema(), &[batch])?;
//!
//! let files = discover(&dir, None)?;
//! assert_eq!(files.len(), 1);
//! let out = fold_events(
//!     &files,
//!     &ReadOptions::default(),
//!     || 0u64,
//!     |sum, b| *sum += b.output_tokens.iter().sum::<u64>(),
//!     |a, b| a + b,
//! )?;
//! assert_eq!(out.value, 30); // 10 + 20: the "bogus" event (30 tokens) is quarantined
//! assert_eq!(out.report.counts.rows_read, 3);
//! assert_eq!(out.report.counts.rows_accepted, 2);
//! assert_eq!(out.report.counts.reasons["unknown_event"], 1);
//! // The set-aside row keeps where it came from: row 2 of the file.
//! let q = &out.quarantine[0];
//! assert_eq!(q.num_rows(), 1);
//! let col = |name: &str| arrow::compute::cast(q.column_by_name(name).unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
//! use arrow::array::AsArray;
//! assert_eq!(col("reason").as_string::<i32>().value(0), "unknown_event");
//! assert_eq!(col("row_index").as_string::<i32>().value(0), "2");
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod discover;
mod error;
mod read;
mod spill;
mod write;

pub use discover::{
    dedup_identical, discover, discover_all, DateWindow, Discovered, EventFile, Skipped,
};
pub use error::IoError;
pub use read::{
    count_rows, date_range, fold_dataset, fold_events, try_fold_events, try_fold_events_by_file,
    validate, write_quarantine, Ingested, ReadOptions, SpillDir, DEFAULT_BATCH_SIZE,
};
pub use spill::{read_run_events, read_run_names, EventRun, RunWriter};
pub use write::{
    deterministic_writer_properties, read_parquet, read_roster, sync_dir, write_atomic,
    write_bytes_atomic, write_parquet_atomic, DEFAULT_ROW_GROUP_ROWS,
};
