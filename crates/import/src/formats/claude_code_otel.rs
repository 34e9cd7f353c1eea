//! `claude-code-otel`: Claude Code's OpenTelemetry events (the logs signal)
//! as the OTLP JSON file exporters write them: one `ExportLogsServiceRequest`
//! per line, `resourceLogs[].scopeLogs[].logRecords[]`, attributes as typed
//! key/value lists (see [`super::otlp`]).
//!
//! Based on Claude Code's monitoring documentation
//! (code.claude.com/docs/en/monitoring-usage, "Events"): every event carries
//! the standard attributes `session.id`, `user.account_uuid`,
//! `user.account_id`, `user.email`, `user.id`, `organization.id`,
//! `terminal.type`, `event.name`, `event.timestamp`, `event.sequence` and
//! `prompt.id` (the user prompt an event belongs to); the events used here are
//! `claude_code.user_prompt` (`prompt_length`, `prompt` only with
//! `OTEL_LOG_USER_PROMPTS=1`), `claude_code.api_request` (`model`,
//! `cost_usd`, `duration_ms`, `input_tokens`, `output_tokens`,
//! `cache_read_tokens`, `cache_creation_tokens`, `request_id`,
//! `query_source`), `claude_code.tool_result` (`tool_name`, `success`,
//! `tool_use_id`, `tool_parameters`), `claude_code.tool_decision`
//! (`tool_name`, `decision` = `accept`/`reject`, `source`, `tool_use_id`)
//! and `claude_code.compaction`. The event name is read from the
//! `event.name` attribute (with or without the `claude_code.` prefix), else
//! the record's `eventName`, else its string `body`.
//!
//! * `api_request` -> `request`. Attribute values often arrive as strings
//!   (`"input_tokens": {"stringValue": "120"}`, `intValue` as a JSON string):
//!   they are coerced. Token semantics are Anthropic's: `input_tokens`
//!   excludes `cache_read_tokens` and `cache_creation_tokens`, so the four
//!   buckets map one to one. Cost = `cost_usd`. `duration_ms` has no column
//!   in the canonical schema: not imported. Deduplicated on `request_id`
//!   (else on `session.id` + `event.sequence`, else on the record's content),
//!   so a batch exported twice adds nothing.
//! * The person is `user.email`, else `user.account_uuid`, else
//!   `user.account_id`, else `user.id` (record attributes first, then the
//!   resource's), else `--user`. The session is `session.id` (else sessions
//!   are cut on idle gaps).
//! * Sub-agent calls: a request whose `agent.id` / `agent_id` / `agent.name` /
//!   `agent_name` attribute is set, or whose `query_source` starts with
//!   `agent`, belongs to that agent (the id attribute, else the name, else the
//!   `query_source` value); other query sources (`repl_main_thread`,
//!   `compact`, title generation, ...) are the main agent's.
//! * Turns: the first request of a `prompt.id` (earliest in the file) gets as
//!   `task_hash` the keyed hash of that prompt's text when the
//!   `user_prompt` event carries it (`OTEL_LOG_USER_PROMPTS=1`); otherwise,
//!   and for the other requests of the turn, there is no task hash (Claude
//!   Code does not export tool results): prompt loops are unavailable
//!   without prompt logging. The prompt text itself never leaves this module.
//! * `tool_result` of the `Agent` or `Task` tool with `success` not false ->
//!   `agent_spawn` (agent id = `tool_use_id`, else a hash of the record;
//!   parent = the agent of the record; task hash = keyed hash of
//!   `tool_parameters` when exported). Other tool results are skipped by
//!   design (`tool_result`).
//! * `tool_decision` (and `code_edit_tool.decision`, for collectors that turn
//!   that metric into events) for the edit tools `Edit`, `MultiEdit`, `Write`,
//!   `NotebookEdit` -> `change_accepted` (`decision` = `accept`) or
//!   `change_rejected` (`reject`), `change_id` = `tool_use_id` (else a hash
//!   of the record); no line counts are exported: `lines` is null. Decisions
//!   on other tools are skipped (`tool_decision`).
//! * `compaction` -> a context rebuild, represented as the `claude-code`
//!   importer does: one `context_load` with a `context_hash` unique to that
//!   compaction.
//! * `user_prompt`, `api_error` and other events are skipped by design,
//!   counted per kind. A log record without an event name is quarantined
//!   (`missing_event_name`), as are records with bad timestamps or negative
//!   or absurd token counts.

use crate::formats::otlp::{for_each_record, nanos, Attrs, Item};
use crate::formats::{FileCtx, FormatInfo};
use crate::record::{parse_ts, tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use std::collections::HashMap;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::ClaudeCodeOtel,
    name: "claude-code-otel",
    source: "Claude Code OpenTelemetry events: OTLP JSON logs files (one ExportLogsServiceRequest per line)",
    provides: "requests with all four token buckets, model and cost; users (e-mail or account); Claude Code sessions; sub-agent requests; spawns (Agent/Task tool results); accepted and rejected edits (tool decisions); compactions; prompt hashes when prompts are logged",
    cannot: "context loads of files read (no file contents are exported: no reloads), lines of changes, prompt hashes without OTEL_LOG_USER_PROMPTS=1 (no loops), reverted changes",
    assumptions: &[
        "attribute values may be strings: token counts and cost are coerced",
        "input_tokens excludes cache_read_tokens and cache_creation_tokens (Anthropic semantics)",
        "one request per request_id (else session.id + event.sequence, else record content)",
        "the person is user.email, else user.account_uuid, else user.account_id, else user.id",
        "query_source starting with 'agent', or an agent id/name attribute, marks a sub-agent call",
        "Agent/Task tool results are spawns; tool decisions on Edit/MultiEdit/Write/NotebookEdit are accepted/rejected changes",
        "a compaction event is a context rebuild: one context_load with a unique context hash",
    ],
};

const EDIT_TOOLS: [&str; 4] = ["Edit", "MultiEdit", "Write", "NotebookEdit"];
const SPAWN_TOOLS: [&str; 2] = ["Task", "Agent"];
const USER_KEYS: [&str; 4] = [
    "user.email",
    "user.account_uuid",
    "user.account_id",
    "user.id",
];

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    // prompt.id -> keyed hash of the prompt text (when logged).
    let mut prompts: HashMap<String, String> = HashMap::new();
    // prompt.id -> (ts, index in out.events) of its earliest request; the
    // index is None when that request was imported by an earlier run.
    let mut first: HashMap<String, (i64, Option<usize>)> = HashMap::new();
    let path = ["resourceLogs", "scopeLogs", "logRecords"];
    for_each_record(data, ctx.from_line, path, &mut out, |it, out| {
        let emit = it.rec > ctx.from_line;
        let r = record(ctx, it, &mut prompts);
        if let Ok(Fate::Event(e, Some(p))) = &r {
            let i = emit.then_some(out.events.len());
            let slot = first.entry(p.clone()).or_insert((e.ts_us, i));
            if e.ts_us < slot.0 {
                *slot = (e.ts_us, i);
            }
        }
        if !emit {
            return;
        }
        match r {
            Ok(Fate::Event(e, _)) => {
                out.events.push(Ev { line: it.rec, ..*e });
                out.used_lines.push(it.rec);
            }
            Ok(Fate::Skip(k)) => out.skip(k),
            Err(reason) => out.quarantine_at(it.rec, it.line, reason),
        }
    });
    for (p, (_, i)) in first {
        if let (Some(i), Some(h)) = (i, prompts.get(&p)) {
            out.events[i].task_hash = Some(h.clone());
        }
    }
    out
}

enum Fate {
    /// The event and, for a request, its prompt id.
    Event(Box<Ev>, Option<String>),
    Skip(&'static str),
}

fn event_name(it: &Item<'_>) -> Option<String> {
    let raw = it
        .attrs
        .str("event.name")
        .or_else(|| {
            it.obj
                .get("eventName")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .or_else(|| {
            it.obj
                .get("body")
                .and_then(|b| b.get("stringValue").or(Some(b)))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })?;
    let n = raw.trim();
    let n = n.strip_prefix("claude_code.").unwrap_or(n);
    (!n.is_empty()).then(|| n.to_string())
}

/// The record's time: `timeUnixNano`, else `observedTimeUnixNano`, else the
/// `event.timestamp` attribute (RFC 3339).
fn time(it: &Item<'_>) -> Result<i64, &'static str> {
    if let Some(t) = nanos(it.obj.get("timeUnixNano")) {
        return t;
    }
    if let Some(t) = nanos(it.obj.get("observedTimeUnixNano")) {
        return t;
    }
    match it.attrs.str("event.timestamp") {
        Some(s) => parse_ts(&s),
        None => Err("missing_timestamp"),
    }
}

/// The agent of a record: None = the main agent.
fn agent_of(a: &Attrs) -> Option<String> {
    if let Some(id) = a.first(&["agent.id", "agent_id", "agent.name", "agent_name"]) {
        return Some(id);
    }
    a.str("query_source")
        .filter(|q| q.to_ascii_lowercase().starts_with("agent"))
}

/// A dedup key from the source's id, else `session.id` + `event.sequence`,
/// else the record's content.
fn key(kind: &str, id: Option<&str>, it: &Item<'_>) -> u64 {
    if let Some(id) = id {
        return hash_str(&format!("otel\0{kind}\0{id}"));
    }
    if let (Some(s), Some(q)) = (it.attrs.str("session.id"), it.attrs.str("event.sequence")) {
        return hash_str(&format!("otel\0{kind}\0{s}\0{q}"));
    }
    hash_str(&format!("otel\0{kind}\0{}", it.obj))
}

// One table: one arm per documented event name (api_request, tool_result, tool_decision,
// compaction, ...), each mapping its attributes to events; a dispatch, not a sequence.
fn record(
    ctx: &FileCtx<'_>,
    it: &Item<'_>,
    prompts: &mut HashMap<String, String>,
) -> Result<Fate, &'static str> {
    let a = &it.attrs;
    let Some(name) = event_name(it) else {
        return Err("missing_event_name");
    };
    let base = |ts: i64| Ev {
        ts_us: ts,
        user: a.first(&USER_KEYS),
        session: a.str("session.id").unwrap_or_default(),
        agent: agent_of(a),
        ..Ev::default()
    };
    match name.as_str() {
        "api_request" => {
            let ts = time(it)?;
            let t = |k: &str| tokens(a.get(k));
            let (i, o, cr, cw) = (
                t("input_tokens")?,
                t("output_tokens")?,
                t("cache_read_tokens")?,
                t("cache_creation_tokens")?,
            );
            let cost = match a.get("cost_usd") {
                None => None,
                Some(_) => match a.f64("cost_usd") {
                    Some(c) if c.is_finite() && c >= 0.0 => Some(c),
                    _ => return Err("invalid_cost"),
                },
            };
            let (i, o, cr, cw) = (
                i.unwrap_or(0),
                o.unwrap_or(0),
                cr.unwrap_or(0),
                cw.unwrap_or(0),
            );
            let ev = Ev {
                kind: Some(EventKind::Request),
                model: a.str("model"),
                input: Some(i),
                output: Some(o),
                cache_read: Some(cr),
                cache_write: Some(cw),
                cost_usd: cost,
                key: key("request", a.str("request_id").as_deref(), it),
                weight: i + o + cr + cw,
                ..base(ts)
            };
            Ok(Fate::Event(Box::new(ev), a.str("prompt.id")))
        }
        "user_prompt" => {
            if let (Some(p), Some(text)) = (a.str("prompt.id"), a.get("prompt")) {
                let text = text
                    .as_str()
                    .map_or_else(|| text.to_string(), str::to_string);
                prompts.insert(p, ctx.hasher.hash("prompt", &[text.as_bytes()]));
            }
            Ok(Fate::Skip("user_prompt"))
        }
        "tool_result" => {
            let tool = a.str("tool_name").unwrap_or_default();
            if !SPAWN_TOOLS.contains(&tool.as_str()) {
                return Ok(Fate::Skip("tool_result"));
            }
            if a.bool("success") == Some(false) {
                return Ok(Fate::Skip("failed_spawn"));
            }
            let ts = time(it)?;
            let id = a.str("tool_use_id");
            let k = key("spawn", id.as_deref(), it);
            let base = base(ts);
            let ev = Ev {
                kind: Some(EventKind::AgentSpawn),
                parent: base.agent.clone(),
                agent: Some(id.unwrap_or_else(|| format!("agent-{k:016x}"))),
                task_hash: a
                    .get("tool_parameters")
                    .map(|p| ctx.hasher.hash("task", &[p.to_string().as_bytes()])),
                key: k,
                ..base
            };
            Ok(Fate::Event(Box::new(ev), None))
        }
        "tool_decision" | "code_edit_tool.decision" => {
            let tool = a.str("tool_name").unwrap_or_default();
            if !EDIT_TOOLS.contains(&tool.as_str()) {
                return Ok(Fate::Skip("tool_decision"));
            }
            let kind = match a.str("decision").map(|d| d.to_ascii_lowercase()) {
                Some(d) if d == "accept" || d == "accepted" => EventKind::ChangeAccepted,
                Some(d) if d == "reject" || d == "rejected" => EventKind::ChangeRejected,
                _ => return Err("unknown_decision"),
            };
            let ts = time(it)?;
            let id = a.str("tool_use_id");
            // Both event names of one decision share the key.
            let k = key("decision", id.as_deref(), it);
            let ev = Ev {
                kind: Some(kind),
                change_id: Some(id.unwrap_or_else(|| format!("{k:016x}"))),
                key: k,
                ..base(ts)
            };
            Ok(Fate::Event(Box::new(ev), None))
        }
        "compaction" => {
            let ts = time(it)?;
            let k = key("compaction", None, it);
            let ev = Ev {
                kind: Some(EventKind::ContextLoad),
                context_hash: Some(
                    ctx.hasher
                        .hash("compaction", &[format!("{k:016x}").as_bytes()]),
                ),
                key: k,
                ..base(ts)
            };
            Ok(Fate::Event(Box::new(ev), None))
        }
        "api_error" => Ok(Fate::Skip("api_error")),
        _ => Ok(Fate::Skip("other_event")),
    }
}
