//! Retention: the `[retention]` section and the purge run at each scan and by `goodhart purge`.
//!
//! Ages are counted in days back from the as-of day of the run (the scan's as-of date, or
//! today for `goodhart purge`), the same clock the alert lifecycle uses. Something is *past
//! retention* when it is more than `days` days old, i.e. its day is before
//! `as_of - days`. What is purged:
//!
//! | what | purged when |
//! |---|---|
//! | alert (state row) | resolved or suppressed, and `resolved_at` is past `state_days` (open alerts are kept) |
//! | feedback | given (`at`) past `state_days`, unless it is a false-positive suppression still in force |
//! | outbox entry | delivered or failed, recorded past `state_days` (pending deliveries are kept) |
//! | user pseudonym (`p-`), public fingerprint alias | no alert of that user / fingerprint is left |
//! | session (`s-`) and cohort (`c-`) pseudonym | no alert that used it is left (pseudonyms recorded before state schema 4 and found in no outbox payload are kept) |
//! | audit entry, four-eyes request | written past `audit_days` (oldest first; the chain is re-anchored and the purge itself is recorded) |
//! | scan output directory under `outputs_root` | its `summary.json` window ends past `outputs_days` |
//!
//! Output purging only touches direct subdirectories of `outputs_root` that hold a goodhart
//! `summary.json`, and in them only the files goodhart writes ([`MANAGED_OUTPUT_FILES`]); a
//! directory is removed when nothing else is left in it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::error::{AlertError, Result};
use crate::store::{fmt_date, sql_err, StateStore};

/// The files a scan writes into its output directory; the only ones output purging deletes.
pub const MANAGED_OUTPUT_FILES: [&str; 6] = [
    "user_scores.parquet",
    "session_scores.parquet",
    "alerts.jsonl",
    "quarantine.parquet",
    "report.html",
    "summary.json",
];

/// The `[retention]` section of goodhart.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days to keep alerts (once resolved), feedback, delivered outbox entries and the
    /// pseudonyms of purged alerts. Default 180.
    pub state_days: u32,
    /// Days to keep audit log entries and four-eyes requests. Default 1095 (3 years).
    pub audit_days: u32,
    /// Root of the managed scan outputs (e.g. `goodhart-out` with one subdirectory per night);
    /// `None` = outputs are not purged by goodhart.
    pub outputs_root: Option<PathBuf>,
    /// Days to keep a scan output directory under `outputs_root`. Default 180.
    pub outputs_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            state_days: 180,
            audit_days: 1095,
            outputs_root: None,
            outputs_days: 180,
        }
    }
}

impl RetentionConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        for (setting, v) in [
            ("[retention] state_days", self.state_days),
            ("[retention] audit_days", self.audit_days),
            ("[retention] outputs_days", self.outputs_days),
        ] {
            if v == 0 {
                return Err(AlertError::Config {
                    setting,
                    reason: "is 0; give a number of days of at least 1".into(),
                });
            }
        }
        if self.audit_days < self.state_days {
            return Err(AlertError::Config {
                setting: "[retention] audit_days",
                reason: format!(
                    "is {} but state_days is {}; the audit log must be kept at least as long as \
                     the state it audits",
                    self.audit_days, self.state_days
                ),
            });
        }
        Ok(())
    }
}

/// What one purge removed (all zero when nothing was past retention). In `summary.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Alert state rows.
    pub alerts: u64,
    /// Feedback rows.
    pub feedback: u64,
    /// Outbox entries.
    pub outbox: u64,
    /// Pseudonym map rows.
    pub pseudonyms: u64,
    /// Public fingerprint aliases.
    pub fingerprint_aliases: u64,
    /// Audit log entries.
    pub audit_entries: u64,
    /// Four-eyes requests.
    pub reid_requests: u64,
    /// Waste ledger rows (weeks older than the state retention).
    pub ledger_rows: u64,
    /// Scan output directories purged under `outputs_root`.
    pub output_dirs: u64,
    /// Files deleted in them.
    pub output_files: u64,
    /// Feature cache entries (stored event files) whose newest row is older
    /// than the state retention (`goodhart::cache`).
    pub feature_cache_entries: u64,
}

impl PurgeReport {
    fn state_total(&self) -> u64 {
        self.alerts
            + self.feedback
            + self.outbox
            + self.pseudonyms
            + self.fingerprint_aliases
            + self.audit_entries
            + self.reid_requests
            + self.ledger_rows
    }
}

fn cutoff(as_of: NaiveDate, days: u32) -> NaiveDate {
    as_of
        .checked_sub_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN)
}

impl StateStore {
    /// Deletes the state rows past retention (see the module docs), in one transaction. When
    /// anything was deleted, a `purge` entry listing the counts is appended to the audit log.
    // One piece: every deletion runs in one transaction and in dependency order (alerts, then the
    // pseudonyms only they referenced, then the audit log re-anchored, then managed outputs);
    // reading the order top to bottom is how it is checked.
    pub fn purge(
        &mut self,
        cfg: &RetentionConfig,
        as_of: NaiveDate,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<PurgeReport> {
        cfg.validate()?;
        let state_cut = fmt_date(cutoff(as_of, cfg.state_days));
        let audit_cut = fmt_date(cutoff(as_of, cfg.audit_days));
        let today = fmt_date(as_of);
        let path = self.path().to_path_buf();
        let err = |e| sql_err(&path, e);
        let tx = self
            .conn()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = |r: usize| r as u64;
        let mut rep = PurgeReport {
            alerts: n(tx
                .execute(
                    "DELETE FROM alerts WHERE status IN ('resolved', 'suppressed')
                     AND resolved_at IS NOT NULL AND resolved_at < ?1",
                    [&state_cut],
                )
                .map_err(err)?),
            feedback: n(tx
                .execute(
                    "DELETE FROM feedback WHERE at < ?1 AND NOT (verdict = 'false_positive'
                     AND suppress_until IS NOT NULL AND suppress_until > ?2)",
                    params![state_cut, today],
                )
                .map_err(err)?),
            outbox: n(tx
                .execute(
                    "DELETE FROM outbox WHERE state IN ('done', 'failed')
                     AND substr(created_at, 1, 10) < ?1",
                    [&state_cut],
                )
                .map_err(err)?),
            ..PurgeReport::default()
        };
        rep.ledger_rows = n(tx
            .execute("DELETE FROM waste_ledger WHERE week < ?1", [&state_cut])
            .map_err(err)?);
        // User pseudonyms (`p-`): gone when no alert of that user is left. Session (`s-`)
        // and cohort (`c-`) pseudonyms stand for values the alerts table does not hold:
        // gone when every alert that used them (`pseudonym_refs`) is gone. Those with no
        // reference at all (older than migration 4 and in no outbox payload) are kept.
        rep.pseudonyms = n(tx
            .execute(
                "DELETE FROM pseudonyms WHERE (pseudonym LIKE 'p-%' \
                 AND user_id NOT IN (SELECT user_id FROM alerts)) \
                 OR (pseudonym NOT LIKE 'p-%' \
                 AND EXISTS (SELECT 1 FROM pseudonym_refs r WHERE r.pseudonym = pseudonyms.pseudonym) \
                 AND NOT EXISTS (SELECT 1 FROM pseudonym_refs r JOIN alerts a \
                   ON a.fingerprint = r.fingerprint WHERE r.pseudonym = pseudonyms.pseudonym))",
                [],
            )
            .map_err(err)?);
        tx.execute(
            "DELETE FROM pseudonym_refs WHERE fingerprint NOT IN (SELECT fingerprint FROM alerts)",
            [],
        )
        .map_err(err)?;
        rep.fingerprint_aliases = n(tx
            .execute(
                "DELETE FROM fingerprint_aliases WHERE fingerprint NOT IN
                 (SELECT fingerprint FROM alerts)",
                [],
            )
            .map_err(err)?);
        rep.reid_requests = n(tx
            .execute(
                "DELETE FROM reid_requests WHERE substr(requested_at, 1, 10) < ?1",
                [&audit_cut],
            )
            .map_err(err)?);
        // The audit log: remove the oldest entries (a prefix, so the rest still chains) and
        // re-anchor the chain on the last removed one.
        let last_old: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit_log WHERE seq <= (SELECT MAX(seq) FROM audit_log
                     WHERE substr(at, 1, 10) < ?1)
                 ORDER BY seq DESC LIMIT 1",
                [&audit_cut],
                |r| r.try_into(),
            )
            .optional()
            .map_err(err)?;
        if let Some((seq, hash)) = &last_old {
            tx.execute_batch("DROP TRIGGER audit_log_no_delete;")
                .map_err(err)?;
            rep.audit_entries = n(tx
                .execute("DELETE FROM audit_log WHERE seq <= ?1", [seq])
                .map_err(err)?);
            tx.execute_batch(crate::audit::NO_DELETE_TRIGGER)
                .map_err(err)?;
            tx.execute(
                "UPDATE audit_anchor SET seq = ?1, hash = ?2 WHERE id = 1",
                params![seq, hash],
            )
            .map_err(err)?;
        }
        if rep.state_total() > 0 {
            let outcome = format!(
                "removed {} alerts, {} feedback, {} outbox, {} pseudonyms, {} aliases, {} \
                 requests, {} audit entries{} (as of {today}; state_days {}, audit_days {})",
                rep.alerts,
                rep.feedback,
                rep.outbox,
                rep.pseudonyms,
                rep.fingerprint_aliases,
                rep.reid_requests,
                rep.audit_entries,
                last_old
                    .as_ref()
                    .map_or(String::new(), |(s, h)| format!(" up to {s} (anchor {h})")),
                cfg.state_days,
                cfg.audit_days
            );
            crate::audit::append_purge(&tx, actor, &outcome, now).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(rep)
    }
}

/// Deletes the scan output directories under `root` whose `summary.json` window ends more than
/// `days` days before `as_of` (see the module docs). Returns `(directories, files)` deleted.
/// A missing `root` purges nothing.
pub fn purge_outputs(root: &Path, days: u32, as_of: NaiveDate) -> Result<(u64, u64)> {
    let cut = cutoff(as_of, days);
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(AlertError::io(root, e)),
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| AlertError::io(root, e))?;
        // Never follow symlinks out of the managed root.
        let ft = e.file_type().map_err(|err| AlertError::io(e.path(), err))?;
        if ft.is_dir() {
            dirs.push(e.path());
        }
    }
    dirs.sort();
    let (mut n_dirs, mut n_files) = (0u64, 0u64);
    for d in dirs {
        let summary = d.join("summary.json");
        let Ok(text) = std::fs::read_to_string(&summary) else {
            continue;
        };
        let end = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["window"]["end"].as_str().map(str::to_string))
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok());
        let Some(end) = end else { continue };
        if end >= cut {
            continue;
        }
        for f in MANAGED_OUTPUT_FILES {
            let p = d.join(f);
            match std::fs::remove_file(&p) {
                Ok(()) => n_files += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AlertError::io(&p, e)),
            }
        }
        n_dirs += 1;
        // Removed only when goodhart's files were all there was.
        let _ = std::fs::remove_dir(&d);
    }
    Ok((n_dirs, n_files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlertCandidate, LifecyclePolicy, Severity, Verdict, Window};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cand(user: &str) -> AlertCandidate {
        AlertCandidate {
            user_id: user.into(),
            cohort: "c".into(),
            pattern: "prompt-loops".into(),
            severity: Severity::High,
            score: 90.0,
            window: Window {
                start: day("2026-01-01"),
                end: day("2026-01-01"),
            },
            evidence: vec![],
        }
    }

    fn actor() -> Actor {
        Actor {
            name: "retention".into(),
            os_user: "test".into(),
        }
    }

    #[test]
    fn purges_exactly_the_state_rows_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(dir.path()).unwrap();
        let policy = LifecyclePolicy::default();
        // old: raised 2026-01-01, resolved 2026-01-08 (7 days later).
        s.reconcile(
            &[cand("old"), cand("recent"), cand("open")],
            day("2026-01-01"),
            &policy,
        )
        .unwrap();
        let r = s
            .reconcile(&[cand("open")], day("2026-01-08"), &policy)
            .unwrap();
        assert_eq!(r.resolved.len(), 2);
        // recent: raised again later and resolved later.
        s.reconcile(&[cand("recent"), cand("open")], day("2026-03-01"), &policy)
            .unwrap();
        s.reconcile(&[cand("open")], day("2026-03-08"), &policy)
            .unwrap();
        let fp = |u: &str| crate::fingerprint(u, "prompt-loops");
        s.record_feedback(
            &fp("old"),
            Verdict::Confirmed,
            "",
            day("2026-01-02"),
            &policy,
        )
        .unwrap();
        s.record_feedback(
            &fp("open"),
            Verdict::Confirmed,
            "",
            day("2026-03-02"),
            &policy,
        )
        .unwrap();
        for u in ["old", "recent", "open"] {
            s.record_pseudonym(&format!("p-{u}"), u).unwrap();
        }
        // 180 days back from 2026-07-10 is 2026-01-11: old (resolved 01-08) is past it,
        // recent (resolved 03-08) is not; the open alert stays whatever its age.
        let rep = s
            .purge(
                &RetentionConfig::default(),
                day("2026-07-10"),
                &actor(),
                Utc::now(),
            )
            .unwrap();
        assert_eq!(
            rep,
            PurgeReport {
                alerts: 1,
                feedback: 1,
                pseudonyms: 1,
                ..PurgeReport::default()
            }
        );
        let mut users: Vec<String> = s
            .alert_records()
            .unwrap()
            .into_iter()
            .map(|r| r.user_id)
            .collect();
        users.sort();
        assert_eq!(users, ["open", "recent"]);
        assert_eq!(s.whois("p-old").unwrap(), None);
        assert_eq!(s.whois("p-recent").unwrap().as_deref(), Some("recent"));
        assert_eq!(s.feedback_labels().unwrap().len(), 1);
        // The purge is itself audited and the chain still verifies.
        let log = s.audit_log().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, "purge");
        assert!(matches!(
            s.audit_verify().unwrap(),
            crate::AuditVerification::Ok { .. }
        ));
        // A second purge the same day removes nothing, and logs nothing.
        let again = s
            .purge(
                &RetentionConfig::default(),
                day("2026-07-10"),
                &actor(),
                Utc::now(),
            )
            .unwrap();
        assert_eq!(again, PurgeReport::default());
        assert_eq!(s.audit_log().unwrap().len(), 1);
        // recent was resolved 2026-03-08: kept on 09-04 (180 days), purged on 09-05.
        let keep = s
            .purge(
                &RetentionConfig::default(),
                day("2026-09-04"),
                &actor(),
                Utc::now(),
            )
            .unwrap();
        assert_eq!(keep.alerts, 0);
        let gone = s
            .purge(
                &RetentionConfig::default(),
                day("2026-09-05"),
                &actor(),
                Utc::now(),
            )
            .unwrap();
        assert_eq!((gone.alerts, gone.pseudonyms), (1, 1));
    }

    fn purge_on(s: &mut StateStore, d: &str) -> PurgeReport {
        s.purge(&RetentionConfig::default(), day(d), &actor(), Utc::now())
            .unwrap()
    }

    #[test]
    fn session_and_cohort_pseudonyms_go_with_the_last_alert_that_used_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(dir.path()).unwrap();
        let policy = LifecyclePolicy::default();
        s.reconcile(&[cand("old"), cand("open")], day("2026-01-01"), &policy)
            .unwrap();
        s.reconcile(&[cand("open")], day("2026-01-08"), &policy)
            .unwrap();
        let fp = |u: &str| crate::fingerprint(u, "prompt-loops");
        let refs = |v: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
            v.iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), fp(c)))
                .collect()
        };
        s.enqueue(
            &[],
            &refs(&[
                ("p-old", "old", "old"),
                ("s-old", "old/1", "old"),
                ("s-open", "open/1", "open"),
                ("c-team", "team", "old"),
                ("c-team", "team", "open"),
            ]),
            &[],
            Utc::now(),
        )
        .unwrap();
        // A pseudonym with no reference (as written before state schema 4) is kept.
        s.record_pseudonym("s-legacy", "legacy/1").unwrap();
        let rep = purge_on(&mut s, "2026-07-10");
        assert_eq!((rep.alerts, rep.pseudonyms), (1, 2), "p-old and s-old");
        for (p, kept) in [
            ("p-old", false),
            ("s-old", false),
            ("s-open", true),
            ("c-team", true),
            ("s-legacy", true),
        ] {
            assert_eq!(s.whois(p).unwrap().is_some(), kept, "{p}");
        }
        // The cohort pseudonym goes once the last alert that used it is purged.
        s.reconcile(&[], day("2026-07-11"), &policy).unwrap();
        let rep = purge_on(&mut s, "2027-03-01");
        assert_eq!((rep.alerts, rep.pseudonyms), (1, 2), "s-open and c-team");
        assert_eq!(s.whois("c-team").unwrap(), None);
        assert_eq!(s.whois("s-legacy").unwrap().as_deref(), Some("legacy/1"));
    }

    #[test]
    fn old_audit_entries_are_purged_and_the_chain_reanchored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(dir.path()).unwrap();
        s.record_pseudonym("p-x", "x").unwrap();
        s.reconcile(&[cand("x")], day("2026-01-01"), &LifecyclePolicy::default())
            .unwrap();
        let at = |d: &str| {
            DateTime::parse_from_rfc3339(&format!("{d}T09:00:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        s.reidentify("p-x", "first", &actor(), false, at("2023-01-01"))
            .unwrap();
        s.reidentify("p-x", "second", &actor(), false, at("2025-06-01"))
            .unwrap();
        let cfg = RetentionConfig::default(); // audit 1095 days
        let rep = s
            .purge(&cfg, day("2026-01-01"), &actor(), at("2026-01-01"))
            .unwrap();
        assert_eq!(rep.audit_entries, 1);
        let log = s.audit_log().unwrap();
        let reasons: Vec<&str> = log.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["second", "retention"]);
        assert!(matches!(
            s.audit_verify().unwrap(),
            crate::AuditVerification::Ok { entries: 2, .. }
        ));
    }

    #[test]
    fn purges_only_managed_output_dirs_past_retention() {
        let root = tempfile::tempdir().unwrap();
        let mk = |name: &str, end: &str, extra: bool| {
            let d = root.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("summary.json"),
                format!(r#"{{"window": {{"start": "{end}", "end": "{end}", "days": 1}}}}"#),
            )
            .unwrap();
            std::fs::write(d.join("report.html"), "x").unwrap();
            std::fs::write(d.join("alerts.jsonl"), "").unwrap();
            if extra {
                std::fs::write(d.join("notes.txt"), "mine").unwrap();
            }
            d
        };
        let old = mk("2026-01-01", "2026-01-01", false);
        let old_extra = mk("2026-01-02", "2026-01-02", true);
        let recent = mk("2026-06-01", "2026-06-01", false);
        let foreign = root.path().join("not-goodhart");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("report.html"), "keep").unwrap();
        // as of 2026-07-10, 180 days: cutoff 2026-01-11.
        let (dirs, files) = purge_outputs(root.path(), 180, day("2026-07-10")).unwrap();
        assert_eq!((dirs, files), (2, 6));
        assert!(!old.exists());
        assert!(old_extra.join("notes.txt").exists() && !old_extra.join("report.html").exists());
        assert!(recent.join("report.html").exists());
        assert!(foreign.join("report.html").exists());
        assert_eq!(
            purge_outputs(&root.path().join("missing"), 180, day("2026-07-10")).unwrap(),
            (0, 0)
        );
    }
}
