//! Closing the loop with Jira: verdicts taken back from goodhart's resolved tickets.
//!
//! Reviewers work in Jira. [`sync_jira_verdicts`] searches goodhart's resolved tickets
//! (`POST {base}/rest/api/3/search/jql` with [`SYNC_JQL`], `fields` = labels, resolution,
//! status, paged with `nextPageToken` as Jira Cloud's enhanced search does), maps each
//! resolution name to a verdict through `[jira] resolution_verdicts`, and records it like
//! `goodhart feedback` does, once per ticket and verdict. A ticket is tied to its alert by its
//! `goodhart-<fingerprint>` label (the public fingerprint when pseudonymised), else by the
//! ticket key the state recorded.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::AlertsConfig;
use crate::deliver::{resolve_creds, DeliverOptions, Failure, Http};
use crate::error::{AlertError, Result};
use crate::store::{FeedbackOutcome, StateStore, Verdict};

/// The JQL of the sync search: every resolved ticket carrying the `goodhart` label.
pub const SYNC_JQL: &str = "labels = \"goodhart\" AND resolution IS NOT EMPTY ORDER BY key ASC";

/// Tickets asked for per page.
pub const SYNC_PAGE_SIZE: u32 = 100;

/// Safety stop on paging (a server that never says `isLast`).
const MAX_PAGES: usize = 10_000;

/// One verdict recorded by a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncedVerdict {
    /// Jira issue key.
    pub ticket: String,
    /// Internal fingerprint of the alert.
    pub fingerprint: String,
    /// Resolution name in Jira.
    pub resolution: String,
    /// Verdict recorded.
    pub verdict: Verdict,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SyncReport {
    /// Resolved goodhart tickets read from Jira.
    pub tickets_checked: usize,
    /// Verdicts recorded by this sync.
    pub synced: usize,
    /// Tickets whose verdict was recorded by an earlier sync (not recorded again).
    pub already_recorded: usize,
    /// Resolution names that map to no verdict, with their ticket counts.
    pub unmapped: BTreeMap<String, usize>,
    /// Tickets whose alert this state does not know (another state directory's, or no
    /// fingerprint label).
    pub unknown: usize,
    /// Search pages read.
    pub pages: usize,
    /// HTTP requests made.
    pub http_requests: u32,
    /// Why the sync stopped early (Jira unreachable, unreadable answer); what was read before
    /// is recorded. `None`: complete.
    pub error: Option<String>,
    /// The verdicts recorded, in Jira's order.
    pub recorded: Vec<SyncedVerdict>,
}

fn fingerprint_label(labels: &[&str]) -> Option<String> {
    labels.iter().find_map(|l| {
        l.strip_prefix("goodhart-")
            .filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string)
    })
}

/// Read the resolutions of goodhart's resolved tickets and record their verdicts, dated `at`
/// (a scan passes its as-of day, so tonight's lifecycle already honours them).
///
/// Errors (`Err`) are for what stops it before any request: no `[jira]` section, an invalid
/// configuration, a missing credential, the state database. Jira being unreachable or
/// answering with an error is reported in [`SyncReport::error`], keeping what was recorded.
/// With `opts.dry_run` nothing is done (an empty report).
pub fn sync_jira_verdicts(
    store: &mut StateStore,
    cfg: &AlertsConfig,
    opts: &DeliverOptions,
    at: NaiveDate,
) -> Result<SyncReport> {
    let Some(jira) = &cfg.jira else {
        return Err(AlertError::Config {
            setting: "[jira]",
            reason: "is not configured: there is no Jira to take verdicts from; add a [jira] \
                     section (base_url, project_key, email_env, token_env)"
                .into(),
        });
    };
    cfg.validate()?;
    let mut report = SyncReport::default();
    if opts.dry_run {
        return Ok(report);
    }
    // Only the Jira credentials are needed here.
    let jira_only = AlertsConfig {
        webhook: None,
        ..cfg.clone()
    };
    let creds = resolve_creds(&jira_only, &opts.env, true)?;
    let Some(auth) = &creds.jira_auth else {
        return Ok(report);
    };
    let policy = cfg.policy();
    let url = format!(
        "{}/rest/api/3/search/jql",
        jira.base_url.trim().trim_end_matches('/')
    );
    let headers = || vec![("Authorization", auth.expose().to_string())];
    let mut http = Http::new(opts);
    let mut token: Option<String> = None;
    loop {
        if report.pages >= MAX_PAGES {
            report.error = Some(format!("stopped after {MAX_PAGES} pages of search results"));
            break;
        }
        let mut query = json!({
            "jql": SYNC_JQL,
            "fields": ["labels", "resolution", "status"],
            "maxResults": SYNC_PAGE_SIZE,
        });
        if let Some(t) = &token {
            query["nextPageToken"] = Value::String(t.clone());
        }
        let mut attempts = 0;
        let resp = match http.post(&url, &headers, &query.to_string(), &mut attempts) {
            Ok(r) => r,
            Err(Failure::Retryable(m) | Failure::Permanent(m)) => {
                report.error = Some(creds.redact(&m));
                break;
            }
        };
        report.pages += 1;
        let page: Value = match serde_json::from_str(&resp) {
            Ok(v) => v,
            Err(e) => {
                report.error = Some(format!("unreadable Jira search response: {e}"));
                break;
            }
        };
        for issue in page["issues"].as_array().into_iter().flatten() {
            let key = issue["key"].as_str().unwrap_or_default();
            let Some(resolution) = issue["fields"]["resolution"]["name"].as_str() else {
                continue;
            };
            report.tickets_checked += 1;
            let labels: Vec<&str> = issue["fields"]["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let fp = match fingerprint_label(&labels) {
                Some(fp) => Some(fp),
                None => store.fingerprint_of_ticket(key)?,
            };
            let Some(fp) = fp else {
                report.unknown += 1;
                continue;
            };
            let Some(verdict) = jira.verdict_for_resolution(resolution) else {
                *report.unmapped.entry(resolution.to_string()).or_default() += 1;
                continue;
            };
            let note = format!("Jira {key} resolved as {resolution:?}");
            match store.record_ticket_verdict(&fp, key, verdict, &note, at, &policy)? {
                FeedbackOutcome::Recorded(_) => {
                    report.synced += 1;
                    report.recorded.push(SyncedVerdict {
                        ticket: key.to_string(),
                        fingerprint: store.resolve_fingerprint(&fp)?.unwrap_or(fp),
                        resolution: resolution.to_string(),
                        verdict,
                    });
                }
                FeedbackOutcome::AlreadyRecorded => report.already_recorded += 1,
                FeedbackOutcome::UnknownFingerprint => report.unknown += 1,
            }
        }
        let next = page["nextPageToken"].as_str().map(str::to_string);
        match next {
            Some(n) if page["isLast"] != Value::Bool(true) => {
                if token.as_deref() == Some(n.as_str()) {
                    report.error = Some("Jira returned the same nextPageToken twice".into());
                    break;
                }
                token = Some(n);
            }
            _ => break,
        }
    }
    report.http_requests = http.requests;
    Ok(report)
}
