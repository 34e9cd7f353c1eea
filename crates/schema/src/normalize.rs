//! Row validation: one Arrow batch -> canonical [`EventBatch`] + quarantine rows.

use crate::check::{check_events_schema, ColumnIndex, ColumnKind, EVENT_COLUMNS};
use crate::error::SchemaError;
use crate::report::Counts;
use crate::{hash_str, EventBatch, EventKind, Names, NULL_HASH};
use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, LargeStringArray, PrimitiveArray, StringArray,
    StringViewArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::{cast, take};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Int16Type, Int32Type, Int64Type, Int8Type, Schema,
    SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::record_batch::RecordBatch;
use rustc_hash::FxHashSet;
use std::sync::{Arc, OnceLock};

/// Options for row validation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Analysis window, half-open `[start_us, end_us)` in UTC microseconds
    /// since the Unix epoch. Rows outside it are quarantined as
    /// [`QuarantineReason::OutsideWindow`]. `None`: no window.
    pub window: Option<(i64, i64)>,
}

/// Why a row was quarantined instead of used.
///
/// When a row fails several checks, the first reason in the order of
/// [`QuarantineReason::ALL`] (the declaration order below) is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum QuarantineReason {
    /// `ts` is null.
    NullTs = 1,
    /// `ts` cannot be represented in microseconds since the epoch as an `i64`.
    TsOutOfRange,
    /// `user_id` is null.
    NullUserId,
    /// `session_id` is null.
    NullSessionId,
    /// `event` is null.
    NullEvent,
    /// `event` is not one of the six known kinds (exact, lower case).
    UnknownEvent,
    /// A token column or `lines` is negative.
    NegativeTokens,
    /// `lines` is larger than 4 294 967 295.
    LinesOutOfRange,
    /// `cost_usd` is negative, NaN, infinite or above 9.2e9 USD.
    InvalidCost,
    /// `n` (schema v1.1) is below 1.
    InvalidCount,
    /// `ts` lies outside the analysis window.
    OutsideWindow,
}

impl QuarantineReason {
    /// Every reason, in precedence order (first failing reason wins).
    pub const ALL: [QuarantineReason; 11] = [
        QuarantineReason::NullTs,
        QuarantineReason::TsOutOfRange,
        QuarantineReason::NullUserId,
        QuarantineReason::NullSessionId,
        QuarantineReason::NullEvent,
        QuarantineReason::UnknownEvent,
        QuarantineReason::NegativeTokens,
        QuarantineReason::LinesOutOfRange,
        QuarantineReason::InvalidCost,
        QuarantineReason::InvalidCount,
        QuarantineReason::OutsideWindow,
    ];

    /// Stable snake_case name (used in reports and the quarantine file).
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::NullTs => "null_ts",
            QuarantineReason::TsOutOfRange => "ts_out_of_range",
            QuarantineReason::NullUserId => "null_user_id",
            QuarantineReason::NullSessionId => "null_session_id",
            QuarantineReason::NullEvent => "null_event",
            QuarantineReason::UnknownEvent => "unknown_event",
            QuarantineReason::NegativeTokens => "negative_tokens",
            QuarantineReason::LinesOutOfRange => "lines_out_of_range",
            QuarantineReason::InvalidCost => "invalid_cost",
            QuarantineReason::InvalidCount => "invalid_count",
            QuarantineReason::OutsideWindow => "outside_window",
        }
    }

    /// One-line explanation (for `goodhart schema` and reports).
    pub fn description(self) -> &'static str {
        match self {
            QuarantineReason::NullTs => "ts is null",
            QuarantineReason::TsOutOfRange => "ts does not fit in i64 microseconds since 1970",
            QuarantineReason::NullUserId => "user_id is null",
            QuarantineReason::NullSessionId => "session_id is null",
            QuarantineReason::NullEvent => "event is null",
            QuarantineReason::UnknownEvent => "event is not one of the six known kinds",
            QuarantineReason::NegativeTokens => "a token column or lines is negative",
            QuarantineReason::LinesOutOfRange => "lines is above 4294967295",
            QuarantineReason::InvalidCost => {
                "cost_usd is negative, NaN, infinite or absurdly large"
            }
            QuarantineReason::InvalidCount => "n (schema v1.1 count) is below 1",
            QuarantineReason::OutsideWindow => "ts is outside the analysis window",
        }
    }

    /// Parses [`QuarantineReason::as_str`].
    pub fn parse(s: &str) -> Option<QuarantineReason> {
        QuarantineReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn from_code(c: u8) -> QuarantineReason {
        QuarantineReason::ALL[usize::from(c) - 1]
    }
}

impl std::fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of validating one Arrow batch.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The accepted rows, in input order.
    pub events: EventBatch,
    /// The quarantined rows in [`quarantine_schema`] form, in input order
    /// (zero rows when everything was accepted).
    pub quarantine: RecordBatch,
    /// Row accounting of this batch (`rows_read = accepted + quarantined`).
    pub counts: Counts,
}

/// Name of the quarantine column holding the source label.
pub const Q_SOURCE_FILE: &str = "source_file";
/// Name of the quarantine column holding the row number within the source.
pub const Q_ROW_INDEX: &str = "row_index";
/// Name of the quarantine column holding the [`QuarantineReason`].
pub const Q_REASON: &str = "reason";

fn canonical_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnKind::Text | ColumnKind::Fingerprint => DataType::Utf8,
        ColumnKind::Count => DataType::Int64,
        ColumnKind::Money => DataType::Float64,
        ColumnKind::Date => DataType::Date32,
    }
}

/// The sixteen columns of schema v1 (the quarantine file keeps these; a
/// quarantined aggregate row's `n` is not copied).
const N_V1_COLUMNS: usize = 16;

/// The fixed schema of quarantined rows.
///
/// `source_file` (Utf8), `row_index` (UInt64, row number within the file,
/// 0-based), `reason` (Utf8, a [`QuarantineReason::as_str`]), then every
/// canonical event column in canonical order, cast to its canonical type:
/// `ts` Timestamp(Microsecond, "UTC"), strings Utf8, counts Int64,
/// `cost_usd` Float64. Columns the source lacked are null.
pub fn quarantine_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let mut fields = vec![
            Field::new(Q_SOURCE_FILE, DataType::Utf8, false),
            Field::new(Q_ROW_INDEX, DataType::UInt64, false),
            Field::new(Q_REASON, DataType::Utf8, false),
        ];
        fields.extend(
            EVENT_COLUMNS[..N_V1_COLUMNS]
                .iter()
                .map(|c| Field::new(c.name, canonical_type(c.kind), true)),
        );
        Arc::new(Schema::new(fields))
    })
    .clone()
}

/// Validates one batch whose first row is row 0 of `source`.
///
/// See [`normalize_at`].
pub fn normalize(
    batch: &RecordBatch,
    opts: &ValidateOptions,
    source: &str,
) -> Result<Normalized, SchemaError> {
    normalize_at(batch, opts, source, 0)
}

/// Validates one batch whose first row is row `first_row` of `source`.
///
/// Checks the schema ([`check_events_schema`]), then every row; rows failing
/// a check go to [`Normalized::quarantine`] with the first failing
/// [`QuarantineReason`], the others to [`Normalized::events`]. Strings are
/// hashed with [`hash_str`] (dictionary arrays: once per dictionary value),
/// `cost_usd` becomes rounded nano-dollars, timestamps UTC microseconds
/// (nanoseconds are floored).
// One piece: the checks run in precedence order and each marks only rows still unmarked (the
// first failing reason wins); that order is the contract, so they stay in one sequence.
pub fn normalize_at(
    batch: &RecordBatch,
    opts: &ValidateOptions,
    source: &str,
    first_row: u64,
) -> Result<Normalized, SchemaError> {
    let schema = batch.schema();
    let idx = check_events_schema(&schema, source)?;
    let n = batch.num_rows();
    let column = |i: usize| idx.fields[i].map(|f| batch.column(f).as_ref());
    let required = |i: usize| batch.column(idx.fields[i].expect("required column checked"));

    // reasons[i] == 0: accepted; otherwise QuarantineReason code. Checks run in
    // precedence order and only mark rows still unmarked, so the first failing
    // reason wins.
    let mut reasons = vec![0u8; n];

    // 0 ts
    let ts_us = decode_ts(required(0).as_ref(), &mut reasons);
    // 1 user_id, 2 session_id
    let user_col = StrCol::new(required(1).as_ref());
    let user = user_col.map_values(|s| s.map_or(NULL_HASH, hash_str));
    mark_where(
        &mut reasons,
        &user,
        |h| h == NULL_HASH,
        QuarantineReason::NullUserId,
    );
    let session_col = StrCol::new(required(2).as_ref());
    let session = session_col.map_values(|s| s.map_or(NULL_HASH, hash_str));
    mark_where(
        &mut reasons,
        &session,
        |h| h == NULL_HASH,
        QuarantineReason::NullSessionId,
    );
    // 3 event
    const NULL_KIND: u8 = 0xFE;
    const UNKNOWN_KIND: u8 = 0xFF;
    let kind_codes = StrCol::new(required(3).as_ref()).map_values(|s| match s {
        None => NULL_KIND,
        Some(s) => EventKind::parse(s).map_or(UNKNOWN_KIND, |k| k as u8),
    });
    mark_where(
        &mut reasons,
        &kind_codes,
        |k| k == NULL_KIND,
        QuarantineReason::NullEvent,
    );
    mark_where(
        &mut reasons,
        &kind_codes,
        |k| k == UNKNOWN_KIND,
        QuarantineReason::UnknownEvent,
    );

    // 7..=10 token columns, 14 lines
    let mut negative = Vec::new();
    let mut count_col = |i: usize| match column(i) {
        Some(a) => decode_count(a, &mut negative),
        None => vec![0u64; n],
    };
    let input_tokens = count_col(7);
    let output_tokens = count_col(8);
    let cache_read_tokens = count_col(9);
    let cache_write_tokens = count_col(10);
    let lines64 = count_col(14);
    for &i in &negative {
        mark(&mut reasons, i, QuarantineReason::NegativeTokens);
    }
    mark_where(
        &mut reasons,
        &lines64,
        |l| l > u64::from(u32::MAX),
        QuarantineReason::LinesOutOfRange,
    );
    let lines: Vec<u32> = lines64
        .iter()
        .map(|&l| u32::try_from(l).unwrap_or(u32::MAX))
        .collect();

    // 15 cost_usd
    let cost_nanousd = match column(15) {
        Some(a) => decode_cost(a, &mut reasons),
        None => vec![0i64; n],
    };

    // 16 n (schema v1.1): null = single event (0), >= 1 = aggregate.
    let counts_n = match column(16) {
        Some(a) if a.null_count() < a.len() => {
            let mut neg = Vec::new();
            let mut v = decode_count(a, &mut neg);
            for &i in &neg {
                mark(&mut reasons, i, QuarantineReason::InvalidCount);
            }
            for (i, k) in v.iter_mut().enumerate() {
                if *k == 0 && !a.is_null(i) {
                    mark(&mut reasons, i, QuarantineReason::InvalidCount);
                }
            }
            v
        }
        _ => Vec::new(),
    };

    // window
    if let Some((start, end)) = opts.window {
        for (i, &t) in ts_us.iter().enumerate() {
            if !(start..end).contains(&t) {
                mark(&mut reasons, i, QuarantineReason::OutsideWindow);
            }
        }
    }

    // Optional hashed columns: 4 agent, 5 parent, 6 model, 11 task, 12 context, 13 change.
    let model_col = column(6).map(StrCol::new);
    let hashed = |i: usize| -> Result<Vec<u64>, SchemaError> {
        let Some(a) = column(i) else {
            return Ok(vec![NULL_HASH; n]);
        };
        if a.data_type().is_integer() {
            // Integer fingerprints hash as their decimal spelling so that 42 and
            // "42" agree; rare path, so one cast per batch is fine.
            let s = cast(a, &DataType::Utf8).map_err(|e| SchemaError::Arrow {
                file: source.to_string(),
                column: EVENT_COLUMNS[i].name,
                message: e.to_string(),
            })?;
            Ok(StrCol::new(s.as_ref()).map_values(|s| s.map_or(NULL_HASH, hash_str)))
        } else {
            Ok(StrCol::new(a).map_values(|s| s.map_or(NULL_HASH, hash_str)))
        }
    };
    let agent = hashed(4)?;
    let parent_agent = hashed(5)?;
    let model = match &model_col {
        Some(c) => c.map_values(|s| s.map_or(NULL_HASH, hash_str)),
        None => vec![NULL_HASH; n],
    };
    let task_hash = hashed(11)?;
    let context_hash = hashed(12)?;
    let change_id = hashed(13)?;

    let q_rows: Vec<u64> = reasons
        .iter()
        .enumerate()
        .filter(|(_, &r)| r != 0)
        .map(|(i, _)| i as u64)
        .collect();

    let keep = |i: usize| reasons[i] == 0;
    let names = Names {
        users: names_of(&user_col, &user, keep),
        sessions: names_of(&session_col, &session, keep),
        models: model_col
            .as_ref()
            .map(|c| names_of(c, &model, keep))
            .unwrap_or_default(),
    };

    let any_q = !q_rows.is_empty();
    let f = |v: Vec<u64>| if any_q { filter(v, &reasons) } else { v };
    let kind: Vec<EventKind> = kind_codes
        .iter()
        .zip(&reasons)
        .filter(|(_, &r)| r == 0)
        .map(|(&k, _)| EventKind::ALL[usize::from(k)])
        .collect();
    // Quarantine needs the decoded timestamps of the rejected rows.
    let ts_us_all = if any_q { ts_us.clone() } else { Vec::new() };
    let events = EventBatch {
        ts_us: if any_q {
            filter(ts_us, &reasons)
        } else {
            ts_us
        },
        user: f(user),
        session: f(session),
        kind,
        agent: f(agent),
        parent_agent: f(parent_agent),
        model: f(model),
        input_tokens: f(input_tokens),
        output_tokens: f(output_tokens),
        cache_read_tokens: f(cache_read_tokens),
        cache_write_tokens: f(cache_write_tokens),
        task_hash: f(task_hash),
        context_hash: f(context_hash),
        change_id: f(change_id),
        lines: if any_q {
            filter(lines, &reasons)
        } else {
            lines
        },
        cost_nanousd: if any_q {
            filter(cost_nanousd, &reasons)
        } else {
            cost_nanousd
        },
        n: if any_q && !counts_n.is_empty() {
            filter(counts_n, &reasons)
        } else {
            counts_n
        },
        presence: idx.presence(),
        names,
    };

    let mut counts = Counts {
        rows_read: n as u64,
        rows_accepted: (n - q_rows.len()) as u64,
        rows_quarantined: q_rows.len() as u64,
        ..Counts::default()
    };
    for &i in &q_rows {
        let r = QuarantineReason::from_code(reasons[i as usize]);
        *counts.reasons.entry(r.as_str().to_string()).or_insert(0) += 1;
    }

    let quarantine = if any_q {
        build_quarantine(
            batch, &idx, &reasons, &q_rows, &ts_us_all, source, first_row,
        )?
    } else {
        RecordBatch::new_empty(quarantine_schema())
    };
    Ok(Normalized {
        events,
        quarantine,
        counts,
    })
}

fn build_quarantine(
    batch: &RecordBatch,
    idx: &ColumnIndex,
    reasons: &[u8],
    q_rows: &[u64],
    ts_us: &[i64],
    source: &str,
    first_row: u64,
) -> Result<RecordBatch, SchemaError> {
    let m = q_rows.len();
    let take_idx = UInt64Array::from(q_rows.to_vec());
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            source, m,
        ))),
        Arc::new(UInt64Array::from_iter_values(
            q_rows.iter().map(|&i| first_row + i),
        )),
        Arc::new(StringArray::from_iter_values(q_rows.iter().map(|&i| {
            QuarantineReason::from_code(reasons[i as usize]).as_str()
        }))),
    ];
    for (spec, field) in EVENT_COLUMNS[..N_V1_COLUMNS].iter().zip(idx.fields) {
        let target = canonical_type(spec.kind);
        if spec.kind == ColumnKind::Timestamp {
            // From the decoded micros rather than an Arrow cast: casting a
            // tz-naive timestamp to "UTC" needs arrow's chrono-tz feature.
            let ts = q_rows.iter().map(|&i| {
                let r = reasons[i as usize];
                let bad = r == QuarantineReason::NullTs as u8
                    || r == QuarantineReason::TsOutOfRange as u8;
                (!bad).then(|| ts_us[i as usize])
            });
            cols.push(Arc::new(
                TimestampMicrosecondArray::from_iter(ts).with_timezone("UTC"),
            ));
            continue;
        }
        let arr = match field {
            None => new_null_array(&target, m),
            Some(f) => {
                let taken = take(batch.column(f).as_ref(), &take_idx, None).map_err(|e| {
                    SchemaError::Arrow {
                        file: source.to_string(),
                        column: spec.name,
                        message: e.to_string(),
                    }
                })?;
                // A value that cannot be cast (e.g. a UInt64 above i64::MAX, a
                // timestamp beyond i64 microseconds) becomes null in the
                // quarantine copy; the row itself is still reported.
                cast(&taken, &target).unwrap_or_else(|_| new_null_array(&target, m))
            }
        };
        cols.push(arr);
    }
    RecordBatch::try_new(quarantine_schema(), cols).map_err(|e| SchemaError::Arrow {
        file: source.to_string(),
        column: "reason",
        message: e.to_string(),
    })
}

fn mark(reasons: &mut [u8], i: usize, r: QuarantineReason) {
    if reasons[i] == 0 {
        reasons[i] = r as u8;
    }
}

fn mark_where<T: Copy>(reasons: &mut [u8], v: &[T], bad: impl Fn(T) -> bool, r: QuarantineReason) {
    for (slot, &x) in reasons.iter_mut().zip(v) {
        if *slot == 0 && bad(x) {
            *slot = r as u8;
        }
    }
}

fn filter<T: Copy>(v: Vec<T>, reasons: &[u8]) -> Vec<T> {
    v.into_iter()
        .zip(reasons)
        .filter(|(_, &r)| r == 0)
        .map(|(x, _)| x)
        .collect()
}

/// Distinct `(hash, string)` of the accepted rows, sorted.
fn names_of(
    col: &StrCol<'_>,
    hashes: &[u64],
    keep: impl Fn(usize) -> bool,
) -> Vec<(u64, Box<str>)> {
    let mut seen = FxHashSet::default();
    let mut out: Vec<(u64, Box<str>)> = Vec::new();
    let mut prev = NULL_HASH;
    for (i, &h) in hashes.iter().enumerate() {
        if h == NULL_HASH || h == prev || !keep(i) {
            continue;
        }
        prev = h;
        if seen.insert(h) {
            if let Some(s) = col.get(i) {
                out.push((h, s.into()));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Uniform read access to the accepted string-like array types.
enum StrCol<'a> {
    AllNull(usize),
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
    Dict {
        keys: Vec<usize>,
        nulls: Option<&'a NullBuffer>,
        values: Box<StrCol<'a>>,
    },
}

impl<'a> StrCol<'a> {
    fn new(a: &'a dyn Array) -> StrCol<'a> {
        match a.data_type() {
            DataType::Utf8 => StrCol::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => StrCol::Large(a.as_string::<i64>()),
            DataType::Utf8View => StrCol::View(a.as_string_view()),
            DataType::Dictionary(_, _) => {
                let d = a.as_any_dictionary();
                let keys = if d.values().is_empty() {
                    vec![usize::MAX; a.len()]
                } else {
                    d.normalized_keys()
                };
                StrCol::Dict {
                    keys,
                    nulls: d.keys().nulls(),
                    values: Box::new(StrCol::new(d.values().as_ref())),
                }
            }
            // DataType::Null, or anything the schema check let through as "all null".
            _ => StrCol::AllNull(a.len()),
        }
    }

    fn len(&self) -> usize {
        match self {
            StrCol::AllNull(n) => *n,
            StrCol::Utf8(a) => a.len(),
            StrCol::Large(a) => a.len(),
            StrCol::View(a) => a.len(),
            StrCol::Dict { keys, .. } => keys.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrCol::AllNull(_) => None,
            StrCol::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::View(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::Dict {
                keys,
                nulls,
                values,
            } => {
                if nulls.is_some_and(|nb| nb.is_null(i)) || keys[i] >= values.len() {
                    None
                } else {
                    values.get(keys[i])
                }
            }
        }
    }

    /// `f` of every row's value; for dictionaries `f` runs once per dictionary value.
    fn map_values<T: Copy, F: Fn(Option<&str>) -> T>(&self, f: F) -> Vec<T> {
        self.map_values_ref(&f)
    }

    fn map_values_ref<T: Copy, F: Fn(Option<&str>) -> T>(&self, f: &F) -> Vec<T> {
        match self {
            StrCol::AllNull(n) => vec![f(None); *n],
            StrCol::Utf8(a) => a.iter().map(f).collect(),
            StrCol::Large(a) => a.iter().map(f).collect(),
            StrCol::View(a) => a.iter().map(f).collect(),
            StrCol::Dict {
                keys,
                nulls,
                values,
            } => {
                let per_value = values.map_values_ref(f);
                let null = f(None);
                keys.iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        if nulls.is_some_and(|nb| nb.is_null(i)) {
                            null
                        } else {
                            per_value.get(k).copied().unwrap_or(null)
                        }
                    })
                    .collect()
            }
        }
    }
}

fn decode_ts(a: &dyn Array, reasons: &mut [u8]) -> Vec<i64> {
    fn go<T: ArrowPrimitiveType<Native = i64>>(
        a: &dyn Array,
        conv: impl Fn(i64) -> Option<i64>,
        reasons: &mut [u8],
    ) -> Vec<i64> {
        let a: &PrimitiveArray<T> = a.as_primitive::<T>();
        let nulls = a.nulls();
        a.values()
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if nulls.is_some_and(|nb| nb.is_null(i)) {
                    mark(reasons, i, QuarantineReason::NullTs);
                    return 0;
                }
                conv(v).unwrap_or_else(|| {
                    mark(reasons, i, QuarantineReason::TsOutOfRange);
                    0
                })
            })
            .collect()
    }
    match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            go::<TimestampSecondType>(a, |v| v.checked_mul(1_000_000), reasons)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            go::<TimestampMillisecondType>(a, |v| v.checked_mul(1_000), reasons)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            go::<TimestampMicrosecondType>(a, Some, reasons)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            go::<TimestampNanosecondType>(a, |v| Some(v.div_euclid(1_000)), reasons)
        }
        other => unreachable!("ts type {other} passed the schema check"),
    }
}

/// Integer column -> `u64` (null = 0); indices of negative values pushed to `negative`.
fn decode_count(a: &dyn Array, negative: &mut Vec<usize>) -> Vec<u64> {
    fn go<T: ArrowPrimitiveType>(a: &dyn Array, negative: &mut Vec<usize>) -> Vec<u64>
    where
        T::Native: TryInto<u64>,
    {
        let a: &PrimitiveArray<T> = a.as_primitive::<T>();
        let nulls = a.nulls().filter(|nb| nb.null_count() > 0);
        a.values()
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if nulls.is_some_and(|nb| nb.is_null(i)) {
                    return 0;
                }
                v.try_into().unwrap_or_else(|_| {
                    negative.push(i);
                    0
                })
            })
            .collect()
    }
    match a.data_type() {
        DataType::Int8 => go::<Int8Type>(a, negative),
        DataType::Int16 => go::<Int16Type>(a, negative),
        DataType::Int32 => go::<Int32Type>(a, negative),
        DataType::Int64 => go::<Int64Type>(a, negative),
        DataType::UInt8 => go::<UInt8Type>(a, negative),
        DataType::UInt16 => go::<UInt16Type>(a, negative),
        DataType::UInt32 => go::<UInt32Type>(a, negative),
        DataType::UInt64 => go::<UInt64Type>(a, negative),
        // DataType::Null: an all-null optional column.
        _ => vec![0; a.len()],
    }
}

/// Largest cost (USD) whose nano-dollar amount fits in an `i64` with margin.
const MAX_COST_USD: f64 = 9.2e9;

fn decode_cost(a: &dyn Array, reasons: &mut [u8]) -> Vec<i64> {
    let values: Vec<Option<f64>> = match a.data_type() {
        DataType::Float64 => a
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .collect(),
        DataType::Float32 => a
            .as_primitive::<arrow::datatypes::Float32Type>()
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        _ => vec![None; a.len()],
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            None => 0,
            Some(c) if c.is_finite() && (0.0..MAX_COST_USD).contains(&c) => {
                // In range by the guard above, so the cast cannot saturate.
                (c * 1e9).round() as i64
            }
            Some(_) => {
                mark(reasons, i, QuarantineReason::InvalidCost);
                0
            }
        })
        .collect()
}
