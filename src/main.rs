//! The `goodhart` command: parses arguments and wires the library crates.
//! All logic lives in the crates; see `goodhart --help` and the README.

mod args;
mod feedback_sync;
mod import_cmd;
mod ledger_cmd;
mod privacy_cmd;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{NaiveDate, Utc};
use clap::Parser;
use goodhart::scan::{Dataset, Hooks, ScanOptions, Window};
use goodhart::{Config, Error};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use args::{Cli, Command, Format};

/// The binary's allocator. The feature pass allocates many small per-session
/// lists from two threads; glibc's malloc spent about a fifth of the CPU
/// there and kept fragmented pages (see BENCHMARKS.md, "Features vs polars").
/// Libraries leave the choice to the embedding program.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code: success.
const EXIT_OK: u8 = 0;
/// Exit code: runtime failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code: bad input, configuration or usage.
const EXIT_USAGE: u8 = 2;
/// Exit code: alerts raised (`scan --fail-on-alerts`).
const EXIT_ALERTS: u8 = 3;
/// Exit code: the scan ran and published its outputs, but the window's last
/// day looks incomplete (`[scan] min_last_day_share`); no alert was auto-resolved.
const EXIT_INCOMPLETE: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let user = e
                .chain()
                .any(|c| c.downcast_ref::<Error>().is_some_and(Error::is_user_error))
                || e.downcast_ref::<UsageError>().is_some();
            // Messages quote ids and paths from the data: no raw control characters.
            let msg = format!("{e:#}");
            let safe: Vec<std::borrow::Cow<'_, str>> = msg.split('\n').map(term).collect();
            eprintln!("error: {}", safe.join("\n"));
            ExitCode::from(if user { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

/// A bad command-line value (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(a) => scan(a),
        Command::Validate(a) => validate(a),
        Command::Features(a) => features(a),
        Command::Detect(a) => detect(a),
        Command::Eval(a) => eval(a),
        Command::Synth(a) => synth(a),
        Command::Feedback(a) => feedback(a),
        Command::Whois(a) => whois(a),
        Command::Audit(a) => privacy_cmd::audit(a),
        Command::Purge(a) => privacy_cmd::purge(a),
        Command::SubjectReport(a) => privacy_cmd::subject_report(a),
        Command::Privacy(a) => privacy_cmd::privacy(a),
        Command::Ledger(a) => ledger_cmd::ledger(a),
        Command::Schema(a) => {
            match a.format {
                Format::Text => print!("{}", goodhart::schema::describe_schema()),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&goodhart::schema::schema_json())?
                ),
            }
            Ok(EXIT_OK)
        }
        Command::Import(a) => Ok(import_cmd::run(a)),
        Command::Config(a) => {
            if let Some(p) = a.check {
                let loaded = Config::load(&p)?;
                println!("{}: ok (config hash {})", p.display(), loaded.hash);
            } else {
                print!("{}", goodhart::config::default_toml());
            }
            Ok(EXIT_OK)
        }
    }
}

fn init_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            return Err(usage("--threads must be at least 1"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("could not start the worker threads")?;
    }
    Ok(())
}

fn parse_date(s: &str, option: &str) -> Result<NaiveDate> {
    goodhart::config::parse_date(s).map_err(|m| usage(format!("{option}: {m}")))
}

fn parse_window(s: &str, option: &str) -> Result<u32> {
    goodhart::config::parse_window(s).map_err(|m| usage(format!("{option}: {m}")))
}

/// The window from options, then the configuration, then defaults (today, 28 days).
fn resolve_window(as_of: Option<&str>, window: Option<&str>, cfg: &Config) -> Result<Window> {
    let as_of = match as_of {
        Some(s) => parse_date(s, "--as-of")?,
        None => cfg.scan.as_of.unwrap_or_else(|| Utc::now().date_naive()),
    };
    let days = match window {
        Some(s) => parse_window(s, "--window")?,
        None => cfg.window_days(),
    };
    Ok(Window { as_of, days })
}

/// A progress bar over the rows to read, drawn only on a terminal. Its length
/// comes from the Parquet footers, which are read for it only when it is drawn
/// (a scheduled run pays nothing for it).
fn progress_bar(quiet: bool, total_rows: impl FnOnce() -> Result<u64>) -> Result<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let pb = ProgressBar::with_draw_target(Some(total_rows()?), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:12} [{bar:30}] {human_pos}/{human_len} rows ({rate})",
        )
        .expect("static template")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{} rows/s", si(s.per_sec()));
            },
        )
        .progress_chars("=> "),
    );
    Ok(pb)
}

/// The progress bar of the stages after ingest (scoring, alerts, outputs):
/// a spinner with the stage name, since the row count no longer moves.
fn stage_spinner(pb: &ProgressBar) {
    if pb.is_hidden() {
        return;
    }
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("static template"),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
}

/// A rate with an SI prefix and three significant digits: `3.65M`, `812k`, `37`.
fn si(v: f64) -> String {
    let (x, unit) = if v >= 1e9 {
        (v / 1e9, "G")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if !x.is_finite() {
        return "-".to_string();
    }
    let digits = if x >= 100.0 || unit.is_empty() {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    format!("{x:.digits$}{unit}")
}

/// Text from the data (ids, patterns, evidence, paths) made safe for a
/// terminal: control characters (escape sequences, carriage returns, bells,
/// newlines) are shown escaped (`\u{1b}`), never sent raw.
fn term(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

fn scan(a: args::ScanArgs) -> Result<u8> {
    init_threads(a.threads)?;
    let dataset = Dataset::locate(&a.inputs, a.roster.as_deref())?;
    let loaded = Config::discover(a.config.as_deref(), dataset.root.as_deref())?;
    let window = resolve_window(a.as_of.as_deref(), a.window.as_deref(), &loaded.config)?;
    let state_dir = a
        .state
        .clone()
        .unwrap_or_else(|| loaded.config.alerts.state_dir.clone());
    let pb = progress_bar(a.quiet, || {
        let (files, _) = dataset.files(Some(goodhart::io::DateWindow::from(window)))?;
        Ok(goodhart::io::count_rows(&files).map_err(Error::from)?)
    })?;
    let verbose = a.verbose;
    let started = std::time::Instant::now();
    let fault = FaultPoints::from_env();
    let rows = |n: u64| {
        pb.inc(n);
        fault.pass("ingest batch");
    };
    let checkpoint = |name: &str| fault.pass(name);
    let stage = |s: &str| {
        if s != "features" {
            stage_spinner(&pb);
        }
        pb.set_message(s.to_string());
        if verbose > 0 {
            pb.suspend(|| eprintln!("[{:>7.2}s] {s}", started.elapsed().as_secs_f64()));
        }
    };
    let opts = ScanOptions {
        config: loaded,
        window,
        out_dir: a.out.clone(),
        state_dir,
        dry_run: a.dry_run,
        now: Utc::now(),
        init_state: a.init_state,
    };
    let outcome = goodhart::scan::scan(
        &dataset,
        &opts,
        &Hooks {
            rows: Some(&rows),
            stage: Some(&stage),
            warn: Some(&|w: &str| pb.suspend(|| eprintln!("warning: {}", term(w)))),
            checkpoint: Some(&checkpoint),
        },
    )?;
    pb.finish_and_clear();

    let s = &outcome.summary;
    if !a.quiet {
        match a.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(s)?),
            Format::Text => {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "goodhart {} — window {} .. {} ({} days)",
                    s.tool_version, s.window.start, s.window.end, s.window.days
                )?;
                writeln!(
                    out,
                    "rows: {} read, {} accepted, {} quarantined{}",
                    s.rows.read,
                    s.rows.accepted,
                    s.rows.quarantined,
                    if s.rows.quarantined_by_reason.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            s.rows
                                .quarantined_by_reason
                                .iter()
                                .map(|(k, v)| format!("{k}: {v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )?;
                writeln!(
                    out,
                    "scored: {} users, {} sessions (cohorts: {})",
                    s.users, s.sessions, s.cohort_method
                )?;
                for f in &s.cohort_findings {
                    writeln!(
                        out,
                        "team finding ({}, {}): {}",
                        f.pattern, f.severity, f.text
                    )?;
                }
                let sev = |k: &str| s.alerts_by_severity.get(k).copied().unwrap_or(0);
                let st = |k: &str| s.alerts_by_status.get(k).copied().unwrap_or(0);
                writeln!(
                    out,
                    "alerts: {} ({} critical, {} high; {} new, {} ongoing, {} reopened; {} suppressed, {} resolved)",
                    outcome.alerts.len(),
                    sev("critical"),
                    sev("high"),
                    st("new"),
                    st("ongoing"),
                    st("reopened"),
                    s.alerts_suppressed,
                    s.alerts_resolved
                )?;
                for al in outcome.alerts.iter().take(10) {
                    let text = al
                        .candidate
                        .evidence
                        .first()
                        .map(|e| e.text.as_str())
                        .unwrap_or("multivariate outlier");
                    writeln!(
                        out,
                        "  {:8} {:5.1} {} [{}] {}: {}",
                        al.candidate.severity.as_str(),
                        al.candidate.score,
                        term(&al.candidate.user_id),
                        al.status.as_str(),
                        term(&al.candidate.pattern),
                        term(text)
                    )?;
                }
                if outcome.alerts.len() > 10 {
                    writeln!(
                        out,
                        "  … {} more in alerts.jsonl",
                        outcome.alerts.len() - 10
                    )?;
                }
                let d = &s.delivery;
                if d.dry_run {
                    writeln!(
                        out,
                        "dry run: {} deliveries would be sent:",
                        outcome.delivery.planned.len()
                    )?;
                    for p in &outcome.delivery.planned {
                        writeln!(out, "  {}", serde_json::to_string(p)?)?;
                    }
                } else {
                    writeln!(
                        out,
                        "delivery: {} sent ({} tickets created, {} comments, {} webhooks), {} failed, {} pending",
                        d.sent, d.tickets_created, d.comments_added, d.webhooks_posted, d.failed, d.pending
                    )?;
                }
                if let Some(j) = &outcome.jira_sync {
                    writeln!(out, "{}", feedback_sync::summary_line(j))?;
                }
                writeln!(out, "outputs: {}", a.out.display())?;
            }
        }
    }
    if !s.completeness.complete {
        return Ok(EXIT_INCOMPLETE);
    }
    if a.fail_on_alerts && !outcome.alerts.is_empty() {
        return Ok(EXIT_ALERTS);
    }
    Ok(EXIT_OK)
}

/// Fault injection for tests (`GOODHART_FAULT_INJECT=N`): the scan kills
/// itself with SIGKILL when it passes its N-th named point (an ingest batch,
/// a stage, each staged output, the state commit, the deliveries, the
/// switch of the output set). Unset, it costs one atomic increment per point.
struct FaultPoints {
    at: Option<u64>,
    passed: std::sync::atomic::AtomicU64,
}

impl FaultPoints {
    fn from_env() -> FaultPoints {
        FaultPoints {
            at: std::env::var("GOODHART_FAULT_INJECT")
                .ok()
                .and_then(|v| v.parse().ok()),
            passed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn pass(&self, name: &str) {
        let Some(at) = self.at else { return };
        let n = self
            .passed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if n == at {
            eprintln!("goodhart: fault point {n} ({name}): SIGKILL");
            // Without libc (unsafe code is forbidden): kill(1) sends the signal.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            loop {
                std::thread::park();
            }
        }
    }
}

fn validate(a: args::ValidateArgs) -> Result<u8> {
    init_threads(a.threads)?;
    let window = match (&a.as_of, &a.window) {
        (Some(d), Some(w)) => Some(goodhart::io::DateWindow::from(Window {
            as_of: parse_date(d, "--as-of")?,
            days: parse_window(w, "--window")?,
        })),
        (None, Some(_)) => return Err(usage("--window needs --as-of")),
        _ => None,
    };
    // A dataset directory: validate its events/.
    let path = if a.path.join("events").is_dir() {
        a.path.join("events")
    } else {
        a.path.clone()
    };
    let found = goodhart::io::discover_all(&path, window).map_err(Error::from)?;
    for s in &found.skipped {
        eprintln!("warning: {}", term(&s.to_string()));
    }
    let t = std::time::Instant::now();
    let report =
        goodhart::io::validate(&path, window, a.quarantine.as_deref()).map_err(Error::from)?;
    let secs = t.elapsed().as_secs_f64();
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            print!("{}", report.render_text());
            let rows = report.counts.rows_read as f64;
            println!(
                "throughput: {:.0} rows/s ({:.2} s){}",
                rows / secs.max(1e-9),
                secs,
                peak_rss().map_or(String::new(), |m| format!(", peak memory {m} MiB"))
            );
        }
    }
    Ok(EXIT_OK)
}

/// Peak resident set size of this process in MiB (Linux), for the throughput line.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn features(a: args::FeaturesArgs) -> Result<u8> {
    init_threads(a.threads)?;
    let dataset = Dataset::locate(std::slice::from_ref(&a.dataset), None)?;
    let loaded = Config::discover(a.config.as_deref(), dataset.root.as_deref())?;
    let window = resolve_window(a.as_of.as_deref(), a.window.as_deref(), &loaded.config)?;
    let fopts = loaded
        .config
        .feature_options(Some(window.as_of), window.days)
        .map_err(|m| loaded.error(m))?;
    let run = goodhart::scan::features(&dataset, &fopts, Some(window), None)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let f = &run.features;
    goodhart::io::write_parquet_atomic(
        &a.out.join("session_features.parquet"),
        f.sessions.schema(),
        std::slice::from_ref(&f.sessions),
    )
    .map_err(Error::from)?;
    goodhart::io::write_parquet_atomic(
        &a.out.join("user_features.parquet"),
        f.users.schema(),
        std::slice::from_ref(&f.users),
    )
    .map_err(Error::from)?;
    let c = &run.ingest.counts;
    println!(
        "{} sessions, {} users; rows {} read, {} accepted, {} quarantined; written to {}",
        f.sessions.num_rows(),
        f.users.num_rows(),
        c.rows_read,
        c.rows_accepted,
        c.rows_quarantined,
        a.out.display()
    );
    Ok(EXIT_OK)
}

fn detect(a: args::DetectArgs) -> Result<u8> {
    init_threads(a.threads)?;
    let batches = goodhart::io::read_parquet(&a.input).map_err(Error::from)?;
    let method = match a.method {
        args::Method::Iforest => goodhart::detect::Method::IsolationForest { seed: a.seed },
        args::Method::Ecod => goodhart::detect::Method::Ecod,
    };
    let scored = goodhart::detect::score_table(&batches, a.columns.as_deref(), method)
        .map_err(|e| usage(format!("{}: {e}", a.input.display())))?;
    goodhart::io::write_parquet_atomic(&a.out, scored.schema(), std::slice::from_ref(&scored))
        .map_err(Error::from)?;
    println!(
        "{} rows scored; written to {}",
        scored.num_rows(),
        a.out.display()
    );
    Ok(EXIT_OK)
}

fn read_table(path: &Path) -> Result<RecordBatch> {
    let batches = goodhart::io::read_parquet(path).map_err(Error::from)?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| usage(format!("{}: the file has no rows", path.display())))?;
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

/// Labels from reviewer verdicts: confirmed = gaming, false positive = not.
fn labels_from_state(state: &Path) -> Result<RecordBatch> {
    let store =
        goodhart::alerts::StateStore::open_with(state, goodhart::alerts::OpenMode::MustExist)
            .map_err(Error::from)?;
    let mut by_user: std::collections::BTreeMap<String, bool> = Default::default();
    for (user, _pattern, verdict) in store.feedback_labels()? {
        let gaming = matches!(verdict, goodhart::alerts::Verdict::Confirmed);
        let e = by_user.entry(user).or_insert(gaming);
        *e |= gaming;
    }
    if by_user.is_empty() {
        return Err(usage(format!(
            "{}: no reviewer verdicts recorded yet. Fix: record some with `goodhart feedback`",
            state.display()
        )));
    }
    let users: Vec<&str> = by_user.keys().map(String::as_str).collect();
    let arche: Vec<&str> = by_user
        .values()
        .map(|g| if *g { "confirmed" } else { "false_positive" })
        .collect();
    let gaming: Vec<bool> = by_user.values().copied().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("archetype", DataType::Utf8, false),
        Field::new("is_gaming", DataType::Boolean, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(StringArray::from(arche)),
            Arc::new(BooleanArray::from(gaming)),
        ],
    )?)
}

/// Keeps the score rows of labelled users only (reviewer verdicts cover few users).
fn restrict_to(scores: &RecordBatch, labels: &RecordBatch) -> Result<RecordBatch> {
    let labelled: std::collections::BTreeSet<String> = labels
        .column_by_name("user_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .map(|a| a.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default();
    let ids = arrow::compute::cast(
        scores
            .column_by_name("user_id")
            .ok_or_else(|| usage("the scores have no user_id column"))?,
        &DataType::Utf8,
    )?;
    let ids = ids
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8");
    let mask: BooleanArray = ids
        .iter()
        .map(|u| Some(u.is_some_and(|u| labelled.contains(u))))
        .collect();
    Ok(arrow::compute::filter_record_batch(scores, &mask)?)
}

fn eval(a: args::EvalArgs) -> Result<u8> {
    if a.suite {
        return eval_suite::run(&a);
    }
    let scores_path = a
        .scores
        .clone()
        .expect("clap requires --scores without --suite");
    let scores = read_table(&scores_path)?;
    let (labels, scores) = match (&a.labels, &a.state) {
        (Some(l), _) => (read_table(l)?, scores),
        (None, Some(state)) => {
            let labels = labels_from_state(state)?;
            let scores = restrict_to(&scores, &labels)?;
            (labels, scores)
        }
        (None, None) => return Err(usage("give --labels FILE or --state DIR")),
    };
    let report = goodhart::detect::eval::evaluate(&labels, &scores)
        .map_err(|e| usage(format!("{}: {e}", scores_path.display())))?;
    let session = match (&a.session_labels, &a.session_scores) {
        (Some(l), Some(s)) => Some(
            goodhart::detect::eval::evaluate_sessions(&read_table(l)?, &read_table(s)?)
                .map_err(|e| usage(format!("{}: {e}", s.display())))?,
        ),
        _ => None,
    };
    match a.format {
        Format::Json => {
            let v = serde_json::json!({ "users": report, "sessions": session });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            print!("{report}");
            if let Some(s) = session {
                print!("\n{s}");
            }
        }
    }
    Ok(EXIT_OK)
}

mod eval_suite;
mod synth_options;

fn synth(a: args::SynthArgs) -> Result<u8> {
    init_threads(a.threads)?;
    let mut cfg = goodhart::synth::SynthConfig::new(a.users, a.days, a.seed);
    cfg.gaming_share = a.gaming_share;
    cfg.intensity = a.intensity;
    synth_options::apply(&a, &mut cfg)?;
    if let Some(s) = &a.start {
        cfg.start = parse_date(s, "--start")?;
    }
    let t = std::time::Instant::now();
    let summary = goodhart::synth::generate(&cfg, &a.out).map_err(Error::from)?;
    print!("{summary}");
    println!(
        "written to {} in {:.1} s",
        a.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(EXIT_OK)
}

fn feedback(a: args::FeedbackArgs) -> Result<u8> {
    if a.sync {
        return feedback_sync::run(&a);
    }
    let (Some(fingerprint), true) = (&a.fingerprint, a.false_positive || a.confirmed) else {
        return Err(usage(
            "give a FINGERPRINT and --false-positive or --confirmed, or --sync",
        ));
    };
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let verdict = if a.false_positive {
        goodhart::alerts::Verdict::FalsePositive
    } else {
        goodhart::alerts::Verdict::Confirmed
    };
    let mut store =
        goodhart::alerts::StateStore::open_with(&a.state, goodhart::alerts::OpenMode::MustExist)
            .map_err(Error::from)?;
    let policy = loaded.config.alerts_config().policy();
    let at = match &a.at {
        Some(d) => parse_date(d, "--at")?,
        None => Utc::now().date_naive(),
    };
    let until = store
        .record_feedback(
            fingerprint,
            verdict,
            a.note.as_deref().unwrap_or(""),
            at,
            &policy,
        )
        .map_err(Error::from)?;
    match until {
        Some(d) => println!(
            "recorded {} for {fingerprint}; suppressed until {d}",
            verdict.as_str(),
        ),
        None => println!("recorded {} for {fingerprint}", verdict.as_str()),
    }
    Ok(EXIT_OK)
}

fn whois(a: args::WhoisArgs) -> Result<u8> {
    privacy_cmd::whois(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_shown_with_si_prefixes() {
        assert_eq!(si(3_651_056.028_5), "3.65M");
        assert_eq!(si(812_345.0), "812k");
        assert_eq!(si(45_600.0), "45.6k");
        assert_eq!(si(37.4), "37");
        assert_eq!(si(2.5e9), "2.50G");
    }

    #[test]
    fn control_characters_from_ids_are_escaped() {
        assert_eq!(term("alice"), "alice");
        let t = term("evil\u{1b}]0;pwned\u{7}\r\nnext");
        assert!(!t.chars().any(char::is_control), "{t:?}");
        assert_eq!(t, "evil\\u{1b}]0;pwned\\u{7}\\r\\nnext");
    }
}
