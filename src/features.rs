//! Causal features: the residual of each value from the median of the values before it.
//!
//! An Isolation Forest on raw trending data mostly learns *where on the trend* a row sits: late
//! rows of a linear trend look "isolated" and early anomalies hide among ordinary values. Taking
//! out the local level first leaves what a detector should see — how far a value jumps from its
//! recent past. The window is **trailing** (only earlier rows), so the very same feature can be
//! computed on a stream, one record at a time, with no look-ahead.
//!
//! One implementation serves both uses: [`Preprocess::transform`] runs a [`PreprocessState`] over
//! every row of a batch, and a stream keeps a [`PreprocessState`] and feeds it row by row, so the
//! two give bit-identical numbers.
//!
//! ```
//! use anomaly_kit::features::Preprocess;
//! use ndarray::array;
//! let pre = Preprocess::RollingMedianResidual { window: 3 };
//! let x = array![[1.0], [2.0], [3.0], [100.0], [5.0]];
//! let batch = pre.transform(x.view())?;
//! // residual = value - median(previous ≤3 values); the first row has no past and gets 0
//! assert_eq!(batch.column(0).to_vec(), vec![0.0, 1.0, 1.5, 98.0, 2.0]);
//! let mut state = pre.state(1)?;
//! let streamed: Vec<f64> = x.rows().into_iter().map(|r| state.transform_row(r.as_slice().unwrap())[0]).collect();
//! assert_eq!(streamed, batch.column(0).to_vec());
//! # Ok::<(), anomaly_kit::features::FeatureError>(())
//! ```

use std::collections::VecDeque;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// The largest trailing window accepted; larger windows are a sign of a typo.
pub const MAX_WINDOW: usize = 100_000;

/// Default trailing window, in rows.
pub const DEFAULT_WINDOW: usize = 15;

/// How raw values become the detector's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preprocess {
    /// Values go to the forest as they are (the tutorial's recipe). Stateless.
    Raw,
    /// `x[t] - median(x[t-window .. t])` per feature, over the rows before `t` (0 for the first row).
    RollingMedianResidual {
        /// Trailing window, in rows (1 to [`MAX_WINDOW`]).
        window: usize,
    },
}

/// A preprocessing setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeatureError {
    /// The rolling-median window is 0 or above [`MAX_WINDOW`] rows (the window given).
    #[error("the rolling-median window must be between 1 and {MAX_WINDOW} rows, got {0}")]
    BadWindow(usize),
    /// A row holds a different number of values than the state was made for.
    #[error("expected {expected} values per row, got {got}")]
    Width {
        /// Values per row the state was made for.
        expected: usize,
        /// Values in the row.
        got: usize,
    },
}

impl Preprocess {
    /// Whether the output for a row depends on earlier rows (so a server must keep state).
    pub fn is_stateful(&self) -> bool {
        matches!(self, Preprocess::RollingMedianResidual { .. })
    }

    /// Rows a series needs before this preprocessing's output means what it says: the window for
    /// a trailing median, 0 for raw values.
    pub fn warm_up_rows(&self) -> usize {
        match *self {
            Preprocess::Raw => 0,
            Preprocess::RollingMedianResidual { window } => window,
        }
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<(), FeatureError> {
        match *self {
            Preprocess::Raw => Ok(()),
            Preprocess::RollingMedianResidual { window } if (1..=MAX_WINDOW).contains(&window) => {
                Ok(())
            }
            Preprocess::RollingMedianResidual { window } => Err(FeatureError::BadWindow(window)),
        }
    }

    /// A fresh per-series state for rows of `n_features` values.
    pub fn state(&self, n_features: usize) -> Result<PreprocessState, FeatureError> {
        self.validate()?;
        let windows = match *self {
            Preprocess::Raw => Vec::new(),
            Preprocess::RollingMedianResidual { window } => (0..n_features)
                .map(|_| TrailingMedian::new(window))
                .collect(),
        };
        Ok(PreprocessState {
            n_features,
            windows,
            out: Vec::with_capacity(n_features),
        })
    }

    /// Transforms a whole table whose rows are consecutive in time, starting from a fresh state.
    pub fn transform(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, FeatureError> {
        if !self.is_stateful() {
            self.validate()?;
            return Ok(x.to_owned());
        }
        let mut state = self.state(x.ncols())?;
        let mut out = Array2::zeros(x.raw_dim());
        let mut row_buf = vec![0.0; x.ncols()];
        for (row, mut target) in x.rows().into_iter().zip(out.rows_mut()) {
            row_buf
                .iter_mut()
                .zip(row.iter())
                .for_each(|(b, v)| *b = *v);
            let features = state.transform_row(&row_buf);
            target.iter_mut().zip(features).for_each(|(t, f)| *t = *f);
        }
        Ok(out)
    }
}

/// The memory a stateful preprocessing needs for one series: one trailing window per feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreprocessState {
    n_features: usize,
    windows: Vec<TrailingMedian>,
    // reused output buffer; not part of the state's meaning
    #[serde(skip)]
    out: Vec<f64>,
}

impl PreprocessState {
    /// Rows seen so far (0 for a stateless preprocessing).
    pub fn rows_seen(&self) -> u64 {
        self.windows.first().map_or(0, |w| w.seen)
    }

    /// Features of the next row; advances the state. Panics if `row` has the wrong width: use
    /// [`PreprocessState::try_transform_row`] for input that was not checked.
    pub fn transform_row(&mut self, row: &[f64]) -> &[f64] {
        self.try_transform_row(row)
            .expect("row width checked by the caller")
    }

    /// Features of the next row, or an error if the row has the wrong number of values.
    pub fn try_transform_row(&mut self, row: &[f64]) -> Result<&[f64], FeatureError> {
        if row.len() != self.n_features {
            return Err(FeatureError::Width {
                expected: self.n_features,
                got: row.len(),
            });
        }
        self.out.clear();
        if self.windows.is_empty() {
            self.out.extend_from_slice(row);
        } else {
            self.out.extend(
                self.windows
                    .iter_mut()
                    .zip(row)
                    .map(|(w, &x)| w.residual(x)),
            );
        }
        Ok(&self.out)
    }
}

/// A trailing window that answers "how far is this value from the median of the last `window`
/// values before it?" in O(window) per value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrailingMedian {
    window: usize,
    /// The last `window` values, oldest first.
    recent: VecDeque<f64>,
    /// The same values, sorted (kept in step with `recent`).
    sorted: Vec<f64>,
    seen: u64,
}

impl TrailingMedian {
    /// An empty window over the last `window` values.
    pub fn new(window: usize) -> Self {
        Self {
            window,
            recent: VecDeque::with_capacity(window + 1),
            sorted: Vec::with_capacity(window + 1),
            seen: 0,
        }
    }

    /// Median of the values in the window, or `None` before the first value.
    pub fn median(&self) -> Option<f64> {
        let n = self.sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.sorted[n / 2]),
            // `midpoint` is `(a + b) / 2` bit for bit while that cannot overflow, and halves
            // first when it could (two values near `f64::MAX` would otherwise sum to infinity)
            _ => Some(self.sorted[n / 2 - 1].midpoint(self.sorted[n / 2])),
        }
    }

    /// `x - median(previous values)` (0 when there is no previous value), then remembers `x`.
    ///
    /// The difference of two finite values can exceed `f64::MAX` (`1.7e308 - -1.7e308`); it
    /// saturates at `±f64::MAX`, so every finite input has a finite residual.
    pub fn residual(&mut self, x: f64) -> f64 {
        let residual = self
            .median()
            .map_or(0.0, |m| crate::numeric::difference(x, m));
        self.push(x);
        residual
    }

    fn push(&mut self, x: f64) {
        self.seen += 1;
        self.recent.push_back(x);
        let at = self.sorted.partition_point(|v| v.total_cmp(&x).is_lt());
        self.sorted.insert(at, x);
        if self.recent.len() > self.window
            && let Some(old) = self.recent.pop_front()
        {
            // the same bits went in, so an exact search finds them
            if let Ok(at) = self.sorted.binary_search_by(|v| v.total_cmp(&old)) {
                self.sorted.remove(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::any_finite;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// Every finite input, up to `±f64::MAX`, has a finite median and residual (the sum of two
    /// values near `f64::MAX` and the difference of two of opposite sign overflow naively).
    #[test]
    fn extreme_values_give_finite_medians_and_residuals() {
        let mut w = TrailingMedian::new(2);
        assert_eq!(w.residual(1.7e308), 0.0);
        assert_eq!(w.residual(-1.7e308), -f64::MAX); // saturated, not -inf
        assert_eq!(w.median(), Some(0.0));
        let mut w = TrailingMedian::new(2);
        w.residual(9e307);
        w.residual(9e307);
        assert_eq!(w.median(), Some(9e307)); // not inf
        assert_eq!(w.residual(-f64::MAX), -f64::MAX);
    }

    #[test]
    fn median_of_even_and_odd_windows() {
        let mut w = TrailingMedian::new(4);
        assert_eq!(w.median(), None);
        for x in [5.0, 1.0, 3.0] {
            w.residual(x);
        }
        assert_eq!(w.median(), Some(3.0));
        w.residual(10.0);
        assert_eq!(w.median(), Some(4.0)); // (3 + 5) / 2
        w.residual(0.0); // 5.0 leaves
        assert_eq!(w.median(), Some(2.0)); // {0,1,3,10}
    }

    #[test]
    fn raw_is_identity_and_stateless() {
        let x = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(Preprocess::Raw.transform(x.view()).unwrap(), x);
        assert!(!Preprocess::Raw.is_stateful());
    }

    #[test]
    fn bad_window_and_width_are_errors() {
        let pre = Preprocess::RollingMedianResidual { window: 0 };
        assert_eq!(pre.state(2).unwrap_err(), FeatureError::BadWindow(0));
        let mut state = Preprocess::RollingMedianResidual { window: 3 }
            .state(2)
            .unwrap();
        assert_eq!(
            state.try_transform_row(&[1.0]).unwrap_err(),
            FeatureError::Width {
                expected: 2,
                got: 1
            }
        );
    }

    proptest! {
        #[test]
        fn batch_equals_one_row_at_a_time(
            window in 1usize..20,
            cols in 1usize..4,
            values in prop::collection::vec(prop_oneof![-1e6f64..1e6, Just(0.0), Just(1.0)], 1..200),
        ) {
            let rows = values.len() / cols;
            prop_assume!(rows > 0);
            let x = Array2::from_shape_vec((rows, cols), values[..rows * cols].to_vec()).unwrap();
            let pre = Preprocess::RollingMedianResidual { window };
            let batch = pre.transform(x.view()).unwrap();
            let mut state = pre.state(cols).unwrap();
            for (i, row) in x.rows().into_iter().enumerate() {
                let streamed = state.transform_row(&row.to_vec()).to_vec();
                for (a, b) in streamed.iter().zip(batch.row(i)) {
                    prop_assert_eq!(a.to_bits(), b.to_bits());
                }
            }
        }

        #[test]
        fn residuals_are_finite_on_any_finite_input(
            window in 1usize..6,
            values in prop::collection::vec(any_finite(), 1..40),
        ) {
            let mut w = TrailingMedian::new(window);
            for &x in &values {
                let r = w.residual(x);
                prop_assert!(r.is_finite(), "residual of {x} is {r}");
                prop_assert!(w.median().is_some_and(f64::is_finite));
            }
        }

        #[test]
        fn residual_matches_a_naive_median(window in 1usize..10, values in prop::collection::vec(-100f64..100.0, 1..60)) {
            let mut w = TrailingMedian::new(window);
            for (t, &x) in values.iter().enumerate() {
                let past = &values[t.saturating_sub(window)..t];
                let expected = if past.is_empty() { 0.0 } else {
                    let mut s = past.to_vec();
                    s.sort_by(f64::total_cmp);
                    let n = s.len();
                    let m = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
                    x - m
                };
                prop_assert_eq!(w.residual(x), expected);
            }
        }
    }
}
