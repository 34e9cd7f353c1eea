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
    let mut o = ImportOptions::new(format, srcs.to_vec(), lake.to_path_buf());
    o.chunk_bytes = chunk_bytes;
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
        assert!(whole.totals.events.values().sum::<u64>() > 0, "{format}");
        assert_eq!(comparable(&whole), comparable(&tiny), "{format}");
        assert_eq!(comparable(&whole), comparable(&one_thread), "{format}");
        let a = sorted_rows(&dir.path().join("a"));
        assert!(!a.is_empty(), "{format}");
        assert_eq!(a, sorted_rows(&dir.path().join("b")), "{format}");
        assert_eq!(a, sorted_rows(&dir.path().join("c")), "{format}");
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
