//! The alert state cannot silently vanish: a truncated or foreign `state.sqlite3` is refused
//! (exit 2, nothing changed) unless `--init-state`; every scan leaves a rolling backup that
//! restores; `whois` never creates a state.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::*;

/// Name -> bytes of every file under `dir` (recursively).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn statuses(out: &Path) -> Vec<String> {
    read_alerts(&out.join("alerts.jsonl"))
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_truncated_state_is_refused_and_changes_nothing_until_init_state() {
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let first = scan_sample(&out, &state, &[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert!(statuses(&out).iter().all(|s| s == "new"));

    let db = state.join("state.sqlite3");
    std::fs::write(&db, b"").unwrap();
    let before = (snapshot(&out), snapshot(&state));
    let refused = scan_sample(&out, &state, &NEXT_NIGHT);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    let e = stderr(&refused);
    assert!(e.contains(&db.display().to_string()), "names the file: {e}");
    assert!(e.contains("--init-state") && e.contains("backup"), "{e}");
    assert_eq!(
        (snapshot(&out), snapshot(&state)),
        before,
        "a refused run changes nothing"
    );

    // A foreign file likewise.
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let foreign = scan_sample(&out, &state, &NEXT_NIGHT);
    assert_eq!(code(&foreign), 2, "{}", stderr(&foreign));
    assert!(stderr(&foreign).contains("not a goodhart alert state database"));
    std::fs::write(&db, b"").unwrap();

    // On purpose: a new state, the empty file kept aside.
    let init = scan_sample(
        &out,
        &state,
        &["--as-of", "2026-10-16", "--window", "16d", "--init-state"],
    );
    assert_eq!(code(&init), 0, "{}", stderr(&init));
    assert!(
        statuses(&out).iter().all(|s| s == "new"),
        "a new state knows no alert"
    );
    assert!(std::fs::read_dir(&state).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("state.sqlite3.refused-")));
}

#[test]
fn every_scan_keeps_a_rolling_backup_that_restores_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("goodhart.toml");
    std::fs::write(
        &cfg,
        // The sample's partial last day is not what this test is about (see
        // data/sample/goodhart.toml): the completeness check is off.
        "[scan]\nas_of = \"2026-10-14\"\nwindow = \"14d\"\nmin_last_day_share = 0.0\n\n[alerts]\nkeep_backups = 2\n",
    )
    .unwrap();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let backups = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(state.join("backups"))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let scan = |extra: &[&str]| {
        let o = scan_sample(
            &out,
            &state,
            &[&["--config", cfg.to_str().unwrap()], extra].concat(),
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    };
    scan(&[]);
    assert_eq!(backups().len(), 1);
    scan(&["--dry-run"]);
    assert_eq!(backups().len(), 1, "a dry run takes no backup");
    scan(&["--as-of", "2026-10-15", "--window", "15d"]);
    scan(&["--as-of", "2026-10-15", "--window", "15d"]);
    let kept = backups();
    assert_eq!(kept.len(), 2, "keep_backups = 2: {kept:?}");
    assert!(kept
        .iter()
        .all(|b| b.starts_with("state-") && b.ends_with(".sqlite3")));

    // Disaster: the state is truncated. The README's restore procedure brings it back, and
    // the next night's alerts are ongoing, not new (no duplicate tickets).
    let db = state.join("state.sqlite3");
    std::fs::write(&db, b"").unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(state.join(format!("state.sqlite3{suffix}")));
    }
    std::fs::copy(state.join("backups").join(kept.last().unwrap()), &db).unwrap();
    scan(&["--as-of", "2026-10-16", "--window", "16d"]);
    let st = statuses(&out);
    assert!(
        !st.is_empty() && st.iter().all(|s| s == "ongoing"),
        "{st:?}"
    );
}

#[test]
fn a_deleted_state_with_backups_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    assert_eq!(code(&scan_sample(&out, &state, &[])), 0);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(state.join(format!("state.sqlite3{suffix}")));
    }
    let refused = scan_sample(&out, &state, &NEXT_NIGHT);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("backup"), "{}", stderr(&refused));
    assert!(!state.join("state.sqlite3").exists());
}

#[test]
fn whois_with_a_missing_state_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = run(goodhart()
        .args(["whois", "p-0123456789abcdef", "--reason", "test", "--state"])
        .arg(&missing));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&missing.join("state.sqlite3").display().to_string()),
        "{}",
        stderr(&out)
    );
    assert!(!missing.exists(), "whois created {}", missing.display());
    // Same for an existing directory without a state, and for feedback.
    let out = run(goodhart()
        .args(["feedback", "0123456789abcdef", "--confirmed", "--state"])
        .arg(dir.path()));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
