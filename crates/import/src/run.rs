//! The common core of a run: discovery, change detection against the
//! manifest, parallel parsing, deduplication, identity mapping,
//! sessionising, Parquet output, manifest and report.

use crate::error::{out_err, ImportError};
use crate::formats::FileCtx;
use crate::hash::sha256_hex;
use crate::index::{Cand, CandStore, Rec, Scratch, SortedRuns, TAG_GROUP, TAG_KEY};
use crate::record::{Ev, Parsed};
use crate::report::{
    DayTokens, FileReport, ImportReport, QuarantinedRecord, Totals, MAX_LISTED_QUARANTINE,
};
use crate::{Format, IdentityMap, ImportOptions};
use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use goodhart_schema::{col, normalize, EventKind, ValidateOptions};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Microseconds per minute.
const US_PER_MIN: i64 = 60_000_000;

/// The manifest: what was imported from which source file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub version: u32,
    /// format name -> source path -> entry.
    pub formats: BTreeMap<String, BTreeMap<String, Entry>>,
}

/// One source file in the manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Size in bytes when last imported.
    pub size: u64,
    /// Modification time (nanoseconds since the epoch) when last imported.
    pub mtime_ns: i128,
    /// SHA-256 of the bytes `[0, offset)`.
    pub sha256: String,
    /// Byte offset reached (end of the last complete record).
    pub offset: u64,
    /// Records (lines) consumed up to `offset`.
    pub records: u64,
    /// Parquet parts written for this file, relative to the lake.
    pub parts: Vec<String>,
    /// Next part sequence number.
    pub next_seq: u32,
}

pub(crate) fn manifest_path(lake: &Path) -> PathBuf {
    lake.join("_imports").join("manifest.json")
}

fn load_manifest(lake: &Path) -> Result<Manifest, ImportError> {
    let p = manifest_path(lake);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| ImportError::Manifest {
            path: p,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
            version: 1,
            ..Manifest::default()
        }),
        Err(e) => Err(ImportError::Manifest {
            path: p,
            message: e.to_string(),
        }),
    }
}

/// Writes `bytes` to `path` atomically ([`goodhart_core::write_bytes_atomic`]:
/// temporary sibling, fsync, rename, fsync of the directory), creating the
/// parent directories.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(out_err(d))?;
    }
    goodhart_core::write_bytes_atomic(path, bytes).map_err(|e| match e {
        goodhart_core::CoreError::Io { path, source } => out_err(&path)(source),
        e => ImportError::Output {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

/// Finds the files of `src` for `format` (a file: itself; a directory: every
/// file with one of the format's extensions, recursively, hidden ones
/// skipped except `.claude` and `.config` directories), sorted.
fn discover(format: Format, src: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let meta = std::fs::metadata(src).map_err(|source| ImportError::Source {
        path: src.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        // Opening proves readability now, so the error names this file.
        std::fs::File::open(src).map_err(|source| ImportError::Source {
            path: src.to_path_buf(),
            source,
        })?;
        out.push(src.to_path_buf());
        return Ok(());
    }
    // A Claude Code root (`~/.claude`, a CLAUDE_CONFIG_DIR): only its
    // `projects/` holds transcripts (`history.jsonl` beside it is prompt
    // history, not usage).
    if format == Format::ClaudeCode && src.join("projects").is_dir() {
        return discover(format, &src.join("projects"), out);
    }
    let rd = std::fs::read_dir(src).map_err(|source| ImportError::Source {
        path: src.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<PathBuf> = Vec::new();
    for e in rd {
        let e = e.map_err(|source| ImportError::Source {
            path: src.to_path_buf(),
            source,
        })?;
        // Hidden entries are skipped, except the directories Claude Code
        // keeps its data in (`~/.claude`, `~/.config/claude`).
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && !(name == ".claude" || name == ".config") {
            continue;
        }
        entries.push(e.path());
    }
    entries.sort();
    for p in entries {
        if p.is_dir() {
            discover(format, &p, out)?;
        } else if p
            .extension()
            .is_some_and(|x| format.extensions().iter().any(|e| x == *e))
        {
            out.push(p);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    New,
    Appended,
    Rewritten,
    Unchanged,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Appended => "appended",
            Status::Rewritten => "rewritten",
            Status::Unchanged => "unchanged",
        }
    }
}

struct FileWork {
    /// Position of the file in path order.
    ord: usize,
    path: PathBuf,
    key: String,
    status: Status,
    size: u64,
    parsed: Parsed,
    sha256: String,
    /// Bytes read (a redo reads exactly these again).
    read_len: usize,
    /// Events dropped (duplicates, no user), by index into parsed.events.
    dropped: Vec<bool>,
    user: Option<String>,
    /// Records whose events were dropped for want of a user.
    no_user_lines: HashSet<u64>,
    /// First dedup candidate of this file (see [`Dedup`]).
    cand_start: u32,
    /// Ids this file used that the identity map does not know.
    unmapped: BTreeSet<String>,
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

fn file_id(key: &str) -> String {
    sha256_hex(key.as_bytes())[..16].to_string()
}

/// A source file after the first look: its size, time and status against
/// the manifest.
struct Pre {
    path: PathBuf,
    key: String,
    size: u64,
    mtime_ns: i128,
    status: Status,
    /// Records already imported (append-only files that grew).
    from_line: u64,
}

/// Stats `p` and classifies it against its manifest entry (reading it only
/// when the manifest knows it and its size or time changed).
fn classify(format: Format, p: &Path, prior: &BTreeMap<String, Entry>) -> Result<Pre, ImportError> {
    let key = manifest_key(p);
    let meta = std::fs::metadata(p).map_err(|source| ImportError::Source {
        path: p.to_path_buf(),
        source,
    })?;
    let mut pre = Pre {
        path: p.to_path_buf(),
        key,
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
        status: Status::New,
        from_line: 0,
    };
    let Some(e) = prior.get(&pre.key) else {
        return Ok(pre);
    };
    if e.size == pre.size && e.mtime_ns == pre.mtime_ns {
        pre.status = Status::Unchanged;
        return Ok(pre);
    }
    let data = std::fs::read(p).map_err(|source| ImportError::Source {
        path: p.to_path_buf(),
        source,
    })?;
    pre.status = Status::Rewritten;
    let off = e.offset as usize;
    if format.append_only() && data.len() >= off && sha256_hex(&data[..off]) == e.sha256 {
        pre.status = Status::Appended;
        pre.from_line = e.records;
    } else if !format.append_only() && sha256_hex(&data) == e.sha256 {
        // Touched, not changed.
        pre.status = Status::Unchanged;
    }
    Ok(pre)
}

/// The unit that should stay within one chunk: for Claude Code a session
/// with its sub-agent files (`<project>/<session>`), so that sidechain
/// replays are usually deduplicated inside a chunk; otherwise the file.
/// Only speed depends on it: results are the same for any chunking.
fn chunk_group(format: Format, p: &Path) -> PathBuf {
    if format == Format::ClaudeCode {
        let comps: Vec<_> = p.components().collect();
        if let Some(i) = comps.iter().rposition(|c| c.as_os_str() == "projects") {
            if comps.len() > i + 2 {
                let mut g: PathBuf = comps[..i + 2].iter().collect();
                let s = comps[i + 2].as_os_str().to_string_lossy();
                g.push(s.strip_suffix(".jsonl").unwrap_or(&s));
                return g;
            }
        }
    }
    p.to_path_buf()
}

/// Splits `items` (in path order) into consecutive chunks of about `budget`
/// bytes read, never splitting a [`chunk_group`].
fn plan_chunks(format: Format, items: &[(usize, &Pre)], budget: u64) -> Vec<Vec<usize>> {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut bytes = 0u64;
    let mut last_group: Option<PathBuf> = None;
    for &(ord, p) in items {
        let g = chunk_group(format, &p.path);
        if bytes >= budget.max(1) && last_group.as_ref() != Some(&g) {
            chunks.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        if p.status != Status::Unchanged {
            bytes += p.size;
        }
        cur.push(ord);
        last_group = Some(g);
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

/// Reads and parses one file. `limit`: on a redo, the bytes read the first
/// time (a file still being appended to is read to the same point).
fn read_parse(
    opts: &ImportOptions,
    pre: &Pre,
    ord: usize,
    limit: Option<(usize, &str)>,
) -> Result<FileWork, ImportError> {
    let mut w = FileWork {
        ord,
        path: pre.path.clone(),
        key: pre.key.clone(),
        status: pre.status,
        size: pre.size,
        parsed: Parsed::default(),
        sha256: String::new(),
        read_len: 0,
        dropped: Vec::new(),
        user: None,
        no_user_lines: HashSet::new(),
        cand_start: 0,
        unmapped: BTreeSet::new(),
    };
    if pre.status == Status::Unchanged {
        return Ok(w);
    }
    let mut data = std::fs::read(&pre.path).map_err(|source| ImportError::Source {
        path: pre.path.clone(),
        source,
    })?;
    if let Some((len, _)) = limit {
        data.truncate(len);
    }
    w.user = file_user(opts, &pre.path);
    let ctx = FileCtx {
        path: &pre.path,
        hasher: &opts.hasher,
        from_line: pre.from_line,
        user_attributes: &opts.user_attributes,
    };
    w.parsed = opts.format.parse_file(&ctx, &data);
    w.sha256 = sha256_hex(&data[..w.parsed.offset as usize]);
    w.read_len = data.len();
    if let Some((_, sha)) = limit {
        if sha != w.sha256 {
            return Err(ImportError::Changed {
                path: pre.path.clone(),
            });
        }
    }
    w.dropped = vec![false; w.parsed.events.len()];
    if w.status == Status::Appended && w.parsed.records == 0 {
        w.status = Status::Unchanged;
    }
    Ok(w)
}

/// A file's finished output, kept (small) until the manifest is written.
struct Done {
    report: FileReport,
    /// Quarantined records per reason.
    quarantined: BTreeMap<String, u64>,
    entry: Entry,
    users: BTreeSet<String>,
    unmapped: BTreeSet<String>,
    lost_user: bool,
    status: Status,
    sha256: String,
    offset: u64,
    last_line: u64,
    read_len: usize,
    /// This file's dedup candidates.
    cands: std::ops::Range<u32>,
}

/// Runs one import. See [`crate::import`].
///
/// Memory stays bounded: files are read in chunks of about
/// [`ImportOptions::chunk_bytes`] (path order; a Claude Code session and its
/// sub-agent files together), each chunk deduplicated against an index of
/// every earlier candidate that spills to sorted runs on disk past
/// [`ImportOptions::index_bytes`] (see [`Dedup`]) and written before the
/// next is read. The result is the same for any chunking: deduplication
/// replays exactly the whole-corpus rule, and the rare file whose written
/// winner a later chunk beats is written again at the end, as are files
/// with events to sessionise (their sessions need every user's times).
// One piece: the order of effects (chunk read, deduplicated, written, then keys and manifest
// recorded) is what makes an import idempotent and a killed run recoverable; it is checked by
// reading it top to bottom here.
pub(crate) fn run(opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    let format = opts.format;
    let fname = format.name();
    let lake = &opts.out;
    let mut manifest = load_manifest(lake)?;
    let prior: BTreeMap<String, Entry> = manifest.formats.get(fname).cloned().unwrap_or_default();

    let mut paths = Vec::new();
    for s in &opts.sources {
        discover(format, s, &mut paths)?;
    }
    let mut seen = HashSet::new();
    paths.retain(|p| {
        let k = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        seen.insert(k)
    });
    paths.sort_by_cached_key(|p| manifest_key(p));

    let mut warnings = Vec::new();
    if opts.hasher.is_default_key() {
        warnings.push(
            "no hash key configured (--hash-key-env): task and context hashes use the documented \
             fixed key, so common prompts could be recovered by hashing guesses"
                .to_string(),
        );
    }

    let pres: Vec<Pre> = paths
        .par_iter()
        .map(|p| classify(format, p, &prior))
        .collect::<Result<_, _>>()?;

    // Keys of events imported by earlier runs, from files not rewritten now.
    let rewritten: HashSet<&str> = pres
        .iter()
        .filter(|p| p.status == Status::Rewritten)
        .map(|p| p.key.as_str())
        .collect();
    let mut dd = Dedup::new(lake, opts.index_bytes)?;
    for (k, _) in prior
        .iter()
        .filter(|(k, _)| !rewritten.contains(k.as_str()))
    {
        load_old_keys(&keys_path(lake, fname, k), &mut dd.old)?;
    }

    let mut sess = Sessions::default();
    let mut done: Vec<Option<Done>> = (0..pres.len()).map(|_| None).collect();
    // Files to write (again) at the end, with their first read: bytes and hash.
    let mut redo: BTreeMap<usize, (usize, String, std::ops::Range<u32>)> = BTreeMap::new();
    let all: Vec<(usize, &Pre)> = pres.iter().enumerate().collect();
    for chunk in plan_chunks(format, &all, opts.chunk_bytes) {
        let mut works: Vec<FileWork> = chunk
            .par_iter()
            .map(|&o| read_parse(opts, &pres[o], o, None))
            .collect::<Result<_, _>>()?;
        let first = chunk[0];
        dd.begin_chunk(&works)?;
        for w in &mut works {
            w.cand_start = dd.cands.len();
            for e in &w.parsed.events {
                if let Some(g) = dd.add(e, w.ord)? {
                    if g < first {
                        // A file of an earlier chunk lost its winner.
                        if let Some(d) = done[g].take() {
                            redo.insert(g, (d.read_len, d.sha256.clone(), d.cands.clone()));
                            remove_parts(lake, &d.report.parts)?;
                        }
                    }
                }
            }
        }
        let mut finish = Vec::new();
        for mut w in works {
            dd.apply(&mut w)?;
            resolve_users(&mut w, opts, &mut dd)?;
            let cands = w.cand_start..cands_end(&w);
            if sess.collect(&w) {
                redo.insert(w.ord, (w.read_len, w.sha256.clone(), cands));
            } else {
                finish.push(w);
            }
        }
        dd.end_chunk()?;
        for (o, d) in finish_all(finish, &prior, opts)? {
            done[o] = Some(d);
        }
    }

    // Files with events to sessionise, and files that lost a winner.
    let sessions = sess.finish(&dd, opts)?;
    let items: Vec<(usize, &Pre)> = redo.keys().map(|&o| (o, &pres[o])).collect();
    for chunk in plan_chunks(format, &items, opts.chunk_bytes) {
        let mut works: Vec<FileWork> = chunk
            .par_iter()
            .map(|&o| {
                let (len, sha, _) = &redo[&o];
                read_parse(opts, &pres[o], o, Some((*len, sha)))
            })
            .collect::<Result<_, _>>()?;
        for w in &mut works {
            w.cand_start = redo[&w.ord].2.start;
            dd.apply(w)?;
            resolve_users(w, opts, &mut dd)?;
            sessions.assign(w);
        }
        for (o, d) in finish_all(works, &prior, opts)? {
            done[o] = Some(d);
        }
    }

    // Manifest, keys and report, in path order.
    let mut reports = Vec::new();
    let mut totals = Totals::default();
    let mut users = BTreeSet::new();
    let mut unmapped = BTreeSet::new();
    let mut no_user_files = Vec::new();
    let entries = manifest.formats.entry(fname.to_string()).or_default();
    for (o, d) in done.into_iter().enumerate() {
        let d = d.expect("every file is finished");
        let w = &pres[o];
        let mut entry = d.entry;
        if d.status != Status::Unchanged {
            totals.files_imported += 1;
            entry.size = w.size;
            entry.mtime_ns = w.mtime_ns;
            entry.sha256 = d.sha256.clone();
            entry.offset = d.offset;
            entry.records = d.last_line;
            if d.status == Status::Rewritten {
                let _ = std::fs::remove_file(keys_path(lake, fname, &w.key));
            }
            // Keys of this file's surviving events, appended to earlier ones.
            append_keys(lake, fname, &w.key, &dd.cands.range(d.cands.clone())?)?;
        } else {
            entry.mtime_ns = w.mtime_ns;
        }
        if d.lost_user {
            no_user_files.push(w.path.display().to_string());
        }
        users.extend(d.users);
        unmapped.extend(d.unmapped);
        let rep = d.report;
        totals.files += 1;
        totals.records += rep.records;
        totals.used += rep.used;
        for (k, v) in &rep.skipped {
            *totals.skipped.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in d.quarantined {
            *totals.quarantined.entry(k).or_insert(0) += v;
        }
        for (k, v) in &rep.events {
            *totals.events.entry(k.clone()).or_insert(0) += v;
        }
        for (dt, t) in &rep.tokens_by_day {
            totals.tokens_by_day.entry(dt.clone()).or_default().add(t);
        }
        entries.insert(w.key.clone(), entry);
        reports.push(rep);
    }
    if !no_user_files.is_empty() {
        warnings.push(format!(
            "{} file(s) had events without a user (quarantined as no_user): {}. Fix: give --user \
             or a --user-from-path pattern that matches them",
            no_user_files.len(),
            no_user_files.join(", ")
        ));
    }
    manifest.version = 1;
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| ImportError::Output {
        path: manifest_path(lake),
        message: e.to_string(),
    })?;
    write_atomic(&manifest_path(lake), &bytes)?;

    let report = ImportReport {
        format: fname.to_string(),
        hash_key: opts.hash_key_source.clone(),
        lake: lake.display().to_string(),
        files: reports,
        totals,
        users: users.into_iter().collect(),
        unmapped_ids: unmapped.into_iter().collect(),
        warnings,
        assumptions: format
            .info()
            .assumptions
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let rp = lake.join("_imports").join("import_report.json");
    let bytes = serde_json::to_vec_pretty(&report).map_err(|e| ImportError::Output {
        path: rp.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&rp, &bytes)?;
    Ok(report)
}

/// End of the candidate range of `w` (its keyed events follow `cand_start`).
fn cands_end(w: &FileWork) -> u32 {
    w.cand_start
        + w.parsed
            .events
            .iter()
            .filter(|e| e.key != 0 || e.group != 0)
            .count() as u32
}

fn remove_parts(lake: &Path, parts: &[String]) -> Result<(), ImportError> {
    for part in parts {
        let p = lake.join(part);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(out_err(&p)(e)),
        }
    }
    Ok(())
}

/// Resolves the users of `w`'s surviving events through the identity map;
/// events without any user are dropped (quarantined as `no_user`).
fn resolve_users(
    w: &mut FileWork,
    opts: &ImportOptions,
    dd: &mut Dedup,
) -> Result<(), ImportError> {
    let fname = opts.format.name();
    let fallback = w.user.clone();
    let mut c = w.cand_start;
    for (i, e) in w.parsed.events.iter_mut().enumerate() {
        let keyed = e.key != 0 || e.group != 0;
        let cand = c;
        if keyed {
            c += 1;
        }
        if w.dropped[i] {
            continue;
        }
        match e.user.clone().or_else(|| fallback.clone()) {
            Some(r) if !r.trim().is_empty() => {
                e.user = Some(opts.identities.resolve(fname, &r, &mut w.unmapped));
            }
            _ => {
                w.dropped[i] = true;
                w.no_user_lines.insert(e.line);
                if keyed {
                    let mut k = dd.cands.get(cand)?;
                    k.no_user = true;
                    dd.cands.set(cand, k)?;
                }
            }
        }
    }
    Ok(())
}

/// Writes the given files' parts (in parallel) and builds what the manifest
/// and the report need of them.
fn finish_all(
    works: Vec<FileWork>,
    prior: &BTreeMap<String, Entry>,
    opts: &ImportOptions,
) -> Result<Vec<(usize, Done)>, ImportError> {
    works
        .into_par_iter()
        .map(|mut w| {
            let mut entry = prior.get(&w.key).cloned().unwrap_or_default();
            if w.status == Status::Rewritten {
                remove_parts(&opts.out, &entry.parts)?;
                entry.parts.clear();
            }
            let mut users = BTreeSet::new();
            let report = finish_file(&mut w, &mut entry, opts, &mut users)?;
            let mut quarantined = BTreeMap::new();
            for q in &w.parsed.quarantined {
                *quarantined.entry(q.1.clone()).or_insert(0) += 1;
            }
            let end = cands_end(&w);
            Ok((
                w.ord,
                Done {
                    report,
                    quarantined,
                    entry,
                    users,
                    lost_user: !w.no_user_lines.is_empty(),
                    unmapped: std::mem::take(&mut w.unmapped),
                    status: w.status,
                    sha256: w.sha256,
                    offset: w.parsed.offset,
                    last_line: w.parsed.last_line,
                    read_len: w.read_len,
                    cands: w.cand_start..end,
                },
            ))
        })
        .collect()
}

/// The manifest key of a source file: its absolute path.
fn manifest_key(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn file_user(opts: &ImportOptions, p: &Path) -> Option<String> {
    if let Some(u) = &opts.user {
        return Some(u.clone());
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    opts.user_from_path
        .as_ref()
        .and_then(|pat| pat.user_of(&abs))
}

fn keys_path(lake: &Path, format: &str, key: &str) -> PathBuf {
    lake.join("_imports")
        .join("keys")
        .join(format)
        .join(format!("{}.keys", file_id(key)))
}

/// Reads the keys an earlier run wrote for one file (`(key, group,
/// sidechain)`, 17 bytes each) into `old`: a key record per key, a group
/// record per group with value 1 if any of its events was a sidechain one.
/// Streams the file, so memory stays within `old`'s budget.
fn load_old_keys(p: &Path, old: &mut SortedRuns) -> Result<(), ImportError> {
    use std::io::Read;
    let manifest_err = |e: std::io::Error| ImportError::Manifest {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    let f = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(manifest_err(e)),
    };
    let mut rd = std::io::BufReader::with_capacity(256 << 10, f);
    let mut r = [0u8; 17];
    let mut n = 0u64;
    loop {
        match rd.read_exact(&mut r) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(manifest_err(e)),
        }
        let k = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        let g = u64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
        if k != 0 {
            old.push(Rec {
                hash: k,
                tag: TAG_KEY,
                val: 0,
            });
        }
        if g != 0 {
            old.push(Rec {
                hash: g,
                tag: TAG_GROUP,
                val: u32::from(r[16] != 0),
            });
        }
        n += 1;
        if n.is_multiple_of(1 << 16) {
            old.seal()?;
        }
    }
    old.seal()
}

/// Appends the keys of `cands`' surviving events to the file's key file.
fn append_keys(lake: &Path, format: &str, key: &str, cands: &[Cand]) -> Result<(), ImportError> {
    let mut buf = Vec::new();
    for c in cands {
        if c.dropped || c.no_user {
            continue;
        }
        buf.extend_from_slice(&c.key.to_le_bytes());
        buf.extend_from_slice(&c.group.to_le_bytes());
        buf.push(u8::from(c.side));
    }
    let p = keys_path(lake, format, key);
    let mut all = std::fs::read(&p).unwrap_or_default();
    all.extend_from_slice(&buf);
    write_atomic(&p, &all)
}

/// Deduplicates candidate events across files (in path order) and against
/// earlier runs. Rank: non-sidechain first, then larger weight, then first
/// seen.
///
/// Memory does not grow with the corpus: the candidates live in a scratch
/// file ([`CandStore`]; those of the current chunk in memory), the winner
/// per key and the winners per group in sorted runs ([`SortedRuns`], within
/// [`ImportOptions::index_bytes`]), and the keys of earlier runs likewise.
/// Each chunk first looks up its own keys and groups in one sequential pass
/// over the runs ([`Dedup::begin_chunk`]); its candidates are then ranked
/// one by one against that view exactly as if every file were in memory at
/// once, and what changed is appended to the runs ([`Dedup::end_chunk`]).
/// The runs hold: for a key, the candidate it points to (the last one
/// written, which is the largest id); for a group, every candidate that
/// was its winner when it arrived (ascending id = arrival order).
#[derive(Debug)]
struct Dedup {
    cands: CandStore,
    index: SortedRuns,
    old: SortedRuns,
    /// This chunk's view: winner per key, winners per group (arrival order).
    by_key: HashMap<u64, u32>,
    by_group: HashMap<u64, Vec<u32>>,
    /// This chunk's view of earlier runs: keys; group -> any sidechain.
    old_keys: HashSet<u64>,
    old_groups: HashMap<u64, bool>,
    /// Kept last so that the files above are closed before it is removed.
    _scratch: Scratch,
}

impl Dedup {
    fn new(lake: &Path, index_bytes: u64) -> Result<Dedup, ImportError> {
        let scratch = Scratch::new(lake)?;
        Ok(Dedup {
            cands: CandStore::new(&scratch)?,
            index: SortedRuns::new(&scratch, "index", index_bytes / 2, true),
            old: SortedRuns::new(&scratch, "earlier", index_bytes / 2, false),
            by_key: HashMap::new(),
            by_group: HashMap::new(),
            old_keys: HashSet::new(),
            old_groups: HashMap::new(),
            _scratch: scratch,
        })
    }

    /// Loads what the index and earlier runs hold about the keys and groups
    /// of `works`' events.
    fn begin_chunk(&mut self, works: &[FileWork]) -> Result<(), ImportError> {
        let mut q: Vec<(u64, u32)> = Vec::new();
        for e in works.iter().flat_map(|w| &w.parsed.events) {
            if e.key != 0 {
                q.push((e.key, TAG_KEY));
            }
            if e.group != 0 {
                q.push((e.group, TAG_GROUP));
            }
        }
        q.sort_unstable();
        q.dedup();
        let (by_key, by_group) = (&mut self.by_key, &mut self.by_group);
        self.index.probe(&q, |r| {
            if r.tag == TAG_KEY {
                let v = by_key.entry(r.hash).or_insert(r.val);
                *v = (*v).max(r.val);
            } else {
                by_group.entry(r.hash).or_default().push(r.val);
            }
        })?;
        for v in by_group.values_mut() {
            v.sort_unstable();
        }
        let (old_keys, old_groups) = (&mut self.old_keys, &mut self.old_groups);
        self.old.probe(&q, |r| {
            if r.tag == TAG_KEY {
                old_keys.insert(r.hash);
            } else {
                *old_groups.entry(r.hash).or_insert(false) |= r.val != 0;
            }
        })
    }

    /// Moves the chunk's candidates to the scratch file and its index
    /// records to the runs; forgets the chunk's view.
    fn end_chunk(&mut self) -> Result<(), ImportError> {
        self.cands.flush()?;
        self.index.seal()?;
        self.by_key = HashMap::new();
        self.by_group = HashMap::new();
        self.old_keys = HashSet::new();
        self.old_groups = HashMap::new();
        Ok(())
    }

    fn old_contains(&self, e: &Ev) -> bool {
        if e.key != 0 && self.old_keys.contains(&e.key) {
            return true;
        }
        e.group != 0
            && self
                .old_groups
                .get(&e.group)
                .is_some_and(|&side| side || e.sidechain)
    }

    /// Points `key` at candidate `id`.
    fn set_key(&mut self, key: u64, id: u32) {
        if key != 0 {
            self.by_key.insert(key, id);
            self.index.push(Rec {
                hash: key,
                tag: TAG_KEY,
                val: id,
            });
        }
    }

    fn push_group(&mut self, group: u64, id: u32) {
        self.by_group.entry(group).or_default().push(id);
        self.index.push(Rec {
            hash: group,
            tag: TAG_GROUP,
            val: id,
        });
    }

    fn set_dropped(&mut self, id: u32) -> Result<(), ImportError> {
        let mut c = self.cands.get(id)?;
        c.dropped = true;
        self.cands.set(id, c)
    }

    /// Adds the next candidate `e` of file `file` (events without key and
    /// group are not candidates). Returns the file of an earlier winner
    /// that `e` displaced. Its key and group must be in the current chunk's
    /// view ([`Dedup::begin_chunk`]).
    fn add(&mut self, e: &Ev, file: usize) -> Result<Option<usize>, ImportError> {
        if e.key == 0 && e.group == 0 {
            return Ok(None);
        }
        let (key, group, side) = (e.key, e.group, e.sidechain);
        let id = self.cands.push(Cand {
            key,
            group,
            weight: e.weight,
            file: file as u32,
            side,
            dropped: false,
            no_user: false,
        });
        if self.old_contains(e) {
            self.set_dropped(id)?;
            return Ok(None);
        }
        let mut rival = None;
        if key != 0 {
            if let Some(&j) = self.by_key.get(&key) {
                let r = self.cands.get(j)?;
                if !r.dropped {
                    rival = Some((j, r));
                }
            }
        }
        if rival.is_none() && group != 0 {
            if let Some(members) = self.by_group.get(&group) {
                for &j in members {
                    let r = self.cands.get(j)?;
                    if !r.dropped && (side || r.side) {
                        rival = Some((j, r));
                        break;
                    }
                }
            }
        }
        match rival {
            Some((j, r)) => {
                if (!side, e.weight) > (!r.side, r.weight) {
                    self.set_dropped(j)?;
                    self.set_key(r.key, id);
                    self.set_key(key, id);
                    if group != 0 {
                        self.push_group(group, id);
                    }
                    return Ok(Some(r.file as usize));
                }
                self.set_dropped(id)?;
            }
            None => {
                self.set_key(key, id);
                if group != 0 {
                    self.push_group(group, id);
                }
            }
        }
        Ok(None)
    }

    /// Marks `w`'s events that lost (as far as known now) as dropped.
    fn apply(&self, w: &mut FileWork) -> Result<(), ImportError> {
        let cands = self.cands.range(w.cand_start..cands_end(w))?;
        let mut c = cands.iter();
        for (i, e) in w.parsed.events.iter().enumerate() {
            if e.key != 0 || e.group != 0 {
                w.dropped[i] = c.next().expect("one candidate per keyed event").dropped;
            }
        }
        Ok(())
    }
}

/// Times of the events to sessionise (no session id), per user; the
/// candidate id (or `u32::MAX`) lets events that later lost to a duplicate
/// be left out.
#[derive(Debug, Default)]
struct Sessions {
    by_user: HashMap<String, Vec<(i64, u32)>>,
}

impl Sessions {
    /// Records `w`'s events without a session; true if there were any.
    fn collect(&mut self, w: &FileWork) -> bool {
        let mut any = false;
        let mut c = w.cand_start;
        for (i, e) in w.parsed.events.iter().enumerate() {
            let keyed = e.key != 0 || e.group != 0;
            let id = if keyed { c } else { u32::MAX };
            if keyed {
                c += 1;
            }
            if !w.dropped[i] && e.session.is_empty() {
                any = true;
                let u = e.user.clone().unwrap_or_default();
                self.by_user.entry(u).or_default().push((e.ts_us, id));
            }
        }
        any
    }

    /// Splits each user's times into sessions: a new session starts after
    /// an idle gap longer than `opts.idle_gap_minutes`.
    fn finish(self, dd: &Dedup, opts: &ImportOptions) -> Result<SessionMap, ImportError> {
        let gap = i64::try_from(opts.idle_gap_minutes)
            .unwrap_or(i64::MAX / US_PER_MIN)
            .saturating_mul(US_PER_MIN);
        let mut by_user = HashMap::new();
        for (user, v) in self.by_user {
            let mut ts = Vec::with_capacity(v.len());
            for (t, c) in v {
                if c == u32::MAX || !dd.cands.get(c)?.dropped {
                    ts.push(t);
                }
            }
            ts.sort_unstable();
            let mut starts = Vec::with_capacity(ts.len());
            let mut start = i64::MIN;
            let mut last = i64::MIN;
            for (k, &t) in ts.iter().enumerate() {
                if k == 0 || t.saturating_sub(last) > gap {
                    start = t;
                }
                last = t;
                starts.push(start);
            }
            by_user.insert(user, (ts, starts));
        }
        Ok(SessionMap {
            by_user,
            format: opts.format,
            hasher: opts.hasher.clone(),
        })
    }
}

/// Session starts per user, from [`Sessions::finish`].
struct SessionMap {
    by_user: HashMap<String, (Vec<i64>, Vec<i64>)>,
    format: Format,
    hasher: crate::KeyedHasher,
}

impl SessionMap {
    /// Gives `w`'s surviving events without a session id their session.
    fn assign(&self, w: &mut FileWork) {
        for (i, e) in w.parsed.events.iter_mut().enumerate() {
            if w.dropped[i] || !e.session.is_empty() {
                continue;
            }
            let u = e.user.clone().unwrap_or_default();
            let Some((ts, starts)) = self.by_user.get(&u) else {
                continue;
            };
            let k = ts.partition_point(|&t| t < e.ts_us);
            let Some(&start) = starts.get(k) else {
                continue;
            };
            let t = start.to_string();
            e.session = format!(
                "{}-{}",
                self.format.name(),
                &self.hasher.hash("session", &[u.as_bytes(), t.as_bytes()])[..16]
            );
        }
    }
}

/// The canonical output schema (`n` only for aggregate formats).
pub(crate) fn output_schema(with_n: bool) -> SchemaRef {
    let mut f = vec![
        Field::new(
            col::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(col::USER_ID, DataType::Utf8, false),
        Field::new(col::SESSION_ID, DataType::Utf8, false),
        Field::new(col::EVENT, DataType::Utf8, false),
        Field::new(col::AGENT_ID, DataType::Utf8, true),
        Field::new(col::PARENT_AGENT_ID, DataType::Utf8, true),
        Field::new(col::MODEL, DataType::Utf8, true),
        Field::new(col::INPUT_TOKENS, DataType::Int64, true),
        Field::new(col::OUTPUT_TOKENS, DataType::Int64, true),
        Field::new(col::CACHE_READ_TOKENS, DataType::Int64, true),
        Field::new(col::CACHE_WRITE_TOKENS, DataType::Int64, true),
        Field::new(col::TASK_HASH, DataType::Utf8, true),
        Field::new(col::CONTEXT_HASH, DataType::Utf8, true),
        Field::new(col::CHANGE_ID, DataType::Utf8, true),
        Field::new(col::LINES, DataType::Int64, true),
        Field::new(col::COST_USD, DataType::Float64, true),
    ];
    if with_n {
        f.push(Field::new("n", DataType::Int64, true));
    }
    Arc::new(Schema::new(f))
}

fn to_batch(evs: &[&Ev], with_n: bool) -> RecordBatch {
    let s = |f: &dyn Fn(&Ev) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(evs.iter().map(|e| f(e))))
    };
    let i = |f: &dyn Fn(&Ev) -> Option<u64>| -> ArrayRef {
        Arc::new(Int64Array::from_iter(
            evs.iter()
                .map(|e| f(e).map(|v| v.min(i64::MAX as u64) as i64)),
        ))
    };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(evs.iter().map(|e| e.ts_us))
                .with_timezone("UTC"),
        ),
        s(&|e| e.user.as_deref()),
        s(&|e| Some(e.session.as_str())),
        s(&|e| Some(e.kind().as_str())),
        s(&|e| e.agent.as_deref()),
        s(&|e| e.parent.as_deref()),
        s(&|e| e.model.as_deref()),
        i(&|e| e.input),
        i(&|e| e.output),
        i(&|e| e.cache_read),
        i(&|e| e.cache_write),
        s(&|e| e.task_hash.as_deref()),
        s(&|e| e.context_hash.as_deref()),
        s(&|e| e.change_id.as_deref()),
        i(&|e| e.lines),
        Arc::new(Float64Array::from_iter(evs.iter().map(|e| e.cost_usd))),
    ];
    if with_n {
        cols.push(i(&|e| e.n));
    }
    RecordBatch::try_new(output_schema(with_n), cols).expect("columns match the schema")
}

use goodhart_core::time::US_PER_DAY;

fn date_of(ts_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts_us.div_euclid(US_PER_DAY) * US_PER_DAY)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// Writes one file's surviving events (one part per UTC date) and builds its report.
// One piece: one file's events validated and written (one part per UTC date), then its
// accounting (records read = events + skipped + quarantined) built from the counters of those
// same steps, so the identity is made in one place.
fn finish_file(
    w: &mut FileWork,
    entry: &mut Entry,
    opts: &ImportOptions,
    users: &mut BTreeSet<String>,
) -> Result<FileReport, ImportError> {
    let format = opts.format;
    let with_n = format.aggregate();
    // Validate with the schema crate; any row it would quarantine is
    // quarantined here (with its record number) rather than written.
    let mut by_date: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in w.parsed.events.iter().enumerate() {
        if !w.dropped[i] {
            by_date.entry(date_of(e.ts_us)).or_default().push(i);
        }
    }
    let mut parts = Vec::new();
    let mut events: BTreeMap<String, u64> = BTreeMap::new();
    let mut tokens_by_day: BTreeMap<String, DayTokens> = BTreeMap::new();
    let mut survivors: HashSet<u64> = HashSet::new();
    let fid = file_id(&w.key);
    let mut bad_lines = Vec::new();
    for (date, mut idx) in by_date {
        idx.sort_by_key(|&i| {
            let e = &w.parsed.events[i];
            (e.ts_us, e.line, e.kind() as u8)
        });
        let evs: Vec<&Ev> = idx.iter().map(|&i| &w.parsed.events[i]).collect();
        let batch = to_batch(&evs, with_n);
        let norm = normalize(&batch, &ValidateOptions::default(), &w.key).map_err(|e| {
            ImportError::Output {
                path: w.path.clone(),
                message: format!("internal: output failed the schema check: {e}"),
            }
        })?;
        let batch = if norm.counts.rows_quarantined > 0 {
            // Should not happen (the parsers check what the schema checks);
            // kept so that nothing invalid is ever written.
            let bad: HashSet<u64> = (0..norm.quarantine.num_rows())
                .map(|r| {
                    norm.quarantine
                        .column_by_name(goodhart_schema::Q_ROW_INDEX)
                        .and_then(|c| c.as_any().downcast_ref::<arrow::array::UInt64Array>())
                        .map_or(0, |c| c.value(r))
                })
                .collect();
            let keep: Vec<&Ev> = evs
                .iter()
                .enumerate()
                .filter(|(r, _)| !bad.contains(&(*r as u64)))
                .map(|(_, e)| *e)
                .collect();
            for (r, e) in evs.iter().enumerate() {
                if bad.contains(&(r as u64)) {
                    bad_lines.push(e.line);
                }
            }
            (to_batch(&keep, with_n), keep)
        } else {
            (batch, evs)
        };
        let (batch, evs) = batch;
        if batch.num_rows() == 0 {
            continue;
        }
        for e in evs {
            if e.kind() == EventKind::Request {
                tokens_by_day
                    .entry(date.clone())
                    .or_default()
                    .add(&DayTokens {
                        input: e.input.unwrap_or(0),
                        output: e.output.unwrap_or(0),
                        cache_read: e.cache_read.unwrap_or(0),
                        cache_write: e.cache_write.unwrap_or(0),
                    });
            }
            survivors.insert(e.line);
            *events.entry(e.kind().as_str().to_string()).or_insert(0) += 1;
            if let Some(u) = &e.user {
                users.insert(u.clone());
            }
        }
        let rel = format!(
            "events/date={date}/source={}/part-{fid}-{:04}.parquet",
            format.name(),
            entry.next_seq
        );
        let path = opts.out.join(&rel);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(out_err(d))?;
        }
        goodhart_io::write_parquet_atomic(&path, batch.schema(), &[batch]).map_err(|e| {
            ImportError::Output {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        parts.push(rel);
    }
    if !parts.is_empty() {
        entry.next_seq += 1;
        entry.parts.extend(parts.iter().cloned());
    }
    // Records that produced candidates but no surviving event: duplicates
    // (or events without a user).
    let mut used = 0u64;
    let mut dup = 0u64;
    let mut no_user = Vec::new();
    for l in bad_lines {
        if !survivors.contains(&l) {
            w.parsed
                .quarantined
                .push((l, "failed_schema_validation".into()));
        }
    }
    let lost_user = &w.no_user_lines;
    let q_lines: HashSet<u64> = w.parsed.quarantined.iter().map(|q| q.0).collect();
    for &l in &w.parsed.used_lines {
        if survivors.contains(&l) {
            used += 1;
        } else if q_lines.contains(&l) {
            // Counted as quarantined.
        } else if lost_user.contains(&l) {
            no_user.push(l);
        } else {
            dup += 1;
        }
    }
    for l in no_user {
        w.parsed.quarantined.push((l, "no_user".into()));
    }
    let mut skipped = w.parsed.skipped.clone();
    if dup > 0 {
        let k = if format == Format::ClaudeCode {
            "duplicate_request"
        } else {
            "duplicate"
        };
        *skipped.entry(k.to_string()).or_insert(0) += dup;
    }
    w.parsed.quarantined.sort();
    Ok(FileReport {
        file: w.path.display().to_string(),
        status: w.status.as_str().to_string(),
        size: w.size,
        records: w.parsed.records,
        used,
        skipped,
        quarantined: w.parsed.quarantined.len() as u64,
        quarantine: w
            .parsed
            .quarantined
            .iter()
            .take(MAX_LISTED_QUARANTINE)
            .map(|(line, reason)| QuarantinedRecord {
                line: *line,
                source_line: w.parsed.source_lines.get(line).copied(),
                reason: reason.clone(),
            })
            .collect(),
        events,
        parts,
        tokens_by_day,
    })
}

/// Writes `LAKE/users.parquet` from a roster CSV (`user_id` or `email`,
/// `team`, `role`), ids resolved through the identity map.
pub(crate) fn write_roster(
    csv_path: &Path,
    lake: &Path,
    ids: &IdentityMap,
) -> Result<usize, ImportError> {
    let cfg = |m: String| ImportError::Config {
        what: csv_path.display().to_string(),
        message: m,
    };
    let text = crate::identity::read_text(csv_path)?;
    let mut recs = crate::csvread::records(&text).into_iter();
    let Some(Ok(h)) = recs.next() else {
        return Err(cfg(
            "the roster is empty. Fix: a header line such as `email,team,role`.".into(),
        ));
    };
    let pos = |n: &str| h.iter().position(|x| x.trim().eq_ignore_ascii_case(n));
    let id_col = pos("user_id").or_else(|| pos("email")).ok_or_else(|| {
        cfg("the roster has no user_id or email column. Fix: a header line such as `email,team,role`.".into())
    })?;
    let (team, role) = (pos("team"), pos("role"));
    let mut rows: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for (n, rec) in recs.enumerate() {
        let rec = rec.map_err(|()| {
            cfg(format!(
                "row {}: unclosed quote. Fix: close the quoted field.",
                n + 2
            ))
        })?;
        let raw = rec.get(id_col).map_or("", |s| s.trim());
        if raw.is_empty() {
            return Err(cfg(format!(
                "row {}: empty user id. Fix: fill it in or delete the row.",
                n + 2
            )));
        }
        let uid = ids
            .lookup("roster", raw)
            .map(str::to_string)
            .unwrap_or_else(|| crate::normalize_id(raw));
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        rows.entry(uid).or_insert((get(team), get(role)));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("team", DataType::Utf8, true),
        Field::new("role", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.keys())),
            Arc::new(StringArray::from_iter(
                rows.values().map(|v| v.0.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rows.values().map(|v| v.1.as_deref()),
            )),
        ],
    )
    .expect("roster columns");
    std::fs::create_dir_all(lake).map_err(out_err(lake))?;
    let p = lake.join("users.parquet");
    goodhart_io::write_parquet_atomic(&p, schema, &[batch]).map_err(|e| ImportError::Output {
        path: p,
        message: e.to_string(),
    })?;
    Ok(rows.len())
}
