//! Terminal presentation: progress bars, SI-prefixed rates and escaping of
//! control characters in ids quoted from the data.

use std::io::IsTerminal;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over the rows to read, drawn only on a terminal. Its length
/// comes from the Parquet footers, which are read for it only when it is drawn
/// (a scheduled run pays nothing for it).
pub(crate) fn progress_bar(
    quiet: bool,
    total_rows: impl FnOnce() -> Result<u64>,
) -> Result<ProgressBar> {
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
pub(crate) fn stage_spinner(pb: &ProgressBar) {
    if pb.is_hidden() {
        return;
    }
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("static template"),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
}

/// A rate with an SI prefix and three significant digits: `3.65M`, `812k`, `37`.
pub(crate) fn si(v: f64) -> String {
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
pub(crate) fn term(s: &str) -> std::borrow::Cow<'_, str> {
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
