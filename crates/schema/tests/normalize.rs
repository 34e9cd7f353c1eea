//! Row validation, quarantine and schema-variant tests with hand-computed answers.

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array,
    Int8Array, LargeStringArray, StringArray, StringViewArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt16Array,
    UInt64Array,
};
use arrow::datatypes::{DataType, Int8Type, TimeUnit, TimestampMicrosecondType, UInt16Type};
use arrow::record_batch::RecordBatch;
use goodhart_schema::{
    hash_str, normalize, normalize_at, quarantine_schema, EventKind, QuarantineReason, SchemaError,
    ValidateOptions, NULL_HASH,
};
use std::sync::Arc;

fn arr(a: impl Array + 'static) -> ArrayRef {
    Arc::new(a)
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).expect("valid test batch")
}

/// 12 rows, one per check plus a few accepted ones.
fn mixed() -> RecordBatch {
    batch(vec![
        (
            "ts",
            arr(TimestampMicrosecondArray::from(vec![
                Some(10),    // 0 ok
                None,        // 1 null_ts
                Some(20),    // 2 null_user_id
                Some(30),    // 3 null_session_id
                Some(40),    // 4 null_event
                Some(50),    // 5 unknown_event
                Some(60),    // 6 negative_tokens (input)
                Some(5_000), // 7 outside_window
                Some(70),    // 8 null user AND unknown event -> null_user_id
                Some(80),    // 9 negative lines -> negative_tokens
                Some(90),    // 10 NaN cost -> invalid_cost
                Some(99),    // 11 ok
            ])),
        ),
        (
            "user_id",
            arr(StringArray::from(vec![
                Some("ana"),
                Some("ana"),
                None,
                Some("bo"),
                Some("bo"),
                Some("bo"),
                Some("bo"),
                Some("cy"),
                None,
                Some("dee"),
                Some("dee"),
                Some("bo"),
            ])),
        ),
        (
            "session_id",
            arr(StringArray::from(vec![
                Some("s1"),
                Some("s1"),
                Some("s1"),
                None,
                Some("s2"),
                Some("s2"),
                Some("s2"),
                Some("s3"),
                Some("s3"),
                Some("s4"),
                Some("s4"),
                Some("s2"),
            ])),
        ),
        (
            "event",
            arr(StringArray::from(vec![
                Some("request"),
                Some("request"),
                Some("request"),
                Some("request"),
                None,
                Some("Request"),
                Some("request"),
                Some("request"),
                Some("nope"),
                Some("change_accepted"),
                Some("request"),
                Some("agent_spawn"),
            ])),
        ),
        (
            "input_tokens",
            arr(Int64Array::from(vec![
                Some(100),
                Some(1),
                Some(1),
                Some(1),
                Some(1),
                Some(1),
                Some(-5),
                Some(1),
                Some(1),
                None,
                Some(1),
                Some(7),
            ])),
        ),
        (
            "lines",
            arr(Int32Array::from(vec![
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                Some(-1),
                None,
                None,
            ])),
        ),
        (
            "cost_usd",
            arr(Float64Array::from(vec![
                Some(0.5),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                Some(f64::NAN),
                Some(0.25),
            ])),
        ),
    ])
}

#[test]
fn accounting_identity_and_exact_reason_counts() {
    let opts = ValidateOptions {
        window: Some((0, 1_000)),
    };
    let out = normalize(&mixed(), &opts, "f.parquet").unwrap();
    let c = &out.counts;
    assert_eq!(c.rows_read, 12);
    assert_eq!(c.rows_accepted, 2);
    assert_eq!(c.rows_quarantined, 10);
    assert!(c.is_consistent());
    let expect: Vec<(&str, u64)> = vec![
        ("invalid_cost", 1),
        ("negative_tokens", 2),
        ("null_event", 1),
        ("null_session_id", 1),
        ("null_ts", 1),
        ("null_user_id", 2),
        ("outside_window", 1),
        ("unknown_event", 1),
    ];
    let got: Vec<(&str, u64)> = c.reasons.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, expect);

    // Accepted rows 0 and 11, in order.
    let e = &out.events;
    assert_eq!(e.len(), 2);
    assert_eq!(e.ts_us, vec![10, 99]);
    assert_eq!(e.user, vec![hash_str("ana"), hash_str("bo")]);
    assert_eq!(e.session, vec![hash_str("s1"), hash_str("s2")]);
    assert_eq!(e.kind, vec![EventKind::Request, EventKind::AgentSpawn]);
    assert_eq!(e.input_tokens, vec![100, 7]);
    assert_eq!(e.output_tokens, vec![0, 0]); // column absent
    assert_eq!(e.lines, vec![0, 0]);
    assert_eq!(e.cost_nanousd, vec![500_000_000, 250_000_000]);
    assert_eq!(e.agent, vec![NULL_HASH, NULL_HASH]);
    // Names only from accepted rows: "cy" and "dee" were quarantined.
    let mut users: Vec<(u64, &str)> = vec![(hash_str("ana"), "ana"), (hash_str("bo"), "bo")];
    users.sort();
    let got_users: Vec<(u64, &str)> = e.names.users.iter().map(|(h, s)| (*h, &**s)).collect();
    assert_eq!(got_users, users);
    assert!(e.names.models.is_empty());
    assert!(e.presence.input_tokens && e.presence.lines && e.presence.cost_usd);
    assert!(!e.presence.output_tokens && !e.presence.model && !e.presence.agent_id);
}

#[test]
fn quarantine_rows_keep_source_row_and_canonical_types() {
    let opts = ValidateOptions {
        window: Some((0, 1_000)),
    };
    let out = normalize_at(&mixed(), &opts, "events/part-0.parquet", 1_000).unwrap();
    let q = &out.quarantine;
    assert_eq!(q.schema(), quarantine_schema());
    assert_eq!(q.num_rows(), 10);
    let rows: Vec<u64> = q
        .column(1)
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .values()
        .to_vec();
    assert_eq!(
        rows,
        vec![1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010]
    );
    let reasons: Vec<&str> = q.column(2).as_string::<i32>().iter().flatten().collect();
    assert_eq!(
        reasons,
        vec![
            "null_ts",
            "null_user_id",
            "null_session_id",
            "null_event",
            "unknown_event",
            "negative_tokens",
            "outside_window",
            "null_user_id",
            "negative_tokens",
            "invalid_cost"
        ]
    );
    assert!(q
        .column(0)
        .as_string::<i32>()
        .iter()
        .all(|s| s == Some("events/part-0.parquet")));
    let by_name = |n: &str| q.column(q.schema().index_of(n).unwrap()).clone();
    assert_eq!(
        by_name("ts").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let ts = by_name("ts");
    let ts = ts.as_primitive::<TimestampMicrosecondType>();
    assert!(ts.is_null(0));
    assert_eq!(ts.value(6), 5_000);
    let input = by_name("input_tokens");
    assert_eq!(
        input.as_primitive::<arrow::datatypes::Int64Type>().value(5),
        -5
    );
    let event = by_name("event");
    assert_eq!(event.as_string::<i32>().value(4), "Request");
    // Absent column: all null, canonical type.
    let model = by_name("model");
    assert_eq!(model.data_type(), &DataType::Utf8);
    assert_eq!(model.null_count(), 10);
    assert!(by_name("cost_usd")
        .as_primitive::<arrow::datatypes::Float64Type>()
        .value(9)
        .is_nan());
}

#[test]
fn nothing_quarantined_gives_empty_quarantine_batch() {
    let b = batch(vec![
        ("ts", arr(TimestampMicrosecondArray::from(vec![1, 2]))),
        ("user_id", arr(StringArray::from(vec!["a", "a"]))),
        ("session_id", arr(StringArray::from(vec!["s", "s"]))),
        (
            "event",
            arr(StringArray::from(vec!["request", "context_load"])),
        ),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "x").unwrap();
    assert_eq!(out.counts.rows_accepted, 2);
    assert!(out.counts.reasons.is_empty());
    assert_eq!(out.quarantine.num_rows(), 0);
    assert_eq!(out.quarantine.schema(), quarantine_schema());
    assert_eq!(out.events.names.users.len(), 1);
    assert_eq!(
        out.events.kind,
        vec![EventKind::Request, EventKind::ContextLoad]
    );
}

fn ts_variant(ts: ArrayRef) -> Vec<i64> {
    let n = ts.len();
    let b = batch(vec![
        ("ts", ts),
        ("user_id", arr(StringArray::from(vec!["u"; n]))),
        ("session_id", arr(StringArray::from(vec!["s"; n]))),
        ("event", arr(StringArray::from(vec!["request"; n]))),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "t").unwrap();
    assert_eq!(out.counts.rows_accepted, n as u64);
    out.events.ts_us
}

#[test]
fn timestamps_of_every_unit_and_utc_zone_become_micros() {
    // 2023-11-14T22:13:20Z = 1_700_000_000 s.
    let want = vec![1_700_000_000_000_000, -1_000_000];
    assert_eq!(
        ts_variant(arr(TimestampSecondArray::from(vec![1_700_000_000, -1]))),
        want
    );
    assert_eq!(
        ts_variant(arr(TimestampMillisecondArray::from(vec![
            1_700_000_000_000,
            -1_000
        ])
        .with_timezone("UTC"))),
        want
    );
    assert_eq!(
        ts_variant(arr(TimestampNanosecondArray::from(vec![
            1_700_000_000_000_000_000,
            -1_000_000_000
        ])
        .with_timezone("+00:00"))),
        want
    );
    assert_eq!(
        ts_variant(arr(TimestampMicrosecondArray::from(vec![
            1_700_000_000_000_000,
            -1_000_000
        ])
        .with_timezone("Etc/UTC"))),
        want
    );
    // Nanoseconds are floored, also before 1970.
    assert_eq!(
        ts_variant(arr(TimestampNanosecondArray::from(vec![1_999, -1]))),
        vec![1, -1]
    );
}

#[test]
fn seconds_timestamp_overflowing_micros_is_quarantined() {
    let b = batch(vec![
        (
            "ts",
            arr(TimestampSecondArray::from(vec![i64::MAX / 10, 5])),
        ),
        ("user_id", arr(StringArray::from(vec!["u", "u"]))),
        ("session_id", arr(StringArray::from(vec!["s", "s"]))),
        ("event", arr(StringArray::from(vec!["request", "request"]))),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "t").unwrap();
    assert_eq!(out.counts.reasons["ts_out_of_range"], 1);
    assert_eq!(out.events.ts_us, vec![5_000_000]);
}

#[test]
fn string_variants_hash_identically() {
    let users = ["ana", "bo", "ana", "cy"];
    let events = ["request", "agent_spawn", "request", "change_reverted"];
    let base = |user: ArrayRef, event: ArrayRef, session: ArrayRef| {
        batch(vec![
            ("ts", arr(TimestampMicrosecondArray::from(vec![1, 2, 3, 4]))),
            ("user_id", user),
            ("session_id", session),
            ("event", event),
        ])
    };
    let plain = base(
        arr(StringArray::from(users.to_vec())),
        arr(StringArray::from(events.to_vec())),
        arr(StringArray::from(vec!["s"; 4])),
    );
    let dict_i8: DictionaryArray<Int8Type> = users.iter().copied().collect();
    // Dictionary with UInt16 keys over LargeUtf8 values, and a Utf8View.
    let dict_u16 = DictionaryArray::<UInt16Type>::try_new(
        UInt16Array::from(vec![0, 1, 0, 2]),
        arr(LargeStringArray::from(vec![
            "request",
            "agent_spawn",
            "change_reverted",
        ])),
    )
    .unwrap();
    let variant = base(
        arr(dict_i8),
        arr(dict_u16),
        arr(StringViewArray::from(vec!["s"; 4])),
    );
    let large = base(
        arr(LargeStringArray::from(users.to_vec())),
        arr(LargeStringArray::from(events.to_vec())),
        arr(LargeStringArray::from(vec!["s"; 4])),
    );
    let o = ValidateOptions::default();
    let a = normalize(&plain, &o, "a").unwrap().events;
    let b = normalize(&variant, &o, "b").unwrap().events;
    let c = normalize(&large, &o, "c").unwrap().events;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(
        a.user,
        vec![
            hash_str("ana"),
            hash_str("bo"),
            hash_str("ana"),
            hash_str("cy")
        ]
    );
    assert_eq!(
        a.kind,
        vec![
            EventKind::Request,
            EventKind::AgentSpawn,
            EventKind::Request,
            EventKind::ChangeReverted
        ]
    );
    assert_eq!(a.names.users.len(), 3);
    assert_eq!(a.names.sessions.len(), 1);
}

#[test]
fn dictionary_null_keys_and_null_values_are_null() {
    let users = DictionaryArray::<Int8Type>::try_new(
        Int8Array::from(vec![Some(0), None, Some(1)]),
        arr(StringArray::from(vec![Some("ana"), None])),
    )
    .unwrap();
    let b = batch(vec![
        ("ts", arr(TimestampMicrosecondArray::from(vec![1, 2, 3]))),
        ("user_id", arr(users)),
        ("session_id", arr(StringArray::from(vec!["s"; 3]))),
        ("event", arr(StringArray::from(vec!["request"; 3]))),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "d").unwrap();
    assert_eq!(out.counts.reasons["null_user_id"], 2);
    assert_eq!(out.events.user, vec![hash_str("ana")]);
}

#[test]
fn narrow_integer_tokens_float32_cost_and_unknown_columns() {
    let b = batch(vec![
        ("ts", arr(TimestampMicrosecondArray::from(vec![1, 2]))),
        ("user_id", arr(StringArray::from(vec!["u", "u"]))),
        ("session_id", arr(StringArray::from(vec!["s", "s"]))),
        (
            "event",
            arr(StringArray::from(vec!["request", "change_accepted"])),
        ),
        (
            "input_tokens",
            arr(Int32Array::from(vec![Some(1_000), None])),
        ),
        ("output_tokens", arr(UInt16Array::from(vec![65_535, 3]))),
        (
            "cache_read_tokens",
            arr(UInt64Array::from(vec![u64::MAX, 0])),
        ),
        ("lines", arr(Int8Array::from(vec![None, Some(12)]))),
        ("cost_usd", arr(Float32Array::from(vec![0.5, 2.0]))),
        (
            "prompt_text_we_never_read",
            arr(StringArray::from(vec!["x", "y"])),
        ),
        ("extra_int", arr(Float64Array::from(vec![1.0, 2.0]))),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "n").unwrap();
    let e = out.events;
    assert_eq!(e.input_tokens, vec![1_000, 0]);
    assert_eq!(e.output_tokens, vec![65_535, 3]);
    assert_eq!(e.cache_read_tokens, vec![u64::MAX, 0]);
    assert_eq!(e.cache_write_tokens, vec![0, 0]);
    assert_eq!(e.lines, vec![0, 12]);
    assert_eq!(e.cost_nanousd, vec![500_000_000, 2_000_000_000]);
    assert!(e.presence.input_tokens && e.presence.output_tokens && e.presence.cache_read_tokens);
    assert!(!e.presence.cache_write_tokens && !e.presence.task_hash && !e.presence.change_id);
}

#[test]
fn cost_rounds_to_nearest_nano_and_rejects_negative() {
    let b = batch(vec![
        ("ts", arr(TimestampMicrosecondArray::from(vec![1, 2, 3, 4]))),
        ("user_id", arr(StringArray::from(vec!["u"; 4]))),
        ("session_id", arr(StringArray::from(vec!["s"; 4]))),
        ("event", arr(StringArray::from(vec!["request"; 4]))),
        (
            "cost_usd",
            arr(Float64Array::from(vec![
                0.123456789,
                1.0000000004,
                2.0000000006,
                -0.01,
            ])),
        ),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "c").unwrap();
    assert_eq!(
        out.events.cost_nanousd,
        vec![123_456_789, 1_000_000_000, 2_000_000_001]
    );
    assert_eq!(out.counts.reasons["invalid_cost"], 1);
}

#[test]
fn integer_fingerprints_hash_like_their_decimal_text() {
    let mk = |task: ArrayRef| {
        batch(vec![
            ("ts", arr(TimestampMicrosecondArray::from(vec![1, 2]))),
            ("user_id", arr(StringArray::from(vec!["u"; 2]))),
            ("session_id", arr(StringArray::from(vec!["s"; 2]))),
            ("event", arr(StringArray::from(vec!["request"; 2]))),
            ("task_hash", task),
        ])
    };
    let o = ValidateOptions::default();
    let a = normalize(&mk(arr(Int64Array::from(vec![Some(42), None]))), &o, "a").unwrap();
    let b = normalize(&mk(arr(StringArray::from(vec![Some("42"), None]))), &o, "b").unwrap();
    assert_eq!(a.events.task_hash, vec![hash_str("42"), NULL_HASH]);
    assert_eq!(a.events.task_hash, b.events.task_hash);
}

#[test]
fn window_is_half_open() {
    let b = batch(vec![
        (
            "ts",
            arr(TimestampMicrosecondArray::from(vec![99, 100, 199, 200])),
        ),
        ("user_id", arr(StringArray::from(vec!["u"; 4]))),
        ("session_id", arr(StringArray::from(vec!["s"; 4]))),
        ("event", arr(StringArray::from(vec!["request"; 4]))),
    ]);
    let out = normalize(
        &b,
        &ValidateOptions {
            window: Some((100, 200)),
        },
        "w",
    )
    .unwrap();
    assert_eq!(out.events.ts_us, vec![100, 199]);
    assert_eq!(out.counts.reasons["outside_window"], 2);
}

fn required_only() -> Vec<(&'static str, ArrayRef)> {
    vec![
        ("ts", arr(TimestampMicrosecondArray::from(vec![1]))),
        ("user_id", arr(StringArray::from(vec!["u"]))),
        ("session_id", arr(StringArray::from(vec!["s"]))),
        ("event", arr(StringArray::from(vec!["request"]))),
    ]
}

#[test]
fn wrong_type_error_names_file_column_type_and_fix() {
    let mut cols = required_only();
    cols.push(("input_tokens", arr(StringArray::from(vec!["12"]))));
    let err = normalize(
        &batch(cols),
        &ValidateOptions::default(),
        "events/date=2026-10-05/part-0.parquet",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "events/date=2026-10-05/part-0.parquet: column \"input_tokens\" has type Utf8; \
         expected an integer type (Int8..Int64, UInt8..UInt64). Fix: cast it to Int64 when exporting."
    );
    assert!(matches!(
        err,
        SchemaError::WrongType {
            column: "input_tokens",
            ..
        }
    ));
}

#[test]
fn missing_required_column_lists_columns_found() {
    let cols: Vec<_> = required_only()
        .into_iter()
        .filter(|(n, _)| *n != "session_id")
        .collect();
    let err = normalize(&batch(cols), &ValidateOptions::default(), "a.parquet").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "a.parquet: missing required column \"session_id\" (columns found: \"ts\", \"user_id\", \"event\")."
        ),
        "{msg}"
    );
    assert!(
        msg.contains("Fix: export the column \"session_id\""),
        "{msg}"
    );
}

#[test]
fn non_utc_time_zone_and_float_tokens_are_rejected() {
    let mut cols = required_only();
    cols[0].1 = arr(TimestampMicrosecondArray::from(vec![1]).with_timezone("America/New_York"));
    let err = normalize(&batch(cols), &ValidateOptions::default(), "tz.parquet").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tz.parquet: column \"ts\" has type {}; expected a timestamp (Timestamp of unit s, ms, us or ns; \
             time zone absent or UTC). Fix: convert the timestamps to UTC and export them with time zone \
             \"UTC\" (or none).",
            DataType::Timestamp(TimeUnit::Microsecond, Some("America/New_York".into()))
        )
    );

    let mut cols = required_only();
    cols.push(("cost_usd", arr(Int64Array::from(vec![1]))));
    let err = normalize(&batch(cols), &ValidateOptions::default(), "c.parquet").unwrap_err();
    assert!(err.to_string().starts_with(
        "c.parquet: column \"cost_usd\" has type Int64; expected a floating-point type"
    ));

    // Float token counts: a vendor export with `input_tokens` as doubles is
    // refused, not truncated. Caught when floating-point types were added to
    // the accepted count types.
    let mut cols = required_only();
    cols.push(("input_tokens", arr(Float64Array::from(vec![2.7]))));
    let err = normalize(&batch(cols), &ValidateOptions::default(), "f.parquet").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "f.parquet: column \"input_tokens\" has type Float64; expected an integer type"
        ),
        "{err}"
    );
}

#[test]
fn reason_names_are_stable_and_in_precedence_order() {
    let names: Vec<&str> = QuarantineReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "null_ts",
            "ts_out_of_range",
            "null_user_id",
            "null_session_id",
            "null_event",
            "unknown_event",
            "negative_tokens",
            "lines_out_of_range",
            "invalid_cost",
            "invalid_count",
            "outside_window"
        ]
    );
    for r in QuarantineReason::ALL {
        assert_eq!(QuarantineReason::parse(r.as_str()), Some(r));
    }
}

#[test]
fn count_column_n_schema_v1_1() {
    let b = batch(vec![
        (
            "ts",
            arr(TimestampMicrosecondArray::from(vec![1, 2, 3, 4, 5])),
        ),
        ("user_id", arr(StringArray::from(vec!["u"; 5]))),
        ("session_id", arr(StringArray::from(vec!["s"; 5]))),
        ("event", arr(StringArray::from(vec!["request"; 5]))),
        (
            "n",
            arr(Int64Array::from(vec![
                Some(3),
                None,
                Some(0),
                Some(-2),
                Some(1),
            ])),
        ),
    ]);
    let out = normalize(&b, &ValidateOptions::default(), "n.parquet").unwrap();
    assert_eq!(out.counts.rows_accepted, 3);
    assert_eq!(out.counts.reasons["invalid_count"], 2);
    // 0 = a single event (null n); k = an aggregate of k events.
    assert_eq!(out.events.n, vec![3, 0, 1]);
    assert_eq!(
        (0..3).map(|i| out.events.count(i)).collect::<Vec<_>>(),
        vec![3, 1, 1]
    );
    assert!(
        out.events.is_aggregate(0) && !out.events.is_aggregate(1) && out.events.is_aggregate(2)
    );
    // No n column, or an all-null one: the v1 case, no per-row counts kept.
    let plain = normalize(&batch(required_only()), &ValidateOptions::default(), "p").unwrap();
    assert!(plain.events.n.is_empty());
    let mut cols = required_only();
    cols.push(("n", arr(Int64Array::from(vec![None::<i64>]))));
    let nulls = normalize(&batch(cols), &ValidateOptions::default(), "q").unwrap();
    assert!(nulls.events.n.is_empty());
    assert_eq!(nulls.counts.rows_accepted, 1);
}
