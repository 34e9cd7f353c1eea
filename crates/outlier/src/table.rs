//! Generic outlier scoring of any numeric Arrow table, for analysts (backs
//! `goodhart detect --method iforest|ecod --input X.parquet [--columns a,b] [--seed N]`), plus
//! the ranking metrics used to validate detectors ([`roc_auc`], [`average_precision`]).
//!
//! # Column selection and types
//!
//! * `columns = Some(names)`: exactly those columns, in that order. A missing column or a
//!   non-numeric one is an error naming it.
//! * `columns = None`: every numeric column in schema order **except one named `label`** (ground
//!   truth in benchmark tables must never leak into the features).
//! * Numeric = any Arrow integer, float or decimal type; values are cast to `f64`.
//! * **Nulls are an error, not imputed**: the error names the column, the number of nulls and the
//!   first null row. (Silent imputation would change which rows look anomalous; the analyst should
//!   choose.) NaN and infinite values are errors too.
//!
//! # Output
//!
//! One [`RecordBatch`] with `row_index` (`UInt64`, 0-based position in the concatenated input
//! batches) and `score` (`Float64`, higher = more anomalous), one row per input row, in input
//! order. The schema metadata records `goodhart.method`, `goodhart.seed` (Isolation Forest only)
//! and `goodhart.columns` (comma-separated features used), so a scores file explains how it was
//! made.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, Int32Array, Int8Array};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use arrow::record_batch::RecordBatch;
//! use goodhart_outlier::table::{roc_auc, score_table, Method};
//!
//! let a: Vec<f64> = (0..50).map(|i| (i % 10) as f64).chain([40.0]).collect();
//! let b: Vec<i32> = (0..50).map(|i| i / 10).chain([-30]).collect();
//! let label: Vec<i8> = (0..51).map(|i| (i == 50) as i8).collect();
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("a", DataType::Float64, false),
//!     Field::new("b", DataType::Int32, false),
//!     Field::new("label", DataType::Int8, false),
//! ]));
//! let batch = RecordBatch::try_new(
//!     schema,
//!     vec![
//!         Arc::new(Float64Array::from(a)),
//!         Arc::new(Int32Array::from(b)),
//!         Arc::new(Int8Array::from(label.clone())),
//!     ],
//! )
//! .unwrap();
//!
//! for method in [Method::IsolationForest { seed: 1 }, Method::Ecod] {
//!     let out = score_table(std::slice::from_ref(&batch), None, method).unwrap();
//!     assert_eq!(out.num_rows(), 51);
//!     let scores = out.column_by_name("score").unwrap()
//!         .as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec();
//!     let labels: Vec<bool> = label.iter().map(|&l| l == 1).collect();
//!     // The planted row is ranked first: ROC-AUC = 1.
//!     assert_eq!(roc_auc(&scores, &labels).unwrap(), 1.0);
//! }
//! ```

use crate::ecod::{Ecod, Tail};
use crate::iforest::{IsolationForestParams, OutlierError};
use arrow::array::{Array, ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use ndarray::Array2;
use std::collections::HashMap;
use std::sync::Arc;

/// Name of the column that is never used as a feature implicitly.
pub const LABEL_COLUMN: &str = "label";
/// Output column: 0-based input row position.
pub const ROW_INDEX_COLUMN: &str = "row_index";
/// Output column: anomaly score, higher = more anomalous.
pub const SCORE_COLUMN: &str = "score";

/// Which detector [`score_table`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Isolation Forest with scikit-learn defaults (100 trees, 256 samples) and this seed.
    IsolationForest {
        /// RNG seed; same seed, same scores.
        seed: u64,
    },
    /// ECOD (parameter-free, deterministic).
    Ecod,
}

impl Method {
    /// Short name as used on the command line: `iforest` or `ecod`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::IsolationForest { .. } => "iforest",
            Method::Ecod => "ecod",
        }
    }

    /// Parses a command-line method name (`iforest` / `isolation-forest` / `isolation_forest`,
    /// or `ecod`, case-insensitive); `seed` is used by the Isolation Forest only.
    pub fn parse(name: &str, seed: u64) -> Result<Method, OutlierError> {
        match name.to_ascii_lowercase().as_str() {
            "iforest" | "isolation-forest" | "isolation_forest" => {
                Ok(Method::IsolationForest { seed })
            }
            "ecod" => Ok(Method::Ecod),
            _ => Err(OutlierError::InvalidSetting {
                detector: "detect",
                name: "method",
                value: name.to_string(),
                fix: "use `iforest` or `ecod`",
            }),
        }
    }
}

/// Converts the selected columns of a table (one or more batches sharing a schema) into a
/// row-major `f64` matrix; returns it with the names of the columns used, in order. See the
/// [module docs](self) for the selection and null rules.
pub fn table_to_matrix(
    batches: &[RecordBatch],
    columns: Option<&[String]>,
) -> Result<(Array2<f64>, Vec<String>), OutlierError> {
    let Some(first) = batches.first() else {
        return Err(OutlierError::TooFewRows {
            detector: "table scoring",
            rows: 0,
            min: 1,
        });
    };
    let schema = first.schema();
    for (i, b) in batches.iter().enumerate().skip(1) {
        if b.schema().fields() != schema.fields() {
            return Err(OutlierError::SchemaMismatch { batch: i });
        }
    }
    let available = || {
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let selected: Vec<(usize, String)> = match columns {
        Some(names) => names
            .iter()
            .map(|name| {
                let idx = schema
                    .index_of(name)
                    .map_err(|_| OutlierError::ColumnNotFound {
                        column: name.clone(),
                        available: available(),
                    })?;
                let dt = schema.field(idx).data_type();
                if !dt.is_numeric() {
                    return Err(OutlierError::NonNumericColumn {
                        column: name.clone(),
                        data_type: dt.to_string(),
                    });
                }
                Ok((idx, name.clone()))
            })
            .collect::<Result<_, _>>()?,
        None => schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.data_type().is_numeric() && f.name() != LABEL_COLUMN)
            .map(|(i, f)| (i, f.name().clone()))
            .collect(),
    };
    if selected.is_empty() {
        return Err(OutlierError::NoNumericColumns {
            available: available(),
        });
    }
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let d = selected.len();
    let mut x = Array2::<f64>::zeros((n, d));
    for (j, (idx, name)) in selected.iter().enumerate() {
        let mut offset = 0;
        let mut nulls = 0;
        let mut first_null = None;
        for b in batches {
            let col =
                cast(b.column(*idx), &DataType::Float64).map_err(|source| OutlierError::Arrow {
                    column: name.clone(),
                    source,
                })?;
            let col = col
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("cast to Float64 yields a Float64Array");
            if col.null_count() > 0 {
                nulls += col.null_count();
                if first_null.is_none() {
                    first_null = (0..col.len()).find(|&i| col.is_null(i)).map(|i| offset + i);
                }
            }
            for (i, &v) in col.values().iter().enumerate() {
                if !v.is_finite() && col.is_valid(i) {
                    return Err(OutlierError::NonFinite {
                        detector: "table scoring",
                        row: offset + i,
                        feature: j,
                        column: name.clone(),
                        value: v,
                    });
                }
                x[[offset + i, j]] = v;
            }
            offset += col.len();
        }
        if nulls > 0 {
            return Err(OutlierError::NullValues {
                column: name.clone(),
                nulls,
                first_row: first_null.unwrap_or(0),
            });
        }
    }
    Ok((x, selected.into_iter().map(|(_, name)| name).collect()))
}

/// Scores every row of a numeric table with an outlier detector fitted on the same rows.
///
/// Returns a batch with [`ROW_INDEX_COLUMN`] (`UInt64`) and [`SCORE_COLUMN`] (`Float64`, higher =
/// more anomalous); see the [module docs](self) for column selection, nulls and metadata.
/// Isolation Forest needs at least 2 rows, ECOD at least 1.
pub fn score_table(
    batches: &[RecordBatch],
    columns: Option<&[String]>,
    method: Method,
) -> Result<RecordBatch, OutlierError> {
    let (x, used) = table_to_matrix(batches, columns)?;
    let view = x.view();
    let mut metadata = HashMap::new();
    metadata.insert("goodhart.method".to_string(), method.name().to_string());
    metadata.insert("goodhart.columns".to_string(), used.join(","));
    let scores = match method {
        Method::IsolationForest { seed } => {
            metadata.insert("goodhart.seed".to_string(), seed.to_string());
            IsolationForestParams::new()
                .seed(seed)
                .fit(&view)?
                .score(&view)
        }
        Method::Ecod => Ecod::fit(&view)?.score(&view),
    };
    let schema = Schema::new(vec![
        Field::new(ROW_INDEX_COLUMN, DataType::UInt64, false),
        Field::new(SCORE_COLUMN, DataType::Float64, false),
    ])
    .with_metadata(metadata);
    let row_index: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..x.nrows() as u64));
    let score: ArrayRef = Arc::new(Float64Array::from(scores.to_vec()));
    Ok(
        RecordBatch::try_new(Arc::new(schema), vec![row_index, score])
            .expect("two equal-length non-null columns match the schema"),
    )
}

/// ECOD scores with a per-row explanation, for reviewers: [`ROW_INDEX_COLUMN`], [`SCORE_COLUMN`]
/// (identical to [`score_table`] with [`Method::Ecod`]), then `top_feature` (Utf8: the column
/// contributing most to the score), `top_side` (`left` = unusually small, `right` = unusually
/// large, `both` = zero-skew feature, see [`crate::ecod`]) and `top_share` (Float64 in `[0, 1]`:
/// that column's fraction of the score; 0 when the score is 0). Ties go to the earlier column.
pub fn ecod_explain_table(
    batches: &[RecordBatch],
    columns: Option<&[String]>,
) -> Result<RecordBatch, OutlierError> {
    let (x, used) = table_to_matrix(batches, columns)?;
    let view = x.view();
    let contributions = Ecod::fit(&view)?.explain_rows(&view);
    let n = x.nrows();
    let (mut score, mut top_feature, mut top_side, mut top_share) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for row in &contributions {
        // Sum in feature order so the score is bit-identical to `Ecod::score`.
        let mut by_feature = vec![0.0; used.len()];
        for c in row {
            by_feature[c.feature] = c.neg_log_p;
        }
        let total: f64 = by_feature.iter().sum();
        let top = &row[0];
        score.push(total);
        top_feature.push(used[top.feature].clone());
        top_side.push(match top.side {
            Tail::Left => "left",
            Tail::Right => "right",
            Tail::Both => "both",
        });
        top_share.push(if total > 0.0 {
            top.neg_log_p / total
        } else {
            0.0
        });
    }
    let mut metadata = HashMap::new();
    metadata.insert("goodhart.method".to_string(), "ecod".to_string());
    metadata.insert("goodhart.columns".to_string(), used.join(","));
    let schema = Schema::new(vec![
        Field::new(ROW_INDEX_COLUMN, DataType::UInt64, false),
        Field::new(SCORE_COLUMN, DataType::Float64, false),
        Field::new("top_feature", DataType::Utf8, false),
        Field::new("top_side", DataType::Utf8, false),
        Field::new("top_share", DataType::Float64, false),
    ])
    .with_metadata(metadata);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(0..n as u64)),
        Arc::new(Float64Array::from(score)),
        Arc::new(StringArray::from(top_feature)),
        Arc::new(StringArray::from(top_side)),
        Arc::new(Float64Array::from(top_share)),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), arrays)
        .expect("equal-length non-null columns match the schema"))
}

fn check_metric_input(
    metric: &'static str,
    scores: &[f64],
    labels: &[bool],
) -> Result<usize, OutlierError> {
    if scores.len() != labels.len() {
        return Err(OutlierError::MetricUndefined {
            metric,
            reason: format!(
                "{} scores but {} labels: pass one label per score",
                scores.len(),
                labels.len()
            ),
        });
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(OutlierError::MetricUndefined {
            metric,
            reason: format!("score {i} is NaN: drop unscored rows first"),
        });
    }
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return Err(OutlierError::MetricUndefined {
            metric,
            reason: "no positive label: the labels need at least one anomaly".into(),
        });
    }
    Ok(positives)
}

/// Area under the ROC curve of `scores` (higher = more anomalous) against `labels`
/// (`true` = anomaly), via the Mann–Whitney rank statistic with average ranks for tied scores;
/// this equals scikit-learn's `roc_auc_score` (trapezoidal ROC), in `[0, 1]`.
///
/// Errors when the lengths differ, a score is NaN, or either class is absent.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64, OutlierError> {
    const METRIC: &str = "ROC-AUC";
    let positives = check_metric_input(METRIC, scores, labels)?;
    let negatives = labels.len() - positives;
    if negatives == 0 {
        return Err(OutlierError::MetricUndefined {
            metric: METRIC,
            reason: "no negative label: the labels need at least one normal row".into(),
        });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives. Ranks are multiples of 1/2, so
    // the f64 sum is exact far beyond any realistic table size.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_group = order[start..end].iter().filter(|&&i| labels[i]).count();
        rank_sum += average_rank * pos_in_group as f64;
        start = end;
    }
    let p = positives as f64;
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Average precision of `scores` (higher = more anomalous) against `labels` (`true` = anomaly),
/// scikit-learn's definition: `AP = Σ_k (R_k - R_{k-1}) P_k` over the distinct score thresholds
/// from the highest down (tied scores enter together), step-wise, without interpolation.
///
/// Errors when the lengths differ, a score is NaN, or there is no positive label.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Result<f64, OutlierError> {
    let positives = check_metric_input("average precision", scores, labels)? as f64;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut prev_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        tp += order[start..end].iter().filter(|&&i| labels[i]).count();
        seen += end - start;
        let recall = tp as f64 / positives;
        ap += (recall - prev_recall) * (tp as f64 / seen as f64);
        prev_recall = recall;
        start = end;
    }
    Ok(ap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, UInt8Array};

    #[test]
    fn roc_auc_known_answers() {
        // Perfect ranking.
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.9], &[false, false, true]).unwrap(),
            1.0
        );
        // Inverted.
        assert_eq!(
            roc_auc(&[0.9, 0.2, 0.1], &[false, false, true]).unwrap(),
            0.0
        );
        // sklearn doc example: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8] -> 0.75.
        // Pairs (pos, neg): (0.35 > 0.1), (0.35 < 0.4), (0.8 > both) -> 3 of 4.
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap(),
            0.75
        );
        // Ties count one half: pos {0.5}, neg {0.5, 0.1} -> (0.5 + 1) / 2 = 0.75.
        assert_eq!(
            roc_auc(&[0.5, 0.5, 0.1], &[true, false, false]).unwrap(),
            0.75
        );
        // All scores equal -> 0.5.
        assert_eq!(
            roc_auc(&[1.0; 4], &[true, false, true, false]).unwrap(),
            0.5
        );
        assert!(roc_auc(&[1.0, 2.0], &[true, true]).is_err());
        assert!(roc_auc(&[1.0, 2.0], &[false, false]).is_err());
        assert!(roc_auc(&[1.0, f64::NAN], &[true, false]).is_err());
        assert!(roc_auc(&[1.0], &[true, false]).is_err());
    }

    #[test]
    fn average_precision_known_answers() {
        // sklearn doc example: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8] -> 0.8333.
        // Descending: 0.8 (pos): R 0.5, P 1; 0.4 (neg): R 0.5; 0.35 (pos): R 1, P 2/3.
        // AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((ap - 5.0 / 6.0).abs() < 1e-12);
        // A tie between a positive and a negative at the top enters together: P = 1/2 at R = 1.
        let ap = average_precision(&[0.9, 0.9, 0.1], &[true, false, false]).unwrap();
        assert!((ap - 0.5).abs() < 1e-12);
        assert_eq!(average_precision(&[0.2, 0.1], &[true, false]).unwrap(), 1.0);
        assert!(average_precision(&[0.2, 0.1], &[false, false]).is_err());
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols.into_iter().map(|(n, a)| (n.to_string(), a))).unwrap()
    }

    #[test]
    fn column_selection_and_casting() {
        let b = batch(vec![
            ("a", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            ("name", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
            ("label", Arc::new(UInt8Array::from(vec![0, 0, 1]))),
            ("c", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5]))),
        ]);
        let (x, used) = table_to_matrix(std::slice::from_ref(&b), None).unwrap();
        assert_eq!(used, ["a", "c"]);
        assert_eq!(x.row(2).to_vec(), [3.0, 2.5]);
        // Explicit columns keep the requested order and may include `label`.
        let cols = vec!["label".to_string(), "a".to_string()];
        let (x, used) = table_to_matrix(&[b.clone(), b.clone()], Some(&cols)).unwrap();
        assert_eq!(used, cols);
        assert_eq!(x.dim(), (6, 2));
        assert_eq!(x.row(5).to_vec(), [1.0, 3.0]);
        let err =
            table_to_matrix(std::slice::from_ref(&b), Some(&["name".to_string()])).unwrap_err();
        assert!(
            matches!(&err, OutlierError::NonNumericColumn { column, .. } if column == "name"),
            "{err}"
        );
        let err =
            table_to_matrix(std::slice::from_ref(&b), Some(&["nope".to_string()])).unwrap_err();
        assert!(err.to_string().contains("`nope` not found"), "{err}");
    }

    #[test]
    fn nulls_and_nan_are_errors_naming_the_column() {
        let b = batch(vec![
            (
                "a",
                Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)])) as ArrayRef,
            ),
            ("b", Arc::new(Float64Array::from(vec![1.0, f64::NAN, 3.0]))),
        ]);
        let err = table_to_matrix(&[b.clone(), b.clone()], None).unwrap_err();
        assert!(
            matches!(&err, OutlierError::NullValues { column, nulls: 2, first_row: 1 } if column == "a"),
            "{err}"
        );
        let err = table_to_matrix(&[b], Some(&["b".to_string()])).unwrap_err();
        assert!(
            matches!(&err, OutlierError::NonFinite { row: 1, column, .. } if column == "b"),
            "{err}"
        );
        let only_text = batch(vec![(
            "s",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )]);
        assert!(matches!(
            table_to_matrix(&[only_text], None),
            Err(OutlierError::NoNumericColumns { .. })
        ));
    }

    #[test]
    fn score_table_output_shape_and_metadata() {
        let b = batch(vec![(
            "a",
            Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 2.0, 50.0])) as ArrayRef,
        )]);
        let out = score_table(std::slice::from_ref(&b), None, Method::Ecod).unwrap();
        assert_eq!(out.schema().field(0).name(), ROW_INDEX_COLUMN);
        assert_eq!(out.schema().metadata()["goodhart.columns"], "a");
        let idx = out
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        assert_eq!(idx.values().to_vec(), [0, 1, 2, 3, 4]);
        let s = out
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        // 50 is the unique maximum of 5 values: F_r = 1/5, skew > 0 -> score ln 5.
        assert!((s.value(4) - 5f64.ln()).abs() < 1e-12);
        let explained = ecod_explain_table(std::slice::from_ref(&b), None).unwrap();
        let es = explained
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(es.values(), s.values());
        let feat = explained
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let side = explained
            .column(3)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let share = explained
            .column(4)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(
            (feat.value(4), side.value(4), share.value(4)),
            ("a", "right", 1.0)
        );
        let out = score_table(&[b], None, Method::IsolationForest { seed: 9 }).unwrap();
        assert_eq!(out.schema().metadata()["goodhart.seed"], "9");
        assert!(Method::parse("IForest", 3).unwrap() == Method::IsolationForest { seed: 3 });
        assert!(Method::parse("lof", 0).is_err());
    }
}
