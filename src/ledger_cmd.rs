//! `goodhart ledger --state DIR [--format text|json|csv]`: the weekly waste
//! ledger kept in the state (#11). Rendering lives in `goodhart::ledger`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use goodhart::{Config, Error};

use crate::EXIT_OK;

/// Output format of `goodhart ledger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LedgerFormat {
    /// An aligned table per week.
    #[default]
    Text,
    /// `{"min_group_size": k, "rows": [...]}`; withheld figures are null.
    Json,
    /// One line per week × team × pattern; withheld figures read "< k".
    Csv,
}

/// Arguments of `goodhart ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// State directory.
    #[arg(long, value_name = "DIR", default_value = ".goodhart")]
    pub state: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: LedgerFormat,
    /// Configuration file (for `[privacy] min_group_size`, shown as "< k").
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub(crate) fn ledger(a: LedgerArgs) -> Result<u8> {
    let loaded = Config::discover(a.config.as_deref(), None)?;
    let k = loaded.config.alerts_config().privacy.min_group_size;
    let mut store = crate::privacy_cmd::open_existing(&a.state)?;
    let rows = store.ledger().map_err(Error::from)?;
    let text = match a.format {
        LedgerFormat::Text => goodhart::ledger::to_text(&rows, k),
        LedgerFormat::Json => goodhart::ledger::to_json(&rows, k),
        LedgerFormat::Csv => goodhart::ledger::to_csv(&rows, k),
    };
    print!("{text}");
    Ok(EXIT_OK)
}
