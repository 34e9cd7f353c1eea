//! `goodhart feedback`: record a reviewer's verdict, or sync verdicts from Jira.

use anyhow::Result;
use chrono::Utc;
use goodhart::{Config, Error};

use crate::args::{self};
use crate::{usage, EXIT_OK};

pub(crate) fn feedback(a: args::FeedbackArgs) -> Result<u8> {
    if a.sync {
        return crate::feedback_sync::run(&a);
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
    let at = a.at.unwrap_or_else(|| Utc::now().date_naive());
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
