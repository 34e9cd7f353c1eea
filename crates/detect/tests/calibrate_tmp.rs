//! Temporary calibration harness (ignored).
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use goodhart_detect::eval::evaluate_seeded;
use goodhart_detect::{score, ScoreOptions};
use goodhart_features::{finalize, FeatureOptions, SessionAccumulator};
use goodhart_io::{discover, fold_events, read_parquet, read_roster, ReadOptions};
use goodhart_synth::{generate, SynthConfig};
use std::collections::BTreeMap;
use std::path::Path;

fn read_all(path: &Path) -> RecordBatch {
    let batches = read_parquet(path).unwrap();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
#[ignore]
fn calibrate() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let share: f64 = std::env::var("SHARE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.08);
    let intensity: f64 = std::env::var("INTENSITY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let roster = std::env::var("NOROSTER").is_err();
    let dir = std::path::PathBuf::from(format!("/tmp/gh_eval_{seed}_{share}_{intensity}"));
    if !dir.join("labels.parquet").exists() {
        let mut cfg = SynthConfig::new(1000, 21, seed);
        cfg.gaming_share = share;
        cfg.intensity = intensity;
        generate(&cfg, &dir).unwrap();
    }
    let files = discover(&dir.join("events"), None).unwrap();
    let fopts = FeatureOptions::default();
    let ing = fold_events(
        &files,
        &ReadOptions::default(),
        || SessionAccumulator::with_options(&fopts),
        |acc, b| acc.add_batch(b),
        SessionAccumulator::merge,
    )
    .unwrap();
    let r = roster.then(|| read_roster(&dir.join("users.parquet")).unwrap());
    let f = finalize(ing.value, &fopts, r.as_ref()).unwrap();
    let t = std::time::Instant::now();
    let s = score(&f.users, &f.sessions, &ScoreOptions::default()).unwrap();
    eprintln!("score took {:?}, cohorts {}", t.elapsed(), s.cohort_method);
    let labels = read_all(&dir.join("labels.parquet"));
    let ids = labels.column_by_name("user_id").unwrap().as_string::<i32>();
    let arch = labels
        .column_by_name("archetype")
        .unwrap()
        .as_string::<i32>();
    let arch_of: BTreeMap<String, String> = (0..ids.len())
        .map(|i| (ids.value(i).to_string(), arch.value(i).to_string()))
        .collect();
    // per archetype: n, alerts, median score, mean evidence per pattern
    let pats: Vec<String> = ScoreOptions::default()
        .patterns
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let mut by: BTreeMap<String, Vec<(f64, bool, Vec<f64>)>> = BTreeMap::new();
    let u = &s.users;
    let uid = u.column_by_name("user_id").unwrap().as_string::<i32>();
    let sc = u
        .column_by_name("score")
        .unwrap()
        .as_primitive::<arrow::datatypes::Float64Type>();
    let al = u.column_by_name("alert").unwrap().as_boolean();
    let evs: Vec<_> = pats
        .iter()
        .map(|p| {
            u.column_by_name(&format!("evidence_{p}"))
                .unwrap()
                .as_primitive::<arrow::datatypes::Float64Type>()
                .clone()
        })
        .collect();
    for i in 0..u.num_rows() {
        let a = arch_of.get(uid.value(i)).cloned().unwrap_or_default();
        let e: Vec<f64> = evs
            .iter()
            .map(|c| if c.is_null(i) { f64::NAN } else { c.value(i) })
            .collect();
        by.entry(a).or_default().push((sc.value(i), al.value(i), e));
    }
    eprintln!(
        "{:<22} {:>4} {:>5} {:>6} {:>6}  {}",
        "archetype",
        "n",
        "alert",
        "p10",
        "med",
        pats.iter()
            .map(|p| format!("{:>6.6}", p))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (a, v) in &by {
        let mut scores: Vec<f64> = v.iter().map(|x| x.0).collect();
        scores.sort_by(f64::total_cmp);
        let med = scores[scores.len() / 2];
        let p10 = scores[scores.len() / 10];
        let alerts = v.iter().filter(|x| x.1).count();
        let means: Vec<String> = (0..pats.len())
            .map(|j| {
                let mut xs: Vec<f64> = v.iter().map(|x| x.2[j]).filter(|x| x.is_finite()).collect();
                xs.sort_by(f64::total_cmp);
                if xs.is_empty() {
                    "   n/a".into()
                } else {
                    format!("{:>6.2}", xs[xs.len() / 2])
                }
            })
            .collect();
        let maxs: Vec<String> = (0..pats.len())
            .map(|j| {
                let m = v
                    .iter()
                    .map(|x| x.2[j])
                    .filter(|x| x.is_finite())
                    .fold(0.0, f64::max);
                format!("{:>6.1}", m)
            })
            .collect();
        eprintln!(
            "{:<22} {:>4} {:>5} {:>6.1} {:>6.1}  {}",
            a,
            v.len(),
            alerts,
            p10,
            med,
            means.join(" ")
        );
        eprintln!(
            "{:<22} {:>4} {:>5} {:>6} {:>6}  {}",
            "  (max)",
            "",
            "",
            "",
            "",
            maxs.join(" ")
        );
    }
    let cols = std::env::var("COLS").unwrap_or_else(|_| "waste_share,pre_snapshot_token_share,pre_snapshot_waste_share,tokens_per_accepted_change".into());
    for c in cols.split(',') {
        let col = arrow::compute::cast(
            u.column_by_name(c).unwrap(),
            &arrow::datatypes::DataType::Float64,
        )
        .unwrap();
        let col = col.as_primitive::<arrow::datatypes::Float64Type>();
        let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for i in 0..u.num_rows() {
            if !col.is_null(i) {
                per.entry(arch_of.get(uid.value(i)).cloned().unwrap_or_default())
                    .or_default()
                    .push(col.value(i));
            }
        }
        eprintln!("-- {c}: p10 / median / p90 / max");
        for (a, mut v) in per {
            v.sort_by(f64::total_cmp);
            let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
            eprintln!(
                "   {:<22} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                a,
                q(0.1),
                q(0.5),
                q(0.9),
                q(1.0)
            );
        }
    }
    if share > 0.0 {
        let rep = evaluate_seeded(&labels, &s.users, 1).unwrap();
        eprintln!("{rep}");
    }
    for e in s.explanations.iter().filter(|e| {
        e.alert
            && matches!(
                arch_of.get(&e.user_id).map(String::as_str),
                Some("light" | "regular" | "incident" | "new_hire" | "power" | "migration")
            )
    }) {
        eprintln!(
            "FALSE ALERT {} ({}) score {:.0}",
            e.user_id, arch_of[&e.user_id], e.score
        );
        for p in &e.patterns {
            eprintln!("   {:.1} {}: {}", p.strength, p.pattern, p.text);
        }
        if let Some(m) = &e.multivariate {
            eprintln!("   mv {:.2}", m.evidence);
        }
    }
}
