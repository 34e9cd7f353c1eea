//! Cohort-level findings: a roster team whose *typical* waste ratios are
//! far outside the organisation's. (Behavioural groups, formed without a
//! roster, get none: see `ScoreOptions::cohort_findings`.)
//!
//! Each person is compared with their own cohort, so a team where most
//! members game the same way sets its own baseline and nobody in it stands
//! out. The cohort-level finding compares the cohort's typical member (the
//! median of every feature over the cohort) with an organisation-wide
//! reference, through the same pattern detector: the typical member's
//! strength against the organisation's baselines, with the same materiality
//! gates, weights and requirements as a person's. A cohort fires when that
//! strength reaches `fire_strength`; its members are then also scored
//! against the organisation for that pattern (each keeps the larger of the
//! two strengths), which is what makes them alert.

use crate::patterns::{FeatureSpec, PatternModel, PatternSpec, ORGANISATION};
use crate::robust::quantile_select;
use ndarray::Array1;
use serde::Serialize;

/// A cohort whose typical member shows a pattern against the organisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortFinding {
    /// Cohort name (team, or behavioural group).
    pub cohort: String,
    /// Members of the cohort.
    pub members: usize,
    /// Pattern name.
    pub pattern: String,
    /// The feature with the strongest evidence.
    pub feature: String,
    /// The cohort's typical (median) value of `feature`.
    pub typical: f64,
    /// Typical value of `feature` in the rest of the organisation (the
    /// cohort left out).
    pub others_typical: f64,
    /// p95 of `feature` in the rest of the organisation.
    pub others_p95: f64,
    /// Number of people in the rest of the organisation with a value.
    pub others: usize,
    /// Members whose own value of `feature` is material (at least the
    /// materiality threshold, when the feature has one).
    pub members_material: usize,
    /// Strength of the typical member against the organisation.
    pub strength: f64,
    /// Score 0–100 of that strength (same mapping as a user's).
    pub score: f64,
    /// Severity of `score`.
    pub severity: crate::Severity,
    /// One line for humans.
    pub text: String,
}

/// The typical member of a cohort for one pattern: per-feature medians
/// (NaN where no member has a value), as a detector row (values, then
/// supports; supports NaN: a median needs no shrinkage).
pub(crate) fn typical_row(
    features: &[FeatureSpec],
    values: &[Option<&[f64]>],
    members: &[usize],
) -> Array1<f64> {
    let m = features.len();
    let mut row = Array1::from_elem(2 * m, f64::NAN);
    for j in 0..m {
        if let Some(col) = values[j] {
            let v: Vec<f64> = members.iter().map(|&u| col[u]).collect();
            if let Some(q) = quantile_select(&v, 0.5) {
                row[j] = q;
            }
        }
    }
    row
}

/// The finding of one (cohort, pattern) when the typical member's strength
/// against the organisation reaches `fire`, `None` otherwise.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cohort_finding(
    cohort: &str,
    members: &[usize],
    p: &PatternSpec,
    org: &PatternModel,
    values: &[Option<&[f64]>],
    required: Option<(&[f64], f64)>,
    opts: &crate::ScoreOptions,
    in_cohort: &[bool],
) -> Option<CohortFinding> {
    let row = typical_row(org.features(), values, members);
    let ev = org.feature_evidence(row.view(), ORGANISATION);
    let mut strength = org.strength(&ev)? * p.weight;
    if let Some((col, t)) = required {
        let v: Vec<f64> = members.iter().map(|&u| col[u]).collect();
        let med = quantile_select(&v, 0.5).unwrap_or(f64::NAN);
        strength *= if med.is_finite() {
            ((med - 0.5 * t) / (0.5 * t)).clamp(0.0, 1.0)
        } else {
            0.0
        };
    }
    if strength < opts.fire_strength {
        return None;
    }
    let j = (0..ev.len())
        .filter(|&j| ev[j].value.is_some())
        .max_by(|&a, &b| ev[a].evidence.total_cmp(&ev[b].evidence).then(b.cmp(&a)))?;
    let spec = &org.features()[j];
    let col = values[j]?;
    let others: Vec<f64> = (0..col.len())
        .filter(|&u| !in_cohort[u] && col[u].is_finite())
        .map(|u| col[u])
        .collect();
    let others_typical = quantile_select(&others, 0.5).unwrap_or(f64::NAN);
    let others_p95 = quantile_select(&others, 0.95).unwrap_or(f64::NAN);
    let material = spec
        .material_abs
        .max(spec.material_rel * others_typical.max(0.0));
    let members_material = members
        .iter()
        .filter(|&&u| {
            let x = col[u];
            x.is_finite()
                && match spec.direction {
                    crate::Direction::HigherIsWorse => material > 0.0 && x >= material,
                    crate::Direction::LowerIsWorse => x <= spec.material_abs,
                }
        })
        .count();
    let score = opts.score_of(strength);
    let typical = row[j];
    let text = format!(
        "cohort {cohort} ({} members): its typical member has {} = {} against {} typical in the rest of the organisation ({} people, p95 {}); {} of its members are at or beyond the materiality threshold",
        members.len(),
        spec.column,
        spec.unit.format(typical),
        spec.unit.format(others_typical),
        others.len(),
        spec.unit.format(others_p95),
        members_material,
    );
    Some(CohortFinding {
        cohort: cohort.to_string(),
        members: members.len(),
        pattern: p.name.clone(),
        feature: spec.column.clone(),
        typical,
        others_typical,
        others_p95,
        others: others.len(),
        members_material,
        strength,
        score,
        severity: opts.thresholds.severity(score),
        text,
    })
}
