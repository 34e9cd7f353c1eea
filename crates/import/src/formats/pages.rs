//! Shared reading of JSON page files (one API response per file, or one
//! JSON document per line) and of small JSON fields.

use crate::record::{check_ts, Ev, Parsed};
use serde_json::Value;

/// Calls `f(record number, item)` for every item of the array found at the
/// first of `keys` present in each JSON document of `data`.
///
/// A file is either one JSON document (a page as the API returned it) or
/// several, one per line (pages appended to one file, or NDJSON records when
/// `keys` is empty: then each line is one item). A document that is not
/// JSON, or has none of `keys`, is one quarantined record.
pub(crate) fn for_each_item(
    data: &[u8],
    keys: &[&str],
    out: &mut Parsed,
    mut f: impl FnMut(u64, &Value, &mut Parsed),
) {
    let mut rec = 0u64;
    let mut docs: Vec<Result<Value, ()>> = Vec::new();
    match serde_json::from_slice::<Value>(data) {
        Ok(v) => docs.push(Ok(v)),
        Err(_) => {
            for l in data.split(|&b| b == b'\n') {
                if l.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                docs.push(serde_json::from_slice::<Value>(l).map_err(|_| ()));
            }
        }
    }
    let whole_is_items = keys.is_empty();
    for d in docs {
        let Ok(doc) = d else {
            rec += 1;
            out.records += 1;
            out.quarantine(rec, "malformed_json");
            continue;
        };
        if whole_is_items {
            let items: Vec<&Value> = match &doc {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for it in items {
                rec += 1;
                out.records += 1;
                f(rec, it, out);
            }
            continue;
        }
        let arr = keys
            .iter()
            .find_map(|k| doc.get(*k))
            .and_then(Value::as_array);
        match arr {
            Some(a) => {
                for it in a {
                    rec += 1;
                    out.records += 1;
                    f(rec, it, out);
                }
            }
            None => {
                rec += 1;
                out.records += 1;
                out.quarantine(rec, "unknown_shape");
            }
        }
    }
    out.offset = data.len() as u64;
    out.last_line = rec;
}

/// A string field (numbers are spelled out).
pub(crate) fn s(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A float field (strings holding numbers accepted).
pub(crate) fn f(v: &Value, k: &str) -> Option<f64> {
    match v.get(k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Epoch milliseconds (number or string) -> checked microseconds.
pub(crate) fn epoch_ms(v: &Value) -> Result<i64, &'static str> {
    let ms: i64 = match v {
        Value::Number(n) => n.as_i64().ok_or("bad_timestamp")?,
        Value::String(s) => s.trim().parse().map_err(|_| "bad_timestamp")?,
        _ => return Err("bad_timestamp"),
    };
    check_ts(ms.checked_mul(1000).ok_or("timestamp_out_of_bounds")?)
}

/// Epoch seconds (number or string) -> checked microseconds.
pub(crate) fn epoch_s(v: &Value) -> Result<i64, &'static str> {
    let sec: i64 = match v {
        Value::Number(n) => n.as_i64().ok_or("bad_timestamp")?,
        Value::String(s) => s.trim().parse().map_err(|_| "bad_timestamp")?,
        _ => return Err("bad_timestamp"),
    };
    check_ts(
        sec.checked_mul(1_000_000)
            .ok_or("timestamp_out_of_bounds")?,
    )
}

/// A `YYYY-MM-DD` day -> its midnight UTC, checked.
pub(crate) fn day(s: &str) -> Result<i64, &'static str> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| "bad_timestamp")?;
    check_ts(
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros(),
    )
}

/// Records the outcome of one record that yields aggregate rows: its events
/// (used), none (skipped as `no_activity`) or a quarantine reason.
pub(crate) fn push_rows(out: &mut Parsed, rec: u64, r: Result<Vec<Ev>, &'static str>) {
    match r {
        Ok(evs) if evs.is_empty() => out.skip("no_activity"),
        Ok(evs) => {
            for mut e in evs {
                e.line = rec;
                out.events.push(e);
            }
            out.used_lines.push(rec);
        }
        Err(reason) => out.quarantine(rec, reason),
    }
}
