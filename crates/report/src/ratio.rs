//! Tokens per accepted change by cohort: a box plot per cohort on a labelled
//! log scale, the users of the top table drawn as dots, so that a reviewer sees
//! whether a suspect is an outlier *among peers* (volume is not guilt). Cohorts
//! below the minimum group size are not drawn and their figures read "< k".

use std::collections::BTreeMap;

use crate::chart::{plain, px, Frame, Margin};
use crate::format::{fmt_compact, fmt_score, is_are, plural, quantile, truncate_chars};
use crate::stats::{severity_fill, severity_rank, usable_ratio, CohortStats};
use crate::{ReportData, ReportUser, CHART_IDS, MAX_COHORTS_SHOWN};

const WIDTH: u32 = 540;
const MARGIN: Margin = Margin {
    left: 130.0,
    right: 16.0,
    top: 12.0,
    bottom: 44.0,
};
/// Height of one cohort's row (px).
const ROW_HEIGHT: f64 = 40.0;
/// Ratios below this many tokens per change are drawn at it (log scale).
const RATIO_FLOOR: f64 = 1.0;
/// At most this many decades between the axis ends get 1-2-5 ticks, more get powers of ten.
const FINE_TICK_DECADES: i32 = 2;
/// A tick may exceed the axis end by this factor (rounding).
const TICK_TOLERANCE: f64 = 1.000_001;
/// Baseline of the x-axis labels below the plot (px).
const X_LABEL_DROP: f64 = 14.0;
/// Baseline of the x-axis title above the chart's bottom edge (px).
const X_TITLE_RISE: u32 = 6;
/// Gap between a cohort's name and the plot (px).
const NAME_GAP: f64 = 8.0;
/// Baselines of a cohort's name and of its count, relative to the row's middle (px).
const NAME_DY: f64 = -1.0;
const COUNT_DY: f64 = 11.0;
/// Cohort names longer than this many characters are cut (the full name is the tooltip).
const NAME_CHARS: usize = 18;
/// Half the height of the whisker ends (px).
const WHISKER_HALF: f64 = 5.0;
/// Half the height of the box (px); the template draws it 16 px high.
const BOX_HALF: f64 = 8.0;
/// Narrowest box drawn (px).
const MIN_BOX_WIDTH: f64 = 1.0;
/// The users' dots sit this far below the row's middle (px).
const DOT_DY: f64 = 13.0;

/// One user of the top table, as a dot in their cohort's row.
#[derive(Debug)]
pub(crate) struct Dot {
    pub(crate) x: String,
    pub(crate) fill: &'static str,
    pub(crate) user: String,
    pub(crate) ratio: String,
    pub(crate) score: String,
}

/// One cohort's row: name, box, whiskers and dots.
#[derive(Debug)]
pub(crate) struct CohortRow {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) name_y: String,
    pub(crate) count_y: String,
    pub(crate) n: usize,
    pub(crate) cy: String,
    pub(crate) x_min: String,
    pub(crate) x_max: String,
    pub(crate) whisker_top: String,
    pub(crate) whisker_bottom: String,
    pub(crate) x_q1: String,
    pub(crate) box_top: String,
    pub(crate) box_bottom: String,
    pub(crate) box_width: String,
    pub(crate) x_median: String,
    /// min, 25th pct, median, 75th pct, max.
    pub(crate) figures: [String; 5],
    pub(crate) dots_y: String,
    pub(crate) dots: Vec<Dot>,
}

/// A grid line of the log axis.
#[derive(Debug)]
pub(crate) struct Tick {
    pub(crate) x: String,
    pub(crate) label: String,
}

/// A row of the cohort table; `None` figures: a small cohort, shown as "< k".
#[derive(Debug)]
pub(crate) struct TableRow {
    pub(crate) name: String,
    pub(crate) figures: Option<(usize, usize, [String; 3])>,
}

/// The section, ready for `templates/ratio.html`.
#[derive(Debug)]
pub(crate) struct RatioSection {
    pub(crate) frame: Frame,
    pub(crate) left: String,
    pub(crate) top: String,
    pub(crate) right: String,
    pub(crate) plot_bottom: String,
    pub(crate) tick_label_y: String,
    pub(crate) title_x: String,
    pub(crate) title_y: u32,
    pub(crate) name_x: String,
    pub(crate) ticks: Vec<Tick>,
    pub(crate) rows: Vec<CohortRow>,
    /// Caption notes: users without a change, hidden cohorts (plain text).
    pub(crate) no_change_note: String,
    pub(crate) hidden_note: String,
    /// Cohorts below the minimum group size among those shown.
    pub(crate) small: u64,
    pub(crate) small_plural: &'static str,
    pub(crate) small_is: &'static str,
    pub(crate) small_its: &'static str,
    pub(crate) k: usize,
    pub(crate) table: Vec<TableRow>,
}

/// Log-scale ticks between `lo_exp` and `hi_exp` decades: 1-2-5 steps when the
/// span is at most two decades, powers of ten otherwise.
fn log_ticks(lo_exp: i32, hi_exp: i32) -> Vec<f64> {
    let mut t = Vec::new();
    let steps: &[f64] = if hi_exp - lo_exp <= FINE_TICK_DECADES {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    for e in lo_exp..=hi_exp {
        for s in steps {
            let v = s * 10f64.powi(e);
            if v <= 10f64.powi(hi_exp) * TICK_TOLERANCE {
                t.push(v);
            }
        }
    }
    t
}

/// The log x axis from the smallest to the largest ratio drawn, whole decades.
struct LogAxis {
    lo: f64,
    hi: f64,
    lo_exp: i32,
    hi_exp: i32,
}

impl LogAxis {
    fn new(drawable: &[&CohortStats]) -> LogAxis {
        let min = drawable
            .iter()
            .map(|c| c.ratios[0].max(RATIO_FLOOR))
            .fold(f64::INFINITY, f64::min);
        let max = drawable
            .iter()
            .map(|c| c.ratios[c.ratios.len() - 1].max(RATIO_FLOOR))
            .fold(f64::NEG_INFINITY, f64::max);
        let lo_exp = min.log10().floor() as i32;
        let hi_exp = (max.log10().ceil() as i32).max(lo_exp + 1);
        LogAxis {
            lo: f64::from(lo_exp),
            hi: f64::from(hi_exp),
            lo_exp,
            hi_exp,
        }
    }

    fn x(&self, v: f64) -> f64 {
        let pw = MARGIN.plot_width(WIDTH);
        MARGIN.left + (v.max(RATIO_FLOOR).log10() - self.lo) / (self.hi - self.lo) * pw
    }
}

pub(crate) fn build(
    d: &ReportData,
    cohorts: &BTreeMap<&str, CohortStats>,
    top: &[&ReportUser],
) -> RatioSection {
    // Largest cohorts (by users) if there are too many; displayed by name.
    let mut chosen: Vec<&CohortStats> = cohorts.values().collect();
    chosen.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
    let hidden = chosen.len().saturating_sub(MAX_COHORTS_SHOWN) as u64;
    chosen.truncate(MAX_COHORTS_SHOWN);
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let k = d.min_group_size;
    let small = chosen.iter().filter(|c| c.is_small(k)).count() as u64;
    let drawable: Vec<&CohortStats> = chosen
        .iter()
        .copied()
        .filter(|c| !c.ratios.is_empty() && !c.is_small(k))
        .collect();

    let rows = drawable.len().max(1);
    let height = (MARGIN.top + MARGIN.bottom + ROW_HEIGHT * rows as f64).ceil() as u32;
    let pw = MARGIN.plot_width(WIDTH);
    let plot_bottom = MARGIN.top + ROW_HEIGHT * rows as f64;
    let frame = Frame {
        id: CHART_IDS[1],
        width: WIDTH,
        height,
        title: "Tokens per accepted change by cohort (log scale)".into(),
        desc: format!(
            "Box plot per cohort of each user's tokens per accepted change, for {} cohort{}; dots are users from the top table.",
            drawable.len(),
            plural(drawable.len() as u64)
        ),
        empty: drawable.is_empty(),
        empty_message: if d.users.is_empty() {
            "No users were scored in this window."
        } else {
            "No user had an accepted change in this window."
        }
        .into(),
    };
    let (ticks, rows) = if drawable.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let axis = LogAxis::new(&drawable);
        let ticks = log_ticks(axis.lo_exp, axis.hi_exp)
            .into_iter()
            .map(|t| Tick {
                x: px(axis.x(t)),
                label: fmt_compact(t),
            })
            .collect();
        let rows = drawable
            .iter()
            .enumerate()
            .map(|(i, c)| cohort_row(&axis, i, c, top))
            .collect();
        (ticks, rows)
    };
    let no_change = chosen.iter().map(|c| c.no_change).sum::<usize>() as u64;
    RatioSection {
        frame,
        left: plain(MARGIN.left),
        top: plain(MARGIN.top),
        right: px(MARGIN.left + pw),
        plot_bottom: px(plot_bottom),
        tick_label_y: px(plot_bottom + X_LABEL_DROP),
        title_x: px(MARGIN.left + pw / 2.0),
        title_y: height - X_TITLE_RISE,
        name_x: px(MARGIN.left - NAME_GAP),
        ticks,
        rows,
        no_change_note: if no_change > 0 {
            format!(
                " {no_change} user{} without an accepted change {} not drawn.",
                plural(no_change),
                is_are(no_change)
            )
        } else {
            String::new()
        },
        hidden_note: if hidden > 0 {
            format!(" {hidden} smaller cohort{} not shown.", plural(hidden))
        } else {
            String::new()
        },
        small,
        small_plural: plural(small),
        small_is: is_are(small),
        small_its: if small == 1 { "its" } else { "their" },
        k,
        table: chosen
            .iter()
            .map(|c| TableRow {
                name: c.name.clone(),
                figures: (!c.is_small(k)).then(|| {
                    let q = |p: f64| quantile(&c.ratios, p).map_or("—".to_string(), fmt_compact);
                    (c.users, c.no_change, [q(0.25), q(0.5), q(0.75)])
                }),
            })
            .collect(),
    }
}

fn cohort_row(axis: &LogAxis, i: usize, c: &CohortStats, top: &[&ReportUser]) -> CohortRow {
    let cy = MARGIN.top + ROW_HEIGHT * i as f64 + ROW_HEIGHT / 2.0;
    let q = |p: f64| quantile(&c.ratios, p).unwrap_or(0.0);
    let (mn, q1, med, q3, mx) = (q(0.0), q(0.25), q(0.5), q(0.75), q(1.0));
    // Users of the top table in this cohort, as dots coloured by severity.
    let dots = top
        .iter()
        .filter(|u| u.cohort == c.name)
        .filter_map(|u| {
            let r = usable_ratio(u.tokens_per_accepted_change)?;
            Some(Dot {
                x: px(axis.x(r)),
                fill: severity_fill(severity_rank(u.severity)),
                user: u.user_id.clone(),
                ratio: fmt_compact(r),
                score: fmt_score(u.score),
            })
        })
        .collect();
    CohortRow {
        name: c.name.clone(),
        label: truncate_chars(&c.name, NAME_CHARS),
        name_y: px(cy + NAME_DY),
        count_y: px(cy + COUNT_DY),
        n: c.ratios.len(),
        cy: px(cy),
        x_min: px(axis.x(mn)),
        x_max: px(axis.x(mx)),
        whisker_top: px(cy - WHISKER_HALF),
        whisker_bottom: px(cy + WHISKER_HALF),
        x_q1: px(axis.x(q1)),
        box_top: px(cy - BOX_HALF),
        box_bottom: px(cy + BOX_HALF),
        box_width: px((axis.x(q3) - axis.x(q1)).max(MIN_BOX_WIDTH)),
        x_median: px(axis.x(med)),
        figures: [mn, q1, med, q3, mx].map(fmt_compact),
        dots_y: px(cy + DOT_DY),
        dots,
    }
}
