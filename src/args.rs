//! Command-line arguments (clap derive), kept apart from the logic in `main.rs`
//! and the library crates.

use std::path::PathBuf;

use std::num::NonZeroUsize;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// goodhart: find tokenmaxxing (gaming of AI-usage leaderboards) in usage histories.
///
/// Exit codes: 0 success; 1 runtime failure (I/O, state store, delivery);
/// 2 bad input, bad configuration or bad usage (the message names the file or
/// setting and the fix); 3 alerts raised (only with `scan --fail-on-alerts`);
/// 4 `scan` published its outputs but the last day looks incomplete.
#[derive(Debug, Parser)]
#[command(name = "goodhart", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (before or after the subcommand's name).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Worker threads (default: all cores). Outputs do not depend on it.
    #[arg(long, global = true, value_name = "N", value_parser = threads_arg)]
    pub threads: Option<NonZeroUsize>,
}

/// `--threads`: a positive count.
fn threads_arg(s: &str) -> Result<NonZeroUsize, String> {
    s.trim()
        .parse::<NonZeroUsize>()
        .map_err(|_| format!("{s:?} is not a number of threads; give 1 or more"))
}

/// `--as-of`, `--start`, `--at`: a UTC day, YYYY-MM-DD.
pub(crate) fn date_arg(s: &str) -> Result<NaiveDate, String> {
    goodhart::config::parse_date(s)
}

/// `--window`: a number of days, e.g. `28d` (1 to the longest window goodhart accepts).
fn days_arg(s: &str) -> Result<u32, String> {
    goodhart::config::parse_window(s)
}

/// `--memory-limit`: a size, e.g. `2GB`, `512MiB`, `1.5G`.
fn size_arg(s: &str) -> Result<u64, String> {
    goodhart::bucketed::parse_size(s)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score a dataset end to end: features, cohorts, detectors, alerts, report.
    Scan(ScanArgs),
    /// Check event files against schema v1; count accepted and quarantined rows.
    Validate(ValidateArgs),
    /// Compute session and user features and write them as Parquet.
    Features(FeaturesArgs),
    /// Generic outlier scoring of any numeric Parquet table.
    Detect(DetectArgs),
    /// Evaluate scores against ground-truth labels (synthetic organisation or reviewer verdicts).
    Eval(EvalArgs),
    /// Generate a labeled synthetic organisation.
    Synth(SynthArgs),
    /// Record a reviewer's verdict on an alert.
    Feedback(FeedbackArgs),
    /// Resolve a pseudonym from an outbound alert back to the user id, session id or cohort
    /// (audited; needs --reason).
    Whois(WhoisArgs),
    /// Verify or list the re-identification audit log.
    Audit(crate::privacy_cmd::AuditArgs),
    /// Delete what is past retention (state rows, managed scan outputs); scans do it too.
    Purge(crate::privacy_cmd::PurgeArgs),
    /// Export everything goodhart holds about one person as JSON (data-subject access).
    SubjectReport(crate::privacy_cmd::SubjectArgs),
    /// Privacy information: `--inventory` of personal data.
    Privacy(crate::privacy_cmd::PrivacyArgs),
    /// Print the canonical input schema.
    Schema(SchemaArgs),
    /// Print configuration.
    Config(ConfigArgs),
    /// Import vendor exports (Claude Code, ...) into a canonical lake.
    Import(crate::import_cmd::ImportArgs),
    /// Print the weekly waste ledger kept in the state (week × team × pattern).
    Ledger(crate::ledger_cmd::LedgerArgs),
}

/// Output format of a command's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `goodhart scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Dataset: a directory holding `events/` (and optionally `users.parquet`),
    /// or event files/directories (then give the roster with `--roster`).
    #[arg(required = true, value_name = "DATASET")]
    pub inputs: Vec<PathBuf>,
    /// Roster Parquet file (`user_id`, `team`, `role`, `start_date`).
    #[arg(long, value_name = "FILE")]
    pub roster: Option<PathBuf>,
    /// Last day of the window (UTC, YYYY-MM-DD). Default: `scan.as_of` from the config, else today.
    #[arg(long, value_name = "DATE", value_parser = date_arg)]
    pub as_of: Option<NaiveDate>,
    /// Window length, e.g. `28d`. Default: `scan.window` from the config, else 28d.
    #[arg(long, value_name = "DAYS", value_parser = days_arg)]
    pub window: Option<u32>,
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "goodhart-out")]
    pub out: PathBuf,
    /// State directory (alert lifecycle database). Default: `[alerts] state_dir`
    /// from the config, else `.goodhart`.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Configuration file. Default: `goodhart.toml` in the dataset directory, then in
    /// the current directory, else built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
    /// More detail on stderr (stage timings).
    #[arg(long, short, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Format of the summary on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit with code 3 when any alert at or above the alert severity is raised.
    #[arg(long)]
    pub fail_on_alerts: bool,
    /// Print what the sinks would send; send nothing and change no alert state.
    #[arg(long)]
    pub dry_run: bool,
    /// Start a new alert state when `state.sqlite3` is missing, empty (0 bytes) or not
    /// goodhart's (it is moved aside to `state.sqlite3.refused-<time>`). Without it such a
    /// state is refused (exit 2): every open alert would become new and get a second ticket.
    #[arg(long)]
    pub init_state: bool,
    /// Read every event file again instead of reusing what the feature cache in the state
    /// directory kept of unchanged files (`<state>/feature-cache`; the outputs are the same
    /// either way). The cache is rebuilt from this run.
    #[arg(long)]
    pub full: bool,
    /// Memory the feature pass may use, e.g. `8GB`, `512MiB`, `1.5G`. Above it the events
    /// are split by user into buckets spilled beside the outputs; the outputs are the same.
    /// Default: `[scan] memory_limit` from the config, else half of the available memory.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub memory_limit: Option<u64>,
}

/// Arguments of `goodhart validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A Parquet file, or a directory read recursively (a dataset's `events/` is found).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Write the set-aside rows, with a `reason` column, to this Parquet file.
    #[arg(long, value_name = "FILE.parquet")]
    pub quarantine: Option<PathBuf>,
    /// Only accept rows inside the window ending on this day (UTC, YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = date_arg, requires = "window")]
    pub as_of: Option<NaiveDate>,
    /// Window length, e.g. `28d` (with `--as-of`).
    #[arg(long, value_name = "DAYS", value_parser = days_arg, requires = "as_of")]
    pub window: Option<u32>,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `goodhart features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Dataset directory (with `events/`, optionally `users.parquet`) or event files.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,
    /// Output directory for `session_features.parquet` and `user_features.parquet`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Last day of the window (UTC, YYYY-MM-DD). Default: config, else today.
    #[arg(long, value_name = "DATE", value_parser = date_arg)]
    pub as_of: Option<NaiveDate>,
    /// Window length, e.g. `28d`.
    #[arg(long, value_name = "DAYS", value_parser = days_arg)]
    pub window: Option<u32>,
    /// Configuration file (see `goodhart config --default`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Memory the feature pass may use, e.g. `8GB` (as `goodhart scan --memory-limit`).
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub memory_limit: Option<u64>,
}

/// Outlier detection method of `goodhart detect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Isolation Forest (scikit-learn compatible).
    Iforest,
    /// ECOD (empirical cumulative-distribution outlier detection).
    Ecod,
}

/// Arguments of `goodhart detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Scoring method.
    #[arg(long, value_enum)]
    pub method: Method,
    /// Input Parquet table.
    #[arg(long, value_name = "X.parquet")]
    pub input: PathBuf,
    /// Columns to use (comma separated). Default: every numeric column except `label`.
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    pub columns: Option<Vec<String>>,
    /// Random seed (Isolation Forest).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output Parquet file: `row_index`, `score` (higher = more anomalous).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Arguments of `goodhart eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ground truth per user (`user_id`, `archetype`, `is_gaming`), e.g. a synthetic `labels.parquet`.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["state", "suite"])]
    pub labels: Option<PathBuf>,
    /// `user_scores.parquet` from `goodhart scan`.
    #[arg(long, value_name = "FILE", required_unless_present = "suite")]
    pub scores: Option<PathBuf>,
    /// Run the evaluation suite instead: synthetic organisations of every
    /// scenario, scored with and without a roster, in one table.
    #[arg(long, conflicts_with_all = ["labels", "scores", "state", "session_labels"])]
    pub suite: bool,
    /// Suite: people per organisation.
    #[arg(long, default_value_t = 600)]
    pub users: usize,
    /// Suite: days per organisation.
    #[arg(long, default_value_t = 21)]
    pub days: u32,
    /// Suite: base seed (scenario i uses seed + i); pick one nobody tuned on.
    #[arg(long, default_value_t = 20_261_117)]
    pub seed: u64,
    /// Suite: only the scenarios whose name contains one of these (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Session ground truth (`session_id`, `is_gaming`).
    #[arg(long, value_name = "FILE", requires = "session_scores")]
    pub session_labels: Option<PathBuf>,
    /// `session_scores.parquet` from `goodhart scan`.
    #[arg(long, value_name = "FILE")]
    pub session_scores: Option<PathBuf>,
    /// Use reviewer verdicts from this state directory as labels instead of `--labels`.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `goodhart synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of people.
    #[arg(long, default_value_t = 300)]
    pub users: usize,
    /// Number of days.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Random seed (same seed, same bytes).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of gaming users (0 for an organisation with no gamers).
    #[arg(long, default_value_t = 0.06)]
    pub gaming_share: f64,
    /// First day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = date_arg)]
    pub start: Option<NaiveDate>,
    /// Multiplier on every gamer's intensity.
    #[arg(long, default_value_t = 1.0)]
    pub intensity: f64,
    /// Several members of one team gaming the same way: `TEAM:SHARE:ARCHETYPE`,
    /// e.g. `ml:0.67:agent_spammer` (two thirds of team ml re-spawn the team's
    /// standard sub-agents). Default: none.
    #[arg(long, value_name = "TEAM:SHARE:ARCHETYPE")]
    pub team_gaming: Option<String>,
    /// Office hours only: nobody works on weekends.
    #[arg(long)]
    pub office_hours: bool,
    /// Agent-heavy workloads: most input is cached conversation; context
    /// loads carry no tokens and re-reads are billed on the next request.
    #[arg(long)]
    pub agent_heavy: bool,
    /// Relative weight of legitimate bulk migrations among legitimate users
    /// (default 0.08 of a mix summing to 1).
    #[arg(long, value_name = "WEIGHT")]
    pub migration_weight: Option<f64>,
    /// Templated migrations: each migration fans one task hash out over
    /// all its sub-agents (each shipping a change).
    #[arg(long)]
    pub migration_same_task: bool,
    /// A team that works office hours only (repeatable): nobody in it works
    /// on weekends.
    #[arg(long, value_name = "TEAM")]
    pub office_hours_team: Vec<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Arguments of `goodhart feedback`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("verdict").args(["false_positive", "confirmed"]))]
pub struct FeedbackArgs {
    /// The alert's fingerprint (from `alerts.jsonl` or the ticket's `goodhart-<fingerprint>` label).
    #[arg(value_name = "FINGERPRINT", required_unless_present = "sync")]
    pub fingerprint: Option<String>,
    /// Not tokenmaxxing: suppress this user + pattern for the configured period.
    #[arg(long)]
    pub false_positive: bool,
    /// Confirmed tokenmaxxing.
    #[arg(long)]
    pub confirmed: bool,
    /// Free-text note.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Day of the verdict (UTC, YYYY-MM-DD; default today). A suppression applies to
    /// scans whose as-of date is on or after it.
    #[arg(long, value_name = "DATE", value_parser = date_arg)]
    pub at: Option<NaiveDate>,
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
    /// Configuration file (for the suppression period; `[jira]` for `--sync`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Instead of one verdict: take the verdicts of goodhart's resolved Jira tickets
    /// (`[jira] resolution_verdicts`), each recorded once.
    #[arg(long, conflicts_with_all = ["fingerprint", "false_positive", "confirmed", "note"])]
    pub sync: bool,
}

/// Arguments of `goodhart whois`. Every use is recorded in the state's audit log
/// (`goodhart audit log`).
#[derive(Debug, Args)]
pub struct WhoisArgs {
    /// A pseudonym: `p-0123456789abcdef` (user), `s-…` (session) or `c-…` (cohort).
    #[arg(
        value_name = "PSEUDONYM",
        required_unless_present_any = ["approve", "reveal"],
        conflicts_with_all = ["approve", "reveal"]
    )]
    pub pseudonym: Option<String>,
    /// Why you need to know who this is (required; recorded in the audit log).
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["approve", "reveal"])]
    pub reason: Option<String>,
    /// Four-eyes mode: request the re-identification; prints a request id.
    #[arg(long)]
    pub request: bool,
    /// Four-eyes mode: approve another person's request (the approver is not shown the id).
    #[arg(long, value_name = "ID", conflicts_with_all = ["request", "reveal"])]
    pub approve: Option<String>,
    /// Four-eyes mode: as the requester, reveal the user of an approved request.
    #[arg(long, value_name = "ID", conflicts_with = "request")]
    pub reveal: Option<String>,
    /// Name recorded as the actor (default: `[privacy] actor`, else the OS user).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
    /// Configuration file (for `[privacy] four_eyes` and `actor`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Arguments of `goodhart schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `goodhart config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the default configuration (a commented `goodhart.toml`).
    #[arg(long)]
    pub default: bool,
    /// Check a configuration file and print it resolved.
    #[arg(long, value_name = "FILE", conflicts_with = "default")]
    pub check: Option<PathBuf>,
}
