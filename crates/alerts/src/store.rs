//! The SQLite state store: alert lifecycle, outbox, feedback and pseudonym mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::config::LifecyclePolicy;
use crate::error::{AlertError, Result};
use crate::model::{sort_alerts, Alert, AlertCandidate, AlertStatus, Severity};
use crate::statefile::{
    backup_name, create_fresh, foreign_reason, inspect, move_aside, prune_backups, refusal,
    refuse_if_backups, Found, OpenMode, BACKUP_DIR,
};

/// File name of the state database inside the state directory.
pub const STATE_FILE: &str = "state.sqlite3";

/// SQLite `application_id` marking a goodhart alert state database ("GDHT").
pub const APPLICATION_ID: i32 = 0x4744_4854;

/// Newest state schema version this build understands.
pub const STATE_SCHEMA_VERSION: i64 = 5;

/// Ordered migrations: (version, description, SQL). Applied once each, in one transaction.
///
/// The `pseudonyms` table maps every pseudonym to the real value it stands for: user ids
/// (`p-…`), session ids (`s-…`) and cohort names (`c-…`); the prefix tells the kind.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema: alerts, outbox, feedback, pseudonyms",
        r#"
CREATE TABLE alerts (
    fingerprint   TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    pattern       TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    last_severity TEXT NOT NULL,
    last_score    REAL NOT NULL,
    last_status   TEXT NOT NULL CHECK (last_status IN ('new','ongoing','reopened')),
    status        TEXT NOT NULL CHECK (status IN ('open','resolved','suppressed')),
    ticket_ref    TEXT,
    resolved_at   TEXT
);
CREATE TABLE outbox (
    delivery_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    sink        TEXT NOT NULL CHECK (sink IN ('jira','webhook')),
    action      TEXT NOT NULL CHECK (action IN ('create','comment','post')),
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending','done','failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    done_at     TEXT,
    result      TEXT
);
CREATE INDEX outbox_state ON outbox(state);
CREATE TABLE feedback (
    id             INTEGER PRIMARY KEY,
    fingerprint    TEXT NOT NULL,
    verdict        TEXT NOT NULL CHECK (verdict IN ('false_positive','confirmed')),
    note           TEXT NOT NULL,
    at             TEXT NOT NULL,
    suppress_until TEXT
);
CREATE INDEX feedback_fingerprint ON feedback(fingerprint);
CREATE TABLE pseudonyms (
    pseudonym TEXT PRIMARY KEY,
    user_id   TEXT NOT NULL
);
CREATE TABLE fingerprint_aliases (
    alias       TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
"#,
    ),
    (
        2,
        "feedback.source: where a verdict came from (NULL: the CLI; jira:<KEY>: a resolved ticket)",
        "ALTER TABLE feedback ADD COLUMN source TEXT;",
    ),
    (
        3,
        "privacy: hash-chained audit log, four-eyes re-identification requests",
        crate::audit::MIGRATION_SQL,
    ),
    (
        4,
        "pseudonym_refs: which alert uses each pseudonym, so retention can purge session and cohort pseudonyms",
        PSEUDONYM_REFS_SQL,
    ),
    (
        5,
        "waste ledger: weekly waste per team and pattern (#11)",
        crate::ledger::MIGRATION_SQL,
    ),
];

/// Migration 4. Session (`s-`) and cohort (`c-`) pseudonyms stand for values the alerts
/// table does not hold, so retention needs to know which alerts use them. Pseudonyms that
/// predate this migration get their references back from the outbox payloads that still
/// carry them; those found in none keep no reference and are never purged automatically
/// (documented in the retention module).
const PSEUDONYM_REFS_SQL: &str = r#"
CREATE TABLE pseudonym_refs (
    pseudonym   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (pseudonym, fingerprint)
);
INSERT OR IGNORE INTO pseudonym_refs (pseudonym, fingerprint)
    SELECT p.pseudonym, o.fingerprint FROM pseudonyms p JOIN outbox o
    ON instr(o.payload, p.pseudonym) > 0 WHERE p.pseudonym NOT LIKE 'p-%';
"#;

/// A human verdict on an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not gaming: suppresses the fingerprint for `suppress_days`.
    #[serde(alias = "false-positive")]
    FalsePositive,
    /// Confirmed gaming (a positive label for evaluation); lifts an active suppression.
    Confirmed,
}

impl Verdict {
    /// `false_positive` / `confirmed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::FalsePositive => "false_positive",
            Verdict::Confirmed => "confirmed",
        }
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "false_positive" | "fp" => Ok(Verdict::FalsePositive),
            "confirmed" => Ok(Verdict::Confirmed),
            _ => Err(format!(
                "unknown verdict {s:?}; expected false_positive (or false-positive) or confirmed"
            )),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result of [`StateStore::record_ticket_verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedbackOutcome {
    /// Recorded; for a false positive, the day the suppression ends.
    Recorded(Option<NaiveDate>),
    /// This source already gave this verdict on this alert: nothing recorded.
    AlreadyRecorded,
    /// No alert with this fingerprint (or public fingerprint) in the state.
    UnknownFingerprint,
}

/// Persistent state of a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Being raised (or not yet resolved).
    Open,
    /// Not raised for `resolve_after_days`.
    Resolved,
    /// Marked false positive.
    Suppressed,
}

impl AlertState {
    /// `open` / `resolved` / `suppressed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Resolved => "resolved",
            AlertState::Suppressed => "suppressed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(AlertState::Open),
            "resolved" => Some(AlertState::Resolved),
            "suppressed" => Some(AlertState::Suppressed),
            _ => None,
        }
    }
}

/// One row of the `alerts` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Fingerprint (primary key).
    pub fingerprint: String,
    /// User.
    pub user_id: String,
    /// Pattern.
    pub pattern: String,
    /// First day raised.
    pub first_seen: NaiveDate,
    /// Last day raised.
    pub last_seen: NaiveDate,
    /// Severity when last raised.
    pub last_severity: Severity,
    /// Score when last raised.
    pub last_score: f64,
    /// Lifecycle status reported when last raised.
    pub last_status: AlertStatus,
    /// Persistent state.
    pub status: AlertState,
    /// Ticket key, if delivered to Jira.
    pub ticket_ref: Option<String>,
    /// Day it was resolved (or suppressed).
    pub resolved_at: Option<NaiveDate>,
}

/// A delivery target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sink {
    /// Jira Cloud.
    Jira,
    /// Signed webhook.
    Webhook,
}

impl Sink {
    /// `jira` / `webhook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Jira => "jira",
            Sink::Webhook => "webhook",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "jira" => Some(Sink::Jira),
            "webhook" => Some(Sink::Webhook),
            _ => None,
        }
    }
}

/// What a delivery does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create a ticket (after a label search; comments instead if an open one exists).
    Create,
    /// Comment on the alert's ticket (creates one if there is none).
    Comment,
    /// Webhook POST.
    Post,
}

impl Action {
    /// `create` / `comment` / `post`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Comment => "comment",
            Action::Post => "post",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Action::Create),
            "comment" => Some(Action::Comment),
            "post" => Some(Action::Post),
            _ => None,
        }
    }
}

/// State of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Recorded, not yet acknowledged by the sink.
    Pending,
    /// Acknowledged.
    Done,
    /// Rejected permanently (a 4xx other than 429); see `last_error`.
    Failed,
}

impl OutboxState {
    /// `pending` / `done` / `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(OutboxState::Pending),
            "done" => Some(OutboxState::Done),
            "failed" => Some(OutboxState::Failed),
            _ => None,
        }
    }
}

/// One row of the `outbox` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Deterministic id `<sink>-<fingerprint>-<YYYYMMDD of the scan>`; also the `webhook-id`.
    pub delivery_id: String,
    /// Alert fingerprint.
    pub fingerprint: String,
    /// Target.
    pub sink: Sink,
    /// Intended action.
    pub action: Action,
    /// JSON payload exactly as it will be (re)sent (already pseudonymised).
    pub payload: String,
    /// Delivery state.
    pub state: OutboxState,
    /// HTTP attempts made so far (all runs).
    pub attempts: u32,
    /// Last error summary (never contains credentials).
    pub last_error: Option<String>,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// When it was acknowledged (RFC 3339).
    pub done_at: Option<String>,
    /// Sink result, e.g. the Jira issue key.
    pub result: Option<String>,
}

/// How [`StateStore::reconcile_with`] runs; the default is what
/// [`StateStore::reconcile`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileOptions {
    /// Resolve open alerts not raised for `resolve_after_days` (default `true`).
    /// `false` for a run whose input looks incomplete: an alert missing from
    /// a partial night is not evidence that the behaviour stopped.
    pub auto_resolve: bool,
    /// Commit the changes (default `true`). `false` computes the same
    /// [`Reconciled`] and rolls back: a preview that changes nothing.
    pub commit: bool,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            auto_resolve: true,
            commit: true,
        }
    }
}

/// Result of [`StateStore::reconcile`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reconciled {
    /// Alerts raised in this scan, in canonical order (severity desc, score desc, fingerprint).
    pub alerts: Vec<Alert>,
    /// Candidates dropped because of an active false-positive suppression.
    pub suppressed: usize,
    /// Fingerprints resolved by this scan (sorted).
    pub resolved: Vec<String>,
}

/// The alert state database (`<state_dir>/state.sqlite3`, SQLite in WAL mode).
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

fn add_days(d: NaiveDate, days: u32) -> NaiveDate {
    d.checked_add_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

fn is_write_failure(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied)
    )
}

/// File beside the database whose advisory lock serialises deliveries.
pub(crate) const DELIVERY_LOCK_FILE: &str = "deliver.lock";

/// Guard of [`StateStore::delivery_lock`]: the lock is held while it lives.
#[derive(Debug)]
pub(crate) struct DeliveryLock {
    _file: std::fs::File,
}

impl StateStore {
    /// Open the state database in `dir`, creating it when there is none yet (first run):
    /// [`StateStore::open_with`] in [`OpenMode::CreateIfMissing`].
    pub fn open(dir: impl AsRef<Path>) -> Result<StateStore> {
        Self::open_with(dir, OpenMode::CreateIfMissing)
    }

    /// Open the state database in `dir` as `mode` allows.
    ///
    /// The database file is checked before anything is written (see [`StateStore::check`]):
    /// an empty (0-byte) file is [`AlertError::EmptyState`], a file that is not goodhart's
    /// ([`APPLICATION_ID`]) is [`AlertError::NotGoodhartDb`], and both are refused unless the
    /// mode is [`OpenMode::Init`], which moves such a file aside (renamed
    /// `state.sqlite3.refused-<UTC time>`, never deleted) and starts a new state. A new database
    /// is built under a temporary name and linked into place complete, so an interrupted first
    /// run never leaves a half-made state behind. Then WAL is enabled and pending migrations
    /// are applied. Other errors name the path: [`AlertError::StateNotWritable`] when the
    /// directory or file cannot be written, [`AlertError::StateMissing`] when the mode needs an
    /// existing database.
    pub fn open_with(dir: impl AsRef<Path>, mode: OpenMode) -> Result<StateStore> {
        let dir = dir.as_ref();
        let path = dir.join(STATE_FILE);
        match (inspect(dir)?, mode) {
            (Found::Ours, _) => {}
            (found, OpenMode::Init) => {
                if found != Found::Missing {
                    move_aside(&path)?;
                }
                create_fresh(dir)?;
            }
            (Found::Missing, OpenMode::CreateIfMissing) => {
                refuse_if_backups(dir)?;
                create_fresh(dir)?;
            }
            (found, mode) => return Err(refusal(dir, found, mode)),
        }
        Self::open_existing(path)
    }

    /// Check the state in `dir` for `mode` without creating or changing anything: `Ok` when
    /// [`StateStore::open_with`] would open or create it, otherwise the error it would return.
    /// `goodhart scan` runs this before reading any data.
    pub fn check(dir: impl AsRef<Path>, mode: OpenMode) -> Result<()> {
        let dir = dir.as_ref();
        match (inspect(dir)?, mode) {
            (Found::Ours, _) | (_, OpenMode::Init) => Ok(()),
            (Found::Missing, OpenMode::CreateIfMissing) => refuse_if_backups(dir),
            (found, mode) => Err(refusal(dir, found, mode)),
        }
    }

    fn open_existing(path: PathBuf) -> Result<StateStore> {
        let not_writable = |path: &Path, e: rusqlite::Error| AlertError::StateNotWritable {
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        // Never create: the file was checked (or made) just before.
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| not_writable(&path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| AlertError::Sqlite {
                path: path.clone(),
                source: e,
            })?;
        if let Some(reason) = foreign_reason(&conn, &path)? {
            return Err(AlertError::NotGoodhartDb { path, reason });
        }
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| not_writable(&path, e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| AlertError::Sqlite {
                path: path.clone(),
                source: e,
            })?;
        Self::migrate(&mut conn, &path)?;
        Ok(StateStore { conn, path })
    }

    pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
        let map = |e: rusqlite::Error| {
            if is_write_failure(&e) {
                AlertError::StateNotWritable {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                }
            } else {
                AlertError::Sqlite {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(map)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version     INTEGER PRIMARY KEY,
                 description TEXT NOT NULL,
                 applied_at  TEXT NOT NULL
             );",
        )
        .map_err(map)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(map)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(map)?;
        if current > STATE_SCHEMA_VERSION {
            return Err(AlertError::SchemaTooNew {
                path: path.to_path_buf(),
                found: current,
                supported: STATE_SCHEMA_VERSION,
            });
        }
        for (version, description, sql) in MIGRATIONS {
            if *version > current {
                tx.execute_batch(sql).map_err(map)?;
                tx.execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, ?3)",
                    params![version, description, Utc::now().to_rfc3339()],
                )
                .map_err(map)?;
            }
        }
        tx.commit().map_err(map)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    /// The open connection (for the privacy modules: audit, retention, subject access).
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub(crate) fn sql(&self, e: rusqlite::Error) -> AlertError {
        sql_err(&self.path, e)
    }

    /// Apply the lifecycle to this scan's candidates, in one transaction.
    ///
    /// Rules, with `gap = as_of - last_seen` in whole days:
    ///
    /// * duplicate candidates of one fingerprint: the highest (severity, score) wins, ties go to
    ///   the first in input order;
    /// * active false-positive suppression (latest verdict is false-positive, given on or before
    ///   `as_of`, and `as_of < suppress_until`): the candidate is dropped and counted in
    ///   [`Reconciled::suppressed`]; its state is left untouched;
    /// * unseen fingerprint: `New`;
    /// * open, `as_of <= last_seen` (a re-run of the same day): the status reported then is
    ///   repeated (idempotent re-runs), severity and score are refreshed;
    /// * open or resolved, `gap >= resolve_after_days` and `gap >= reopen_quiet_days`:
    ///   `Reopened`; the ticket reference is cleared (a new ticket will be created unless the
    ///   old one is still open in Jira). An open alert with such a gap counts as resolved even
    ///   if no scan ran in between, so the outcome does not depend on how often scans run;
    /// * otherwise open or resolved: `Ongoing` (status back to open, same ticket);
    /// * suppressed whose suppression has expired: `Reopened`;
    /// * an open alert not raised in this scan with `gap >= resolve_after_days` is resolved
    ///   (`resolved_at = as_of`) and listed in [`Reconciled::resolved`].
    ///
    /// `last_seen` becomes `max(last_seen, as_of)` for every raised alert.
    pub fn reconcile(
        &mut self,
        candidates: &[AlertCandidate],
        as_of: NaiveDate,
        policy: &LifecyclePolicy,
    ) -> Result<Reconciled> {
        self.reconcile_with(candidates, as_of, policy, ReconcileOptions::default())
    }

    /// [`StateStore::reconcile`] with options: without auto-resolution (an
    /// incomplete night), or as a preview that is rolled back.
    // One piece: one night's lifecycle (match, open, re-raise, suppress, resolve) in one
    // transaction; every step reads and updates the same maps of open alerts.
    pub fn reconcile_with(
        &mut self,
        candidates: &[AlertCandidate],
        as_of: NaiveDate,
        policy: &LifecyclePolicy,
        options: ReconcileOptions,
    ) -> Result<Reconciled> {
        let mut best: BTreeMap<String, &AlertCandidate> = BTreeMap::new();
        for c in candidates {
            validate_candidate(c)?;
            let fp = c.fingerprint();
            match best.get(&fp) {
                Some(prev)
                    if (prev.severity, prev.score)
                        .partial_cmp(&(c.severity, c.score))
                        .is_some_and(|o| o.is_ge()) => {}
                _ => {
                    best.insert(fp, c);
                }
            }
        }
        let path = self.path.clone();
        let err = |e| sql_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut out = Reconciled::default();
        let mut raised: BTreeSet<String> = BTreeSet::new();
        for (fp, cand) in &best {
            if active_suppression(&tx, fp, as_of).map_err(err)?.is_some() {
                out.suppressed += 1;
                continue;
            }
            raised.insert(fp.clone());
            let row = load_record(&tx, &path, fp)?;
            let (status, first_seen, last_seen, ticket) = match row {
                None => {
                    tx.execute(
                        "INSERT INTO alerts (fingerprint, user_id, pattern, first_seen, last_seen,
                             last_severity, last_score, last_status, status, ticket_ref, resolved_at)
                         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, 'new', 'open', NULL, NULL)",
                        params![
                            fp,
                            cand.user_id,
                            cand.pattern,
                            fmt_date(as_of),
                            cand.severity.as_str(),
                            cand.score
                        ],
                    )
                    .map_err(err)?;
                    (AlertStatus::New, as_of, as_of, None)
                }
                Some(r) => {
                    let gap = days_between(r.last_seen, as_of);
                    let quiet_enough = gap >= i64::from(policy.reopen_quiet_days)
                        && gap >= i64::from(policy.resolve_after_days);
                    let (status, clear_ticket) = match r.status {
                        AlertState::Open if as_of <= r.last_seen => (r.last_status, false),
                        AlertState::Open | AlertState::Resolved if quiet_enough => {
                            (AlertStatus::Reopened, true)
                        }
                        AlertState::Open | AlertState::Resolved => (AlertStatus::Ongoing, false),
                        AlertState::Suppressed => (AlertStatus::Reopened, true),
                    };
                    let last_seen = r.last_seen.max(as_of);
                    let ticket = if clear_ticket { None } else { r.ticket_ref };
                    tx.execute(
                        "UPDATE alerts SET last_seen = ?2, last_severity = ?3, last_score = ?4,
                             last_status = ?5, status = 'open', ticket_ref = ?6, resolved_at = NULL
                         WHERE fingerprint = ?1",
                        params![
                            fp,
                            fmt_date(last_seen),
                            cand.severity.as_str(),
                            cand.score,
                            status.as_str(),
                            ticket
                        ],
                    )
                    .map_err(err)?;
                    (status, r.first_seen, last_seen, ticket)
                }
            };
            out.alerts.push(Alert {
                fingerprint: fp.clone(),
                status,
                first_seen,
                last_seen,
                ticket,
                candidate: (*cand).clone(),
            });
        }
        // Resolve open alerts that were not raised for long enough.
        let open: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT fingerprint, last_seen FROM alerts WHERE status = 'open' ORDER BY fingerprint",
                )
                .map_err(err)?;
            let rows = stmt.query_map([], |r| r.try_into()).map_err(err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(err)?
        };
        for (fp, last_seen) in open {
            if raised.contains(&fp) || !options.auto_resolve {
                continue;
            }
            let last_seen = parse_date(&path, "alerts.last_seen", &last_seen)?;
            if days_between(last_seen, as_of) >= i64::from(policy.resolve_after_days) {
                tx.execute(
                    "UPDATE alerts SET status = 'resolved', resolved_at = ?2 WHERE fingerprint = ?1",
                    params![fp, fmt_date(as_of)],
                )
                .map_err(err)?;
                out.resolved.push(fp);
            }
        }
        if options.commit {
            tx.commit().map_err(err)?;
        } else {
            tx.rollback().map_err(err)?;
        }
        sort_alerts(&mut out.alerts);
        Ok(out)
    }

    /// Record a human verdict on an alert, given by its fingerprint or by the public fingerprint
    /// shown in pseudonymised tickets. A false positive suppresses the fingerprint until
    /// `at + policy.suppress_days` (returned) and marks the alert suppressed; a confirmation
    /// lifts a suppression (the alert is open again, same ticket).
    ///
    /// Fails with [`AlertError::UnknownFingerprint`] for fingerprints never raised.
    pub fn record_feedback(
        &mut self,
        fingerprint: &str,
        verdict: Verdict,
        note: &str,
        at: NaiveDate,
        policy: &LifecyclePolicy,
    ) -> Result<Option<NaiveDate>> {
        match self.insert_feedback(fingerprint, verdict, note, at, policy, None)? {
            FeedbackOutcome::Recorded(until) => Ok(until),
            // Only verdicts with a source are ever skipped.
            FeedbackOutcome::AlreadyRecorded => Ok(None),
            FeedbackOutcome::UnknownFingerprint => Err(AlertError::UnknownFingerprint {
                fingerprint: fingerprint.to_string(),
            }),
        }
    }

    /// Record the verdict of a Jira ticket resolved by a reviewer, like
    /// [`StateStore::record_feedback`], once: when the latest verdict recorded from this ticket
    /// is the same, nothing is recorded (the check and the insert are one transaction); a
    /// ticket re-resolved with another verdict records the new one. `fingerprint` may be the
    /// public fingerprint of a pseudonymised ticket.
    pub fn record_ticket_verdict(
        &mut self,
        fingerprint: &str,
        ticket: &str,
        verdict: Verdict,
        note: &str,
        at: NaiveDate,
        policy: &LifecyclePolicy,
    ) -> Result<FeedbackOutcome> {
        let source = format!("jira:{ticket}");
        self.insert_feedback(fingerprint, verdict, note, at, policy, Some(&source))
    }

    fn insert_feedback(
        &mut self,
        fingerprint: &str,
        verdict: Verdict,
        note: &str,
        at: NaiveDate,
        policy: &LifecyclePolicy,
        source: Option<&str>,
    ) -> Result<FeedbackOutcome> {
        let path = self.path.clone();
        let err = |e| sql_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let record = match load_record(&tx, &path, fingerprint)? {
            Some(r) => r,
            None => {
                let alias: Option<String> = tx
                    .query_row(
                        "SELECT fingerprint FROM fingerprint_aliases WHERE alias = ?1",
                        [fingerprint],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(err)?;
                match alias.map(|fp| load_record(&tx, &path, &fp)).transpose()? {
                    Some(Some(r)) => r,
                    _ => return Ok(FeedbackOutcome::UnknownFingerprint),
                }
            }
        };
        let fingerprint = record.fingerprint.as_str();
        if let Some(source) = source {
            // The latest verdict this source gave on this alert: the same one is not repeated;
            // a changed one (a ticket re-resolved differently) is a new verdict.
            let last: Option<String> = tx
                .query_row(
                    "SELECT verdict FROM feedback WHERE fingerprint = ?1 AND source = ?2
                     ORDER BY id DESC LIMIT 1",
                    params![fingerprint, source],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if last.as_deref() == Some(verdict.as_str()) {
                return Ok(FeedbackOutcome::AlreadyRecorded);
            }
        }
        let until = match verdict {
            Verdict::FalsePositive => Some(add_days(at, policy.suppress_days)),
            Verdict::Confirmed => None,
        };
        tx.execute(
            "INSERT INTO feedback (fingerprint, verdict, note, at, suppress_until, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                fingerprint,
                verdict.as_str(),
                note,
                fmt_date(at),
                until.map(fmt_date),
                source
            ],
        )
        .map_err(err)?;
        match verdict {
            Verdict::FalsePositive => {
                tx.execute(
                    "UPDATE alerts SET status = 'suppressed', resolved_at = ?2 WHERE fingerprint = ?1",
                    params![fingerprint, fmt_date(at)],
                )
                .map_err(err)?;
            }
            Verdict::Confirmed if record.status == AlertState::Suppressed => {
                tx.execute(
                    "UPDATE alerts SET status = 'open', resolved_at = NULL WHERE fingerprint = ?1",
                    params![fingerprint],
                )
                .map_err(err)?;
            }
            Verdict::Confirmed => {}
        }
        tx.commit().map_err(err)?;
        Ok(FeedbackOutcome::Recorded(until))
    }

    /// Copy the whole database, consistently, with SQLite's online backup API to
    /// `<state dir>/backups/state-<now, UTC>.sqlite3` (written under a temporary name, synced,
    /// then renamed), and delete all but the newest `keep` backups. `keep = 0` takes no backup.
    /// Returns the new backup's path.
    pub fn backup(&self, now: DateTime<Utc>, keep: usize) -> Result<Option<PathBuf>> {
        if keep == 0 {
            return Ok(None);
        }
        let state_dir = self.path.parent().unwrap_or(Path::new("."));
        let dir = state_dir.join(BACKUP_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| AlertError::StateNotWritable {
            path: dir.clone(),
            source: Box::new(e),
        })?;
        let name = backup_name(now);
        let target = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| AlertError::StateNotWritable {
            path: tmp.clone(),
            source: e,
        };
        self.conn
            .backup(rusqlite::MAIN_DB, &tmp, None)
            .map_err(|e| failed(Box::new(e)))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| failed(Box::new(e)))?;
        std::fs::rename(&tmp, &target).map_err(|e| failed(Box::new(e)))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        prune_backups(state_dir, keep)?;
        Ok(Some(target))
    }

    /// Latest verdict per fingerprint as `(user_id, pattern, verdict)`, sorted by user then
    /// pattern: labels for evaluation.
    pub fn feedback_labels(&self) -> Result<Vec<(String, String, Verdict)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.user_id, a.pattern, f.verdict FROM feedback f
                 JOIN alerts a ON a.fingerprint = f.fingerprint
                 WHERE f.id = (SELECT f2.id FROM feedback f2 WHERE f2.fingerprint = f.fingerprint
                               ORDER BY f2.at DESC, f2.id DESC LIMIT 1)
                 ORDER BY a.user_id, a.pattern",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| <(String, String, String)>::try_from(r))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (u, p, v) = row.map_err(|e| self.sql(e))?;
            let v = v.parse().map_err(|_| AlertError::CorruptState {
                path: self.path.clone(),
                what: "feedback.verdict",
                value: v,
            })?;
            out.push((u, p, v));
        }
        Ok(out)
    }

    /// End of the active false-positive suppression of a fingerprint on `as_of`, if any.
    pub fn suppressed_until(
        &self,
        fingerprint: &str,
        as_of: NaiveDate,
    ) -> Result<Option<NaiveDate>> {
        match active_suppression(&self.conn, fingerprint, as_of).map_err(|e| self.sql(e))? {
            Some(s) => Ok(Some(parse_date(&self.path, "feedback.suppress_until", &s)?)),
            None => Ok(None),
        }
    }

    /// Remember which user a pseudonym stands for (done by delivery for every sent alert).
    pub fn record_pseudonym(&self, pseudonym: &str, user_id: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO pseudonyms (pseudonym, user_id) VALUES (?1, ?2)",
                params![pseudonym, user_id],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The user behind a pseudonym used in an outbound payload (`goodhart whois`).
    pub fn whois(&self, pseudonym: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT user_id FROM pseudonyms WHERE pseudonym = ?1",
                [pseudonym.trim()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// The internal fingerprint for a fingerprint or a public (pseudonymised) fingerprint alias.
    pub fn resolve_fingerprint(&self, fingerprint_or_alias: &str) -> Result<Option<String>> {
        let key = fingerprint_or_alias.trim();
        if self.alert_record(key)?.is_some() {
            return Ok(Some(key.to_string()));
        }
        self.conn
            .query_row(
                "SELECT fingerprint FROM fingerprint_aliases WHERE alias = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Alias of [`StateStore::whois`].
    pub fn lookup_pseudonym(&self, pseudonym: &str) -> Result<Option<String>> {
        self.whois(pseudonym)
    }

    /// The state row of one fingerprint.
    pub fn alert_record(&self, fingerprint: &str) -> Result<Option<AlertRecord>> {
        load_record(&self.conn, &self.path, fingerprint)
    }

    /// All state rows, sorted by fingerprint.
    pub fn alert_records(&self) -> Result<Vec<AlertRecord>> {
        let fps: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT fingerprint FROM alerts ORDER BY fingerprint")
                .map_err(|e| self.sql(e))?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.sql(e))?;
            rows.collect::<std::result::Result<_, _>>()
                .map_err(|e| self.sql(e))?
        };
        let mut out = Vec::with_capacity(fps.len());
        for fp in fps {
            if let Some(r) = self.alert_record(&fp)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// All outbox entries in delivery order (oldest first).
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox_where("1 = 1")
    }

    /// Takes the cross-process delivery lock of this state directory (an
    /// exclusive advisory lock on `deliver.lock` beside the database), waiting
    /// up to `timeout` for another holder. Released when the guard drops, and
    /// by the operating system if the process dies.
    pub(crate) fn delivery_lock(&self, timeout: std::time::Duration) -> Result<DeliveryLock> {
        let path = self.path.with_file_name(DELIVERY_LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| AlertError::StateNotWritable {
                path: path.clone(),
                source: Box::new(e),
            })?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DeliveryLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if started.elapsed() >= timeout {
                        return Err(AlertError::DeliveryLocked {
                            path,
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(AlertError::StateNotWritable {
                        path,
                        source: Box::new(e),
                    })
                }
            }
        }
    }

    /// Pending outbox entries in delivery order (oldest first).
    pub fn pending(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox_where("state = 'pending'")
    }

    fn outbox_where(&self, filter: &str) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT delivery_id, fingerprint, sink, action, payload, state, attempts, last_error,
                    created_at, done_at, result
             FROM outbox WHERE {filter} ORDER BY rowid"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sql(e))?;
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            u32,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
        );
        let rows = stmt
            .query_map([], |r| r.try_into())
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let row: Row = row.map_err(|e| self.sql(e))?;
            let corrupt = |what: &'static str, value: &str| AlertError::CorruptState {
                path: self.path.clone(),
                what,
                value: value.to_string(),
            };
            out.push(OutboxEntry {
                sink: Sink::parse(&row.2).ok_or_else(|| corrupt("outbox.sink", &row.2))?,
                action: Action::parse(&row.3).ok_or_else(|| corrupt("outbox.action", &row.3))?,
                state: OutboxState::parse(&row.5).ok_or_else(|| corrupt("outbox.state", &row.5))?,
                delivery_id: row.0,
                fingerprint: row.1,
                payload: row.4,
                attempts: row.6,
                last_error: row.7,
                created_at: row.8,
                done_at: row.9,
                result: row.10,
            });
        }
        Ok(out)
    }

    /// Record deliveries as pending (ignoring ids already present: re-runs of the same scan day
    /// do not duplicate deliveries). Returns how many were new.
    pub(crate) fn enqueue(
        &mut self,
        entries: &[(String, String, Sink, Action, String)],
        pseudonyms: &[(String, String, String)],
        aliases: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let path = self.path.clone();
        let err = |e| sql_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut added = 0;
        for (id, fp, sink, action, payload) in entries {
            added += tx
                .execute(
                    "INSERT OR IGNORE INTO outbox (delivery_id, fingerprint, sink, action, payload,
                         state, attempts, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6)",
                    params![
                        id,
                        fp,
                        sink.as_str(),
                        action.as_str(),
                        payload,
                        now.to_rfc3339()
                    ],
                )
                .map_err(err)?;
        }
        for (p, u, fp) in pseudonyms {
            tx.execute(
                "INSERT OR REPLACE INTO pseudonyms (pseudonym, user_id) VALUES (?1, ?2)",
                params![p, u],
            )
            .map_err(err)?;
            // A user pseudonym's alerts are found by its user id; only session and
            // cohort pseudonyms need their alerts recorded.
            if !p.starts_with("p-") {
                tx.execute(
                    "INSERT OR IGNORE INTO pseudonym_refs (pseudonym, fingerprint) VALUES (?1, ?2)",
                    params![p, fp],
                )
                .map_err(err)?;
            }
        }
        for (alias, fp) in aliases {
            tx.execute(
                "INSERT OR REPLACE INTO fingerprint_aliases (alias, fingerprint) VALUES (?1, ?2)",
                params![alias, fp],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Mark a delivery done (and, for Jira, store the ticket key on the alert) atomically.
    pub(crate) fn mark_done(
        &mut self,
        entry: &OutboxEntry,
        attempts: u32,
        result: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let path = self.path.clone();
        let err = |e| sql_err(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE outbox SET state = 'done', attempts = attempts + ?2, done_at = ?3, result = ?4,
                 last_error = NULL
             WHERE delivery_id = ?1",
            params![entry.delivery_id, attempts, now.to_rfc3339(), result],
        )
        .map_err(err)?;
        if entry.sink == Sink::Jira {
            if let Some(key) = result {
                tx.execute(
                    "UPDATE alerts SET ticket_ref = ?2 WHERE fingerprint = ?1",
                    params![entry.fingerprint, key],
                )
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Record a failed attempt: `failed = true` marks it permanently failed, otherwise it stays
    /// pending for the next run.
    pub(crate) fn mark_attempt_failed(
        &self,
        delivery_id: &str,
        attempts: u32,
        error: &str,
        failed: bool,
    ) -> Result<()> {
        let state = if failed {
            OutboxState::Failed
        } else {
            OutboxState::Pending
        };
        self.conn
            .execute(
                "UPDATE outbox SET state = ?2, attempts = attempts + ?3, last_error = ?4
                 WHERE delivery_id = ?1",
                params![delivery_id, state.as_str(), attempts, error],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Put a delivery (typically a failed one, after fixing the configuration) back to pending
    /// so the next delivery run sends it. Returns whether the id existed.
    pub fn requeue(&self, delivery_id: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET state = 'pending', done_at = NULL WHERE delivery_id = ?1",
                [delivery_id],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }

    /// The fingerprint of the alert a Jira ticket belongs to, from the ticket keys the state
    /// recorded (current ticket, or any delivery acknowledged with that key).
    pub fn fingerprint_of_ticket(&self, ticket: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT fingerprint FROM alerts WHERE ticket_ref = ?1
                 UNION ALL
                 SELECT fingerprint FROM outbox WHERE sink = 'jira' AND result = ?1
                 LIMIT 1",
                [ticket],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Ticket key recorded for a fingerprint.
    pub fn ticket(&self, fingerprint: &str) -> Result<Option<String>> {
        Ok(self.alert_record(fingerprint)?.and_then(|r| r.ticket_ref))
    }
}

pub(crate) fn sql_err(path: &Path, e: rusqlite::Error) -> AlertError {
    if is_write_failure(&e) {
        AlertError::StateNotWritable {
            path: path.to_path_buf(),
            source: Box::new(e),
        }
    } else {
        AlertError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

pub(crate) fn parse_date(path: &Path, what: &'static str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| AlertError::CorruptState {
        path: path.to_path_buf(),
        what,
        value: s.to_string(),
    })
}

fn validate_candidate(c: &AlertCandidate) -> Result<()> {
    let bad = |reason: String| AlertError::InvalidCandidate {
        user_id: c.user_id.clone(),
        pattern: c.pattern.clone(),
        reason,
    };
    if c.user_id.is_empty() {
        return Err(bad("empty user_id".into()));
    }
    if c.pattern.is_empty() {
        return Err(bad("empty pattern".into()));
    }
    if !c.score.is_finite() || !(0.0..=100.0).contains(&c.score) {
        return Err(bad(format!("score {} is not within 0-100", c.score)));
    }
    if c.window.start > c.window.end {
        return Err(bad(format!(
            "window start {} is after end {}",
            c.window.start, c.window.end
        )));
    }
    Ok(())
}

/// `suppress_until` of the latest verdict if it is an active false-positive suppression.
fn active_suppression(
    conn: &Connection,
    fingerprint: &str,
    as_of: NaiveDate,
) -> rusqlite::Result<Option<String>> {
    let day = fmt_date(as_of);
    let latest: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT verdict, suppress_until FROM feedback
             WHERE fingerprint = ?1 AND at <= ?2
             ORDER BY at DESC, id DESC LIMIT 1",
            params![fingerprint, day],
            |r| r.try_into(),
        )
        .optional()?;
    Ok(match latest {
        Some((v, Some(until))) if v == "false_positive" && day < until => Some(until),
        _ => None,
    })
}

fn load_record(conn: &Connection, path: &Path, fingerprint: &str) -> Result<Option<AlertRecord>> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        f64,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT user_id, pattern, first_seen, last_seen, last_severity, last_score, last_status,
                    status, ticket_ref, resolved_at
             FROM alerts WHERE fingerprint = ?1",
            [fingerprint],
            |r| {
                r.try_into()
            },
        )
        .optional()
        .map_err(|e| sql_err(path, e))?;
    let Some(r) = row else { return Ok(None) };
    let corrupt = |what: &'static str, value: &str| AlertError::CorruptState {
        path: path.to_path_buf(),
        what,
        value: value.to_string(),
    };
    Ok(Some(AlertRecord {
        fingerprint: fingerprint.to_string(),
        first_seen: parse_date(path, "alerts.first_seen", &r.2)?,
        last_seen: parse_date(path, "alerts.last_seen", &r.3)?,
        last_severity: r
            .4
            .parse()
            .map_err(|_| corrupt("alerts.last_severity", &r.4))?,
        last_score: r.5,
        last_status: r
            .6
            .parse()
            .map_err(|_| corrupt("alerts.last_status", &r.6))?,
        status: AlertState::parse(&r.7).ok_or_else(|| corrupt("alerts.status", &r.7))?,
        ticket_ref: r.8,
        resolved_at: r
            .9
            .as_deref()
            .map(|s| parse_date(path, "alerts.resolved_at", s))
            .transpose()?,
        user_id: r.0,
        pattern: r.1,
    }))
}
