//! Arrow across the Python boundary without copies, through the Arrow
//! PyCapsule interface (`__arrow_c_stream__`, an `ArrowArrayStream` in a
//! capsule named `arrow_array_stream`).
//!
//! Hand-written on arrow's own C stream interface (`arrow::ffi_stream`)
//! rather than with the `pyo3-arrow` crate: its newest release (0.20) is
//! built on arrow 59 while the workspace is on arrow 60, and two arrow
//! versions cannot share `RecordBatch`es. The unsafe code is limited to the
//! two calls below, each with its safety argument.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow::record_batch::{RecordBatch, RecordBatchIterator};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

/// Imports any object with `__arrow_c_stream__` (pyarrow Table or
/// RecordBatchReader, polars DataFrame, DuckDB relation, arro3 table, …) as a
/// record-batch reader. The batches' buffers stay the producer's: nothing is
/// copied.
pub fn import_stream(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<RecordBatchStreamReader> {
    if !obj.hasattr("__arrow_c_stream__")? {
        let ty = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{what}: a {ty} is not an Arrow table. Fix: pass a dataset path, a pyarrow Table or \
             RecordBatchReader, a polars DataFrame, or any object with __arrow_c_stream__ \
             (pandas: pyarrow.Table.from_pandas(df))"
        )));
    }
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: __arrow_c_stream__ did not return a PyCapsule"
        ))
    })?;
    let ptr = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
    // SAFETY: the capsule is named `arrow_array_stream`, so by the Arrow
    // PyCapsule interface it points to a valid `ArrowArrayStream`. `from_raw`
    // moves the stream out and marks the capsule's copy released, so the
    // capsule's destructor will not release it a second time.
    let reader =
        unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr().cast::<FFI_ArrowArrayStream>()) };
    reader.map_err(|e| PyTypeError::new_err(format!("{what}: cannot read the Arrow stream: {e}")))
}

/// A finished table handed to Python: each `__arrow_c_stream__` call exports
/// its batches (shared buffers, no copy) as a new stream.
#[pyclass(frozen, module = "goodhart._goodhart")]
#[derive(Debug)]
pub struct ArrowStream {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl ArrowStream {
    /// One table of `batches`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> ArrowStream {
        ArrowStream { schema, batches }
    }

    /// Another handle on the same batches.
    pub fn clone_stream(&self) -> ArrowStream {
        ArrowStream::new(Arc::clone(&self.schema), self.batches.clone())
    }

    /// One batch.
    pub fn one(batch: &RecordBatch) -> ArrowStream {
        ArrowStream::new(batch.schema(), vec![batch.clone()])
    }
}

#[pymethods]
impl ArrowStream {
    /// Exports the table as an `arrow_array_stream` PyCapsule.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The protocol lets a producer ignore a requested schema it does not
        // cast to; consumers then cast themselves.
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            Arc::clone(&self.schema),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)
    }

    /// Number of rows.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}
