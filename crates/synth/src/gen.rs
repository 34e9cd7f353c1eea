//! Event generation for one (person, day).

use crate::config::{Model, MAX_SESSIONS_PER_USER_DAY};
use crate::plan::{context_size, mix, tag, Pattern, Plan, UserPlan};
use crate::Archetype;
use chrono::{Datelike, Weekday};
use goodhart_schema::EventKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

const SEC: i64 = 1_000_000;
const MIN: i64 = 60 * SEC;
const DAY_US: i64 = 86_400 * SEC;
/// Prompt-cache lifetime: a gap longer than this expires the cache.
const CACHE_TTL: i64 = 5 * MIN;
/// Mean sessions per workday of a regular person on a volume-1 team.
pub(crate) const BASE_SESSIONS: f64 = 2.4;
/// Weekend activity relative to a workday.
const WEEKEND_FACTOR: f64 = 0.1;

/// One generated event, before it becomes strings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ev {
    pub ts: i64,
    pub sess: u32,
    pub seq: u32,
    pub user: u32,
    pub kind: EventKind,
    /// 0 = main agent, otherwise the agent number within the session.
    pub agent: u16,
    /// Parent agent number (spawn rows only); 0 = main.
    pub parent: u16,
    /// Model (None = null model and cost).
    pub model: Option<Model>,
    pub has_tokens: bool,
    pub input: u32,
    pub output: u32,
    pub cache_read: u32,
    pub cache_write: u32,
    pub task: u64,
    pub context: u64,
    /// 0 = none, otherwise the change number within the session.
    pub change: u16,
    /// 0 = null.
    pub lines: u32,
}

/// Ground truth of one session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLabel {
    pub sess: u32,
    pub user: u32,
    pub gaming: bool,
    /// Waste truth (#11): tokens the gaming behaviour added to this session
    /// over what the same person would have used honestly.
    pub added: u64,
}

/// Everything one (person, day) produced.
#[derive(Debug, Default)]
pub(crate) struct DayOut {
    pub events: Vec<Ev>,
    pub sessions: Vec<SessionLabel>,
}

/// Waste injected into one session (all zero for honest sessions).
#[derive(Debug, Clone, Copy, Default)]
struct Waste {
    spawn: u32,
    reload: u32,
    loop_len: u32,
    verbose: f64,
    pad: u32,
}

impl Waste {
    fn any(&self) -> bool {
        self.spawn > 0 || self.reload > 0 || self.loop_len > 0 || self.verbose > 1.0 || self.pad > 0
    }
}

/// What a useful sub-agent is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentKind {
    /// A team-standard agent (tests, lint): reports, rarely changes code.
    Standard,
    /// A one-off task: usually ends in an accepted change.
    Task,
    /// One agent of a migration fan-out: nearly always an accepted change.
    Migration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Reading,
    Incident,
}

/// Prompt-cache state of one agent's conversation.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    /// Tokens of the cached prefix.
    cached: u64,
    /// Tokens appended since the last request (not cached yet).
    pending: u64,
    /// Time of the last request/load (cache refresh).
    last: i64,
}

impl Ctx {
    fn new(system: u64) -> Ctx {
        Ctx {
            cached: 0,
            pending: system,
            last: i64::MIN / 2,
        }
    }
}

fn lognorm(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    median * (sigma * z).exp()
}

fn count(rng: &mut ChaCha8Rng, lo: f64, hi: f64, g: f64, min: u32) -> u32 {
    ((rng.gen_range(lo..hi) * g).round() as u32).max(min)
}

/// Minutes since Monday 00:00 of `ts`'s week inside the sprint window
/// `[Wednesday 17:00, Friday 17:00)` UTC (the 48 h before the snapshot).
pub(crate) fn in_sprint_window(ts_us: i64) -> bool {
    let days = ts_us.div_euclid(DAY_US);
    // 1970-01-01 was a Thursday (num_days_from_monday = 3).
    let wd = (days + 3).rem_euclid(7);
    let minute = wd * 1440 + ts_us.rem_euclid(DAY_US) / MIN;
    (2 * 1440 + 17 * 60..4 * 1440 + 17 * 60).contains(&minute)
}

/// Generates all events of person `u` on day index `day`.
pub(crate) fn user_day(plan: &Plan, u: &UserPlan, day: u32) -> DayOut {
    let cfg = &plan.cfg;
    let mut out = DayOut::default();
    if day < u.first_day {
        return out;
    }
    let mut rng =
        ChaCha8Rng::seed_from_u64(mix(&[cfg.seed, tag::USER_DAY, u.idx as u64, day as u64]));
    let date = cfg.start + chrono::Days::new(day as u64);
    let day_start = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros();
    let wd = date.weekday();
    let weekend = matches!(wd, Weekday::Sat | Weekday::Sun);
    let team = &cfg.teams[u.team];
    let mut rate = BASE_SESSIONS * team.volume * u.activity;
    if weekend {
        rate *= if cfg.office_hours || team.office_hours {
            0.0
        } else {
            WEEKEND_FACTOR
        };
    }
    let sprinter = u.archetype == Archetype::LeaderboardSprinter;
    if sprinter && matches!(wd, Weekday::Wed | Weekday::Thu | Weekday::Fri) {
        rate *= 1.8;
    }
    let mut n = if rate > 0.0 {
        Poisson::new(rate).map_or(0.0, |p| p.sample(&mut rng)) as u64
    } else {
        0
    };
    if day == u.anchor_day {
        n = n.max(1);
    }
    let reading = u.archetype == Archetype::NewHire && day - u.first_day < 7;
    let mut modes = vec![if reading { Mode::Reading } else { Mode::Normal }; n as usize];
    if u.incident_day == Some(day) {
        let extra = rng.gen_range(8..=14);
        modes.extend(std::iter::repeat_n(Mode::Incident, extra));
    }
    modes.truncate(MAX_SESSIONS_PER_USER_DAY as usize);

    for (k, mode) in modes.into_iter().enumerate() {
        let span = match (mode, weekend) {
            (Mode::Incident, _) => rng.gen_range(-60..14 * 60),
            (_, true) => rng.gen_range(-120..12 * 60),
            _ => rng.gen_range(0..9 * 60),
        };
        let minute = (u.work_start_min + span).rem_euclid(1440);
        let start = day_start + minute * MIN + rng.gen_range(0..60) * SEC;
        let sess = plan.session_id(u.idx, day, k as u32);
        let waste = draw_waste(u, start, &mut rng);
        let mut s = Session {
            plan,
            u,
            rng: &mut rng,
            ev: &mut out.events,
            sess,
            seq: 0,
            agents: 0,
            changes: 0,
            model: u.main_model,
            carry_input: 0,
            added: 0,
        };
        let first_ev = s.ev.len();
        s.run(start, mode, waste);
        let mut added = s.added;
        if sprinter && matches!(wd, Weekday::Wed | Weekday::Thu | Weekday::Fri) {
            // 1.8 × the sessions on these days: in expectation 0.8 / 1.8 of
            // the honest part of each session is added by the sprint.
            let tokens: u64 = s.ev[first_ev..].iter().map(row_tokens).sum();
            added += (tokens.saturating_sub(added) as f64 * 0.8 / 1.8).round() as u64;
        }
        out.sessions.push(SessionLabel {
            sess,
            user: u.idx,
            gaming: waste.any(),
            added,
        });
    }
    out
}

fn draw_waste(u: &UserPlan, start: i64, rng: &mut ChaCha8Rng) -> Waste {
    let g = u.g;
    let mut w = Waste {
        verbose: 1.0,
        ..Waste::default()
    };
    let apply = |w: &mut Waste, p: Pattern, g: f64, subtle: bool, rng: &mut ChaCha8Rng| {
        let m = u32::from(!subtle);
        match p {
            Pattern::Spawn => w.spawn = count(rng, 8.0, 16.0, g, 2 + m),
            Pattern::Reload => w.reload = count(rng, 5.0, 12.0, g, 2),
            Pattern::Loop => w.loop_len = count(rng, 10.0, 25.0, g, 3 + m),
            Pattern::Verbose => w.verbose = (1.0 + rng.gen_range(6.0..14.0) * g).max(2.0),
            Pattern::Pad => w.pad = count(rng, 8.0, 20.0, g, 2 + m),
        }
    };
    match u.archetype {
        Archetype::AgentSpammer if rng.gen_bool(0.85) => {
            apply(&mut w, Pattern::Spawn, g, false, rng);
        }
        Archetype::ContextReloader if rng.gen_bool(0.85) => {
            apply(&mut w, Pattern::Reload, g, false, rng);
        }
        Archetype::PromptLooper if rng.gen_bool(0.85) => {
            apply(&mut w, Pattern::Loop, g, false, rng);
        }
        Archetype::VerboseBurner if rng.gen_bool(0.85) => {
            apply(&mut w, Pattern::Verbose, g, false, rng);
        }
        Archetype::ChangePadder if rng.gen_bool(0.85) => {
            apply(&mut w, Pattern::Pad, g, false, rng);
        }
        Archetype::LeaderboardSprinter if in_sprint_window(start) && rng.gen_bool(0.9) => {
            let kinds = [Pattern::Spawn, Pattern::Reload, Pattern::Loop];
            let mut any = false;
            for p in kinds {
                if rng.gen_bool(0.6) {
                    apply(&mut w, p, g, false, rng);
                    any = true;
                }
            }
            if !any {
                apply(&mut w, kinds[rng.gen_range(0..3)], g, false, rng);
            }
        }
        Archetype::Subtle => {
            for p in u.subtle {
                if rng.gen_bool(0.6) {
                    apply(&mut w, p, g / 3.0, true, rng);
                }
            }
        }
        _ => {}
    }
    w
}

struct Session<'a> {
    plan: &'a Plan,
    u: &'a UserPlan,
    rng: &'a mut ChaCha8Rng,
    ev: &'a mut Vec<Ev>,
    sess: u32,
    seq: u32,
    agents: u16,
    changes: u16,
    model: Model,
    /// Agent-heavy workloads: uncached input tokens of a file re-read,
    /// billed on the next request of the session.
    carry_input: u64,
    /// Waste truth (#11): tokens added by the gaming behaviour so far.
    added: u64,
}

/// All four token buckets of an event.
pub(crate) fn row_tokens(e: &Ev) -> u64 {
    u64::from(e.input) + u64::from(e.output) + u64::from(e.cache_read) + u64::from(e.cache_write)
}

impl Session<'_> {
    fn push(&mut self, mut e: Ev) {
        e.sess = self.sess;
        e.user = self.u.idx;
        e.seq = self.seq;
        self.seq += 1;
        self.ev.push(e);
    }

    fn blank(ts: i64, kind: EventKind) -> Ev {
        Ev {
            ts,
            sess: 0,
            seq: 0,
            user: 0,
            kind,
            agent: 0,
            parent: 0,
            model: None,
            has_tokens: false,
            input: 0,
            output: 0,
            cache_read: 0,
            cache_write: 0,
            task: 0,
            context: 0,
            change: 0,
            lines: 0,
        }
    }

    fn scale(&self) -> f64 {
        self.plan.cfg.teams[self.u.team].context_scale
    }

    fn fresh_task(&mut self) -> u64 {
        self.rng.gen::<u64>() | 1
    }

    /// A model request; returns the time it finished.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        t: i64,
        agent: u16,
        model: Model,
        ctx: &mut Ctx,
        task: u64,
        new_turn: u64,
        output: u64,
    ) -> i64 {
        let expired = t - ctx.last > CACHE_TTL;
        let (cache_read, cache_write) = if expired {
            (0, ctx.cached + ctx.pending)
        } else {
            (ctx.cached, ctx.pending)
        };
        ctx.cached += ctx.pending;
        ctx.pending = new_turn + output;
        ctx.last = t;
        // A rare row whose model (and so cost) the source did not record.
        let model = if self.rng.gen_bool(0.002) {
            None
        } else {
            Some(model)
        };
        let mut e = Session::blank(t, EventKind::Request);
        e.agent = agent;
        e.model = model;
        e.has_tokens = true;
        e.input = (new_turn + std::mem::take(&mut self.carry_input)).min(u32::MAX as u64) as u32;
        e.output = output.min(u32::MAX as u64) as u32;
        e.cache_read = cache_read.min(u32::MAX as u64) as u32;
        e.cache_write = cache_write.min(u32::MAX as u64) as u32;
        e.task = task;
        self.push(e);
        t + (1.5 * SEC as f64 + output as f64 / 60.0 * SEC as f64) as i64
    }

    fn new_turn(&mut self) -> u64 {
        lognorm(self.rng, 700.0, 0.6).clamp(200.0, 3000.0) as u64
    }

    fn output(&mut self, verbose: f64) -> u64 {
        let base = lognorm(self.rng, 450.0 * self.u.output_scale, 0.9).clamp(15.0, 12_000.0);
        (base * verbose).min(64_000.0) as u64
    }

    /// A context_load row carried into the cache (first load or a legitimate
    /// re-load after expiry).
    fn load_cached(&mut self, t: i64, ctx: &mut Ctx, h: u64) {
        let size = context_size(h, self.scale());
        let mut e = Session::blank(t, EventKind::ContextLoad);
        e.model = Some(self.model);
        e.context = h;
        if self.plan.cfg.agent_heavy {
            // As in agent transcripts: the load row carries no tokens; the
            // file enters the conversation and is cache-written by the next
            // request.
            self.push(e);
            ctx.pending += size;
            return;
        }
        e.has_tokens = true;
        e.cache_write = size as u32;
        self.push(e);
        // The load row itself wrote the context to the cache (and refreshed it).
        ctx.cached += size;
        ctx.last = t;
    }

    fn change(&mut self, t: i64, agent: u16, accepted: bool, lines: u32, revert_p: f64) {
        self.changes = self.changes.wrapping_add(1).max(1);
        let id = self.changes;
        let mut e = Session::blank(
            t,
            if accepted {
                EventKind::ChangeAccepted
            } else {
                EventKind::ChangeRejected
            },
        );
        e.agent = agent;
        e.change = id;
        e.lines = lines;
        self.push(e);
        if accepted && self.rng.gen_bool(revert_p) {
            let later = t + self.rng.gen_range(3 * MIN..60 * MIN);
            let mut r = Session::blank(later, EventKind::ChangeReverted);
            r.agent = agent;
            r.change = id;
            r.lines = lines;
            self.push(r);
        }
    }

    fn change_lines(&mut self) -> u32 {
        lognorm(self.rng, 30.0, 0.9).clamp(5.0, 200.0) as u32
    }

    fn spawn_row(&mut self, t: i64, parent: u16, task: u64) -> u16 {
        self.agents = self.agents.saturating_add(1);
        let mut e = Session::blank(t, EventKind::AgentSpawn);
        e.agent = self.agents;
        e.parent = parent;
        e.task = task;
        self.push(e);
        self.agents
    }

    /// A useful sub-agent; returns when it finished.
    fn sub_agent(&mut self, t: i64, parent: u16, task: u64, kind: AgentKind, depth: u8) -> i64 {
        let standard = kind == AgentKind::Standard;
        let a = self.spawn_row(t, parent, task);
        let model = if self.rng.gen_bool(0.6) {
            self.model.cheap_sibling()
        } else {
            self.model
        };
        let sys = (lognorm(self.rng, 5000.0, 0.4) * self.scale()) as u64;
        // Sub-agents share their tool definitions (about 80% of the system
        // prompt), cached by the session's earlier requests.
        let mut ctx = Ctx {
            cached: sys * 4 / 5,
            pending: sys - sys * 4 / 5,
            last: t,
        };
        let n = if standard {
            self.rng.gen_range(1..=3)
        } else {
            self.rng.gen_range(2..=8)
        };
        let mut tt = t + self.rng.gen_range(SEC..3 * SEC);
        for i in 0..n {
            // A templated migration agent's requests name its own file:
            // only its spawn carries the shared template.
            let templated = kind == AgentKind::Migration && self.plan.cfg.migration_same_task;
            let task = if i == 0 && !templated {
                task
            } else {
                self.fresh_task()
            };
            let turn = self.new_turn();
            let out = (lognorm(self.rng, 400.0, 0.8).clamp(15.0, 8000.0)) as u64;
            tt = self.request(tt, a, model, &mut ctx, task, turn, out);
            tt += self.rng.gen_range(2 * SEC..20 * SEC);
        }
        if depth == 0 && self.rng.gen_bool(0.08) {
            let task = self.fresh_task();
            tt = self.sub_agent(tt, a, task, AgentKind::Task, 1);
        }
        let (p_acc, p_rej) = match kind {
            AgentKind::Standard => (0.1, 0.05),
            AgentKind::Task => (0.72, 0.1),
            AgentKind::Migration => (0.92, 0.04),
        };
        let x: f64 = self.rng.gen();
        if x < p_acc + p_rej {
            let lines = self.change_lines();
            self.change(tt, a, x < p_acc, lines, 0.04);
            tt += SEC;
        }
        tt
    }

    /// A spammed agent: same task again, at most one small request, no change.
    fn spam_agent(&mut self, t: i64) -> i64 {
        let a = self.spawn_row(t, 0, self.u.spam_task);
        if self.rng.gen_bool(0.5) {
            let sys = (lognorm(self.rng, 5000.0, 0.4) * self.scale()) as u64;
            let mut ctx = Ctx::new(sys);
            let turn = self.rng.gen_range(200..600);
            let out = self.rng.gen_range(20..150);
            let model = self.model.cheap_sibling();
            let task = self.u.spam_task;
            self.request(t + SEC, a, model, &mut ctx, task, turn, out);
            self.added += self.ev.last().map_or(0, row_tokens);
        }
        t + self.rng.gen_range(2 * SEC..10 * SEC)
    }

    fn spread(&mut self, total: u32, turns: u32) -> Vec<u32> {
        let mut v = vec![0u32; turns as usize];
        for _ in 0..total {
            let i = self.rng.gen_range(0..turns as usize);
            v[i] += 1;
        }
        v
    }

    // One piece: one simulated session step by step in time order; the steps share its running
    // state and draw from one random stream, whose order fixes the output bytes.
    fn run(&mut self, start: i64, mode: Mode, w: Waste) {
        let team = &self.plan.cfg.teams[self.u.team];
        let (agent_rate, pause_rate) = (team.agent_rate, team.pause_rate);
        let mut turns = match mode {
            Mode::Incident => self.rng.gen_range(15..=30),
            _ => lognorm(self.rng, 9.0, 0.6).clamp(2.0, 40.0) as u32,
        };
        let honest_turns = turns;
        if w.pad > 0 {
            turns = (turns as f64 * (1.0 + 0.8 * self.u.g.min(2.0))) as u32;
        }
        if self.plan.cfg.agent_heavy {
            turns *= 2;
        }
        let (p_load, change_factor): (f64, f64) = match mode {
            Mode::Normal => (0.10, 1.0),
            Mode::Reading => (0.45, 0.3),
            Mode::Incident => (0.5, 0.15),
        };
        let migration = self.u.archetype == Archetype::Migration && self.rng.gen_bool(0.6);
        let fanout_turn = self.rng.gen_range(0..turns);
        let spawn_at = self.spread(w.spawn, turns);
        let reload_at = self.spread(w.reload, turns);
        let pad_at = self.spread(w.pad, turns);
        let loop_turn = self.rng.gen_range(0..turns);
        let loop_task = self.fresh_task();

        let mut sys = (lognorm(self.rng, 9000.0, 0.4) * self.scale()) as u64;
        if self.plan.cfg.agent_heavy {
            // Agent harnesses: long system prompts and tool definitions (and
            // twice the turns, above): most input is the cached conversation.
            sys *= 4;
        }
        let mut ctx = Ctx::new(sys);
        let mut loaded: Vec<u64> = Vec::new();
        let mut t = start;

        // Opening: load the working files.
        let opening = match mode {
            Mode::Normal => self.rng.gen_range(1..=2),
            Mode::Reading => self.rng.gen_range(3..=6),
            Mode::Incident => self.rng.gen_range(3..=5),
        };
        for _ in 0..opening {
            self.load_new(&mut t, &mut ctx, &mut loaded, mode);
        }

        for turn in 0..turns as usize {
            // Waste truth: every row of a padder's extra turn is added (the
            // turn's own gaming rows are counted below, hence the offset).
            let turn_start = (self.ev.len(), self.added);
            // Think time; sometimes a long pause expires the cache.
            t += if self.rng.gen_bool(pause_rate) {
                self.rng.gen_range(6 * MIN..40 * MIN)
            } else {
                (lognorm(self.rng, 60.0, 0.8).clamp(5.0, 240.0) * SEC as f64) as i64
            };
            let expired = t - ctx.last > CACHE_TTL;
            if self.rng.gen_bool(p_load) {
                self.load_new(&mut t, &mut ctx, &mut loaded, mode);
            } else if expired && !loaded.is_empty() && self.rng.gen_bool(0.15) {
                // Legitimate re-load of a file set after the cache expired.
                let h = loaded[self.rng.gen_range(0..loaded.len())];
                self.load_cached(t, &mut ctx, h);
                t += 2 * SEC;
            }
            for _ in 0..reload_at[turn] {
                if self.plan.cfg.agent_heavy {
                    // Gaming, agent style: a file of the session (or the big
                    // context) read again; the load row has no tokens, the
                    // re-read is billed uncached on the next request.
                    let h = if loaded.is_empty() {
                        self.u.big_context
                    } else {
                        loaded[self.rng.gen_range(0..loaded.len())]
                    };
                    let mut e = Session::blank(t, EventKind::ContextLoad);
                    e.model = Some(self.model);
                    e.context = h;
                    self.push(e);
                    self.carry_input += context_size(h, self.scale()).max(8_000);
                    self.added += context_size(h, self.scale()).max(8_000);
                    t += self.rng.gen_range(5 * SEC..40 * SEC);
                    continue;
                }
                // Gaming: the same big context sent again, uncached.
                let mut e = Session::blank(t, EventKind::ContextLoad);
                e.model = Some(self.model);
                e.has_tokens = true;
                e.input = self.u.big_context_size as u32;
                e.context = self.u.big_context;
                self.added += u64::from(e.input);
                self.push(e);
                t += self.rng.gen_range(5 * SEC..40 * SEC);
            }

            // The main request.
            let task = if self.rng.gen_bool(0.22) {
                self.plan.common_prompts[self.rng.gen_range(0..self.plan.common_prompts.len())]
            } else {
                self.fresh_task()
            };
            let turn_tokens = self.new_turn();
            let out = self.output(w.verbose);
            if w.verbose > 1.0 {
                // The honest reply: the inflated one divided back (exact
                // unless capped at 64k, where this undercounts).
                self.added += out - (out as f64 / w.verbose).round() as u64;
            }
            let model = self.model;
            t = self.request(t, 0, model, &mut ctx, task, turn_tokens, out);
            if self.rng.gen_bool(0.04) {
                // Retry after an error: same prompt, small output.
                t += self.rng.gen_range(5 * SEC..20 * SEC);
                let out = self.rng.gen_range(20..120);
                t = self.request(t, 0, model, &mut ctx, task, turn_tokens, out);
            }
            if w.loop_len > 0 && turn as u32 == loop_turn {
                for _ in 0..w.loop_len {
                    t += self.rng.gen_range(10 * SEC..40 * SEC);
                    let turn_tokens = self.new_turn();
                    let out = self.output(w.verbose).min(2000);
                    t = self.request(t, 0, model, &mut ctx, loop_task, turn_tokens, out);
                    self.added += self.ev.last().map_or(0, row_tokens);
                }
            }

            // Legitimate sub-agents.
            if self.rng.gen_bool((0.12 * agent_rate).min(1.0)) {
                let agents = &self.plan.team_agents[self.u.team];
                let standard = self.rng.gen_bool(0.4);
                let task = if standard {
                    agents[self.rng.gen_range(0..agents.len())]
                } else {
                    self.fresh_task()
                };
                let kind = if standard {
                    AgentKind::Standard
                } else {
                    AgentKind::Task
                };
                let end = self.sub_agent(t + SEC, 0, task, kind, 0);
                t = end.max(t) + self.rng.gen_range(2 * SEC..10 * SEC);
            }
            if migration && turn as u32 == fanout_turn {
                // Wide fan-out of distinct agents working in parallel.
                let k = self.rng.gen_range(8..=24);
                let mut end = t;
                let template = self.migration_template();
                for i in 0..k {
                    let task = template.unwrap_or_else(|| self.fresh_task());
                    let e = self.sub_agent(t + i * 2 * SEC, 0, task, AgentKind::Migration, 1);
                    end = end.max(e);
                }
                t = end + 5 * SEC;
            }
            for _ in 0..spawn_at[turn] {
                t = self.spam_agent(t);
            }

            // Changes made by the main agent.
            if self.rng.gen_bool((0.22 * change_factor).min(1.0)) {
                t += self.rng.gen_range(5 * SEC..30 * SEC);
                let accepted = self.rng.gen_bool(0.78);
                let lines = self.change_lines();
                self.change(t, 0, accepted, lines, 0.04);
            }
            for _ in 0..pad_at[turn] {
                // Gaming: a cheap request for a trivial change, accepted.
                t += self.rng.gen_range(10 * SEC..40 * SEC);
                let task = self.fresh_task();
                let turn_tokens = self.rng.gen_range(200..500);
                let out = self.rng.gen_range(40..200);
                t = self.request(t, 0, model, &mut ctx, task, turn_tokens, out);
                self.added += self.ev.last().map_or(0, row_tokens);
                let lines = self.rng.gen_range(1..=3);
                self.change(t + SEC, 0, true, lines, 0.45);
            }
            if turn >= honest_turns as usize {
                let rows: u64 = self.ev[turn_start.0..].iter().map(row_tokens).sum();
                self.added = turn_start.1 + rows;
            }
        }
    }

    /// The one task hash of a migration fan-out when migrations are
    /// templated ([`crate::SynthConfig::migration_same_task`]); drawn from
    /// the session's stream only then, so default output is unchanged.
    fn migration_template(&mut self) -> Option<u64> {
        self.plan
            .cfg
            .migration_same_task
            .then(|| self.rng.gen::<u64>() | 1)
    }

    /// Loads a file set not yet in this session.
    fn load_new(&mut self, t: &mut i64, ctx: &mut Ctx, loaded: &mut Vec<u64>, mode: Mode) {
        let h = match mode {
            // Reading / firefighting: file sets the person never touched.
            Mode::Reading | Mode::Incident => {
                let pool = &self.plan.team_contexts[self.u.team];
                if self.rng.gen_bool(0.5) {
                    pool[self.rng.gen_range(0..pool.len())]
                } else {
                    self.rng.gen::<u64>() | 1
                }
            }
            Mode::Normal => self.u.contexts[self.rng.gen_range(0..self.u.contexts.len())],
        };
        if loaded.contains(&h) {
            return;
        }
        loaded.push(h);
        self.load_cached(*t, ctx, h);
        *t += self.rng.gen_range(SEC..5 * SEC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprint_window_is_wednesday_17_to_friday_17_utc() {
        let at = |y, m, d, h| {
            chrono::NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        // 2026-10-07 is a Wednesday, 2026-10-09 a Friday.
        assert!(!in_sprint_window(at(2026, 10, 7, 16)));
        assert!(in_sprint_window(at(2026, 10, 7, 17)));
        assert!(in_sprint_window(at(2026, 10, 8, 3)));
        assert!(in_sprint_window(at(2026, 10, 9, 16)));
        assert!(!in_sprint_window(at(2026, 10, 9, 17)));
        assert!(!in_sprint_window(at(2026, 10, 5, 12)));
    }

    #[test]
    fn cache_accounting_of_a_request_sequence() {
        let cfg = crate::SynthConfig::new(5, 2, 3);
        let plan = Plan::new(&cfg).unwrap();
        let u = &plan.users[0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut ev = Vec::new();
        let mut s = Session {
            plan: &plan,
            u,
            rng: &mut rng,
            ev: &mut ev,
            sess: 7,
            seq: 0,
            agents: 0,
            changes: 0,
            model: Model::ClaudeSonnet45,
            carry_input: 0,
            added: 0,
        };
        let mut ctx = Ctx::new(10_000);
        let t0 = 1_000 * SEC;
        s.request(t0, 0, Model::ClaudeSonnet45, &mut ctx, 1, 500, 300);
        s.request(t0 + MIN, 0, Model::ClaudeSonnet45, &mut ctx, 2, 400, 200);
        s.request(
            t0 + 20 * MIN,
            0,
            Model::ClaudeSonnet45,
            &mut ctx,
            3,
            100,
            50,
        );
        // 1st: cold, writes the system prompt.
        assert_eq!(
            (ev[0].input, ev[0].cache_read, ev[0].cache_write),
            (500, 0, 10_000)
        );
        // 2nd: warm, reads the prefix, writes the previous turn (500 + 300).
        assert_eq!(
            (ev[1].input, ev[1].cache_read, ev[1].cache_write),
            (400, 10_000, 800)
        );
        // 3rd: after a 19-minute pause the cache expired: rewrite everything.
        assert_eq!(
            (ev[2].input, ev[2].cache_read, ev[2].cache_write),
            (100, 0, 10_800 + 600)
        );
        assert_eq!(ev.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
    }
}
