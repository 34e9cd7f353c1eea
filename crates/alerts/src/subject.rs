//! Subject access: everything the state database holds about one person.

use serde::Serialize;
use serde_json::Value;

use crate::audit::AuditEntry;
use crate::error::Result;
use crate::store::{sql_err, AlertRecord, StateStore};

/// One feedback row (a reviewer's verdict on one of the person's alerts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRow {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// `false_positive` or `confirmed`.
    pub verdict: String,
    /// The reviewer's note.
    pub note: String,
    /// Day given.
    pub at: String,
    /// End of the suppression it caused, if any.
    pub suppress_until: Option<String>,
}

/// One outbox entry about the person: exactly what was (or will be) sent, evidence included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRow {
    /// Delivery id.
    pub delivery_id: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// `jira` or `webhook`.
    pub sink: String,
    /// `pending`, `done` or `failed`.
    pub state: String,
    /// When recorded.
    pub created_at: String,
    /// The payload (JSON).
    pub payload: Value,
}

/// One four-eyes re-identification request about the person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRow {
    /// Request id.
    pub id: String,
    /// The pseudonym asked about.
    pub pseudonym: String,
    /// Who asked.
    pub requester: String,
    /// Why.
    pub reason: String,
    /// When.
    pub requested_at: String,
    /// Who approved, if anyone.
    pub approver: Option<String>,
    /// `pending`, `approved` or `revealed`.
    pub state: String,
}

/// What the state holds about one person (the state part of `goodhart subject-report`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectState {
    /// Alert state rows of the person.
    pub alerts: Vec<AlertRecord>,
    /// Verdicts on those alerts.
    pub feedback: Vec<FeedbackRow>,
    /// The person's pseudonyms (as used in outbound payloads).
    pub pseudonyms: Vec<String>,
    /// Public fingerprints of the person's alerts.
    pub fingerprint_aliases: Vec<String>,
    /// Deliveries about the person (payloads with evidence).
    pub deliveries: Vec<DeliveryRow>,
    /// Four-eyes requests about the person's pseudonyms.
    pub reid_requests: Vec<RequestRow>,
    /// Audit entries about the person's pseudonyms (re-identifications of them).
    pub audit_entries: Vec<AuditEntry>,
}

impl StateStore {
    /// Everything in the state about `user_id`, and nothing about anyone else. `pseudonyms`
    /// adds pseudonyms the state may no longer map (e.g. computed with the configured key),
    /// so that audit entries about them are found after their mapping was purged.
    // One piece: one read transaction that gathers each table's rows about one person, one block
    // per table, so nothing about anyone else can slip in between.
    pub fn subject_state(&mut self, user_id: &str, pseudonyms: &[String]) -> Result<SubjectState> {
        let path = self.path().to_path_buf();
        let err = |e| sql_err(&path, e);
        let conn = self.conn();
        let strings = |sql: &str, arg: &str| -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([arg], |r| r.get(0))?;
            rows.collect()
        };
        let fps = strings(
            "SELECT fingerprint FROM alerts WHERE user_id = ?1 ORDER BY fingerprint",
            user_id,
        )
        .map_err(err)?;
        let mut ps = strings(
            "SELECT pseudonym FROM pseudonyms WHERE user_id = ?1 ORDER BY pseudonym",
            user_id,
        )
        .map_err(err)?;
        for p in pseudonyms {
            if !ps.contains(p) {
                ps.push(p.clone());
            }
        }
        ps.sort();
        let mut aliases = Vec::new();
        let mut feedback = Vec::new();
        let mut deliveries = Vec::new();
        for fp in &fps {
            aliases.extend(
                strings(
                    "SELECT alias FROM fingerprint_aliases WHERE fingerprint = ?1 ORDER BY alias",
                    fp,
                )
                .map_err(err)?,
            );
            let mut stmt = conn
                .prepare(
                    "SELECT fingerprint, verdict, note, at, suppress_until FROM feedback
                     WHERE fingerprint = ?1 ORDER BY at, id",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([fp], |r| {
                    Ok(FeedbackRow {
                        fingerprint: r.get(0)?,
                        verdict: r.get(1)?,
                        note: r.get(2)?,
                        at: r.get(3)?,
                        suppress_until: r.get(4)?,
                    })
                })
                .map_err(err)?;
            for row in rows {
                feedback.push(row.map_err(err)?);
            }
            let mut stmt = conn
                .prepare(
                    "SELECT delivery_id, fingerprint, sink, state, created_at, payload FROM outbox
                     WHERE fingerprint = ?1 ORDER BY rowid",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([fp], |r| {
                    let payload: String = r.get(5)?;
                    Ok(DeliveryRow {
                        delivery_id: r.get(0)?,
                        fingerprint: r.get(1)?,
                        sink: r.get(2)?,
                        state: r.get(3)?,
                        created_at: r.get(4)?,
                        payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
                    })
                })
                .map_err(err)?;
            for row in rows {
                deliveries.push(row.map_err(err)?);
            }
        }
        let mut requests = Vec::new();
        let mut audit = Vec::new();
        for p in &ps {
            let mut stmt = conn
                .prepare(
                    "SELECT id, pseudonym, requester, reason, requested_at, approver, state
                     FROM reid_requests WHERE pseudonym = ?1 ORDER BY requested_at, id",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([p], |r| {
                    Ok(RequestRow {
                        id: r.get(0)?,
                        pseudonym: r.get(1)?,
                        requester: r.get(2)?,
                        reason: r.get(3)?,
                        requested_at: r.get(4)?,
                        approver: r.get(5)?,
                        state: r.get(6)?,
                    })
                })
                .map_err(err)?;
            for row in rows {
                requests.push(row.map_err(err)?);
            }
        }
        if !ps.is_empty() {
            let all = self.audit_log()?;
            audit = all
                .into_iter()
                .filter(|e| ps.contains(&e.pseudonym))
                .collect();
        }
        let mut alerts = Vec::new();
        for fp in &fps {
            if let Some(r) = self.alert_record(fp)? {
                alerts.push(r);
            }
        }
        Ok(SubjectState {
            alerts,
            feedback,
            pseudonyms: ps,
            fingerprint_aliases: aliases,
            deliveries,
            reid_requests: requests,
            audit_entries: audit,
        })
    }
}
