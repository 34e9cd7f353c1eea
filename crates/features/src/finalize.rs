//! Turning merged partial aggregates into the session and user tables.

use crate::accumulate::{AgentState, Load, Req, SessionState, NO_MIN};
use crate::options::{US_PER_DAY, US_PER_HOUR, US_PER_MIN};
use crate::{FeatureError, FeatureOptions, SessionAccumulator, Snapshot};
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    UInt64Array, UInt8Array,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use goodhart_schema::{Presence, Roster, NULL_HASH};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::sync::Arc;

/// The finished feature tables of one analysis window.
#[derive(Debug, Clone)]
pub struct Features {
    /// One row per session (see `docs/features.md` for every column),
    /// sorted by `(user_id, start_ts, session_id)`.
    pub sessions: RecordBatch,
    /// One row per user with at least one session in the window, sorted by `user_id`.
    pub users: RecordBatch,
    /// Window start (inclusive).
    pub window_start: DateTime<Utc>,
    /// Window end (exclusive): midnight after `as_of`.
    pub window_end: DateTime<Utc>,
    /// Sessions seen in the input whose start lies outside the window.
    pub sessions_outside_window: u64,
    /// Number of distinct task hashes classified as common prompts.
    pub common_prompts: usize,
    /// Distinct-user threshold used for common prompts.
    pub common_prompt_threshold: usize,
    /// Union of the optional columns present in the input.
    pub presence: Presence,
    /// Waste ledger (#11): per session row (same order as `sessions`), the
    /// tokens of each bucket per model, models sorted by name (`None` = rows
    /// without a model name).
    pub session_models: Vec<Vec<ModelTokens>>,
}

/// Tokens of one model in one session, per price bucket (waste ledger, #11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTokens {
    /// Model name; `None` for rows with a null model.
    pub model: Option<String>,
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache-read tokens.
    pub cache_read: u64,
    /// Cache-write tokens.
    pub cache_write: u64,
}

fn model_tokens(st: &SessionState, names: &goodhart_schema::Names) -> Vec<ModelTokens> {
    let mut v: Vec<ModelTokens> = st
        .model_buckets
        .iter()
        .map(|(m, b)| ModelTokens {
            model: (*m != NULL_HASH).then(|| display_name(names.model(*m), *m).into_owned()),
            input: b[0],
            output: b[1],
            cache_read: b[2],
            cache_write: b[3],
        })
        .collect();
    v.sort_by(|a, b| a.model.cmp(&b.model));
    v
}

/// Everything a session row needs besides its own state.
struct Ctx<'a> {
    presence: Presence,
    common: &'a FxHashSet<u64>,
    premium: &'a FxHashSet<u64>,
    snapshot: Snapshot,
    idle_gap_us: i64,
    ttl_us: i64,
}

/// One computed session row (nullable columns are `Option`s).
#[derive(Debug, Clone)]
struct SessionRow<'n> {
    user: u64,
    user_id: Cow<'n, str>,
    session_id: Cow<'n, str>,
    start: i64,
    end: i64,
    duration_min: f64,
    active_min: f64,
    weekday: u8,
    hour: u8,
    days_to_snapshot: f64,
    pre_snapshot: bool,
    events: u64,
    requests: u64,
    spawns: u64,
    context_loads: u64,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    input_side: u64,
    total_tokens: u64,
    cost_nanousd: Option<i64>,
    agents: Option<u64>,
    spawned_agents: Option<u64>,
    redundant_spawns: Option<u64>,
    redundant_spawn_ratio: Option<f64>,
    redundant_spawn_tokens: Option<u64>,
    idle_agents: Option<u64>,
    unproductive_agents: Option<u64>,
    max_fanout: Option<u64>,
    spawn_depth: Option<u64>,
    reloads: Option<u64>,
    reloads_within_ttl: Option<u64>,
    reload_tokens: Option<u64>,
    reload_uncached_tokens: Option<u64>,
    reload_uncached_share: Option<f64>,
    cache_hit_ratio: Option<f64>,
    accepted: u64,
    accepted_gross: u64,
    rejected: u64,
    reverted: u64,
    accept_rate: Option<f64>,
    revert_rate: Option<f64>,
    lines_accepted: Option<u64>,
    lines_per_change: Option<f64>,
    trivial_changes: Option<u64>,
    trivial_change_share: Option<f64>,
    tokens_per_accepted_change: f64,
    zero_output: bool,
    loop_requests: Option<u64>,
    loop_ratio: Option<f64>,
    longest_run: Option<u64>,
    common_prompt_requests: Option<u64>,
    loop_tokens: Option<u64>,
    output_per_request: Option<f64>,
    output_per_accepted_change: Option<f64>,
    premium_tokens: Option<u64>,
    premium_share: Option<f64>,
    waste_tokens: u64,
    pre_snapshot_tokens: u64,
    pre_snapshot_waste_tokens: u64,
    distinct_contexts: Option<u64>,
    reloads_per_context: Option<f64>,
    reload_next_input_tokens: Option<u64>,
    reload_miss_tokens: Option<u64>,
    unproductive_respawns: Option<u64>,
    unproductive_respawn_ratio: Option<f64>,
}

/// `num / den`, null when `den == 0` (always finite otherwise).
fn ratio(num: u64, den: u64) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

/// `num / (den + 1)`: the smoothed per-change ratio, finite for any input.
fn smoothed(num: u64, den: u64) -> f64 {
    num as f64 / (den as f64 + 1.0)
}

/// A session of the window waiting for its row, with its sort key.
struct Pending<'n> {
    user_id: Cow<'n, str>,
    start: i64,
    session_id: Cow<'n, str>,
    user: u64,
    st: Box<SessionState>,
}

/// Computes one session row. `p.st.reqs` must be sorted by
/// `(task, ts, tokens)` (done while finding the common prompts).
// One piece: the per-session kernel, run for every session; its sections (sub-agents, redundant
// spawns, reloads, loops, active time; each headed by a comment) share the sorted request list
// and the borrowed session state.
fn session_row<'n>(pending: Pending<'n>, c: &Ctx<'_>) -> SessionRow<'n> {
    let Pending {
        user_id,
        session_id,
        user,
        st,
        ..
    } = pending;
    let st = *st;
    // A session with aggregate rows (schema v1.1 `n`) has no single events:
    // the ordered features (sub-agents, spawns, reloads, loops, trivial
    // changes) are unavailable for it, never zero.
    let p = if st.aggregate {
        Presence {
            agent_id: false,
            parent_agent_id: false,
            task_hash: false,
            context_hash: false,
            ..c.presence
        }
    } else {
        c.presence
    };
    let snap = c.snapshot;
    let input_side = st
        .input
        .saturating_add(st.cache_read)
        .saturating_add(st.cache_write);
    let total = input_side.saturating_add(st.output);

    // Sub-agents.
    let (mut agents, mut spawned, mut idle, mut unproductive, mut fanout, mut depth) =
        (None, None, None, None, None, None);
    if p.agent_id {
        agents = Some(st.agents.len() as u64);
        spawned = Some(st.agents.values().filter(|a| a.spawn.0 != NO_MIN).count() as u64);
        idle = Some(
            st.agents
                .values()
                .filter(|a| a.spawn.0 != NO_MIN && a.last_request_ts < a.spawn.0)
                .count() as u64,
        );
        unproductive = Some(
            st.agents
                .values()
                .filter(|a| a.first_request_ts != NO_MIN && st.last_accept_ts < a.first_request_ts)
                .count() as u64,
        );
        // Sweep over closed alive intervals: at equal ts starts (0) sort
        // before ends (1), so touching intervals overlap.
        let mut ev: Vec<(i64, u8)> = Vec::with_capacity(st.agents.len() * 2);
        for a in st.agents.values() {
            ev.push((a.first_ts, 0));
            ev.push((a.last_ts, 1));
        }
        ev.sort_unstable();
        let (mut alive, mut best) = (0u64, 0u64);
        for (_, e) in ev {
            if e == 0 {
                alive += 1;
                best = best.max(alive);
            } else {
                alive -= 1;
            }
        }
        fanout = Some(best);
        if p.parent_agent_id {
            let mut max_depth = 0u64;
            for (&start, _) in st.agents.iter() {
                // Walk up the parent chain; the step limit guards cycles.
                let (mut cur, mut d, mut steps) = (start, 0u64, 0usize);
                loop {
                    d += 1;
                    steps += 1;
                    let parent = st.agents.get(&cur).map_or(NULL_HASH, |a| a.parent);
                    if parent == NULL_HASH || steps > st.agents.len() {
                        break;
                    }
                    if !st.agents.contains_key(&parent) {
                        d += 1; // a parent never seen as agent is itself depth 1
                        break;
                    }
                    cur = parent;
                }
                max_depth = max_depth.max(d);
            }
            depth = Some(max_depth);
        }
    }

    // Redundant spawns.
    let (mut red, mut red_ratio, mut red_tokens, mut red_pre) = (None, None, None, 0u64);
    if p.task_hash {
        // Spawns minus distinct spawn task hashes.
        let mut tasks = st.spawn_tasks;
        tasks.sort_unstable();
        let r = tasks
            .chunk_by(|a, b| a == b)
            .map(|g| g.len() as u64 - 1)
            .sum();
        red = Some(r);
        red_ratio = ratio(r, st.spawns);
        if p.agent_id {
            let mut spawned_by: Vec<(u64, i64, u64, u64, u64)> = st
                .agents
                .iter()
                .filter(|(_, a)| a.spawn.1 != NULL_HASH)
                .map(|(&h, a)| (a.spawn.1, a.spawn.0, h, a.tokens, a.pre_tokens))
                .collect();
            spawned_by.sort_unstable();
            let mut t = 0u64;
            for (i, s) in spawned_by.iter().enumerate() {
                if i > 0 && spawned_by[i - 1].0 == s.0 {
                    t = t.saturating_add(s.3);
                    red_pre = red_pre.saturating_add(s.4);
                }
            }
            red_tokens = Some(t);
        }
    }
    // Without agent ids accepted work cannot be tied to the agents of a
    // task: every re-spawn counts (= redundant_spawns).
    let mut accept_ts = st.accept_ts;
    accept_ts.sort_unstable();
    let unproductive_respawns = if p.task_hash && p.agent_id {
        Some(unproductive_respawns(&st.agents, &accept_ts))
    } else {
        red
    };

    // Context reloads.
    let (mut reloads, mut within_ttl, mut reload_tokens) = (None, None, None);
    let (mut reload_unc, mut reload_unc_share, mut reload_pre) = (None, None, 0u64);
    let mut distinct_contexts = None;
    // Reload rows without tokens: their re-read is billed on the next request.
    let mut tokenless_reloads: Vec<i64> = Vec::new();
    if p.context_hash {
        let (mut n, mut w, mut t, mut u) = (0u64, 0u64, 0u64, 0u64);
        let mut loads = st.loads;
        loads.sort_unstable();
        let mut groups = 0u64;
        for g in loads.chunk_by(|a, b| a.ctx == b.ctx) {
            groups += 1;
            tokenless_reloads.extend(g[1..].iter().filter(|l| l.input_side == 0).map(|l| l.ts));
            // Sorted by (ctx, ts, input_side, input): `g[0]` is the first load.
            let first: Load = g[0];
            let (mut input_side, mut input, mut pre_input) = (0u64, 0u64, 0u64);
            for l in g {
                input_side = input_side.saturating_add(l.input_side);
                input = input.saturating_add(l.input);
                if snap.is_pre(l.ts) {
                    pre_input = pre_input.saturating_add(l.input);
                }
            }
            n += g.len() as u64 - 1;
            t = t.saturating_add(input_side - first.input_side);
            u = u.saturating_add(input - first.input);
            let first_pre = if snap.is_pre(first.ts) {
                first.input
            } else {
                0
            };
            reload_pre = reload_pre.saturating_add(pre_input - first_pre);
            w += g
                .windows(2)
                .filter(|x| x[1].ts - x[0].ts <= c.ttl_us)
                .count() as u64;
        }
        distinct_contexts = Some(groups);
        reloads = Some(n);
        within_ttl = Some(w);
        reload_tokens = Some(t);
        if p.input_tokens {
            reload_unc = Some(u);
            reload_unc_share = ratio(u, input_side);
        } else {
            reload_pre = 0;
        }
    }

    // Loops and common prompts.
    let mut reqs = st.reqs;
    let (mut loop_req, mut loop_ratio, mut longest, mut common_req, mut loop_tokens) =
        (None, None, None, None, None);
    let mut loop_pre = 0u64;
    if p.task_hash {
        let (mut l, mut cr, mut lt) = (0u64, 0u64, 0u64);
        // `reqs` is sorted by (task, ts, tokens): `g[0]` is the first request.
        for g in reqs.chunk_by(|a, b| a.task == b.task) {
            let h = g[0].task;
            if h == NULL_HASH {
                continue;
            }
            if c.common.contains(&h) {
                cr += g.len() as u64;
            } else {
                let (mut tokens, mut pre_tokens) = (0u64, 0u64);
                for r in g {
                    tokens = tokens.saturating_add(r.tokens);
                    if snap.is_pre(r.ts) {
                        pre_tokens = pre_tokens.saturating_add(r.tokens);
                    }
                }
                l += g.len() as u64 - 1;
                lt = lt.saturating_add(tokens - g[0].tokens);
                let first_pre = if snap.is_pre(g[0].ts) { g[0].tokens } else { 0 };
                loop_pre = loop_pre.saturating_add(pre_tokens - first_pre);
            }
        }
        reqs.sort_unstable();
        let (mut best, mut run, mut prev) = (0u64, 0u64, NULL_HASH);
        for r in &reqs {
            let h = r.task;
            if h == NULL_HASH || c.common.contains(&h) {
                run = 0;
                prev = NULL_HASH;
                continue;
            }
            run = if h == prev { run + 1 } else { 1 };
            prev = h;
            best = best.max(run);
        }
        loop_req = Some(l);
        loop_ratio = ratio(l, st.requests);
        longest = Some(best);
        common_req = Some(cr);
        loop_tokens = Some(lt);
    }

    // Active time: gaps between consecutive events up to the idle threshold.
    // `reqs` must be in time order. With task hashes it was sorted above;
    // without, ingest leaves every hash null (so the by-task order is by time
    // already), but a hand-built batch may carry hashes its presence denies.
    if !p.task_hash {
        reqs.sort_unstable();
    }
    let mut other_ts = st.other_ts;
    other_ts.sort_unstable();
    let active_us = active_time(&reqs, &other_ts, c.idle_gap_us);
    // The request after each tokenless reload (each request at most once):
    // its uncached input is what the re-read cost.
    let (mut reload_next, mut reload_next_pre) = (None, 0u64);
    if p.context_hash && p.input_tokens {
        let (next, pre) = next_request_input(&reqs, &mut tokenless_reloads, snap);
        reload_next = Some(next);
        reload_next_pre = pre;
    }

    let accepted = st.accepted_gross.saturating_sub(st.reverted);
    let premium = p.model.then(|| {
        st.models
            .iter()
            .filter(|(m, _)| c.premium.contains(m))
            .fold(0u64, |acc, (_, t)| acc.saturating_add(*t))
    });
    let waste_raw = red_tokens
        .unwrap_or(0)
        .saturating_add(reload_unc.unwrap_or(0))
        .saturating_add(reload_next.unwrap_or(0))
        .saturating_add(loop_tokens.unwrap_or(0));
    let waste = waste_raw.min(total);
    let pre_waste = red_pre
        .saturating_add(reload_pre)
        .saturating_add(reload_next_pre)
        .saturating_add(loop_pre)
        .min(waste)
        .min(st.pre_tokens);
    let lines_acc = st.lines_accepted.saturating_sub(st.lines_reverted);
    let next = snap.next_after(st.start);

    SessionRow {
        user,
        user_id,
        session_id,
        start: st.start,
        end: st.end,
        duration_min: (st.end - st.start) as f64 / US_PER_MIN as f64,
        active_min: active_us as f64 / US_PER_MIN as f64,
        // 1970-01-01 was a Thursday (3 days after Monday).
        weekday: (st.start.div_euclid(US_PER_DAY) + 3).rem_euclid(7) as u8,
        hour: (st.start.rem_euclid(US_PER_DAY) / US_PER_HOUR) as u8,
        days_to_snapshot: (next - st.start) as f64 / US_PER_DAY as f64,
        pre_snapshot: snap.is_pre(st.start),
        events: st.events,
        requests: st.requests,
        spawns: st.spawns,
        context_loads: st.context_loads,
        input_tokens: p.input_tokens.then_some(st.input),
        output_tokens: p.output_tokens.then_some(st.output),
        cache_read_tokens: p.cache_read_tokens.then_some(st.cache_read),
        cache_write_tokens: p.cache_write_tokens.then_some(st.cache_write),
        input_side,
        total_tokens: total,
        cost_nanousd: p.cost_usd.then_some(st.cost_nanousd),
        agents,
        spawned_agents: spawned,
        redundant_spawns: red,
        redundant_spawn_ratio: red_ratio,
        redundant_spawn_tokens: red_tokens,
        idle_agents: idle,
        unproductive_agents: unproductive,
        max_fanout: fanout,
        spawn_depth: depth,
        reloads,
        reloads_within_ttl: within_ttl,
        reload_tokens,
        reload_uncached_tokens: reload_unc,
        reload_uncached_share: reload_unc_share,
        cache_hit_ratio: if p.cache_read_tokens {
            ratio(st.cache_read, input_side)
        } else {
            None
        },
        accepted,
        accepted_gross: st.accepted_gross,
        rejected: st.rejected,
        reverted: st.reverted,
        accept_rate: ratio(accepted, accepted + st.rejected),
        revert_rate: ratio(st.reverted, st.accepted_gross),
        lines_accepted: p.lines.then_some(lines_acc),
        lines_per_change: if p.lines {
            ratio(lines_acc, accepted)
        } else {
            None
        },
        trivial_changes: (p.lines && !st.aggregate).then_some(st.trivial_changes),
        trivial_change_share: if p.lines && !st.aggregate {
            ratio(st.trivial_changes, st.accepted_gross)
        } else {
            None
        },
        tokens_per_accepted_change: smoothed(total, accepted),
        zero_output: accepted == 0,
        loop_requests: loop_req,
        loop_ratio,
        longest_run: longest,
        common_prompt_requests: common_req,
        loop_tokens,
        output_per_request: if p.output_tokens {
            ratio(st.output, st.requests)
        } else {
            None
        },
        output_per_accepted_change: p.output_tokens.then(|| smoothed(st.output, accepted)),
        premium_tokens: premium,
        premium_share: premium.and_then(|x| ratio(x, total)),
        waste_tokens: waste,
        pre_snapshot_tokens: st.pre_tokens,
        pre_snapshot_waste_tokens: pre_waste,
        distinct_contexts,
        reloads_per_context: match (reloads, distinct_contexts) {
            (Some(r), Some(d)) => ratio(r, d),
            _ => None,
        },
        reload_next_input_tokens: reload_next,
        reload_miss_tokens: reload_unc.map(|u| u.saturating_add(reload_next.unwrap_or(0))),
        unproductive_respawns,
        unproductive_respawn_ratio: unproductive_respawns.and_then(|r| ratio(r, st.spawns)),
    }
}

/// Re-spawns of a task with nothing accepted. Per spawn task hash, with
/// its sub-agents ordered by spawn: a spawn after the first counts when its
/// agent made no accepted change and no change was accepted in the session
/// since the previous spawn of the task (a test agent re-run after a fix is
/// work, not waste); the task's count is then reduced by the number of its
/// agents that shipped an accepted change (a migration fanning one
/// templated task out over many parallel agents that each land a change is
/// work too), never below 0. The same task re-spawned again and again with
/// nothing accepted counts every repeat. `accept_ts` must be sorted.
fn unproductive_respawns(agents: &FxHashMap<u64, AgentState>, accept_ts: &[i64]) -> u64 {
    // (task, spawn ts, agent hash, productive)
    let mut spawned: Vec<(u64, i64, u64, bool)> = agents
        .iter()
        .filter(|(_, a)| a.spawn.1 != NULL_HASH)
        .map(|(&h, a)| (a.spawn.1, a.spawn.0, h, a.accepted > 0))
        .collect();
    spawned.sort_unstable();
    let accepted_in = |from: i64, to: i64| {
        let i = accept_ts.partition_point(|&t| t <= from);
        i < accept_ts.len() && accept_ts[i] <= to
    };
    spawned
        .chunk_by(|a, b| a.0 == b.0)
        .map(|g| {
            let productive = g.iter().filter(|x| x.3).count() as u64;
            let idle_repeats = g
                .windows(2)
                .filter(|w| !w[1].3 && !accepted_in(w[0].1, w[1].1))
                .count() as u64;
            idle_repeats.saturating_sub(productive)
        })
        .sum()
}

/// Sum of the uncached input of the first request at or after each reload
/// time (`reqs` in time order; each request counted once), and the part of
/// it on pre-snapshot requests.
fn next_request_input(reqs: &[Req], reloads: &mut [i64], snap: Snapshot) -> (u64, u64) {
    reloads.sort_unstable();
    let (mut sum, mut pre, mut last) = (0u64, 0u64, usize::MAX);
    for &t in reloads.iter() {
        let i = reqs.partition_point(|r| r.ts < t);
        if i < reqs.len() && i != last {
            last = i;
            sum = sum.saturating_add(reqs[i].input);
            if snap.is_pre(reqs[i].ts) {
                pre = pre.saturating_add(reqs[i].input);
            }
        }
    }
    (sum, pre)
}

/// Sum of the gaps of at most `idle_us` between consecutive events, over
/// the union of two time-sorted lists (a merge walk, no allocation).
fn active_time(reqs: &[Req], other: &[i64], idle_us: i64) -> i64 {
    let (mut i, mut j) = (0, 0);
    let mut prev: Option<i64> = None;
    let mut sum = 0i64;
    while i < reqs.len() || j < other.len() {
        let t = if j == other.len() || (i < reqs.len() && reqs[i].ts <= other[j]) {
            i += 1;
            reqs[i - 1].ts
        } else {
            j += 1;
            other[j - 1]
        };
        if let Some(p) = prev {
            if t - p <= idle_us {
                sum += t - p;
            }
        }
        prev = Some(t);
    }
    sum
}

/// The id string, or `#<hex hash>` when ingest did not carry the name.
fn display_name(s: Option<&str>, h: u64) -> Cow<'_, str> {
    match s {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(format!("#{h:016x}")),
    }
}

/// One computed user row.
#[derive(Debug, Clone)]
struct UserRow {
    user_id: Box<str>,
    team: Option<String>,
    role: Option<String>,
    tenure_days: Option<i64>,
    sessions: u64,
    active_days: u64,
    requests: u64,
    spawns: u64,
    context_loads: u64,
    total_tokens: u64,
    output_tokens: Option<u64>,
    cost_nanousd: Option<i64>,
    accepted: u64,
    lines_accepted: Option<u64>,
    redundant_spawn_ratio: Option<f64>,
    idle_agent_ratio: Option<f64>,
    reload_ratio: Option<f64>,
    reload_uncached_share: Option<f64>,
    cache_hit_ratio: Option<f64>,
    loop_ratio: Option<f64>,
    output_per_request: Option<f64>,
    output_per_accepted_change: Option<f64>,
    tokens_per_accepted_change: f64,
    trivial_change_share: Option<f64>,
    revert_rate: Option<f64>,
    accept_rate: Option<f64>,
    premium_share: Option<f64>,
    waste_tokens: u64,
    waste_share: Option<f64>,
    share_sessions_redundant_spawns: Option<f64>,
    share_sessions_reload_churn: Option<f64>,
    share_sessions_loop: Option<f64>,
    max_redundant_spawns: Option<u64>,
    max_reloads: Option<u64>,
    max_longest_run: Option<u64>,
    pre_snapshot_token_share: Option<f64>,
    pre_snapshot_waste_share: Option<f64>,
    tokens_per_accepted_change_trend: Option<f64>,
    reloads_per_context: Option<f64>,
    reload_miss_share: Option<f64>,
    cache_hit_drop: Option<f64>,
    unproductive_respawn_ratio: Option<f64>,
    share_sessions_unproductive_respawns: Option<f64>,
    pre_snapshot_token_lift: Option<f64>,
    pre_snapshot_waste_lift: Option<f64>,
}

/// Sum of an optional column (null when the column is null, which is the
/// same for every session because presence is global).
fn sum_opt(rows: &[SessionRow<'_>], f: impl Fn(&SessionRow<'_>) -> Option<u64>) -> Option<u64> {
    rows.iter()
        .map(f)
        .try_fold(0u64, |acc, x| x.map(|x| acc.saturating_add(x)))
}

fn max_opt(rows: &[SessionRow<'_>], f: impl Fn(&SessionRow<'_>) -> Option<u64>) -> Option<u64> {
    rows.iter().map(f).max().flatten()
}

struct UserCtx<'a> {
    presence: Presence,
    opts: &'a FeatureOptions,
    roster: Option<&'a Roster>,
    end_us: i64,
    end_date: NaiveDate,
}

// One piece: one user's row, a single fold of their sessions into every user column.
fn user_row(rows: &[SessionRow<'_>], c: &UserCtx<'_>) -> UserRow {
    let p = c.presence;
    let o = c.opts;
    let n = rows.len() as u64;
    let s = |f: fn(&SessionRow<'_>) -> u64| rows.iter().map(f).fold(0u64, u64::saturating_add);
    let requests = s(|r| r.requests);
    let spawns = s(|r| r.spawns);
    let context_loads = s(|r| r.context_loads);
    let total = s(|r| r.total_tokens);
    let input_side = s(|r| r.input_side);
    let output = s(|r| r.output_tokens.unwrap_or(0));
    let accepted = s(|r| r.accepted);
    let accepted_gross = s(|r| r.accepted_gross);
    let rejected = s(|r| r.rejected);
    let reverted = s(|r| r.reverted);
    let waste = s(|r| r.waste_tokens);
    let pre_tokens = s(|r| r.pre_snapshot_tokens);
    let pre_waste = s(|r| r.pre_snapshot_waste_tokens);
    let mut days: Vec<i64> = rows
        .iter()
        .map(|r| r.start.div_euclid(US_PER_DAY))
        .collect();
    days.sort_unstable();
    days.dedup();

    let share_sessions = |avail: bool, f: &dyn Fn(&SessionRow<'_>) -> bool| {
        avail.then(|| rows.iter().filter(|r| f(r)).count() as f64 / n as f64)
    };
    let red_share = share_sessions(p.task_hash, &|r| {
        r.redundant_spawns.unwrap_or(0) >= o.session_redundant_spawns_min
    });
    let churn_share = share_sessions(p.context_hash && p.input_tokens, &|r| {
        r.reloads.unwrap_or(0) >= 1
            && r.reload_uncached_share.unwrap_or(0.0) >= o.session_reload_churn_share
    });
    let loop_share = share_sessions(p.task_hash, &|r| {
        r.loop_requests.unwrap_or(0) >= o.session_loop_min_requests
            && r.loop_ratio.unwrap_or(0.0) >= o.session_loop_min_ratio
    });

    // Trend: last 7 days of the window vs the earlier part.
    let last_start = c.end_us - 7 * US_PER_DAY;
    let (mut tl, mut al, mut nl, mut te, mut ae, mut ne) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for r in rows {
        if r.start >= last_start {
            tl = tl.saturating_add(r.total_tokens);
            al += r.accepted;
            nl += 1;
        } else {
            te = te.saturating_add(r.total_tokens);
            ae += r.accepted;
            ne += 1;
        }
    }
    let trend = (nl > 0 && ne > 0 && te > 0).then(|| smoothed(tl, al) / smoothed(te, ae));

    let entry = c.roster.and_then(|ro| ro.get(rows[0].user));
    UserRow {
        user_id: rows[0].user_id.as_ref().into(),
        team: entry.and_then(|e| e.team.clone()),
        role: entry.and_then(|e| e.role.clone()),
        tenure_days: entry
            .and_then(|e| e.start_date)
            .map(|d| (c.end_date - d).num_days()),
        sessions: n,
        active_days: days.len() as u64,
        requests,
        spawns,
        context_loads,
        total_tokens: total,
        output_tokens: p.output_tokens.then_some(output),
        cost_nanousd: p.cost_usd.then(|| {
            rows.iter()
                .filter_map(|r| r.cost_nanousd)
                .fold(0i64, i64::saturating_add)
        }),
        accepted,
        lines_accepted: sum_opt(rows, |r| r.lines_accepted),
        redundant_spawn_ratio: sum_opt(rows, |r| r.redundant_spawns).and_then(|x| ratio(x, spawns)),
        idle_agent_ratio: match (
            sum_opt(rows, |r| r.idle_agents),
            sum_opt(rows, |r| r.spawned_agents),
        ) {
            (Some(i), Some(sp)) => ratio(i, sp),
            _ => None,
        },
        reload_ratio: sum_opt(rows, |r| r.reloads).and_then(|x| ratio(x, context_loads)),
        reload_uncached_share: sum_opt(rows, |r| r.reload_uncached_tokens)
            .and_then(|x| ratio(x, input_side)),
        cache_hit_ratio: sum_opt(rows, |r| r.cache_read_tokens).and_then(|x| ratio(x, input_side)),
        loop_ratio: sum_opt(rows, |r| r.loop_requests).and_then(|x| ratio(x, requests)),
        output_per_request: if p.output_tokens {
            ratio(output, requests)
        } else {
            None
        },
        output_per_accepted_change: p.output_tokens.then(|| smoothed(output, accepted)),
        tokens_per_accepted_change: smoothed(total, accepted),
        trivial_change_share: sum_opt(rows, |r| r.trivial_changes)
            .and_then(|x| ratio(x, accepted_gross)),
        revert_rate: ratio(reverted, accepted_gross),
        accept_rate: ratio(accepted, accepted + rejected),
        premium_share: sum_opt(rows, |r| r.premium_tokens).and_then(|x| ratio(x, total)),
        waste_tokens: waste,
        waste_share: ratio(waste, total),
        share_sessions_redundant_spawns: red_share,
        share_sessions_reload_churn: churn_share,
        share_sessions_loop: loop_share,
        max_redundant_spawns: max_opt(rows, |r| r.redundant_spawns),
        max_reloads: max_opt(rows, |r| r.reloads),
        max_longest_run: max_opt(rows, |r| r.longest_run),
        pre_snapshot_token_share: ratio(pre_tokens, total),
        pre_snapshot_waste_share: ratio(pre_waste, waste),
        tokens_per_accepted_change_trend: trend,
        reloads_per_context: match (
            sum_opt(rows, |r| r.reloads),
            sum_opt(rows, |r| r.distinct_contexts),
        ) {
            (Some(r), Some(d)) => ratio(r, d),
            _ => None,
        },
        reload_miss_share: match (
            sum_opt(rows, |r| r.reload_miss_tokens),
            sum_opt(rows, |r| r.input_tokens),
        ) {
            (Some(m), Some(i)) => ratio(m, i),
            _ => None,
        },
        cache_hit_drop: cache_hit_drop(rows),
        unproductive_respawn_ratio: sum_opt(rows, |r| r.unproductive_respawns)
            .and_then(|x| ratio(x, spawns)),
        share_sessions_unproductive_respawns: share_sessions(p.task_hash, &|r| {
            r.unproductive_respawns.unwrap_or(0) >= o.session_redundant_spawns_min
        }),
        pre_snapshot_token_lift: pre_snapshot_lift(rows, |r| r.total_tokens, 0.0),
        pre_snapshot_waste_lift: pre_snapshot_lift(
            rows,
            |r| r.waste_tokens,
            WASTE_LIFT_PRIOR * total as f64 / n as f64,
        ),
    }
}

/// Pseudo-waste per session (a share of the user's mean session tokens)
/// added to both sides of `pre_snapshot_waste_lift`, so that a user with
/// almost no waste anywhere does not get a large ratio of two tiny numbers.
const WASTE_LIFT_PRIOR: f64 = 0.02;

/// `(Σx / n over pre-snapshot sessions + prior) / (Σx / n over the other
/// sessions + prior)`: how much more the user burns per session right
/// before the snapshot than in the rest of the user's own weeks. Null when
/// either part has no session or the ratio is undefined.
fn pre_snapshot_lift(
    rows: &[SessionRow<'_>],
    x: impl Fn(&SessionRow<'_>) -> u64,
    prior: f64,
) -> Option<f64> {
    let (mut pre, mut pn, mut other, mut on) = (0u64, 0u64, 0u64, 0u64);
    for r in rows {
        if r.pre_snapshot {
            pre = pre.saturating_add(x(r));
            pn += 1;
        } else {
            other = other.saturating_add(x(r));
            on += 1;
        }
    }
    if pn == 0 || on == 0 {
        return None;
    }
    let den = other as f64 / on as f64 + prior;
    (den > 0.0)
        .then(|| (pre as f64 / pn as f64 + prior) / den)
        .filter(|v| v.is_finite())
}

/// Median cache-hit ratio of the user's sessions without a reload minus
/// that of the sessions with one (the user's own history as reference);
/// null when either group is empty or cache reads are unknown.
fn cache_hit_drop(rows: &[SessionRow<'_>]) -> Option<f64> {
    let (mut with, mut without): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for r in rows {
        let (Some(h), Some(n)) = (r.cache_hit_ratio, r.reloads) else {
            continue;
        };
        if n > 0 {
            with.push(h);
        } else {
            without.push(h);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_unstable_by(f64::total_cmp);
        let k = v.len();
        (k > 0).then(|| (v[(k - 1) / 2] + v[k / 2]) / 2.0)
    };
    Some(median(&mut without)? - median(&mut with)?)
}

// ---- Arrow output -------------------------------------------------------

fn col_u64<R>(rows: &[R], f: impl Fn(&R) -> Option<u64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<UInt64Array>())
}
fn col_f64<R>(rows: &[R], f: impl Fn(&R) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float64Array>())
}
fn col_u8<R>(rows: &[R], f: impl Fn(&R) -> u8) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(f(r))).collect::<UInt8Array>())
}
fn col_bool<R>(rows: &[R], f: impl Fn(&R) -> bool) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>())
}
fn col_str<R>(rows: &[R], f: impl Fn(&R) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}
fn col_ts<R>(rows: &[R], f: impl Fn(&R) -> i64) -> ArrayRef {
    Arc::new(
        rows.iter()
            .map(|r| Some(f(r)))
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}
fn usd(n: Option<i64>) -> Option<f64> {
    n.map(|x| x as f64 / 1e9)
}

/// Builds a record batch; `nullable == false` columns are declared non-null.
fn build(
    table: &'static str,
    cols: Vec<(&'static str, bool, ArrayRef)>,
) -> Result<RecordBatch, FeatureError> {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, nullable, a)| Field::new(*n, a.data_type().clone(), *nullable))
        .collect();
    let arrays: Vec<ArrayRef> = cols.into_iter().map(|c| c.2).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|source| FeatureError::Arrow { table, source })
}

// One table: one Arrow column per session feature, in schema order (docs/features.md); a list,
// not logic.
fn sessions_batch(r: &[SessionRow<'_>]) -> Result<RecordBatch, FeatureError> {
    const N: bool = true; // nullable
    const R: bool = false; // required
    build(
        "sessions",
        vec![
            ("user_id", R, col_str(r, |x| Some(&*x.user_id))),
            ("session_id", R, col_str(r, |x| Some(&*x.session_id))),
            ("start_ts", R, col_ts(r, |x| x.start)),
            ("end_ts", R, col_ts(r, |x| x.end)),
            ("duration_min", R, col_f64(r, |x| Some(x.duration_min))),
            ("active_min", R, col_f64(r, |x| Some(x.active_min))),
            ("weekday", R, col_u8(r, |x| x.weekday)),
            ("hour", R, col_u8(r, |x| x.hour)),
            (
                "days_to_snapshot",
                R,
                col_f64(r, |x| Some(x.days_to_snapshot)),
            ),
            ("pre_snapshot", R, col_bool(r, |x| x.pre_snapshot)),
            ("events", R, col_u64(r, |x| Some(x.events))),
            ("requests", R, col_u64(r, |x| Some(x.requests))),
            ("spawns", R, col_u64(r, |x| Some(x.spawns))),
            ("context_loads", R, col_u64(r, |x| Some(x.context_loads))),
            ("input_tokens", N, col_u64(r, |x| x.input_tokens)),
            ("output_tokens", N, col_u64(r, |x| x.output_tokens)),
            ("cache_read_tokens", N, col_u64(r, |x| x.cache_read_tokens)),
            (
                "cache_write_tokens",
                N,
                col_u64(r, |x| x.cache_write_tokens),
            ),
            ("total_tokens", R, col_u64(r, |x| Some(x.total_tokens))),
            ("cost_usd", N, col_f64(r, |x| usd(x.cost_nanousd))),
            ("agents", N, col_u64(r, |x| x.agents)),
            ("spawned_agents", N, col_u64(r, |x| x.spawned_agents)),
            ("redundant_spawns", N, col_u64(r, |x| x.redundant_spawns)),
            (
                "redundant_spawn_ratio",
                N,
                col_f64(r, |x| x.redundant_spawn_ratio),
            ),
            (
                "redundant_spawn_tokens",
                N,
                col_u64(r, |x| x.redundant_spawn_tokens),
            ),
            ("idle_agents", N, col_u64(r, |x| x.idle_agents)),
            (
                "unproductive_agents",
                N,
                col_u64(r, |x| x.unproductive_agents),
            ),
            ("max_fanout", N, col_u64(r, |x| x.max_fanout)),
            ("spawn_depth", N, col_u64(r, |x| x.spawn_depth)),
            ("reloads", N, col_u64(r, |x| x.reloads)),
            (
                "reloads_within_ttl",
                N,
                col_u64(r, |x| x.reloads_within_ttl),
            ),
            ("reload_tokens", N, col_u64(r, |x| x.reload_tokens)),
            (
                "reload_uncached_tokens",
                N,
                col_u64(r, |x| x.reload_uncached_tokens),
            ),
            (
                "reload_uncached_share",
                N,
                col_f64(r, |x| x.reload_uncached_share),
            ),
            ("cache_hit_ratio", N, col_f64(r, |x| x.cache_hit_ratio)),
            ("accepted", R, col_u64(r, |x| Some(x.accepted))),
            ("accepted_gross", R, col_u64(r, |x| Some(x.accepted_gross))),
            ("rejected", R, col_u64(r, |x| Some(x.rejected))),
            ("reverted", R, col_u64(r, |x| Some(x.reverted))),
            ("accept_rate", N, col_f64(r, |x| x.accept_rate)),
            ("revert_rate", N, col_f64(r, |x| x.revert_rate)),
            ("lines_accepted", N, col_u64(r, |x| x.lines_accepted)),
            ("lines_per_change", N, col_f64(r, |x| x.lines_per_change)),
            ("trivial_changes", N, col_u64(r, |x| x.trivial_changes)),
            (
                "trivial_change_share",
                N,
                col_f64(r, |x| x.trivial_change_share),
            ),
            (
                "tokens_per_accepted_change",
                R,
                col_f64(r, |x| Some(x.tokens_per_accepted_change)),
            ),
            ("zero_output", R, col_bool(r, |x| x.zero_output)),
            ("loop_requests", N, col_u64(r, |x| x.loop_requests)),
            ("loop_ratio", N, col_f64(r, |x| x.loop_ratio)),
            ("longest_run", N, col_u64(r, |x| x.longest_run)),
            (
                "common_prompt_requests",
                N,
                col_u64(r, |x| x.common_prompt_requests),
            ),
            ("loop_tokens", N, col_u64(r, |x| x.loop_tokens)),
            (
                "output_per_request",
                N,
                col_f64(r, |x| x.output_per_request),
            ),
            (
                "output_per_accepted_change",
                N,
                col_f64(r, |x| x.output_per_accepted_change),
            ),
            ("premium_tokens", N, col_u64(r, |x| x.premium_tokens)),
            ("premium_share", N, col_f64(r, |x| x.premium_share)),
            ("waste_tokens", R, col_u64(r, |x| Some(x.waste_tokens))),
            (
                "pre_snapshot_tokens",
                R,
                col_u64(r, |x| Some(x.pre_snapshot_tokens)),
            ),
            (
                "pre_snapshot_waste_tokens",
                R,
                col_u64(r, |x| Some(x.pre_snapshot_waste_tokens)),
            ),
            ("distinct_contexts", N, col_u64(r, |x| x.distinct_contexts)),
            (
                "reloads_per_context",
                N,
                col_f64(r, |x| x.reloads_per_context),
            ),
            (
                "reload_next_input_tokens",
                N,
                col_u64(r, |x| x.reload_next_input_tokens),
            ),
            (
                "reload_miss_tokens",
                N,
                col_u64(r, |x| x.reload_miss_tokens),
            ),
            (
                "unproductive_respawns",
                N,
                col_u64(r, |x| x.unproductive_respawns),
            ),
            (
                "unproductive_respawn_ratio",
                N,
                col_f64(r, |x| x.unproductive_respawn_ratio),
            ),
        ],
    )
}

// One table: one Arrow column per user feature, in schema order (docs/features.md); a list, not
// logic.
fn users_batch(r: &[UserRow]) -> Result<RecordBatch, FeatureError> {
    const N: bool = true;
    const R: bool = false;
    build(
        "users",
        vec![
            ("user_id", R, col_str(r, |x| Some(&*x.user_id))),
            ("team", N, col_str(r, |x| x.team.as_deref())),
            ("role", N, col_str(r, |x| x.role.as_deref())),
            (
                "tenure_days",
                N,
                Arc::new(r.iter().map(|x| x.tenure_days).collect::<Int64Array>()) as ArrayRef,
            ),
            ("sessions", R, col_u64(r, |x| Some(x.sessions))),
            ("active_days", R, col_u64(r, |x| Some(x.active_days))),
            ("requests", R, col_u64(r, |x| Some(x.requests))),
            ("spawns", R, col_u64(r, |x| Some(x.spawns))),
            ("context_loads", R, col_u64(r, |x| Some(x.context_loads))),
            ("total_tokens", R, col_u64(r, |x| Some(x.total_tokens))),
            ("output_tokens", N, col_u64(r, |x| x.output_tokens)),
            ("cost_usd", N, col_f64(r, |x| usd(x.cost_nanousd))),
            ("accepted", R, col_u64(r, |x| Some(x.accepted))),
            ("lines_accepted", N, col_u64(r, |x| x.lines_accepted)),
            (
                "redundant_spawn_ratio",
                N,
                col_f64(r, |x| x.redundant_spawn_ratio),
            ),
            ("idle_agent_ratio", N, col_f64(r, |x| x.idle_agent_ratio)),
            ("reload_ratio", N, col_f64(r, |x| x.reload_ratio)),
            (
                "reload_uncached_share",
                N,
                col_f64(r, |x| x.reload_uncached_share),
            ),
            ("cache_hit_ratio", N, col_f64(r, |x| x.cache_hit_ratio)),
            ("loop_ratio", N, col_f64(r, |x| x.loop_ratio)),
            (
                "output_per_request",
                N,
                col_f64(r, |x| x.output_per_request),
            ),
            (
                "output_per_accepted_change",
                N,
                col_f64(r, |x| x.output_per_accepted_change),
            ),
            (
                "tokens_per_accepted_change",
                R,
                col_f64(r, |x| Some(x.tokens_per_accepted_change)),
            ),
            (
                "trivial_change_share",
                N,
                col_f64(r, |x| x.trivial_change_share),
            ),
            ("revert_rate", N, col_f64(r, |x| x.revert_rate)),
            ("accept_rate", N, col_f64(r, |x| x.accept_rate)),
            ("premium_share", N, col_f64(r, |x| x.premium_share)),
            ("waste_tokens", R, col_u64(r, |x| Some(x.waste_tokens))),
            ("waste_share", N, col_f64(r, |x| x.waste_share)),
            (
                "share_sessions_redundant_spawns",
                N,
                col_f64(r, |x| x.share_sessions_redundant_spawns),
            ),
            (
                "share_sessions_reload_churn",
                N,
                col_f64(r, |x| x.share_sessions_reload_churn),
            ),
            (
                "share_sessions_loop",
                N,
                col_f64(r, |x| x.share_sessions_loop),
            ),
            (
                "max_redundant_spawns",
                N,
                col_u64(r, |x| x.max_redundant_spawns),
            ),
            ("max_reloads", N, col_u64(r, |x| x.max_reloads)),
            ("max_longest_run", N, col_u64(r, |x| x.max_longest_run)),
            (
                "pre_snapshot_token_share",
                N,
                col_f64(r, |x| x.pre_snapshot_token_share),
            ),
            (
                "pre_snapshot_waste_share",
                N,
                col_f64(r, |x| x.pre_snapshot_waste_share),
            ),
            (
                "tokens_per_accepted_change_trend",
                N,
                col_f64(r, |x| x.tokens_per_accepted_change_trend),
            ),
            (
                "reloads_per_context",
                N,
                col_f64(r, |x| x.reloads_per_context),
            ),
            ("reload_miss_share", N, col_f64(r, |x| x.reload_miss_share)),
            ("cache_hit_drop", N, col_f64(r, |x| x.cache_hit_drop)),
            (
                "unproductive_respawn_ratio",
                N,
                col_f64(r, |x| x.unproductive_respawn_ratio),
            ),
            (
                "share_sessions_unproductive_respawns",
                N,
                col_f64(r, |x| x.share_sessions_unproductive_respawns),
            ),
            (
                "pre_snapshot_token_lift",
                N,
                col_f64(r, |x| x.pre_snapshot_token_lift),
            ),
            (
                "pre_snapshot_waste_lift",
                N,
                col_f64(r, |x| x.pre_snapshot_waste_lift),
            ),
        ],
    )
}

/// Arrow schema of the session table (see `docs/features.md`).
pub fn session_schema() -> SchemaRef {
    sessions_batch(&[])
        .expect("empty session table builds")
        .schema()
}

/// Arrow schema of the user table (see `docs/features.md`).
pub fn user_schema() -> SchemaRef {
    users_batch(&[]).expect("empty user table builds").schema()
}

// ---- finalize -----------------------------------------------------------

/// The window `[start, end)` in microseconds: the days ending with
/// `opts.as_of`, else with the day of the last session end.
pub(crate) fn window_us(
    sessions: &rustc_hash::FxHashMap<(u64, u64), Box<SessionState>>,
    opts: &FeatureOptions,
) -> (i64, i64) {
    let end_us = match opts.as_of {
        Some(d) => d
            .succ_opt()
            .unwrap_or(d)
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros()),
        None => sessions
            .values()
            .map(|s| s.end)
            .max()
            .map_or(0, |e| (e.div_euclid(US_PER_DAY) + 1) * US_PER_DAY),
    };
    (end_us - i64::from(opts.window_days) * US_PER_DAY, end_us)
}

/// Sessions per chunk of `finalize` (whole users, so a chunk may be larger).
const FINALIZE_CHUNK: usize = 16_384;

fn micros_to_utc(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Finishes the pass: classifies common prompts, computes every session and
/// user feature (in parallel with rayon) and builds the two tables.
///
/// Rows are sorted by `(user_id, start_ts, session_id)` / `user_id`, so the
/// output is identical for any batch order, batch split or thread count.
///
/// # Errors
/// [`FeatureError::InvalidOption`] for a bad setting,
/// [`FeatureError::SnapshotMismatch`] when the accumulator was built with
/// other snapshot settings than `opts.snapshot`.
pub fn finalize(
    acc: SessionAccumulator,
    opts: &FeatureOptions,
    roster: Option<&Roster>,
) -> Result<Features, FeatureError> {
    finalize_with(acc, opts, roster, None)
}

/// [`finalize`] on part of an organisation (e.g. one user's events on a
/// Spark worker): the common prompts are `common`, classified over the whole
/// organisation by [`crate::org`] (see [`crate::CommonPrompts`]), instead of
/// over this accumulator's sessions. With `None`, as [`finalize`].
///
/// # Errors
/// As [`finalize`].
// One piece: the order of its steps (drop sessions outside the window, common prompts, premium
// models, ordering, rows, batches) is what keeps memory bounded; each step is headed by a
// comment.
pub fn finalize_with(
    acc: SessionAccumulator,
    opts: &FeatureOptions,
    roster: Option<&Roster>,
    common: Option<&crate::CommonPrompts>,
) -> Result<Features, FeatureError> {
    opts.validate()?;
    if acc.conflict || acc.snapshot != opts.snapshot {
        return Err(FeatureError::SnapshotMismatch {
            acc: if acc.conflict {
                "several different settings".to_string()
            } else {
                acc.snapshot.to_string()
            },
            opts: opts.snapshot.to_string(),
        });
    }
    let SessionAccumulator {
        presence,
        names,
        sessions,
        ..
    } = acc;

    let (start_us, end_us) = window_us(&sessions, opts);
    let total_sessions = sessions.len() as u64;
    // Sessions outside the window are dropped (and their memory freed) here.
    let mut inside: Vec<((u64, u64), Box<SessionState>)> = sessions
        .into_iter()
        .filter(|(_, s)| s.start >= start_us && s.start < end_us)
        .collect();
    let outside = total_sessions - inside.len() as u64;

    // Common prompts: distinct users per request task hash, over the window.
    // Sorting each session's requests by task here also serves the loop
    // features in `session_row`.
    inside
        .par_iter_mut()
        .for_each(|(_, s)| s.reqs.sort_unstable_by_key(|r| (r.task, r.ts, r.tokens)));
    let (common, threshold) = if let Some(c) = common {
        (c.tasks.iter().copied().collect(), c.threshold)
    } else {
        let mut pairs: Vec<(u64, u64)> = inside
            .par_iter()
            .flat_map_iter(|((u, _), s)| {
                s.reqs
                    .chunk_by(|a, b| a.task == b.task)
                    .filter(|g| g[0].task != NULL_HASH)
                    .map(move |g| (g[0].task, *u))
            })
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        let mut users_in: Vec<u64> = inside.iter().map(|((u, _), _)| *u).collect();
        users_in.sort_unstable();
        users_in.dedup();
        let threshold = opts.common_prompt_threshold(users_in.len());
        let mut common = FxHashSet::default();
        for chunk in pairs.chunk_by(|a, b| a.0 == b.0) {
            if chunk.len() >= threshold {
                common.insert(chunk[0].0);
            }
        }
        (common, threshold)
    };

    // Premium models by name.
    let patterns: Vec<String> = opts
        .premium_models
        .iter()
        .map(|p| p.to_lowercase())
        .collect();
    let premium: FxHashSet<u64> = names
        .models
        .iter()
        .filter(|(_, m)| {
            let m = m.to_lowercase();
            patterns.iter().any(|p| m.contains(p.as_str()))
        })
        .map(|(h, _)| *h)
        .collect();

    let ctx = Ctx {
        presence,
        common: &common,
        premium: &premium,
        snapshot: opts.snapshot,
        idle_gap_us: i64::from(opts.idle_gap_minutes) * US_PER_MIN,
        ttl_us: i64::from(opts.cache_ttl_minutes) * US_PER_MIN,
    };
    // Output order: (user_id, start_ts, session_id, user hash). Sorting the
    // pending sessions (small: the state is boxed) rather than the computed
    // rows lets the rows be computed, turned into Arrow arrays and dropped
    // a chunk of whole users at a time, so at most one chunk of rows is
    // alive next to the shrinking fold state.
    let mut pending: Vec<Pending<'_>> = inside
        .into_iter()
        .map(|((user, session), st)| Pending {
            user_id: display_name(names.user(user), user),
            start: st.start,
            session_id: display_name(names.session(session), session),
            user,
            st,
        })
        .collect();
    pending.par_sort_unstable_by(|a, b| {
        (&a.user_id, a.start, &a.session_id, a.user).cmp(&(
            &b.user_id,
            b.start,
            &b.session_id,
            b.user,
        ))
    });
    let uctx = UserCtx {
        presence,
        opts,
        roster,
        end_us,
        end_date: micros_to_utc(end_us).date_naive(),
    };
    let mut session_batches: Vec<RecordBatch> = Vec::new();
    let mut session_models: Vec<Vec<ModelTokens>> = Vec::new();
    let mut users: Vec<UserRow> = Vec::new();
    let mut queue = pending.into_iter().peekable();
    while queue.peek().is_some() {
        let mut chunk: Vec<Pending<'_>> = Vec::with_capacity(FINALIZE_CHUNK);
        while let Some(p) = queue.next() {
            let user = p.user;
            chunk.push(p);
            if chunk.len() >= FINALIZE_CHUNK && queue.peek().is_none_or(|n| n.user != user) {
                break;
            }
        }
        session_models.extend(chunk.iter().map(|p| model_tokens(&p.st, &names)));
        let rows: Vec<SessionRow<'_>> = chunk
            .into_par_iter()
            .map(|p| session_row(p, &ctx))
            .collect();
        // Rows of one user are contiguous (sorted by user id, then hash).
        let groups: Vec<&[SessionRow<'_>]> = rows.chunk_by(|a, b| a.user == b.user).collect();
        users.par_extend(groups.par_iter().map(|g| user_row(g, &uctx)));
        session_batches.push(sessions_batch(&rows)?);
    }
    drop(queue);
    let sessions = concat_batches(&session_schema(), &session_batches).map_err(|source| {
        FeatureError::Arrow {
            table: "sessions",
            source,
        }
    })?;
    drop(session_batches);

    Ok(Features {
        sessions,
        users: users_batch(&users)?,
        window_start: micros_to_utc(start_us),
        window_end: micros_to_utc(end_us),
        sessions_outside_window: outside,
        common_prompts: common.len(),
        common_prompt_threshold: threshold,
        presence,
        session_models,
    })
}
