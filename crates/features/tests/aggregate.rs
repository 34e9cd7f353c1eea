//! Schema v1.1 aggregate rows (count column `n`): totals count every event
//! a row stands for; features that need single events are null for the
//! session, never zero; sessions without aggregate rows are unchanged.

mod common;
use common::*;
use goodhart_features::{features, FeatureOptions};
use goodhart_schema::EventKind;

#[test]
fn aggregate_rows_keep_totals_and_make_single_event_features_unavailable() {
    let evs = vec![
        // Aggregate session "d": one user-day of a vendor report.
        ev("ana", "d", 0, EventKind::Request)
            .tokens(100, 50, 0, 0)
            .task("t"),
        ev("ana", "d", 0, EventKind::ChangeAccepted).lines(40),
        ev("ana", "d", 0, EventKind::ChangeRejected),
        // Event session "e" of the same person: single events.
        ev("ana", "e", 60, EventKind::Request)
            .tokens(10, 5, 0, 0)
            .task("p"),
        ev("ana", "e", 61, EventKind::Request)
            .tokens(10, 5, 0, 0)
            .task("p"),
    ];
    let mut b = batch(&evs);
    b.n = vec![10, 4, 1, 0, 0];
    let opts = FeatureOptions {
        as_of: chrono::NaiveDate::from_ymd_opt(2024, 6, 3),
        ..FeatureOptions::default()
    };
    let f = features(&[b], &opts, None).unwrap();
    let s = &f.sessions;
    let d = row_of(s, "d");
    assert_eq!(u(s, "requests", d), 10);
    assert_eq!(u(s, "accepted", d), 4);
    assert_eq!(u(s, "rejected", d), 1);
    assert_eq!(u(s, "events", d), 15);
    assert_eq!(u(s, "total_tokens", d), 150);
    close(fl(s, "tokens_per_accepted_change", d), 150.0 / 5.0);
    for c in [
        "loop_requests",
        "longest_run",
        "reloads",
        "redundant_spawns",
        "agents",
        "trivial_changes",
    ] {
        assert!(
            is_null(s, c, d),
            "{c} must be unavailable for an aggregate session"
        );
    }
    // The event session of the same person still has them.
    let e = row_of(s, "e");
    assert_eq!(u(s, "requests", e), 2);
    assert_eq!(u(s, "loop_requests", e), 1);
    assert!(!is_null(s, "reloads", e));
}

#[test]
fn explicit_ones_count_once_and_an_absent_column_is_the_v1_behaviour() {
    let evs = vec![
        ev("bo", "s", 0, EventKind::Request)
            .tokens(1, 1, 0, 0)
            .task("a"),
        ev("bo", "s", 1, EventKind::Request)
            .tokens(1, 1, 0, 0)
            .task("a"),
    ];
    let opts = FeatureOptions {
        as_of: chrono::NaiveDate::from_ymd_opt(2024, 6, 3),
        ..FeatureOptions::default()
    };
    let plain = features(&[batch(&evs)], &opts, None).unwrap();
    let mut b = batch(&evs);
    b.n = vec![0, 0]; // n present but null everywhere: single events
    let zeros = features(&[b], &opts, None).unwrap();
    assert_eq!(plain.sessions, zeros.sessions);
    let mut b = batch(&evs);
    b.n = vec![1, 1]; // explicit 1: aggregates of one event each
    let ones = features(&[b], &opts, None).unwrap();
    assert_eq!(u(&ones.sessions, "requests", 0), 2);
    assert!(is_null(&ones.sessions, "loop_requests", 0));
}
