//! Robust per-cohort baselines: median / MAD on the `log1p` scale, with
//! explicit handling of the degenerate cases real usage data produces.
//!
//! Written by hand rather than taken from a statistics crate because the
//! degenerate-case policy (zero-inflated features, spread floors, mid-rank
//! percentiles, clipping) *is* the behaviour under test, and the arithmetic
//! itself is a sort plus a few interpolations.

use serde::Serialize;

/// Consistency constant turning a MAD into a standard-deviation estimate
/// for normally distributed data.
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// `(p90 - p10) / 2.563` estimates sigma for normal data: used when the MAD
/// is zero (more than half the cohort shares one value, typically 0).
pub const P90_P10_TO_SIGMA: f64 = 2.563;

/// `(p90 - p50) / 1.2816` estimates sigma for normal data: the one-sided
/// spread that keeps a skewed (e.g. zero-inflated) cohort's own upper tail
/// from looking anomalous.
pub const P90_TO_SIGMA: f64 = 1.2816;

/// Robust z-scores are clipped to `[-Z_CLIP, Z_CLIP]` so one extreme value
/// cannot dominate every downstream sum.
pub const Z_CLIP: f64 = 12.0;

/// Signed `log1p`: `sign(x) * ln(1 + |x|)`, the scale baselines live on.
///
/// ```
/// use goodhart_detect::robust::slog1p;
/// assert_eq!(slog1p(0.0), 0.0);
/// assert!((slog1p(std::f64::consts::E - 1.0) - 1.0).abs() < 1e-12);
/// assert_eq!(slog1p(-3.0), -slog1p(3.0));
/// ```
pub fn slog1p(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

/// Linear-interpolation quantile (type 7, as numpy's default) of an
/// ascending, non-empty, NaN-free slice. `q` is clamped to `[0, 1]`.
///
/// ```
/// use goodhart_detect::robust::quantile_sorted;
/// let v = [1.0, 2.0, 3.0, 4.0];
/// assert_eq!(quantile_sorted(&v, 0.5), 2.5);
/// assert_eq!(quantile_sorted(&v, 0.0), 1.0);
/// assert_eq!(quantile_sorted(&v, 1.0), 4.0);
/// ```
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Median of an ascending, non-empty slice.
pub fn median_sorted(sorted: &[f64]) -> f64 {
    quantile_sorted(sorted, 0.5)
}

/// The learned baseline of one feature in one cohort.
///
/// `median`, `spread` are on the `slog1p` scale; `typical` and `p95` are
/// in the feature's own units (for explanations).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// Number of (non-null) values the baseline was learned from.
    pub n: usize,
    /// Median of `slog1p(x)`.
    pub median: f64,
    /// Robust spread of `slog1p(x)` used as the z-score denominator.
    pub spread: f64,
    /// Which rule produced `spread`.
    pub spread_rule: SpreadRule,
    /// Spread used above the median: `max(spread, (p90 - median) / 1.2816)`.
    pub spread_up: f64,
    /// Spread used below the median: `max(spread, (median - p10) / 1.2816)`.
    pub spread_down: f64,
    /// Median in the feature's units.
    pub typical: f64,
    /// 95th percentile in the feature's units.
    pub p95: f64,
    /// The cohort's values, ascending (feature units), for percentiles.
    #[serde(skip)]
    sorted: Vec<f64>,
}

/// Which estimate became a baseline's spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpreadRule {
    /// `1.4826 * MAD`.
    Mad,
    /// MAD was (near) zero: `(p90 - p10) / 2.563`.
    InterDecile,
    /// Both estimates were below the feature's absolute floor.
    Floor,
}

impl Baseline {
    /// Learns a baseline from raw feature values (NaN / infinite values are
    /// ignored). `min_spread` is the feature's absolute floor for the spread
    /// on the `slog1p` scale, so that a cohort where nearly everybody has
    /// the same value (e.g. 0 redundant spawns) does not make a single stray
    /// event "infinitely" anomalous. Returns `None` when no value is usable.
    ///
    /// ```
    /// use goodhart_detect::robust::{Baseline, SpreadRule};
    /// // 9 people with 0, one with 1: MAD = 0 and p90 - p10 = 0 -> floor.
    /// let mut v = vec![0.0; 9];
    /// v.push(1.0);
    /// let b = Baseline::learn(&v, 0.25).unwrap();
    /// assert_eq!(b.spread_rule, SpreadRule::Floor);
    /// assert_eq!(b.spread, 0.25);
    /// assert!((b.z(1.0) - 2f64.ln() / 0.25).abs() < 1e-12);
    /// ```
    pub fn learn(values: &[f64], min_spread: f64) -> Option<Baseline> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        // slog1p is monotone, so the log-scale values are sorted too.
        let logs: Vec<f64> = sorted.iter().map(|&v| slog1p(v)).collect();
        let median = median_sorted(&logs);
        let mut dev: Vec<f64> = logs.iter().map(|&l| (l - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad_sigma = MAD_TO_SIGMA * median_sorted(&dev);
        let decile_sigma =
            (quantile_sorted(&logs, 0.9) - quantile_sorted(&logs, 0.1)) / P90_P10_TO_SIGMA;
        let floor = min_spread.max(1e-9);
        let (spread, spread_rule) = if mad_sigma > 1e-12 && mad_sigma >= floor {
            (mad_sigma, SpreadRule::Mad)
        } else if mad_sigma <= 1e-12 && decile_sigma >= floor {
            (decile_sigma, SpreadRule::InterDecile)
        } else {
            (floor, SpreadRule::Floor)
        };
        let q90 = quantile_sorted(&logs, 0.9);
        let q10 = quantile_sorted(&logs, 0.1);
        Some(Baseline {
            n: sorted.len(),
            median,
            spread,
            spread_rule,
            spread_up: spread.max((q90 - median) / P90_TO_SIGMA),
            spread_down: spread.max((median - q10) / P90_TO_SIGMA),
            typical: median_sorted(&sorted),
            p95: quantile_sorted(&sorted, 0.95),
            sorted,
        })
    }

    /// Robust z-score of a raw value: `(slog1p(x) - median) / spread_up`
    /// above the median, `/ spread_down` below, clipped to
    /// `[-Z_CLIP, Z_CLIP]`. The one-sided spreads equal `spread` for
    /// symmetric cohorts and widen on a skewed side, so that the cohort's
    /// own tail (e.g. the 10% of people with a few redundant spawns) is not
    /// anomalous.
    pub fn z(&self, x: f64) -> f64 {
        let d = slog1p(x) - self.median;
        let s = if d >= 0.0 {
            self.spread_up
        } else {
            self.spread_down
        };
        (d / s).clamp(-Z_CLIP, Z_CLIP)
    }

    /// Mid-rank percentile (0–100) of a raw value within the cohort:
    /// `100 * (#below + #equal / 2) / n`.
    ///
    /// ```
    /// use goodhart_detect::robust::Baseline;
    /// let b = Baseline::learn(&[1.0, 2.0, 3.0, 4.0], 0.1).unwrap();
    /// assert_eq!(b.percentile(4.0), 87.5);
    /// assert_eq!(b.percentile(10.0), 100.0);
    /// assert_eq!(b.percentile(0.0), 0.0);
    /// ```
    pub fn percentile(&self, x: f64) -> f64 {
        let below = self.sorted.partition_point(|&v| v < x);
        let upto = self.sorted.partition_point(|&v| v <= x);
        100.0 * (below as f64 + (upto - below) as f64 / 2.0) / self.sorted.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mad_rule_matches_hand_computation() {
        // values 0..=10 -> logs ln(1..=11); median ln(6).
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        let b = Baseline::learn(&v, 0.01).unwrap();
        assert_eq!(b.spread_rule, SpreadRule::Mad);
        let logs: Vec<f64> = (1..=11).map(|i| f64::from(i).ln()).collect();
        let med = 6f64.ln();
        let mut dev: Vec<f64> = logs.iter().map(|l| (l - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        assert!((b.median - med).abs() < 1e-12);
        assert!((b.spread - 1.4826 * dev[5]).abs() < 1e-12);
        assert_eq!(b.typical, 5.0);
        assert!((b.p95 - 9.5).abs() < 1e-12);
    }

    #[test]
    fn zero_inflated_uses_interdecile_then_floor() {
        // 6 zeros of 10: MAD = 0; p10 = 0, p90 = log-interp between 3rd and
        // 4th non-zero.
        let v = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 7.0, 15.0];
        let b = Baseline::learn(&v, 0.01).unwrap();
        assert_eq!(b.spread_rule, SpreadRule::InterDecile);
        let p90 = 8f64.ln() + (16f64.ln() - 8f64.ln()) * 0.1;
        assert!((b.spread - p90 / 2.563).abs() < 1e-12);
        // The same data with a larger floor uses the floor.
        let b = Baseline::learn(&v, 2.0).unwrap();
        assert_eq!(b.spread_rule, SpreadRule::Floor);
        assert_eq!(b.spread, 2.0);
    }

    #[test]
    fn skewed_side_uses_its_own_tail() {
        // 6 zeros, then 1, 3, 7, 15: p90 of logs = ln 8 + 0.1 (ln 16 - ln 8).
        let v = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 7.0, 15.0];
        let b = Baseline::learn(&v, 0.01).unwrap();
        let p90 = 8f64.ln() + (16f64.ln() - 8f64.ln()) * 0.1;
        assert!((b.spread_up - p90 / 1.2816).abs() < 1e-12);
        assert_eq!(b.spread_down, b.spread);
        assert!((b.z(15.0) - 16f64.ln() / (p90 / 1.2816)).abs() < 1e-12);
    }

    #[test]
    fn all_equal_is_finite_and_clipped() {
        let b = Baseline::learn(&[0.0; 20], 0.0).unwrap();
        assert!(b.spread > 0.0);
        assert_eq!(b.z(1e9), Z_CLIP);
        assert_eq!(b.z(0.0), 0.0);
        assert_eq!(b.percentile(0.0), 50.0);
    }

    #[test]
    fn nan_ignored_and_empty_is_none() {
        assert!(Baseline::learn(&[], 0.1).is_none());
        assert!(Baseline::learn(&[f64::NAN], 0.1).is_none());
        let b = Baseline::learn(&[f64::NAN, 1.0, 3.0], 0.1).unwrap();
        assert_eq!(b.n, 2);
        assert_eq!(b.typical, 2.0);
    }
}
