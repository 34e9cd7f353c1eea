//! Bounded-memory storage for deduplication: candidate records in a scratch
//! file and the key/group indexes as sorted runs on disk (a small LSM tree),
//! so that peak memory does not grow with the corpus.
//!
//! Written here rather than taken from a crate: what is needed is a sorted
//! multiset of fixed-width `(hash, tag, value)` records with two merge rules
//! (keep the largest value of a key; keep every value of a group, or for
//! earlier runs' keys the largest), probed
//! once per chunk with that chunk's sorted keys by a streaming merge. The
//! embedded stores on crates.io (sled, redb, rocksdb bindings) are
//! general-purpose B-trees or LSMs with their own on-disk formats, crash
//! recovery and, for rocksdb, a C++ build; external-sort crates sort but do
//! not probe. Std's files and buffered readers do all of it in ~500 lines.
//!
//! Everything lives in a scratch directory
//! `LAKE/_imports/scratch/<pid>-<random>` removed when the run ends; a
//! run that was killed leaves it behind, and the next run removes it (its
//! process is gone; Linux only). Nothing in the lake proper depends on it,
//! so a killed run never corrupts the lake.

use crate::error::{out_err, ImportError};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Tag of a key record: `val` is the candidate the key points to.
pub(crate) const TAG_KEY: u32 = 0;
/// Tag of a group record: `val` is one member of the group.
pub(crate) const TAG_GROUP: u32 = 1;

/// Bytes of one [`Rec`] on disk.
const REC: usize = 16;
/// Bytes of one [`Cand`] on disk.
const CAND: usize = 32;
/// Buffer of each reader or writer of a run.
const IO_BUF: usize = 256 << 10;

/// One index record, ordered by `(hash, tag, val)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rec {
    pub hash: u64,
    pub tag: u32,
    pub val: u32,
}

impl Rec {
    fn to_bytes(self) -> [u8; REC] {
        let mut b = [0u8; REC];
        b[..8].copy_from_slice(&self.hash.to_le_bytes());
        b[8..12].copy_from_slice(&self.tag.to_le_bytes());
        b[12..].copy_from_slice(&self.val.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; REC]) -> Rec {
        Rec {
            hash: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            tag: u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
            val: u32::from_le_bytes(b[12..].try_into().expect("4 bytes")),
        }
    }

    fn query(&self) -> (u64, u32) {
        (self.hash, self.tag)
    }
}

/// The scratch directory of one run, removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates `LAKE/_imports/scratch/<pid>-<random>`, first removing the
    /// scratch directories of runs whose process is gone.
    pub(crate) fn new(lake: &Path) -> Result<Scratch, ImportError> {
        let base = lake.join("_imports").join("scratch");
        std::fs::create_dir_all(&base).map_err(out_err(&base))?;
        let me = std::process::id();
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| p != me && !process_alive(p)) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        // A unique `<pid>-<random>` directory, removed when dropped; the pid
        // prefix is what lets a later run remove it if this one is killed.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{me}-"))
            .tempdir_in(&base)
            .map_err(out_err(&base))?;
        Ok(Scratch { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The TempDir removes the run's directory when it drops, after this;
        // remove it first so that the shared parent can go too.
        let _ = std::fs::remove_dir_all(self.dir.path());
        // Only succeeds when no other run is using it.
        if let Some(base) = self.dir.path().parent() {
            let _ = std::fs::remove_dir(base);
        }
    }
}

/// Whether process `pid` still runs (where that can be told: elsewhere
/// than Linux, stale scratch directories are left for the user).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// A sorted run on disk.
#[derive(Debug)]
struct Run {
    path: PathBuf,
    len: u64,
}

/// A multiset of [`Rec`]s held as an in-memory buffer of at most `budget`
/// records plus sorted runs on disk, merged size-tiered (a run is merged
/// into the one before it while that one is at most twice its size), so
/// there are about log2(records / budget) runs. Reduction rule: of the
/// records of one `(hash, TAG_KEY)` only the largest `val` is kept; of one
/// `(hash, TAG_GROUP)` every distinct `val` if `keep_all_groups`, else the
/// largest.
#[derive(Debug)]
pub(crate) struct SortedRuns {
    dir: PathBuf,
    name: &'static str,
    budget: usize,
    keep_all_groups: bool,
    mem: Vec<Rec>,
    runs: Vec<Run>,
    next_file: u64,
    /// Runs written from the buffer.
    pub spills: u64,
    /// Merges of two runs.
    pub merges: u64,
}

impl SortedRuns {
    /// An empty set keeping at most `budget_bytes` in memory.
    pub(crate) fn new(
        scratch: &Scratch,
        name: &'static str,
        budget_bytes: u64,
        keep_all_groups: bool,
    ) -> SortedRuns {
        SortedRuns {
            dir: scratch.path().to_path_buf(),
            name,
            budget: usize::try_from(budget_bytes / REC as u64)
                .unwrap_or(usize::MAX)
                .max(1),
            keep_all_groups,
            mem: Vec::new(),
            runs: Vec::new(),
            next_file: 0,
            spills: 0,
            merges: 0,
        }
    }

    /// Number of runs on disk.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    pub(crate) fn push(&mut self, r: Rec) {
        self.mem.push(r);
    }

    /// Ends a batch of pushes: sorts and reduces the buffer (a stable sort
    /// finds the already sorted prefix) and writes it as a run when it is
    /// over budget.
    pub(crate) fn seal(&mut self) -> Result<(), ImportError> {
        self.mem.sort();
        reduce(&mut self.mem, self.keep_all_groups);
        if self.mem.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn new_path(&mut self) -> PathBuf {
        self.next_file += 1;
        self.dir
            .join(format!("{}-{:06}.run", self.name, self.next_file))
    }

    fn spill(&mut self) -> Result<(), ImportError> {
        let path = self.new_path();
        let f = File::create(&path).map_err(out_err(&path))?;
        let mut w = BufWriter::with_capacity(IO_BUF, f);
        for r in &self.mem {
            w.write_all(&r.to_bytes()).map_err(out_err(&path))?;
        }
        w.flush().map_err(out_err(&path))?;
        self.runs.push(Run {
            path,
            len: self.mem.len() as u64,
        });
        self.mem = Vec::new();
        self.spills += 1;
        while self.runs.len() >= 2 {
            let n = self.runs.len();
            if self.runs[n - 2].len > 2 * self.runs[n - 1].len {
                break;
            }
            let b = self.runs.pop().expect("two runs");
            let a = self.runs.pop().expect("two runs");
            let merged = self.merge(a, b)?;
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Merges two runs into one (streaming; both inputs are deleted).
    fn merge(&mut self, a: Run, b: Run) -> Result<Run, ImportError> {
        let path = self.new_path();
        let f = File::create(&path).map_err(out_err(&path))?;
        let mut w = RunWriter {
            out: BufWriter::with_capacity(IO_BUF, f),
            path: &path,
            pending: None,
            len: 0,
            keep_all_groups: self.keep_all_groups,
        };
        let mut ra = RunReader::open(&a)?;
        let mut rb = RunReader::open(&b)?;
        let (mut x, mut y) = (ra.next()?, rb.next()?);
        loop {
            match (x, y) {
                (Some(p), Some(q)) if p <= q => {
                    w.put(p)?;
                    x = ra.next()?;
                }
                (_, Some(q)) => {
                    w.put(q)?;
                    y = rb.next()?;
                }
                (Some(p), None) => {
                    w.put(p)?;
                    x = ra.next()?;
                }
                (None, None) => break,
            }
        }
        let len = w.finish()?;
        for r in [&a, &b] {
            std::fs::remove_file(&r.path).map_err(out_err(&r.path))?;
        }
        self.merges += 1;
        Ok(Run { path, len })
    }

    /// Calls `f` with every record whose `(hash, tag)` is in `queries`
    /// (sorted, distinct): one sequential pass over the buffer and each run.
    pub(crate) fn probe(
        &self,
        queries: &[(u64, u32)],
        mut f: impl FnMut(Rec),
    ) -> Result<(), ImportError> {
        if queries.is_empty() {
            return Ok(());
        }
        let mut i = 0;
        for r in &self.mem {
            if !join(queries, &mut i, *r, &mut f) {
                break;
            }
        }
        for run in &self.runs {
            let mut rd = RunReader::open(run)?;
            let mut i = 0;
            while let Some(r) = rd.next()? {
                if !join(queries, &mut i, r, &mut f) {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// One step of a merge join: advances `i` past queries below `r`, calls
/// `f` on a match; false once every query is behind.
fn join(queries: &[(u64, u32)], i: &mut usize, r: Rec, f: &mut impl FnMut(Rec)) -> bool {
    let q = r.query();
    while *i < queries.len() && queries[*i] < q {
        *i += 1;
    }
    if *i == queries.len() {
        return false;
    }
    if queries[*i] == q {
        f(r);
    }
    true
}

/// Applies the reduction rule of [`SortedRuns`] to a sorted vector.
fn reduce(v: &mut Vec<Rec>, keep_all_groups: bool) {
    let mut out = 0;
    for i in 0..v.len() {
        let r = v[i];
        if out > 0 {
            let last = v[out - 1];
            if last == r {
                continue;
            }
            if last.query() == r.query() && (r.tag == TAG_KEY || !keep_all_groups) {
                v[out - 1] = r;
                continue;
            }
        }
        v[out] = r;
        out += 1;
    }
    v.truncate(out);
}

struct RunReader {
    rd: BufReader<File>,
    left: u64,
    path: PathBuf,
}

impl RunReader {
    fn open(run: &Run) -> Result<RunReader, ImportError> {
        let f = File::open(&run.path).map_err(out_err(&run.path))?;
        Ok(RunReader {
            rd: BufReader::with_capacity(IO_BUF, f),
            left: run.len,
            path: run.path.clone(),
        })
    }

    fn next(&mut self) -> Result<Option<Rec>, ImportError> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut b = [0u8; REC];
        self.rd.read_exact(&mut b).map_err(out_err(&self.path))?;
        self.left -= 1;
        Ok(Some(Rec::from_bytes(&b)))
    }
}

/// Writes a merged run, applying the reduction rule on the fly.
struct RunWriter<'a> {
    out: BufWriter<File>,
    path: &'a Path,
    pending: Option<Rec>,
    len: u64,
    keep_all_groups: bool,
}

impl RunWriter<'_> {
    fn put(&mut self, r: Rec) -> Result<(), ImportError> {
        if let Some(p) = self.pending {
            if p == r {
                return Ok(());
            }
            if p.query() == r.query() && (r.tag == TAG_KEY || !self.keep_all_groups) {
                self.pending = Some(r.max(p));
                return Ok(());
            }
            self.out
                .write_all(&p.to_bytes())
                .map_err(out_err(self.path))?;
            self.len += 1;
        }
        self.pending = Some(r);
        Ok(())
    }

    fn finish(mut self) -> Result<u64, ImportError> {
        if let Some(p) = self.pending.take() {
            self.out
                .write_all(&p.to_bytes())
                .map_err(out_err(self.path))?;
            self.len += 1;
        }
        self.out.flush().map_err(out_err(self.path))?;
        Ok(self.len)
    }
}

/// What deduplication keeps of one candidate event with a key or a group
/// (32 bytes on disk, whatever the event holds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cand {
    pub key: u64,
    pub group: u64,
    pub weight: u64,
    /// Position of its file in path order.
    pub file: u32,
    pub side: bool,
    /// Lost to a duplicate (or imported by an earlier run).
    pub dropped: bool,
    /// Dropped for want of a user (after deduplication).
    pub no_user: bool,
}

impl Cand {
    fn to_bytes(self) -> [u8; CAND] {
        let mut b = [0u8; CAND];
        b[..8].copy_from_slice(&self.key.to_le_bytes());
        b[8..16].copy_from_slice(&self.group.to_le_bytes());
        b[16..24].copy_from_slice(&self.weight.to_le_bytes());
        b[24..28].copy_from_slice(&self.file.to_le_bytes());
        b[28] = u8::from(self.side) | u8::from(self.dropped) << 1 | u8::from(self.no_user) << 2;
        b
    }

    fn from_bytes(b: &[u8]) -> Cand {
        Cand {
            key: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            group: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            weight: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            file: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
            side: b[28] & 1 != 0,
            dropped: b[28] & 2 != 0,
            no_user: b[28] & 4 != 0,
        }
    }
}

/// Every candidate of the run, by id: those of the current chunk in memory,
/// earlier ones in a scratch file (read and updated in place by offset;
/// only duplicates across chunks and the final bookkeeping touch it).
#[derive(Debug)]
pub(crate) struct CandStore {
    file: File,
    path: PathBuf,
    /// Candidates in the file.
    flushed: u32,
    tail: Vec<Cand>,
}

impl CandStore {
    pub(crate) fn new(scratch: &Scratch) -> Result<CandStore, ImportError> {
        let path = scratch.path().join("candidates.bin");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(out_err(&path))?;
        Ok(CandStore {
            file,
            path,
            flushed: 0,
            tail: Vec::new(),
        })
    }

    pub(crate) fn len(&self) -> u32 {
        self.flushed + self.tail.len() as u32
    }

    /// Appends a candidate; returns its id.
    pub(crate) fn push(&mut self, c: Cand) -> u32 {
        let id = self.len();
        assert!(id < u32::MAX, "fewer than 4 billion events per run");
        self.tail.push(c);
        id
    }

    pub(crate) fn get(&self, id: u32) -> Result<Cand, ImportError> {
        if id >= self.flushed {
            return Ok(self.tail[(id - self.flushed) as usize]);
        }
        let mut b = [0u8; CAND];
        read_at(&self.file, &mut b, u64::from(id) * CAND as u64).map_err(out_err(&self.path))?;
        Ok(Cand::from_bytes(&b))
    }

    pub(crate) fn set(&mut self, id: u32, c: Cand) -> Result<(), ImportError> {
        if id >= self.flushed {
            self.tail[(id - self.flushed) as usize] = c;
            return Ok(());
        }
        write_at(&self.file, &c.to_bytes(), u64::from(id) * CAND as u64)
            .map_err(out_err(&self.path))
    }

    /// Candidates `r` (one sequential read for those in the file).
    pub(crate) fn range(&self, r: std::ops::Range<u32>) -> Result<Vec<Cand>, ImportError> {
        let mut out = Vec::with_capacity(r.len());
        let file_end = r.end.min(self.flushed);
        if r.start < file_end {
            let mut b = vec![0u8; (file_end - r.start) as usize * CAND];
            read_at(&self.file, &mut b, u64::from(r.start) * CAND as u64)
                .map_err(out_err(&self.path))?;
            out.extend(b.chunks_exact(CAND).map(Cand::from_bytes));
        }
        for id in r.start.max(self.flushed)..r.end {
            out.push(self.tail[(id - self.flushed) as usize]);
        }
        Ok(out)
    }

    /// Moves the in-memory candidates to the end of the file.
    pub(crate) fn flush(&mut self) -> Result<(), ImportError> {
        if self.tail.is_empty() {
            return Ok(());
        }
        let mut b = Vec::with_capacity(self.tail.len() * CAND);
        for c in &self.tail {
            b.extend_from_slice(&c.to_bytes());
        }
        write_at(&self.file, &b, u64::from(self.flushed) * CAND as u64)
            .map_err(out_err(&self.path))?;
        self.flushed += self.tail.len() as u32;
        self.tail = Vec::new();
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, off)
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, off)
}

#[cfg(not(unix))]
fn read_at(mut f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(off))?;
    f.read_exact(buf)
}

#[cfg(not(unix))]
fn write_at(mut f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(off))?;
    f.write_all(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// A small deterministic generator (no dependency needed for this).
    fn lcg(s: &mut u64) -> u64 {
        *s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *s >> 33
    }

    #[test]
    fn runs_spill_merge_and_probe_like_a_map() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(dir.path()).unwrap();
        // 64 records of budget: 200 batches of 50 pushes spill and merge often.
        let mut idx = SortedRuns::new(&scratch, "t", 64 * REC as u64, true);
        let mut keys: BTreeMap<u64, u32> = BTreeMap::new();
        let mut groups: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
        let mut s = 7;
        let mut id = 0u32;
        for _ in 0..200 {
            for _ in 0..50 {
                // Few distinct hashes so that keys repeat across runs.
                let h = lcg(&mut s) % 500 + 1;
                id += 1;
                if lcg(&mut s).is_multiple_of(2) {
                    idx.push(Rec {
                        hash: h,
                        tag: TAG_KEY,
                        val: id,
                    });
                    keys.insert(h, id);
                } else {
                    idx.push(Rec {
                        hash: h,
                        tag: TAG_GROUP,
                        val: id,
                    });
                    groups.entry(h).or_default().insert(id);
                }
            }
            idx.seal().unwrap();
        }
        assert!(idx.spills >= 50, "spills: {}", idx.spills);
        assert!(idx.merges >= 25, "merges: {}", idx.merges);
        assert!(idx.runs() <= 12, "runs: {}", idx.runs());
        let mut q: Vec<(u64, u32)> = (0..600u64)
            .flat_map(|h| [(h, TAG_KEY), (h, TAG_GROUP)])
            .filter(|_| !lcg(&mut s).is_multiple_of(3))
            .collect();
        q.sort_unstable();
        let mut got_k: BTreeMap<u64, u32> = BTreeMap::new();
        let mut got_g: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
        idx.probe(&q, |r| {
            if r.tag == TAG_KEY {
                let v = got_k.entry(r.hash).or_insert(0);
                *v = (*v).max(r.val);
            } else {
                assert!(
                    got_g.entry(r.hash).or_default().insert(r.val),
                    "{r:?} twice"
                );
            }
        })
        .unwrap();
        let want_k: BTreeMap<u64, u32> = keys
            .into_iter()
            .filter(|(h, _)| q.contains(&(*h, TAG_KEY)))
            .collect();
        let want_g: BTreeMap<u64, BTreeSet<u32>> = groups
            .into_iter()
            .filter(|(h, _)| q.contains(&(*h, TAG_GROUP)))
            .collect();
        assert_eq!(got_k, want_k);
        assert_eq!(got_g, want_g);
        let files = std::fs::read_dir(scratch.path()).unwrap().count();
        assert_eq!(files, idx.runs(), "merged inputs are deleted");
        let p = scratch.path().to_path_buf();
        drop(scratch);
        assert!(!p.exists(), "the scratch directory is removed");
    }

    #[test]
    fn groups_keep_only_the_largest_value_when_asked() {
        let mut v = vec![
            Rec {
                hash: 1,
                tag: TAG_GROUP,
                val: 0,
            },
            Rec {
                hash: 1,
                tag: TAG_GROUP,
                val: 1,
            },
            Rec {
                hash: 1,
                tag: TAG_KEY,
                val: 0,
            },
            Rec {
                hash: 1,
                tag: TAG_KEY,
                val: 0,
            },
        ];
        v.sort();
        let mut all = v.clone();
        reduce(&mut all, true);
        assert_eq!(all.len(), 3);
        reduce(&mut v, false);
        assert_eq!(
            v,
            vec![
                Rec {
                    hash: 1,
                    tag: TAG_KEY,
                    val: 0
                },
                Rec {
                    hash: 1,
                    tag: TAG_GROUP,
                    val: 1
                },
            ]
        );
    }

    #[test]
    fn candidates_round_trip_through_the_file_and_update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(dir.path()).unwrap();
        let mut cs = CandStore::new(&scratch).unwrap();
        let c = |k: u64| Cand {
            key: k,
            group: k * 3,
            weight: k * 5,
            file: k as u32,
            side: k.is_multiple_of(2),
            dropped: false,
            no_user: k.is_multiple_of(3),
        };
        for k in 0..10 {
            cs.push(c(k));
        }
        cs.flush().unwrap();
        for k in 10..15 {
            cs.push(c(k));
        }
        assert_eq!(cs.get(4).unwrap(), c(4));
        assert_eq!(cs.get(12).unwrap(), c(12));
        let mut d = c(4);
        d.dropped = true;
        cs.set(4, d).unwrap();
        assert_eq!(cs.get(4).unwrap(), d);
        let r = cs.range(3..13).unwrap();
        assert_eq!(r.len(), 10);
        assert_eq!(r[1], d);
        assert_eq!(r[9], c(12));
        cs.flush().unwrap();
        assert_eq!(cs.range(0..15).unwrap()[14], c(14));
    }

    #[test]
    fn a_dead_runs_scratch_directory_is_removed_and_a_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("_imports/scratch");
        // pid 0 is never a user process (and /proc/0 does not exist).
        std::fs::create_dir_all(base.join("0-1-0")).unwrap();
        std::fs::write(base.join("0-1-0/candidates.bin"), b"x").unwrap();
        let live = base.join(format!("{}-1-0", std::process::id()));
        std::fs::create_dir_all(&live).unwrap();
        let s = Scratch::new(dir.path()).unwrap();
        if cfg!(target_os = "linux") {
            assert!(!base.join("0-1-0").exists());
        }
        assert!(live.exists());
        drop(s);
        assert!(live.exists());
    }
}
