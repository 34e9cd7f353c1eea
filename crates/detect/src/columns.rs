//! Reading feature tables by column name, tolerant of types and nulls.

use crate::DetectError;
use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::compute::kernels::cast::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

/// Which of the two input tables a column was looked up in (for errors).
pub(crate) fn find<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

/// A required string column (Utf8, LargeUtf8, Utf8View or dictionary of
/// strings), nulls rejected.
pub(crate) fn strings(
    batch: &RecordBatch,
    table: &str,
    name: &str,
) -> Result<Vec<String>, DetectError> {
    let col = find(batch, name).ok_or_else(|| DetectError::MissingColumn {
        table: table.to_string(),
        column: name.to_string(),
    })?;
    let opt = opt_strings_of(col, table, name)?;
    opt.into_iter()
        .enumerate()
        .map(|(row, s)| {
            s.ok_or_else(|| DetectError::NullValue {
                table: table.to_string(),
                column: name.to_string(),
                row,
            })
        })
        .collect()
}

/// A required string column cast to Utf8 (nulls rejected), for borrowing
/// `&str` values without one allocation per row.
pub(crate) fn utf8(batch: &RecordBatch, table: &str, name: &str) -> Result<ArrayRef, DetectError> {
    let col = find(batch, name).ok_or_else(|| DetectError::MissingColumn {
        table: table.to_string(),
        column: name.to_string(),
    })?;
    let arr = cast_utf8(col, table, name)?;
    if let Some(row) = (0..arr.len()).find(|&i| arr.is_null(i)) {
        return Err(DetectError::NullValue {
            table: table.to_string(),
            column: name.to_string(),
            row,
        });
    }
    Ok(arr)
}

/// `col` cast to Utf8; the error names the table and column.
fn cast_utf8(col: &ArrayRef, table: &str, name: &str) -> Result<ArrayRef, DetectError> {
    cast(col, &DataType::Utf8).map_err(|e| DetectError::ColumnType {
        table: table.to_string(),
        column: name.to_string(),
        expected: "a string (Utf8) column",
        found: format!("{} ({e})", col.data_type()),
    })
}

/// The values of a [`utf8`] array.
pub(crate) fn str_values(arr: &ArrayRef) -> Vec<&str> {
    let a = arr.as_string::<i32>();
    (0..a.len()).map(|i| a.value(i)).collect()
}

/// An optional string column: `None` when absent, per-row `None` for nulls.
pub(crate) fn opt_strings(
    batch: &RecordBatch,
    table: &str,
    name: &str,
) -> Result<Option<Vec<Option<String>>>, DetectError> {
    match find(batch, name) {
        None => Ok(None),
        Some(col) => opt_strings_of(col, table, name).map(Some),
    }
}

fn opt_strings_of(
    col: &ArrayRef,
    table: &str,
    name: &str,
) -> Result<Vec<Option<String>>, DetectError> {
    let utf8 = cast_utf8(col, table, name)?;
    let arr = utf8.as_string::<i32>();
    Ok((0..arr.len())
        .map(|i| (!arr.is_null(i)).then(|| arr.value(i).to_string()))
        .collect())
}

/// An optional numeric column as `f64`: `None` when absent, per-row `None`
/// for nulls and non-finite values.
pub(crate) fn opt_f64(
    batch: &RecordBatch,
    table: &str,
    name: &str,
) -> Result<Option<Vec<Option<f64>>>, DetectError> {
    let Some(f) = as_f64(batch, table, name)? else {
        return Ok(None);
    };
    let arr: &Float64Array = f.as_primitive();
    Ok(Some(
        (0..arr.len())
            .map(|i| {
                if arr.is_null(i) {
                    None
                } else {
                    Some(arr.value(i)).filter(|v| v.is_finite())
                }
            })
            .collect(),
    ))
}

/// [`opt_f64`] with rows reordered (row `k` of the result is input row
/// `order[k]`) and NaN for nulls and non-finite values, read straight from
/// the Arrow buffer without intermediate per-row options.
pub(crate) fn opt_f64_ordered(
    batch: &RecordBatch,
    table: &str,
    name: &str,
    order: &[usize],
) -> Result<Option<Vec<f64>>, DetectError> {
    let Some(f) = as_f64(batch, table, name)? else {
        return Ok(None);
    };
    let arr: &Float64Array = f.as_primitive();
    let values = arr.values();
    let finite = |v: f64| if v.is_finite() { v } else { f64::NAN };
    Ok(Some(if arr.null_count() == 0 {
        order.iter().map(|&i| finite(values[i])).collect()
    } else {
        order
            .iter()
            .map(|&i| {
                if arr.is_null(i) {
                    f64::NAN
                } else {
                    finite(values[i])
                }
            })
            .collect()
    }))
}

/// An optional numeric column cast to Float64 (`None` when absent).
fn as_f64(batch: &RecordBatch, table: &str, name: &str) -> Result<Option<ArrayRef>, DetectError> {
    let Some(col) = find(batch, name) else {
        return Ok(None);
    };
    if !col.data_type().is_numeric() && *col.data_type() != DataType::Null {
        return Err(DetectError::ColumnType {
            table: table.to_string(),
            column: name.to_string(),
            expected: "a numeric column",
            found: col.data_type().to_string(),
        });
    }
    cast(col, &DataType::Float64)
        .map(Some)
        .map_err(|e| DetectError::ColumnType {
            table: table.to_string(),
            column: name.to_string(),
            expected: "a numeric column",
            found: format!("{} ({e})", col.data_type()),
        })
}
