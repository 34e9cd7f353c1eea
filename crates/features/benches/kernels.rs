//! Kernel benchmarks: `add_batch` on a 64k-row batch, `merge`, and
//! `finalize` for 10k sessions.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use goodhart_features::{finalize, FeatureOptions, SessionAccumulator};
use goodhart_schema::{hash_str, EventBatch, EventKind, Names, Presence};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const T0: i64 = 1_717_405_200_000_000; // 2024-06-03 09:00 UTC

/// A synthetic batch: `sessions` sessions of 50 users, rows in session runs.
fn synth(rows: usize, sessions: u64, seed: u64) -> EventBatch {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut b = EventBatch {
        presence: Presence::ALL,
        ..EventBatch::default()
    };
    let per = (rows as u64 / sessions).max(1);
    let mut users = Vec::new();
    let mut sess = Vec::new();
    for i in 0..rows as u64 {
        let s = (i / per).min(sessions - 1);
        let u = s % 50;
        let uname = format!("user{u}");
        let sname = format!("s{s}");
        if i % per == 0 {
            users.push((hash_str(&uname), uname.clone().into_boxed_str()));
            sess.push((hash_str(&sname), sname.clone().into_boxed_str()));
        }
        let kind = match r.gen_range(0..10) {
            0 => EventKind::AgentSpawn,
            1 => EventKind::ContextLoad,
            2 => EventKind::ChangeAccepted,
            3 => EventKind::ChangeRejected,
            _ => EventKind::Request,
        };
        b.ts_us
            .push(T0 + (s as i64) * 3_600_000_000 + (i % per) as i64 * 20_000_000);
        b.user.push(hash_str(&uname));
        b.session.push(hash_str(&sname));
        b.kind.push(kind);
        b.agent.push(r.gen_range(0..6));
        b.parent_agent.push(r.gen_range(0..3));
        b.model.push(1 + r.gen_range(0..3));
        b.input_tokens.push(r.gen_range(0..2000));
        b.output_tokens.push(r.gen_range(0..500));
        b.cache_read_tokens.push(r.gen_range(0..5000));
        b.cache_write_tokens.push(r.gen_range(0..500));
        b.task_hash.push(r.gen_range(0..40));
        b.context_hash.push(r.gen_range(0..10));
        b.change_id.push(0);
        b.lines.push(r.gen_range(0..20));
        b.cost_nanousd.push(r.gen_range(0..1_000_000));
    }
    users.sort();
    users.dedup();
    sess.sort();
    sess.dedup();
    b.names = Names {
        users,
        sessions: sess,
        models: vec![],
    };
    b
}

fn kernels(c: &mut Criterion) {
    let opts = FeatureOptions::default();
    let big = synth(65_536, 1_000, 1);
    let mut g = c.benchmark_group("features");
    g.throughput(Throughput::Elements(big.len() as u64));
    g.bench_function("add_batch_64k_rows", |bch| {
        bch.iter_batched(
            || SessionAccumulator::with_options(&opts),
            |mut acc| {
                acc.add_batch(black_box(&big));
                acc
            },
            BatchSize::LargeInput,
        );
    });
    let other = synth(65_536, 1_000, 2);
    g.bench_function("merge_two_64k_row_accumulators", |bch| {
        bch.iter_batched(
            || {
                let mut a = SessionAccumulator::with_options(&opts);
                a.add_batch(&big);
                let mut b = SessionAccumulator::with_options(&opts);
                b.add_batch(&other);
                (a, b)
            },
            |(a, b)| a.merge(b),
            BatchSize::LargeInput,
        );
    });
    g.finish();

    let many = synth(200_000, 10_000, 3);
    let mut g = c.benchmark_group("finalize");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("finalize_10k_sessions", |bch| {
        bch.iter_batched(
            || {
                let mut a = SessionAccumulator::with_options(&opts);
                a.add_batch(&many);
                a
            },
            |acc| finalize(acc, &opts, None).expect("finalize"),
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
