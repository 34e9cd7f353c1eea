//! `cursor`: Cursor Admin API usage events (`POST /teams/filtered-usage-events`
//! pages saved as JSON), and `cursor-daily`: the Admin API's
//! `POST /teams/daily-usage-data` (per user and day).
//!
//! Based on Cursor's Admin API documentation (docs.cursor.com, "Admin API":
//! the `usageEvents[]` fields `timestamp` (epoch milliseconds as a string),
//! `userEmail`, `model`, `kind`, `maxMode`, `isTokenBasedCall`,
//! `tokenUsage.{inputTokens,outputTokens,cacheWriteTokens,cacheReadTokens,totalCents}`
//! and `cursorTokenFee`; the `data[]` fields of daily usage `date` (epoch
//! ms), `email`, `totalAccepts`, `totalRejects`, `totalApplies`,
//! `acceptedLinesAdded`, `acceptedLinesDeleted`, `agentRequests`,
//! `composerRequests`, `chatRequests`).
//!
//! `cursor`: every usage event -> one `request` of `userEmail`. Token counts
//! exist only when `isTokenBasedCall` is true (then `inputTokens` is
//! uncached input, the cache buckets are separate); otherwise the request
//! has null tokens. Cost = (`totalCents` + `cursorTokenFee`) / 100 USD.
//! Cursor gives no session id: sessions are cut per user on idle gaps
//! (`--idle-gap`, default 30 min). Events are deduplicated on a content key
//! (user, timestamp, model, kind and the token fields), so overlapping page
//! exports do not double count.
//!
//! `cursor-daily`: every user-day -> aggregate rows (schema v1.1 `n`): one
//! `request` row with n = agent + composer + chat requests, one
//! `change_accepted` row with n = `totalAccepts` and `lines` =
//! `acceptedLinesAdded` + `acceptedLinesDeleted`, one `change_rejected` row
//! with n = `totalRejects` (rows with n = 0 are not written). Applies and
//! tab completions have no canonical event and are not imported. No tokens.

use crate::formats::pages::{epoch_ms, f, for_each_item, push_event, push_rows, s};
use crate::formats::{FileCtx, FormatInfo};
use crate::record::{tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use serde_json::Value;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::Cursor,
    name: "cursor",
    source: "Cursor Admin API filtered-usage-events responses (JSON pages; one file per page or one page per line)",
    provides: "requests per user with the four token buckets (token-based calls), model, cost; sessions cut on idle gaps",
    cannot: "sessions (derived), sub-agents and spawns, context loads, changes, prompt hashes (no loops)",
    assumptions: &[
        "timestamp is epoch milliseconds (string or number)",
        "tokenUsage is present only when isTokenBasedCall; inputTokens excludes cache reads and writes",
        "cost = (totalCents + cursorTokenFee) / 100",
        "sessions: a new session after an idle gap longer than --idle-gap minutes (default 30)",
        "dedup on a content key (user, timestamp, model, kind, tokens)",
    ],
};

pub(crate) const DAILY_INFO: FormatInfo = FormatInfo {
    format: Format::CursorDaily,
    name: "cursor-daily",
    source: "Cursor Admin API daily-usage-data responses (JSON pages)",
    provides: "aggregate rows per user-day (count column n): requests (agent + composer + chat), accepted changes with lines, rejected changes",
    cannot: "tokens, cost, models, sub-agents, context loads, prompt hashes; loops, reloads, spawns and timing are unavailable for these sessions",
    assumptions: &[
        "date is epoch milliseconds of the day (UTC)",
        "requests = agentRequests + composerRequests + chatRequests",
        "accepted lines = acceptedLinesAdded + acceptedLinesDeleted",
        "one session per user-day",
    ],
};

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let _ = ctx;
    let mut out = Parsed::default();
    for_each_item(
        data,
        &["usageEvents", "events"],
        &mut out,
        |rec, it, out| push_event(out, rec, event(it), "not_an_event"),
    );
    out
}

fn event(it: &Value) -> Result<Option<Ev>, &'static str> {
    if !it.is_object() {
        return Err("unknown_shape");
    }
    let ts = epoch_ms(it.get("timestamp").ok_or("missing_timestamp")?)?;
    let user = s(it, "userEmail")
        .or_else(|| s(it, "email"))
        .ok_or("missing_user")?;
    let model = s(it, "model");
    let kind = s(it, "kind").unwrap_or_default();
    let token_based = it.get("isTokenBasedCall").and_then(Value::as_bool) == Some(true);
    let tu = it.get("tokenUsage").filter(|_| token_based);
    let tok = |k: &str| tokens(tu.and_then(|t| t.get(k)));
    let (i, o, cr, cw) = (
        tok("inputTokens")?,
        tok("outputTokens")?,
        tok("cacheReadTokens")?,
        tok("cacheWriteTokens")?,
    );
    let cents = tu.and_then(|t| f(t, "totalCents"));
    let fee = f(it, "cursorTokenFee");
    let cost = match (cents, fee) {
        (None, None) => None,
        (a, b) => Some((a.unwrap_or(0.0) + b.unwrap_or(0.0)) / 100.0),
    };
    if cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
        return Err("invalid_cost");
    }
    let key = hash_str(&format!(
        "cursor\0{user}\0{ts}\0{}\0{kind}\0{i:?}\0{o:?}\0{cr:?}\0{cw:?}",
        model.as_deref().unwrap_or("")
    ));
    Ok(Some(Ev {
        ts_us: ts,
        user: Some(user),
        kind: Some(EventKind::Request),
        model,
        input: i,
        output: o,
        cache_read: cr,
        cache_write: cw,
        cost_usd: cost,
        key,
        ..Ev::default()
    }))
}

pub(crate) fn parse_daily(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let _ = ctx;
    let mut out = Parsed::default();
    for_each_item(data, &["data", "dailyUsage"], &mut out, |rec, it, out| {
        push_rows(out, rec, daily(it));
    });
    out
}

fn count(it: &Value, k: &str) -> Result<u64, &'static str> {
    Ok(tokens(it.get(k))?.unwrap_or(0))
}

fn daily(it: &Value) -> Result<Vec<Ev>, &'static str> {
    if !it.is_object() {
        return Err("unknown_shape");
    }
    let ts = epoch_ms(it.get("date").ok_or("missing_timestamp")?)?;
    let user = s(it, "email")
        .or_else(|| s(it, "userEmail"))
        .ok_or("missing_user")?;
    let requests =
        count(it, "agentRequests")? + count(it, "composerRequests")? + count(it, "chatRequests")?;
    let accepts = count(it, "totalAccepts")?;
    let rejects = count(it, "totalRejects")?;
    let lines = count(it, "acceptedLinesAdded")? + count(it, "acceptedLinesDeleted")?;
    let session = format!("cursor-daily-{:016x}", hash_str(&format!("{user}\0{ts}")));
    let mk = |kind: EventKind, n: u64, lines: Option<u64>| Ev {
        ts_us: ts,
        user: Some(user.clone()),
        session: session.clone(),
        kind: Some(kind),
        lines,
        n: Some(n),
        key: hash_str(&format!("cursor-daily\0{user}\0{ts}\0{}", kind.as_str())),
        weight: n,
        ..Ev::default()
    };
    let mut v = Vec::new();
    if requests > 0 {
        v.push(mk(EventKind::Request, requests, None));
    }
    if accepts > 0 {
        v.push(mk(EventKind::ChangeAccepted, accepts, Some(lines)));
    }
    if rejects > 0 {
        v.push(mk(EventKind::ChangeRejected, rejects, None));
    }
    Ok(v)
}
