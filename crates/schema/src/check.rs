//! Arrow schema checking against the canonical schema v1.

use crate::error::SchemaError;
use crate::{col, Presence};
use arrow::datatypes::{DataType, Schema};
use serde::Serialize;

/// What kind of values a canonical column holds (and so which Arrow types it accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ColumnKind {
    /// Timestamp of any unit, time zone absent or UTC-equivalent.
    Timestamp,
    /// Text: Utf8, LargeUtf8, Utf8View or a dictionary of those.
    Text,
    /// A non-negative count: any signed or unsigned integer type.
    Count,
    /// A fingerprint or reference: text (as [`ColumnKind::Text`]) or any integer type.
    Fingerprint,
    /// Money: Float64 (Float32 accepted).
    Money,
    /// Calendar date: Date32 (Date64 and Timestamp accepted).
    Date,
}

impl ColumnKind {
    /// The accepted Arrow types, in words (used in errors and docs).
    pub fn expected(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => {
                "a timestamp (Timestamp of unit s, ms, us or ns; time zone absent or UTC)"
            }
            ColumnKind::Text => {
                "a string type (Utf8, LargeUtf8, Utf8View or Dictionary<integer, Utf8>)"
            }
            ColumnKind::Count => "an integer type (Int8..Int64, UInt8..UInt64)",
            ColumnKind::Fingerprint => {
                "a string type (Utf8, LargeUtf8, Utf8View, Dictionary<integer, Utf8>) or an integer type"
            }
            ColumnKind::Money => "a floating-point type (Float64 or Float32)",
            ColumnKind::Date => "a date (Date32; Date64 or Timestamp also accepted)",
        }
    }

    /// How to repair an export whose column has the wrong type.
    pub fn fix(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => {
                "convert it to a UTC timestamp (e.g. Timestamp(Microsecond, \"UTC\")) when exporting."
            }
            ColumnKind::Text => "cast it to a string (Utf8) when exporting.",
            ColumnKind::Count => "cast it to Int64 when exporting.",
            ColumnKind::Fingerprint => "cast it to a string (Utf8) when exporting.",
            ColumnKind::Money => "cast it to Float64 (US dollars) when exporting.",
            ColumnKind::Date => "cast it to Date32 when exporting.",
        }
    }
}

/// Description of one canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ColumnSpec {
    /// Column name.
    pub name: &'static str,
    /// Whether the column must be present (and non-null in every accepted row).
    pub required: bool,
    /// What the column holds.
    pub kind: ColumnKind,
    /// What the column means.
    pub description: &'static str,
}

/// Number of canonical event columns.
pub const N_EVENT_COLUMNS: usize = 17;

/// The canonical event columns of schema v1.1, in canonical order (v1's
/// sixteen, then v1.1's optional count column `n`).
pub const EVENT_COLUMNS: [ColumnSpec; N_EVENT_COLUMNS] = [
    spec(col::TS, true, ColumnKind::Timestamp, "Event time (UTC; tz-naive is read as UTC)."),
    spec(col::USER_ID, true, ColumnKind::Text, "The person."),
    spec(col::SESSION_ID, true, ColumnKind::Text, "One assistant session."),
    spec(
        col::EVENT,
        true,
        ColumnKind::Text,
        "Event kind: request, agent_spawn, context_load, change_accepted, change_rejected, change_reverted.",
    ),
    spec(col::AGENT_ID, false, ColumnKind::Text, "Agent that made the request / the spawned agent; null = main agent."),
    spec(col::PARENT_AGENT_ID, false, ColumnKind::Text, "Spawning agent; null = main agent."),
    spec(col::MODEL, false, ColumnKind::Text, "Model name."),
    spec(col::INPUT_TOKENS, false, ColumnKind::Count, "Uncached input tokens (excludes cache reads and writes); null = 0."),
    spec(col::OUTPUT_TOKENS, false, ColumnKind::Count, "Output tokens (reasoning included); null = 0."),
    spec(col::CACHE_READ_TOKENS, false, ColumnKind::Count, "Input tokens served from the prompt cache; null = 0."),
    spec(col::CACHE_WRITE_TOKENS, false, ColumnKind::Count, "Input tokens written to the prompt cache; null = 0."),
    spec(col::TASK_HASH, false, ColumnKind::Fingerprint, "Fingerprint of a request's prompt or a spawned agent's task (never the text)."),
    spec(col::CONTEXT_HASH, false, ColumnKind::Fingerprint, "Fingerprint of what a context_load brings in."),
    spec(col::CHANGE_ID, false, ColumnKind::Fingerprint, "Reference of the change an accept/reject/revert is about."),
    spec(col::LINES, false, ColumnKind::Count, "Change size in lines; null = 0."),
    spec(col::COST_USD, false, ColumnKind::Money, "Billed cost in US dollars; null = unknown."),
    spec(
        col::N,
        false,
        ColumnKind::Count,
        "Schema v1.1: the row stands for n events of its kind (an aggregate, e.g. one user-day of a vendor report), with the row's tokens, lines and cost their totals; null or absent = one single event; must be >= 1. Features that need single events (loops, reloads, spawns) are null for sessions with aggregate rows.",
    ),
];

/// The roster (`users.parquet`) columns of schema v1.
pub const ROSTER_COLUMNS: [ColumnSpec; 4] = [
    spec(
        "user_id",
        true,
        ColumnKind::Text,
        "The person, as in the events' user_id.",
    ),
    spec(
        "team",
        false,
        ColumnKind::Text,
        "Team: the default peer cohort.",
    ),
    spec("role", false, ColumnKind::Text, "Role or job family."),
    spec(
        "start_date",
        false,
        ColumnKind::Date,
        "First day at the company (tenure).",
    ),
];

const fn spec(
    name: &'static str,
    required: bool,
    kind: ColumnKind,
    description: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        name,
        required,
        kind,
        description,
    }
}

/// Positions of the canonical event columns within an Arrow schema.
///
/// Entry `i` refers to [`EVENT_COLUMNS`]`[i]`; `None` means the (optional)
/// column is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnIndex {
    /// Field index of each canonical column, in canonical order.
    pub fields: [Option<usize>; N_EVENT_COLUMNS],
}

impl ColumnIndex {
    /// Field indices of the canonical columns present, ascending (for a
    /// Parquet projection).
    pub fn present_fields(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.fields.iter().flatten().copied().collect();
        v.sort_unstable();
        v
    }

    /// Which optional columns are present.
    pub fn presence(&self) -> Presence {
        let p = |name: &str| {
            let i = EVENT_COLUMNS
                .iter()
                .position(|c| c.name == name)
                .expect("canonical column");
            self.fields[i].is_some()
        };
        Presence {
            agent_id: p(col::AGENT_ID),
            parent_agent_id: p(col::PARENT_AGENT_ID),
            model: p(col::MODEL),
            input_tokens: p(col::INPUT_TOKENS),
            output_tokens: p(col::OUTPUT_TOKENS),
            cache_read_tokens: p(col::CACHE_READ_TOKENS),
            cache_write_tokens: p(col::CACHE_WRITE_TOKENS),
            task_hash: p(col::TASK_HASH),
            context_hash: p(col::CONTEXT_HASH),
            change_id: p(col::CHANGE_ID),
            lines: p(col::LINES),
            cost_usd: p(col::COST_USD),
        }
    }
}

/// True when `tz` names UTC (or a zero offset).
pub fn is_utc_equivalent(tz: &str) -> bool {
    const UTC: [&str; 15] = [
        "utc",
        "z",
        "zulu",
        "gmt",
        "universal",
        "etc/utc",
        "etc/gmt",
        "etc/universal",
        "etc/zulu",
        "etc/uct",
        "uct",
        "+00:00",
        "-00:00",
        "+0000",
        "+00",
    ];
    let t = tz.trim().to_ascii_lowercase();
    UTC.contains(&t.as_str())
}

fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(k, v) => {
            k.is_integer()
                && matches!(
                    **v,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
        }
        _ => false,
    }
}

/// Whether `dt` is acceptable for a column of kind `kind`.
///
/// Optional columns also accept the Arrow `Null` type (an all-null column).
pub fn accepts(kind: ColumnKind, dt: &DataType, required: bool) -> bool {
    if !required && *dt == DataType::Null {
        return true;
    }
    match kind {
        ColumnKind::Timestamp => match dt {
            DataType::Timestamp(_, None) => true,
            DataType::Timestamp(_, Some(tz)) => is_utc_equivalent(tz),
            _ => false,
        },
        ColumnKind::Text => is_text(dt),
        ColumnKind::Count => dt.is_integer(),
        ColumnKind::Fingerprint => is_text(dt) || dt.is_integer(),
        ColumnKind::Money => matches!(dt, DataType::Float64 | DataType::Float32),
        ColumnKind::Date => matches!(
            dt,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
        ),
    }
}

/// Comma-separated, quoted column names of `schema` (for error messages).
pub(crate) fn found_columns(schema: &Schema) -> String {
    if schema.fields().is_empty() {
        return "none".to_string();
    }
    schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn check_column(
    spec: &ColumnSpec,
    schema: &Schema,
    file: &str,
) -> Result<Option<usize>, SchemaError> {
    let Some(i) = schema.fields().iter().position(|f| f.name() == spec.name) else {
        if spec.required {
            return Err(SchemaError::MissingColumn {
                file: file.to_string(),
                column: spec.name,
                expected: spec.kind.expected(),
                found: found_columns(schema),
            });
        }
        return Ok(None);
    };
    let dt = schema.field(i).data_type();
    if !accepts(spec.kind, dt, spec.required) {
        let fix = match (spec.kind, dt) {
            (ColumnKind::Timestamp, DataType::Timestamp(_, Some(_))) => {
                "convert the timestamps to UTC and export them with time zone \"UTC\" (or none)."
            }
            _ => spec.kind.fix(),
        };
        return Err(SchemaError::WrongType {
            file: file.to_string(),
            column: spec.name,
            found: dt.to_string(),
            expected: spec.kind.expected(),
            fix,
        });
    }
    Ok(Some(i))
}

/// Checks an events table's Arrow schema against the canonical schema v1.
///
/// Required columns must be present; every canonical column that is present
/// must have an accepted type (see [`ColumnKind::expected`]); unknown columns
/// are ignored. `file` labels the table in error messages.
///
/// ```
/// use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
/// use goodhart_schema::check_events_schema;
/// let s = Schema::new(vec![
///     Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
///     Field::new("user_id", DataType::Utf8, false),
///     Field::new("session_id", DataType::Utf8, false),
///     Field::new("event", DataType::Utf8, false),
///     Field::new("input_tokens", DataType::Utf8, true),
/// ]);
/// let err = check_events_schema(&s, "a.parquet").unwrap_err().to_string();
/// assert!(err.starts_with("a.parquet: column \"input_tokens\" has type Utf8; expected an integer type"));
/// ```
pub fn check_events_schema(schema: &Schema, file: &str) -> Result<ColumnIndex, SchemaError> {
    let mut fields = [None; N_EVENT_COLUMNS];
    for (slot, spec) in fields.iter_mut().zip(EVENT_COLUMNS.iter()) {
        *slot = check_column(spec, schema, file)?;
    }
    Ok(ColumnIndex { fields })
}
