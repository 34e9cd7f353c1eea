//! `goodhart.toml`: one file for every stage's settings.
//!
//! Sections: `[scan]` (window, as-of), `[features]` (snapshot, premium models,
//! common-prompt rule, cache lifetime), `[scoring]` (cohorts, severities,
//! seed), and the alert sections owned by `goodhart-alerts` (`[alerts]`,
//! `[jira]`, `[webhook]`, `[privacy]`). Every key is optional; unknown keys are
//! errors (a typo must not silently fall back to a default).

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime, Weekday};
use goodhart_alerts::{AlertsConfig, AlertsSection, JiraConfig, PrivacyConfig, WebhookConfig};
use goodhart_detect::{ScoreOptions, Severity, SeverityThresholds};
use goodhart_features::{FeatureOptions, Snapshot};
use serde::Deserialize;

use crate::Error;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[scan]`.
    pub scan: ScanSection,
    /// `[features]`.
    pub features: FeaturesSection,
    /// `[scoring]`.
    pub scoring: ScoringSection,
    /// `[alerts]`.
    pub alerts: AlertsSection,
    /// `[jira]`: absent = no Jira delivery.
    pub jira: Option<JiraConfig>,
    /// `[webhook]`: absent = no webhook delivery.
    pub webhook: Option<WebhookConfig>,
    /// `[privacy]`.
    pub privacy: PrivacyConfig,
    /// `[retention]`.
    pub retention: goodhart_alerts::RetentionConfig,
    /// `[prices]`: the waste ledger's price table (#11).
    pub prices: goodhart_waste::PricesSection,
}

/// `[scan]`: which days are analysed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanSection {
    /// Last day of the window (UTC). Absent: today. Pin it for reproducible re-runs
    /// of a past night (the committed sample pins it).
    pub as_of: Option<NaiveDate>,
    /// Window length, `"28d"` style (whole days).
    pub window: String,
    /// Completeness check: the run is flagged incomplete when the last day of
    /// the window holds fewer events than this share of the median of the
    /// window's earlier days (those with any event). 0 turns the check off.
    pub min_last_day_share: f64,
    /// Memory the feature pass may use, e.g. `"8GB"` (see
    /// [`crate::bucketed::parse_size`]); above it the pass is split into
    /// buckets spilled to disk. Absent: half of the memory available at start.
    /// `--memory-limit` overrides it.
    pub memory_limit: Option<String>,
    /// Keep what was read of each event file in `<state>/feature-cache` so that
    /// the next night decodes only new or changed files ([`crate::cache`]).
    /// Default true; the outputs are the same either way.
    pub feature_cache: bool,
}

/// Default of [`ScanSection::min_last_day_share`].
pub const DEFAULT_MIN_LAST_DAY_SHARE: f64 = 0.5;

impl Default for ScanSection {
    fn default() -> Self {
        ScanSection {
            as_of: None,
            window: "28d".into(),
            min_last_day_share: DEFAULT_MIN_LAST_DAY_SHARE,
            memory_limit: None,
            feature_cache: true,
        }
    }
}

/// `[features]`: how waste is measured.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesSection {
    /// Weekday of the leaderboard snapshot (`mon` … `sun`).
    pub snapshot_weekday: String,
    /// Time of the snapshot, `HH:MM` UTC.
    pub snapshot_time: String,
    /// Hours before the snapshot that count as pre-snapshot (the "sprint"
    /// period). Files written before the name was settled say `sprint_hours`.
    #[serde(alias = "sprint_hours")]
    pub pre_snapshot_hours: u32,
    /// Case-insensitive substrings of premium model names.
    pub premium_models: Vec<String>,
    /// A task hash used by at least this many users is a common prompt, not a loop.
    pub common_prompt_min_users: usize,
    /// … or by at least this share of users in small organisations.
    pub common_prompt_user_share: f64,
    /// Prompt-cache lifetime in minutes.
    pub cache_ttl_minutes: u32,
    /// Gaps longer than this do not count as active time.
    pub idle_gap_minutes: u32,
}

impl Default for FeaturesSection {
    fn default() -> Self {
        let d = FeatureOptions::default();
        FeaturesSection {
            snapshot_weekday: weekday_name(d.snapshot.weekday).into(),
            snapshot_time: format!("{:02}:{:02}", d.snapshot.hour, d.snapshot.minute),
            pre_snapshot_hours: d.snapshot.pre_snapshot_hours,
            premium_models: d.premium_models,
            common_prompt_min_users: d.common_prompt_min_users,
            common_prompt_user_share: d.common_prompt_user_share,
            cache_ttl_minutes: d.cache_ttl_minutes,
            idle_gap_minutes: d.idle_gap_minutes,
        }
    }
}

/// `[scoring]`: cohorts and severities.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringSection {
    /// Cohorts smaller than this are compared with the whole organisation.
    pub min_cohort_size: usize,
    /// Severity from which an alert is raised.
    pub alert_severity: String,
    /// Seed of every random choice (clustering, isolation forest).
    pub seed: u64,
    /// Lowest score of each severity.
    pub thresholds: SeverityThresholds,
}

impl Default for ScoringSection {
    fn default() -> Self {
        let d = ScoreOptions::default();
        ScoringSection {
            min_cohort_size: d.min_cohort_size,
            alert_severity: d.alert_severity.as_str().into(),
            seed: d.seed,
            thresholds: d.thresholds,
        }
    }
}

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// Parses a window length such as `28d` or `28` (days), and checks it is a
/// window the pipeline accepts (1 to 3660 days). The one check of a window,
/// whether it comes from `--window` or `[scan] window`; callers name the source.
///
/// ```
/// assert_eq!(goodhart::config::parse_window("28d").unwrap(), 28);
/// assert_eq!(goodhart::config::parse_window("7").unwrap(), 7);
/// assert!(goodhart::config::parse_window("2w").is_err());
/// assert!(goodhart::config::parse_window("5000d").is_err());
/// ```
pub fn parse_window(s: &str) -> Result<u32, String> {
    goodhart_core::Window::parse_days(s).map_err(|e| e.to_string())
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date; write YYYY-MM-DD, e.g. 2026-10-28"))
}

/// The default configuration file, commented.
pub fn default_toml() -> String {
    let f = FeaturesSection::default();
    let s = ScoringSection::default();
    let premium = f
        .premium_models
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# goodhart.toml — every key is optional; shown here with its default.
# Looked up as: --config FILE, else DATASET/goodhart.toml, else ./goodhart.toml.

# ---------------------------------------------------------------------------
# Scan: which days are analysed
# ---------------------------------------------------------------------------
[scan]
# Last day of the window (UTC). Default: today. Pin it to re-run a past night.
# as_of = "2026-10-28"
window = "28d"
# Completeness check: a last day holding fewer events than this share of the
# median of the window's earlier days marks the run incomplete (exit code 4,
# a warning in summary.json and report.html, no alert auto-resolved). 0 = off.
min_last_day_share = {mlds}
# Memory the feature pass may use (e.g. "8GB", "512MiB", "1.5G"). Above it the
# events are split by user into buckets spilled beside the outputs and folded
# one at a time; the outputs are the same. Default: half of the memory
# available at start. --memory-limit overrides it.
# memory_limit = "8GB"
# Keep what was read of each event file in <state>/feature-cache (about 130
# bytes per event) so that the next night decodes only new or changed files;
# the outputs are the same. `scan --full` reads every file once.
feature_cache = true

# ---------------------------------------------------------------------------
# Features: how waste is measured (see docs/features.md)
# ---------------------------------------------------------------------------
[features]
# The weekly leaderboard snapshot, and the sprint period before it.
snapshot_weekday = "{wd}"
snapshot_time = "{st}"
pre_snapshot_hours = {sh}
# Case-insensitive substrings of premium model names.
premium_models = [{premium}]
# A task hash used by at least this many distinct users (or this share of users,
# in small organisations) is a common prompt ("continue", "run the tests"), never a loop.
common_prompt_min_users = {cpu}
common_prompt_user_share = {cps}
# Prompt-cache lifetime; a context re-loaded after it legitimately pays a cache write.
cache_ttl_minutes = {ttl}
idle_gap_minutes = {idle}

# ---------------------------------------------------------------------------
# Scoring: peer cohorts and severities
# ---------------------------------------------------------------------------
[scoring]
# Cohorts (roster teams, or behavioural peer groups without a roster) smaller
# than this are compared with the whole organisation.
min_cohort_size = {mcs}
# Severity from which an alert is raised: low, medium, high or critical.
alert_severity = "{sev}"
seed = {seed}
# Lowest score (0-100) of each severity.
thresholds = {{ low = {tl}, medium = {tm}, high = {th}, critical = {tc} }}

{alerts}
# ---------------------------------------------------------------------------
# Prices: the waste ledger's price table (USD per million tokens). Used where
# the data has no cost_usd. Rules below are tried first (case-insensitive
# globs on model names, first match wins), then the shipped list prices
# dated {prices_date}. A model in neither is reported as unpriced.
# ---------------------------------------------------------------------------
[prices]
defaults = true
# models = [
#   {{ model = "claude-sonnet-4*", input = 3.0, output = 15.0, cache_read = 0.30, cache_write = 3.75 }},
# ]
"#,
        prices_date = goodhart_waste::DEFAULT_PRICES_DATE,
        wd = f.snapshot_weekday,
        st = f.snapshot_time,
        sh = f.pre_snapshot_hours,
        cpu = f.common_prompt_min_users,
        cps = f.common_prompt_user_share,
        ttl = f.cache_ttl_minutes,
        idle = f.idle_gap_minutes,
        mcs = s.min_cohort_size,
        sev = s.alert_severity,
        seed = s.seed,
        tl = s.thresholds.low,
        tm = s.thresholds.medium,
        th = s.thresholds.high,
        tc = s.thresholds.critical,
        alerts = goodhart_alerts::default_toml(),
        mlds = DEFAULT_MIN_LAST_DAY_SHARE,
    )
}

/// A configuration together with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The parsed configuration.
    pub config: Config,
    /// The file it was read from (`None`: built-in defaults).
    pub path: Option<PathBuf>,
    /// XXH3-64 of the file's bytes (of `""` for the defaults), hex: identifies the
    /// configuration in `summary.json`.
    pub hash: String,
}

impl Default for LoadedConfig {
    /// The built-in settings (no file; the hash of an empty file).
    fn default() -> LoadedConfig {
        LoadedConfig {
            config: Config::default(),
            path: None,
            hash: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b"")),
        }
    }
}

impl LoadedConfig {
    /// A configuration error naming this configuration's file (or the built-in defaults).
    pub fn error(&self, message: String) -> Error {
        Error::Config {
            file: self.path.as_ref().map_or_else(
                || "built-in configuration".to_string(),
                |p| p.display().to_string(),
            ),
            message,
        }
    }
}

impl Config {
    /// Parses TOML text; `source` names the file in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Config, Error> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Config {
            file: source.to_string(),
            message: e.to_string(),
        })?;
        cfg.check(source)?;
        Ok(cfg)
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<LoadedConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            file: path.display().to_string(),
            message: format!(
                "cannot read the configuration file: {e}. Fix: pass an existing file to --config, \
                 or print a default one with `goodhart config --default`"
            ),
        })?;
        let config = Config::from_toml(&text, &path.display().to_string())?;
        Ok(LoadedConfig {
            config,
            path: Some(path.to_path_buf()),
            hash: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes())),
        })
    }

    /// Finds the configuration: `explicit`, else `goodhart.toml` in `dataset_dir`,
    /// else `./goodhart.toml`, else the defaults.
    pub fn discover(
        explicit: Option<&Path>,
        dataset_dir: Option<&Path>,
    ) -> Result<LoadedConfig, Error> {
        if let Some(p) = explicit {
            return Config::load(p);
        }
        let candidates = dataset_dir
            .map(|d| d.join("goodhart.toml"))
            .into_iter()
            .chain(std::iter::once(PathBuf::from("goodhart.toml")));
        for c in candidates {
            if c.is_file() {
                return Config::load(&c);
            }
        }
        Ok(LoadedConfig::default())
    }

    fn check(&self, source: &str) -> Result<(), Error> {
        let bad = |setting: &str, message: String| Error::Config {
            file: source.to_string(),
            message: format!("setting {setting}: {message}"),
        };
        parse_window(&self.scan.window).map_err(|m| bad("[scan] window", m))?;
        let share = self.scan.min_last_day_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(bad(
                "[scan] min_last_day_share",
                format!("{share} is not a share; write a number from 0 (check off) to 1"),
            ));
        }
        if let Some(m) = &self.scan.memory_limit {
            crate::bucketed::parse_size(m).map_err(|m| bad("[scan] memory_limit", m))?;
        }
        self.feature_options(None, 28)
            .map_err(|m| bad("[features]", m))?;
        self.score_options().map_err(|m| bad("[scoring]", m))?;
        goodhart_waste::PriceTable::from_section(&self.prices)
            .map_err(|e| bad("[prices]", e.to_string()))?;
        self.alerts_config().validate().map_err(|e| {
            bad(
                "[alerts]/[jira]/[webhook]/[privacy]/[retention]",
                e.to_string(),
            )
        })?;
        Ok(())
    }

    /// `[scan] memory_limit` in bytes (`None` when absent; a bad value was
    /// refused when the file was loaded).
    pub fn memory_limit(&self) -> Option<u64> {
        self.scan
            .memory_limit
            .as_deref()
            .and_then(|m| crate::bucketed::parse_size(m).ok())
    }

    /// The window length in days.
    pub fn window_days(&self) -> u32 {
        parse_window(&self.scan.window).unwrap_or(goodhart_core::Window::DEFAULT_DAYS)
    }

    /// Feature settings for a window ending on `as_of`.
    pub fn feature_options(
        &self,
        as_of: Option<NaiveDate>,
        window_days: u32,
    ) -> Result<FeatureOptions, String> {
        let f = &self.features;
        let weekday = f.snapshot_weekday.parse::<Weekday>().map_err(|_| {
            format!(
                "snapshot_weekday {:?} is not a weekday; write mon … sun",
                f.snapshot_weekday
            )
        })?;
        let time = NaiveTime::parse_from_str(&f.snapshot_time, "%H:%M")
            .map_err(|_| format!("snapshot_time {:?} is not HH:MM (UTC)", f.snapshot_time))?;
        let o = FeatureOptions {
            as_of,
            window_days,
            snapshot: Snapshot {
                weekday,
                hour: chrono::Timelike::hour(&time),
                minute: chrono::Timelike::minute(&time),
                pre_snapshot_hours: f.pre_snapshot_hours,
            },
            premium_models: f.premium_models.clone(),
            common_prompt_min_users: f.common_prompt_min_users,
            common_prompt_user_share: f.common_prompt_user_share,
            cache_ttl_minutes: f.cache_ttl_minutes,
            idle_gap_minutes: f.idle_gap_minutes,
            ..FeatureOptions::default()
        };
        o.validate().map_err(|e| e.to_string())?;
        Ok(o)
    }

    /// Scoring settings.
    pub fn score_options(&self) -> Result<ScoreOptions, String> {
        let s = &self.scoring;
        let mut o = ScoreOptions::default();
        o.min_cohort_size = s.min_cohort_size;
        o.alert_severity = Severity::parse(&s.alert_severity).ok_or_else(|| {
            format!(
                "alert_severity {:?} is not a severity; write low, medium, high or critical",
                s.alert_severity
            )
        })?;
        o.seed = s.seed;
        o.thresholds = s.thresholds;
        // Explanations name the configured pre-snapshot lead.
        o.patterns =
            goodhart_detect::patterns::default_patterns_for(self.features.pre_snapshot_hours);
        o.check().map_err(|e| e.to_string())?;
        Ok(o)
    }

    /// The alert sections as `goodhart-alerts` wants them.
    pub fn alerts_config(&self) -> AlertsConfig {
        AlertsConfig {
            alerts: self.alerts.clone(),
            jira: self.jira.clone(),
            webhook: self.webhook.clone(),
            privacy: self.privacy.clone(),
            retention: self.retention.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_name_the_configured_pre_snapshot_lead() {
        let phrases = |cfg: &Config| -> Vec<String> {
            let o = cfg.score_options().unwrap();
            let sprint = o.patterns.iter().find(|p| p.name == "leaderboard-sprint");
            let sprint = sprint.unwrap().user_features.iter();
            sprint.map(|f| f.phrase.clone()).collect()
        };
        let default = phrases(&Config::default());
        assert_eq!(
            default
                .iter()
                .filter(|p| p.contains("in the 48 h before"))
                .count(),
            2
        );
        let cfg = Config::from_toml("[features]\npre_snapshot_hours = 24\n", "test").unwrap();
        assert_eq!(
            cfg.feature_options(None, 28)
                .unwrap()
                .snapshot
                .pre_snapshot_hours,
            24
        );
        // The key's earlier name still reads the same setting.
        let old = Config::from_toml("[features]\nsprint_hours = 24\n", "test").unwrap();
        assert_eq!(
            old.feature_options(None, 28)
                .unwrap()
                .snapshot
                .pre_snapshot_hours,
            24
        );
        let p = phrases(&cfg);
        assert_eq!(
            p.iter()
                .filter(|p| p.contains("in the 24 h before"))
                .count(),
            2
        );
        assert!(p.iter().all(|p| !p.contains("48 h")), "{p:?}");
    }

    #[test]
    fn default_toml_parses_to_the_defaults() {
        let c = Config::from_toml(&default_toml(), "default").unwrap();
        let d = Config::default();
        assert_eq!(c.scan.window, d.scan.window);
        assert_eq!(c.features.premium_models, d.features.premium_models);
        assert_eq!(
            c.feature_options(None, 28).unwrap(),
            d.feature_options(None, 28).unwrap()
        );
        assert_eq!(c.score_options().unwrap(), d.score_options().unwrap());
        assert_eq!(c.alerts_config(), d.alerts_config());
    }

    #[test]
    fn unknown_key_names_the_file_and_key() {
        let e = Config::from_toml("[scan]\nwindw = \"7d\"\n", "x/goodhart.toml").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("x/goodhart.toml"), "{m}");
        assert!(m.contains("windw"), "{m}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Config::from_toml("[scan]\nwindow = \"2w\"\n", "g.toml").unwrap_err();
        assert!(e.to_string().contains("[scan] window"), "{e}");
        let e = Config::from_toml("[features]\nsnapshot_weekday = \"someday\"\n", "g.toml")
            .unwrap_err();
        assert!(e.to_string().contains("snapshot_weekday"), "{e}");
        let e =
            Config::from_toml("[scoring]\nalert_severity = \"severe\"\n", "g.toml").unwrap_err();
        assert!(e.to_string().contains("alert_severity"), "{e}");
    }
}
