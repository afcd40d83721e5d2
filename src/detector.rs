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

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::contract::{self, Rows};
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
    /// Fitting, checking or scoring failed in the forest (see [`ForestError`]).
    #[error(transparent)]
    Forest(#[from] ForestError),
    /// The preprocessing setting is invalid or a row has the wrong width (see [`FeatureError`]).
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// The threshold rule is [`ThresholdRule::LabelRate`] but no training labels were given.
    #[error(
        "the threshold rule 'label rate' needs training labels; pass labels or use a contamination fraction"
    )]
    NoLabels,
    /// The training labels' anomaly rate is outside (0, 0.5], so it cannot set the threshold.
    #[error(
        "the training labels mark {rate:.4} of the rows as anomalous; a label-rate threshold needs a rate in (0, 0.5]"
    )]
    BadLabelRate {
        /// Share of training rows the labels mark as anomalous, in [0, 1].
        rate: f64,
    },
    /// Two inputs disagree in size: feature names or labels against the data, or a loaded
    /// detector's feature names against its forest.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which input is at fault (for example `"labels"`).
        what: &'static str,
        /// The count it should have.
        expected: usize,
        /// The count it has.
        got: usize,
    },
}

/// What to train: a recipe without data.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorSpec {
    /// How raw values become the forest's inputs.
    pub preprocess: Preprocess,
    /// The forest's hyper-parameters ([`ThresholdRule::LabelRate`] replaces their contamination).
    pub forest: IsolationForestParams,
    /// How the decision threshold is chosen.
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
    /// How raw values become the forest's inputs, the same at training and scoring.
    pub preprocess: Preprocess,
    /// How the threshold was chosen (for the record; the value is the forest's offset).
    pub threshold_rule: ThresholdRule,
    /// The fitted forest; its offset is the decision threshold on `score_samples`.
    pub forest: IsolationForest,
}

impl Detector {
    /// Input columns the detector expects: as many as `feature_names`.
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
        self.check_width(x.ncols())?;
        let features = self.preprocess.transform(x)?;
        Ok(self.forest.score_samples(features.view())?)
    }

    /// The threshold on the [`Detector::anomaly_scores`] scale (`-threshold()`), for charts.
    pub fn anomaly_threshold(&self) -> f64 {
        -self.threshold()
    }

    /// `-score_samples`: higher is more abnormal (the convention of the metrics).
    pub fn anomaly_scores(&self, x: ArrayView2<f64>) -> Result<Vec<f64>, DetectorError> {
        Ok(self.score_samples(x)?.iter().map(|s| -s).collect())
    }

    /// Rows of a series that are scored but never flagged: a trailing window must be full before
    /// its residuals mean anything (the window size; 0 for raw values). A fresh series' first
    /// rows would otherwise be flagged only because their past is short.
    pub fn warm_up_rows(&self) -> usize {
        self.preprocess.warm_up_rows()
    }

    /// **The** anomaly decision, used by every path (offline, server, stream): a row is flagged
    /// when its window is full and its score is below the threshold.
    ///
    /// ```
    /// # use anomaly_kit::{detector::DetectorSpec, synth::SynthParams};
    /// # let data = SynthParams::tutorial().rows(300).anomalies(10).generate()?;
    /// # let detector = DetectorSpec::tutorial(1).fit(&data.feature_names, data.values.view(), None)?;
    /// let t = detector.threshold();
    /// assert!(detector.decide(t - 0.1, false));
    /// assert!(!detector.decide(t - 0.1, true), "a warming-up row is never flagged");
    /// assert!(!detector.decide(t, false), "the threshold itself is normal");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide(&self, score: f64, warming_up: bool) -> bool {
        !warming_up && crate::forest::is_anomalous(score, self.threshold())
    }

    /// Scores rows of **one series** in time order, from an empty past: scores, warm-up flags and
    /// decisions together.
    pub fn score_series(&self, x: ArrayView2<f64>) -> Result<Scored, DetectorError> {
        let scores = self.score_samples(x)?.to_vec();
        let warm = self.warm_up_rows();
        let warming_up: Vec<bool> = (0..scores.len()).map(|i| i < warm).collect();
        Ok(self.scored(scores, warming_up))
    }

    /// Scores the rows of an `/invocations` request: each series is windowed in request order,
    /// starting from the context rows the request carries for it (none: an empty past). The
    /// answer depends only on the detector and the request, so any server instance, in any
    /// order, after any restart, gives the same bits.
    pub fn score_request(&self, request: &Rows) -> Result<Scored, DetectorError> {
        self.check_width(request.values.ncols())?;
        if !self.preprocess.is_stateful() {
            let scores = self.forest.score_samples(request.values.view())?.to_vec();
            let warming_up = vec![false; scores.len()];
            return Ok(self.scored(scores, warming_up));
        }
        let mut scorers: HashMap<&str, SeriesScorer<'_>> = HashMap::new();
        let mut features = Array2::zeros(request.values.raw_dim());
        let mut warming_up = Vec::with_capacity(request.values.nrows());
        let values = request.values.as_standard_layout();
        let flat = values.as_slice().expect("standard layout is contiguous");
        let width = self.n_features().max(1);
        for (i, (row, series)) in flat.chunks_exact(width).zip(&request.series).enumerate() {
            let key = contract::series_name(series.as_deref());
            let scorer = match scorers.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let mut scorer = self.series_scorer()?;
                    if let Some(past) = request.context.get(key) {
                        let past = past.as_standard_layout();
                        let past = past.as_slice().expect("standard layout is contiguous");
                        for r in past.chunks_exact(width) {
                            scorer.push_context(r)?;
                        }
                    }
                    e.insert(scorer)
                }
            };
            warming_up.push(scorer.warming_up());
            let out = scorer.state.try_transform_row(row)?;
            features
                .row_mut(i)
                .iter_mut()
                .zip(out)
                .for_each(|(f, v)| *f = *v);
        }
        let scores = self.forest.score_samples(features.view())?.to_vec();
        Ok(self.scored(scores, warming_up))
    }

    fn scored(&self, scores: Vec<f64>, warming_up: Vec<bool>) -> Scored {
        let anomalies = scores
            .iter()
            .zip(&warming_up)
            .map(|(&s, &w)| self.decide(s, w))
            .collect();
        Scored {
            scores,
            warming_up,
            anomalies,
            context_rows: self.warm_up_rows(),
        }
    }

    fn check_width(&self, got: usize) -> Result<(), DetectorError> {
        if got != self.n_features() {
            return Err(ForestError::FeatureMismatch {
                expected: self.n_features(),
                got,
            }
            .into());
        }
        Ok(())
    }

    /// `true` where a row of one series (from an empty past) is flagged.
    pub fn is_anomaly(&self, x: ArrayView2<f64>) -> Result<Vec<bool>, DetectorError> {
        Ok(self.score_series(x)?.anomalies)
    }

    /// -1 for anomalies, 1 for normal rows, as the tutorial's endpoint answers.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<i32>, DetectorError> {
        Ok(self.score_series(x)?.predictions())
    }

    /// A scorer for one series, record by record, from an empty past.
    pub fn series_scorer(&self) -> Result<SeriesScorer<'_>, DetectorError> {
        Ok(SeriesScorer {
            detector: self,
            state: self.preprocess.state(self.n_features())?,
        })
    }
}

/// Rows scored together: scores, which rows were still warming up, and the decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// `score_samples` per row (lower is more abnormal).
    pub scores: Vec<f64>,
    /// `true` where the row's window was not yet full (scored, never flagged).
    pub warming_up: Vec<bool>,
    /// [`Detector::decide`] per row.
    pub anomalies: Vec<bool>,
    /// How many preceding rows of a series the detector uses ([`Detector::warm_up_rows`]): what
    /// a stream consumer keeps and sends back as context.
    pub context_rows: usize,
}

impl Scored {
    /// -1 for anomalies, 1 for normal rows (scikit-learn's `predict`).
    pub fn predictions(&self) -> Vec<i32> {
        self.anomalies
            .iter()
            .map(|&a| crate::forest::prediction(a))
            .collect()
    }

    /// Rows that were warming up.
    pub fn warming_up_count(&self) -> usize {
        self.warming_up.iter().filter(|&&w| w).count()
    }
}

/// One scored row.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowScore {
    /// `score_samples` (lower is more abnormal).
    pub score: f64,
    /// The row's window was not yet full.
    pub warming_up: bool,
    /// [`Detector::decide`] for the row: `true` = anomaly.
    pub is_anomaly: bool,
}

/// Scores the rows of one series as they arrive, with the same numbers as batch scoring.
pub struct SeriesScorer<'a> {
    detector: &'a Detector,
    state: PreprocessState,
}

impl SeriesScorer<'_> {
    /// Feeds a past row: it fills the window and is not scored.
    pub fn push_context(&mut self, row: &[f64]) -> Result<(), DetectorError> {
        self.state.try_transform_row(row)?;
        Ok(())
    }

    /// Whether the next row will be warming up.
    pub fn warming_up(&self) -> bool {
        self.state.rows_seen() < self.detector.warm_up_rows() as u64
    }

    /// Scores the next row of the series.
    pub fn score_row(&mut self, row: &[f64]) -> Result<RowScore, DetectorError> {
        let warming_up = self.warming_up();
        let features = self.state.try_transform_row(row)?;
        let x = ArrayView2::from_shape((1, features.len()), features).expect("one row");
        let score = self.detector.forest.score_samples(x)?[0];
        Ok(RowScore {
            score,
            warming_up,
            is_anomaly: self.detector.decide(score, warming_up),
        })
    }

    /// Rows seen so far, context included.
    pub fn rows_seen(&self) -> u64 {
        self.state.rows_seen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SynthParams;
    use crate::test_support::any_finite;
    use proptest::prelude::*;

    /// Both recipes, fitted without labels (so any data can train them).
    fn unlabelled_recipes() -> [DetectorSpec; 2] {
        [
            DetectorSpec::tutorial(1),
            DetectorSpec {
                threshold: ThresholdRule::Forest,
                ..DetectorSpec::improved(3, 1)
            },
        ]
    }

    /// Values the contract accepts, at the edges of `f64`: a series holding `1.7e308` and
    /// `-1.7e308`, or `9e307` twice, once overflowed the trailing median and answered 500.
    #[test]
    fn extreme_finite_values_train_and_score() {
        let names = vec!["a".to_string()];
        for series in [
            vec![1.7e308, -1.7e308, 1.0, 2.0],
            vec![9e307, 9e307, 9e307, 1.0],
        ] {
            let x = Array2::from_shape_vec((series.len(), 1), series.clone()).unwrap();
            for spec in unlabelled_recipes() {
                let detector = spec.fit(&names, x.view(), None).unwrap();
                let scored = detector
                    .score_request(&Rows::new(x.clone(), vec![None; series.len()]))
                    .unwrap();
                assert!(
                    scored.scores.iter().all(|s| s.is_finite()),
                    "{series:?}: {:?}",
                    scored.scores
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Training and scoring are finite on any finite input, whatever its magnitude.
        #[test]
        fn any_finite_input_trains_and_scores_finitely(
            values in prop::collection::vec(any_finite(), 8..80),
        ) {
            let n = values.len() / 2;
            let x = Array2::from_shape_vec((n, 2), values[..2 * n].to_vec()).unwrap();
            let names = vec!["a".to_string(), "b".to_string()];
            for spec in unlabelled_recipes() {
                let detector = spec.fit(&names, x.view(), None).unwrap();
                prop_assert!(detector.threshold().is_finite());
                let scored = detector.score_series(x.view()).unwrap();
                prop_assert!(scored.scores.iter().all(|s| s.is_finite()), "{:?}", scored.scores);
            }
        }
    }

    #[test]
    fn streaming_equals_batch() {
        let (data, detector) = improved(600);
        let batch = detector.score_series(data.values.view()).unwrap();
        let mut scorer = detector.series_scorer().unwrap();
        for (i, row) in data.values.rows().into_iter().enumerate() {
            let s = scorer.score_row(&row.to_vec()).unwrap();
            assert_eq!(s.score.to_bits(), batch.scores[i].to_bits(), "row {i}");
            assert_eq!(s.warming_up, batch.warming_up[i], "row {i}");
            assert_eq!(s.is_anomaly, batch.anomalies[i], "row {i}");
        }
    }

    fn improved(rows: usize) -> (crate::synth::Synthetic, Detector) {
        let data = SynthParams::tutorial()
            .rows(rows)
            .anomalies(rows / 20)
            .generate()
            .unwrap();
        let detector = DetectorSpec::improved(15, 1)
            .fit(
                &data.feature_names,
                data.values.view(),
                Some(&data.row_truth()),
            )
            .unwrap();
        (data, detector)
    }

    /// No row is flagged before its series' window is full, whatever its score: a fresh series
    /// (offline, or a stream from its first record) starts with `window` silent rows.
    #[test]
    fn no_anomaly_before_the_window_is_full() {
        let (data, detector) = improved(400);
        // make the first rows as extreme as any anomaly
        let mut x = data.values.clone();
        for i in 0..20 {
            x.row_mut(i).fill(if i % 2 == 0 { 1e4 } else { -1e4 });
        }
        let scored = detector.score_series(x.view()).unwrap();
        assert_eq!(detector.warm_up_rows(), 15);
        assert_eq!(scored.warming_up_count(), 15);
        assert!(scored.anomalies[..15].iter().all(|a| !a));
        assert!(
            scored.scores[..15]
                .iter()
                .skip(1)
                .any(|&s| s < detector.threshold()),
            "the test needs rows that would be flagged"
        );
        assert!(
            scored.anomalies[15..20].iter().any(|&a| a),
            "after warm-up, extreme rows are flagged"
        );
        let raw = DetectorSpec::tutorial(1)
            .fit(&data.feature_names, data.values.view(), None)
            .unwrap();
        assert_eq!(raw.warm_up_rows(), 0);
        assert_eq!(raw.score_series(x.view()).unwrap().warming_up_count(), 0);
    }

    /// A request that carries the preceding rows as context scores its rows exactly as the
    /// whole series scored in one go; rows of several series interleave freely.
    #[test]
    fn context_rows_give_the_same_bits_as_the_whole_series() {
        let (data, detector) = improved(300);
        let whole = detector.score_series(data.values.view()).unwrap();
        for split in [0usize, 1, 7, 15, 16, 100] {
            let tail = data.values.slice(ndarray::s![split.., ..]).to_owned();
            let context_rows = split.saturating_sub(40)..split;
            let context = data
                .values
                .slice(ndarray::s![context_rows.clone(), ..])
                .to_owned();
            let n = tail.nrows();
            // the tail interleaved with a second series ("b") that must not disturb it
            let mut values = Vec::new();
            let mut series = Vec::new();
            for i in 0..n {
                values.extend(tail.row(i).iter().copied());
                series.push(Some("a".to_string()));
                values.extend(data.values.row(i).iter().copied());
                series.push(Some("b".to_string()));
            }
            let request = Rows {
                values: Array2::from_shape_vec((2 * n, detector.n_features()), values).unwrap(),
                series,
                context: [("a".to_string(), context)].into_iter().collect(),
            };
            let scored = detector.score_request(&request).unwrap();
            for i in 0..n {
                let (a, b) = (2 * i, 2 * i + 1);
                assert_eq!(
                    scored.scores[a].to_bits(),
                    whole.scores[split + i].to_bits(),
                    "split {split} row {i}"
                );
                assert_eq!(scored.warming_up[a], whole.warming_up[split + i]);
                assert_eq!(scored.anomalies[a], whole.anomalies[split + i]);
                assert_eq!(scored.scores[b].to_bits(), whole.scores[i].to_bits());
            }
            assert_eq!(scored.context_rows, 15);
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
