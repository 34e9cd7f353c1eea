//! Writes a sample `report.html` from a small hand-made scan result.
//!
//! ```text
//! cargo run -p goodhart-report --example report -- /tmp/report.html
//! ```
//! then open the file in a browser (it loads nothing from the network).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use goodhart_alerts::AlertStatus;
use goodhart_core::Severity;
use goodhart_report::{write_report, ReportData, ReportUser};

fn user(
    id: &str,
    cohort: &str,
    score: f64,
    severity: Severity,
    total_tokens: u64,
    accepted_changes: u64,
) -> ReportUser {
    ReportUser {
        user_id: id.to_string(),
        cohort: cohort.to_string(),
        score,
        severity,
        total_tokens,
        accepted_changes,
        tokens_per_accepted_change: (accepted_changes > 0)
            .then(|| total_tokens as f64 / accepted_changes as f64),
        ..ReportUser::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("report.html"), PathBuf::from);

    let mut suspect = user(
        "u-7f3a",
        "platform",
        91.0,
        Severity::Critical,
        52_000_000,
        4,
    );
    suspect.patterns = vec!["redundant_spawn".into(), "uncached_resend".into()];
    suspect.explanations = vec![
        "spawned the same task 23 times in session s-1a2b (cohort p95: 2)".into(),
        "re-sent the same 180k-token context 41 times without cache (cohort p95: 3)".into(),
    ];
    suspect.alert_status = Some(AlertStatus::New);

    let mut sprinter = user("u-19c4", "payments", 72.0, Severity::Medium, 18_000_000, 7);
    sprinter.patterns = vec!["snapshot_sprint".into()];
    sprinter.explanations = vec![
        "used 68% of the week's tokens in the 6 hours before the ranking snapshot (cohort p95: 21%)"
            .into(),
    ];
    sprinter.alert_status = Some(AlertStatus::Ongoing);

    let users = vec![
        suspect,
        sprinter,
        // A power user: the most tokens of all, but proportionally more shipped.
        user("u-0b11", "platform", 5.0, Severity::None, 140_000_000, 350),
        user("u-2d20", "platform", 12.0, Severity::None, 9_000_000, 21),
        user("u-3e31", "platform", 8.0, Severity::None, 6_500_000, 18),
        user("u-4f42", "payments", 15.0, Severity::None, 11_000_000, 30),
        user("u-5a53", "payments", 3.0, Severity::None, 4_000_000, 12),
        user("u-6b64", "mobile", 22.0, Severity::None, 7_000_000, 14),
        user("u-7c75", "mobile", 41.0, Severity::Low, 9_500_000, 10),
        user("u-8d86", "mobile", 9.0, Severity::None, 3_000_000, 0),
    ];
    let data = ReportData {
        title: "Token usage review — example".into(),
        tool_version: "0.1.0".into(),
        as_of: NaiveDate::from_ymd_opt(2025, 6, 2).ok_or("bad date")?,
        window_days: 28,
        rows_read: 250_000,
        rows_accepted: 249_880,
        rows_quarantined: 120,
        users_scored: users.len() as u64,
        sessions_scored: 1_240,
        alerts_by_severity: BTreeMap::from([(Severity::Critical, 1), (Severity::Medium, 1)]),
        users,
        pattern_prevalence: vec![
            ("redundant_spawn".into(), 1),
            ("uncached_resend".into(), 1),
            ("snapshot_sprint".into(), 1),
        ],
        ..ReportData::default()
    };
    write_report(&data, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}
