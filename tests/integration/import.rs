//! `goodhart import` end to end: five formats (among them anthropic-usage
//! and otel-genai) into one lake with an identity map, then `goodhart scan`
//! on it.

use crate::util::*;
use std::path::Path;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/import/tests/fixtures")
}

#[test]
fn five_formats_one_lake_one_person_per_identity_then_scan() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let ids = dir.path().join("identities.csv");
    std::fs::write(
        &ids,
        "source,source_id,user_id\n\
         claude-code,alice,alice@corp.com\n\
         claude-code,bob,bob@corp.com\n\
         openai-usage,user-alice,alice@corp.com\n\
         anthropic-usage,apikey_alice,alice@corp.com\n\
         anthropic-usage,apikey_bob,bob@corp.com\n\
         otel-genai,bob,bob@corp.com\n",
    )
    .unwrap();
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "email,team\nAlice@corp.com,web\nbob@corp.com,web\n",
    )
    .unwrap();
    let lake_s = lake.to_str().unwrap();
    let ids_s = ids.to_str().unwrap();

    let cc = fixtures().join("claude-code");
    let out = run(goodhart().args([
        "import",
        "claude-code",
        cc.to_str().unwrap(),
        "--out",
        lake_s,
        "--identities",
        ids_s,
        "--user-from-path",
        "{user}/.claude/projects/**",
        "--json",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["users"],
        serde_json::json!(["alice@corp.com", "bob@corp.com"])
    );
    assert!(stderr(&out).contains("warning: no hash key configured"));

    let cur = fixtures().join("cursor");
    let out = run(goodhart().args([
        "import",
        "cursor",
        cur.to_str().unwrap(),
        "--out",
        lake_s,
        "--identities",
        ids_s,
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let oa = fixtures().join("openai-usage");
    let out = run(goodhart().args([
        "import",
        "openai-usage",
        oa.to_str().unwrap(),
        "--out",
        lake_s,
        "--identities",
        ids_s,
        "--roster",
        roster.to_str().unwrap(),
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("unmapped ids (used as they are): key_ci"),
        "{}",
        stdout(&out)
    );

    // Two of the newer formats: Anthropic's usage report (API keys) and
    // OpenTelemetry GenAI traces (an e-mail and a bare login).
    for f in ["anthropic-usage", "otel-genai"] {
        let src = fixtures().join(f);
        let out = run(goodhart().args([
            "import",
            f,
            src.to_str().unwrap(),
            "--out",
            lake_s,
            "--identities",
            ids_s,
            "--json",
        ]));
        assert_eq!(code(&out), 0, "{f}: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let users = report["users"].as_array().unwrap();
        assert!(users.contains(&"alice@corp.com".into()), "{f}: {users:?}");
        assert!(users.contains(&"bob@corp.com".into()), "{f}: {users:?}");
    }

    // Five sources in one lake.
    for s in [
        "claude-code",
        "cursor",
        "openai-usage",
        "anthropic-usage",
        "otel-genai",
    ] {
        let any = walk(&lake.join("events"))
            .iter()
            .any(|p| p.contains(&format!("source={s}/")));
        assert!(any, "{s}");
    }
    // The lake's users per source: Alice and Bob under one id in each tool.
    let mut by_source: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for p in walk(&lake.join("events")) {
        let src = p
            .split("source=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let b = read_parquet(Path::new(&p));
        let u = b.column_by_name("user_id").unwrap();
        let u = u
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        by_source
            .entry(src.to_string())
            .or_default()
            .extend(u.iter().flatten().map(String::from));
    }
    for s in [
        "claude-code",
        "openai-usage",
        "anthropic-usage",
        "otel-genai",
    ] {
        assert!(
            by_source[s].contains("alice@corp.com"),
            "{s}: {by_source:?}"
        );
    }
    for s in ["claude-code", "anthropic-usage", "otel-genai"] {
        assert!(by_source[s].contains("bob@corp.com"), "{s}: {by_source:?}");
    }
    let scan_out = dir.path().join("out");
    // The fixtures' last day is short by construction: no completeness check.
    let cfg = dir.path().join("goodhart.toml");
    std::fs::write(&cfg, "[scan]\nmin_last_day_share = 0.0\n").unwrap();
    let out = run(goodhart().args([
        "scan",
        lake_s,
        "--config",
        cfg.to_str().unwrap(),
        "--as-of",
        "2026-10-07",
        "--window",
        "7d",
        "--out",
        scan_out.to_str().unwrap(),
        "--state",
        dir.path().join("state").to_str().unwrap(),
        "--quiet",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let users = read_parquet(&scan_out.join("user_scores.parquet"));
    let ids = users.column_by_name("user_id").unwrap();
    let ids = ids
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let mut got: Vec<&str> = ids.iter().flatten().collect();
    got.sort_unstable();
    // Alice uses Claude Code, the OpenAI and Anthropic APIs and an in-house
    // agent (OTel GenAI), Bob Claude Code, the Anthropic API and the agent:
    // one user each. key_ci (OpenAI) and apikey_ci (Anthropic) are unmapped.
    assert_eq!(
        got,
        ["alice@corp.com", "apikey_ci", "bob@corp.com", "key_ci"]
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scan_out.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["rows"]["quarantined"], 0);
}

#[test]
fn unreadable_source_exits_2_naming_the_file_and_list_names_formats() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let out = run(goodhart().args([
        "import",
        "claude-code",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("lake").to_str().unwrap(),
        "--user",
        "ana",
    ]));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(missing.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    let out = run(goodhart().args(["import", "--list"]));
    assert_eq!(code(&out), 0);
    for f in [
        "claude-code",
        "claude-code-otel",
        "cursor",
        "cursor-csv",
        "cursor-daily",
        "openai-usage",
        "anthropic-usage",
        "copilot",
        "otel-genai",
    ] {
        assert!(stdout(&out).contains(&format!("{f}\n")), "{f}");
    }
    // A transcript import without a user is refused (exit 2), naming the option.
    let out = run(goodhart().args([
        "import",
        "claude-code",
        fixtures().join("claude-code").to_str().unwrap(),
        "--out",
        dir.path().join("lake").to_str().unwrap(),
    ]));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--user"));
}

fn walk(d: &Path) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk(&p));
            } else {
                v.push(p.display().to_string());
            }
        }
    }
    v
}
