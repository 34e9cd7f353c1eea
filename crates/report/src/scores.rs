//! The score distribution: a histogram of all scores in bins of 5 points, on a
//! logarithmic y axis, bars stacked by severity, with a data-table fallback.

use crate::chart::{plain, px, Frame, Margin};
use crate::format::{fmt_compact, is_are, plural};
use crate::stats::{score_bin, severity_fill, severity_name, severity_rank, SEVERITY_RANKS};
use crate::{ReportData, CHART_IDS, SCORE_BINS};

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 250;
const MARGIN: Margin = Margin {
    left: 56.0,
    right: 16.0,
    top: 22.0,
    bottom: 44.0,
};
/// The y axis ends at the first power of this at or above the largest bar, at least this.
const LOG_BASE: u64 = 10;
/// Space between neighbouring bars (px), half on each side.
const BAR_GAP: f64 = 4.0;
/// Gap between the y axis and its labels (px).
const Y_LABEL_GAP: f64 = 6.0;
/// Drop of a label's baseline below the point it labels, to centre it (px).
const LABEL_BASELINE: f64 = 4.0;
/// Length of the x-axis ticks (px).
const X_TICK_LENGTH: f64 = 4.0;
/// Baseline of the x-axis labels below the axis (px).
const X_LABEL_DROP: f64 = 16.0;
/// Distance between x-axis ticks (score points).
const X_TICK_STEP: usize = 10;
/// Baseline of the x-axis title above the chart's bottom edge (px).
const X_TITLE_RISE: u32 = 6;
/// Gap between the last legend entry and the plot's right edge (px).
const LEGEND_RIGHT_GAP: f64 = 10.0;
/// Width of a legend entry: swatch and padding, plus a width per character of its name (px).
const LEGEND_ENTRY_PAD: f64 = 26.0;
const LEGEND_CHAR_WIDTH: f64 = 6.5;
/// Offset of a legend entry's name from its swatch (px).
const LEGEND_TEXT_DX: f64 = 13.0;

/// A horizontal grid line of the y axis with its label.
#[derive(Debug)]
pub(crate) struct YTick {
    pub(crate) y: String,
    pub(crate) label_y: String,
    pub(crate) label: String,
}

/// One severity's part of a bar.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) y: String,
    pub(crate) height: String,
    pub(crate) fill: &'static str,
    pub(crate) count: u64,
    pub(crate) plural: &'static str,
    pub(crate) severity: &'static str,
}

/// One bin's bar: its segments (least severe at the bottom) and its count on top.
#[derive(Debug)]
pub(crate) struct Bar {
    pub(crate) x: String,
    pub(crate) lo: usize,
    pub(crate) hi: usize,
    /// " (incl. 100)" for the last bin.
    pub(crate) incl: &'static str,
    pub(crate) segments: Vec<Segment>,
    pub(crate) label_x: String,
    pub(crate) label_y: String,
    pub(crate) label: String,
}

/// A tick of the x axis.
#[derive(Debug)]
pub(crate) struct XTick {
    pub(crate) x: String,
    pub(crate) value: usize,
}

/// A legend entry.
#[derive(Debug)]
pub(crate) struct LegendEntry {
    pub(crate) x: String,
    pub(crate) text_x: String,
    pub(crate) fill: &'static str,
    pub(crate) name: &'static str,
}

/// A row of the table fallback.
#[derive(Debug)]
pub(crate) struct TableRow {
    pub(crate) lo: usize,
    pub(crate) hi: usize,
    pub(crate) close: char,
    pub(crate) total: u64,
    pub(crate) cells: Vec<u64>,
}

/// The section, ready for `templates/scores.html`.
#[derive(Debug)]
pub(crate) struct ScoreSection {
    pub(crate) frame: Frame,
    /// Width of every bar (px).
    pub(crate) bar_width: String,
    pub(crate) left: String,
    pub(crate) right: String,
    pub(crate) label_x: String,
    pub(crate) bottom: String,
    pub(crate) tick_bottom: String,
    pub(crate) x_label_y: String,
    pub(crate) y_ticks: Vec<YTick>,
    pub(crate) bars: Vec<Bar>,
    pub(crate) x_ticks: Vec<XTick>,
    pub(crate) x_title_x: String,
    pub(crate) x_title_y: u32,
    pub(crate) y_title_y: String,
    pub(crate) legend: Vec<LegendEntry>,
    /// " N users without a finite score are not shown.", or empty.
    pub(crate) non_finite_note: String,
    /// Severity names of the table's columns (those present).
    pub(crate) columns: Vec<&'static str>,
    pub(crate) rows: Vec<TableRow>,
}

/// Bounds of bin `b` in score points, and its closing bracket in the table.
fn bin_bounds(b: usize) -> (usize, usize) {
    (b * 100 / SCORE_BINS, (b + 1) * 100 / SCORE_BINS)
}

pub(crate) fn build(d: &ReportData) -> ScoreSection {
    // counts[bin][severity rank]
    let mut counts = vec![[0u64; SEVERITY_RANKS]; SCORE_BINS];
    let mut non_finite = 0u64;
    for u in &d.users {
        match score_bin(u.score) {
            Some(b) => counts[b][severity_rank(u.severity)] += 1,
            None => non_finite += 1,
        }
    }
    let totals: Vec<u64> = counts.iter().map(|c| c.iter().sum()).collect();
    let shown: u64 = totals.iter().sum();
    let present: Vec<usize> = (0..SEVERITY_RANKS)
        .filter(|r| counts.iter().any(|row| row[*r] > 0))
        .collect();
    let pw = MARGIN.plot_width(WIDTH);
    let ph = MARGIN.plot_height(HEIGHT);
    let bottom = MARGIN.top + ph;
    let empty = shown == 0;
    let frame = Frame {
        id: CHART_IDS[0],
        width: WIDTH,
        height: HEIGHT,
        title: "Score distribution (users per 5-point score bin, log scale)".into(),
        desc: format!(
            "{shown} users with a score, in {SCORE_BINS} bins from 0 to 100; bars are split by severity."
        ),
        empty,
        empty_message: "No users were scored in this window.".into(),
    };
    let (y_ticks, bars, legend) = if empty {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        let max = totals.iter().copied().max().unwrap_or(0);
        let scale = LogScale::new(max, ph);
        (
            y_ticks(&scale),
            bars(&counts, &totals, &scale, pw / SCORE_BINS as f64),
            legend(&present),
        )
    };
    ScoreSection {
        frame,
        bar_width: px(pw / SCORE_BINS as f64 - BAR_GAP),
        left: plain(MARGIN.left),
        right: px(MARGIN.left + pw),
        label_x: px(MARGIN.left - Y_LABEL_GAP),
        bottom: px(bottom),
        tick_bottom: px(bottom + X_TICK_LENGTH),
        x_label_y: px(bottom + X_LABEL_DROP),
        y_ticks,
        bars,
        x_ticks: (0..=100)
            .step_by(X_TICK_STEP)
            .map(|v| XTick {
                x: px(MARGIN.left + pw * v as f64 / 100.0),
                value: v,
            })
            .collect(),
        x_title_x: px(MARGIN.left + pw / 2.0),
        x_title_y: HEIGHT - X_TITLE_RISE,
        y_title_y: px(MARGIN.top + ph / 2.0),
        legend,
        non_finite_note: if non_finite > 0 {
            format!(
                " {non_finite} user{} without a finite score {} not shown.",
                plural(non_finite),
                is_are(non_finite)
            )
        } else {
            String::new()
        },
        columns: present.iter().map(|r| severity_name(*r)).collect(),
        rows: counts
            .iter()
            .enumerate()
            .map(|(b, row)| {
                let (lo, hi) = bin_bounds(b);
                TableRow {
                    lo,
                    hi,
                    close: if b + 1 == SCORE_BINS { ']' } else { ')' },
                    total: totals[b],
                    cells: present.iter().map(|r| row[*r]).collect(),
                }
            })
            .collect(),
    }
}

/// y: log(1 + count), top at the next power of ten — shows single high-score
/// users next to thousands of ordinary ones.
struct LogScale {
    top: u64,
    plot_height: f64,
}

impl LogScale {
    fn new(max: u64, plot_height: f64) -> LogScale {
        let mut top = LOG_BASE;
        while top < max {
            top = top.saturating_mul(LOG_BASE);
        }
        LogScale { top, plot_height }
    }

    /// Height of a bar of `count`.
    fn height(&self, count: f64) -> f64 {
        (1.0 + count).ln() / (1.0 + self.top as f64).ln() * self.plot_height
    }

    /// y of a count's grid line.
    fn y(&self, count: f64) -> f64 {
        MARGIN.top + self.plot_height - self.height(count)
    }
}

fn y_ticks(scale: &LogScale) -> Vec<YTick> {
    let mut ticks = vec![0u64];
    let mut t = 1u64;
    while t <= scale.top {
        ticks.push(t);
        t = t.saturating_mul(LOG_BASE);
    }
    ticks
        .into_iter()
        .map(|tk| {
            let y = scale.y(tk as f64);
            YTick {
                y: px(y),
                label_y: px(y + LABEL_BASELINE),
                label: fmt_compact(tk as f64),
            }
        })
        .collect()
}

fn bars(
    counts: &[[u64; SEVERITY_RANKS]],
    totals: &[u64],
    scale: &LogScale,
    bin_width: f64,
) -> Vec<Bar> {
    let base = MARGIN.top + scale.plot_height;
    let bar_width = bin_width - BAR_GAP;
    let mut bars = Vec::new();
    for (b, row) in counts.iter().enumerate() {
        let total = totals[b];
        if total == 0 {
            continue;
        }
        let x = MARGIN.left + bin_width * b as f64 + BAR_GAP / 2.0;
        let bar_h = scale.height(total as f64);
        let mut y = base;
        let mut segments = Vec::new();
        // Least severe at the bottom, most severe on top.
        for rank in (0..SEVERITY_RANKS).rev() {
            let c = row[rank];
            if c == 0 {
                continue;
            }
            let seg = bar_h * c as f64 / total as f64;
            y -= seg;
            segments.push(Segment {
                y: px(y),
                height: px(seg),
                fill: severity_fill(rank),
                count: c,
                plural: plural(c),
                severity: severity_name(rank),
            });
        }
        let (lo, hi) = bin_bounds(b);
        bars.push(Bar {
            x: px(x),
            lo,
            hi,
            incl: if b + 1 == SCORE_BINS {
                " (incl. 100)"
            } else {
                ""
            },
            segments,
            label_x: px(x + bar_width / 2.0),
            label_y: px(base - bar_h - LABEL_BASELINE),
            label: fmt_compact(total as f64),
        });
    }
    bars
}

/// Legend entries of the severities present, right-aligned, most severe first.
fn legend(present: &[usize]) -> Vec<LegendEntry> {
    let mut lx = MARGIN.left + MARGIN.plot_width(WIDTH) - LEGEND_RIGHT_GAP;
    let mut entries = Vec::new();
    for &rank in present.iter().rev() {
        let name = severity_name(rank);
        lx -= LEGEND_ENTRY_PAD + LEGEND_CHAR_WIDTH * name.len() as f64;
        entries.push(LegendEntry {
            x: px(lx),
            text_x: px(lx + LEGEND_TEXT_DX),
            fill: severity_fill(rank),
            name,
        });
    }
    entries
}
