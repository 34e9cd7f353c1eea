//! The per-run `import_report.json`.

use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many quarantined records are listed per file (all are counted).
pub const MAX_LISTED_QUARANTINE: usize = 200;

/// One quarantined record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedRecord {
    /// 1-based record number: line (JSONL), row (CSV), item (JSON pages:
    /// result, event or user-day) or OTLP log record / span, in file order.
    pub line: u64,
    /// The file line holding it, where records are not lines (JSON pages
    /// written one per line, OTLP JSON lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<u64>,
    /// Why it was set aside.
    pub reason: String,
}

/// Token totals of the requests written for one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayTokens {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache-read input tokens.
    pub cache_read: u64,
    /// Cache-write input tokens.
    pub cache_write: u64,
}

impl DayTokens {
    pub(crate) fn add(&mut self, o: &DayTokens) {
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
    }
}

/// What happened to one source file in this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The source file.
    pub file: String,
    /// `new`, `appended`, `rewritten` or `unchanged`.
    pub status: String,
    /// File size in bytes.
    pub size: u64,
    /// Records read in this run (for `appended`: the new records only).
    pub records: u64,
    /// Records that produced at least one event.
    pub used: u64,
    /// Records skipped by design, per kind (e.g. `duplicate_request`, `summary`).
    pub skipped: BTreeMap<String, u64>,
    /// Records quarantined.
    pub quarantined: u64,
    /// The quarantined records (at most [`MAX_LISTED_QUARANTINE`]).
    pub quarantine: Vec<QuarantinedRecord>,
    /// Events written, per kind.
    pub events: BTreeMap<String, u64>,
    /// Parquet parts written for this file in this run (relative to the lake).
    pub parts: Vec<String>,
    /// Token totals of the requests written, per UTC day (`YYYY-MM-DD`).
    pub tokens_by_day: BTreeMap<String, DayTokens>,
}

impl FileReport {
    /// True when `records == used + skipped + quarantined`.
    pub fn balanced(&self) -> bool {
        self.records == self.used + self.skipped.values().sum::<u64>() + self.quarantined
    }
}

/// Totals over the files of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Source files seen.
    pub files: u64,
    /// Files imported (new, appended or rewritten).
    pub files_imported: u64,
    /// Records read.
    pub records: u64,
    /// Records used.
    pub used: u64,
    /// Records skipped by design, per kind.
    pub skipped: BTreeMap<String, u64>,
    /// Records quarantined, per reason.
    pub quarantined: BTreeMap<String, u64>,
    /// Events written, per kind.
    pub events: BTreeMap<String, u64>,
    /// Token totals of the requests written, per UTC day.
    pub tokens_by_day: BTreeMap<String, DayTokens>,
}

/// The report of one `goodhart import` run (`LAKE/_imports/import_report.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// The format imported.
    pub format: String,
    /// Where the hash key came from: `env:VAR` or `default` (the documented fixed key).
    pub hash_key: String,
    /// The output lake.
    pub lake: String,
    /// Per source file, in path order.
    pub files: Vec<FileReport>,
    /// Totals.
    pub totals: Totals,
    /// Distinct user ids of the events written in this run.
    pub users: Vec<String>,
    /// Source ids without a mapping in `--identities` (used as they are, normalised).
    pub unmapped_ids: Vec<String>,
    /// Warnings (default hash key, files without a user, ...).
    pub warnings: Vec<String>,
    /// The assumptions this format's reader makes (see `goodhart import --list`).
    pub assumptions: Vec<String>,
}

impl ImportReport {
    /// True when every file's accounting balances.
    pub fn balanced(&self) -> bool {
        self.files.iter().all(FileReport::balanced)
    }
}
