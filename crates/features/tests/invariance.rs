//! Determinism: the same events, shuffled, split into different batches,
//! merged in different tree shapes and under 1 or 2 threads give identical
//! tables; and no Float64 is ever NaN or infinite.

mod common;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use chrono::NaiveDate;
use common::*;
use goodhart_features::{finalize, FeatureOptions, Features, SessionAccumulator};
use goodhart_schema::EventKind;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_events(seed: u64, n: usize) -> Vec<Ev> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kinds = [
        EventKind::Request,
        EventKind::Request,
        EventKind::Request,
        EventKind::AgentSpawn,
        EventKind::ContextLoad,
        EventKind::ChangeAccepted,
        EventKind::ChangeRejected,
        EventKind::ChangeReverted,
    ];
    let models = ["claude-opus-4", "claude-sonnet-4", "gpt-5", ""];
    (0..n)
        .map(|_| {
            let user = format!("user{}", rng.gen_range(0..12));
            let session = format!("{user}-s{}", rng.gen_range(0..4));
            let kind = kinds[rng.gen_range(0..kinds.len())];
            // Coarse timestamps so that ties (same ts) are common.
            let minute = rng.gen_range(0..(20 * 24 * 60)) / 7 * 7;
            let agent = match rng.gen_range(0..4) {
                0 => String::new(),
                k => format!("ag{k}"),
            };
            let parent = match rng.gen_range(0..3) {
                0 => String::new(),
                k => format!("ag{k}"),
            };
            let task = match rng.gen_range(0..6) {
                0 => String::new(),
                1 => "continue".to_string(),
                k => format!("task{}", k + rng.gen_range(0..3)),
            };
            ev(&user, &session, minute, kind)
                .agent(&agent)
                .parent(&parent)
                .model(models[rng.gen_range(0..models.len())])
                .task(&task)
                .ctx(&if rng.gen_bool(0.8) {
                    format!("ctx{}", rng.gen_range(0..3))
                } else {
                    String::new()
                })
                .tokens(
                    rng.gen_range(0..2000),
                    rng.gen_range(0..500),
                    rng.gen_range(0..3000),
                    rng.gen_range(0..800),
                )
                .lines(rng.gen_range(0..8))
                .cost(rng.gen_range(0..1_000_000))
        })
        .collect()
}

fn opts() -> FeatureOptions {
    FeatureOptions {
        as_of: NaiveDate::from_ymd_opt(2024, 6, 20),
        ..FeatureOptions::default()
    }
}

fn fold(batches: &[Vec<Ev>]) -> Vec<SessionAccumulator> {
    batches
        .iter()
        .map(|b| {
            let mut a = SessionAccumulator::with_options(&opts());
            a.add_batch(&batch(b));
            a
        })
        .collect()
}

fn tree_merge(mut v: Vec<SessionAccumulator>) -> SessionAccumulator {
    while v.len() > 1 {
        let mut next = Vec::new();
        let mut it = v.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => b.merge(a),
                None => a,
            });
        }
        v = next;
    }
    v.pop().unwrap_or_default()
}

fn split(evs: &[Ev], rng: &mut ChaCha8Rng, parts: usize) -> Vec<Vec<Ev>> {
    let mut v = evs.to_vec();
    v.shuffle(rng);
    let mut cuts: Vec<usize> = (0..parts - 1).map(|_| rng.gen_range(0..=v.len())).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts.into_iter().chain([v.len()]) {
        out.push(v[prev..c].to_vec());
        prev = c;
    }
    out
}

fn assert_same(a: &Features, b: &Features) {
    assert_eq!(a.sessions, b.sessions);
    assert_eq!(a.users, b.users);
    assert_eq!(a.sessions_outside_window, b.sessions_outside_window);
    assert_eq!(a.common_prompts, b.common_prompts);
}

fn assert_finite(t: &arrow::array::RecordBatch) {
    for (field, col) in t.schema().fields().iter().zip(t.columns()) {
        if field.data_type() == &DataType::Float64 {
            let c = col.as_primitive::<Float64Type>();
            for i in 0..c.len() {
                if c.is_valid(i) {
                    assert!(
                        c.value(i).is_finite(),
                        "{}[{i}] = {}",
                        field.name(),
                        c.value(i)
                    );
                }
            }
        }
    }
}

#[test]
fn shuffles_splits_merge_trees_and_thread_counts_do_not_matter() {
    let evs = random_events(7, 4000);
    let one = {
        let mut a = SessionAccumulator::with_options(&opts());
        a.add_batch(&batch(&evs));
        finalize(a, &opts(), None).unwrap()
    };
    assert!(one.sessions.num_rows() > 30, "{}", one.sessions.num_rows());
    assert!(one.users.num_rows() == 12);
    assert!(one.common_prompts >= 1);
    assert_finite(&one.sessions);
    assert_finite(&one.users);

    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for parts in [2, 3, 7, 16] {
        let batches = split(&evs, &mut rng, parts);
        // Left fold.
        let left = fold(&batches)
            .into_iter()
            .reduce(SessionAccumulator::merge)
            .unwrap();
        assert_same(&one, &finalize(left, &opts(), None).unwrap());
        // Right fold in reverse order.
        let right = fold(&batches)
            .into_iter()
            .rev()
            .reduce(|a, b| b.merge(a))
            .unwrap();
        assert_same(&one, &finalize(right, &opts(), None).unwrap());
        // Balanced tree.
        let tree = tree_merge(fold(&batches));
        assert_same(&one, &finalize(tree, &opts(), None).unwrap());
        // Several batches into one accumulator.
        let mut single = SessionAccumulator::with_options(&opts());
        for b in batches.iter().rev() {
            single.add_batch(&batch(b));
        }
        assert_same(&one, &finalize(single, &opts(), None).unwrap());
        // Parallel convenience API under 1 and 2 threads.
        let eb: Vec<_> = batches.iter().map(|b| batch(b)).collect();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let f = pool.install(|| goodhart_features::features(&eb, &opts(), None).unwrap());
            assert_same(&one, &f);
        }
    }
}

#[test]
fn a_session_split_across_batches_matches_the_whole() {
    // Hand-sized: a loop split across three batches, out of order.
    let evs: Vec<Ev> = (0..6)
        .map(|m| {
            ev("kim", "s", m, EventKind::Request)
                .task("again")
                .tokens(10, 1, 0, 0)
        })
        .collect();
    let whole = {
        let mut a = SessionAccumulator::with_options(&opts());
        a.add_batch(&batch(&evs));
        finalize(a, &opts(), None).unwrap()
    };
    let parts = [&evs[4..6], &evs[0..2], &evs[2..4]];
    let acc = parts
        .iter()
        .map(|p| {
            let mut a = SessionAccumulator::with_options(&opts());
            a.add_batch(&batch(p));
            a
        })
        .reduce(SessionAccumulator::merge)
        .unwrap();
    let split = finalize(acc, &opts(), None).unwrap();
    assert_same(&whole, &split);
    assert_eq!(u(&split.sessions, "longest_run", 0), 6);
    assert_eq!(u(&split.sessions, "loop_requests", 0), 5);
    assert_eq!(u(&split.sessions, "loop_tokens", 0), 55);
}
