//! Settings of feature extraction and the weekly snapshot calendar.

use crate::FeatureError;
use chrono::{NaiveDate, Weekday};

/// Microseconds per minute.
pub(crate) const US_PER_MIN: i64 = 60_000_000;
pub(crate) use goodhart_core::time::{US_PER_DAY, US_PER_HOUR};
/// Microseconds per week.
pub(crate) const US_PER_WEEK: i64 = 7 * US_PER_DAY;
/// 1970-01-05 00:00 UTC, the first Monday after the Unix epoch.
const FIRST_MONDAY_US: i64 = 4 * US_PER_DAY;

/// The weekly leaderboard snapshot: when rankings are frozen, and how long
/// before it counts as the "sprint" period.
///
/// ```
/// use goodhart_features::Snapshot;
/// let s = Snapshot::default(); // Friday 17:00 UTC, 48 h lead
/// // 2024-06-07 was a Friday; 2024-06-06 17:00 UTC is 24 h before its snapshot.
/// let thu_17h = 1_717_693_200_000_000_i64;
/// assert_eq!(s.next_after(thu_17h) - thu_17h, 24 * 3_600_000_000);
/// assert!(s.is_pre(thu_17h));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Day of the snapshot (UTC).
    pub weekday: Weekday,
    /// Hour of the snapshot, 0..=23 (UTC).
    pub hour: u32,
    /// Minute of the snapshot, 0..=59.
    pub minute: u32,
    /// Length of the pre-snapshot ("sprint") period in hours, 1..=167.
    pub pre_snapshot_hours: u32,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            weekday: Weekday::Fri,
            hour: 17,
            minute: 0,
            pre_snapshot_hours: goodhart_core::DEFAULT_PRE_SNAPSHOT_HOURS,
        }
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:02}:{:02} UTC, lead {} h",
            self.weekday, self.hour, self.minute, self.pre_snapshot_hours
        )
    }
}

impl Snapshot {
    /// Offset of the snapshot from Monday 00:00, in microseconds.
    fn offset_us(&self) -> i64 {
        i64::from(self.weekday.num_days_from_monday()) * US_PER_DAY
            + i64::from(self.hour) * US_PER_HOUR
            + i64::from(self.minute) * US_PER_MIN
    }

    /// The first snapshot instant strictly after `ts_us` (UTC microseconds).
    pub fn next_after(&self, ts_us: i64) -> i64 {
        let base = FIRST_MONDAY_US + self.offset_us();
        let k = (ts_us.saturating_sub(base)).div_euclid(US_PER_WEEK) + 1;
        base.saturating_add(k.saturating_mul(US_PER_WEEK))
    }

    /// True when `ts_us` lies in the `pre_snapshot_hours` before the next snapshot.
    #[inline]
    pub fn is_pre(&self, ts_us: i64) -> bool {
        self.next_after(ts_us).saturating_sub(ts_us)
            <= i64::from(self.pre_snapshot_hours) * US_PER_HOUR
    }

    /// Share of all time that is pre-snapshot: `pre_snapshot_hours / 168` (the
    /// baseline a user with no sprint pattern sits at).
    pub fn baseline_share(&self) -> f64 {
        f64::from(self.pre_snapshot_hours) / 168.0
    }

    fn validate(&self) -> Result<(), FeatureError> {
        if self.hour > 23 {
            return Err(bad("snapshot.hour", self.hour, "must be 0..=23 (UTC hour)"));
        }
        if self.minute > 59 {
            return Err(bad("snapshot.minute", self.minute, "must be 0..=59"));
        }
        if !(1..=167).contains(&self.pre_snapshot_hours) {
            return Err(bad(
                "snapshot.pre_snapshot_hours",
                self.pre_snapshot_hours,
                "must be 1..=167 hours (shorter than a week); the default is 48",
            ));
        }
        Ok(())
    }
}

/// Settings of feature extraction. Start from `FeatureOptions::default()`
/// and change fields; [`FeatureOptions::validate`] names a bad setting.
///
/// ```
/// use goodhart_features::FeatureOptions;
/// let mut o = FeatureOptions::default();
/// assert_eq!(o.window_days, 28);
/// o.window_days = 0;
/// assert!(o.validate().unwrap_err().to_string().contains("window_days"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureOptions {
    /// Last day (UTC) of the analysis window; the window ends (exclusive) at
    /// the midnight after it. `None`: the day of the latest event.
    pub as_of: Option<NaiveDate>,
    /// Window length in days (sessions starting in the window are analysed).
    pub window_days: u32,
    /// The weekly leaderboard snapshot.
    pub snapshot: Snapshot,
    /// Case-insensitive substrings of model names that count as premium.
    pub premium_models: Vec<String>,
    /// A request `task_hash` used by at least this many distinct users is a
    /// common prompt (never a loop). See also `common_prompt_user_share`.
    pub common_prompt_min_users: usize,
    /// In small organisations the threshold drops to
    /// `ceil(share * users)` (never below 2 users).
    pub common_prompt_user_share: f64,
    /// Prompt-cache lifetime in minutes; a reload within it is pointless.
    pub cache_ttl_minutes: u32,
    /// Gaps between events longer than this do not count as active time.
    pub idle_gap_minutes: u32,
    /// A session "shows redundant spawns" with at least this many.
    pub session_redundant_spawns_min: u64,
    /// A session "shows reload churn" with at least one reload and a
    /// `reload_uncached_share` of at least this.
    pub session_reload_churn_share: f64,
    /// A session "shows a loop" with at least this many loop requests ...
    pub session_loop_min_requests: u64,
    /// ... and a `loop_ratio` of at least this.
    pub session_loop_min_ratio: f64,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            as_of: None,
            window_days: goodhart_core::Window::DEFAULT_DAYS,
            snapshot: Snapshot::default(),
            premium_models: vec!["opus".into(), "o3-pro".into(), "gpt-5-pro".into()],
            common_prompt_min_users: 5,
            common_prompt_user_share: 0.1,
            cache_ttl_minutes: 5,
            idle_gap_minutes: 30,
            session_redundant_spawns_min: 2,
            session_reload_churn_share: 0.2,
            session_loop_min_requests: 3,
            session_loop_min_ratio: 0.2,
        }
    }
}

fn bad(setting: &'static str, value: impl std::fmt::Display, reason: &str) -> FeatureError {
    FeatureError::InvalidOption {
        setting,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn share(setting: &'static str, v: f64) -> Result<(), FeatureError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(setting, v, "must be a share between 0 and 1"))
    }
}

impl FeatureOptions {
    /// Checks every setting; the error names the first bad one and the fix.
    pub fn validate(&self) -> Result<(), FeatureError> {
        if !(1..=goodhart_core::Window::MAX_DAYS).contains(&self.window_days) {
            return Err(bad(
                "window_days",
                self.window_days,
                "must be 1..=3660 days; the default is 28",
            ));
        }
        self.snapshot.validate()?;
        if let Some(p) = self.premium_models.iter().find(|p| p.trim().is_empty()) {
            return Err(bad(
                "premium_models",
                format!("{p:?}"),
                "an empty pattern would match every model; remove it",
            ));
        }
        if self.common_prompt_min_users < 2 {
            return Err(bad(
                "common_prompt_min_users",
                self.common_prompt_min_users,
                "must be at least 2 (a prompt of one user is never common)",
            ));
        }
        let s = self.common_prompt_user_share;
        if !(s.is_finite() && s > 0.0 && s <= 1.0) {
            return Err(bad(
                "common_prompt_user_share",
                s,
                "must be in (0, 1]; the default is 0.1",
            ));
        }
        if self.cache_ttl_minutes == 0 {
            return Err(bad(
                "cache_ttl_minutes",
                0,
                "must be at least 1 minute; the default is 5",
            ));
        }
        if self.idle_gap_minutes == 0 {
            return Err(bad(
                "idle_gap_minutes",
                0,
                "must be at least 1 minute; the default is 30",
            ));
        }
        if self.session_redundant_spawns_min == 0 {
            return Err(bad(
                "session_redundant_spawns_min",
                0,
                "must be at least 1 (0 would flag every session)",
            ));
        }
        if self.session_loop_min_requests == 0 {
            return Err(bad(
                "session_loop_min_requests",
                0,
                "must be at least 1 (0 would flag every session)",
            ));
        }
        share(
            "session_reload_churn_share",
            self.session_reload_churn_share,
        )?;
        share("session_loop_min_ratio", self.session_loop_min_ratio)?;
        Ok(())
    }

    /// The distinct-user threshold above which a task hash is a common
    /// prompt, for an organisation of `n_users` users:
    /// `max(2, min(common_prompt_min_users, ceil(common_prompt_user_share * n_users)))`.
    ///
    /// ```
    /// use goodhart_features::FeatureOptions;
    /// let o = FeatureOptions::default(); // 5 users or 10 %
    /// assert_eq!(o.common_prompt_threshold(1000), 5);
    /// assert_eq!(o.common_prompt_threshold(30), 3);
    /// assert_eq!(o.common_prompt_threshold(4), 2);
    /// ```
    pub fn common_prompt_threshold(&self, n_users: usize) -> usize {
        let by_share = (self.common_prompt_user_share * n_users as f64).ceil();
        let by_share = if by_share.is_finite() && by_share >= 0.0 {
            by_share as usize
        } else {
            usize::MAX
        };
        by_share.min(self.common_prompt_min_users).max(2)
    }
}
