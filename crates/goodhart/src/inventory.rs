//! The personal-data inventory (`goodhart privacy --inventory`): every field goodhart reads,
//! derives, stores or sends, why, where it lives and how long it is kept.
//!
//! Generated from the code's own definitions, so it cannot drift from what the code does:
//! the input columns from the schema crate's column specs, the output tables from the
//! feature schemas and the scoring patterns, the state database and the alert payload from
//! the tables beside them in `goodhart-alerts` (whose tests compare them with the migrated
//! database and the serialised alert), the retention from the configuration. A test compares
//! the output part with the tables a real scan writes.

use goodhart_alerts::inventory::{FieldInfo, Personal, Retention, ALERT_FIELDS, STATE_FIELDS};
use goodhart_alerts::AlertsConfig;
use goodhart_detect::ScoreOptions;
use goodhart_schema::{ColumnKind, ColumnSpec, EVENT_COLUMNS, ROSTER_COLUMNS};
use serde::Serialize;

/// What goodhart does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Read from the input.
    Read,
    /// Computed and written to a scan output file.
    Derive,
    /// Kept in the state database between runs.
    Store,
    /// Sent to Jira / a webhook.
    Send,
}

/// One line of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryRow {
    /// What goodhart does with it.
    pub stage: Stage,
    /// File or table.
    pub location: String,
    /// Column or field.
    pub field: String,
    /// Kind of data.
    pub personal: Personal,
    /// Why.
    pub purpose: String,
    /// How long it is kept.
    pub retention: String,
}

/// Columns of `user_scores.parquet` written by the scoring step before the per-pattern
/// evidence columns and the user features.
pub const USER_SCORE_COLUMNS: &[(&str, Personal, &str)] = &[
    ("user_id", Personal::Identifier, "whom the row is about"),
    ("cohort", Personal::Group, "peer group compared with"),
    ("score", Personal::Behaviour, "tokenmaxxing score 0-100"),
    ("severity", Personal::Behaviour, "severity of the score"),
    ("top_patterns", Personal::Behaviour, "patterns that fired"),
    (
        "explanations",
        Personal::Behaviour,
        "evidence per pattern, with cohort figures",
    ),
    ("alert", Personal::Behaviour, "whether an alert is raised"),
    ("evidence", Personal::Behaviour, "combined pattern evidence"),
    (
        "multivariate",
        Personal::Behaviour,
        "multivariate outlier evidence",
    ),
];

/// Columns of `session_scores.parquet` written by the scoring step before the per-pattern
/// evidence columns and the session features.
pub const SESSION_SCORE_COLUMNS: &[(&str, Personal, &str)] = &[
    ("session_id", Personal::Pseudonym, "the session (opaque id)"),
    ("user_id", Personal::Identifier, "whose session"),
    ("cohort", Personal::Group, "peer group compared with"),
    ("score", Personal::Behaviour, "session score 0-100"),
    ("severity", Personal::Behaviour, "severity of the score"),
    (
        "patterns",
        Personal::Behaviour,
        "patterns the session shows",
    ),
];

fn input_kind(c: &ColumnSpec) -> Personal {
    match c.name {
        "user_id" => Personal::Identifier,
        "team" | "role" => Personal::Group,
        _ => match c.kind {
            ColumnKind::Fingerprint => Personal::Pseudonym,
            _ if c.name.ends_with("_id") => Personal::Pseudonym,
            _ => Personal::Behaviour,
        },
    }
}

fn retention_text(r: Retention, cfg: &AlertsConfig) -> String {
    let rc = &cfg.retention;
    match r {
        Retention::State => format!(
            "{} days after the alert is resolved / the verdict given / the delivery made \
             ([retention] state_days); open alerts are kept",
            rc.state_days
        ),
        Retention::Audit => format!("{} days ([retention] audit_days)", rc.audit_days),
        Retention::Outputs => match &rc.outputs_root {
            Some(root) => format!(
                "{} days after the scan's window under {} ([retention] outputs_days)",
                rc.outputs_days,
                root.display()
            ),
            None => "until the next scan into the same directory overwrites it, or you delete \
                     it (set [retention] outputs_root to have goodhart purge it)"
                .to_string(),
        },
        Retention::Recipient => "the receiving system's retention (Jira, webhook receiver)".into(),
        Retention::Permanent => "as long as the state database".into(),
    }
}

/// The whole inventory for a configuration, in a fixed order (read, derive, store, send).
// One table: one row per kind of personal data goodhart reads, derives, stores or sends, in a
// fixed order; data written as a literal, not logic.
pub fn inventory(cfg: &AlertsConfig) -> Vec<InventoryRow> {
    let mut rows = Vec::new();
    let not_kept = "not kept: read for the scan window only (rows set aside are copied to \
                    quarantine.parquet)";
    for (loc, cols) in [
        ("input events (Parquet)", &EVENT_COLUMNS[..]),
        ("input roster (users.parquet)", &ROSTER_COLUMNS[..]),
    ] {
        for c in cols {
            rows.push(InventoryRow {
                stage: Stage::Read,
                location: loc.into(),
                field: c.name.into(),
                personal: input_kind(c),
                purpose: c.description.into(),
                retention: not_kept.into(),
            });
        }
    }
    let outputs = retention_text(Retention::Outputs, cfg);
    let patterns = ScoreOptions::default().patterns;
    let mut out = |loc: &str, field: String, personal: Personal, purpose: String| {
        rows.push(InventoryRow {
            stage: Stage::Derive,
            location: loc.into(),
            field,
            personal,
            purpose,
            retention: outputs.clone(),
        });
    };
    for (name, p, purpose) in USER_SCORE_COLUMNS {
        out("user_scores.parquet", (*name).into(), *p, (*purpose).into());
    }
    for p in &patterns {
        out(
            "user_scores.parquet",
            format!("evidence_{}", p.name),
            Personal::Behaviour,
            format!("strength of pattern {}", p.name),
        );
    }
    for f in goodhart_features::user_schema().fields() {
        if !USER_SCORE_COLUMNS.iter().any(|c| c.0 == f.name()) {
            out(
                "user_scores.parquet",
                f.name().clone(),
                Personal::Behaviour,
                "user feature: usage or waste measure of the person's sessions in the window \
                 (docs/features.md)"
                    .into(),
            );
        }
    }
    for (name, p, purpose) in SESSION_SCORE_COLUMNS {
        out(
            "session_scores.parquet",
            (*name).into(),
            *p,
            (*purpose).into(),
        );
    }
    for p in patterns.iter().filter(|p| !p.session_features.is_empty()) {
        out(
            "session_scores.parquet",
            format!("evidence_{}", p.name),
            Personal::Behaviour,
            format!("strength of pattern {} in the session", p.name),
        );
    }
    for f in goodhart_features::session_schema().fields() {
        if !SESSION_SCORE_COLUMNS.iter().any(|c| c.0 == f.name()) {
            out(
                "session_scores.parquet",
                f.name().clone(),
                Personal::Behaviour,
                "session feature: usage or waste measure of one session (docs/features.md)".into(),
            );
        }
    }
    // The waste ledger (#11): columns added to both score tables (the
    // ledger's `waste_tokens` replaces the feature of that name), and the
    // weekly team ledger.
    for loc in ["user_scores.parquet", "session_scores.parquet"] {
        for name in goodhart_waste::waste_column_names() {
            if name != "waste_tokens" {
                out(
                    loc,
                    name,
                    Personal::Behaviour,
                    "waste ledger: estimated waste (tokens, USD) and spend of the person or                      session (docs/features.md, Waste ledger)"
                        .into(),
                );
            }
        }
    }
    for f in goodhart_waste::ledger_schema().fields() {
        out(
            "waste.parquet",
            f.name().clone(),
            Personal::Group,
            "weekly waste per team and pattern (teams below [privacy] min_group_size              suppressed)"
                .into(),
        );
    }
    for f in goodhart_schema::quarantine_schema().fields() {
        let spec = EVENT_COLUMNS.iter().find(|c| c.name == f.name());
        out(
            "quarantine.parquet",
            f.name().clone(),
            spec.map_or(Personal::None, input_kind),
            spec.map_or_else(
                || "why and where a row was set aside".to_string(),
                |c| format!("copy of a rejected input row: {}", c.description),
            ),
        );
    }
    for f in ALERT_FIELDS {
        out("alerts.jsonl", f.field.into(), f.personal, f.purpose.into());
    }
    for (field, p, purpose) in [
        (
            "user_id",
            Personal::Identifier,
            "top users table, chart tooltips",
        ),
        (
            "cohort",
            Personal::Group,
            "cohort figures (withheld below [privacy] min_group_size)",
        ),
        (
            "score, severity, tokens, accepted changes",
            Personal::Behaviour,
            "top users table",
        ),
        (
            "explanations",
            Personal::Behaviour,
            "evidence lines of the top users",
        ),
        (
            "waste by team, weekly trend",
            Personal::Group,
            "What it cost: waste and spend per team (withheld below [privacy] min_group_size)",
        ),
        (
            "top sessions by waste (session id, user id, pattern, tokens, USD)",
            Personal::Behaviour,
            "What it cost: the sessions that cost most",
        ),
    ] {
        out("report.html", field.into(), p, purpose.into());
    }
    out(
        "summary.json",
        "all fields".into(),
        Personal::None,
        "organisation-wide counts and settings only; no per-person or per-team figure".into(),
    );
    let push = |rows: &mut Vec<InventoryRow>, stage: Stage, loc: String, f: &FieldInfo, ret| {
        rows.push(InventoryRow {
            stage,
            location: loc,
            field: f.field.into(),
            personal: f.personal,
            purpose: f.purpose.into(),
            retention: ret,
        });
    };
    for f in STATE_FIELDS {
        push(
            &mut rows,
            Stage::Store,
            format!("state.sqlite3: {}", f.location),
            f,
            retention_text(f.retention, cfg),
        );
    }
    // The feature cache ([`crate::cache`]): what a scan read of each event file.
    let cache_kept = format!(
        "while the event file is inside the scan window (dropped when it leaves it, changes \
         or is deleted); entries whose newest row is older than {} days ([retention] \
         state_days) are removed by purge",
        cfg.retention.state_days
    );
    for (field, personal, purpose) in [
        (
            "user_id, session_id",
            Personal::Identifier,
            "names of the users and sessions of the stored events, for the next night's tables",
        ),
        (
            "validated events (time, kind, tokens, cost, lines; user, session, model, agent, \
             task, context and change as 64-bit hashes)",
            Personal::Behaviour,
            "so that the next night decodes only new or changed event files",
        ),
        (
            "rows set aside (every input column, reason)",
            Personal::Identifier,
            "the next night's quarantine.parquet without reading the file again",
        ),
    ] {
        rows.push(InventoryRow {
            stage: Stage::Store,
            location: format!("{}/ (state directory)", crate::cache::CACHE_DIR),
            field: field.into(),
            personal,
            purpose: purpose.into(),
            retention: cache_kept.clone(),
        });
    }
    let pseudo = if cfg.privacy.pseudonymize {
        "pseudonymised ([privacy] pseudonymize = true)"
    } else {
        "NOT pseudonymised: set [privacy] pseudonymize = true"
    };
    for f in ALERT_FIELDS {
        push(
            &mut rows,
            Stage::Send,
            format!("Jira ticket / webhook payload, {pseudo}"),
            f,
            retention_text(Retention::Recipient, cfg),
        );
    }
    rows
}

/// The inventory as aligned text, grouped by stage and location.
pub fn render_text(rows: &[InventoryRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "goodhart personal-data inventory: {} fields. Never processed: prompt or response \
         text, code, file contents (only keyed hashes of prompts, contexts and changes).",
        rows.len()
    );
    let mut last: Option<(Stage, &str, &str)> = None;
    for r in rows {
        let key = (r.stage, r.location.as_str(), r.retention.as_str());
        if last != Some(key) {
            let _ = writeln!(
                s,
                "\n[{}] {}\n  retention: {}",
                serde_json::to_value(r.stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                r.location,
                r.retention
            );
            last = Some(key);
        }
        let kind = serde_json::to_value(r.personal)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(s, "  {:<34} {:<10} {}", r.field, kind, r.purpose);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn listed(rows: &[InventoryRow], location: &str) -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r.location == location)
            .map(|r| r.field.clone())
            .collect()
    }

    /// The output part of the inventory lists exactly the columns a real scan writes.
    #[test]
    fn inventory_lists_every_column_of_the_output_tables() {
        use crate::scan::{features, score, Dataset, Window};
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = goodhart_synth::SynthConfig::new(60, 7, 3);
        cfg.gaming_share = 0.1;
        goodhart_synth::generate(&cfg, dir.path()).unwrap();
        let dataset = Dataset::locate(&[dir.path().to_path_buf()], None).unwrap();
        let window = Window {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 7).unwrap(),
            days: 7,
        };
        let fopts = goodhart_features::FeatureOptions {
            as_of: Some(window.as_of),
            window_days: window.days,
            ..Default::default()
        };
        let run = features(&dataset, &fopts, Some(window), None).unwrap();
        let scores = score(&run.features, &ScoreOptions::default()).unwrap();
        let waste = crate::waste::run(
            &run.features,
            &scores,
            &Default::default(),
            window,
            goodhart_alerts::DEFAULT_MIN_GROUP_SIZE,
        )
        .unwrap();
        let rows = inventory(&AlertsConfig::default());
        for (location, schema) in [
            ("user_scores.parquet", waste.users_table.schema()),
            ("session_scores.parquet", waste.sessions_table.schema()),
            ("waste.parquet", waste.ledger_table.schema()),
            ("quarantine.parquet", goodhart_schema::quarantine_schema()),
        ] {
            let actual: BTreeSet<String> =
                schema.fields().iter().map(|f| f.name().clone()).collect();
            assert_eq!(actual, listed(&rows, location), "{location}");
        }
        // Every person-level column is marked as personal data.
        for r in rows
            .iter()
            .filter(|r| r.location.ends_with("scores.parquet"))
        {
            assert_ne!(r.personal, Personal::None, "{} {}", r.location, r.field);
        }
        // State and outbound parts come from the alerts crate's checked tables.
        assert_eq!(
            rows.iter()
                .filter(|r| r.stage == Stage::Store && r.location.starts_with("state.sqlite3"))
                .count(),
            STATE_FIELDS.len()
        );
        // The feature cache keeps the window's events and their user ids.
        assert!(rows.iter().any(|r| r.stage == Stage::Store
            && r.location.starts_with(crate::cache::CACHE_DIR)
            && r.field.contains("user_id")
            && r.personal == Personal::Identifier));
        assert!(rows
            .iter()
            .any(|r| r.location == "state.sqlite3: pseudonyms"
                && r.field == "user_id"
                && r.personal == Personal::Identifier));
    }

    #[test]
    fn retention_shown_is_the_configured_one() {
        let mut cfg = AlertsConfig::default();
        cfg.retention.state_days = 30;
        cfg.retention.outputs_root = Some("/srv/goodhart".into());
        let rows = inventory(&cfg);
        let alerts = rows
            .iter()
            .find(|r| r.location == "state.sqlite3: alerts" && r.field == "user_id")
            .unwrap();
        assert!(
            alerts.retention.starts_with("30 days"),
            "{}",
            alerts.retention
        );
        let out = rows.iter().find(|r| r.location == "alerts.jsonl").unwrap();
        assert!(out.retention.contains("/srv/goodhart"), "{}", out.retention);
        let text = render_text(&rows);
        assert!(text.contains("Never processed: prompt or response text"));
    }
}
