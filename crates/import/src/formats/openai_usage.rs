//! `openai-usage`: OpenAI's organization Usage API,
//! `GET /v1/organization/usage/completions` responses (JSON pages) grouped
//! by `user_id`, `api_key_id` and/or `project_id` (and `model`).
//!
//! Based on OpenAI's API reference ("Usage: completions"): a page is
//! `{"data": [bucket...], "has_more", "next_page"}`, a bucket
//! `{"start_time", "end_time", "results": [...]}` with Unix seconds, a result
//! `{"input_tokens", "output_tokens", "input_cached_tokens",
//! "input_audio_tokens", "output_audio_tokens", "num_model_requests",
//! "project_id", "user_id", "api_key_id", "model", "batch"}`.
//!
//! Every result -> one aggregate `request` row (schema v1.1 `n` =
//! `num_model_requests`) at the bucket start. OpenAI semantics: `input_tokens`
//! INCLUDES `input_cached_tokens`, so `input_tokens` - `input_cached_tokens`
//! is written as uncached input and `input_cached_tokens` as cache reads
//! (OpenAI bills no cache writes: 0). The person is `user_id`, else
//! `api_key_id`, else `project_id` (map them with `--identities`). A result
//! with no requests and no tokens is skipped (`empty_result`); one with
//! tokens but no requests, or cached above input, is quarantined. Results
//! are deduplicated on (bucket start, user, key, project, model, batch); the
//! larger total wins within a run.

use crate::formats::pages::{epoch_s, for_each_bucket_result, s};
use crate::formats::{FileCtx, FormatInfo};
use crate::record::{tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use serde_json::Value;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::OpenaiUsage,
    name: "openai-usage",
    source: "OpenAI /v1/organization/usage/completions responses (JSON pages) grouped by user_id or api_key_id",
    provides: "aggregate request rows per bucket (count column n) with uncached input, cache reads, output, model",
    cannot: "cost, sessions (one per user and idle gap over bucket starts), sub-agents, context loads, changes, prompt hashes; loops, reloads, spawns and timing are unavailable for these sessions",
    assumptions: &[
        "input_tokens includes input_cached_tokens: uncached input = input_tokens - input_cached_tokens",
        "num_model_requests is the count n of the row",
        "the person is user_id, else api_key_id, else project_id",
        "bucket start_time (Unix seconds) is the row's time",
    ],
};

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let _ = ctx;
    let mut out = Parsed::default();
    for_each_bucket_result(data, &mut out, "start_time", epoch_s, result);
    out
}

fn result(ts: i64, r: &Value) -> Result<Option<Ev>, &'static str> {
    let input = tokens(r.get("input_tokens"))?.unwrap_or(0);
    let cached = tokens(r.get("input_cached_tokens"))?.unwrap_or(0);
    let output = tokens(r.get("output_tokens"))?.unwrap_or(0);
    let n = tokens(r.get("num_model_requests"))?.unwrap_or(0);
    if cached > input {
        return Err("cached_above_input");
    }
    if n == 0 {
        return if input == 0 && output == 0 {
            Ok(None)
        } else {
            Err("tokens_without_requests")
        };
    }
    let user = s(r, "user_id")
        .or_else(|| s(r, "api_key_id"))
        .or_else(|| s(r, "project_id"))
        .ok_or("missing_user")?;
    let model = s(r, "model");
    let batch = r.get("batch").and_then(Value::as_bool).unwrap_or(false);
    let key = hash_str(&format!(
        "openai\0{ts}\0{}\0{}\0{}\0{}\0{batch}",
        s(r, "user_id").unwrap_or_default(),
        s(r, "api_key_id").unwrap_or_default(),
        s(r, "project_id").unwrap_or_default(),
        model.as_deref().unwrap_or("")
    ));
    Ok(Some(Ev {
        ts_us: ts,
        user: Some(user),
        kind: Some(EventKind::Request),
        model,
        input: Some(input - cached),
        output: Some(output),
        cache_read: Some(cached),
        cache_write: Some(0),
        n: Some(n),
        key,
        weight: input + output,
        ..Ev::default()
    }))
}
