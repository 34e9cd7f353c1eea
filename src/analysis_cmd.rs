//! The analyst's stage commands: `validate`, `features`, `detect` and `eval`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use goodhart::scan::{Dataset, Window};
use goodhart::{Config, Error};

use crate::args::{self, Format};
use crate::term::term;
use crate::{resolve_window, usage, EXIT_OK};

pub(crate) fn validate(a: args::ValidateArgs) -> Result<u8> {
    // clap makes --as-of and --window require each other.
    let window = match (a.as_of, a.window) {
        (Some(as_of), Some(days)) => Some(goodhart::io::DateWindow::from(Window { as_of, days })),
        _ => None,
    };
    // A dataset directory: validate its events/.
    let path = if a.path.join("events").is_dir() {
        a.path.join("events")
    } else {
        a.path.clone()
    };
    let found = goodhart::io::discover_all(&path, window).map_err(Error::from)?;
    for s in &found.skipped {
        eprintln!("warning: {}", term(&s.to_string()));
    }
    let t = std::time::Instant::now();
    let report =
        goodhart::io::validate(&path, window, a.quarantine.as_deref()).map_err(Error::from)?;
    let secs = t.elapsed().as_secs_f64();
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            print!("{}", report.render_text());
            let rows = report.counts.rows_read as f64;
            println!(
                "throughput: {:.0} rows/s ({:.2} s){}",
                rows / secs.max(1e-9),
                secs,
                peak_rss().map_or(String::new(), |m| format!(", peak memory {m} MiB"))
            );
        }
    }
    Ok(EXIT_OK)
}

/// Peak resident set size of this process in MiB (Linux), for the throughput line.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

pub(crate) fn features(a: args::FeaturesArgs) -> Result<u8> {
    let dataset = Dataset::locate(std::slice::from_ref(&a.dataset), None)?;
    let loaded = Config::discover(a.config.as_deref(), dataset.root.as_deref())?;
    let window = resolve_window(a.as_of, a.window, &loaded.config);
    let fopts = loaded
        .config
        .feature_options(Some(window.as_of), window.days)
        .map_err(|m| loaded.error(m))?;
    let mut memory = goodhart::scan::MemoryBudget::limit(
        a.memory_limit
            .or_else(|| loaded.config.memory_limit())
            .unwrap_or_else(goodhart::bucketed::default_memory_limit),
    );
    // Scratch files (when the pass is bucketed) on the outputs' file system,
    // not in a possibly RAM-backed /tmp: in the nearest existing directory.
    memory.scratch = a
        .out
        .ancestors()
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
        .or_else(|| Some(".".into()));
    let run = goodhart::scan::features_within(&dataset, &fopts, Some(window), None, None, &memory)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let f = &run.features;
    goodhart::io::write_parquet_atomic(
        &a.out.join("session_features.parquet"),
        f.sessions.schema(),
        std::slice::from_ref(&f.sessions),
    )
    .map_err(Error::from)?;
    goodhart::io::write_parquet_atomic(
        &a.out.join("user_features.parquet"),
        f.users.schema(),
        std::slice::from_ref(&f.users),
    )
    .map_err(Error::from)?;
    let c = &run.ingest.counts;
    println!(
        "{} sessions, {} users; rows {} read, {} accepted, {} quarantined; written to {}",
        f.sessions.num_rows(),
        f.users.num_rows(),
        c.rows_read,
        c.rows_accepted,
        c.rows_quarantined,
        a.out.display()
    );
    Ok(EXIT_OK)
}

pub(crate) fn detect(a: args::DetectArgs) -> Result<u8> {
    let batches = goodhart::io::read_parquet(&a.input).map_err(Error::from)?;
    let method = match a.method {
        args::Method::Iforest => goodhart::detect::Method::IsolationForest { seed: a.seed },
        args::Method::Ecod => goodhart::detect::Method::Ecod,
    };
    let scored = goodhart::detect::score_table(&batches, a.columns.as_deref(), method)
        .map_err(|e| usage(format!("{}: {e}", a.input.display())))?;
    goodhart::io::write_parquet_atomic(&a.out, scored.schema(), std::slice::from_ref(&scored))
        .map_err(Error::from)?;
    println!(
        "{} rows scored; written to {}",
        scored.num_rows(),
        a.out.display()
    );
    Ok(EXIT_OK)
}

fn read_table(path: &Path) -> Result<RecordBatch> {
    let batches = goodhart::io::read_parquet(path).map_err(Error::from)?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| usage(format!("{}: the file has no rows", path.display())))?;
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

/// Labels from reviewer verdicts: confirmed = gaming, false positive = not.
fn labels_from_state(state: &Path) -> Result<RecordBatch> {
    let store =
        goodhart::alerts::StateStore::open_with(state, goodhart::alerts::OpenMode::MustExist)
            .map_err(Error::from)?;
    let mut by_user: std::collections::BTreeMap<String, bool> = Default::default();
    for (user, _pattern, verdict) in store.feedback_labels()? {
        let gaming = matches!(verdict, goodhart::alerts::Verdict::Confirmed);
        let e = by_user.entry(user).or_insert(gaming);
        *e |= gaming;
    }
    if by_user.is_empty() {
        return Err(usage(format!(
            "{}: no reviewer verdicts recorded yet. Fix: record some with `goodhart feedback`",
            state.display()
        )));
    }
    let users: Vec<&str> = by_user.keys().map(String::as_str).collect();
    let arche: Vec<&str> = by_user
        .values()
        .map(|g| if *g { "confirmed" } else { "false_positive" })
        .collect();
    let gaming: Vec<bool> = by_user.values().copied().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("archetype", DataType::Utf8, false),
        Field::new("is_gaming", DataType::Boolean, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(StringArray::from(arche)),
            Arc::new(BooleanArray::from(gaming)),
        ],
    )?)
}

/// Keeps the score rows of labelled users only (reviewer verdicts cover few users).
fn restrict_to(scores: &RecordBatch, labels: &RecordBatch) -> Result<RecordBatch> {
    let labelled: std::collections::BTreeSet<String> = labels
        .column_by_name("user_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .map(|a| a.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default();
    let ids = arrow::compute::cast(
        scores
            .column_by_name("user_id")
            .ok_or_else(|| usage("the scores have no user_id column"))?,
        &DataType::Utf8,
    )?;
    let ids = ids
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8");
    let mask: BooleanArray = ids
        .iter()
        .map(|u| Some(u.is_some_and(|u| labelled.contains(u))))
        .collect();
    Ok(arrow::compute::filter_record_batch(scores, &mask)?)
}

pub(crate) fn eval(a: args::EvalArgs) -> Result<u8> {
    if a.suite {
        return crate::eval_suite::run(&a);
    }
    let scores_path = a
        .scores
        .clone()
        .expect("clap requires --scores without --suite");
    let scores = read_table(&scores_path)?;
    let (labels, scores) = match (&a.labels, &a.state) {
        (Some(l), _) => (read_table(l)?, scores),
        (None, Some(state)) => {
            let labels = labels_from_state(state)?;
            let scores = restrict_to(&scores, &labels)?;
            (labels, scores)
        }
        (None, None) => return Err(usage("give --labels FILE or --state DIR")),
    };
    let report = goodhart::detect::eval::evaluate(&labels, &scores)
        .map_err(|e| usage(format!("{}: {e}", scores_path.display())))?;
    let session = match (&a.session_labels, &a.session_scores) {
        (Some(l), Some(s)) => Some(
            goodhart::detect::eval::evaluate_sessions(&read_table(l)?, &read_table(s)?)
                .map_err(|e| usage(format!("{}: {e}", s.display())))?,
        ),
        _ => None,
    };
    match a.format {
        Format::Json => {
            let v = serde_json::json!({ "users": report, "sessions": session });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            print!("{report}");
            if let Some(s) = session {
                print!("\n{s}");
            }
        }
    }
    Ok(EXIT_OK)
}
