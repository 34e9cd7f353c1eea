//! A tiny organisation: one honest user, one tokenmaxxer. Prints the user
//! table so the waste ratios can be compared side by side.
//!
//! Run with `cargo run -p goodhart-features --example features_demo`.

use arrow::util::pretty::pretty_format_batches;
use goodhart_features::{features, FeatureOptions};
use goodhart_schema::{hash_str, EventBatch, EventKind, Presence};

const T0: i64 = 1_717_405_200_000_000; // Monday 2024-06-03 09:00 UTC
const MIN: i64 = 60_000_000;

fn push(
    b: &mut EventBatch,
    user: &str,
    minute: i64,
    kind: EventKind,
    task: &str,
    ctx: &str,
    tok: (u64, u64, u64, u64),
) {
    let h = |s: &str| if s.is_empty() { 0 } else { hash_str(s) };
    b.ts_us.push(T0 + minute * MIN);
    b.user.push(hash_str(user));
    b.session.push(hash_str(&format!("{user}-s1")));
    b.kind.push(kind);
    b.agent.push(0);
    b.parent_agent.push(0);
    b.model.push(hash_str("claude-sonnet-4"));
    b.input_tokens.push(tok.0);
    b.output_tokens.push(tok.1);
    b.cache_read_tokens.push(tok.2);
    b.cache_write_tokens.push(tok.3);
    b.task_hash.push(h(task));
    b.context_hash.push(h(ctx));
    b.change_id.push(0);
    b.lines.push(if kind == EventKind::ChangeAccepted {
        40
    } else {
        0
    });
    b.cost_nanousd.push(0);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = EventBatch {
        presence: Presence::ALL,
        ..EventBatch::default()
    };
    // Honest: loads the repo once (cache write), works from the cache, ships.
    push(
        &mut b,
        "honest",
        0,
        EventKind::ContextLoad,
        "",
        "repo",
        (0, 0, 0, 20_000),
    );
    for m in 1..6 {
        push(
            &mut b,
            "honest",
            m,
            EventKind::Request,
            &format!("step{m}"),
            "",
            (300, 800, 20_000, 0),
        );
    }
    push(
        &mut b,
        "honest",
        7,
        EventKind::ChangeAccepted,
        "",
        "",
        (0, 0, 0, 0),
    );
    // Tokenmaxxer: re-sends the repo uncached and loops one prompt.
    for m in 0..6 {
        push(
            &mut b,
            "maxxer",
            2 * m,
            EventKind::ContextLoad,
            "",
            "repo",
            (20_000, 0, 0, 0),
        );
        push(
            &mut b,
            "maxxer",
            2 * m + 1,
            EventKind::Request,
            "make it better",
            "",
            (300, 4_000, 0, 0),
        );
    }
    for u in ["honest", "maxxer"] {
        b.names.users.push((hash_str(u), u.into()));
        let s = format!("{u}-s1");
        b.names.sessions.push((hash_str(&s), s.into()));
    }
    b.names.users.sort();
    b.names.sessions.sort();
    b.names.models = vec![(hash_str("claude-sonnet-4"), "claude-sonnet-4".into())];

    let f = features(&[b], &FeatureOptions::default(), None)?;
    let keep = [
        "user_id",
        "total_tokens",
        "accepted",
        "reload_uncached_share",
        "cache_hit_ratio",
        "loop_ratio",
        "tokens_per_accepted_change",
        "waste_share",
    ];
    let idx: Vec<usize> = keep
        .iter()
        .map(|k| f.users.schema().index_of(k))
        .collect::<Result<_, _>>()?;
    println!("{}", pretty_format_batches(&[f.users.project(&idx)?])?);
    Ok(())
}
