//! The report's typed input: what the scan hands over.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// Default number of users listed in the top-users table.
pub const DEFAULT_TOP_USERS: usize = 50;
/// Default of [`ReportData::min_group_size`] (`[privacy] min_group_size`).
pub const DEFAULT_MIN_GROUP_SIZE: usize = goodhart_alerts::DEFAULT_MIN_GROUP_SIZE;

/// Everything the report shows. A plain struct: the CLI fills it from the scan results.
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
    /// Alerts raised in this run, by severity name (e.g. "high" → 3).
    pub alerts_by_severity: BTreeMap<String, u64>,
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

/// One scored user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportUser {
    /// The user id as in the input (shown escaped).
    pub user_id: String,
    /// Peer cohort (team by default).
    pub cohort: String,
    /// Tokenmaxxing score, 0–100 (non-finite scores are listed last and left out of the histogram).
    pub score: f64,
    /// Severity name: "critical", "high", "medium", "low", "info" or "none"
    /// (case-insensitive; other names are shown in grey).
    pub severity: String,
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
    /// Alert state, e.g. "open", "acknowledged"; `None` when no alert exists.
    pub alert_status: Option<String>,
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
