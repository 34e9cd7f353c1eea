//! Row accounting: every input row is either accepted or quarantined with a reason.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Row counts of some input (a batch, a file, a whole dataset).
///
/// Invariant: `rows_read == rows_accepted + rows_quarantined` and
/// `rows_quarantined == reasons.values().sum()`. `reasons` holds only
/// reasons that occurred (keys are [`crate::QuarantineReason::as_str`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows read from the input.
    pub rows_read: u64,
    /// Rows that passed validation.
    pub rows_accepted: u64,
    /// Rows set aside, with a reason.
    pub rows_quarantined: u64,
    /// Quarantined rows per reason.
    pub reasons: BTreeMap<String, u64>,
}

impl Counts {
    /// Adds `o` into `self` (integer sums: order independent).
    pub fn add(&mut self, o: &Counts) {
        self.rows_read += o.rows_read;
        self.rows_accepted += o.rows_accepted;
        self.rows_quarantined += o.rows_quarantined;
        for (k, v) in &o.reasons {
            *self.reasons.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// True when the accounting identities hold.
    pub fn is_consistent(&self) -> bool {
        self.rows_read == self.rows_accepted + self.rows_quarantined
            && self.rows_quarantined == self.reasons.values().sum::<u64>()
    }
}

/// Row accounting of one input file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// The file (path as discovered).
    pub file: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Row accounting of a whole ingest (what `goodhart validate` prints).
///
/// Serialises to a JSON object with `rows_read`, `rows_accepted`,
/// `rows_quarantined`, `reasons`, `files_read`, `files_pruned` and `files`
/// (one object per file with `file` and the same count fields), files sorted
/// by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Totals over all files read.
    #[serde(flatten)]
    pub counts: Counts,
    /// Number of files read.
    pub files_read: u64,
    /// Number of files skipped because their `date=` partition lies outside the window.
    pub files_pruned: u64,
    /// Per-file breakdown, sorted by file.
    pub files: Vec<FileReport>,
}

impl IngestReport {
    /// Builds a report from per-file reports (sorted by file here; totals summed).
    pub fn from_files(mut files: Vec<FileReport>, files_pruned: u64) -> IngestReport {
        files.sort_by(|a, b| a.file.cmp(&b.file));
        let mut counts = Counts::default();
        for f in &files {
            counts.add(&f.counts);
        }
        IngestReport {
            counts,
            files_read: files.len() as u64,
            files_pruned,
            files,
        }
    }

    /// Human-readable summary (for `goodhart validate` without `--json`).
    ///
    /// ```
    /// use goodhart_schema::{Counts, FileReport, IngestReport};
    /// let mut c = Counts { rows_read: 3, rows_accepted: 2, rows_quarantined: 1, ..Default::default() };
    /// c.reasons.insert("null_ts".into(), 1);
    /// let r = IngestReport::from_files(vec![FileReport { file: "a.parquet".into(), counts: c }], 0);
    /// let t = r.render_text();
    /// assert!(t.contains("rows read         3"));
    /// assert!(t.contains("null_ts"));
    /// ```
    pub fn render_text(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        let pct = |x: u64| {
            if c.rows_read == 0 {
                0.0
            } else {
                100.0 * x as f64 / c.rows_read as f64
            }
        };
        let _ = writeln!(s, "rows read         {}", c.rows_read);
        let _ = writeln!(
            s,
            "rows accepted     {} ({:.2}%)",
            c.rows_accepted,
            pct(c.rows_accepted)
        );
        let _ = writeln!(
            s,
            "rows quarantined  {} ({:.2}%)",
            c.rows_quarantined,
            pct(c.rows_quarantined)
        );
        for (k, v) in &c.reasons {
            let _ = writeln!(s, "  {k:<20} {v}");
        }
        let _ = writeln!(
            s,
            "files read        {} ({} pruned by the date window)",
            self.files_read, self.files_pruned
        );
        for f in &self.files {
            let fc = &f.counts;
            let _ = write!(
                s,
                "  {}: {} read, {} accepted, {} quarantined",
                f.file, fc.rows_read, fc.rows_accepted, fc.rows_quarantined
            );
            if !fc.reasons.is_empty() {
                let parts: Vec<String> =
                    fc.reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = write!(s, " ({})", parts.join(", "));
            }
            s.push('\n');
        }
        s
    }
}
