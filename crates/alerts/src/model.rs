//! The alert data model: severities, evidence, candidates, alerts, fingerprints and JSONL output.

use std::cmp::Ordering;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{AlertError, Result};

pub use goodhart_core::{Evidence, Severity};

/// Inclusive date window the alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First day (inclusive, UTC).
    pub start: NaiveDate,
    /// Last day (inclusive, UTC).
    pub end: NaiveDate,
}

impl From<goodhart_core::Window> for Window {
    /// The analysis window's days, first to last.
    fn from(w: goodhart_core::Window) -> Window {
        Window {
            start: w.first_day(),
            end: w.as_of,
        }
    }
}

/// What the detector raises: one suspect pattern of one user, before lifecycle tracking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertCandidate {
    /// The person (real id; pseudonymised only in outbound payloads).
    pub user_id: String,
    /// Peer cohort the user was compared with (default: team).
    pub cohort: String,
    /// Primary pattern key, e.g. `redundant-agent-spawns`.
    pub pattern: String,
    /// Severity.
    pub severity: Severity,
    /// Score, 0-100.
    pub score: f64,
    /// Window the evidence covers.
    pub window: Window,
    /// Explanations, most important first.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

impl AlertCandidate {
    /// The candidate's stable [`fingerprint`].
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.user_id, &self.pattern)
    }
}

/// Lifecycle status of an alert in one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// First time this user + pattern is raised.
    New,
    /// Raised again while open (or within the reopen quiet period after resolution).
    Ongoing,
    /// Raised again after it had been resolved for at least the quiet period,
    /// or after a false-positive suppression expired.
    Reopened,
}

impl AlertStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Ongoing => "ongoing",
            AlertStatus::Reopened => "reopened",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "new" => Ok(AlertStatus::New),
            "ongoing" => Ok(AlertStatus::Ongoing),
            "reopened" => Ok(AlertStatus::Reopened),
            other => Err(format!("unknown alert status {other:?}")),
        }
    }
}

/// A tracked alert: a candidate plus its lifecycle. One JSON object per line in `alerts.jsonl`.
///
/// The candidate's fields are flattened into the same JSON object:
/// `{"fingerprint", "status", "first_seen", "last_seen", "ticket", "user_id", "cohort",
/// "pattern", "severity", "score", "window": {"start", "end"}, "evidence": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id of user + pattern, see [`fingerprint`].
    pub fingerprint: String,
    /// Lifecycle status in this scan.
    pub status: AlertStatus,
    /// Day the fingerprint was first raised.
    pub first_seen: NaiveDate,
    /// Day it was last raised (the scan's `as_of`).
    pub last_seen: NaiveDate,
    /// Ticket key (e.g. Jira `GOV-12`) once delivered.
    pub ticket: Option<String>,
    /// The detector's candidate.
    #[serde(flatten)]
    pub candidate: AlertCandidate,
}

/// Stable alert fingerprint of a user + pattern.
///
/// Definition (frozen, never changes between runs or versions): the XXH3-64 hash (seed 0) of the
/// bytes `"v1" 0x00 user_id 0x00 pattern`, formatted as 16 lowercase hex digits.
///
/// ```
/// // Frozen values (computed independently with Python's `xxhash.xxh3_64`):
/// // a change of the definition breaks every ticket label in the field.
/// assert_eq!(goodhart_alerts::fingerprint("alice", "redundant-agent-spawns"), "4d70fe386b1cd15e");
/// assert_eq!(goodhart_alerts::fingerprint("alice", "prompt-loops"), "57ade33a00358bc5");
/// ```
pub fn fingerprint(user_id: &str, pattern: &str) -> String {
    let mut buf = Vec::with_capacity(4 + user_id.len() + pattern.len());
    buf.extend_from_slice(b"v1\0");
    buf.extend_from_slice(user_id.as_bytes());
    buf.push(0);
    buf.extend_from_slice(pattern.as_bytes());
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&buf))
}

/// The canonical output order: severity descending, score descending, fingerprint ascending.
pub fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    b.candidate
        .severity
        .cmp(&a.candidate.severity)
        .then_with(|| b.candidate.score.total_cmp(&a.candidate.score))
        .then_with(|| a.fingerprint.cmp(&b.fingerprint))
}

/// Sort alerts into the canonical output order ([`alert_order`]).
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(alert_order);
}

/// The bytes of an `alerts.jsonl`: one JSON object per alert, one per line.
pub fn to_jsonl(alerts: &[Alert]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for a in alerts {
        serde_json::to_writer(&mut out, a).map_err(|e| AlertError::Json {
            what: format!("alert {}", a.fingerprint),
            source: e,
        })?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Write alerts as JSON Lines (one object per line) atomically: the lines go to a temporary file
/// in the same directory, which is flushed, synced and renamed over `path`. Readers therefore see
/// either the old or the new file, never a partial one. Missing parent directories are created.
pub fn write_jsonl(path: impl AsRef<Path>, alerts: &[Alert]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| AlertError::io(&dir, e))?;
    let bytes = to_jsonl(alerts)?;
    goodhart_core::write_atomic(path, |mut f| {
        f.write_all(&bytes).map_err(|e| AlertError::io(path, e))?;
        Ok(f)
    })
}

/// Read an `alerts.jsonl` file written by [`write_jsonl`] (blank lines are skipped).
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<Alert>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| AlertError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| AlertError::Json {
                what: format!("{} line {}", path.display(), i + 1),
                source: e,
            })
        })
        .collect()
}
