//! Alert lifecycle, state store and delivery sinks for goodhart.
//!
//! The detector produces [`AlertCandidate`]s (one suspect pattern of one user, with evidence).
//! This crate turns them into tracked [`Alert`]s and delivers them:
//!
//! 1. **Lifecycle** — [`StateStore::reconcile`] compares the scan's candidates with the
//!    SQLite state in `<state_dir>/state.sqlite3` and marks each alert `New`, `Ongoing` or
//!    `Reopened`; alerts not raised for `resolve_after_days` are resolved; fingerprints marked
//!    false positive ([`StateStore::record_feedback`]) are suppressed for `suppress_days`.
//!    Alerts are identified by a frozen [`fingerprint`] of user + pattern.
//! 2. **Output** — [`write_jsonl`] writes `alerts.jsonl` atomically (internal: real user ids).
//! 3. **Delivery** — [`deliver()`] sends alerts to Jira Cloud (label search, then create or
//!    comment, ADF bodies) and/or a Standard Webhooks signed endpoint, through a transactional
//!    outbox with retries, so a delivery happens once even across crashes and outages.
//!    With `[privacy] pseudonymize = true` outbound payloads carry [`pseudonym`]s instead of
//!    user ids and [`session_pseudonym`]s instead of session ids (also inside free text; a
//!    payload that would still hold one is not sent); [`StateStore::whois`] maps them back.
//! 4. **Verdicts from Jira** — [`sync_jira_verdicts`] reads goodhart's resolved tickets and
//!    records their resolution as a verdict (`[jira] resolution_verdicts`), once per ticket.
//! 5. **State safety** — [`StateStore::open_with`] refuses an empty or foreign state file
//!    unless told to start over ([`OpenMode::Init`]); [`StateStore::backup`] keeps rolling
//!    online backups in `<state_dir>/backups/`.
//!
//! Configuration lives in goodhart.toml sections `[alerts]`, `[jira]`, `[webhook]`, `[privacy]`
//! ([`AlertsConfig`], commented defaults in [`default_toml`]). Credentials are never in the
//! configuration: it names the environment variables that hold them, and they are redacted
//! from `Debug` output and error messages.
//!
//! Everything is deterministic: outputs are sorted by (severity desc, score desc, fingerprint),
//! delivery ids are derived from fingerprint and scan day, retry jitter is seeded.
//!
//! # Example
//!
//! ```
//! use chrono::NaiveDate;
//! use goodhart_alerts::*;
//!
//! # fn main() -> Result<(), AlertError> {
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = StateStore::open(dir.path().join(".goodhart"))?;
//! let day = |d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap();
//! let candidate = AlertCandidate {
//!     user_id: "alice".into(),
//!     cohort: "platform".into(),
//!     pattern: "redundant-agent-spawns".into(),
//!     severity: Severity::High,
//!     score: 87.5,
//!     window: Window { start: day(1), end: day(7) },
//!     evidence: vec![],
//! };
//! let policy = LifecyclePolicy::default();
//!
//! let first = store.reconcile(&[candidate.clone()], day(8), &policy)?;
//! assert_eq!(first.alerts[0].status, AlertStatus::New);
//! let next = store.reconcile(&[candidate], day(9), &policy)?;
//! assert_eq!(next.alerts[0].status, AlertStatus::Ongoing);
//! assert_eq!(next.alerts[0].first_seen, day(8));
//!
//! // Not raised for 7 days: resolved.
//! let later = store.reconcile(&[], day(16), &policy)?;
//! assert_eq!(later.resolved, vec![fingerprint("alice", "redundant-agent-spawns")]);
//!
//! write_jsonl(dir.path().join("alerts.jsonl"), &next.alerts)?;
//! assert_eq!(read_jsonl(dir.path().join("alerts.jsonl"))?, next.alerts);
//!
//! // Dry-run delivery to a (never contacted) Jira: shows the payload, changes nothing.
//! let cfg: AlertsConfig = toml::from_str(r#"
//!     [jira]
//!     base_url = "https://example.atlassian.net"
//!     project_key = "GOV"
//! "#).unwrap();
//! let mut opts = DeliverOptions::from_config(&cfg, chrono::Utc::now());
//! opts.dry_run = true;
//! let report = deliver(&mut store, &cfg, &next.alerts, &opts)?;
//! assert_eq!(report.planned.len(), 1);
//! assert_eq!(report.planned[0].payload["fields"]["priority"]["name"], "High");
//! assert!(store.outbox()?.is_empty());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod audit;
mod config;
pub mod deliver;
mod error;
pub mod inventory;
pub mod jira;
mod ledger;
mod model;
mod privacy;
pub mod retention;
mod statefile;
mod store;
mod subject;
pub mod sync;
pub mod webhook;

pub use audit::{Actor, AuditEntry, AuditVerification, Reidentified};
pub use config::{
    default_resolution_verdicts, default_toml, AlertsConfig, AlertsSection, EnvSource, JiraConfig,
    LifecyclePolicy, PriorityMap, PrivacyConfig, Secret, WebhookConfig, DEFAULT_MIN_GROUP_SIZE,
};
pub use deliver::{
    deliver, DeliverOptions, DeliveryReport, FailedDelivery, PlannedDelivery, DEFAULT_LOCK_TIMEOUT,
};
pub use error::{AlertError, Result};
pub use ledger::LedgerEntry;
pub use model::{
    alert_order, fingerprint, read_jsonl, sort_alerts, to_jsonl, write_jsonl, Alert,
    AlertCandidate, AlertStatus, Evidence, Severity, Window,
};
pub use privacy::{cohort_pseudonym, pseudonym, session_pseudonym, Pseudonymizer};
pub use retention::{purge_outputs, PurgeReport, RetentionConfig};
pub use statefile::{list_backups, OpenMode, BACKUP_DIR};
pub use store::{
    Action, AlertRecord, AlertState, FeedbackOutcome, OutboxEntry, OutboxState, ReconcileOptions,
    Reconciled, Sink, StateStore, Verdict, APPLICATION_ID, STATE_FILE, STATE_SCHEMA_VERSION,
};
pub use subject::{DeliveryRow, FeedbackRow, RequestRow, SubjectState};
pub use sync::{sync_jira_verdicts, SyncReport, SyncedVerdict, SYNC_JQL};
pub use webhook::{secret_key, sign_webhook, verify_signature};
