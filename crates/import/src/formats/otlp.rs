//! Shared reading of OTLP JSON files (the OpenTelemetry protocol's JSON
//! encoding, as the collector's `file` exporter and the SDKs' OTLP/HTTP JSON
//! file exporters write it): one `Export{Logs,Trace}ServiceRequest` per line.
//!
//! Based on the OTLP specification ("OTLP/HTTP JSON Protobuf Encoding",
//! opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) and the
//! `opentelemetry-proto` message definitions (`common.proto`: `KeyValue`,
//! `AnyValue`): attributes are lists of `{"key", "value": {"stringValue" |
//! "intValue" | "doubleValue" | "boolValue" | "arrayValue" | "kvlistValue" |
//! "bytesValue"}}`; 64-bit integers (`intValue`, `*UnixNano`) are JSON
//! strings in the proto3 JSON mapping, though some writers use numbers; ids
//! (`traceId`, `spanId`) are hex strings. Both spellings are accepted, as is a
//! plain `{"key": value}` object for attributes (some console exporters).

use crate::formats::for_each_line;
use crate::record::{check_ts, Parsed};
use serde_json::Value;
use std::collections::HashMap;

/// Attributes of one record merged over its resource's (the record wins).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attrs(pub HashMap<String, Value>);

impl Attrs {
    /// Reads an OTLP attribute list (or a plain object) into `self`,
    /// replacing earlier values of the same keys.
    pub(crate) fn extend_from(&mut self, v: Option<&Value>) {
        match v {
            Some(Value::Array(list)) => {
                for kv in list {
                    let Some(k) = kv.get("key").and_then(Value::as_str) else {
                        continue;
                    };
                    if let Some(val) = kv.get("value").map(any_value) {
                        self.0.insert(k.to_string(), val);
                    }
                }
            }
            Some(Value::Object(m)) => {
                for (k, val) in m {
                    self.0.insert(k.clone(), any_value(val));
                }
            }
            _ => {}
        }
    }

    /// The value of `k` (typed wrapper removed).
    pub(crate) fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    /// A non-empty string value (numbers and booleans spelled out).
    pub(crate) fn str(&self, k: &str) -> Option<String> {
        match self.get(k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The first of `keys` with a non-empty string value.
    pub(crate) fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.str(k))
    }

    /// A float value (strings holding numbers accepted).
    pub(crate) fn f64(&self, k: &str) -> Option<f64> {
        match self.get(k)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean value (`"true"`/`"false"` strings accepted).
    pub(crate) fn bool(&self, k: &str) -> Option<bool> {
        match self.get(k)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.trim() {
                "true" | "True" | "TRUE" | "1" => Some(true),
                "false" | "False" | "FALSE" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An `AnyValue` without its type wrapper: strings, numbers and booleans as
/// JSON scalars (an `intValue` string stays a string: [`crate::record::tokens`]
/// and [`Attrs::f64`] coerce it); arrays and key-value lists as `Null` (no
/// reader needs them); a bare scalar (plain-object attributes) as it is.
fn any_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            for k in ["stringValue", "intValue", "doubleValue", "boolValue"] {
                if let Some(x) = m.get(k) {
                    return x.clone();
                }
            }
            Value::Null
        }
        other => other.clone(),
    }
}

/// Nanoseconds since the epoch (string or number; 0 = unset) -> checked
/// microseconds; `None` when unset.
pub(crate) fn nanos(v: Option<&Value>) -> Option<Result<i64, &'static str>> {
    let n: i128 = match v? {
        Value::String(s) => match s.trim().parse() {
            Ok(n) => n,
            Err(_) => return Some(Err("bad_timestamp")),
        },
        Value::Number(n) => match n.as_u64() {
            Some(u) => u as i128,
            None => return Some(Err("bad_timestamp")),
        },
        _ => return Some(Err("bad_timestamp")),
    };
    if n == 0 {
        return None;
    }
    let us = n.div_euclid(1000);
    Some(
        i64::try_from(us)
            .map_err(|_| "timestamp_out_of_bounds")
            .and_then(check_ts),
    )
}

/// One record of an OTLP file: a log record or a span with its merged
/// attributes.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    /// 1-based record number in the file.
    pub rec: u64,
    /// File line holding it.
    pub line: u64,
    /// The log record / span object.
    pub obj: &'a Value,
    /// Resource attributes overlaid with the record's own.
    pub attrs: Attrs,
}

/// Reads an OTLP JSON file: every line one export request (a whole file
/// that is one pretty-printed request is read as one document). For every
/// record under `outer[].inner[].leaf[]` (e.g. `resourceLogs`, `scopeLogs`,
/// `logRecords`) calls `f(item, out)`, which counts nothing itself.
///
/// Records are numbered in file order. A line that is not JSON is one
/// quarantined record (`malformed_json`, with its line); a document without
/// `outer` is one record: skipped as `other_signal` when it holds another
/// OTLP signal (e.g. metrics in a logs file), else quarantined
/// `unknown_shape`; a blank line is skipped (`blank_line`). Records up to
/// `from_rec` were imported by an earlier run: they are passed to `f`
/// (for state) but neither counted nor emitted; `f` is told by
/// `item.rec <= from_rec`. Sets `out.offset` and `out.last_line` (the last
/// record number) for resuming.
pub(crate) fn for_each_record(
    data: &[u8],
    from_rec: u64,
    path: [&str; 3],
    out: &mut Parsed,
    mut f: impl FnMut(&Item<'_>, &mut Parsed),
) {
    let [outer, inner, leaf] = path;
    let mut rec = 0u64;
    let mut handle_doc = |line: u64, doc: Result<Value, ()>, out: &mut Parsed, rec: &mut u64| {
        let count = |out: &mut Parsed, rec: &mut u64| -> Option<u64> {
            *rec += 1;
            (*rec > from_rec).then(|| {
                out.records += 1;
                *rec
            })
        };
        let Ok(doc) = doc else {
            if let Some(r) = count(out, rec) {
                out.quarantine_at(r, line, "malformed_json");
            }
            return;
        };
        let Some(groups) = doc.get(outer).and_then(Value::as_array) else {
            if let Some(r) = count(out, rec) {
                let other = ["resourceLogs", "resourceSpans", "resourceMetrics"]
                    .iter()
                    .any(|k| doc.get(*k).is_some());
                if other {
                    out.skip("other_signal");
                } else {
                    out.quarantine_at(r, line, "unknown_shape");
                }
            }
            return;
        };
        for g in groups {
            let mut resource = Attrs::default();
            resource.extend_from(g.get("resource").and_then(|r| r.get("attributes")));
            let scopes = g.get(inner).and_then(Value::as_array);
            for sc in scopes.into_iter().flatten() {
                let leaves = sc.get(leaf).and_then(Value::as_array);
                for obj in leaves.into_iter().flatten() {
                    *rec += 1;
                    if *rec > from_rec {
                        out.records += 1;
                    }
                    let mut attrs = resource.clone();
                    attrs.extend_from(obj.get("attributes"));
                    let item = Item {
                        rec: *rec,
                        line,
                        obj,
                        attrs,
                    };
                    f(&item, out);
                }
            }
        }
    };
    // One pretty-printed document: the first non-blank line is not JSON but
    // the whole file is.
    let first = data
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace));
    if let Some(first) = first {
        if serde_json::from_slice::<serde::de::IgnoredAny>(first).is_err() {
            if let Ok(doc) = serde_json::from_slice::<Value>(data) {
                handle_doc(1, Ok(doc), out, &mut rec);
                out.offset = data.len() as u64;
                out.last_line = rec;
                return;
            }
        }
    }
    let (offset, _) = for_each_line(data, |line, l| {
        if l.iter().all(u8::is_ascii_whitespace) {
            rec += 1;
            if rec > from_rec {
                out.records += 1;
                out.skip("blank_line");
            }
            return;
        }
        let doc = serde_json::from_slice::<Value>(l).map_err(|_| ());
        handle_doc(line, doc, out, &mut rec);
    });
    out.offset = offset;
    out.last_line = rec;
}
