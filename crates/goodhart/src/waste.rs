//! The scan's waste stage (#11): estimates, ledger and totals from
//! `goodhart-waste`, the waste columns of the score tables, and the waste
//! figure each alert carries.

use std::collections::{HashMap, HashSet};

use arrow::array::RecordBatch;
use goodhart_alerts::{AlertCandidate, Evidence};
use goodhart_detect::Scores;
use goodhart_features::Features;
use goodhart_waste::{
    LedgerRow, PriceBasis, PriceTable, PricesSection, Totals, WasteError, WasteEstimate,
    WasteOptions, PATTERNS,
};

use crate::scan::Window;

/// What the waste stage produced.
#[derive(Debug, Clone)]
pub struct WasteRun {
    /// The price table used.
    pub prices: PriceTable,
    /// Per session and user estimates.
    pub estimate: WasteEstimate,
    /// The weekly ledger of the window (small teams suppressed).
    pub ledger: Vec<LedgerRow>,
    /// Organisation totals (`summary.json` → `waste`).
    pub totals: Totals,
    /// `user_scores.parquet`: the score table with the waste columns.
    pub users_table: RecordBatch,
    /// `session_scores.parquet`: likewise.
    pub sessions_table: RecordBatch,
    /// `waste.parquet`.
    pub ledger_table: RecordBatch,
}

/// Runs the waste stage of a scan.
pub fn run(
    features: &Features,
    scores: &Scores,
    prices: &PricesSection,
    window: Window,
    min_group_size: usize,
) -> Result<WasteRun, WasteError> {
    let prices = PriceTable::from_section(prices)?;
    let opts = WasteOptions {
        min_group_size,
        ..WasteOptions::default()
    };
    let estimate = goodhart_waste::estimate(features, &prices, &opts)?;
    let ledger =
        goodhart_waste::ledger(&estimate, window.first_day(), window.as_of, min_group_size);
    let totals = goodhart_waste::totals(&estimate, prices.defaults_date.clone());
    Ok(WasteRun {
        users_table: goodhart_waste::with_user_columns(&scores.users, &estimate)?,
        sessions_table: goodhart_waste::with_session_columns(&scores.sessions, &estimate)?,
        ledger_table: goodhart_waste::ledger_batch(&ledger)?,
        prices,
        estimate,
        ledger,
        totals,
    })
}

/// The ledger rows the state keeps: complete weeks (all 7 days inside the
/// window) only, so that a week is never replaced by a partial view of it.
pub fn state_rows(w: &WasteRun, as_of: chrono::NaiveDate) -> Vec<goodhart_alerts::LedgerEntry> {
    w.ledger
        .iter()
        .filter(|r| r.days_covered == 7)
        .map(|r| goodhart_alerts::LedgerEntry {
            figures: r.figures.clone(),
            as_of,
        })
        .collect()
}

/// The report's "What it cost" section from this run and the ledger history.
pub fn report_section(
    w: &WasteRun,
    history: &[goodhart_alerts::LedgerEntry],
    k: usize,
) -> crate::report::WasteReport {
    let t = &w.totals;
    let mut by_pattern: Vec<(String, u64, f64)> = t
        .by_pattern
        .iter()
        .map(|(p, x)| (p.clone(), x.tokens, x.usd))
        .collect();
    by_pattern.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    // Teams over the window: people, waste and spend (suppressed below k).
    let mut teams: std::collections::BTreeMap<String, (u64, f64, f64)> = Default::default();
    for u in &w.estimate.users {
        let e = teams
            .entry(
                u.team
                    .clone()
                    .unwrap_or_else(|| goodhart_waste::NO_TEAM.into()),
            )
            .or_default();
        e.0 += 1;
        e.1 += u.figures.waste_usd();
        e.2 += u.figures.spend_usd();
    }
    let mut by_team: Vec<crate::report::TeamWaste> = teams
        .into_iter()
        .map(|(t, (n, u, s))| (t, n, ((n as usize) >= k).then_some((u, s))))
        .collect();
    by_team.sort_by(|a, b| {
        let ua = a.2.map_or(-1.0, |x| x.0);
        let ub = b.2.map_or(-1.0, |x| x.0);
        ub.total_cmp(&ua).then_with(|| a.0.cmp(&b.0))
    });
    let weeks = history
        .iter()
        .filter(|r| !r.suppressed)
        .map(|r| {
            (
                r.week,
                r.team.clone(),
                r.pattern.clone(),
                r.waste_usd_billed.unwrap_or(0.0) + r.waste_usd_estimated.unwrap_or(0.0),
            )
        })
        .collect();
    let mut top: Vec<&goodhart_waste::SessionWaste> = w
        .estimate
        .sessions
        .iter()
        .filter(|s| s.figures.waste_tokens() > 0)
        .collect();
    top.sort_by(|a, b| {
        b.figures
            .waste_usd()
            .total_cmp(&a.figures.waste_usd())
            .then_with(|| b.figures.waste_tokens().cmp(&a.figures.waste_tokens()))
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    let top_sessions = top
        .into_iter()
        .take(10)
        .map(|s| {
            let main = (0..PATTERNS.len())
                .max_by(|&i, &j| {
                    s.figures.tokens[i]
                        .cmp(&s.figures.tokens[j])
                        .then(j.cmp(&i))
                })
                .unwrap_or(0);
            (
                s.session_id.clone(),
                s.user_id.clone(),
                PATTERNS[main].to_string(),
                s.figures.waste_tokens(),
                s.figures.waste_usd(),
            )
        })
        .collect();
    crate::report::WasteReport {
        billed_usd: t.waste_usd_billed,
        estimated_usd: t.waste_usd_estimated,
        tokens: t.waste_tokens,
        spend_usd: t.spend_usd,
        unpriced_tokens: t.waste_tokens_unpriced,
        unpriced_models: t
            .unpriced_models
            .iter()
            .map(|(m, n)| (m.clone(), *n))
            .collect(),
        price_table_date: t.price_table_date.clone(),
        by_pattern,
        by_team,
        weeks,
        top_sessions,
    }
}

pub use goodhart_report::fmt_usd;

/// `12.3M` style token counts.
pub fn fmt_tokens(t: u64) -> String {
    let x = t as f64;
    if x >= 1e9 {
        format!("{:.1}B", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        t.to_string()
    }
}

/// Appends to each candidate an evidence item with the waste of its pattern
/// over the window (feature `waste_usd`, value in USD; the sentence says
/// "~$1,840 over 28 days" and whether it is billed or estimated). For a
/// pattern without a waste estimate (tokens-without-output, multivariate)
/// the person's total waste is given instead, and said so.
pub fn add_alert_waste(candidates: &mut [AlertCandidate], w: &WasteRun, window: Window) {
    // Indexed once: searching the users and sessions per candidate was
    // quadratic (hundreds of alerts × hundreds of thousands of sessions).
    // Only the alerted users are indexed; the first user row with an id wins
    // (as `find` did), and each user's sessions keep their table order.
    let alerted: HashSet<&str> = candidates.iter().map(|c| c.user_id.as_str()).collect();
    let mut users: HashMap<&str, &goodhart_waste::UserWaste> = HashMap::new();
    for u in &w.estimate.users {
        if alerted.contains(u.user_id.as_str()) {
            users.entry(u.user_id.as_str()).or_insert(u);
        }
    }
    let mut user_sessions: HashMap<&str, Vec<&goodhart_waste::SessionWaste>> = HashMap::new();
    for s in &w.estimate.sessions {
        if alerted.contains(s.user_id.as_str()) {
            user_sessions.entry(s.user_id.as_str()).or_default().push(s);
        }
    }
    for c in candidates.iter_mut() {
        let Some(&u) = users.get(c.user_id.as_str()) else {
            continue;
        };
        let f = &u.figures;
        let (usd, tokens, what) = match PATTERNS.iter().position(|p| *p == c.pattern) {
            Some(i) => (f.pattern_usd(i), f.tokens[i], c.pattern.clone()),
            None => (
                f.waste_usd(),
                f.waste_tokens(),
                "all patterns (none is estimated for this one)".to_string(),
            ),
        };
        let basis = match u.basis {
            PriceBasis::Billed => "billed cost_usd".to_string(),
            PriceBasis::Estimated => format!(
                "estimated at list prices{}",
                w.prices
                    .defaults_date
                    .as_deref()
                    .map(|d| format!(" of {d}"))
                    .unwrap_or_default()
            ),
            PriceBasis::Mixed => "part billed, part estimated at list prices".into(),
            PriceBasis::Unpriced => "model not in the price table: tokens only".into(),
        };
        let mut sessions: Vec<(&str, u64)> = user_sessions
            .get(c.user_id.as_str())
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|s| {
                let t = match PATTERNS.iter().position(|p| *p == c.pattern) {
                    Some(i) => s.figures.tokens[i],
                    None => s.figures.waste_tokens(),
                };
                (s.session_id.as_str(), t)
            })
            .filter(|(_, t)| *t > 0)
            .collect();
        sessions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        c.evidence.push(Evidence {
            pattern: c.pattern.clone(),
            feature: "waste_usd".into(),
            value: usd,
            typical: f64::NAN,
            p95: f64::NAN,
            percentile: f64::NAN,
            sessions: sessions.iter().take(3).map(|s| s.0.to_string()).collect(),
            text: format!(
                "waste: ~{} over {} days ({} tokens of {what}; {basis}; a conservative lower bound)",
                fmt_usd(usd),
                window.days,
                fmt_tokens(tokens)
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_tokens_read_well() {
        assert_eq!(fmt_tokens(12_345_678), "12.3M");
        assert_eq!(fmt_tokens(950), "950");
    }
}
