//! The standard unsupervised benchmark protocol: fit on all rows, score all rows, use the labels
//! only for the metrics; repeat over seeds and report mean ± sample standard deviation.
//!
//! This is how ADBench and the Isolation Forest papers report results, and how the reference
//! figures in `shared/datasets/adbench/REFERENCE.md` were measured with scikit-learn and isotree,
//! so our numbers can be set beside theirs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::forest::{ForestError, IsolationForest, IsolationForestParams, Layout};
use crate::frame::Table;
use crate::metrics::{self, MetricsError};
use crate::numeric;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    /// The dataset (named) has no label column.
    #[error("{0} has no labels: the benchmark needs a 0/1 label column (or 'y' in an .npz)")]
    NoLabels(String),
    /// Zero seeds were asked for.
    #[error("need at least one seed")]
    NoSeeds,
    /// Fitting or scoring failed.
    #[error(transparent)]
    Forest(#[from] ForestError),
    /// A metric could not be computed (one class only, say).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Datasets the reference table has no figures for.
    #[error("no reference figures for {0}")]
    Unreferenced(String),
    /// Datasets whose mean ROC-AUC is more than [`REFERENCE_MARGIN`] below scikit-learn's.
    #[error("ROC-AUC more than {REFERENCE_MARGIN} below scikit-learn on: {0}")]
    BelowReference(String),
}

/// One dataset's result; the JSON keys are part of the CLI's contract (new keys may be added).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BenchmarkResult {
    /// The dataset's name (its file stem).
    pub dataset: String,
    /// Rows in the dataset.
    pub rows: usize,
    /// Feature columns.
    pub features: usize,
    /// Rows labelled anomalous.
    pub anomalies: usize,
    /// Seeds run (`0..seeds`).
    pub seeds: usize,
    /// Worker threads the forest used.
    pub threads: usize,
    /// ROC-AUC, mean over the seeds.
    pub roc_auc_mean: f64,
    /// ROC-AUC, sample standard deviation over the seeds.
    pub roc_auc_sd: f64,
    /// Average precision, mean over the seeds.
    pub average_precision_mean: f64,
    /// Average precision, sample standard deviation over the seeds.
    pub average_precision_sd: f64,
    /// Median wall time of one fit, over the seeds.
    pub fit_seconds: f64,
    /// Median wall time of scoring all rows once, over the seeds.
    pub score_seconds: f64,
    /// The forest's scoring layout on this CPU ([`IsolationForest::scoring_layout`]).
    pub scoring_layout: Layout,
}

/// Runs the protocol on `table` for seeds `0..seeds` with otherwise fixed `params`.
///
/// Times are the peers' protocol (`bench/speed.sh`): after one untimed fit and scoring, the
/// median over the seeds of one fit, and of scoring every row, on the one loaded array.
pub fn run(
    name: &str,
    table: &Table,
    params: &IsolationForestParams,
    seeds: u64,
) -> Result<BenchmarkResult, BenchmarkError> {
    let truth = table
        .labels
        .as_ref()
        .ok_or_else(|| BenchmarkError::NoLabels(name.into()))?;
    if seeds == 0 {
        return Err(BenchmarkError::NoSeeds);
    }
    let (mut aucs, mut aps, mut fits, mut scores) = (vec![], vec![], vec![], vec![]);
    // one untimed fit and scoring first, as the peers' protocol does: the first run of a
    // process also pays for thread start-up, page faults and cold caches
    let warm_up = IsolationForest::fit_array(
        &linfa::ParamGuard::check(params.clone().seed(0))?,
        table.values.view(),
    )?;
    let mut scoring_layout = warm_up.scoring_layout()?;
    warm_up.score_samples(table.values.view())?;
    for seed in 0..seeds {
        let p = linfa::ParamGuard::check(params.clone().seed(seed))?;
        let t0 = Instant::now();
        let forest = IsolationForest::fit_array(&p, table.values.view())?;
        let t1 = Instant::now();
        let s = forest.score_samples(table.values.view())?;
        let t2 = Instant::now();
        let anomaly: Vec<f64> = s.iter().map(|v| -v).collect();
        aucs.push(metrics::roc_auc(&anomaly, truth)?);
        aps.push(metrics::average_precision(&anomaly, truth)?);
        fits.push((t1 - t0).as_secs_f64());
        scores.push((t2 - t1).as_secs_f64());
        scoring_layout = forest.scoring_layout()?;
    }
    let (roc_auc_mean, roc_auc_sd) = numeric::mean_sd(&aucs);
    let (average_precision_mean, average_precision_sd) = numeric::mean_sd(&aps);
    Ok(BenchmarkResult {
        dataset: name.into(),
        rows: table.n_rows(),
        features: table.values.ncols(),
        anomalies: truth.iter().filter(|&&t| t).count(),
        seeds: seeds as usize,
        threads: rayon::current_num_threads(),
        roc_auc_mean,
        roc_auc_sd,
        average_precision_mean,
        average_precision_sd,
        fit_seconds: numeric::median(&fits).unwrap_or(f64::NAN),
        score_seconds: numeric::median(&scores).unwrap_or(f64::NAN),
        scoring_layout,
    })
}

/// Published figures for one dataset (from `REFERENCE.md`): (mean, sd) pairs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reference {
    /// scikit-learn's ROC-AUC (mean, sd over seeds 0..4).
    pub sklearn_auc: (f64, f64),
    /// isotree's ROC-AUC (mean, sd over seeds 0..4).
    pub isotree_auc: (f64, f64),
    /// scikit-learn's average precision (mean, sd).
    pub sklearn_ap: (f64, f64),
    /// isotree's average precision (mean, sd over seeds 0..4).
    pub isotree_ap: (f64, f64),
}

/// How far below scikit-learn's mean ROC-AUC ours may be and still pass [`check_against`].
pub const REFERENCE_MARGIN: f64 = 0.02;

/// Every result has reference figures, and no mean ROC-AUC is more than [`REFERENCE_MARGIN`]
/// below scikit-learn's.
pub fn check_against(
    results: &[BenchmarkResult],
    reference: &BTreeMap<String, Reference>,
) -> Result<(), BenchmarkError> {
    let unreferenced: Vec<&str> = results
        .iter()
        .filter(|r| !reference.contains_key(&r.dataset))
        .map(|r| r.dataset.as_str())
        .collect();
    if !unreferenced.is_empty() {
        return Err(BenchmarkError::Unreferenced(unreferenced.join(", ")));
    }
    let failing: Vec<String> = results
        .iter()
        .filter_map(|r| {
            reference
                .get(&r.dataset)
                .filter(|f| r.roc_auc_mean < f.sklearn_auc.0 - REFERENCE_MARGIN)
                .map(|f| {
                    format!(
                        "{} ({:.4} vs sklearn {:.4})",
                        r.dataset, r.roc_auc_mean, f.sklearn_auc.0
                    )
                })
        })
        .collect();
    if failing.is_empty() {
        Ok(())
    } else {
        Err(BenchmarkError::BelowReference(failing.join(", ")))
    }
}

/// Our figures beside the reference's, one row per dataset ("—" where the reference has none).
pub fn results_table(
    results: &[BenchmarkResult],
    reference: &BTreeMap<String, Reference>,
) -> crate::display::TextTable {
    let pm = |m: f64, s: f64| format!("{m:.4} ± {s:.4}");
    let mut table = crate::display::TextTable::new([
        "dataset",
        "n",
        "d",
        "ours AUC",
        "sklearn AUC",
        "Δ vs sklearn",
        "isotree AUC",
        "ours AP",
        "sklearn AP",
        "isotree AP",
        "fit s",
        "score s",
    ]);
    for r in results {
        let f = reference.get(&r.dataset);
        let refcell = |get: fn(&Reference) -> (f64, f64)| {
            f.map(|f| pm(get(f).0, get(f).1))
                .unwrap_or_else(|| "—".into())
        };
        table.push([
            r.dataset.clone(),
            r.rows.to_string(),
            r.features.to_string(),
            pm(r.roc_auc_mean, r.roc_auc_sd),
            refcell(|f| f.sklearn_auc),
            f.map(|f| format!("{:+.4}", r.roc_auc_mean - f.sklearn_auc.0))
                .unwrap_or_else(|| "—".into()),
            refcell(|f| f.isotree_auc),
            pm(r.average_precision_mean, r.average_precision_sd),
            refcell(|f| f.sklearn_ap),
            refcell(|f| f.isotree_ap),
            format!("{:.4}", r.fit_seconds),
            format!("{:.4}", r.score_seconds),
        ]);
    }
    table
}

/// Reads the reference table of `REFERENCE.md`: rows `| dataset | n | d | anom % | sklearn AUC |
/// isotree AUC, seeds 0..4 | isotree AUC, seeds 100r | paper AUC | sklearn AP | isotree AP, seeds 0..4 | …`.
pub fn read_reference(path: &Path) -> std::io::Result<BTreeMap<String, Reference>> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse_reference(&text))
}

fn parse_pm(cell: &str) -> Option<(f64, f64)> {
    let (m, s) = cell.split_once('±')?;
    Some((m.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// Parses the markdown table; rows that do not fit the layout are skipped.
pub fn parse_reference(text: &str) -> BTreeMap<String, Reference> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() < 10 {
            continue;
        }
        let (Some(sklearn_auc), Some(isotree_auc), Some(sklearn_ap), Some(isotree_ap)) = (
            parse_pm(cells[4]),
            parse_pm(cells[5]),
            parse_pm(cells[8]),
            parse_pm(cells[9]),
        ) else {
            continue;
        };
        out.insert(
            cells[0].to_string(),
            Reference {
                sklearn_auc,
                isotree_auc,
                sklearn_ap,
                isotree_ap,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_rows_are_parsed() {
        let md = "| dataset | n | d | anom % | sklearn AUC | isotree AUC, seeds 0..4 | isotree AUC, seeds 100r | paper AUC | sklearn AP | isotree AP, seeds 0..4 | isotree AP, seeds 100r |\n|---|\n| 14_glass | 214 | 7 | 4.21 | 0.7828 ± 0.0121 | 0.8046 ± 0.0014 | 0.7997 ± 0.0207 |  | 0.1527 ± 0.0506 | 0.1301 ± 0.0073 | 0.1777 ± 0.0506 |\n";
        let r = parse_reference(md);
        assert_eq!(r.len(), 1);
        assert_eq!(r["14_glass"].sklearn_auc, (0.7828, 0.0121));
        assert_eq!(r["14_glass"].isotree_ap, (0.1301, 0.0073));
    }
}
