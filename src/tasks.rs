//! The kit's tasks over tables read from files — train a recipe, evaluate a saved model, chart
//! data and scores — each returning a report that serialises to JSON and prints as text.
//!
//! The CLI's `train`, `evaluate` and `plot` are these functions behind flags; a notebook or a
//! script can call them the same way. Everything here is built from the other modules: the
//! recipes of [`crate::experiment`], the [`crate::detector`], the [`crate::metrics`] and the
//! charts of [`crate::plot`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use ndarray::ArrayView2;
use serde::Serialize;

use crate::detector::{Detector, DetectorSpec, ThresholdRule};
use crate::display::TextTable;
use crate::experiment::{self, ExperimentError, Recipe};
use crate::features::Preprocess;
use crate::forest::{Contamination, MaxFeatures, MaxSamples};
use crate::frame::{self, Table};
use crate::metrics::{self, Evaluation, SweepPoint};
use crate::model::{ModelArtefact, TrainingInfo};

/// What went wrong in a task.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A lower layer failed; its message says how.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// The task needs row labels and the table has none.
    #[error("row labels (a 0/1 label column) are needed for {0}")]
    NeedsLabels(&'static str),
    /// Two settings contradict each other.
    #[error("{0}")]
    Conflict(String),
}

impl From<frame::FrameError> for TaskError {
    fn from(e: frame::FrameError) -> Self {
        TaskError::Experiment(e.into())
    }
}

impl From<crate::detector::DetectorError> for TaskError {
    fn from(e: crate::detector::DetectorError) -> Self {
        TaskError::Experiment(e.into())
    }
}

impl From<metrics::MetricsError> for TaskError {
    fn from(e: metrics::MetricsError) -> Self {
        TaskError::Experiment(e.into())
    }
}

impl From<crate::model::ModelError> for TaskError {
    fn from(e: crate::model::ModelError) -> Self {
        TaskError::Experiment(e.into())
    }
}

/// How the decision threshold is set when a recipe is customised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdChoice {
    /// The forest's own offset (its contamination).
    Forest,
    /// The training labels' anomaly rate.
    Labels,
    /// Flag this share of the training rows: the forest's contamination.
    Fraction(Contamination),
}

impl FromStr for ThresholdChoice {
    type Err = String;

    /// `forest`, `labels`, or a fraction such as `0.1`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "forest" => Ok(Self::Forest),
            "labels" => Ok(Self::Labels),
            fraction => fraction.parse().map(Self::Fraction).map_err(|_| {
                format!("the threshold must be forest, labels or a fraction, got '{fraction}'")
            }),
        }
    }
}

/// Changes to a recipe's detector; any change makes the recipe "custom" in the artefact.
#[derive(Clone, Debug, Default)]
pub struct SpecOverrides {
    /// Trailing-median window in rows; 0 feeds raw values to the forest.
    pub window: Option<usize>,
    /// How the threshold is set.
    pub threshold: Option<ThresholdChoice>,
    /// Trees in the forest.
    pub trees: Option<usize>,
    /// Rows per tree.
    pub max_samples: Option<MaxSamples>,
    /// Features per tree.
    pub max_features: Option<MaxFeatures>,
    /// Draw each tree's rows with replacement.
    pub bootstrap: Option<bool>,
    /// The forest's contamination.
    pub contamination: Option<Contamination>,
}

impl SpecOverrides {
    /// `spec` with these changes, and whether there were any.
    pub fn apply(&self, mut spec: DetectorSpec) -> Result<(DetectorSpec, bool), TaskError> {
        let mut forest = spec.forest.clone();
        if let Some(w) = self.window {
            spec.preprocess = if w == 0 {
                Preprocess::Raw
            } else {
                Preprocess::RollingMedianResidual { window: w }
            };
        }
        if let Some(t) = self.threshold {
            spec.threshold = match t {
                ThresholdChoice::Forest => ThresholdRule::Forest,
                ThresholdChoice::Labels => ThresholdRule::LabelRate,
                ThresholdChoice::Fraction(c) => {
                    if self.contamination.is_some() {
                        return Err(TaskError::Conflict(
                            "a threshold fraction sets the contamination: give one of the two, or the threshold 'forest'".into(),
                        ));
                    }
                    forest = forest.contamination(c);
                    ThresholdRule::Forest
                }
            };
        }
        if let Some(n) = self.trees {
            forest = forest.n_trees(n);
        }
        if let Some(m) = self.max_samples {
            forest = forest.max_samples(m);
        }
        if let Some(m) = self.max_features {
            forest = forest.max_features(m);
        }
        if let Some(b) = self.bootstrap {
            forest = forest.bootstrap(b);
        }
        if let Some(c) = self.contamination {
            forest = forest.contamination(c);
        }
        spec.forest = forest;
        let changed = self.window.is_some()
            || self.threshold.is_some()
            || self.trees.is_some()
            || self.max_samples.is_some()
            || self.max_features.is_some()
            || self.bootstrap.is_some()
            || self.contamination.is_some();
        Ok((spec, changed))
    }
}

/// A trained and saved model.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// The artefact, with its training metrics.
    pub artefact: ModelArtefact,
    /// Where it was written.
    pub path: PathBuf,
    /// Seconds to fit.
    pub fit_seconds: f64,
}

/// Trains `recipe` (seeded with `seed`, changed by `overrides`) on `table`, measures it on the
/// training rows, and saves the artefact to `out` (a file, or a directory that gets
/// `model.json`).
pub fn train(
    table: &Table,
    recipe: Recipe,
    seed: u64,
    overrides: &SpecOverrides,
    out: &Path,
) -> Result<TrainReport, TaskError> {
    let (spec, customised) = overrides.apply(recipe.spec(crate::features::DEFAULT_WINDOW, seed))?;
    let recipe_name = if customised { "custom" } else { recipe.name() };
    let started = Instant::now();
    let detector = spec.fit(
        &table.feature_names,
        table.values.view(),
        table.labels.as_deref(),
    )?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let flagged = detector.is_anomaly(table.values.view())?;
    let mut artefact = ModelArtefact::new(
        recipe_name,
        detector,
        TrainingInfo::of(table.values.view(), None),
    )
    .with_metric("train_flagged_rate", crate::numeric::share(&flagged));
    if let Some(truth) = &table.labels {
        let scores = artefact.detector.anomaly_scores(table.values.view())?;
        let e = Evaluation::new(&scores, &flagged, truth)?;
        artefact = artefact
            .with_metric("train_precision", e.precision)
            .with_metric("train_recall", e.recall);
        if let Some(auc) = e.roc_auc {
            artefact = artefact.with_metric("train_roc_auc", auc);
        }
    }
    let path = artefact.save(out)?;
    Ok(TrainReport {
        artefact,
        path,
        fit_seconds,
    })
}

impl TrainReport {
    /// The report as JSON: the model's path, the fit time and the artefact's summary.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.path,
            "fit_seconds": self.fit_seconds,
            "summary": self.artefact.summary(),
        })
    }
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.artefact.summary();
        writeln!(
            f,
            "trained the {} recipe on {} rows x {} features in {:.3} s: {} trees, max_samples {}, preprocess {:?}, threshold {:.4} ({:?})",
            s.recipe,
            s.training_rows,
            s.feature_names.len(),
            self.fit_seconds,
            s.n_trees,
            s.max_samples,
            s.preprocess,
            s.threshold,
            s.threshold_rule
        )?;
        for (k, v) in &s.metrics {
            writeln!(f, "  {k}: {v:.4}")?;
        }
        writeln!(f, "wrote {}", self.path.display())
    }
}

/// The shares of rows flagged in an evaluation's threshold sweep.
pub const SWEEP_RATES: [f64; 8] = [0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30];

/// A saved model scored on a table.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluationReport {
    /// The model's file.
    pub model: PathBuf,
    /// The scored file.
    pub input: PathBuf,
    /// Rows scored.
    pub rows: usize,
    /// Rows flagged.
    pub flagged: usize,
    /// Seconds to score.
    pub score_seconds: f64,
    /// Metrics against the labels, when the table has labels.
    pub evaluation: Option<Evaluation>,
    /// Precision, recall and F1 when flagging each share of [`SWEEP_RATES`].
    pub sweep: Option<Vec<SweepPoint>>,
    /// The model's recipe.
    #[serde(skip)]
    pub recipe: String,
    /// Per row: the score (scikit-learn's `score_samples`) and the decision.
    #[serde(skip)]
    pub scored: crate::detector::Scored,
}

/// Scores `table` with the model saved at `model_path` (loaded as `artefact`); with `sweep`, also
/// the metrics of flagging the top shares of rows (needs labels).
pub fn evaluate(
    artefact: &ModelArtefact,
    model_path: &Path,
    table: &Table,
    input: &Path,
    sweep: bool,
) -> Result<EvaluationReport, TaskError> {
    let detector = &artefact.detector;
    let x = table.select(&detector.feature_names)?;
    let started = Instant::now();
    let scored = detector.score_series(x.view())?;
    let score_seconds = started.elapsed().as_secs_f64();
    let scores: Vec<f64> = scored.scores.iter().map(|s| -s).collect();
    let flagged = scored.anomalies.iter().filter(|&&f| f).count();
    let evaluation = table
        .labels
        .as_ref()
        .map(|truth| Evaluation::new(&scores, &scored.anomalies, truth))
        .transpose()?;
    let sweep = match (&table.labels, sweep) {
        (Some(truth), true) => Some(metrics::sweep_by_flag_rate(&scores, truth, &SWEEP_RATES)?),
        (None, true) => return Err(TaskError::NeedsLabels("the threshold sweep")),
        _ => None,
    };
    Ok(EvaluationReport {
        model: model_path.into(),
        input: input.into(),
        rows: table.n_rows(),
        flagged,
        score_seconds,
        evaluation,
        sweep,
        recipe: artefact.recipe.clone(),
        scored,
    })
}

/// A ranking metric, or why there is none.
fn ranking_metric(value: Option<f64>) -> String {
    value.map_or_else(
        || "n/a (labels hold one class)".into(),
        |v| format!("{v:.3}"),
    )
}

impl fmt::Display for EvaluationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scored {} rows in {:.3} s with the {} model: {} flagged ({:.1} %)",
            self.rows,
            self.score_seconds,
            self.recipe,
            self.flagged,
            100.0 * self.flagged as f64 / self.rows as f64
        )?;
        match &self.evaluation {
            Some(e) => {
                let c = e.confusion;
                writeln!(
                    f,
                    "precision {:.3}  recall {:.3}  F1 {:.3}  ROC-AUC {}  average precision {}\nconfusion: TP {}  FP {}  TN {}  FN {}  ({} anomalies)",
                    e.precision,
                    e.recall,
                    e.f1,
                    ranking_metric(e.roc_auc),
                    ranking_metric(e.average_precision),
                    c.true_positives,
                    c.false_positives,
                    c.true_negatives,
                    c.false_negatives,
                    e.anomalies
                )?;
            }
            None => writeln!(f, "(no labels, so no metrics)")?,
        }
        if let Some(sweep) = &self.sweep {
            let mut t = TextTable::new(["flag_top", "flagged", "precision", "recall", "f1"]);
            for (rate, p) in SWEEP_RATES.iter().zip(sweep) {
                t.push([
                    format!("{:.0} %", rate * 100.0),
                    p.flagged.to_string(),
                    format!("{:.3}", p.precision),
                    format!("{:.3}", p.recall),
                    format!("{:.3}", p.f1),
                ]);
            }
            write!(
                f,
                "\nThreshold sweep (flag the top share of rows by score):\n{}",
                t.aligned()
            )?;
        }
        Ok(())
    }
}

/// The data charts of a table: its series with anomalous cells marked (`series.svg`) and the
/// label matrix (`labels.svg`) in `dir`.
pub fn plot_table(
    table: &Table,
    cells: ArrayView2<u8>,
    dir: &Path,
) -> Result<Vec<PathBuf>, TaskError> {
    Ok(experiment::data_charts(
        &table.feature_names,
        table.values.view(),
        cells,
        [dir.join("series.svg"), dir.join("labels.svg")],
        ["Series with anomalies (red)", "Anomalous cells"],
    )?)
}

/// Score distribution, ROC and precision-recall charts of `detector` on a labelled table
/// (`scores.svg`, `roc.svg`, `pr.svg` in `dir`).
pub fn plot_table_scores(
    detector: &Detector,
    table: &Table,
    dir: &Path,
) -> Result<Vec<PathBuf>, TaskError> {
    let truth = table
        .labels
        .as_ref()
        .ok_or(TaskError::NeedsLabels("the score charts"))?;
    let x = table.select(&detector.feature_names)?;
    Ok(experiment::score_charts(
        detector,
        x.view(),
        truth,
        [
            dir.join("scores.svg"),
            dir.join("roc.svg"),
            dir.join("pr.svg"),
        ],
        [
            "Anomaly scores".into(),
            "ROC curve".into(),
            "Precision-recall curve".into(),
        ],
    )?)
}
