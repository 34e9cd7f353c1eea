//! Typed errors of feature extraction.

/// Everything that can go wrong while turning events into features.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// A [`FeatureOptions`](crate::FeatureOptions) setting is out of range.
    #[error("invalid feature setting `{setting}` = {value}: {reason}")]
    InvalidOption {
        /// Name of the setting (as in `FeatureOptions` / the CLI flag).
        setting: &'static str,
        /// The offending value, rendered.
        value: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The accumulator was built for other snapshot settings than the ones
    /// passed to `finalize`, or accumulators with different settings were merged.
    #[error(
        "snapshot settings of the accumulator ({acc}) differ from the feature options ({opts}); \
         build every accumulator with `SessionAccumulator::with_options(&opts)` using the same \
         options that are later passed to `finalize`"
    )]
    SnapshotMismatch {
        /// The accumulator's settings, rendered.
        acc: String,
        /// The options' settings, rendered.
        opts: String,
    },
    /// Building an Arrow record batch failed (a bug: please report it).
    #[error("building the feature table `{table}` failed: {source}")]
    Arrow {
        /// `sessions` or `users`.
        table: &'static str,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },
}
