//! The one error type of this crate.

use std::path::PathBuf;

/// What can go wrong in the shared vocabulary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A severity name that is none of the five.
    #[error("unknown severity {0:?}; expected one of none, low, medium, high, critical")]
    Severity(String),
    /// A window length that is not whole days or out of range.
    #[error("{given:?} is not a window length: {reason}; write whole days from 1 to {max}, such as \"28d\"", max = crate::Window::MAX_DAYS)]
    WindowLength {
        /// What was given.
        given: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl CoreError {
    /// An [`CoreError::Io`] for `path`, for `map_err`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CoreError {
        let path = path.into();
        move |source| CoreError::Io { path, source }
    }
}
