//! The tutorial's offline experiment, end to end: data, plots, recipes, evaluation, artefact.
//!
//! Three recipes are compared so each fix can be seen on its own:
//!
//! | recipe | features | forest | threshold |
//! |---|---|---|---|
//! | [`Recipe::Tutorial`] | raw values | 100 trees, bootstrap, seed 42 | `contamination = auto` (score > 0.5) |
//! | [`Recipe::ThresholdOnly`] | raw values | the same forest | flag the training labels' anomaly rate |
//! | [`Recipe::Improved`] | trailing-median residuals | 100 trees, seed 42 | flag the training labels' anomaly rate |
//!
//! Train and test use **different seeds** (100 and 101). The tutorial generated both with the same
//! default seed, so its "test set" was its training set; [`run_walkthrough`] measures that too.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detector::{Detector, DetectorError, DetectorSpec, ThresholdRule};
use crate::features::DEFAULT_WINDOW;
use crate::frame;
use crate::metrics::{self, Evaluation};
use crate::model::{ModelArtefact, TrainingInfo};
use crate::plot;
use crate::synth::{self, SynthParams, Synthetic, Trend};

/// The tutorial's seeds: training data, test data (the tutorial reused 100), forest.
pub const TRAIN_SEED: u64 = 100;
/// Seed of the test data.
pub const TEST_SEED: u64 = 101;
/// Seed of the forests.
pub const FOREST_SEED: u64 = 42;

/// A way to train a detector, named as in the reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipe {
    /// Raw values and `contamination = auto`, as the tutorial did.
    Tutorial,
    /// The tutorial's forest, flagging the training labels' anomaly rate.
    ThresholdOnly,
    /// Trailing-median residuals, flagging the training labels' anomaly rate.
    Improved,
}

impl Recipe {
    /// Every recipe, in report order.
    pub const ALL: [Recipe; 3] = [Recipe::Tutorial, Recipe::ThresholdOnly, Recipe::Improved];

    /// The recipe's name in reports and file names (`snake_case`).
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Tutorial => "tutorial",
            Recipe::ThresholdOnly => "threshold_only",
            Recipe::Improved => "improved",
        }
    }

    /// One line on its features, forest and threshold.
    pub fn describe(self) -> &'static str {
        match self {
            Recipe::Tutorial => {
                "raw values, IsolationForest(contamination=auto, bootstrap=True, seed 42)"
            }
            Recipe::ThresholdOnly => {
                "raw values, the same forest, threshold at the training anomaly rate"
            }
            Recipe::Improved => {
                "trailing-median residuals, IsolationForest(seed 42), threshold at the training anomaly rate"
            }
        }
    }

    /// The detector recipe, with the trailing window used by [`Recipe::Improved`].
    pub fn spec(self, window: usize, seed: u64) -> DetectorSpec {
        match self {
            Recipe::Tutorial => DetectorSpec::tutorial(seed),
            Recipe::ThresholdOnly => DetectorSpec {
                threshold: ThresholdRule::LabelRate,
                ..DetectorSpec::tutorial(seed)
            },
            Recipe::Improved => DetectorSpec::improved(window, seed),
        }
    }
}

/// Errors of an experiment run: whatever step failed, with its cause.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The data could not be generated.
    #[error(transparent)]
    Synth(#[from] synth::SynthError),
    /// A detector could not be trained or could not score.
    #[error(transparent)]
    Detector(#[from] DetectorError),
    /// A metric could not be computed (a test set with one class only, say).
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    /// A table could not be read or written.
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    /// A chart could not be drawn or saved.
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    /// A model artefact could not be saved or loaded.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// How one recipe did on one test set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecipeResult {
    /// The recipe evaluated.
    pub recipe: Recipe,
    /// Its one-line description ([`Recipe::describe`]).
    pub description: &'static str,
    /// Precision of the flagged rows, at the detector's threshold.
    pub precision: f64,
    /// Recall of the anomalous rows, at the detector's threshold.
    pub recall: f64,
    /// F1 at the detector's threshold.
    pub f1: f64,
    /// ROC-AUC of the anomaly scores (no threshold involved).
    pub roc_auc: f64,
    /// Average precision of the anomaly scores (no threshold involved).
    pub average_precision: f64,
    /// Rows the detector flagged.
    pub flagged: usize,
    /// Rows labelled anomalous.
    pub anomalies: usize,
    /// Rows in the test set.
    pub rows: usize,
    /// The `score_samples` threshold the detector flags below.
    pub threshold: f64,
}

impl RecipeResult {
    fn new(recipe: Recipe, e: &Evaluation, threshold: f64) -> Self {
        Self {
            recipe,
            description: recipe.describe(),
            precision: e.precision,
            recall: e.recall,
            f1: e.f1,
            // `evaluate` refuses one-class test sets, so both are present here
            roc_auc: e.roc_auc.unwrap_or(f64::NAN),
            average_precision: e.average_precision.unwrap_or(f64::NAN),
            flagged: e.flagged,
            anomalies: e.anomalies,
            rows: e.rows,
            threshold,
        }
    }
}

/// Trains `recipe` on `train` and evaluates it on `test` (row labels as the truth).
pub fn train_and_evaluate(
    recipe: Recipe,
    window: usize,
    seed: u64,
    train: &Synthetic,
    test: &Synthetic,
) -> Result<(Detector, Evaluation), ExperimentError> {
    let detector = recipe.spec(window, seed).fit(
        &train.feature_names,
        train.values.view(),
        Some(&train.row_truth()),
    )?;
    let evaluation = evaluate(&detector, test)?;
    Ok((detector, evaluation))
}

/// Scores `data` with `detector` and compares with its row labels, which must hold both
/// classes (a recipe comparison without anomalies to find measures nothing).
pub fn evaluate(detector: &Detector, data: &Synthetic) -> Result<Evaluation, ExperimentError> {
    let scores = detector.anomaly_scores(data.values.view())?;
    let flagged = detector.is_anomaly(data.values.view())?;
    let evaluation = Evaluation::new(&scores, &flagged, &data.row_truth())?;
    if evaluation.roc_auc.is_none() {
        return Err(metrics::MetricsError::OneClass("a recipe comparison").into());
    }
    Ok(evaluation)
}

/// What the walkthrough does; [`WalkthroughConfig::default`] is the tutorial's setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalkthroughConfig {
    /// Folder the data, charts and models are written under.
    pub out_dir: PathBuf,
    /// Rows per generated set.
    pub rows: usize,
    /// Features per generated set.
    pub features: usize,
    /// Anomalous rows per feature (trending kinds only).
    pub anomalies: usize,
    /// Kind of data for the main comparison.
    pub trend: Trend,
    /// Seed of the training data.
    pub train_seed: u64,
    /// Seed of the test data.
    pub test_seed: u64,
    /// Seed of the forests.
    pub forest_seed: u64,
    /// Trailing-median window of the improved recipe, in rows.
    pub window: usize,
    /// Also run every trend kind (a table of all recipes on all data kinds).
    pub compare_trends: bool,
    /// Draw the SVG charts.
    pub plots: bool,
}

impl Default for WalkthroughConfig {
    fn default() -> Self {
        Self {
            out_dir: PathBuf::from("data"),
            rows: 10_000,
            features: 5,
            anomalies: 500,
            trend: Trend::Linear,
            train_seed: TRAIN_SEED,
            test_seed: TEST_SEED,
            forest_seed: FOREST_SEED,
            window: DEFAULT_WINDOW,
            compare_trends: true,
            plots: true,
        }
    }
}

impl WalkthroughConfig {
    fn data(&self, trend: Trend, seed: u64) -> SynthParams {
        SynthParams::tutorial()
            .rows(self.rows)
            .features(self.features)
            .anomalies(self.anomalies)
            .trend(trend)
            .seed(seed)
    }
}

/// Shape and label counts of a generated set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSummary {
    /// Generator seed.
    pub seed: u64,
    /// Kind of data.
    pub trend: Trend,
    /// Rows.
    pub rows: usize,
    /// Feature columns.
    pub features: usize,
    /// Values made anomalous.
    pub anomalous_cells: usize,
    /// Rows with at least one anomalous value.
    pub anomalous_rows: usize,
    /// `anomalous_rows / rows`, a fraction in [0, 1].
    pub anomaly_rate: f64,
}

impl DataSummary {
    /// One line: kind, seed, shape and anomaly counts.
    pub fn describe(&self) -> String {
        format!(
            "{} data, seed {}: {} rows x {} features, {} anomalous cells, {} anomalous rows ({:.1} %)",
            self.trend,
            self.seed,
            self.rows,
            self.features,
            self.anomalous_cells,
            self.anomalous_rows,
            100.0 * self.anomaly_rate
        )
    }
}

impl From<&Synthetic> for DataSummary {
    fn from(s: &Synthetic) -> Self {
        Self {
            seed: s.params.seed,
            trend: s.params.trend,
            rows: s.n_rows(),
            features: s.n_features(),
            anomalous_cells: s.anomalous_cells(),
            anomalous_rows: s.anomalous_rows(),
            anomaly_rate: s.anomalous_rows() as f64 / s.n_rows() as f64,
        }
    }
}

/// Every recipe on one kind of data, plus the best any detector could do knowing the true trend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrendComparison {
    /// Kind of data.
    pub trend: Trend,
    /// Share of test rows that are anomalous, a fraction in [0, 1].
    pub anomaly_rate: f64,
    /// [`Recipe::Tutorial`] on the test set.
    pub tutorial: RecipeResult,
    /// [`Recipe::ThresholdOnly`] on the test set.
    pub threshold_only: RecipeResult,
    /// [`Recipe::Improved`] on the test set.
    pub improved: RecipeResult,
    /// ROC-AUC of `max_j |x_ij - true trend_j(i)|`: a ceiling no detector without the true trend
    /// can expect to beat (only where the trend is deterministic).
    pub oracle_roc_auc: Option<f64>,
}

/// What the tutorial's own evaluation measured: the test set generated with the training seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SameSeedCheck {
    /// `true` when the set generated with the training seed equals the training set.
    pub test_equals_train: bool,
    /// The tutorial recipe scored on that same-seed set.
    pub tutorial_on_own_training_set: RecipeResult,
}

/// The files a run wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Artefacts {
    /// The training data (`train.csv`).
    pub train_csv: PathBuf,
    /// The training labels (`train_labels.csv`).
    pub train_labels_csv: PathBuf,
    /// The test data (`test.csv`).
    pub test_csv: PathBuf,
    /// The test labels (`test_labels.csv`).
    pub test_labels_csv: PathBuf,
    /// The improved recipe's detector: the model to serve.
    pub model: PathBuf,
    /// The tutorial recipe's detector, for comparison.
    pub tutorial_model: PathBuf,
    /// The SVG charts, when charts were drawn.
    pub plots: Vec<PathBuf>,
}

impl Artefacts {
    /// Every file, in the order they were written.
    pub fn all(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = vec![
            &self.train_csv,
            &self.train_labels_csv,
            &self.test_csv,
            &self.test_labels_csv,
        ];
        v.extend(self.plots.iter().map(PathBuf::as_path));
        v.push(&self.model);
        v.push(&self.tutorial_model);
        v
    }
}

/// Recipe results keyed by name, as the JSON report shows them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecipeResults {
    /// [`Recipe::Tutorial`]'s result.
    pub tutorial: RecipeResult,
    /// [`Recipe::ThresholdOnly`]'s result.
    pub threshold_only: RecipeResult,
    /// [`Recipe::Improved`]'s result.
    pub improved: RecipeResult,
}

impl RecipeResults {
    /// The three results, in [`Recipe::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = &RecipeResult> {
        [&self.tutorial, &self.threshold_only, &self.improved].into_iter()
    }
}

/// Everything the walkthrough found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalkthroughReport {
    /// The settings of the run.
    pub config: WalkthroughConfig,
    /// The training data.
    pub train: DataSummary,
    /// The test data.
    pub test: DataSummary,
    /// Every recipe on the test set.
    pub recipes: RecipeResults,
    /// The tutorial's same-seed evaluation, re-run.
    pub same_seed: SameSeedCheck,
    /// Every recipe on every kind of data; empty unless `compare_trends` is set.
    pub trends: Vec<TrendComparison>,
    /// Plain-language findings, computed from the numbers above.
    pub notes: Vec<String>,
    /// The files written.
    pub artefacts: Artefacts,
}

/// The steps, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Generate and write the train and test data.
    Generate,
    /// Draw the data charts (when charts are on).
    Plot,
    /// Train and evaluate one recipe.
    Train(Recipe),
    /// Re-run the tutorial's same-seed evaluation.
    SameSeed,
    /// Save the model artefacts.
    Save,
    /// Compare the recipes on one kind of data.
    CompareTrends(Trend),
}

impl Step {
    /// What the step does, in words, for a progress display.
    pub fn label(&self) -> String {
        match self {
            Step::Generate => "generate the train and test data".into(),
            Step::Plot => "draw the charts".into(),
            Step::Train(r) => format!("train and evaluate the {} recipe", r.name()),
            Step::SameSeed => "re-run the tutorial's same-seed evaluation".into(),
            Step::Save => "save the model artefacts".into(),
            Step::CompareTrends(t) => format!("compare recipes on {t} data"),
        }
    }
}

/// Number of steps [`run_walkthrough`] reports for `config` (for a progress bar's length).
pub fn step_count(config: &WalkthroughConfig) -> usize {
    2 + Recipe::ALL.len()
        + 2
        + if config.compare_trends {
            Trend::ALL.len()
        } else {
            0
        }
}

/// Runs the offline walkthrough; `progress` is called as each step starts.
pub fn run_walkthrough(
    config: &WalkthroughConfig,
    mut progress: impl FnMut(Step),
) -> Result<WalkthroughReport, ExperimentError> {
    let out = &config.out_dir;
    progress(Step::Generate);
    let train = config.data(config.trend, config.train_seed).generate()?;
    let test = config.data(config.trend, config.test_seed).generate()?;
    let mut artefacts = Artefacts::default();
    (artefacts.train_csv, artefacts.train_labels_csv) =
        frame::write_synthetic(&train, out, "train")?;
    (artefacts.test_csv, artefacts.test_labels_csv) = frame::write_synthetic(&test, out, "test")?;

    progress(Step::Plot);
    if config.plots {
        artefacts
            .plots
            .extend(plot_data(&train, &out.join("plots"))?);
    }

    // each recipe by name, in `Recipe::ALL`'s order: trained, charted, measured on the test set
    let mut run = |recipe: Recipe| -> Result<(Detector, RecipeResult), ExperimentError> {
        progress(Step::Train(recipe));
        let (detector, eval) =
            train_and_evaluate(recipe, config.window, config.forest_seed, &train, &test)?;
        if config.plots && recipe != Recipe::ThresholdOnly {
            artefacts.plots.extend(plot_scores(
                &detector,
                &test,
                recipe.name(),
                &out.join("plots"),
            )?);
        }
        let result = RecipeResult::new(recipe, &eval, detector.threshold());
        Ok((detector, result))
    };
    let (tutorial_detector, tutorial) = run(Recipe::Tutorial)?;
    let (_, threshold_only) = run(Recipe::ThresholdOnly)?;
    let (improved_detector, improved) = run(Recipe::Improved)?;
    let recipes = RecipeResults {
        tutorial,
        threshold_only,
        improved,
    };

    progress(Step::SameSeed);
    let same_seed_test = config.data(config.trend, config.train_seed).generate()?;
    let own = evaluate(&tutorial_detector, &same_seed_test)?;
    let same_seed = SameSeedCheck {
        test_equals_train: same_seed_test.values == train.values,
        tutorial_on_own_training_set: RecipeResult::new(
            Recipe::Tutorial,
            &own,
            tutorial_detector.threshold(),
        ),
    };

    progress(Step::Save);
    let training = TrainingInfo::of(train.values.view(), Some(config.train_seed));
    let with_metrics = |a: ModelArtefact, r: &RecipeResult| {
        a.with_metric("test_precision", r.precision)
            .with_metric("test_recall", r.recall)
            .with_metric("test_f1", r.f1)
            .with_metric("test_roc_auc", r.roc_auc)
            .measured_on(&format!(
                "{} data, {} rows, seed {}",
                config.trend, config.rows, config.test_seed
            ))
    };
    let improved = with_metrics(
        ModelArtefact::new("improved", improved_detector, training.clone()),
        &recipes.improved,
    );
    artefacts.model = improved.save(&out.join("model").join(crate::model::MODEL_FILE))?;
    let tutorial = with_metrics(
        ModelArtefact::new("tutorial", tutorial_detector, training),
        &recipes.tutorial,
    );
    artefacts.tutorial_model =
        tutorial.save(&out.join("model-tutorial").join(crate::model::MODEL_FILE))?;

    let mut trends = Vec::new();
    if config.compare_trends {
        for trend in Trend::ALL {
            progress(Step::CompareTrends(trend));
            trends.push(compare_on(config, trend)?);
        }
    }
    let notes = findings(&recipes, &same_seed, &trends, &test, config.window);
    Ok(WalkthroughReport {
        config: config.clone(),
        train: (&train).into(),
        test: (&test).into(),
        recipes,
        same_seed,
        trends,
        notes,
        artefacts,
    })
}

/// All recipes on one trend kind, with the oracle ceiling.
pub fn compare_on(
    config: &WalkthroughConfig,
    trend: Trend,
) -> Result<TrendComparison, ExperimentError> {
    let train = config.data(trend, config.train_seed).generate()?;
    let test = config.data(trend, config.test_seed).generate()?;
    let run = |recipe| -> Result<RecipeResult, ExperimentError> {
        let (d, e) = train_and_evaluate(recipe, config.window, config.forest_seed, &train, &test)?;
        Ok(RecipeResult::new(recipe, &e, d.threshold()))
    };
    let (tutorial, threshold_only, improved) = (
        run(Recipe::Tutorial)?,
        run(Recipe::ThresholdOnly)?,
        run(Recipe::Improved)?,
    );
    let oracle_roc_auc = oracle_scores(&test)
        .map(|s| metrics::roc_auc(&s, &test.row_truth()))
        .transpose()?;
    Ok(TrendComparison {
        trend,
        anomaly_rate: test.anomalous_rows() as f64 / test.n_rows() as f64,
        tutorial,
        threshold_only,
        improved,
        oracle_roc_auc,
    })
}

/// `max_j |x_ij - trend_j(i)|` when every feature's true trend is known.
fn oracle_scores(data: &Synthetic) -> Option<Vec<f64>> {
    let trends: Option<Vec<Vec<f64>>> = (0..data.n_features())
        .map(|j| synth::clean_trend(data.params.trend, j, data.n_rows()))
        .collect();
    let trends = trends?;
    Some(
        data.values
            .rows()
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .zip(&trends)
                    .map(|(x, t)| (x - t[i]).abs())
                    .fold(0.0, f64::max)
            })
            .collect(),
    )
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// Plain-language findings drawn from the numbers (so the prose can never drift from them).
pub fn findings(
    recipes: &RecipeResults,
    same_seed: &SameSeedCheck,
    trends: &[TrendComparison],
    test: &Synthetic,
    window: usize,
) -> Vec<String> {
    let t = &recipes.tutorial;
    let rows = t.rows as f64;
    let mut notes = vec![
        format!(
            "contamination=auto flags a row only when its score exceeds 0.5: it flagged {} rows ({}) while {} ({}) are anomalous, so recall cannot exceed {:.3}; it got precision {:.3}, recall {:.3}.",
            t.flagged,
            pct(t.flagged as f64 / rows),
            t.anomalies,
            pct(t.anomalies as f64 / rows),
            (t.flagged as f64 / t.anomalies.max(1) as f64).min(1.0),
            t.precision,
            t.recall
        ),
        format!(
            "Its ranking is better than its threshold: ROC-AUC {:.3}. Flagging the training anomaly rate instead gives precision {:.3}, recall {:.3}, F1 {:.3}.",
            t.roc_auc,
            recipes.threshold_only.precision,
            recipes.threshold_only.recall,
            recipes.threshold_only.f1
        ),
        format!(
            "Taking out the local level first (trailing median of {} rows) lets the forest see jumps instead of positions on the trend: precision {:.3}, recall {:.3}, F1 {:.3}, ROC-AUC {:.3}.",
            window,
            recipes.improved.precision,
            recipes.improved.recall,
            recipes.improved.f1,
            recipes.improved.roc_auc
        ),
        format!(
            "The tutorial generated train and test with the same seed, so its test set {} its training set; scored on it, the tutorial's recipe gets precision {:.3}, recall {:.3}. This walkthrough tests on seed {} instead.",
            if same_seed.test_equals_train {
                "was"
            } else {
                "was not"
            },
            same_seed.tutorial_on_own_training_set.precision,
            same_seed.tutorial_on_own_training_set.recall,
            test.params.seed
        ),
    ];
    for c in trends {
        match c.trend {
            Trend::Exponential => notes.push(format!(
                "Exponential data is noise-limited: noise of sd 100 swamps shifts of 50..200. The improved recipe reaches ROC-AUC {:.3}; even knowing the true trend, the best possible score reaches only {:.3}.",
                c.improved.roc_auc,
                c.oracle_roc_auc.unwrap_or(f64::NAN)
            )),
            Trend::Uniform => notes.push(format!(
                "On the data the tutorial's prose describes (uniform values, {} of rows anomalous), its recipe gets precision {:.3} and recall {:.3}: that is where its claimed 0.99 / 1.00 comes from, not from the trending data its code generates.",
                pct(c.anomaly_rate),
                c.tutorial.precision,
                c.tutorial.recall
            )),
            _ => {}
        }
    }
    notes
}

/// The data charts: series with anomalies marked, and the label matrix.
pub fn plot_data(data: &Synthetic, dir: &Path) -> Result<Vec<PathBuf>, ExperimentError> {
    data_charts(
        &data.feature_names,
        data.values.view(),
        data.cell_labels.view(),
        [dir.join("train_series.svg"), dir.join("train_labels.svg")],
        [
            "Training data: trends with anomalies (red)",
            "Training labels: anomalous cells",
        ],
    )
}

/// The series with anomalous `cells` marked, and the label matrix, at `paths` with `titles`.
pub fn data_charts(
    names: &[String],
    values: ndarray::ArrayView2<f64>,
    cells: ndarray::ArrayView2<u8>,
    paths: [PathBuf; 2],
    titles: [&str; 2],
) -> Result<Vec<PathBuf>, ExperimentError> {
    plot::save_svg(&paths[0], (1200, 900), |area| {
        plot::series_with_anomalies(area, names, values, cells, titles[0])
    })?;
    plot::save_svg(&paths[1], (1200, 400), |area| {
        plot::label_matrix(area, names, cells, titles[1])
    })?;
    Ok(paths.to_vec())
}

/// Score distribution, ROC and PR charts of one detector on labelled data.
pub fn plot_scores(
    detector: &Detector,
    data: &Synthetic,
    name: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, ExperimentError> {
    score_charts(
        detector,
        data.values.view(),
        &data.row_truth(),
        [
            dir.join(format!("scores_{name}.svg")),
            dir.join(format!("roc_{name}.svg")),
            dir.join(format!("pr_{name}.svg")),
        ],
        [
            format!("Anomaly scores on the test set ({name} recipe)"),
            format!("ROC curve ({name} recipe)"),
            format!("Precision-recall curve ({name} recipe)"),
        ],
    )
}

/// The score distribution (with the detector's threshold), ROC and PR charts of `detector` on
/// `values` against `truth`, at `paths` with `titles`.
pub fn score_charts(
    detector: &Detector,
    values: ndarray::ArrayView2<f64>,
    truth: &[bool],
    paths: [PathBuf; 3],
    titles: [String; 3],
) -> Result<Vec<PathBuf>, ExperimentError> {
    let scores = detector.anomaly_scores(values)?;
    let threshold = detector.anomaly_threshold();
    let roc = metrics::roc_curve(&scores, truth)?;
    let pr = metrics::pr_curve(&scores, truth)?;
    let auc = metrics::roc_auc(&scores, truth)?;
    let ap = metrics::average_precision(&scores, truth)?;
    let base_rate = crate::numeric::share(truth);
    plot::save_svg(&paths[0], (900, 500), |a| {
        plot::score_distribution(a, &scores, Some(truth), threshold, &titles[0])
    })?;
    plot::save_svg(&paths[1], (600, 600), |a| {
        plot::roc_curve(a, &roc, auc, &titles[1])
    })?;
    plot::save_svg(&paths[2], (600, 600), |a| {
        plot::pr_curve(a, &pr, ap, base_rate, &titles[2])
    })?;
    Ok(paths.to_vec())
}

/// One row per (data, recipe) as text, the columns of the polars frames.
fn results_text<'a>(labels: Vec<String>, rows: impl Iterator<Item = &'a RecipeResult>) -> String {
    use crate::display::{TextTable, format_float};
    let mut t = TextTable::new([
        "data",
        "recipe",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "avg_precision",
        "flagged",
        "anomalies",
    ]);
    for (label, r) in labels.into_iter().zip(rows) {
        let metric = |x: f64| format_float(round3(x));
        t.push([
            label,
            r.recipe.name().to_string(),
            metric(r.precision),
            metric(r.recall),
            metric(r.f1),
            metric(r.roc_auc),
            metric(r.average_precision),
            r.flagged.to_string(),
            r.anomalies.to_string(),
        ]);
    }
    t.aligned()
}

impl std::fmt::Display for WalkthroughReport {
    /// The walkthrough as the CLI prints it: the data, each recipe's metrics, the notes and the
    /// files written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "anomaly-kit walkthrough: the tutorial's offline steps, with its defects fixed\n"
        )?;
        for (what, d) in [("train", &self.train), ("test", &self.test)] {
            writeln!(
                f,
                "{what:>5}: {} data, seed {}, {} rows x {} features, {} anomalous cells, {} anomalous rows ({:.1} %)",
                d.trend,
                d.seed,
                d.rows,
                d.features,
                d.anomalous_cells,
                d.anomalous_rows,
                100.0 * d.anomaly_rate
            )?;
        }
        let trend = self.config.trend.name().to_string();
        writeln!(
            f,
            "\nRecipes on the test set (seed {}):\n{}",
            self.test.seed,
            results_text(vec![trend; 3], self.recipes.iter())
        )?;
        for rec in self.recipes.iter() {
            writeln!(f, "  {:<15} {}", rec.recipe.name(), rec.description)?;
        }
        if !self.trends.is_empty() {
            let labels = self
                .trends
                .iter()
                .flat_map(|t| std::iter::repeat_n(t.trend.name().to_string(), 3))
                .collect();
            let rows = self
                .trends
                .iter()
                .flat_map(|t| [&t.tutorial, &t.threshold_only, &t.improved]);
            writeln!(
                f,
                "\nEvery recipe on every kind of data (train seed 100, test seed 101):\n{}",
                results_text(labels, rows)
            )?;
            for t in &self.trends {
                if let Some(oracle) = t.oracle_roc_auc {
                    writeln!(
                        f,
                        "  {}: best possible ROC-AUC knowing the true trend = {oracle:.3}",
                        t.trend
                    )?;
                }
            }
        }
        writeln!(f, "\nWhat the numbers say:")?;
        for n in &self.notes {
            writeln!(f, "  - {n}")?;
        }
        writeln!(f, "\nFiles written:")?;
        for p in self.artefacts.all() {
            writeln!(f, "  {}", p.display())?;
        }
        Ok(())
    }
}

/// Rounds to 3 decimals for tables; full precision stays in the JSON reports.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(feature = "polars")]
fn results_frame<'a>(
    label: &str,
    labels: Vec<String>,
    rows: impl Iterator<Item = &'a RecipeResult>,
) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let rows: Vec<&RecipeResult> = rows.collect();
    let col = |name: &str, f: fn(&RecipeResult) -> f64| {
        Column::new(
            name.into(),
            rows.iter().map(|r| round3(f(r))).collect::<Vec<f64>>(),
        )
    };
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(label.into(), labels),
            Column::new(
                "recipe".into(),
                rows.iter().map(|r| r.recipe.name()).collect::<Vec<_>>(),
            ),
            col("precision", |r| r.precision),
            col("recall", |r| r.recall),
            col("f1", |r| r.f1),
            col("roc_auc", |r| r.roc_auc),
            col("avg_precision", |r| r.average_precision),
            Column::new(
                "flagged".into(),
                rows.iter().map(|r| r.flagged as u64).collect::<Vec<u64>>(),
            ),
            Column::new(
                "anomalies".into(),
                rows.iter()
                    .map(|r| r.anomalies as u64)
                    .collect::<Vec<u64>>(),
            ),
        ],
    )
}

#[cfg(feature = "polars")]
/// One row per (trend, recipe), metrics rounded to 3 decimals.
pub fn trends_frame(
    trends: &[TrendComparison],
) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    let labels = trends
        .iter()
        .flat_map(|t| std::iter::repeat_n(t.trend.name().to_string(), 3))
        .collect();
    results_frame(
        "data",
        labels,
        trends
            .iter()
            .flat_map(|t| [&t.tutorial, &t.threshold_only, &t.improved]),
    )
}

#[cfg(feature = "polars")]
/// Confusion matrices as 2 × 2 tables, stacked one recipe under the other: for each recipe a row
/// of anomalous rows and a row of normal rows, split into flagged and not flagged. A matrix read
/// as a table shows what one F1 figure hides: which of the two mistakes a recipe makes.
///
/// ```
/// use anomaly_kit::experiment::confusion_frame;
/// use anomaly_kit::metrics::ConfusionMatrix;
/// let cm = ConfusionMatrix::new(&[true, true, false, false], &[true, false, true, false])?;
/// let frame = confusion_frame(&[("demo", &cm)])?;
/// assert_eq!(frame.shape(), (2, 4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn confusion_frame(
    matrices: &[(&str, &metrics::ConfusionMatrix)],
) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let mut recipe = Vec::new();
    let mut actual = Vec::new();
    let mut flagged = Vec::new();
    let mut not_flagged = Vec::new();
    for (name, cm) in matrices {
        recipe.extend([name.to_string(), name.to_string()]);
        actual.extend(["anomalous", "normal"]);
        flagged.extend([
            format!("{} true positives", cm.true_positives),
            format!("{} false positives", cm.false_positives),
        ]);
        not_flagged.extend([
            format!("{} missed (false negatives)", cm.false_negatives),
            format!("{} true negatives", cm.true_negatives),
        ]);
    }
    df!(
        "recipe" => recipe,
        "actual" => actual,
        "flagged" => flagged,
        "not_flagged" => not_flagged
    )
}
