//! Walk two users through a week of nightly scans, write alerts.jsonl and show (dry run) what
//! would be sent to Jira.
//!
//! Run: `cargo run -p goodhart-alerts --example lifecycle_demo`

use chrono::{NaiveDate, TimeZone, Utc};
use goodhart_alerts::*;

fn main() -> Result<(), AlertError> {
    let dir = tempfile::tempdir().map_err(|e| AlertError::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let mut store = StateStore::open(dir.path().join(".goodhart"))?;
    let policy = LifecyclePolicy::default();
    let day = |d| NaiveDate::from_ymd_opt(2025, 3, d).expect("valid date");
    let cand = |user: &str, pattern: &str, severity, score| AlertCandidate {
        user_id: user.into(),
        cohort: "platform".into(),
        pattern: pattern.into(),
        severity,
        score,
        window: Window {
            start: day(1),
            end: day(7),
        },
        evidence: vec![Evidence {
            pattern: pattern.into(),
            feature: "duplicate_spawn_ratio".into(),
            value: 0.58,
            typical: 0.04,
            p95: 0.18,
            percentile: 99.2,
            sessions: vec!["sess-17".into()],
            text: "58% of spawned agents repeat a task already running in the session".into(),
        }],
    };

    let mut last = Vec::new();
    for d in 8..=20 {
        let mut cands = vec![];
        if d <= 10 {
            cands.push(cand(
                "alice",
                "redundant-agent-spawns",
                Severity::High,
                84.0,
            ));
        }
        if d % 2 == 0 {
            cands.push(cand(
                "bob",
                "uncached-context-resend",
                Severity::Medium,
                61.5,
            ));
        }
        let r = store.reconcile(&cands, day(d), &policy)?;
        let line: Vec<String> = r
            .alerts
            .iter()
            .map(|a| format!("{}:{}", a.candidate.user_id, a.status))
            .collect();
        println!(
            "2025-03-{d:02}: raised [{}] resolved {:?}",
            line.join(", "),
            r.resolved
        );
        if !r.alerts.is_empty() {
            last = r.alerts;
        }
    }

    let out = dir.path().join("alerts.jsonl");
    write_jsonl(&out, &last)?;
    println!(
        "\nalerts.jsonl:\n{}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );

    let cfg: AlertsConfig = toml::from_str(
        r#"
        [jira]
        base_url = "https://example.atlassian.net"
        project_key = "GOV"
        [privacy]
        pseudonymize = true
        key_env = "DEMO_PSEUDONYM_KEY"
        "#,
    )
    .expect("valid demo config");
    let mut opts =
        DeliverOptions::from_config(&cfg, Utc.with_ymd_and_hms(2025, 3, 20, 3, 0, 0).unwrap());
    opts.dry_run = true;
    opts.env = EnvSource::Map([("DEMO_PSEUDONYM_KEY".to_string(), "demo-key".to_string())].into());
    let report = deliver(&mut store, &cfg, &last, &opts)?;
    for p in &report.planned {
        println!(
            "would {} via {} ({}):\n{}",
            p.action.as_str(),
            p.sink.as_str(),
            p.url,
            serde_json::to_string_pretty(&p.payload).unwrap_or_default()
        );
    }
    Ok(())
}
