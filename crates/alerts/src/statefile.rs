//! Safety of the state file itself: what may be opened, how a new one is made, what is refused,
//! and the rolling backups.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{AlertError, Result};
use crate::store::{StateStore, APPLICATION_ID, STATE_FILE};

/// Directory of the rolling state backups, inside the state directory.
pub const BACKUP_DIR: &str = "backups";

/// How [`StateStore::open_with`] treats a missing, empty or foreign state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OpenMode {
    /// Create the database when the file does not exist yet (first run), unless backups of an
    /// earlier state exist (then the state vanished: refused, restore it). An empty or foreign
    /// file is refused. `goodhart scan`.
    #[default]
    CreateIfMissing,
    /// The database must exist; nothing is ever created. `goodhart whois`, `feedback`, `eval`.
    MustExist,
    /// Start a new state when the file is missing, empty or foreign (the refused file is moved
    /// aside, never deleted); a good existing state is opened as is. `goodhart scan --init-state`.
    Init,
}

/// What [`inspect`] found at `<dir>/state.sqlite3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// No file (or no directory).
    Missing,
    /// A 0-byte file.
    Empty,
    /// Not goodhart's: the reason.
    Foreign(String),
    /// A goodhart state database.
    Ours,
}

/// Look at the state file without creating or changing anything.
pub(crate) fn inspect(dir: &Path) -> Result<Found> {
    let path = dir.join(STATE_FILE);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        // `dir` is a regular file, or unreadable.
        Err(e) => {
            return Err(AlertError::StateNotWritable {
                path: dir.to_path_buf(),
                source: Box::new(e),
            })
        }
    };
    if meta.is_dir() {
        return Err(AlertError::NotGoodhartDb {
            path,
            reason: "it is a directory".into(),
        });
    }
    if meta.len() == 0 {
        return Ok(Found::Empty);
    }
    // The 100-byte SQLite header: magic string, and application_id at offset 68 (big endian).
    let mut header = [0u8; 100];
    let n = std::fs::File::open(&path)
        .and_then(|mut f| read_up_to(&mut f, &mut header))
        .map_err(|e| AlertError::io(&path, e))?;
    if n < 100 || &header[..16] != b"SQLite format 3\0" {
        return Ok(Found::Foreign("the file is not a SQLite database".into()));
    }
    let app_id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    if app_id == APPLICATION_ID {
        return Ok(Found::Ours);
    }
    // The header may predate an un-checkpointed write-ahead log (databases made before the
    // state was created atomically): ask SQLite. Opening an existing file reads it only.
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| AlertError::StateNotWritable {
        path: path.clone(),
        source: Box::new(e),
    })?;
    Ok(match foreign_reason(&conn, &path)? {
        Some(reason) => Found::Foreign(reason),
        None => Found::Ours,
    })
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Why an open database is not goodhart's, or `None` when it is.
pub(crate) fn foreign_reason(conn: &Connection, path: &Path) -> Result<Option<String>> {
    let not_db = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Ok("the file is not a SQLite database".to_string()),
        _ => Err(AlertError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        }),
    };
    let app_id: i32 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(v) => v,
        Err(e) => return not_db(e).map(Some),
    };
    if app_id == APPLICATION_ID {
        return Ok(None);
    }
    let tables: i64 = match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)) {
        Ok(v) => v,
        Err(e) => return not_db(e).map(Some),
    };
    Ok(Some(match (app_id, tables) {
        (0, 0) => "an empty SQLite database without goodhart's tables".into(),
        (0, _) => "it holds tables of another application".into(),
        _ => format!("its application_id is {app_id:#x}, expected {APPLICATION_ID:#x}"),
    }))
}

/// Backups of the state in `dir`, oldest first.
pub fn list_backups(state_dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = state_dir.as_ref().join(BACKUP_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AlertError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| AlertError::io(&dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("state-") && name.ends_with(".sqlite3") {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn refuse_if_backups(dir: &Path) -> Result<()> {
    let backups = list_backups(dir)?;
    match backups.last() {
        None => Ok(()),
        Some(newest) => Err(AlertError::StateMissing {
            path: dir.join(STATE_FILE),
            reason: format!(
                "the alert state is missing, but {} backup(s) of it exist (newest {}). Starting \
                 over would make every open alert new again and duplicate its ticket. Fix: \
                 restore the newest backup (README, \"State backups and restore\"), or run \
                 `goodhart scan` with --init-state to start a new state on purpose",
                backups.len(),
                newest.display()
            ),
        }),
    }
}

/// The error for a state `mode` does not accept.
pub(crate) fn refusal(dir: &Path, found: Found, mode: OpenMode) -> AlertError {
    let path = dir.join(STATE_FILE);
    match found {
        Found::Empty => AlertError::EmptyState {
            path,
            backups: dir.join(BACKUP_DIR),
        },
        Found::Foreign(reason) => AlertError::NotGoodhartDb { path, reason },
        Found::Missing | Found::Ours => AlertError::StateMissing {
            path,
            reason: match mode {
                OpenMode::MustExist => "no alert state here (nothing was created). Fix: pass the \
                                        state directory `goodhart scan` uses with --state \
                                        ([alerts] state_dir, default .goodhart)"
                    .into(),
                _ => "no alert state here".into(),
            },
        },
    }
}

fn sync_dir(dir: &Path) {
    // Durability of the rename; not all platforms can open a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Build a new database under a temporary name and link it into place complete: an
/// interrupted first run leaves no half-made `state.sqlite3`. If another process created the
/// state meanwhile, theirs is kept.
pub(crate) fn create_fresh(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| AlertError::StateNotWritable {
        path: dir.to_path_buf(),
        source: Box::new(e),
    })?;
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!(".{STATE_FILE}.{}.init", std::process::id()));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    let not_writable = |e: rusqlite::Error| AlertError::StateNotWritable {
        path: tmp.clone(),
        source: Box::new(e),
    };
    {
        let mut conn = Connection::open(&tmp).map_err(not_writable)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(not_writable)?;
        StateStore::migrate(&mut conn, &tmp)?;
        // Closing checkpoints the log into the file and removes it.
        conn.close().map_err(|(_, e)| not_writable(e))?;
    }
    let io = |e| AlertError::StateNotWritable {
        path: path.clone(),
        source: Box::new(e),
    };
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    match std::fs::hard_link(&tmp, &path) {
        Ok(()) => {}
        // Someone else's new state won the race: keep it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        // No hard links on this file system: a rename, which cannot refuse to replace.
        Err(_) if !path.exists() => std::fs::rename(&tmp, &path).map_err(io)?,
        Err(e) => return Err(io(e)),
    }
    let _ = std::fs::remove_file(&tmp);
    sync_dir(dir);
    Ok(())
}

/// Rename a refused state file (and its log files) to `state.sqlite3.refused-<UTC time>`.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut target = path.with_file_name(format!("{STATE_FILE}.refused-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = path.with_file_name(format!("{STATE_FILE}.refused-{stamp}-{n}"));
        n += 1;
    }
    let io = |e| AlertError::StateNotWritable {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    for suffix in ["-wal", "-shm", "-journal"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{suffix}", target.display())).map_err(io)?;
        }
    }
    std::fs::rename(path, &target).map_err(io)?;
    Ok(target)
}

/// File name of a backup taken at `now`; names sort in time order.
pub(crate) fn backup_name(now: DateTime<Utc>) -> String {
    format!("state-{}.sqlite3", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Delete all but the newest `keep` backups, and temporaries left by an interrupted backup.
pub(crate) fn prune_backups(state_dir: &Path, keep: usize) -> Result<()> {
    let dir = state_dir.join(BACKUP_DIR);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            // Another process's backup in progress is younger than an hour.
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
            if e.file_name().to_string_lossy().ends_with(".sqlite3.tmp") && stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let all = list_backups(state_dir)?;
    let extra = all.len().saturating_sub(keep);
    for old in &all[..extra] {
        std::fs::remove_file(old).map_err(|e| AlertError::io(old, e))?;
    }
    Ok(())
}
