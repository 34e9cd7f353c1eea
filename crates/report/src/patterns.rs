//! Pattern prevalence: how many users fire each tokenmaxxing pattern.

use std::collections::BTreeMap;

use crate::chart::{plain, px, Frame, Margin};
use crate::format::{fmt_int, pct, plural, truncate_chars};
use crate::{ReportData, CHART_IDS, MAX_PATTERNS_SHOWN};

const WIDTH: u32 = 540;
const MARGIN: Margin = Margin {
    left: 150.0,
    right: 90.0,
    top: 10.0,
    bottom: 14.0,
};
/// Height of one pattern's row (px).
const ROW_HEIGHT: f64 = 26.0;
/// The chart is at least this many rows high.
const MIN_ROWS: usize = 3;
/// Space between a bar and the row's edges, above and below together (px).
const BAR_GAP: f64 = 8.0;
/// Shortest bar drawn (px).
const MIN_BAR_WIDTH: f64 = 1.0;
/// Gap between a pattern's name and the axis, and between a bar and its count (px).
const NAME_GAP: f64 = 8.0;
const COUNT_GAP: f64 = 6.0;
/// Drop of a label's baseline below the row's middle (px).
const LABEL_BASELINE: f64 = 4.0;
/// Pattern names longer than this many characters are cut (the full name is the tooltip).
const NAME_CHARS: usize = 22;

/// One pattern's bar.
#[derive(Debug)]
pub(crate) struct PatternBar {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) users: u64,
    pub(crate) users_text: String,
    pub(crate) plural: &'static str,
    /// " (12.5%)" of the users scored, or empty.
    pub(crate) share: String,
    pub(crate) label_y: String,
    pub(crate) y: String,
    pub(crate) width: String,
    pub(crate) count_x: String,
}

/// The section, ready for `templates/patterns.html`.
#[derive(Debug)]
pub(crate) struct PatternSection {
    pub(crate) frame: Frame,
    pub(crate) left: String,
    pub(crate) top: String,
    pub(crate) axis_bottom: String,
    pub(crate) name_x: String,
    pub(crate) bar_height: String,
    pub(crate) bars: Vec<PatternBar>,
    pub(crate) share_note: &'static str,
    pub(crate) hidden_note: String,
}

pub(crate) fn build(d: &ReportData) -> PatternSection {
    // Merge duplicate names (summing), then most frequent first, then by name.
    let mut merged: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, n) in &d.pattern_prevalence {
        *merged.entry(name.as_str()).or_insert(0) += n;
    }
    let mut pats: Vec<(&str, u64)> = merged.into_iter().filter(|(_, n)| *n > 0).collect();
    pats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let hidden = pats.len().saturating_sub(MAX_PATTERNS_SHOWN) as u64;
    pats.truncate(MAX_PATTERNS_SHOWN);

    let height =
        (MARGIN.top + MARGIN.bottom + ROW_HEIGHT * pats.len().max(MIN_ROWS) as f64).ceil() as u32;
    let pw = MARGIN.plot_width(WIDTH);
    let max = pats.first().map_or(1, |p| p.1.max(1)) as f64;
    let bars = pats
        .iter()
        .enumerate()
        .map(|(i, (name, n))| {
            let y = MARGIN.top + ROW_HEIGHT * i as f64;
            let bw = (pw * *n as f64 / max).max(MIN_BAR_WIDTH);
            PatternBar {
                name: (*name).to_string(),
                label: truncate_chars(name, NAME_CHARS),
                users: *n,
                users_text: fmt_int(*n),
                plural: plural(*n),
                share: if d.users_scored > 0 {
                    format!(" ({})", pct(*n, d.users_scored))
                } else {
                    String::new()
                },
                label_y: px(y + ROW_HEIGHT / 2.0 + LABEL_BASELINE),
                y: px(y + BAR_GAP / 2.0),
                width: px(bw),
                count_x: px(MARGIN.left + bw + COUNT_GAP),
            }
        })
        .collect();
    PatternSection {
        frame: Frame {
            id: CHART_IDS[2],
            width: WIDTH,
            height,
            title: "Pattern prevalence (users for whom each pattern fired on its own; context-only patterns not counted)".into(),
            desc: format!(
                "{} pattern{} fired; bar length is the number of users.",
                pats.len(),
                plural(pats.len() as u64)
            ),
            empty: pats.is_empty(),
            empty_message: "No pattern fired for any user in this window.".into(),
        },
        left: plain(MARGIN.left),
        top: plain(MARGIN.top),
        axis_bottom: px(MARGIN.top + ROW_HEIGHT * pats.len() as f64),
        name_x: px(MARGIN.left - NAME_GAP),
        bar_height: px(ROW_HEIGHT - BAR_GAP),
        bars,
        share_note: if d.users_scored > 0 {
            " (share of users scored in brackets)"
        } else {
            ""
        },
        hidden_note: if hidden > 0 {
            format!(" {hidden} rarer pattern{} not shown.", plural(hidden))
        } else {
            String::new()
        },
    }
}
