//! `goodhart scan` writes the team-level findings (issue #17): a team where
//! two thirds of the members re-spawn the team's standard sub-agents is
//! reported in `summary.json` and on stdout, and no other team is.

use crate::util::*;

#[test]
fn scan_reports_the_gaming_team_in_summary_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org");
    let out = run(goodhart()
        .args([
            "synth",
            "--users",
            "300",
            "--days",
            "14",
            "--seed",
            "31",
            "--team-gaming",
            "platform:0.67:agent_spammer",
            "--out",
        ])
        .arg(&org));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cfg = dir.path().join("goodhart.toml");
    std::fs::write(&cfg, "[scan]\nmin_last_day_share = 0.0\n").unwrap();
    let scan_out = dir.path().join("out");
    let out = run(goodhart()
        .arg("scan")
        .arg(&org)
        .arg("--config")
        .arg(&cfg)
        .args(["--as-of", "2026-10-14", "--window", "14d"])
        .arg("--out")
        .arg(&scan_out)
        .arg("--state")
        .arg(dir.path().join("state")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("team finding (redundant-agent-spawns"),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scan_out.join("summary.json")).unwrap())
            .unwrap();
    let findings = summary["cohort_findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "{summary}");
    for f in findings {
        assert_eq!(f["cohort"], "platform", "{f}");
    }
    assert_eq!(findings[0]["pattern"], "redundant-agent-spawns");
    assert!(findings[0]["members_material"].as_u64().unwrap() >= 2);
}
