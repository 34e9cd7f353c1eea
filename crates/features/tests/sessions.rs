//! Session features on small hand-built event tables, answers computed by hand.

mod common;

use chrono::NaiveDate;
use common::*;
use goodhart_features::{features, FeatureOptions, Features};
use goodhart_schema::{EventKind::*, Presence};

fn opts() -> FeatureOptions {
    FeatureOptions {
        as_of: NaiveDate::from_ymd_opt(2024, 6, 9),
        ..FeatureOptions::default()
    }
}

fn run(evs: &[Ev]) -> Features {
    features(&[batch(evs)], &opts(), None).expect("features")
}

#[test]
fn timing_volume_cache_premium_and_zero_output() {
    let evs = vec![
        ev("ann", "s1", 0, Request)
            .tokens(100, 20, 0, 0)
            .model("claude-opus-4")
            .cost(1_000_000),
        ev("ann", "s1", 10, Request)
            .tokens(50, 10, 200, 0)
            .model("claude-sonnet-4")
            .cost(500_000),
        ev("ann", "s1", 70, Request)
            .tokens(0, 30, 300, 0)
            .model("claude-sonnet-4"),
        ev("ann", "s1", 75, ContextLoad)
            .tokens(0, 0, 0, 400)
            .ctx("repo"),
    ];
    let f = run(&evs);
    let s = &f.sessions;
    assert_eq!(s.num_rows(), 1);
    close(fl(s, "duration_min", 0), 75.0);
    // The 60-minute pause is longer than the 30-minute idle gap.
    close(fl(s, "active_min", 0), 15.0);
    assert_eq!(u8v(s, "weekday", 0), 0);
    assert_eq!(u8v(s, "hour", 0), 9);
    close(fl(s, "days_to_snapshot", 0), 4.0 + 8.0 / 24.0);
    assert!(!b(s, "pre_snapshot", 0));
    assert_eq!(u(s, "events", 0), 4);
    assert_eq!(u(s, "requests", 0), 3);
    assert_eq!(u(s, "context_loads", 0), 1);
    assert_eq!(u(s, "spawns", 0), 0);
    assert_eq!(u(s, "input_tokens", 0), 150);
    assert_eq!(u(s, "output_tokens", 0), 60);
    assert_eq!(u(s, "cache_read_tokens", 0), 500);
    assert_eq!(u(s, "cache_write_tokens", 0), 400);
    assert_eq!(u(s, "total_tokens", 0), 1110);
    close(fl(s, "cost_usd", 0), 0.0015);
    close(fl(s, "cache_hit_ratio", 0), 500.0 / 1050.0);
    assert_eq!(u(s, "premium_tokens", 0), 120);
    close(fl(s, "premium_share", 0), 120.0 / 1110.0);
    close(fl(s, "output_per_request", 0), 20.0);
    // No accepted change: smoothed ratios stay finite.
    assert!(b(s, "zero_output", 0));
    assert_eq!(u(s, "accepted", 0), 0);
    close(fl(s, "tokens_per_accepted_change", 0), 1110.0);
    close(fl(s, "output_per_accepted_change", 0), 60.0);
    assert!(is_null(s, "accept_rate", 0));
    assert!(is_null(s, "revert_rate", 0));
    assert!(is_null(s, "lines_per_change", 0));
    assert!(is_null(s, "trivial_change_share", 0));
    assert_eq!(u(s, "lines_accepted", 0), 0);
    assert_eq!(u(s, "reloads", 0), 0);
    assert_eq!(u(s, "loop_requests", 0), 0);
    close(fl(s, "loop_ratio", 0), 0.0);
    assert_eq!(u(s, "longest_run", 0), 0);
    assert!(is_null(s, "redundant_spawn_ratio", 0)); // no spawns at all
    assert_eq!(u(s, "pre_snapshot_tokens", 0), 0);
    assert_eq!(u(s, "waste_tokens", 0), 0);
}

#[test]
fn spawn_tree_redundancy_idle_unproductive_fanout_depth() {
    let evs = vec![
        ev("bob", "s2", 0, AgentSpawn)
            .agent("A")
            .task("X")
            .tokens(10, 0, 0, 0),
        ev("bob", "s2", 1, AgentSpawn)
            .agent("B")
            .task("X")
            .tokens(10, 0, 0, 0),
        ev("bob", "s2", 1, Request)
            .agent("A")
            .task("a1")
            .tokens(100, 0, 0, 0),
        ev("bob", "s2", 2, AgentSpawn)
            .agent("C")
            .parent("A")
            .task("Y")
            .tokens(10, 0, 0, 0),
        ev("bob", "s2", 3, AgentSpawn)
            .agent("D")
            .parent("C")
            .task("Z")
            .tokens(10, 0, 0, 0),
        ev("bob", "s2", 4, Request)
            .agent("C")
            .parent("A")
            .task("c1")
            .tokens(100, 0, 0, 0),
        ev("bob", "s2", 5, Request)
            .agent("A")
            .task("a2")
            .tokens(100, 0, 0, 0),
        ev("bob", "s2", 6, ChangeAccepted).lines(5),
        ev("bob", "s2", 10, Request)
            .agent("D")
            .parent("C")
            .task("d1")
            .tokens(100, 0, 0, 0),
    ];
    let f = run(&evs);
    let s = &f.sessions;
    assert_eq!(u(s, "spawns", 0), 4);
    assert_eq!(u(s, "agents", 0), 4);
    assert_eq!(u(s, "spawned_agents", 0), 4);
    // Task X spawned twice.
    assert_eq!(u(s, "redundant_spawns", 0), 1);
    close(fl(s, "redundant_spawn_ratio", 0), 0.25);
    // B (the second X agent) has only its spawn row: 10 tokens.
    assert_eq!(u(s, "redundant_spawn_tokens", 0), 10);
    // B never made a request.
    assert_eq!(u(s, "idle_agents", 0), 1);
    // D's first request (m10) comes after the last accepted change (m6).
    assert_eq!(u(s, "unproductive_agents", 0), 1);
    // Alive: A [0,5], B [1,1], C [2,4], D [3,10] -> A, C, D at m3.
    assert_eq!(u(s, "max_fanout", 0), 3);
    // main -> A -> C -> D.
    assert_eq!(u(s, "spawn_depth", 0), 3);
    assert_eq!(u(s, "waste_tokens", 0), 10);
    close(fl(s, "tokens_per_accepted_change", 0), 440.0 / 2.0);
}

#[test]
fn spawn_depth_with_unknown_parent_and_touching_intervals() {
    let evs = vec![
        // E's parent never appears as an agent itself: depth 2.
        ev("bob", "s3", 0, Request)
            .agent("E")
            .parent("ghost")
            .task("e"),
        // F ends at m1 when G starts: closed intervals overlap.
        ev("bob", "s3", 0, Request).agent("F").task("f"),
        ev("bob", "s3", 1, Request).agent("F").task("f2"),
        ev("bob", "s3", 1, Request).agent("G").task("g"),
        ev("bob", "s3", 2, Request).agent("G").task("g2"),
    ];
    let s = run(&evs).sessions;
    assert_eq!(u(&s, "spawn_depth", 0), 2);
    // E [0,0], F [0,1], G [1,2]: at m0 E+F, at m1 F+G.
    assert_eq!(u(&s, "max_fanout", 0), 2);
    assert_eq!(u(&s, "spawned_agents", 0), 0);
    assert_eq!(u(&s, "idle_agents", 0), 0);
    // No accepted change at all: every agent that ran is unproductive.
    assert_eq!(u(&s, "unproductive_agents", 0), 3);
}

#[test]
fn cache_expiry_reload_is_cheap_but_reloader_pays_again() {
    let evs = vec![
        // cara: loads once, reads from cache, pauses an hour (cache expired),
        // reloads once paying cache_write, reads again.
        ev("cara", "legit", 0, ContextLoad)
            .ctx("K")
            .tokens(0, 0, 0, 1000),
        ev("cara", "legit", 1, Request).tokens(0, 10, 1000, 0),
        ev("cara", "legit", 2, Request).tokens(0, 10, 1000, 0),
        ev("cara", "legit", 62, ContextLoad)
            .ctx("K")
            .tokens(0, 0, 0, 1000),
        ev("cara", "legit", 63, Request).tokens(0, 10, 1000, 0),
        // dan: sends the same context uncached four times in four minutes.
        ev("dan", "reloader", 0, ContextLoad)
            .ctx("K")
            .tokens(1000, 0, 0, 0),
        ev("dan", "reloader", 1, ContextLoad)
            .ctx("K")
            .tokens(1000, 0, 0, 0),
        ev("dan", "reloader", 2, ContextLoad)
            .ctx("K")
            .tokens(1000, 0, 0, 0),
        ev("dan", "reloader", 3, ContextLoad)
            .ctx("K")
            .tokens(1000, 0, 0, 0),
        ev("dan", "reloader", 4, Request).tokens(100, 0, 0, 0),
        ev("dan", "reloader", 5, Request).tokens(100, 0, 0, 0),
    ];
    let f = run(&evs);
    let s = &f.sessions;
    let l = row_of(s, "legit");
    assert_eq!(u(s, "reloads", l), 1);
    assert_eq!(u(s, "reloads_within_ttl", l), 0);
    assert_eq!(u(s, "reload_tokens", l), 1000);
    assert_eq!(u(s, "reload_uncached_tokens", l), 0);
    close(fl(s, "reload_uncached_share", l), 0.0);
    close(fl(s, "cache_hit_ratio", l), 3000.0 / 5000.0);
    assert_eq!(u(s, "waste_tokens", l), 0);

    let r = row_of(s, "reloader");
    assert_eq!(u(s, "reloads", r), 3);
    assert_eq!(u(s, "reloads_within_ttl", r), 3);
    assert_eq!(u(s, "reload_tokens", r), 3000);
    assert_eq!(u(s, "reload_uncached_tokens", r), 3000);
    close(fl(s, "reload_uncached_share", r), 3000.0 / 4200.0);
    close(fl(s, "cache_hit_ratio", r), 0.0);
    assert_eq!(u(s, "waste_tokens", r), 3000);

    let us = &f.users;
    let c = user_row(us, "cara");
    let d = user_row(us, "dan");
    close(fl(us, "reload_ratio", c), 0.5);
    close(fl(us, "reload_ratio", d), 0.75);
    close(fl(us, "share_sessions_reload_churn", c), 0.0);
    close(fl(us, "share_sessions_reload_churn", d), 1.0);
    assert_eq!(u(us, "max_reloads", d), 3);
}

#[test]
fn outcome_and_reverts_net_out() {
    let evs = vec![
        ev("eve", "s4", 0, Request).tokens(300, 0, 0, 0),
        ev("eve", "s4", 1, ChangeAccepted).lines(1),
        ev("eve", "s4", 2, ChangeAccepted).lines(2),
        ev("eve", "s4", 3, ChangeAccepted).lines(10),
        ev("eve", "s4", 4, ChangeRejected),
        ev("eve", "s4", 5, ChangeReverted).lines(2),
        // More reverts than accepts: net accepted floors at 0.
        ev("eve", "s5", 0, Request).tokens(90, 0, 0, 0),
        ev("eve", "s5", 1, ChangeAccepted).lines(4),
        ev("eve", "s5", 2, ChangeReverted).lines(4),
        ev("eve", "s5", 3, ChangeReverted).lines(3),
    ];
    let f = run(&evs);
    let s = &f.sessions;
    let a = row_of(s, "s4");
    assert_eq!(u(s, "accepted_gross", a), 3);
    assert_eq!(u(s, "accepted", a), 2);
    assert_eq!(u(s, "rejected", a), 1);
    assert_eq!(u(s, "reverted", a), 1);
    close(fl(s, "accept_rate", a), 2.0 / 3.0);
    close(fl(s, "revert_rate", a), 1.0 / 3.0);
    assert_eq!(u(s, "lines_accepted", a), 11);
    close(fl(s, "lines_per_change", a), 5.5);
    assert_eq!(u(s, "trivial_changes", a), 2);
    close(fl(s, "trivial_change_share", a), 2.0 / 3.0);
    close(fl(s, "tokens_per_accepted_change", a), 100.0);
    assert!(!b(s, "zero_output", a));

    let z = row_of(s, "s5");
    assert_eq!(u(s, "accepted", z), 0);
    assert_eq!(u(s, "lines_accepted", z), 0);
    assert!(b(s, "zero_output", z));
    assert!(is_null(s, "accept_rate", z));
    close(fl(s, "revert_rate", z), 2.0);
    close(fl(s, "tokens_per_accepted_change", z), 90.0);
    assert!(is_null(s, "lines_per_change", z));

    // User: sums, not means.
    let us = &f.users;
    assert_eq!(u(us, "accepted", 0), 2);
    close(fl(us, "accept_rate", 0), 2.0 / 3.0);
    close(fl(us, "revert_rate", 0), 3.0 / 4.0);
    close(fl(us, "trivial_change_share", 0), 2.0 / 4.0);
    close(fl(us, "tokens_per_accepted_change", 0), 390.0 / 3.0);
    assert_eq!(u(us, "lines_accepted", 0), 11);
}

#[test]
fn missing_columns_give_nulls_not_zeros() {
    let evs = vec![
        ev("ann", "s1", 0, AgentSpawn).agent("A").task("X"),
        ev("ann", "s1", 1, AgentSpawn).agent("B").task("X"),
        ev("ann", "s1", 2, Request)
            .agent("A")
            .task("t")
            .tokens(100, 10, 0, 0)
            .model("opus"),
        ev("ann", "s1", 3, Request)
            .agent("A")
            .task("t")
            .tokens(100, 10, 0, 0)
            .model("opus"),
        ev("ann", "s1", 4, ContextLoad)
            .ctx("K")
            .tokens(100, 0, 0, 0),
        ev("ann", "s1", 5, ContextLoad)
            .ctx("K")
            .tokens(100, 0, 0, 0),
        ev("ann", "s1", 6, ChangeAccepted).lines(2).cost(5),
    ];
    let presence = Presence {
        input_tokens: true,
        output_tokens: true,
        ..Presence::default()
    };
    let f = features(&[batch_with(&evs, presence)], &opts(), None).unwrap();
    let s = &f.sessions;
    for c in [
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "agents",
        "spawned_agents",
        "redundant_spawns",
        "redundant_spawn_ratio",
        "redundant_spawn_tokens",
        "idle_agents",
        "unproductive_agents",
        "max_fanout",
        "spawn_depth",
        "reloads",
        "reloads_within_ttl",
        "reload_tokens",
        "reload_uncached_tokens",
        "reload_uncached_share",
        "cache_hit_ratio",
        "lines_accepted",
        "lines_per_change",
        "trivial_changes",
        "trivial_change_share",
        "loop_requests",
        "loop_ratio",
        "longest_run",
        "common_prompt_requests",
        "loop_tokens",
        "premium_tokens",
        "premium_share",
    ] {
        assert!(is_null(s, c, 0), "{c} should be null");
    }
    assert_eq!(u(s, "input_tokens", 0), 400);
    assert_eq!(u(s, "total_tokens", 0), 420);
    assert_eq!(u(s, "accepted", 0), 1);
    assert_eq!(u(s, "waste_tokens", 0), 0);
    let us = &f.users;
    for c in [
        "cost_usd",
        "lines_accepted",
        "redundant_spawn_ratio",
        "idle_agent_ratio",
        "reload_ratio",
        "reload_uncached_share",
        "cache_hit_ratio",
        "loop_ratio",
        "trivial_change_share",
        "premium_share",
        "share_sessions_redundant_spawns",
        "share_sessions_reload_churn",
        "share_sessions_loop",
        "max_redundant_spawns",
        "max_reloads",
        "max_longest_run",
    ] {
        assert!(is_null(us, c, 0), "user {c} should be null");
    }
    close(fl(us, "output_per_request", 0), 10.0);

    // agent_id present but parent_agent_id absent: depth unknown, fan-out known.
    let p2 = Presence {
        agent_id: true,
        ..Presence::default()
    };
    let s = features(&[batch_with(&evs, p2)], &opts(), None)
        .unwrap()
        .sessions;
    assert!(is_null(&s, "spawn_depth", 0));
    assert_eq!(u(&s, "max_fanout", 0), 2);
    assert!(is_null(&s, "input_tokens", 0));
    assert!(is_null(&s, "output_per_request", 0));
}

#[test]
fn common_prompts_are_not_loops_but_one_users_repeats_are() {
    let mut evs = Vec::new();
    for u in ["u1", "u2", "u3", "u4", "u5"] {
        evs.push(
            ev(u, &format!("{u}-s"), 0, Request)
                .task("continue")
                .tokens(10, 5, 0, 0),
        );
        evs.push(
            ev(u, &format!("{u}-s"), 1, Request)
                .task("continue")
                .tokens(10, 5, 0, 0),
        );
    }
    for m in 2..6 {
        evs.push(
            ev("u1", "u1-s", m, Request)
                .task("fix it")
                .tokens(10, 5, 0, 0),
        );
    }
    // Alternating prompts: repeats, but no run longer than 1.
    for (m, t) in [(0, "p"), (1, "q"), (2, "p"), (3, "q")] {
        evs.push(ev("u6", "u6-s", m, Request).task(t).tokens(10, 5, 0, 0));
    }
    let f = run(&evs);
    // 6 users: threshold max(2, min(5, ceil(0.6))) = 2.
    assert_eq!(f.common_prompt_threshold, 2);
    assert_eq!(f.common_prompts, 1);
    let s = &f.sessions;
    let r1 = row_of(s, "u1-s");
    assert_eq!(u(s, "common_prompt_requests", r1), 2);
    assert_eq!(u(s, "loop_requests", r1), 3);
    assert_eq!(u(s, "longest_run", r1), 4);
    close(fl(s, "loop_ratio", r1), 0.5);
    assert_eq!(u(s, "loop_tokens", r1), 45);
    let r2 = row_of(s, "u2-s");
    assert_eq!(u(s, "loop_requests", r2), 0);
    assert_eq!(u(s, "longest_run", r2), 0);
    assert_eq!(u(s, "common_prompt_requests", r2), 2);
    let r6 = row_of(s, "u6-s");
    assert_eq!(u(s, "loop_requests", r6), 2);
    assert_eq!(u(s, "longest_run", r6), 1);
    let us = &f.users;
    close(fl(us, "share_sessions_loop", user_row(us, "u1")), 1.0);
    close(fl(us, "share_sessions_loop", user_row(us, "u2")), 0.0);
    assert_eq!(u(us, "max_longest_run", user_row(us, "u1")), 4);

    // With a higher bar (5 users), a prompt shared by only two users is a loop.
    let pair = vec![
        ev("v1", "a", 0, Request).task("pair"),
        ev("v1", "a", 1, Request).task("pair"),
        ev("v2", "b", 0, Request).task("pair"),
        ev("v2", "b", 1, Request).task("pair"),
    ];
    let o = FeatureOptions {
        common_prompt_user_share: 1.0,
        ..opts()
    };
    let f = features(&[batch(&pair)], &o, None).unwrap();
    assert_eq!(f.common_prompt_threshold, 2); // 2 users: ceil(1.0 * 2) = 2
    assert_eq!(u(&f.sessions, "loop_requests", 0), 0);
    let o = FeatureOptions {
        common_prompt_min_users: 3,
        common_prompt_user_share: 1.0,
        ..opts()
    };
    let mut more = pair.clone();
    more.push(ev("v3", "c", 0, Request).task("other"));
    let f = features(&[batch(&more)], &o, None).unwrap();
    assert_eq!(f.common_prompt_threshold, 3);
    assert_eq!(u(&f.sessions, "loop_requests", row_of(&f.sessions, "a")), 1);
}

#[test]
fn snapshot_sprint_tokens_and_waste() {
    let thu_18h = T0 + 3 * DAY + 9 * HOUR; // 23 h before Friday 17:00
    let fri_1630 = T0 + 4 * DAY + 7 * HOUR + 30 * MIN;
    let evs = vec![
        ev("fay", "early", 0, Request)
            .task("work")
            .tokens(1000, 0, 0, 0),
        ev("fay", "sprint", 0, Request)
            .at_us(thu_18h)
            .task("spin")
            .tokens(1000, 0, 0, 0),
        ev("fay", "sprint", 0, Request)
            .at_us(thu_18h + MIN)
            .task("spin")
            .tokens(1000, 0, 0, 0),
        ev("fay", "sprint", 0, Request)
            .at_us(thu_18h + 2 * MIN)
            .task("spin")
            .tokens(1000, 0, 0, 0),
        // Straddles the snapshot: first send before (pre), the repeat after.
        ev("gil", "span", 0, Request)
            .at_us(fri_1630)
            .task("x")
            .tokens(100, 0, 0, 0),
        ev("gil", "span", 0, Request)
            .at_us(fri_1630 + HOUR)
            .task("x")
            .tokens(100, 0, 0, 0),
    ];
    let f = run(&evs);
    let s = &f.sessions;
    let sp = row_of(s, "sprint");
    close(fl(s, "days_to_snapshot", sp), 23.0 / 24.0);
    assert!(b(s, "pre_snapshot", sp));
    assert_eq!(u(s, "pre_snapshot_tokens", sp), 3000);
    assert_eq!(u(s, "loop_tokens", sp), 2000);
    assert_eq!(u(s, "waste_tokens", sp), 2000);
    assert_eq!(u(s, "pre_snapshot_waste_tokens", sp), 2000);
    assert_eq!(u(s, "pre_snapshot_tokens", row_of(s, "early")), 0);
    let span = row_of(s, "span");
    assert_eq!(u(s, "pre_snapshot_tokens", span), 100);
    assert_eq!(u(s, "loop_tokens", span), 100);
    assert_eq!(u(s, "pre_snapshot_waste_tokens", span), 0);
    let us = &f.users;
    let fay = user_row(us, "fay");
    close(fl(us, "pre_snapshot_token_share", fay), 0.75);
    close(fl(us, "pre_snapshot_waste_share", fay), 1.0);
    close(fl(us, "waste_share", fay), 0.5);
    let gil = user_row(us, "gil");
    close(fl(us, "pre_snapshot_token_share", gil), 0.5);
    close(fl(us, "pre_snapshot_waste_share", gil), 0.0);
}

#[test]
fn window_selection_and_counts() {
    let evs = vec![
        ev("ann", "in", 0, Request),
        ev("ann", "old", -DAY / MIN * 30, Request), // 30 days earlier: outside
        ev("ann", "late", 7 * DAY / MIN, Request),  // after as_of: outside
    ];
    let f = run(&evs);
    assert_eq!(f.sessions.num_rows(), 1);
    assert_eq!(f.sessions_outside_window, 2);
    assert_eq!(f.window_end.to_rfc3339(), "2024-06-10T00:00:00+00:00");
    assert_eq!(f.window_start.to_rfc3339(), "2024-05-13T00:00:00+00:00");
    // Without as_of the window ends at midnight after the latest event.
    let f = features(&[batch(&evs)], &FeatureOptions::default(), None).unwrap();
    assert_eq!(f.window_end.to_rfc3339(), "2024-06-11T00:00:00+00:00");
    assert_eq!(f.sessions.num_rows(), 2);
}
