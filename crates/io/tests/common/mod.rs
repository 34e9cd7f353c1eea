//! Shared helpers: build event batches and write them as Parquet.
#![allow(dead_code)]

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// One event row with the columns the tests vary.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub ts_us: Option<i64>,
    pub user: Option<String>,
    pub session: Option<String>,
    pub event: Option<String>,
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cost: Option<f64>,
}

pub fn ev(ts_us: i64, user: &str, event: &str, input: i64, output: i64) -> Ev {
    Ev {
        ts_us: Some(ts_us),
        user: Some(user.to_string()),
        session: Some(format!("{user}-s")),
        event: Some(event.to_string()),
        input: Some(input),
        output: Some(output),
        cost: Some(0.001),
    }
}

pub fn batch(rows: &[Ev]) -> RecordBatch {
    let col = |a: ArrayRef| a;
    RecordBatch::try_from_iter([
        (
            "ts",
            col(Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts_us).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            )),
        ),
        (
            "user_id",
            col(Arc::new(StringArray::from(
                rows.iter().map(|r| r.user.clone()).collect::<Vec<_>>(),
            ))),
        ),
        (
            "session_id",
            col(Arc::new(StringArray::from(
                rows.iter().map(|r| r.session.clone()).collect::<Vec<_>>(),
            ))),
        ),
        (
            "event",
            col(Arc::new(StringArray::from(
                rows.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
            ))),
        ),
        (
            "input_tokens",
            col(Arc::new(Int64Array::from(
                rows.iter().map(|r| r.input).collect::<Vec<_>>(),
            ))),
        ),
        (
            "output_tokens",
            col(Arc::new(Int64Array::from(
                rows.iter().map(|r| r.output).collect::<Vec<_>>(),
            ))),
        ),
        (
            "cost_usd",
            col(Arc::new(Float64Array::from(
                rows.iter().map(|r| r.cost).collect::<Vec<_>>(),
            ))),
        ),
    ])
    .expect("valid batch")
}

/// Writes `batches` to `path` with row groups of at most `row_group` rows.
pub fn write(path: &Path, batches: &[RecordBatch], row_group: Option<usize>) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(row_group)
        .build();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// Deterministic pseudo-random rows (64-bit LCG), with some invalid ones.
pub fn generated(n: usize) -> Vec<Ev> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let kinds = [
        "request",
        "agent_spawn",
        "context_load",
        "change_accepted",
        "bogus",
    ];
    (0..n)
        .map(|i| {
            let r = next();
            let user = format!("u{}", r % 17);
            let kind = kinds[(next() % 50) as usize % kinds.len()].to_string();
            let kind = if next() % 40 == 0 {
                "bogus".to_string()
            } else {
                kind
            };
            let input = (next() % 5_000) as i64 - if next() % 100 == 0 { 10_000 } else { 0 };
            Ev {
                // Three days of events from 2026-10-04T00:00Z.
                ts_us: if next() % 97 == 0 {
                    None
                } else {
                    Some(1_791_072_000_000_000 + (next() % (3 * 86_400)) as i64 * 1_000_000)
                },
                user: if next() % 89 == 0 {
                    None
                } else {
                    Some(user.clone())
                },
                session: Some(format!("{user}-{}", i / 50)),
                event: Some(kind),
                input: Some(input),
                output: if next() % 7 == 0 {
                    None
                } else {
                    Some((next() % 900) as i64)
                },
                cost: Some((next() % 1_000) as f64 / 1e4),
            }
        })
        .collect()
}
