//! One output set: a scan's files are written into a staging directory and
//! switched in as a whole, so readers see the previous night's set or the new
//! one, never a mix.
//!
//! The staging directory is a hidden sibling of the output directory
//! (`.<name>.staging-<pid>`, same file system). When every file is written
//! and flushed, [`OutputSet::publish`] swaps it with the output directory in
//! one atomic `renameat2(RENAME_EXCHANGE)` (Linux; `renameatx_np(RENAME_SWAP)`
//! on macOS) and deletes the previous set, now under the staging name.
//! Where the exchange is not supported (another OS, a file system without
//! it), the output directory is first renamed to `.<name>.old-<pid>`, then
//! the staging directory to the output name: during that short gap the
//! output directory is absent (never mixed), and an interrupted switch is
//! completed by the next run ([`OutputSet::stage`] renames the old set back
//! if the output directory is missing).
//!
//! A directory swap was chosen over a manifest because readers (the analyst
//! opening `report.html`, a notebook reading `user_scores.parquet`) need no
//! goodhart-specific logic to see a consistent set.

use std::path::{Path, PathBuf};

use crate::Error;

/// Names a scan may leave in its output directory. Anything else there makes
/// the scan refuse to replace the directory (it would be deleted with the old set).
pub const OUTPUT_FILES: &[&str] = &[
    "user_scores.parquet",
    "session_scores.parquet",
    "alerts.jsonl",
    "summary.json",
    "report.html",
    "quarantine.parquet",
    "waste.parquet",
];

/// A staged output set, not yet visible under the output directory.
#[derive(Debug)]
pub struct OutputSet {
    out_dir: PathBuf,
    staging: PathBuf,
    published: bool,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// True when a process with this id is running (Linux `/proc`; elsewhere
/// assume it is, so that nothing a live run uses is deleted).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

impl OutputSet {
    /// Prepares a staging directory beside `out_dir`, after cleaning what an
    /// interrupted earlier run left: stale staging directories (of processes
    /// no longer running), a half-finished switch (restored), and `.*.tmp`
    /// files inside `out_dir` (from older versions). Fails with a
    /// configuration error when `out_dir` holds files a scan does not write.
    pub fn stage(out_dir: &Path) -> Result<OutputSet, Error> {
        let name = out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .ok_or_else(|| Error::Config {
                file: "--out".into(),
                message: format!(
                    "{}: the output directory needs a name of its own (it is replaced as a \
                     whole by each scan). Fix: pass a dedicated directory such as goodhart-out",
                    out_dir.display()
                ),
            })?;
        let parent = match out_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(werr(&parent))?;
        let parent = std::fs::canonicalize(&parent).map_err(werr(&parent))?;
        let out_dir = parent.join(&name);
        clean_stale(&parent, &name, &out_dir)?;
        if out_dir.is_dir() {
            check_only_outputs(&out_dir)?;
        }
        let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(werr(&staging))?;
        }
        std::fs::create_dir(&staging).map_err(werr(&staging))?;
        Ok(OutputSet {
            out_dir,
            staging,
            published: false,
        })
    }

    /// Where to write the output file `name` (inside the staging directory).
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// The output directory the set will be published as (canonical parent).
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Flushes the staging directory's entries to disk.
    pub fn sync(&self) -> Result<(), Error> {
        Ok(goodhart_io::sync_dir(&self.staging)?)
    }

    /// Switches the staged set in (see the module docs) and deletes the old one.
    pub fn publish(mut self) -> Result<PathBuf, Error> {
        self.sync()?;
        let parent = self
            .out_dir
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if self.out_dir.exists() {
            if exchange(&self.staging, &self.out_dir).is_err() {
                // No atomic exchange here: move the old set aside, then the new one in.
                let old = parent.join(format!(
                    ".{}.old-{}",
                    self.out_dir
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy(),
                    std::process::id()
                ));
                std::fs::rename(&self.out_dir, &old).map_err(werr(&self.out_dir))?;
                std::fs::rename(&self.staging, &self.out_dir).map_err(werr(&self.out_dir))?;
                std::fs::rename(&old, &self.staging).map_err(werr(&old))?;
            }
            // The staging name now holds the previous set.
            goodhart_io::sync_dir(&parent)?;
            std::fs::remove_dir_all(&self.staging).map_err(werr(&self.staging))?;
        } else {
            std::fs::rename(&self.staging, &self.out_dir).map_err(werr(&self.out_dir))?;
        }
        goodhart_io::sync_dir(&parent)?;
        self.published = true;
        Ok(self.out_dir.clone())
    }
}

impl Drop for OutputSet {
    /// A set that was not published (the scan failed) is deleted.
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Removes what interrupted runs left beside and inside `out_dir`.
fn clean_stale(parent: &Path, name: &str, out_dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(parent).map_err(werr(parent))?;
    let mut olds = Vec::new();
    for e in entries {
        let e = e.map_err(werr(parent))?;
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let (kind, pid) = match rest.split_once('-') {
            Some((k @ ("staging" | "old"), pid)) => (k, pid.parse::<u32>().ok()),
            _ => continue,
        };
        let Some(pid) = pid else { continue };
        if alive(pid) {
            continue;
        }
        if kind == "old" {
            olds.push(e.path());
        } else {
            std::fs::remove_dir_all(e.path()).map_err(werr(&e.path()))?;
        }
    }
    for old in olds {
        if out_dir.exists() {
            std::fs::remove_dir_all(&old).map_err(werr(&old))?;
        } else {
            // Killed between the two renames of the fallback switch: the old set comes back.
            std::fs::rename(&old, out_dir).map_err(werr(out_dir))?;
        }
    }
    if out_dir.is_dir() {
        for e in std::fs::read_dir(out_dir).map_err(werr(out_dir))? {
            let e = e.map_err(werr(out_dir))?;
            let file = e.file_name().to_string_lossy().into_owned();
            if file.ends_with(".tmp") && e.file_type().map_err(werr(out_dir))?.is_file() {
                std::fs::remove_file(e.path()).map_err(werr(&e.path()))?;
            }
        }
    }
    Ok(())
}

fn check_only_outputs(out_dir: &Path) -> Result<(), Error> {
    let mut foreign: Vec<String> = Vec::new();
    for e in std::fs::read_dir(out_dir).map_err(werr(out_dir))? {
        let e = e.map_err(werr(out_dir))?;
        let file = e.file_name().to_string_lossy().into_owned();
        if !OUTPUT_FILES.contains(&file.as_str()) {
            foreign.push(file);
        }
    }
    foreign.sort();
    if foreign.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = foreign.iter().take(5).map(String::as_str).collect();
    Err(Error::Config {
        file: "--out".into(),
        message: format!(
            "{}: holds files a scan does not write ({}{}); each scan replaces the output \
             directory as a whole, so they would be deleted. Fix: pass a dedicated --out \
             directory, or move those files away",
            out_dir.display(),
            shown.join(", "),
            if foreign.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_staged_set_replaces_the_old_one_whole_and_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("quarantine.parquet"), b"old").unwrap();
        std::fs::write(out.join("report.html"), b"old").unwrap();
        std::fs::write(out.join(".report.html.123.0.tmp"), b"stale").unwrap();

        let set = OutputSet::stage(&out).unwrap();
        // Staging does not touch the visible set (apart from stale temporaries).
        assert_eq!(names(&out), vec!["quarantine.parquet", "report.html"]);
        std::fs::write(set.path("report.html"), b"new").unwrap();
        set.publish().unwrap();
        assert_eq!(names(&out), vec!["report.html"]);
        assert_eq!(std::fs::read(out.join("report.html")).unwrap(), b"new");
        assert_eq!(names(root.path()), vec!["out"], "no staging dir left");
    }

    #[test]
    fn an_unpublished_set_is_dropped_and_stale_staging_dirs_are_cleaned() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        {
            let set = OutputSet::stage(&out).unwrap();
            std::fs::write(set.path("summary.json"), b"{}").unwrap();
        }
        assert_eq!(names(root.path()), Vec::<String>::new());
        // A dead process's staging directory (pid beyond pid_max) is removed at the next start.
        std::fs::create_dir(root.path().join(".out.staging-4194305")).unwrap();
        let set = OutputSet::stage(&out).unwrap();
        set.publish().unwrap();
        assert_eq!(names(root.path()), vec!["out"]);
    }

    #[test]
    fn a_fallback_switch_cut_short_is_completed_with_the_old_set() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let old = root.path().join(".out.old-4194305");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("report.html"), b"old").unwrap();
        let _set = OutputSet::stage(&out).unwrap();
        assert_eq!(std::fs::read(out.join("report.html")).unwrap(), b"old");
    }

    #[test]
    fn foreign_files_in_the_output_directory_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("notes.txt"), b"mine").unwrap();
        let e = OutputSet::stage(&out).unwrap_err();
        assert!(e.is_user_error());
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert!(out.join("notes.txt").exists());
    }
}
