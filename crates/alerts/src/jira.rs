//! Jira Cloud payloads: issue fields and Atlassian Document Format (ADF) bodies.
//!
//! Only payload construction lives here (pure, testable); the HTTP exchange is in
//! [`mod@crate::deliver`]. Endpoints used (REST v3):
//!
//! * `POST {base}/rest/api/3/search/jql` with
//!   `{"jql": "labels = \"goodhart-<fp>\" AND statusCategory != Done", "fields": ["key","status"], "maxResults": 1}`
//! * `POST {base}/rest/api/3/issue` with `{"fields": {...}}` (see [`issue_fields`])
//! * `POST {base}/rest/api/3/issue/{key}/comment` with `{"body": <ADF>}` (see [`comment_body`])

use serde_json::{json, Value};

use crate::config::JiraConfig;
use crate::model::Alert;

/// Jira's limit on the summary length, in characters.
pub const SUMMARY_MAX_CHARS: usize = 255;

/// Label that identifies the alert's tickets: `goodhart-<fingerprint>`.
pub fn fingerprint_label(public_fingerprint: &str) -> String {
    format!("goodhart-{public_fingerprint}")
}

/// JQL finding an open issue of the alert.
pub fn search_jql(label: &str) -> String {
    format!("labels = \"{label}\" AND statusCategory != Done")
}

/// Truncate to at most `max` characters (never splitting a character), marking the cut
/// with an ellipsis.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn text(t: &str) -> Option<Value> {
    // ADF forbids empty text nodes.
    (!t.is_empty()).then(|| json!({"type": "text", "text": t}))
}

fn strong(t: &str) -> Option<Value> {
    (!t.is_empty()).then(|| json!({"type": "text", "text": t, "marks": [{"type": "strong"}]}))
}

fn paragraph(parts: Vec<Option<Value>>) -> Value {
    let content: Vec<Value> = parts.into_iter().flatten().collect();
    json!({"type": "paragraph", "content": content})
}

fn bullet_list(items: &[String]) -> Option<Value> {
    if items.is_empty() {
        return None;
    }
    let content: Vec<Value> = items
        .iter()
        .map(|i| json!({"type": "listItem", "content": [paragraph(vec![text(i)])]}))
        .collect();
    Some(json!({"type": "bulletList", "content": content}))
}

fn doc(content: Vec<Value>) -> Value {
    json!({"type": "doc", "version": 1, "content": content})
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn evidence_items(alert: &Alert) -> Vec<String> {
    alert
        .candidate
        .evidence
        .iter()
        .map(|e| {
            let mut s = format!(
                "{} [{} = {}; cohort typical {}, p95 {}, percentile {}]",
                e.text.trim(),
                e.feature,
                fmt_num(e.value),
                fmt_num(e.typical),
                fmt_num(e.p95),
                fmt_num(e.percentile)
            );
            if !e.sessions.is_empty() {
                s.push_str(&format!(" sessions: {}", e.sessions.join(", ")));
            }
            s.trim().to_string()
        })
        .collect()
}

/// Issue summary (<= 255 characters).
pub fn summary(alert: &Alert) -> String {
    let c = &alert.candidate;
    truncate_chars(
        &format!(
            "[goodhart] {} {}: {} ({}), score {:.0}",
            c.severity, c.pattern, c.user_id, c.cohort, c.score
        ),
        SUMMARY_MAX_CHARS,
    )
}

/// ADF description of a new ticket.
pub fn description(alert: &Alert, public_fingerprint: &str) -> Value {
    let c = &alert.candidate;
    let mut content = vec![
        paragraph(vec![
            text("goodhart flagged "),
            strong(&c.user_id),
            text(" for "),
            strong(&c.pattern),
            text(&format!(
                " compared with peer cohort {} over {} to {}.",
                c.cohort, c.window.start, c.window.end
            )),
        ]),
        paragraph(vec![text(&format!(
            "Severity {}, score {:.1}/100, status {}; first seen {}, last seen {}.",
            c.severity, c.score, alert.status, alert.first_seen, alert.last_seen
        ))]),
        paragraph(vec![strong("Evidence")]),
    ];
    match bullet_list(&evidence_items(alert)) {
        Some(list) => content.push(list),
        None => content.push(paragraph(vec![text("(no evidence items)")])),
    }
    content.push(paragraph(vec![text(&format!(
        "Volume is not guilt: these are waste ratios compared within the peer cohort. \
         Fingerprint {public_fingerprint}. If this is not gaming, record it with \
         `goodhart feedback {public_fingerprint} false-positive` to suppress it."
    ))]));
    doc(content)
}

/// ADF body of a follow-up comment carrying the latest evidence.
pub fn comment_body(alert: &Alert) -> Value {
    let c = &alert.candidate;
    let mut content = vec![paragraph(vec![text(&format!(
        "goodhart scan of {}: alert {} ({} {}), severity {}, score {:.1}/100, window {} to {}.",
        alert.last_seen,
        alert.status,
        c.pattern,
        c.user_id,
        c.severity,
        c.score,
        c.window.start,
        c.window.end
    ))])];
    if let Some(list) = bullet_list(&evidence_items(alert)) {
        content.push(list);
    }
    doc(content)
}

/// The `fields` object of `POST /rest/api/3/issue`.
pub fn issue_fields(cfg: &JiraConfig, alert: &Alert, public_fingerprint: &str) -> Value {
    let mut labels = vec![
        "goodhart".to_string(),
        fingerprint_label(public_fingerprint),
    ];
    for l in &cfg.labels {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    json!({
        "project": {"key": cfg.project_key},
        "issuetype": {"name": cfg.issue_type},
        "summary": summary(alert),
        "labels": labels,
        "priority": {"name": cfg.priority.for_severity(alert.candidate.severity)},
        "description": description(alert, public_fingerprint),
    })
}
