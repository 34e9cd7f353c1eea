//! Scoring settings, severities and the evidence → score mapping.

use crate::patterns::{default_patterns, PatternSpec};
use crate::DetectError;
use serde::{Deserialize, Serialize};

pub use goodhart_core::Severity;

/// Lowest score (0–100) of each severity; scores below `low` are `none`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeverityThresholds {
    /// Lowest `low` score (default 20).
    pub low: f64,
    /// Lowest `medium` score (default 40).
    pub medium: f64,
    /// Lowest `high` score (default 60).
    pub high: f64,
    /// Lowest `critical` score (default 85).
    pub critical: f64,
}

impl Default for SeverityThresholds {
    fn default() -> Self {
        SeverityThresholds {
            low: 20.0,
            medium: 40.0,
            high: 60.0,
            critical: 85.0,
        }
    }
}

impl SeverityThresholds {
    /// The severity of a score.
    ///
    /// ```
    /// use goodhart_detect::{Severity, SeverityThresholds};
    /// let t = SeverityThresholds::default();
    /// assert_eq!(t.severity(0.0), Severity::None);
    /// assert_eq!(t.severity(20.0), Severity::Low);
    /// assert_eq!(t.severity(59.9), Severity::Medium);
    /// assert_eq!(t.severity(60.0), Severity::High);
    /// assert_eq!(t.severity(100.0), Severity::Critical);
    /// ```
    pub fn severity(&self, score: f64) -> Severity {
        if score >= self.critical {
            Severity::Critical
        } else if score >= self.high {
            Severity::High
        } else if score >= self.medium {
            Severity::Medium
        } else if score >= self.low {
            Severity::Low
        } else {
            Severity::None
        }
    }

    /// Lowest score of a severity (`0` for `None`).
    pub fn lowest(&self, s: Severity) -> f64 {
        match s {
            Severity::None => 0.0,
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
            Severity::Critical => self.critical,
        }
    }
}

/// Settings of [`crate::score`].
///
/// Build with [`ScoreOptions::default`] and adjust fields; [`ScoreOptions::check`]
/// validates them (and [`crate::score`] calls it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoreOptions {
    /// Cohorts with fewer users are scored against the whole organisation
    /// (default 8).
    pub min_cohort_size: usize,
    /// Score boundaries of the severities.
    pub thresholds: SeverityThresholds,
    /// Severity from which a user is alerted on (default `high`).
    pub alert_severity: Severity,
    /// Seed of every random choice (k-means initialisation, isolation
    /// forest); same seed and input give the same output.
    pub seed: u64,
    /// Number of behavioural peer groups when there is no roster; `None`
    /// applies the rule `round(sqrt(n_users / 50))` clamped to `[2, 8]`.
    pub clusters: Option<usize>,
    /// Volume-independent usage-mix columns (shares / ratios) of the user
    /// table used to form behavioural peer groups without a roster. Missing
    /// columns are skipped; waste features must not be listed here (a
    /// cluster of gamers would become its own baseline).
    pub mix_features: Vec<String>,
    /// Evidence (robust-z units) that maps to score 63.2 (`1 - 1/e`):
    /// `score = 100 * (1 - exp(-(E / evidence_scale)^2))` (default 5).
    pub evidence_scale: f64,
    /// Weight of the second, third, ... strongest evidence relative to the
    /// one before it, for features within a pattern and patterns within a
    /// user (default 0.3).
    pub secondary_weight: f64,
    /// Pattern strength from which a pattern counts as *firing* (it is
    /// listed in `top_patterns` / `patterns`) (default 3).
    pub fire_strength: f64,
    /// Run the multivariate detectors (isolation forest, ECOD) as
    /// supporting evidence (default true).
    pub multivariate: bool,
    /// Most evidence the multivariate detectors can add, in robust-z units
    /// (default 1.0, which alone reaches at most a score of 4): they add
    /// `min(multivariate_max, 0.25 * max(0, z - 3))`, `z` the larger of the
    /// two detectors' organisation-wide robust z.
    pub multivariate_max: f64,
    /// Sessions listed per explanation (default 3).
    pub top_sessions: usize,
    /// Patterns explained per user (default 3).
    pub max_explanations: usize,
    /// The pattern detectors.
    pub patterns: Vec<PatternSpec>,
    /// Report roster teams whose typical member shows a pattern against the
    /// organisation, and score their members against the organisation for
    /// that pattern as well (default true; see [`crate::finding`]). Without
    /// it, a team where most members game the same way sets its own
    /// baseline and nobody in it stands out. Behavioural groups (no roster)
    /// get no findings: they are formed from usage mixes that gaming
    /// changes, so a group of gamers from many teams is an artefact of the
    /// clustering, and their baselines already leave out everyone who fires
    /// against the organisation.
    #[serde(default = "default_true")]
    pub cohort_findings: bool,
}

fn default_true() -> bool {
    true
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            min_cohort_size: 8,
            thresholds: SeverityThresholds::default(),
            alert_severity: Severity::High,
            seed: 0x600d_4a27,
            clusters: None,
            mix_features: crate::patterns::default_mix_features(),
            evidence_scale: 5.0,
            secondary_weight: 0.3,
            fire_strength: 3.0,
            multivariate: true,
            multivariate_max: 1.0,
            top_sessions: 3,
            max_explanations: 3,
            patterns: default_patterns(),
            cohort_findings: true,
        }
    }
}

/// The columns scoring reads from each feature table: the contract between
/// the feature stage and the detectors. A column listed here and missing
/// from the feature schema would silently leave a detector "not evaluated";
/// the facade's tests check every one exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnsRead {
    /// Columns of the user table.
    pub user: std::collections::BTreeSet<String>,
    /// Columns of the session table.
    pub session: std::collections::BTreeSet<String>,
}

impl ScoreOptions {
    /// Every column [`crate::score`] reads with these settings (a feature's
    /// fallback column, read only from older tables that lack the feature's
    /// own, is not listed).
    ///
    /// ```
    /// let c = goodhart_detect::ScoreOptions::default().columns_read();
    /// assert!(c.user.contains("user_id") && c.user.contains("loop_ratio"));
    /// assert!(c.session.contains("session_id"));
    /// ```
    pub fn columns_read(&self) -> ColumnsRead {
        let mut c = ColumnsRead::default();
        let own = |f: &crate::patterns::FeatureSpec| {
            std::iter::once(f.column.clone()).chain(f.support.clone())
        };
        c.user.extend(["user_id".to_string(), "team".to_string()]);
        c.session
            .extend(["session_id".to_string(), "user_id".to_string()]);
        for p in &self.patterns {
            c.user.extend(p.user_features.iter().flat_map(own));
            c.user.extend(p.requires.iter().map(|r| r.0.clone()));
            c.session.extend(p.session_features.iter().flat_map(own));
            c.session.extend(p.session_rank.iter().cloned());
        }
        // A mix feature is a column or a ratio `a/b` of two.
        c.user.extend(
            self.mix_features
                .iter()
                .flat_map(|m| m.split('/'))
                .map(str::to_string),
        );
        c
    }

    /// Validates every setting; the error names the offending one.
    ///
    /// ```
    /// use goodhart_detect::ScoreOptions;
    /// let mut o = ScoreOptions::default();
    /// assert!(o.check().is_ok());
    /// o.min_cohort_size = 0;
    /// assert!(o.check().unwrap_err().to_string().contains("min_cohort_size"));
    /// ```
    pub fn check(&self) -> Result<&Self, DetectError> {
        let bad = |setting: &str, value: String, fix: &str| {
            Err(DetectError::InvalidSetting {
                setting: setting.to_string(),
                value,
                fix: fix.to_string(),
            })
        };
        if self.min_cohort_size < 2 {
            return bad(
                "min_cohort_size",
                self.min_cohort_size.to_string(),
                "use at least 2 (default 8)",
            );
        }
        let t = &self.thresholds;
        let ordered = [0.0, t.low, t.medium, t.high, t.critical, 100.0]
            .windows(2)
            .all(|w| w[0] <= w[1]);
        if !ordered
            || [t.low, t.medium, t.high, t.critical]
                .iter()
                .any(|v| !v.is_finite())
        {
            return bad(
                "thresholds",
                format!("{t:?}"),
                "use 0 <= low <= medium <= high <= critical <= 100",
            );
        }
        if self.alert_severity == Severity::None {
            return bad(
                "alert_severity",
                "none".into(),
                "use low, medium, high or critical",
            );
        }
        if let Some(k) = self.clusters {
            if k == 0 {
                return bad("clusters", "0".into(), "use at least 1, or leave unset");
            }
        }
        if !(self.evidence_scale.is_finite() && self.evidence_scale > 0.0) {
            return bad(
                "evidence_scale",
                self.evidence_scale.to_string(),
                "use a positive number (default 5)",
            );
        }
        if !(0.0..=1.0).contains(&self.secondary_weight) {
            return bad(
                "secondary_weight",
                self.secondary_weight.to_string(),
                "use a number in [0, 1] (default 0.3)",
            );
        }
        if !(self.fire_strength.is_finite() && self.fire_strength >= 0.0) {
            return bad(
                "fire_strength",
                self.fire_strength.to_string(),
                "use a non-negative number (default 3)",
            );
        }
        if !(self.multivariate_max.is_finite() && self.multivariate_max >= 0.0) {
            return bad(
                "multivariate_max",
                self.multivariate_max.to_string(),
                "use a non-negative number (default 1)",
            );
        }
        if self.patterns.is_empty() {
            return bad("patterns", "[]".into(), "configure at least one pattern");
        }
        let mut names: Vec<&str> = self.patterns.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return bad(
                "patterns",
                w[0].to_string(),
                "give every pattern a distinct name",
            );
        }
        for p in &self.patterns {
            p.check()?;
        }
        Ok(self)
    }

    /// The documented monotone map from combined evidence `E` (robust-z
    /// units, `>= 0`) to a 0–100 score:
    /// `100 * (1 - exp(-(E / evidence_scale)^2))`.
    ///
    /// ```
    /// use goodhart_detect::ScoreOptions;
    /// let o = ScoreOptions::default();
    /// assert_eq!(o.score_of(0.0), 0.0);
    /// assert!((o.score_of(5.0) - 100.0 * (1.0 - (-1f64).exp())).abs() < 1e-9);
    /// assert!(o.score_of(3.0) < o.score_of(4.0));
    /// ```
    pub fn score_of(&self, evidence: f64) -> f64 {
        let e = evidence.max(0.0) / self.evidence_scale;
        100.0 * (1.0 - (-e * e).exp())
    }

    /// The evidence needed to reach `score` (inverse of [`Self::score_of`]).
    pub fn evidence_for(&self, score: f64) -> f64 {
        let s = (score / 100.0).clamp(0.0, 1.0 - 1e-12);
        self.evidence_scale * (-(1.0 - s).ln()).sqrt()
    }
}
