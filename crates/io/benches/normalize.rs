//! Throughput of `goodhart_schema::normalize` on a 64k-row batch.

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use goodhart_schema::{normalize, ValidateOptions};
use std::sync::Arc;

const ROWS: usize = 64 * 1024;

fn batch() -> RecordBatch {
    let events = ["request", "agent_spawn", "context_load", "change_accepted"];
    let col = |a: ArrayRef| a;
    RecordBatch::try_from_iter([
        (
            "ts",
            col(Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..ROWS as i64).map(|i| 1_760_000_000_000_000 + i * 1_000),
            ))),
        ),
        (
            "user_id",
            col(Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("user-{}", i % 500)),
            ))),
        ),
        (
            "session_id",
            col(Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("session-{}", i / 40)),
            ))),
        ),
        (
            "event",
            col(Arc::new(
                (0..ROWS)
                    .map(|i| events[i % events.len()])
                    .collect::<DictionaryArray<Int32Type>>(),
            )),
        ),
        (
            "model",
            col(Arc::new(
                (0..ROWS)
                    .map(|i| if i % 3 == 0 { "opus" } else { "sonnet" })
                    .collect::<DictionaryArray<Int32Type>>(),
            )),
        ),
        (
            "task_hash",
            col(Arc::new(StringArray::from_iter_values((0..ROWS).map(
                |i| format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            )))),
        ),
        (
            "input_tokens",
            col(Arc::new(Int64Array::from_iter_values(
                (0..ROWS as i64).map(|i| i % 5000),
            ))),
        ),
        (
            "output_tokens",
            col(Arc::new(Int64Array::from_iter_values(
                (0..ROWS as i64).map(|i| i % 700),
            ))),
        ),
        (
            "cost_usd",
            col(Arc::new(Float64Array::from_iter_values(
                (0..ROWS).map(|i| (i % 100) as f64 * 0.001),
            ))),
        ),
    ])
    .expect("valid batch")
}

fn bench(c: &mut Criterion) {
    let b = batch();
    let opts = ValidateOptions::default();
    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("64k_rows", |bench| {
        bench.iter(|| normalize(&b, &opts, "bench.parquet").expect("valid"));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
