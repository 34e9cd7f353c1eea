//! The "What it cost" section (#11): first on the page. Total waste and its
//! share of spend (billed and estimated shown apart), by pattern and by team,
//! the weekly trend (a stacked bar chart by pattern, a table by team), and the
//! top sessions by waste. Teams below the minimum group size read "< k".

use std::fmt::Write as _;

use chrono::NaiveDate;

use super::{escape_html, fmt_compact, fmt_int, svg_empty, svg_open, ReportData};

/// Element id of the weekly trend chart.
pub const WASTE_CHART_ID: &str = "chart-waste-trend";

/// One team's row: (team, people, USD waste and spend; `None` = fewer than
/// k people, shown as "< k").
pub type TeamWaste = (String, u64, Option<(f64, f64)>);

/// What the section shows (filled by the scan from the waste stage and the
/// state's ledger).
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

fn usd(x: f64) -> String {
    crate::waste::fmt_usd(x)
}

const COLORS: [&str; 6] = [
    "#6e56cf", "#c2410c", "#0e7490", "#b42318", "#4d7c0f", "#a16207",
];

pub(super) fn waste_section(h: &mut String, d: &ReportData) {
    let Some(w) = &d.waste else {
        return;
    };
    let k = d.min_group_size;
    let total = w.billed_usd + w.estimated_usd;
    let share = if w.spend_usd > 0.0 {
        format!("{:.1}%", total / w.spend_usd * 100.0)
    } else {
        "—".into()
    };
    let _ = writeln!(
        h,
        r#"<section id="what-it-cost" aria-labelledby="h-cost"><h2 id="h-cost">What it cost</h2>
<p class="note">Conservative lower bounds: only waste above the organisation's usual share counts (docs/features.md, Waste ledger). Volume is not waste.</p>
<div class="cards">
<div class="card"><div class="k">Waste</div><div class="v" data-waste-total="{total:.2}">{}</div><div class="s">{} tokens</div></div>
<div class="card"><div class="k">Share of spend</div><div class="v">{share}</div><div class="s">of {}</div></div>
<div class="card"><div class="k">Billed</div><div class="v">{}</div><div class="s">from cost_usd</div></div>
<div class="card"><div class="k">Estimated</div><div class="v">{}</div><div class="s">list prices{}</div></div>
</div>"#,
        usd(total),
        fmt_compact(w.tokens as f64),
        usd(w.spend_usd),
        usd(w.billed_usd),
        usd(w.estimated_usd),
        w.price_table_date
            .as_deref()
            .map(|d| format!(" of {}", escape_html(d)))
            .unwrap_or_default(),
    );
    if w.unpriced_tokens > 0 || !w.unpriced_models.is_empty() {
        let models: Vec<String> = w
            .unpriced_models
            .iter()
            .map(|(m, t)| format!("{} ({} tokens)", escape_html(m), fmt_compact(*t as f64)))
            .collect();
        let _ = writeln!(
            h,
            r#"<p class="warn" id="unpriced">Not priced (no cost_usd, model not in the price table): {} waste tokens; models: {}. Add them under [prices] in goodhart.toml.</p>"#,
            fmt_int(w.unpriced_tokens),
            models.join(", ")
        );
    }
    // By pattern and by team, side by side.
    h.push_str(r#"<div class="grid2"><div><h3>By pattern</h3><table class="data" id="waste-by-pattern"><thead><tr><th>pattern</th><th class="num">tokens</th><th class="num">USD</th></tr></thead><tbody>"#);
    for (p, t, u) in &w.by_pattern {
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape_html(p),
            fmt_compact(*t as f64),
            usd(*u)
        );
    }
    h.push_str(r#"</tbody></table></div><div><h3>By team</h3><table class="data" id="waste-by-team"><thead><tr><th>team</th><th class="num">people</th><th class="num">waste USD</th><th class="num">share of spend</th></tr></thead><tbody>"#);
    for (t, n, v) in &w.by_team {
        let (a, b, c) = match v {
            Some((u, s)) => (
                fmt_int(*n),
                usd(*u),
                if *s > 0.0 {
                    format!("{:.1}%", u / s * 100.0)
                } else {
                    "—".into()
                },
            ),
            None => (
                format!("&lt; {k}"),
                format!("&lt; {k}"),
                format!("&lt; {k}"),
            ),
        };
        let _ = write!(
            h,
            r#"<tr data-team="{}"><td>{}</td><td class="num">{a}</td><td class="num">{b}</td><td class="num">{c}</td></tr>"#,
            escape_html(t),
            escape_html(t)
        );
    }
    h.push_str("</tbody></table></div></div>\n");

    // Weekly trend: stacked bars by pattern.
    let mut weeks: Vec<NaiveDate> = w.weeks.iter().map(|r| r.0).collect();
    weeks.sort();
    weeks.dedup();
    let mut patterns: Vec<&str> = w.weeks.iter().map(|r| r.2.as_str()).collect();
    patterns.sort_unstable();
    patterns.dedup();
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
    let (cw, ch) = (1100u32, 240u32);
    let (ml, mr, mt, mb) = (64.0, 200.0, 16.0, 40.0);
    let pw = f64::from(cw) - ml - mr;
    let ph = f64::from(ch) - mt - mb;
    h.push_str(r#"<h3>Weekly trend</h3><figure>"#);
    let empty = weeks.is_empty() || max <= 0.0;
    svg_open(
        h,
        WASTE_CHART_ID,
        cw,
        ch,
        "Waste per week by pattern (USD)",
        &format!(
            "{} complete weeks from the state's ledger; bars stacked by pattern; teams below {k} people left out.",
            weeks.len()
        ),
        empty,
    );
    if empty {
        svg_empty(h, cw, ch, "No complete week with waste recorded yet.");
    } else {
        let bw = pw / weeks.len() as f64;
        for (i, wk) in weeks.iter().enumerate() {
            let x = ml + bw * i as f64 + bw * 0.15;
            let mut y = mt + ph;
            for (j, p) in patterns.iter().enumerate() {
                let v = val(*wk, p);
                if v <= 0.0 {
                    continue;
                }
                let hgt = v / max * ph;
                y -= hgt;
                let _ = writeln!(
                    h,
                    r#"<rect data-mark="week" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{hgt:.1}" fill="{}"><title>week of {wk}: {}: {}</title></rect>"#,
                    bw * 0.7,
                    COLORS[j % COLORS.len()],
                    escape_html(p),
                    usd(v)
                );
            }
            let _ = writeln!(
                h,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="muted">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bw * 0.35,
                mt + ph + 16.0,
                wk.format("%b %d"),
                x + bw * 0.35,
                (mt + ph - totals[i] / max * ph - 4.0).max(mt + 8.0),
                usd(totals[i])
            );
        }
        let _ = writeln!(
            h,
            r#"<line class="axis" x1="{ml}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
            ml + pw,
            mt + ph,
            mt + ph
        );
        for (j, p) in patterns.iter().enumerate() {
            let y = mt + 14.0 * j as f64 + 8.0;
            let _ = writeln!(
                h,
                r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                ml + pw + 16.0,
                y - 9.0,
                COLORS[j % COLORS.len()],
                ml + pw + 30.0,
                y,
                escape_html(p)
            );
        }
    }
    h.push_str("</svg>\n");
    // Table by team and week (the chart's data, and the team trend).
    let mut teams: Vec<&str> = w.weeks.iter().map(|r| r.1.as_str()).collect();
    teams.sort_unstable();
    teams.dedup();
    h.push_str(r#"<details><summary>Weekly waste by team (USD)</summary><table class="data" id="waste-trend-by-team"><thead><tr><th>team</th>"#);
    for wk in &weeks {
        let _ = write!(h, r#"<th class="num">{wk}</th>"#);
    }
    h.push_str("</tr></thead><tbody>");
    for t in &teams {
        let _ = write!(h, "<tr><td>{}</td>", escape_html(t));
        for wk in &weeks {
            let v: f64 = w
                .weeks
                .iter()
                .filter(|r| r.0 == *wk && r.1 == *t)
                .map(|r| r.3)
                .sum();
            let _ = write!(h, r#"<td class="num">{}</td>"#, usd(v));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></details></figure>\n");

    // Top sessions.
    h.push_str(r#"<h3>Top sessions by waste</h3><table class="data" id="waste-top-sessions"><thead><tr><th>session</th><th>user</th><th>main pattern</th><th class="num">tokens</th><th class="num">USD</th></tr></thead><tbody>"#);
    if w.top_sessions.is_empty() {
        h.push_str(
            r#"<tr><td colspan="5" class="empty">No session with waste in this window.</td></tr>"#,
        );
    }
    for (s, u, p, t, v) in &w.top_sessions {
        let _ = write!(
            h,
            r#"<tr data-waste-session><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape_html(s),
            escape_html(u),
            escape_html(p),
            fmt_compact(*t as f64),
            usd(*v)
        );
    }
    h.push_str("</tbody></table></section>\n");
}
