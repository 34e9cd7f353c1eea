//! Exact counts for the cursor, cursor-csv, cursor-daily and openai-usage
//! fixtures (written by tests/fixtures/make_others.py).

mod common;
use common::*;
use goodhart_import::Format;

fn quarantine(f: &goodhart_import::FileReport) -> Vec<(u64, String)> {
    f.quarantine
        .iter()
        .map(|q| (q.line, q.reason.clone()))
        .collect()
}

#[test]
fn cursor_pages_tokens_cost_sessions_and_dedup_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = run(Format::Cursor, &[fixtures().join("cursor")], &lake, |_| {});
    let (p1, p2) = (&r.files[0], &r.files[1]);
    assert!(p1.file.ends_with("page-1.json"));
    assert_eq!((p1.records, p1.used), (7, 4));
    assert_eq!(
        quarantine(p1),
        [
            (5, "bad_timestamp".into()),
            (6, "negative_tokens".into()),
            (7, "missing_user".into())
        ]
    );
    assert_eq!((p2.records, p2.used, p2.skipped["duplicate"]), (2, 1, 1));
    let rows = rows(&lake);
    assert_eq!(
        users(&rows),
        ["alice@corp.com", "bob@corp.com"].map(String::from).into()
    );
    let alice: Vec<Row> = rows
        .iter()
        .filter(|r| r.user == "alice@corp.com")
        .cloned()
        .collect();
    assert_eq!(count(&alice, "request"), 4);
    assert_eq!(tokens(&alice), (111, 221, 1400, 300));
    let cost: f64 = alice.iter().filter_map(|r| r.cost).sum();
    assert!((cost - 0.1401).abs() < 1e-9, "{cost}");
    // The request without tokens has null tokens and no cost.
    assert_eq!(alice.iter().filter(|r| r.cost.is_none()).count(), 1);
    // 09:00, 09:10 | 11:10, 11:20 (idle gap 30 min).
    assert_eq!(sessions(&alice).len(), 2);
    assert_eq!(sessions(&rows).len(), 3);
    assert!(rows.iter().all(|r| r.n.is_none()));
}

#[test]
fn cursor_idle_gap_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    run(Format::Cursor, &[fixtures().join("cursor")], &lake, |o| {
        o.idle_gap_minutes = 180;
    });
    let rows = rows(&lake);
    assert_eq!(sessions(&rows).len(), 2); // alice's four requests are one session now
}

#[test]
fn cursor_csv_checks_the_token_sum_and_needs_a_user() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = run(
        Format::CursorCsv,
        &[fixtures().join("cursor-csv")],
        &lake,
        |o| o.user = Some("Alice@Corp.com".into()),
    );
    let f = &r.files[0];
    assert_eq!((f.records, f.used), (5, 3));
    assert_eq!(
        quarantine(f),
        [
            (3, "tokens_do_not_add_up".into()),
            (4, "bad_timestamp".into())
        ]
    );
    let rows = rows(&lake);
    assert_eq!(users(&rows), ["alice@corp.com".to_string()].into());
    assert_eq!(count(&rows, "request"), 3);
    assert_eq!(tokens(&rows), (151, 226, 400, 300));
    assert_eq!(sessions(&rows).len(), 2);
    let cost: f64 = rows.iter().filter_map(|r| r.cost).sum();
    assert!((cost - 0.13).abs() < 1e-9);
}

#[test]
fn cursor_daily_writes_aggregate_rows_with_n() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = run(
        Format::CursorDaily,
        &[fixtures().join("cursor-daily")],
        &lake,
        |_| {},
    );
    let f = &r.files[0];
    assert_eq!((f.records, f.used, f.skipped["no_activity"]), (3, 1, 1));
    assert_eq!(quarantine(f), [(3, "bad_timestamp".into())]);
    let rows = rows(&lake);
    assert_eq!(rows.len(), 3);
    let get = |e: &str| rows.iter().find(|r| r.event == e).unwrap();
    assert_eq!(get("request").n, Some(10));
    assert_eq!(get("change_accepted").n, Some(4));
    assert_eq!(get("change_accepted").lines, Some(40));
    assert_eq!(get("change_rejected").n, Some(1));
    assert_eq!(sessions(&rows).len(), 1);
    // The lake passes schema v1.1 validation, n included.
    let v = goodhart_io::validate(&lake.join("events"), None, None).unwrap();
    assert_eq!((v.counts.rows_read, v.counts.rows_quarantined), (3, 0));
}

#[test]
fn openai_usage_subtracts_cached_input_and_counts_requests() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = run(
        Format::OpenaiUsage,
        &[fixtures().join("openai-usage")],
        &lake,
        |_| {},
    );
    let f = &r.files[0];
    assert_eq!((f.records, f.used), (5, 2));
    assert_eq!(
        (f.skipped["empty_result"], f.skipped["empty_bucket"]),
        (1, 1)
    );
    assert_eq!(quarantine(f), [(3, "cached_above_input".into())]);
    let rows = rows(&lake);
    let alice = rows.iter().find(|r| r.user == "user-alice").unwrap();
    assert_eq!(
        (alice.input, alice.cache_read, alice.output, alice.n),
        (400, 600, 300, Some(4))
    );
    let ci = rows.iter().find(|r| r.user == "key_ci").unwrap();
    assert_eq!((ci.input, ci.output, ci.n), (50, 10, Some(1)));
    assert_eq!(r.unmapped_ids, ["key_ci", "user-alice"]);
}

#[test]
fn new_pages_add_only_their_events_and_a_second_run_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cursor");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        fixtures().join("cursor/page-1.json"),
        src.join("page-1.json"),
    )
    .unwrap();
    let lake = dir.path().join("lake");
    run(Format::Cursor, std::slice::from_ref(&src), &lake, |_| {});
    assert_eq!(rows(&lake).len(), 4);
    std::fs::copy(
        fixtures().join("cursor/page-2.json"),
        src.join("page-2.json"),
    )
    .unwrap();
    let r = run(Format::Cursor, std::slice::from_ref(&src), &lake, |_| {});
    assert_eq!(r.files[0].status, "unchanged");
    assert_eq!(r.files[1].status, "new");
    assert_eq!(r.totals.events["request"], 1);
    assert_eq!(rows(&lake).len(), 5);
    let r = run(Format::Cursor, &[src], &lake, |_| {});
    assert!(r.totals.events.is_empty());
    assert_eq!(rows(&lake).len(), 5);
}

#[test]
fn copilot_user_days_become_aggregate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = run(
        Format::Copilot,
        &[fixtures().join("copilot")],
        &lake,
        |_| {},
    );
    let f = &r.files[0];
    assert_eq!((f.records, f.used, f.skipped["no_activity"]), (5, 2, 1));
    assert_eq!(
        quarantine(f),
        [
            (3, "missing_timestamp".into()),
            (5, "malformed_json".into())
        ]
    );
    let rows = rows(&lake);
    assert_eq!(rows.len(), 4);
    assert_eq!(users(&rows), ["42", "OctoCat"].map(String::from).into());
    let octo: Vec<&Row> = rows.iter().filter(|r| r.user == "OctoCat").collect();
    let reqs: Vec<(Option<i64>, i64, i64)> = octo
        .iter()
        .filter(|r| r.event == "request")
        .map(|r| (r.n, r.input, r.output))
        .collect();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.contains(&(Some(6), 0, 0)));
    assert!(reqs.contains(&(Some(2), 3800, 5000)));
    let acc = octo.iter().find(|r| r.event == "change_accepted").unwrap();
    assert_eq!((acc.n, acc.lines), (Some(3), Some(32)));
    assert_eq!(sessions(&rows).len(), 2);
}

#[test]
fn anthropic_usage_sums_cache_writes_and_marks_rows_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = run(
        Format::AnthropicUsage,
        &[fixtures().join("anthropic-usage")],
        &lake,
        |_| {},
    );
    let (p1, p2) = (&r.files[0], &r.files[1]);
    assert!(p1.file.ends_with("messages-page-1.json"));
    assert_eq!((p1.records, p1.used), (8, 3));
    assert_eq!(
        (p1.skipped["empty_result"], p1.skipped["empty_bucket"]),
        (1, 1)
    );
    assert_eq!(
        quarantine(p1),
        [
            (5, "negative_tokens".into()),
            (6, "missing_user".into()),
            (7, "bad_timestamp".into())
        ]
    );
    // Page 2, one page per line: a duplicate of page 1, a malformed line
    // (record 2 on file line 2), then a new result.
    assert_eq!((p2.records, p2.used, p2.skipped["duplicate"]), (3, 1, 1));
    assert_eq!(quarantine(p2), [(2, "malformed_json".into())]);
    assert_eq!(p2.quarantine[0].source_line, Some(2));

    let rows = rows(&lake);
    assert_eq!(rows.len(), 4);
    assert_eq!(
        users(&rows),
        ["apikey_alice", "apikey_bob", "apikey_ci"]
            .map(String::from)
            .into()
    );
    // Cache writes = 1h + 5m; uncached input as it is; string counts coerced;
    // a missing cache_creation block is no cache write.
    let by_day = by_date(&rows);
    assert_eq!(by_day["2026-10-05"], (145, 62, 2000, 510));
    assert_eq!(by_day["2026-10-08"], (10, 40, 20, 30));
    let ci = rows.iter().find(|r| r.user == "apikey_ci").unwrap();
    assert_eq!(
        (ci.input, ci.output, ci.cache_read, ci.cache_write),
        (40, 7, 0, 10)
    );
    // No request count in the report: every row is an aggregate with n = 1.
    assert!(rows.iter().all(|r| r.n == Some(1) && r.event == "request"));
    assert!(rows.iter().all(|r| r.cost.is_none()));
    assert_eq!(sessions(&rows).len(), 3);
    assert_eq!(r.totals.tokens_by_day["2026-10-05"].cache_write, 510);
    let v = goodhart_io::validate(&lake.join("events"), None, None).unwrap();
    assert_eq!((v.counts.rows_read, v.counts.rows_quarantined), (4, 0));
}

#[test]
fn anthropic_usage_new_pages_add_only_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("anthropic");
    std::fs::create_dir_all(&src).unwrap();
    let fx = fixtures().join("anthropic-usage");
    std::fs::copy(
        fx.join("messages-page-1.json"),
        src.join("messages-page-1.json"),
    )
    .unwrap();
    let lake = dir.path().join("lake");
    run(
        Format::AnthropicUsage,
        std::slice::from_ref(&src),
        &lake,
        |_| {},
    );
    assert_eq!(rows(&lake).len(), 3);
    std::fs::copy(
        fx.join("messages-page-2.jsonl"),
        src.join("messages-page-2.jsonl"),
    )
    .unwrap();
    let r = run(
        Format::AnthropicUsage,
        std::slice::from_ref(&src),
        &lake,
        |_| {},
    );
    assert_eq!(r.files[0].status, "unchanged");
    assert_eq!(r.files[1].status, "new");
    // Page 2 repeats one row of page 1 (dropped against the earlier run).
    assert_eq!(r.totals.events["request"], 1);
    assert_eq!(r.files[1].skipped["duplicate"], 1);
    assert_eq!(rows(&lake).len(), 4);
    let r = run(Format::AnthropicUsage, &[src], &lake, |_| {});
    assert!(r.totals.events.is_empty());
    assert_eq!(rows(&lake).len(), 4);
}
