//! goodhart's shared vocabulary: the types and constants every stage speaks.
//!
//! Each concept that crosses a stage boundary is defined here once, so that a
//! detector's severity reaches the alert store as the same type (no string
//! round trip), the analysis window has one shape and one default, and every
//! output file is written by the same atomic writer:
//!
//! * [`Severity`]: how serious a score or an alert is, ordered
//!   `None < Low < Medium < High < Critical`;
//! * [`Window`]: the analysis window, `days` UTC days ending with `as_of`
//!   (default [`Window::DEFAULT_DAYS`]), with its bounds in microseconds;
//! * [`Evidence`]: one explained reason behind a score or an alert (value,
//!   peers' typical and 95th percentile, the sessions that show it);
//! * [`WeeklyWaste`]: one pattern's waste in one team in one week, as the
//!   waste ledger computes it and the alert state keeps it;
//! * [`time`]: microsecond units and UTC day starts;
//! * [`write_atomic`]: temporary sibling, fsync, rename, fsync of the
//!   directory, so a reader or a crash sees the old file or the new one.
//!
//! This crate sits below every other goodhart crate and depends on none.
//!
//! ```
//! use chrono::NaiveDate;
//! use goodhart_core::{Severity, Window};
//!
//! let as_of = NaiveDate::from_ymd_opt(2026, 10, 28).unwrap();
//! let w = Window::new(as_of, Window::parse_days("28d")?)?;
//! assert_eq!(w.first_day(), NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
//! assert_eq!(w.end_us() - w.start_us(), 28 * goodhart_core::time::US_PER_DAY);
//!
//! let s: Severity = "High".parse()?;
//! assert!(s > Severity::Medium);
//! assert_eq!(s.to_string(), "high");
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("summary.json");
//! goodhart_core::write_bytes_atomic(&path, b"{}")?;
//! assert_eq!(std::fs::read(&path)?, b"{}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod atomic;
mod error;
mod evidence;
mod ledger;
mod severity;
pub mod time;
mod window;

/// Hours before the weekly leaderboard snapshot that count as "pre-snapshot"
/// by default: the features' `Snapshot::pre_snapshot_hours` and the
/// configuration's `[features] pre_snapshot_hours` (the explanations say "in
/// the 48 h before").
pub const DEFAULT_PRE_SNAPSHOT_HOURS: u32 = 48;

pub use atomic::{sync_dir, write_atomic, write_bytes_atomic};
pub use error::CoreError;
pub use evidence::Evidence;
pub use ledger::WeeklyWaste;
pub use severity::Severity;
pub use window::Window;
