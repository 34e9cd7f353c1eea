//! `StateStore::reconcile_with`: no auto-resolution on an incomplete night; previews.

mod common;

use common::*;
use goodhart_alerts::*;

const SPAWNS: &str = "redundant-agent-spawns";

#[test]
fn an_incomplete_night_resolves_nothing_and_a_preview_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path().join("state")).unwrap();
    let p = LifecyclePolicy::default();
    let a = candidate("alice", SPAWNS, Severity::High, 80.0);
    let fp = a.fingerprint();
    store
        .reconcile(std::slice::from_ref(&a), day(1), &p)
        .unwrap();

    // Day 9, alice not raised (gap 8 >= resolve_after_days 7), but the night looks incomplete.
    let mut no_resolve = ReconcileOptions::default();
    no_resolve.auto_resolve = false;
    let r = store.reconcile_with(&[], day(9), &p, no_resolve).unwrap();
    assert!(r.resolved.is_empty());
    assert_eq!(
        store.alert_record(&fp).unwrap().unwrap().status,
        AlertState::Open
    );

    // A preview reports the resolution but rolls it back.
    let mut preview = ReconcileOptions::default();
    preview.commit = false;
    let r = store.reconcile_with(&[], day(9), &p, preview).unwrap();
    assert_eq!(r.resolved, vec![fp.clone()]);
    assert_eq!(
        store.alert_record(&fp).unwrap().unwrap().status,
        AlertState::Open
    );

    // A complete night resolves it.
    let r = store.reconcile(&[], day(9), &p).unwrap();
    assert_eq!(r.resolved, vec![fp.clone()]);
    assert_eq!(
        store.alert_record(&fp).unwrap().unwrap().status,
        AlertState::Resolved
    );
}
