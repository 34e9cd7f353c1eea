//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The committed sample dataset.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample")
}

/// A `goodhart` command with a clean environment for credentials.
pub fn goodhart() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_goodhart"));
    c.env_remove("RAYON_NUM_THREADS");
    c
}

/// Runs and returns the output, printing it on failure to help debugging.
pub fn run(c: &mut Command) -> Output {
    let out = c.output().expect("the goodhart binary runs");
    if std::env::var_os("GOODHART_TEST_VERBOSE").is_some() {
        eprintln!("stdout:\n{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

/// Exit code, stdout, stderr.
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Reads a whole Parquet file.
pub fn read_parquet(path: &Path) -> arrow::array::RecordBatch {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let schema = arrow::array::RecordBatchReader::schema(&r);
    let batches: Vec<_> = r.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// The alerts of an `alerts.jsonl`.
pub fn read_alerts(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

/// Runs `goodhart scan data/sample` into fresh output and state directories.
pub fn scan_sample(out: &Path, state: &Path, extra: &[&str]) -> Output {
    run(goodhart()
        .arg("scan")
        .arg(sample())
        .arg("--out")
        .arg(out)
        .arg("--state")
        .arg(state)
        .args(extra))
}

/// The sample's window moved one night on (the same days, plus the next).
pub const NEXT_NIGHT: [&str; 4] = ["--as-of", "2026-10-16", "--window", "16d"];

/// Rows of every Parquet file under `dir/events` (or `dir` itself when it is a
/// file), read from the files' footers: a count independent of goodhart's
/// own ingest, for the "nothing is lost" checks.
pub fn footer_rows(path: &Path) -> u64 {
    fn walk(p: &Path, total: &mut u64) {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, total);
            }
        } else if p.extension().is_some_and(|e| e == "parquet") {
            let f = std::fs::File::open(p).unwrap();
            let meta = parquet::file::reader::FileReader::metadata(
                &parquet::file::serialized_reader::SerializedFileReader::new(f).unwrap(),
            )
            .file_metadata()
            .num_rows();
            *total += u64::try_from(meta).unwrap();
        }
    }
    let events = path.join("events");
    let root = if events.is_dir() {
        events
    } else {
        path.to_path_buf()
    };
    let mut total = 0;
    walk(&root, &mut total);
    total
}

/// Copies directory `from` (recursively) to `to`, replacing it; a missing
/// `from` (a state directory before its first run) gives an empty `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    std::fs::create_dir_all(to).unwrap();
    if !from.exists() {
        return;
    }
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        // A state directory also holds the rolling backups and the feature cache.
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
