//! Privacy controls the nightly scan applies: small-group suppression of cohort figures in
//! alerts and in the report, and the retention purge of the state and managed outputs.
//! The audit log, four-eyes re-identification and retention rules themselves live in
//! `goodhart-alerts` ([`goodhart_alerts::audit`], [`goodhart_alerts::retention`]).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use goodhart_alerts::{Actor, AlertCandidate, AlertsConfig, PurgeReport, StateStore};
use goodhart_detect::Scores;
use serde::Serialize;

use crate::report::ReportData;
use crate::Error;

/// The privacy block of `summary.json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrivacySummary {
    /// `[privacy] min_group_size`: figures about fewer people are withheld.
    pub min_group_size: usize,
    /// Cohorts with fewer people than that (their figures are withheld in the report and the
    /// alerts).
    pub cohorts_below_min_group_size: u64,
    /// Evidence items whose cohort figures (typical, p95, percentile) were withheld.
    pub evidence_withheld: u64,
    /// What the retention purge removed in this run (all zero in a dry run).
    pub purged: PurgeReport,
}

/// People per cohort among the scored users.
pub fn cohort_sizes(scores: &Scores) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for u in &scores.explanations {
        *m.entry(u.cohort.clone()).or_insert(0) += 1;
    }
    m
}

/// Sentence that replaces an explanation whose cohort is too small to be quoted.
fn withheld_text(pattern: &str, feature: &str, value: f64, k: usize) -> String {
    format!(
        "{pattern}: {feature} = {} (cohort figures withheld: the cohort has fewer than {k} people)",
        fmt_value(value)
    )
}

fn fmt_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Small-group suppression of alerts: for a candidate whose cohort has fewer than `k` people,
/// every evidence item loses the cohort's typical value, p95 and the user's percentile in it
/// (set to NaN, written as `null`), and its sentence is replaced by one quoting only the
/// user's own value. The user's own figures, score and sessions are kept. Returns the number
/// of evidence items changed.
pub fn withhold_small_group_figures(
    candidates: &mut [AlertCandidate],
    sizes: &BTreeMap<String, usize>,
    k: usize,
) -> u64 {
    let mut n = 0;
    for c in candidates.iter_mut() {
        if sizes.get(&c.cohort).copied().unwrap_or(0) >= k {
            continue;
        }
        for e in &mut c.evidence {
            e.typical = f64::NAN;
            e.p95 = f64::NAN;
            e.percentile = f64::NAN;
            e.text = withheld_text(&e.pattern, &e.feature, e.value, k);
            n += 1;
        }
    }
    n
}

/// Small-group suppression of the report: sets its `min_group_size` and replaces the
/// explanations of users in small cohorts (they quote the cohort's p95) as in the alerts.
pub fn protect_report(report: &mut ReportData, scores: &Scores, k: usize) {
    report.min_group_size = k;
    let sizes = cohort_sizes(scores);
    let by_user: BTreeMap<&str, &goodhart_detect::UserExplanation> = scores
        .explanations
        .iter()
        .map(|u| (u.user_id.as_str(), u))
        .collect();
    for u in &mut report.users {
        if sizes.get(&u.cohort).copied().unwrap_or(0) >= k {
            continue;
        }
        if let Some(x) = by_user.get(u.user_id.as_str()) {
            u.explanations = x
                .patterns
                .iter()
                .map(|p| withheld_text(&p.pattern, &p.feature, p.value, k))
                .collect();
        }
    }
}

/// The actor recorded for purges run by goodhart itself.
fn retention_actor(cfg: &AlertsConfig) -> Actor {
    Actor::resolve(Some("goodhart-retention"), cfg.privacy.actor.as_deref()).unwrap_or(Actor {
        name: "goodhart-retention".into(),
        os_user: "unknown".into(),
    })
}

/// Purges the state in `state_dir` (if it exists) and the managed outputs, as of `as_of`.
pub fn purge(
    cfg: &AlertsConfig,
    state_dir: &Path,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<PurgeReport, Error> {
    cfg.retention.validate()?;
    let mut rep = if state_dir.join(goodhart_alerts::STATE_FILE).is_file() {
        let mut store = StateStore::open(state_dir)?;
        store.purge(&cfg.retention, as_of, &retention_actor(cfg), now)?
    } else {
        PurgeReport::default()
    };
    // The feature cache holds the events of the last window; entries older
    // than the state retention go too (normally the window dropped them already).
    let cutoff = as_of - chrono::Days::new(u64::from(cfg.retention.state_days));
    rep.feature_cache_entries = crate::cache::purge(
        &state_dir.join(crate::cache::CACHE_DIR),
        cutoff
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros(),
    )?;
    if let Some(root) = &cfg.retention.outputs_root {
        let (dirs, files) =
            goodhart_alerts::purge_outputs(root, cfg.retention.outputs_days, as_of)?;
        rep.output_dirs = dirs;
        rep.output_files = files;
    }
    Ok(rep)
}

/// The rows of a scan output table (`user_scores.parquet`, `session_scores.parquet`,
/// `quarantine.parquet`) whose `user_id` is `user_id`, as JSON objects (column → value;
/// numbers as numbers, everything else as its display text). A missing file gives no rows.
pub fn subject_rows(
    path: &Path,
    user_id: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, Error> {
    use arrow::array::Array;
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let batches = goodhart_io::read_parquet(path)?;
    let mut out = Vec::new();
    for b in &batches {
        let Some(ids) = b.column_by_name("user_id") else {
            continue;
        };
        let ids = arrow::compute::cast(ids, &arrow::datatypes::DataType::Utf8)
            .map_err(goodhart_detect::DetectError::Arrow)?;
        let ids = ids
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("Utf8");
        let opts = FormatOptions::default().with_null("null");
        let fmts: Vec<ArrayFormatter<'_>> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<_, _>>()
            .map_err(goodhart_detect::DetectError::Arrow)?;
        for i in 0..b.num_rows() {
            if !ids.is_valid(i) || ids.value(i) != user_id {
                continue;
            }
            let mut row = serde_json::Map::new();
            for (f, fmt) in b.schema().fields().iter().zip(&fmts) {
                let col = b.column_by_name(f.name()).expect("own column");
                let v = if col.is_null(i) {
                    serde_json::Value::Null
                } else {
                    let text = fmt.value(i).to_string();
                    match (f.data_type().is_numeric(), text.parse::<f64>()) {
                        (true, Ok(x)) => serde_json::Number::from_f64(x)
                            .map_or(serde_json::Value::String(text), serde_json::Value::Number),
                        _ => serde_json::Value::String(text),
                    }
                };
                row.insert(f.name().clone(), v);
            }
            out.push(row);
        }
    }
    Ok(out)
}

/// The scan output directories a subject report covers: `extra`, then the directories of the
/// managed output root that hold a `summary.json`, sorted, without duplicates.
pub fn output_dirs(cfg: &AlertsConfig, extra: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = extra.to_vec();
    if let Some(root) = &cfg.retention.outputs_root {
        if let Ok(rd) = std::fs::read_dir(root) {
            let mut managed: Vec<std::path::PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("summary.json").is_file())
                .collect();
            managed.sort();
            dirs.extend(managed);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use goodhart_alerts::{Evidence, Severity, Window};

    fn cand(user: &str, cohort: &str) -> AlertCandidate {
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        AlertCandidate {
            user_id: user.into(),
            cohort: cohort.into(),
            pattern: "prompt-loops".into(),
            severity: Severity::High,
            score: 90.0,
            window: Window { start: d, end: d },
            evidence: vec![Evidence {
                pattern: "prompt-loops".into(),
                feature: "loop_ratio".into(),
                value: 12.0,
                typical: 2.0,
                p95: 3.0,
                percentile: 100.0,
                sessions: vec!["s-1".into()],
                text: "re-sent the same prompt 12 times in session s-1 (cohort p95: 3)".into(),
            }],
        }
    }

    #[test]
    fn alerts_in_a_cohort_of_two_do_not_quote_the_colleague() {
        let sizes = BTreeMap::from([("pair".to_string(), 2), ("big".to_string(), 40)]);
        let mut c = vec![cand("u1", "pair"), cand("u2", "big")];
        assert_eq!(withhold_small_group_figures(&mut c, &sizes, 5), 1);
        let e = &c[0].evidence[0];
        assert!(e.typical.is_nan() && e.p95.is_nan() && e.percentile.is_nan());
        assert_eq!(
            e.text,
            "prompt-loops: loop_ratio = 12 (cohort figures withheld: the cohort has fewer than 5 people)"
        );
        assert_eq!((e.value, e.sessions.len()), (12.0, 1), "own figures kept");
        assert_eq!(c[1].evidence[0].p95, 3.0, "a cohort of 40 is quoted");
        // Written as null, read back as NaN.
        let json = serde_json::to_string(&c[0]).unwrap();
        assert!(json.contains(r#""p95":null"#), "{json}");
        let back: AlertCandidate = serde_json::from_str(&json).unwrap();
        assert!(back.evidence[0].p95.is_nan());
    }
}
