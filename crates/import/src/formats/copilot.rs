//! `copilot`: GitHub Copilot usage metrics, user-level reports
//! (`users-1-day` / `users-28-day` NDJSON downloads or the REST API's JSON).
//!
//! Based on GitHub's "Data available in Copilot usage metrics" reference and
//! its example user-level schema (docs.github.com/en/copilot/reference/
//! copilot-usage-metrics): one record per user and `day` with `user_login`,
//! `user_id`, `user_initiated_interaction_count`,
//! `code_generation_activity_count`, `code_acceptance_activity_count`,
//! `loc_suggested_to_add_sum`, `loc_suggested_to_delete_sum`,
//! `loc_added_sum`, `loc_deleted_sum` and `totals_by_cli` (`request_count`,
//! `token_usage.{prompt_tokens_sum,output_tokens_sum}`).
//!
//! Every user-day -> aggregate rows (schema v1.1 `n`), one session per
//! user-day: a `request` row with n = `user_initiated_interaction_count`
//! (no tokens: Copilot reports none for IDE interactions); a `request` row
//! for the CLI with n = `totals_by_cli.request_count`, `input_tokens` =
//! `prompt_tokens_sum` (Copilot reports no cache fields, so all prompt
//! tokens count as uncached input) and `output_tokens` = `output_tokens_sum`;
//! a `change_accepted` row with n = `code_acceptance_activity_count` and
//! `lines` = `loc_added_sum` + `loc_deleted_sum`. Generated-but-not-accepted
//! activity is not turned into rejections (Copilot does not report
//! rejections). The person is `user_login`, else `user_id`.

use crate::formats::pages::{day, for_each_item, push_rows, s};
use crate::formats::{FileCtx, FormatInfo};
use crate::record::{tokens, Ev, Parsed};
use crate::Format;
use goodhart_schema::{hash_str, EventKind};
use serde_json::Value;

pub(crate) const INFO: FormatInfo = FormatInfo {
    format: Format::Copilot,
    name: "copilot",
    source: "GitHub Copilot usage metrics, user level (users-1-day / users-28-day NDJSON, or JSON arrays)",
    provides: "aggregate rows per user-day (count column n): interactions, CLI requests with prompt and output tokens, accepted code generation with lines",
    cannot: "cache tokens, cost, rejections, sub-agents, context loads, prompt hashes; loops, reloads, spawns and timing are unavailable for these sessions",
    assumptions: &[
        "user_initiated_interaction_count counts requests (no tokens)",
        "CLI prompt_tokens_sum is uncached input (no cache fields are reported)",
        "accepted lines = loc_added_sum + loc_deleted_sum",
        "the person is user_login, else user_id; one session per user-day",
    ],
};

pub(crate) fn parse(ctx: &FileCtx<'_>, data: &[u8]) -> Parsed {
    let _ = ctx;
    let mut out = Parsed::default();
    for_each_item(data, &[], &mut out, |rec, it, out| {
        push_rows(out, rec, record(it));
    });
    out
}

fn record(it: &Value) -> Result<Vec<Ev>, &'static str> {
    if !it.is_object() {
        return Err("unknown_shape");
    }
    let ts = day(&s(it, "day").ok_or("missing_timestamp")?)?;
    let user = s(it, "user_login")
        .or_else(|| s(it, "user_id"))
        .ok_or("missing_user")?;
    let c =
        |v: &Value, k: &str| -> Result<u64, &'static str> { Ok(tokens(v.get(k))?.unwrap_or(0)) };
    let interactions = c(it, "user_initiated_interaction_count")?;
    let accepted = c(it, "code_acceptance_activity_count")?;
    let lines = c(it, "loc_added_sum")? + c(it, "loc_deleted_sum")?;
    let cli = it.get("totals_by_cli").filter(|v| v.is_object());
    let (cli_n, cli_in, cli_out) = match cli {
        Some(v) => {
            let tu = v.get("token_usage").cloned().unwrap_or(Value::Null);
            (
                c(v, "request_count")?,
                c(&tu, "prompt_tokens_sum")?,
                c(&tu, "output_tokens_sum")?,
            )
        }
        None => (0, 0, 0),
    };
    let session = format!("copilot-{:016x}", hash_str(&format!("{user}\0{ts}")));
    let mk = |kind: EventKind, part: &str, n: u64| Ev {
        ts_us: ts,
        user: Some(user.clone()),
        session: session.clone(),
        kind: Some(kind),
        n: Some(n),
        key: hash_str(&format!("copilot\0{user}\0{ts}\0{part}")),
        weight: n,
        ..Ev::default()
    };
    let mut v = Vec::new();
    if interactions > 0 {
        v.push(mk(EventKind::Request, "ide", interactions));
    }
    if cli_n > 0 {
        v.push(Ev {
            input: Some(cli_in),
            output: Some(cli_out),
            ..mk(EventKind::Request, "cli", cli_n)
        });
    } else if cli_in + cli_out > 0 {
        return Err("tokens_without_requests");
    }
    if accepted > 0 {
        v.push(Ev {
            lines: Some(lines),
            ..mk(EventKind::ChangeAccepted, "accepted", accepted)
        });
    }
    Ok(v)
}
