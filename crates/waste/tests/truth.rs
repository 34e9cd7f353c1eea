//! Known answers from the synthetic organisation: `goodhart synth` records in
//! `waste_labels.parquet` how many tokens each gaming person's behaviour
//! added over their honest usage; the ledger's estimate must be within ±30%
//! of that truth in total and per archetype (under rather than over), and
//! the waste attributed to legitimate people under 3% of their spend.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use chrono::NaiveDate;
use goodhart_features::{finalize, FeatureOptions, Features, SessionAccumulator};
use goodhart_io::{fold_dataset, read_parquet, read_roster, ReadOptions};
use goodhart_synth::{generate, SynthConfig};
use goodhart_waste::{estimate, PriceTable, WasteOptions};

fn strings(b: &RecordBatch, c: &str) -> Vec<String> {
    let a = b.column_by_name(c).unwrap();
    let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).unwrap();
    let s = a.as_string::<i32>();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

fn org(cfg: &SynthConfig, as_of: NaiveDate, days: u32) -> (tempfile::TempDir, Features) {
    let dir = tempfile::tempdir().unwrap();
    generate(cfg, dir.path()).unwrap();
    let opts = FeatureOptions {
        as_of: Some(as_of),
        window_days: days,
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
    let roster = read_roster(&dir.path().join("users.parquet")).unwrap();
    let f = finalize(ingested.value, &opts, Some(&roster)).unwrap();
    (dir, f)
}

/// Per archetype: (truth tokens, estimated tokens, spend tokens, users).
fn compare(seed: u64) -> BTreeMap<String, (u64, u64, u64, usize, f64, f64)> {
    let mut cfg = SynthConfig::new(300, 28, seed);
    cfg.gaming_share = 0.15;
    let as_of = cfg.start + chrono::Days::new(27);
    let (dir, f) = org(&cfg, as_of, 28);
    let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
    let labels = &read_parquet(&dir.path().join("waste_labels.parquet")).unwrap()[0];
    let ids = strings(labels, "user_id");
    let arch = strings(labels, "archetype");
    let added = labels
        .column_by_name("added_tokens")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let truth: BTreeMap<&str, (&str, u64)> = ids
        .iter()
        .zip(&arch)
        .enumerate()
        .map(|(i, (u, a))| (u.as_str(), (a.as_str(), added.value(i))))
        .collect();
    let mut by: BTreeMap<String, (u64, u64, u64, usize, f64, f64)> = BTreeMap::new();
    for u in &w.users {
        let (a, t) = truth[u.user_id.as_str()];
        let e = by.entry(a.to_string()).or_default();
        e.0 += t;
        e.1 += u.figures.waste_tokens();
        e.2 += u.figures.total_tokens;
        e.3 += 1;
        e.4 += u.figures.waste_usd();
        e.5 += u.figures.spend_usd();
        if std::env::var("WASTE_DEBUG").is_ok() && t > 0 {
            eprintln!("{a} {} truth {t} est {:?}", u.user_id, u.figures.tokens);
        }
    }
    by
}

#[test]
#[ignore = "calibration print"]
fn print_calibration() {
    for seed in [101, 202] {
        for (a, (t, e, s, n, wu, su)) in compare(seed) {
            eprintln!(
                "seed {seed} {a:<22} n={n:<3} truth={t:>12} est={e:>12} ratio={:.3} est/spend={:.4} usd/spend={:.4}",
                e as f64 / t.max(1) as f64,
                e as f64 / s as f64,
                wu / su
            );
        }
    }
}

fn check(seed: u64) {
    let by = compare(seed);
    let gaming = [
        "agent_spammer",
        "context_reloader",
        "prompt_looper",
        "verbose_burner",
        "leaderboard_sprinter",
        "change_padder",
        "subtle",
    ];
    let (mut t_all, mut e_all) = (0u64, 0u64);
    let (mut legit_w, mut legit_s, mut legit_wu, mut legit_su) = (0u64, 0u64, 0.0, 0.0);
    for (a, (t, e, s, n, wu, su)) in &by {
        if gaming.contains(&a.as_str()) {
            assert!(*n > 0 && *t > 0, "seed {seed}: no {a}");
            let r = *e as f64 / *t as f64;
            assert!(
                (0.7..=1.3).contains(&r),
                "seed {seed}: {a}: estimate {e} vs truth {t} tokens (ratio {r:.3})"
            );
            t_all += t;
            e_all += e;
        } else {
            assert_eq!(*t, 0, "{a} is legitimate: no truth waste");
            legit_w += e;
            legit_s += s;
            legit_wu += wu;
            legit_su += su;
        }
    }
    let r = e_all as f64 / t_all as f64;
    assert!(
        (0.7..=1.0).contains(&r),
        "seed {seed}: gaming total ratio {r:.3} (under, not over)"
    );
    // Legitimate people (power users, incident days, migrations, new hires
    // included): under 3% of their spend, in tokens and in dollars.
    let share = legit_w as f64 / legit_s as f64;
    assert!(
        share < 0.03,
        "seed {seed}: legitimate waste {share:.4} of tokens"
    );
    let share = legit_wu / legit_su;
    assert!(
        share < 0.03,
        "seed {seed}: legitimate waste {share:.4} of dollars"
    );
    for a in ["power", "incident", "migration"] {
        let (_, e, s, _, _, _) = by[a];
        assert!((e as f64) < 0.03 * s as f64, "seed {seed}: {a}: {e} of {s}");
    }
}

#[test]
fn estimates_match_the_synthetic_truth_on_fresh_seeds() {
    check(20261130);
    check(777);
}
