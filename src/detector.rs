//! A detector: optional causal features, an Isolation Forest, and the threshold that turns
//! scores into decisions. This is the unit that is trained, saved, served and streamed.
//!
//! ```
//! use anomaly_kit::detector::{DetectorSpec, ThresholdRule};
//! use anomaly_kit::synth::SynthParams;
//! let train = SynthParams::tutorial().rows(2_000).anomalies(100).generate()?;
//! let spec = DetectorSpec::improved(15, 42);
//! let detector = spec.fit(&train.feature_names, train.values.view(), Some(&train.row_truth()))?;
//! let test = SynthParams::tutorial().rows(2_000).anomalies(100).seed(101).generate()?;
//! let flags = detector.is_anomaly(test.values.view())?;
//! let eval = anomaly_kit::metrics::Evaluation::new(&detector.anomaly_scores(test.values.view())?, &flags, &test.row_truth())?;
//! assert!(eval.f1 > 0.9, "{eval:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::features::{FeatureError, Preprocess, PreprocessState};
use crate::forest::{
    Contamination, ForestError, IsolationForest, IsolationForestParams, IsolationForestValidParams,
};

/// How the decision threshold on `score_samples` is chosen at training time.
///
/// A fixed share of flagged rows is the forest's own `contamination` parameter, so it is not a
/// separate rule here: use [`ThresholdRule::Forest`] with `Contamination::Fraction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ThresholdRule {
    /// The forest's own threshold from its `contamination` parameter (-0.5 for `auto`).
    Forest,
    /// Flag the share of training rows the labels mark as anomalous (needs labels).
    LabelRate,
}

/// Everything that can stop a detector from being trained or used.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error(transparent)]
    Forest(#[from] ForestError),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(
        "the threshold rule 'label rate' needs training labels; pass labels or use a contamination fraction"
    )]
    NoLabels,
    #[error(
        "the training labels mark {rate:.4} of the rows as anomalous; a label-rate threshold needs a rate in (0, 0.5]"
    )]
    BadLabelRate { rate: f64 },
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },
}

/// What to train: a recipe without data.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorSpec {
    pub preprocess: Preprocess,
    pub forest: IsolationForestParams,
    pub threshold: ThresholdRule,
}

impl DetectorSpec {
    /// The tutorial's recipe: raw values, `IsolationForest(contamination='auto', bootstrap=True)`.
    pub fn tutorial(seed: u64) -> Self {
        Self {
            preprocess: Preprocess::Raw,
            forest: IsolationForestParams::new()
                .bootstrap(true)
                .contamination(Contamination::Auto)
                .seed(seed),
            threshold: ThresholdRule::Forest,
        }
    }

    /// The improved recipe: trailing-median residuals, a default forest, and a threshold that
    /// flags the training labels' anomaly rate.
    pub fn improved(window: usize, seed: u64) -> Self {
        Self {
            preprocess: Preprocess::RollingMedianResidual { window },
            forest: IsolationForestParams::new().seed(seed),
            threshold: ThresholdRule::LabelRate,
        }
    }

    /// Trains on `x` (rows in time order). `labels` (one per row, `true` = anomaly) are used only
    /// to pick the threshold when the rule asks for them.
    pub fn fit(
        &self,
        feature_names: &[String],
        x: ArrayView2<f64>,
        labels: Option<&[bool]>,
    ) -> Result<Detector, DetectorError> {
        if feature_names.len() != x.ncols() {
            return Err(DetectorError::Shape {
                what: "feature names",
                expected: x.ncols(),
                got: feature_names.len(),
            });
        }
        if let Some(l) = labels
            && l.len() != x.nrows()
        {
            return Err(DetectorError::Shape {
                what: "labels",
                expected: x.nrows(),
                got: l.len(),
            });
        }
        // A label-rate threshold is the forest's own contamination quantile, with the rate
        // taken from the labels: the forest computes it while fitting, in one scoring pass.
        let forest_params = match self.threshold {
            ThresholdRule::Forest => self.forest.clone(),
            ThresholdRule::LabelRate => {
                let l = labels.ok_or(DetectorError::NoLabels)?;
                let rate = l.iter().filter(|&&a| a).count() as f64 / l.len().max(1) as f64;
                if !(rate > 0.0 && rate <= 0.5) {
                    return Err(DetectorError::BadLabelRate { rate });
                }
                self.forest
                    .clone()
                    .contamination(Contamination::Fraction(rate))
            }
        };
        let params: IsolationForestValidParams = linfa::ParamGuard::check(forest_params)?;
        let features = self.preprocess.transform(x)?;
        let forest = IsolationForest::fit_array(&params, features.view())?;
        Ok(Detector {
            feature_names: feature_names.to_vec(),
            preprocess: self.preprocess,
            threshold_rule: self.threshold,
            forest,
        })
    }
}

/// A trained detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Input columns, in the order the forest expects them.
    pub feature_names: Vec<String>,
    pub preprocess: Preprocess,
    /// How the threshold was chosen (for the record; the value is the forest's offset).
    pub threshold_rule: ThresholdRule,
    pub forest: IsolationForest,
}

impl Detector {
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The `score_samples` value below which a row is flagged.
    pub fn threshold(&self) -> f64 {
        self.forest.offset()
    }

    /// Checks a detector read from a file.
    pub fn validate(&self) -> Result<(), DetectorError> {
        self.preprocess.validate()?;
        self.forest.validate()?;
        if self.feature_names.len() != self.forest.n_features() {
            return Err(DetectorError::Shape {
                what: "feature names vs forest inputs",
                expected: self.forest.n_features(),
                got: self.feature_names.len(),
            });
        }
        Ok(())
    }

    /// scikit-learn's `score_samples` on rows in time order (features computed from a fresh state):
    /// lower is more abnormal.
    pub fn score_samples(&self, x: ArrayView2<f64>) -> Result<Array1<f64>, DetectorError> {
        if x.ncols() != self.n_features() {
            return Err(ForestError::FeatureMismatch {
                expected: self.n_features(),
                got: x.ncols(),
            }
            .into());
        }
        let features = self.preprocess.transform(x)?;
        Ok(self.forest.score_samples(features.view())?)
    }

    /// `-score_samples`: higher is more abnormal (the convention of the metrics).
    pub fn anomaly_scores(&self, x: ArrayView2<f64>) -> Result<Vec<f64>, DetectorError> {
        Ok(self.score_samples(x)?.iter().map(|s| -s).collect())
    }

    /// `true` where a row is flagged.
    pub fn is_anomaly(&self, x: ArrayView2<f64>) -> Result<Vec<bool>, DetectorError> {
        let t = self.threshold();
        Ok(self.score_samples(x)?.iter().map(|&s| s < t).collect())
    }

    /// -1 for anomalies, 1 for normal rows, as the tutorial's endpoint answers.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<i32>, DetectorError> {
        Ok(self
            .is_anomaly(x)?
            .into_iter()
            .map(|a| if a { -1 } else { 1 })
            .collect())
    }

    /// State for scoring one series record by record (empty for a stateless detector).
    pub fn stream(&self) -> Result<DetectorStream<'_>, DetectorError> {
        Ok(DetectorStream {
            detector: self,
            state: self.preprocess.state(self.n_features())?,
        })
    }
}

/// One scored row.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowScore {
    /// `score_samples` (lower is more abnormal).
    pub score: f64,
    pub is_anomaly: bool,
}

/// Scores rows of one series as they arrive, with the same numbers as batch scoring.
pub struct DetectorStream<'a> {
    detector: &'a Detector,
    state: PreprocessState,
}

impl DetectorStream<'_> {
    /// Scores the next row of the series.
    pub fn score_row(&mut self, row: &[f64]) -> Result<RowScore, DetectorError> {
        let features = self.state.try_transform_row(row)?;
        let x = ArrayView2::from_shape((1, features.len()), features).expect("one row");
        let score = self.detector.forest.score_samples(x)?[0];
        Ok(RowScore {
            score,
            is_anomaly: score < self.detector.threshold(),
        })
    }

    pub fn rows_seen(&self) -> u64 {
        self.state.rows_seen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SynthParams;

    #[test]
    fn streaming_equals_batch() {
        let data = SynthParams::tutorial()
            .rows(600)
            .anomalies(30)
            .generate()
            .unwrap();
        let detector = DetectorSpec::improved(15, 1)
            .fit(
                &data.feature_names,
                data.values.view(),
                Some(&data.row_truth()),
            )
            .unwrap();
        let batch = detector.score_samples(data.values.view()).unwrap();
        let mut stream = detector.stream().unwrap();
        for (i, row) in data.values.rows().into_iter().enumerate() {
            let s = stream.score_row(&row.to_vec()).unwrap();
            assert_eq!(s.score.to_bits(), batch[i].to_bits(), "row {i}");
        }
    }

    #[test]
    fn label_rate_needs_labels_with_a_sane_rate() {
        let data = SynthParams::tutorial()
            .rows(200)
            .anomalies(10)
            .generate()
            .unwrap();
        let spec = DetectorSpec::improved(5, 1);
        assert!(matches!(
            spec.fit(&data.feature_names, data.values.view(), None),
            Err(DetectorError::NoLabels)
        ));
        let none = vec![false; 200];
        assert!(matches!(
            spec.fit(&data.feature_names, data.values.view(), Some(&none)),
            Err(DetectorError::BadLabelRate { .. })
        ));
        let short = vec![true; 3];
        assert!(matches!(
            spec.fit(&data.feature_names, data.values.view(), Some(&short)),
            Err(DetectorError::Shape { .. })
        ));
    }

    #[test]
    fn label_rate_flags_about_that_share_of_training_rows() {
        let data = SynthParams::tutorial()
            .rows(3_000)
            .anomalies(150)
            .generate()
            .unwrap();
        let truth = data.row_truth();
        let d = DetectorSpec::improved(15, 3)
            .fit(&data.feature_names, data.values.view(), Some(&truth))
            .unwrap();
        let flagged = d
            .is_anomaly(data.values.view())
            .unwrap()
            .iter()
            .filter(|&&a| a)
            .count();
        let actual = truth.iter().filter(|&&a| a).count();
        assert!(
            flagged <= actual && flagged + 5 >= actual,
            "{flagged} vs {actual}"
        );
    }
}
