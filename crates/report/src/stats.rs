//! Derived views of the data shared by the charts and the tables: severities,
//! the ranking of users, cohort statistics, the score histogram.

use std::collections::BTreeMap;

use goodhart_core::Severity;

use crate::format::quantile;
use crate::{ReportUser, SCORE_BINS};

/// Highest possible score.
pub(crate) const MAX_SCORE: f64 = 100.0;

/// Severities, most severe first, with their chart fill colours. The badge
/// colours of the stylesheet (`.sev-<name>`) match.
pub(crate) const SEVERITIES: [(Severity, &str); 5] = [
    (Severity::Critical, "#7f1d1d"),
    (Severity::High, "#c2410c"),
    (Severity::Medium, "#d4a017"),
    (Severity::Low, "#3b82f6"),
    (Severity::None, "#d0d7de"),
];
/// Number of severity ranks.
pub(crate) const SEVERITY_RANKS: usize = SEVERITIES.len();

/// Position of a severity in [`SEVERITIES`] (0 = most severe).
pub(crate) fn severity_rank(s: Severity) -> usize {
    SEVERITIES
        .iter()
        .position(|(sev, _)| *sev == s)
        .expect("every severity is listed")
}

/// Chart fill of a severity rank.
pub(crate) fn severity_fill(rank: usize) -> &'static str {
    SEVERITIES[rank].1
}

/// Name of a severity rank: its CSS class suffix and its name in the charts.
pub(crate) fn severity_name(rank: usize) -> &'static str {
    SEVERITIES[rank].0.as_str()
}

/// A severity badge: CSS class suffix and label (both the severity's name).
#[derive(Debug)]
pub(crate) struct Badge {
    pub(crate) class: &'static str,
    pub(crate) label: &'static str,
}

impl Badge {
    pub(crate) fn new(severity: Severity) -> Badge {
        Badge {
            class: severity.as_str(),
            label: severity.as_str(),
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
            .then_with(|| severity_rank(a.severity).cmp(&severity_rank(b.severity)))
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
    fn every_severity_has_a_rank_most_severe_first_and_a_badge_named_like_it() {
        let ranks: Vec<usize> = Severity::ALL.iter().map(|s| severity_rank(*s)).collect();
        // `Severity::ALL` is ascending; ranks count from the most severe.
        assert_eq!(ranks, vec![4, 3, 2, 1, 0]);
        assert_eq!(severity_name(severity_rank(Severity::High)), "high");
        assert_eq!(severity_fill(severity_rank(Severity::Critical)), "#7f1d1d");
        let b = Badge::new(Severity::None);
        assert_eq!((b.class, b.label), ("none", "none"));
    }
}
