//! Time units: timestamps are UTC microseconds since the Unix epoch everywhere.

use chrono::{NaiveDate, NaiveTime};

/// Microseconds in an hour.
pub const US_PER_HOUR: i64 = 3_600_000_000;
/// Microseconds in a day.
pub const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// The first microsecond of the UTC day `d`.
///
/// ```
/// use chrono::NaiveDate;
/// use goodhart_core::time::{day_start_us, US_PER_DAY};
/// assert_eq!(day_start_us(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), US_PER_DAY);
/// ```
pub fn day_start_us(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_micros()
}
