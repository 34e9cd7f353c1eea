//! Chunked import: results do not depend on the chunk size (how many source
//! bytes are held at once) nor on the thread count, and a duplicate whose
//! copies land in different chunks is still deduplicated, the better copy
//! winning even when it comes later.

mod common;
use common::*;
use goodhart_import::{import, Format, ImportOptions, ImportReport, UserPattern};
use std::path::{Path, PathBuf};

/// Imports `srcs` into `lake` with `chunk_bytes` on a pool of `threads`.
fn import_with(
    format: Format,
    srcs: &[PathBuf],
    lake: &Path,
    chunk_bytes: u64,
    threads: usize,
) -> ImportReport {
    import_indexed(format, srcs, lake, chunk_bytes, threads, u64::MAX)
}

/// [`import_with`] with a memory budget for the deduplication indexes.
fn import_indexed(
    format: Format,
    srcs: &[PathBuf],
    lake: &Path,
    chunk_bytes: u64,
    threads: usize,
    index_bytes: u64,
) -> ImportReport {
    let mut o = ImportOptions::new(format, srcs.to_vec(), lake.to_path_buf());
    o.chunk_bytes = chunk_bytes;
    o.index_bytes = index_bytes;
    match format {
        Format::ClaudeCode => {
            o.user_from_path = Some(UserPattern::parse("{user}/.claude/projects/**").unwrap());
        }
        Format::CursorCsv => o.user = Some("dana@corp.com".into()),
        _ => {}
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let r = pool.install(|| import(&o)).unwrap();
    assert!(r.balanced(), "accounting identity: {:#?}", r.files);
    r
}

/// Rows in a canonical order (part files may differ in name order only).
fn sorted_rows(lake: &Path) -> Vec<String> {
    let mut v: Vec<String> = rows(lake).iter().map(|r| format!("{r:?}")).collect();
    v.sort();
    v
}

/// The report without the lake path.
fn comparable(r: &ImportReport) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("lake");
    v
}

#[test]
fn every_format_gives_the_same_events_and_accounting_for_any_chunk_size_and_thread_count() {
    for format in Format::ALL {
        let src = [fixtures().join(format.name())];
        let dir = tempfile::tempdir().unwrap();
        let whole = import_with(format, &src, &dir.path().join("a"), u64::MAX, 2);
        let tiny = import_with(format, &src, &dir.path().join("b"), 1, 2);
        let one_thread = import_with(format, &src, &dir.path().join("c"), 1, 1);
        // An index budget of one record: every chunk spills a run.
        let spilled = import_indexed(format, &src, &dir.path().join("d"), 1, 2, 32);
        assert!(whole.totals.events.values().sum::<u64>() > 0, "{format}");
        assert_eq!(comparable(&whole), comparable(&tiny), "{format}");
        assert_eq!(comparable(&whole), comparable(&one_thread), "{format}");
        assert_eq!(comparable(&whole), comparable(&spilled), "{format}");
        let a = sorted_rows(&dir.path().join("a"));
        assert!(!a.is_empty(), "{format}");
        assert_eq!(a, sorted_rows(&dir.path().join("b")), "{format}");
        assert_eq!(a, sorted_rows(&dir.path().join("c")), "{format}");
        assert_eq!(a, sorted_rows(&dir.path().join("d")), "{format}");
        assert!(
            !dir.path().join("d/_imports/scratch").exists(),
            "{format}: the scratch directory is removed"
        );
        // Same part files too, so `goodhart scan` reads the same lake.
        let parts = |l: &str| -> Vec<String> {
            let base = dir.path().join(l);
            walk_files(&base.join("events"))
                .iter()
                .map(|p| p.strip_prefix(&base).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(parts("a"), parts("b"), "{format}");
    }
}

fn assistant(session: &str, side: bool, msg: &str, req: &str, out: u64, ts: &str) -> String {
    format!(
        r#"{{"isSidechain":{side},"userType":"external","cwd":"/w","sessionId":"{session}","version":"2.0.14","type":"assistant","uuid":"{msg}-{req}-{session}","timestamp":"{ts}","requestId":"{req}","message":{{"id":"{msg}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"ok"}}],"stop_reason":null,"usage":{{"input_tokens":10,"output_tokens":{out},"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}}}}"#
    )
}

#[test]
fn a_streaming_duplicate_spanning_two_chunks_is_deduplicated_and_the_later_better_copy_wins() {
    let dir = tempfile::tempdir().unwrap();
    let projects = dir.path().join("src/erin/.claude/projects");
    // p1 (first in path order): a sidechain replay of msg_x with a smaller
    // usage, and msg_y; p2: the main-chain msg_x (better: it must win even
    // though p1's chunk is written first) and the same msg_y again.
    let p1 = projects.join("-p1");
    let p2 = projects.join("-p2");
    std::fs::create_dir_all(&p1).unwrap();
    std::fs::create_dir_all(&p2).unwrap();
    std::fs::write(
        p1.join("s1.jsonl"),
        [
            assistant("s1", true, "msg_x", "req_x", 5, "2026-10-05T10:00:05.000Z"),
            assistant("s1", false, "msg_y", "req_y", 7, "2026-10-05T10:01:00.000Z"),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    std::fs::write(
        p2.join("s2.jsonl"),
        [
            assistant(
                "s2",
                false,
                "msg_x",
                "req_x",
                20,
                "2026-10-05T10:00:05.000Z",
            ),
            assistant("s2", false, "msg_y", "req_y", 7, "2026-10-05T10:01:00.000Z"),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let src = [dir.path().join("src")];
    let whole = import_with(Format::ClaudeCode, &src, &dir.path().join("a"), u64::MAX, 2);
    let tiny = import_with(Format::ClaudeCode, &src, &dir.path().join("b"), 1, 2);
    for (lake, r) in [("a", &whole), ("b", &tiny)] {
        let rows = rows(&dir.path().join(lake));
        assert_eq!(count(&rows, "request"), 2, "{lake}");
        let x: Vec<_> = rows.iter().filter(|r| r.event == "request").collect();
        // msg_x from s2 (output 20, main chain), msg_y from s1 (first seen).
        assert_eq!(x.iter().map(|r| r.output).sum::<i64>(), 27, "{lake}");
        assert!(
            x.iter().any(|r| r.output == 20 && r.session == "s2"),
            "{lake}"
        );
        assert!(
            x.iter().any(|r| r.output == 7 && r.session == "s1"),
            "{lake}"
        );
        assert_eq!(
            r.totals.skipped.get("duplicate_request"),
            Some(&2),
            "{lake}"
        );
        assert_eq!(r.totals.used, 2, "{lake}");
    }
    assert_eq!(comparable(&whole), comparable(&tiny));
    assert_eq!(
        sorted_rows(&dir.path().join("a")),
        sorted_rows(&dir.path().join("b"))
    );
    // A second run adds nothing, whatever the chunking.
    let again = import_with(Format::ClaudeCode, &src, &dir.path().join("b"), 1, 2);
    assert_eq!(again.totals.files_imported, 0);
    assert_eq!(count(&rows(&dir.path().join("b")), "request"), 2);
}

/// A small deterministic generator for the corpus below.
fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *s >> 33
}

/// Writes `sessions` transcripts under `root/projects`, drawing message ids
/// from a pool of `pool` shared by every file: streaming duplicates in the
/// same and in other files (with larger or smaller usage), sidechain
/// replays under a new request id. Returns the message ids written.
fn duplicate_heavy_corpus(
    root: &Path,
    tag: &str,
    sessions: usize,
    pool: u64,
    seed: u64,
) -> std::collections::BTreeSet<String> {
    let mut s = seed;
    let mut msgs = std::collections::BTreeSet::new();
    for f in 0..sessions {
        let dir = root.join(format!("projects/-{tag}{}", f % 4));
        std::fs::create_dir_all(&dir).unwrap();
        let session = format!("{tag}s{f}");
        let mut lines = Vec::new();
        for l in 0..25 {
            let m = lcg(&mut s) % pool;
            let msg = format!("msg_{m}");
            let side = lcg(&mut s).is_multiple_of(5);
            // A sidechain replay carries a request id of its own.
            let req = if side {
                format!("req_side_{m}_{f}")
            } else {
                format!("req_{m}")
            };
            let out = 1 + lcg(&mut s) % 50;
            let ts = format!("2026-10-0{}T10:{:02}:{:02}.000Z", 5 + m % 3, m % 60, l);
            lines.push(assistant(&session, side, &msg, &req, out, &ts));
            msgs.insert(msg);
        }
        std::fs::write(
            dir.join(format!("{session}.jsonl")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }
    msgs
}

/// Every import (report and rows) equals the first, unbounded one; no
/// scratch directory is left.
fn same_as_the_first(reports: &[ImportReport], budgets: &[u64], lake: &dyn Fn(usize) -> PathBuf) {
    for i in 1..budgets.len() {
        let b = budgets[i];
        assert_eq!(
            comparable(&reports[0]),
            comparable(&reports[i]),
            "budget {b}"
        );
        assert_eq!(sorted_rows(&lake(0)), sorted_rows(&lake(i)), "budget {b}");
        assert!(!lake(i).join("_imports/scratch").exists(), "budget {b}");
    }
}

#[test]
fn a_tiny_index_budget_spills_sorted_runs_and_gives_the_same_lake_across_two_imports() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("src/erin/.claude");
    let b = dir.path().join("src/frank/.claude");
    let msgs_a = duplicate_heavy_corpus(&a, "a", 24, 120, 3);
    // Budgets: unbounded, 32 bytes (one record: every chunk spills a run,
    // runs merge as they pile up), 4 KiB (spills every few chunks).
    let budgets = [u64::MAX, 32, 4096];
    let lake = |i: usize| dir.path().join(format!("lake{i}"));
    let mut first = Vec::new();
    for (i, &ib) in budgets.iter().enumerate() {
        // Chunks of one session each: duplicates span chunks and runs.
        let r = import_indexed(
            Format::ClaudeCode,
            std::slice::from_ref(&a),
            &lake(i),
            1,
            2,
            ib,
        );
        first.push(r);
    }
    let rows0 = rows(&lake(0));
    // One request per message id (key or sidechain group), whatever file
    // and chunk its copies are in.
    assert_eq!(count(&rows0, "request"), msgs_a.len());
    assert!(
        first[0]
            .totals
            .skipped
            .get("duplicate_request")
            .copied()
            .unwrap_or(0)
            > 100
    );
    same_as_the_first(&first, &budgets, &lake);
    // Second import: new transcripts re-using the same message ids (and
    // new ones), plus lines appended to one imported file. Earlier runs'
    // keys are read from `_imports/` into the (spilled) index.
    let msgs_b = duplicate_heavy_corpus(&b, "b", 16, 200, 11);
    let grown = a.join("projects/-a0/as0.jsonl");
    let mut t = std::fs::read_to_string(&grown).unwrap();
    t.push_str(&assistant(
        "as0",
        false,
        "msg_3",
        "req_3",
        99,
        "2026-10-05T11:00:00.000Z",
    ));
    t.push('\n');
    t.push_str(&assistant(
        "as0",
        false,
        "msg_new",
        "req_new",
        5,
        "2026-10-05T11:00:01.000Z",
    ));
    t.push('\n');
    std::fs::write(&grown, t).unwrap();
    let mut second = Vec::new();
    for (i, &ib) in budgets.iter().enumerate() {
        let r = import_indexed(
            Format::ClaudeCode,
            &[a.clone(), b.clone()],
            &lake(i),
            1,
            2,
            ib,
        );
        second.push(r);
    }
    let rows0 = rows(&lake(0));
    let mut all: std::collections::BTreeSet<String> = msgs_a.union(&msgs_b).cloned().collect();
    all.insert("msg_3".into());
    all.insert("msg_new".into());
    assert_eq!(count(&rows0, "request"), all.len());
    assert_eq!(second[0].totals.files_imported, 17);
    same_as_the_first(&second, &budgets, &lake);
    // A third identical run adds nothing.
    let again = import_indexed(Format::ClaudeCode, &[a, b], &lake(1), 1, 2, 32);
    assert_eq!(again.totals.files_imported, 0);
    assert_eq!(count(&rows(&lake(1)), "request"), all.len());
}

#[test]
fn a_scratch_directory_left_by_a_killed_run_is_removed_and_the_next_import_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("src/erin/.claude");
    let msgs = duplicate_heavy_corpus(&a, "a", 6, 40, 5);
    let lake = dir.path().join("lake");
    // What a run killed mid-way leaves: its scratch runs (pid 0 never runs
    // an import), and no manifest.
    let stale = lake.join("_imports/scratch/0-1-0");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("index-000001.run"), [7u8; 64]).unwrap();
    let r = import_indexed(Format::ClaudeCode, &[a], &lake, 1, 2, 32);
    assert_eq!(
        r.totals.events.get("request").copied(),
        Some(msgs.len() as u64)
    );
    assert_eq!(count(&rows(&lake), "request"), msgs.len());
    if cfg!(target_os = "linux") {
        assert!(!lake.join("_imports/scratch").exists());
    }
}
