//! End to end on the labelled synthetic organisation (`goodhart-synth`),
//! read through `goodhart-io`'s parallel fold: every accepted row reaches the
//! features, and each gaming archetype stands out on its own waste feature
//! while legitimate heavy users (power) do not.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt64Type};
use chrono::NaiveDate;
use goodhart_features::{finalize, FeatureOptions, SessionAccumulator};
use goodhart_io::{fold_dataset, read_parquet, read_roster, ReadOptions};
use goodhart_synth::{generate, SynthConfig};
use std::collections::BTreeMap;

fn strings(b: &RecordBatch, c: &str) -> Vec<String> {
    let a = b.column_by_name(c).unwrap();
    let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).unwrap();
    let s = a.as_string::<i32>();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

fn f64s(b: &RecordBatch, c: &str) -> Vec<Option<f64>> {
    let a = b.column_by_name(c).unwrap().as_primitive::<Float64Type>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn synthetic_org_features_separate_gaming_archetypes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SynthConfig::new(150, 14, 11);
    cfg.gaming_share = 0.15;
    let summary = generate(&cfg, dir.path()).unwrap();

    let opts = FeatureOptions {
        as_of: NaiveDate::from_ymd_opt(2026, 10, 14),
        window_days: 14,
        ..FeatureOptions::default()
    };
    let ingested = fold_dataset(
        &dir.path().join("events"),
        &ReadOptions::default(),
        || SessionAccumulator::with_options(&opts),
        |acc, b| acc.add_batch(b),
        SessionAccumulator::merge,
    )
    .unwrap();
    let acc = ingested.value;
    // Nothing lost: every accepted row was folded.
    assert_eq!(acc.rows(), ingested.report.counts.rows_accepted);
    assert!(acc.rows() > 0 && acc.rows() <= summary.events);
    let roster = read_roster(&dir.path().join("users.parquet")).unwrap();
    let f = finalize(acc, &opts, Some(&roster)).unwrap();
    assert_eq!(f.users.num_rows(), 150);
    // Shared prompts ("continue", "run the tests", ...) are recognised.
    assert!(f.common_prompts >= 5, "{}", f.common_prompts);
    let teams = strings(&f.users, "team");
    assert!(teams.iter().all(|t| !t.is_empty()));

    let labels = &read_parquet(&dir.path().join("labels.parquet")).unwrap()[0];
    let archetype: BTreeMap<String, String> = strings(labels, "user_id")
        .into_iter()
        .zip(strings(labels, "archetype"))
        .collect();
    let users = strings(&f.users, "user_id");
    let by_arch = |feature: &str, arch: &str| -> Vec<f64> {
        users
            .iter()
            .zip(f64s(&f.users, feature))
            .filter(|(u, _)| archetype[*u] == arch)
            .map(|(_, v)| v.unwrap_or(0.0))
            .collect()
    };
    let legit = |feature: &str| -> Vec<f64> {
        [
            "light",
            "regular",
            "power",
            "incident",
            "new_hire",
            "migration",
        ]
        .iter()
        .flat_map(|a| by_arch(feature, a))
        .collect()
    };
    let report = |feature: &str, arch: &str| {
        let g = by_arch(feature, arch);
        let l = legit(feature);
        eprintln!(
            "{feature:<28} {arch:<22} n={} median {:.4}  legit median {:.4}",
            g.len(),
            if g.is_empty() {
                f64::NAN
            } else {
                median(g.clone())
            },
            median(l.clone())
        );
        (g, l)
    };
    for (feature, arch) in [
        ("redundant_spawn_ratio", "agent_spammer"),
        ("reload_uncached_share", "context_reloader"),
        ("loop_ratio", "prompt_looper"),
        ("output_per_request", "verbose_burner"),
        ("pre_snapshot_token_share", "leaderboard_sprinter"),
        ("trivial_change_share", "change_padder"),
        ("waste_share", "power"),
    ] {
        let (g, l) = report(feature, arch);
        if g.is_empty() {
            continue;
        }
        let lm = median(l);
        let gm = median(g);
        if arch == "power" {
            // Volume is not guilt: power users waste like everybody else.
            assert!(gm < 2.0 * lm + 0.02, "{feature}: power {gm} vs legit {lm}");
        } else {
            assert!(
                gm > 1.5 * lm,
                "{feature}: {arch} median {gm} vs legit median {lm}"
            );
        }
    }
    // Every session's total tokens add up to the users' totals.
    let st: u64 = f
        .sessions
        .column_by_name("total_tokens")
        .unwrap()
        .as_primitive::<UInt64Type>()
        .values()
        .iter()
        .sum();
    let ut: u64 = f
        .users
        .column_by_name("total_tokens")
        .unwrap()
        .as_primitive::<UInt64Type>()
        .values()
        .iter()
        .sum();
    assert_eq!(st, ut);
}
