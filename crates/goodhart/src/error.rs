//! The facade's error: every stage's typed error, plus configuration and
//! dataset-layout errors, classified into "the user must fix something"
//! (bad input or configuration) and "something failed at run time".

use std::path::PathBuf;

/// Any error of the goodhart pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file could not be read or has a bad setting.
    #[error("{file}: {message}")]
    Config {
        /// The configuration file (or `--option` that was wrong).
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The dataset is not laid out as expected.
    #[error("{}: {message}", .path.display())]
    Dataset {
        /// The path given.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The window holds no usable event: a mistyped `--as-of`, or an export that did not arrive.
    #[error(
        "no events in the window {first} .. {last}: {rows_read} rows read, none inside it; {}. \
         Nothing was written and the alert state was not changed. Fix: check --as-of / \
         [scan] as_of and --window, or that the export for these days arrived",
        match .data {
            Some((a, b)) => format!("the data covers {a} .. {b}"),
            None => "the dates the data covers are unknown (no ts statistics)".to_string(),
        }
    )]
    EmptyWindow {
        /// First day of the window.
        first: chrono::NaiveDate,
        /// Last day of the window (the as-of date).
        last: chrono::NaiveDate,
        /// Rows read (all outside the window or quarantined).
        rows_read: u64,
        /// First and last day of the events found, from the Parquet footers.
        data: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    },
    /// Reading or writing Parquet failed (missing file, not Parquet, schema error, …).
    #[error(transparent)]
    Io(#[from] goodhart_io::IoError),
    /// Feature extraction failed.
    #[error(transparent)]
    Features(#[from] goodhart_features::FeatureError),
    /// Scoring failed.
    #[error(transparent)]
    Detect(#[from] goodhart_detect::DetectError),
    /// Alert lifecycle or delivery failed.
    #[error(transparent)]
    Alerts(#[from] goodhart_alerts::AlertError),
    /// Synthetic data generation failed.
    #[error(transparent)]
    Synth(#[from] goodhart_synth::SynthError),
    /// The HTML report could not be written.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The waste ledger failed (a bad `[prices]` setting, or a bug).
    #[error(transparent)]
    Waste(#[from] goodhart_waste::WasteError),
    /// Writing an output file failed.
    #[error("{}: {source}. Fix: check the output directory is writable.", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An in-memory Arrow stream (see [`crate::batches`]) failed while being read.
    #[error("{source_name}: the Arrow stream failed: {message}. Fix: check the table or reader passed in can be read to the end.")]
    Stream {
        /// The name the caller gave the input.
        source_name: String,
        /// The stream's error.
        message: String,
    },
    /// The caller asked the run to stop (e.g. Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// True when the error is the user's to fix: bad input data, a bad
    /// configuration or option, a missing file. The CLI exits 2 for these, 1
    /// for the rest.
    pub fn is_user_error(&self) -> bool {
        use goodhart_io::IoError as I;
        match self {
            Error::Config { .. } | Error::Dataset { .. } | Error::EmptyWindow { .. } => true,
            Error::Io(e) => matches!(
                e,
                I::NotFound { .. }
                    | I::NotRegularFile { .. }
                    | I::SymlinkLoop { .. }
                    | I::Corrupt { .. }
                    | I::DuplicateRosterUser { .. }
                    | I::EmptyDir { .. }
                    | I::NotParquet { .. }
                    | I::Schema(_)
                    | I::InvalidOption { .. }
            ),
            Error::Features(e) => {
                matches!(e, goodhart_features::FeatureError::InvalidOption { .. })
            }
            Error::Detect(e) => !matches!(
                e,
                goodhart_detect::DetectError::Arrow(_) | goodhart_detect::DetectError::Model(_)
            ),
            Error::Alerts(e) => matches!(
                e,
                goodhart_alerts::AlertError::Config { .. }
                    | goodhart_alerts::AlertError::MissingEnv { .. }
                    | goodhart_alerts::AlertError::UnknownFingerprint { .. }
                    | goodhart_alerts::AlertError::NotGoodhartDb { .. }
                    | goodhart_alerts::AlertError::EmptyState { .. }
                    | goodhart_alerts::AlertError::StateMissing { .. }
            ),
            Error::Synth(e) => matches!(
                e,
                goodhart_synth::SynthError::Config { .. }
                    | goodhart_synth::SynthError::OutputNotEmpty { .. }
            ),
            Error::Waste(e) => matches!(e, goodhart_waste::WasteError::Price { .. }),
            Error::Report(_) | Error::Write { .. } | Error::Stream { .. } | Error::Interrupted => {
                false
            }
        }
    }
}
