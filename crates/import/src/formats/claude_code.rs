//! `claude-code`: Claude Code's local transcripts (JSONL).
//!
//! # Where the files are
//! `<root>/projects/<project>/<session>.jsonl`, one file per session;
//! sub-agents in `<root>/projects/<project>/<session>/subagents/agent-<id>.jsonl`
//! (older versions: `agent-<id>.jsonl` beside the session file, or sidechain
//! lines inside the session file). A source given on the command line may be
//! a root (`~/.claude`, any `CLAUDE_CONFIG_DIR`), a `projects/` directory, a
//! project directory or one file: directories are searched recursively for
//! `*.jsonl`, so several roots and both layouts are read in one run.
//!
//! # What each line becomes
//! Every line is a JSON object with a `type`. Based on the fields Claude Code
//! writes (`type`, `timestamp`, `sessionId`, `isSidechain`, `agentId`,
//! `requestId`, `message.{id,model,usage,content}`, `toolUseResult`) and on
//! how ccusage reads the same files (`rust/crates/ccusage/src/adapter/claude/`
//! in github.com/ryoppippi/ccusage: `daily.rs` for deduplication, `paths.rs`
//! for the layouts, `README.md` for sidechain replays; read, not copied):
//!
//! * `assistant` lines with `message.usage` -> `request`. One API response is
//!   written as several lines (one per content block) repeating `message.id`,
//!   `requestId` and `usage`: one request per `(message.id, requestId)`. A
//!   sidechain line also duplicates any line with the same `message.id`
//!   (sidechain logs replay parent messages with new request ids). Among
//!   duplicates the non-sidechain line wins, then the larger usage total,
//!   then the first seen (files in path order, lines in file order); the
//!   others are counted as skipped `duplicate_request`. Lines without
//!   `message.id` are never deduplicated (as ccusage). Token semantics are
//!   Anthropic's: `input_tokens` already excludes `cache_read_input_tokens`
//!   and `cache_creation_input_tokens`, so the four buckets map one to one.
//!   Messages with model `<synthetic>` or `isApiErrorMessage` were not API
//!   calls: skipped `synthetic_message`.
//! * `progress` lines whose `data.message` is an assistant message (a
//!   sub-agent's response mirrored into the parent transcript) -> a `request`
//!   of the sub-agent (`data.agentId`), deduplicated against the sub-agent
//!   file's copy; its rank uses the mirrored message's own `isSidechain`.
//! * `tool_use` blocks named `Task` or `Agent` -> `agent_spawn`; the agent id
//!   is the tool result's `toolUseResult.agentId` (else the tool-use id), the
//!   parent the agent whose line holds the tool use (null = main), the task
//!   hash a keyed hash of the tool input.
//! * Requests of sidechain lines belong to the line's `agentId`, else the
//!   id in the file name `agent-<id>.jsonl`, else `sidechain`.
//! * `user` lines carrying tool results: `Read` results (`toolUseResult.file`)
//!   -> `context_load` with `context_hash` = keyed hash of path and content;
//!   successful `Edit`, `MultiEdit`, `Write`, `NotebookEdit` results ->
//!   `change_accepted` with `lines` = the `+` and `-` lines of
//!   `toolUseResult.structuredPatch` (a created file: its line count); a tool
//!   result saying the user rejected the tool use at the permission prompt
//!   ("doesn't want to proceed with this tool use") for one of those tools ->
//!   `change_rejected`. `change_id` is the tool-use id.
//! * `system` lines with `subtype: "compact_boundary"` (a compaction: the
//!   conversation was summarised and the context rebuilt) -> a
//!   `context_load` whose `context_hash` is unique to that compaction, so it
//!   counts as a context load but never as a reload. Other `system` lines,
//!   `summary`, `file-history-snapshot` and any other type are skipped by
//!   design, counted per type.
//! * `task_hash` of a request = keyed hash of what it answers: the user's
//!   prompt for the first call of a turn, the tool results for the calls
//!   that follow them (per agent, in file order).
//!
//! Lines that are not JSON, not objects or have fields of the wrong type are
//! quarantined (`malformed_json`, `unknown_shape`), as are usage lines with a
//! missing, unparsable or absurd timestamp or negative or absurd token counts.
//! No prompt, file content or tool output leaves this module: only keyed hashes.

use crate::formats::{for_each_line, FileCtx, FormatInfo};
use crate::record::{parse_ts, tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::ClaudeCode,
    name: "claude-code",
    source: "Claude Code transcripts: <root>/projects/<project>/<session>.jsonl and sub-agent files (both layouts); directories are searched recursively",
    provides: "requests with all four token buckets and model, sessions, sub-agents and spawns (redundant spawns, spawn tree), context loads of files read (reloads), accepted and rejected edits with lines, prompt hashes (loops), compactions",
    cannot: "the user (give --user or --user-from-path), cost (Claude Code writes costUSD only in old versions), reverted changes",
    assumptions: &[
        "one request per (message.id, requestId); sidechain copies of a message id are replays; non-sidechain, then larger usage, then first wins",
        "input_tokens excludes cache reads and cache writes (Anthropic semantics)",
        "Task/Agent tool uses are agent spawns; the agent id comes from toolUseResult.agentId",
        "a rejected edit is a tool result saying the user does not want to proceed with the tool use",
        "compact_boundary system lines are context rebuilds: one context_load with a unique context hash",
        "timestamps outside 2000-01-01..2100-01-01 are quarantined",
    ],
};

const EDIT_TOOLS: [&str; 4] = ["Edit", "MultiEdit", "Write", "NotebookEdit"];
const SPAWN_TOOLS: [&str; 2] = ["Task", "Agent"];
const REJECTED: &str = "doesn't want to proceed with this tool use";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(default)]
    is_sidechain: Option<bool>,
    #[serde(borrow, default)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subtype: Option<Cow<'a, str>>,
    #[serde(default)]
    is_compact_summary: Option<bool>,
    #[serde(default)]
    is_meta: Option<bool>,
    #[serde(default)]
    is_api_error_message: Option<bool>,
    #[serde(rename = "costUSD", default)]
    cost_usd: Option<f64>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_use_result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

impl<'a> Line<'a> {
    /// The `message` object, if it has the expected shape.
    fn message(&self) -> Option<Message<'a>> {
        self.message
            .and_then(|m| serde_json::from_str(m.get()).ok())
    }
}

#[derive(Deserialize)]
struct ProgressData<'a> {
    #[serde(borrow, default)]
    message: Option<Box<Line<'a>>>,
    #[serde(rename = "agentId", borrow, default)]
    agent_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: Option<serde_json::Value>,
    #[serde(default)]
    output_tokens: Option<serde_json::Value>,
    #[serde(default)]
    cache_creation_input_tokens: Option<serde_json::Value>,
    #[serde(default)]
    cache_read_input_tokens: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(default)]
    is_error: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ToolResult<'a> {
    #[serde(borrow, default)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    file: Option<ReadFile<'a>>,
    #[serde(default)]
    structured_patch: Option<Vec<Hunk<'a>>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    new_source: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadFile<'a> {
    #[serde(borrow, default)]
    file_path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Hunk<'a> {
    #[serde(borrow, default)]
    lines: Vec<Cow<'a, str>>,
}

/// Per-file parse state.
struct State<'c> {
    ctx: &'c FileCtx<'c>,
    out: Parsed,
    /// Agent id from the file name (`agent-<id>.jsonl`).
    file_agent: Option<String>,
    /// Session id from the path (fallback when lines carry none).
    file_session: String,
    /// tool-use id -> tool name.
    tool_names: HashMap<String, String>,
    /// tool-use id -> index of its agent_spawn event in `out.events`.
    spawns: HashMap<String, usize>,
    /// agent (None = main) -> hash of what the next request answers.
    task: HashMap<Option<String>, String>,
    /// Line being parsed, and whether it emitted an event.
    line: u64,
    emitting: bool,
    used: bool,
}

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let file_name = ctx
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file_agent = file_name.strip_prefix("agent-").map(str::to_string);
    // <session>/subagents/agent-x.jsonl -> <session>; <session>.jsonl -> <session>.
    let file_session = if ctx
        .path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "subagents")
    {
        ctx.path
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(file_name.clone())
    } else {
        file_name.clone()
    };
    let mut st = State {
        ctx,
        out: Parsed::default(),
        file_agent,
        file_session,
        tool_names: HashMap::new(),
        spawns: HashMap::new(),
        task: HashMap::new(),
        line: 0,
        emitting: false,
        used: false,
    };
    let (offset, last) = for_each_line(data, |n, l| {
        st.line = n;
        st.emitting = n > ctx.from_line;
        st.used = false;
        if st.emitting {
            st.out.records += 1;
        }
        let fate = st.handle(l);
        if st.emitting {
            match fate {
                Fate::Used => st.out.used_lines.push(n),
                Fate::Skip(k) => st.out.skip(k),
                Fate::Quarantine(r) => st.out.quarantine(n, r),
            }
        }
    });
    st.out.offset = offset;
    st.out.last_line = last;
    st.out
}

enum Fate {
    Used,
    Skip(&'static str),
    Quarantine(&'static str),
}

impl State<'_> {
    fn handle(&mut self, l: &[u8]) -> Fate {
        if l.iter().all(u8::is_ascii_whitespace) {
            return Fate::Skip("blank_line");
        }
        let line: Line<'_> = match serde_json::from_slice(l) {
            Ok(v) => v,
            Err(_) => {
                return if serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok() {
                    Fate::Quarantine("unknown_shape")
                } else {
                    Fate::Quarantine("malformed_json")
                };
            }
        };
        let Some(kind) = line.kind.as_deref() else {
            return Fate::Quarantine("unknown_shape");
        };
        let fate = match kind {
            "assistant" => self.assistant(&line, None),
            "progress" => {
                let data: Option<ProgressData<'_>> =
                    line.data.and_then(|d| serde_json::from_str(d.get()).ok());
                match data {
                    Some(ProgressData {
                        message: Some(inner),
                        agent_id,
                    }) if inner.message().is_some_and(|m| m.usage.is_some()) => {
                        let agent = agent_id
                            .as_deref()
                            .or(inner.agent_id.as_deref())
                            .unwrap_or("sidechain")
                            .to_string();
                        self.assistant(&inner, Some((line.session_id.as_deref(), agent)))
                    }
                    _ => Fate::Skip("progress"),
                }
            }
            "user" => self.user(&line),
            "system" if line.subtype.as_deref() == Some("compact_boundary") => {
                self.compaction(&line)
            }
            "system" => Fate::Skip("system"),
            "summary" => Fate::Skip("summary"),
            "file-history-snapshot" => Fate::Skip("file-history-snapshot"),
            _ => Fate::Skip("other_type"),
        };
        if self.used {
            Fate::Used
        } else {
            fate
        }
    }

    fn session(&self, line: &Line<'_>) -> String {
        match line.session_id.as_deref() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => self.file_session.clone(),
        }
    }

    fn agent_of(&self, line: &Line<'_>) -> Option<String> {
        if line.is_sidechain != Some(true) {
            return None;
        }
        Some(
            line.agent_id
                .as_deref()
                .map(str::to_string)
                .or_else(|| self.file_agent.clone())
                .unwrap_or_else(|| "sidechain".to_string()),
        )
    }

    fn push(&mut self, ev: Ev) -> Option<usize> {
        self.used = true;
        if !self.emitting {
            return None;
        }
        self.out.events.push(Ev {
            line: self.line,
            ..ev
        });
        Some(self.out.events.len() - 1)
    }

    /// An assistant line; `progress` = Some((outer session id, agent)) for a
    /// sub-agent message mirrored in a progress line.
    // One piece: one transcript line read once, in the order that decides its
    // fate (usage checked before anything is emitted, then the request, then
    // its tool uses); the steps share the line's borrowed fields.
    fn assistant(&mut self, line: &Line<'_>, progress: Option<(Option<&str>, String)>) -> Fate {
        let Some(raw_msg) = line.message else {
            return Fate::Quarantine("missing_message");
        };
        let Ok(msg) = serde_json::from_str::<Message<'_>>(raw_msg.get()) else {
            return Fate::Quarantine("unknown_shape");
        };
        let ts = match line.timestamp.as_deref().map(parse_ts) {
            None => return Fate::Quarantine("missing_timestamp"),
            Some(Err(r)) => return Fate::Quarantine(r),
            Some(Ok(t)) => t,
        };
        let (sidechain, agent, session) = match &progress {
            // The mirrored message's own isSidechain decides its rank, as in
            // ccusage (absent = not a sidechain line), so the kept copy and
            // hence the per-day totals agree with it.
            Some((outer, agent)) => (
                line.is_sidechain == Some(true),
                Some(agent.clone()),
                line.session_id
                    .as_deref()
                    .or(*outer)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| self.file_session.clone()),
            ),
            None => (
                line.is_sidechain == Some(true),
                self.agent_of(line),
                self.session(line),
            ),
        };
        let synthetic =
            msg.model.as_deref() == Some("<synthetic>") || line.is_api_error_message == Some(true);

        // Validate usage before emitting anything from this line.
        let mut request = None;
        if let Some(u) = msg.usage.as_ref().filter(|_| !synthetic) {
            let t = |v: &Option<serde_json::Value>| tokens(v.as_ref());
            let (i, o, cw, cr) = match (
                t(&u.input_tokens),
                t(&u.output_tokens),
                t(&u.cache_creation_input_tokens),
                t(&u.cache_read_input_tokens),
            ) {
                (Ok(i), Ok(o), Ok(cw), Ok(cr)) => (i, o, cw, cr),
                (a, b, c, d) => {
                    let r = [a.err(), b.err(), c.err(), d.err()]
                        .into_iter()
                        .flatten()
                        .next()
                        .unwrap_or("bad_token_count");
                    return Fate::Quarantine(r);
                }
            };
            let total = [i, o, cw, cr].iter().flatten().sum::<u64>();
            let (key, group) = match msg.id.as_deref().filter(|s| !s.is_empty()) {
                Some(id) => {
                    let req = line.request_id.as_deref().unwrap_or("");
                    (
                        hash_str(&format!("req\0{id}\0{req}")),
                        hash_str(&format!("msg\0{id}")),
                    )
                }
                None => (0, 0),
            };
            request = Some(Ev {
                ts_us: ts,
                session: session.clone(),
                kind: Some(EventKind::Request),
                agent: agent.clone(),
                model: msg.model.as_deref().map(str::to_string),
                input: Some(i.unwrap_or(0)),
                output: Some(o.unwrap_or(0)),
                cache_read: Some(cr.unwrap_or(0)),
                cache_write: Some(cw.unwrap_or(0)),
                task_hash: self.task.get(&agent).cloned(),
                cost_usd: line.cost_usd.filter(|c| c.is_finite() && *c >= 0.0),
                key,
                group,
                sidechain,
                weight: total,
                ..Ev::default()
            });
        }
        if let Some(r) = request {
            self.push(r);
        }
        // Tool uses: remember names; Task/Agent -> agent_spawn.
        let blocks: Vec<Block<'_>> = msg
            .content
            .and_then(|c| serde_json::from_str(c.get()).ok())
            .unwrap_or_default();
        for b in &blocks {
            if b.kind.as_deref() != Some("tool_use") {
                continue;
            }
            let (Some(id), Some(name)) = (b.id.as_deref(), b.name.as_deref()) else {
                continue;
            };
            self.tool_names.insert(id.to_string(), name.to_string());
            if SPAWN_TOOLS.contains(&name) && !synthetic {
                let input = b.input.map_or("", |r| r.get());
                let ev = Ev {
                    ts_us: ts,
                    session: session.clone(),
                    kind: Some(EventKind::AgentSpawn),
                    agent: Some(id.to_string()),
                    parent: agent.clone(),
                    task_hash: Some(self.ctx.hasher.hash("task", &[input.as_bytes()])),
                    key: hash_str(&format!("spawn\0{id}")),
                    sidechain,
                    ..Ev::default()
                };
                if let Some(i) = self.push(ev) {
                    self.spawns.insert(id.to_string(), i);
                }
            }
        }
        if synthetic {
            Fate::Skip("synthetic_message")
        } else {
            Fate::Skip("assistant_no_usage")
        }
    }

    // One piece: one transcript line read once; its tool results become
    // spawns, loads and changes in one pass over its content blocks, which
    // share the line's borrowed fields.
    fn user(&mut self, line: &Line<'_>) -> Fate {
        let agent = self.agent_of(line);
        let Some(content) = line.message().and_then(|m| m.content) else {
            return Fate::Skip("user_no_content");
        };
        let raw = content.get();
        if raw.starts_with('"') {
            // A plain prompt.
            self.task
                .insert(agent, self.ctx.hasher.hash("prompt", &[raw.as_bytes()]));
            return Fate::Skip(if line.is_compact_summary == Some(true) {
                "compact_summary"
            } else if line.is_meta == Some(true) {
                "meta"
            } else {
                "user_prompt"
            });
        }
        let Ok(blocks) = serde_json::from_str::<Vec<Block<'_>>>(raw) else {
            return Fate::Quarantine("unknown_shape");
        };
        let results: Vec<&Block<'_>> = blocks
            .iter()
            .filter(|b| b.kind.as_deref() == Some("tool_result"))
            .collect();
        if results.is_empty() {
            let mut parts: Vec<&[u8]> = Vec::new();
            for b in &blocks {
                if let Some(t) = b.text.as_deref() {
                    parts.push(t.as_bytes());
                }
            }
            if parts.is_empty() {
                parts.push(raw.as_bytes());
            }
            self.task
                .insert(agent, self.ctx.hasher.hash("prompt", &parts));
            return Fate::Skip(if line.is_meta == Some(true) {
                "meta"
            } else {
                "user_prompt"
            });
        }
        // What the next request answers: these tool results.
        let parts: Vec<&[u8]> = results
            .iter()
            .map(|b| b.content.map_or(&b""[..], |c| c.get().as_bytes()))
            .collect();
        self.task
            .insert(agent.clone(), self.ctx.hasher.hash("tool_results", &parts));

        let ts = match line.timestamp.as_deref().map(parse_ts) {
            None => return Fate::Quarantine("missing_timestamp"),
            Some(Err(r)) => return Fate::Quarantine(r),
            Some(Ok(t)) => t,
        };
        let session = self.session(line);
        let tur: ToolResult<'_> = match (results.len(), line.tool_use_result) {
            (1, Some(r)) => serde_json::from_str(r.get()).unwrap_or_default(),
            _ => ToolResult::default(),
        };
        let tur_text = line.tool_use_result.map_or("", |r| r.get());
        for b in &results {
            let Some(id) = b.tool_use_id.as_deref() else {
                continue;
            };
            let name = self.tool_names.get(id).cloned();
            let content_raw = b.content.map_or("", |c| c.get());
            let rejected = content_raw.contains(REJECTED)
                || (results.len() == 1 && tur_text.contains("User rejected tool use"));
            let is_edit = match name.as_deref() {
                Some(n) => EDIT_TOOLS.contains(&n),
                // Name unknown (tool use before the resume offset, or lost):
                // recognise an edit by its result.
                None => tur.structured_patch.is_some(),
            };
            let base = Ev {
                ts_us: ts,
                session: session.clone(),
                agent: agent.clone(),
                change_id: Some(id.to_string()),
                sidechain: line.is_sidechain == Some(true),
                ..Ev::default()
            };
            if rejected {
                if is_edit {
                    self.push(Ev {
                        kind: Some(EventKind::ChangeRejected),
                        key: hash_str(&format!("rejected\0{id}")),
                        ..base
                    });
                }
                continue;
            }
            if b.is_error == Some(true) || results.len() != 1 {
                continue;
            }
            let is_read = match name.as_deref() {
                Some(n) => n == "Read",
                None => tur.file.is_some(),
            };
            if is_read {
                if let Some(f) = &tur.file {
                    let path = f.file_path.as_deref().unwrap_or("");
                    let body = f.content.as_deref().unwrap_or("");
                    self.push(Ev {
                        kind: Some(EventKind::ContextLoad),
                        change_id: None,
                        context_hash: Some(
                            self.ctx
                                .hasher
                                .hash("context", &[path.as_bytes(), body.as_bytes()]),
                        ),
                        key: hash_str(&format!("load\0{id}")),
                        ..base
                    });
                }
            } else if is_edit {
                let lines = edit_lines(&tur);
                self.push(Ev {
                    kind: Some(EventKind::ChangeAccepted),
                    lines,
                    key: hash_str(&format!("change\0{id}")),
                    ..base
                });
            } else if name.as_deref().is_some_and(|n| SPAWN_TOOLS.contains(&n))
                || (name.is_none() && tur.agent_id.is_some())
            {
                if let (Some(a), Some(&i)) = (tur.agent_id.as_deref(), self.spawns.get(id)) {
                    self.out.events[i].agent = Some(a.to_string());
                }
            }
        }
        Fate::Skip("tool_result")
    }

    fn compaction(&mut self, line: &Line<'_>) -> Fate {
        let ts = match line.timestamp.as_deref().map(parse_ts) {
            None => return Fate::Quarantine("missing_timestamp"),
            Some(Err(r)) => return Fate::Quarantine(r),
            Some(Ok(t)) => t,
        };
        let session = self.session(line);
        let id = line
            .uuid
            .as_deref()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}:{}", self.ctx.path.display(), self.line));
        self.push(Ev {
            ts_us: ts,
            kind: Some(EventKind::ContextLoad),
            agent: self.agent_of(line),
            context_hash: Some(
                self.ctx
                    .hasher
                    .hash("compaction", &[session.as_bytes(), id.as_bytes()]),
            ),
            key: hash_str(&format!("compaction\0{id}")),
            session,
            ..Ev::default()
        });
        Fate::Used
    }
}

/// Lines of an edit: `+` and `-` lines of the structured patch; a created
/// file without a patch: its line count.
fn edit_lines(t: &ToolResult<'_>) -> Option<u64> {
    let patch_lines: u64 = t
        .structured_patch
        .iter()
        .flatten()
        .flat_map(|h| h.lines.iter())
        .filter(|l| l.starts_with('+') || l.starts_with('-'))
        .count() as u64;
    if patch_lines > 0 {
        return Some(patch_lines);
    }
    if t.kind.as_deref() == Some("create") {
        if let Some(c) = t.content {
            if let Ok(s) = serde_json::from_str::<String>(c.get()) {
                return Some(s.lines().count() as u64);
            }
        }
    }
    if let Some(src) = t.new_source.as_deref() {
        return Some(src.lines().count() as u64);
    }
    t.structured_patch.as_ref().map(|_| 0)
}
