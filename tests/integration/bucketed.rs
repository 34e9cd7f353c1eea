//! The bucketed feature pass (#15): split by user into B buckets spilled to
//! disk, it gives exactly the features, row accounting, quarantine and counts
//! of the in-memory pass; `goodhart scan --memory-limit` publishes the same
//! outputs.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::UInt64Type;
use goodhart::bucketed::bucket_of;
use goodhart::features::FeatureOptions;
use goodhart::scan::{features_within, Dataset, FeatureRun, MemoryBudget, Window};
use goodhart::schema::hash_str;

use crate::util::{code, goodhart, run, stderr};

const HOUR: i64 = 3_600_000_000;

/// Microseconds of `day` (2026-10-DD) at `hour`:`min` UTC.
fn at(day: u32, hour: i64, min: i64) -> i64 {
    chrono::NaiveDate::from_ymd_opt(2026, 10, day)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
        + hour * HOUR
        + min * 60_000_000
}

/// Hand-made event rows.
#[derive(Default)]
struct Rows {
    ts: Vec<i64>,
    user: Vec<String>,
    session: Vec<String>,
    event: Vec<String>,
    task: Vec<Option<String>>,
    context: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, ts: i64, user: &str, session: &str, event: &str, task: Option<&str>) {
        self.ts.push(ts);
        self.user.push(user.into());
        self.session.push(session.into());
        self.event.push(event.into());
        self.task.push(task.map(Into::into));
        self.context.push(None);
    }

    fn load(&mut self, ts: i64, user: &str, session: &str, ctx: &str) {
        self.push(ts, user, session, "context_load", None);
        *self.context.last_mut().unwrap() = Some(ctx.into());
    }

    /// Writes the rows; with `context`, a `context_hash` column (else none).
    fn write(&self, path: &Path, context: bool) {
        let n = self.ts.len();
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from(self.ts.clone())),
            ),
            ("user_id", Arc::new(StringArray::from(self.user.clone()))),
            (
                "session_id",
                Arc::new(StringArray::from(self.session.clone())),
            ),
            ("event", Arc::new(StringArray::from(self.event.clone()))),
            (
                "input_tokens",
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| 100 + i as i64))),
            ),
            (
                "output_tokens",
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| 10 + i as i64))),
            ),
            ("task_hash", Arc::new(StringArray::from(self.task.clone()))),
        ];
        if context {
            cols.push((
                "context_hash",
                Arc::new(StringArray::from(self.context.clone())),
            ));
        }
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        goodhart::io::write_parquet_atomic(path, batch.schema(), &[batch]).unwrap();
    }
}

/// `n` user names (with `prefix`) whose bucket among `buckets` is `k`.
fn users_in_bucket(prefix: &str, buckets: usize, k: usize, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|u| bucket_of(hash_str(u), buckets) == k)
        .take(n)
        .collect()
}

fn run_with(
    dataset: &Dataset,
    opts: &FeatureOptions,
    window: Option<Window>,
    buckets: usize,
) -> FeatureRun {
    let budget = MemoryBudget::buckets(NonZeroUsize::new(buckets).unwrap());
    features_within(dataset, opts, window, None, None, &budget).unwrap()
}

/// Everything the pass returns, bucketed against in memory.
fn assert_same(a: &FeatureRun, b: &FeatureRun, what: &str) {
    let (fa, fb) = (&a.features, &b.features);
    assert_eq!(fa.sessions.num_rows(), fb.sessions.num_rows(), "{what}");
    assert_eq!(fa.sessions, fb.sessions, "{what}: sessions");
    assert_eq!(fa.users, fb.users, "{what}: users");
    assert_eq!(
        fa.session_models, fb.session_models,
        "{what}: session_models"
    );
    assert_eq!(
        (fa.window_start, fa.window_end),
        (fb.window_start, fb.window_end),
        "{what}"
    );
    assert_eq!(
        fa.sessions_outside_window, fb.sessions_outside_window,
        "{what}"
    );
    assert_eq!(
        (fa.common_prompts, fa.common_prompt_threshold),
        (fb.common_prompts, fb.common_prompt_threshold),
        "{what}"
    );
    assert_eq!(fa.presence, fb.presence, "{what}");
    assert_eq!(a.ingest, b.ingest, "{what}: ingest report");
    assert_eq!(a.quarantine, b.quarantine, "{what}: quarantine");
    assert_eq!(a.daily_events, b.daily_events, "{what}: daily events");
    assert_eq!(a.duplicate_events, b.duplicate_events, "{what}: duplicates");
    assert_eq!(a.skipped, b.skipped, "{what}");
}

fn session_u64(f: &FeatureRun, user: &str, col: &str) -> Vec<Option<u64>> {
    let s = &f.features.sessions;
    let users = s.column_by_name("user_id").unwrap().as_string::<i32>();
    let c = s.column_by_name(col).unwrap().as_primitive::<UInt64Type>();
    (0..s.num_rows())
        .filter(|&i| users.value(i) == user)
        .map(|i| c.is_valid(i).then(|| c.value(i)))
        .collect()
}

#[test]
fn bucketed_pass_gives_the_in_memory_features_of_a_synthetic_org() {
    let dir = tempfile::tempdir().unwrap();
    // Days 2026-10-01 .. 10; the window is the last 7 (from the 4th).
    goodhart::synth::generate(&goodhart::synth::SynthConfig::new(90, 10, 7), dir.path()).unwrap();
    let window = Window {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 10).unwrap(),
        days: 7,
    };
    let mut extra = Rows::default();
    // A prompt sent by exactly `threshold` (5) users, twice each: a common prompt
    // (no loop) only when the users of every bucket are counted together.
    let cp: Vec<String> = (0..5).map(|i| format!("cp-user-{i}")).collect();
    for b in [2, 7] {
        let mut per = vec![0; b];
        for u in &cp {
            per[bucket_of(hash_str(u), b)] += 1;
        }
        assert!(
            per.iter().all(|&n| n < cp.len()),
            "{b} buckets: {per:?}: no bucket may hold all sharers"
        );
    }
    for (i, u) in cp.iter().enumerate() {
        let t = at(6, 9 + i as i64, 0);
        extra.push(t, u, "cp-s", "request", Some("the shared standup prompt"));
        extra.push(
            t + 60_000_000,
            u,
            "cp-s",
            "request",
            Some("the shared standup prompt"),
        );
        extra.push(
            t + 120_000_000,
            u,
            "cp-s",
            "request",
            Some(&format!("own {i}")),
        );
    }
    // Sessions across the window's edges: rows before its start and after its
    // end are set aside (outside_window), the rest is the session.
    extra.push(
        at(3, 23, 0),
        "edge-user",
        "edge-start",
        "request",
        Some("e1"),
    );
    extra.push(
        at(4, 0, 30),
        "edge-user",
        "edge-start",
        "request",
        Some("e1"),
    );
    extra.push(
        at(4, 1, 0),
        "edge-user",
        "edge-start",
        "request",
        Some("e2"),
    );
    extra.push(
        at(10, 23, 30),
        "edge-user",
        "edge-end",
        "request",
        Some("e3"),
    );
    extra.push(
        at(11, 0, 30),
        "edge-user",
        "edge-end",
        "request",
        Some("e3"),
    );
    // Duplicate events: the same row three times (two duplicates).
    for _ in 0..3 {
        extra.push(at(7, 12, 0), "dup-user", "dup-s", "request", Some("d"));
    }
    extra.push(at(7, 12, 5), "dup-user", "dup-s", "change_accepted", None);
    // Rows set aside: an unknown event, an empty user.
    extra.push(at(8, 10, 0), "bad-user", "bad-s", "bogus", None);
    extra.push(at(8, 10, 0), "", "bad-s", "request", None);
    extra.write(&dir.path().join("events/extra/part-0.parquet"), false);

    let dataset = Dataset::locate(&[dir.path().to_path_buf()], None).unwrap();
    assert!(dataset.roster.is_some());
    let opts = FeatureOptions {
        as_of: Some(window.as_of),
        window_days: window.days,
        ..FeatureOptions::default()
    };
    let memory = run_with(&dataset, &opts, Some(window), 1);
    assert_eq!(memory.buckets, 1);

    // The constructed cases are in the data, so that the comparison tests them.
    let c = &memory.ingest.counts;
    assert!(
        c.reasons.get("outside_window").copied().unwrap_or(0) >= 2,
        "{c:?}"
    );
    assert_eq!(c.reasons.get("unknown_event").copied(), Some(1), "{c:?}");
    assert!(memory.duplicate_events >= 2);
    assert!(memory.features.common_prompt_threshold == cp.len());
    for u in &cp {
        assert_eq!(
            session_u64(&memory, u, "loop_requests"),
            vec![Some(0)],
            "{u}"
        );
    }
    assert_eq!(
        session_u64(&memory, "edge-user", "requests"),
        vec![Some(2), Some(1)]
    );
    assert!(memory.features.users.num_rows() > 90);

    for b in [2, 7] {
        let bucketed = run_with(&dataset, &opts, Some(window), b);
        assert_eq!(bucketed.buckets, b);
        assert_same(&memory, &bucketed, &format!("{b} buckets"));
    }
    // A limit below the estimate buckets the pass too, with the same result.
    let limited = features_within(
        &dataset,
        &opts,
        Some(window),
        None,
        None,
        &MemoryBudget::limit(64 << 10),
    )
    .unwrap();
    assert!(limited.buckets > 1, "{}", limited.buckets);
    assert_same(&memory, &limited, "64 KiB limit");
}

#[test]
fn every_bucket_uses_the_whole_organisations_window_and_columns() {
    // Two buckets: the users of bucket 0 are in a file with a context_hash column
    // and hold the last event; those of bucket 1 in a file without one, ending
    // days earlier. Alone, bucket 1 would end its window earlier and report
    // reloads as unknown (null); in the organisation they are known (0).
    let dir = tempfile::tempdir().unwrap();
    let a = users_in_bucket("a", 2, 0, 6);
    let b = users_in_bucket("b", 2, 1, 6);
    let mut ra = Rows::default();
    for (i, u) in a.iter().enumerate() {
        for d in 1..=20u32 {
            let t = at(d, 8 + i as i64, 0);
            ra.push(t, u, &format!("s{d}"), "request", Some(&format!("t{d}")));
            ra.load(t + 1_000_000, u, &format!("s{d}"), "ctx");
            ra.load(t + 2_000_000, u, &format!("s{d}"), "ctx");
            ra.push(
                t + 3_000_000,
                u,
                &format!("s{d}"),
                "request",
                Some(&format!("t{d}")),
            );
        }
    }
    ra.push(at(28, 23, 0), &a[0], "late", "request", Some("late"));
    ra.write(&dir.path().join("events/a.parquet"), true);
    let mut rb = Rows::default();
    for (i, u) in b.iter().enumerate() {
        for d in 1..=24u32 {
            let t = at(d, 8 + i as i64, 0);
            rb.push(t, u, &format!("s{d}"), "request", Some("shared"));
            rb.push(
                t + 60_000_000,
                u,
                &format!("s{d}"),
                "request",
                Some("shared"),
            );
        }
    }
    rb.write(&dir.path().join("events/b.parquet"), false);
    let dataset = Dataset::locate(&[dir.path().to_path_buf()], None).unwrap();
    // No window, no as_of: the window (7 days) ends with the day of the last event.
    let opts = FeatureOptions {
        window_days: 7,
        ..FeatureOptions::default()
    };
    let memory = run_with(&dataset, &opts, None, 1);
    assert!(memory.features.sessions_outside_window > 0);
    // Bucket 1's users have sessions in the window, with reloads known (0).
    let reloads = session_u64(&memory, &b[0], "reloads");
    assert!(!reloads.is_empty());
    assert!(reloads.iter().all(|r| *r == Some(0)), "{reloads:?}");
    for buckets in [2, 3] {
        let bucketed = run_with(&dataset, &opts, None, buckets);
        assert_same(&memory, &bucketed, &format!("{buckets} buckets"));
    }
}

/// `goodhart synth` of a small organisation; returns its last day.
fn synth(dir: &Path) -> String {
    let out = run(goodhart()
        .args([
            "synth", "--users", "120", "--days", "8", "--seed", "4", "--out",
        ])
        .arg(dir));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut days: Vec<String> = std::fs::read_dir(dir.join("events"))
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .strip_prefix("date=")
                .map(str::to_string)
        })
        .collect();
    days.sort();
    days.pop().unwrap()
}

fn strip_summary(p: &Path) -> (serde_json::Value, u64) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("timings_ms");
    // What the feature cache did differs by design: a bucketed pass does not use it.
    o.remove("feature_cache");
    let buckets = o.remove("feature_buckets").unwrap().as_u64().unwrap();
    (v, buckets)
}

#[test]
fn scan_with_a_tiny_memory_limit_publishes_the_same_outputs() {
    let work = tempfile::tempdir().unwrap();
    let org = work.path().join("org");
    let last = synth(&org);
    let scan = |name: &str, extra: &[&str]| {
        let out = work.path().join(format!("out-{name}"));
        let state = work.path().join(format!("state-{name}"));
        let o = run(goodhart()
            .arg("scan")
            .arg(&org)
            .args(["--as-of", &last, "--window", "7d", "--quiet"])
            .arg("--out")
            .arg(&out)
            .arg("--state")
            .arg(&state)
            .args(extra));
        // 3/4: alerts raised or an incomplete last day; the outputs are written.
        assert!([0, 3, 4].contains(&code(&o)), "{}", stderr(&o));
        out
    };
    let a = scan("default", &[]);
    let b = scan("tiny", &["--memory-limit", "256KB"]);
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.contains(&"user_scores.parquet".to_string()),
        "{names:?}"
    );
    let mut other: Vec<String> = std::fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    other.sort();
    assert_eq!(names, other);
    for n in &names {
        if n == "summary.json" {
            let (sa, ba) = strip_summary(&a.join(n));
            let (sb, bb) = strip_summary(&b.join(n));
            assert_eq!(sa, sb, "summary.json differs beyond timings and buckets");
            assert_eq!(ba, 1, "the default limit keeps a small org in memory");
            assert!(bb > 1, "256KB must split the pass: {bb} bucket(s)");
        } else {
            let x = std::fs::read(a.join(n)).unwrap();
            let y = std::fs::read(b.join(n)).unwrap();
            assert!(x == y, "{n} differs with --memory-limit 256KB");
        }
    }
    // No scratch files are left beside the outputs.
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // `goodhart features` takes the option too, with the same tables.
    let fa = work.path().join("feat-a");
    let fb = work.path().join("feat-b");
    for (out, extra) in [(&fa, vec![]), (&fb, vec!["--memory-limit", "0.25MiB"])] {
        let o = run(goodhart()
            .arg("features")
            .arg(&org)
            .args(["--as-of", &last, "--window", "7d", "--out"])
            .arg(out)
            .args(extra));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    for f in ["session_features.parquet", "user_features.parquet"] {
        assert!(
            std::fs::read(fa.join(f)).unwrap() == std::fs::read(fb.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

#[test]
fn a_bad_memory_limit_is_named_with_its_fix_and_exits_2() {
    for bad in ["2 parsecs", "0", "-1G", "GB"] {
        let o = run(goodhart().args(["scan", "nowhere", &format!("--memory-limit={bad}")]));
        assert_eq!(code(&o), 2, "{bad}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("--memory-limit"), "{e}");
        assert!(e.contains("e.g. 2GB"), "{e}");
    }
    // The configuration setting is checked when the file is loaded.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("goodhart.toml");
    std::fs::write(&cfg, "[scan]\nmemory_limit = \"lots\"\n").unwrap();
    let o = run(goodhart().arg("config").arg("--check").arg(&cfg));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("[scan] memory_limit") && e.contains("e.g. 2GB"),
        "{e}"
    );
}
