//! Typed errors of the alerts crate.

use std::path::PathBuf;

/// Everything that can go wrong while reconciling, storing or delivering alerts.
///
/// Messages name the file, setting or environment variable involved and say how to fix it.
/// They never contain credentials: secrets are only ever held in redacting wrappers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The state directory or database file could not be created or written.
    #[error(
        "alert state at {path} is not writable: {source}; check the directory permissions or set \
         [alerts] state_dir in goodhart.toml to a writable directory"
    )]
    StateNotWritable {
        /// Directory or file that could not be written.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The state file exists but is not a goodhart alert database.
    #[error(
        "{path} is not a goodhart alert state database ({reason}); point [alerts] state_dir (or \
         --state) at the directory goodhart created, or run `goodhart scan` with --init-state to \
         move this file aside and start a new state"
    )]
    NotGoodhartDb {
        /// The offending file.
        path: PathBuf,
        /// What made us decide that.
        reason: String,
    },
    /// The state file exists but is empty (0 bytes): a truncated or clobbered database. Starting
    /// over would make every open alert "new" again (and duplicate its ticket), so it is refused.
    #[error(
        "{path} is empty (0 bytes): the alert state was truncated or replaced. Restore the newest \
         backup from {backups} (see README, \"State backups and restore\"), or, to start a new \
         state on purpose, run `goodhart scan` with --init-state (every open alert becomes new \
         again)"
    )]
    EmptyState {
        /// The empty file.
        path: PathBuf,
        /// The backup directory.
        backups: PathBuf,
    },
    /// The state database does not exist where it must.
    #[error("{path}: {reason}")]
    StateMissing {
        /// The missing file.
        path: PathBuf,
        /// Why its absence is an error here, and the fix.
        reason: String,
    },
    /// A pseudonymised payload still held a real identifier; nothing was sent.
    #[error(
        "refusing to send: the pseudonymised payload of alert {public_fingerprint} still holds \
         a real {kind} in {field}; nothing was sent or queued. This is a goodhart bug, please \
         report it; meanwhile leave [privacy] pseudonymize on and the alert undelivered"
    )]
    PrivacyLeak {
        /// Public fingerprint of the alert.
        public_fingerprint: String,
        /// JSON path of the field.
        field: String,
        /// `user id`, `session id` or `cohort name` (never the value).
        kind: &'static str,
    },
    /// The state database was written by a newer goodhart.
    #[error(
        "{path} has alert state schema version {found}, but this goodhart supports up to \
         {supported}; upgrade goodhart"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build understands.
        supported: i64,
    },
    /// A SQLite error while using the state database.
    #[error("alert state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process held the delivery lock of this state directory for
    /// longer than [`DeliverOptions::lock_timeout`](crate::DeliverOptions).
    /// Nothing was sent by this run; its deliveries stay pending.
    #[error(
        "another goodhart process has been delivering alerts from this state directory for more \
         than {waited_secs} s (lock file {path}); this run's deliveries stay pending and the next \
         run sends them. Wait for the other scan to finish, or stop it if it hangs"
    )]
    DeliveryLocked {
        /// The lock file.
        path: PathBuf,
        /// How long this run waited, in seconds.
        waited_secs: u64,
    },
    /// The state database holds a value this build cannot interpret.
    #[error("alert state database {path}: corrupt value in {what}: {value:?}")]
    CorruptState {
        /// The database file.
        path: PathBuf,
        /// Table and column.
        what: &'static str,
        /// The value found.
        value: String,
    },
    /// Feedback was given for a fingerprint the state store has never seen.
    #[error(
        "no alert with fingerprint {fingerprint} in the alert state; copy the fingerprint from \
         alerts.jsonl (field \"fingerprint\") after a `goodhart scan`"
    )]
    UnknownFingerprint {
        /// The fingerprint given.
        fingerprint: String,
    },
    /// A candidate handed to the lifecycle is unusable.
    #[error("invalid alert candidate for user {user_id:?}, pattern {pattern:?}: {reason}")]
    InvalidCandidate {
        /// The candidate's user.
        user_id: String,
        /// The candidate's pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// A required environment variable (credential or key) is not set.
    #[error(
        "environment variable {var} is not set (needed by {setting}); export {var}=... before \
         running, or change {setting} in goodhart.toml"
    )]
    MissingEnv {
        /// Name of the variable (never its value).
        var: String,
        /// The configuration setting that names it, e.g. `[jira] token_env`.
        setting: &'static str,
    },
    /// A configuration value is invalid.
    #[error("invalid setting {setting} in goodhart.toml: {reason}")]
    Config {
        /// The setting, e.g. `[jira] base_url`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Reading or writing an output file failed.
    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising or parsing JSON failed.
    #[error("JSON error in {what}: {source}")]
    Json {
        /// What was being (de)serialised.
        what: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A privacy control refused the action (re-identification without a reason, four-eyes
    /// self-approval, unknown request, …). The refusal is recorded in the audit log where
    /// there is one.
    #[error("refused: {why}")]
    Refused {
        /// Why, and how to proceed.
        why: String,
    },
}

impl AlertError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AlertError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<goodhart_core::CoreError> for AlertError {
    fn from(e: goodhart_core::CoreError) -> Self {
        match e {
            goodhart_core::CoreError::Io { path, source } => AlertError::Io { path, source },
            other => AlertError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = AlertError> = std::result::Result<T, E>;
