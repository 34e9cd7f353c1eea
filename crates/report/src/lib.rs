//! # goodhart-report
//!
//! The self-contained HTML report (`report.html`) written by the nightly
//! `goodhart scan`. One page, read by a governance reviewer in the morning:
//!
//! * **what it cost** — waste in USD and its share of spend, by pattern, by
//!   team and by week, and the top sessions (when [`ReportData::waste`] is set);
//! * **header** — as-of date, window, tool version and the input accounting
//!   (rows read / accepted / quarantined; a warning if they do not add up);
//! * **score distribution** — a histogram of all scores (0–100 in bins of 5),
//!   with a logarithmic y axis, annotated counts and bars split by severity;
//! * **tokens per accepted change by cohort** — a box plot on a labelled log
//!   scale, with the users of the top table drawn as dots, so that a reviewer
//!   sees whether a suspect is an outlier *among peers* (volume is not guilt);
//! * **pattern prevalence** — how many users fire each tokenmaxxing pattern;
//! * **top users** — by score, with severity badge, cohort, totals *and*
//!   tokens per accepted change (against the cohort median), and every score's
//!   explanation lines.
//!
//! The markup lives in askama templates (`templates/`), compiled into the crate:
//! every value from the data (user ids, cohort and team names, pattern names,
//! explanations, statuses) is HTML-escaped by default. Each section's layout
//! (SVG coordinates, named layout constants) is computed in its own module.
//! Cohorts and teams smaller than [`ReportData::min_group_size`] get no figures
//! of their own ("< k").
//!
//! The page is self-contained: inline CSS, inline SVG and one small inline
//! script that checks the charts and records errors in the DOM
//! (`body[data-rendered="ok"]`, `body[data-errors]`). A Content-Security-Policy
//! forbids every network load and allows only that style and script, by their
//! SHA-256, computed from the very bytes emitted at render time. Every chart has
//! an SVG `<title>`/`<desc>`, an `aria-label` and a data-table fallback. The
//! output is a pure function of [`ReportData`]: no clock, no hash-map order, no
//! randomness.
//!
//! ```
//! use std::collections::BTreeMap;
//! use chrono::NaiveDate;
//! use goodhart_alerts::AlertStatus;
//! use goodhart_core::Severity;
//! use goodhart_report::{render, ReportData, ReportUser};
//!
//! let data = ReportData {
//!     title: "Token usage review".into(),
//!     tool_version: "0.1.0".into(),
//!     as_of: NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
//!     window_days: 28,
//!     rows_read: 1_000,
//!     rows_accepted: 990,
//!     rows_quarantined: 10,
//!     users_scored: 2,
//!     sessions_scored: 40,
//!     alerts_by_severity: BTreeMap::from([(Severity::High, 1)]),
//!     users: vec![
//!         ReportUser {
//!             user_id: "<script>alert(1)</script>".into(),
//!             cohort: "infra".into(),
//!             score: 91.0,
//!             severity: Severity::High,
//!             total_tokens: 9_000_000,
//!             accepted_changes: 3,
//!             tokens_per_accepted_change: Some(3_000_000.0),
//!             patterns: vec!["redundant_spawn".into()],
//!             explanations: vec!["spawned the same task 23 times in session s-1a2b (cohort p95: 2)".into()],
//!             alert_status: Some(AlertStatus::New),
//!         },
//!         ReportUser {
//!             user_id: "u-2".into(),
//!             cohort: "infra".into(),
//!             score: 4.0,
//!             severity: Severity::None,
//!             total_tokens: 20_000_000,
//!             accepted_changes: 80,
//!             tokens_per_accepted_change: Some(250_000.0),
//!             ..ReportUser::default()
//!         },
//!     ],
//!     pattern_prevalence: vec![("redundant_spawn".into(), 1)],
//!     ..ReportData::default()
//! };
//! let html = render(&data);
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
//! assert!(!html.contains("<script>alert(1)"));
//! assert!(html.contains(r#"id="chart-score-histogram""#));
//! // Both users in the top table, highest score first; one high alert counted.
//! assert_eq!(html.matches("data-user-row=").count(), 2);
//! assert!(html.find("&lt;script&gt;alert(1)").unwrap() < html.find(">u-2<").unwrap());
//! assert!(html.contains(r#"sev-high">high</span> 1"#));
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use askama::Template as _;

mod chart;
mod data;
mod escape;
mod format;
mod page;
mod patterns;
mod ratio;
mod scores;
mod stats;
mod users;
mod waste;

pub use data::{
    ReportData, ReportUser, TeamWaste, WasteReport, DEFAULT_MIN_GROUP_SIZE, DEFAULT_TOP_USERS,
    SCAN_TITLE,
};
pub use escape::escape_html;
pub use format::fmt_usd;
pub use stats::score_histogram;

/// Number of bins of the score histogram (scores 0–100, bins of 5 points).
pub const SCORE_BINS: usize = 20;
/// At most this many cohorts are drawn in the box plot (the largest ones).
pub const MAX_COHORTS_SHOWN: usize = 30;
/// At most this many patterns are drawn in the prevalence chart (the most frequent).
pub const MAX_PATTERNS_SHOWN: usize = 30;

/// Element ids of the three charts, in page order (the browser test and any
/// downstream tooling can rely on them).
pub const CHART_IDS: [&str; 3] = [
    "chart-score-histogram",
    "chart-ratio-by-cohort",
    "chart-pattern-prevalence",
];
/// Element id of the weekly waste trend chart ("What it cost").
pub const WASTE_CHART_ID: &str = "chart-waste-trend";

/// Failure to write the report file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The report (or its temporary sibling) could not be written or moved into place.
    #[error(
        "cannot write the HTML report to {}: {source}; check that the directory exists and \
         is writable, or choose another output directory",
        path.display()
    )]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying error (it names the file or directory that failed).
        #[source]
        source: goodhart_core::CoreError,
    },
}

/// Renders the whole page. Pure and deterministic: the same data gives the same bytes.
pub fn render(data: &ReportData) -> String {
    page::Page::new(data)
        .render()
        // The templates only write into a String and no value's Display fails.
        .expect("rendering the report into a String cannot fail")
}

/// Renders the report and writes it to `path` atomically
/// ([`goodhart_core::write_bytes_atomic`]: temporary sibling, fsync, rename).
///
/// # Errors
/// [`ReportError::Write`] naming the file when writing or renaming fails.
pub fn write_report(data: &ReportData, path: &Path) -> Result<(), ReportError> {
    goodhart_core::write_bytes_atomic(path, render(data).as_bytes()).map_err(|source| {
        ReportError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests;
