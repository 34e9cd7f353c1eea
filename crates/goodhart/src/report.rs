//! The self-contained HTML report (`report.html`) written by the nightly `goodhart scan`.
//!
//! One page, read by a governance reviewer in the morning:
//!
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
//! The page is self-contained: inline CSS, inline SVG drawn here in Rust and one
//! small inline script that checks the charts and records errors in the DOM
//! (`body[data-rendered="ok"]`, `body[data-errors]`). A Content-Security-Policy
//! forbids every network load, so the file can be mailed or archived as-is.
//! Every chart has an SVG `<title>`/`<desc>`, an `aria-label` and a data-table
//! fallback. All text that comes from the data (user ids, cohort names,
//! pattern names, explanations, statuses) is HTML-escaped. The output is a pure
//! function of [`ReportData`]: no clock, no hash-map order, no randomness.
//!
//! ```
//! use std::collections::BTreeMap;
//! use chrono::NaiveDate;
//! use goodhart::report::{render, ReportData, ReportUser};
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
//!     alerts_by_severity: BTreeMap::from([("high".to_string(), 1)]),
//!     users: vec![
//!         ReportUser {
//!             user_id: "<script>alert(1)</script>".into(),
//!             cohort: "infra".into(),
//!             score: 91.0,
//!             severity: "high".into(),
//!             total_tokens: 9_000_000,
//!             accepted_changes: 3,
//!             tokens_per_accepted_change: Some(3_000_000.0),
//!             patterns: vec!["redundant_spawn".into()],
//!             explanations: vec!["spawned the same task 23 times in session s-1a2b (cohort p95: 2)".into()],
//!             alert_status: Some("open".into()),
//!         },
//!         ReportUser {
//!             user_id: "u-2".into(),
//!             cohort: "infra".into(),
//!             score: 4.0,
//!             severity: "none".into(),
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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// Default number of users listed in the top-users table.
pub const DEFAULT_TOP_USERS: usize = 50;
/// Number of bins of the score histogram (scores 0–100, bins of 5 points).
pub const SCORE_BINS: usize = 20;
/// At most this many cohorts are drawn in the box plot (the largest ones).
pub const MAX_COHORTS_SHOWN: usize = 30;
/// At most this many patterns are drawn in the prevalence chart (the most frequent).
pub const MAX_PATTERNS_SHOWN: usize = 30;
/// Default of [`ReportData::min_group_size`] (`[privacy] min_group_size`).
pub const DEFAULT_MIN_GROUP_SIZE: usize = goodhart_alerts::DEFAULT_MIN_GROUP_SIZE;

mod waste_section;
pub use waste_section::{TeamWaste, WasteReport, WASTE_CHART_ID};

/// Element ids of the three charts, in page order (the browser test and any
/// downstream tooling can rely on them).
pub const CHART_IDS: [&str; 3] = [
    "chart-score-histogram",
    "chart-ratio-by-cohort",
    "chart-pattern-prevalence",
];

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

/// Failure to write the report file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The report (or its temporary sibling) could not be written or moved into place.
    #[error(
        "cannot write the HTML report to {path}: {source}; check that the directory exists and \
         is writable, or choose another output directory"
    )]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be written (the message names the file and the fix).
    #[error(transparent)]
    Io(goodhart_io::IoError),
}

/// Renders the report and writes it to `path` atomically
/// ([`goodhart_io::write_atomic`]: temporary sibling, fsync, rename).
///
/// # Errors
/// [`ReportError::Io`] naming the file when writing or renaming fails.
pub fn write_report(data: &ReportData, path: &Path) -> Result<(), ReportError> {
    goodhart_io::write_bytes_atomic(path, render(data).as_bytes()).map_err(ReportError::Io)
}

/// Escapes text for HTML/SVG element content and quoted attribute values
/// (`&`, `<`, `>`, `"`, `'`).
///
/// Hand-written because it is five replacements and the facade carries no
/// templating crate.
///
/// ```
/// assert_eq!(goodhart::report::escape_html(r#"<a href="x">'&'</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Counts scores into [`SCORE_BINS`] bins of 5 points: bin `i` holds scores in
/// `[5i, 5i + 5)`, the last bin also holds 100. Scores below 0 count in the
/// first bin, above 100 in the last; non-finite scores are skipped.
///
/// ```
/// let h = goodhart::report::score_histogram([0.0, 4.99, 5.0, 100.0, f64::NAN]);
/// assert_eq!((h[0], h[1], h[19]), (2, 1, 1));
/// assert_eq!(h.iter().sum::<u64>(), 4);
/// ```
pub fn score_histogram<I: IntoIterator<Item = f64>>(scores: I) -> [u64; SCORE_BINS] {
    let mut bins = [0u64; SCORE_BINS];
    for s in scores {
        if let Some(b) = score_bin(s) {
            bins[b] += 1;
        }
    }
    bins
}

fn score_bin(s: f64) -> Option<usize> {
    if !s.is_finite() {
        return None;
    }
    let width = 100.0 / SCORE_BINS as f64;
    // The clamp makes the cast exact and in range.
    let b = (s.clamp(0.0, 100.0) / width).floor() as usize;
    Some(b.min(SCORE_BINS - 1))
}

// ---------------------------------------------------------------------------
// Severity

/// Known severities, most severe first: (name, fill colour, text colour).
const SEVERITIES: [(&str, &str, &str); 6] = [
    ("critical", "#7f1d1d", "#ffffff"),
    ("high", "#c2410c", "#ffffff"),
    ("medium", "#d4a017", "#1f2328"),
    ("low", "#3b82f6", "#ffffff"),
    ("info", "#94a3b8", "#1f2328"),
    ("none", "#d0d7de", "#1f2328"),
];
const UNKNOWN_SEVERITY: (&str, &str) = ("#8c959f", "#ffffff");

fn severity_rank(s: &str) -> usize {
    let s = s.trim();
    SEVERITIES
        .iter()
        .position(|(name, _, _)| name.eq_ignore_ascii_case(s))
        .unwrap_or(SEVERITIES.len())
}

fn severity_colours(rank: usize) -> (&'static str, &'static str) {
    SEVERITIES
        .get(rank)
        .map_or(UNKNOWN_SEVERITY, |(_, fill, text)| (*fill, *text))
}

fn severity_class(rank: usize) -> &'static str {
    SEVERITIES.get(rank).map_or("unknown", |(name, _, _)| *name)
}

fn severity_badge(severity: &str) -> String {
    let rank = severity_rank(severity);
    let label = if severity.trim().is_empty() {
        "none".to_string()
    } else {
        escape_html(severity.trim())
    };
    format!(
        r#"<span class="badge sev-{}">{}</span>"#,
        severity_class(rank),
        label
    )
}

// ---------------------------------------------------------------------------
// Number formatting

/// `1234567` → `1,234,567`.
fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Compact magnitude: `950`, `12.3k`, `4.5M`, `1.2B`.
fn fmt_compact(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    let a = v.abs();
    let (div, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / div;
    if suffix.is_empty() {
        if (x - x.round()).abs() < 1e-9 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if x.abs() >= 100.0 || (x - x.round()).abs() < 0.05 {
        format!("{x:.0}{suffix}")
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// A score with one decimal, or "—" when it is not finite.
fn fmt_score(score: f64) -> String {
    if score.is_finite() {
        format!("{score:.1}")
    } else {
        "—".to_string()
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".to_string();
    }
    // Never round a non-zero share to "0.0%" or a partial one to "100.0%":
    // a reviewer reads "100%" accepted as "nothing was quarantined".
    let p = part as f64 * 100.0 / whole as f64;
    if part == 0 || part == whole {
        format!("{p:.0}%")
    } else if p < 0.01 {
        "<0.01%".to_string()
    } else if p > 99.99 {
        ">99.99%".to_string()
    } else if !(0.1..=99.9).contains(&p) {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Linear-interpolation quantile (type 7) of an ascending slice.
/// Hand-written: the workspace has no statistics crate and this is four lines.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

// ---------------------------------------------------------------------------
// Derived views (shared by charts and table)

/// Users sorted for the table: score descending (non-finite last), then
/// severity (most severe first), then user id.
fn ranked_users(users: &[ReportUser]) -> Vec<&ReportUser> {
    let mut v: Vec<&ReportUser> = users.iter().collect();
    let key = |u: &ReportUser| {
        if u.score.is_finite() {
            u.score
        } else {
            f64::NEG_INFINITY
        }
    };
    v.sort_by(|a, b| {
        key(b)
            .total_cmp(&key(a))
            .then_with(|| severity_rank(&a.severity).cmp(&severity_rank(&b.severity)))
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.cohort.cmp(&b.cohort))
    });
    v
}

/// Per-cohort statistics of tokens per accepted change.
#[derive(Debug)]
struct CohortStats {
    name: String,
    users: usize,
    /// Users without an accepted change (no ratio).
    no_change: usize,
    /// Sorted ratios (finite, >= 0).
    ratios: Vec<f64>,
}

impl CohortStats {
    fn median(&self) -> Option<f64> {
        quantile(&self.ratios, 0.5)
    }

    /// Fewer people than `k`: its figures would single out colleagues.
    fn is_small(&self, k: usize) -> bool {
        self.users < k
    }
}

/// The text shown instead of a figure about fewer than `k` people.
fn below(k: usize) -> String {
    format!("&lt; {k}")
}

fn cohort_stats(users: &[ReportUser]) -> BTreeMap<&str, CohortStats> {
    let mut m: BTreeMap<&str, CohortStats> = BTreeMap::new();
    for u in users {
        let e = m.entry(u.cohort.as_str()).or_insert_with(|| CohortStats {
            name: u.cohort.clone(),
            users: 0,
            no_change: 0,
            ratios: Vec::new(),
        });
        e.users += 1;
        match u.tokens_per_accepted_change {
            Some(r) if r.is_finite() && r >= 0.0 => e.ratios.push(r),
            _ => e.no_change += 1,
        }
    }
    for s in m.values_mut() {
        s.ratios.sort_by(f64::total_cmp);
    }
    m
}

// ---------------------------------------------------------------------------
// Page

/// Content-Security-Policy hashes of [`SCRIPT`] and [`CSS`]. If you edit either
/// constant, recompute its hash, e.g.
/// `printf '%s' "$TEXT" | openssl dgst -sha256 -binary | base64`;
/// the browser test fails (no `data-rendered`, or a CSP console error) when a
/// hash is stale.
const SCRIPT_SHA256: &str = "kL5fYPFnr2LWwtrDpnHQN2IFT51CJBQuOoV/3mOCebc=";
const CSS_SHA256: &str = "my9RlJjW7Y2I1BRWtAyufJiO5AyoyaYcB5Xyih34+vg=";

const CSS: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:30px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:0 0 4px}
p{margin:6px 0}
.meta,.note,figcaption{color:var(--muted)}
.note,figcaption{font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px;margin:16px 0 10px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.04em}
.card .s{color:var(--muted);font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;border:1px solid rgba(0,0,0,.12)}
.sev-critical{background:#7f1d1d;color:#fff}.sev-high{background:#c2410c;color:#fff}
.sev-medium{background:#d4a017;color:#1f2328}.sev-low{background:#3b82f6;color:#fff}
.sev-info{background:#94a3b8;color:#1f2328}.sev-none{background:#d0d7de;color:#1f2328}
.sev-unknown{background:#8c959f;color:#fff}
.chips{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:4px 0}
.warn{background:#fff4e5;border:1px solid #f0b45a;border-radius:6px;padding:8px 12px;margin:10px 0}
.empty{color:var(--muted);font-style:italic}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:28px}
@media (max-width:900px){.grid2{grid-template-columns:minmax(0,1fr)}}
figure{margin:0}
svg.chart{width:100%;height:auto;display:block;max-width:100%}
svg.chart text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:11px;fill:#1f2328}
svg.chart text.muted{fill:#59636e}
svg.chart text.axis-title{font-size:11.5px;fill:#59636e}
svg.chart .grid{stroke:#e6eaef;stroke-width:1}
svg.chart .axis{stroke:#8c959f;stroke-width:1}
details{margin-top:6px}
summary{cursor:pointer;color:var(--muted);font-size:12.5px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:var(--panel)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.data{font-size:12.5px;margin-top:4px}
table.users td.user{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all;max-width:180px}
table.users ul{margin:2px 0 0;padding-left:18px}
table.users li{margin:1px 0}
.tag{display:inline-block;background:#eef2f6;border:1px solid var(--line);border-radius:4px;padding:0 5px;margin:0 3px 2px 0;font-size:11.5px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.vs{display:block;color:var(--muted);font-size:11.5px}
.hi{color:#b42318;font-weight:600}
footer{margin-top:30px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
@media print{
body{font-size:11px;print-color-adjust:exact;-webkit-print-color-adjust:exact}
main{max-width:none;padding:0}
.grid2{grid-template-columns:minmax(0,1fr)}
figure,tr,.card{break-inside:avoid}
h2{break-after:avoid}
details{display:none}
}
"#;

/// The page's only script: records errors into the DOM and checks that every
/// chart was laid out with content, then sets `body[data-rendered]`.
const SCRIPT: &str = r#"
(function(){
var errs=[];
function note(m){errs.push(String(m));document.body.setAttribute('data-errors',errs.join(' | '));}
window.onerror=function(msg,src,line){note(msg+' (line '+line+')');};
function check(){
var charts=document.querySelectorAll('svg.chart');
if(charts.length===0){note('no charts found');}
for(var i=0;i<charts.length;i++){
var c=charts[i];
var box=c.getBoundingClientRect();
if(!(box.width>0&&box.height>0)){note('chart '+c.id+' has no size');}
if(c.getAttribute('data-empty')!=='true'&&!c.querySelector('[data-mark]')){note('chart '+c.id+' has no marks');}
if(!c.querySelector('title')){note('chart '+c.id+' has no title');}
}
document.body.setAttribute('data-charts',String(charts.length));
document.body.dataset.rendered=errs.length?'error':'ok';
}
if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',check);}else{check();}
})();
"#;

/// Renders the whole page. Pure and deterministic: the same data gives the same bytes.
pub fn render(data: &ReportData) -> String {
    let ranked = ranked_users(&data.users);
    let cohorts = cohort_stats(&data.users);
    let top_n = data.top_users.min(ranked.len());
    let top = &ranked[..top_n];

    let mut h = String::with_capacity(64 * 1024 + top_n * 2048);
    let title = escape_html(&data.title);
    let _ = writeln!(
        h,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'sha256-{CSS_SHA256}'; script-src 'sha256-{SCRIPT_SHA256}'; base-uri 'none'; form-action 'none'">
<meta name="generator" content="goodhart {ver}">
<link rel="icon" href="data:,">
<title>{title} — {as_of}</title>
<style>{CSS}</style>
</head>
<body>
<main>"#,
        ver = escape_html(&data.tool_version),
        as_of = data.as_of,
    );

    waste_section::waste_section(&mut h, data);
    header_section(&mut h, data);
    score_section(&mut h, data);
    h.push_str(r#"<div class="grid2">"#);
    ratio_section(&mut h, data, &cohorts, top);
    pattern_section(&mut h, data);
    h.push_str("</div>\n");
    users_section(&mut h, data, &cohorts, top);

    let _ = writeln!(
        h,
        r#"<footer>Generated by goodhart {ver} for {as_of}. Hashes and identifiers only: no prompt or response text is stored in this report.</footer>
</main>
<script>{SCRIPT}</script>
</body>
</html>"#,
        ver = escape_html(&data.tool_version),
        as_of = data.as_of,
    );
    h
}

fn header_section(h: &mut String, d: &ReportData) {
    let _ = writeln!(
        h,
        r#"<header>
<h1>{title}</h1>
<p class="meta">As of <strong>{as_of}</strong> · window: {wd} day{s} ending {as_of} · goodhart {ver}</p>
<p class="note">Scores compare <em>waste ratios</em> with the user's peer cohort: high token volume alone never raises a score, and every score lists the evidence behind it.</p>
</header>
{warnings}<section aria-label="Inputs and results">
<div class="cards">"#,
        title = escape_html(&d.title),
        as_of = d.as_of,
        wd = d.window_days,
        s = if d.window_days == 1 { "" } else { "s" },
        ver = escape_html(&d.tool_version),
        warnings = if d.warnings.is_empty() {
            String::new()
        } else {
            format!(
                "<section id=\"warnings\" role=\"alert\" aria-label=\"Warnings\">\n<h2>Warnings</h2>\n<ul>\n{}</ul>\n</section>\n",
                d.warnings
                    .iter()
                    .map(|w| format!("<li>{}</li>\n", escape_html(w)))
                    .collect::<String>()
            )
        },
    );
    let alerts_total: u64 = d.alerts_by_severity.values().sum();
    let cards: [(&str, String, String); 6] = [
        ("Rows read", fmt_int(d.rows_read), String::new()),
        (
            "Rows accepted",
            fmt_int(d.rows_accepted),
            pct(d.rows_accepted, d.rows_read),
        ),
        (
            "Rows quarantined",
            fmt_int(d.rows_quarantined),
            pct(d.rows_quarantined, d.rows_read),
        ),
        ("Users scored", fmt_int(d.users_scored), String::new()),
        ("Sessions scored", fmt_int(d.sessions_scored), String::new()),
        ("Alerts", fmt_int(alerts_total), String::new()),
    ];
    for (k, v, s) in cards {
        let _ = write!(
            h,
            r#"<div class="card"><div class="k">{k}</div><div class="v">{v}</div>"#
        );
        if !s.is_empty() {
            let _ = write!(h, r#"<div class="s">{s} of rows read</div>"#);
        }
        h.push_str("</div>\n");
    }
    h.push_str("</div>\n");

    if d.rows_accepted.checked_add(d.rows_quarantined) != Some(d.rows_read) {
        let _ = writeln!(
            h,
            r#"<p class="warn" role="alert"><strong>Row accounting does not balance:</strong> {} accepted + {} quarantined ≠ {} read. Every input row should be either used or quarantined with a reason; check the quarantine output.</p>"#,
            fmt_int(d.rows_accepted),
            fmt_int(d.rows_quarantined),
            fmt_int(d.rows_read)
        );
    }

    // Alerts by severity, most severe first, then unknown names alphabetically.
    let mut alerts: Vec<(&String, &u64)> = d.alerts_by_severity.iter().collect();
    alerts.sort_by(|a, b| {
        severity_rank(a.0)
            .cmp(&severity_rank(b.0))
            .then_with(|| a.0.cmp(b.0))
    });
    h.push_str(
        r#"<div class="chips" id="alerts-by-severity"><strong>Alerts by severity:</strong> "#,
    );
    if alerts_total == 0 {
        h.push_str(r#"<span class="empty">No alerts raised in this window.</span>"#);
    } else {
        for (sev, n) in alerts.into_iter().filter(|(_, n)| **n > 0) {
            let _ = write!(h, "{} {} ", severity_badge(sev), fmt_int(*n));
        }
    }
    h.push_str("</div>\n</section>\n");
}

/// Opens an accessible chart `<svg>`.
fn svg_open(h: &mut String, id: &str, w: u32, ht: u32, title: &str, desc: &str, empty: bool) {
    let _ = writeln!(
        h,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {w} {ht}" width="{w}" height="{ht}" preserveAspectRatio="xMinYMin meet" role="img" aria-label="{title}" aria-labelledby="{id}-title {id}-desc" data-empty="{empty}" xmlns="http://www.w3.org/2000/svg">
<title id="{id}-title">{title}</title>
<desc id="{id}-desc">{desc}</desc>"#,
        title = escape_html(title),
        desc = escape_html(desc),
    );
}

fn svg_empty(h: &mut String, w: u32, ht: u32, msg: &str) {
    let _ = writeln!(
        h,
        r##"<rect x="0.5" y="0.5" width="{}" height="{}" fill="#f6f8fa" stroke="#d1d9e0" rx="6"/><text x="{}" y="{}" text-anchor="middle" class="muted">{}</text>"##,
        w - 1,
        ht - 1,
        w / 2,
        ht / 2 + 4,
        escape_html(msg)
    );
}

// ---------------------------------------------------------------------------
// Score distribution

fn score_section(h: &mut String, d: &ReportData) {
    // counts[bin][severity rank]
    let n_sev = SEVERITIES.len() + 1;
    let mut counts = vec![vec![0u64; n_sev]; SCORE_BINS];
    let mut non_finite = 0u64;
    for u in &d.users {
        match score_bin(u.score) {
            Some(b) => counts[b][severity_rank(&u.severity)] += 1,
            None => non_finite += 1,
        }
    }
    let totals: Vec<u64> = counts.iter().map(|c| c.iter().sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0);
    let shown: u64 = totals.iter().sum();

    h.push_str(
        r#"<section aria-labelledby="h-scores"><h2 id="h-scores">Score distribution</h2><figure>"#,
    );
    let (w, ht) = (1100u32, 250u32);
    let (ml, mr, mt, mb) = (56.0, 16.0, 22.0, 44.0);
    let pw = f64::from(w) - ml - mr;
    let ph = f64::from(ht) - mt - mb;
    let title = "Score distribution (users per 5-point score bin, log scale)";
    let desc = format!(
        "{} users with a score, in {} bins from 0 to 100; bars are split by severity.",
        shown, SCORE_BINS
    );
    svg_open(h, CHART_IDS[0], w, ht, title, &desc, shown == 0);
    if shown == 0 {
        svg_empty(h, w, ht, "No users were scored in this window.");
    } else {
        // y: log(1 + count), top at the next power of ten — shows single
        // high-score users next to thousands of ordinary ones.
        let mut top = 10u64;
        while top < max {
            top = top.saturating_mul(10);
        }
        let ly = |c: f64| (1.0 + c).ln() / (1.0 + top as f64).ln() * ph;
        let mut t = 1u64;
        let mut ticks = vec![0u64];
        while t <= top {
            ticks.push(t);
            t = t.saturating_mul(10);
        }
        for tk in ticks {
            let y = mt + ph - ly(tk as f64);
            let _ = writeln!(
                h,
                r#"<line class="grid" x1="{ml}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="muted">{}</text>"#,
                ml + pw,
                ml - 6.0,
                y + 4.0,
                fmt_compact(tk as f64)
            );
        }
        let bw = pw / SCORE_BINS as f64;
        for (b, row) in counts.iter().enumerate() {
            let total = totals[b];
            let x = ml + bw * b as f64 + 2.0;
            let lo = b * 100 / SCORE_BINS;
            let hi = (b + 1) * 100 / SCORE_BINS;
            if total == 0 {
                continue;
            }
            let bar_h = ly(total as f64);
            let mut y = mt + ph;
            // Least severe at the bottom, most severe on top.
            for rank in (0..n_sev).rev() {
                let c = row[rank];
                if c == 0 {
                    continue;
                }
                let seg = bar_h * c as f64 / total as f64;
                y -= seg;
                let (fill, _) = severity_colours(rank);
                let sev = SEVERITIES.get(rank).map_or("other", |s| s.0);
                let _ = writeln!(
                    h,
                    r#"<rect data-mark="bin" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{seg:.1}" fill="{fill}"><title>score {lo}–{hi}{}: {c} user{} ({sev})</title></rect>"#,
                    bw - 4.0,
                    if b + 1 == SCORE_BINS {
                        " (incl. 100)"
                    } else {
                        ""
                    },
                    if c == 1 { "" } else { "s" },
                );
            }
            let _ = writeln!(
                h,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + (bw - 4.0) / 2.0,
                mt + ph - bar_h - 4.0,
                fmt_compact(total as f64)
            );
        }
        // x axis
        let _ = writeln!(
            h,
            r#"<line class="axis" x1="{ml}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
            ml + pw,
            mt + ph,
            mt + ph
        );
        for v in (0..=100).step_by(10) {
            let x = ml + pw * f64::from(v) / 100.0;
            let _ = writeln!(
                h,
                r#"<line class="axis" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="muted">{v}</text>"#,
                mt + ph,
                mt + ph + 4.0,
                mt + ph + 16.0
            );
        }
        let _ = writeln!(
            h,
            r#"<text class="axis-title" x="{:.1}" y="{}" text-anchor="middle">score</text><text class="axis-title" x="14" y="{:.1}" text-anchor="middle" transform="rotate(-90 14 {:.1})">users (log scale)</text>"#,
            ml + pw / 2.0,
            ht - 6,
            mt + ph / 2.0,
            mt + ph / 2.0
        );
        // legend (only severities present)
        let mut lx = ml + pw - 10.0;
        let present: Vec<usize> = (0..n_sev)
            .filter(|r| counts.iter().any(|row| row[*r] > 0))
            .collect();
        for rank in present.into_iter().rev() {
            let name = SEVERITIES.get(rank).map_or("other", |s| s.0);
            lx -= 26.0 + 6.5 * name.len() as f64;
            let (fill, _) = severity_colours(rank);
            let _ = writeln!(
                h,
                r#"<rect x="{lx:.1}" y="4" width="10" height="10" fill="{fill}"/><text x="{:.1}" y="13">{name}</text>"#,
                lx + 13.0
            );
        }
    }
    h.push_str("</svg>\n");
    let _ = writeln!(
        h,
        "<figcaption>Users per score bin. Bar heights use a logarithmic scale (the number above each bar is the exact count); colours show severity.{}</figcaption>",
        if non_finite > 0 {
            format!(
                " {} user{} without a finite score {} not shown.",
                non_finite,
                if non_finite == 1 { "" } else { "s" },
                if non_finite == 1 { "is" } else { "are" }
            )
        } else {
            String::new()
        }
    );
    if shown > 0 {
        h.push_str(r#"<details><summary>Score distribution as a table</summary><table class="data"><thead><tr><th>Score bin</th><th class="num">Users</th>"#);
        let present: Vec<usize> = (0..n_sev)
            .filter(|r| counts.iter().any(|row| row[*r] > 0))
            .collect();
        for r in &present {
            let _ = write!(
                h,
                r#"<th class="num">{}</th>"#,
                SEVERITIES.get(*r).map_or("other", |s| s.0)
            );
        }
        h.push_str("</tr></thead><tbody>");
        for (b, row) in counts.iter().enumerate() {
            let lo = b * 100 / SCORE_BINS;
            let hi = (b + 1) * 100 / SCORE_BINS;
            let close = if b + 1 == SCORE_BINS { ']' } else { ')' };
            let _ = write!(
                h,
                r#"<tr><td>[{lo}, {hi}{close}</td><td class="num">{}</td>"#,
                totals[b]
            );
            for r in &present {
                let _ = write!(h, r#"<td class="num">{}</td>"#, row[*r]);
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table></details>\n");
    }
    h.push_str("</figure></section>\n");
}

// ---------------------------------------------------------------------------
// Tokens per accepted change by cohort

/// Log-scale ticks between `lo_exp` and `hi_exp` decades: 1-2-5 steps when the
/// span is at most two decades, powers of ten otherwise.
fn log_ticks(lo_exp: i32, hi_exp: i32) -> Vec<f64> {
    let mut t = Vec::new();
    let steps: &[f64] = if hi_exp - lo_exp <= 2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    for e in lo_exp..=hi_exp {
        for s in steps {
            let v = s * 10f64.powi(e);
            if v <= 10f64.powi(hi_exp) * 1.000_001 {
                t.push(v);
            }
        }
    }
    t
}

fn ratio_section(
    h: &mut String,
    d: &ReportData,
    cohorts: &BTreeMap<&str, CohortStats>,
    top: &[&ReportUser],
) {
    h.push_str(r#"<section aria-labelledby="h-ratio"><h2 id="h-ratio">Tokens per accepted change, by cohort</h2><figure>"#);
    // Largest cohorts (by users) if there are too many; displayed by name.
    let mut chosen: Vec<&CohortStats> = cohorts.values().collect();
    chosen.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
    let hidden = chosen.len().saturating_sub(MAX_COHORTS_SHOWN);
    chosen.truncate(MAX_COHORTS_SHOWN);
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let k = d.min_group_size;
    let small = chosen.iter().filter(|c| c.is_small(k)).count();
    let drawable: Vec<&CohortStats> = chosen
        .iter()
        .copied()
        .filter(|c| !c.ratios.is_empty() && !c.is_small(k))
        .collect();

    let row_h = 40.0;
    let (ml, mr, mt, mb) = (130.0, 16.0, 12.0, 44.0);
    let w = 540u32;
    let rows = drawable.len().max(1);
    let ht = (mt + mb + row_h * rows as f64).ceil() as u32;
    let pw = f64::from(w) - ml - mr;
    let title = "Tokens per accepted change by cohort (log scale)";
    let desc = format!(
        "Box plot per cohort of each user's tokens per accepted change, for {} cohort{}; dots are users from the top table.",
        drawable.len(),
        if drawable.len() == 1 { "" } else { "s" }
    );
    svg_open(h, CHART_IDS[1], w, ht, title, &desc, drawable.is_empty());
    if drawable.is_empty() {
        svg_empty(
            h,
            w,
            ht,
            if d.users.is_empty() {
                "No users were scored in this window."
            } else {
                "No user had an accepted change in this window."
            },
        );
    } else {
        // Ratios below 1 token per change are drawn at 1 (log scale).
        let floor = 1.0f64;
        let min = drawable
            .iter()
            .map(|c| c.ratios[0].max(floor))
            .fold(f64::INFINITY, f64::min);
        let max = drawable
            .iter()
            .map(|c| c.ratios[c.ratios.len() - 1].max(floor))
            .fold(f64::NEG_INFINITY, f64::max);
        let lo_exp = min.log10().floor() as i32;
        let mut hi_exp = max.log10().ceil() as i32;
        if hi_exp <= lo_exp {
            hi_exp = lo_exp + 1;
        }
        let (llo, lhi) = (f64::from(lo_exp), f64::from(hi_exp));
        let sx = |v: f64| ml + (v.max(floor).log10() - llo) / (lhi - llo) * pw;
        let plot_bottom = mt + row_h * rows as f64;
        for t in log_ticks(lo_exp, hi_exp) {
            let x = sx(t);
            let _ = writeln!(
                h,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{mt}" y2="{plot_bottom:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="muted">{}</text>"#,
                plot_bottom + 14.0,
                fmt_compact(t)
            );
        }
        let _ = writeln!(
            h,
            r#"<line class="axis" x1="{ml}" x2="{:.1}" y1="{plot_bottom:.1}" y2="{plot_bottom:.1}"/><text class="axis-title" x="{:.1}" y="{}" text-anchor="middle">tokens per accepted change (log scale)</text>"#,
            ml + pw,
            ml + pw / 2.0,
            ht - 6
        );
        for (i, c) in drawable.iter().enumerate() {
            let cy = mt + row_h * i as f64 + row_h / 2.0;
            let q = |p: f64| quantile(&c.ratios, p).unwrap_or(0.0);
            let (mn, q1, med, q3, mx) = (q(0.0), q(0.25), q(0.5), q(0.75), q(1.0));
            let label = escape_html(&truncate_chars(&c.name, 18));
            let full = escape_html(&c.name);
            let _ = writeln!(
                h,
                r#"<g data-cohort="{full}"><text x="{:.1}" y="{:.1}" text-anchor="end"><title>{full}</title>{label}</text><text x="{:.1}" y="{:.1}" text-anchor="end" class="muted">n={}</text>"#,
                ml - 8.0,
                cy - 1.0,
                ml - 8.0,
                cy + 11.0,
                c.ratios.len()
            );
            let _ = writeln!(
                h,
                r##"<line data-mark="whisker" x1="{:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="#57606a" stroke-width="1.2"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#57606a"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#57606a"/>
<rect data-mark="box" x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#dbe7f5" stroke="#3d6fb4"><title>{full}: min {}, 25th pct {}, median {}, 75th pct {}, max {} tokens per accepted change ({} users)</title></rect><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#1f3f73" stroke-width="2.2"/>"##,
                sx(mn),
                sx(mx),
                sx(mn),
                sx(mn),
                cy - 5.0,
                cy + 5.0,
                sx(mx),
                sx(mx),
                cy - 5.0,
                cy + 5.0,
                sx(q1),
                cy - 8.0,
                (sx(q3) - sx(q1)).max(1.0),
                fmt_compact(mn),
                fmt_compact(q1),
                fmt_compact(med),
                fmt_compact(q3),
                fmt_compact(mx),
                c.ratios.len(),
                sx(med),
                sx(med),
                cy - 8.0,
                cy + 8.0,
            );
            // Users of the top table in this cohort, as dots coloured by severity.
            for u in top.iter().filter(|u| u.cohort == c.name) {
                let Some(r) = u
                    .tokens_per_accepted_change
                    .filter(|r| r.is_finite() && *r >= 0.0)
                else {
                    continue;
                };
                let (fill, _) = severity_colours(severity_rank(&u.severity));
                let _ = writeln!(
                    h,
                    r##"<circle data-mark="user" cx="{:.1}" cy="{:.1}" r="3.6" fill="{fill}" stroke="#ffffff" stroke-width="0.8"><title>{}: {} tokens per accepted change (score {})</title></circle>"##,
                    sx(r),
                    cy + 13.0,
                    escape_html(&u.user_id),
                    fmt_compact(r),
                    fmt_score(u.score)
                );
            }
            h.push_str("</g>\n");
        }
    }
    h.push_str("</svg>\n");
    let no_change: usize = chosen.iter().map(|c| c.no_change).sum();
    let _ = writeln!(
        h,
        "<figcaption>Box: 25th–75th percentile, thick line: median, whiskers: min–max, dots: users in the top table. Compare a user with their own cohort: a heavy user who ships proportionally more sits inside the box.{}{}{}</figcaption>",
        if no_change > 0 {
            format!(
                " {no_change} user{} without an accepted change {} not drawn.",
                if no_change == 1 { "" } else { "s" },
                if no_change == 1 { "is" } else { "are" }
            )
        } else {
            String::new()
        },
        if hidden > 0 {
            format!(" {hidden} smaller cohort{} not shown.", if hidden == 1 { "" } else { "s" })
        } else {
            String::new()
        },
        if small > 0 {
            format!(
                " {small} cohort{} of fewer than {k} people {} not drawn and {} figures read \"{}\" (small-group suppression).",
                if small == 1 { "" } else { "s" },
                if small == 1 { "is" } else { "are" },
                if small == 1 { "its" } else { "their" },
                below(k)
            )
        } else {
            String::new()
        }
    );
    if !chosen.is_empty() {
        h.push_str(r#"<details><summary>Cohort statistics as a table</summary><table class="data"><thead><tr><th>Cohort</th><th class="num">Users</th><th class="num">No accepted change</th><th class="num">25th pct</th><th class="num">Median</th><th class="num">75th pct</th></tr></thead><tbody>"#);
        for c in &chosen {
            if c.is_small(k) {
                let _ = write!(
                    h,
                    r#"<tr data-suppressed="true"><td>{}</td><td class="num">{b}</td><td class="num">{b}</td><td class="num">{b}</td><td class="num">{b}</td><td class="num">{b}</td></tr>"#,
                    escape_html(&c.name),
                    b = below(k)
                );
                continue;
            }
            let q = |p: f64| quantile(&c.ratios, p).map_or("—".to_string(), fmt_compact);
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                escape_html(&c.name),
                c.users,
                c.no_change,
                q(0.25),
                q(0.5),
                q(0.75)
            );
        }
        h.push_str("</tbody></table></details>\n");
    }
    h.push_str("</figure></section>\n");
}

// ---------------------------------------------------------------------------
// Pattern prevalence

fn pattern_section(h: &mut String, d: &ReportData) {
    h.push_str(r#"<section aria-labelledby="h-patterns"><h2 id="h-patterns">Pattern prevalence</h2><figure>"#);
    // Merge duplicate names (summing), then most frequent first, then by name.
    let mut merged: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, n) in &d.pattern_prevalence {
        *merged.entry(name.as_str()).or_insert(0) += n;
    }
    let mut pats: Vec<(&str, u64)> = merged.into_iter().filter(|(_, n)| *n > 0).collect();
    pats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let hidden = pats.len().saturating_sub(MAX_PATTERNS_SHOWN);
    pats.truncate(MAX_PATTERNS_SHOWN);

    let row_h = 26.0;
    let (ml, mr, mt, mb) = (150.0, 90.0, 10.0, 14.0);
    let w = 540u32;
    let ht = (mt + mb + row_h * pats.len().max(3) as f64).ceil() as u32;
    let pw = f64::from(w) - ml - mr;
    let title = "Pattern prevalence (users for whom each pattern fired on its own; context-only patterns not counted)";
    let desc = format!(
        "{} pattern{} fired; bar length is the number of users.",
        pats.len(),
        if pats.len() == 1 { "" } else { "s" }
    );
    svg_open(h, CHART_IDS[2], w, ht, title, &desc, pats.is_empty());
    if pats.is_empty() {
        svg_empty(h, w, ht, "No pattern fired for any user in this window.");
    } else {
        let max = pats[0].1.max(1) as f64;
        let _ = writeln!(
            h,
            r#"<line class="axis" x1="{ml}" x2="{ml}" y1="{mt}" y2="{:.1}"/>"#,
            mt + row_h * pats.len() as f64
        );
        for (i, (name, n)) in pats.iter().enumerate() {
            let y = mt + row_h * i as f64;
            let bw = (pw * *n as f64 / max).max(1.0);
            let label = escape_html(&truncate_chars(name, 22));
            let full = escape_html(name);
            let share = if d.users_scored > 0 {
                format!(" ({})", pct(*n, d.users_scored))
            } else {
                String::new()
            };
            let _ = writeln!(
                h,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end"><title>{full}</title>{label}</text><rect data-mark="bar" x="{ml}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="#6e56cf"><title>{full}: {n} user{}{share}</title></rect><text x="{:.1}" y="{:.1}">{}{share}</text>"##,
                ml - 8.0,
                y + row_h / 2.0 + 4.0,
                y + 4.0,
                row_h - 8.0,
                if *n == 1 { "" } else { "s" },
                ml + bw + 6.0,
                y + row_h / 2.0 + 4.0,
                fmt_int(*n)
            );
        }
    }
    h.push_str("</svg>\n");
    let _ = writeln!(
        h,
        "<figcaption>Number of users for whom each pattern fired on its own (pattern strength at least the firing threshold, 3 robust-z units by default; patterns shown in explanations only as context are not counted){}.{}</figcaption>",
        if d.users_scored > 0 {
            " (share of users scored in brackets)"
        } else {
            ""
        },
        if hidden > 0 {
            format!(
                " {hidden} rarer pattern{} not shown.",
                if hidden == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    if !pats.is_empty() {
        h.push_str(r#"<details><summary>Pattern prevalence as a table</summary><table class="data"><thead><tr><th>Pattern</th><th class="num">Users</th></tr></thead><tbody>"#);
        for (name, n) in &pats {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="num">{}</td></tr>"#,
                escape_html(name),
                fmt_int(*n)
            );
        }
        h.push_str("</tbody></table></details>\n");
    }
    h.push_str("</figure></section>\n");
}

// ---------------------------------------------------------------------------
// Top users

fn users_section(
    h: &mut String,
    d: &ReportData,
    cohorts: &BTreeMap<&str, CohortStats>,
    top: &[&ReportUser],
) {
    let _ = writeln!(
        h,
        r#"<section aria-labelledby="h-users"><h2 id="h-users">Top users by score</h2>
<p class="note">The {} highest-scoring of {} scored users. Token totals are shown next to tokens per accepted change: volume alone is not evidence.</p>"#,
        top.len(),
        fmt_int(d.users.len() as u64)
    );
    if top.is_empty() {
        h.push_str(r#"<p class="empty" id="users-empty">No users were scored in this window.</p></section>"#);
        h.push('\n');
        return;
    }
    h.push_str(r#"<table class="users" id="top-users"><thead><tr><th class="num">#</th><th>User</th><th>Cohort</th><th>Severity</th><th class="num">Score</th><th class="num">Tokens</th><th class="num">Accepted changes</th><th class="num">Tokens / accepted change</th><th>Evidence</th><th>Alert</th></tr></thead>
<tbody>
"#);
    for (i, u) in top.iter().enumerate() {
        let ratio = match u.tokens_per_accepted_change {
            Some(r) if r.is_finite() => {
                let cohort = cohorts.get(u.cohort.as_str());
                let small = cohort.is_some_and(|c| c.is_small(d.min_group_size));
                let vs = cohort
                    .filter(|_| !small)
                    .and_then(CohortStats::median)
                    .filter(|m| *m > 0.0)
                    .map(|m| {
                        let x = r / m;
                        let class = if x >= 3.0 { " hi" } else { "" };
                        format!(
                            r#"<span class="vs{class}">{x:.1}× cohort median ({})</span>"#,
                            fmt_compact(m)
                        )
                    })
                    .unwrap_or_else(|| {
                        if small {
                            format!(
                                r#"<span class="vs">cohort of {}: not compared</span>"#,
                                below(d.min_group_size)
                            )
                        } else {
                            String::new()
                        }
                    });
                format!("{}{vs}", fmt_compact(r))
            }
            _ => r#"<span class="vs">no accepted change</span>"#.to_string(),
        };
        let score = fmt_score(u.score);
        let _ = write!(
            h,
            r#"<tr data-user-row="{rank}"><td class="num">{rank}</td><td class="user">{user}</td><td>{cohort}</td><td>{badge}</td><td class="num"><strong>{score}</strong></td><td class="num" title="{tokens_full} tokens">{tokens}</td><td class="num">{changes}</td><td class="num">{ratio}</td><td>"#,
            rank = i + 1,
            user = escape_html(&u.user_id),
            cohort = escape_html(&u.cohort),
            badge = severity_badge(&u.severity),
            tokens_full = fmt_int(u.total_tokens),
            tokens = fmt_compact(u.total_tokens as f64),
            changes = fmt_int(u.accepted_changes),
        );
        for p in &u.patterns {
            let _ = write!(h, r#"<span class="tag">{}</span>"#, escape_html(p));
        }
        if u.explanations.is_empty() {
            if u.patterns.is_empty() {
                h.push_str(r#"<span class="empty">no pattern fired</span>"#);
            }
        } else {
            h.push_str("<ul>");
            for e in &u.explanations {
                let _ = write!(h, "<li>{}</li>", escape_html(e));
            }
            h.push_str("</ul>");
        }
        let alert = u
            .alert_status
            .as_deref()
            .map_or_else(|| "—".to_string(), escape_html);
        let _ = writeln!(h, "</td><td>{alert}</td></tr>");
    }
    h.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(
        id: &str,
        cohort: &str,
        score: f64,
        sev: &str,
        tokens: u64,
        changes: u64,
    ) -> ReportUser {
        ReportUser {
            user_id: id.to_string(),
            cohort: cohort.to_string(),
            score,
            severity: sev.to_string(),
            total_tokens: tokens,
            accepted_changes: changes,
            tokens_per_accepted_change: (changes > 0).then(|| tokens as f64 / changes as f64),
            ..ReportUser::default()
        }
    }

    fn data(users: Vec<ReportUser>) -> ReportData {
        ReportData {
            title: "t".into(),
            tool_version: "9.9.9".into(),
            as_of: NaiveDate::from_ymd_opt(2025, 3, 4).unwrap(),
            window_days: 28,
            rows_read: 100,
            rows_accepted: 97,
            rows_quarantined: 3,
            users_scored: users.len() as u64,
            sessions_scored: 5,
            users,
            // These tests check the charts on tiny cohorts: no small-group suppression
            // here (default 5; tested on its own below).
            min_group_size: 1,
            ..ReportData::default()
        }
    }

    #[test]
    fn a_team_of_three_shows_below_five_and_no_figures_of_its_own() {
        let mut users: Vec<ReportUser> = (0..3u32)
            .map(|i| {
                user(
                    &format!("t{i}"),
                    "tiny",
                    80.0 - f64::from(i),
                    "high",
                    9_000 * (i as u64 + 1),
                    3,
                )
            })
            .collect();
        users.extend((0..6u32).map(|i| {
            user(
                &format!("b{i}"),
                "big",
                10.0,
                "none",
                1_000 * (i as u64 + 1),
                10,
            )
        }));
        let mut d = data(users);
        d.min_group_size = DEFAULT_MIN_GROUP_SIZE;
        let html = render(&d);
        // The cohort table row of "tiny": every figure reads "< 5".
        let row_start = html
            .find(r#"<tr data-suppressed="true"><td>tiny</td>"#)
            .expect("tiny row suppressed");
        let row = &html[row_start..row_start + html[row_start..].find("</tr>").unwrap()];
        assert_eq!(
            row.matches(r#"<td class="num">&lt; 5</td>"#).count(),
            5,
            "{row}"
        );
        assert!(
            !row.contains(">3<"),
            "the team size itself is withheld: {row}"
        );
        // No box for it, a box for the cohort of 6.
        let svg = section(&html, CHART_IDS[1]);
        assert!(!svg.contains(r#"data-cohort="tiny""#));
        assert!(svg.contains(r#"data-cohort="big""#));
        assert!(html.contains("1 cohort of fewer than 5 people is not drawn"));
        // Its members are not compared with their cohort's median in the table.
        assert_eq!(html.matches("cohort of &lt; 5: not compared").count(), 3);
        assert!(html.contains("× cohort median"), "the big cohort still is");
        // With k = 3 the team of 3 is shown.
        d.min_group_size = 3;
        let html = render(&d);
        assert!(!html.contains("&lt; 3"));
        assert!(section(&html, CHART_IDS[1]).contains(r#"data-cohort="tiny""#));
    }

    #[test]
    fn escape_covers_all_special_characters() {
        assert_eq!(escape_html("a&b"), "a&amp;b");
        assert_eq!(escape_html("<x>"), "&lt;x&gt;");
        assert_eq!(escape_html(r#""'"#), "&quot;&#39;");
        assert_eq!(escape_html("plain ü"), "plain ü");
    }

    #[test]
    fn user_text_is_escaped_everywhere() {
        let mut u = user(
            "<script>alert(1)</script>",
            "<b>team\"x'</b>",
            88.0,
            "high",
            1000,
            2,
        );
        u.explanations = vec!["re-sent <img src=x onerror=alert(2)> 5 times".into()];
        u.patterns = vec!["<i>loop</i>".into()];
        u.alert_status = Some("<open>".into());
        let mut d = data(vec![u]);
        d.title = "<title>".into();
        d.alerts_by_severity.insert("<sev>".into(), 1);
        d.pattern_prevalence = vec![("<i>loop</i>".into(), 1)];
        let html = render(&d);
        for bad in [
            "<script>alert",
            "<b>team",
            "<img src=x",
            "<i>loop",
            "<open>",
            "<sev>",
            "<title><",
        ] {
            assert!(!html.contains(bad), "unescaped {bad:?} in output");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;team&quot;x&#39;&lt;/b&gt;"));
        assert!(html.contains("re-sent &lt;img src=x onerror=alert(2)&gt; 5 times"));
        // Exactly one script element: ours.
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn histogram_bins_known_scores() {
        // Bin width 5: [0,5) [5,10) ... [95,100].
        let h = score_histogram([
            0.0,
            2.5,
            4.999,
            5.0,
            9.99,
            50.0,
            54.9,
            55.0,
            95.0,
            99.9,
            100.0,
            -3.0,
            140.0,
            f64::NAN,
            f64::INFINITY,
        ]);
        let mut want = [0u64; SCORE_BINS];
        want[0] = 4; // 0, 2.5, 4.999, -3 (clamped)
        want[1] = 2; // 5, 9.99
        want[10] = 2; // 50, 54.9
        want[11] = 1; // 55
        want[19] = 4; // 95, 99.9, 100, 140 (clamped)
        assert_eq!(h, want);
    }

    #[test]
    fn histogram_svg_has_one_stacked_segment_per_bin_and_severity() {
        let users = vec![
            user("a", "c", 1.0, "none", 10, 1),
            user("b", "c", 2.0, "none", 10, 1),
            user("c", "c", 3.0, "low", 10, 1),
            user("d", "c", 97.0, "critical", 10, 1),
        ];
        let html = render(&data(users));
        let svg = section(&html, CHART_IDS[0]);
        // bin 0 has "none" and "low" segments, bin 19 one "critical" segment.
        assert_eq!(svg.matches(r#"data-mark="bin""#).count(), 3);
        assert!(svg.contains("score 0–5: 2 users (none)"));
        assert!(svg.contains("score 0–5: 1 user (low)"));
        assert!(svg.contains("score 95–100 (incl. 100): 1 user (critical)"));
    }

    /// The text of the `<svg>` element with this id.
    fn section<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html.find(&format!(r#"id="{id}""#)).expect("chart present");
        let end = html[start..].find("</svg>").unwrap() + start;
        &html[start..end]
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.25), Some(1.75));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn table_ranks_by_score_then_id_and_compares_with_cohort_median() {
        // Cohort "a": ratios 100, 200, 900 -> median 200. u3's 900 = 4.5x median.
        let users = vec![
            user("u1", "a", 10.0, "none", 1000, 10),
            user("u2", "a", 50.0, "medium", 400, 2),
            user("u3", "a", 80.0, "high", 900, 1),
            user("u0", "a", 50.0, "medium", 0, 0),
        ];
        let mut d = data(users);
        d.top_users = 3;
        let html = render(&d);
        assert_eq!(html.matches("data-user-row=").count(), 3);
        let p3 = html.find(">u3<").unwrap();
        let p0 = html.find(">u0<").unwrap();
        let p2 = html.find(">u2<").unwrap();
        assert!(p3 < p0 && p0 < p2, "order: score desc, then id");
        assert!(!html.contains(">u1<"), "u1 is 4th, beyond top 3");
        assert!(html.contains("4.5× cohort median (200)"));
        assert!(html.contains("1.0× cohort median (200)")); // u2: 200/200
        assert!(html.contains("no accepted change")); // u0
    }

    #[test]
    fn box_plot_draws_one_box_per_cohort_with_ratios() {
        let users = vec![
            user("a1", "alpha", 5.0, "none", 1_000, 10),
            user("a2", "alpha", 5.0, "none", 3_000, 10),
            user("b1", "beta", 5.0, "none", 50_000, 10),
            user("z1", "zeta", 5.0, "none", 50_000, 0), // no ratio: cohort not drawn
        ];
        let html = render(&data(users));
        let svg = section(&html, CHART_IDS[1]);
        assert_eq!(svg.matches(r#"data-mark="box""#).count(), 2);
        assert!(svg.contains("alpha: min 100, 25th pct 150, median 200, 75th pct 250, max 300"));
        assert!(html.contains("1 user without an accepted change is not drawn."));
        // log axis spans 100 .. 10k (two decades -> 1-2-5 ticks).
        assert!(svg.contains(">100<") && svg.contains(">10k<") && svg.contains(">2k<"));
    }

    #[test]
    fn pattern_bars_sorted_by_count_then_name() {
        let mut d = data(vec![user("u", "c", 1.0, "none", 1, 1)]);
        d.users_scored = 4;
        d.pattern_prevalence = vec![
            ("loop".into(), 1),
            ("spawn".into(), 3),
            ("bloat".into(), 1),
            ("never".into(), 0),
        ];
        let html = render(&d);
        let svg = section(&html, CHART_IDS[2]);
        assert_eq!(svg.matches(r#"data-mark="bar""#).count(), 3);
        let (s, b, l) = (
            svg.find("spawn: 3 users (75.0%)").unwrap(),
            svg.find("bloat: 1 user (25.0%)").unwrap(),
            svg.find("loop: 1 user").unwrap(),
        );
        assert!(s < b && b < l);
        assert!(!svg.contains("never"));
    }

    #[test]
    fn empty_report_renders_clean_empty_states() {
        let mut d = data(vec![]);
        d.rows_read = 0;
        d.rows_accepted = 0;
        d.rows_quarantined = 0;
        let html = render(&d);
        assert_eq!(html.matches(r#"data-empty="true""#).count(), 3);
        assert!(html.contains("No alerts raised in this window."));
        assert!(html.contains(r#"id="users-empty""#));
        assert!(!html.contains("data-mark="));
        assert!(!html.contains("Row accounting does not balance"));
        assert!(!html.contains("NaN") && !html.contains("=\"inf") && !html.contains(">inf"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn unbalanced_row_accounting_is_flagged() {
        let mut d = data(vec![]);
        d.rows_read = 10;
        d.rows_accepted = 7;
        d.rows_quarantined = 2;
        let html = render(&d);
        assert!(html.contains("7 accepted + 2 quarantined ≠ 10 read"));
    }

    #[test]
    fn alerts_listed_most_severe_first() {
        let mut d = data(vec![]);
        d.alerts_by_severity = BTreeMap::from([
            ("low".to_string(), 4),
            ("critical".to_string(), 1),
            ("high".to_string(), 2),
        ]);
        let html = render(&d);
        let c = html.find("sev-critical\">critical</span> 1").unwrap();
        let hi = html.find("sev-high\">high</span> 2").unwrap();
        let lo = html.find("sev-low\">low</span> 4").unwrap();
        assert!(c < hi && hi < lo);
        assert!(html.contains(r#"<div class="v">7</div>"#));
    }

    #[test]
    fn output_is_independent_of_user_order() {
        let users = vec![
            user("a", "x", 30.0, "low", 100, 1),
            user("b", "y", 30.0, "low", 200, 1),
            user("c", "x", 70.0, "high", 300, 1),
        ];
        let mut rev = users.clone();
        rev.reverse();
        assert_eq!(render(&data(users)), render(&data(rev)));
    }

    #[test]
    fn percentages_never_hide_small_shares() {
        assert_eq!(pct(431, 1_204_331), "0.04%");
        assert_eq!(pct(1_203_900, 1_204_331), "99.96%");
        assert_eq!(pct(1, 1_000_000), "<0.01%");
        assert_eq!(pct(999_999, 1_000_000), ">99.99%");
        assert_eq!(pct(1, 4), "25.0%");
        assert_eq!(pct(0, 4), "0%");
        assert_eq!(pct(4, 4), "100%");
        assert_eq!(pct(4, 0), "—");
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(1234567), "1,234,567");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_compact(950.0), "950");
        assert_eq!(fmt_compact(12_345.0), "12.3k");
        assert_eq!(fmt_compact(2_000_000.0), "2M");
        assert_eq!(fmt_compact(450_000.0), "450k");
        assert_eq!(fmt_compact(1.5), "1.5");
        assert_eq!(fmt_score(83.46), "83.5");
        assert_eq!(fmt_score(f64::NAN), "—");
    }

    #[test]
    fn write_report_names_the_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("report.html");
        let err = write_report(&data(vec![]), &path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("missing-dir"), "{msg}");
        let ok = dir.path().join("report.html");
        write_report(&data(vec![]), &ok).unwrap();
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), render(&data(vec![])));
        assert!(!dir.path().join("report.html.tmp").exists());
    }
}
