//! Robust per-cohort baselines: median / MAD on the `log1p` scale, with
//! explicit handling of the degenerate cases real usage data produces.
//!
//! Written by hand rather than taken from a statistics crate because the
//! degenerate-case policy (zero-inflated features, spread floors, mid-rank
//! percentiles, clipping) *is* the behaviour under test, and the arithmetic
//! itself is a sort plus a few interpolations.

use serde::Serialize;
use std::sync::LazyLock;

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

/// Values more than this many (one-sided) spreads from the median are
/// excluded before a baseline's deciles and spreads are estimated: the
/// modified-z outlier rule of Iglewicz and Hoaglin (3.5), applied
/// iteratively (see [`Baseline::learn`]).
pub const EXCLUDE_Z: f64 = 3.5;

/// Most reweighting steps of a baseline (each widens the kept range; they
/// usually settle in two or three).
pub const MAX_REWEIGHT_STEPS: usize = 8;

/// The [`total_key`] of the raw value whose `slog1p` is `y` (the inverse
/// of `slog1p`), so that cuts on the log scale compare raw keys.
fn key_of_log(y: f64) -> i64 {
    total_key(y.signum() * y.abs().exp_m1())
}

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

/// Small non-negative integers whose [`slog1p`] is tabulated.
const SLOG1P_TABLE_LEN: usize = 256;

/// [`slog1p`] of `0, 1, ..., SLOG1P_TABLE_LEN - 1`.
static SLOG1P_TABLE: LazyLock<[f64; SLOG1P_TABLE_LEN]> =
    LazyLock::new(|| std::array::from_fn(|i| slog1p(i as f64)));

/// [`slog1p`], looked up for small non-negative integers: counts, and the
/// exact zeros of zero-inflated shares, are most of the values baselines
/// and z-scores take the logarithm of. The table holds `slog1p`'s own
/// results and is only used for exactly those values (`-0.0` excluded), so
/// the result is bit-identical.
#[inline]
fn slog1p_cached(x: f64) -> f64 {
    let i = x as usize;
    if i < SLOG1P_TABLE_LEN && (i as f64).to_bits() == x.to_bits() {
        SLOG1P_TABLE[i]
    } else {
        slog1p(x)
    }
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

/// `x`'s place in [`f64::total_cmp`]'s order as an integer:
/// `total_cmp(a, b) == total_key(a).cmp(&total_key(b))` (the same bit
/// transformation `total_cmp` makes), inverted by [`from_total_key`].
/// Selecting and sorting these keys is cheaper than comparing floats with
/// `total_cmp`, and gives the same order.
pub(crate) fn total_key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// The float of a [`total_key`].
fn from_total_key(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// The values at the given ascending, distinct ranks (0-based) of `v`, by
/// selection (`v` is reordered), ascending by rank.
///
/// The middle rank is selected first and each side only within its own
/// part; a rank right next to a selected one is the extreme of the
/// adjacent part (a scan, no selection). For the baseline's eight ranks
/// this is about 2.5 n comparisons instead of 4 n for selecting each rank in
/// turn. Order statistics of a total order are unique, so the values do not
/// depend on how they are found.
fn order_stats<T: Copy + Ord>(v: &mut [T], ranks: &[usize]) -> Vec<(usize, T)> {
    let mut out = Vec::with_capacity(ranks.len());
    select_ranks(v, 0, ranks, &mut out);
    out.sort_unstable_by_key(|s| s.0);
    out
}

/// [`order_stats`] of the slice `v` holding ranks `offset..offset + v.len()`.
fn select_ranks<T: Copy + Ord>(
    v: &mut [T],
    offset: usize,
    ranks: &[usize],
    out: &mut Vec<(usize, T)>,
) {
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let rank = ranks[mid];
    let (left, x, right) = v.select_nth_unstable(rank - offset);
    out.push((rank, *x));
    let (mut below, mut above) = (&ranks[..mid], &ranks[mid + 1..]);
    if let Some((&last, rest)) = below.split_last() {
        if last + 1 == rank {
            let max = left.iter().copied().max();
            out.push((last, max.expect("rank - 1 is in the left part")));
            below = rest;
        }
    }
    if let Some((&first, rest)) = above.split_first() {
        if first == rank + 1 {
            let min = right.iter().copied().min();
            out.push((first, min.expect("rank + 1 is in the right part")));
            above = rest;
        }
    }
    select_ranks(left, offset, below, out);
    select_ranks(right, rank + 1, above, out);
}

/// [`median_unsorted`] of non-negative, non-NaN values given as their bits
/// (which order like the values), reordering `bits`.
fn median_of_nonnegative(bits: &mut [u64]) -> f64 {
    let n = bits.len();
    let (_, &mut hi, _) = bits.select_nth_unstable(n / 2);
    let hi = f64::from_bits(hi);
    if n % 2 == 1 {
        hi
    } else {
        // The lower middle is the largest value left of the upper one.
        let lo = bits[..n / 2].iter().copied().max().expect("n >= 2");
        (f64::from_bits(lo) + hi) / 2.0
    }
}

/// The ranks bracketing the type-7 quantile `q` of `n` values and its
/// position: `(floor, ceil, q (n - 1))`.
fn quantile_ranks(q: f64, n: usize) -> (usize, usize, f64) {
    let pos = q * (n - 1) as f64;
    (pos.floor() as usize, pos.ceil() as usize, pos)
}

/// Linear interpolation between the values at ranks `lo` and `lo + 1`.
fn interpolate(at_lo: f64, at_hi: f64, pos: f64, lo: usize) -> f64 {
    at_lo + (at_hi - at_lo) * (pos - lo as f64)
}

/// The type-7 quantile `q` (in `[0, 1]`) of the finite values of `values`
/// by selection (linear time), `None` when there is none. Bit-identical to
/// the quantiles of [`Baseline`] (e.g. its `p95`), without learning the
/// rest of a baseline.
///
/// ```
/// use goodhart_detect::robust::{quantile_select, Baseline};
/// let v = [3.0, f64::NAN, 1.0, 7.0, 2.0, 12.0];
/// let b = Baseline::learn(&v, 0.1).unwrap();
/// assert_eq!(quantile_select(&v, 0.95), Some(b.p95));
/// assert_eq!(quantile_select(&[f64::NAN], 0.5), None);
/// ```
pub fn quantile_select(values: &[f64], q: f64) -> Option<f64> {
    let mut keys: Vec<i64> = values
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| total_key(x))
        .collect();
    if keys.is_empty() {
        return None;
    }
    let (lo, hi, pos) = quantile_ranks(q, keys.len());
    let ranks = if lo == hi { vec![lo] } else { vec![lo, hi] };
    let stats = order_stats(&mut keys, &ranks);
    let at = |i: usize| from_total_key(stats[i].1);
    Some(interpolate(at(0), at(ranks.len() - 1), pos, lo))
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
    /// Spread used above the median: `max(spread, (p90 - median) / 1.2816)`,
    /// the p90 of the values left after excluding the clearly anomalous
    /// (iteratively, see [`Baseline::learn`]).
    pub spread_up: f64,
    /// Spread used below the median: `max(spread, (median - p10) / 1.2816)`,
    /// the p10 of the values left after excluding the clearly anomalous.
    pub spread_down: f64,
    /// Median in the feature's units.
    pub typical: f64,
    /// 95th percentile in the feature's units.
    pub p95: f64,
    /// The cohort's values, ascending (feature units), for percentiles.
    #[serde(skip)]
    sorted: Vec<f64>,
}

/// A value's cohort, seen without the value's owner: see
/// [`Baseline::among_peers`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerStats {
    /// Median of the peers' values.
    pub typical: f64,
    /// 95th percentile of the peers' values.
    pub p95: f64,
    /// Mid-rank percentile (0–100) of the value among the peers.
    pub percentile: f64,
    /// Number of peers (the cohort without the owner).
    pub peers: usize,
}

/// Which estimate became a baseline's spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpreadRule {
    /// `1.4826 * MAD`.
    Mad,
    /// MAD was (near) zero: `(p90 - p10) / 2.563` of the values left after
    /// excluding the clearly anomalous.
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
        Self::learn_owned(values.to_vec(), min_spread, true)
    }

    /// [`Baseline::learn`] without keeping the sorted values: quantiles by
    /// selection (linear time), [`Baseline::percentile`] returns NaN. For
    /// large tables (sessions) whose percentiles are never reported.
    pub fn learn_summary(values: &[f64], min_spread: f64) -> Option<Baseline> {
        Self::learn_owned(values.to_vec(), min_spread, false)
    }

    /// [`Baseline::learn`] (`keep_sorted`) or [`Baseline::learn_summary`]
    /// of values the caller gives away (saves a copy per baseline).
    // One piece: one estimator run for every cohort x feature; its steps share the selected keys,
    // the ranks and the running spreads, which separate functions would copy or select again.
    pub(crate) fn learn_owned(
        mut v: Vec<f64>,
        min_spread: f64,
        keep_sorted: bool,
    ) -> Option<Baseline> {
        v.retain(|v| v.is_finite());
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        // Order statistics at the ranks the type-7 quantiles need. slog1p is
        // monotone, so log-scale quantiles use the same ranks.
        const QS: [f64; 4] = [0.1, 0.5, 0.9, 0.95];
        let mut ranks: Vec<usize> = QS
            .iter()
            .flat_map(|&q| {
                let (lo, hi, _) = quantile_ranks(q, n);
                [lo, hi]
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        // Selection and sorting run on `total_key`s (the same order as
        // `total_cmp`, cheaper to compare); collected in place.
        let mut keys: Vec<i64> = v.into_iter().map(total_key).collect();
        let stats: Vec<(usize, f64)> = if keep_sorted {
            keys.sort_unstable();
            ranks
                .iter()
                .map(|&r| (r, from_total_key(keys[r])))
                .collect()
        } else {
            order_stats(&mut keys, &ranks)
                .into_iter()
                .map(|(r, k)| (r, from_total_key(k)))
                .collect()
        };
        let at = |r: usize| {
            stats[stats
                .binary_search_by_key(&r, |s| s.0)
                .expect("rank requested")]
            .1
        };
        let quantile = |q: f64, f: &dyn Fn(f64) -> f64| {
            let (lo, hi, pos) = quantile_ranks(q, n);
            interpolate(f(at(lo)), f(at(hi)), pos, lo)
        };
        let id = |x: f64| x;
        let lg = |x: f64| slog1p(x);
        let median = quantile(0.5, &lg);
        // Absolute deviations are non-negative: their median is selected on
        // their bits.
        let mut dev: Vec<u64> = keys
            .iter()
            .map(|&k| (slog1p_cached(from_total_key(k)) - median).abs().to_bits())
            .collect();
        let mad_sigma = MAD_TO_SIGMA * median_of_nonnegative(&mut dev);
        let floor = min_spread.max(1e-9);
        // Iterative reweighting (a Hampel-type skipped estimator): start
        // from the high-breakdown spread `max(MAD sigma, floor)`, exclude
        // the values beyond `EXCLUDE_Z` spreads of the median (the clearly
        // anomalous), estimate the deciles of the rest, widen the one-sided
        // spreads to them, and repeat with the wider spreads until nothing
        // changes. Starting from below means a tail of gamers (25% of a
        // cohort, two padders in a team of twelve) never enters the spread
        // that measures them, while a legitimate tail within reach of the
        // cohort is let in step by step.
        let sorted_keys = keep_sorted;
        let mut up = mad_sigma.max(floor);
        let mut down = up;
        let mut fit = (mad_sigma, SpreadRule::Mad, up, down);
        for _ in 0..MAX_REWEIGHT_STEPS {
            let lo_cut = key_of_log(median - EXCLUDE_Z * down);
            let hi_cut = key_of_log(median + EXCLUDE_Z * up);
            let (below, upto) = if sorted_keys {
                (
                    keys.partition_point(|&k| k < lo_cut),
                    keys.partition_point(|&k| k <= hi_cut),
                )
            } else {
                keys.iter().fold((0, 0), |(b, u), &k| {
                    (b + usize::from(k < lo_cut), u + usize::from(k <= hi_cut))
                })
            };
            let kept = upto - below;
            let (q10, q90) = if kept == 0 {
                (median, median)
            } else {
                let (l10, h10, p10) = quantile_ranks(0.1, kept);
                let (l90, h90, p90) = quantile_ranks(0.9, kept);
                let mut ranks = vec![below + l10, below + h10, below + l90, below + h90];
                ranks.sort_unstable();
                ranks.dedup();
                let stats: Vec<(usize, i64)> = if sorted_keys {
                    ranks.iter().map(|&r| (r, keys[r])).collect()
                } else {
                    order_stats(&mut keys, &ranks)
                };
                let at = |r: usize| {
                    let i = stats
                        .binary_search_by_key(&(below + r), |s| s.0)
                        .expect("rank requested");
                    slog1p(from_total_key(stats[i].1))
                };
                (
                    interpolate(at(l10), at(h10), p10, l10),
                    interpolate(at(l90), at(h90), p90, l90),
                )
            };
            let decile_sigma = (q90 - q10) / P90_P10_TO_SIGMA;
            let (spread, rule) = if mad_sigma > 1e-12 && mad_sigma >= floor {
                (mad_sigma, SpreadRule::Mad)
            } else if mad_sigma <= 1e-12 && decile_sigma >= floor {
                (decile_sigma, SpreadRule::InterDecile)
            } else {
                (floor, SpreadRule::Floor)
            };
            let new_up = spread.max((q90 - median) / P90_TO_SIGMA);
            let new_down = spread.max((median - q10) / P90_TO_SIGMA);
            fit = (spread, rule, new_up, new_down);
            if new_up <= up && new_down <= down {
                break;
            }
            up = up.max(new_up);
            down = down.max(new_down);
        }
        let (spread, spread_rule, spread_up, spread_down) = fit;
        Some(Baseline {
            n,
            median,
            spread,
            spread_rule,
            spread_up,
            spread_down,
            typical: quantile(0.5, &id),
            p95: quantile(0.95, &id),
            sorted: if keep_sorted {
                keys.into_iter().map(from_total_key).collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Robust z-score of a raw value: `(slog1p(x) - median) / spread_up`
    /// above the median, `/ spread_down` below, clipped to
    /// `[-Z_CLIP, Z_CLIP]`. The one-sided spreads equal `spread` for
    /// symmetric cohorts and widen on a skewed side, so that the cohort's
    /// own tail (e.g. the 10% of people with a few redundant spawns) is not
    /// anomalous.
    pub fn z(&self, x: f64) -> f64 {
        let d = slog1p_cached(x) - self.median;
        let s = if d >= 0.0 {
            self.spread_up
        } else {
            self.spread_down
        };
        (d / s).clamp(-Z_CLIP, Z_CLIP)
    }

    /// What a reviewer should read about `x` against the *other* members of
    /// the cohort: the typical value (median), p95 and mid-rank percentile
    /// of the cohort's values without one value equal to `x` (the user's
    /// own) when `includes_x`, and how many peers that leaves. Quantiles and
    /// percentile are NaN without kept values ([`Baseline::learn_summary`])
    /// or without peers.
    ///
    /// ```
    /// use goodhart_detect::robust::Baseline;
    /// // Nobody but the user (0.5) shows the pattern: typical 0, p95 0.
    /// let b = Baseline::learn(&[0.0, 0.0, 0.0, 0.5], 0.1).unwrap();
    /// let p = b.among_peers(0.5, true);
    /// assert_eq!((p.typical, p.p95, p.percentile, p.peers), (0.0, 0.0, 100.0, 3));
    /// ```
    pub fn among_peers(&self, x: f64, includes_x: bool) -> PeerStats {
        let n = self.sorted.len();
        let below = self.sorted.partition_point(|&v| v < x);
        let upto = self.sorted.partition_point(|&v| v <= x);
        // Index of the user's own value, skipped when reading ranks.
        let own = (includes_x && upto > below).then_some(below);
        let m = n - usize::from(own.is_some());
        if m == 0 {
            return PeerStats {
                typical: f64::NAN,
                p95: f64::NAN,
                percentile: f64::NAN,
                peers: if n == 0 {
                    self.n.saturating_sub(usize::from(includes_x))
                } else {
                    0
                },
            };
        }
        let at = |r: usize| match own {
            Some(i) if r >= i => self.sorted[r + 1],
            _ => self.sorted[r],
        };
        let q = |q: f64| {
            let (lo, hi, pos) = quantile_ranks(q, m);
            interpolate(at(lo), at(hi), pos, lo)
        };
        let equal = upto - below - usize::from(own.is_some());
        PeerStats {
            typical: q(0.5),
            p95: q(0.95),
            percentile: 100.0 * (below as f64 + equal as f64 / 2.0) / m as f64,
            peers: m,
        }
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
    fn zero_inflated_tail_within_reach_is_kept() {
        // 6 zeros, then 1, 3, 7, 15; floor 0.5. MAD = 0. Step 1 keeps values
        // within 3.5 * 0.5 of 0 on the log scale (0s, 1, 3), step 2 widens
        // to 7, step 3 to everything: the plain deciles of all ten values.
        let v = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 7.0, 15.0];
        let b = Baseline::learn(&v, 0.5).unwrap();
        let p90 = 8f64.ln() + (16f64.ln() - 8f64.ln()) * 0.1;
        assert_eq!(b.spread_rule, SpreadRule::InterDecile);
        assert!((b.spread - p90 / 2.563).abs() < 1e-12);
        assert!((b.spread_up - p90 / 1.2816).abs() < 1e-12);
        assert_eq!(b.spread_down, b.spread);
        assert!((b.z(15.0) - 16f64.ln() / (p90 / 1.2816)).abs() < 1e-12);
        // With a tight floor the non-zero values are far beyond 3.5 floors of
        // the point mass at 0: excluded, the spread is the floor.
        let b = Baseline::learn(&v, 0.01).unwrap();
        assert_eq!(b.spread_rule, SpreadRule::Floor);
        assert_eq!((b.spread, b.spread_up), (0.01, 0.01));
        // A larger floor is used as is.
        let b = Baseline::learn(&v, 2.0).unwrap();
        assert_eq!(b.spread_rule, SpreadRule::Floor);
        assert_eq!(b.spread, 2.0);
    }

    #[test]
    fn a_quarter_of_gamers_does_not_widen_the_spread() {
        // 15 colleagues with shares 0.00..0.04, 5 gamers (25%) at 0.45..0.49.
        // A p90 of everything is a gamer's value; the reweighted p90 is the
        // colleagues' own.
        let mut v: Vec<f64> = (0..15).map(|i| 0.01 * (i % 5) as f64).collect();
        v.extend((0..5).map(|i| 0.45 + 0.01 * i as f64));
        let b = Baseline::learn(&v, 0.03).unwrap();
        let c = Baseline::learn(&v[..15], 0.03).unwrap();
        assert!((b.spread_up - c.spread_up).abs() < 0.01, "{b:?} vs {c:?}");
        assert!(b.z(0.45) > 8.0, "{}", b.z(0.45));
        // The summary (selection) path gives the same numbers.
        let s = Baseline::learn_summary(&v, 0.03).unwrap();
        assert_eq!(
            (s.spread, s.spread_up, s.spread_down),
            (b.spread, b.spread_up, b.spread_down)
        );
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
