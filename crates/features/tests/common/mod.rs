//! A small builder for hand-written event tables.
#![allow(dead_code)]

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt64Type, UInt8Type};
use goodhart_schema::{hash_str, EventBatch, EventKind, Names, Presence, NULL_HASH};

/// 2024-06-03 09:00 UTC, a Monday. The default snapshot (Friday 17:00 UTC)
/// after it is 2024-06-07 17:00 UTC, 4 days 8 hours later.
pub const T0: i64 = 1_717_405_200_000_000;
pub const MIN: i64 = 60_000_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone)]
pub struct Ev {
    pub ts: i64,
    pub user: String,
    pub session: String,
    pub kind: EventKind,
    pub agent: String,
    pub parent: String,
    pub model: String,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub task: String,
    pub ctx: String,
    pub change: String,
    pub lines: u32,
    pub cost_nanousd: i64,
}

/// An event `minute` minutes after [`T0`].
pub fn ev(user: &str, session: &str, minute: i64, kind: EventKind) -> Ev {
    Ev {
        ts: T0 + minute * MIN,
        user: user.into(),
        session: session.into(),
        kind,
        agent: String::new(),
        parent: String::new(),
        model: String::new(),
        input: 0,
        output: 0,
        cache_read: 0,
        cache_write: 0,
        task: String::new(),
        ctx: String::new(),
        change: String::new(),
        lines: 0,
        cost_nanousd: 0,
    }
}

impl Ev {
    pub fn at_us(mut self, ts: i64) -> Self {
        self.ts = ts;
        self
    }
    pub fn agent(mut self, a: &str) -> Self {
        self.agent = a.into();
        self
    }
    pub fn parent(mut self, p: &str) -> Self {
        self.parent = p.into();
        self
    }
    pub fn model(mut self, m: &str) -> Self {
        self.model = m.into();
        self
    }
    pub fn tokens(mut self, input: u64, output: u64, cache_read: u64, cache_write: u64) -> Self {
        self.input = input;
        self.output = output;
        self.cache_read = cache_read;
        self.cache_write = cache_write;
        self
    }
    pub fn task(mut self, t: &str) -> Self {
        self.task = t.into();
        self
    }
    pub fn ctx(mut self, c: &str) -> Self {
        self.ctx = c.into();
        self
    }
    pub fn lines(mut self, l: u32) -> Self {
        self.lines = l;
        self
    }
    pub fn cost(mut self, nanousd: i64) -> Self {
        self.cost_nanousd = nanousd;
        self
    }
}

fn h(s: &str) -> u64 {
    if s.is_empty() {
        NULL_HASH
    } else {
        hash_str(s)
    }
}

fn names_of<'a>(it: impl Iterator<Item = &'a str>) -> Vec<(u64, Box<str>)> {
    let mut v: Vec<(u64, Box<str>)> = it
        .filter(|s| !s.is_empty())
        .map(|s| (hash_str(s), s.into()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Builds a batch with the given presence.
pub fn batch_with(evs: &[Ev], presence: Presence) -> EventBatch {
    EventBatch {
        ts_us: evs.iter().map(|e| e.ts).collect(),
        user: evs.iter().map(|e| h(&e.user)).collect(),
        session: evs.iter().map(|e| h(&e.session)).collect(),
        kind: evs.iter().map(|e| e.kind).collect(),
        agent: evs.iter().map(|e| h(&e.agent)).collect(),
        parent_agent: evs.iter().map(|e| h(&e.parent)).collect(),
        model: evs.iter().map(|e| h(&e.model)).collect(),
        input_tokens: evs.iter().map(|e| e.input).collect(),
        output_tokens: evs.iter().map(|e| e.output).collect(),
        cache_read_tokens: evs.iter().map(|e| e.cache_read).collect(),
        cache_write_tokens: evs.iter().map(|e| e.cache_write).collect(),
        task_hash: evs.iter().map(|e| h(&e.task)).collect(),
        context_hash: evs.iter().map(|e| h(&e.ctx)).collect(),
        change_id: evs.iter().map(|e| h(&e.change)).collect(),
        lines: evs.iter().map(|e| e.lines).collect(),
        cost_nanousd: evs.iter().map(|e| e.cost_nanousd).collect(),
        n: Vec::new(),
        presence,
        names: Names {
            users: names_of(evs.iter().map(|e| e.user.as_str())),
            sessions: names_of(evs.iter().map(|e| e.session.as_str())),
            models: names_of(evs.iter().map(|e| e.model.as_str())),
        },
    }
}

/// Builds a batch with every optional column present.
pub fn batch(evs: &[Ev]) -> EventBatch {
    batch_with(evs, Presence::ALL)
}

/// Row index of a session in a session table.
pub fn row_of(t: &RecordBatch, session: &str) -> usize {
    let c = t
        .column_by_name("session_id")
        .expect("session_id")
        .as_string::<i32>();
    (0..t.num_rows())
        .find(|&i| c.value(i) == session)
        .unwrap_or_else(|| panic!("no session {session}"))
}

/// Row index of a user in a user table.
pub fn user_row(t: &RecordBatch, user: &str) -> usize {
    let c = t
        .column_by_name("user_id")
        .expect("user_id")
        .as_string::<i32>();
    (0..t.num_rows())
        .find(|&i| c.value(i) == user)
        .unwrap_or_else(|| panic!("no user {user}"))
}

fn col<'a>(t: &'a RecordBatch, name: &str) -> &'a dyn Array {
    t.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

/// A non-null UInt64 cell.
pub fn u(t: &RecordBatch, name: &str, row: usize) -> u64 {
    let c = col(t, name);
    assert!(!c.is_null(row), "{name}[{row}] is null");
    c.as_primitive::<UInt64Type>().value(row)
}

/// A non-null UInt8 cell.
pub fn u8v(t: &RecordBatch, name: &str, row: usize) -> u8 {
    col(t, name).as_primitive::<UInt8Type>().value(row)
}

/// A non-null Float64 cell.
pub fn fl(t: &RecordBatch, name: &str, row: usize) -> f64 {
    let c = col(t, name);
    assert!(!c.is_null(row), "{name}[{row}] is null");
    c.as_primitive::<Float64Type>().value(row)
}

/// A Boolean cell.
pub fn b(t: &RecordBatch, name: &str, row: usize) -> bool {
    col(t, name).as_boolean().value(row)
}

/// True when the cell is null.
pub fn is_null(t: &RecordBatch, name: &str, row: usize) -> bool {
    col(t, name).is_null(row)
}

/// Asserts two floats agree to 1e-9.
#[track_caller]
pub fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}
