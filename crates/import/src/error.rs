//! Typed import errors. Each message names the file or the option and the fix.

use std::path::PathBuf;

/// Why an import could not run.
///
/// Bad records inside a source are never errors: they are quarantined and
/// counted in the report. These errors are about sources that cannot be read
/// at all, bad options and output that cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A source file or directory cannot be read (missing, permissions).
    #[error("{}: cannot read the source: {source}. Fix: check the path and its permissions.", path.display())]
    Source {
        /// The source path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A bad option or option file (identities, roster, user pattern).
    #[error("{what}: {message}")]
    Config {
        /// The option or file concerned.
        what: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The format name is not known.
    #[error(
        "unknown import format \"{0}\". Fix: run `goodhart import --list` to see the formats."
    )]
    UnknownFormat(String),
    /// The output lake cannot be written.
    #[error("{}: cannot write the output: {message}. Fix: check the --out directory, its free space and permissions.", path.display())]
    Output {
        /// The output path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A source file changed (other than by growing) while it was being
    /// imported.
    #[error("{}: the file changed while it was being imported. Fix: run the import again (it is safe to repeat).", path.display())]
    Changed {
        /// The source path.
        path: PathBuf,
    },
    /// The import manifest exists but cannot be understood.
    #[error("{}: the import manifest is unreadable ({message}). Fix: restore it from a backup, or move LAKE/_imports away to re-import everything (this re-imports every source file).", path.display())]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl ImportError {
    /// True when the user must fix an input, a path or an option (exit 2);
    /// false for failures a retry may fix (exit 1).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            ImportError::Output { .. } | ImportError::Changed { .. }
        )
    }
}

pub(crate) fn out_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |e| ImportError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
