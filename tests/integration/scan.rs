//! `goodhart scan` end to end on the committed sample.

use crate::util::*;
use arrow::array::{Array, Float64Array, StringArray};

#[test]
fn scan_sample_writes_every_output_and_accounts_for_every_row() {
    let out_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = scan_sample(out_dir.path(), state.path(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("alerts:"), "{text}");

    for f in [
        "user_scores.parquet",
        "session_scores.parquet",
        "alerts.jsonl",
        "summary.json",
        "report.html",
    ] {
        assert!(out_dir.path().join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("summary.json")).unwrap(),
    )
    .unwrap();
    let rows = &summary["rows"];
    // Every row in the input files' footers was read (an independent count:
    // caught when ingest was made to leave the last file out silently) ...
    assert_eq!(rows["read"].as_u64().unwrap(), footer_rows(&sample()));
    assert_eq!(
        rows["read"].as_u64().unwrap(),
        rows["accepted"].as_u64().unwrap() + rows["quarantined"].as_u64().unwrap()
    );
    assert!(rows["accepted"].as_u64().unwrap() > 10_000);
    // ... and every quarantined row is in quarantine.parquet, none dropped.
    let quarantined = rows["quarantined"].as_u64().unwrap();
    let qfile = out_dir.path().join("quarantine.parquet");
    if quarantined == 0 {
        assert!(
            !qfile.exists(),
            "no quarantine file without quarantined rows"
        );
    } else {
        assert_eq!(read_parquet(&qfile).num_rows() as u64, quarantined);
    }
    assert_eq!(summary["schema_version"], "1.1");
    assert!(summary["config_hash"].as_str().unwrap().len() == 16);
    assert!(summary["timings_ms"]["scoring_ms"].is_u64());

    let users = read_parquet(&out_dir.path().join("user_scores.parquet"));
    assert_eq!(users.num_rows() as u64, summary["users"].as_u64().unwrap());
    let score = users
        .column_by_name("score")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert!(score
        .iter()
        .all(|s| s.is_some_and(|s| (0.0..=100.0).contains(&s))));
    for c in [
        "user_id",
        "cohort",
        "severity",
        "top_patterns",
        "explanations",
        "total_tokens",
    ] {
        assert!(users.column_by_name(c).is_some(), "user_scores lacks {c}");
    }
    let sessions = read_parquet(&out_dir.path().join("session_scores.parquet"));
    for c in ["session_id", "user_id", "score", "patterns"] {
        assert!(
            sessions.column_by_name(c).is_some(),
            "session_scores lacks {c}"
        );
    }
    assert_eq!(
        sessions.num_rows() as u64,
        summary["sessions"].as_u64().unwrap()
    );

    // Alerts: the users at high or critical severity, each explained.
    let alerts = read_alerts(&out_dir.path().join("alerts.jsonl"));
    assert!(!alerts.is_empty(), "the sample has gamers, so some alerts");
    let sev = users
        .column_by_name("severity")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let high = (0..users.num_rows())
        .filter(|&i| matches!(sev.value(i), "high" | "critical"))
        .count();
    assert_eq!(alerts.len(), high);
    for a in &alerts {
        assert_eq!(a["status"], "new");
        assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
        assert!(matches!(
            a["severity"].as_str().unwrap(),
            "high" | "critical"
        ));
        let ev = a["evidence"].as_array().unwrap();
        assert!(!ev.is_empty(), "every alert explains itself: {a}");
        assert!(ev[0]["text"].as_str().unwrap().len() > 10);
        assert!(ev[0]["typical"].is_number());
    }
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();
    assert!(html.contains("<svg"));
}

#[test]
fn second_run_raises_nothing_new_and_first_run_can_fail_on_alerts() {
    let out_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let first = scan_sample(
        out_dir.path(),
        state.path(),
        &["--fail-on-alerts", "--quiet"],
    );
    assert_eq!(
        code(&first),
        3,
        "alerts raised with --fail-on-alerts: {}",
        stderr(&first)
    );
    assert!(stdout(&first).is_empty(), "--quiet prints nothing");
    let n = read_alerts(&out_dir.path().join("alerts.jsonl")).len();
    // A re-run of the same night repeats its statuses (idempotent) ...
    let rerun = scan_sample(out_dir.path(), state.path(), &[]);
    assert_eq!(code(&rerun), 0);
    assert!(read_alerts(&out_dir.path().join("alerts.jsonl"))
        .iter()
        .all(|a| a["status"] == "new"));
    // ... and the next night sees the same alerts as ongoing.
    let second = scan_sample(out_dir.path(), state.path(), &NEXT_NIGHT);
    assert_eq!(code(&second), 0);
    let alerts = read_alerts(&out_dir.path().join("alerts.jsonl"));
    assert_eq!(alerts.len(), n);
    assert!(
        alerts.iter().all(|a| a["status"] == "ongoing"),
        "nothing is re-raised as new"
    );
}

#[test]
fn outputs_do_not_depend_on_thread_count() {
    let state = tempfile::tempdir().unwrap();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    // --dry-run leaves the state untouched, so both runs see the same state.
    assert_eq!(
        code(&scan_sample(
            a.path(),
            state.path(),
            &["--threads", "1", "--dry-run"]
        )),
        0
    );
    assert_eq!(
        code(&scan_sample(
            b.path(),
            state.path(),
            &["--threads", "2", "--dry-run"]
        )),
        0
    );
    for f in [
        "user_scores.parquet",
        "session_scores.parquet",
        "alerts.jsonl",
        "report.html",
    ] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        assert!(x == y, "{f} differs between 1 and 2 threads");
    }
    let strip = |p: &std::path::Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("timings_ms");
        v
    };
    assert_eq!(
        strip(&a.path().join("summary.json")),
        strip(&b.path().join("summary.json"))
    );
}

#[test]
fn dry_run_changes_no_state_and_json_format_is_machine_readable() {
    let out_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dry = scan_sample(
        out_dir.path(),
        state.path(),
        &["--dry-run", "--format", "json"],
    );
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let v: serde_json::Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(v["delivery"]["dry_run"], true);
    // The real run is on the NEXT night: a same-night re-run repeats the last
    // status, so only a later night tells whether the dry run wrote state (an
    // alert recorded by it would now be "ongoing"). Caught when the dry run was
    // made to reconcile on the real state instead of a throwaway copy.
    let real = scan_sample(out_dir.path(), state.path(), &NEXT_NIGHT);
    assert_eq!(code(&real), 0, "{}", stderr(&real));
    let alerts = read_alerts(&out_dir.path().join("alerts.jsonl"));
    assert!(
        !alerts.is_empty(),
        "the sample raises alerts on the next night"
    );
    assert!(
        alerts.iter().all(|a| a["status"] == "new"),
        "the dry run recorded nothing: {:?}",
        alerts.iter().map(|a| &a["status"]).collect::<Vec<_>>()
    );
}

#[test]
fn a_false_positive_verdict_suppresses_that_alert_next_night() {
    let out_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    assert_eq!(code(&scan_sample(out_dir.path(), state.path(), &[])), 0);
    let alerts = read_alerts(&out_dir.path().join("alerts.jsonl"));
    let fp = alerts[0]["fingerprint"].as_str().unwrap().to_string();
    let out = run(goodhart()
        .args([
            "feedback",
            &fp,
            "--false-positive",
            "--note",
            "on-call week",
            "--at",
            "2026-10-15",
            "--state",
        ])
        .arg(state.path()));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("suppressed until"),
        "{}",
        stdout(&out)
    );

    let out = scan_sample(
        out_dir.path(),
        state.path(),
        &[
            "--format",
            "json",
            NEXT_NIGHT[0],
            NEXT_NIGHT[1],
            NEXT_NIGHT[2],
            NEXT_NIGHT[3],
        ],
    );
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["alerts_suppressed"], 1);
    let again = read_alerts(&out_dir.path().join("alerts.jsonl"));
    assert_eq!(again.len(), alerts.len() - 1);
    assert!(again.iter().all(|a| a["fingerprint"] != fp.as_str()));

    // Unknown fingerprints are the user's mistake.
    let out = run(goodhart()
        .args(["feedback", "0123456789abcdef", "--confirmed", "--state"])
        .arg(state.path()));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn bad_input_file_in_the_lake_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events/date=2026-10-10");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("part-0.parquet"), b"not parquet at all").unwrap();
    let out = run(goodhart()
        .arg("scan")
        .arg(dir.path())
        .args(["--as-of", "2026-10-12", "--out"])
        .arg(dir.path().join("out"))
        .arg("--state")
        .arg(dir.path().join("state")));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("part-0.parquet"), "{}", stderr(&out));
}

#[test]
fn eval_on_the_sample_beats_the_token_leaderboard() {
    let out_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    assert_eq!(
        code(&scan_sample(out_dir.path(), state.path(), &["--quiet"])),
        0
    );
    let out = run(goodhart()
        .arg("eval")
        .arg("--labels")
        .arg(sample().join("labels.parquet"))
        .arg("--scores")
        .arg(out_dir.path().join("user_scores.parquet"))
        .args(["--format", "json"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let text = v.to_string();
    assert!(text.contains("average_precision"), "{text}");
    let ours = v["users"]["goodhart"]["average_precision"]
        .as_f64()
        .unwrap();
    let board = v["users"]["token_leaderboard"]["average_precision"]
        .as_f64()
        .unwrap();
    assert!(ours > 0.8, "AP on the sample {ours}");
    assert!(ours > board + 0.3, "ours {ours} vs leaderboard {board}");
}
