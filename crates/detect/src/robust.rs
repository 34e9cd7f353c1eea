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

/// Median of a non-empty slice by selection (O(n), reorders the slice);
/// equals [`median_sorted`] of the sorted slice.
pub fn median_unsorted(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        hi
    } else {
        // The lower middle is the largest value left of the upper one.
        let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// The values at the given ascending, distinct ranks (0-based) of `v`, by
/// successive selection (`v` is reordered).
fn order_stats(v: &mut [f64], ranks: &[usize]) -> Vec<(usize, f64)> {
    let mut out = Vec::with_capacity(ranks.len());
    let mut start = 0;
    for &r in ranks {
        let (_, x, _) = v[start..].select_nth_unstable_by(r - start, f64::total_cmp);
        out.push((r, *x));
        start = r;
    }
    out
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
        Self::learn_impl(values, min_spread, true)
    }

    /// [`Baseline::learn`] without keeping the sorted values: quantiles by
    /// selection (linear time), [`Baseline::percentile`] returns NaN. For
    /// large tables (sessions) whose percentiles are never reported.
    pub fn learn_summary(values: &[f64], min_spread: f64) -> Option<Baseline> {
        Self::learn_impl(values, min_spread, false)
    }

    fn learn_impl(values: &[f64], min_spread: f64, keep_sorted: bool) -> Option<Baseline> {
        let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        // Order statistics at the ranks the type-7 quantiles need. slog1p is
        // monotone, so log-scale quantiles use the same ranks.
        const QS: [f64; 4] = [0.1, 0.5, 0.9, 0.95];
        let mut ranks: Vec<usize> = QS
            .iter()
            .flat_map(|q| {
                let pos = q * (n - 1) as f64;
                [pos.floor() as usize, pos.ceil() as usize]
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        let stats: Vec<(usize, f64)> = if keep_sorted {
            v.sort_unstable_by(f64::total_cmp);
            ranks.iter().map(|&r| (r, v[r])).collect()
        } else {
            order_stats(&mut v, &ranks)
        };
        let at = |r: usize| {
            stats[stats
                .binary_search_by_key(&r, |s| s.0)
                .expect("rank requested")]
            .1
        };
        let quantile = |q: f64, f: &dyn Fn(f64) -> f64| {
            let pos = q * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            f(at(lo)) + (f(at(hi)) - f(at(lo))) * (pos - lo as f64)
        };
        let id = |x: f64| x;
        let lg = |x: f64| slog1p(x);
        let median = quantile(0.5, &lg);
        let q10 = quantile(0.1, &lg);
        let q90 = quantile(0.9, &lg);
        let mut dev: Vec<f64> = v.iter().map(|&x| (slog1p(x) - median).abs()).collect();
        let mad_sigma = MAD_TO_SIGMA * median_unsorted(&mut dev);
        let decile_sigma = (q90 - q10) / P90_P10_TO_SIGMA;
        let floor = min_spread.max(1e-9);
        let (spread, spread_rule) = if mad_sigma > 1e-12 && mad_sigma >= floor {
            (mad_sigma, SpreadRule::Mad)
        } else if mad_sigma <= 1e-12 && decile_sigma >= floor {
            (decile_sigma, SpreadRule::InterDecile)
        } else {
            (floor, SpreadRule::Floor)
        };
        Some(Baseline {
            n,
            median,
            spread,
            spread_rule,
            spread_up: spread.max((q90 - median) / P90_TO_SIGMA),
            spread_down: spread.max((median - q10) / P90_TO_SIGMA),
            typical: quantile(0.5, &id),
            p95: quantile(0.95, &id),
            sorted: if keep_sorted { v } else { Vec::new() },
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
        if self.sorted.is_empty() {
            return f64::NAN;
        }
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
    fn summary_equals_full_baseline_but_percentiles() {
        let v: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1013) as f64 / 17.0)
            .collect();
        for floor in [0.001, 0.5] {
            let a = Baseline::learn(&v, floor).unwrap();
            let b = Baseline::learn_summary(&v, floor).unwrap();
            assert_eq!(
                (a.median, a.spread, a.spread_up, a.spread_down),
                (b.median, b.spread, b.spread_up, b.spread_down)
            );
            assert_eq!((a.typical, a.p95, a.n), (b.typical, b.p95, b.n));
            assert!(b.percentile(1.0).is_nan());
        }
    }

    #[test]
    fn median_by_selection_matches_sorting() {
        for v in [
            vec![3.0],
            vec![4.0, 1.0],
            vec![5.0, 1.0, 3.0, 2.0],
            vec![9.0, 1.0, 1.0, 7.0, 2.0],
        ] {
            let mut s = v.clone();
            s.sort_by(f64::total_cmp);
            let mut w = v.clone();
            assert_eq!(median_unsorted(&mut w), median_sorted(&s), "{v:?}");
        }
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
