//! The analysis window.

use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::time::{day_start_us, US_PER_DAY};
use crate::CoreError;

/// The analysis window: `days` UTC days ending with `as_of` (inclusive).
///
/// As microseconds it is the half-open range `[start_us, end_us)`: from the
/// first microsecond of [`Window::first_day`] to the first microsecond after
/// `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Window {
    /// Last day analysed (inclusive, UTC).
    pub as_of: NaiveDate,
    /// Number of days.
    pub days: u32,
}

impl Window {
    /// The default length: four weeks, so every weekday (and a weekly
    /// leaderboard snapshot) appears four times.
    pub const DEFAULT_DAYS: u32 = 28;
    /// The longest window accepted (about ten years).
    pub const MAX_DAYS: u32 = 3660;

    /// A window of `days` days ending with `as_of`, checked (1 to
    /// [`Window::MAX_DAYS`] days).
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use goodhart_core::Window;
    /// let d = NaiveDate::from_ymd_opt(2026, 10, 28).unwrap();
    /// assert!(Window::new(d, 0).is_err());
    /// assert_eq!(Window::new(d, 1).unwrap().first_day(), d);
    /// ```
    pub fn new(as_of: NaiveDate, days: u32) -> Result<Window, CoreError> {
        Window::check_days(days, &days.to_string())?;
        Ok(Window { as_of, days })
    }

    /// A window of [`Window::DEFAULT_DAYS`] ending with `as_of`.
    pub fn ending(as_of: NaiveDate) -> Window {
        Window {
            as_of,
            days: Window::DEFAULT_DAYS,
        }
    }

    /// Parses a window length such as `28d` or `28` (whole days), checked as
    /// [`Window::new`] checks it.
    ///
    /// ```
    /// use goodhart_core::Window;
    /// assert_eq!(Window::parse_days("28d").unwrap(), 28);
    /// assert_eq!(Window::parse_days(" 7 ").unwrap(), 7);
    /// assert!(Window::parse_days("2w").is_err());
    /// assert!(Window::parse_days("5000d").is_err());
    /// ```
    pub fn parse_days(s: &str) -> Result<u32, CoreError> {
        let t = s.trim();
        let digits = t.strip_suffix('d').unwrap_or(t);
        let days = digits.parse::<u32>().map_err(|_| CoreError::WindowLength {
            given: s.to_string(),
            reason: "not a whole number of days",
        })?;
        Window::check_days(days, s)?;
        Ok(days)
    }

    fn check_days(days: u32, given: &str) -> Result<(), CoreError> {
        if !(1..=Window::MAX_DAYS).contains(&days) {
            return Err(CoreError::WindowLength {
                given: given.to_string(),
                reason: "out of range",
            });
        }
        Ok(())
    }

    /// First day analysed (inclusive).
    pub fn first_day(&self) -> NaiveDate {
        self.as_of - Days::new(u64::from(self.days.saturating_sub(1)))
    }

    /// First microsecond inside the window.
    pub fn start_us(&self) -> i64 {
        day_start_us(self.first_day())
    }

    /// First microsecond after the window.
    pub fn end_us(&self) -> i64 {
        day_start_us(self.as_of).saturating_add(US_PER_DAY)
    }

    /// True when the UTC day `d` is one of the window's days.
    pub fn contains_day(&self, d: NaiveDate) -> bool {
        d >= self.first_day() && d <= self.as_of
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_half_open_whole_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let w = Window::new(d("1970-01-03"), 2).unwrap();
        assert_eq!(w.first_day(), d("1970-01-02"));
        assert_eq!((w.start_us(), w.end_us()), (US_PER_DAY, 3 * US_PER_DAY));
        assert!(w.contains_day(d("1970-01-02")) && w.contains_day(d("1970-01-03")));
        assert!(!w.contains_day(d("1970-01-01")) && !w.contains_day(d("1970-01-04")));
        assert_eq!(Window::ending(d("1970-02-01")).days, 28);
        let e = Window::parse_days("0d").unwrap_err().to_string();
        assert!(e.contains("\"0d\"") && e.contains("28d"), "{e}");
    }
}
