//! The evidence behind a score or an alert: one feature of a person
//! compared with their peers.

use serde::{Deserialize, Serialize};

/// One explained reason behind a score or an alert: a feature of the user
/// compared with their peers (the cohort without the user).
///
/// The detectors produce it (inside their `Explanation`, which adds the
/// detector's own figures) and the alert store keeps it as it is: one type
/// from scoring to the alert a reviewer reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Pattern this evidence supports, e.g. `redundant-agent-spawns`.
    pub pattern: String,
    /// Feature name, e.g. `duplicate_spawn_ratio`.
    pub feature: String,
    /// The user's value.
    pub value: f64,
    /// The cohort's typical (median) value. NaN (`null` in JSON) when withheld because the
    /// cohort has fewer than `[privacy] min_group_size` people.
    #[serde(deserialize_with = "nan_if_null")]
    pub typical: f64,
    /// The cohort's 95th percentile (NaN / `null` when withheld, as `typical`).
    #[serde(deserialize_with = "nan_if_null")]
    pub p95: f64,
    /// Where the user sits in the cohort, 0-100 (NaN / `null` when withheld, as `typical`).
    #[serde(deserialize_with = "nan_if_null")]
    pub percentile: f64,
    /// Example session ids (opaque identifiers, never prompt text).
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Human-readable sentence explaining the evidence.
    pub text: String,
}

/// Reads a number, or `null` (a figure withheld by small-group suppression) as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
