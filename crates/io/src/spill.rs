//! Runs of validated events spilled to scratch files (Arrow IPC streams) and
//! read back: the storage of the bucketed feature pass, which splits an
//! organisation's events by user into buckets that are folded one at a time.
//!
//! A run is two IPC stream files: the events (one fixed-width column per
//! [`EventBatch`] field, one IPC batch per written part) and the names behind
//! their user, session and model hashes. Reading a run back gives
//! [`EventBatch`]es whose every row, name and the run's optional-column
//! presence are those written, so folding them gives exactly what folding the
//! original parts gives.

use crate::error::IoError;
use arrow::array::{
    ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use goodhart_schema::{EventBatch, EventKind, Names, Presence};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Where the rows of one run went, as [`RunWriter::finish`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRun {
    /// The events file (Arrow IPC stream).
    pub events: PathBuf,
    /// The names file (Arrow IPC stream).
    pub names: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Union of the optional-column presence of the parts written.
    pub presence: Presence,
}

fn spill_err(path: &Path, message: impl std::fmt::Display) -> IoError {
    IoError::Spill {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Columns of the events file, in [`EventBatch`] field order.
fn events_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let u64f = |n: &str| Field::new(n, DataType::UInt64, false);
        Arc::new(Schema::new(vec![
            Field::new("ts_us", DataType::Int64, false),
            u64f("user"),
            u64f("session"),
            Field::new("kind", DataType::UInt8, false),
            u64f("agent"),
            u64f("parent_agent"),
            u64f("model"),
            u64f("input_tokens"),
            u64f("output_tokens"),
            u64f("cache_read_tokens"),
            u64f("cache_write_tokens"),
            u64f("task_hash"),
            u64f("context_hash"),
            u64f("change_id"),
            Field::new("lines", DataType::UInt32, false),
            Field::new("cost_nanousd", DataType::Int64, false),
            // 0 for a single event, as `EventBatch::n` (an empty `n` is written as zeros).
            u64f("n"),
        ]))
    })
    .clone()
}

/// Columns of the names file: which list (0 users, 1 sessions, 2 models), hash, string.
fn names_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("list", DataType::UInt8, false),
            Field::new("hash", DataType::UInt64, false),
            Field::new("name", DataType::Utf8, false),
        ]))
    })
    .clone()
}

type Writer = StreamWriter<BufWriter<File>>;

/// Writes parts of [`EventBatch`]es (a subset of their rows) to one run.
pub struct RunWriter {
    events_path: PathBuf,
    names_path: PathBuf,
    events: Writer,
    names: Writer,
    rows: u64,
    presence: Presence,
}

impl std::fmt::Debug for RunWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunWriter")
            .field("events", &self.events_path)
            .field("names", &self.names_path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn open_writer(path: &Path, schema: &SchemaRef) -> Result<Writer, IoError> {
    let file = File::create(path).map_err(|e| spill_err(path, e))?;
    StreamWriter::try_new(BufWriter::with_capacity(1 << 16, file), schema)
        .map_err(|e| spill_err(path, e))
}

impl RunWriter {
    /// Creates the run's two files, `<stem>.events.arrows` and
    /// `<stem>.names.arrows` in `dir` (which must exist).
    pub fn create(dir: &Path, stem: &str) -> Result<RunWriter, IoError> {
        let events_path = dir.join(format!("{stem}.events.arrows"));
        let names_path = dir.join(format!("{stem}.names.arrows"));
        Ok(RunWriter {
            events: open_writer(&events_path, &events_schema())?,
            names: open_writer(&names_path, &names_schema())?,
            events_path,
            names_path,
            rows: 0,
            presence: Presence::default(),
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends rows `rows` of `b` (in that order), with the names of their
    /// users and sessions and every model name of `b`.
    pub fn write(&mut self, b: &EventBatch, rows: &[u32]) -> Result<(), IoError> {
        if rows.is_empty() {
            return Ok(());
        }
        let ix = || rows.iter().map(|&r| r as usize);
        let u64col =
            |c: &[u64]| -> ArrayRef { Arc::new(UInt64Array::from_iter_values(ix().map(|r| c[r]))) };
        let n: ArrayRef = if b.n.is_empty() {
            Arc::new(UInt64Array::from(vec![0u64; rows.len()]))
        } else {
            u64col(&b.n)
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(ix().map(|r| b.ts_us[r]))),
            u64col(&b.user),
            u64col(&b.session),
            Arc::new(UInt8Array::from_iter_values(ix().map(|r| b.kind[r] as u8))),
            u64col(&b.agent),
            u64col(&b.parent_agent),
            u64col(&b.model),
            u64col(&b.input_tokens),
            u64col(&b.output_tokens),
            u64col(&b.cache_read_tokens),
            u64col(&b.cache_write_tokens),
            u64col(&b.task_hash),
            u64col(&b.context_hash),
            u64col(&b.change_id),
            Arc::new(UInt32Array::from_iter_values(ix().map(|r| b.lines[r]))),
            Arc::new(Int64Array::from_iter_values(
                ix().map(|r| b.cost_nanousd[r]),
            )),
            n,
        ];
        let batch = RecordBatch::try_new(events_schema(), columns)
            .map_err(|e| spill_err(&self.events_path, e))?;
        self.events
            .write(&batch)
            .map_err(|e| spill_err(&self.events_path, e))?;

        // The names of these rows' users and sessions (runs of one session are
        // usual, so consecutive repeats are skipped before sorting).
        let mut users: Vec<u64> = Vec::new();
        let mut sessions: Vec<u64> = Vec::new();
        for r in ix() {
            if users.last() != Some(&b.user[r]) {
                users.push(b.user[r]);
            }
            if sessions.last() != Some(&b.session[r]) {
                sessions.push(b.session[r]);
            }
        }
        users.sort_unstable();
        users.dedup();
        sessions.sort_unstable();
        sessions.dedup();
        let pick = |list: &[(u64, Box<str>)], keep: &[u64]| -> Vec<(u64, Box<str>)> {
            list.iter()
                .filter(|(h, _)| keep.binary_search(h).is_ok())
                .cloned()
                .collect()
        };
        let parts = [
            pick(&b.names.users, &users),
            pick(&b.names.sessions, &sessions),
            b.names.models.clone(),
        ];
        let total: usize = parts.iter().map(Vec::len).sum();
        if total > 0 {
            let mut list = Vec::with_capacity(total);
            let mut hash = Vec::with_capacity(total);
            let mut name = Vec::with_capacity(total);
            for (k, part) in parts.iter().enumerate() {
                for (h, s) in part {
                    list.push(k as u8);
                    hash.push(*h);
                    name.push(&**s);
                }
            }
            let batch = RecordBatch::try_new(
                names_schema(),
                vec![
                    Arc::new(UInt8Array::from(list)),
                    Arc::new(UInt64Array::from(hash)),
                    Arc::new(StringArray::from(name)),
                ],
            )
            .map_err(|e| spill_err(&self.names_path, e))?;
            self.names
                .write(&batch)
                .map_err(|e| spill_err(&self.names_path, e))?;
        }
        self.rows += rows.len() as u64;
        self.presence = self.presence.union(b.presence);
        Ok(())
    }

    /// Flushes and closes both files.
    pub fn finish(self) -> Result<EventRun, IoError> {
        for (w, p) in [
            (self.events, &self.events_path),
            (self.names, &self.names_path),
        ] {
            // `into_inner` writes the end-of-stream marker and flushes.
            let buffered = w.into_inner().map_err(|e| spill_err(p, e))?;
            drop(buffered.into_inner().map_err(|e| spill_err(p, e.error()))?);
        }
        Ok(EventRun {
            events: self.events_path,
            names: self.names_path,
            rows: self.rows,
            presence: self.presence,
        })
    }
}

fn open_reader(path: &Path) -> Result<StreamReader<BufReader<File>>, IoError> {
    let file = File::open(path).map_err(|e| spill_err(path, e))?;
    StreamReader::try_new(BufReader::with_capacity(1 << 16, file), None)
        .map_err(|e| spill_err(path, e))
}

/// Reads a run's names (every part's, merged).
pub fn read_run_names(run: &EventRun) -> Result<Names, IoError> {
    let p = &run.names;
    let mut lists: [Vec<(u64, Box<str>)>; 3] = Default::default();
    for batch in open_reader(p)? {
        let batch = batch.map_err(|e| spill_err(p, e))?;
        let list = batch.column(0).as_primitive::<UInt8Type>();
        let hash = batch.column(1).as_primitive::<UInt64Type>();
        let name = batch.column(2).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let k = usize::from(list.value(i));
            let l = lists
                .get_mut(k)
                .ok_or_else(|| spill_err(p, format!("unknown names list {k}")))?;
            l.push((hash.value(i), name.value(i).into()));
        }
    }
    let mut names = Names::default();
    for (k, mut l) in lists.into_iter().enumerate() {
        // As `Names::merge` does: sorted by hash, one string per hash (the smaller).
        l.sort_unstable();
        l.dedup_by(|a, b| a.0 == b.0);
        let one = match k {
            0 => Names {
                users: l,
                ..Names::default()
            },
            1 => Names {
                sessions: l,
                ..Names::default()
            },
            _ => Names {
                models: l,
                ..Names::default()
            },
        };
        names.merge(one);
    }
    Ok(names)
}

/// Streams a run's events back, one [`EventBatch`] per part written, to `f`.
/// The batches carry the run's presence and no names (see [`read_run_names`]).
pub fn read_run_events(
    run: &EventRun,
    mut f: impl FnMut(EventBatch) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let p = &run.events;
    for batch in open_reader(p)? {
        let batch = batch.map_err(|e| spill_err(p, e))?;
        f(event_batch(&batch, run.presence, p)?)?;
    }
    Ok(())
}

fn event_batch(
    batch: &RecordBatch,
    presence: Presence,
    path: &Path,
) -> Result<EventBatch, IoError> {
    if batch.schema() != events_schema() {
        return Err(spill_err(
            path,
            "not an events run of this goodhart version",
        ));
    }
    let u = |i: usize| {
        batch
            .column(i)
            .as_primitive::<UInt64Type>()
            .values()
            .to_vec()
    };
    let i64c = |i: usize| {
        batch
            .column(i)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    };
    let kinds = batch.column(3).as_primitive::<UInt8Type>();
    let mut kind = Vec::with_capacity(kinds.len());
    for k in kinds.values() {
        kind.push(
            *EventKind::ALL
                .get(usize::from(*k))
                .ok_or_else(|| spill_err(path, format!("unknown event kind code {k}")))?,
        );
    }
    let n = u(16);
    Ok(EventBatch {
        ts_us: i64c(0),
        user: u(1),
        session: u(2),
        kind,
        agent: u(4),
        parent_agent: u(5),
        model: u(6),
        input_tokens: u(7),
        output_tokens: u(8),
        cache_read_tokens: u(9),
        cache_write_tokens: u(10),
        task_hash: u(11),
        context_hash: u(12),
        change_id: u(13),
        lines: batch
            .column(14)
            .as_primitive::<UInt32Type>()
            .values()
            .to_vec(),
        cost_nanousd: i64c(15),
        // All zeros is the no-aggregate case, which `EventBatch` spells as empty.
        n: if n.iter().all(|&k| k == 0) {
            Vec::new()
        } else {
            n
        },
        presence,
        names: Names::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use goodhart_schema::hash_str;

    fn batch() -> EventBatch {
        let n = 5;
        let users = ["ann", "bob", "ann", "cy", "bob"];
        let sessions = ["s1", "s2", "s1", "s3", "s4"];
        EventBatch {
            ts_us: (0..n).map(|i| 1_000 + i as i64).collect(),
            user: users.iter().map(|u| hash_str(u)).collect(),
            session: sessions.iter().map(|s| hash_str(s)).collect(),
            kind: vec![
                EventKind::Request,
                EventKind::AgentSpawn,
                EventKind::ChangeReverted,
                EventKind::ContextLoad,
                EventKind::Request,
            ],
            agent: vec![0, 7, 0, 0, 9],
            parent_agent: vec![0, 1, 0, 0, 0],
            model: vec![hash_str("m"); n],
            input_tokens: vec![1, 2, 3, 4, 5],
            output_tokens: vec![6, 7, 8, 9, 10],
            cache_read_tokens: vec![0, 1, 0, 1, 0],
            cache_write_tokens: vec![1, 0, 1, 0, 1],
            task_hash: vec![11, 12, 13, 14, 15],
            context_hash: vec![0, 0, 0, 21, 0],
            change_id: vec![0, 0, 31, 0, 0],
            lines: vec![0, 0, 4, 0, 0],
            cost_nanousd: vec![-1, 2, 3, 4, i64::MAX],
            n: vec![0, 3, 0, 0, 1],
            presence: Presence {
                task_hash: true,
                ..Presence::default()
            },
            names: Names {
                users: {
                    let mut v: Vec<(u64, Box<str>)> = ["ann", "bob", "cy"]
                        .iter()
                        .map(|u| (hash_str(u), (*u).into()))
                        .collect();
                    v.sort();
                    v
                },
                sessions: {
                    let mut v: Vec<(u64, Box<str>)> = ["s1", "s2", "s3", "s4"]
                        .iter()
                        .map(|u| (hash_str(u), (*u).into()))
                        .collect();
                    v.sort();
                    v
                },
                models: vec![(hash_str("m"), "m".into())],
            },
        }
    }

    #[test]
    fn a_run_gives_back_the_rows_and_names_written() {
        let dir = tempfile::tempdir().unwrap();
        let b = batch();
        let mut w = RunWriter::create(dir.path(), "r").unwrap();
        // Rows of ann and cy only, out of order.
        w.write(&b, &[3, 0, 2]).unwrap();
        w.write(&b, &[]).unwrap();
        let run = w.finish().unwrap();
        assert_eq!(run.rows, 3);
        let mut got = Vec::new();
        read_run_events(&run, |e| {
            got.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(e.ts_us, vec![1_003, 1_000, 1_002]);
        assert_eq!(
            e.user,
            vec![hash_str("cy"), hash_str("ann"), hash_str("ann")]
        );
        assert_eq!(
            e.kind,
            vec![
                EventKind::ContextLoad,
                EventKind::Request,
                EventKind::ChangeReverted
            ]
        );
        assert_eq!(e.cost_nanousd, vec![4, -1, 3]);
        assert_eq!(e.context_hash, vec![21, 0, 0]);
        assert_eq!(e.lines, vec![0, 0, 4]);
        // No aggregate row among them: `n` comes back empty, as normalize writes it.
        assert!(e.n.is_empty());
        assert_eq!(e.presence, b.presence);
        let names = read_run_names(&run).unwrap();
        assert_eq!(names.user(hash_str("ann")), Some("ann"));
        assert_eq!(names.user(hash_str("bob")), None);
        assert_eq!(names.session(hash_str("s3")), Some("s3"));
        assert_eq!(names.session(hash_str("s2")), None);
        assert_eq!(names.model(hash_str("m")), Some("m"));

        let mut w = RunWriter::create(dir.path(), "agg").unwrap();
        w.write(&b, &[1, 4]).unwrap();
        let run = w.finish().unwrap();
        read_run_events(&run, |e| {
            assert_eq!(e.n, vec![3, 1]);
            assert_eq!(e.cost_nanousd, vec![2, i64::MAX]);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_missing_run_names_the_file() {
        let run = EventRun {
            events: PathBuf::from("/nonexistent/x.events.arrows"),
            names: PathBuf::from("/nonexistent/x.names.arrows"),
            rows: 0,
            presence: Presence::default(),
        };
        let e = read_run_events(&run, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("x.events.arrows"), "{e}");
        assert!(e.to_string().contains("Fix:"), "{e}");
    }
}
