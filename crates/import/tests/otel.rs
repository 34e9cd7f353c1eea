//! `claude-code-otel` and `otel-genai`: exact counts for the OTLP JSON
//! fixtures written by tests/fixtures/make_otel.py (each record's expected
//! outcome is commented there).

mod common;
use common::*;
use goodhart_import::Format;

fn quarantine(f: &goodhart_import::FileReport) -> Vec<(u64, Option<u64>, String)> {
    f.quarantine
        .iter()
        .map(|q| (q.line, q.source_line, q.reason.clone()))
        .collect()
}

#[test]
fn claude_code_otel_events_become_requests_spawns_changes_and_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let src = fixtures().join("claude-code-otel/logs.jsonl");
    let r = run(Format::ClaudeCodeOtel, &[src], &lake, |_| {});
    let f = &r.files[0];
    assert_eq!((f.records, f.used), (21, 10));
    assert_eq!(f.skipped["user_prompt"], 2);
    assert_eq!(f.skipped["duplicate"], 2); // a decision sent twice, a request exported twice
    assert_eq!(f.skipped["tool_decision"], 1);
    assert_eq!(f.skipped["api_error"], 1);
    assert_eq!(f.skipped["other_signal"], 1);
    assert_eq!(
        quarantine(f),
        [
            (7, Some(2), "malformed_json".into()),
            (14, Some(3), "negative_tokens".into()),
            (16, Some(3), "missing_event_name".into()),
            (18, Some(3), "bad_timestamp".into()),
        ]
    );
    let rows = rows(&lake);
    assert_eq!(
        users(&rows),
        ["alice@corp.com", "uuid-bob"].map(String::from).into()
    );
    let alice: Vec<Row> = rows
        .iter()
        .filter(|r| r.user == "alice@corp.com")
        .cloned()
        .collect();
    let reqs: Vec<&Row> = alice.iter().filter(|r| r.event == "request").collect();
    assert_eq!(reqs.len(), 5);
    // String-typed attribute values are coerced; input excludes the cache.
    assert_eq!(tokens(&alice), (140, 41, 2200, 300));
    let cost: f64 = alice.iter().filter_map(|r| r.cost).sum();
    assert!((cost - 0.016).abs() < 1e-12, "{cost}");
    // Sub-agent calls: by agent.id, by query_source; main otherwise.
    let by_agent = |a: Option<&str>| reqs.iter().filter(|r| r.agent.as_deref() == a).count();
    assert_eq!(
        (
            by_agent(None),
            by_agent(Some("toolu_a1")),
            by_agent(Some("agent:explore"))
        ),
        (3, 1, 1)
    );
    let spawn: Vec<&Row> = alice.iter().filter(|r| r.event == "agent_spawn").collect();
    assert_eq!(spawn.len(), 1);
    assert_eq!(
        (spawn[0].agent.as_deref(), spawn[0].parent.as_deref()),
        (Some("toolu_a1"), None)
    );
    assert!(spawn[0].task_hash.as_ref().is_some_and(|h| h.len() == 32));
    let acc: Vec<&Row> = alice
        .iter()
        .filter(|r| r.event == "change_accepted")
        .collect();
    let rej: Vec<&Row> = alice
        .iter()
        .filter(|r| r.event == "change_rejected")
        .collect();
    assert_eq!((acc.len(), rej.len()), (1, 1));
    assert_eq!(acc[0].change_id.as_deref(), Some("toolu_e1"));
    assert_eq!(rej[0].change_id.as_deref(), Some("toolu_e2"));
    assert_eq!(acc[0].lines, None);
    assert_eq!(count(&alice, "context_load"), 1); // the compaction
                                                  // The first request of prompt p1 carries the keyed hash of the logged
                                                  // prompt; the other requests have none (no tool results are exported).
    let hashed: Vec<&&Row> = reqs.iter().filter(|r| r.task_hash.is_some()).collect();
    assert_eq!(hashed.len(), 1);
    assert_eq!(hashed[0].input, 120);
    assert_eq!(sessions(&rows).len(), 2);
    let day = by_date(&rows);
    assert_eq!(day["2026-10-06"], (50, 10, 0, 0));
    assert_eq!(r.totals.tokens_by_day["2026-10-05"].cache_read, 2200);
    let bob: Vec<&Row> = rows.iter().filter(|r| r.user == "uuid-bob").collect();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].session, "s2");
    assert!(rows.iter().all(|r| r.n.is_none()));
    // No prompt text anywhere in the lake.
    for p in walk_files(&lake) {
        let bytes = std::fs::read(&p).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"fix the build"), "{p:?}");
    }
    let v = goodhart_io::validate(&lake.join("events"), None, None).unwrap();
    assert_eq!((v.counts.rows_read, v.counts.rows_quarantined), (10, 0));
}

#[test]
fn claude_code_otel_appended_exports_add_only_new_requests() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("logs.jsonl");
    std::fs::copy(fixtures().join("claude-code-otel/logs.jsonl"), &src).unwrap();
    let lake = dir.path().join("lake");
    run(
        Format::ClaudeCodeOtel,
        std::slice::from_ref(&src),
        &lake,
        |_| {},
    );
    assert_eq!(rows(&lake).len(), 10);
    let mut data = std::fs::read(&src).unwrap();
    data.extend(std::fs::read(fixtures().join("claude-code-otel/append.jsonl.txt")).unwrap());
    std::fs::write(&src, data).unwrap();
    let r = run(
        Format::ClaudeCodeOtel,
        std::slice::from_ref(&src),
        &lake,
        |_| {},
    );
    let f = &r.files[0];
    assert_eq!(f.status, "appended");
    // Only the appended line's two records are read: one new request, one repeat.
    assert_eq!((f.records, f.used, f.skipped["duplicate"]), (2, 1, 1));
    assert_eq!(rows(&lake).len(), 11);
    let r = run(Format::ClaudeCodeOtel, &[src], &lake, |_| {});
    assert!(r.totals.events.is_empty());
    assert_eq!(rows(&lake).len(), 11);
}

#[test]
fn otel_genai_spans_become_requests_and_spawns_from_the_span_tree() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let src = fixtures().join("otel-genai/traces.jsonl");
    let r = run(Format::OtelGenai, &[src], &lake, |_| {});
    let f = &r.files[0];
    assert_eq!((f.records, f.used), (16, 6));
    assert_eq!(f.skipped["root_agent"], 2);
    assert_eq!(f.skipped["execute_tool"], 1);
    assert_eq!(f.skipped["embeddings"], 1);
    assert_eq!(f.skipped["not_gen_ai"], 1);
    assert_eq!(f.skipped["duplicate"], 1);
    assert_eq!(
        quarantine(f),
        [
            (8, Some(1), "cached_above_input".into()),
            (9, Some(2), "malformed_json".into()),
            (13, Some(3), "missing_timestamp".into()),
            (16, None, "no_user".into()),
        ]
    );
    let rows = rows(&lake);
    assert_eq!(
        users(&rows),
        ["alice@corp.com", "bob"].map(String::from).into()
    );
    let alice: Vec<Row> = rows
        .iter()
        .filter(|r| r.user == "alice@corp.com")
        .cloned()
        .collect();
    // input_tokens includes cached input: 1000 - 600 - 100 = 300 uncached.
    let main = alice
        .iter()
        .find(|r| r.event == "request" && r.agent.is_none())
        .unwrap();
    assert_eq!(
        (main.input, main.cache_read, main.cache_write, main.output),
        (300, 600, 100, 50)
    );
    assert_eq!(main.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(tokens(&alice), (530, 75, 600, 100));
    let agent_of = |a: &str| {
        alice
            .iter()
            .filter(|r| r.event == "request" && r.agent.as_deref() == Some(a))
            .count()
    };
    assert_eq!((agent_of("researcher"), agent_of("summariser")), (1, 1));
    let mut spawns: Vec<(Option<String>, Option<String>)> = alice
        .iter()
        .filter(|r| r.event == "agent_spawn")
        .map(|r| (r.agent.clone(), r.parent.clone()))
        .collect();
    spawns.sort();
    assert_eq!(
        spawns,
        [
            (Some("researcher".into()), None),
            (Some("summariser".into()), Some("researcher".into()))
        ]
    );
    assert_eq!(
        sessions(&alice),
        [("alice@corp.com".into(), "conv-1".into())].into()
    );
    let bob: Vec<&Row> = rows.iter().filter(|r| r.user == "bob").collect();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].session, "trace-4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(by_date(&rows)["2026-10-06"], (10, 2, 0, 0));
    assert!(rows.iter().all(|r| r.cost.is_none() && r.n.is_none()));
    let v = goodhart_io::validate(&lake.join("events"), None, None).unwrap();
    assert_eq!((v.counts.rows_read, v.counts.rows_quarantined), (6, 0));
}

#[test]
fn otel_genai_user_attribute_is_configurable_and_appends_add_only_new_spans() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("traces.jsonl");
    std::fs::copy(fixtures().join("otel-genai/traces.jsonl"), &src).unwrap();
    let lake = dir.path().join("lake");
    let keys = |o: &mut goodhart_import::ImportOptions| {
        o.user_attributes = vec!["app.user".into(), "enduser.id".into()];
    };
    let r = run(Format::OtelGenai, std::slice::from_ref(&src), &lake, keys);
    // carol (app.user) is found now; alice's user.id is no longer looked at.
    assert_eq!(r.users, ["bob", "carol"]);
    assert_eq!(r.files[0].quarantined, 3 + 5); // 3 bad records + alice's 5 events without a user
    let before = rows(&lake).len();
    assert_eq!(before, 2);
    let mut data = std::fs::read(&src).unwrap();
    data.extend(std::fs::read(fixtures().join("otel-genai/append.jsonl.txt")).unwrap());
    std::fs::write(&src, data).unwrap();
    let r = run(Format::OtelGenai, std::slice::from_ref(&src), &lake, keys);
    let f = &r.files[0];
    assert_eq!(f.status, "appended");
    assert_eq!((f.records, f.used, f.skipped["duplicate"]), (2, 1, 1));
    assert_eq!(rows(&lake).len(), before + 1);
    let r = run(Format::OtelGenai, &[src], &lake, keys);
    assert!(r.totals.events.is_empty());
}
