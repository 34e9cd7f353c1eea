//! What a format parser hands to the common core: candidate events and the
//! accounting of every record of one source file.

use goodhart_schema::EventKind;
use std::collections::BTreeMap;

/// Earliest accepted event time (2000-01-01T00:00:00Z), microseconds.
pub(crate) const MIN_TS_US: i64 = 946_684_800_000_000;
/// Latest accepted event time (2100-01-01T00:00:00Z), microseconds.
pub(crate) const MAX_TS_US: i64 = 4_102_444_800_000_000;
/// Token counts above this on one record are quarantined as absurd.
pub(crate) const MAX_TOKENS: u64 = 1_000_000_000;

/// One candidate event in canonical form, plus import bookkeeping.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Ev {
    pub ts_us: i64,
    /// Source-side user id (before identity mapping); `None`: the file's user.
    pub user: Option<String>,
    /// Session id; empty: sessionise on idle gaps.
    pub session: String,
    pub kind: Option<EventKind>,
    pub agent: Option<String>,
    pub parent: Option<String>,
    pub model: Option<String>,
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub task_hash: Option<String>,
    pub context_hash: Option<String>,
    pub change_id: Option<String>,
    pub lines: Option<u64>,
    pub cost_usd: Option<f64>,
    /// Schema v1.1 count column: this row stands for `n` events.
    pub n: Option<u64>,
    /// 1-based record number (line or row) in the source file.
    pub line: u64,
    /// Dedup key (hash of the source's own event id or a content key);
    /// 0 = never deduplicated.
    pub key: u64,
    /// Secondary dedup group (Claude Code: the message id, for sidechain
    /// replays); 0 = none.
    pub group: u64,
    /// Line was a sidechain (a sub-agent's) line.
    pub sidechain: bool,
    /// Preference among duplicates: larger wins (after non-sidechain).
    pub weight: u64,
}

impl Ev {
    pub(crate) fn kind(&self) -> EventKind {
        self.kind.unwrap_or(EventKind::Request)
    }
}

/// The parse of one source file (or of its appended tail).
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub events: Vec<Ev>,
    /// Records (lines, rows, page items) read.
    pub records: u64,
    /// Records that produced at least one candidate event.
    pub used_lines: Vec<u64>,
    /// Records skipped by design, per kind.
    pub skipped: BTreeMap<String, u64>,
    /// Records quarantined: `(record number, reason)`.
    pub quarantined: Vec<(u64, String)>,
    /// Byte offset up to which the file was consumed (complete lines only).
    pub offset: u64,
    /// Record number of the last record consumed.
    pub last_line: u64,
    /// File line of a quarantined record, where records are not lines
    /// (page items, OTLP log records and spans): record number -> line.
    pub source_lines: BTreeMap<u64, u64>,
}

impl Parsed {
    pub(crate) fn skip(&mut self, kind: &str) {
        *self.skipped.entry(kind.to_string()).or_insert(0) += 1;
    }

    pub(crate) fn quarantine(&mut self, line: u64, reason: impl Into<String>) {
        self.quarantined.push((line, reason.into()));
    }

    /// Quarantines record `rec`, found on file line `line`.
    pub(crate) fn quarantine_at(&mut self, rec: u64, line: u64, reason: impl Into<String>) {
        self.source_lines.insert(rec, line);
        self.quarantine(rec, reason);
    }

    /// Counts one more record and returns its number.
    pub(crate) fn next_record(&mut self) -> u64 {
        self.records += 1;
        self.records
    }
}

/// Parses an RFC 3339 timestamp into UTC microseconds within sane bounds.
pub(crate) fn parse_ts(s: &str) -> Result<i64, &'static str> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map_err(|_| "bad_timestamp")?
        .timestamp_micros();
    check_ts(t)
}

/// Checks a timestamp against [`MIN_TS_US`], [`MAX_TS_US`].
pub(crate) fn check_ts(t: i64) -> Result<i64, &'static str> {
    if (MIN_TS_US..MAX_TS_US).contains(&t) {
        Ok(t)
    } else {
        Err("timestamp_out_of_bounds")
    }
}

/// A token count from JSON: absent/null -> None, negative -> error,
/// absurd -> error, strings holding integers accepted (OTel).
pub(crate) fn tokens(v: Option<&serde_json::Value>) -> Result<Option<u64>, &'static str> {
    let n = match v {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                u as i128
            } else if let Some(i) = n.as_i64() {
                i as i128
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() || f.fract() != 0.0 {
                    return Err("bad_token_count");
                }
                f as i128
            }
        }
        Some(serde_json::Value::String(s)) => match s.trim().parse::<i128>() {
            Ok(i) => i,
            Err(_) => return Err("bad_token_count"),
        },
        Some(_) => return Err("bad_token_count"),
    };
    if n < 0 {
        Err("negative_tokens")
    } else if n > MAX_TOKENS as i128 {
        Err("absurd_tokens")
    } else {
        Ok(Some(n as u64))
    }
}
