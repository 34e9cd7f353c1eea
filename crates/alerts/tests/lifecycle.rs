//! Lifecycle, feedback, state store and JSONL tests (no network).

mod common;

use common::*;
use goodhart_alerts::*;

const SPAWNS: &str = "redundant-agent-spawns";

fn open() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path().join("state")).unwrap();
    (dir, store)
}

fn statuses(r: &Reconciled) -> Vec<(String, AlertStatus)> {
    r.alerts
        .iter()
        .map(|a| (a.candidate.user_id.clone(), a.status))
        .collect()
}

#[test]
fn fingerprint_follows_documented_definition() {
    // Documented: XXH3-64 (seed 0) of "v1" 0 user 0 pattern, 16 lowercase hex digits.
    let fp = fingerprint("alice", SPAWNS);
    let expected = format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(b"v1\0alice\0redundant-agent-spawns")
    );
    assert_eq!(fp, expected);
    assert_eq!(fp.len(), 16);
    assert_eq!(
        fp, FROZEN_ALICE_SPAWNS,
        "the fingerprint definition must never change"
    );
    // The separator matters: ("ab","c") and ("a","bc") differ.
    assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
}

/// Pinned once; tickets in Jira are labelled with it, so it must stay.
const FROZEN_ALICE_SPAWNS: &str = "4d70fe386b1cd15e";

#[test]
fn new_ongoing_resolved_reopened_with_dates() {
    let (_d, mut store) = open();
    let p = LifecyclePolicy::default();
    let a = candidate("alice", SPAWNS, Severity::High, 80.0);
    let fp = a.fingerprint();

    let r = store
        .reconcile(std::slice::from_ref(&a), day(1), &p)
        .unwrap();
    assert_eq!(statuses(&r), vec![("alice".into(), AlertStatus::New)]);
    assert_eq!(
        (r.alerts[0].first_seen, r.alerts[0].last_seen),
        (day(1), day(1))
    );
    assert_eq!(r.alerts[0].fingerprint, fp);

    // Same-day re-run is idempotent.
    let r = store
        .reconcile(std::slice::from_ref(&a), day(1), &p)
        .unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::New);

    let r = store
        .reconcile(std::slice::from_ref(&a), day(2), &p)
        .unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Ongoing);
    assert_eq!(
        (r.alerts[0].first_seen, r.alerts[0].last_seen),
        (day(1), day(2))
    );

    // Not raised: gap 6 keeps it open, gap 7 resolves it.
    let r = store.reconcile(&[], day(8), &p).unwrap();
    assert!(r.resolved.is_empty());
    assert_eq!(
        store.alert_record(&fp).unwrap().unwrap().status,
        AlertState::Open
    );
    let r = store.reconcile(&[], day(9), &p).unwrap();
    assert_eq!(r.resolved, vec![fp.clone()]);
    let rec = store.alert_record(&fp).unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.resolved_at),
        (AlertState::Resolved, Some(day(9)))
    );

    // Recurs after 10 quiet days (< 14): ongoing again, open.
    let r = store
        .reconcile(std::slice::from_ref(&a), day(12), &p)
        .unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Ongoing);
    let rec = store.alert_record(&fp).unwrap().unwrap();
    assert_eq!((rec.status, rec.resolved_at), (AlertState::Open, None));

    // Resolved again on day 19 (gap 7), recurs on day 26 (gap 14): reopened.
    assert_eq!(
        store.reconcile(&[], day(19), &p).unwrap().resolved,
        vec![fp.clone()]
    );
    let r = store
        .reconcile(std::slice::from_ref(&a), day(26), &p)
        .unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Reopened);
    assert_eq!(
        (r.alerts[0].first_seen, r.alerts[0].last_seen),
        (day(1), day(26))
    );
    assert_eq!(r.alerts[0].ticket, None);
    // Re-running day 26 repeats "reopened".
    let r = store.reconcile(&[a], day(26), &p).unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Reopened);
}

#[test]
fn outcome_does_not_depend_on_scan_frequency() {
    let (_d, mut store) = open();
    let p = LifecyclePolicy::default();
    let b = candidate("bob", SPAWNS, Severity::Medium, 50.0);
    let c = candidate("carol", SPAWNS, Severity::Medium, 50.0);
    store
        .reconcile(&[b.clone(), c.clone()], day(1), &p)
        .unwrap();
    // No scans in between. carol back after 9 days (resolved at day 8 had scans run, but
    // quiet < 14): ongoing. bob back after 19 days: reopened.
    let r = store.reconcile(&[c], day(10), &p).unwrap();
    assert_eq!(statuses(&r), vec![("carol".into(), AlertStatus::Ongoing)]);
    let r = store.reconcile(&[b], day(20), &p).unwrap();
    assert_eq!(statuses(&r), vec![("bob".into(), AlertStatus::Reopened)]);
    // carol (last seen day 10, gap 10) was resolved by that scan.
    assert_eq!(r.resolved, vec![fingerprint("carol", SPAWNS)]);
}

#[test]
fn false_positive_suppresses_until_expiry() {
    let (_d, mut store) = open();
    let p = LifecyclePolicy::default();
    let a = candidate("alice", SPAWNS, Severity::High, 80.0);
    let other = candidate("dave", SPAWNS, Severity::Low, 20.0);
    let fp = a.fingerprint();
    store
        .reconcile(std::slice::from_ref(&a), day(1), &p)
        .unwrap();

    let until = store
        .record_feedback(
            &fp,
            Verdict::FalsePositive,
            "reviewed: legit migration",
            day(3),
            &p,
        )
        .unwrap();
    // 2025-01-03 + 90 days = 2025-04-03 (Jan 28 left + Feb 28 + Mar 31 = 87, +3).
    assert_eq!(
        until,
        Some(chrono::NaiveDate::from_ymd_opt(2025, 4, 3).unwrap())
    );
    assert_eq!(
        store.alert_record(&fp).unwrap().unwrap().status,
        AlertState::Suppressed
    );

    let r = store
        .reconcile(&[a.clone(), other.clone()], day(4), &p)
        .unwrap();
    assert_eq!(r.suppressed, 1);
    assert_eq!(statuses(&r), vec![("dave".into(), AlertStatus::New)]);
    // Last suppressed day: 2025-04-02.
    let last = chrono::NaiveDate::from_ymd_opt(2025, 4, 2).unwrap();
    let r = store.reconcile(std::slice::from_ref(&a), last, &p).unwrap();
    assert_eq!((r.suppressed, r.alerts.len()), (1, 0));
    assert_eq!(store.suppressed_until(&fp, last).unwrap(), until);
    // Suppressed alerts are not resolved by absence either.
    assert!(!r.resolved.contains(&fp));

    let expiry = chrono::NaiveDate::from_ymd_opt(2025, 4, 3).unwrap();
    assert_eq!(store.suppressed_until(&fp, expiry).unwrap(), None);
    let r = store.reconcile(&[a], expiry, &p).unwrap();
    assert_eq!(r.suppressed, 0);
    assert_eq!(statuses(&r), vec![("alice".into(), AlertStatus::Reopened)]);
    assert_eq!(r.alerts[0].first_seen, day(1));

    assert_eq!(
        store.feedback_labels().unwrap(),
        vec![(
            "alice".to_string(),
            SPAWNS.to_string(),
            Verdict::FalsePositive
        )]
    );
}

#[test]
fn confirmation_lifts_suppression_and_is_the_label() {
    let (_d, mut store) = open();
    let p = LifecyclePolicy::default();
    let a = candidate("alice", SPAWNS, Severity::High, 80.0);
    let fp = a.fingerprint();
    store
        .reconcile(std::slice::from_ref(&a), day(1), &p)
        .unwrap();
    store
        .record_feedback(&fp, Verdict::FalsePositive, "", day(3), &p)
        .unwrap();
    assert_eq!(
        store
            .record_feedback(&fp, Verdict::Confirmed, "second look: gaming", day(5), &p)
            .unwrap(),
        None
    );
    let r = store.reconcile(&[a], day(6), &p).unwrap();
    assert_eq!(r.suppressed, 0);
    assert_eq!(r.alerts[0].status, AlertStatus::Ongoing);
    assert_eq!(
        store.feedback_labels().unwrap(),
        vec![("alice".to_string(), SPAWNS.to_string(), Verdict::Confirmed)]
    );
}

#[test]
fn feedback_on_unknown_fingerprint_is_an_error() {
    let (_d, mut store) = open();
    let err = store
        .record_feedback(
            "0123456789abcdef",
            Verdict::FalsePositive,
            "",
            day(1),
            &LifecyclePolicy::default(),
        )
        .unwrap_err();
    assert!(matches!(err, AlertError::UnknownFingerprint { .. }));
    assert!(err.to_string().contains("0123456789abcdef"));
}

#[test]
fn outputs_sorted_and_duplicates_merged() {
    let (_d, mut store) = open();
    let p = LifecyclePolicy::default();
    let cands = vec![
        candidate("u1", SPAWNS, Severity::Medium, 60.0),
        candidate("u2", SPAWNS, Severity::Critical, 10.0),
        candidate("u3", SPAWNS, Severity::Medium, 70.0),
        candidate("u4", "prompt-loops", Severity::Medium, 60.0),
        // Duplicate of u1 with higher severity wins over the medium one.
        candidate("u1", SPAWNS, Severity::High, 40.0),
    ];
    let r = store.reconcile(&cands, day(1), &p).unwrap();
    let got: Vec<(String, Severity, f64)> = r
        .alerts
        .iter()
        .map(|a| {
            (
                a.candidate.user_id.clone(),
                a.candidate.severity,
                a.candidate.score,
            )
        })
        .collect();
    // u1 and u4 tie on neither: u1 is now high. Medium 60 (u4) sorts after medium 70 (u3).
    assert_eq!(
        got,
        vec![
            ("u2".into(), Severity::Critical, 10.0),
            ("u1".into(), Severity::High, 40.0),
            ("u3".into(), Severity::Medium, 70.0),
            ("u4".into(), Severity::Medium, 60.0),
        ]
    );
    // Ties on severity and score are broken by fingerprint.
    let mut tied = vec![
        candidate("x", SPAWNS, Severity::Low, 5.0),
        candidate("y", SPAWNS, Severity::Low, 5.0),
        candidate("z", SPAWNS, Severity::Low, 5.0),
    ];
    let r1 = store.reconcile(&tied, day(2), &p).unwrap();
    tied.reverse();
    let (_d2, mut store2) = open();
    let r2 = store2.reconcile(&tied, day(2), &p).unwrap();
    let fps = |r: &Reconciled| -> Vec<String> {
        r.alerts
            .iter()
            .filter(|a| a.candidate.severity == Severity::Low)
            .map(|a| a.fingerprint.clone())
            .collect()
    };
    let mut expected = fps(&r1);
    expected.sort();
    assert_eq!(fps(&r1), expected);
    assert_eq!(fps(&r2), expected);
}

#[test]
fn invalid_candidates_are_rejected() {
    let (_d, mut store) = open();
    let mut c = candidate("alice", SPAWNS, Severity::High, f64::NAN);
    let err = store
        .reconcile(&[c.clone()], day(1), &LifecyclePolicy::default())
        .unwrap_err();
    assert!(err.to_string().contains("alice") && err.to_string().contains("0-100"));
    c.score = 101.0;
    assert!(store
        .reconcile(&[c], day(1), &LifecyclePolicy::default())
        .is_err());
    // Nothing was stored by the failed calls.
    assert!(store.alert_records().unwrap().is_empty());
}

#[test]
fn state_persists_and_reports_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = LifecyclePolicy::default();
    {
        let mut s = StateStore::open(dir.path()).unwrap();
        s.reconcile(
            &[candidate("alice", SPAWNS, Severity::Low, 10.0)],
            day(1),
            &p,
        )
        .unwrap();
    }
    let mut s = StateStore::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), STATE_SCHEMA_VERSION);
    assert_eq!(s.path(), dir.path().join(STATE_FILE));
    let r = s
        .reconcile(
            &[candidate("alice", SPAWNS, Severity::Low, 10.0)],
            day(2),
            &p,
        )
        .unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::Ongoing);
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // Not a SQLite file.
    let garbage = dir.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join(STATE_FILE), vec![b'x'; 4096]).unwrap();
    let err = StateStore::open(&garbage).unwrap_err();
    assert!(matches!(err, AlertError::NotGoodhartDb { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains(&garbage.join(STATE_FILE).display().to_string()));

    // A SQLite database of another application.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    {
        let c = foreign_db(&other.join(STATE_FILE));
        drop(c);
    }
    let err = StateStore::open(&other).unwrap_err();
    assert!(matches!(err, AlertError::NotGoodhartDb { .. }), "{err:?}");
    assert!(err.to_string().contains("another application"));

    // State dir is a regular file: not writable as a directory.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = StateStore::open(&file).unwrap_err();
    assert!(
        matches!(err, AlertError::StateNotWritable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&file.display().to_string()));
    assert!(err.to_string().contains("state_dir"));
}

fn foreign_db(path: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    c
}

#[test]
fn jsonl_roundtrip_is_atomic_and_flat() {
    let (dir, mut store) = open();
    let p = LifecyclePolicy::default();
    let r = store
        .reconcile(
            &[
                candidate("alice", SPAWNS, Severity::High, 80.0),
                candidate("bob", "prompt-loops", Severity::Low, 12.5),
            ],
            day(1),
            &p,
        )
        .unwrap();
    let out = dir.path().join("out/sub/alerts.jsonl");
    write_jsonl(&out, &r.alerts).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["user_id"], "alice");
    assert_eq!(first["status"], "new");
    assert_eq!(first["severity"], "high");
    assert_eq!(first["first_seen"], "2025-01-01");
    assert_eq!(first["window"]["end"], "2025-01-07");
    assert_eq!(first["fingerprint"], fingerprint("alice", SPAWNS));
    assert!(first["ticket"].is_null());
    assert_eq!(read_jsonl(&out).unwrap(), r.alerts);
    // Overwrite leaves exactly one file behind (no temp files).
    write_jsonl(&out, &r.alerts[..1]).unwrap();
    assert_eq!(read_jsonl(&out).unwrap().len(), 1);
    let names: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("alerts.jsonl")]);
}

#[test]
fn default_toml_parses_to_defaults_and_is_complete() {
    let cfg: AlertsConfig = toml::from_str(default_toml()).unwrap();
    assert_eq!(cfg, AlertsConfig::default());
    assert_eq!(cfg.policy(), LifecyclePolicy::default());
    assert_eq!(cfg.alerts.state_dir, std::path::PathBuf::from(".goodhart"));
    // Uncommenting the sink sections yields valid, enabled sinks.
    let uncommented: String = default_toml()
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.starts_with('[') || r.contains(" = "))
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg: AlertsConfig = toml::from_str(&uncommented).unwrap();
    let j = cfg.jira.as_ref().unwrap();
    assert_eq!(
        (j.project_key.as_str(), j.issue_type.as_str()),
        ("GOV", "Task")
    );
    assert_eq!(j.priority.for_severity(Severity::Critical), "Highest");
    assert_eq!(
        cfg.webhook.as_ref().unwrap().secret_env,
        "GOODHART_WEBHOOK_SECRET"
    );
    cfg.validate().unwrap();
    // The whole goodhart.toml can be parsed: unrelated sections are ignored.
    let whole = format!("[scan]\nthreads = 2\n{}", default_toml());
    assert!(toml::from_str::<AlertsConfig>(&whole).is_ok());
    // Typos inside our sections are rejected.
    assert!(toml::from_str::<AlertsConfig>("[alerts]\nresolve_after_dayz = 3\n").is_err());
}
