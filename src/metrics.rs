//! Evaluation: confusion matrix, precision, recall, F1, ROC-AUC, average precision, curves and a
//! threshold sweep — with scikit-learn's definitions, ties included, so numbers can be compared.
//!
//! Scores passed here follow one convention: **higher means more anomalous** (use
//! [`crate::detector::Detector::anomaly_scores`], or negate `score_samples`).
//!
//! ```
//! use anomaly_kit::metrics::{roc_auc, average_precision, ConfusionMatrix};
//! let scores = [0.9, 0.8, 0.3, 0.1];
//! let truth = [true, false, true, false];
//! assert_eq!(roc_auc(&scores, &truth)?, 0.75);
//! assert!((average_precision(&scores, &truth)? - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
//! let cm = ConfusionMatrix::new(&[true, true, false, false], &truth)?;
//! assert_eq!((cm.precision(), cm.recall()), (0.5, 0.5));
//! # Ok::<(), anomaly_kit::metrics::MetricsError>(())
//! ```

use serde::{Deserialize, Serialize};

/// Inputs the metrics cannot be computed on.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    /// Predictions or scores do not pair up with the labels: the lengths differ.
    #[error("{what} has {got} entries but the labels have {expected}")]
    Length {
        /// Which input is at fault (`"predictions"` or `"scores"`).
        what: &'static str,
        /// Entries in the labels.
        expected: usize,
        /// Entries in that input.
        got: usize,
    },
    /// There are no rows: the labels and the inputs are empty.
    #[error("no rows to evaluate")]
    Empty,
    /// The named ranking metric is undefined for these labels: ROC-AUC needs both classes,
    /// average precision at least one anomaly.
    #[error("{0} is undefined when the labels hold only one class (all anomalies or none)")]
    OneClass(&'static str),
    /// A score is NaN or infinite; the metrics need finite numbers.
    #[error("score {index} is not a finite number")]
    NonFinite {
        /// Position of the first such score, from 0.
        index: usize,
    },
}

/// Counts of a binary decision against the truth; "positive" means "anomaly".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Anomalies that were flagged.
    pub true_positives: usize,
    /// Normal rows that were flagged.
    pub false_positives: usize,
    /// Normal rows that were not flagged.
    pub true_negatives: usize,
    /// Anomalies that were missed.
    pub false_negatives: usize,
}

impl ConfusionMatrix {
    /// Counts `predicted` against `truth`, row by row (`true` = anomaly in both).
    pub fn new(predicted: &[bool], truth: &[bool]) -> Result<Self, MetricsError> {
        check_lengths("predictions", predicted.len(), truth.len())?;
        let mut cm = Self::default();
        for (&p, &t) in predicted.iter().zip(truth) {
            match (p, t) {
                (true, true) => cm.true_positives += 1,
                (true, false) => cm.false_positives += 1,
                (false, false) => cm.true_negatives += 1,
                (false, true) => cm.false_negatives += 1,
            }
        }
        Ok(cm)
    }
    /// Rows flagged as anomalies.
    pub fn flagged(&self) -> usize {
        self.true_positives + self.false_positives
    }
    /// Rows that really are anomalies.
    pub fn actual(&self) -> usize {
        self.true_positives + self.false_negatives
    }
    /// Rows counted.
    pub fn total(&self) -> usize {
        self.flagged() + self.true_negatives + self.false_negatives
    }
    /// Share of flagged rows that are anomalies; 0 when nothing is flagged (scikit-learn's
    /// `zero_division` default).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.flagged())
    }
    /// Share of anomalies that were flagged; 0 when there are none.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.actual())
    }
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    /// Share of rows decided correctly; 0 when there are none.
    pub fn accuracy(&self) -> f64 {
        ratio(self.true_positives + self.true_negatives, self.total())
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn check_lengths(what: &'static str, got: usize, expected: usize) -> Result<(), MetricsError> {
    if got != expected {
        return Err(MetricsError::Length {
            what,
            expected,
            got,
        });
    }
    if got == 0 {
        return Err(MetricsError::Empty);
    }
    Ok(())
}

/// Scores and labels must pair up, and scores must be finite numbers.
fn check_scores(scores: &[f64], truth: &[bool]) -> Result<(), MetricsError> {
    check_lengths("scores", scores.len(), truth.len())?;
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(MetricsError::NonFinite { index }),
        None => Ok(()),
    }
}

/// Indices sorted by descending score, after checking the inputs.
fn ranked(scores: &[f64], truth: &[bool]) -> Result<Vec<usize>, MetricsError> {
    check_scores(scores, truth)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    Ok(order)
}

/// (false positives, true positives) counted down to each distinct threshold, plus the totals.
struct Cumulative {
    points: Vec<(usize, usize)>,
    positives: usize,
    negatives: usize,
}

/// Cumulative (false positives, true positives) at each distinct threshold, from the highest
/// score down; rows with equal scores enter together. Starts at (0, 0).
fn cumulative_counts(scores: &[f64], truth: &[bool]) -> Result<Cumulative, MetricsError> {
    let order = ranked(scores, truth)?;
    let positives = truth.iter().filter(|&&t| t).count();
    let negatives = truth.len() - positives;
    let mut points = vec![(0, 0)];
    let (mut fp, mut tp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if truth[i] {
            tp += 1
        } else {
            fp += 1
        }
        let last_of_tie = order
            .get(k + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            points.push((fp, tp));
        }
    }
    Ok(Cumulative {
        points,
        positives,
        negatives,
    })
}

/// Area under the ROC curve, as `sklearn.metrics.roc_auc_score` (trapezoids over distinct
/// thresholds, so tied scores count half).
pub fn roc_auc(scores: &[f64], truth: &[bool]) -> Result<f64, MetricsError> {
    let points = roc_curve(scores, truth)?;
    Ok(points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum())
}

/// ROC curve points `(false positive rate, true positive rate)`, one per distinct score.
pub fn roc_curve(scores: &[f64], truth: &[bool]) -> Result<Vec<(f64, f64)>, MetricsError> {
    let Cumulative {
        points: counts,
        positives: p,
        negatives: n,
    } = cumulative_counts(scores, truth)?;
    if p == 0 || n == 0 {
        return Err(MetricsError::OneClass("ROC-AUC"));
    }
    Ok(counts
        .into_iter()
        .map(|(fp, tp)| (fp as f64 / n as f64, tp as f64 / p as f64))
        .collect())
}

/// Average precision, as `sklearn.metrics.average_precision_score`: `Σ (R_k - R_{k-1}) P_k` over
/// distinct thresholds, without interpolation.
pub fn average_precision(scores: &[f64], truth: &[bool]) -> Result<f64, MetricsError> {
    let points = pr_curve(scores, truth)?;
    Ok(points.windows(2).map(|w| (w[1].0 - w[0].0) * w[1].1).sum())
}

/// Precision–recall points `(recall, precision)` from the highest threshold down, starting at
/// recall 0 with precision 1 (scikit-learn's convention).
pub fn pr_curve(scores: &[f64], truth: &[bool]) -> Result<Vec<(f64, f64)>, MetricsError> {
    let Cumulative {
        points: counts,
        positives: p,
        ..
    } = cumulative_counts(scores, truth)?;
    if p == 0 {
        return Err(MetricsError::OneClass("average precision"));
    }
    let mut points = vec![(0.0, 1.0)];
    points.extend(
        counts
            .into_iter()
            .skip(1)
            .map(|(fp, tp)| (tp as f64 / p as f64, tp as f64 / (tp + fp) as f64)),
    );
    Ok(points)
}

/// One threshold of a sweep: what flagging `score >= threshold` would give.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Rows scoring at or above it are flagged (scores: higher = more anomalous).
    pub threshold: f64,
    /// Rows flagged at this threshold.
    pub flagged: usize,
    /// Share of flagged rows that are anomalies; 0 when nothing is flagged.
    pub precision: f64,
    /// Share of anomalies that were flagged; 0 when there are none.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
}

/// Precision, recall and F1 if rows with `score >= threshold` were flagged, for each threshold.
pub fn threshold_sweep(
    scores: &[f64],
    truth: &[bool],
    thresholds: &[f64],
) -> Result<Vec<SweepPoint>, MetricsError> {
    check_scores(scores, truth)?;
    thresholds
        .iter()
        .map(|&threshold| {
            let flagged: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
            let cm = ConfusionMatrix::new(&flagged, truth)?;
            Ok(SweepPoint {
                threshold,
                flagged: cm.flagged(),
                precision: cm.precision(),
                recall: cm.recall(),
                f1: cm.f1(),
            })
        })
        .collect()
}

/// A sweep whose thresholds flag the given shares of rows (quantiles of the scores), the way one
/// would tune "flag the top 5 %".
pub fn sweep_by_flag_rate(
    scores: &[f64],
    truth: &[bool],
    rates: &[f64],
) -> Result<Vec<SweepPoint>, MetricsError> {
    let order = ranked(scores, truth)?;
    let thresholds: Vec<f64> = rates
        .iter()
        .map(|&r| {
            let k =
                ((r.clamp(0.0, 1.0) * scores.len() as f64).round() as usize).clamp(1, scores.len());
            scores[order[k - 1]]
        })
        .collect();
    threshold_sweep(scores, truth, &thresholds)
}

/// The summary a detector is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// Rows the labels mark as anomalous.
    pub anomalies: usize,
    /// Rows the detector flagged.
    pub flagged: usize,
    /// Share of flagged rows that are anomalies; 0 when nothing is flagged.
    pub precision: f64,
    /// Share of anomalies that were flagged; 0 when there are none.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// `None` when the labels hold one class only (an anomaly-free window, say): ranking
    /// metrics are undefined there, but the counts and precision/recall still are.
    pub roc_auc: Option<f64>,
    /// Average precision of the scores; `None` when the labels mark no anomaly.
    pub average_precision: Option<f64>,
    /// The counts behind the figures above.
    pub confusion: ConfusionMatrix,
}

impl Evaluation {
    /// Threshold metrics from `flagged`, ranking metrics from `scores` (higher = more anomalous).
    pub fn new(scores: &[f64], flagged: &[bool], truth: &[bool]) -> Result<Self, MetricsError> {
        let confusion = ConfusionMatrix::new(flagged, truth)?;
        let undefined_if_one_class = |r: Result<f64, MetricsError>| match r {
            Ok(v) => Ok(Some(v)),
            Err(MetricsError::OneClass(_)) => Ok(None),
            Err(e) => Err(e),
        };
        Ok(Self {
            rows: truth.len(),
            anomalies: confusion.actual(),
            flagged: confusion.flagged(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            roc_auc: undefined_if_one_class(roc_auc(scores, truth))?,
            average_precision: undefined_if_one_class(average_precision(scores, truth))?,
            confusion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn confusion_by_hand() {
        let cm = ConfusionMatrix::new(
            &[true, true, true, false, false],
            &[true, false, true, true, false],
        )
        .unwrap();
        assert_eq!(
            (
                cm.true_positives,
                cm.false_positives,
                cm.true_negatives,
                cm.false_negatives
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(cm.precision(), 2.0 / 3.0);
        assert_eq!(cm.recall(), 2.0 / 3.0);
        assert!((cm.f1() - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(cm.accuracy(), 0.6);
    }

    #[test]
    fn zero_division_is_zero() {
        let cm = ConfusionMatrix::new(&[false, false], &[true, false]).unwrap();
        assert_eq!((cm.precision(), cm.recall(), cm.f1()), (0.0, 0.0, 0.0));
    }

    #[test]
    fn auc_with_ties_counts_half() {
        // one positive and one negative tied: AUC 0.5
        assert_eq!(roc_auc(&[1.0, 1.0], &[true, false]).unwrap(), 0.5);
        // sklearn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap(),
            0.75
        );
        // sklearn: roc_auc_score([1,0,1,0,1],[0.5,0.5,0.2,0.1,0.9]) = 0.75
        assert_eq!(
            roc_auc(
                &[0.5, 0.5, 0.2, 0.1, 0.9],
                &[true, false, true, false, true]
            )
            .unwrap(),
            0.75
        );
    }

    #[test]
    fn average_precision_like_sklearn() {
        // sklearn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((ap - 5.0 / 6.0).abs() < 1e-12);
        // ties: all scores equal -> AP = share of positives
        assert_eq!(
            average_precision(&[0.3; 4], &[true, false, false, false]).unwrap(),
            0.25
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            roc_auc(&[1.0], &[true, false]),
            Err(MetricsError::Length {
                what: "scores",
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            roc_auc(&[1.0, 2.0], &[true, true]),
            Err(MetricsError::OneClass("ROC-AUC"))
        );
        assert_eq!(
            average_precision(&[1.0, 2.0], &[false, false]),
            Err(MetricsError::OneClass("average precision"))
        );
        assert_eq!(
            roc_auc(&[1.0, f64::NAN], &[true, false]),
            Err(MetricsError::NonFinite { index: 1 })
        );
        assert_eq!(roc_auc(&[], &[]), Err(MetricsError::Empty));
    }

    #[test]
    fn evaluation_of_an_anomaly_free_window_keeps_the_counts() {
        let e = Evaluation::new(&[0.1, 0.9], &[false, true], &[false, false]).unwrap();
        assert_eq!((e.flagged, e.anomalies, e.precision), (1, 0, 0.0));
        assert_eq!((e.roc_auc, e.average_precision), (None, None));
    }

    #[test]
    fn sweep_by_rate_flags_the_top_rows() {
        let scores = [0.1, 0.9, 0.5, 0.7, 0.3];
        let truth = [false, true, false, true, false];
        let sweep = sweep_by_flag_rate(&scores, &truth, &[0.2, 0.4, 1.0]).unwrap();
        assert_eq!(
            sweep.iter().map(|p| p.flagged).collect::<Vec<_>>(),
            vec![1, 2, 5]
        );
        assert_eq!(sweep[1].precision, 1.0);
        assert_eq!(sweep[1].recall, 1.0);
        assert_eq!(sweep[2].precision, 0.4);
    }

    proptest! {
        /// AUC is the probability that a random anomaly outscores a random normal row (ties half).
        #[test]
        fn auc_equals_pairwise_probability(data in prop::collection::vec((0u8..6, any::<bool>()), 2..60)) {
            let scores: Vec<f64> = data.iter().map(|(s, _)| *s as f64).collect();
            let truth: Vec<bool> = data.iter().map(|(_, t)| *t).collect();
            let p = truth.iter().filter(|&&t| t).count();
            prop_assume!(p > 0 && p < truth.len());
            let mut wins = 0.0;
            for i in (0..truth.len()).filter(|&i| truth[i]) {
                for j in (0..truth.len()).filter(|&j| !truth[j]) {
                    wins += if scores[i] > scores[j] { 1.0 } else if scores[i] == scores[j] { 0.5 } else { 0.0 };
                }
            }
            let expected = wins / (p * (truth.len() - p)) as f64;
            prop_assert!((roc_auc(&scores, &truth).unwrap() - expected).abs() < 1e-12);
        }

        #[test]
        fn ap_is_between_base_rate_bounds(data in prop::collection::vec((0u8..6, any::<bool>()), 1..60)) {
            let scores: Vec<f64> = data.iter().map(|(s, _)| *s as f64).collect();
            let truth: Vec<bool> = data.iter().map(|(_, t)| *t).collect();
            prop_assume!(truth.iter().any(|&t| t));
            let ap = average_precision(&scores, &truth).unwrap();
            prop_assert!(ap > 0.0 && ap <= 1.0 + 1e-12);
        }
    }
}
