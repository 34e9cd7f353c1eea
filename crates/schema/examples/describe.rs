//! Prints the canonical schema v1 (what `goodhart schema` shows) and validates a tiny batch.
//!
//! Run with `cargo run -p goodhart-schema --example describe`.

use arrow::array::{ArrayRef, StringArray, TimestampMillisecondArray};
use arrow::record_batch::RecordBatch;
use goodhart_schema::{describe_schema, normalize, ValidateOptions};
use std::sync::Arc;

fn main() {
    println!("{}", describe_schema());
    let b = RecordBatch::try_from_iter([
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(vec![Some(1), None])) as ArrayRef,
        ),
        (
            "user_id",
            Arc::new(StringArray::from(vec!["ana", "bo"])) as ArrayRef,
        ),
        (
            "session_id",
            Arc::new(StringArray::from(vec!["s1", "s2"])) as ArrayRef,
        ),
        (
            "event",
            Arc::new(StringArray::from(vec!["request", "request"])) as ArrayRef,
        ),
    ])
    .expect("valid batch");
    match normalize(&b, &ValidateOptions::default(), "example") {
        Ok(n) => println!(
            "read {} rows: {} accepted, {} quarantined {:?}",
            n.counts.rows_read, n.counts.rows_accepted, n.counts.rows_quarantined, n.counts.reasons
        ),
        Err(e) => println!("error: {e}"),
    }
}
