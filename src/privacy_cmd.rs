//! The privacy commands: audited `whois` (with four-eyes mode), `audit verify|log`.
//! The logic lives in `goodhart-alerts` (`audit`); this file parses and prints.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use goodhart::alerts::{Actor, AlertError, AuditVerification, StateStore};
use goodhart::{Config, Error};

use crate::args::{Format, WhoisArgs};
use crate::{usage, EXIT_OK};

/// Arguments of `goodhart audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do with the audit log.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `goodhart audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; exit 0 when intact, 2 naming the first bad entry otherwise.
    Verify(AuditStateArgs),
    /// List the entries (who, when, which pseudonym, why, outcome).
    Log(AuditLogArgs),
}

/// Arguments of `goodhart audit verify`.
#[derive(Debug, Args)]
pub struct AuditStateArgs {
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
}

/// Arguments of `goodhart audit log`.
#[derive(Debug, Args)]
pub struct AuditLogArgs {
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Opens an existing state store; a missing one is a usage error (never created here).
pub(crate) fn open_existing(state: &Path) -> Result<StateStore> {
    let file = state.join(goodhart::alerts::STATE_FILE);
    if !file.is_file() {
        return Err(usage(format!(
            "{}: no alert state here. Fix: pass the --state directory that `goodhart scan` uses \
             ([alerts] state_dir, default .goodhart)",
            file.display()
        )));
    }
    Ok(StateStore::open_with(state, goodhart::alerts::OpenMode::MustExist).map_err(Error::from)?)
}

/// Refusals are the user's to resolve (exit 2); other errors are runtime failures.
fn privacy_err(e: AlertError) -> anyhow::Error {
    match e {
        AlertError::Refused { .. } => usage(e.to_string()),
        other => Error::from(other).into(),
    }
}

pub(crate) fn whois(a: WhoisArgs) -> Result<u8> {
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let privacy = &loaded.config.privacy;
    let actor =
        Actor::resolve(a.actor.as_deref(), privacy.actor.as_deref()).map_err(privacy_err)?;
    let mut store = open_existing(&a.state)?;
    let now = Utc::now();
    let reason = a.reason.as_deref().unwrap_or("");
    if let Some(id) = &a.approve {
        store
            .approve_reidentification(id, reason, &actor, now)
            .map_err(privacy_err)?;
        println!(
            "approved {id} as {}; the requester can now run `goodhart whois --reveal {id}`",
            actor.name
        );
        return Ok(EXIT_OK);
    }
    let found = if let Some(id) = &a.reveal {
        store
            .reveal_approved(id, &actor, now)
            .map_err(privacy_err)?
    } else {
        let pseudonym = a.pseudonym.as_deref().unwrap_or_default();
        if a.request {
            let id = store
                .request_reidentification(pseudonym, reason, &actor, now)
                .map_err(privacy_err)?;
            println!("{id}");
            eprintln!(
                "request {id} recorded; another person runs `goodhart whois --approve {id}`, then \
                 you run `goodhart whois --reveal {id}`"
            );
            return Ok(EXIT_OK);
        }
        store
            .reidentify(pseudonym, reason, &actor, privacy.four_eyes, now)
            .map_err(privacy_err)?
    };
    match found.user_id {
        Some(u) => {
            println!("{u}");
            Ok(EXIT_OK)
        }
        None => Err(usage(format!(
            "{}: no pseudonym {:?} in this state store (the attempt is recorded as audit entry \
             {}). Fix: check the pseudonym and --state",
            a.state.join(goodhart::alerts::STATE_FILE).display(),
            found.entry.pseudonym,
            found.entry.seq
        ))),
    }
}

pub(crate) fn audit(a: AuditArgs) -> Result<u8> {
    match a.command {
        AuditCommand::Verify(v) => {
            let mut store = open_existing(&v.state)?;
            match store.audit_verify().map_err(Error::from)? {
                AuditVerification::Ok { entries, head_hash } => {
                    println!("audit log ok: {entries} entries, head hash {head_hash}");
                    Ok(EXIT_OK)
                }
                AuditVerification::Broken { seq, problem } => Err(usage(format!(
                    "{}: audit log verification FAILED at entry {seq}: {problem}. The log was \
                     edited outside goodhart; keep this state file as evidence and report it",
                    v.state.join(goodhart::alerts::STATE_FILE).display()
                ))),
            }
        }
        AuditCommand::Log(l) => {
            let mut store = open_existing(&l.state)?;
            let entries = store.audit_log().map_err(Error::from)?;
            match l.format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
                Format::Text => {
                    for e in &entries {
                        println!(
                            "{:>5} {} {} ({}) {} {} [{}] reason: {}{}",
                            e.seq,
                            e.at,
                            e.actor,
                            e.os_user,
                            e.action,
                            if e.pseudonym.is_empty() {
                                "-"
                            } else {
                                &e.pseudonym
                            },
                            e.outcome,
                            e.reason,
                            e.request_id
                                .as_deref()
                                .map_or(String::new(), |r| format!(" request {r}"))
                        );
                    }
                    if entries.is_empty() {
                        println!("audit log is empty");
                    }
                }
            }
            Ok(EXIT_OK)
        }
    }
}

/// Arguments of `goodhart purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
    /// Configuration file (for `[retention]`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Day the ages are counted from (UTC, YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE", value_parser = crate::args::date_arg)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub(crate) fn purge(a: PurgeArgs) -> Result<u8> {
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let cfg = loaded.config.alerts_config();
    let as_of = a.as_of.unwrap_or_else(|| Utc::now().date_naive());
    // Never creates a state: a missing one has nothing to purge (outputs still are).
    let rep = goodhart::privacy::purge(&cfg, &a.state, as_of, Utc::now())?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rep)?),
        Format::Text => println!(
            "purged as of {as_of}: {} alerts, {} feedback, {} outbox entries, {} pseudonyms, {} \
             aliases, {} audit entries, {} requests; {} output directories ({} files); {} \
             feature cache entries",
            rep.alerts,
            rep.feedback,
            rep.outbox,
            rep.pseudonyms,
            rep.fingerprint_aliases,
            rep.audit_entries,
            rep.reid_requests,
            rep.output_dirs,
            rep.output_files,
            rep.feature_cache_entries
        ),
    }
    Ok(EXIT_OK)
}

/// Arguments of `goodhart subject-report`.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// The person's user id, as in the input.
    #[arg(value_name = "USER_ID")]
    pub user_id: String,
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
    /// Scan output directories to include (alerts with evidence, score rows); the
    /// directories under `[retention] outputs_root` are always included.
    #[arg(long = "outputs", value_name = "DIR")]
    pub outputs: Vec<PathBuf>,
    /// Write the JSON here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Configuration file (for `[retention] outputs_root` and the pseudonym key).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub(crate) fn subject_report(a: SubjectArgs) -> Result<u8> {
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let cfg = loaded.config.alerts_config();
    let mut store = open_existing(&a.state)?;
    // With the key at hand, the person's pseudonym is known even after its mapping was purged.
    let keyed: Vec<String> =
        goodhart::alerts::Pseudonymizer::from_config(&cfg.privacy, &Default::default())
            .ok()
            .flatten()
            .map(|p| vec![p.pseudonym(&a.user_id)])
            .unwrap_or_default();
    let state = store
        .subject_state(&a.user_id, &keyed)
        .map_err(Error::from)?;
    let mut outputs = Vec::new();
    for dir in goodhart::privacy::output_dirs(&cfg, &a.outputs) {
        let alerts_path = dir.join("alerts.jsonl");
        let alerts: Vec<goodhart::alerts::Alert> = if alerts_path.is_file() {
            goodhart::alerts::read_jsonl(&alerts_path)
                .map_err(Error::from)?
                .into_iter()
                .filter(|al| al.candidate.user_id == a.user_id)
                .collect()
        } else {
            Vec::new()
        };
        let rows = |name: &str| goodhart::privacy::subject_rows(&dir.join(name), &a.user_id);
        outputs.push(serde_json::json!({
            "directory": dir.display().to_string(),
            "alerts": alerts,
            "user_scores": rows("user_scores.parquet")?,
            "session_scores": rows("session_scores.parquet")?,
            "quarantined_rows": rows("quarantine.parquet")?,
        }));
    }
    let report = serde_json::json!({
        "user_id": a.user_id,
        "generated_at": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "state": a.state.join(goodhart::alerts::STATE_FILE).display().to_string(),
        "held_in_state": state,
        "scan_outputs": outputs,
        "not_held": "prompt and response text, code and file contents are never read; input \
                     events are not kept beyond the scan",
    });
    let text = format!("{}\n", serde_json::to_string_pretty(&report)?);
    match &a.out {
        Some(p) => {
            goodhart::scan::write_atomic(p, text.as_bytes())?;
            eprintln!(
                "subject report for {} written to {}",
                a.user_id,
                p.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(EXIT_OK)
}

/// Arguments of `goodhart privacy`.
#[derive(Debug, Args)]
pub struct PrivacyArgs {
    /// Print the personal-data inventory: every field goodhart reads, derives, stores or
    /// sends, its purpose, where it lives and its retention.
    #[arg(long, required = true)]
    pub inventory: bool,
    /// Configuration file (the retention shown is the configured one).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub(crate) fn privacy(a: PrivacyArgs) -> Result<u8> {
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let rows = goodhart::inventory::inventory(&loaded.config.alerts_config());
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Text => print!("{}", goodhart::inventory::render_text(&rows)),
    }
    Ok(EXIT_OK)
}
