//! The page: the askama template that puts the sections together, the header
//! section, and the Content-Security-Policy hashes of the inline blocks.

use askama::Template;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::format::{fmt_int, pct, plural};
use crate::stats::{cohort_stats, ranked_users, Badge};
use crate::users::VsCohort;
use crate::{patterns, ratio, scores, users, waste, ReportData};
use goodhart_core::Severity;

/// The page's stylesheet, inlined in `<style>`.
pub(crate) const CSS: &str = include_str!("../templates/report.css");
/// The page's only script, inlined in `<script>`: records errors into the DOM
/// and checks that every chart was laid out with content, then sets
/// `body[data-rendered]`.
pub(crate) const SCRIPT: &str = include_str!("../templates/report.js");

/// The `sha256-…` source of a Content-Security-Policy for an inline block with
/// exactly this text (base64 of its SHA-256, as browsers compute it).
pub(crate) fn csp_hash(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// One of the header's summary cards.
#[derive(Debug)]
pub(crate) struct Card {
    pub(crate) key: &'static str,
    pub(crate) value: String,
    /// Share of rows read, or empty.
    pub(crate) share: String,
}

/// The header: title, window, input accounting, alerts by severity.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub(crate) d: &'a ReportData,
    pub(crate) days_plural: &'static str,
    pub(crate) cards: Vec<Card>,
    /// (accepted, quarantined, read) when they do not add up.
    pub(crate) unbalanced: Option<[String; 3]>,
    /// Alerts by severity, most severe first.
    pub(crate) alerts: Vec<(Badge, String)>,
}

fn header(d: &ReportData) -> Header<'_> {
    let alerts_total: u64 = d.alerts_by_severity.values().sum();
    let card = |key, value, share| Card { key, value, share };
    let cards = vec![
        card("Rows read", fmt_int(d.rows_read), String::new()),
        card(
            "Rows accepted",
            fmt_int(d.rows_accepted),
            pct(d.rows_accepted, d.rows_read),
        ),
        card(
            "Rows quarantined",
            fmt_int(d.rows_quarantined),
            pct(d.rows_quarantined, d.rows_read),
        ),
        card("Users scored", fmt_int(d.users_scored), String::new()),
        card("Sessions scored", fmt_int(d.sessions_scored), String::new()),
        card("Alerts", fmt_int(alerts_total), String::new()),
    ];
    // Most severe first.
    let alerts: Vec<(Severity, u64)> = d
        .alerts_by_severity
        .iter()
        .rev()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (*s, *n))
        .collect();
    Header {
        d,
        days_plural: plural(u64::from(d.window_days)),
        cards,
        unbalanced: (d.rows_accepted.checked_add(d.rows_quarantined) != Some(d.rows_read)).then(
            || {
                [
                    fmt_int(d.rows_accepted),
                    fmt_int(d.rows_quarantined),
                    fmt_int(d.rows_read),
                ]
            },
        ),
        alerts: alerts
            .into_iter()
            .map(|(sev, n)| (Badge::new(sev), fmt_int(n)))
            .collect(),
    }
}

/// The whole page (`templates/page.html`).
#[derive(Template)]
#[template(path = "page.html")]
pub(crate) struct Page<'a> {
    pub(crate) d: &'a ReportData,
    pub(crate) css: &'static str,
    pub(crate) script: &'static str,
    pub(crate) css_sha256: String,
    pub(crate) script_sha256: String,
    pub(crate) cost: Option<waste::WasteSection<'a>>,
    pub(crate) h: Header<'a>,
    pub(crate) s: scores::ScoreSection,
    pub(crate) r: ratio::RatioSection,
    pub(crate) p: patterns::PatternSection,
    pub(crate) t: users::UsersSection<'a>,
}

impl<'a> Page<'a> {
    /// Every section's view of `d`.
    pub(crate) fn new(d: &'a ReportData) -> Page<'a> {
        let ranked = ranked_users(&d.users);
        let cohorts = cohort_stats(&d.users);
        let top = &ranked[..d.top_users.min(ranked.len())];
        Page {
            d,
            css: CSS,
            script: SCRIPT,
            css_sha256: csp_hash(CSS),
            script_sha256: csp_hash(SCRIPT),
            cost: d.waste.as_ref().map(|w| waste::build(w, d.min_group_size)),
            h: header(d),
            s: scores::build(d),
            r: ratio::build(d, &cohorts, top),
            p: patterns::build(d),
            t: users::build(d, &cohorts, top),
        }
    }
}

impl std::fmt::Debug for Page<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("title", &self.d.title)
            .finish()
    }
}
