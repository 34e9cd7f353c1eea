//! Helpers shared by the import tests: copy fixtures, import, read the lake back.
#![allow(dead_code)]

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use goodhart_import::{import, Format, ImportOptions, ImportReport};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Copies a fixture directory into `dst` (so tests can modify it).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

pub fn run(
    format: Format,
    srcs: &[PathBuf],
    lake: &Path,
    f: impl FnOnce(&mut ImportOptions),
) -> ImportReport {
    let mut o = ImportOptions::new(format, srcs.to_vec(), lake.to_path_buf());
    f(&mut o);
    let r = import(&o).unwrap();
    assert!(r.balanced(), "accounting identity: {:#?}", r.files);
    r
}

/// One row of the lake, as strings and numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub ts_us: i64,
    pub date: String,
    pub source: String,
    pub user: String,
    pub session: String,
    pub event: String,
    pub agent: Option<String>,
    pub parent: Option<String>,
    pub model: Option<String>,
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write: i64,
    pub task_hash: Option<String>,
    pub context_hash: Option<String>,
    pub change_id: Option<String>,
    pub lines: Option<i64>,
    pub cost: Option<f64>,
    pub n: Option<i64>,
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            parquet_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

/// Every event row of the lake.
pub fn rows(lake: &Path) -> Vec<Row> {
    let mut files = Vec::new();
    parquet_files(&lake.join("events"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let s = f.to_string_lossy().to_string();
        let date = s.split("date=").nth(1).unwrap()[..10].to_string();
        let source = s
            .split("source=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        for b in goodhart_io::read_parquet(&f).unwrap() {
            let st = |n: &str, i: usize| {
                let c = b.column_by_name(n)?;
                let c = c.as_string::<i32>();
                (!c.is_null(i)).then(|| c.value(i).to_string())
            };
            let it = |n: &str, i: usize| {
                let c = b.column_by_name(n)?;
                let c = c.as_primitive::<Int64Type>();
                (!c.is_null(i)).then(|| c.value(i))
            };
            let ts = b
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            let cost = b
                .column_by_name("cost_usd")
                .unwrap()
                .as_primitive::<arrow::datatypes::Float64Type>();
            for i in 0..b.num_rows() {
                out.push(Row {
                    ts_us: ts.value(i),
                    date: date.clone(),
                    source: source.clone(),
                    user: st("user_id", i).unwrap(),
                    session: st("session_id", i).unwrap(),
                    event: st("event", i).unwrap(),
                    agent: st("agent_id", i),
                    parent: st("parent_agent_id", i),
                    model: st("model", i),
                    input: it("input_tokens", i).unwrap_or(0),
                    output: it("output_tokens", i).unwrap_or(0),
                    cache_read: it("cache_read_tokens", i).unwrap_or(0),
                    cache_write: it("cache_write_tokens", i).unwrap_or(0),
                    task_hash: st("task_hash", i),
                    context_hash: st("context_hash", i),
                    change_id: st("change_id", i),
                    lines: it("lines", i),
                    cost: (!cost.is_null(i)).then(|| cost.value(i)),
                    n: it("n", i),
                });
            }
        }
    }
    out
}

pub fn count(rows: &[Row], event: &str) -> usize {
    rows.iter().filter(|r| r.event == event).count()
}

/// (input, output, cache_read, cache_write) over the requests of `rows`.
pub fn tokens(rows: &[Row]) -> (i64, i64, i64, i64) {
    rows.iter().fold((0, 0, 0, 0), |a, r| {
        (
            a.0 + r.input,
            a.1 + r.output,
            a.2 + r.cache_read,
            a.3 + r.cache_write,
        )
    })
}

pub fn users(rows: &[Row]) -> BTreeSet<String> {
    rows.iter().map(|r| r.user.clone()).collect()
}

pub fn sessions(rows: &[Row]) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|r| (r.user.clone(), r.session.clone()))
        .collect()
}

pub fn by_date(rows: &[Row]) -> BTreeMap<String, (i64, i64, i64, i64)> {
    let mut m = BTreeMap::new();
    for r in rows {
        let e = m.entry(r.date.clone()).or_insert((0, 0, 0, 0));
        e.0 += r.input;
        e.1 += r.output;
        e.2 += r.cache_read;
        e.3 += r.cache_write;
    }
    m
}

/// Every file under `dir`, recursively.
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
