//! Scoring 8000 users and 200k sessions (synthetic feature tables): cohort
//! statistics, every pattern detector, both multivariate detectors and the
//! explanations. Target: well under 1 s on 2 cores.

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion};
use goodhart_detect::{score, ScoreOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::sync::Arc;

const USER_SHARES: [&str; 13] = [
    "redundant_spawn_ratio",
    "share_sessions_redundant_spawns",
    "idle_agent_ratio",
    "reload_uncached_share",
    "share_sessions_reload_churn",
    "reload_ratio",
    "loop_ratio",
    "share_sessions_loop",
    "accept_rate",
    "trivial_change_share",
    "revert_rate",
    "pre_snapshot_waste_share",
    "pre_snapshot_token_share",
];

fn tables(n_users: usize, n_sessions: usize, with_team: bool) -> (RecordBatch, RecordBatch) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let ids: Vec<String> = (0..n_users).map(|i| format!("u-{i:05}")).collect();
    let mut cols: Vec<(String, ArrayRef)> =
        vec![("user_id".into(), Arc::new(StringArray::from(ids.clone())))];
    if with_team {
        let teams: Vec<String> = (0..n_users).map(|i| format!("team-{}", i % 8)).collect();
        cols.push(("team".into(), Arc::new(StringArray::from(teams))));
    }
    for c in USER_SHARES {
        let v: Vec<f64> = (0..n_users)
            .map(|i| {
                let base: f64 = rng.gen_range(0.0..0.08);
                if i % 50 == 0 {
                    base + 0.5
                } else {
                    base
                }
            })
            .collect();
        cols.push((c.into(), Arc::new(Float64Array::from(v))));
    }
    for (c, lo, hi) in [
        ("output_per_request", 300.0, 900.0),
        ("tokens_per_accepted_change", 1.5e5, 4e5),
        ("waste_share", 0.0, 0.2),
        ("premium_share", 0.0, 0.5),
    ] {
        let v: Vec<f64> = (0..n_users).map(|_| rng.gen_range(lo..hi)).collect();
        cols.push((c.into(), Arc::new(Float64Array::from(v))));
    }
    for (c, lo, hi) in [
        ("spawns", 10, 400),
        ("requests", 100, 3000),
        ("sessions", 5, 100),
        ("active_days", 3, 21),
        ("context_loads", 10, 500),
        ("accepted", 5, 300),
        ("total_tokens", 1_000_000, 90_000_000),
    ] {
        let v: Vec<u64> = (0..n_users).map(|_| rng.gen_range(lo..hi)).collect();
        cols.push((c.into(), Arc::new(UInt64Array::from(v))));
    }
    let users = RecordBatch::try_from_iter(cols).unwrap();

    let s_users: Vec<String> = (0..n_sessions).map(|k| ids[k % n_users].clone()).collect();
    let s_ids: Vec<String> = (0..n_sessions).map(|k| format!("s-{k:07x}")).collect();
    let mut cols: Vec<(String, ArrayRef)> = vec![
        ("session_id".into(), Arc::new(StringArray::from(s_ids))),
        ("user_id".into(), Arc::new(StringArray::from(s_users))),
    ];
    for c in [
        "redundant_spawn_ratio",
        "reload_uncached_share",
        "loop_ratio",
        "trivial_change_share",
        "revert_rate",
    ] {
        let v: Vec<f64> = (0..n_sessions).map(|_| rng.gen_range(0.0..0.3)).collect();
        cols.push((c.into(), Arc::new(Float64Array::from(v))));
    }
    for (c, lo, hi) in [
        ("output_per_request", 300.0, 900.0),
        ("tokens_per_accepted_change", 1e5, 1e6),
    ] {
        let v: Vec<f64> = (0..n_sessions).map(|_| rng.gen_range(lo..hi)).collect();
        cols.push((c.into(), Arc::new(Float64Array::from(v))));
    }
    for c in [
        "redundant_spawns",
        "reloads",
        "longest_run",
        "loop_requests",
        "trivial_changes",
        "spawns",
        "requests",
        "accepted_gross",
        "pre_snapshot_waste_tokens",
    ] {
        let v: Vec<u64> = (0..n_sessions).map(|_| rng.gen_range(0..12)).collect();
        cols.push((c.into(), Arc::new(UInt64Array::from(v))));
    }
    let sessions = RecordBatch::try_from_iter(cols).unwrap();
    (users, sessions)
}

fn bench(c: &mut Criterion) {
    let opts = ScoreOptions::default();
    let mut g = c.benchmark_group("score");
    g.sample_size(10);
    let (users, sessions) = tables(8000, 200_000, true);
    g.bench_function("8000 users, 200k sessions, roster teams", |b| {
        b.iter(|| black_box(score(&users, &sessions, &opts).unwrap()));
    });
    let (users, sessions) = tables(8000, 200_000, false);
    g.bench_function("8000 users, 200k sessions, behavioural cohorts", |b| {
        b.iter(|| black_box(score(&users, &sessions, &opts).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
