//! The state file cannot silently vanish: empty or foreign files are refused, a missing state
//! with backups is refused, nothing is created where a state must exist, and rolling backups
//! restore.

mod common;

use std::path::Path;

use chrono::{TimeZone, Utc};
use common::*;
use goodhart_alerts::*;

fn seeded(dir: &Path) -> StateStore {
    let mut store = StateStore::open(dir).unwrap();
    store
        .reconcile(
            &[
                candidate("alice", "redundant-agent-spawns", Severity::High, 80.0),
                candidate("bob", "prompt-loops", Severity::Medium, 50.0),
            ],
            day(8),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    store
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn an_empty_state_file_is_refused_unless_init() {
    let dir = tempfile::tempdir().unwrap();
    drop(seeded(dir.path()));
    let state = dir.path().join(STATE_FILE);
    std::fs::write(&state, b"").unwrap();
    let before = files_in(dir.path());

    for mode in [OpenMode::CreateIfMissing, OpenMode::MustExist] {
        let err = StateStore::open_with(dir.path(), mode).unwrap_err();
        assert!(matches!(err, AlertError::EmptyState { .. }), "{err:?}");
        let m = err.to_string();
        assert!(m.contains(&state.display().to_string()), "{m}");
        assert!(m.contains("--init-state") && m.contains("backup"), "{m}");
        let err = StateStore::check(dir.path(), mode).unwrap_err();
        assert!(matches!(err, AlertError::EmptyState { .. }), "{err:?}");
    }
    // Refusing changed nothing: still 0 bytes, no log files next to it.
    assert_eq!(std::fs::metadata(&state).unwrap().len(), 0);
    assert_eq!(files_in(dir.path()), before);

    StateStore::check(dir.path(), OpenMode::Init).unwrap();
    let mut store = StateStore::open_with(dir.path(), OpenMode::Init).unwrap();
    assert!(store.alert_records().unwrap().is_empty());
    let r = store
        .reconcile(
            &[candidate("alice", "x", Severity::High, 80.0)],
            day(9),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    assert_eq!(r.alerts[0].status, AlertStatus::New);
    // The refused file was moved aside, not deleted.
    let aside: Vec<String> = files_in(dir.path())
        .into_iter()
        .filter(|f| f.starts_with("state.sqlite3.refused-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", files_in(dir.path()));
    assert_eq!(
        std::fs::metadata(dir.path().join(&aside[0])).unwrap().len(),
        0
    );
}

#[test]
fn a_foreign_database_is_refused_unless_init_and_then_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(STATE_FILE);
    {
        let c = rusqlite::Connection::open(&state).unwrap();
        c.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
            .unwrap();
        c.pragma_update(None, "application_id", 0x1234).unwrap();
    }
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, AlertError::NotGoodhartDb { .. }), "{err:?}");
    assert!(
        err.to_string().contains("application_id is 0x1234"),
        "{err}"
    );
    assert!(err.to_string().contains("--init-state"), "{err}");

    // An empty SQLite database (a header, no tables) is not ours either.
    let dir2 = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(dir2.path().join(STATE_FILE)).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    let err = StateStore::open(dir2.path()).unwrap_err();
    assert!(
        err.to_string().contains("without goodhart's tables"),
        "{err}"
    );

    let store = StateStore::open_with(dir.path(), OpenMode::Init).unwrap();
    assert_eq!(store.schema_version().unwrap(), STATE_SCHEMA_VERSION);
    let aside = files_in(dir.path())
        .into_iter()
        .find(|f| f.starts_with("state.sqlite3.refused-"))
        .expect("moved aside");
    let c = rusqlite::Connection::open(dir.path().join(aside)).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "the other application's table is intact");
}

#[test]
fn must_exist_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("no-such-state");
    let err = StateStore::open_with(&dir, OpenMode::MustExist).unwrap_err();
    assert!(matches!(err, AlertError::StateMissing { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains(&dir.join(STATE_FILE).display().to_string()));
    assert!(!dir.exists(), "the directory was created");
    // An existing directory without a database stays empty too.
    let err = StateStore::open_with(root.path(), OpenMode::MustExist).unwrap_err();
    assert!(matches!(err, AlertError::StateMissing { .. }), "{err:?}");
    assert!(files_in(root.path()).is_empty());
    // A real state opens.
    let state = root.path().join("state");
    drop(seeded(&state));
    let store = StateStore::open_with(&state, OpenMode::MustExist).unwrap();
    assert_eq!(store.alert_records().unwrap().len(), 2);
}

#[test]
fn backups_rotate_keep_the_newest_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path());
    let t0 = Utc.with_ymd_and_hms(2025, 1, 8, 3, 0, 0).unwrap();
    let mut taken = Vec::new();
    for i in 0..9 {
        let at = t0 + chrono::Duration::days(i);
        taken.push(store.backup(at, 7).unwrap().unwrap());
    }
    let kept = list_backups(dir.path()).unwrap();
    assert_eq!(kept, taken[2..].to_vec(), "the newest 7, oldest first");
    assert!(kept[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("state-20250110T030000"));
    assert_eq!(store.backup(t0, 0).unwrap(), None, "0 = no backups");

    // A backup is a complete, consistent database.
    let newest = kept.last().unwrap();
    let c = rusqlite::Connection::open(newest).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(c);

    // Later changes are not in it; restoring (README procedure) brings the state back.
    let before = store.alert_records().unwrap();
    store
        .reconcile(&[], day(30), &LifecyclePolicy::default())
        .unwrap();
    assert_ne!(store.alert_records().unwrap(), before);
    drop(store);
    // The state is lost: truncated. It is refused, and restored from the newest backup.
    std::fs::write(dir.path().join(STATE_FILE), b"").unwrap();
    assert!(StateStore::open(dir.path()).is_err());
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{STATE_FILE}{suffix}")));
    }
    std::fs::copy(newest, dir.path().join(STATE_FILE)).unwrap();
    let restored = StateStore::open(dir.path()).unwrap();
    assert_eq!(restored.alert_records().unwrap(), before);
}

#[test]
fn a_vanished_state_with_backups_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path());
    store.backup(Utc::now(), 7).unwrap();
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{STATE_FILE}{suffix}")));
    }
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, AlertError::StateMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("backup"), "{err}");
    assert!(!dir.path().join(STATE_FILE).exists());
    // On purpose: a new state.
    let store = StateStore::open_with(dir.path(), OpenMode::Init).unwrap();
    assert!(store.alert_records().unwrap().is_empty());
}

#[test]
fn a_first_open_leaves_a_complete_database_or_none() {
    let dir = tempfile::tempdir().unwrap();
    drop(StateStore::open(dir.path()).unwrap());
    // Only the database (and SQLite's WAL companions), no temporary left behind.
    let leftovers: Vec<String> = files_in(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with(STATE_FILE) && f != "deliver.lock")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let c = rusqlite::Connection::open(dir.path().join(STATE_FILE)).unwrap();
    let id: i32 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, APPLICATION_ID);
    // The header carries the application id (checked without SQLite on the next open).
    let bytes = std::fs::read(dir.path().join(STATE_FILE)).unwrap();
    assert_eq!(&bytes[68..72], &APPLICATION_ID.to_be_bytes());
}

#[test]
fn a_state_of_the_previous_schema_is_migrated_with_its_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path());
    let fp = fingerprint("alice", "redundant-agent-spawns");
    store
        .record_feedback(
            &fp,
            Verdict::FalsePositive,
            "on call",
            day(9),
            &LifecyclePolicy::default(),
        )
        .unwrap();
    drop(store);
    // Back to schema 1, as the previous release left it.
    {
        let c = rusqlite::Connection::open(dir.path().join(STATE_FILE)).unwrap();
        c.execute_batch(
            "ALTER TABLE feedback DROP COLUMN source; \
             DROP TABLE audit_log; DROP TABLE audit_anchor; DROP TABLE reid_requests; \
             DROP TABLE waste_ledger; \
             DROP TABLE pseudonym_refs; \
             DELETE FROM schema_version WHERE version >= 2; \
             INSERT INTO pseudonyms VALUES ('s-1111111111111111', 'alice/7'), \
                 ('s-2222222222222222', 'bob/1'); \
             INSERT INTO outbox (delivery_id, fingerprint, sink, action, payload, state, \
                 created_at) VALUES ('d1', 'fp-a', 'webhook', 'post', \
                 '{\"sessions\":[\"s-1111111111111111\"]}', 'done', '2026-01-01T00:00:00Z');",
        )
        .unwrap();
    }
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        goodhart_alerts::STATE_SCHEMA_VERSION
    );
    assert_eq!(
        store.suppressed_until(&fp, day(10)).unwrap(),
        Some(day(9) + chrono::Days::new(90))
    );
    drop(store);
    // Migration 4 gives old session pseudonyms back the alert whose payload carries them;
    // one found in no payload gets no reference (and is then never purged automatically).
    let c = rusqlite::Connection::open(dir.path().join(STATE_FILE)).unwrap();
    let refs: Vec<(String, String)> = c
        .prepare("SELECT pseudonym, fingerprint FROM pseudonym_refs ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        refs,
        [("s-1111111111111111".to_string(), "fp-a".to_string())]
    );
}
