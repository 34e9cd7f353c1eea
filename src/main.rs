//! The `goodhart` command: parses arguments and wires the library crates.
//! All logic lives in the crates; see `goodhart --help` and the README.

mod analysis_cmd;
mod args;
mod eval_suite;
mod feedback_cmd;
mod feedback_sync;
mod import_cmd;
mod ledger_cmd;
mod privacy_cmd;
mod scan_cmd;
mod synth_cmd;
mod synth_options;
mod term;

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use clap::Parser;
use goodhart::scan::Window;
use goodhart::{Config, Error};

use args::{Cli, Command, Format};
use term::term;

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
    init_threads(cli.global.threads)?;
    match cli.command {
        Command::Scan(a) => scan_cmd::scan(a),
        Command::Validate(a) => analysis_cmd::validate(a),
        Command::Features(a) => analysis_cmd::features(a),
        Command::Detect(a) => analysis_cmd::detect(a),
        Command::Eval(a) => analysis_cmd::eval(a),
        Command::Synth(a) => synth_cmd::synth(a),
        Command::Feedback(a) => feedback_cmd::feedback(a),
        Command::Whois(a) => privacy_cmd::whois(a),
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

/// Sizes rayon's global pool; without `--threads` rayon uses every core.
fn init_threads(threads: Option<std::num::NonZeroUsize>) -> Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.get())
            .build_global()
            .context("could not start the worker threads")?;
    }
    Ok(())
}

/// The window from options, then the configuration, then defaults (today, 28 days).
fn resolve_window(as_of: Option<NaiveDate>, days: Option<u32>, cfg: &Config) -> Window {
    Window {
        as_of: as_of.unwrap_or_else(|| cfg.scan.as_of.unwrap_or_else(|| Utc::now().date_naive())),
        days: days.unwrap_or_else(|| cfg.window_days()),
    }
}
