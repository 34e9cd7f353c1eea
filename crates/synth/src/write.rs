//! Parquet output: fixed writer properties so equal data gives equal bytes.

use crate::gen::{Ev, SessionLabel};
use crate::plan::Plan;
use crate::SynthError;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, StringBuilder,
    StringDictionaryBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use goodhart_schema::{col, EventKind};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// goodhart's deterministic writer settings, with the generator's row groups.
pub(crate) fn writer_properties(max_row_group_rows: usize) -> WriterProperties {
    goodhart_io::deterministic_writer_properties(format!(
        "goodhart-synth {}",
        env!("CARGO_PKG_VERSION")
    ))
    .set_max_row_group_row_count(Some(max_row_group_rows.max(1)))
    .build()
}

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The events schema written by the generator (canonical schema v1).
pub fn events_schema() -> Schema {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, true);
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    Schema::new(vec![
        Field::new(
            col::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(col::USER_ID, dict(), false),
        Field::new(col::SESSION_ID, dict(), false),
        Field::new(col::EVENT, dict(), false),
        utf8(col::AGENT_ID),
        utf8(col::PARENT_AGENT_ID),
        utf8(col::MODEL),
        int(col::INPUT_TOKENS),
        int(col::OUTPUT_TOKENS),
        int(col::CACHE_READ_TOKENS),
        int(col::CACHE_WRITE_TOKENS),
        utf8(col::TASK_HASH),
        utf8(col::CONTEXT_HASH),
        utf8(col::CHANGE_ID),
        int(col::LINES),
        Field::new(col::COST_USD, DataType::Float64, true),
    ])
}

/// `s-<8 hex>`.
pub(crate) fn session_str(sess: u32) -> String {
    format!("s-{sess:08x}")
}

fn write_file(path: &Path, batch: &RecordBatch, rows_per_group: usize) -> Result<(), SynthError> {
    let file = std::fs::File::create(path).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pq = |source| SynthError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut w = ArrowWriter::try_new(
        std::io::BufWriter::new(file),
        batch.schema(),
        Some(writer_properties(rows_per_group)),
    )
    .map_err(pq)?;
    w.write(batch).map_err(pq)?;
    w.close().map_err(pq)?;
    Ok(())
}

fn batch(path: &Path, schema: Schema, cols: Vec<ArrayRef>) -> Result<RecordBatch, SynthError> {
    RecordBatch::try_new(Arc::new(schema), cols).map_err(|source| SynthError::Arrow {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes one partition file; `events` must already be sorted.
pub(crate) fn write_events(path: &Path, plan: &Plan, events: &[Ev]) -> Result<(), SynthError> {
    let n = events.len();
    let mut user = StringDictionaryBuilder::<Int32Type>::new();
    let mut session = StringDictionaryBuilder::<Int32Type>::new();
    let mut event = StringDictionaryBuilder::<Int32Type>::new();
    let mut agent = StringBuilder::with_capacity(n, n * 8);
    let mut parent = StringBuilder::with_capacity(n, n);
    let mut model = StringBuilder::with_capacity(n, n * 12);
    let mut task = StringBuilder::with_capacity(n, n * 16);
    let mut context = StringBuilder::with_capacity(n, n * 2);
    let mut change = StringBuilder::with_capacity(n, n * 2);
    let mut buf = String::with_capacity(32);
    let tokens = |f: fn(&Ev) -> u32| -> ArrayRef {
        Arc::new(
            events
                .iter()
                .map(|e| e.has_tokens.then(|| f(e) as i64))
                .collect::<Int64Array>(),
        )
    };
    for e in events {
        user.append_value(&plan.users[e.user as usize].id);
        buf.clear();
        let _ = write!(buf, "s-{:08x}", e.sess);
        session.append_value(&buf);
        event.append_value(e.kind.as_str());
        if e.agent == 0 {
            agent.append_null();
        } else {
            buf.clear();
            let _ = write!(buf, "a-{:08x}-{:x}", e.sess, e.agent);
            agent.append_value(&buf);
        }
        if e.kind == EventKind::AgentSpawn && e.parent != 0 {
            buf.clear();
            let _ = write!(buf, "a-{:08x}-{:x}", e.sess, e.parent);
            parent.append_value(&buf);
        } else {
            parent.append_null();
        }
        model.append_option(e.model.map(|m| m.as_str()));
        for (b, h) in [(&mut task, e.task), (&mut context, e.context)] {
            if h == 0 {
                b.append_null();
            } else {
                buf.clear();
                let _ = write!(buf, "{h:016x}");
                b.append_value(&buf);
            }
        }
        if e.change == 0 {
            change.append_null();
        } else {
            buf.clear();
            let _ = write!(buf, "c-{:08x}{:04x}", e.sess, e.change);
            change.append_value(&buf);
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(events.iter().map(|e| e.ts).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(user.finish()),
        Arc::new(session.finish()),
        Arc::new(event.finish()),
        Arc::new(agent.finish()),
        Arc::new(parent.finish()),
        Arc::new(model.finish()),
        tokens(|e| e.input),
        tokens(|e| e.output),
        tokens(|e| e.cache_read),
        tokens(|e| e.cache_write),
        Arc::new(task.finish()),
        Arc::new(context.finish()),
        Arc::new(change.finish()),
        Arc::new(
            events
                .iter()
                .map(|e| (e.lines > 0).then_some(e.lines as i64))
                .collect::<Int64Array>(),
        ),
        Arc::new(
            events
                .iter()
                .map(|e| match (e.has_tokens, e.model) {
                    (true, Some(m)) => Some(m.cost_usd(
                        e.input as u64,
                        e.output as u64,
                        e.cache_read as u64,
                        e.cache_write as u64,
                    )),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
    ];
    let b = batch(path, events_schema(), cols)?;
    write_file(path, &b, plan.cfg.max_row_group_rows)
}

/// `users.parquet`: the roster.
pub(crate) fn write_users(path: &Path, plan: &Plan) -> Result<(), SynthError> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let u = &plan.users;
    let schema = Schema::new(vec![
        Field::new(col::USER_ID, DataType::Utf8, false),
        Field::new("team", DataType::Utf8, true),
        Field::new("role", DataType::Utf8, true),
        Field::new("start_date", DataType::Date32, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            u.iter()
                .map(|x| Some(x.id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            u.iter()
                .map(|x| Some(plan.cfg.teams[x.team].name.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(u.iter().map(|x| Some(x.role)).collect::<StringArray>()),
        Arc::new(
            u.iter()
                .map(|x| x.start_date.map(|d| (d - epoch).num_days() as i32))
                .collect::<Date32Array>(),
        ),
    ];
    let b = batch(path, schema, cols)?;
    write_file(path, &b, plan.cfg.max_row_group_rows)
}

/// The first two columns of the per-person label files: `user_id` and
/// `archetype`, one row per person in id order.
fn person_columns(u: &[crate::plan::UserPlan]) -> (Vec<Field>, Vec<ArrayRef>) {
    let fields = vec![
        Field::new(col::USER_ID, DataType::Utf8, false),
        Field::new("archetype", DataType::Utf8, false),
    ];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            u.iter()
                .map(|x| Some(x.id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            u.iter()
                .map(|x| Some(x.archetype.as_str()))
                .collect::<StringArray>(),
        ),
    ];
    (fields, cols)
}

/// `labels.parquet`: each person's archetype, whether it games, and whether
/// it is a hard negative (legitimate but heavy by volume).
pub(crate) fn write_labels(path: &Path, plan: &Plan) -> Result<(), SynthError> {
    let u = &plan.users;
    let (mut fields, mut cols) = person_columns(u);
    fields.push(Field::new("is_gaming", DataType::Boolean, false));
    fields.push(Field::new("hard_negative", DataType::Boolean, false));
    cols.extend::<[ArrayRef; 2]>([
        Arc::new(
            u.iter()
                .map(|x| Some(x.archetype.is_gaming()))
                .collect::<BooleanArray>(),
        ),
        Arc::new(
            u.iter()
                .map(|x| Some(x.archetype.is_hard_negative()))
                .collect::<BooleanArray>(),
        ),
    ]);
    let b = batch(path, Schema::new(fields), cols)?;
    write_file(path, &b, plan.cfg.max_row_group_rows)
}

/// `session_labels.parquet`; `sessions` must be sorted by id.
pub(crate) fn write_session_labels(
    path: &Path,
    plan: &Plan,
    sessions: &[SessionLabel],
) -> Result<(), SynthError> {
    let schema = Schema::new(vec![
        Field::new(col::SESSION_ID, DataType::Utf8, false),
        Field::new(col::USER_ID, DataType::Utf8, false),
        Field::new("is_gaming", DataType::Boolean, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            sessions
                .iter()
                .map(|s| Some(session_str(s.sess)))
                .collect::<StringArray>(),
        ),
        Arc::new(
            sessions
                .iter()
                .map(|s| Some(plan.users[s.user as usize].id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            sessions
                .iter()
                .map(|s| Some(s.gaming))
                .collect::<BooleanArray>(),
        ),
    ];
    let b = batch(path, schema, cols)?;
    write_file(path, &b, plan.cfg.max_row_group_rows)
}

/// `waste_labels.parquet` (#11, hidden waste truth): `user_id`, `archetype`,
/// `added_tokens` (UInt64: tokens the person's gaming behaviour added over
/// what they would have used honestly; 0 for legitimate people), one row per
/// person in id order.
pub(crate) fn write_waste_labels(
    path: &Path,
    plan: &Plan,
    sessions: &[SessionLabel],
) -> Result<(), SynthError> {
    let mut added = vec![0u64; plan.users.len()];
    for s in sessions {
        added[s.user as usize] += s.added;
    }
    let u = &plan.users;
    let (mut fields, mut cols) = person_columns(u);
    fields.push(Field::new("added_tokens", DataType::UInt64, false));
    cols.push(Arc::new(arrow::array::UInt64Array::from(
        u.iter()
            .map(|x| added[x.idx as usize])
            .collect::<Vec<u64>>(),
    )));
    let b = batch(path, Schema::new(fields), cols)?;
    write_file(path, &b, plan.cfg.max_row_group_rows)
}
