//! Input discovery: a file or a directory tree of `*.parquet` files with hive partitions.

use crate::error::{io_err, IoError};
use chrono::{NaiveDate, NaiveTime};
use std::path::{Path, PathBuf};

const US_PER_DAY: i64 = 86_400_000_000;

/// Analysis window: half-open `[start_us, end_us)` in UTC microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateWindow {
    /// First microsecond inside the window.
    pub start_us: i64,
    /// First microsecond after the window.
    pub end_us: i64,
}

impl DateWindow {
    /// A window from raw microseconds (`start_us` inclusive, `end_us` exclusive).
    pub fn new(start_us: i64, end_us: i64) -> DateWindow {
        DateWindow { start_us, end_us }
    }

    /// The UTC days `first..=last`, both inclusive.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use goodhart_io::DateWindow;
    /// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    /// let w = DateWindow::from_dates(d("1970-01-01"), d("1970-01-02"));
    /// assert_eq!((w.start_us, w.end_us), (0, 2 * 86_400_000_000));
    /// assert!(w.overlaps_date(d("1970-01-02")));
    /// assert!(!w.overlaps_date(d("1970-01-03")));
    /// ```
    pub fn from_dates(first: NaiveDate, last: NaiveDate) -> DateWindow {
        let start_us = day_start_us(first);
        DateWindow {
            start_us,
            end_us: day_start_us(last).saturating_add(US_PER_DAY),
        }
    }

    /// `(start_us, end_us)`, as [`goodhart_schema::ValidateOptions::window`] takes it.
    pub fn as_tuple(self) -> (i64, i64) {
        (self.start_us, self.end_us)
    }

    /// True when the UTC day `d` shares at least one microsecond with the window.
    pub fn overlaps_date(self, d: NaiveDate) -> bool {
        let s = day_start_us(d);
        s < self.end_us && s.saturating_add(US_PER_DAY) > self.start_us
    }
}

fn day_start_us(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_micros()
}

/// One events file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFile {
    /// Where the file is.
    pub path: PathBuf,
    /// How reports, errors and the quarantine name the file (the path as discovered).
    pub label: String,
    /// Hive partitions (`key=value` directory names) between the input root and the file, outermost first.
    pub partitions: Vec<(String, String)>,
    /// The `date=YYYY-MM-DD` (or `dt=`) partition, a UTC day, when present and parsable.
    pub date: Option<NaiveDate>,
}

impl EventFile {
    fn new(path: PathBuf, partitions: Vec<(String, String)>) -> EventFile {
        let date = partitions
            .iter()
            .rev()
            .find(|(k, _)| k == "date" || k == "dt")
            .and_then(|(_, v)| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
        EventFile {
            label: path.display().to_string(),
            path,
            partitions,
            date,
        }
    }

    /// A single file, no partitions (for callers that already know their files).
    pub fn from_path(path: impl Into<PathBuf>) -> EventFile {
        EventFile::new(path.into(), Vec::new())
    }
}

/// The result of [`discover_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Files to read, sorted by path.
    pub files: Vec<EventFile>,
    /// Files skipped because their `date` partition lies entirely outside the window, sorted by path.
    pub pruned: Vec<EventFile>,
}

/// Finds the events files under `path`; see [`discover_all`]. Returns only the files to read.
pub fn discover(path: &Path, window: Option<DateWindow>) -> Result<Vec<EventFile>, IoError> {
    discover_all(path, window).map(|d| d.files)
}

/// Finds the events files under `path`, pruning `date=` partitions outside `window`.
///
/// `path` may be a file (read whatever its name; never pruned) or a
/// directory, read recursively: only `*.parquet` files count, names starting
/// with `.` or `_` (e.g. `_SUCCESS`, `.part-0.crc`) are ignored, and
/// directory names `key=value` are parsed as hive partitions. With a window,
/// a file under a `date=YYYY-MM-DD` partition (a UTC day) whose day does not
/// overlap the window is pruned (listed in [`Discovered::pruned`]); rows of
/// the files read are still checked one by one. Output is sorted by path, so
/// it does not depend on directory listing order.
pub fn discover_all(path: &Path, window: Option<DateWindow>) -> Result<Discovered, IoError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if !meta.is_dir() {
        return Ok(Discovered {
            files: vec![EventFile::from_path(path)],
            pruned: Vec::new(),
        });
    }
    let mut found = Vec::new();
    walk(path, &mut Vec::new(), &mut found)?;
    if found.is_empty() {
        return Err(IoError::EmptyDir {
            path: path.to_path_buf(),
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    let (files, pruned) = found.into_iter().partition(|f| match (window, f.date) {
        (Some(w), Some(d)) => w.overlaps_date(d),
        _ => true,
    });
    Ok(Discovered { files, pruned })
}

fn walk(
    dir: &Path,
    parts: &mut Vec<(String, String)>,
    out: &mut Vec<EventFile>,
) -> Result<(), IoError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .map(|e| e.map(|e| e.path()).map_err(io_err(dir)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        let Some(name) = p.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        // Follows symlinks, like a reader of the directory would.
        let md = std::fs::metadata(&p).map_err(io_err(&p))?;
        if md.is_dir() {
            let pushed = match name.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    parts.push((k.to_string(), v.to_string()));
                    true
                }
                _ => false,
            };
            walk(&p, parts, out)?;
            if pushed {
                parts.pop();
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            out.push(EventFile::new(p, parts.clone()));
        }
    }
    Ok(())
}
