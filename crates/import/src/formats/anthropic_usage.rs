//! `anthropic-usage`: Anthropic's Admin API usage report,
//! `GET /v1/organizations/usage_report/messages` responses (JSON pages),
//! grouped by `api_key_id`, `account_id` and/or `workspace_id` (and `model`).
//!
//! Based on Anthropic's API reference "Get Messages Usage Report"
//! (platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages,
//! formerly docs.anthropic.com/en/api/admin-api/usage-cost/get-messages-usage-report):
//! a page is `{"data": [bucket...], "has_more", "next_page"}`; a bucket
//! `{"starting_at", "ending_at", "results": [...]}` with RFC 3339 times
//! (buckets of `1m`, `1h` or `1d`); a result
//! `{"uncached_input_tokens", "cache_read_input_tokens",
//! "cache_creation": {"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"},
//! "output_tokens", "server_tool_use": {"web_search_requests"}, "api_key_id",
//! "workspace_id", "model", "service_tier", "context_window", ...}` where a
//! grouping field is null unless the report was grouped by it
//! (`group_by[]`).
//!
//! Every result -> one aggregate `request` row at the bucket start.
//! Anthropic semantics: `uncached_input_tokens` already excludes cache reads
//! and writes, so the buckets map one to one: input = `uncached_input_tokens`,
//! cache reads = `cache_read_input_tokens`, cache writes = the sum of the
//! `cache_creation` entries (1-hour and 5-minute ephemeral writes; a flat
//! `cache_creation_input_tokens` or `cache_creation_{5m,1h}_input_tokens`,
//! as some client libraries spell them, are read only when the block is
//! absent, so nothing counts twice; no cache-write field at all is 0),
//! output = `output_tokens`.
//!
//! **No request count.** The report counts tokens, not API calls, so the row
//! is written with the count column `n` = 1: it marks the row as an
//! aggregate (features that need single events are unavailable for its
//! sessions) but request counts of these sessions count report rows, not
//! calls. `server_tool_use` (web searches) are tool calls billed separately,
//! not model requests: not imported. Cost is not in this report (the cost
//! report is a separate endpoint): null.
//!
//! The person is `api_key_id`, else `account_id`, else `service_account_id`,
//! else `workspace_id` (map them with `--identities`); a result with none of
//! them (a report not grouped by any of them) is quarantined `missing_user`:
//! fetch the report with `group_by[]=api_key_id`. A result with no tokens at
//! all is skipped (`empty_result`). Results are deduplicated on (bucket
//! start, every grouping field); the larger total wins within a run, so
//! overlapping page downloads do not double count. Sessions: per person on
//! idle gaps over bucket starts, as for `openai-usage`.

use crate::formats::pages::{for_each_bucket_result, s};
use crate::formats::{FileCtx, FormatInfo};
use crate::record::{parse_ts, tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use serde_json::Value;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::AnthropicUsage,
    name: "anthropic-usage",
    source: "Anthropic Admin API /v1/organizations/usage_report/messages responses (JSON pages) grouped by api_key_id, account_id or workspace_id",
    provides: "aggregate request rows per bucket (count column n = 1 per row) with uncached input, cache reads, cache writes (1h + 5m), output, model",
    cannot: "request counts (the report has none: n counts report rows, not calls), cost, sessions (one per person and idle gap over bucket starts), sub-agents, context loads, changes, prompt hashes; loops, reloads, spawns and timing are unavailable for these sessions",
    assumptions: &[
        "uncached_input_tokens excludes cache reads and writes (Anthropic semantics)",
        "cache writes = cache_creation.ephemeral_1h_input_tokens + cache_creation.ephemeral_5m_input_tokens",
        "no request count is reported: each result is one aggregate row with n = 1",
        "the person is api_key_id, else account_id, else service_account_id, else workspace_id",
        "bucket starting_at (RFC 3339) is the row's time",
        "server_tool_use (web searches) is not a model request: not imported",
    ],
};

/// Grouping fields of a result: the dedup key and, in order, the person.
const GROUPS: [&str; 9] = [
    "api_key_id",
    "account_id",
    "service_account_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
];

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let _ = ctx;
    let mut out = Parsed::default();
    let start = |v: &Value| v.as_str().ok_or("bad_timestamp").and_then(parse_ts);
    for_each_bucket_result(data, &mut out, "starting_at", start, result);
    out
}

fn result(ts: i64, r: &Value) -> Result<Option<Ev>, &'static str> {
    let uncached = tokens(r.get("uncached_input_tokens"))?.unwrap_or(0);
    let read = tokens(r.get("cache_read_input_tokens"))?.unwrap_or(0);
    let output = tokens(r.get("output_tokens"))?.unwrap_or(0);
    // The documented block; else the flat spellings some clients write
    // (never both, so nothing is counted twice).
    let write = match r.get("cache_creation").filter(|c| c.is_object()) {
        Some(c) => {
            tokens(c.get("ephemeral_1h_input_tokens"))?.unwrap_or(0)
                + tokens(c.get("ephemeral_5m_input_tokens"))?.unwrap_or(0)
        }
        None => {
            let split = tokens(r.get("cache_creation_1h_input_tokens"))?.unwrap_or(0)
                + tokens(r.get("cache_creation_5m_input_tokens"))?.unwrap_or(0);
            if split > 0 {
                split
            } else {
                tokens(r.get("cache_creation_input_tokens"))?.unwrap_or(0)
            }
        }
    };
    if uncached + read + write + output == 0 {
        return Ok(None);
    }
    let user = GROUPS[..4]
        .iter()
        .find_map(|k| s(r, k))
        .ok_or("missing_user")?;
    let mut key = format!("anthropic\0{ts}");
    for g in GROUPS {
        key.push('\0');
        key.push_str(&s(r, g).unwrap_or_default());
    }
    Ok(Some(Ev {
        ts_us: ts,
        user: Some(user),
        kind: Some(EventKind::Request),
        model: s(r, "model"),
        input: Some(uncached),
        output: Some(output),
        cache_read: Some(read),
        cache_write: Some(write),
        n: Some(1),
        key: hash_str(&key),
        weight: uncached + read + write + output,
        ..Ev::default()
    }))
}
