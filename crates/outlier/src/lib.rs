//! Unsupervised outlier detectors for numeric tables, usable on their own.
//!
//! * [`iforest`]: Isolation Forest (Liu, Ting and Zhou, 2008), as in
//!   scikit-learn: random axis-parallel splits on sub-samples, the score is
//!   `2^(-E[path length] / c(ψ))`.
//! * [`ecod`]: ECOD (Li et al., 2022), as in PyOD: empirical cumulative
//!   distributions per column, no parameters to tune, and per-column
//!   contributions that explain each score.
//! * [`table`]: either detector over the numeric columns of an Arrow
//!   [`arrow::record_batch::RecordBatch`] (`goodhart detect`), and the
//!   evaluation measures ([`average_precision`], [`roc_auc`]).
//!
//! Both detectors are linfa estimators: parameters are checked into a valid
//! type before fitting (`ParamGuard`), `Fit` learns from a
//! `DatasetBase` and `Predict` scores rows. Same seed and input, same scores,
//! whatever the thread count. goodhart's scoring (`goodhart-detect`) uses
//! them for its multivariate support; nothing here knows about tokens.
//!
//! ```
//! use goodhart_outlier::{Ecod, IsolationForestParams};
//! use ndarray::Array2;
//!
//! // 200 points spread over [0, 2) x [0, 2), and one far away from all.
//! let mut x = Array2::from_shape_fn((201, 2), |(i, j)| {
//!     let k = if j == 0 { i * 37 } else { i * 91 + 50 };
//!     (k % 200) as f64 / 100.0
//! });
//! x[[200, 0]] = 50.0;
//! x[[200, 1]] = 50.0;
//! let forest = IsolationForestParams::new().seed(7).fit(&x.view())?;
//! let s = forest.score(&x.view());
//! assert!(s.iter().take(200).all(|&v| v < s[200]));
//! let e = Ecod::fit(&x.view())?.score(&x.view());
//! assert!(e.iter().take(200).all(|&v| v < e[200]));
//!
//! // The same through linfa's traits, as goodhart's scoring uses them:
//! // parameters checked first, then `Fit` on a dataset and `Predict`.
//! use linfa::prelude::*;
//! let params = IsolationForestParams::new().seed(7).check()?;
//! let ds = DatasetBase::new(x.view(), ());
//! let model = Fit::fit(&params, &ds)?;
//! let p: ndarray::Array1<f64> = model.predict(&x);
//! assert_eq!(p, s);
//! # Ok::<(), goodhart_outlier::OutlierError>(())
//! ```
#![deny(missing_docs)]

/// linfa's `PredictInplace` for a fitted detector whose inherent
/// `score(&ArrayView2<f64>) -> Array1<f64>` gives one anomaly score per row
/// (higher = more anomalous). Written once for both detectors: linfa's trait is
/// foreign, so a blanket impl over a local "scores rows" trait is not allowed
/// (orphan rule), and a macro is what remains.
macro_rules! predict_scores {
    ($model:ty) => {
        impl<D: ndarray::Data<Elem = f64>>
            linfa::traits::PredictInplace<ndarray::ArrayBase<D, ndarray::Ix2>, ndarray::Array1<f64>>
            for $model
        {
            /// Writes the anomaly scores of `x` into `y` (see the inherent `score`).
            fn predict_inplace(
                &self,
                x: &ndarray::ArrayBase<D, ndarray::Ix2>,
                y: &mut ndarray::Array1<f64>,
            ) {
                assert_eq!(
                    x.nrows(),
                    y.len(),
                    "target length must equal the number of rows"
                );
                y.assign(&self.score(&x.view()));
            }

            fn default_target(
                &self,
                x: &ndarray::ArrayBase<D, ndarray::Ix2>,
            ) -> ndarray::Array1<f64> {
                ndarray::Array1::zeros(x.nrows())
            }
        }
    };
}

pub mod ecod;
pub mod iforest;
pub mod table;

pub use ecod::{Ecod, EcodParams, FeatureContribution, Tail};
pub use iforest::{
    IsolationForest, IsolationForestParams, IsolationForestValidParams, OutlierError,
};
pub use table::{average_precision, roc_auc, score_table, table_to_matrix, Method};
