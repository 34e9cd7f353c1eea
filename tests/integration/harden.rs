//! Hardening of the nightly run (issue #16, pipeline side): odd entries in
//! the lake, empty and incomplete windows, one output set.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A copy of the committed sample (events, roster, config) under `dst`.
pub fn copy_sample(dst: &Path) -> PathBuf {
    fn copy(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            let to = dst.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to);
            } else {
                std::fs::copy(e.path(), to).unwrap();
            }
        }
    }
    let root = dst.join("sample");
    copy(&sample(), &root);
    root
}

/// Runs `c` and fails the test (killing the child) if it takes longer than `limit`:
/// a hang must fail the test, not the test run.
pub fn run_bounded(c: &mut Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the goodhart binary runs");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "goodhart did not finish within {limit:?} (hung?); stderr:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

#[test]
fn a_fifo_in_the_lake_is_skipped_with_a_warning_by_scan_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_sample(dir.path());
    let fifo = data.join("events/date=2026-10-10/x.parquet");
    mkfifo(&fifo);

    let out = run_bounded(
        goodhart()
            .arg("validate")
            .arg(&data)
            .args(["--format", "json"]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning:") && err.contains("x.parquet") && err.contains("FIFO"),
        "{err}"
    );

    let out = run_bounded(
        goodhart()
            .arg("scan")
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join("out"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .arg("--quiet"),
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("x.parquet") && err.contains("FIFO"), "{err}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    let skipped = summary["inputs"]["files_skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary}");
    assert!(skipped[0].as_str().unwrap().contains("x.parquet"));

    // Named directly, the FIFO is an input error (exit 2), not a hang.
    let out = run_bounded(
        goodhart().arg("validate").arg(&fifo),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("x.parquet"), "{}", stderr(&out));
}

#[test]
fn a_symlink_loop_in_the_lake_exits_2_naming_the_link_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_sample(dir.path());
    let link = data.join("events/date=2026-10-10/loop");
    std::os::unix::fs::symlink(data.join("events"), &link).unwrap();
    for cmd in ["validate", "scan"] {
        let mut c = goodhart();
        c.arg(cmd).arg(&data);
        if cmd == "scan" {
            c.arg("--out")
                .arg(dir.path().join("out"))
                .arg("--state")
                .arg(dir.path().join("state"));
        }
        let out = run_bounded(&mut c, Duration::from_secs(60));
        assert_eq!(code(&out), 2, "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("symbolic link loop"), "{err}");
        assert_eq!(err.matches("date=2026-10-10/loop").count(), 1, "{err}");
    }
    assert!(
        !dir.path().join("out").exists(),
        "no output from a failed scan"
    );
}

fn scan_data(data: &Path, out: &Path, state: &Path, extra: &[&str]) -> Output {
    run_bounded(
        goodhart()
            .arg("scan")
            .arg(data)
            .arg("--out")
            .arg(out)
            .arg("--state")
            .arg(state)
            .arg("--quiet")
            .args(extra),
        Duration::from_secs(120),
    )
}

/// Every file under `dir` (recursively: the state keeps its backups in a
/// subdirectory), by relative path, with its bytes.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, v: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), v);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                v.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn an_empty_window_exits_2_with_the_window_and_the_data_range_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let o = scan_data(&sample(), &out, &state, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (outs, states) = (files_of(&out), files_of(&state));

    // 2062 for 2026: every partition lies outside the window.
    let o = scan_data(&sample(), &out, &state, &["--as-of", "2062-10-15"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("2062-10-01 .. 2062-10-15"), "{err}");
    assert!(
        err.contains("the data covers 2026-10-01 .. 2026-10-15"),
        "{err}"
    );
    assert_eq!(files_of(&out), outs, "outputs unchanged");
    assert_eq!(files_of(&state), states, "state unchanged");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 2, "no staging directory left");
}

#[test]
fn an_incomplete_last_day_is_reported_exits_4_and_resolves_no_alert() {
    // The sample's last partition (2026-10-15) holds only the sessions that ran
    // past midnight of its last day: 325 events against a median of 24317.
    let dir = tempfile::tempdir().unwrap();
    let cfg = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let medium = cfg(
        "low.toml",
        "[scan]\nmin_last_day_share = 0.0\n[scoring]\nalert_severity = \"low\"\n",
    );
    let off = cfg("off.toml", "[scan]\nmin_last_day_share = 0.0\n");
    let on = cfg("on.toml", "[scan]\nmin_last_day_share = 0.5\n");
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    // An early night raising low and medium alerts too (the sample's
    // gamers alone are high on both nights); they are not raised on the
    // last night, which resolves them.
    let o = scan_data(
        &sample(),
        &out,
        &state,
        &[
            "--as-of",
            "2026-10-05",
            "--window",
            "5d",
            "--config",
            &medium,
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let state_off = dir.path().join("state-off");
    std::fs::create_dir_all(&state_off).unwrap();
    for f in std::fs::read_dir(&state).unwrap() {
        let f = f.unwrap();
        // The database files; the backups subdirectory is not needed.
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), state_off.join(f.file_name())).unwrap();
        }
    }
    let night = |state: &Path, out: &Path, config: &str| {
        run_bounded(
            goodhart()
                .arg("scan")
                .arg(sample())
                .arg("--out")
                .arg(out)
                .arg("--state")
                .arg(state)
                .args([
                    "--as-of",
                    "2026-10-15",
                    "--window",
                    "15d",
                    "--format",
                    "json",
                ])
                .args(["--config", config]),
            Duration::from_secs(120),
        )
    };

    // Control: with the check off, the last night resolves the early alert.
    let o = night(&state_off, &dir.path().join("out-off"), &off);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["alerts_resolved"].as_u64().unwrap() > 0,
        "precondition: a complete night would resolve alerts: {v}"
    );

    // With the default threshold (50 %): flagged, exit 4, nothing resolved.
    let o = night(&state, &out, &on);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("looks incomplete"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["alerts_resolved"], 0);
    let c = &v["completeness"];
    assert_eq!(c["complete"], false, "{c}");
    assert_eq!(c["last_day"], "2026-10-15");
    assert_eq!(c["last_day_events"], 325);
    assert_eq!(
        c["basis"], "same_weekday",
        "two earlier Thursdays in 15 days: {c}"
    );
    assert_eq!(c["min_share"], 0.5);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["completeness"]["complete"], false);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("id=\"warnings\"") && html.contains("looks incomplete"),
        "the report shows the warning"
    );
}

#[test]
fn a_complete_night_has_no_warning_in_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let o = scan_data(
        &sample(),
        &out,
        &state,
        &["--as-of", "2026-10-14", "--window", "14d"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["completeness"]["complete"], true, "{summary}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("id=\"warnings\""));
}

#[test]
fn every_output_gets_the_mode_the_umask_gives() {
    for (umask, mode) in [("022", 0o644), ("027", 0o640)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = run_bounded(
            Command::new("sh")
                .arg("-c")
                .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_goodhart"))
                .arg("scan")
                .arg(sample())
                .arg("--out")
                .arg(&out)
                .arg("--state")
                .arg(dir.path().join("state"))
                .arg("--quiet"),
            Duration::from_secs(120),
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        for e in std::fs::read_dir(&out).unwrap() {
            let e = e.unwrap();
            let m = std::os::unix::fs::PermissionsExt::mode(&e.metadata().unwrap().permissions());
            assert_eq!(
                m & 0o777,
                mode,
                "{} with umask {umask}",
                e.file_name().to_string_lossy()
            );
        }
    }
}

#[test]
fn a_bad_window_names_where_it_came_from_and_config_check_agrees_with_scan() {
    let dir = tempfile::tempdir().unwrap();
    // From the flag: the message names --window, not a configuration file.
    let o = scan_data(
        &sample(),
        &dir.path().join("out"),
        &dir.path().join("state"),
        &["--window", "5000d"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("--window") && err.contains("5000d"), "{err}");
    assert!(!err.contains("goodhart.toml"), "{err}");

    // From the file: config --check rejects what scan rejects, naming the setting.
    let cfg = dir.path().join("g.toml");
    std::fs::write(&cfg, "[scan]\nwindow = \"5000d\"\n").unwrap();
    let o = run(goodhart().arg("config").arg("--check").arg(&cfg));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("[scan] window"), "{}", stderr(&o));
    let o = scan_data(
        &sample(),
        &dir.path().join("out"),
        &dir.path().join("state"),
        &["--config", cfg.to_str().unwrap()],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("g.toml"), "{}", stderr(&o));
}

#[test]
fn a_roster_listing_a_user_twice_exits_2_naming_the_user_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_sample(dir.path());
    let roster = data.join("users.parquet");
    let b = read_parquet(&roster);
    let twice = arrow::compute::concat_batches(&b.schema(), &[b.clone(), b.slice(3, 1)]).unwrap();
    let f = std::fs::File::create(&roster).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, twice.schema(), None).unwrap();
    w.write(&twice).unwrap();
    w.close().unwrap();
    let o = scan_data(
        &data,
        &dir.path().join("out"),
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    let n = b.num_rows();
    assert!(
        err.contains("listed 2 times")
            && err.contains("users.parquet row 3")
            && err.contains(&format!("users.parquet row {n}")),
        "{err}"
    );
}

#[test]
fn a_corrupt_input_file_exits_2_with_one_message_naming_row_group_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_sample(dir.path());
    let part = data.join("events/date=2026-10-12/part-0.parquet");
    // Rewrite the partition uncompressed and plain-encoded, then garble the
    // user ids' bytes: the pages stay readable, the strings are not UTF-8.
    let b = read_parquet(&part);
    let props = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .build();
    let mut bytes = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let needle = b"u-00";
    let mut hits = 0;
    for i in 0..bytes.len() - needle.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i] = 0xFF;
            hits += 1;
        }
    }
    assert!(hits > 100, "{hits}");
    std::fs::write(&part, bytes).unwrap();
    let o = scan_data(
        &data,
        &dir.path().join("out"),
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("date=2026-10-12/part-0.parquet")
            && err.contains("row group 0")
            && err.contains("column user_id"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn copies_of_a_file_are_read_once_and_duplicate_rows_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    let o = scan_data(&sample(), &clean, &dir.path().join("s1"), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let clean_summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(clean.join("summary.json")).unwrap())
            .unwrap();

    let data = copy_sample(dir.path());
    let day = data.join("events/date=2026-10-10");
    std::fs::copy(day.join("part-0.parquet"), day.join("part-0-copy.parquet")).unwrap();
    std::os::unix::fs::symlink(&day, data.join("events/date=2026-10-10-again")).unwrap();
    let out = dir.path().join("out");
    let o = scan_data(&data, &out, &dir.path().join("s2"), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("part-0-copy.parquet") || err.contains("date=2026-10-10/part-0.parquet"),
        "{err}"
    );
    assert!(err.contains("date=2026-10-10-again"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The copy (read once) and both files again through the symlinked partition.
    assert_eq!(
        summary["inputs"]["files_skipped"].as_array().unwrap().len(),
        3,
        "{summary}"
    );
    assert_eq!(
        summary["rows"], clean_summary["rows"],
        "the same rows, read once"
    );
    assert_eq!(
        std::fs::read(out.join("alerts.jsonl")).unwrap(),
        std::fs::read(clean.join("alerts.jsonl")).unwrap(),
        "the copies change no alert"
    );

    // Rows repeated inside the data (another file, other bytes) are counted.
    let b = read_parquet(&day.join("part-0.parquet"));
    let some = b.slice(0, 100);
    let f = std::fs::File::create(day.join("extra.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, some.schema(), None).unwrap();
    w.write(&some).unwrap();
    w.close().unwrap();
    let o = scan_data(&data, &out, &dir.path().join("s3"), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["rows"]["duplicate_events"].as_u64().unwrap(),
        clean_summary["rows"]["duplicate_events"].as_u64().unwrap() + 100,
        "{}",
        summary["rows"]
    );
}
