//! The atomic file writer behind every goodhart output.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CoreError;

/// A new temporary sibling of `path`, `.<name>.<pid>.<n>.tmp`. Hand-written
/// rather than `tempfile`, whose files are created with mode 0600, which
/// would leave outputs unreadable to the rest of an analyst's team after the
/// rename; here the mode is `0666` minus the process umask, like any file the
/// user creates.
fn temp_sibling(path: &Path) -> Result<(PathBuf, File), CoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CoreError::io(dir)(e)),
        }
    }
}

/// Writes a file atomically.
///
/// `write` fills a new temporary sibling of `path` (`.<name>.<pid>.<n>.tmp`,
/// mode `0666` minus the umask) and returns it; the file is flushed to disk
/// (`fsync`), renamed over `path`, and the directory is flushed too, so after
/// a crash `path` holds the old bytes or the new ones, never a mix. On
/// failure the temporary file is removed. The parent directory must exist.
///
/// The caller's error type `E` carries both its own failures (from `write`)
/// and this function's ([`CoreError::Io`], naming the file).
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("alerts.jsonl");
/// goodhart_core::write_atomic(&path, |mut f| {
///     f.write_all(b"{}\n").map_err(goodhart_core::CoreError::io(&path))?;
///     Ok::<_, goodhart_core::CoreError>(f)
/// })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "{}\n");
/// assert_eq!(std::fs::read_dir(dir.path())?.count(), 1); // no temporary left
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic<E: From<CoreError>>(
    path: &Path,
    write: impl FnOnce(File) -> Result<File, E>,
) -> Result<(), E> {
    let (tmp, file) = temp_sibling(path)?;
    let result = (|| {
        let file = write(file)?;
        file.sync_all().map_err(CoreError::io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(CoreError::io(path))?;
        sync_dir(tmp.parent().unwrap_or(Path::new(".")))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] of a byte string.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    write_atomic(path, |mut f| {
        f.write_all(bytes).map_err(CoreError::io(path))?;
        Ok(f)
    })
}

/// Flushes a directory's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), CoreError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(CoreError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_bytes_atomic(&path, b"old").unwrap();
        let r: Result<(), CoreError> = write_atomic(&path, |mut f| {
            f.write_all(b"half").unwrap();
            Err(CoreError::Severity("x".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_bytes_atomic(&dir.path().join("missing/x"), b"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
