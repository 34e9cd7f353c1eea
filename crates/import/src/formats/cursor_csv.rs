//! `cursor-csv`: the usage-events CSV a person downloads from Cursor's
//! dashboard (Settings -> Usage -> Export CSV).
//!
//! Columns (header names as Cursor writes them): `Date`, `Kind`, `Model`,
//! `Max Mode`, `Input (w/ Cache Write)`, `Input (w/o Cache Write)`,
//! `Cache Read`, `Output Tokens`, `Total Tokens`, `Cost`. One row per request
//! of the person who exported it (`--user`). `Input (w/ Cache Write)` is
//! input written to the cache (-> `cache_write_tokens`), `Input (w/o Cache
//! Write)` plain uncached input (-> `input_tokens`), `Cache Read` cache
//! reads (-> `cache_read_tokens`); the four token columns must add up to
//! `Total Tokens`, rows where they do not are quarantined
//! (`tokens_do_not_add_up`). `Cost` in USD (a leading `$` is accepted;
//! `Included`, `-` or empty = unknown). Sessions are cut on idle gaps as for
//! `cursor`. Rows are deduplicated on a content key (date, kind, model,
//! tokens), so overlapping exports do not double count.

use crate::formats::{FileCtx, FormatInfo};
use crate::record::{parse_ts, Ev, Parsed, MAX_TOKENS};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::CursorCsv,
    name: "cursor-csv",
    source: "the usage-events CSV exported from Cursor's dashboard (one person: give --user)",
    provides: "requests with the four token buckets, model, cost; sessions cut on idle gaps",
    cannot: "the user (give --user), sub-agents and spawns, context loads, changes, prompt hashes (no loops)",
    assumptions: &[
        "Input (w/ Cache Write) = cache writes, Input (w/o Cache Write) = uncached input, Cache Read = cache reads",
        "the four token columns add up to Total Tokens (rows that do not are quarantined)",
        "Date is RFC 3339 (a date-time without offset is UTC)",
        "sessions: a new session after an idle gap longer than --idle-gap minutes (default 30)",
    ],
};

fn num(s: &str) -> Result<Option<u64>, &'static str> {
    let t = s.trim().replace(',', "");
    if t.is_empty() || t == "-" {
        return Ok(None);
    }
    let v: f64 = t.parse().map_err(|_| "bad_token_count")?;
    if !v.is_finite() || v.fract() != 0.0 {
        return Err("bad_token_count");
    }
    if v < 0.0 {
        return Err("negative_tokens");
    }
    if v > MAX_TOKENS as f64 {
        return Err("absurd_tokens");
    }
    Ok(Some(v as u64))
}

fn ts_of(s: &str) -> Result<i64, &'static str> {
    parse_ts(s).or_else(|e| {
        // Accept a date-time without offset as UTC.
        let t = s.trim();
        for f in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S",
        ] {
            if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, f) {
                return crate::record::check_ts(d.and_utc().timestamp_micros());
            }
        }
        Err(e)
    })
}

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let _ = ctx;
    let mut out = Parsed::default();
    if data.iter().all(u8::is_ascii_whitespace) {
        out.offset = data.len() as u64;
        return out;
    }
    let text = String::from_utf8_lossy(data);
    let mut rows = crate::csvread::records(&text).into_iter();
    let Some(Ok(headers)) = rows.next() else {
        out.records = 1;
        out.quarantine(1, "malformed_csv");
        out.offset = data.len() as u64;
        out.last_line = 1;
        return out;
    };
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(n))
    };
    let cols = (
        col("Date"),
        col("Kind"),
        col("Model"),
        col("Input (w/ Cache Write)"),
        col("Input (w/o Cache Write)"),
        col("Cache Read"),
        col("Output Tokens"),
        col("Total Tokens"),
        col("Cost"),
    );
    let mut rec = 0u64;
    for row in rows {
        rec += 1;
        out.records += 1;
        let Ok(row) = row else {
            out.quarantine(rec, "malformed_csv");
            continue;
        };
        let get = |c: Option<usize>| c.and_then(|i| row.get(i)).map_or("", String::as_str);
        let r = (|| -> Result<Ev, &'static str> {
            let date = get(cols.0);
            if date.trim().is_empty() {
                return Err("missing_timestamp");
            }
            let ts = ts_of(date)?;
            let cw = num(get(cols.3))?;
            let i = num(get(cols.4))?;
            let cr = num(get(cols.5))?;
            let o = num(get(cols.6))?;
            let total = num(get(cols.7))?;
            let sum = [cw, i, cr, o].iter().flatten().sum::<u64>();
            if let Some(t) = total {
                if t != sum {
                    return Err("tokens_do_not_add_up");
                }
            }
            let cost_s = get(cols.8).trim().trim_start_matches('$').replace(',', "");
            let cost = match cost_s.parse::<f64>() {
                Ok(c) if c.is_finite() && c >= 0.0 => Some(c),
                Ok(_) => return Err("invalid_cost"),
                Err(_) => None,
            };
            let model = Some(get(cols.2).trim().to_string()).filter(|m| !m.is_empty());
            let kind = get(cols.1).trim();
            Ok(Ev {
                ts_us: ts,
                kind: Some(EventKind::Request),
                model: model.clone(),
                input: i,
                output: o,
                cache_read: cr,
                cache_write: cw,
                cost_usd: cost,
                key: hash_str(&format!(
                    "cursor-csv\0{ts}\0{kind}\0{}\0{i:?}\0{o:?}\0{cr:?}\0{cw:?}",
                    model.as_deref().unwrap_or("")
                )),
                ..Ev::default()
            })
        })();
        match r {
            Ok(mut e) => {
                e.line = rec;
                out.events.push(e);
                out.used_lines.push(rec);
            }
            Err(reason) => out.quarantine(rec, reason),
        }
    }
    out.offset = data.len() as u64;
    out.last_line = rec;
    out
}
