//! Scores a tiny hand-made organisation and prints who looks like a
//! tokenmaxxer, and why.
//!
//! ```text
//! cargo run -p goodhart-detect --example score
//! ```

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use goodhart_detect::{score, ScoreOptions};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 30 engineers of one team. u-07 re-spawns the same agent task over and
    // over; u-12 re-sends the same prompt in loops; u-20 is a power user with
    // 5x the tokens and ordinary ratios.
    let n = 30;
    let ids: Vec<String> = (0..n).map(|i| format!("u-{i:02}")).collect();
    let redundant: Vec<f64> = (0..n)
        .map(|i| {
            if i == 7 {
                0.55
            } else {
                [0.0, 0.0, 0.01, 0.03][i % 4]
            }
        })
        .collect();
    let loops: Vec<f64> = (0..n)
        .map(|i| {
            if i == 12 {
                0.4
            } else {
                0.02 + 0.005 * (i % 5) as f64
            }
        })
        .collect();
    let tokens: Vec<u64> = (0..n)
        .map(|i| if i == 20 { 60_000_000 } else { 12_000_000 })
        .collect();
    let users = RecordBatch::try_from_iter(vec![
        (
            "user_id",
            Arc::new(StringArray::from(ids.clone())) as ArrayRef,
        ),
        (
            "team",
            Arc::new(StringArray::from(vec!["platform"; n])) as ArrayRef,
        ),
        (
            "redundant_spawn_ratio",
            Arc::new(Float64Array::from(redundant)) as ArrayRef,
        ),
        (
            "loop_ratio",
            Arc::new(Float64Array::from(loops)) as ArrayRef,
        ),
        (
            "total_tokens",
            Arc::new(UInt64Array::from(tokens)) as ArrayRef,
        ),
    ])?;
    // One ordinary session per person (0-1 redundant spawns, 0-2 repeated
    // prompts), plus the worst sessions of u-07 and u-12.
    let mut sid: Vec<String> = ids.iter().map(|u| format!("s-{u}")).collect();
    let mut suser: Vec<String> = ids.clone();
    let mut spawns: Vec<u64> = (0..n as u64).map(|i| i % 2).collect();
    let mut loops: Vec<u64> = (0..n as u64).map(|i| i % 3).collect();
    for (s, u, sp, lp) in [
        ("s-1a2b", "u-07", 23, 0),
        ("s-3c4d", "u-07", 9, 1),
        ("s-5e6f", "u-12", 0, 17),
    ] {
        sid.push(s.into());
        suser.push(u.into());
        spawns.push(sp);
        loops.push(lp);
    }
    let sessions = RecordBatch::try_from_iter(vec![
        ("session_id", Arc::new(StringArray::from(sid)) as ArrayRef),
        ("user_id", Arc::new(StringArray::from(suser)) as ArrayRef),
        (
            "redundant_spawns",
            Arc::new(UInt64Array::from(spawns)) as ArrayRef,
        ),
        (
            "loop_requests",
            Arc::new(UInt64Array::from(loops)) as ArrayRef,
        ),
    ])?;

    let scores = score(&users, &sessions, &ScoreOptions::default())?;
    println!("cohorts: {}", scores.cohort_method);
    for e in scores.explanations.iter().take(4) {
        println!(
            "{} score {:5.1} {:<8} alert={}",
            e.user_id, e.score, e.severity, e.alert
        );
        for p in &e.patterns {
            println!("    {} (strength {:.1}): {}", p.pattern, p.strength, p.text);
        }
    }
    Ok(())
}
