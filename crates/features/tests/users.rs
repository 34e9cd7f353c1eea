//! User features: rates from sums, trend, roster join, options and errors.

mod common;

use chrono::NaiveDate;
use common::*;
use goodhart_features::{
    features, finalize, FeatureError, FeatureOptions, SessionAccumulator, Snapshot,
};
use goodhart_schema::{EventKind::*, Roster, RosterEntry};

fn as_of(y: i32, m: u32, d: u32) -> FeatureOptions {
    FeatureOptions {
        as_of: NaiveDate::from_ymd_opt(y, m, d),
        ..FeatureOptions::default()
    }
}

#[test]
fn rates_come_from_sums_not_means_of_session_ratios() {
    let evs = vec![
        // Session a (Monday): one request, one accepted change.
        ev("gus", "a", 0, Request).task("t1").tokens(100, 0, 0, 0),
        ev("gus", "a", 1, ChangeAccepted).lines(3),
        // Session b (Tuesday): the same prompt four times, nothing accepted.
        ev("gus", "b", 24 * 60, Request)
            .task("t2")
            .tokens(100, 0, 0, 0),
        ev("gus", "b", 24 * 60 + 1, Request)
            .task("t2")
            .tokens(100, 0, 0, 0),
        ev("gus", "b", 24 * 60 + 2, Request)
            .task("t2")
            .tokens(100, 0, 0, 0),
        ev("gus", "b", 24 * 60 + 3, Request)
            .task("t2")
            .tokens(100, 0, 0, 0),
    ];
    let f = features(&[batch(&evs)], &as_of(2024, 6, 9), None).unwrap();
    let u_ = &f.users;
    assert_eq!(u_.num_rows(), 1);
    assert_eq!(u(u_, "sessions", 0), 2);
    assert_eq!(u(u_, "active_days", 0), 2);
    assert_eq!(u(u_, "requests", 0), 5);
    assert_eq!(u(u_, "total_tokens", 0), 500);
    assert_eq!(u(u_, "accepted", 0), 1);
    // Session loop ratios are 0 and 0.75 (mean 0.375); from sums: 3 / 5.
    close(fl(u_, "loop_ratio", 0), 0.6);
    // Sessions give 100/2 and 400/1 (mean 225); from sums: 500 / (1 + 1).
    close(fl(u_, "tokens_per_accepted_change", 0), 250.0);
    close(fl(u_, "share_sessions_loop", 0), 0.5);
    assert_eq!(u(u_, "max_longest_run", 0), 4);
    close(fl(u_, "waste_share", 0), 300.0 / 500.0);
    close(fl(u_, "trivial_change_share", 0), 1.0);
    // No roster: team and tenure unknown.
    assert!(is_null(u_, "team", 0));
    assert!(is_null(u_, "tenure_days", 0));
    // Both sessions in the last 7 days of the window: no history, no trend.
    assert!(is_null(u_, "tokens_per_accepted_change_trend", 0));
}

#[test]
fn trend_compares_last_week_with_earlier_weeks() {
    // Window of 28 days ending 2024-07-01 00:00; last week starts 06-24.
    let d0610 = T0 + 7 * DAY; // 2024-06-10 09:00
    let d0625 = T0 + 22 * DAY; // 2024-06-25 09:00
    let evs = vec![
        ev("hal", "early", 0, Request)
            .at_us(d0610)
            .tokens(1000, 0, 0, 0),
        ev("hal", "early", 0, ChangeAccepted).at_us(d0610 + MIN),
        ev("hal", "late", 0, Request)
            .at_us(d0625)
            .tokens(3000, 0, 0, 0),
    ];
    let f = features(&[batch(&evs)], &as_of(2024, 6, 30), None).unwrap();
    // Earlier: 1000 / (1 + 1) = 500; last week: 3000 / (0 + 1) = 3000.
    close(fl(&f.users, "tokens_per_accepted_change_trend", 0), 6.0);
}

#[test]
fn roster_gives_team_role_and_tenure() {
    let roster = Roster::new(vec![RosterEntry {
        user_id: "ivy".into(),
        team: Some("infra".into()),
        role: Some("sre".into()),
        start_date: NaiveDate::from_ymd_opt(2024, 1, 1),
    }]);
    let evs = vec![
        ev("ivy", "s", 0, Request).at_us(T0 + 7 * DAY),
        ev("joe", "s", 0, Request).at_us(T0 + 7 * DAY),
    ];
    let f = features(&[batch(&evs)], &as_of(2024, 6, 30), Some(&roster)).unwrap();
    let t = &f.users;
    let i = user_row(t, "ivy");
    let team = t.column_by_name("team").unwrap();
    use arrow::array::{Array, AsArray};
    assert_eq!(team.as_string::<i32>().value(i), "infra");
    // 2024-01-01 .. 2024-07-01 (window end) = 31+29+31+30+31+30 days.
    let tenure = t.column_by_name("tenure_days").unwrap();
    assert_eq!(
        tenure
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(i),
        182
    );
    let j = user_row(t, "joe");
    assert!(team.is_null(j));
    assert!(tenure.is_null(j));
    // Rows sorted by user id.
    assert!(i < j);
}

#[test]
fn options_are_validated_by_name() {
    let cases: Vec<(FeatureOptions, &str)> = vec![
        (
            FeatureOptions {
                window_days: 0,
                ..Default::default()
            },
            "window_days",
        ),
        (
            FeatureOptions {
                snapshot: Snapshot {
                    hour: 24,
                    ..Snapshot::default()
                },
                ..Default::default()
            },
            "snapshot.hour",
        ),
        (
            FeatureOptions {
                snapshot: Snapshot {
                    pre_snapshot_hours: 168,
                    ..Snapshot::default()
                },
                ..Default::default()
            },
            "snapshot.pre_snapshot_hours",
        ),
        (
            FeatureOptions {
                premium_models: vec!["".into()],
                ..Default::default()
            },
            "premium_models",
        ),
        (
            FeatureOptions {
                common_prompt_min_users: 1,
                ..Default::default()
            },
            "common_prompt_min_users",
        ),
        (
            FeatureOptions {
                common_prompt_user_share: f64::NAN,
                ..Default::default()
            },
            "common_prompt_user_share",
        ),
        (
            FeatureOptions {
                cache_ttl_minutes: 0,
                ..Default::default()
            },
            "cache_ttl_minutes",
        ),
        (
            FeatureOptions {
                idle_gap_minutes: 0,
                ..Default::default()
            },
            "idle_gap_minutes",
        ),
        (
            FeatureOptions {
                session_reload_churn_share: 1.5,
                ..Default::default()
            },
            "session_reload_churn_share",
        ),
    ];
    for (o, name) in cases {
        let e = o.validate().expect_err(name);
        assert!(matches!(e, FeatureError::InvalidOption { setting, .. } if setting == name));
        assert!(e.to_string().contains(name), "{e}");
    }
    assert!(FeatureOptions::default().validate().is_ok());
}

#[test]
fn snapshot_settings_must_match_between_fold_and_finalize() {
    let evs = vec![ev("ann", "s", 0, Request)];
    let other = FeatureOptions {
        snapshot: Snapshot {
            hour: 9,
            ..Snapshot::default()
        },
        ..FeatureOptions::default()
    };
    let mut acc = SessionAccumulator::default();
    acc.add_batch(&batch(&evs));
    let e = finalize(acc.clone(), &other, None).unwrap_err();
    assert!(matches!(e, FeatureError::SnapshotMismatch { .. }), "{e}");
    assert!(e.to_string().contains("with_options"));
    // Merging accumulators built with different settings is reported too.
    let mut b = SessionAccumulator::with_options(&other);
    b.add_batch(&batch(&evs));
    let merged = acc.merge(b);
    assert!(finalize(merged.clone(), &FeatureOptions::default(), None).is_err());
    assert!(finalize(merged, &other, None).is_err());
}

#[test]
fn empty_input_gives_empty_tables_with_full_schema() {
    let f = features(&[], &FeatureOptions::default(), None).unwrap();
    assert_eq!(f.sessions.num_rows(), 0);
    assert_eq!(f.users.num_rows(), 0);
    assert_eq!(f.sessions.schema(), goodhart_features::session_schema());
    assert_eq!(f.users.schema(), goodhart_features::user_schema());
}
