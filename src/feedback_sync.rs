//! `goodhart feedback --sync`: verdicts taken back from goodhart's resolved Jira tickets.

use anyhow::Result;
use chrono::Utc;
use goodhart::alerts::{DeliverOptions, OpenMode, StateStore, SyncReport};
use goodhart::{Config, Error};

use crate::args::FeedbackArgs;

/// One line for the terminal: how many verdicts were synced, and anything that needs a look.
pub(crate) fn summary_line(r: &SyncReport) -> String {
    let mut line = format!(
        "jira sync: {} verdict(s) synced ({} resolved ticket(s) checked, {} already recorded",
        r.synced, r.tickets_checked, r.already_recorded
    );
    if r.unknown > 0 {
        line.push_str(&format!(", {} of unknown alerts", r.unknown));
    }
    if !r.unmapped.is_empty() {
        let names: Vec<String> = r
            .unmapped
            .iter()
            .map(|(k, v)| format!("{k:?}: {v}"))
            .collect();
        line.push_str(&format!(
            ", unmapped resolutions {} (map them in [jira] resolution_verdicts)",
            names.join(", ")
        ));
    }
    line.push(')');
    if let Some(e) = &r.error {
        line.push_str(&format!("; stopped early: {e}"));
    }
    line
}

/// Runs the sync against the state in `--state`; verdicts are dated `--at` (default today).
pub(crate) fn run(a: &FeedbackArgs) -> Result<u8> {
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let acfg = loaded.config.alerts_config();
    if acfg.jira.is_none() {
        return Err(loaded
            .error(
                "there is no [jira] section, so there are no tickets to take verdicts from. \
                 Fix: pass the configuration the nightly scan uses with --config"
                    .into(),
            )
            .into());
    }
    let at = a.at.unwrap_or_else(|| Utc::now().date_naive());
    let mut store = StateStore::open_with(&a.state, OpenMode::MustExist).map_err(Error::from)?;
    let opts = DeliverOptions::from_config(&acfg, Utc::now());
    let report =
        goodhart::alerts::sync_jira_verdicts(&mut store, &acfg, &opts, at).map_err(Error::from)?;
    for v in &report.recorded {
        println!(
            "recorded {} for {} (Jira {} resolved as {:?})",
            v.verdict, v.fingerprint, v.ticket, v.resolution
        );
    }
    println!("{}", summary_line(&report));
    // Jira unreachable: worth a retry.
    Ok(if report.error.is_some() {
        crate::EXIT_FAILURE
    } else {
        crate::EXIT_OK
    })
}
