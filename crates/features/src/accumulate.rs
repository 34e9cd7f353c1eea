//! The mergeable per-session partial aggregates (the parallel fold state).
//!
//! Every field is merged with an exact, associative and commutative
//! operation: integer sums, minima / maxima, "first by (ts, tie-break)" and
//! list concatenation (lists are sorted before use in `finalize`). Hence the
//! finished features do not depend on file order, row-group size or threads.

use crate::{FeatureOptions, Snapshot};
use goodhart_schema::{EventBatch, EventKind, Names, Presence, NULL_HASH};
use rustc_hash::FxHashMap;

/// "None" for a minimum-tracked timestamp.
pub(crate) const NO_MIN: i64 = i64::MAX;
/// "None" for a maximum-tracked timestamp.
pub(crate) const NO_MAX: i64 = i64::MIN;

/// Per sub-agent state within a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentState {
    /// First / last row of the agent (alive interval).
    pub first_ts: i64,
    pub last_ts: i64,
    /// First / last request made by the agent.
    pub first_request_ts: i64,
    pub last_request_ts: i64,
    /// Earliest spawn row `(ts, task_hash)`, `(NO_MIN, 0)` when never spawned.
    pub spawn: (i64, u64),
    /// Smallest non-null parent seen (0 = main / unknown).
    pub parent: u64,
    /// Row tokens and pre-snapshot row tokens of the agent's rows.
    pub tokens: u64,
    pub pre_tokens: u64,
    /// `change_accepted` rows made by the agent (gross): a re-spawned task
    /// whose agents produced accepted work is not waste.
    pub accepted: u64,
}

impl AgentState {
    fn new() -> Self {
        AgentState {
            first_ts: NO_MIN,
            last_ts: NO_MAX,
            first_request_ts: NO_MIN,
            last_request_ts: NO_MAX,
            spawn: (NO_MIN, NULL_HASH),
            parent: NULL_HASH,
            tokens: 0,
            pre_tokens: 0,
            accepted: 0,
        }
    }

    fn merge(&mut self, o: &AgentState) {
        self.first_ts = self.first_ts.min(o.first_ts);
        self.last_ts = self.last_ts.max(o.last_ts);
        self.first_request_ts = self.first_request_ts.min(o.first_request_ts);
        self.last_request_ts = self.last_request_ts.max(o.last_request_ts);
        self.spawn = self.spawn.min(o.spawn);
        self.parent = min_nonnull(self.parent, o.parent);
        self.tokens = self.tokens.saturating_add(o.tokens);
        self.pre_tokens = self.pre_tokens.saturating_add(o.pre_tokens);
        self.accepted = self.accepted.saturating_add(o.accepted);
    }
}

fn min_nonnull(a: u64, b: u64) -> u64 {
    match (a, b) {
        (NULL_HASH, x) | (x, NULL_HASH) => x,
        (x, y) => x.min(y),
    }
}

/// One request: `(ts, task hash, row tokens)`.
///
/// Requests are kept as a flat list rather than a map keyed by task hash:
/// almost every request hash occurs once in its session, so a map costs
/// about 80 bytes per request (entry, control bytes, growth slack and
/// rehashing) where this costs 32. `finalize` sorts the list once by task
/// (repeats, loop tokens, first request) and once by time (runs).
/// Whether a request was before the snapshot is a function of `ts`, so it
/// is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Req {
    pub ts: i64,
    /// `NULL_HASH` when the row had no task hash (it still breaks runs).
    pub task: u64,
    pub tokens: u64,
    /// Uncached input tokens of the row (what a re-read billed on the
    /// request after a tokenless context load costs).
    pub input: u64,
}

/// One context load with a non-null context hash.
///
/// A flat list for the same reason as [`Req`]; `finalize` sorts it by
/// `(ctx, ts, ..)` to find the first load and the reloads of each context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Load {
    pub ctx: u64,
    pub ts: i64,
    /// Input-side tokens (input + cache read + cache write) of the row.
    pub input_side: u64,
    /// Uncached input tokens of the row.
    pub input: u64,
}

/// Partial aggregates of one (user, session).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionState {
    pub start: i64,
    pub end: i64,
    pub events: u64,
    pub requests: u64,
    pub spawns: u64,
    pub context_loads: u64,
    pub accepted_gross: u64,
    pub rejected: u64,
    pub reverted: u64,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub cost_nanousd: i64,
    pub lines_accepted: u64,
    pub lines_reverted: u64,
    pub trivial_changes: u64,
    /// Latest `change_accepted` ts (NO_MAX when none).
    pub last_accept_ts: i64,
    /// Row tokens of pre-snapshot rows.
    pub pre_tokens: u64,
    /// `(model hash, row tokens)`, unsorted, distinct models.
    pub models: Vec<(u64, u64)>,
    /// Sub-agents by agent hash.
    pub agents: FxHashMap<u64, AgentState>,
    /// Task hash of every spawn row with a non-null one, unsorted.
    pub spawn_tasks: Vec<u64>,
    /// Every request, unsorted.
    pub reqs: Vec<Req>,
    /// Every context load with a non-null context hash, unsorted.
    pub loads: Vec<Load>,
    /// Timestamp of every `change_accepted` row, unsorted (whether work was
    /// accepted between two spawns of one task).
    pub accept_ts: Vec<i64>,
    /// Timestamps of every non-request row, unsorted (active time).
    pub other_ts: Vec<i64>,
    /// Some row was an aggregate (schema v1.1 `n`): features that need
    /// single events are unavailable for this session.
    pub aggregate: bool,
    /// Waste ledger (#11): per model (hash, `NULL_HASH` = no model) the
    /// tokens of each bucket `[input, output, cache_read, cache_write]`,
    /// distinct models, unsorted (the ledger prices them).
    pub model_buckets: Vec<(u64, [u64; 4])>,
}

impl SessionState {
    fn new() -> Self {
        SessionState {
            start: NO_MIN,
            end: NO_MAX,
            events: 0,
            requests: 0,
            spawns: 0,
            context_loads: 0,
            accepted_gross: 0,
            rejected: 0,
            reverted: 0,
            input: 0,
            output: 0,
            cache_read: 0,
            cache_write: 0,
            cost_nanousd: 0,
            lines_accepted: 0,
            lines_reverted: 0,
            trivial_changes: 0,
            last_accept_ts: NO_MAX,
            pre_tokens: 0,
            models: Vec::new(),
            agents: FxHashMap::default(),
            spawn_tasks: Vec::new(),
            reqs: Vec::new(),
            loads: Vec::new(),
            accept_ts: Vec::new(),
            other_ts: Vec::new(),
            aggregate: false,
            model_buckets: Vec::new(),
        }
    }

    fn merge(&mut self, o: SessionState) {
        self.start = self.start.min(o.start);
        self.end = self.end.max(o.end);
        self.events = self.events.saturating_add(o.events);
        self.requests = self.requests.saturating_add(o.requests);
        self.spawns = self.spawns.saturating_add(o.spawns);
        self.context_loads = self.context_loads.saturating_add(o.context_loads);
        self.accepted_gross = self.accepted_gross.saturating_add(o.accepted_gross);
        self.rejected = self.rejected.saturating_add(o.rejected);
        self.reverted = self.reverted.saturating_add(o.reverted);
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.cost_nanousd = self.cost_nanousd.saturating_add(o.cost_nanousd);
        self.lines_accepted = self.lines_accepted.saturating_add(o.lines_accepted);
        self.lines_reverted = self.lines_reverted.saturating_add(o.lines_reverted);
        self.trivial_changes = self.trivial_changes.saturating_add(o.trivial_changes);
        self.last_accept_ts = self.last_accept_ts.max(o.last_accept_ts);
        self.pre_tokens = self.pre_tokens.saturating_add(o.pre_tokens);
        for (m, t) in o.models {
            add_model(&mut self.models, m, t);
        }
        for (k, v) in o.agents {
            match self.agents.get_mut(&k) {
                Some(a) => a.merge(&v),
                None => {
                    self.agents.insert(k, v);
                }
            }
        }
        append(&mut self.spawn_tasks, o.spawn_tasks);
        append(&mut self.reqs, o.reqs);
        append(&mut self.loads, o.loads);
        append(&mut self.accept_ts, o.accept_ts);
        append(&mut self.other_ts, o.other_ts);
        self.aggregate |= o.aggregate;
        for (m, b) in o.model_buckets {
            add_model_buckets(&mut self.model_buckets, m, b);
        }
    }
}

/// Adds one row's bucket tokens to its model's entry (waste ledger, #11).
#[inline]
fn add_model_buckets(models: &mut Vec<(u64, [u64; 4])>, m: u64, b: [u64; 4]) {
    match models.iter_mut().find(|(k, _)| *k == m) {
        Some(e) => {
            for (x, y) in e.1.iter_mut().zip(b) {
                *x = x.saturating_add(y);
            }
        }
        None => models.push((m, b)),
    }
}

/// List concatenation that keeps the larger allocation.
fn append<T>(a: &mut Vec<T>, mut b: Vec<T>) {
    if b.len() > a.len() {
        std::mem::swap(a, &mut b);
    }
    a.extend(b);
}

#[inline]
fn add_model(models: &mut Vec<(u64, u64)>, m: u64, tokens: u64) {
    // Sessions use one to three models: a linear scan beats a hash map here.
    match models.iter_mut().find(|(k, _)| *k == m) {
        Some(e) => e.1 = e.1.saturating_add(tokens),
        None => models.push((m, tokens)),
    }
}

/// Mergeable partial aggregates of events, keyed by (user hash, session hash).
///
/// The fold state of the parallel pass: build one per worker with
/// [`SessionAccumulator::with_options`] (or `default()` for default
/// snapshot settings), feed it [`EventBatch`]es with
/// [`add_batch`](SessionAccumulator::add_batch), combine workers with
/// [`merge`](SessionAccumulator::merge) (associative and commutative, exact),
/// then call [`finalize`](crate::finalize).
///
/// Memory grows with sessions and sub-agents, plus 32 bytes per request,
/// 32 per context load with a context hash, 8 per spawn with a task hash and
/// 8 per other event (the ordered features `longest_run`, `active_min` and
/// `reloads_within_ttl` need the rows); no per-row strings are kept.
///
/// ```
/// use arrow::array::AsArray;
/// use arrow::datatypes::UInt64Type;
/// use goodhart_features::{finalize, FeatureOptions, SessionAccumulator};
/// use goodhart_schema::{hash_str, EventBatch, EventKind, Names, Presence};
///
/// // `n` requests of session `s` of user "ann", a minute apart, 100 input and
/// // 50 output tokens each.
/// let batch = |s: &str, t0: i64, n: usize| EventBatch {
///     ts_us: (0..n).map(|i| t0 + i as i64 * 60_000_000).collect(),
///     user: vec![hash_str("ann"); n],
///     session: vec![hash_str(s); n],
///     kind: vec![EventKind::Request; n],
///     agent: vec![0; n],
///     parent_agent: vec![0; n],
///     model: vec![0; n],
///     input_tokens: vec![100; n],
///     output_tokens: vec![50; n],
///     cache_read_tokens: vec![0; n],
///     cache_write_tokens: vec![0; n],
///     task_hash: vec![0; n],
///     context_hash: vec![0; n],
///     change_id: vec![0; n],
///     lines: vec![0; n],
///     cost_nanousd: vec![0; n],
///     n: vec![], // no count column: every row is one event
///     presence: Presence { input_tokens: true, output_tokens: true, ..Presence::default() },
///     names: Names {
///         users: vec![(hash_str("ann"), "ann".into())],
///         sessions: vec![(hash_str(s), s.into())],
///         models: vec![],
///     },
/// };
/// let t0 = 1_717_171_200_000_000_i64; // 2024-05-31 16:00 UTC
/// let mut a = SessionAccumulator::default();
/// a.add_batch(&batch("s1", t0, 2));
/// let mut b = SessionAccumulator::default();
/// b.add_batch(&batch("s1", t0 + 120_000_000, 1)); // s1's third request, on another worker
/// b.add_batch(&batch("s2", t0, 3));
/// let merged = a.merge(b);
/// assert_eq!(merged.sessions(), 2); // s1's rows from both workers are one session
/// assert_eq!(merged.rows(), 6);
///
/// let f = finalize(merged, &FeatureOptions::default(), None).unwrap();
/// let users = &f.users;
/// let col = |name: &str| users.column_by_name(name).unwrap().as_primitive::<UInt64Type>().value(0);
/// assert_eq!(col("requests"), 6);
/// assert_eq!(col("total_tokens"), 6 * 150);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SessionAccumulator {
    pub(crate) snapshot: Snapshot,
    /// Set when accumulators with different snapshot settings were merged.
    pub(crate) conflict: bool,
    pub(crate) presence: Presence,
    pub(crate) names: Names,
    /// Boxed so that growing, merging and draining the map moves 8 bytes per
    /// session, not the whole state.
    pub(crate) sessions: FxHashMap<(u64, u64), Box<SessionState>>,
    pub(crate) rows: u64,
}

impl SessionAccumulator {
    /// An empty accumulator using the snapshot settings of `opts` (the only
    /// option needed while folding: pre-snapshot tokens are tallied per row).
    pub fn with_options(opts: &FeatureOptions) -> Self {
        SessionAccumulator {
            snapshot: opts.snapshot,
            ..Default::default()
        }
    }

    /// Number of distinct (user, session) pairs seen so far.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Number of event rows folded in so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Union of the optional-column presence of every batch seen.
    pub fn presence(&self) -> Presence {
        self.presence
    }

    /// Widens the optional-column presence to include `p`, as if a batch
    /// with that presence had been folded in. A part of an organisation
    /// (see [`crate::org`]) is given the whole organisation's presence this
    /// way, so that its features are null or not exactly as they are when
    /// the organisation is finalized at once.
    pub fn add_presence(&mut self, p: Presence) {
        self.presence = self.presence.union(p);
    }

    /// Folds one validated batch in.
    pub fn add_batch(&mut self, b: &EventBatch) {
        self.presence = self.presence.union(b.presence);
        self.names.merge(b.names.clone());
        self.rows = self.rows.saturating_add(b.len() as u64);
        let snap = self.snapshot;
        let n = b.len();
        // Plain loop over the columns; the session map is looked up once per
        // run of rows with the same key (ingest usually yields such runs).
        let mut i = 0;
        while i < n {
            let key = (b.user[i], b.session[i]);
            let mut j = i + 1;
            while j < n && b.user[j] == key.0 && b.session[j] == key.1 {
                j += 1;
            }
            let st = self
                .sessions
                .entry(key)
                .or_insert_with(|| Box::new(SessionState::new()));
            for r in i..j {
                add_row(st, b, r, &snap);
            }
            i = j;
        }
    }

    /// Combines two accumulators (associative, commutative and exact).
    pub fn merge(self, other: SessionAccumulator) -> SessionAccumulator {
        // Fold the smaller map into the larger one; the result is the same
        // either way because every per-session merge is commutative.
        let (mut big, small) = if self.sessions.len() >= other.sessions.len() {
            (self, other)
        } else {
            (other, self)
        };
        if big.snapshot != small.snapshot {
            // Keep a deterministic snapshot; finalize reports the conflict.
            big.conflict = true;
            if small.snapshot.order_key() < big.snapshot.order_key() {
                big.snapshot = small.snapshot;
            }
        }
        big.conflict |= small.conflict;
        big.presence = big.presence.union(small.presence);
        big.names.merge(small.names);
        big.rows = big.rows.saturating_add(small.rows);
        for (k, v) in small.sessions {
            match big.sessions.get_mut(&k) {
                Some(s) => s.merge(*v),
                None => {
                    big.sessions.insert(k, v);
                }
            }
        }
        big
    }
}

impl Snapshot {
    /// A total order key, used only to keep conflict handling deterministic.
    fn order_key(&self) -> (u32, u32, u32, u32) {
        (
            self.weekday.num_days_from_monday(),
            self.hour,
            self.minute,
            self.pre_snapshot_hours,
        )
    }
}

#[inline]
fn add_row(st: &mut SessionState, b: &EventBatch, r: usize, snap: &Snapshot) {
    let ts = b.ts_us[r];
    let (inp, out, cr, cw) = (
        b.input_tokens[r],
        b.output_tokens[r],
        b.cache_read_tokens[r],
        b.cache_write_tokens[r],
    );
    let input_side = inp.saturating_add(cr).saturating_add(cw);
    let tokens = input_side.saturating_add(out);
    let pre = snap.is_pre(ts);
    // Schema v1.1: the row stands for `cnt` events (tokens, lines and cost
    // on the row are their totals).
    let cnt = b.count(r);
    st.aggregate |= b.is_aggregate(r);
    st.start = st.start.min(ts);
    st.end = st.end.max(ts);
    st.events = st.events.saturating_add(cnt);
    st.input = st.input.saturating_add(inp);
    st.output = st.output.saturating_add(out);
    st.cache_read = st.cache_read.saturating_add(cr);
    st.cache_write = st.cache_write.saturating_add(cw);
    st.cost_nanousd = st.cost_nanousd.saturating_add(b.cost_nanousd[r]);
    if pre {
        st.pre_tokens = st.pre_tokens.saturating_add(tokens);
    }
    let m = b.model[r];
    if m != NULL_HASH && tokens > 0 {
        add_model(&mut st.models, m, tokens);
    }
    if tokens > 0 {
        add_model_buckets(&mut st.model_buckets, m, [inp, out, cr, cw]);
    }
    let kind = b.kind[r];
    let agent = b.agent[r];
    if agent != NULL_HASH {
        let a = st.agents.entry(agent).or_insert_with(AgentState::new);
        a.first_ts = a.first_ts.min(ts);
        a.last_ts = a.last_ts.max(ts);
        a.parent = min_nonnull(a.parent, b.parent_agent[r]);
        a.tokens = a.tokens.saturating_add(tokens);
        if pre {
            a.pre_tokens = a.pre_tokens.saturating_add(tokens);
        }
        match kind {
            EventKind::Request => {
                a.first_request_ts = a.first_request_ts.min(ts);
                a.last_request_ts = a.last_request_ts.max(ts);
            }
            EventKind::AgentSpawn => a.spawn = a.spawn.min((ts, b.task_hash[r])),
            EventKind::ChangeAccepted => a.accepted = a.accepted.saturating_add(cnt),
            _ => {}
        }
    }
    match kind {
        EventKind::Request => {
            st.requests = st.requests.saturating_add(cnt);
            st.reqs.push(Req {
                ts,
                task: b.task_hash[r],
                tokens,
                input: inp,
            });
        }
        EventKind::AgentSpawn => {
            st.spawns = st.spawns.saturating_add(cnt);
            st.other_ts.push(ts);
            let task = b.task_hash[r];
            if task != NULL_HASH {
                st.spawn_tasks.push(task);
            }
        }
        EventKind::ContextLoad => {
            st.context_loads = st.context_loads.saturating_add(cnt);
            st.other_ts.push(ts);
            let ctx = b.context_hash[r];
            if ctx != NULL_HASH {
                st.loads.push(Load {
                    ctx,
                    ts,
                    input_side,
                    input: inp,
                });
            }
        }
        EventKind::ChangeAccepted => {
            st.other_ts.push(ts);
            st.accepted_gross = st.accepted_gross.saturating_add(cnt);
            let l = u64::from(b.lines[r]);
            st.lines_accepted = st.lines_accepted.saturating_add(l);
            if (1..=3).contains(&l) {
                st.trivial_changes = st.trivial_changes.saturating_add(1);
            }
            st.last_accept_ts = st.last_accept_ts.max(ts);
            st.accept_ts.push(ts);
        }
        EventKind::ChangeRejected => {
            st.other_ts.push(ts);
            st.rejected = st.rejected.saturating_add(cnt);
        }
        EventKind::ChangeReverted => {
            st.other_ts.push(ts);
            st.reverted = st.reverted.saturating_add(cnt);
            st.lines_reverted = st.lines_reverted.saturating_add(u64::from(b.lines[r]));
        }
    }
}
