//! Input discovery: a file or a directory tree of `*.parquet` files with hive partitions.

use crate::error::{io_err, IoError};
use chrono::NaiveDate;
use goodhart_core::time::{day_start_us, US_PER_DAY};
use std::path::{Path, PathBuf};

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

impl From<goodhart_core::Window> for DateWindow {
    /// The window's days as an ingest filter.
    fn from(w: goodhart_core::Window) -> DateWindow {
        DateWindow::new(w.start_us(), w.end_us())
    }
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
    /// Entries named like events files that were not read, with why (a FIFO,
    /// a socket, a device, a second path to a file already found), in walk
    /// order. Callers print them as warnings.
    pub skipped: Vec<Skipped>,
}

/// An entry of the input tree that [`discover_all`] did not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry, as found under the input root.
    pub path: PathBuf,
    /// Why it was not read (one short sentence, no trailing period).
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: skipped: {}", self.path.display(), self.reason)
    }
}

/// What a file system entry is, in words, when it is not a regular file or a directory.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// `metadata` (following symlinks) with a symlink loop reported as such, naming the link once.
fn stat(p: &Path) -> Result<std::fs::Metadata, IoError> {
    std::fs::metadata(p).map_err(|e| {
        if e.raw_os_error() == Some(ELOOP) {
            IoError::SymlinkLoop {
                link: p.to_path_buf(),
                target: std::fs::read_link(p).unwrap_or_else(|_| p.to_path_buf()),
            }
        } else {
            io_err(p)(e)
        }
    })
}

/// `ELOOP` ("too many levels of symbolic links") on Linux and the BSDs/macOS.
/// `std::io::ErrorKind` has no stable variant for it yet.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ELOOP: i32 = 40;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ELOOP: i32 = 62;

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
///
/// Only regular files (or symlinks to one) are ever opened: a FIFO, socket
/// or device named `*.parquet` inside the tree is listed in
/// [`Discovered::skipped`] (opening a FIFO would block forever), and one
/// given as `path` itself is an [`IoError::NotRegularFile`]. Symlinks are
/// followed; a file reached a second time through another path (its
/// canonical path already found) is skipped too, so the same events are not
/// read twice. A symlink that leads back to one of its own parent
/// directories, or to itself, is an [`IoError::SymlinkLoop`] naming the link.
pub fn discover_all(path: &Path, window: Option<DateWindow>) -> Result<Discovered, IoError> {
    let meta = stat(path)?;
    if !meta.is_dir() {
        if !meta.is_file() {
            return Err(IoError::NotRegularFile {
                path: path.to_path_buf(),
                kind: kind_of(meta.file_type()),
            });
        }
        return Ok(Discovered {
            files: vec![EventFile::from_path(path)],
            ..Discovered::default()
        });
    }
    let mut found = Vec::new();
    let mut walker = Walker {
        ancestors: vec![std::fs::canonicalize(path).map_err(io_err(path))?],
        seen: std::collections::BTreeSet::new(),
        skipped: Vec::new(),
    };
    walker.walk(path, &mut Vec::new(), &mut found)?;
    let skipped = walker.skipped;
    if found.is_empty() {
        return Err(IoError::EmptyDir {
            path: path.to_path_buf(),
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    let (files, pruned): (Vec<EventFile>, Vec<EventFile>) =
        found.into_iter().partition(|f| match (window, f.date) {
            (Some(w), Some(d)) => w.overlaps_date(d),
            _ => true,
        });
    let (files, identical) = dedup_identical(files)?;
    let mut skipped = skipped;
    skipped.extend(identical);
    Ok(Discovered {
        files,
        pruned,
        skipped,
    })
}

/// Drops the files whose bytes are identical to an earlier file's (same
/// size, then same XXH3-128 of the content; only files sharing a size are
/// read, so a lake without copies costs one `stat` per file): a partition
/// copied twice into the lake is read once. `files` order is kept; each
/// dropped file is returned as a [`Skipped`] naming the file it repeats.
pub fn dedup_identical(files: Vec<EventFile>) -> Result<(Vec<EventFile>, Vec<Skipped>), IoError> {
    let mut by_size: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
    for (i, f) in files.iter().enumerate() {
        let len = std::fs::metadata(&f.path).map_err(io_err(&f.path))?.len();
        by_size.entry(len).or_default().push(i);
    }
    let mut copy_of: std::collections::BTreeMap<usize, usize> = Default::default();
    for idxs in by_size.values().filter(|v| v.len() > 1) {
        let mut seen: std::collections::HashMap<u128, usize> = Default::default();
        for &i in idxs {
            let h = hash_file(&files[i].path)?;
            match seen.get(&h) {
                Some(&first) => {
                    copy_of.insert(i, first);
                }
                None => {
                    seen.insert(h, i);
                }
            }
        }
    }
    let skipped = copy_of
        .iter()
        .map(|(&i, &first)| Skipped {
            path: files[i].path.clone(),
            reason: format!(
                "identical to {} (same size and content hash); read once",
                files[first].path.display()
            ),
        })
        .collect();
    let kept = files
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !copy_of.contains_key(i))
        .map(|(_, f)| f)
        .collect();
    Ok((kept, skipped))
}

fn hash_file(path: &Path) -> Result<u128, IoError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            return Ok(h.digest128());
        }
        h.update(&buf[..n]);
    }
}

struct Walker {
    /// Canonical paths of the directories being walked, outermost first (loop detection).
    ancestors: Vec<PathBuf>,
    /// Canonical paths of the files found so far.
    seen: std::collections::BTreeSet<PathBuf>,
    skipped: Vec<Skipped>,
}

impl Walker {
    fn walk(
        &mut self,
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
            let is_parquet = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
            // Follows symlinks, like a reader of the directory would; never opens the entry.
            let md = stat(&p)?;
            if md.is_dir() {
                let canonical = std::fs::canonicalize(&p).map_err(io_err(&p))?;
                if self.ancestors.contains(&canonical) {
                    return Err(IoError::SymlinkLoop {
                        target: std::fs::read_link(&p).unwrap_or(canonical),
                        link: p,
                    });
                }
                let pushed = match name.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        parts.push((k.to_string(), v.to_string()));
                        true
                    }
                    _ => false,
                };
                self.ancestors.push(canonical);
                let walked = self.walk(&p, parts, out);
                self.ancestors.pop();
                walked?;
                if pushed {
                    parts.pop();
                }
            } else if is_parquet {
                if !md.is_file() {
                    self.skipped.push(Skipped {
                        reason: format!(
                            "{}, not a regular file; it is never opened",
                            kind_of(md.file_type())
                        ),
                        path: p,
                    });
                    continue;
                }
                let canonical = std::fs::canonicalize(&p).map_err(io_err(&p))?;
                if !self.seen.insert(canonical.clone()) {
                    self.skipped.push(Skipped {
                    reason: format!(
                        "the same file as one already read ({}), reached through a symbolic link; read once",
                        canonical.display()
                    ),
                    path: p,
                });
                    continue;
                }
                out.push(EventFile::new(p, parts.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A Parquet-looking file (its content is never read by discovery).
    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"PAR1").unwrap();
    }

    fn mkfifo(p: &Path) {
        let st = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success(), "mkfifo {}", p.display());
    }

    #[test]
    fn a_fifo_named_parquet_is_skipped_with_a_reason_and_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("date=2026-10-01/part-0.parquet"));
        let fifo = dir.path().join("date=2026-10-01/x.parquet");
        mkfifo(&fifo);
        // Would block forever if discovery opened the FIFO.
        let d = discover_all(dir.path(), None).unwrap();
        assert_eq!(d.files.len(), 1);
        assert!(d.files[0].path.ends_with("part-0.parquet"));
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].path, fifo);
        let m = d.skipped[0].to_string();
        assert!(m.contains("x.parquet") && m.contains("FIFO"), "{m}");

        // Given directly, it is an error naming it, not a hang.
        let e = discover_all(&fifo, None).unwrap_err();
        assert!(matches!(e, IoError::NotRegularFile { .. }), "{e}");
        assert!(e.to_string().contains("x.parquet"), "{e}");
    }

    #[test]
    fn a_symlink_loop_is_named_once() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("date=2026-10-01/part-0.parquet"));
        // (A name that the message's own words cannot contain.)
        let link = dir.path().join("date=2026-10-01/loop-link-7");
        symlink(dir.path(), &link).unwrap();
        let e = discover_all(dir.path(), None).unwrap_err();
        assert!(matches!(e, IoError::SymlinkLoop { .. }), "{e}");
        let m = e.to_string();
        assert_eq!(m.matches("loop-link-7").count(), 1, "{m}");
        assert!(m.len() < 400, "{m}");

        // A link to itself.
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("part-0.parquet"));
        let me = dir.path().join("me.parquet");
        symlink(&me, &me).unwrap();
        let e = discover_all(dir.path(), None).unwrap_err();
        assert!(matches!(e, IoError::SymlinkLoop { .. }), "{e}");
        assert!(e.to_string().contains("me.parquet"), "{e}");
    }

    #[test]
    fn a_file_copied_twice_into_the_lake_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("date=2026-10-01/part-0.parquet");
        touch(&a);
        let copy = dir.path().join("date=2026-10-01/part-0 (copy).parquet");
        std::fs::copy(&a, &copy).unwrap();
        // Same size, other bytes: not a copy.
        let other = dir.path().join("date=2026-10-02/part-0.parquet");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, b"PAR2").unwrap();
        let d = discover_all(dir.path(), None).unwrap();
        let paths: Vec<&Path> = d.files.iter().map(|f| f.path.as_path()).collect();
        // Sorted by path, the copy comes first and is the one read.
        assert_eq!(paths, vec![copy.as_path(), other.as_path()]);
        assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
        assert_eq!(d.skipped[0].path, a);
        assert!(
            d.skipped[0].reason.contains("identical to"),
            "{:?}",
            d.skipped
        );
    }

    #[test]
    fn a_partition_reached_twice_through_a_symlink_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("date=2026-10-01/part-0.parquet"));
        symlink(
            dir.path().join("date=2026-10-01"),
            dir.path().join("date=2026-10-01-again"),
        )
        .unwrap();
        let d = discover_all(dir.path(), None).unwrap();
        assert_eq!(d.files.len(), 1);
        assert_eq!(d.skipped.len(), 1);
        assert!(d.skipped[0].reason.contains("read once"));
    }
}
