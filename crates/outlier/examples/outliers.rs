//! Score a numeric Parquet table with Isolation Forest or ECOD and print timings as JSON.
//!
//! ```text
//! cargo run --release -p goodhart-detect --example outliers -- FILE.parquet \
//!     [--method iforest|ecod] [--seed N] [--columns a,b] [--repeat R] [--out scores.parquet]
//! ```
//!
//! Prints one JSON object: rows, columns used, median fit and score milliseconds over `R` runs
//! (default 5), and the ROC-AUC / average precision when the table has a `label` column
//! (1 = anomaly). `--out` writes `row_index, score` to Parquet (what `goodhart detect` writes).
//! This is the Rust side of `benches/iforest_vs_sklearn.py`.

use goodhart_outlier::ecod::Ecod;
use goodhart_outlier::iforest::IsolationForestParams;
use goodhart_outlier::table::{average_precision, roc_auc, score_table, table_to_matrix, Method};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut file = None;
    let (mut method, mut seed, mut columns, mut repeat, mut out) =
        ("iforest".to_string(), 0u64, None, 5usize, None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--method" => method = value()?,
            "--seed" => seed = value()?.parse()?,
            "--columns" => {
                columns = Some(value()?.split(',').map(str::to_string).collect::<Vec<_>>());
            }
            "--repeat" => repeat = value()?.parse::<usize>()?.max(1),
            "--out" => out = Some(value()?),
            "-h" | "--help" => {
                println!(
                    "usage: outliers FILE.parquet [--method iforest|ecod] [--seed N] [--columns a,b] \
                     [--repeat R] [--out scores.parquet]"
                );
                return Ok(());
            }
            _ if file.is_none() && !a.starts_with('-') => file = Some(a),
            _ => return Err(format!("unknown argument {a}; see --help").into()),
        }
    }
    let file = file.ok_or("missing input FILE.parquet; see --help")?;
    let method = Method::parse(&method, seed)?;

    let t = Instant::now();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?.build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let (x, used) = table_to_matrix(&batches, columns.as_deref())?;
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let view = x.view();

    let (mut fit_ms, mut score_ms) = (Vec::new(), Vec::new());
    let mut scores = None;
    for _ in 0..repeat {
        let t = Instant::now();
        let s = match method {
            Method::Ecod => {
                let model = Ecod::fit(&view)?;
                fit_ms.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let s = model.score(&view);
                score_ms.push(t.elapsed().as_secs_f64() * 1e3);
                s
            }
            _ => {
                let model = IsolationForestParams::new().seed(seed).fit(&view)?;
                fit_ms.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let s = model.score(&view);
                score_ms.push(t.elapsed().as_secs_f64() * 1e3);
                s
            }
        };
        scores = Some(s);
    }
    let scores = scores.expect("repeat >= 1").to_vec();

    let has_label = batches
        .first()
        .is_some_and(|b| b.schema().index_of("label").is_ok());
    let (auc, ap) = if has_label {
        let (y, _) = table_to_matrix(&batches, Some(&["label".to_string()]))?;
        let y: Vec<bool> = y.column(0).iter().map(|&v| v == 1.0).collect();
        (
            roc_auc(&scores, &y).ok(),
            average_precision(&scores, &y).ok(),
        )
    } else {
        (None, None)
    };
    if let Some(path) = &out {
        let table = score_table(&batches, columns.as_deref(), method)?;
        let mut w = ArrowWriter::try_new(std::fs::File::create(path)?, table.schema(), None)?;
        w.write(&table)?;
        w.close()?;
    }
    let report = serde_json::json!({
        "file": file,
        "method": method.name(),
        "seed": seed,
        "rows": x.nrows(),
        "columns": used,
        "threads": rayon::current_num_threads(),
        "repeat": repeat,
        "read_ms": read_ms,
        "fit_ms": median(&mut fit_ms),
        "score_ms": median(&mut score_ms),
        "roc_auc": auc,
        "average_precision": ap,
    });
    println!("{report}");
    Ok(())
}
