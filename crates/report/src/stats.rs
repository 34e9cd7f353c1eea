//! Derived views of the data shared by the charts and the tables: severities,
//! the ranking of users, cohort statistics, the score histogram.

use std::collections::BTreeMap;

use crate::format::quantile;
use crate::{ReportUser, SCORE_BINS};

/// Highest possible score.
pub(crate) const MAX_SCORE: f64 = 100.0;

/// Known severities, most severe first: (name, fill colour). The badge colours
/// of the stylesheet (`.sev-*`) match.
pub(crate) const SEVERITIES: [(&str, &str); 6] = [
    ("critical", "#7f1d1d"),
    ("high", "#c2410c"),
    ("medium", "#d4a017"),
    ("low", "#3b82f6"),
    ("info", "#94a3b8"),
    ("none", "#d0d7de"),
];
/// Fill of a severity name that is none of [`SEVERITIES`].
const UNKNOWN_SEVERITY_FILL: &str = "#8c959f";
/// Number of severity ranks: the known ones and "other".
pub(crate) const SEVERITY_RANKS: usize = SEVERITIES.len() + 1;

/// Position in [`SEVERITIES`] (case-insensitive), or its length for an unknown name.
pub(crate) fn severity_rank(s: &str) -> usize {
    let s = s.trim();
    SEVERITIES
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case(s))
        .unwrap_or(SEVERITIES.len())
}

/// Chart fill of a severity rank.
pub(crate) fn severity_fill(rank: usize) -> &'static str {
    SEVERITIES
        .get(rank)
        .map_or(UNKNOWN_SEVERITY_FILL, |(_, fill)| *fill)
}

/// Name of a severity rank: its CSS class suffix ("unknown" when not known).
pub(crate) fn severity_class(rank: usize) -> &'static str {
    SEVERITIES.get(rank).map_or("unknown", |(name, _)| *name)
}

/// Name of a severity rank in the charts ("other" when not known).
pub(crate) fn severity_chart_name(rank: usize) -> &'static str {
    SEVERITIES.get(rank).map_or("other", |(name, _)| *name)
}

/// A severity badge: CSS class suffix and label (the trimmed name, or "none").
#[derive(Debug)]
pub(crate) struct Badge {
    pub(crate) class: &'static str,
    pub(crate) label: String,
}

impl Badge {
    pub(crate) fn new(severity: &str) -> Badge {
        let label = match severity.trim() {
            "" => "none".to_string(),
            s => s.to_string(),
        };
        Badge {
            class: severity_class(severity_rank(severity)),
            label,
        }
    }
}

/// Counts scores into [`SCORE_BINS`] bins of 5 points: bin `i` holds scores in
/// `[5i, 5i + 5)`, the last bin also holds 100. Scores below 0 count in the
/// first bin, above 100 in the last; non-finite scores are skipped.
///
/// ```
/// let h = goodhart_report::score_histogram([0.0, 4.99, 5.0, 100.0, f64::NAN]);
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

/// The histogram bin of a score, `None` when it is not finite.
pub(crate) fn score_bin(s: f64) -> Option<usize> {
    if !s.is_finite() {
        return None;
    }
    let width = MAX_SCORE / SCORE_BINS as f64;
    // The clamp makes the cast exact and in range.
    let b = (s.clamp(0.0, MAX_SCORE) / width).floor() as usize;
    Some(b.min(SCORE_BINS - 1))
}

/// Users sorted for the table: score descending (non-finite last), then
/// severity (most severe first), then user id.
pub(crate) fn ranked_users(users: &[ReportUser]) -> Vec<&ReportUser> {
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
pub(crate) struct CohortStats {
    pub(crate) name: String,
    pub(crate) users: usize,
    /// Users without an accepted change (no ratio).
    pub(crate) no_change: usize,
    /// Sorted ratios (finite, >= 0).
    pub(crate) ratios: Vec<f64>,
}

impl CohortStats {
    pub(crate) fn median(&self) -> Option<f64> {
        quantile(&self.ratios, 0.5)
    }

    /// Fewer people than `k`: its figures would single out colleagues.
    pub(crate) fn is_small(&self, k: usize) -> bool {
        self.users < k
    }
}

/// A usable tokens-per-accepted-change ratio (finite, not negative).
pub(crate) fn usable_ratio(r: Option<f64>) -> Option<f64> {
    r.filter(|r| r.is_finite() && *r >= 0.0)
}

/// Statistics of every cohort, by name.
pub(crate) fn cohort_stats(users: &[ReportUser]) -> BTreeMap<&str, CohortStats> {
    let mut m: BTreeMap<&str, CohortStats> = BTreeMap::new();
    for u in users {
        let e = m.entry(u.cohort.as_str()).or_insert_with(|| CohortStats {
            name: u.cohort.clone(),
            users: 0,
            no_change: 0,
            ratios: Vec::new(),
        });
        e.users += 1;
        match usable_ratio(u.tokens_per_accepted_change) {
            Some(r) => e.ratios.push(r),
            None => e.no_change += 1,
        }
    }
    for s in m.values_mut() {
        s.ratios.sort_by(f64::total_cmp);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn severities_rank_case_insensitively_and_unknown_last() {
        assert_eq!(severity_rank(" HIGH "), 1);
        assert_eq!(severity_rank("bogus"), SEVERITIES.len());
        assert_eq!(severity_class(severity_rank("bogus")), "unknown");
        assert_eq!(severity_chart_name(severity_rank("bogus")), "other");
        assert_eq!(Badge::new("  ").label, "none");
    }
}
