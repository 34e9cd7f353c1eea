//! Typed schema errors whose messages name the file, the column and the fix.

/// Why a table does not match the canonical schema v1.
///
/// Every message starts with the source label (usually the file path), names
/// the column concerned and ends with a concrete fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A required column is absent.
    #[error(
        "{file}: missing required column \"{column}\" (columns found: {found}). \
         Fix: export the column \"{column}\" ({expected}) or rename the column that holds it; \
         run `goodhart schema` to see the expected layout."
    )]
    MissingColumn {
        /// Source label (file path) of the table.
        file: String,
        /// The missing column.
        column: &'static str,
        /// What the column must hold.
        expected: &'static str,
        /// Comma-separated list of the columns that were found.
        found: String,
    },
    /// A column is present with a type the schema does not accept.
    #[error("{file}: column \"{column}\" has type {found}; expected {expected}. Fix: {fix}")]
    WrongType {
        /// Source label (file path) of the table.
        file: String,
        /// The offending column.
        column: &'static str,
        /// The Arrow type found, as displayed by Arrow.
        found: String,
        /// What the schema accepts.
        expected: &'static str,
        /// How to repair the export.
        fix: &'static str,
    },
    /// A roster row has a null `user_id`.
    #[error(
        "{file}: row {row} has a null \"user_id\"; every roster row needs one. \
         Fix: drop the row or fill in the user id when exporting the roster."
    )]
    NullRosterUser {
        /// Source label (file path) of the roster.
        file: String,
        /// Row number within the roster (0-based, across all its batches).
        row: u64,
    },
    /// An Arrow compute kernel failed while building the quarantine table.
    #[error("{file}: could not build the quarantine rows for column \"{column}\": {message}. Fix: report this as a goodhart bug with the file's schema.")]
    Arrow {
        /// Source label (file path) of the table.
        file: String,
        /// The column being processed.
        column: &'static str,
        /// The Arrow error message.
        message: String,
    },
}
