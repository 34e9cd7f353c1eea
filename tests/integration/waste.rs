//! The waste ledger end to end (#11): outputs of a scan, the weekly ledger
//! kept in the state across nights, `goodhart ledger`, small teams "< k".

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::Float64Type;
use chrono::NaiveDate;

use crate::util::*;

fn f64_col(b: &RecordBatch, c: &str) -> Vec<f64> {
    let a = b.column_by_name(c).unwrap().as_primitive::<Float64Type>();
    (0..a.len()).map(|i| a.value(i)).collect()
}

#[test]
fn a_scan_writes_the_ledger_columns_totals_and_alert_figures() {
    let out_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = scan_sample(out_dir.path(), state.path(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("summary.json")).unwrap(),
    )
    .unwrap();
    let w = &summary["waste"];
    let users = read_parquet(&out_dir.path().join("user_scores.parquet"));
    let sessions = read_parquet(&out_dir.path().join("session_scores.parquet"));
    // The organisation total is the sum over people and over sessions.
    let total = w["waste_usd"].as_f64().unwrap();
    assert!(total > 0.0);
    for t in [&users, &sessions] {
        let s: f64 = f64_col(t, "waste_usd").iter().sum();
        assert!((s - total).abs() < 1e-6 * total, "{s} vs {total}");
        for c in [
            "waste_tokens",
            "waste_usd_billed",
            "waste_usd_estimated",
            "price_basis",
        ] {
            assert!(t.column_by_name(c).is_some(), "{c}");
        }
        assert!(t.column_by_name("waste_usd_prompt_loop").is_some());
    }
    // The sample has cost_usd on every priced row: billed, nothing estimated.
    assert_eq!(w["waste_usd_estimated"].as_f64().unwrap(), 0.0);
    assert!((w["waste_usd_billed"].as_f64().unwrap() - total).abs() < 1e-9);
    let share = w["share_of_spend"].as_f64().unwrap();
    assert!(share > 0.0 && share < 0.5, "{share}");
    assert_eq!(w["price_table_date"], "2026-11-30");
    // The ledger file adds up to the same total (no team of the sample is small).
    let ledger = read_parquet(&out_dir.path().join("waste.parquet"));
    let s: f64 = f64_col(&ledger, "waste_usd").iter().sum();
    assert!((s - total).abs() < 1e-6 * total, "{s} vs {total}");
    // Every alert carries the waste of its pattern over the window.
    let alerts = read_alerts(&out_dir.path().join("alerts.jsonl"));
    assert!(!alerts.is_empty());
    for a in &alerts {
        let ev = a["evidence"].as_array().unwrap();
        let wv = ev.iter().find(|e| e["feature"] == "waste_usd").unwrap();
        let text = wv["text"].as_str().unwrap();
        assert!(
            text.starts_with("waste: ~$") && text.contains("over 15 days"),
            "{text}"
        );
    }
}

/// Rewrites a roster so that the first `n` users form team `team`.
fn small_team(roster: &Path, n: usize, team: &str) {
    let b = read_parquet(roster);
    let idx = b.schema().index_of("team").unwrap();
    let old = b.column(idx).as_string::<i32>();
    let teams: StringArray = (0..b.num_rows())
        .map(|i| {
            if i < n {
                Some(team.to_string())
            } else {
                old.is_valid(i).then(|| old.value(i).to_string())
            }
        })
        .collect();
    let mut cols = b.columns().to_vec();
    cols[idx] = Arc::new(teams);
    let b = RecordBatch::try_new(b.schema(), cols).unwrap();
    let f = std::fs::File::create(roster).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

fn ledger_json(state: &Path) -> serde_json::Value {
    let out = run(goodhart()
        .args(["ledger", "--format", "json", "--state"])
        .arg(state));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Waste and spend (USD) per week over the unsuppressed rows.
fn by_week(l: &serde_json::Value) -> Vec<(String, f64, f64)> {
    let mut m: std::collections::BTreeMap<String, (f64, f64, std::collections::BTreeSet<String>)> =
        Default::default();
    for r in l["rows"].as_array().unwrap() {
        if r["suppressed"].as_bool().unwrap() {
            continue;
        }
        let e = m
            .entry(r["week"].as_str().unwrap().to_string())
            .or_default();
        e.0 += r["waste_usd"].as_f64().unwrap();
        // Spend is per team, repeated on each pattern row: count it once.
        if e.2.insert(r["team"].as_str().unwrap().to_string()) {
            e.1 += r["spend_usd"].as_f64().unwrap();
        }
    }
    m.into_iter().map(|(w, (a, b, _))| (w, a, b)).collect()
}

#[test]
fn the_weekly_ledger_shows_gaming_stopping_halfway() {
    // Four weeks from Monday 2026-10-05: the first two with gamers, then the
    // same people (same ids and teams) all honest.
    let dir = tempfile::tempdir().unwrap();
    let start = NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
    let mut a = goodhart::synth::SynthConfig::new(150, 14, 31);
    a.start = start;
    a.gaming_share = 0.2;
    goodhart::synth::generate(&a, &dir.path().join("a")).unwrap();
    let mut b = goodhart::synth::SynthConfig::new(150, 14, 32);
    b.start = start + chrono::Days::new(14);
    b.gaming_share = 0.0;
    goodhart::synth::generate(&b, &dir.path().join("b")).unwrap();
    let roster = dir.path().join("a/users.parquet");
    small_team(&roster, 3, "tiny");
    std::fs::write(
        dir.path().join("goodhart.toml"),
        "[scan]\nmin_last_day_share = 0\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let scan = |as_of: &str| {
        let out = run(goodhart()
            .arg("scan")
            .arg(dir.path().join("a/events"))
            .arg(dir.path().join("b/events"))
            .arg("--roster")
            .arg(&roster)
            .arg("--config")
            .arg(dir.path().join("goodhart.toml"))
            .args(["--as-of", as_of, "--window", "28d", "--out"])
            .arg(dir.path().join(format!("out-{as_of}")))
            .arg("--state")
            .arg(&state));
        assert!(matches!(code(&out), 0 | 3), "{}", stderr(&out));
    };
    // Night after week 2: the two gaming weeks are recorded.
    scan("2026-10-18");
    let l = ledger_json(&state);
    let weeks: Vec<String> = by_week(&l).into_iter().map(|w| w.0).collect();
    assert_eq!(weeks, ["2026-10-05", "2026-10-12"]);
    // Night after week 4, twice (a re-run adds nothing).
    scan("2026-11-01");
    let l1 = ledger_json(&state);
    scan("2026-11-01");
    let l2 = ledger_json(&state);
    assert_eq!(
        l1["rows"].as_array().unwrap().len(),
        l2["rows"].as_array().unwrap().len()
    );
    let w = by_week(&l2);
    assert_eq!(
        w.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    );
    let (before, after): (f64, f64) = (w[0].1 + w[1].1, w[2].1 + w[3].1);
    let (spend_before, spend_after) = (w[0].2 + w[1].2, w[2].2 + w[3].2);
    // Gaming weeks: waste is a material share of spend; after: almost none.
    assert!(before > 0.05 * spend_before, "{before} of {spend_before}");
    assert!(after < 0.03 * spend_after, "{after} of {spend_after}");
    assert!(after < before / 10.0, "before {before}, after {after}");
    // The team of 3 is in the ledger, its figures withheld ("< 5" in CSV).
    let tiny: Vec<&serde_json::Value> = l2["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["team"] == "tiny")
        .collect();
    assert!(!tiny.is_empty());
    assert!(tiny.iter().all(|r| r["suppressed"] == true
        && r["waste_usd"].is_null()
        && r["users_involved"].is_null()));
    let out = run(goodhart()
        .args(["ledger", "--format", "csv", "--state"])
        .arg(&state));
    let csv = stdout(&out);
    let line = csv.lines().find(|l| l.contains(",tiny,")).unwrap();
    assert!(line.contains(",true,< 5,< 5,"), "{line}");
    // The same suppression in the scan's waste.parquet.
    let wp = read_parquet(&dir.path().join("out-2026-11-01/waste.parquet"));
    let teams = wp.column_by_name("team").unwrap().as_string::<i32>();
    let usd = wp.column_by_name("waste_usd").unwrap();
    for i in 0..wp.num_rows() {
        if teams.value(i) == "tiny" {
            assert!(usd.is_null(i));
        }
    }
}
