//! One module per source format.

pub(crate) mod anthropic_usage;
pub(crate) mod claude_code;
pub(crate) mod claude_code_otel;
pub(crate) mod copilot;
pub(crate) mod cursor;
pub(crate) mod cursor_csv;
pub(crate) mod openai_usage;
pub(crate) mod otel_genai;
pub(crate) mod otlp;
pub(crate) mod pages;

use crate::record::Parsed;
use crate::KeyedHasher;
use std::path::Path;

/// What a parser needs to know about the file it reads.
#[derive(Debug)]
pub(crate) struct FileCtx<'a> {
    pub path: &'a Path,
    pub hasher: &'a KeyedHasher,
    /// Records up to and including this number were imported by an earlier
    /// run: parse them for state, but emit and count nothing for them.
    pub from_line: u64,
    /// Attributes naming the person (`otel-genai`), in order.
    pub user_attributes: &'a [String],
}

/// A source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// Claude Code local transcripts (JSONL).
    ClaudeCode,
    /// Cursor Admin API usage events (JSON pages).
    Cursor,
    /// Cursor dashboard usage CSV (one person).
    CursorCsv,
    /// Cursor Admin API daily usage (aggregate rows).
    CursorDaily,
    /// OpenAI organization usage API, completions (aggregate rows).
    OpenaiUsage,
    /// GitHub Copilot usage metrics, user level (aggregate rows).
    Copilot,
    /// Anthropic Admin API messages usage report (aggregate rows).
    AnthropicUsage,
    /// Claude Code OpenTelemetry events (OTLP JSON logs).
    ClaudeCodeOtel,
    /// OpenTelemetry GenAI traces (OTLP JSON).
    OtelGenai,
}

/// What `goodhart import --list` says about a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatInfo {
    /// The format.
    pub format: Format,
    /// Its name on the command line.
    pub name: &'static str,
    /// What files it reads.
    pub source: &'static str,
    /// Features it can feed.
    pub provides: &'static str,
    /// What it cannot provide.
    pub cannot: &'static str,
    /// The rules and assumptions its reader applies.
    pub assumptions: &'static [&'static str],
}

impl Format {
    /// Every format, in `--list` order.
    pub const ALL: [Format; 9] = [
        Format::ClaudeCode,
        Format::ClaudeCodeOtel,
        Format::Cursor,
        Format::CursorCsv,
        Format::CursorDaily,
        Format::OpenaiUsage,
        Format::AnthropicUsage,
        Format::Copilot,
        Format::OtelGenai,
    ];

    /// The format's description.
    pub fn info(self) -> FormatInfo {
        match self {
            Format::ClaudeCode => claude_code::INFO,
            Format::Cursor => cursor::INFO,
            Format::CursorCsv => cursor_csv::INFO,
            Format::CursorDaily => cursor::DAILY_INFO,
            Format::OpenaiUsage => openai_usage::INFO,
            Format::Copilot => copilot::INFO,
            Format::AnthropicUsage => anthropic_usage::INFO,
            Format::ClaudeCodeOtel => claude_code_otel::INFO,
            Format::OtelGenai => otel_genai::INFO,
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Parses a command-line name.
    ///
    /// ```
    /// use goodhart_import::Format;
    /// assert_eq!(Format::parse("claude-code"), Some(Format::ClaudeCode));
    /// assert_eq!(Format::parse("nope"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }

    /// JSONL appended to over time: resume after the offset reached.
    pub(crate) fn append_only(self) -> bool {
        matches!(
            self,
            Format::ClaudeCode | Format::ClaudeCodeOtel | Format::OtelGenai
        )
    }

    /// File extensions read when a source is a directory.
    pub(crate) fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::ClaudeCode => &["jsonl"],
            Format::ClaudeCodeOtel | Format::OtelGenai => &["json", "jsonl", "ndjson"],
            Format::CursorCsv => &["csv"],
            Format::Cursor | Format::CursorDaily | Format::OpenaiUsage | Format::AnthropicUsage => {
                &["json", "jsonl"]
            }
            Format::Copilot => &["json", "jsonl", "ndjson"],
        }
    }

    /// Whether the format writes the schema v1.1 count column `n`.
    pub(crate) fn aggregate(self) -> bool {
        matches!(
            self,
            Format::CursorDaily | Format::OpenaiUsage | Format::AnthropicUsage | Format::Copilot
        )
    }

    /// True when the records carry no user, so one must come from `--user`
    /// or `--user-from-path`.
    pub fn needs_user(self) -> bool {
        matches!(self, Format::ClaudeCode | Format::CursorCsv)
    }

    pub(crate) fn parse_file(self, ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
        match self {
            Format::ClaudeCode => claude_code::parse(ctx, data),
            Format::Cursor => cursor::parse(ctx, data),
            Format::CursorCsv => cursor_csv::parse(ctx, data),
            Format::CursorDaily => cursor::parse_daily(ctx, data),
            Format::OpenaiUsage => openai_usage::parse(ctx, data),
            Format::Copilot => copilot::parse(ctx, data),
            Format::AnthropicUsage => anthropic_usage::parse(ctx, data),
            Format::ClaudeCodeOtel => claude_code_otel::parse(ctx, data),
            Format::OtelGenai => otel_genai::parse(ctx, data),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Splits JSONL into `(line number, line, end offset)`, calling `f` for each
/// complete line (and for a final unterminated line only when it is
/// complete JSON). Returns the offset reached and the last line number.
pub(crate) fn for_each_line(data: &[u8], mut f: impl FnMut(u64, &[u8])) -> (u64, u64) {
    let mut start = 0usize;
    let mut line = 0u64;
    let mut offset = 0u64;
    while start < data.len() {
        let (end, next, terminated) = match data[start..].iter().position(|&b| b == b'\n') {
            Some(p) => (start + p, start + p + 1, true),
            None => (data.len(), data.len(), false),
        };
        let mut l = &data[start..end];
        if l.last() == Some(&b'\r') {
            l = &l[..l.len() - 1];
        }
        if !terminated && serde_json::from_slice::<serde::de::IgnoredAny>(l).is_err() {
            // A line still being written: leave it for the next run.
            break;
        }
        line += 1;
        f(line, l);
        offset = next as u64;
        start = next;
    }
    (offset, line)
}
