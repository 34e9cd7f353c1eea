//! The "What it cost" section (#11): first on the page. Total waste and its
//! share of spend (billed and estimated shown apart), by pattern and by team,
//! the weekly trend (a stacked bar chart by pattern, a table by team), and the
//! top sessions by waste. Teams below the minimum group size read "< k".

use chrono::NaiveDate;

use crate::chart::{plain, px, Frame, Margin};
use crate::format::{fmt_compact, fmt_int, fmt_usd};
use crate::{WasteReport, WASTE_CHART_ID};

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 240;
const MARGIN: Margin = Margin {
    left: 64.0,
    right: 200.0,
    top: 16.0,
    bottom: 40.0,
};
/// Pattern colours of the weekly chart, reused in turn.
const COLORS: [&str; 6] = [
    "#6e56cf", "#c2410c", "#0e7490", "#b42318", "#4d7c0f", "#a16207",
];
/// A week's bar starts this share of its slot from the slot's left edge and is this share wide.
const BAR_OFFSET: f64 = 0.15;
const BAR_SHARE: f64 = 0.7;
/// Baseline of the week labels below the axis (px).
const WEEK_LABEL_DROP: f64 = 16.0;
/// Gap between a bar and its total above it (px); the total never rises above `top + this * 2`.
const TOTAL_GAP: f64 = 4.0;
const TOTAL_MIN_DROP: f64 = 8.0;
/// Legend: its left edge right of the plot, its text right of the plot, line height, first baseline, swatch rise (px).
const LEGEND_DX: f64 = 16.0;
const LEGEND_TEXT_DX: f64 = 30.0;
const LEGEND_LINE: f64 = 14.0;
const LEGEND_FIRST_BASELINE: f64 = 8.0;
const LEGEND_SWATCH_RISE: f64 = 9.0;
/// Percent per unit share.
const PERCENT: f64 = 100.0;

/// One team's row; `None` figures: fewer than k people, shown as "< k".
#[derive(Debug)]
pub(crate) struct TeamRow {
    pub(crate) team: String,
    pub(crate) figures: Option<[String; 3]>,
}

/// One pattern's part of a week's bar.
#[derive(Debug)]
pub(crate) struct WeekSegment {
    pub(crate) y: String,
    pub(crate) height: String,
    pub(crate) fill: &'static str,
    pub(crate) pattern: String,
    pub(crate) usd: String,
}

/// One week's bar.
#[derive(Debug)]
pub(crate) struct WeekBar {
    pub(crate) week: NaiveDate,
    pub(crate) x: String,
    pub(crate) segments: Vec<WeekSegment>,
    pub(crate) label_x: String,
    pub(crate) label: String,
    pub(crate) total_y: String,
    pub(crate) total: String,
}

/// A legend entry of the weekly chart.
#[derive(Debug)]
pub(crate) struct LegendEntry {
    pub(crate) y: String,
    pub(crate) swatch_y: String,
    pub(crate) fill: &'static str,
    pub(crate) pattern: String,
}

/// The section, ready for `templates/waste.html`.
#[derive(Debug)]
pub(crate) struct WasteSection<'a> {
    pub(crate) w: &'a WasteReport,
    pub(crate) k: usize,
    pub(crate) total_raw: String,
    pub(crate) total: String,
    pub(crate) tokens: String,
    pub(crate) share: String,
    pub(crate) spend: String,
    pub(crate) billed: String,
    pub(crate) estimated: String,
    pub(crate) unpriced: Option<(String, String)>,
    pub(crate) by_pattern: Vec<[String; 3]>,
    pub(crate) by_team: Vec<TeamRow>,
    pub(crate) frame: Frame,
    pub(crate) bar_width: String,
    pub(crate) week_label_y: String,
    pub(crate) left: String,
    pub(crate) right: String,
    pub(crate) bottom: String,
    pub(crate) legend_x: String,
    pub(crate) legend_text_x: String,
    pub(crate) bars: Vec<WeekBar>,
    pub(crate) legend: Vec<LegendEntry>,
    pub(crate) weeks: Vec<NaiveDate>,
    /// (team, USD per week).
    pub(crate) trend: Vec<(String, Vec<String>)>,
    pub(crate) sessions: Vec<[String; 5]>,
}

/// `part` as a percentage of `whole` with one decimal, "—" when `whole` is not positive.
fn share(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", part / whole * PERCENT)
    } else {
        "—".into()
    }
}

pub(crate) fn build(w: &WasteReport, k: usize) -> WasteSection<'_> {
    let total = w.billed_usd + w.estimated_usd;
    let mut weeks: Vec<NaiveDate> = w.weeks.iter().map(|r| r.0).collect();
    weeks.sort();
    weeks.dedup();
    let mut patterns: Vec<&str> = w.weeks.iter().map(|r| r.2.as_str()).collect();
    patterns.sort_unstable();
    patterns.dedup();
    let mut teams: Vec<&str> = w.weeks.iter().map(|r| r.1.as_str()).collect();
    teams.sort_unstable();
    teams.dedup();
    let (bars, legend, empty) = weekly_chart(w, &weeks, &patterns);
    let pw = MARGIN.plot_width(WIDTH);
    let ph = MARGIN.plot_height(HEIGHT);
    let slot = pw / weeks.len().max(1) as f64;
    WasteSection {
        w,
        k,
        total_raw: format!("{total:.2}"),
        total: fmt_usd(total),
        tokens: fmt_compact(w.tokens as f64),
        share: share(total, w.spend_usd),
        spend: fmt_usd(w.spend_usd),
        billed: fmt_usd(w.billed_usd),
        estimated: fmt_usd(w.estimated_usd),
        unpriced: (w.unpriced_tokens > 0 || !w.unpriced_models.is_empty()).then(|| {
            let models: Vec<String> = w
                .unpriced_models
                .iter()
                .map(|(m, t)| format!("{m} ({} tokens)", fmt_compact(*t as f64)))
                .collect();
            (fmt_int(w.unpriced_tokens), models.join(", "))
        }),
        by_pattern: w
            .by_pattern
            .iter()
            .map(|(p, t, u)| [p.clone(), fmt_compact(*t as f64), fmt_usd(*u)])
            .collect(),
        by_team: w
            .by_team
            .iter()
            .map(|(t, n, v)| TeamRow {
                team: t.clone(),
                figures: v.map(|(u, s)| [fmt_int(*n), fmt_usd(u), share(u, s)]),
            })
            .collect(),
        frame: Frame {
            id: WASTE_CHART_ID,
            width: WIDTH,
            height: HEIGHT,
            title: "Waste per week by pattern (USD)".into(),
            desc: format!(
                "{} complete weeks from the state's ledger; bars stacked by pattern; teams below {k} people left out.",
                weeks.len()
            ),
            empty,
            empty_message: "No complete week with waste recorded yet.".into(),
        },
        bar_width: px(slot * BAR_SHARE),
        week_label_y: px(MARGIN.top + ph + WEEK_LABEL_DROP),
        left: plain(MARGIN.left),
        right: px(MARGIN.left + pw),
        bottom: px(MARGIN.top + ph),
        legend_x: px(MARGIN.left + pw + LEGEND_DX),
        legend_text_x: px(MARGIN.left + pw + LEGEND_TEXT_DX),
        bars,
        legend,
        trend: teams
            .iter()
            .map(|t| {
                let per_week = weeks
                    .iter()
                    .map(|wk| {
                        let v: f64 = w
                            .weeks
                            .iter()
                            .filter(|r| r.0 == *wk && r.1 == *t)
                            .map(|r| r.3)
                            .sum();
                        fmt_usd(v)
                    })
                    .collect();
                ((*t).to_string(), per_week)
            })
            .collect(),
        weeks,
        sessions: w
            .top_sessions
            .iter()
            .map(|(s, u, p, t, v)| {
                [
                    s.clone(),
                    u.clone(),
                    p.clone(),
                    fmt_compact(*t as f64),
                    fmt_usd(*v),
                ]
            })
            .collect(),
    }
}

/// The weekly chart's bars and legend, and whether it is empty.
fn weekly_chart(
    w: &WasteReport,
    weeks: &[NaiveDate],
    patterns: &[&str],
) -> (Vec<WeekBar>, Vec<LegendEntry>, bool) {
    let val = |wk: NaiveDate, p: &str| -> f64 {
        w.weeks
            .iter()
            .filter(|r| r.0 == wk && r.2 == p)
            .map(|r| r.3)
            .sum()
    };
    let totals: Vec<f64> = weeks
        .iter()
        .map(|wk| patterns.iter().map(|p| val(*wk, p)).sum())
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    if weeks.is_empty() || max <= 0.0 {
        return (Vec::new(), Vec::new(), true);
    }
    let pw = MARGIN.plot_width(WIDTH);
    let ph = MARGIN.plot_height(HEIGHT);
    let slot = pw / weeks.len() as f64;
    let bars = weeks
        .iter()
        .enumerate()
        .map(|(i, wk)| {
            let x = MARGIN.left + slot * i as f64 + slot * BAR_OFFSET;
            let mut y = MARGIN.top + ph;
            let mut segments = Vec::new();
            for (j, p) in patterns.iter().enumerate() {
                let v = val(*wk, p);
                if v <= 0.0 {
                    continue;
                }
                let hgt = v / max * ph;
                y -= hgt;
                segments.push(WeekSegment {
                    y: px(y),
                    height: px(hgt),
                    fill: COLORS[j % COLORS.len()],
                    pattern: (*p).to_string(),
                    usd: fmt_usd(v),
                });
            }
            WeekBar {
                week: *wk,
                x: px(x),
                segments,
                label_x: px(x + slot * BAR_SHARE / 2.0),
                label: wk.format("%b %d").to_string(),
                total_y: px((MARGIN.top + ph - totals[i] / max * ph - TOTAL_GAP)
                    .max(MARGIN.top + TOTAL_MIN_DROP)),
                total: fmt_usd(totals[i]),
            }
        })
        .collect();
    let legend = patterns
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let y = MARGIN.top + LEGEND_LINE * j as f64 + LEGEND_FIRST_BASELINE;
            LegendEntry {
                y: px(y),
                swatch_y: px(y - LEGEND_SWATCH_RISE),
                fill: COLORS[j % COLORS.len()],
                pattern: (*p).to_string(),
            }
        })
        .collect();
    (bars, legend, false)
}
