//! The report's typed input: what the scan hands over.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt64Type};
use chrono::NaiveDate;
use goodhart_alerts::{Alert, AlertStatus};
use goodhart_core::{Severity, Window};
use goodhart_detect::Scores;
use goodhart_schema::Counts;

/// Default number of users listed in the top-users table.
pub const DEFAULT_TOP_USERS: usize = 50;
/// Default of [`ReportData::min_group_size`] (`[privacy] min_group_size`).
pub const DEFAULT_MIN_GROUP_SIZE: usize = goodhart_alerts::DEFAULT_MIN_GROUP_SIZE;

/// Everything the report shows. Built from a scan's typed results by
/// [`ReportData::from_scan`]; a plain struct, so that tests and other tools
/// can also fill it directly.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportData {
    /// Page title, e.g. "Token usage review — acme".
    pub title: String,
    /// Version of the tool that produced the scan (shown in the header and footer).
    pub tool_version: String,
    /// Last day covered by the scan (the report never reads the clock).
    pub as_of: NaiveDate,
    /// Length of the scoring window in days, ending at `as_of`.
    pub window_days: u32,
    /// Event rows read from the input files.
    pub rows_read: u64,
    /// Rows that passed validation and were used.
    pub rows_accepted: u64,
    /// Rows set aside in quarantine (with a reason, in the quarantine output).
    pub rows_quarantined: u64,
    /// Users that received a score.
    pub users_scored: u64,
    /// Sessions that were scored.
    pub sessions_scored: u64,
    /// Alerts raised in this run, by severity.
    pub alerts_by_severity: BTreeMap<Severity, u64>,
    /// All scored users (the charts use all of them; the table shows the top `top_users`).
    pub users: Vec<ReportUser>,
    /// (pattern name, number of users for whom the pattern fired on its own:
    /// strength at least `fire_strength`; context-only patterns not counted).
    pub pattern_prevalence: Vec<(String, u64)>,
    /// How many users the top table lists (default [`DEFAULT_TOP_USERS`]).
    pub top_users: usize,
    /// Warnings shown at the top of the page (e.g. "the last day looks
    /// incomplete"); none on an ordinary night.
    pub warnings: Vec<String>,
    /// Small-group suppression: a cohort of fewer people than this gets no figures of its own
    /// (box plot, quartiles, "× cohort median"); its cells read "< k". Default
    /// [`DEFAULT_MIN_GROUP_SIZE`].
    pub min_group_size: usize,
    /// The "What it cost" section (#11), first on the page; `None`: not shown.
    pub waste: Option<WasteReport>,
}

impl Default for ReportData {
    fn default() -> Self {
        ReportData {
            title: "goodhart report".to_string(),
            tool_version: String::new(),
            as_of: NaiveDate::default(),
            window_days: 0,
            rows_read: 0,
            rows_accepted: 0,
            rows_quarantined: 0,
            users_scored: 0,
            sessions_scored: 0,
            alerts_by_severity: BTreeMap::new(),
            users: Vec::new(),
            pattern_prevalence: Vec::new(),
            top_users: DEFAULT_TOP_USERS,
            warnings: Vec::new(),
            min_group_size: DEFAULT_MIN_GROUP_SIZE,
            waste: None,
        }
    }
}

/// Title of the report of a scan.
pub const SCAN_TITLE: &str = "goodhart: tokenmaxxing report";

impl ReportData {
    /// The report of a scan: every user of `scores` (in its order), the
    /// status of each user's alert and the alerts by severity from `alerts`
    /// (the run's reconciled alerts), the input accounting `counts`, the
    /// scoring `window`, and `warnings` shown at the top (e.g. an incomplete
    /// last day, skipped files). The waste section and small-group
    /// suppression are added by the caller (`waste`, `min_group_size`).
    pub fn from_scan(
        scores: &Scores,
        alerts: &[Alert],
        counts: &Counts,
        window: Window,
        tool_version: &str,
        warnings: Vec<String>,
    ) -> ReportData {
        let status: BTreeMap<&str, AlertStatus> = alerts
            .iter()
            .map(|a| (a.candidate.user_id.as_str(), a.status))
            .collect();
        let mut alerts_by_severity: BTreeMap<Severity, u64> = BTreeMap::new();
        for a in alerts {
            *alerts_by_severity.entry(a.candidate.severity).or_default() += 1;
        }
        let mut prevalence: BTreeMap<String, u64> = BTreeMap::new();
        let users: Vec<ReportUser> = scores
            .explanations
            .iter()
            .enumerate()
            .map(|(i, u)| {
                // Count what a reviewer calls fired: strength >= fire_strength
                // (patterns listed as context do not count).
                for p in u.patterns.iter().filter(|p| p.fired) {
                    *prevalence.entry(p.pattern.clone()).or_default() += 1;
                }
                ReportUser {
                    user_id: u.user_id.clone(),
                    cohort: u.cohort.clone(),
                    score: u.score,
                    severity: u.severity,
                    total_tokens: col_u64(&scores.users, "total_tokens", i).unwrap_or(0),
                    accepted_changes: col_u64(&scores.users, "accepted", i).unwrap_or(0),
                    tokens_per_accepted_change: col_f64(
                        &scores.users,
                        "tokens_per_accepted_change",
                        i,
                    ),
                    patterns: u.patterns.iter().map(|p| p.pattern.clone()).collect(),
                    explanations: u.patterns.iter().map(|p| p.text.clone()).collect(),
                    alert_status: status.get(u.user_id.as_str()).copied(),
                }
            })
            .collect();
        let mut pattern_prevalence: Vec<(String, u64)> = prevalence.into_iter().collect();
        pattern_prevalence.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ReportData {
            title: SCAN_TITLE.to_string(),
            tool_version: tool_version.to_string(),
            as_of: window.as_of,
            window_days: window.days,
            rows_read: counts.rows_read,
            rows_accepted: counts.rows_accepted,
            rows_quarantined: counts.rows_quarantined,
            users_scored: scores.users.num_rows() as u64,
            sessions_scored: scores.sessions.num_rows() as u64,
            alerts_by_severity,
            users,
            pattern_prevalence,
            warnings,
            ..ReportData::default()
        }
    }
}

/// A UInt64 cell of a score table (`None`: column absent or null).
fn col_u64(b: &RecordBatch, name: &str, i: usize) -> Option<u64> {
    let a = b.column_by_name(name)?.as_primitive_opt::<UInt64Type>()?;
    a.is_valid(i).then(|| a.value(i))
}

/// A Float64 cell of a score table (`None`: column absent or null).
fn col_f64(b: &RecordBatch, name: &str, i: usize) -> Option<f64> {
    let a = b.column_by_name(name)?.as_primitive_opt::<Float64Type>()?;
    a.is_valid(i).then(|| a.value(i))
}

/// One scored user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportUser {
    /// The user id as in the input (shown escaped).
    pub user_id: String,
    /// Peer cohort (team by default).
    pub cohort: String,
    /// Tokenmaxxing score, 0–100 (non-finite scores are listed last and left out of the histogram).
    pub score: f64,
    /// Severity of the user's score.
    pub severity: Severity,
    /// Billed tokens in the window (all buckets).
    pub total_tokens: u64,
    /// Changes accepted in the window.
    pub accepted_changes: u64,
    /// `total_tokens / accepted_changes`; `None` when there was no accepted change.
    pub tokens_per_accepted_change: Option<f64>,
    /// Names of the patterns that fired for this user.
    pub patterns: Vec<String>,
    /// One-line explanations, e.g. "spawned the same task 23 times in session s-1a2b (cohort p95: 2)".
    pub explanations: Vec<String>,
    /// Lifecycle status of the user's alert in this run; `None` when no alert was raised.
    pub alert_status: Option<AlertStatus>,
}

/// One team's row of the "What it cost" section: (team, people, USD waste and
/// spend; `None` = fewer than k people, shown as "< k").
pub type TeamWaste = (String, u64, Option<(f64, f64)>);

/// What the "What it cost" section shows (filled by the scan from the waste
/// stage and the state's ledger).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WasteReport {
    /// Waste USD from billed `cost_usd`.
    pub billed_usd: f64,
    /// Waste USD at list prices.
    pub estimated_usd: f64,
    /// Waste tokens.
    pub tokens: u64,
    /// Spend USD (billed + estimated).
    pub spend_usd: f64,
    /// Waste tokens that could not be priced.
    pub unpriced_tokens: u64,
    /// Models neither billed nor in the price table (name, tokens).
    pub unpriced_models: Vec<(String, u64)>,
    /// Date of the default list prices, when used.
    pub price_table_date: Option<String>,
    /// Per pattern: (pattern, tokens, USD), largest USD first.
    pub by_pattern: Vec<(String, u64, f64)>,
    /// Per team: (team, people, USD and spend; `None` = fewer than k people).
    pub by_team: Vec<TeamWaste>,
    /// Weekly trend from the state's ledger: (week, team, pattern, USD),
    /// suppressed rows left out.
    pub weeks: Vec<(NaiveDate, String, String, f64)>,
    /// Top sessions: (session id, user id, main pattern, tokens, USD).
    pub top_sessions: Vec<(String, String, String, u64, f64)>,
}
