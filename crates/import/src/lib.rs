//! Import what AI vendors export into goodhart's canonical Parquet lake.
//!
//! A governance team has its vendors' exports, not goodhart's schema. This
//! crate reads them (one module per format, see [`Format`] and
//! `goodhart import --list`) and writes the canonical lake
//! `LAKE/events/date=YYYY-MM-DD/source=FORMAT/part-*.parquet` that
//! `goodhart scan LAKE` reads as it is, plus `LAKE/_imports/`:
//!
//! * `manifest.json`: per source file its size, modification time, SHA-256 of
//!   the bytes imported, the byte offset reached (append-only JSONL resumes
//!   there), the record count and the Parquet parts written from it;
//! * `import_report.json`: the last run's [`ImportReport`]. For every source
//!   file, records read = records used + records skipped by design (counted
//!   per kind) + records quarantined (with line and reason). Nothing is
//!   dropped silently.
//! * `keys/`: the dedup keys of the events imported from each file.
//!
//! The common core does what every format needs:
//!
//! * **Identity** ([`IdentityMap`]): `--identities` CSV
//!   `source,source_id,user_id` maps the ids a vendor uses to one person;
//!   e-mail addresses are lower-cased; unmapped ids are listed in the report.
//!   Formats without users take them from `--user` or a path pattern
//!   ([`UserPattern`]).
//! * **Privacy** ([`KeyedHasher`]): prompts, file contents and tool outputs
//!   never leave the importer; `task_hash` and `context_hash` are
//!   HMAC-SHA256 hashes under a key from the environment (else the documented
//!   [`DEFAULT_HASH_KEY`] and a warning).
//! * **Incremental and idempotent**: an unchanged file (same size and
//!   modification time) is not read; a file whose imported prefix is
//!   unchanged is read on from there and only its new records are written
//!   (in a new part); a file rewritten in place has its previous parts and
//!   keys removed and is imported again. Events are deduplicated on the
//!   source's own ids (Claude Code: `message.id` + `requestId`, tool-use
//!   ids) within a run and against earlier runs, so importing the same data
//!   twice adds nothing.
//! * **Sessions**: sources without sessions are split per user on idle gaps
//!   longer than [`ImportOptions::idle_gap_minutes`] (default 30).
//! * **Bounded memory**: files are read in chunks of about
//!   [`ImportOptions::chunk_bytes`] (default [`DEFAULT_CHUNK_BYTES`]; a
//!   Claude Code session and its sub-agent files together), and each chunk's
//!   Parquet parts are written before the next is read. Deduplication across
//!   chunks and against earlier runs keeps its index in memory up to
//!   [`ImportOptions::index_bytes`] (default [`DEFAULT_INDEX_BYTES`]) and in
//!   sorted runs on disk past it (a scratch directory under `LAKE/_imports/`,
//!   removed at the end), so peak memory does not grow with the corpus. The
//!   output is the same for any chunk size, index budget and thread count;
//!   files whose events need sessions from idle gaps, or
//!   whose already-written event a later, better duplicate beats, are read
//!   and written a second time at the end.
//!
//! Output rows are checked with `goodhart-schema`'s validation before they
//! are written.
//!
//! # Example
//!
//! ```
//! use goodhart_import::{import, Format, ImportOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let src = dir.path().join("projects/p/s1.jsonl");
//! std::fs::create_dir_all(src.parent().unwrap())?;
//! // One response streamed as two lines (same message id and request id),
//! // one prompt line and one line that is not JSON.
//! let assistant = |block: &str| format!(
//!     r#"{{"type":"assistant","sessionId":"s1","timestamp":"2026-10-05T09:00:01Z","requestId":"req_1","message":{{"id":"msg_1","model":"claude-sonnet-4-5","content":[{block}],"usage":{{"input_tokens":10,"cache_read_input_tokens":200,"cache_creation_input_tokens":30,"output_tokens":5}}}}}}"#);
//! let lines = [
//!     r#"{"type":"user","sessionId":"s1","timestamp":"2026-10-05T09:00:00Z","message":{"role":"user","content":"fix the build"}}"#.to_string(),
//!     assistant(r#"{"type":"text","text":"Looking."}"#),
//!     assistant(r#"{"type":"text","text":"Done."}"#),
//!     "{not json".to_string(),
//! ];
//! std::fs::write(&src, lines.join("\n") + "\n")?;
//!
//! let lake = dir.path().join("lake");
//! let mut opts = ImportOptions::new(Format::ClaudeCode, vec![dir.path().join("projects")], lake.clone());
//! opts.user = Some("Ana@Example.com".into());
//! let report = import(&opts)?;
//! let f = &report.files[0];
//! assert_eq!(f.records, 4);
//! assert_eq!(f.events["request"], 1);            // one request, not two
//! assert_eq!(f.skipped["duplicate_request"], 1); // the streaming copy
//! assert_eq!(f.skipped["user_prompt"], 1);
//! assert_eq!(f.quarantine[0].line, 4);
//! assert!(report.balanced());                   // 4 = 1 used + 2 skipped + 1 quarantined
//! assert_eq!(report.users, ["ana@example.com"]);
//!
//! // A second run over the same files adds nothing.
//! let again = import(&opts)?;
//! assert_eq!(again.files[0].status, "unchanged");
//! assert!(again.totals.events.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod csvread;
mod error;
mod formats;
mod hash;
mod identity;
mod index;
mod record;
mod report;
mod run;

pub use error::ImportError;
pub use formats::{Format, FormatInfo};
pub use hash::{KeyedHasher, DEFAULT_HASH_KEY};
pub use identity::{normalize_id, IdentityMap, UserPattern};
pub use report::{
    DayTokens, FileReport, ImportReport, QuarantinedRecord, Totals, MAX_LISTED_QUARANTINE,
};

use std::path::{Path, PathBuf};

/// Default attributes naming the person in `otel-genai` traces.
pub const DEFAULT_USER_ATTRIBUTES: [&str; 2] = ["user.id", "enduser.id"];

/// Default idle gap that splits sessions of sources without session ids.
pub const DEFAULT_IDLE_GAP_MINUTES: u64 = 30;

/// Default size of a chunk of source files read at once (64 MiB).
pub const DEFAULT_CHUNK_BYTES: u64 = 64 << 20;

/// Default memory for the deduplication indexes (16 MiB): past it they
/// spill to sorted runs on disk.
pub const DEFAULT_INDEX_BYTES: u64 = 16 << 20;

/// What to import and where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The source format.
    pub format: Format,
    /// Source files or directories (searched recursively).
    pub sources: Vec<PathBuf>,
    /// The lake directory.
    pub out: PathBuf,
    /// Identity map (`--identities`).
    pub identities: IdentityMap,
    /// The user of every record without one (`--user`).
    pub user: Option<String>,
    /// Derives the user of a file from its path (`--user-from-path`).
    pub user_from_path: Option<UserPattern>,
    /// Keyed hasher for task and context hashes.
    pub hasher: KeyedHasher,
    /// Where the hash key came from, for the report (`env:VAR` or `default`).
    pub hash_key_source: String,
    /// Idle gap (minutes) that starts a new session for sources without sessions.
    pub idle_gap_minutes: u64,
    /// Span or resource attributes naming the person, first present wins
    /// (`otel-genai`; `--user-attribute`; default [`DEFAULT_USER_ATTRIBUTES`]).
    pub user_attributes: Vec<String>,
    /// Source bytes read and held at once (default [`DEFAULT_CHUNK_BYTES`]):
    /// files are imported in chunks of about this size, so peak memory
    /// depends on it, not on the corpus. Results do not depend on it.
    pub chunk_bytes: u64,
    /// Memory for the deduplication indexes (default
    /// [`DEFAULT_INDEX_BYTES`]; half for this run's keys, half for earlier
    /// runs'): past it they spill to sorted runs in a scratch directory
    /// under `LAKE/_imports/`, removed at the end. Results do not depend on it.
    pub index_bytes: u64,
}

impl ImportOptions {
    /// Options with no identities, no user, the default hash key, a
    /// 30-minute idle gap and the default user attributes.
    pub fn new(format: Format, sources: Vec<PathBuf>, out: PathBuf) -> ImportOptions {
        ImportOptions {
            format,
            sources,
            out,
            identities: IdentityMap::new(),
            user: None,
            user_from_path: None,
            hasher: KeyedHasher::with_default_key(),
            hash_key_source: "default".into(),
            idle_gap_minutes: DEFAULT_IDLE_GAP_MINUTES,
            user_attributes: DEFAULT_USER_ATTRIBUTES.map(String::from).to_vec(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            index_bytes: DEFAULT_INDEX_BYTES,
        }
    }

    /// Uses the key held by the environment variable `var`.
    ///
    /// # Errors
    /// [`ImportError::Config`] when the variable is unset or empty.
    pub fn hash_key_from_env(&mut self, var: &str) -> Result<(), ImportError> {
        match std::env::var(var) {
            Ok(k) if !k.is_empty() => {
                self.hasher = KeyedHasher::new(k.as_bytes());
                self.hash_key_source = format!("env:{var}");
                Ok(())
            }
            _ => Err(ImportError::Config {
                what: "--hash-key-env".into(),
                message: format!(
                    "the environment variable {var} is unset or empty. Fix: export {var}=<a long \
                     random secret> (keep it: the same key gives the same hashes next time)."
                ),
            }),
        }
    }
}

/// Imports `opts.sources` into the lake `opts.out`; returns the run's report
/// (also written to `LAKE/_imports/import_report.json`).
///
/// # Errors
/// [`ImportError::Source`] when a source cannot be read (naming it),
/// [`ImportError::Output`] when the lake cannot be written,
/// [`ImportError::Manifest`] when the manifest is unreadable. Bad records are
/// never errors: they are quarantined and reported.
pub fn import(opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    run::run(opts)
}

/// Writes `LAKE/users.parquet` (the roster `goodhart scan` reads) from a CSV
/// with a `user_id` or `email` column and optional `team` and `role`
/// columns; ids go through `ids` (source `roster`, else `*`) and are
/// normalised. Returns the number of users.
///
/// # Errors
/// [`ImportError::Source`] / [`ImportError::Config`] for an unreadable or
/// malformed CSV, [`ImportError::Output`] when the roster cannot be written.
pub fn write_roster(csv: &Path, lake: &Path, ids: &IdentityMap) -> Result<usize, ImportError> {
    run::write_roster(csv, lake, ids)
}
