//! `claude-code` import of the fixtures in tests/fixtures/claude-code
//! (written by tests/fixtures/make_claude_code.py; each line's expected
//! outcome is commented there).

mod common;
use common::*;
use goodhart_import::{Format, UserPattern};

fn import_all(lake: &std::path::Path, root: &std::path::Path) -> goodhart_import::ImportReport {
    run(
        Format::ClaudeCode,
        &[
            root.join("alice/.claude"),
            root.join("bob/.claude/projects"),
        ],
        lake,
        |o| o.user_from_path = Some(UserPattern::parse("{user}/.claude/projects/**").unwrap()),
    )
}

fn file<'a>(r: &'a goodhart_import::ImportReport, end: &str) -> &'a goodhart_import::FileReport {
    r.files.iter().find(|f| f.file.ends_with(end)).unwrap()
}

#[test]
fn counts_tokens_spawns_loads_changes_sessions_and_users_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = import_all(&lake, &fixtures().join("claude-code"));
    assert_eq!(r.files.len(), 5);
    let rows = rows(&lake);

    let alice: Vec<Row> = rows.iter().filter(|r| r.user == "alice").cloned().collect();
    let bob: Vec<Row> = rows.iter().filter(|r| r.user == "bob").cloned().collect();
    assert_eq!(users(&rows), ["alice", "bob"].map(String::from).into());
    assert_eq!(alice.len() + bob.len(), rows.len());

    // Alice: 8 requests (a1..a5, s1 once though written twice, s2, s3).
    assert_eq!(count(&alice, "request"), 8);
    assert_eq!(tokens(&alice), (35, 183, 4830, 1300));
    assert_eq!(count(&alice, "agent_spawn"), 1);
    let spawn = alice.iter().find(|r| r.event == "agent_spawn").unwrap();
    assert_eq!(spawn.agent.as_deref(), Some("a1")); // from toolUseResult.agentId
    assert_eq!(spawn.parent, None);
    assert!(spawn.task_hash.as_ref().is_some_and(|h| h.len() == 32));
    // Sub-agent requests belong to a1: s1 (mirror), s2, s3.
    let sub: Vec<&Row> = alice
        .iter()
        .filter(|r| r.event == "request" && r.agent.as_deref() == Some("a1"))
        .collect();
    assert_eq!(sub.len(), 3);
    // Two Read results of the same file and content (one main, one sub-agent) + one compaction.
    assert_eq!(count(&alice, "context_load"), 3);
    let loads: Vec<&String> = alice
        .iter()
        .filter(|r| r.event == "context_load")
        .filter_map(|r| r.context_hash.as_ref())
        .collect();
    assert_eq!(loads.len(), 3);
    let distinct: std::collections::BTreeSet<_> = loads.iter().collect();
    assert_eq!(
        distinct.len(),
        2,
        "same path + content = same context hash; the compaction is unique"
    );
    assert_eq!(count(&alice, "change_accepted"), 1);
    let ch = alice.iter().find(|r| r.event == "change_accepted").unwrap();
    assert_eq!(ch.lines, Some(3));
    assert_eq!(ch.change_id.as_deref(), Some("toolu_e1"));
    assert_eq!(count(&alice, "change_rejected"), 1);
    assert_eq!(
        sessions(&alice),
        [("alice".to_string(), "sess-a".to_string())].into()
    );
    // Prompts and contexts are keyed hashes, never text.
    for r in &alice {
        for h in [&r.task_hash, &r.context_hash].into_iter().flatten() {
            assert_eq!(h.len(), 32);
            assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
    // The first request answers the prompt; a2 answers the Read result: different hashes.
    let req = |i: i64| {
        alice
            .iter()
            .find(|r| r.event == "request" && r.input == i)
            .unwrap()
    };
    assert_ne!(req(10).task_hash, req(5).task_hash);
    assert!(req(10).task_hash.is_some());

    // Bob: b1 (larger duplicate wins), b2 (sidechain), b3, b4 (old agent file), c1.
    assert_eq!(count(&bob, "request"), 5);
    assert_eq!(tokens(&bob), (231, 68, 44, 13));
    let b1: Vec<&Row> = bob.iter().filter(|r| r.input == 100).collect();
    assert_eq!(b1.len(), 1);
    assert_eq!(b1[0].output, 25);
    assert_eq!(b1[0].session, "sess-b");
    assert_eq!(
        bob.iter().find(|r| r.input == 60).unwrap().agent.as_deref(),
        Some("b1")
    );
    assert_eq!(
        bob.iter().find(|r| r.input == 50).unwrap().agent.as_deref(),
        Some("sidechain")
    );
    assert_eq!(
        sessions(&bob),
        [
            ("bob".to_string(), "sess-b".to_string()),
            ("bob".to_string(), "sess-c".to_string())
        ]
        .into()
    );
    // Per-day totals (UTC dates): what ccusage daily reports with TZ=UTC.
    let days = by_date(&bob);
    assert_eq!(days["2026-10-06"], (150, 30, 0, 0));
    assert_eq!(days["2026-10-07"], (81, 38, 44, 13));

    // Accounting per file.
    let a = file(&r, "sess-a.jsonl");
    assert_eq!((a.records, a.used, a.quarantined), (20, 10, 3));
    let q: Vec<(u64, &str)> = a
        .quarantine
        .iter()
        .map(|q| (q.line, q.reason.as_str()))
        .collect();
    assert_eq!(
        q,
        [
            (10, "malformed_json"),
            (18, "negative_tokens"),
            (19, "missing_timestamp")
        ]
    );
    for (k, v) in [
        ("summary", 1),
        ("user_prompt", 1),
        ("duplicate_request", 1),
        ("tool_result", 1),
        ("compact_summary", 1),
        ("synthetic_message", 1),
        ("file-history-snapshot", 1),
    ] {
        assert_eq!(a.skipped.get(k), Some(&v), "{k}");
    }
    let s = file(&r, "agent-a1.jsonl");
    assert_eq!(
        (
            s.records,
            s.used,
            s.skipped["duplicate_request"],
            s.skipped["user_prompt"]
        ),
        (5, 3, 1, 1)
    );
    let b = file(&r, "sess-b.jsonl");
    assert_eq!(
        (b.records, b.used, b.skipped["duplicate_request"]),
        (6, 3, 2)
    );
    let c = file(&r, "sess-c.jsonl");
    // The unterminated last line is still being written: not read yet.
    assert_eq!(
        (
            c.records,
            c.used,
            c.skipped["duplicate_request"],
            c.skipped["blank_line"]
        ),
        (4, 1, 1, 1)
    );
    assert!(r.warnings.iter().any(|w| w.contains("fixed key")));
}

#[test]
fn lake_passes_validation_and_reimport_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let root = fixtures().join("claude-code");
    import_all(&lake, &root);
    let first = rows(&lake);
    let v = goodhart_io::validate(&lake.join("events"), None, None).unwrap();
    assert_eq!(v.counts.rows_read, first.len() as u64);
    assert_eq!(v.counts.rows_quarantined, 0);
    let again = import_all(&lake, &root);
    assert!(again.files.iter().all(|f| f.status == "unchanged"));
    assert!(again.totals.events.is_empty());
    assert_eq!(rows(&lake), first);
}

#[test]
fn appended_lines_add_only_new_events_and_rewrites_replace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    copy_dir(&fixtures().join("claude-code"), &root);
    let lake = dir.path().join("lake");
    import_all(&lake, &root);
    let before = rows(&lake);

    // Finish the half-written line of sess-c and append a new response plus
    // a streaming duplicate of an old one.
    let c = root.join("bob/.claude/projects/-home-bob-web/sess-c.jsonl");
    let mut text = std::fs::read_to_string(&c).unwrap();
    text.push_str(r#"amp":"2026-10-07T09:00:00Z","sessionId":"sess-c","requestId":"req_c2","message":{"id":"msg_c2","model":"m","usage":{"input_tokens":9,"output_tokens":1}}}"#);
    text.push('\n');
    text.push_str(r#"{"type":"assistant","timestamp":"2026-10-07T09:00:00Z","sessionId":"sess-c","requestId":"req_c1","message":{"id":"msg_c1","model":"m","usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":3,"cache_read_input_tokens":4}}}"#);
    text.push('\n');
    std::fs::write(&c, text).unwrap();
    let r = import_all(&lake, &root);
    let f = file(&r, "sess-c.jsonl");
    assert_eq!(f.status, "appended");
    assert_eq!(
        (f.records, f.used, f.skipped["duplicate_request"]),
        (2, 1, 1)
    );
    assert_eq!(f.events["request"], 1);
    let after = rows(&lake);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(tokens(&after).0, tokens(&before).0 + 9);

    // A second identical run adds nothing.
    let r = import_all(&lake, &root);
    assert!(r.totals.events.is_empty());
    assert_eq!(rows(&lake).len(), after.len());

    // Rewrite agent-b1.jsonl with different history: its old request is replaced.
    let b1 = root.join("bob/.claude/projects/-home-bob-web/agent-b1.jsonl");
    std::fs::write(&b1, concat!(
        r#"{"type":"assistant","isSidechain":true,"timestamp":"2026-10-07T00:20:00Z","sessionId":"sess-b","requestId":"req_b9","message":{"id":"msg_b9","model":"m","usage":{"input_tokens":7,"output_tokens":7}}}"#,
        "\n"
    )).unwrap();
    let r = import_all(&lake, &root);
    assert_eq!(file(&r, "agent-b1.jsonl").status, "rewritten");
    let now = rows(&lake);
    assert_eq!(now.len(), after.len());
    assert_eq!(tokens(&now).0, tokens(&after).0 - 60 + 7);
    assert!(now.iter().all(|r| r.input != 60));
}

#[test]
fn user_option_and_identity_map_and_key_env() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let ids = dir.path().join("ids.csv");
    std::fs::write(
        &ids,
        "source,source_id,user_id\nclaude-code,Ana@Corp.COM,u-ana\n",
    )
    .unwrap();
    std::env::set_var("GOODHART_TEST_IMPORT_KEY", "k1");
    let r = run(
        Format::ClaudeCode,
        &[fixtures().join("claude-code/bob")],
        &lake,
        |o| {
            o.user = Some("ana@corp.com".into());
            o.identities = goodhart_import::IdentityMap::from_csv(&ids).unwrap();
            o.hash_key_from_env("GOODHART_TEST_IMPORT_KEY").unwrap();
        },
    );
    assert_eq!(r.users, ["u-ana"]);
    assert!(r.unmapped_ids.is_empty());
    assert_eq!(r.hash_key, "env:GOODHART_TEST_IMPORT_KEY");
    assert!(r.warnings.is_empty());
    assert!(users(&rows(&lake)).iter().all(|u| u == "u-ana"));
}

#[test]
fn unreadable_source_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope/sess.jsonl");
    let mut o = goodhart_import::ImportOptions::new(
        Format::ClaudeCode,
        vec![missing.clone()],
        dir.path().join("lake"),
    );
    o.user = Some("x".into());
    let e = goodhart_import::import(&o).unwrap_err();
    assert!(e.is_user_error());
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
}
