//! Roster reading and schema description tests.

use arrow::array::{
    ArrayRef, Date32Array, DictionaryArray, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use goodhart_schema::{describe_schema, hash_str, roster_from_batches, schema_json, EVENT_COLUMNS};
use std::sync::Arc;

fn arr(a: impl arrow::array::Array + 'static) -> ArrayRef {
    Arc::new(a)
}

#[test]
fn roster_reads_dictionary_team_and_dates() {
    let team: DictionaryArray<Int32Type> =
        vec![Some("infra"), None, Some("web")].into_iter().collect();
    let b = RecordBatch::try_from_iter([
        ("user_id", arr(StringArray::from(vec!["u1", "u2", "u3"]))),
        ("team", arr(team)),
        (
            "role",
            arr(StringArray::from(vec![Some("sre"), Some("pm"), None])),
        ),
        // 19_000 days after 1970-01-01 = 2022-01-08.
        (
            "start_date",
            arr(Date32Array::from(vec![Some(19_000), None, Some(0)])),
        ),
        ("ignored", arr(Int64Array::from(vec![1, 2, 3]))),
    ])
    .unwrap();
    let b = b.clone();
    let r = roster_from_batches(&[b], "users.parquet").unwrap();
    assert_eq!(r.len(), 3);
    let u1 = r.get(hash_str("u1")).unwrap();
    assert_eq!(u1.team.as_deref(), Some("infra"));
    assert_eq!(u1.role.as_deref(), Some("sre"));
    assert_eq!(u1.start_date, NaiveDate::from_ymd_opt(2022, 1, 8));
    let u2 = r.get(hash_str("u2")).unwrap();
    assert_eq!((u2.team.as_deref(), u2.start_date), (None, None));
    assert_eq!(
        r.get(hash_str("u3")).unwrap().start_date,
        NaiveDate::from_ymd_opt(1970, 1, 1)
    );
}

#[test]
fn roster_accepts_timestamp_start_date_and_first_duplicate_wins() {
    let b1 = RecordBatch::try_from_iter([
        ("user_id", arr(StringArray::from(vec!["u1"]))),
        ("team", arr(StringArray::from(vec!["a"]))),
        // 1 day + 1 ms after the epoch -> 1970-01-02.
        (
            "start_date",
            arr(TimestampMillisecondArray::from(vec![86_400_001])),
        ),
    ])
    .unwrap();
    let b2 = RecordBatch::try_from_iter([
        ("user_id", arr(StringArray::from(vec!["u1"]))),
        ("team", arr(StringArray::from(vec!["b"]))),
        ("start_date", arr(TimestampMillisecondArray::from(vec![0]))),
    ])
    .unwrap();
    let r = roster_from_batches(&[b1, b2], "users.parquet").unwrap();
    assert_eq!(r.len(), 1);
    let u = r.get(hash_str("u1")).unwrap();
    assert_eq!(u.team.as_deref(), Some("a"));
    assert_eq!(u.start_date, NaiveDate::from_ymd_opt(1970, 1, 2));
}

#[test]
fn roster_errors_name_file_and_row() {
    let b = RecordBatch::try_from_iter([("team", arr(StringArray::from(vec!["a"])))]).unwrap();
    let e = roster_from_batches(&[b], "users.parquet")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "users.parquet: missing required column \"user_id\" (columns found: \"team\")."
        ),
        "{e}"
    );
    let b =
        RecordBatch::try_from_iter([("user_id", arr(StringArray::from(vec![Some("a"), None])))])
            .unwrap();
    let e = roster_from_batches(&[b.clone(), b], "users.parquet")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("users.parquet: row 1 has a null \"user_id\""),
        "{e}"
    );
    let b = RecordBatch::try_from_iter([("user_id", arr(Int64Array::from(vec![1])))]).unwrap();
    let e = roster_from_batches(&[b], "users.parquet")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("users.parquet: column \"user_id\" has type Int64; expected a string type"),
        "{e}"
    );
}

#[test]
fn describe_lists_every_column_and_json_agrees() {
    let d = describe_schema();
    for c in EVENT_COLUMNS {
        assert!(
            d.contains(&format!("| `{}` |", c.name)),
            "{} missing",
            c.name
        );
    }
    assert!(d.contains("| `start_date` | no |"));
    assert!(d.contains("| `ts` | yes |"));
    let j = schema_json();
    assert_eq!(j["events"].as_array().unwrap().len(), 17);
    assert_eq!(j["events"][16]["name"], "n");
    assert_eq!(j["roster"].as_array().unwrap().len(), 4);
    assert_eq!(j["events"][7]["name"], "input_tokens");
    assert_eq!(j["events"][7]["kind"], "count");
    assert_eq!(j["quarantine_reasons"][0]["reason"], "null_ts");
}
