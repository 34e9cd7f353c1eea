//! Identity mapping: the ids a vendor uses for a person -> one goodhart user id.

use crate::error::ImportError;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Normalises a source id: trimmed; e-mail addresses (anything with an `@`)
/// lower-cased.
///
/// ```
/// assert_eq!(goodhart_import::normalize_id(" Ana@Example.COM "), "ana@example.com");
/// assert_eq!(goodhart_import::normalize_id("OctoCat"), "OctoCat");
/// ```
pub fn normalize_id(id: &str) -> String {
    let t = id.trim();
    if t.contains('@') {
        t.to_lowercase()
    } else {
        t.to_string()
    }
}

/// Maps `(source, source_id)` to user ids, from a CSV with the header
/// `source,source_id,user_id`.
///
/// `source` is a format name (`claude-code`, `cursor`, ...) or `*` for any
/// format. Ids are compared after [`normalize_id`]. Ids without a mapping
/// become their normalised self and are listed in the report.
#[derive(Debug, Clone, Default)]
pub struct IdentityMap {
    map: HashMap<(String, String), String>,
}

impl IdentityMap {
    /// An empty map (every id maps to itself, normalised).
    pub fn new() -> IdentityMap {
        IdentityMap::default()
    }

    /// Adds one mapping.
    pub fn insert(&mut self, source: &str, source_id: &str, user_id: &str) {
        self.map.insert(
            (source.trim().to_string(), normalize_id(source_id)),
            user_id.trim().to_string(),
        );
    }

    /// Reads the identities CSV (`source,source_id,user_id`, header required).
    ///
    /// # Errors
    /// [`ImportError::Source`] when the file cannot be read,
    /// [`ImportError::Config`] naming the row when it is malformed.
    pub fn from_csv(path: &Path) -> Result<IdentityMap, ImportError> {
        let text = read_text(path)?;
        let mut recs = crate::csvread::records(&text).into_iter();
        let bad = |row: usize, m: &str| ImportError::Config {
            what: format!("{}: row {row}", path.display()),
            message: m.to_string(),
        };
        let Some(Ok(headers)) = recs.next() else {
            return Err(bad(
                1,
                "no header line. Fix: the first line must be `source,source_id,user_id`.",
            ));
        };
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| ImportError::Config {
                    what: path.display().to_string(),
                    message: format!(
                        "the identities file has no \"{name}\" column (header found: {}). \
                         Fix: the first line must be `source,source_id,user_id`.",
                        headers.join(",")
                    ),
                })
        };
        let (s, i, u) = (col("source")?, col("source_id")?, col("user_id")?);
        let mut m = IdentityMap::new();
        for (row, rec) in recs.enumerate() {
            let Ok(rec) = rec else {
                return Err(bad(row + 2, "unclosed quote. Fix: close the quoted field."));
            };
            let get = |k: usize| rec.get(k).map_or("", String::as_str);
            let (src, sid, uid) = (get(s), get(i), get(u));
            if sid.trim().is_empty() || uid.trim().is_empty() {
                return Err(bad(
                    row + 2,
                    "source_id and user_id must not be empty. Fix: fill them in or delete the row.",
                ));
            }
            m.insert(src, sid, uid);
        }
        Ok(m)
    }

    /// The user id of `source_id` as seen by `format`: the mapping for the
    /// format, else the `*` mapping, else `None`.
    pub fn lookup(&self, format: &str, source_id: &str) -> Option<&str> {
        let id = normalize_id(source_id);
        self.map
            .get(&(format.to_string(), id.clone()))
            .or_else(|| self.map.get(&("*".to_string(), id)))
            .map(String::as_str)
    }

    /// Resolves `source_id`: the mapped user, else the normalised id (and the
    /// id is added to `unmapped`).
    pub fn resolve(
        &self,
        format: &str,
        source_id: &str,
        unmapped: &mut BTreeSet<String>,
    ) -> String {
        match self.lookup(format, source_id) {
            Some(u) => u.to_string(),
            None => {
                let n = normalize_id(source_id);
                unmapped.insert(n.clone());
                n
            }
        }
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no mappings.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Reads a small text file; an unreadable file is a source error naming it.
pub(crate) fn read_text(path: &Path) -> Result<String, ImportError> {
    let b = std::fs::read(path).map_err(|source| ImportError::Source {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// A `--user-from-path` pattern such as `'{user}/.claude/projects/**'`.
///
/// Segments are separated by `/`: `{user}` captures one path segment, `*`
/// matches one segment, `**` any number of segments, anything else must be
/// equal. The pattern may match anywhere in the path (the leftmost match
/// wins), so `/home/{user}/**` and `{user}/.claude/**` both work on
/// `/home/ana/.claude/projects/p/s.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPattern {
    segs: Vec<String>,
}

impl UserPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// [`ImportError::Config`] when the pattern has no `{user}` segment.
    pub fn parse(p: &str) -> Result<UserPattern, ImportError> {
        let segs: Vec<String> = p
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !segs.iter().any(|s| s == "{user}") {
            return Err(ImportError::Config {
                what: "--user-from-path".into(),
                message: format!(
                    "the pattern \"{p}\" has no {{user}} segment. Fix: mark the path segment \
                     that names the person, e.g. '/home/{{user}}/.claude/projects/**'."
                ),
            });
        }
        Ok(UserPattern { segs })
    }

    /// The user captured from `path`, if the pattern matches.
    ///
    /// ```
    /// use goodhart_import::UserPattern;
    /// let p = UserPattern::parse("{user}/.claude/projects/**").unwrap();
    /// assert_eq!(p.user_of("/home/ana/.claude/projects/x/s.jsonl".as_ref()).as_deref(), Some("ana"));
    /// assert_eq!(p.user_of("/tmp/s.jsonl".as_ref()), None);
    /// ```
    pub fn user_of(&self, path: &Path) -> Option<String> {
        let parts: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        (0..parts.len()).find_map(|start| {
            let mut user = None;
            matches(&self.segs, &parts[start..], &mut user).then_some(user)?
        })
    }
}

fn matches(pat: &[String], path: &[String], user: &mut Option<String>) -> bool {
    let Some((first, rest)) = pat.split_first() else {
        return path.is_empty();
    };
    if first == "**" {
        return (0..=path.len()).any(|k| matches(rest, &path[k..], user));
    }
    let Some((seg, path_rest)) = path.split_first() else {
        return false;
    };
    let ok = match first.as_str() {
        "{user}" => {
            if !matches(rest, path_rest, user) {
                return false;
            }
            *user = Some(seg.clone());
            return true;
        }
        "*" => true,
        lit => lit == seg,
    };
    ok && matches(rest, path_rest, user)
}
