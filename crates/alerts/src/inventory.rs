//! The personal-data inventory of what this crate stores and sends, kept beside the schemas
//! it describes: every column of every state table ([`STATE_FIELDS`], checked against the
//! migrated database by a test) and every field of an alert as written to `alerts.jsonl` and
//! sent to Jira / webhooks ([`ALERT_FIELDS`], checked against the serialised [`crate::Alert`]).

use serde::Serialize;

/// What kind of data a field is, for a data-protection impact assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Personal {
    /// Directly identifies a person (the user id as in the input).
    Identifier,
    /// Identifies a person only with the key or the local state (pseudonym, fingerprint).
    Pseudonym,
    /// Describes a person's behaviour (scores, waste ratios, evidence).
    Behaviour,
    /// Describes a person's group (cohort name, cohort figures).
    Group,
    /// Free text written by a reviewer or an actor (may mention people).
    FreeText,
    /// Who did something in goodhart (reviewer, actor, OS account).
    Actor,
    /// Not personal (dates, states, counters, hashes of the chain).
    None,
}

/// Where a field's retention comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// `[retention] state_days` (alerts once resolved, feedback, delivered outbox entries, and
    /// with them pseudonyms and aliases).
    State,
    /// `[retention] audit_days`.
    Audit,
    /// `[retention] outputs_days` under `outputs_root`; otherwise until the next scan
    /// overwrites the file or its owner deletes it.
    Outputs,
    /// The receiving system's (Jira, webhook receiver) own retention.
    Recipient,
    /// Kept as long as the state (schema metadata).
    Permanent,
}

/// One field goodhart holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldInfo {
    /// Table or file, e.g. `state.sqlite3: alerts`.
    pub location: &'static str,
    /// Column or JSON field.
    pub field: &'static str,
    /// Kind of data.
    pub personal: Personal,
    /// Why goodhart holds it.
    pub purpose: &'static str,
    /// Which retention applies.
    pub retention: Retention,
}

const fn f(
    location: &'static str,
    field: &'static str,
    personal: Personal,
    purpose: &'static str,
    retention: Retention,
) -> FieldInfo {
    FieldInfo {
        location,
        field,
        personal,
        purpose,
        retention,
    }
}

use Personal as P;
use Retention as R;

/// Every column of the state database (`state.sqlite3`).
pub const STATE_FIELDS: &[FieldInfo] = &[
    f(
        "alerts",
        "fingerprint",
        P::Pseudonym,
        "stable id of user + pattern (lifecycle key)",
        R::State,
    ),
    f(
        "alerts",
        "user_id",
        P::Identifier,
        "whom the alert is about",
        R::State,
    ),
    f(
        "alerts",
        "pattern",
        P::Behaviour,
        "which tokenmaxxing pattern was raised",
        R::State,
    ),
    f(
        "alerts",
        "first_seen",
        P::Behaviour,
        "lifecycle: first day raised",
        R::State,
    ),
    f(
        "alerts",
        "last_seen",
        P::Behaviour,
        "lifecycle: last day raised",
        R::State,
    ),
    f(
        "alerts",
        "last_severity",
        P::Behaviour,
        "severity when last raised",
        R::State,
    ),
    f(
        "alerts",
        "last_score",
        P::Behaviour,
        "score when last raised",
        R::State,
    ),
    f(
        "alerts",
        "last_status",
        P::None,
        "lifecycle status reported last",
        R::State,
    ),
    f(
        "alerts",
        "status",
        P::None,
        "open / resolved / suppressed",
        R::State,
    ),
    f(
        "alerts",
        "ticket_ref",
        P::Pseudonym,
        "Jira key of the alert's ticket",
        R::State,
    ),
    f(
        "alerts",
        "resolved_at",
        P::None,
        "day resolved (retention counts from it)",
        R::State,
    ),
    f(
        "outbox",
        "delivery_id",
        P::Pseudonym,
        "idempotent delivery id (public fingerprint)",
        R::State,
    ),
    f(
        "outbox",
        "fingerprint",
        P::Pseudonym,
        "the alert delivered",
        R::State,
    ),
    f("outbox", "sink", P::None, "jira / webhook", R::State),
    f(
        "outbox",
        "action",
        P::None,
        "create / comment / post",
        R::State,
    ),
    f(
        "outbox",
        "payload",
        P::Behaviour,
        "exactly what is sent (pseudonymised when configured)",
        R::State,
    ),
    f(
        "outbox",
        "state",
        P::None,
        "pending / done / failed",
        R::State,
    ),
    f("outbox", "attempts", P::None, "retry accounting", R::State),
    f(
        "outbox",
        "last_error",
        P::None,
        "why a delivery failed",
        R::State,
    ),
    f(
        "outbox",
        "created_at",
        P::None,
        "when recorded (retention counts from it)",
        R::State,
    ),
    f("outbox", "done_at", P::None, "when acknowledged", R::State),
    f(
        "outbox",
        "result",
        P::Pseudonym,
        "sink result, e.g. the Jira key",
        R::State,
    ),
    f("feedback", "id", P::None, "row id", R::State),
    f(
        "feedback",
        "fingerprint",
        P::Pseudonym,
        "the alert judged",
        R::State,
    ),
    f(
        "feedback",
        "verdict",
        P::Behaviour,
        "false positive / confirmed: suppression and evaluation labels",
        R::State,
    ),
    f("feedback", "note", P::FreeText, "reviewer's note", R::State),
    f(
        "feedback",
        "at",
        P::None,
        "day of the verdict (retention counts from it)",
        R::State,
    ),
    f(
        "feedback",
        "suppress_until",
        P::None,
        "end of a false-positive suppression",
        R::State,
    ),
    f(
        "feedback",
        "source",
        P::None,
        "where the verdict came from (null: the CLI; jira:<KEY>: a resolved ticket)",
        R::State,
    ),
    f(
        "pseudonyms",
        "pseudonym",
        P::Pseudonym,
        "the name used in outbound payloads",
        R::State,
    ),
    f(
        "pseudonyms",
        "user_id",
        P::Identifier,
        "whom it stands for (whois)",
        R::State,
    ),
    f(
        "pseudonym_refs",
        "pseudonym",
        P::Pseudonym,
        "a session or cohort pseudonym used in an outbound payload",
        R::State,
    ),
    f(
        "pseudonym_refs",
        "fingerprint",
        P::Pseudonym,
        "the alert that used it (retention purges the pseudonym with its last alert)",
        R::State,
    ),
    f(
        "fingerprint_aliases",
        "alias",
        P::Pseudonym,
        "public fingerprint shown in tickets",
        R::State,
    ),
    f(
        "fingerprint_aliases",
        "fingerprint",
        P::Pseudonym,
        "the internal fingerprint (feedback on tickets)",
        R::State,
    ),
    f(
        "schema_version",
        "version",
        P::None,
        "migration bookkeeping",
        R::Permanent,
    ),
    f(
        "schema_version",
        "description",
        P::None,
        "migration bookkeeping",
        R::Permanent,
    ),
    f(
        "schema_version",
        "applied_at",
        P::None,
        "migration bookkeeping",
        R::Permanent,
    ),
    f(
        "audit_log",
        "seq",
        P::None,
        "position in the hash chain",
        R::Audit,
    ),
    f(
        "audit_log",
        "at",
        P::None,
        "when a re-identification was attempted",
        R::Audit,
    ),
    f(
        "audit_log",
        "actor",
        P::Actor,
        "who asked (accountability)",
        R::Audit,
    ),
    f(
        "audit_log",
        "os_user",
        P::Actor,
        "OS account that ran goodhart (accountability)",
        R::Audit,
    ),
    f(
        "audit_log",
        "action",
        P::None,
        "whois / request / approve / reveal / purge",
        R::Audit,
    ),
    f(
        "audit_log",
        "pseudonym",
        P::Pseudonym,
        "whose identity was asked for",
        R::Audit,
    ),
    f(
        "audit_log",
        "reason",
        P::FreeText,
        "why (accountability)",
        R::Audit,
    ),
    f(
        "audit_log",
        "outcome",
        P::None,
        "revealed / refused / not found / purge counts",
        R::Audit,
    ),
    f(
        "audit_log",
        "request_id",
        P::None,
        "four-eyes request",
        R::Audit,
    ),
    f(
        "audit_log",
        "prev_hash",
        P::None,
        "tamper evidence",
        R::Audit,
    ),
    f("audit_log", "hash", P::None, "tamper evidence", R::Audit),
    f("audit_anchor", "id", P::None, "single row", R::Audit),
    f(
        "audit_anchor",
        "seq",
        P::None,
        "last purged entry (chain anchor)",
        R::Audit,
    ),
    f("audit_anchor", "hash", P::None, "its hash", R::Audit),
    f(
        "audit_anchor",
        "head_seq",
        P::None,
        "last entry (detects deletion of the tail)",
        R::Audit,
    ),
    f("audit_anchor", "head_hash", P::None, "its hash", R::Audit),
    f(
        "reid_requests",
        "id",
        P::None,
        "four-eyes request id",
        R::Audit,
    ),
    f(
        "reid_requests",
        "pseudonym",
        P::Pseudonym,
        "whose identity is asked for",
        R::Audit,
    ),
    f("reid_requests", "requester", P::Actor, "who asks", R::Audit),
    f(
        "reid_requests",
        "requester_os_user",
        P::Actor,
        "their OS account (self-approval check)",
        R::Audit,
    ),
    f("reid_requests", "reason", P::FreeText, "why", R::Audit),
    f("reid_requests", "requested_at", P::None, "when", R::Audit),
    f(
        "reid_requests",
        "approver",
        P::Actor,
        "the second person",
        R::Audit,
    ),
    f(
        "reid_requests",
        "approved_at",
        P::None,
        "when approved",
        R::Audit,
    ),
    f(
        "reid_requests",
        "revealed_at",
        P::None,
        "when revealed to the requester",
        R::Audit,
    ),
    f(
        "reid_requests",
        "state",
        P::None,
        "pending / approved / revealed",
        R::Audit,
    ),
    f(
        "waste_ledger",
        "week",
        P::None,
        "Monday of the week the row covers",
        R::State,
    ),
    f(
        "waste_ledger",
        "team",
        P::Group,
        "the team the waste figures describe",
        R::State,
    ),
    f(
        "waste_ledger",
        "pattern",
        P::None,
        "waste pattern",
        R::State,
    ),
    f(
        "waste_ledger",
        "team_users",
        P::Group,
        "people in the team that week (for the < k rule)",
        R::State,
    ),
    f(
        "waste_ledger",
        "suppressed",
        P::None,
        "team below [privacy] min_group_size: figures withheld",
        R::State,
    ),
    f(
        "waste_ledger",
        "waste_tokens",
        P::Group,
        "estimated waste tokens of the team, week and pattern",
        R::State,
    ),
    f(
        "waste_ledger",
        "waste_usd_billed",
        P::Group,
        "waste USD from billed cost_usd",
        R::State,
    ),
    f(
        "waste_ledger",
        "waste_usd_estimated",
        P::Group,
        "waste USD at list prices",
        R::State,
    ),
    f(
        "waste_ledger",
        "users_involved",
        P::Group,
        "how many people of the team had this waste that week (no ids)",
        R::State,
    ),
    f(
        "waste_ledger",
        "spend_usd",
        P::Group,
        "the team's spend that week",
        R::State,
    ),
    f(
        "waste_ledger",
        "as_of",
        P::None,
        "the scan that recorded the row",
        R::State,
    ),
    f(
        "waste_ledger",
        "recorded_at",
        P::None,
        "when it was recorded",
        R::State,
    ),
];

/// Every field of an alert as written to `alerts.jsonl` (real user id) and sent to Jira /
/// webhooks (pseudonymised when `[privacy] pseudonymize = true`). `evidence.*` are the fields
/// of each evidence item.
pub const ALERT_FIELDS: &[FieldInfo] = &[
    f(
        "alert",
        "fingerprint",
        P::Pseudonym,
        "stable id of user + pattern (public fingerprint when pseudonymised)",
        R::Outputs,
    ),
    f(
        "alert",
        "status",
        P::None,
        "new / ongoing / reopened",
        R::Outputs,
    ),
    f(
        "alert",
        "first_seen",
        P::Behaviour,
        "first day raised",
        R::Outputs,
    ),
    f(
        "alert",
        "last_seen",
        P::Behaviour,
        "last day raised",
        R::Outputs,
    ),
    f("alert", "ticket", P::Pseudonym, "Jira key", R::Outputs),
    f(
        "alert",
        "user_id",
        P::Identifier,
        "whom the alert is about (pseudonym when pseudonymised)",
        R::Outputs,
    ),
    f(
        "alert",
        "cohort",
        P::Group,
        "the peer group compared with",
        R::Outputs,
    ),
    f(
        "alert",
        "pattern",
        P::Behaviour,
        "the tokenmaxxing pattern",
        R::Outputs,
    ),
    f("alert", "severity", P::Behaviour, "severity", R::Outputs),
    f("alert", "score", P::Behaviour, "score 0-100", R::Outputs),
    f(
        "alert",
        "window.start",
        P::None,
        "first day covered",
        R::Outputs,
    ),
    f(
        "alert",
        "window.end",
        P::None,
        "last day covered",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.pattern",
        P::Behaviour,
        "pattern the evidence supports",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.feature",
        P::None,
        "feature name",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.value",
        P::Behaviour,
        "the person's value",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.typical",
        P::Group,
        "cohort median (null when the cohort is below min_group_size)",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.p95",
        P::Group,
        "cohort p95 (null when the cohort is below min_group_size)",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.percentile",
        P::Behaviour,
        "the person's rank in the cohort (null when withheld)",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.sessions",
        P::Pseudonym,
        "example session ids (opaque, never prompt text)",
        R::Outputs,
    ),
    f(
        "alert",
        "evidence.text",
        P::Behaviour,
        "explanation sentence",
        R::Outputs,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn state_fields_list_every_column_of_the_migrated_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::StateStore::open(dir.path()).unwrap();
        let conn = store.conn();
        let tables: Vec<String> = {
            let mut s = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap();
            let names: Vec<String> = s
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            names
        };
        let mut actual = BTreeSet::new();
        for t in &tables {
            let mut s = conn.prepare(&format!("PRAGMA table_info({t})")).unwrap();
            let cols: Vec<String> = s
                .query_map([], |r| r.get(1))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for c in cols {
                actual.insert(format!("{t}.{c}"));
            }
        }
        let listed: BTreeSet<String> = STATE_FIELDS
            .iter()
            .map(|f| format!("{}.{}", f.location, f.field))
            .collect();
        assert_eq!(
            actual, listed,
            "STATE_FIELDS must list exactly the state columns"
        );
    }

    fn keys(prefix: &str, v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if v.is_object()
                        || v.as_array()
                            .is_some_and(|a| a.iter().any(|x| x.is_object()))
                    {
                        keys(&name, v, out);
                    } else {
                        out.insert(name);
                    }
                }
            }
            serde_json::Value::Array(a) => {
                for x in a {
                    keys(prefix, x, out);
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }

    #[test]
    fn alert_fields_list_every_serialised_field() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let alert = crate::Alert {
            fingerprint: "f".into(),
            status: crate::AlertStatus::New,
            first_seen: d,
            last_seen: d,
            ticket: Some("GOV-1".into()),
            candidate: crate::AlertCandidate {
                user_id: "u".into(),
                cohort: "c".into(),
                pattern: "p".into(),
                severity: crate::Severity::High,
                score: 1.0,
                window: crate::Window { start: d, end: d },
                evidence: vec![crate::Evidence {
                    pattern: "p".into(),
                    feature: "x".into(),
                    value: 1.0,
                    typical: 1.0,
                    p95: 1.0,
                    percentile: 1.0,
                    sessions: vec!["s".into()],
                    text: "t".into(),
                }],
            },
        };
        let mut actual = BTreeSet::new();
        keys("", &serde_json::to_value(&alert).unwrap(), &mut actual);
        let listed: BTreeSet<String> = ALERT_FIELDS.iter().map(|f| f.field.to_string()).collect();
        assert_eq!(
            actual, listed,
            "ALERT_FIELDS must list exactly the alert's JSON fields"
        );
    }
}
