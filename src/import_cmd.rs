//! `goodhart import`: vendor exports into the canonical lake (crate
//! `goodhart-import`). Arguments and logic live here so that `args.rs` and
//! `main.rs` only name the subcommand.

use std::path::PathBuf;

use clap::Args;
use goodhart::import::{
    import, write_roster, Format, IdentityMap, ImportError, ImportOptions, UserPattern,
};

/// Arguments of `goodhart import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The source format (see `--list`).
    #[arg(value_name = "FORMAT", required_unless_present = "list")]
    pub format: Option<String>,
    /// Source files or directories (directories are searched recursively).
    #[arg(value_name = "SRC", required_unless_present = "list")]
    pub sources: Vec<PathBuf>,
    /// The lake to write: `LAKE/events/date=.../source=FORMAT/part-*.parquet`
    /// and `LAKE/_imports/` (manifest, report).
    #[arg(long, value_name = "LAKE", required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Identity map CSV with the header `source,source_id,user_id`
    /// (`source` = a format name or `*`).
    #[arg(long, value_name = "FILE")]
    pub identities: Option<PathBuf>,
    /// The user of records that carry none (Claude Code transcripts).
    #[arg(long, value_name = "USER", conflicts_with = "user_from_path")]
    pub user: Option<String>,
    /// Take the user from the source path, e.g. '/home/{user}/.claude/projects/**'
    /// (`{user}` = one path segment, `*` = one segment, `**` = any number).
    #[arg(long, value_name = "PATTERN")]
    pub user_from_path: Option<String>,
    /// Environment variable holding the key for task and context hashes
    /// (HMAC-SHA256). Without it a documented fixed key is used, with a warning.
    #[arg(long, value_name = "VAR")]
    pub hash_key_env: Option<String>,
    /// Roster CSV (`user_id` or `email`, `team`, `role`) written as `LAKE/users.parquet`.
    #[arg(long, value_name = "CSV")]
    pub roster: Option<PathBuf>,
    /// Idle gap in minutes that starts a new session, for sources without sessions.
    #[arg(long, value_name = "MINUTES", default_value_t = goodhart::import::DEFAULT_IDLE_GAP_MINUTES)]
    pub idle_gap: u64,
    /// Source megabytes read and held at once: files are imported in chunks
    /// of about this size, so peak memory depends on it and not on the
    /// corpus. Results are the same for any value.
    #[arg(long, value_name = "MB", default_value_t = goodhart::import::DEFAULT_CHUNK_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_mb: u64,
    /// Megabytes of memory for the deduplication indexes (this run's keys
    /// and earlier runs'); past it they spill to sorted runs in a scratch
    /// directory under LAKE/_imports/, removed at the end. Peak memory does
    /// not grow with the corpus. Results are the same for any value.
    #[arg(long, value_name = "MB", default_value_t = goodhart::import::DEFAULT_INDEX_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub index_mb: u64,
    /// Span or resource attribute naming the person in `otel-genai` traces
    /// (repeat it; the first present wins). Default: user.id, enduser.id.
    #[arg(long = "user-attribute", value_name = "KEY")]
    pub user_attributes: Vec<String>,
    /// List the formats and what each can and cannot provide.
    #[arg(long)]
    pub list: bool,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `goodhart import`; returns the exit code (errors are printed here:
/// 2 = fix the input or an option, 1 = the lake could not be written).
pub fn run(a: ImportArgs) -> u8 {
    match go(a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_user_error() {
                2
            } else {
                1
            }
        }
    }
}

fn list() {
    for f in Format::ALL {
        let i = f.info();
        println!(
            "{}\n  reads:    {}\n  provides: {}\n  cannot:   {}",
            i.name, i.source, i.provides, i.cannot
        );
        for a in i.assumptions {
            println!("  assumes:  {a}");
        }
        println!();
    }
}

fn go(a: ImportArgs) -> Result<u8, ImportError> {
    if a.list {
        list();
        return Ok(0);
    }
    let name = a.format.unwrap_or_default();
    let format = Format::parse(&name).ok_or(ImportError::UnknownFormat(name))?;
    let out = a.out.expect("clap requires --out without --list");
    let mut opts = ImportOptions::new(format, a.sources, out.clone());
    if let Some(p) = &a.identities {
        opts.identities = IdentityMap::from_csv(p)?;
    }
    opts.user = a.user;
    if let Some(p) = &a.user_from_path {
        opts.user_from_path = Some(UserPattern::parse(p)?);
    }
    opts.idle_gap_minutes = a.idle_gap;
    opts.chunk_bytes = a.chunk_mb.saturating_mul(1 << 20);
    opts.index_bytes = a.index_mb.saturating_mul(1 << 20);
    if !a.user_attributes.is_empty() {
        opts.user_attributes = a.user_attributes;
    }
    if let Some(v) = &a.hash_key_env {
        opts.hash_key_from_env(v)?;
    }
    if format.needs_user() && opts.user.is_none() && opts.user_from_path.is_none() {
        return Err(ImportError::Config {
            what: "--user".into(),
            message: format!(
                "{format} records carry no user. Fix: give --user NAME, or --user-from-path \
                 '/home/{{user}}/.claude/projects/**' to take it from each file's path."
            ),
        });
    }
    let report = import(&opts)?;
    if let Some(r) = &a.roster {
        let n = write_roster(r, &out, &opts.identities)?;
        eprintln!(
            "roster: {n} users written to {}",
            out.join("users.parquet").display()
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serialises")
        );
    } else {
        let t = &report.totals;
        let events: u64 = t.events.values().sum();
        let skipped: u64 = t.skipped.values().sum();
        let quarantined: u64 = t.quarantined.values().sum();
        println!(
            "{}: {} files ({} imported), {} records: {} used, {} skipped, {} quarantined; {} events written; {} users",
            report.format,
            t.files,
            t.files_imported,
            t.records,
            t.used,
            skipped,
            quarantined,
            events,
            report.users.len()
        );
        for (k, v) in &t.events {
            println!("  {k}: {v}");
        }
        if quarantined > 0 {
            println!("quarantined:");
            for (k, v) in &t.quarantined {
                println!("  {k}: {v}");
            }
        }
        if !report.unmapped_ids.is_empty() {
            println!(
                "unmapped ids (used as they are): {}",
                report.unmapped_ids.join(", ")
            );
        }
        println!(
            "report: {}",
            out.join("_imports").join("import_report.json").display()
        );
    }
    Ok(0)
}
