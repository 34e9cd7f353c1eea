//! The smaller commands: schema, config, validate, synth, detect, feedback, whois.

use crate::util::*;
use std::collections::BTreeMap;

#[test]
fn schema_prints_every_canonical_column() {
    let out = run(goodhart().arg("schema"));
    assert_eq!(code(&out), 0);
    insta::assert_snapshot!("schema_text", stdout(&out));
    let out = run(goodhart().args(["schema", "--format", "json"]));
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let text = v.to_string();
    for c in [
        "ts",
        "user_id",
        "session_id",
        "event",
        "task_hash",
        "context_hash",
        "cost_usd",
    ] {
        assert!(
            text.contains(&format!("\"{c}\"")),
            "{c} missing from schema json"
        );
    }
}

#[test]
fn default_config_round_trips_and_bad_config_names_file_and_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(goodhart().args(["config", "--default"]));
    assert_eq!(code(&out), 0);
    let p = dir.path().join("goodhart.toml");
    std::fs::write(&p, stdout(&out)).unwrap();
    let out = run(goodhart().args(["config", "--check"]).arg(&p));
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    std::fs::write(&p, "[scoring]\nalert_severity = \"severe\"\n").unwrap();
    let out = run(goodhart().args(["config", "--check"]).arg(&p));
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("goodhart.toml") && err.contains("alert_severity"),
        "{err}"
    );

    std::fs::write(&p, "[scan]\nwindw = \"7d\"\n").unwrap();
    let out = run(goodhart().args(["config", "--check"]).arg(&p));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("windw"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    let out = run(goodhart().args(["scan"]));
    assert_eq!(code(&out), 2);
    let out = run(goodhart().args(["scan", "/definitely/not/here"]));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("/definitely/not/here"),
        "{}",
        stderr(&out)
    );
    let out = run(goodhart()
        .arg("scan")
        .arg(sample())
        .args(["--as-of", "yesterday"]));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--as-of"), "{}", stderr(&out));
    // Values are checked while the arguments are parsed, before any work.
    for (args, option) in [
        (&["--threads", "0", "schema"][..], "--threads"),
        (&["scan", "--window", "0d", "x"][..], "--window"),
        (&["validate", "x", "--window", "7d"][..], "--as-of"),
        (
            &["synth", "--out", "x", "--start", "2026-13-01"][..],
            "--start",
        ),
    ] {
        let out = run(goodhart().args(args));
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(stderr(&out).contains(option), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn validate_counts_every_row_of_the_sample() {
    let out = run(goodhart()
        .arg("validate")
        .arg(sample())
        .args(["--format", "json"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let read = v["rows_read"].as_u64().unwrap();
    let acc = v["rows_accepted"].as_u64().unwrap();
    let q = v["rows_quarantined"].as_u64().unwrap();
    assert!(read > 10_000, "the sample has many rows, got {read}");
    // Compared with the files' own footers, not with goodhart's arithmetic
    // (accepted is read - quarantined by construction).
    assert_eq!(read, footer_rows(&sample()));
    assert_eq!(read, acc + q);
    // Per file figures add up to the totals.
    let files = v["files"].as_array().unwrap();
    assert!(files.len() >= 10);
    let sum: u64 = files.iter().map(|f| f["rows_read"].as_u64().unwrap()).sum();
    assert_eq!(sum, read);
}

#[test]
fn validate_quarantines_rows_outside_the_window_and_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.parquet");
    // A file named directly is read whatever its partition; its rows lie after
    // the window, so every one is quarantined, and none is lost.
    let file = sample().join("events/date=2026-10-05/part-0.parquet");
    let out = run(goodhart()
        .arg("validate")
        .arg(&file)
        .args([
            "--as-of",
            "2026-10-03",
            "--window",
            "3d",
            "--format",
            "json",
            "--quarantine",
        ])
        .arg(&q));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let read = v["rows_read"].as_u64().unwrap();
    let acc = v["rows_accepted"].as_u64().unwrap();
    let quarantined = v["rows_quarantined"].as_u64().unwrap();
    assert_eq!(read, footer_rows(&file));
    assert_eq!(read, acc + quarantined);
    assert!(read > 1000);
    assert_eq!(acc, 0);
    let reasons: BTreeMap<String, u64> = serde_json::from_value(v["reasons"].clone()).unwrap();
    assert_eq!(reasons.get("outside_window"), Some(&read));
    let table = read_parquet(&q);
    assert_eq!(table.num_rows() as u64, quarantined);
    assert!(table.column_by_name("reason").is_some());
}

#[test]
fn validate_rejects_a_file_that_is_not_parquet_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("events.parquet");
    std::fs::write(&p, "user_id,ts\nu1,2026-10-01\n").unwrap();
    let out = run(goodhart().arg("validate").arg(&p));
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("events.parquet"), "{err}");
    assert!(err.to_lowercase().contains("parquet"), "{err}");
}

#[test]
fn synth_is_deterministic_byte_for_byte_whatever_the_threads() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for (dir, threads) in [(&a, "1"), (&b, "2")] {
        let out = run(goodhart()
            .args([
                "synth",
                "--users",
                "40",
                "--days",
                "5",
                "--seed",
                "9",
                "--threads",
                threads,
                "--out",
            ])
            .arg(dir.path()));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let files = |d: &std::path::Path| {
        let mut v = Vec::new();
        for e in walk(d) {
            v.push((
                e.strip_prefix(d).unwrap().to_path_buf(),
                std::fs::read(&e).unwrap(),
            ));
        }
        v.sort();
        v
    };
    let fa = files(a.path());
    assert!(
        fa.len() >= 8,
        "events partitions + users + labels + session labels"
    );
    assert_eq!(fa, files(b.path()));
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn detect_scores_a_planted_outlier_highest_with_both_methods() {
    use arrow::array::{Float64Array, RecordBatch};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.parquet");
    // 200 points on a small grid, one far away at row 137.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let (x, y) = if i == 137 {
            (40.0, -35.0)
        } else {
            ((i % 10) as f64, (i / 10 % 7) as f64)
        };
        a.push(x);
        b.push(y);
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("a", Arc::new(Float64Array::from(a)) as _),
        ("b", Arc::new(Float64Array::from(b)) as _),
    ])
    .unwrap();
    let f = std::fs::File::create(&input).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    for method in ["iforest", "ecod"] {
        let out_path = dir.path().join(format!("{method}.parquet"));
        let out = run(goodhart()
            .args(["detect", "--method", method, "--seed", "3", "--input"])
            .arg(&input)
            .arg("--out")
            .arg(&out_path));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let t = read_parquet(&out_path);
        assert_eq!(t.num_rows(), 200);
        let s = t
            .column_by_name("score")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let best = (0..200)
            .max_by(|&i, &j| s.value(i).total_cmp(&s.value(j)))
            .unwrap();
        assert_eq!(best, 137, "{method}");
    }
    // A column that does not exist is a usage error naming it.
    let out = run(goodhart()
        .args([
            "detect",
            "--method",
            "ecod",
            "--columns",
            "a,nope",
            "--input",
        ])
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("z.parquet")));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn validate_with_a_window_prunes_partitions_and_accounts_for_the_rest() {
    let out = run(goodhart().arg("validate").arg(sample()).args([
        "--as-of",
        "2026-10-05",
        "--window",
        "3d",
        "--format",
        "json",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["files"].as_array().unwrap().len(),
        3,
        "only 2026-10-03..05 are read"
    );
    let in_window: u64 = ["2026-10-03", "2026-10-04", "2026-10-05"]
        .iter()
        .map(|d| footer_rows(&sample().join(format!("events/date={d}"))))
        .sum();
    assert_eq!(v["rows_read"].as_u64().unwrap(), in_window);
    assert_eq!(
        v["rows_read"].as_u64().unwrap(),
        v["rows_accepted"].as_u64().unwrap() + v["rows_quarantined"].as_u64().unwrap()
    );
}
