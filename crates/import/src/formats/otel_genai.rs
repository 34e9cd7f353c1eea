//! `otel-genai`: OpenTelemetry traces that follow the GenAI semantic
//! conventions (in-house agents, Copilot CLI's file exporter), as OTLP JSON
//! files: one `ExportTraceServiceRequest` per line,
//! `resourceSpans[].scopeSpans[].spans[]` (see [`super::otlp`]).
//!
//! Based on the OpenTelemetry semantic conventions for generative AI
//! (opentelemetry.io/docs/specs/semconv/gen-ai/: "Semantic conventions for
//! generative client AI spans", "... for GenAI agent and framework spans",
//! the `gen_ai` attribute registry; github.com/open-telemetry/semantic-conventions,
//! docs/gen-ai/, v1.41): `gen_ai.operation.name` (`chat`, `text_completion`,
//! `generate_content`, `embeddings`, `execute_tool`, `create_agent`,
//! `invoke_agent`, ...), `gen_ai.request.model`, `gen_ai.response.model`,
//! `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
//! `gen_ai.usage.cache_read.input_tokens` and
//! `gen_ai.usage.cache_creation.input_tokens` (both documented as "SHOULD be
//! included in `gen_ai.usage.input_tokens`"), `gen_ai.agent.id`,
//! `gen_ai.agent.name`, `gen_ai.conversation.id`; spans carry `traceId`,
//! `spanId`, `parentSpanId`, `startTimeUnixNano`.
//!
//! * `chat`, `text_completion`, `generate_content` spans -> `request` at the
//!   span start. `gen_ai.usage.input_tokens` INCLUDES cached input, so
//!   uncached input = input - `cache_read.input_tokens` -
//!   `cache_creation.input_tokens` (each where reported); cache reads and
//!   writes are those attributes; output = `gen_ai.usage.output_tokens`
//!   (the pre-1.27 names `gen_ai.usage.prompt_tokens` /
//!   `completion_tokens` are read when the new ones are absent). Cached
//!   tokens above the input are quarantined (`cached_above_input`). Model =
//!   the response model, else the request model. No cost (the conventions
//!   define none).
//! * `invoke_agent` and `create_agent` spans -> `agent_spawn` of the agent
//!   `gen_ai.agent.id` (else `gen_ai.agent.name`, else the span id), parent =
//!   the agent of the nearest enclosing agent span in the span tree
//!   (`parentSpanId` links, within the file). An agent span with no agent
//!   span above it is the main agent (the application's own): not a spawn
//!   (skipped `root_agent`), and its requests have no agent id. One spawn
//!   per agent and trace: creating and then invoking an agent is one spawn.
//!   Requests belong to the agent of their nearest enclosing agent span.
//! * The session is `gen_ai.conversation.id` of the span or its nearest
//!   ancestor that has one, else `trace-<traceId>`.
//! * The person is the first of the user attributes (default `user.id`,
//!   `enduser.id`; `--user-attribute` to change) on the span or its
//!   resource, else `--user`.
//! * Other spans (`execute_tool`, `embeddings`, HTTP, database, ...) are
//!   skipped by design, counted per kind. Requests are deduplicated on
//!   (trace id, span id), so a batch exported twice adds nothing. A span
//!   without ids or start time is quarantined.
//!
//! Prompts and completions (`gen_ai.input.messages`, ...) are never read.

use crate::formats::otlp::{for_each_record, nanos, Attrs};
use crate::formats::{FileCtx, FormatInfo};
use crate::record::{tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use serde_json::Value;
use std::collections::HashMap;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::OtelGenai,
    name: "otel-genai",
    source: "OpenTelemetry GenAI traces: OTLP JSON trace files (one ExportTraceServiceRequest per line)",
    provides: "requests with uncached input, cache reads, cache writes, output and model; sub-agents and spawns from the span tree; sessions (conversation id, else trace); users from resource or span attributes",
    cannot: "cost, context loads (no reloads), changes, prompt hashes (no loops)",
    assumptions: &[
        "gen_ai.usage.input_tokens includes cached input: uncached = input - cache_read.input_tokens - cache_creation.input_tokens",
        "chat, text_completion and generate_content spans are requests",
        "invoke_agent / create_agent spans under another agent span are spawns; a top-level agent span is the main agent",
        "one spawn per agent and trace",
        "session = gen_ai.conversation.id (span or ancestor), else the trace id",
        "the person is the first of --user-attribute (default user.id, enduser.id) on the span or resource",
    ],
};

const REQUEST_OPS: [&str; 3] = ["chat", "text_completion", "generate_content"];
const AGENT_OPS: [&str; 2] = ["invoke_agent", "create_agent"];

/// One span of the file.
struct Span {
    rec: u64,
    line: u64,
    trace: String,
    id: String,
    parent: Option<String>,
    op: String,
    start: Option<Result<i64, &'static str>>,
    attrs: Attrs,
}

impl Span {
    fn is_agent(&self) -> bool {
        AGENT_OPS.contains(&self.op.as_str())
    }

    /// The agent this agent span stands for.
    fn agent_name(&self) -> String {
        self.attrs
            .first(&["gen_ai.agent.id", "gen_ai.agent.name"])
            .unwrap_or_else(|| format!("span-{}", self.id))
    }
}

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let mut spans: Vec<Span> = Vec::new();
    let path = ["resourceSpans", "scopeSpans", "spans"];
    for_each_record(data, ctx.from_line, path, &mut out, |it, _| {
        let s = |k: &str| {
            it.obj
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        spans.push(Span {
            rec: it.rec,
            line: it.line,
            trace: s("traceId").unwrap_or_default(),
            id: s("spanId").unwrap_or_default(),
            parent: s("parentSpanId"),
            op: it
                .attrs
                .str("gen_ai.operation.name")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            start: nanos(it.obj.get("startTimeUnixNano")),
            attrs: it.attrs.clone(),
        });
    });
    let index: HashMap<(&str, &str), usize> = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.id.is_empty())
        .map(|(i, s)| ((s.trace.as_str(), s.id.as_str()), i))
        .collect();
    // The ancestors of span i, nearest first (cycles and missing parents end it).
    let ancestors = |i: usize| -> Vec<usize> {
        let mut v = Vec::new();
        let mut cur = i;
        while let Some(p) = spans[cur].parent.as_deref() {
            match index.get(&(spans[cur].trace.as_str(), p)) {
                Some(&j) if j != i && !v.contains(&j) && v.len() < 10_000 => {
                    v.push(j);
                    cur = j;
                }
                _ => break,
            }
        }
        v
    };
    // The agent of an agent span: None when no agent span encloses it (the
    // main agent).
    let agent_of_agent_span = |i: usize| -> Option<String> {
        ancestors(i)
            .iter()
            .any(|&j| spans[j].is_agent())
            .then(|| spans[i].agent_name())
    };
    for (i, sp) in spans.iter().enumerate() {
        if sp.rec <= ctx.from_line {
            continue;
        }
        let anc = ancestors(i);
        let enclosing = anc.iter().copied().find(|&j| spans[j].is_agent());
        let r = if REQUEST_OPS.contains(&sp.op.as_str()) {
            request(
                sp,
                &anc,
                &spans,
                enclosing.and_then(agent_of_agent_span),
                ctx,
            )
        } else if sp.is_agent() {
            match enclosing {
                None => Ok(None),
                Some(e) => spawn(sp, &anc, &spans, agent_of_agent_span(e), ctx),
            }
        } else {
            Ok(None)
        };
        let skip = match sp.op.as_str() {
            _ if sp.is_agent() => "root_agent",
            "" => "not_gen_ai",
            "execute_tool" => "execute_tool",
            "embeddings" => "embeddings",
            _ => "other_operation",
        };
        match r {
            Ok(Some(e)) => {
                out.events.push(Ev { line: sp.rec, ..e });
                out.used_lines.push(sp.rec);
            }
            Ok(None) => out.skip(skip),
            Err(reason) => out.quarantine_at(sp.rec, sp.line, reason),
        }
    }
    out
}

/// What every event of a span shares: time, person, session, dedup key.
fn base(sp: &Span, anc: &[usize], spans: &[Span], ctx: &FileCtx<'_>) -> Result<Ev, &'static str> {
    if sp.trace.is_empty() || sp.id.is_empty() {
        return Err("missing_span_id");
    }
    let ts = match sp.start {
        None => return Err("missing_timestamp"),
        Some(r) => r?,
    };
    let keys: Vec<&str> = ctx.user_attributes.iter().map(String::as_str).collect();
    let session = std::iter::once(sp)
        .chain(anc.iter().map(|&j| &spans[j]))
        .find_map(|s| s.attrs.str("gen_ai.conversation.id"))
        .unwrap_or_else(|| format!("trace-{}", sp.trace));
    Ok(Ev {
        ts_us: ts,
        user: sp.attrs.first(&keys),
        session,
        key: hash_str(&format!("otel-genai\0{}\0{}", sp.trace, sp.id)),
        ..Ev::default()
    })
}

fn request(
    sp: &Span,
    anc: &[usize],
    spans: &[Span],
    agent: Option<String>,
    ctx: &FileCtx<'_>,
) -> Result<Option<Ev>, &'static str> {
    let b = base(sp, anc, spans, ctx)?;
    let a = &sp.attrs;
    let t = |new: &str, old: &str| -> Result<Option<u64>, &'static str> {
        match tokens(a.get(new))? {
            Some(v) => Ok(Some(v)),
            None => tokens(a.get(old)),
        }
    };
    let input = t("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")?;
    let output = t(
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    )?;
    let read = tokens(a.get("gen_ai.usage.cache_read.input_tokens"))?.unwrap_or(0);
    let write = tokens(a.get("gen_ai.usage.cache_creation.input_tokens"))?.unwrap_or(0);
    let uncached = input
        .unwrap_or(0)
        .checked_sub(read + write)
        .ok_or("cached_above_input")?;
    let total = uncached + read + write + output.unwrap_or(0);
    Ok(Some(Ev {
        kind: Some(EventKind::Request),
        agent,
        model: a.first(&["gen_ai.response.model", "gen_ai.request.model"]),
        input: Some(uncached),
        output: Some(output.unwrap_or(0)),
        cache_read: Some(read),
        cache_write: Some(write),
        weight: total,
        ..b
    }))
}

fn spawn(
    sp: &Span,
    anc: &[usize],
    spans: &[Span],
    parent: Option<String>,
    ctx: &FileCtx<'_>,
) -> Result<Option<Ev>, &'static str> {
    let b = base(sp, anc, spans, ctx)?;
    let agent = sp.agent_name();
    Ok(Some(Ev {
        kind: Some(EventKind::AgentSpawn),
        key: hash_str(&format!("otel-genai-spawn\0{}\0{agent}", sp.trace)),
        agent: Some(agent),
        parent,
        ..b
    }))
}
