//! Isolation Forest (Liu, Ting & Zhou, 2008), with scikit-learn's scoring conventions.
//!
//! Anomalies are few and different, so random axis-parallel splits isolate them in fewer steps
//! than ordinary rows. Each tree is grown on a small row sample (256 by default); a row's score
//! comes from its average path length over the trees, normalised by `c(max_samples)`, the
//! expected path length of an unsuccessful search in a binary search tree.
//!
//! The API follows linfa for fitting (validated [`IsolationForestParams`], [`linfa::traits::Fit`]
//! on a [`linfa::Dataset`]) and scikit-learn for scoring, so users of either find what they expect:
//!
//! | method | meaning |
//! |---|---|
//! | [`IsolationForest::score_samples`] | `-2^(-E[h(x)] / c(max_samples))`: lower is more abnormal, in [-1, 0) |
//! | [`IsolationForest::decision_function`] | `score_samples - offset`: negative means anomaly |
//! | [`Predict::predict`](linfa::traits::Predict) | -1 for anomalies, 1 for normal rows (linfa's trait; [`IsolationForest::try_predict`] returns bad input as an error) |
//! | [`IsolationForest::is_anomaly`] | the same as booleans |
//!
//! The decision itself is written once, in [`is_anomalous`], and its -1/1 encoding once, in
//! [`prediction`]: the detector, the server, the stream and the Lambda all go through them.
//!
//! `offset` is -0.5 for `contamination = auto` (the paper's 0.5 score threshold) and otherwise the
//! `contamination` quantile of the training scores, as in scikit-learn.
//!
//! Where it differs from scikit-learn, on purpose: values stay `f64` (scikit-learn casts to
//! `float32`), a feature counts as constant on a node only when its minimum equals its maximum
//! (scikit-learn: a range below 1e-7), and a `max_samples` of one row is an error rather than
//! NaN scores. With `bootstrap`, rows drawn more than once count once, as scikit-learn's sample
//! weights make them count.
//!
//! Determinism: tree `t` draws from its own generator derived from `(seed, t)`, and a row's path
//! lengths are summed over trees in a fixed order, so the same seed gives bit-identical scores
//! whatever the number of threads. Scoring compiles the trees to one of three [`Layout`]s — the
//! fastest the CPU allows, or the one `ANOMALY_KIT_LAYOUT` or [`IsolationForest::with_layout`]
//! asks for — and all take the same branches and add in the same order, so the CPU does not
//! change a path length either (scores then go through the platform's `pow`).
//!
//! ```
//! use anomaly_kit::forest::{IsolationForest, IsolationForestParams};
//! use linfa::prelude::*;
//! use ndarray::Array2;
//! // 200 points on a line and one far away
//! let mut x = Array2::from_shape_fn((201, 2), |(i, j)| (i as f64) * if j == 0 { 1.0 } else { 0.5 });
//! x[[200, 0]] = 1_000.0;
//! let forest: IsolationForest = IsolationForestParams::new().seed(7).fit(&Dataset::from(x.clone()))?;
//! let scores = forest.score_samples(x.view())?;
//! let (most_abnormal, _) = scores.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).unwrap();
//! assert_eq!(most_abnormal, 200);
//! assert_eq!(forest.predict(&x)[200], -1);
//! # Ok::<(), anomaly_kit::forest::ForestError>(())
//! ```

// The AVX2 layout calls the portable walk compiled for AVX2 and BMI2, which Rust marks
// `unsafe` to call: the call is guarded by a CPU check made once when the layout is built
// (`avx2::cpu_supported`).
#[allow(
    unsafe_code,
    reason = "calls code compiled for AVX2, behind a runtime CPU check; see the SAFETY note"
)]
mod avx2;
mod codes;
pub mod layout;
mod params;
mod portable;
// The AVX-512 layout calls intrinsics, which Rust marks `unsafe`: each entry is guarded by a
// CPU check made once when the layout is built (`ranked::cpu_supported`), loads read whole
// registers from buffers sized for them, and the module's tests compare every score with the
// plain walk bit for bit. With `avx2`, the only modules allowed `unsafe`.
#[allow(
    unsafe_code,
    reason = "AVX-512 intrinsics, behind a runtime CPU check; see the module's SAFETY notes"
)]
mod ranked;
mod tree;

pub use layout::{LAYOUT_ENV, Layout, LayoutChoice, LayoutError};
pub use params::{
    Contamination, IsolationForestParams, IsolationForestValidParams, MAX_TREES, MaxFeatures,
    MaxSamples, ParamError,
};
pub use tree::IsolationTree;

use linfa::dataset::{DatasetBase, Records};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, ArrayView2, Data, Ix2};
use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use std::cell::RefCell;
use std::sync::OnceLock;

use avx2::Avx2Forest;
use portable::PortableForest;
use ranked::RankedForest;

use crate::rng;

/// Euler–Mascheroni constant, as scikit-learn uses it in `c(n)`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Rows scored per unit of parallel work; up to this many, scoring stays on the calling thread
/// (a small request never waits for the thread pool).
const PARALLEL_CHUNK: usize = 4 * codes::BLOCK;

thread_local! {
    /// Each thread's scoring buffers, reused across calls: scoring allocates nothing per row.
    static SCRATCH: RefCell<ScoringScratch> = RefCell::new(ScoringScratch::default());
}

/// A forest compiled to one [`Layout`] for scoring. Every layout takes the same branches and
/// adds path lengths in the same order, so the choice changes speed, never a score's bits.
#[derive(Clone, Debug)]
enum ScoringLayout {
    /// Thresholds as ranks, 32 rows per AVX-512 register.
    Avx512(RankedForest),
    /// The portable walk compiled for AVX2 and BMI2.
    Avx2(Avx2Forest),
    /// Heap-ordered trees walked in lockstep, plain Rust.
    Portable(PortableForest),
}

impl ScoringLayout {
    /// Compiles `trees` to the layout `choice` asks for: with [`LayoutChoice::Auto`], the
    /// fastest this CPU and forest allow.
    fn new(
        trees: &[IsolationTree],
        n_features: usize,
        choice: LayoutChoice,
    ) -> Result<Self, LayoutError> {
        let unsupported =
            |layout: Layout, reason: String| LayoutError::Unsupported { layout, reason };
        match choice {
            LayoutChoice::Auto => Ok(match RankedForest::new(trees, n_features) {
                Ok(ranked) => Self::Avx512(ranked),
                Err(_) => match Avx2Forest::new(trees, n_features) {
                    Some(avx2) => Self::Avx2(avx2),
                    None => Self::Portable(PortableForest::new(trees, n_features)),
                },
            }),
            LayoutChoice::Only(Layout::Portable) => {
                Ok(Self::Portable(PortableForest::new(trees, n_features)))
            }
            LayoutChoice::Only(layout @ Layout::Avx2) => Avx2Forest::new(trees, n_features)
                .map(Self::Avx2)
                .ok_or_else(|| {
                    let why = layout
                        .missing_on_this_cpu()
                        .unwrap_or("the CPU check failed");
                    unsupported(layout, why.into())
                }),
            LayoutChoice::Only(layout @ Layout::Avx512) => RankedForest::new(trees, n_features)
                .map(Self::Avx512)
                .map_err(|why| unsupported(layout, why)),
        }
    }

    /// Adds each row's summed path length over all trees to `out`, using this thread's buffers.
    fn sum_path_lengths(&self, rows: &[f64], out: &mut [f64]) {
        SCRATCH.with_borrow_mut(|scratch| match self {
            Self::Avx512(f) => f.sum_path_lengths(rows, out, &mut scratch.ranked),
            Self::Avx2(f) => f.sum_path_lengths(rows, out, &mut scratch.portable),
            Self::Portable(f) => f.sum_path_lengths(rows, out, &mut scratch.portable),
        });
    }

    fn layout(&self) -> Layout {
        match self {
            Self::Avx512(_) => Layout::Avx512,
            Self::Avx2(_) => Layout::Avx2,
            Self::Portable(_) => Layout::Portable,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::Avx512(f) => f.heap_bytes(),
            Self::Avx2(f) => f.heap_bytes(),
            Self::Portable(f) => f.heap_bytes(),
        }
    }
}

/// Per-thread scoring buffers, one set per layout.
#[derive(Default)]
struct ScoringScratch {
    ranked: ranked::Scratch,
    portable: portable::Scratch,
}

/// Average path length of an unsuccessful search in a binary search tree of `n` nodes, `c(n)`.
///
/// `c(n) = 2 (ln(n - 1) + γ) - 2 (n - 1) / n` for `n > 2`, `c(2) = 1`, `c(1) = c(0) = 0` —
/// scikit-learn's `_average_path_length`. A leaf still holding `n` training rows adds `c(n)` to a
/// row's depth, estimating the rest of the path the depth limit cut off.
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

/// Everything that can go wrong fitting or using a forest.
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    /// A hyper-parameter is out of its range (see [`ParamError`]).
    #[error("invalid Isolation Forest parameters: {0}")]
    InvalidParams(ParamError),
    /// `max_samples` resolves to fewer than 2 rows: too few to grow a tree.
    #[error(
        "max_samples resolves to {max_samples} row(s) for {n_rows} training rows; an isolation tree needs at least 2"
    )]
    TooFewSamples {
        /// Rows per tree, `max_samples` resolved against the training set.
        max_samples: usize,
        /// Rows in the training data.
        n_rows: usize,
    },
    /// The training data has no rows or no columns.
    #[error("cannot fit on an empty data set ({rows} rows x {cols} columns)")]
    Empty {
        /// Rows in the data.
        rows: usize,
        /// Columns in the data.
        cols: usize,
    },
    /// A value is NaN or infinite; the forest needs finite numbers.
    #[error("value at row {row}, column {col} is {value}: the forest needs finite numbers")]
    NonFinite {
        /// Row of the first such value, from 0.
        row: usize,
        /// Its column, from 0.
        col: usize,
        /// The value itself.
        value: f64,
    },
    /// The rows have another number of columns than the forest was fitted on.
    #[error("the forest was fitted on {expected} features but got {got}")]
    FeatureMismatch {
        /// Features the forest was fitted on.
        expected: usize,
        /// Columns in the rows given.
        got: usize,
    },
    /// The training data has more rows than a `u32` row index can address (the row count).
    #[error("{0} rows is more than the forest can index (at most {max})", max = u32::MAX)]
    TooManyRows(usize),
    /// A forest read from a file does not hold together (the message says how).
    #[error("invalid stored forest: {0}")]
    Corrupt(String),
    /// The scoring layout asked for (by `ANOMALY_KIT_LAYOUT` or [`IsolationForest::with_layout`])
    /// is unknown, or this CPU or forest cannot use it.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// An error from linfa, passed on unchanged.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

// The parameter error is quoted in the message, so it is not also this error's `source()`:
// a chain printer shows it once.
impl From<ParamError> for ForestError {
    fn from(e: ParamError) -> Self {
        ForestError::InvalidParams(e)
    }
}

/// The anomaly decision, the one place it is written: a row is anomalous when its
/// `score_samples` value is below the threshold (scikit-learn's `offset_`; equal is normal).
///
/// ```
/// use anomaly_kit::forest::is_anomalous;
/// assert!(is_anomalous(-0.62, -0.5));
/// assert!(!is_anomalous(-0.5, -0.5));
/// ```
pub fn is_anomalous(score: f64, threshold: f64) -> bool {
    score < threshold
}

/// A decision as scikit-learn's `predict` and the `/invocations` contract encode it: -1 for an
/// anomaly, 1 for a normal row.
pub fn prediction(anomalous: bool) -> i32 {
    if anomalous { -1 } else { 1 }
}

/// Whether a -1/1 prediction ([`prediction`]) says "anomaly".
pub fn is_anomaly_prediction(prediction: i32) -> bool {
    prediction == -1
}

/// A fitted Isolation Forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationForest {
    params: IsolationForestValidParams,
    n_features: usize,
    /// Rows each tree was grown from (`max_samples` resolved against the training set).
    max_samples: usize,
    /// `score_samples` threshold: rows scoring below it are anomalies.
    offset: f64,
    trees: Vec<IsolationTree>,
    /// The scoring layout, derived from `trees` on first use.
    #[serde(skip)]
    layout: ScoringCache,
}

/// A cache of the scoring layout: derived from the trees, so it never makes two forests differ.
#[derive(Clone, Debug, Default)]
struct ScoringCache(OnceLock<ScoringLayout>);

impl PartialEq for ScoringCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl IsolationForest {
    /// Parameters to fit a forest with (the linfa entry point).
    pub fn params() -> IsolationForestParams {
        IsolationForestParams::default()
    }

    /// Grows the forest on `x` (rows x features, any memory layout). Prefer `Fit::fit` with a
    /// dataset; this is the same without linfa types.
    ///
    /// What is checked where: fitting reads only the rows the trees draw (256 per tree by
    /// default) and refuses a NaN or infinity in any of them, naming the first such value among
    /// the drawn rows (by row, then column); it does not scan the rest, so a bad value in a row
    /// no tree drew goes unseen here.
    /// Scoring checks every row it scores ([`Self::score_samples`] and everything built on it),
    /// and a `contamination` fraction scores the whole training set, so then every row is checked.
    pub fn fit_array(
        params: &IsolationForestValidParams,
        x: ArrayView2<f64>,
    ) -> Result<Self, ForestError> {
        let (n_rows, n_cols) = x.dim();
        if n_rows == 0 || n_cols == 0 {
            return Err(ForestError::Empty {
                rows: n_rows,
                cols: n_cols,
            });
        }
        if n_rows > u32::MAX as usize {
            return Err(ForestError::TooManyRows(n_rows));
        }
        let max_samples = params.max_samples().resolve(n_rows);
        if max_samples < 2 {
            // c(1) = 0: every score would be -1 and every row an anomaly
            return Err(ForestError::TooFewSamples {
                max_samples,
                n_rows,
            });
        }
        let n_tree_features = params.max_features().resolve(n_cols);
        let max_depth = (max_samples as f64).log2().ceil() as usize;
        // Each tree reads only its own sample: the rows are copied (from any memory layout)
        // into a small contiguous buffer, checked for NaN and infinity on the way, and the tree
        // grows on that buffer, in cache. Rows no tree draws are never read — on 1M rows, 100
        // trees of 256 touch 2.5 % of them.
        // (a tree that draws a NaN or infinity returns the (row, column) of the first, by row)
        let grown: Vec<Result<IsolationTree, (usize, usize)>> = (0..params.n_trees())
            .into_par_iter()
            .map(|t| {
                let mut rng = rng::stream_rng(params.seed(), t as u64);
                let sample: Vec<u32> = if params.bootstrap() {
                    // scikit-learn hands the draws to the tree as sample weights, so a row drawn
                    // three times is one row there: its leaf counts one sample, not three
                    let mut drawn: Vec<u32> = (0..max_samples)
                        .map(|_| rng.random_range(0..n_rows as u32))
                        .collect();
                    drawn.sort_unstable();
                    drawn.dedup();
                    drawn
                } else {
                    rand::seq::index::sample(&mut rng, n_rows, max_samples)
                        .into_iter()
                        .map(|i| i as u32)
                        .collect()
                };
                let features: Vec<u32> = if n_tree_features == n_cols {
                    (0..n_cols as u32).collect()
                } else {
                    let mut f: Vec<u32> =
                        rand::seq::index::sample(&mut rng, n_cols, n_tree_features)
                            .into_iter()
                            .map(|i| i as u32)
                            .collect();
                    f.sort_unstable();
                    f
                };
                // The sampled rows are scattered over the input: each is a cache (and TLB) miss.
                // Touching their first and last values in one pass of independent loads lets
                // the CPU fetch many rows at once; the copy below then finds them in cache
                // (measured on 1M x 5: the fit's single-thread time fell from 8.5 ms to 2.6 ms).
                let touched = sample.iter().fold(0u64, |acc, &r| {
                    let row = x.row(r as usize);
                    acc | row[0].to_bits() | row[n_cols - 1].to_bits()
                });
                std::hint::black_box(touched);
                let mut rows: Vec<f64> = Vec::with_capacity(sample.len() * n_cols);
                for &r in &sample {
                    rows.extend(x.row(r as usize).iter());
                }
                // the sample is in draw order: the lowest bad row, whatever order drew it
                let first_bad = rows
                    .chunks_exact(n_cols)
                    .zip(&sample)
                    .filter_map(|(values, &r)| {
                        let col = values.iter().position(|v| !v.is_finite())?;
                        Some((r as usize, col))
                    })
                    .min();
                if let Some(bad) = first_bad {
                    return Err(bad);
                }
                // the sample's rows in draw order: the tree sees them as row 0, 1, ...
                let mut local: Vec<u32> = (0..sample.len() as u32).collect();
                Ok(IsolationTree::grow(
                    &rows, n_cols, &mut local, &features, max_depth, &mut rng,
                ))
            })
            .collect();
        // several trees may have drawn a bad value: name the first in the data, whatever
        // thread found it
        if let Some((row, col)) = grown.iter().filter_map(|t| t.as_ref().err()).min() {
            let (row, col) = (*row, *col);
            return Err(ForestError::NonFinite {
                row,
                col,
                value: x[[row, col]],
            });
        }
        let trees: Vec<IsolationTree> = grown.into_iter().flatten().collect();
        let mut forest = IsolationForest {
            params: params.clone(),
            n_features: n_cols,
            max_samples,
            offset: -0.5,
            trees,
            layout: ScoringCache::default(),
        };
        if let Contamination::Fraction(c) = params.contamination() {
            let scores = forest.score_samples(x)?;
            forest.offset = percentile(scores.as_slice().expect("fresh array"), 100.0 * c);
        }
        Ok(forest)
    }

    /// Mean path length of each row over all trees, `E[h(x)]`.
    pub fn path_lengths(&self, x: ArrayView2<f64>) -> Result<Array1<f64>, ForestError> {
        let n_trees = self.trees.len() as f64;
        self.map_path_sums(x, |sum| sum / n_trees)
    }

    /// Sums each row's path lengths over the trees and maps the sum with `finish`, in parallel
    /// chunks of rows: the per-row maths runs on the same threads as the walk, not after it.
    fn map_path_sums(
        &self,
        x: ArrayView2<f64>,
        finish: impl Fn(f64) -> f64 + Sync,
    ) -> Result<Array1<f64>, ForestError> {
        let (n_rows, n_cols) = x.dim();
        if n_cols != self.n_features {
            return Err(ForestError::FeatureMismatch {
                expected: self.n_features,
                got: n_cols,
            });
        }
        let data = x.as_standard_layout();
        let flat = data.as_slice().expect("standard layout is contiguous");
        let layout = self.compiled()?;
        let mut out = vec![0.0; n_rows];
        let score_chunk = |(chunk, sums): (usize, &mut [f64])| {
            let rows = &flat[chunk * PARALLEL_CHUNK * n_cols..][..sums.len() * n_cols];
            check_finite(rows, n_cols, chunk * PARALLEL_CHUNK)?;
            layout.sum_path_lengths(rows, sums);
            for s in sums.iter_mut() {
                *s = finish(*s);
            }
            Ok(())
        };
        let walked = if n_rows <= PARALLEL_CHUNK {
            score_chunk((0, &mut out))
        } else {
            out.par_chunks_mut(PARALLEL_CHUNK)
                .enumerate()
                .try_for_each(score_chunk)
        };
        if let Err(in_some_chunk) = walked {
            // chunks fail in any order: name the first bad value of all
            check_finite(flat, n_cols, 0)?;
            return Err(in_some_chunk);
        }
        Ok(Array1::from_vec(out))
    }

    /// The scoring layout, compiled from the trees on first use with the choice of
    /// `ANOMALY_KIT_LAYOUT` (unless [`Self::with_layout`] chose first).
    fn compiled(&self) -> Result<&ScoringLayout, LayoutError> {
        if let Some(layout) = self.layout.0.get() {
            return Ok(layout);
        }
        let layout = ScoringLayout::new(&self.trees, self.n_features, LayoutChoice::from_env()?)
            .map_err(|e| match e {
                // say who asked for it
                LayoutError::Unsupported { layout, reason } => LayoutError::Unsupported {
                    layout,
                    reason: format!("{reason} ({LAYOUT_ENV}={layout})"),
                },
                other => other,
            })?;
        // another thread may have compiled it meanwhile: the same trees and the same choice
        // give the same layout, so whichever is kept scores alike
        Ok(self.layout.0.get_or_init(|| layout))
    }

    /// The same forest, scoring with the layout `choice` asks for, whatever
    /// `ANOMALY_KIT_LAYOUT` says; an error if this CPU or this forest cannot use it (see
    /// [`layout`](crate::forest::Layout)). Every layout gives the same scores.
    pub fn with_layout(mut self, choice: LayoutChoice) -> Result<Self, ForestError> {
        let layout = ScoringLayout::new(&self.trees, self.n_features, choice)?;
        self.layout = ScoringCache(OnceLock::from(layout));
        Ok(self)
    }

    /// The layout this forest scores with (see [`Layout`]), compiling it if no scoring has yet
    /// (so [`Self::heap_bytes`] counts it from then on). All give the same scores; speed figures
    /// depend on it, so benchmarks report it. An error if `ANOMALY_KIT_LAYOUT` asks for a layout
    /// that is unknown or that this CPU or forest cannot use.
    pub fn scoring_layout(&self) -> Result<Layout, ForestError> {
        Ok(self.compiled()?.layout())
    }

    /// Bytes of heap memory the fitted forest holds: the trees plus the scoring layout once
    /// compiled (a model of 100 trees of 256 samples is a few hundred kilobytes).
    pub fn heap_bytes(&self) -> usize {
        self.trees
            .iter()
            .map(IsolationTree::heap_bytes)
            .sum::<usize>()
            + self.layout.0.get().map_or(0, ScoringLayout::heap_bytes)
    }

    /// Opposite of the paper's anomaly score: `-2^(-E[h(x)] / c(max_samples))`. Lower is more abnormal.
    pub fn score_samples(&self, x: ArrayView2<f64>) -> Result<Array1<f64>, ForestError> {
        let norm = average_path_length(self.max_samples);
        let n_trees = self.trees.len() as f64;
        self.map_path_sums(x, |sum| {
            if norm > 0.0 {
                -(2f64.powf(-(sum / n_trees) / norm))
            } else {
                -1.0
            }
        })
    }

    /// `score_samples - offset`: negative for anomalies.
    pub fn decision_function(&self, x: ArrayView2<f64>) -> Result<Array1<f64>, ForestError> {
        Ok(self.score_samples(x)? - self.offset)
    }

    /// -1 for anomalies, 1 for normal rows (scikit-learn's `predict`), or an error for rows of
    /// the wrong width or with non-finite values. linfa's [`Predict`](linfa::traits::Predict)
    /// gives the same answers and panics where this returns an error.
    pub fn try_predict(&self, x: ArrayView2<f64>) -> Result<Array1<i32>, ForestError> {
        Ok(self.is_anomaly(x)?.mapv(prediction))
    }

    /// `true` for anomalies: [`is_anomalous`] per row.
    pub fn is_anomaly(&self, x: ArrayView2<f64>) -> Result<Array1<bool>, ForestError> {
        let offset = self.offset;
        Ok(self.score_samples(x)?.mapv(|s| is_anomalous(s, offset)))
    }

    /// The `score_samples` threshold below which a row is an anomaly.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// The same forest with another threshold (for example one chosen on labelled data).
    pub fn with_offset(mut self, offset: f64) -> Self {
        self.offset = offset;
        self
    }

    /// Columns the forest was fitted on, and that rows to score must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Rows each tree was grown from (`max_samples` resolved against the training set).
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }
    /// The fitted trees, in the order their path lengths are summed.
    pub fn trees(&self) -> &[IsolationTree] {
        &self.trees
    }

    /// The trees, taking the forest apart (the online detector keeps only them).
    pub(crate) fn into_trees(self) -> Vec<IsolationTree> {
        self.trees
    }
    /// The checked hyper-parameters the forest was fitted with.
    pub fn hyper_params(&self) -> &IsolationForestValidParams {
        &self.params
    }

    /// Checks a forest read from a file: every tree splits only on existing columns.
    pub fn validate(&self) -> Result<(), ForestError> {
        if self.trees.is_empty() {
            return Err(ForestError::Corrupt("the forest has no trees".into()));
        }
        if self.n_features == 0 || self.max_samples == 0 || !self.offset.is_finite() {
            return Err(ForestError::Corrupt(
                "n_features, max_samples and offset must be set".into(),
            ));
        }
        for (i, tree) in self.trees.iter().enumerate() {
            if let Some(f) = tree.max_feature()
                && f as usize >= self.n_features
            {
                return Err(ForestError::Corrupt(format!(
                    "tree {i} splits on column {f} of {}",
                    self.n_features
                )));
            }
        }
        Ok(())
    }
}

/// The first NaN or infinity in `rows` (row-major, `n_cols` columns, the first being row
/// `first_row` of the input), as the error that names it.
fn check_finite(rows: &[f64], n_cols: usize, first_row: usize) -> Result<(), ForestError> {
    match rows.iter().position(|v| !v.is_finite()) {
        Some(at) => Err(ForestError::NonFinite {
            row: first_row + at / n_cols,
            col: at % n_cols,
            value: rows[at],
        }),
        None => Ok(()),
    }
}

/// `numpy.percentile(values, q)` with linear interpolation; `q` in [0, 100].
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = (q / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

impl<D: Data<Elem = f64>, T> Fit<ArrayBase<D, Ix2>, T, ForestError> for IsolationForestValidParams {
    type Object = IsolationForest;

    /// Fits on the dataset's records; targets, if any, are ignored (the method is unsupervised).
    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<IsolationForest, ForestError> {
        IsolationForest::fit_array(self, dataset.records().view())
    }
}

/// linfa's `predict`: -1 for anomalies, 1 for normal rows.
///
/// # Panics
/// Like linfa's own models, if the records have another number of columns than the training
/// data or hold non-finite values. [`IsolationForest::try_predict`] returns those as errors instead.
impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<i32>> for IsolationForest {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<i32>) {
        assert_eq!(
            x.nrows(),
            y.len(),
            "the targets must have one entry per row"
        );
        let predicted =
            IsolationForest::try_predict(self, x.view()).unwrap_or_else(|e| panic!("{e}"));
        y.assign(&predicted);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<i32> {
        Array1::zeros(x.nsamples())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::ParamGuard;
    use linfa::prelude::*;
    use ndarray::{Array2, array};

    #[test]
    fn c_of_n_matches_sklearn() {
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2 (ln 2 + γ) - 4/3
        assert!(
            (average_path_length(3) - (2.0 * (2f64.ln() + EULER_GAMMA) - 4.0 / 3.0)).abs() < 1e-15
        );
        // the same formula evaluated in Python (float64), as sklearn.ensemble._iforest does
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-12);
        assert!((average_path_length(10) - 3.748_880_484_475_505).abs() < 1e-12);
    }

    #[test]
    fn one_training_row_is_an_error() {
        let p = IsolationForestParams::new().check().unwrap();
        let err = IsolationForest::fit_array(&p, array![[1.0, 2.0]].view()).unwrap_err();
        assert!(err.to_string().contains("at least 2"), "{err}");
    }

    #[test]
    fn bootstrap_counts_each_drawn_row_once() {
        // 256 draws with replacement from 256 rows hit about 162 distinct rows (1 - 1/e)
        let x = Array2::from_shape_fn((256, 1), |(i, _)| i as f64);
        let p = IsolationForestParams::new()
            .bootstrap(true)
            .seed(4)
            .check()
            .unwrap();
        let f = IsolationForest::fit_array(&p, x.view()).unwrap();
        let mean = f.trees().iter().map(|t| t.n_samples()).sum::<usize>() as f64 / 100.0;
        assert!((150.0..175.0).contains(&mean), "{mean}");
        // the depth limit still follows max_samples, as in scikit-learn
        assert!(f.trees().iter().all(|t| t.depth() <= 8));
    }

    #[test]
    fn two_rows_score_by_hand() {
        // max_samples = 2, depth limit 1: every tree splits the two rows once, so every row's path
        // is 1 and c(2) = 1, giving score -2^(-1/1) = -0.5 exactly.
        let x = array![[0.0], [1.0]];
        let p = IsolationForestParams::new()
            .n_trees(10)
            .seed(3)
            .check()
            .unwrap();
        let f = IsolationForest::fit_array(&p, x.view()).unwrap();
        assert_eq!(
            f.score_samples(x.view()).unwrap().to_vec(),
            vec![-0.5, -0.5]
        );
        // auto offset -0.5: decision 0 is not negative, so both are normal
        assert_eq!(f.try_predict(x.view()).unwrap().to_vec(), vec![1, 1]);
    }

    #[test]
    fn three_rows_score_by_hand() {
        // rows 0, 1, 10 in one column, max_samples 3 (depth limit 2). A split threshold t is
        // uniform in [0, 10): t < 1 isolates row 0 at depth 1 ({1, 10} goes on to depth 2),
        // t >= 1 isolates row 10 at depth 1. Whatever the draws, every path length is 1 or 2,
        // and row 10 is isolated first 90 % of the time, so it must score as the most abnormal.
        let x = array![[0.0], [1.0], [10.0]];
        let p = IsolationForestParams::new()
            .n_trees(200)
            .seed(11)
            .check()
            .unwrap();
        let f = IsolationForest::fit_array(&p, x.view()).unwrap();
        let h = f.path_lengths(x.view()).unwrap();
        assert!(h.iter().all(|&v| (1.0..=2.0).contains(&v)), "{h}");
        // row 1 is never isolated at depth 1, so its path is always 2
        assert_eq!(h[1], 2.0);
        // expected: row 10 at depth 1 w.p. 0.9 -> E[h] = 1.1 (sampling noise over 200 trees)
        assert!((h[2] - 1.1).abs() < 0.08, "{h}");
        let c3 = average_path_length(3);
        let s = f.score_samples(x.view()).unwrap();
        assert_eq!(s[1], -(2f64.powf(-2.0 / c3)));
        assert!(s[2] < s[0] && s[2] < s[1]);
    }

    #[test]
    fn contamination_sets_the_offset_to_the_training_quantile() {
        let x = Array2::from_shape_fn((500, 2), |(i, j)| ((i * 37 + j * 11) % 101) as f64);
        let p = IsolationForestParams::new()
            .contamination(Contamination::Fraction(0.1))
            .seed(5)
            .check()
            .unwrap();
        let f = IsolationForest::fit_array(&p, x.view()).unwrap();
        let flagged = f
            .is_anomaly(x.view())
            .unwrap()
            .iter()
            .filter(|&&a| a)
            .count();
        // strictly below the 10th percentile: at most 10 % (ties can make it fewer)
        assert!((40..=50).contains(&flagged), "{flagged}");
    }

    #[test]
    fn linfa_fit_and_predict() {
        let x = Array2::from_shape_fn((300, 3), |(i, j)| ((i * 13 + j * 7) % 29) as f64);
        let ds = Dataset::from(x.clone());
        let f: IsolationForest = IsolationForest::params().seed(1).fit(&ds).unwrap();
        let y: Array1<i32> = linfa::traits::Predict::predict(&f, &x);
        assert_eq!(y.len(), 300);
        assert!(y.iter().all(|&v| v == 1 || v == -1));
        let bad = IsolationForest::params().n_trees(0).fit(&ds);
        assert!(matches!(
            bad,
            Err(ForestError::InvalidParams(ParamError::NTrees(0)))
        ));
    }

    /// `n_trees = 0` used to pass through public fields of the checked parameters and fit a
    /// forest whose scores were all NaN. The checked type's only doors are `check` and
    /// deserialising, and both refuse it.
    #[test]
    fn zero_trees_cannot_reach_a_fit() {
        let checked = IsolationForest::params().seed(1).check().unwrap();
        let mut json = serde_json::to_value(&checked).unwrap();
        assert_eq!(json["n_trees"], 100);
        json["n_trees"] = 0.into();
        let err = serde_json::from_value::<IsolationForestValidParams>(json).unwrap_err();
        assert!(
            err.to_string().contains("n_trees must be between 1 and"),
            "{err}"
        );
        let x = Array2::from_shape_fn((50, 2), |(i, j)| (i * 3 + j) as f64);
        let spec = crate::detector::DetectorSpec::tutorial(1);
        let mut spec = spec;
        spec.forest = spec.forest.n_trees(0);
        let err = spec
            .fit(&["a".into(), "b".into()], x.view(), None)
            .unwrap_err();
        assert!(
            err.to_string().contains("n_trees must be between 1 and"),
            "{err}"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let p = IsolationForestParams::new().check().unwrap();
        let empty = Array2::<f64>::zeros((0, 3));
        assert!(matches!(
            IsolationForest::fit_array(&p, empty.view()),
            Err(ForestError::Empty { .. })
        ));
        let nan = array![[1.0, 2.0], [1.0, f64::NAN]];
        assert!(matches!(
            IsolationForest::fit_array(&p, nan.view()),
            Err(ForestError::NonFinite { row: 1, col: 1, .. })
        ));
        let f = IsolationForest::fit_array(&p, array![[1.0, 2.0], [3.0, 4.0]].view()).unwrap();
        assert!(matches!(
            f.score_samples(array![[1.0]].view()),
            Err(ForestError::FeatureMismatch {
                expected: 2,
                got: 1
            })
        ));
        assert!(matches!(
            f.score_samples(array![[1.0, f64::INFINITY]].view()),
            Err(ForestError::NonFinite { .. })
        ));
    }

    /// Rows are scored in parallel chunks that fail in any order; the error must still name
    /// the first bad value, and no scores come back.
    #[test]
    fn the_first_non_finite_value_is_named_whatever_chunk_fails_first() {
        let p = IsolationForestParams::new().seed(3).check().unwrap();
        let mut x = Array2::from_shape_fn((5 * PARALLEL_CHUNK, 2), |(i, j)| (i * 3 + j) as f64);
        let f = IsolationForest::fit_array(&p, x.view()).unwrap();
        x[[4 * PARALLEL_CHUNK + 7, 1]] = f64::NAN;
        x[[PARALLEL_CHUNK + 5, 0]] = f64::NEG_INFINITY;
        for _ in 0..20 {
            match f.score_samples(x.view()) {
                Err(ForestError::NonFinite { row, col, value }) => {
                    assert_eq!((row, col), (PARALLEL_CHUNK + 5, 0));
                    assert_eq!(value, f64::NEG_INFINITY);
                }
                other => panic!("expected a NonFinite error, got {other:?}"),
            }
        }
    }

    /// A tree draws its rows in random order; the fit error must still name the lowest bad
    /// row it drew, not the first drawn.
    #[test]
    fn fit_names_the_first_bad_row_drawn_whatever_the_draw_order() {
        let mut x = Array2::from_shape_fn((300, 2), |(i, j)| (i * 3 + j) as f64);
        x[[250, 1]] = f64::INFINITY;
        x[[5, 0]] = f64::NAN;
        for seed in 0..20 {
            // one tree drawing every row: both bad rows, in an order the seed decides
            let p = IsolationForestParams::new()
                .n_trees(1)
                .max_samples(MaxSamples::Count(300))
                .seed(seed)
                .check()
                .unwrap();
            match IsolationForest::fit_array(&p, x.view()) {
                Err(ForestError::NonFinite { row, col, value }) => {
                    assert_eq!((row, col), (5, 0), "seed {seed}");
                    assert!(value.is_nan());
                }
                other => panic!("expected a NonFinite error, got {other:?}"),
            }
        }
    }

    #[test]
    fn same_scores_on_one_and_two_threads() {
        let x = Array2::from_shape_fn((9_000, 4), |(i, j)| {
            (((i * 7919 + j * 104_729) % 10_007) as f64).sqrt()
        });
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let p = IsolationForestParams::new()
                    .seed(42)
                    .bootstrap(true)
                    .check()
                    .unwrap();
                let f = IsolationForest::fit_array(&p, x.view()).unwrap();
                f.score_samples(x.view()).unwrap()
            })
        };
        let one = run(1);
        let two = run(2);
        assert!(
            one.iter()
                .zip(two.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    /// Every layout this CPU runs gives the portable layout's bits, on one thread and two, for
    /// requests of every size; a layout the CPU lacks is refused with its reason (and the skip
    /// printed), so the test asserts something on every machine.
    #[test]
    fn every_layout_scores_the_same_bits() {
        for (n_rows, n_cols, max_samples) in [(3000, 5, 256), (2000, 16, 256), (900, 3, 600)] {
            let x = Array2::from_shape_fn((n_rows, n_cols), |(i, j)| {
                (((i * 7919 + j * 104_729) % 10_007) as f64).sqrt()
                    * if j % 2 == 0 { 1.0 } else { -3.0 }
            });
            let p = IsolationForestParams::new()
                .max_samples(MaxSamples::Count(max_samples))
                .seed(8)
                .check()
                .unwrap();
            let forest = IsolationForest::fit_array(&p, x.view()).unwrap();
            let portable = forest
                .clone()
                .with_layout(LayoutChoice::Only(Layout::Portable))
                .unwrap();
            let reference = portable.score_samples(x.view()).unwrap();
            for layout in Layout::ALL {
                let forced = forest.clone().with_layout(LayoutChoice::Only(layout));
                let shape_fits = layout != Layout::Avx512 || (max_samples <= 256 && n_cols <= 16);
                if let Some(why) = layout.missing_on_this_cpu() {
                    // the shape is checked first: a forest the layout cannot hold says so
                    let err = forced.unwrap_err().to_string();
                    assert!(err.contains(why) || !shape_fits, "{err}");
                    eprintln!("{layout} skipped: {why}");
                    continue;
                }
                let forced = match forced {
                    Ok(forced) => forced,
                    Err(e) => {
                        // only the avx512 layout has shapes it cannot hold
                        assert!(!shape_fits, "{e}");
                        continue;
                    }
                };
                assert_eq!(forced.scoring_layout().unwrap(), layout);
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let scores = pool.install(|| forced.score_samples(x.view()).unwrap());
                    assert!(
                        scores
                            .iter()
                            .zip(&reference)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{layout}, {threads} thread(s), {n_rows}x{n_cols}"
                    );
                    // one row at a time, and an odd-sized request, as the server sends them
                    for rows in [1, 13] {
                        let part = forced
                            .score_samples(x.slice(ndarray::s![..rows, ..]))
                            .unwrap();
                        assert!(
                            part.iter()
                                .zip(&reference)
                                .all(|(a, b)| a.to_bits() == b.to_bits())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_layout_name_that_is_no_layout_is_an_error() {
        let err = "avx3".parse::<LayoutChoice>().unwrap_err();
        assert!(
            err.to_string()
                .contains("expected portable, avx2, avx512 or auto"),
            "{err}"
        );
    }

    #[test]
    fn a_tutorial_sized_model_stays_under_a_megabyte() {
        let data = crate::synth::SynthParams::tutorial().generate().unwrap();
        let p = IsolationForestParams::new().seed(42).check().unwrap();
        let f = IsolationForest::fit_array(&p, data.values.view()).unwrap();
        f.score_samples(data.values.view()).unwrap(); // builds the scoring layout too
        let bytes = f.heap_bytes();
        eprintln!("tutorial model: {bytes} bytes with its scoring layout");
        assert!(bytes < 1 << 20, "{bytes} bytes");
        assert!(
            bytes > 50_000,
            "the count should include the trees and the scoring layout: {bytes}"
        );
    }

    #[test]
    fn percentile_matches_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 10.0) - 1.3).abs() < 1e-12);
    }
}
