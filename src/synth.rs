//! Synthetic time series with injected anomalies: the tutorial's data, reproducibly.
//!
//! Two generators live here:
//!
//! * the **trending** generator the tutorial's code uses ([`Trend::Linear`], [`Trend::RandomWalk`],
//!   [`Trend::Exponential`]): each feature is a trend plus noise, and `n_anomalies` distinct rows
//!   per feature are shifted by ±U(50, 200);
//! * the **uniform** generator the tutorial's prose describes ([`Trend::Uniform`]): values U(0, 1),
//!   each row anomalous with probability `row_anomaly_rate`, and in an anomalous row one or more
//!   values replaced by U(4, 10).
//!
//! Both give per-cell labels (which value was touched) and a row label `anomaly` (any value of the
//! row was touched), which is what a row-level detector is judged against.
//!
//! ```
//! use anomaly_kit::synth::{SynthParams, Trend};
//! let data = SynthParams::tutorial().rows(1_000).anomalies(50).trend(Trend::RandomWalk).seed(7).generate()?;
//! assert_eq!(data.values.dim(), (1_000, 5));
//! assert_eq!(data.anomalous_cells(), 5 * 50); // 50 distinct anomalous rows per feature
//! println!("{} of {} rows are anomalous", data.anomalous_rows(), data.n_rows());
//! # Ok::<(), anomaly_kit::synth::SynthError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use ndarray::{Array1, Array2};
use rand::RngExt;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::rng;

/// Refuse data sets above this many cells (about 2 GB of values): a typo in `--rows` should be
/// an error, not an allocation failure.
pub const MAX_CELLS: usize = 1 << 28;

/// The shape of the clean signal each feature follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// `linspace(0, 100 + 20 i, n) + N(0, 5)` for feature `i` (0-based).
    Linear,
    /// `cumsum(N(0.1, 1))`: a drifting random walk.
    RandomWalk,
    /// `exp(linspace(0, 5 + i, n)) + N(0, 100)`: noise of sd 100 swamps shifts of 50..200.
    Exponential,
    /// The tutorial's prose: U(0, 1) values, anomalous rows get values from U(4, 10).
    Uniform,
}

impl Trend {
    /// Every kind, in a stable order (for tables and loops).
    pub const ALL: [Trend; 4] = [
        Trend::Linear,
        Trend::RandomWalk,
        Trend::Exponential,
        Trend::Uniform,
    ];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Trend::Linear => "linear",
            Trend::RandomWalk => "random_walk",
            Trend::Exponential => "exponential",
            Trend::Uniform => "uniform",
        }
    }
}

impl fmt::Display for Trend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Trend {
    type Err = SynthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trend::ALL
            .into_iter()
            .find(|t| t.name() == s.trim().to_ascii_lowercase().replace('-', "_"))
            .ok_or_else(|| SynthError::UnknownTrend(s.to_string()))
    }
}

/// Why a generator could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SynthError {
    /// `n_rows` is 0.
    #[error("n_rows must be at least 1")]
    NoRows,
    /// `n_features` is 0.
    #[error("n_features must be at least 1")]
    NoFeatures,
    /// A trending kind asks for more anomalous rows per feature than there are rows.
    #[error(
        "n_anomalies ({anomalies}) is larger than n_rows ({rows}): anomalies go to distinct rows of each feature"
    )]
    TooManyAnomalies {
        /// Anomalous rows asked for per feature (`n_anomalies`).
        anomalies: usize,
        /// Rows to generate (`n_rows`).
        rows: usize,
    },
    /// A trend name that is none of [`Trend::ALL`] (the name as given).
    #[error("unknown trend '{0}': expected one of linear, random_walk, exponential, uniform")]
    UnknownTrend(String),
    /// `row_anomaly_rate` is outside [0, 1] or NaN (the rate given).
    #[error("row_anomaly_rate must be in [0, 1], got {0}")]
    BadRate(f64),
    /// `n_rows x n_features` is more than [`MAX_CELLS`] values.
    #[error(
        "{rows} rows x {features} features is more than {MAX_CELLS} values: generate less or in parts"
    )]
    TooLarge {
        /// Rows asked for.
        rows: usize,
        /// Features asked for.
        features: usize,
    },
}

/// What to generate. Start from [`SynthParams::tutorial`] and change what you need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthParams {
    /// Rows to generate, one per minute from [`tutorial_start`].
    pub n_rows: usize,
    /// Features (columns) to generate, named `feature_1`, `feature_2`, …
    pub n_features: usize,
    /// Anomalous rows per feature (trending kinds only).
    pub n_anomalies: usize,
    /// The kind of signal each feature follows.
    pub trend: Trend,
    /// Seed of the random generator: same parameters, same numbers.
    pub seed: u64,
    /// Probability that a row is anomalous ([`Trend::Uniform`] only).
    pub row_anomaly_rate: f64,
}

impl Default for SynthParams {
    fn default() -> Self {
        Self::tutorial()
    }
}

impl SynthParams {
    /// The tutorial's training set: 10,000 rows, 5 features, 500 anomalies per feature, linear, seed 100.
    pub fn tutorial() -> Self {
        Self {
            n_rows: 10_000,
            n_features: 5,
            n_anomalies: 500,
            trend: Trend::Linear,
            seed: 100,
            row_anomaly_rate: 0.05,
        }
    }
    /// Rows to generate (default 10,000).
    pub fn rows(mut self, n: usize) -> Self {
        self.n_rows = n;
        self
    }
    /// Features to generate (default 5).
    pub fn features(mut self, n: usize) -> Self {
        self.n_features = n;
        self
    }
    /// Anomalous rows per feature, trending kinds only (default 500).
    pub fn anomalies(mut self, n: usize) -> Self {
        self.n_anomalies = n;
        self
    }
    /// The kind of signal (default [`Trend::Linear`]).
    pub fn trend(mut self, trend: Trend) -> Self {
        self.trend = trend;
        self
    }
    /// Seed of the random generator (default 100).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Probability that a row is anomalous, [`Trend::Uniform`] only (default 0.05).
    pub fn row_anomaly_rate(mut self, rate: f64) -> Self {
        self.row_anomaly_rate = rate;
        self
    }

    /// Checks the parameters without generating anything.
    pub fn validate(&self) -> Result<(), SynthError> {
        if self.n_rows == 0 {
            return Err(SynthError::NoRows);
        }
        if self.n_features == 0 {
            return Err(SynthError::NoFeatures);
        }
        if self.n_rows.saturating_mul(self.n_features) > MAX_CELLS {
            return Err(SynthError::TooLarge {
                rows: self.n_rows,
                features: self.n_features,
            });
        }
        if self.trend != Trend::Uniform && self.n_anomalies > self.n_rows {
            return Err(SynthError::TooManyAnomalies {
                anomalies: self.n_anomalies,
                rows: self.n_rows,
            });
        }
        if !(0.0..=1.0).contains(&self.row_anomaly_rate) {
            return Err(SynthError::BadRate(self.row_anomaly_rate));
        }
        Ok(())
    }

    /// Generates the data set. Same parameters, same numbers.
    pub fn generate(&self) -> Result<Synthetic, SynthError> {
        self.validate()?;
        let mut rng = rng::seeded(self.seed);
        let (n, d) = (self.n_rows, self.n_features);
        let mut values = Array2::<f64>::zeros((n, d));
        let mut cell_labels = Array2::<u8>::zeros((n, d));
        match self.trend {
            Trend::Uniform => {
                let unit = Uniform::new(0.0, 1.0).expect("constant bounds");
                let spike = Uniform::new(4.0, 10.0).expect("constant bounds");
                for i in 0..n {
                    for j in 0..d {
                        values[[i, j]] = unit.sample(&mut rng);
                    }
                    if rng.random_bool(self.row_anomaly_rate) {
                        let k = rng.random_range(1..=d);
                        for j in rand::seq::index::sample(&mut rng, d, k) {
                            values[[i, j]] = spike.sample(&mut rng);
                            cell_labels[[i, j]] = 1;
                        }
                    }
                }
            }
            trend => {
                let shift = Uniform::new(50.0, 200.0).expect("constant bounds");
                for j in 0..d {
                    let mut column = trend_column(trend, j, n, &mut rng);
                    let rows = rand::seq::index::sample(&mut rng, n, self.n_anomalies).into_vec();
                    let signs: Vec<f64> = rows
                        .iter()
                        .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
                        .collect();
                    for (&row, sign) in rows.iter().zip(signs) {
                        column[row] += sign * shift.sample(&mut rng);
                        cell_labels[[row, j]] = 1;
                    }
                    values.column_mut(j).assign(&Array1::from(column));
                }
            }
        }
        let row_labels =
            cell_labels.map_axis(ndarray::Axis(1), |r| u8::from(r.iter().any(|&v| v == 1)));
        Ok(Synthetic {
            params: self.clone(),
            feature_names: feature_names(d),
            start: tutorial_start(),
            values,
            cell_labels,
            row_labels,
        })
    }
}

/// `feature_1`, `feature_2`, … as in the tutorial.
pub fn feature_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("feature_{i}")).collect()
}

/// 2020-01-01 00:00, the first timestamp of every generated series.
pub fn tutorial_start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2020, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid constant date")
}

/// `numpy.linspace(start, stop, n)[i]`.
fn linspace_at(start: f64, stop: f64, n: usize, i: usize) -> f64 {
    if n <= 1 {
        start
    } else {
        start + (stop - start) * (i as f64) / ((n - 1) as f64)
    }
}

fn trend_column(trend: Trend, feature: usize, n: usize, rng: &mut rng::KitRng) -> Vec<f64> {
    let f = feature as f64;
    match trend {
        Trend::Linear => {
            let noise = Normal::new(0.0, 5.0).expect("constant parameters");
            (0..n)
                .map(|i| linspace_at(0.0, 100.0 + 20.0 * f, n, i) + noise.sample(rng))
                .collect()
        }
        Trend::RandomWalk => {
            let step = Normal::new(0.1, 1.0).expect("constant parameters");
            let mut level = 0.0;
            (0..n)
                .map(|_| {
                    level += step.sample(rng);
                    level
                })
                .collect()
        }
        Trend::Exponential => {
            let noise = Normal::new(0.0, 100.0).expect("constant parameters");
            (0..n)
                .map(|i| linspace_at(0.0, 5.0 + f, n, i).exp() + noise.sample(rng))
                .collect()
        }
        Trend::Uniform => unreachable!("uniform data is generated row by row"),
    }
}

/// The noise-free part of feature `feature`'s series, where the trend has one
/// (`linear` and `exponential`); `None` for the random walk (its trend *is* the noise) and uniform data.
///
/// Used to measure a ceiling: how well could any detector do if it knew the true trend?
pub fn clean_trend(trend: Trend, feature: usize, n_rows: usize) -> Option<Vec<f64>> {
    let f = feature as f64;
    match trend {
        Trend::Linear => Some(
            (0..n_rows)
                .map(|i| linspace_at(0.0, 100.0 + 20.0 * f, n_rows, i))
                .collect(),
        ),
        Trend::Exponential => Some(
            (0..n_rows)
                .map(|i| linspace_at(0.0, 5.0 + f, n_rows, i).exp())
                .collect(),
        ),
        Trend::RandomWalk | Trend::Uniform => None,
    }
}

/// A generated data set: values, labels and the timestamps they belong to.
#[derive(Clone, Debug)]
pub struct Synthetic {
    /// The parameters it was generated from.
    pub params: SynthParams,
    /// Column names, `feature_1` to `feature_<n_features>`.
    pub feature_names: Vec<String>,
    /// Timestamp of row 0; row `i` is `start + i` minutes.
    pub start: NaiveDateTime,
    /// `n_rows x n_features`.
    pub values: Array2<f64>,
    /// 1 where a value was made anomalous, per cell.
    pub cell_labels: Array2<u8>,
    /// 1 where any value of the row is anomalous: the row-level ground truth.
    pub row_labels: Array1<u8>,
}

impl Synthetic {
    /// Rows in the data.
    pub fn n_rows(&self) -> usize {
        self.values.nrows()
    }
    /// Features (columns) in the data.
    pub fn n_features(&self) -> usize {
        self.values.ncols()
    }
    /// Values that were made anomalous.
    pub fn anomalous_cells(&self) -> usize {
        self.cell_labels.iter().map(|&v| v as usize).sum()
    }
    /// Rows with at least one anomalous value.
    pub fn anomalous_rows(&self) -> usize {
        self.row_labels.iter().map(|&v| v as usize).sum()
    }
    /// Timestamp of row `i`: one minute per row.
    pub fn timestamp(&self, i: usize) -> NaiveDateTime {
        self.start + Duration::minutes(i as i64)
    }
    /// Row labels as booleans, the form the metrics take.
    pub fn row_truth(&self) -> Vec<bool> {
        self.row_labels.iter().map(|&v| v == 1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_label_counts() {
        for trend in [Trend::Linear, Trend::RandomWalk, Trend::Exponential] {
            let d = SynthParams::tutorial()
                .rows(2_000)
                .features(3)
                .anomalies(120)
                .trend(trend)
                .seed(5)
                .generate()
                .unwrap();
            assert_eq!(d.values.dim(), (2_000, 3));
            // distinct rows per feature: exactly n_anomalies labelled cells in every column
            for col in d.cell_labels.columns() {
                assert_eq!(col.iter().filter(|&&v| v == 1).count(), 120, "{trend}");
            }
            // the row label is "any feature anomalous"
            for (row, &label) in d.cell_labels.rows().into_iter().zip(d.row_labels.iter()) {
                assert_eq!(label == 1, row.iter().any(|&v| v == 1));
            }
            assert!(d.anomalous_rows() >= 120 && d.anomalous_rows() <= 360);
        }
    }

    #[test]
    fn anomalies_are_shifted_by_50_to_200() {
        // against the known linear trend: noise (sd 5) stays within 30, shifted cells lie
        // 50..200 away give or take that noise
        let d = SynthParams::tutorial()
            .rows(5_000)
            .anomalies(300)
            .seed(8)
            .generate()
            .unwrap();
        for j in 0..d.n_features() {
            let trend = clean_trend(Trend::Linear, j, d.n_rows()).unwrap();
            for (i, t) in trend.iter().enumerate() {
                let deviation = (d.values[[i, j]] - t).abs();
                if d.cell_labels[[i, j]] == 1 {
                    assert!(
                        deviation > 50.0 - 30.0 && deviation < 200.0 + 30.0,
                        "{deviation}"
                    );
                } else {
                    assert!(
                        deviation < 30.0,
                        "noise of sd 5 should stay within 6 sd: {deviation}"
                    );
                }
            }
        }
    }

    #[test]
    fn uniform_matches_the_prose() {
        let d = SynthParams::tutorial()
            .trend(Trend::Uniform)
            .rows(20_000)
            .seed(3)
            .generate()
            .unwrap();
        let rate = d.anomalous_rows() as f64 / d.n_rows() as f64;
        assert!((rate - 0.05).abs() < 0.006, "{rate}");
        for ((i, j), &v) in d.values.indexed_iter() {
            if d.cell_labels[[i, j]] == 1 {
                assert!((4.0..10.0).contains(&v));
            } else {
                assert!((0.0..1.0).contains(&v));
            }
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = SynthParams::tutorial()
            .rows(500)
            .anomalies(10)
            .generate()
            .unwrap();
        let b = SynthParams::tutorial()
            .rows(500)
            .anomalies(10)
            .generate()
            .unwrap();
        let c = SynthParams::tutorial()
            .rows(500)
            .anomalies(10)
            .seed(101)
            .generate()
            .unwrap();
        assert_eq!(a.values, b.values);
        assert_ne!(a.values, c.values);
        assert_eq!(a.timestamp(61).to_string(), "2020-01-01 01:01:00");
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert_eq!(
            SynthParams::tutorial().rows(0).generate().unwrap_err(),
            SynthError::NoRows
        );
        assert_eq!(
            SynthParams::tutorial().features(0).generate().unwrap_err(),
            SynthError::NoFeatures
        );
        assert_eq!(
            SynthParams::tutorial()
                .rows(10)
                .anomalies(11)
                .generate()
                .unwrap_err(),
            SynthError::TooManyAnomalies {
                anomalies: 11,
                rows: 10
            }
        );
        assert_eq!(
            "sideways".parse::<Trend>().unwrap_err(),
            SynthError::UnknownTrend("sideways".into())
        );
        assert_eq!("random-walk".parse::<Trend>().unwrap(), Trend::RandomWalk);
        assert!(matches!(
            SynthParams::tutorial()
                .rows(1 << 20)
                .features(1 << 10)
                .generate(),
            Err(SynthError::TooLarge { .. })
        ));
        assert_eq!(
            SynthParams::tutorial()
                .trend(Trend::Uniform)
                .row_anomaly_rate(1.5)
                .generate()
                .unwrap_err(),
            SynthError::BadRate(1.5)
        );
    }
}
