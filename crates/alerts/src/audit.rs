//! Audited re-identification: a hash-chained, append-only audit log in the state database, and
//! the optional four-eyes procedure (request, approval by a second person, reveal).
//!
//! Every attempt to map a pseudonym back to a person — granted, refused or for an unknown
//! pseudonym — appends one [`AuditEntry`]: who (the actor name and the OS user), when, which
//! pseudonym, why, and the outcome. Each entry carries `hash = SHA-256(prev_hash ||
//! canonical entry bytes)`, where `prev_hash` is the hash of the entry before it (64 zeros for
//! the first one) and the canonical bytes are the compact JSON of the entry's fields in
//! declaration order, `seq` included, hashes excluded. [`StateStore::audit_verify`] recomputes
//! the chain and names the first entry that was altered, inserted or whose predecessor was
//! deleted. SQLite triggers refuse `UPDATE` and `DELETE` on the table; only the retention purge
//! removes the oldest entries, and it records what it removed in a new entry (the anchor).
//!
//! A hash chain without a key detects edits of individual rows; somebody who can write the file
//! could recompute the whole chain. Keep the head hash that `goodhart audit verify` prints
//! somewhere else (a ticket, an e-mail to the works council) to detect that too.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AlertError, Result};
use crate::store::StateStore;

/// Hash of the (absent) entry before the first one.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Schema of the audit tables (state schema version 3).
pub(crate) const MIGRATION_SQL: &str = r#"
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    os_user    TEXT NOT NULL,
    action     TEXT NOT NULL,
    pseudonym  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    request_id TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only; only goodhart purge removes old entries'); END;
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    head_seq  INTEGER NOT NULL,
    head_hash TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash, head_seq, head_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE reid_requests (
    id                TEXT PRIMARY KEY,
    pseudonym         TEXT NOT NULL,
    requester         TEXT NOT NULL,
    requester_os_user TEXT NOT NULL,
    reason            TEXT NOT NULL,
    requested_at      TEXT NOT NULL,
    approver          TEXT,
    approved_at       TEXT,
    revealed_at       TEXT,
    state             TEXT NOT NULL CHECK (state IN ('pending','approved','revealed'))
);
"#;

/// SQL that re-creates the delete trigger after a retention purge.
pub(crate) const NO_DELETE_TRIGGER: &str = "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON \
     audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only; only goodhart purge removes \
     old entries'); END;";

/// Who performs an audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The name recorded: `--actor`, else `[privacy] actor`, else the OS user.
    pub name: String,
    /// The operating-system account running goodhart (`$USER` / `$USERNAME` / `$LOGNAME`, else
    /// the process uid's name from `/etc/passwd`), `"unknown"` if
    /// neither is set.
    pub os_user: String,
}

impl Actor {
    /// The actor from an explicit name (`--actor`), else the configured name, else the OS user.
    ///
    /// ```
    /// let a = goodhart_alerts::Actor::resolve(Some("dpo-anna"), None).unwrap();
    /// assert_eq!(a.name, "dpo-anna");
    /// ```
    pub fn resolve(explicit: Option<&str>, configured: Option<&str>) -> Result<Actor> {
        let os_user = ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            .or_else(os_user_from_uid)
            .unwrap_or_else(|| "unknown".to_string());
        let name = explicit
            .or(configured)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| os_user.clone());
        if name == "unknown" {
            return Err(AlertError::Refused {
                why: "cannot tell who is asking: neither $USER nor $USERNAME is set. Fix: pass \
                      --actor NAME (it is recorded in the audit log)"
                    .into(),
            });
        }
        Ok(Actor { name, os_user })
    }

    fn same_person(&self, name: &str, os_user: &str) -> bool {
        self.name == name || (self.os_user != "unknown" && self.os_user == os_user)
    }
}

/// The OS account of this process when no user variable is set (cron, CI,
/// containers): the real uid from `/proc/self/status`, named through
/// `/etc/passwd` (`uid-N` when it has no entry). Written by hand because the
/// workspace forbids `unsafe` (no `getuid`/`getpwuid` through libc); `None`
/// where `/proc` does not exist.
fn os_user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
    });
    Some(name.unwrap_or_else(|| format!("uid-{uid}")))
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (1, 2, …; never reused).
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who (see [`Actor::name`]).
    pub actor: String,
    /// OS account that ran the command.
    pub os_user: String,
    /// `whois`, `request`, `approve`, `reveal` or `purge`.
    pub action: String,
    /// The pseudonym concerned (empty for `purge`).
    pub pseudonym: String,
    /// Why, as given by the actor.
    pub reason: String,
    /// `revealed`, `not_found`, `requested`, `approved`, `refused: …` or what a purge removed.
    pub outcome: String,
    /// Four-eyes request id, if any.
    pub request_id: Option<String>,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// `SHA-256(prev_hash || canonical bytes)`, hex.
    pub hash: String,
}

/// The hashed part of an entry, in a fixed field order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: &'a str,
    actor: &'a str,
    os_user: &'a str,
    action: &'a str,
    pseudonym: &'a str,
    reason: &'a str,
    outcome: &'a str,
    request_id: Option<&'a str>,
}

impl AuditEntry {
    /// The hash this entry should carry given its fields and `prev_hash`.
    pub fn expected_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            os_user: &self.os_user,
            action: &self.action,
            pseudonym: &self.pseudonym,
            reason: &self.reason,
            outcome: &self.outcome,
            request_id: self.request_id.as_deref(),
        };
        let bytes = serde_json::to_vec(&canonical).expect("plain strings serialise");
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(&bytes);
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Outcome of [`StateStore::audit_verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuditVerification {
    /// The chain is intact.
    Ok {
        /// Entries checked.
        entries: u64,
        /// Hash of the last entry (keep it elsewhere to detect a rewrite of the whole chain).
        head_hash: String,
    },
    /// The first entry that does not verify.
    Broken {
        /// Its sequence number.
        seq: i64,
        /// What is wrong with it.
        problem: String,
    },
}

/// An entry about to be appended.
struct NewEntry<'a> {
    actor: &'a Actor,
    action: &'a str,
    pseudonym: &'a str,
    reason: &'a str,
    outcome: &'a str,
    request_id: Option<&'a str>,
}

/// Appends one entry inside `tx`, chaining it to the current head.
fn append(
    tx: &Transaction<'_>,
    e: &NewEntry<'_>,
    now: DateTime<Utc>,
) -> rusqlite::Result<AuditEntry> {
    let (head_seq, head_hash): (i64, String) = tx.query_row(
        "SELECT head_seq, head_hash FROM audit_anchor WHERE id = 1",
        [],
        |r| r.try_into(),
    )?;
    let mut entry = AuditEntry {
        seq: head_seq + 1,
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        actor: e.actor.name.clone(),
        os_user: e.actor.os_user.clone(),
        action: e.action.to_string(),
        pseudonym: e.pseudonym.to_string(),
        reason: e.reason.to_string(),
        outcome: e.outcome.to_string(),
        request_id: e.request_id.map(str::to_string),
        prev_hash: head_hash,
        hash: String::new(),
    };
    entry.hash = entry.expected_hash();
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, os_user, action, pseudonym, reason, outcome,
             request_id, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            entry.seq,
            entry.at,
            entry.actor,
            entry.os_user,
            entry.action,
            entry.pseudonym,
            entry.reason,
            entry.outcome,
            entry.request_id,
            entry.prev_hash,
            entry.hash
        ],
    )?;
    tx.execute(
        "UPDATE audit_anchor SET head_seq = ?1, head_hash = ?2 WHERE id = 1",
        params![entry.seq, entry.hash],
    )?;
    Ok(entry)
}

/// Appends a `purge` entry inside a retention transaction (see `retention.rs`).
pub(crate) fn append_purge(
    tx: &Transaction<'_>,
    actor: &Actor,
    outcome: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<AuditEntry> {
    append(
        tx,
        &NewEntry {
            actor,
            action: "purge",
            pseudonym: "",
            reason: "retention",
            outcome,
            request_id: None,
        },
        now,
    )
}

fn read_entries(conn: &rusqlite::Connection, filter: &str) -> rusqlite::Result<Vec<AuditEntry>> {
    let sql = format!(
        "SELECT seq, at, actor, os_user, action, pseudonym, reason, outcome, request_id,
                prev_hash, hash
         FROM audit_log {filter} ORDER BY seq"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            os_user: r.get(3)?,
            action: r.get(4)?,
            pseudonym: r.get(5)?,
            reason: r.get(6)?,
            outcome: r.get(7)?,
            request_id: r.get(8)?,
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
        })
    })?;
    rows.collect()
}

/// The result of a direct re-identification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reidentified {
    /// The user, or `None` when the pseudonym is not in the state.
    pub user_id: Option<String>,
    /// The audit entry recording it.
    pub entry: AuditEntry,
}

fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(AlertError::Refused {
            why: "a re-identification needs a reason. Fix: pass --reason \"why you need to know \
                  who this is\" (it is recorded in the audit log)"
                .into(),
        });
    }
    Ok(())
}

impl StateStore {
    fn audited<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let path = self.path().to_path_buf();
        let tx = self
            .conn()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| crate::store::sql_err(&path, e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| crate::store::sql_err(&path, e))?;
        Ok(out)
    }

    /// Maps a pseudonym back to its user and records it in the audit log (`goodhart whois`).
    ///
    /// Refused (and the refusal recorded) with [`AlertError::Refused`] when `reason` is empty or
    /// when `four_eyes` is on (then use [`StateStore::request_reidentification`]). An unknown
    /// pseudonym is recorded with outcome `not_found` and returns `user_id: None`.
    pub fn reidentify(
        &mut self,
        pseudonym: &str,
        reason: &str,
        actor: &Actor,
        four_eyes: bool,
        now: DateTime<Utc>,
    ) -> Result<Reidentified> {
        let pseudonym = pseudonym.trim();
        let refusal = if reason.trim().is_empty() {
            Some(check_reason(reason).unwrap_err())
        } else if four_eyes {
            Some(AlertError::Refused {
                why: "four-eyes mode is on ([privacy] four_eyes = true): a re-identification \
                      needs a second person's approval. Fix: run `goodhart whois PSEUDONYM \
                      --request --reason TEXT`, have another person run `goodhart whois \
                      --approve ID`, then `goodhart whois --reveal ID`"
                    .into(),
            })
        } else {
            None
        };
        let path = self.path().to_path_buf();
        let err = |e| crate::store::sql_err(&path, e);
        if let Some(refused) = refusal {
            let outcome = if four_eyes && !reason.trim().is_empty() {
                "refused: four-eyes mode"
            } else {
                "refused: no reason"
            };
            self.audited(|tx| {
                append(
                    tx,
                    &NewEntry {
                        actor,
                        action: "whois",
                        pseudonym,
                        reason,
                        outcome,
                        request_id: None,
                    },
                    now,
                )
                .map_err(err)
            })?;
            return Err(refused);
        }
        self.audited(|tx| {
            let user: Option<String> = tx
                .query_row(
                    "SELECT user_id FROM pseudonyms WHERE pseudonym = ?1",
                    [pseudonym],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            let entry = append(
                tx,
                &NewEntry {
                    actor,
                    action: "whois",
                    pseudonym,
                    reason,
                    outcome: if user.is_some() {
                        "revealed"
                    } else {
                        "not_found"
                    },
                    request_id: None,
                },
                now,
            )
            .map_err(err)?;
            Ok(Reidentified {
                user_id: user,
                entry,
            })
        })
    }

    /// Four-eyes step 1: records a request to re-identify `pseudonym` and returns its id.
    pub fn request_reidentification(
        &mut self,
        pseudonym: &str,
        reason: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<String> {
        check_reason(reason)?;
        let pseudonym = pseudonym.trim();
        let path = self.path().to_path_buf();
        let err = |e| crate::store::sql_err(&path, e);
        self.audited(|tx| {
            let (head_seq, head_hash): (i64, String) = tx
                .query_row(
                    "SELECT head_seq, head_hash FROM audit_anchor WHERE id = 1",
                    [],
                    |r| r.try_into(),
                )
                .map_err(err)?;
            // Unguessable by someone without the log, unique because the head changes each time.
            let mut h = Sha256::new();
            h.update(format!("{head_seq}\0{head_hash}\0{pseudonym}\0{}", actor.name).as_bytes());
            let id = format!("r-{}", &hex(&h.finalize())[..12]);
            tx.execute(
                "INSERT INTO reid_requests (id, pseudonym, requester, requester_os_user, reason,
                     requested_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                params![
                    id,
                    pseudonym,
                    actor.name,
                    actor.os_user,
                    reason,
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ],
            )
            .map_err(err)?;
            append(
                tx,
                &NewEntry {
                    actor,
                    action: "request",
                    pseudonym,
                    reason,
                    outcome: "requested",
                    request_id: Some(&id),
                },
                now,
            )
            .map_err(err)?;
            Ok(id)
        })
    }

    /// Four-eyes step 2: a second person approves request `id`. The approver does not see the
    /// identity. Self-approval (same actor name or same OS user as the requester) is refused
    /// and the refusal recorded.
    pub fn approve_reidentification(
        &mut self,
        id: &str,
        reason: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let id = id.trim();
        let path = self.path().to_path_buf();
        let err = |e| crate::store::sql_err(&path, e);
        let refused = self.audited(|tx| {
            let req = load_request(tx, id).map_err(err)?;
            let Some((pseudonym, requester, requester_os, state)) = req else {
                return Err(AlertError::Refused {
                    why: format!(
                        "no re-identification request {id:?} in this state. Fix: copy the id \
                         printed by `goodhart whois --request`"
                    ),
                });
            };
            let (outcome, refusal) = if actor.same_person(&requester, &requester_os) {
                (
                    "refused: self-approval",
                    Some(format!(
                        "{} cannot approve their own request {id} (four-eyes mode needs a second \
                         person). Fix: ask another authorised person to run `goodhart whois \
                         --approve {id}`",
                        actor.name
                    )),
                )
            } else if state != "pending" {
                (
                    "refused: not pending",
                    Some(format!("request {id} is already {state}")),
                )
            } else {
                ("approved", None)
            };
            if refusal.is_none() {
                tx.execute(
                    "UPDATE reid_requests SET state = 'approved', approver = ?2, approved_at = ?3
                     WHERE id = ?1",
                    params![
                        id,
                        actor.name,
                        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ],
                )
                .map_err(err)?;
            }
            append(
                tx,
                &NewEntry {
                    actor,
                    action: "approve",
                    pseudonym: &pseudonym,
                    reason,
                    outcome,
                    request_id: Some(id),
                },
                now,
            )
            .map_err(err)?;
            Ok(refusal)
        })?;
        match refused {
            Some(why) => Err(AlertError::Refused { why }),
            None => Ok(()),
        }
    }

    /// Four-eyes step 3: the requester of an approved request learns the identity (once).
    pub fn reveal_approved(
        &mut self,
        id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Reidentified> {
        let id = id.trim();
        let path = self.path().to_path_buf();
        let err = |e| crate::store::sql_err(&path, e);
        let (result, refusal) = self.audited(|tx| {
            let Some((pseudonym, requester, _os, state)) = load_request(tx, id).map_err(err)?
            else {
                return Err(AlertError::Refused {
                    why: format!(
                        "no re-identification request {id:?} in this state. Fix: copy the id \
                         printed by `goodhart whois --request`"
                    ),
                });
            };
            let reason: String = tx
                .query_row(
                    "SELECT reason FROM reid_requests WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .map_err(err)?;
            let refusal = if actor.name != requester {
                Some(format!(
                    "only the requester ({requester}) can reveal request {id}; {} is not the \
                     requester",
                    actor.name
                ))
            } else if state != "approved" {
                Some(format!(
                    "request {id} is {state}, not approved. Fix: another person must run \
                     `goodhart whois --approve {id}` first"
                ))
            } else {
                None
            };
            let user: Option<String> = if refusal.is_none() {
                tx.query_row(
                    "SELECT user_id FROM pseudonyms WHERE pseudonym = ?1",
                    [&pseudonym],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?
            } else {
                None
            };
            let outcome = match (&refusal, &user) {
                (Some(_), _) => "refused",
                (None, Some(_)) => "revealed",
                (None, None) => "not_found",
            };
            if refusal.is_none() {
                tx.execute(
                    "UPDATE reid_requests SET state = 'revealed', revealed_at = ?2 WHERE id = ?1",
                    params![id, now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)],
                )
                .map_err(err)?;
            }
            let entry = append(
                tx,
                &NewEntry {
                    actor,
                    action: "reveal",
                    pseudonym: &pseudonym,
                    reason: &reason,
                    outcome,
                    request_id: Some(id),
                },
                now,
            )
            .map_err(err)?;
            Ok((
                Reidentified {
                    user_id: user,
                    entry,
                },
                refusal,
            ))
        })?;
        match refusal {
            Some(why) => Err(AlertError::Refused { why }),
            None => Ok(result),
        }
    }

    /// Every audit entry, oldest first.
    pub fn audit_log(&mut self) -> Result<Vec<AuditEntry>> {
        let path = self.path().to_path_buf();
        read_entries(self.conn(), "").map_err(|e| crate::store::sql_err(&path, e))
    }

    /// Recomputes the hash chain and returns the first entry that does not verify, if any.
    ///
    /// Detected: a changed field (hash mismatch), a deleted entry (gap in `seq`; the entry
    /// after the gap is named), a deleted last entry (the recorded head is missing), entries
    /// removed from the start other than by the retention purge (the anchor does not match).
    pub fn audit_verify(&mut self) -> Result<AuditVerification> {
        let path = self.path().to_path_buf();
        let err = |e| crate::store::sql_err(&path, e);
        let entries = read_entries(self.conn(), "").map_err(err)?;
        let (anchor_seq, anchor_hash, head_seq, head_hash): (i64, String, i64, String) = self
            .conn()
            .query_row(
                "SELECT seq, hash, head_seq, head_hash FROM audit_anchor WHERE id = 1",
                [],
                |r| r.try_into(),
            )
            .map_err(err)?;
        let mut prev_seq = anchor_seq;
        let mut prev_hash = anchor_hash;
        for e in &entries {
            let problem = if e.seq != prev_seq + 1 {
                Some(format!(
                    "expected entry {} next, found {}: entries {}..{} were deleted",
                    prev_seq + 1,
                    e.seq,
                    prev_seq + 1,
                    e.seq - 1
                ))
            } else if e.prev_hash != prev_hash {
                Some("its prev_hash does not match the previous entry's hash".to_string())
            } else if e.hash != e.expected_hash() {
                Some(
                    "its content does not match its hash: a field was altered after it was \
                     written"
                        .to_string(),
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(AuditVerification::Broken {
                    seq: e.seq,
                    problem,
                });
            }
            prev_seq = e.seq;
            prev_hash = e.hash.clone();
        }
        if prev_seq != head_seq || prev_hash != head_hash {
            return Ok(AuditVerification::Broken {
                seq: prev_seq + 1,
                problem: format!(
                    "the log ends at entry {prev_seq} but the recorded head is entry {head_seq}: \
                     the last entries were deleted or the head was altered"
                ),
            });
        }
        Ok(AuditVerification::Ok {
            entries: entries.len() as u64,
            head_hash: prev_hash,
        })
    }
}

type RequestRow = (String, String, String, String);

fn load_request(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Option<RequestRow>> {
    tx.query_row(
        "SELECT pseudonym, requester, requester_os_user, state FROM reid_requests WHERE id = ?1",
        [id],
        |r| r.try_into(),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(name: &str, os: &str) -> Actor {
        Actor {
            name: name.into(),
            os_user: os.into(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn store_with_pseudonym() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store
            .record_pseudonym("p-aaaaaaaaaaaaaaaa", "alice")
            .unwrap();
        (dir, store)
    }

    /// Simulates someone editing the database with the sqlite3 shell: drops the triggers first.
    fn tamper(store: &mut StateStore, sql: &str) {
        store
            .conn()
            .execute_batch(&format!(
                "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql}"
            ))
            .unwrap();
    }

    #[test]
    fn whois_without_a_reason_is_refused_and_the_refusal_recorded() {
        let (_d, mut s) = store_with_pseudonym();
        let a = actor("anna", "anna");
        let e = s
            .reidentify("p-aaaaaaaaaaaaaaaa", "  ", &a, false, now())
            .unwrap_err();
        assert!(e.to_string().contains("--reason"), "{e}");
        let log = s.audit_log().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].outcome, "refused: no reason");
    }

    #[test]
    fn every_whois_is_in_the_chained_log() {
        let (_d, mut s) = store_with_pseudonym();
        let a = actor("anna", "anna");
        let r = s
            .reidentify(
                "p-aaaaaaaaaaaaaaaa",
                "ticket GOV-1 review",
                &a,
                false,
                now(),
            )
            .unwrap();
        assert_eq!(r.user_id.as_deref(), Some("alice"));
        let r = s
            .reidentify("p-0000000000000000", "typo check", &a, false, now())
            .unwrap();
        assert_eq!(r.user_id, None);
        let log = s.audit_log().unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].prev_hash, GENESIS_HASH);
        assert_eq!(log[1].prev_hash, log[0].hash);
        assert_eq!(
            (
                log[0].actor.as_str(),
                log[0].outcome.as_str(),
                log[0].reason.as_str()
            ),
            ("anna", "revealed", "ticket GOV-1 review")
        );
        assert_eq!(log[1].outcome, "not_found");
        assert_eq!(
            s.audit_verify().unwrap(),
            AuditVerification::Ok {
                entries: 2,
                head_hash: log[1].hash.clone()
            }
        );
    }

    fn three_entries() -> (tempfile::TempDir, StateStore) {
        let (d, mut s) = store_with_pseudonym();
        let a = actor("anna", "anna");
        for reason in ["one", "two", "three"] {
            s.reidentify("p-aaaaaaaaaaaaaaaa", reason, &a, false, now())
                .unwrap();
        }
        (d, s)
    }

    #[test]
    fn triggers_refuse_update_and_delete() {
        let (_d, mut s) = three_entries();
        assert!(s
            .conn()
            .execute("UPDATE audit_log SET reason = 'x' WHERE seq = 2", [])
            .is_err());
        assert!(s
            .conn()
            .execute("DELETE FROM audit_log WHERE seq = 2", [])
            .is_err());
        assert!(matches!(
            s.audit_verify().unwrap(),
            AuditVerification::Ok { .. }
        ));
    }

    #[test]
    fn an_altered_row_is_named() {
        let (_d, mut s) = three_entries();
        tamper(
            &mut s,
            "UPDATE audit_log SET reason = 'innocent' WHERE seq = 2;",
        );
        match s.audit_verify().unwrap() {
            AuditVerification::Broken { seq, problem } => {
                assert_eq!(seq, 2);
                assert!(problem.contains("altered"), "{problem}");
            }
            ok => panic!("tampering not detected: {ok:?}"),
        }
    }

    #[test]
    fn a_deleted_row_is_named_by_the_entry_after_it() {
        let (_d, mut s) = three_entries();
        tamper(&mut s, "DELETE FROM audit_log WHERE seq = 2;");
        match s.audit_verify().unwrap() {
            AuditVerification::Broken { seq, problem } => {
                assert_eq!(seq, 3);
                assert!(problem.contains("2..2 were deleted"), "{problem}");
            }
            ok => panic!("deletion not detected: {ok:?}"),
        }
        // Deleting the last entry is caught by the recorded head.
        let (_d, mut s) = three_entries();
        tamper(&mut s, "DELETE FROM audit_log WHERE seq = 3;");
        assert!(matches!(
            s.audit_verify().unwrap(),
            AuditVerification::Broken { seq: 3, .. }
        ));
    }

    #[test]
    fn four_eyes_needs_a_second_person() {
        let (_d, mut s) = store_with_pseudonym();
        let anna = actor("anna", "anna");
        let bob = actor("bob", "bob");
        // Direct whois refused in four-eyes mode.
        assert!(s
            .reidentify("p-aaaaaaaaaaaaaaaa", "why", &anna, true, now())
            .is_err());
        let id = s
            .request_reidentification("p-aaaaaaaaaaaaaaaa", "GOV-7 escalation", &anna, now())
            .unwrap();
        // Self-approval refused, also under another name from the same OS account.
        let e = s
            .approve_reidentification(&id, "", &anna, now())
            .unwrap_err();
        assert!(e.to_string().contains("cannot approve their own"), "{e}");
        assert!(s
            .approve_reidentification(&id, "", &actor("anna-alt", "anna"), now())
            .is_err());
        // Not revealed before approval.
        assert!(s.reveal_approved(&id, &anna, now()).is_err());
        s.approve_reidentification(&id, "agreed", &bob, now())
            .unwrap();
        // Only the requester can reveal, once.
        assert!(s.reveal_approved(&id, &bob, now()).is_err());
        let r = s.reveal_approved(&id, &anna, now()).unwrap();
        assert_eq!(r.user_id.as_deref(), Some("alice"));
        assert!(s.reveal_approved(&id, &anna, now()).is_err());
        let outcomes: Vec<String> = s
            .audit_log()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {}", e.action, e.actor, e.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                "whois anna refused: four-eyes mode",
                "request anna requested",
                "approve anna refused: self-approval",
                "approve anna-alt refused: self-approval",
                "reveal anna refused",
                "approve bob approved",
                "reveal bob refused",
                "reveal anna revealed",
                "reveal anna refused",
            ]
        );
        assert!(matches!(
            s.audit_verify().unwrap(),
            AuditVerification::Ok { .. }
        ));
    }

    #[test]
    fn a_version_1_state_migrates_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = rusqlite::Connection::open(dir.path().join(crate::STATE_FILE)).unwrap();
            let (v, desc, sql) = crate::store::MIGRATIONS[0];
            c.execute_batch(sql).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT \
                 NULL, applied_at TEXT NOT NULL);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO schema_version VALUES (?1, ?2, '2026-01-01T00:00:00Z')",
                params![v, desc],
            )
            .unwrap();
            c.pragma_update(None, "application_id", crate::APPLICATION_ID)
                .unwrap();
            c.execute(
                "INSERT INTO pseudonyms VALUES ('p-bbbbbbbbbbbbbbbb', 'bob')",
                [],
            )
            .unwrap();
        }
        let mut s = StateStore::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), crate::STATE_SCHEMA_VERSION);
        let r = s
            .reidentify(
                "p-bbbbbbbbbbbbbbbb",
                "migrated",
                &actor("a", "a"),
                false,
                now(),
            )
            .unwrap();
        assert_eq!(r.user_id.as_deref(), Some("bob"));
    }
}
