//! The named tokenmaxxing patterns and their detectors.
//!
//! A pattern is a handful of *waste features* (ratios and shares, never raw
//! volume, see `docs/features.md`), each with a direction and a
//! *materiality* threshold: the absolute value from which the ratio is
//! genuinely wasteful. A detector ([`PatternParams`] → fit →
//! [`PatternModel`]) learns one robust [`Baseline`] per cohort and feature;
//! predicting gives each row an evidence *strength* in robust-z units:
//!
//! 1. small denominators are shrunk toward the cohort median
//!    (`x' = (x n + typical k) / (n + k)`, `n` the feature's support count,
//!    `k` its `prior_count`), so 1 redundant spawn out of 2 is not 50%;
//! 2. `z = (slog1p(x') - median) / spread`, oriented so that positive is
//!    wasteful, clipped;
//! 3. `e = max(z, 0) * gate`, where the gate ramps linearly from 0 at half
//!    the materiality threshold to 1 at the threshold: a cohort with a
//!    tight distribution near zero cannot make an immaterial value fire;
//! 4. `strength = e(1) + w e(2) + w² e(3) ...` over the features sorted by
//!    decreasing evidence (`w` = `secondary_weight`).

use crate::robust::{slog1p, Baseline};
use crate::DetectError;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa::ParamGuard;
use ndarray::{Array1, Array2, ArrayView1};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Cohort id meaning "the whole organisation" in a [`PatternModel`]'s targets.
pub const ORGANISATION: usize = usize::MAX;

/// Which way a feature is wasteful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger values are more wasteful (the usual case).
    HigherIsWorse,
    /// Smaller values are more wasteful (e.g. an acceptance rate).
    LowerIsWorse,
}

/// How a feature's values are written in explanation texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A share in `[0, 1]`, written as a percentage (`43%`).
    Share,
    /// A count, written as an integer (`23`).
    Count,
    /// A ratio, written with two significant decimals (`3.4`, `1250`).
    Ratio,
}

impl Unit {
    /// Formats a value in this unit.
    ///
    /// ```
    /// use goodhart_detect::Unit;
    /// assert_eq!(Unit::Share.format(0.434), "43%");
    /// assert_eq!(Unit::Count.format(23.0), "23");
    /// assert_eq!(Unit::Ratio.format(3.4567), "3.5");
    /// assert_eq!(Unit::Ratio.format(12345.6), "12346");
    /// ```
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "n/a".into();
        }
        match self {
            Unit::Share => format!("{:.0}%", v * 100.0),
            Unit::Count => format!("{:.0}", v),
            Unit::Ratio => {
                if v.abs() >= 100.0 {
                    format!("{:.0}", v)
                } else if v.abs() >= 1.0 {
                    format!("{:.1}", v)
                } else {
                    format!("{:.2}", v)
                }
            }
        }
    }
}

/// One waste feature of a pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FeatureSpec {
    /// Column name in the feature table.
    pub column: String,
    /// Which way is wasteful.
    pub direction: Direction,
    /// Absolute materiality threshold in the feature's units (`0` = none).
    /// For `HigherIsWorse` a value must reach it to count fully; for
    /// `LowerIsWorse` it must be at or below it.
    pub material_abs: f64,
    /// Relative materiality: the value must also be this many times worse
    /// than the cohort's typical value (`1` = none).
    pub material_rel: f64,
    /// Absolute floor of the baseline spread on the `slog1p` scale.
    pub min_spread: f64,
    /// Column holding the ratio's denominator (support), if any.
    pub support: Option<String>,
    /// Pseudo-count of the shrinkage toward the cohort median.
    pub prior_count: f64,
    /// How values are written.
    pub unit: Unit,
    /// Explanation phrase; placeholders `{value}`, `{typical}`, `{p95}`,
    /// `{percentile}`, `{feature}`.
    pub phrase: String,
    /// Column read instead when `column` is absent from the table (older
    /// feature tables, hand-built tables), with its phrase; `None` = none.
    #[serde(default)]
    pub fallback: Option<(String, String)>,
}

impl FeatureSpec {
    /// A higher-is-worse feature with an absolute materiality threshold;
    /// the spread floor defaults to `slog1p(material) / 3`, so that a value
    /// at the threshold over a cohort median of 0 is about 3 robust z.
    pub fn higher(column: &str, material_abs: f64, unit: Unit) -> FeatureSpec {
        FeatureSpec {
            column: column.to_string(),
            direction: Direction::HigherIsWorse,
            material_abs,
            material_rel: 1.0,
            min_spread: (slog1p(material_abs) / 3.0).max(0.01),
            support: None,
            prior_count: 0.0,
            unit,
            phrase: "{feature} = {value}".into(),
            fallback: None,
        }
    }

    /// A higher-is-worse feature only material at `factor` times the
    /// cohort's typical value; spread floor `ln(factor) / 3`.
    pub fn higher_rel(column: &str, factor: f64, unit: Unit) -> FeatureSpec {
        FeatureSpec {
            column: column.to_string(),
            direction: Direction::HigherIsWorse,
            material_abs: 0.0,
            material_rel: factor,
            min_spread: (factor.max(1.0).ln() / 3.0).max(0.01),
            support: None,
            prior_count: 0.0,
            unit,
            phrase: "{feature} = {value}".into(),
            fallback: None,
        }
    }

    /// A lower-is-worse feature, material at or below `material_abs`.
    pub fn lower(column: &str, material_abs: f64, unit: Unit) -> FeatureSpec {
        FeatureSpec {
            column: column.to_string(),
            direction: Direction::LowerIsWorse,
            material_abs,
            material_rel: 1.0,
            min_spread: 0.05,
            support: None,
            prior_count: 0.0,
            unit,
            phrase: "{feature} = {value}".into(),
            fallback: None,
        }
    }

    /// Shrinks the ratio toward the cohort median with `prior_count`
    /// pseudo-observations, weighted by the `support` column.
    pub fn with_support(mut self, support: &str, prior_count: f64) -> FeatureSpec {
        self.support = Some(support.to_string());
        self.prior_count = prior_count;
        self
    }

    /// Sets the explanation phrase (see [`FeatureSpec::phrase`]).
    pub fn phrase(mut self, phrase: &str) -> FeatureSpec {
        self.phrase = phrase.to_string();
        self
    }

    /// Reads `column` with `phrase` when this feature's own column is
    /// absent from the table (see [`FeatureSpec::fallback`]).
    pub fn or_column(mut self, column: &str, phrase: &str) -> FeatureSpec {
        self.fallback = Some((column.to_string(), phrase.to_string()));
        self
    }

    /// This feature as read from a table with the columns `has`: itself,
    /// or its fallback when only the fallback's column is there.
    pub fn resolve(&self, has: impl Fn(&str) -> bool) -> FeatureSpec {
        match &self.fallback {
            Some((col, phrase)) if !has(&self.column) && has(col) => FeatureSpec {
                column: col.clone(),
                phrase: phrase.clone(),
                fallback: None,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// Sets the spread floor.
    pub fn with_min_spread(mut self, min_spread: f64) -> FeatureSpec {
        self.min_spread = min_spread;
        self
    }

    fn check(&self, pattern: &str) -> Result<(), DetectError> {
        let bad = |what: &str, v: f64, fix: &str| {
            Err(DetectError::InvalidSetting {
                setting: format!("patterns[{pattern}].{}.{what}", self.column),
                value: v.to_string(),
                fix: fix.to_string(),
            })
        };
        if !(self.material_abs.is_finite() && self.material_abs >= 0.0) {
            return bad("material_abs", self.material_abs, "use a number >= 0");
        }
        if !(self.material_rel.is_finite() && self.material_rel >= 1.0) {
            return bad("material_rel", self.material_rel, "use a number >= 1");
        }
        if !(self.min_spread.is_finite() && self.min_spread > 0.0) {
            return bad("min_spread", self.min_spread, "use a number > 0");
        }
        if !(self.prior_count.is_finite() && self.prior_count >= 0.0) {
            return bad("prior_count", self.prior_count, "use a number >= 0");
        }
        Ok(())
    }

    /// The materiality gate in `[0, 1]` of a (shrunk) value given the
    /// cohort's typical value.
    pub fn gate(&self, x: f64, typical: f64) -> f64 {
        match self.direction {
            Direction::HigherIsWorse => {
                let m = self.material_abs.max(self.material_rel * typical.max(0.0));
                if m <= 0.0 {
                    return 1.0;
                }
                ((x - 0.5 * m) / (0.5 * m)).clamp(0.0, 1.0)
            }
            Direction::LowerIsWorse => {
                let m = if self.material_rel > 1.0 {
                    self.material_abs.min(typical / self.material_rel)
                } else {
                    self.material_abs
                };
                if m <= 0.0 {
                    return if x <= 0.0 { 1.0 } else { 0.0 };
                }
                ((2.0 * m - x) / m).clamp(0.0, 1.0)
            }
        }
    }
}

/// A named pattern: user-level features, session-level features and the
/// explanation text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatternSpec {
    /// Pattern name (e.g. `redundant-agent-spawns`).
    pub name: String,
    /// Features of the user table.
    pub user_features: Vec<FeatureSpec>,
    /// Features of the session table (session scoring).
    pub session_features: Vec<FeatureSpec>,
    /// Session column ranking the sessions that show the pattern most
    /// (explanations list the top ones).
    pub session_rank: Option<String>,
    /// Unit of `session_rank`.
    pub session_rank_unit: Unit,
    /// What the top session did, with `{svalue}` = its `session_rank`
    /// value (e.g. `re-spawned the same task {svalue} times`); the
    /// explanation appends `in session <id> (p95 of peers' sessions: <p95>)`.
    pub session_phrase: String,
    /// Multiplier of the pattern's strength, `(0, 1]`: below 1 for patterns
    /// that legitimate work (incidents, onboarding) can also produce, so
    /// they need more extreme values to reach the same score.
    pub weight: f64,
    /// A user-table column that must be materially large for the pattern to
    /// count at all, with its threshold: the strength is multiplied by a
    /// ramp from 0 at half the threshold to 1 at the threshold (null = 0).
    /// E.g. a sprint only matters when there is waste to sprint with.
    pub requires: Option<(String, f64)>,
}

impl PatternSpec {
    /// Validates the pattern; errors name the setting.
    pub fn check(&self) -> Result<(), DetectError> {
        if self.name.is_empty() || self.name.contains(',') {
            return Err(DetectError::InvalidSetting {
                setting: "patterns[].name".into(),
                value: self.name.clone(),
                fix: "use a non-empty name without commas".into(),
            });
        }
        if !(self.weight.is_finite() && self.weight > 0.0 && self.weight <= 1.0) {
            return Err(DetectError::InvalidSetting {
                setting: format!("patterns[{}].weight", self.name),
                value: self.weight.to_string(),
                fix: "use a number in (0, 1]".into(),
            });
        }
        if let Some((c, t)) = &self.requires {
            if !(t.is_finite() && *t > 0.0) {
                return Err(DetectError::InvalidSetting {
                    setting: format!("patterns[{}].requires.{c}", self.name),
                    value: t.to_string(),
                    fix: "use a positive threshold".into(),
                });
            }
        }
        if self.user_features.is_empty() {
            return Err(DetectError::InvalidSetting {
                setting: format!("patterns[{}].user_features", self.name),
                value: "[]".into(),
                fix: "list at least one user-table feature".into(),
            });
        }
        for f in self.user_features.iter().chain(&self.session_features) {
            f.check(&self.name)?;
        }
        Ok(())
    }

    /// Renders a template: the placeholder `{keys[i]}` is replaced by
    /// `value(i)`, key after key. A value is only made when its placeholder
    /// occurs (explanations are rendered for every user, and most phrases
    /// use one or two of their variables).
    pub(crate) fn render(template: &str, keys: &[&str], value: impl Fn(usize) -> String) -> String {
        let mut out = template.to_string();
        let mut placeholder = String::new();
        for (i, k) in keys.iter().enumerate() {
            placeholder.clear();
            placeholder.push('{');
            placeholder.push_str(k);
            placeholder.push('}');
            // Phrases are short and hold few braces: checking at each `{` is
            // cheaper than the two-way searcher `str::contains` sets up.
            let bytes = out.as_bytes();
            let present = (0..bytes.len())
                .any(|i| bytes[i] == b'{' && bytes[i..].starts_with(placeholder.as_bytes()));
            if present {
                out = out.replace(placeholder.as_str(), &value(i));
            }
        }
        out
    }
}

/// Default usage-mix columns for behavioural peer groups (no roster): how
/// someone works, independent of volume and of the waste features. An
/// entry `a/b` is the ratio of two user-table columns (null when `b` is 0).
pub fn default_mix_features() -> Vec<String> {
    [
        "premium_share",
        "spawns/requests",
        "context_loads/requests",
        "requests/sessions",
        "sessions/active_days",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The seven named patterns over the columns of `docs/features.md`, for the
/// default pre-snapshot lead ([`goodhart_core::DEFAULT_PRE_SNAPSHOT_HOURS`]).
pub fn default_patterns() -> Vec<PatternSpec> {
    default_patterns_for(goodhart_core::DEFAULT_PRE_SNAPSHOT_HOURS)
}

/// [`default_patterns`] whose explanations name a pre-snapshot lead of
/// `pre_snapshot_hours` (the features' `Snapshot::pre_snapshot_hours`, the
/// configuration's `[features] pre_snapshot_hours`): one name throughout.
///
/// ```
/// let p = goodhart_detect::patterns::default_patterns_for(24);
/// let sprint = p.iter().find(|p| p.name == "leaderboard-sprint").unwrap();
/// assert!(sprint.user_features[0].phrase.contains("in the 24 h before"));
/// ```
// One table: the default pattern specifications, one entry per pattern; data written as a
// literal, not logic.
pub fn default_patterns_for(pre_snapshot_hours: u32) -> Vec<PatternSpec> {
    use Unit::*;
    let lead = |what: &str| {
        format!("{{value}} of {what} burned in the {pre_snapshot_hours} h before the weekly ranking snapshot")
    };
    let p = |name: &str,
             user_features: Vec<FeatureSpec>,
             session_features: Vec<FeatureSpec>,
             rank: Option<(&str, Unit)>,
             session_phrase: &str| PatternSpec {
        name: name.into(),
        user_features,
        session_features,
        session_rank: rank.map(|r| r.0.to_string()),
        session_rank_unit: rank.map_or(Count, |r| r.1),
        session_phrase: session_phrase.into(),
        weight: 1.0,
        requires: None,
    };
    let h = FeatureSpec::higher;
    vec![
        p(
            "redundant-agent-spawns",
            // Re-spawns count only when the task's agents shipped nothing
            // (`unproductive_*`): a migration fanning one templated task
            // out over many agents that each land a change is not waste.
            vec![
                h("unproductive_respawn_ratio", 0.10, Share)
                    .with_support("spawns", 10.0)
                    .phrase("{value} of agent spawns re-spawned a task already spawned in the session, with nothing accepted")
                    .or_column("redundant_spawn_ratio", "{value} of agent spawns re-spawned a task already spawned in the session"),
                h("share_sessions_unproductive_respawns", 0.15, Share)
                    .with_support("sessions", 5.0)
                    .phrase("{value} of sessions re-spawn the same task at least twice with nothing accepted")
                    .or_column("share_sessions_redundant_spawns", "{value} of sessions re-spawn the same task at least twice"),
                h("idle_agent_ratio", 0.15, Share)
                    .with_support("spawns", 10.0)
                    .phrase("{value} of spawned agents never made a request"),
            ],
            vec![
                h("unproductive_respawn_ratio", 0.15, Share)
                    .with_support("spawns", 4.0)
                    .or_column("redundant_spawn_ratio", "{feature} = {value}"),
                h("unproductive_respawns", 2.0, Count)
                    .or_column("redundant_spawns", "{feature} = {value}"),
            ],
            Some(("redundant_spawns", Count)),
            "re-spawned an already spawned task {svalue} times",
        ),
        p(
            "context-reload-churn",
            vec![
                h("reload_uncached_share", 0.10, Share)
                    .phrase("{value} of input tokens are uncached re-sends of context already loaded"),
                // Agent workloads: most input is a cached conversation (it
                // dilutes the share above) and a re-read is billed on the
                // next request. Measured against *uncached* input, and as a
                // count per distinct context, both survive.
                h("reload_miss_share", 0.20, Share)
                    .phrase("{value} of uncached input tokens were caused by reloading context already loaded"),
                h("reloads_per_context", 0.5, Ratio)
                    .with_support("context_loads", 10.0)
                    .phrase("{value} reloads per distinct context loaded"),
                // The user's own history: sessions with reloads hit the cache
                // far less than the user's other sessions.
                h("cache_hit_drop", 0.30, Share)
                    .with_support("sessions", 10.0)
                    .phrase("the cache-hit ratio drops by {value} in sessions with reloads against the user's other sessions"),
                h("share_sessions_reload_churn", 0.15, Share)
                    .with_support("sessions", 5.0)
                    .phrase("{value} of sessions churn context reloads"),
                h("reload_ratio", 0.25, Share)
                    .with_support("context_loads", 10.0)
                    .phrase("{value} of context loads reload context already loaded"),
            ],
            vec![
                h("reload_uncached_share", 0.20, Share),
                h("reloads", 3.0, Count),
                h("reloads_per_context", 1.0, Ratio),
            ],
            Some(("reloads", Count)),
            "reloaded already-loaded context {svalue} times",
        ),
        p(
            "prompt-loop",
            vec![
                h("loop_ratio", 0.10, Share)
                    .with_support("requests", 20.0)
                    .phrase("{value} of requests repeat a prompt already sent in the session"),
                h("share_sessions_loop", 0.15, Share)
                    .with_support("sessions", 5.0)
                    .phrase("{value} of sessions loop on the same prompt"),
            ],
            vec![
                h("loop_ratio", 0.20, Share).with_support("requests", 5.0),
                h("longest_run", 4.0, Count),
            ],
            Some(("loop_requests", Count)),
            "sent the same prompt again {svalue} times",
        ),
        p(
            "output-inflation",
            vec![
                // Spread floor ln(2)/3.5 rather than ln(2)/3: a burner who
                // triples the output of most requests (about 2.7x overall)
                // reaches alert level on this pattern alone, while the gate
                // still needs twice the cohort's typical output.
                FeatureSpec::higher_rel("output_per_request", 2.0, Ratio)
                    .with_min_spread(2f64.ln() / 3.5)
                    .phrase("{value} output tokens per request"),
            ],
            vec![FeatureSpec::higher_rel("output_per_request", 2.5, Ratio)],
            Some(("output_per_request", Ratio)),
            "produced {svalue} output tokens per request",
        ),
        // Incidents and onboarding also burn tokens without changes: this
        // pattern needs more extreme values to count.
        PatternSpec {
            weight: 0.6,
            ..p(
            "tokens-without-output",
            vec![
                FeatureSpec::higher_rel("tokens_per_accepted_change", 2.5, Ratio)
                    .phrase("{value} tokens per accepted change"),
                FeatureSpec::lower("accept_rate", 0.35, Share)
                    .with_support("accepted", 5.0)
                    .phrase("only {value} of proposed changes accepted"),
            ],
            vec![FeatureSpec::higher_rel("tokens_per_accepted_change", 4.0, Ratio)],
            Some(("tokens_per_accepted_change", Ratio)),
            "burned {svalue} tokens per accepted change",

        )
        },
        p(
            "change-padding",
            vec![
                h("trivial_change_share", 0.30, Share)
                    .with_support("accepted", 10.0)
                    .phrase("{value} of accepted changes are trivial (1-3 lines)"),
                h("revert_rate", 0.15, Share)
                    .with_support("accepted", 10.0)
                    .phrase("{value} of accepted changes were reverted"),
            ],
            vec![
                h("trivial_change_share", 0.5, Share).with_support("accepted_gross", 4.0),
                h("revert_rate", 0.3, Share).with_support("accepted_gross", 4.0),
            ],
            Some(("trivial_changes", Count)),
            "accepted {svalue} trivial changes",
        ),
        // A sprint matters when there is waste to sprint with: the share of
        // waste burned right before the snapshot, only when the user's
        // waste share is material (an incident on a Thursday is no sprint).
        PatternSpec {
            requires: Some(("waste_share".into(), 0.06)),
            ..p(
                "leaderboard-sprint",
                vec![
                    h("pre_snapshot_waste_share", 0.6, Share)
                        .with_min_spread(0.05)
                        .with_support("sessions", 8.0)
                        .phrase(&lead("wasted tokens")),
                    // Material at 45%, and at 1.35 times the cohort's
                    // typical share: a cohort that works office hours on
                    // weekdays already puts ~40% of its tokens there.
                    FeatureSpec {
                        material_rel: 1.35,
                        ..h("pre_snapshot_token_share", 0.45, Share)
                            .with_min_spread(0.04)
                            .with_support("sessions", 8.0)
                            .phrase(&lead("tokens"))
                    },
                    // The person's own weeks: waste per session before the
                    // snapshot against waste per session the rest of the week.
                    h("pre_snapshot_waste_lift", 3.0, Ratio)
                        .with_support("sessions", 10.0)
                        .phrase("{value} times the waste per session right before the snapshot than in the rest of the user's own weeks"),
                ],
                vec![],
                Some(("pre_snapshot_waste_tokens", Count)),
                "wasted {svalue} tokens right before the snapshot",
            )
        },
    ]
}

/// Unchecked hyperparameters of one pattern detector (linfa style: check,
/// then fit on a dataset, then predict).
///
/// The dataset's records are `n x 2m` for a pattern with `m` features:
/// columns `0..m` the feature values (NaN = null), columns `m..2m` their
/// support counts (NaN = no shrinkage); its targets are cohort ids
/// ([`ORGANISATION`] = scored against the whole organisation); rows with a
/// dataset weight of 0 are not learned from (they can still be predicted).
#[derive(Debug, Clone, PartialEq)]
pub struct PatternParams(ValidPatternParams);

/// Checked [`PatternParams`] (linfa's `ParamGuard` pattern: the unchecked
/// params wrap the checked ones and `check` validates them).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPatternParams {
    features: Vec<FeatureSpec>,
    secondary_weight: f64,
    percentiles: bool,
}

impl PatternParams {
    /// A detector over these features.
    pub fn new(features: Vec<FeatureSpec>) -> PatternParams {
        PatternParams(ValidPatternParams {
            features,
            secondary_weight: 0.3,
            percentiles: true,
        })
    }

    /// Whether baselines keep their sorted values for
    /// [`Baseline::percentile`] (default true; large tables whose
    /// percentiles are never reported turn it off and learn in linear time).
    pub fn percentiles(mut self, keep: bool) -> PatternParams {
        self.0.percentiles = keep;
        self
    }

    /// Weight of the 2nd, 3rd, ... strongest feature (geometric).
    pub fn secondary_weight(mut self, w: f64) -> PatternParams {
        self.0.secondary_weight = w;
        self
    }
}

impl ParamGuard for PatternParams {
    type Checked = ValidPatternParams;
    type Error = DetectError;

    fn check_ref(&self) -> Result<&ValidPatternParams, DetectError> {
        validate(&self.0)?;
        Ok(&self.0)
    }

    fn check(self) -> Result<ValidPatternParams, DetectError> {
        validate(&self.0)?;
        Ok(self.0)
    }
}

fn validate(p: &ValidPatternParams) -> Result<(), DetectError> {
    if p.features.is_empty() {
        return Err(DetectError::InvalidSetting {
            setting: "PatternParams.features".into(),
            value: "[]".into(),
            fix: "give the detector at least one feature".into(),
        });
    }
    if !(0.0..=1.0).contains(&p.secondary_weight) {
        return Err(DetectError::InvalidSetting {
            setting: "secondary_weight".into(),
            value: p.secondary_weight.to_string(),
            fix: "use a number in [0, 1]".into(),
        });
    }
    for f in &p.features {
        f.check("detector")?;
    }
    Ok(())
}

/// Baselines of one feature in one cohort: on raw values (explanations,
/// typical value for shrinkage) and on shrunk values (z-scores).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBaseline {
    /// Baseline of the raw values.
    pub raw: Baseline,
    /// Baseline of the shrunk values.
    pub shrunk: Baseline,
}

/// A fitted pattern detector: per cohort and feature baselines.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternModel {
    features: Vec<FeatureSpec>,
    secondary_weight: f64,
    /// `(cohort id, per-feature baselines)`, sorted by cohort id; the
    /// organisation-wide entry has id [`ORGANISATION`].
    cohorts: Vec<(usize, Vec<Option<FeatureBaseline>>)>,
}

/// Evidence of one feature for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureEvidence {
    /// The raw value (`None` = null, not evaluated).
    pub value: Option<f64>,
    /// The value after shrinkage toward the cohort median.
    pub shrunk: f64,
    /// Oriented robust z (positive = wasteful), clipped.
    pub z: f64,
    /// Materiality gate in `[0, 1]`.
    pub gate: f64,
    /// `max(z, 0) * gate`.
    pub evidence: f64,
}

/// The feature columns of one table for a detector with `m` features, in
/// the order of the rows being scored (NaN = null): `values[j]` holds
/// feature `j` (`None` = column absent, as if all null), `supports[j]` its
/// support counts (`None` = no shrinkage).
///
/// Columns are borrowed so that the detectors fitted on one table share a
/// single read of every column (several patterns use the same columns).
#[derive(Debug, Clone)]
pub(crate) struct FeatureColumns<'a> {
    pub(crate) values: Vec<Option<&'a [f64]>>,
    pub(crate) supports: Vec<Option<&'a [f64]>>,
    /// Number of rows (every present column has this length).
    pub(crate) rows: usize,
}

/// The columns as linfa records, so that scoring fits and predicts through
/// [`Fit`] and [`Predict`] on borrowed columns (no copy into a matrix).
impl linfa::dataset::Records for FeatureColumns<'_> {
    type Elem = f64;

    fn nsamples(&self) -> usize {
        self.rows
    }

    fn nfeatures(&self) -> usize {
        self.values.len()
    }
}

/// The rows detectors learn from, grouped by cohort: computed once per
/// table and shared by every detector fitted on it, instead of each
/// detector filtering all rows once per cohort.
#[derive(Debug, Clone)]
pub(crate) struct CohortRows {
    /// Distinct cohort ids of the rows ([`ORGANISATION`] excluded), ascending.
    ids: Vec<usize>,
    /// `rows[i]`: the learned rows of cohort `ids[i]`, ascending.
    rows: Vec<Vec<usize>>,
    /// Every learned row, ascending.
    all: Vec<usize>,
    /// Whether some learned row is scored against the organisation.
    org_learned: bool,
}

impl CohortRows {
    /// Groups rows by their cohort (`targets[r]`); only rows for which
    /// `learned(r)` holds are learned from (every row is scored).
    pub(crate) fn new(targets: &[usize], learned: impl Fn(usize) -> bool) -> CohortRows {
        // Rows usually come grouped by user (hence by cohort): skipping
        // repeats first keeps the sort small.
        let mut ids: Vec<usize> = Vec::new();
        for &c in targets {
            if c != ORGANISATION && ids.last() != Some(&c) {
                ids.push(c);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
        let mut all = Vec::with_capacity(targets.len());
        let mut org_learned = false;
        let mut last: Option<(usize, usize)> = None;
        for (r, &c) in targets.iter().enumerate() {
            if !learned(r) {
                continue;
            }
            all.push(r);
            if c == ORGANISATION {
                org_learned = true;
                continue;
            }
            let i = match last {
                Some((lc, li)) if lc == c => li,
                _ => ids.binary_search(&c).expect("every cohort id is listed"),
            };
            last = Some((c, i));
            rows[i].push(r);
        }
        CohortRows {
            ids,
            rows,
            all,
            org_learned,
        }
    }
}

impl ValidPatternParams {
    /// Baselines of every feature over the given rows (`None` where the
    /// rows have no usable value).
    fn learn(&self, cols: &FeatureColumns<'_>, rows: &[usize]) -> Vec<Option<FeatureBaseline>> {
        (0..self.features.len())
            .map(|j| {
                let spec = &self.features[j];
                let x = cols.values[j]?;
                let raw: Vec<f64> = rows
                    .iter()
                    .map(|&r| x[r])
                    .filter(|v| v.is_finite())
                    .collect();
                let raw_b = Baseline::learn_owned(raw, spec.min_spread, self.percentiles)?;
                let support = cols.supports[j]
                    .filter(|s| spec.prior_count > 0.0 && rows.iter().any(|&r| s[r].is_finite()));
                let Some(s) = support else {
                    // Nothing to shrink: the shrunk baseline is the raw one.
                    return Some(FeatureBaseline {
                        shrunk: raw_b.clone(),
                        raw: raw_b,
                    });
                };
                let shrunk: Vec<f64> = rows
                    .iter()
                    .filter(|&&r| x[r].is_finite())
                    .map(|&r| shrink(x[r], s[r], raw_b.typical, spec.prior_count))
                    .collect();
                let shrunk_b = Baseline::learn_owned(shrunk, spec.min_spread, false)?;
                Some(FeatureBaseline {
                    raw: raw_b,
                    shrunk: shrunk_b,
                })
            })
            .collect()
    }
}

/// Fits on borrowed feature columns whose rows are grouped by cohort (the
/// targets): what scoring uses, so that the detectors fitted on one table
/// share its column reads and its cohort grouping. The [`Fit`] over an
/// `Array2` dataset reads its columns out and comes here.
impl<'a, 'g> Fit<FeatureColumns<'a>, &'g CohortRows, DetectError> for ValidPatternParams {
    type Object = PatternModel;

    fn fit(
        &self,
        ds: &DatasetBase<FeatureColumns<'a>, &'g CohortRows>,
    ) -> Result<PatternModel, DetectError> {
        let (cols, groups) = (&ds.records, ds.targets);
        debug_assert_eq!(cols.values.len(), self.features.len());
        debug_assert_eq!(cols.supports.len(), self.features.len());
        let mut cohorts: Vec<(usize, Vec<Option<FeatureBaseline>>)> = groups
            .ids
            .par_iter()
            .zip(groups.rows.par_iter())
            .map(|(&c, rows)| (c, self.learn(cols, rows)))
            .collect();
        // The organisation-wide baseline is the fallback: learned when some
        // row is scored against it or some cohort lacks a feature.
        let needed = groups.ids.is_empty()
            || groups.org_learned
            || cohorts.iter().any(|c| c.1.iter().any(Option::is_none));
        if needed {
            cohorts.push((ORGANISATION, self.learn(cols, &groups.all)));
        }
        Ok(PatternModel {
            features: self.features.clone(),
            secondary_weight: self.secondary_weight,
            cohorts,
        })
    }
}

fn shrink(x: f64, n: f64, typical: f64, k: f64) -> f64 {
    if k > 0.0 && n.is_finite() && n >= 0.0 {
        (x * n + typical * k) / (n + k)
    } else {
        x
    }
}

impl Fit<Array2<f64>, Array1<usize>, DetectError> for ValidPatternParams {
    type Object = PatternModel;

    fn fit(
        &self,
        ds: &DatasetBase<Array2<f64>, Array1<usize>>,
    ) -> Result<PatternModel, DetectError> {
        let m = self.features.len();
        let x = ds.records();
        if x.ncols() != 2 * m {
            return Err(DetectError::Shape {
                what: "pattern detector records".into(),
                expected: format!("{} columns (values then supports)", 2 * m),
                found: format!("{} columns", x.ncols()),
            });
        }
        let columns: Vec<Vec<f64>> = x.columns().into_iter().map(|c| c.to_vec()).collect();
        let cols = FeatureColumns {
            values: columns[..m].iter().map(|c| Some(c.as_slice())).collect(),
            supports: columns[m..].iter().map(|c| Some(c.as_slice())).collect(),
            rows: x.nrows(),
        };
        let targets: Vec<usize> = ds.targets().iter().copied().collect();
        // Rows with weight 0 are scored but not learned from.
        let groups = CohortRows::new(&targets, |r| ds.weight_for(r) > 0.0);
        self.fit(&DatasetBase::new(cols, &groups))
    }
}

/// Rows per rayon task when scoring columns.
const PREDICT_CHUNK: usize = 2048;

/// A model's baselines resolved per cohort id (with the organisation
/// fallback), so that scoring a row costs one lookup instead of two binary
/// searches per feature.
struct Resolved<'m> {
    /// `(cohort id, baseline per feature)`, by cohort id.
    cohorts: Vec<(usize, Vec<Option<&'m FeatureBaseline>>)>,
    /// For ids the model does not know: the organisation's baselines.
    org: Vec<Option<&'m FeatureBaseline>>,
}

impl<'m> Resolved<'m> {
    fn new(model: &'m PatternModel) -> Resolved<'m> {
        let m = model.features.len();
        let per = |c: usize| (0..m).map(|j| model.baseline(c, j)).collect::<Vec<_>>();
        Resolved {
            cohorts: model.cohorts.iter().map(|(c, _)| (*c, per(*c))).collect(),
            org: per(ORGANISATION),
        }
    }

    fn get(&self, cohort: usize) -> &[Option<&'m FeatureBaseline>] {
        match self.cohorts.binary_search_by_key(&cohort, |e| e.0) {
            Ok(i) => &self.cohorts[i].1,
            Err(_) => &self.org,
        }
    }
}

impl PatternModel {
    /// Baselines of a cohort (falls back to the organisation's for an
    /// unknown cohort id or a feature the cohort has no value of).
    pub fn baseline(&self, cohort: usize, feature: usize) -> Option<&FeatureBaseline> {
        let find = |c: usize| {
            self.cohorts
                .binary_search_by_key(&c, |e| e.0)
                .ok()
                .and_then(|i| self.cohorts[i].1[feature].as_ref())
        };
        find(cohort).or_else(|| find(ORGANISATION))
    }

    /// The features of this detector.
    pub fn features(&self) -> &[FeatureSpec] {
        &self.features
    }

    /// Per-feature evidence of one row (`values` then `supports`, as the
    /// records of the fitting dataset).
    pub fn feature_evidence(
        &self,
        row: ArrayView1<'_, f64>,
        cohort: usize,
    ) -> Vec<FeatureEvidence> {
        (0..self.features.len())
            .map(|j| self.evidence_of(j, row, cohort))
            .collect()
    }

    /// Evidence of feature `j` for one row.
    fn evidence_of(&self, j: usize, row: ArrayView1<'_, f64>, cohort: usize) -> FeatureEvidence {
        let m = self.features.len();
        self.evidence_with(j, row[j], row[m + j], self.baseline(cohort, j))
    }

    /// Evidence of feature `j` with value `x` and support `support` against
    /// the baseline `b` (the arithmetic shared by every scoring path).
    #[inline]
    fn evidence_with(
        &self,
        j: usize,
        x: f64,
        support: f64,
        b: Option<&FeatureBaseline>,
    ) -> FeatureEvidence {
        let spec = &self.features[j];
        match (x.is_finite(), b) {
            (true, Some(b)) => {
                let s = shrink(x, support, b.raw.typical, spec.prior_count);
                let z = match spec.direction {
                    Direction::HigherIsWorse => b.shrunk.z(s),
                    Direction::LowerIsWorse => -b.shrunk.z(s),
                };
                let gate = spec.gate(s, b.raw.typical);
                FeatureEvidence {
                    value: Some(x),
                    shrunk: s,
                    z,
                    gate,
                    evidence: z.max(0.0) * gate,
                }
            }
            _ => FeatureEvidence {
                value: None,
                shrunk: f64::NAN,
                z: 0.0,
                gate: 0.0,
                evidence: 0.0,
            },
        }
    }

    /// `evidence_with(j, x, support, Some(b)).evidence` for a finite `x`, up
    /// to the sign of a zero: when the materiality gate is exactly 0 the
    /// evidence is `max(z, 0) * 0 = ±0` whatever z is, so z (a logarithm) is
    /// not computed. Only for strengths: a ±0 term changes neither the
    /// order of the positive terms nor the bits of a decayed sum (which
    /// starts at +0).
    #[inline]
    fn gated_evidence(&self, j: usize, x: f64, support: f64, b: &FeatureBaseline) -> f64 {
        let spec = &self.features[j];
        let s = shrink(x, support, b.raw.typical, spec.prior_count);
        let gate = spec.gate(s, b.raw.typical);
        if gate == 0.0 {
            return 0.0;
        }
        let z = match spec.direction {
            Direction::HigherIsWorse => b.shrunk.z(s),
            Direction::LowerIsWorse => -b.shrunk.z(s),
        };
        z.max(0.0) * gate
    }

    /// The pattern strength of one row ([`PatternModel::strength`] of
    /// [`PatternModel::feature_evidence`], without allocating).
    pub fn row_strength(&self, row: ArrayView1<'_, f64>, cohort: usize) -> Option<f64> {
        let mut any = false;
        let s = decayed_sum(
            (0..self.features.len()).map(|j| {
                let e = self.evidence_of(j, row, cohort);
                any |= e.value.is_some();
                e.evidence
            }),
            self.secondary_weight,
        );
        any.then_some(s)
    }

    /// Combines feature evidence into the pattern strength: evidence sorted
    /// descending, `e1 + w e2 + w^2 e3 ...`; `None` when no feature of the
    /// row was available.
    pub fn strength(&self, ev: &[FeatureEvidence]) -> Option<f64> {
        if ev.iter().all(|e| e.value.is_none()) {
            return None;
        }
        Some(decayed_sum(
            ev.iter().map(|e| e.evidence),
            self.secondary_weight,
        ))
    }

    /// Per-feature evidence of every row of `cols` (row `r` scored against
    /// cohort `targets[r]`), flattened row-major: row `r`'s evidence is
    /// `[r * m..(r + 1) * m]`. Rows in parallel; the same numbers as
    /// [`PatternModel::feature_evidence`].
    pub(crate) fn evidence_columns(
        &self,
        cols: &FeatureColumns<'_>,
        targets: &[usize],
    ) -> Vec<FeatureEvidence> {
        let m = self.features.len();
        let resolved = Resolved::new(self);
        let empty = FeatureEvidence {
            value: None,
            shrunk: f64::NAN,
            z: 0.0,
            gate: 0.0,
            evidence: 0.0,
        };
        let mut out = vec![empty; targets.len() * m];
        if m == 0 {
            return out;
        }
        out.par_chunks_mut(PREDICT_CHUNK * m)
            .enumerate()
            .for_each(|(chunk, ev)| {
                for (i, row) in ev.chunks_exact_mut(m).enumerate() {
                    let r = chunk * PREDICT_CHUNK + i;
                    let b = resolved.get(targets[r]);
                    for (j, e) in row.iter_mut().enumerate() {
                        let x = cols.values[j].map_or(f64::NAN, |c| c[r]);
                        let s = cols.supports[j].map_or(f64::NAN, |c| c[r]);
                        *e = self.evidence_with(j, x, s, b[j]);
                    }
                }
            });
        out
    }

    /// The pattern strength of every row of `cols` (row `r` scored against
    /// cohort `targets[r]`): [`PatternModel::row_strength`] per row, rows in
    /// parallel, without materialising the per-feature evidence.
    ///
    /// Within a chunk of rows the evidence is computed feature by feature
    /// (a tight loop over one column), then combined per row.
    pub(crate) fn strength_columns(
        &self,
        cols: &FeatureColumns<'_>,
        targets: &[usize],
    ) -> Vec<Option<f64>> {
        let m = self.features.len();
        let resolved = Resolved::new(self);
        let mut out = vec![None; targets.len()];
        out.par_chunks_mut(PREDICT_CHUNK)
            .enumerate()
            .for_each(|(chunk, out)| {
                let rows = chunk * PREDICT_CHUNK..chunk * PREDICT_CHUNK + out.len();
                let baselines: Vec<&[Option<&FeatureBaseline>]> =
                    rows.clone().map(|r| resolved.get(targets[r])).collect();
                // `evidence[j * len + i]`: feature j of row i; an absent
                // column keeps evidence 0 (what `evidence_with` gives a null).
                let len = out.len();
                let mut evidence = vec![0.0f64; m * len];
                let mut any = vec![false; len];
                for j in 0..m {
                    let Some(x) = cols.values[j] else { continue };
                    let (x, ev) = (&x[rows.clone()], &mut evidence[j * len..(j + 1) * len]);
                    let support = cols.supports[j].map(|s| &s[rows.clone()]);
                    for i in 0..len {
                        let s = support.map_or(f64::NAN, |s| s[i]);
                        if let (true, Some(b)) = (x[i].is_finite(), baselines[i][j]) {
                            any[i] = true;
                            ev[i] = self.gated_evidence(j, x[i], s, b);
                        }
                    }
                }
                let mut buf = vec![0.0f64; m];
                for (i, slot) in out.iter_mut().enumerate() {
                    for (j, b) in buf.iter_mut().enumerate() {
                        *b = evidence[j * len + i];
                    }
                    *slot = any[i].then(|| decayed_sum_slice(&mut buf, self.secondary_weight));
                }
            });
        out
    }
}

/// `v(1) + w v(2) + w^2 v(3) + ...` over the values sorted descending.
///
/// ```
/// use goodhart_detect::patterns::decayed_sum;
/// assert_eq!(decayed_sum([1.0, 4.0, 2.0], 0.5), 4.0 + 1.0 + 0.25);
/// ```
pub fn decayed_sum(values: impl IntoIterator<Item = f64>, w: f64) -> f64 {
    // This runs once per row and pattern (and per session): up to 16 values
    // are sorted on the stack, more spill to the heap.
    let mut buf = [0.0f64; 16];
    let mut len = 0;
    let mut spill: Vec<f64> = Vec::new();
    for x in values {
        if len < buf.len() {
            buf[len] = x;
            len += 1;
        } else {
            if spill.is_empty() {
                spill.extend_from_slice(&buf);
            }
            spill.push(x);
        }
    }
    if spill.is_empty() {
        decayed_sum_slice(&mut buf[..len], w)
    } else {
        decayed_sum_slice(&mut spill, w)
    }
}

/// [`decayed_sum`] of the values of `v` (reordered). Values that compare
/// equal under `total_cmp` are bit-identical, so the order of the sum (hence
/// its bits) does not depend on the sorting algorithm.
pub(crate) fn decayed_sum_slice(v: &mut [f64], w: f64) -> f64 {
    // Most patterns have one or two features: the same sum without the
    // general sorting loop (`f` is 1, then `1 * w`).
    match *v {
        [a] if a.is_finite() => return 0.0 + 1.0 * a,
        [a, b] if a.is_finite() && b.is_finite() => {
            let (hi, lo) = if a.total_cmp(&b).is_lt() {
                (b, a)
            } else {
                (a, b)
            };
            return 0.0 + 1.0 * hi + (1.0 * w) * lo;
        }
        _ => {}
    }
    let mut finite = 0;
    for i in 0..v.len() {
        if v[i].is_finite() {
            v.swap(finite, i);
            finite += 1;
        }
    }
    let v = &mut v[..finite];
    if v.len() <= 16 {
        // Usually one to three values: an insertion sort is cheapest.
        for i in 1..v.len() {
            let mut k = i;
            while k > 0 && v[k - 1].total_cmp(&v[k]).is_lt() {
                v.swap(k - 1, k);
                k -= 1;
            }
        }
    } else {
        v.sort_unstable_by(|a, b| b.total_cmp(a));
    }
    let mut f = 1.0;
    let mut s = 0.0;
    for &x in v.iter() {
        s += f * x;
        f *= w;
    }
    s
}

/// Pattern strength per row of borrowed columns whose targets are the rows'
/// cohort ids (`None` = not evaluated: no feature available); what scoring
/// uses when it does not need the per-feature evidence.
impl<'d, 'a, 't> Predict<&'d DatasetBase<FeatureColumns<'a>, &'t [usize]>, Vec<Option<f64>>>
    for PatternModel
{
    fn predict(&self, ds: &'d DatasetBase<FeatureColumns<'a>, &'t [usize]>) -> Vec<Option<f64>> {
        self.strength_columns(&ds.records, ds.targets)
    }
}

impl Predict<&DatasetBase<Array2<f64>, Array1<usize>>, Array1<f64>> for PatternModel {
    /// Pattern strength per row (NaN = not evaluated: no feature available).
    fn predict(&self, ds: &DatasetBase<Array2<f64>, Array1<usize>>) -> Array1<f64> {
        let x = ds.records();
        let t = ds.targets();
        Array1::from_iter((0..x.nrows()).map(|r| {
            self.strength(&self.feature_evidence(x.row(r), t[r]))
                .unwrap_or(f64::NAN)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn ds(values: &[f64], cohorts: &[usize]) -> DatasetBase<Array2<f64>, Array1<usize>> {
        let n = values.len();
        let mut x = Array2::from_elem((n, 2), f64::NAN);
        for (i, v) in values.iter().enumerate() {
            x[[i, 0]] = *v;
        }
        DatasetBase::new(x, Array1::from(cohorts.to_vec()))
    }

    #[test]
    fn single_stray_event_is_not_infinitely_anomalous() {
        // 19 people with ratio 0, one with 0.02 (1 of 50 spawns redundant).
        let mut v = vec![0.0; 19];
        v.push(0.02);
        let model = PatternParams::new(vec![FeatureSpec::higher("r", 0.10, Unit::Share)])
            .check()
            .unwrap()
            .fit(&ds(&v, &[0; 20]))
            .unwrap();
        let s = model.predict(&ds(&v, &[0; 20]));
        // spread floor = ln(1.1)/3; z(0.02) = ln(1.02)/floor ~ 0.62, gate 0.
        assert_eq!(s[19], 0.0);
        // A gamer at 0.4 is far out: z = ln(1.4) / (ln(1.1)/3) = 10.6, gate 1.
        let g = model
            .strength(&model.feature_evidence(array![0.4, f64::NAN].view(), 0))
            .unwrap();
        let want = 1.4f64.ln() / (1.1f64.ln() / 3.0);
        assert!((g - want).abs() < 1e-9, "{g} vs {want}");
    }

    #[test]
    fn materiality_gate_ramps() {
        let f = FeatureSpec::higher("r", 0.2, Unit::Share);
        assert_eq!(f.gate(0.05, 0.0), 0.0);
        assert_eq!(f.gate(0.1, 0.0), 0.0);
        assert!((f.gate(0.15, 0.0) - 0.5).abs() < 1e-12);
        assert_eq!(f.gate(0.3, 0.0), 1.0);
        let r = FeatureSpec::higher_rel("t", 3.0, Unit::Ratio);
        // typical 100 -> material at 300, ramp from 150.
        assert_eq!(r.gate(150.0, 100.0), 0.0);
        assert!((r.gate(225.0, 100.0) - 0.5).abs() < 1e-12);
        let l = FeatureSpec::lower("a", 0.3, Unit::Share);
        assert_eq!(l.gate(0.6, 0.8), 0.0);
        assert!((l.gate(0.45, 0.8) - 0.5).abs() < 1e-12);
        assert_eq!(l.gate(0.1, 0.8), 1.0);
    }

    #[test]
    fn shrinkage_pulls_small_support_to_typical() {
        assert_eq!(shrink(0.5, 2.0, 0.0, 8.0), 0.1);
        assert_eq!(shrink(0.5, f64::NAN, 0.0, 8.0), 0.5);
        assert_eq!(shrink(0.5, 100.0, 0.0, 0.0), 0.5);
    }

    #[test]
    fn cohort_baselines_are_separate_and_org_is_everyone() {
        // cohort 0 values around 1, cohort 1 around 10.
        // (The last row, null, is scored against the organisation, so the
        // organisation-wide baseline is learned.)
        let v = [1.0, 1.1, 0.9, 1.0, 10.0, 11.0, 9.0, 10.0, f64::NAN];
        let c = [0, 0, 0, 0, 1, 1, 1, 1, ORGANISATION];
        let model = PatternParams::new(vec![FeatureSpec::higher_rel("x", 2.0, Unit::Ratio)])
            .check()
            .unwrap()
            .fit(&ds(&v, &c))
            .unwrap();
        assert_eq!(model.baseline(0, 0).unwrap().raw.typical, 1.0);
        assert_eq!(model.baseline(1, 0).unwrap().raw.typical, 10.0);
        // Organisation: sorted 0.9 1 1 1.1 9 10 10 11 -> (1.1 + 9) / 2.
        assert!((model.baseline(ORGANISATION, 0).unwrap().raw.typical - 5.05).abs() < 1e-12);
        // Unknown cohort falls back to the organisation.
        assert!((model.baseline(7, 0).unwrap().raw.typical - 5.05).abs() < 1e-12);
        // 10 is typical in cohort 1 but very high in cohort 0.
        let e1 = model.feature_evidence(array![10.0, f64::NAN].view(), 1);
        let e0 = model.feature_evidence(array![10.0, f64::NAN].view(), 0);
        assert_eq!(e1[0].evidence, 0.0);
        assert!(e0[0].evidence > 5.0);
    }

    #[test]
    fn null_feature_is_not_evaluated() {
        let model = PatternParams::new(vec![FeatureSpec::higher("r", 0.1, Unit::Share)])
            .check()
            .unwrap()
            .fit(&ds(&[0.0, 0.1, f64::NAN], &[0, 0, 0]))
            .unwrap();
        let s = model.predict(&ds(&[f64::NAN], &[0]));
        assert!(s[0].is_nan());
    }

    #[test]
    fn bad_params_name_the_setting() {
        let e = PatternParams::new(vec![]).check().unwrap_err();
        assert!(e.to_string().contains("PatternParams.features"));
        let e = PatternParams::new(vec![FeatureSpec::higher("r", 0.1, Unit::Share)])
            .secondary_weight(2.0)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("secondary_weight"));
    }
}
