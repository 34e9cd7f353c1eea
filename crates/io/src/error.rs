//! Typed ingest errors whose messages name the file and the fix.

use goodhart_schema::SchemaError;
use std::path::PathBuf;

/// Why reading or writing goodhart's Parquet files failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The input path does not exist.
    #[error(
        "{}: no such file or directory. Fix: pass an events .parquet file or a directory of them.",
        .path.display()
    )]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// A directory holds no `.parquet` file.
    #[error(
        "{}: no .parquet files under this directory (hidden and _-prefixed files are ignored). \
         Fix: point goodhart at the directory that holds the exported events.",
        .path.display()
    )]
    EmptyDir {
        /// The directory given.
        path: PathBuf,
    },
    /// An input path is a FIFO, socket or device, which goodhart never opens.
    #[error(
        "{}: {kind}, not a regular file; goodhart never opens one (reading a FIFO would wait \
         forever). Fix: pass the events .parquet file or the directory that holds them.",
        .path.display()
    )]
    NotRegularFile {
        /// The path given.
        path: PathBuf,
        /// What it is (e.g. `a FIFO (named pipe)`).
        kind: &'static str,
    },
    /// A symbolic link leads back to itself or to one of its own parent directories.
    #[error(
        "{}: symbolic link loop (it points to {}, which leads back to the link itself). \
         Fix: remove the link or point it outside the input directory.",
        .link.display(),
        .target.display()
    )]
    SymlinkLoop {
        /// The link.
        link: PathBuf,
        /// What the link points to.
        target: PathBuf,
    },
    /// A file could not be opened as Parquet (bad magic bytes, corrupt footer).
    #[error(
        "{}: not a Parquet file ({detail}). Fix: pass Parquet files only, or re-export this file \
         with a Parquet writer.",
        .path.display()
    )]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet reader said.
        detail: String,
    },
    /// The file's Parquet data could not be decoded after its footer was read.
    #[error(
        "{}: could not read Parquet data: {source}. Fix: the file is probably truncated or corrupt; \
         re-export it.",
        .path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Bytes inside an input file cannot be decoded (a garbled page, invalid
    /// UTF-8 in a string column): bad input, which a retry will not fix.
    #[error(
        "{}: row group {row_group}{}: cannot decode the data ({detail}). Fix: the file is \
         corrupt; re-export it from the source, or move it out of the input directory.",
        .path.display(),
        .column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The row group (0-based) that failed.
        row_group: usize,
        /// The column that failed on its own, when one does.
        column: Option<String>,
        /// What the decoder said (the cause, given once: it is not also a `source`).
        detail: String,
    },
    /// The roster lists a user more than once.
    #[error(
        "roster: user {user:?} is listed {} times ({}). Fix: keep one row per user in the roster",
        .rows.len(),
        .rows.join(", ")
    )]
    DuplicateRosterUser {
        /// The user id.
        user: String,
        /// Where: `file row N` for each occurrence (rows 0-based).
        rows: Vec<String>,
    },
    /// A file system operation failed.
    #[error("{}: {source}. Fix: check the path exists and is readable/writable.", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file's columns do not match the canonical schema (the message names the file).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Writing a Parquet file failed.
    #[error("{}: could not write Parquet: {message}. Fix: check the batches match the schema and the directory is writable.", .path.display())]
    Write {
        /// The destination.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A scratch file of the bucketed feature pass (a spilled run of events)
    /// could not be written or read back.
    #[error(
        "{}: scratch file of the bucketed feature pass: {message}. Fix: free space on that file \
         system (the scratch files hold about 130 bytes per accepted event and are removed at \
         the end), or raise --memory-limit / [scan] memory_limit so that the pass runs in memory.",
        .path.display()
    )]
    Spill {
        /// The scratch file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An invalid option was given.
    #[error("invalid read option {option}: {message}")]
    InvalidOption {
        /// The option (e.g. `batch_size`).
        option: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl From<goodhart_core::CoreError> for IoError {
    fn from(e: goodhart_core::CoreError) -> IoError {
        match e {
            goodhart_core::CoreError::Io { path, source } => io_err(path)(source),
            other => IoError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IoError {
    let path = path.into();
    move |source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            IoError::NotFound { path }
        } else {
            IoError::Io { path, source }
        }
    }
}
