//! The reload measures that survive agent workloads, the migration guard of
//! re-spawns, and the pre-snapshot lifts (issue #17), on hand-built events
//! with answers computed by hand.

mod common;

use chrono::NaiveDate;
use common::*;
use goodhart_features::{features, FeatureOptions, Features};
use goodhart_schema::EventKind::*;

fn run(evs: &[Ev]) -> Features {
    let o = FeatureOptions {
        as_of: NaiveDate::from_ymd_opt(2024, 6, 9),
        ..FeatureOptions::default()
    };
    features(&[batch(evs)], &o, None).expect("features")
}

#[test]
fn a_tokenless_re_read_is_billed_on_the_next_request() {
    // Agent style: loads carry no tokens; the conversation is cached. File
    // "a" is read, then read again twice; each re-read is billed as
    // uncached input on the request after it (9000 and 8000 tokens, against
    // 500 for an ordinary turn).
    let evs = vec![
        ev("ann", "s1", 0, ContextLoad).ctx("a"),
        ev("ann", "s1", 1, ContextLoad).ctx("b"),
        ev("ann", "s1", 2, Request)
            .task("t1")
            .tokens(500, 100, 0, 20_000),
        ev("ann", "s1", 3, ContextLoad).ctx("a"),
        ev("ann", "s1", 4, Request)
            .task("t2")
            .tokens(9_000, 100, 20_600, 0),
        ev("ann", "s1", 5, ContextLoad).ctx("a"),
        ev("ann", "s1", 6, Request)
            .task("t3")
            .tokens(8_000, 100, 29_700, 0),
        ev("ann", "s1", 7, Request)
            .task("t4")
            .tokens(500, 100, 37_800, 0),
    ];
    let f = run(&evs);
    let s = &f.sessions;
    assert_eq!(u(s, "reloads", 0), 2);
    assert_eq!(u(s, "distinct_contexts", 0), 2);
    close(fl(s, "reloads_per_context", 0), 1.0);
    // The load rows carry nothing: the old measure sees no reload tokens.
    assert_eq!(u(s, "reload_uncached_tokens", 0), 0);
    assert_eq!(u(s, "reload_next_input_tokens", 0), 17_000);
    assert_eq!(u(s, "reload_miss_tokens", 0), 17_000);
    assert_eq!(u(s, "waste_tokens", 0), 17_000);
    let us = &f.users;
    close(fl(us, "reloads_per_context", 0), 1.0);
    // Uncached input: 500 + 9000 + 8000 + 500.
    close(fl(us, "reload_miss_share", 0), 17_000.0 / 18_000.0);
    // Every session has a reload: no own history to compare with.
    assert!(is_null(us, "cache_hit_drop", 0));
}

#[test]
fn two_reloads_before_one_request_bill_it_once() {
    let evs = vec![
        ev("ann", "s1", 0, ContextLoad).ctx("a"),
        ev("ann", "s1", 1, ContextLoad).ctx("a"),
        ev("ann", "s1", 2, ContextLoad).ctx("a"),
        ev("ann", "s1", 3, Request)
            .task("t1")
            .tokens(7_000, 100, 0, 0),
    ];
    let f = run(&evs);
    assert_eq!(u(&f.sessions, "reload_next_input_tokens", 0), 7_000);
}

#[test]
fn cache_hit_drop_compares_with_the_users_own_sessions() {
    // s1, s2: no reload, cache-hit 0.8 and 0.9; s3: a reload, hit 0.5.
    let evs = vec![
        ev("bob", "s1", 0, Request).tokens(200, 10, 800, 0),
        ev("bob", "s2", 60, Request).tokens(100, 10, 900, 0),
        ev("bob", "s3", 120, ContextLoad).ctx("a"),
        ev("bob", "s3", 121, ContextLoad).ctx("a"),
        ev("bob", "s3", 122, Request).tokens(500, 10, 500, 0),
    ];
    let f = run(&evs);
    close(fl(&f.users, "cache_hit_drop", 0), 0.85 - 0.5);
}

#[test]
fn a_templated_migration_is_not_an_unproductive_respawn() {
    // Session m: one task "migrate" spawned 3 times, every agent ships a
    // change. Session s: task "poll" spawned 3 times, nothing accepted.
    let mut evs = Vec::new();
    for (i, a) in ["m1", "m2", "m3"].iter().enumerate() {
        let t = i as i64 * 2;
        evs.push(ev("cat", "m", t, AgentSpawn).agent(a).task("migrate"));
        evs.push(
            ev("cat", "m", t + 1, Request)
                .agent(a)
                .task(a)
                .tokens(100, 10, 0, 0),
        );
        evs.push(ev("cat", "m", t + 1, ChangeAccepted).agent(a).lines(20));
    }
    for (i, a) in ["p1", "p2", "p3"].iter().enumerate() {
        let t = 60 + i as i64 * 2;
        evs.push(ev("cat", "s", t, AgentSpawn).agent(a).task("poll"));
        evs.push(
            ev("cat", "s", t + 1, Request)
                .agent(a)
                .task(a)
                .tokens(100, 10, 0, 0),
        );
    }
    let f = run(&evs);
    let s = &f.sessions;
    let (m, sp) = (row_of(s, "m"), row_of(s, "s"));
    assert_eq!(u(s, "redundant_spawns", m), 2);
    assert_eq!(u(s, "unproductive_respawns", m), 0);
    close(fl(s, "unproductive_respawn_ratio", m), 0.0);
    assert_eq!(u(s, "redundant_spawns", sp), 2);
    assert_eq!(u(s, "unproductive_respawns", sp), 2);
    close(fl(s, "unproductive_respawn_ratio", sp), 2.0 / 3.0);
    let us = &f.users;
    close(fl(us, "unproductive_respawn_ratio", 0), 2.0 / 6.0);
    close(fl(us, "share_sessions_unproductive_respawns", 0), 0.5);
    close(fl(us, "redundant_spawn_ratio", 0), 4.0 / 6.0);
}

#[test]
fn pre_snapshot_lifts_compare_the_users_own_weeks() {
    // Monday session: 1000 tokens, no waste. Thursday (pre-snapshot)
    // session: 3000 tokens of which the second request (1500) loops.
    let thu = 3 * 24 * 60;
    let evs = vec![
        ev("dan", "mon", 0, Request)
            .task("x")
            .tokens(900, 100, 0, 0),
        ev("dan", "thu", thu, Request)
            .task("y")
            .tokens(1_400, 100, 0, 0),
        ev("dan", "thu", thu + 1, Request)
            .task("y")
            .tokens(1_400, 100, 0, 0),
    ];
    let f = run(&evs);
    let us = &f.users;
    close(fl(us, "pre_snapshot_token_lift", 0), 3_000.0 / 1_000.0);
    // Prior m = 2% of the mean session (2000 tokens) = 40.
    close(
        fl(us, "pre_snapshot_waste_lift", 0),
        (1_500.0 + 40.0) / 40.0,
    );
}

#[test]
fn a_re_run_after_accepted_work_is_not_an_unproductive_respawn() {
    // The test agent runs, a fix is accepted, the test agent runs again
    // (work), then once more with nothing accepted since (waste).
    let evs = vec![
        ev("eve", "r", 0, AgentSpawn).agent("t1").task("tests"),
        ev("eve", "r", 1, ChangeAccepted).lines(12),
        ev("eve", "r", 2, AgentSpawn).agent("t2").task("tests"),
        ev("eve", "r", 3, AgentSpawn).agent("t3").task("tests"),
    ];
    let f = run(&evs);
    assert_eq!(u(&f.sessions, "redundant_spawns", 0), 2);
    assert_eq!(u(&f.sessions, "unproductive_respawns", 0), 1);
}
