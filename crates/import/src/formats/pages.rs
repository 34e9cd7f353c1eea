//! Shared reading of JSON page files (one API response per file, or one
//! JSON document per line) and of small JSON fields.

use crate::record::{check_ts, Ev, Parsed};
use serde_json::Value;

/// The JSON documents of a page file: the whole file when it is one JSON
/// document (a page as the API returned it), else one per non-blank line
/// (pages appended to one file, or NDJSON records); `Err(line)` for a line
/// that is not JSON.
fn documents(data: &[u8]) -> Vec<Result<Value, u64>> {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        return vec![Ok(v)];
    }
    let mut docs = Vec::new();
    for (i, l) in data.split(|&b| b == b'\n').enumerate() {
        if l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        docs.push(serde_json::from_slice::<Value>(l).map_err(|_| i as u64 + 1));
    }
    docs
}

/// The shared page reader: calls `f(record number, item, out)` for every
/// item of the array found at the first of `keys` present in each JSON
/// document of `data` (see [`documents`]); with `keys` empty each document
/// (or each element of a top-level array) is one item.
///
/// Records are numbered 1, 2, ... in file order. A document that is not JSON
/// (`malformed_json`, with its file line) or has none of `keys`
/// (`unknown_shape`) is one quarantined record; reading goes on with the
/// next document. Sets `out.offset` (whole file) and `out.last_line`.
pub(crate) fn for_each_item(
    data: &[u8],
    keys: &[&str],
    out: &mut Parsed,
    mut f: impl FnMut(u64, &Value, &mut Parsed),
) {
    for_each_document(data, out, |doc, out| {
        if keys.is_empty() {
            let items: Vec<&Value> = match &doc {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for it in items {
                let rec = out.next_record();
                f(rec, it, out);
            }
            return;
        }
        let arr = keys
            .iter()
            .find_map(|k| doc.get(*k))
            .and_then(Value::as_array);
        match arr {
            Some(a) => {
                for it in a {
                    let rec = out.next_record();
                    f(rec, it, out);
                }
            }
            None => {
                let rec = out.next_record();
                out.quarantine(rec, "unknown_shape");
            }
        }
    });
}

/// Calls `f` for every JSON document of `data` (see [`documents`]); a line
/// that is not JSON is one quarantined record (`malformed_json`, with its
/// line). Sets `out.offset` (the whole file) and `out.last_line`.
fn for_each_document(data: &[u8], out: &mut Parsed, mut f: impl FnMut(&Value, &mut Parsed)) {
    for d in documents(data) {
        match d {
            Ok(doc) => f(&doc, out),
            Err(line) => {
                let rec = out.next_record();
                out.quarantine_at(rec, line, "malformed_json");
            }
        }
    }
    out.offset = data.len() as u64;
    out.last_line = out.records;
}

/// Records the outcome of one record that yields at most one event: the
/// event (used), none (skipped as `none_kind`) or a quarantine reason.
pub(crate) fn push_event(
    out: &mut Parsed,
    rec: u64,
    r: Result<Option<Ev>, &'static str>,
    none_kind: &str,
) {
    match r {
        Ok(Some(e)) => push_rows(out, rec, Ok(vec![e])),
        Ok(None) => out.skip(none_kind),
        Err(reason) => out.quarantine(rec, reason),
    }
}

/// Reads usage-report pages made of time buckets (`{"data": [bucket...],
/// "has_more", "next_page"}`, each bucket `{start_key, "results": [...]}`),
/// as the OpenAI and Anthropic usage APIs return them: every result is one
/// record, passed to `f(bucket start, result)`; its outcome is recorded as
/// by [`push_event`] (none: skipped `empty_result`). A bucket without
/// results is one record skipped as `empty_bucket`; a bucket whose start is
/// missing or bad, or without a `results` array, is one quarantined record.
/// Page order does not matter: results are deduplicated by the core on the
/// key `f` gives them, so overlapping or repeated pages add nothing.
pub(crate) fn for_each_bucket_result(
    data: &[u8],
    out: &mut Parsed,
    start_key: &str,
    start: impl Fn(&Value) -> Result<i64, &'static str>,
    mut f: impl FnMut(i64, &Value) -> Result<Option<Ev>, &'static str>,
) {
    for_each_document(data, out, |doc, out| {
        let Some(buckets) = doc.get("data").and_then(Value::as_array) else {
            let rec = out.next_record();
            out.quarantine(rec, "unknown_shape");
            return;
        };
        for bucket in buckets {
            let ts = bucket.get(start_key).map(&start);
            match (ts, bucket.get("results").and_then(Value::as_array)) {
                (Some(Ok(ts)), Some(rs)) => {
                    if rs.is_empty() {
                        out.next_record();
                        out.skip("empty_bucket");
                    }
                    for r in rs {
                        let rec = out.next_record();
                        let ev = if r.is_object() {
                            f(ts, r)
                        } else {
                            Err("unknown_shape")
                        };
                        push_event(out, rec, ev, "empty_result");
                    }
                }
                (Some(Err(reason)), _) => {
                    let rec = out.next_record();
                    out.quarantine(rec, reason);
                }
                (None, _) => {
                    let rec = out.next_record();
                    out.quarantine(rec, "missing_timestamp");
                }
                (Some(Ok(_)), None) => {
                    let rec = out.next_record();
                    out.quarantine(rec, "unknown_shape");
                }
            }
        }
    });
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
