//! `goodhart ledger` (#11): the weekly waste ledger kept in the state, as
//! text, JSON or CSV. Rows of teams below the minimum group size show "< k"
//! instead of figures.

use goodhart_alerts::LedgerEntry;
use serde::Serialize;

/// One printed row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerLine {
    /// Monday (UTC) of the week.
    pub week: String,
    /// Team.
    pub team: String,
    /// Pattern.
    pub pattern: String,
    /// Team below the minimum group size: figures withheld.
    pub suppressed: bool,
    /// Waste tokens (null when suppressed).
    pub waste_tokens: Option<u64>,
    /// Waste USD, billed + estimated (null when suppressed).
    pub waste_usd: Option<f64>,
    /// Of which billed.
    pub waste_usd_billed: Option<f64>,
    /// Of which estimated at list prices.
    pub waste_usd_estimated: Option<f64>,
    /// People involved.
    pub users_involved: Option<u64>,
    /// The team's spend that week.
    pub spend_usd: Option<f64>,
    /// waste_usd / spend_usd.
    pub share_of_spend: Option<f64>,
    /// The scan that recorded the row.
    pub as_of: String,
}

impl From<&LedgerEntry> for LedgerLine {
    fn from(e: &LedgerEntry) -> Self {
        let usd = match (e.waste_usd_billed, e.waste_usd_estimated) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        LedgerLine {
            week: e.week.to_string(),
            team: e.team.clone(),
            pattern: e.pattern.clone(),
            suppressed: e.suppressed,
            waste_tokens: e.waste_tokens,
            waste_usd: usd,
            waste_usd_billed: e.waste_usd_billed,
            waste_usd_estimated: e.waste_usd_estimated,
            users_involved: e.users_involved,
            spend_usd: e.spend_usd,
            share_of_spend: match (usd, e.spend_usd) {
                (Some(u), Some(s)) if s > 0.0 => Some(u / s),
                _ => None,
            },
            as_of: e.as_of.to_string(),
        }
    }
}

/// The JSON document: `{"min_group_size": k, "rows": [...]}`.
pub fn to_json(rows: &[LedgerEntry], k: usize) -> String {
    let lines: Vec<LedgerLine> = rows.iter().map(LedgerLine::from).collect();
    let v = serde_json::json!({ "min_group_size": k, "rows": lines });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&v).expect("ledger serialises")
    )
}

fn cell_u(x: Option<u64>, k: usize) -> String {
    x.map_or_else(|| format!("< {k}"), |v| v.to_string())
}

fn cell_f(x: Option<f64>, k: usize, digits: usize) -> String {
    x.map_or_else(|| format!("< {k}"), |v| format!("{v:.digits$}"))
}

const HEADER: [&str; 12] = [
    "week",
    "team",
    "pattern",
    "suppressed",
    "waste_tokens",
    "waste_usd",
    "waste_usd_billed",
    "waste_usd_estimated",
    "users_involved",
    "spend_usd",
    "share_of_spend",
    "as_of",
];

fn cells(e: &LedgerEntry, k: usize) -> [String; 12] {
    let l = LedgerLine::from(e);
    // A share needs a spend; an unsuppressed row without spend has none.
    let share = if l.suppressed {
        format!("< {k}")
    } else {
        l.share_of_spend
            .map_or_else(String::new, |s| format!("{s:.4}"))
    };
    [
        l.week,
        l.team,
        l.pattern,
        l.suppressed.to_string(),
        cell_u(l.waste_tokens, k),
        cell_f(l.waste_usd, k, 2),
        cell_f(l.waste_usd_billed, k, 2),
        cell_f(l.waste_usd_estimated, k, 2),
        cell_u(l.users_involved, k),
        cell_f(l.spend_usd, k, 2),
        share,
        l.as_of,
    ]
}

/// CSV (RFC 4180: fields with a comma, quote or newline are quoted).
pub fn to_csv(rows: &[LedgerEntry], k: usize) -> String {
    let q = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = HEADER.join(",");
    out.push('\n');
    for e in rows {
        let c = cells(e, k);
        out.push_str(&c.iter().map(|s| q(s)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// An aligned text table, rows with no waste left out, plus a line per week
/// with its total.
pub fn to_text(rows: &[LedgerEntry], k: usize) -> String {
    if rows.is_empty() {
        return "the waste ledger is empty: no scan has recorded a complete week yet\n".into();
    }
    let mut out = String::new();
    let mut week = String::new();
    let mut total = 0.0;
    let flush = |out: &mut String, week: &str, total: f64| {
        if !week.is_empty() {
            out.push_str(&format!(
                "  week total (teams of {k} or more): {}\n",
                crate::waste::fmt_usd(total)
            ));
        }
    };
    for e in rows {
        let l = LedgerLine::from(e);
        if l.week != week {
            flush(&mut out, &week, total);
            week = l.week.clone();
            total = 0.0;
            out.push_str(&format!("week of {week}\n"));
        }
        if l.suppressed {
            if l.pattern == goodhart_waste::PATTERNS[0] {
                out.push_str(&format!(
                    "  {:<16} < {k} people: figures withheld\n",
                    l.team
                ));
            }
            continue;
        }
        let usd = l.waste_usd.unwrap_or(0.0);
        total += usd;
        if l.waste_tokens.unwrap_or(0) == 0 {
            continue;
        }
        out.push_str(&format!(
            "  {:<16} {:<24} {:>10} {:>9} tokens  people: {}\n",
            l.team,
            l.pattern,
            crate::waste::fmt_usd(usd),
            crate::waste::fmt_tokens(l.waste_tokens.unwrap_or(0)),
            l.users_involved.unwrap_or(0)
        ));
    }
    flush(&mut out, &week, total);
    out
}
