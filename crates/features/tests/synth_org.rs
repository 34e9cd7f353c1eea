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

/// Rows `idx` of `b` (names kept whole).
fn pick(b: &goodhart_schema::EventBatch, idx: &[usize]) -> goodhart_schema::EventBatch {
    fn p<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
        idx.iter().map(|&i| v[i]).collect()
    }
    goodhart_schema::EventBatch {
        ts_us: p(&b.ts_us, idx),
        user: p(&b.user, idx),
        session: p(&b.session, idx),
        kind: p(&b.kind, idx),
        agent: p(&b.agent, idx),
        parent_agent: p(&b.parent_agent, idx),
        model: p(&b.model, idx),
        input_tokens: p(&b.input_tokens, idx),
        output_tokens: p(&b.output_tokens, idx),
        cache_read_tokens: p(&b.cache_read_tokens, idx),
        cache_write_tokens: p(&b.cache_write_tokens, idx),
        task_hash: p(&b.task_hash, idx),
        context_hash: p(&b.context_hash, idx),
        change_id: p(&b.change_id, idx),
        lines: p(&b.lines, idx),
        cost_nanousd: p(&b.cost_nanousd, idx),
        n: if b.n.is_empty() {
            Vec::new()
        } else {
            p(&b.n, idx)
        },
        presence: b.presence,
        names: b.names.clone(),
    }
}

#[test]
fn parts_split_by_user_join_into_the_organisations_tables() {
    use goodhart_features::{concat_parts, finalize_with, task_users, CommonPrompts};
    let dir = tempfile::tempdir().unwrap();
    generate(&SynthConfig::new(60, 10, 3), dir.path()).unwrap();
    let opts = FeatureOptions {
        as_of: NaiveDate::from_ymd_opt(2026, 10, 10),
        window_days: 7,
        ..FeatureOptions::default()
    };
    const PARTS: usize = 3;
    let new = || -> Vec<SessionAccumulator> {
        (0..PARTS)
            .map(|_| SessionAccumulator::with_options(&opts))
            .collect()
    };
    let ingested = fold_dataset(
        &dir.path().join("events"),
        &ReadOptions::default(),
        || (SessionAccumulator::with_options(&opts), new()),
        |(whole, parts), b| {
            whole.add_batch(b);
            for (k, part) in parts.iter_mut().enumerate() {
                let idx: Vec<usize> = (0..b.len())
                    .filter(|&i| (b.user[i] % PARTS as u64) as usize == k)
                    .collect();
                if !idx.is_empty() {
                    part.add_batch(&pick(b, &idx));
                }
            }
        },
        |(a, pa), (b, pb)| {
            let parts = pa
                .into_iter()
                .zip(pb)
                .map(|(x, y)| SessionAccumulator::merge(x, y))
                .collect();
            (SessionAccumulator::merge(a, b), parts)
        },
    )
    .unwrap();
    let (whole, mut parts) = ingested.value;
    let roster = read_roster(&dir.path().join("users.parquet")).unwrap();
    let presence = whole.presence();
    let expected = finalize(whole, &opts, Some(&roster)).unwrap();

    let tu: Vec<_> = parts.iter().map(|p| task_users(p, &opts)).collect();
    let n_users: usize = tu.iter().map(|t| t.users.len()).sum();
    let common = CommonPrompts::from_pairs(
        &opts,
        n_users,
        tu.iter().flat_map(|t| t.pairs.iter().copied()),
    );
    assert_eq!(common.tasks.len(), expected.common_prompts);
    let features: Vec<_> = parts
        .drain(..)
        .map(|mut p| {
            p.add_presence(presence);
            finalize_with(p, &opts, Some(&roster), Some(&common)).unwrap()
        })
        .collect();
    // Each part holds some of the users; joined, they are the organisation.
    assert!(features.iter().all(|f| f.users.num_rows() > 0));
    assert!(features
        .iter()
        .all(|f| f.users.num_rows() < expected.users.num_rows()));
    let mismatched = {
        let mut f = features.clone();
        f[1].window_end += chrono::Duration::days(1);
        f
    };
    let joined = concat_parts(features).unwrap();
    assert_eq!(joined.sessions, expected.sessions);
    assert_eq!(joined.users, expected.users);
    assert_eq!(joined.session_models, expected.session_models);
    assert_eq!(
        joined.sessions_outside_window,
        expected.sessions_outside_window
    );
    assert_eq!(joined.presence, expected.presence);
    assert_eq!(
        (joined.window_start, joined.window_end),
        (expected.window_start, expected.window_end)
    );

    // Parts of different windows, or none, are refused with the fix.
    let e = concat_parts(mismatched).unwrap_err().to_string();
    assert!(
        e.contains("different windows") && e.contains("as_of"),
        "{e}"
    );
    let e = concat_parts(Vec::new()).unwrap_err().to_string();
    assert!(e.contains("at least one part"), "{e}");
}
