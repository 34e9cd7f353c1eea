//! Isolation Forest (Liu, Ting & Zhou, 2008), compatible with scikit-learn's `IsolationForest`.
//!
//! # Why our own implementation
//!
//! linfa (0.8) has no Isolation Forest, and the Rust crates that do (`extended-isolation-forest`,
//! `isolation_forest`, …) are either unmaintained, built on another `ndarray` major version, or
//! implement the *extended* variant with hyperplane splits, which does not reproduce
//! scikit-learn's scores. The algorithm is small, so we implement it here with the exact
//! scikit-learn defaults and validate it against scikit-learn on ADBench
//! (`tests/outlier_adbench.rs`: mean ROC-AUC over seeds 0..19 within 1 point on every dataset).
//!
//! # Algorithm (scikit-learn defaults)
//!
//! * `n_trees` = 100 trees; each tree sees `max_samples` = min(256, n) rows drawn **without**
//!   replacement, and `max_features` = 1.0 (all features, no feature bootstrap).
//! * Trees grow to a height limit of `ceil(log2(max_samples))`. At each node a feature is chosen
//!   uniformly among the features that are not constant inside the node (a feature whose range in
//!   the node is at most `1e-7` counts as constant, as in scikit-learn's splitter), and the split
//!   threshold is drawn uniformly in `[min, max)` of that feature inside the node. Rows with
//!   `x <= threshold` go left. A node with one row, at the height limit, or whose features are all
//!   constant becomes a leaf.
//! * The path length of a point in a tree is the depth of the leaf it reaches plus
//!   `c(leaf size)`, where `c(n) = 2 H(n-1) - 2 (n-1)/n` is the average path length of an
//!   unsuccessful binary-search-tree lookup (`H(i) ≈ ln i + γ`, `c(1) = 0`, `c(2) = 1`).
//! * The anomaly score is `s(x) = 2^(-E[h(x)] / c(max_samples))`, in `(0, 1]`:
//!   **higher = more anomalous** (this is scikit-learn's `-score_samples`).
//!
//! # Determinism
//!
//! Tree `t` draws all its randomness from a ChaCha8 stream seeded with `seed` and stream number
//! `t`, so a forest depends only on `(data, parameters, seed)` — never on the number of rayon
//! threads. Scores sum the per-tree path lengths of a row in tree order, so they are bit-identical
//! across thread counts too.
//!
//! # Example
//!
//! ```
//! use goodhart_outlier::iforest::IsolationForestParams;
//! use ndarray::Array2;
//!
//! // 200 points on a small grid plus one far-away point (row 200).
//! let mut x = Array2::<f64>::zeros((201, 2));
//! for i in 0..200 {
//!     x[[i, 0]] = (i % 20) as f64 * 0.1;
//!     x[[i, 1]] = (i / 20) as f64 * 0.1;
//! }
//! x[[200, 0]] = 25.0;
//! x[[200, 1]] = -25.0;
//!
//! let forest = IsolationForestParams::new().seed(7).fit(&x.view()).unwrap();
//! let scores = forest.score(&x.view());
//! let top = (0..201).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
//! assert_eq!(top, 200);
//! ```

use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use linfa::ParamGuard;
use ndarray::{Array1, ArrayBase, ArrayView2, Data, Ix2};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Euler–Mascheroni constant, as used by scikit-learn's `_average_path_length`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// A feature whose range inside a node is at most this is treated as constant (scikit-learn's
/// `FEATURE_THRESHOLD` in `_splitter.pyx`).
const FEATURE_THRESHOLD: f64 = 1e-7;

/// Rows scored per rayon task; each task walks every tree over its rows so a tree stays in cache.
const SCORE_CHUNK: usize = 512;

/// Errors of the outlier detectors ([`crate::iforest`], [`crate::ecod`]) and of the generic table
/// scoring ([`crate::table`]). Every message names the offending setting, column or row and says
/// how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutlierError {
    /// A detector setting is out of range.
    #[error("invalid {detector} setting `{name}` = {value}: {fix}")]
    InvalidSetting {
        /// Detector whose setting is wrong ("Isolation Forest", "ECOD").
        detector: &'static str,
        /// Setting name.
        name: &'static str,
        /// Offending value, formatted.
        value: String,
        /// What values are accepted.
        fix: &'static str,
    },
    /// Too few rows to fit a detector.
    #[error("{detector} needs at least {min} rows to fit, got {rows}: score a larger table")]
    TooFewRows {
        /// Detector name.
        detector: &'static str,
        /// Rows supplied.
        rows: usize,
        /// Minimum number of rows.
        min: usize,
    },
    /// The input matrix has no feature columns.
    #[error(
        "{detector} needs at least one feature column, got 0: select one or more numeric columns"
    )]
    NoFeatures {
        /// Detector name.
        detector: &'static str,
    },
    /// A value is NaN or infinite.
    #[error(
        "{detector}: row {row}, feature {feature} ({column}) is {value}; \
         detectors need finite numbers: drop or impute that row first"
    )]
    NonFinite {
        /// Detector name.
        detector: &'static str,
        /// Row index (0-based).
        row: usize,
        /// Feature index (0-based).
        feature: usize,
        /// Column name when known, else `"?"`.
        column: String,
        /// The offending value.
        value: f64,
    },
    /// Scoring data has a different number of features than the training data.
    #[error(
        "{detector} was fitted on {expected} features but the data to score has {got}: \
         score with the same columns, in the same order, as the training data"
    )]
    FeatureCountMismatch {
        /// Detector name.
        detector: &'static str,
        /// Features seen at fit time.
        expected: usize,
        /// Features of the scored data.
        got: usize,
    },
    /// A requested column does not exist in the table.
    #[error(
        "column `{column}` not found in the input table (available: {available}): fix --columns"
    )]
    ColumnNotFound {
        /// Requested column.
        column: String,
        /// Comma-separated available column names.
        available: String,
    },
    /// A requested column is not numeric.
    #[error(
        "column `{column}` has type {data_type}, which is not numeric: \
         outlier scoring needs integer or float columns; leave it out of --columns or cast it"
    )]
    NonNumericColumn {
        /// Column name.
        column: String,
        /// Its Arrow type, formatted.
        data_type: String,
    },
    /// A selected column contains nulls.
    #[error(
        "column `{column}` has {nulls} null value(s) (first at row {first_row}): \
         outlier scoring does not impute; fill or drop the nulls, or leave the column out of --columns"
    )]
    NullValues {
        /// Column name.
        column: String,
        /// Number of nulls.
        nulls: usize,
        /// First null row (0-based, over all batches).
        first_row: usize,
    },
    /// No usable column.
    #[error(
        "the input table has no numeric column to score (columns: {available}); \
         `label` is never used implicitly: pass --columns explicitly"
    )]
    NoNumericColumns {
        /// Comma-separated column names.
        available: String,
    },
    /// Batches of one table disagree on their schema.
    #[error("record batch {batch} has a different schema than batch 0: all batches of a table must share one schema")]
    SchemaMismatch {
        /// Index of the offending batch.
        batch: usize,
    },
    /// A metric is undefined for the given labels or scores.
    #[error("{metric} is undefined: {reason}")]
    MetricUndefined {
        /// Metric name ("ROC-AUC", "average precision").
        metric: &'static str,
        /// Why.
        reason: String,
    },
    /// An Arrow kernel failed (e.g. a cast to Float64 overflowed).
    #[error("Arrow error while reading column `{column}`: {source}")]
    Arrow {
        /// Column being read.
        column: String,
        /// Underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Error raised by linfa's dataset machinery.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

/// Average path length of an unsuccessful search in a binary search tree of `n` points:
/// `c(n) = 2 H(n-1) - 2 (n-1) / n`, with `H(i) = ln(i) + γ`; `c(0) = c(1) = 0`, `c(2) = 1`
/// (scikit-learn's `_average_path_length`).
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// Checked hyperparameters of an Isolation Forest (see [`IsolationForestParams`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForestValidParams {
    n_trees: usize,
    max_samples: usize,
    max_features: f64,
    seed: u64,
}

impl IsolationForestValidParams {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.n_trees
    }
    /// Rows per tree (capped at the number of training rows).
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }
    /// Fraction of features each tree sees.
    pub fn max_features(&self) -> f64 {
        self.max_features
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Fits a forest on `x` (rows = samples, columns = features).
    ///
    /// Errors when `x` has fewer than 2 rows, no column, or a NaN / infinite value.
    pub fn fit(&self, x: &ArrayView2<'_, f64>) -> Result<IsolationForest, OutlierError> {
        const DET: &str = "Isolation Forest";
        let (n, d) = x.dim();
        if d == 0 {
            return Err(OutlierError::NoFeatures { detector: DET });
        }
        if n < 2 {
            return Err(OutlierError::TooFewRows {
                detector: DET,
                rows: n,
                min: 2,
            });
        }
        check_finite(DET, x)?;
        let m = self.max_samples.min(n);
        // scikit-learn: max_depth = ceil(log2(max(max_samples, 2))).
        let height_limit = (m.max(2) as f64).log2().ceil() as usize;
        let k = ((self.max_features * d as f64) as usize).clamp(1, d);
        let trees: Vec<Tree> = (0..self.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                rng.set_stream(t as u64);
                build_tree(x, m, k, height_limit, &mut rng)
            })
            .collect();
        Ok(IsolationForest {
            trees,
            n_features: d,
            max_samples: m,
            normaliser: average_path_length(m),
        })
    }
}

/// Isolation Forest hyperparameters, linfa style: build with [`IsolationForestParams::new`]
/// (scikit-learn defaults), adjust with the setters, then [`ParamGuard::check`] into
/// [`IsolationForestValidParams`] or fit directly (fitting checks first).
///
/// | setting | default | accepted |
/// |---|---|---|
/// | `n_trees` | 100 | ≥ 1 |
/// | `max_samples` | 256 (capped at the number of rows) | ≥ 2 |
/// | `max_features` | 1.0 | in (0, 1] |
/// | `seed` | 0 | any |
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForestParams(IsolationForestValidParams);

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolationForestParams {
    /// scikit-learn's defaults: 100 trees, 256 samples per tree, all features, seed 0.
    pub fn new() -> Self {
        Self(IsolationForestValidParams {
            n_trees: 100,
            max_samples: 256,
            max_features: 1.0,
            seed: 0,
        })
    }
    /// Sets the number of trees.
    pub fn n_trees(mut self, n_trees: usize) -> Self {
        self.0.n_trees = n_trees;
        self
    }
    /// Sets the number of rows drawn (without replacement) for each tree.
    pub fn max_samples(mut self, max_samples: usize) -> Self {
        self.0.max_samples = max_samples;
        self
    }
    /// Sets the fraction of features each tree sees (drawn without replacement per tree).
    pub fn max_features(mut self, fraction: f64) -> Self {
        self.0.max_features = fraction;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Checks the parameters and fits a forest on `x` (see [`IsolationForestValidParams::fit`]).
    pub fn fit(&self, x: &ArrayView2<'_, f64>) -> Result<IsolationForest, OutlierError> {
        self.check_ref()?.fit(x)
    }
}

impl ParamGuard for IsolationForestParams {
    type Checked = IsolationForestValidParams;
    type Error = OutlierError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        const DET: &str = "Isolation Forest";
        let p = &self.0;
        if p.n_trees == 0 {
            return Err(OutlierError::InvalidSetting {
                detector: DET,
                name: "n_trees",
                value: "0".into(),
                fix: "use at least 1 tree (scikit-learn's default is 100)",
            });
        }
        if p.max_samples < 2 {
            return Err(OutlierError::InvalidSetting {
                detector: DET,
                name: "max_samples",
                value: p.max_samples.to_string(),
                fix: "use at least 2 rows per tree (scikit-learn's default is 256)",
            });
        }
        if !(p.max_features > 0.0 && p.max_features <= 1.0) {
            return Err(OutlierError::InvalidSetting {
                detector: DET,
                name: "max_features",
                value: p.max_features.to_string(),
                fix: "use a fraction in (0, 1] (scikit-learn's default is 1.0)",
            });
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl<D: Data<Elem = f64>, T> Fit<ArrayBase<D, Ix2>, T, OutlierError>
    for IsolationForestValidParams
{
    type Object = IsolationForest;

    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<IsolationForest, OutlierError> {
        IsolationForestValidParams::fit(self, &dataset.records.view())
    }
}

/// One tree node, in a flat pre-order arena: the left child of an internal node at index `i` is
/// `i + 1`, the right child is `right`. A leaf points to itself (`right == i`) with a NaN
/// threshold (its path length lives in `Tree::path`).
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Split threshold; NaN for a leaf.
    threshold: f64,
    /// Global feature index (0 for a leaf).
    feature: u32,
    /// Index of the right child; the node's own index for a leaf.
    right: u32,
}

/// One isolation tree.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
    /// `path[i]` = `depth + c(leaf size)` when node `i` is a leaf (0 for internal nodes).
    path: Vec<f64>,
    /// Depth of the deepest leaf.
    depth: usize,
}

impl Tree {
    #[inline]
    fn step(&self, i: usize, row: &[f64]) -> usize {
        let node = self.nodes[i];
        let right = node.right as usize;
        // Branch-free select of `i + 1` (x <= threshold) or `right`: the comparison is a coin
        // flip for the branch predictor, and a mispredict costs more than the arithmetic.
        let left_mask = ((row[node.feature as usize] <= node.threshold) as usize).wrapping_neg();
        right ^ ((right ^ (i + 1)) & left_mask)
    }

    #[inline]
    fn path_length(&self, row: &[f64]) -> f64 {
        let mut i = 0usize;
        while self.nodes[i].right as usize != i {
            i = self.step(i, row);
        }
        self.path[i]
    }

    /// [`Tree::path_length`] of `L` rows walked down the tree in lock-step: the walks are
    /// independent chains of dependent loads, so interleaving them keeps the core busy. A leaf
    /// steps to itself (NaN threshold, `right` = itself), so `depth` branch-free steps take
    /// every row to its leaf.
    #[inline]
    fn path_lengths<const L: usize>(&self, rows: [&[f64]; L]) -> [f64; L] {
        let mut at = [0usize; L];
        for _ in 0..self.depth {
            for (i, row) in at.iter_mut().zip(rows) {
                *i = self.step(*i, row);
            }
        }
        at.map(|i| self.path[i])
    }
}

/// Tree-building state: the tree's sample, column-major (`cols[f * m + i]` is local feature `f`
/// of sample row `i`), so the min/max scans of a node read contiguous memory.
struct Builder<'a> {
    cols: Vec<f64>,
    m: usize,
    features: Vec<u32>,
    height_limit: usize,
    nodes: Vec<Node>,
    path: Vec<f64>,
    depth: usize,
    candidates: Vec<usize>,
    rng: &'a mut ChaCha8Rng,
}

fn build_tree(
    x: &ArrayView2<'_, f64>,
    m: usize,
    k: usize,
    height_limit: usize,
    rng: &mut ChaCha8Rng,
) -> Tree {
    let (n, d) = x.dim();
    let rows = rand::seq::index::sample(rng, n, m).into_vec();
    let features: Vec<u32> = if k == d {
        (0..d as u32).collect()
    } else {
        let mut f: Vec<u32> = rand::seq::index::sample(rng, d, k)
            .into_iter()
            .map(|f| f as u32)
            .collect();
        f.sort_unstable();
        f
    };
    let mut cols = vec![0.0; k * m];
    for (lf, &gf) in features.iter().enumerate() {
        let col = x.column(gf as usize);
        for (i, &r) in rows.iter().enumerate() {
            cols[lf * m + i] = col[r];
        }
    }
    let mut b = Builder {
        cols,
        m,
        features,
        height_limit,
        nodes: Vec::with_capacity(2 * m),
        path: Vec::with_capacity(2 * m),
        depth: 0,
        candidates: Vec::with_capacity(k),
        rng,
    };
    let mut idx: Vec<u32> = (0..m as u32).collect();
    b.grow(&mut idx, 0);
    Tree {
        nodes: b.nodes,
        path: b.path,
        depth: b.depth,
    }
}

impl Builder<'_> {
    fn leaf(&mut self, size: usize, depth: usize) {
        let me = self.nodes.len();
        self.nodes.push(Node {
            threshold: f64::NAN,
            feature: 0,
            right: me as u32,
        });
        self.path.push(depth as f64 + average_path_length(size));
        self.depth = self.depth.max(depth);
    }

    fn grow(&mut self, idx: &mut [u32], depth: usize) {
        if depth >= self.height_limit || idx.len() < 2 {
            self.leaf(idx.len(), depth);
            return;
        }
        // Draw features uniformly among those not yet found constant in this node until one is
        // not constant: the same distribution as scikit-learn's random splitter with
        // max_features=1 (uniform over the non-constant features of the node).
        self.candidates.clear();
        self.candidates.extend(0..self.features.len());
        let split = loop {
            if self.candidates.is_empty() {
                break None;
            }
            let pick = self.rng.gen_range(0..self.candidates.len());
            let lf = self.candidates.swap_remove(pick);
            let col = &self.cols[lf * self.m..(lf + 1) * self.m];
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &i in idx.iter() {
                let v = col[i as usize];
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi <= lo + FEATURE_THRESHOLD {
                continue;
            }
            let mut threshold = self.rng.gen_range(lo..hi);
            if threshold >= hi {
                threshold = lo;
            }
            break Some((lf, threshold));
        };
        let Some((lf, threshold)) = split else {
            self.leaf(idx.len(), depth);
            return;
        };
        // Partition in place: rows with x <= threshold first.
        let col = &self.cols[lf * self.m..(lf + 1) * self.m];
        let mut left = 0;
        for j in 0..idx.len() {
            if col[idx[j] as usize] <= threshold {
                idx.swap(left, j);
                left += 1;
            }
        }
        let me = self.nodes.len();
        self.nodes.push(Node {
            threshold,
            feature: self.features[lf],
            right: 0,
        });
        self.path.push(0.0);
        let (l, r) = idx.split_at_mut(left);
        self.grow(l, depth + 1);
        self.nodes[me].right = self.nodes.len() as u32;
        self.grow(r, depth + 1);
    }
}

/// A fitted Isolation Forest. Score rows with [`IsolationForest::score`] (or linfa's `Predict`).
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Vec<Tree>,
    n_features: usize,
    max_samples: usize,
    normaliser: f64,
}

impl IsolationForest {
    /// Number of features the forest was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Rows each tree was grown on (`min(max_samples, training rows)`).
    pub fn samples_per_tree(&self) -> usize {
        self.max_samples
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Total number of nodes over all trees (for diagnostics).
    pub fn n_nodes(&self) -> usize {
        self.trees.iter().map(|t| t.nodes.len()).sum()
    }

    /// Mean path length `E[h(x)]` of one row over the trees.
    ///
    /// # Panics
    /// If `row.len()` differs from [`IsolationForest::n_features`].
    pub fn mean_path_length(&self, row: &[f64]) -> f64 {
        assert_eq!(
            row.len(),
            self.n_features,
            "row has the wrong number of features"
        );
        let total: f64 = self.trees.iter().map(|t| t.path_length(row)).sum();
        total / self.trees.len() as f64
    }

    /// Anomaly scores `2^(-E[h(x)] / c(max_samples))` in `(0, 1]`, higher = more anomalous
    /// (scikit-learn's `-score_samples`). Rows in parallel; bit-identical for any thread count.
    /// A row containing NaN scores NaN (use [`IsolationForest::try_score`] to get an error).
    ///
    /// # Panics
    /// If `x` does not have [`IsolationForest::n_features`] columns.
    pub fn score(&self, x: &ArrayView2<'_, f64>) -> Array1<f64> {
        assert_eq!(
            x.ncols(),
            self.n_features,
            "Isolation Forest was fitted on {} features but the data has {}",
            self.n_features,
            x.ncols()
        );
        let d = self.n_features;
        let data = x.as_standard_layout();
        let flat = data.as_slice().expect("standard layout is contiguous");
        let mut out = vec![0.0; x.nrows()];
        let scale = -1.0 / (self.trees.len() as f64 * self.normaliser);
        out.par_chunks_mut(SCORE_CHUNK)
            .zip(flat.par_chunks(SCORE_CHUNK * d))
            .for_each(|(o, rows)| {
                // Rows are walked four at a time (see `Tree::path_lengths`); each row still adds
                // its path lengths in tree order, so the sums are the same.
                const L: usize = 4;
                let (o4, o_rest) = o.split_at_mut(o.len() / L * L);
                let (rows4, rows_rest) = rows.split_at(o4.len() * d);
                for tree in &self.trees {
                    for (acc, rows) in o4.chunks_exact_mut(L).zip(rows4.chunks_exact(L * d)) {
                        let paths = tree
                            .path_lengths::<L>(std::array::from_fn(|l| &rows[l * d..(l + 1) * d]));
                        for (a, p) in acc.iter_mut().zip(paths) {
                            *a += p;
                        }
                    }
                    for (acc, row) in o_rest.iter_mut().zip(rows_rest.chunks_exact(d)) {
                        *acc += tree.path_length(row);
                    }
                }
                for (acc, row) in o.iter_mut().zip(rows.chunks_exact(d)) {
                    *acc = if row.iter().any(|v| v.is_nan()) {
                        f64::NAN
                    } else {
                        (*acc * scale).exp2()
                    };
                }
            });
        Array1::from_vec(out)
    }

    /// Like [`IsolationForest::score`] but returns an error instead of panicking on a feature
    /// count mismatch, and instead of a NaN score on a NaN / infinite value.
    pub fn try_score(&self, x: &ArrayView2<'_, f64>) -> Result<Array1<f64>, OutlierError> {
        if x.ncols() != self.n_features {
            return Err(OutlierError::FeatureCountMismatch {
                detector: "Isolation Forest",
                expected: self.n_features,
                got: x.ncols(),
            });
        }
        check_finite("Isolation Forest", x)?;
        Ok(self.score(x))
    }
}

predict_scores!(IsolationForest);

/// Errors on the first NaN / infinite value (row-major order).
pub(crate) fn check_finite(
    detector: &'static str,
    x: &ArrayView2<'_, f64>,
) -> Result<(), OutlierError> {
    for (row, r) in x.outer_iter().enumerate() {
        for (feature, &value) in r.iter().enumerate() {
            if !value.is_finite() {
                return Err(OutlierError::NonFinite {
                    detector,
                    row,
                    feature,
                    column: "?".into(),
                    value,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn c_known_values() {
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // c(3) = 2 (ln 2 + γ) - 4/3 = 2 (0.693147 + 0.577216) - 1.333333 = 1.207392
        assert!((average_path_length(3) - 1.207_392).abs() < 1e-6);
        // c(256) = 2 (ln 255 + γ) - 2 * 255/256 = 2 (5.541264 + 0.577216) - 1.992188 = 10.244770
        assert!((average_path_length(256) - 10.244_770).abs() < 1e-5);
    }

    #[test]
    fn params_are_checked() {
        assert!(IsolationForestParams::new().n_trees(0).check().is_err());
        assert!(IsolationForestParams::new().max_samples(1).check().is_err());
        assert!(IsolationForestParams::new()
            .max_features(0.0)
            .check()
            .is_err());
        assert!(IsolationForestParams::new()
            .max_features(1.5)
            .check()
            .is_err());
        let msg = IsolationForestParams::new()
            .n_trees(0)
            .check()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("n_trees"), "{msg}");
        let ok = IsolationForestParams::new().seed(3).check().unwrap();
        assert_eq!((ok.n_trees(), ok.max_samples(), ok.seed()), (100, 256, 3));
    }

    #[test]
    fn two_points_give_known_depths() {
        // Two distinct rows: every tree splits the root once (depth 1 leaves of size 1), so
        // E[h] = 1 and s = 2^(-1 / c(2)) = 0.5 for both rows.
        let x = Array2::from_shape_vec((2, 1), vec![0.0, 1.0]).unwrap();
        let f = IsolationForestParams::new()
            .n_trees(10)
            .fit(&x.view())
            .unwrap();
        let s = f.score(&x.view());
        assert!(
            (s[0] - 0.5).abs() < 1e-12 && (s[1] - 0.5).abs() < 1e-12,
            "{s}"
        );
        // Identical rows: the root is a leaf holding 2 rows, h = 0 + c(2) = 1, s = 0.5.
        let x = Array2::from_shape_vec((2, 2), vec![3.0, 3.0, 3.0, 3.0]).unwrap();
        let f = IsolationForestParams::new().fit(&x.view()).unwrap();
        assert_eq!(f.n_nodes(), 100);
        assert!((f.score(&x.view())[0] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn tree_height_is_limited() {
        // 256 samples: height limit ceil(log2 256) = 8, so at most 2^9 - 1 nodes per tree.
        let x = Array2::from_shape_fn((1000, 3), |(i, j)| ((i * 7919 + j * 104_729) % 1000) as f64);
        let f = IsolationForestParams::new().fit(&x.view()).unwrap();
        assert_eq!(f.samples_per_tree(), 256);
        for t in &f.trees {
            assert!(t.nodes.len() <= 511);
        }
        // Mean path length can never exceed 8 + c(256 - 8) < 8 + c(256).
        let h = f.mean_path_length(&[1.0, 2.0, 3.0]);
        assert!(h > 0.0 && h < 8.0 + average_path_length(256));
    }

    #[test]
    fn errors_name_the_problem() {
        let x = Array2::from_shape_vec((3, 1), vec![0.0, f64::NAN, 1.0]).unwrap();
        let e = IsolationForestParams::new().fit(&x.view()).unwrap_err();
        assert!(
            matches!(
                e,
                OutlierError::NonFinite {
                    row: 1,
                    feature: 0,
                    ..
                }
            ),
            "{e}"
        );
        let x = Array2::<f64>::zeros((1, 2));
        assert!(matches!(
            IsolationForestParams::new().fit(&x.view()),
            Err(OutlierError::TooFewRows { rows: 1, .. })
        ));
        let x = Array2::<f64>::zeros((4, 2));
        let f = IsolationForestParams::new().fit(&x.view()).unwrap();
        let y = Array2::<f64>::zeros((4, 3));
        assert!(matches!(
            f.try_score(&y.view()),
            Err(OutlierError::FeatureCountMismatch {
                expected: 2,
                got: 3,
                ..
            })
        ));
    }
}
