//! The feature cache (#15): a nightly `goodhart scan` that reuses what the
//! state directory kept of unchanged event files publishes the same bytes as
//! a cold scan (`--full`) of the same window and alert state, after a day is
//! appended, a past partition rewritten or deleted, the configuration
//! changed and the window slid; and a run killed anywhere leaves a cache
//! from which the next run is still right.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};

use crate::util::{code, copy_dir, goodhart, read_parquet, run, stderr};

/// Every output file's bytes; `summary.json` without the parts that depend on
/// earlier runs and the machine (and `loose` keys).
fn outputs(dir: &Path, loose: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(&p).unwrap();
        if name == "summary.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let o = v.as_object_mut().unwrap();
            for k in ["feature_cache", "timings_ms", "feature_buckets"]
                .iter()
                .chain(loose)
            {
                assert!(o.remove(*k).is_some(), "summary.json has no {k}");
            }
            bytes = serde_json::to_vec_pretty(&v).unwrap();
        }
        m.insert(name, bytes);
    }
    assert!(m.contains_key("session_scores.parquet"), "{m:?}");
    m
}

struct Night<'a> {
    tmp: &'a Path,
    dataset: &'a Path,
    config: &'a Path,
    state: PathBuf,
    n: usize,
}

impl Night<'_> {
    fn scan(
        &self,
        out: &Path,
        state: &Path,
        night: &[&str],
        extra: &[&str],
    ) -> std::process::Output {
        self.scan_killed_at(out, state, night, extra, None)
    }

    /// [`Night::scan`], killed at fault point `fault` when given.
    fn scan_killed_at(
        &self,
        out: &Path,
        state: &Path,
        night: &[&str],
        extra: &[&str],
        fault: Option<u64>,
    ) -> std::process::Output {
        let mut c = goodhart();
        c.arg("scan")
            .arg(self.dataset)
            .arg("--config")
            .arg(self.config)
            .arg("--out")
            .arg(out)
            .arg("--state")
            .arg(state)
            .arg("--quiet")
            .args(night)
            .args(extra)
            .env_remove("GOODHART_FAULT_INJECT");
        if let Some(k) = fault {
            c.env("GOODHART_FAULT_INJECT", k.to_string());
        }
        run(&mut c)
    }

    /// Tonight's scan with the cache, checked against a cold scan (`--full`)
    /// from a copy of the same state; returns the incremental run's
    /// `feature_cache` summary.
    fn run(&mut self, night: &[&str]) -> serde_json::Value {
        self.n += 1;
        let cold_state = self.tmp.join(format!("cold-state-{}", self.n));
        copy_dir(&self.state, &cold_state);
        let inc = self.tmp.join(format!("inc-{}", self.n));
        let cold = self.tmp.join(format!("cold-{}", self.n));
        let o = self.scan(&inc, &self.state, night, &[]);
        assert_eq!(code(&o), 0, "night {}: {}", self.n, stderr(&o));
        let o = self.scan(&cold, &cold_state, night, &["--full"]);
        assert_eq!(code(&o), 0, "night {}: {}", self.n, stderr(&o));
        assert!(
            outputs(&inc, &[]) == outputs(&cold, &[]),
            "night {}: the incremental outputs differ from the cold scan's",
            self.n
        );
        let cold_cache = summary(&cold)["feature_cache"].clone();
        assert_eq!(cold_cache["files_reused"], 0, "{cold_cache}");
        assert_eq!(cold_cache["cold_reason"], "--full", "{cold_cache}");
        summary(&inc)["feature_cache"].clone()
    }
}

/// `goodhart synth` of `users` people over `days` days into `out`.
fn synth(users: u32, days: u32, seed: u32, out: &Path) {
    let o = run(goodhart()
        .arg("synth")
        .args(["--users", &users.to_string(), "--days", &days.to_string()])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(out));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

fn day(d: u32) -> String {
    format!("date=2026-10-{d:02}")
}

/// A hand-made file of 5 rows on day `d` at 09:00 of user `hand-1`: 3 good,
/// 2 set aside (an unknown event, negative tokens), so the quarantine is
/// stored and reused too. With `early`, its first two rows are on that day
/// instead (outside a window that starts later).
fn write_mixed(path: &Path, d: u32, early: Option<u32>) {
    let at = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 10, d)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
    };
    let ts: Vec<i64> = (0..5)
        .map(|i| at(if i < 2 { early.unwrap_or(d) } else { d }) + i * 60_000_000)
        .collect();
    let batch = RecordBatch::try_from_iter([
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(ts)) as ArrayRef,
        ),
        (
            "user_id",
            Arc::new(StringArray::from(vec!["hand-1"; 5])) as _,
        ),
        (
            "session_id",
            Arc::new(StringArray::from(vec!["hs-1"; 5])) as _,
        ),
        (
            "event",
            Arc::new(StringArray::from(vec![
                "request", "request", "bogus", "request", "request",
            ])) as _,
        ),
        (
            "input_tokens",
            Arc::new(Int64Array::from(vec![100, 200, 300, -5, 400])) as _,
        ),
        (
            "output_tokens",
            Arc::new(Int64Array::from(vec![10, 20, 30, 40, 50])) as _,
        ),
    ])
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    goodhart::io::write_parquet_atomic(path, batch.schema(), &[batch]).unwrap();
}

/// The file without its last `n` rows (new bytes, fewer rows).
fn drop_last_rows(path: &Path, n: usize) {
    let b = read_parquet(path);
    let kept = b.slice(0, b.num_rows() - n);
    std::fs::remove_file(path).unwrap();
    goodhart::io::write_parquet_atomic(path, kept.schema(), &[kept]).unwrap();
}

#[test]
fn incremental_scans_equal_cold_scans_night_after_night() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    synth(60, 10, 7, &lake);
    // The dataset starts with days 1..8 (the later days arrive night by night).
    let ds = tmp.path().join("ds");
    copy_dir(&lake, &ds);
    for d in 9..=11 {
        // Day 11 holds sessions running past midnight, when there are any.
        let _ = std::fs::remove_dir_all(ds.join("events").join(day(d)));
    }
    assert!(!ds.join("events").join(day(9)).exists());
    write_mixed(
        &ds.join("events").join(day(3)).join("extra.parquet"),
        3,
        None,
    );
    // Outside any partition (never pruned): rows on days 3 and 8.
    write_mixed(&ds.join("events").join("flat.parquet"), 8, Some(3));
    let config = tmp.path().join("goodhart.toml");
    std::fs::write(&config, "[scan]\nmin_last_day_share = 0.0\n").unwrap();
    let mut night = Night {
        tmp: tmp.path(),
        dataset: &ds,
        config: &config,
        state: tmp.path().join("state"),
        n: 0,
    };
    let get = |c: &serde_json::Value, k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k}: {c}"));

    // 1. No cache yet: every file is read and stored.
    let c = night.run(&["--as-of", "2026-10-08", "--window", "8d"]);
    assert_eq!(c["cold_reason"], "no feature cache yet", "{c}");
    assert_eq!(
        (get(&c, "files_read"), get(&c, "entries_written")),
        (10, 10),
        "{c}"
    );
    let inc1 = summary(&tmp.path().join("inc-1"));
    assert_eq!(inc1["rows"]["quarantined"], 4, "{inc1}");

    // 2. A day appended: only its file is read.
    copy_dir(
        &lake.join("events").join(day(9)),
        &ds.join("events").join(day(9)),
    );
    let c = night.run(&["--as-of", "2026-10-09", "--window", "9d"]);
    assert_eq!(c["cold_reason"], serde_json::Value::Null, "{c}");
    assert_eq!(
        (get(&c, "files_reused"), get(&c, "files_read")),
        (10, 1),
        "{c}"
    );
    let rows = summary(&tmp.path().join("inc-2"))["rows"]["read"]
        .as_u64()
        .unwrap();
    assert_eq!(get(&c, "rows_reused") + get(&c, "rows_read"), rows, "{c}");

    // 3. A past partition rewritten (50 rows fewer): exactly that file is read again.
    drop_last_rows(&ds.join("events").join(day(4)).join("part-0.parquet"), 50);
    let c = night.run(&["--as-of", "2026-10-09", "--window", "9d"]);
    assert_eq!(
        (
            get(&c, "files_reused"),
            get(&c, "files_read"),
            get(&c, "files_changed")
        ),
        (10, 1, 1),
        "{c}"
    );

    // 4. A past partition deleted: its entry is dropped, nothing is read.
    std::fs::remove_dir_all(ds.join("events").join(day(6))).unwrap();
    let c = night.run(&["--as-of", "2026-10-09", "--window", "9d"]);
    assert_eq!(
        (
            get(&c, "files_reused"),
            get(&c, "files_read"),
            get(&c, "entries_dropped")
        ),
        (10, 0, 1),
        "{c}"
    );

    // 5. Another configuration: everything is read again.
    std::fs::write(&config, "[scan]\nmin_last_day_share = 0.01\n").unwrap();
    let c = night.run(&["--as-of", "2026-10-09", "--window", "9d"]);
    assert_eq!(c["cold_reason"], "another configuration", "{c}");
    assert_eq!(
        (get(&c, "files_reused"), get(&c, "files_read")),
        (0, 10),
        "{c}"
    );

    // 6. The window slides (7 days, a new day): days 1..3 fall out (4 files
    // with the hand-made one), day 10 is read, and so is the file outside
    // the partitions, whose day-3 rows are now outside the window; the rest
    // is reused.
    copy_dir(
        &lake.join("events").join(day(10)),
        &ds.join("events").join(day(10)),
    );
    let c = night.run(&["--as-of", "2026-10-10", "--window", "7d"]);
    assert_eq!(
        (
            get(&c, "files_reused"),
            get(&c, "files_read"),
            get(&c, "files_changed"),
            get(&c, "entries_dropped")
        ),
        (5, 2, 1, 4),
        "{c}"
    );

    // 7. Files with rows outside the window (another: two rows on day 2 in
    // the day-10 partition): their result depends on the window, so they are
    // read every night and never stored.
    write_mixed(
        &ds.join("events").join(day(10)).join("straddle.parquet"),
        10,
        Some(2),
    );
    for _ in 0..2 {
        let c = night.run(&["--as-of", "2026-10-10", "--window", "7d"]);
        assert_eq!(
            (
                get(&c, "files_reused"),
                get(&c, "files_read"),
                get(&c, "entries_written")
            ),
            (6, 2, 0),
            "{c}"
        );
    }
    let q = summary(&tmp.path().join(format!("inc-{}", night.n)))["rows"]["quarantined_by_reason"]
        .clone();
    assert_eq!(q["outside_window"], 4, "{q}");
}

/// Entry directories on disk and entries the manifest lists.
fn cache_listing(state: &Path) -> (Vec<String>, Vec<String>) {
    let root = state.join("feature-cache");
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join("entries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let mut listed: Vec<String> = m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["dir"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    (on_disk, listed)
}

#[test]
fn a_killed_run_leaves_a_cache_the_next_run_can_use() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    let lake = tmp.path().join("lake");
    synth(40, 6, 11, &lake);
    copy_dir(&lake, &ds);
    std::fs::remove_dir_all(ds.join("events").join(day(6))).unwrap();
    std::fs::remove_dir_all(ds.join("events").join(day(7))).unwrap();
    let config = tmp.path().join("goodhart.toml");
    std::fs::write(&config, "[scan]\nmin_last_day_share = 0.0\n").unwrap();
    let night = Night {
        tmp: tmp.path(),
        dataset: &ds,
        config: &config,
        state: tmp.path().join("state0"),
        n: 0,
    };
    let before = ["--as-of", "2026-10-05", "--window", "5d"];
    let tonight = ["--as-of", "2026-10-06", "--window", "6d"];
    let o = night.scan(&tmp.path().join("out0"), &night.state, &before, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Tonight a day arrives; the reference is a cold scan from the same state.
    copy_dir(
        &lake.join("events").join(day(6)),
        &ds.join("events").join(day(6)),
    );
    let ref_state = tmp.path().join("ref-state");
    copy_dir(&night.state, &ref_state);
    let reference = tmp.path().join("ref");
    let o = night.scan(&reference, &ref_state, &tonight, &["--full"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let loose = ["delivery", "alerts_resolved"];
    let want = outputs(&reference, &loose);

    let mut points = Vec::new();
    for k in 1.. {
        assert!(k < 200, "the run never finished without a kill");
        let state = tmp.path().join("state");
        copy_dir(&night.state, &state);
        let out = tmp.path().join(format!("out-{k}"));
        let o = night.scan_killed_at(&out, &state, &tonight, &[], Some(k));
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {k}: {}", stderr(&o));
        points.push(stderr(&o));
        // The next night's run (same window) after the kill: right, and the
        // cache holds exactly what its manifest lists.
        let again = tmp.path().join(format!("again-{k}"));
        let o = night.scan(&again, &state, &tonight, &[]);
        assert_eq!(code(&o), 0, "point {k}: {}", stderr(&o));
        assert!(
            outputs(&again, &loose) == want,
            "point {k}: the run after the kill differs from the cold scan"
        );
        let c = summary(&again)["feature_cache"].clone();
        assert_eq!(
            c["files_reused"].as_u64().unwrap() + c["files_read"].as_u64().unwrap(),
            6,
            "point {k}: {c}"
        );
        let (on_disk, listed) = cache_listing(&state);
        assert_eq!(on_disk, listed, "point {k}: entries left behind");
        std::fs::remove_dir_all(&out).ok();
        std::fs::remove_dir_all(&again).unwrap();
    }
    assert!(points.len() >= 15, "only {} fault points", points.len());
    for p in [
        "feature cache entries written",
        "feature cache manifest written",
    ] {
        assert!(
            points.iter().any(|s| s.contains(p)),
            "no kill at {p}: {points:?}"
        );
    }
}

#[test]
fn purge_removes_cache_entries_past_the_state_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    synth(30, 4, 5, &ds);
    let config = tmp.path().join("goodhart.toml");
    std::fs::write(
        &config,
        "[scan]\nmin_last_day_share = 0.0\n\n[retention]\nstate_days = 30\n",
    )
    .unwrap();
    let state = tmp.path().join("state");
    let night = ["--as-of", "2026-10-04", "--window", "4d"];
    let scan = |out: &str| {
        let o = run(goodhart()
            .arg("scan")
            .arg(&ds)
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(tmp.path().join(out))
            .arg("--state")
            .arg(&state)
            .arg("--quiet")
            .args(night));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        summary(&tmp.path().join(out))["feature_cache"].clone()
    };
    let c = scan("out1");
    let stored = c["entries_written"].as_u64().unwrap();
    assert!(stored >= 4, "{c}");
    let purge = |as_of: &str| -> serde_json::Value {
        let o = run(goodhart()
            .args(["purge", "--format", "json", "--as-of", as_of, "--config"])
            .arg(&config)
            .arg("--state")
            .arg(&state));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // Cut-off 2026-10-01 (30 days before): every entry is within retention.
    assert_eq!(purge("2026-10-31")["feature_cache_entries"], 0);
    assert_eq!(cache_listing(&state).1.len() as u64, stored);
    // Cut-off 2026-10-02: the first day's partition goes.
    assert_eq!(purge("2026-11-01")["feature_cache_entries"], 1);
    assert_eq!(cache_listing(&state).1.len() as u64, stored - 1);
    // Past every day: all go, files included; the next scan reads every file again.
    assert_eq!(
        purge("2026-12-31")["feature_cache_entries"].as_u64(),
        Some(stored - 1)
    );
    let (on_disk, listed) = cache_listing(&state);
    assert!(
        on_disk.is_empty() && listed.is_empty(),
        "{on_disk:?} {listed:?}"
    );
    let c = scan("out2");
    assert_eq!(
        (c["files_reused"].as_u64(), c["files_read"].as_u64()),
        (Some(0), Some(stored)),
        "{c}"
    );
}

#[test]
fn the_cache_can_be_turned_off_and_a_dry_run_only_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    synth(20, 3, 9, &ds);
    let night = ["--as-of", "2026-10-03", "--window", "3d", "--quiet"];
    let scan = |config: &str, state: &Path, out: &str, extra: &[&str]| {
        let cfg = tmp.path().join("goodhart.toml");
        std::fs::write(&cfg, config).unwrap();
        let o = run(goodhart()
            .arg("scan")
            .arg(&ds)
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(tmp.path().join(out))
            .arg("--state")
            .arg(state)
            .args(night)
            .args(extra));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        if extra.contains(&"--dry-run") {
            return serde_json::Value::Null;
        }
        summary(&tmp.path().join(out))["feature_cache"].clone()
    };
    let base = "[scan]\nmin_last_day_share = 0.0\n";
    // Off: nothing stored, nothing reused.
    let off = tmp.path().join("off");
    let c = scan(&format!("{base}feature_cache = false\n"), &off, "o1", &[]);
    assert_eq!(c["mode"], "off", "{c}");
    assert!(!off.join("feature-cache").exists());
    // A dry run on a fresh state stores nothing either; the next run reads all.
    let on = tmp.path().join("on");
    scan(base, &on, "o2", &["--dry-run"]);
    assert!(!on.join("feature-cache").join("manifest.json").exists());
    let c = scan(base, &on, "o3", &[]);
    assert_eq!(c["files_reused"], 0, "{c}");
    let stored = c["entries_written"].as_u64().unwrap();
    assert!(stored >= 3, "{c}");
    // A dry run with a cache leaves it as it was.
    let before = cache_listing(&on);
    let manifest = std::fs::read(on.join("feature-cache/manifest.json")).unwrap();
    scan(base, &on, "o4", &["--dry-run", "--full"]);
    assert_eq!(cache_listing(&on), before);
    assert_eq!(
        std::fs::read(on.join("feature-cache/manifest.json")).unwrap(),
        manifest
    );
}
