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
    // Values of `feature` for the users of the archetypes `archs` (a missing
    // archetype fails: caught when synth's plan left out the context
    // reloaders, which the old test skipped). A null is
    // "not available" (e.g. no spawns, so no spawn ratio), never 0: it is left
    // out, and each group must keep most of its users.
    let group = |feature: &str, archs: &[&str]| -> Vec<f64> {
        let members = users
            .iter()
            .filter(|u| archs.contains(&archetype[*u].as_str()))
            .count();
        assert!(members > 0, "no user of {archs:?} in the organisation");
        let values: Vec<f64> = users
            .iter()
            .zip(f64s(&f.users, feature))
            .filter(|(u, _)| archs.contains(&archetype[*u].as_str()))
            .filter_map(|(_, v)| v)
            .collect();
        assert!(
            2 * values.len() > members,
            "{feature}: only {} of {members} users of {archs:?} have a value",
            values.len()
        );
        values
    };
    // Legitimate users other than the power users (who are compared with
    // them, so they must not be in the reference group).
    const LEGIT: [&str; 5] = ["light", "regular", "incident", "new_hire", "migration"];
    let quantile = |mut v: Vec<f64>, q: f64| -> f64 {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    for (feature, arch) in [
        ("redundant_spawn_ratio", "agent_spammer"),
        ("reload_uncached_share", "context_reloader"),
        ("loop_ratio", "prompt_looper"),
        ("output_per_request", "verbose_burner"),
        ("pre_snapshot_token_share", "leaderboard_sprinter"),
        ("trivial_change_share", "change_padder"),
    ] {
        let g = group(feature, &[arch]);
        let l = group(feature, &LEGIT);
        let (gm, lp90) = (median(g.clone()), quantile(l.clone(), 0.9));
        eprintln!(
            "{feature:<28} {arch:<22} n={} median {gm:.4}  legit median {:.4} p90 {lp90:.4}",
            g.len(),
            median(l.clone())
        );
        // A real margin: the typical gamer is beyond 90% of legitimate users
        // (a ratio test passed whenever the legitimate median was 0).
        assert!(
            gm > lp90,
            "{feature}: {arch} median {gm} not above the legitimate p90 {lp90}"
        );
    }
    // Volume is not guilt: power users waste like everybody else.
    let power = median(group("waste_share", &["power"]));
    let legit = group("waste_share", &LEGIT);
    let (lm, lp90) = (median(legit.clone()), quantile(legit, 0.9));
    eprintln!("waste_share power median {power:.4}  legit median {lm:.4} p90 {lp90:.4}");
    assert!(
        power <= lp90,
        "waste_share: power median {power} above the legitimate p90 {lp90}"
    );
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
