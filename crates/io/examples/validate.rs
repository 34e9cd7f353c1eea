//! Validates an events dataset and prints the row accounting.
//!
//! `cargo run -p goodhart-io --example validate -- <events path> [quarantine.parquet]`
//!
//! Without arguments, writes a tiny demo dataset to a temp dir and validates it.

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use goodhart_io::{validate, write_parquet_atomic};
use std::path::PathBuf;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let demo: Option<PathBuf>;
    let path = match args.next() {
        Some(p) => {
            demo = None;
            PathBuf::from(p)
        }
        None => {
            let dir =
                std::env::temp_dir().join(format!("goodhart-validate-demo-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("date=2026-10-05"))?;
            let b = RecordBatch::try_from_iter([
                (
                    "ts",
                    Arc::new(TimestampMicrosecondArray::from(vec![
                        Some(1),
                        None,
                        Some(3),
                    ])) as ArrayRef,
                ),
                (
                    "user_id",
                    Arc::new(StringArray::from(vec!["ana", "bo", "cy"])) as ArrayRef,
                ),
                (
                    "session_id",
                    Arc::new(StringArray::from(vec!["s1", "s2", "s3"])) as ArrayRef,
                ),
                (
                    "event",
                    Arc::new(StringArray::from(vec!["request", "request", "teleport"])) as ArrayRef,
                ),
                (
                    "input_tokens",
                    Arc::new(Int64Array::from(vec![10, 20, 30])) as ArrayRef,
                ),
            ])?;
            write_parquet_atomic(
                &dir.join("date=2026-10-05/part-0.parquet"),
                b.schema(),
                &[b],
            )?;
            demo = Some(dir.clone());
            dir
        }
    };
    let quarantine = args.next().map(PathBuf::from);
    let report = validate(&path, None, quarantine.as_deref())?;
    print!("{}", report.render_text());
    if let Some(dir) = demo {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}
