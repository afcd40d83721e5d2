//! The Numenta Anomaly Benchmark (NAB v1.1): its corpus, its scoring rules, its scoreboard.
//!
//! NAB scores a *streaming* detector on 58 real and artificial series. Each series has labelled
//! anomaly windows; a detector emits one anomaly score in `[0, 1]` per row and the benchmark
//! chooses one threshold per detector and profile over the whole corpus. The score rewards
//! detecting a window early, charges every false alarm and every missed window:
//!
//! * the first 15 % of each file (at most 750 rows) is **probationary**: not scored;
//! * a detection inside a window earns `tp × σ(position) / σ(-1)`, where `σ(p) = 2/(1+e^{5p}) − 1`
//!   and `position` runs from −1 at the window's start to ~0 at its end; **only the earliest
//!   detection of a window counts**; a window with no detection costs `fn`;
//! * a detection outside every window costs `fp × σ(distance past the previous window in window
//!   widths)`: a late detection just after a window costs almost nothing, one far from any
//!   window (or before the first) the full `fp`;
//! * the raw total is normalised so that the null detector (no detections) scores 0 and the
//!   perfect one (every window at its first row) 100.
//!
//! [`score_corpus`] follows NAB's reference code rule for rule (the sweep over every distinct
//! score as a candidate threshold included) and reproduces the published figures of the two
//! detectors whose per-row scores ship with the corpus (tested to 0.01).
//!
//! Cite: S. Ahmad, A. Lavin, S. Purdy, Z. Agha, "Unsupervised real-time anomaly detection for
//! streaming data", Neurocomputing 262 (2017) 134–147; and the NAB repository (MIT).
//!
//! ```
//! use anomaly_kit::nab::{probationary_rows, scaled_sigmoid};
//! assert_eq!(probationary_rows(4032), 604); // floor(0.15 × 4032)
//! assert_eq!(probationary_rows(22695), 750); // capped at 0.15 × 5000
//! assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 1e-5); // a window's first row
//! assert_eq!(scaled_sigmoid(3.0), -1.0); // far past a window: a full false positive
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use ndarray::{Array2, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detector::{DetectorSpec, ThresholdRule};
use crate::features::DEFAULT_WINDOW;
use crate::online::{OnlineDetector, OnlineParams, WindowedGaussian};

/// Share of each file that is probationary (not scored).
pub const PROBATIONARY_SHARE: f64 = 0.15;
/// Probation never exceeds `0.15 × 5000` rows.
pub const MAX_PROBATIONARY_ROWS: usize = 750;

/// Rows at the start of a file of `n` rows that NAB does not score: `min(⌊0.15 n⌋, 750)`.
pub fn probationary_rows(n: usize) -> usize {
    ((PROBATIONARY_SHARE * n as f64).floor() as usize).min(MAX_PROBATIONARY_ROWS)
}

/// NAB's scaled sigmoid: `2 / (1 + e^{5p}) − 1`, and exactly −1 from `p ≥ 3` on.
pub fn scaled_sigmoid(position: f64) -> f64 {
    if position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// Errors reading the corpus or scoring a detector's output.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file's content is not what NAB ships.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, with the offending value.
        problem: String,
    },
    /// Scores do not line up with the corpus.
    #[error("scores for {file}: {problem}")]
    Scores {
        /// The data file (`category/name.csv`).
        file: String,
        /// What is wrong.
        problem: String,
    },
}

/// One of NAB's scoring profiles: the weights of a true positive, a false positive and a false
/// negative (missed window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `standard`, `reward_low_FP_rate` or `reward_low_FN_rate`.
    pub name: String,
    /// Weight of the earliest detection of a window (scaled by how early it is).
    pub tp_weight: f64,
    /// Cost of a detection outside every window.
    pub fp_weight: f64,
    /// Cost of a window without detection.
    pub fn_weight: f64,
}

impl Profile {
    /// NAB's three profiles as `config/profiles.json` defines them, in NAB's order.
    pub fn nab() -> Vec<Profile> {
        let p = |name: &str, fp_weight: f64, fn_weight: f64| Profile {
            name: name.into(),
            tp_weight: 1.0,
            fp_weight,
            fn_weight,
        };
        vec![
            p("standard", 0.11, 1.0),
            p("reward_low_FP_rate", 0.22, 1.0),
            p("reward_low_FN_rate", 0.11, 2.0),
        ]
    }
}

/// One data file of the corpus.
#[derive(Clone, Debug)]
pub struct DataFile {
    /// Path below `data/`, e.g. `realKnownCause/nyc_taxi.csv` (NAB's key for the file).
    pub name: String,
    /// Row timestamps, as written in the file.
    pub timestamps: Vec<String>,
    /// The series.
    pub values: Vec<f64>,
    /// Labelled anomaly windows as inclusive row ranges, in time order.
    pub windows: Vec<(usize, usize)>,
}

impl DataFile {
    /// The file's category (`realKnownCause`, …): the folder its results go to.
    pub fn category(&self) -> &str {
        self.name.split_once('/').map_or("", |(c, _)| c)
    }

    /// The file name without its folder.
    pub fn file_name(&self) -> &str {
        self.name.rsplit_once('/').map_or(&self.name, |(_, f)| f)
    }

    /// `true` for each row inside a labelled window (NAB's `label` column).
    pub fn labels(&self) -> Vec<bool> {
        let mut labels = vec![false; self.values.len()];
        for &(start, end) in &self.windows {
            labels[start..=end].iter_mut().for_each(|l| *l = true);
        }
        labels
    }

    /// Rows NAB does not score at the start of this file.
    pub fn probationary_rows(&self) -> usize {
        probationary_rows(self.values.len())
    }
}

/// The NAB corpus: every data file with its windows, and the scoring profiles.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// Data files sorted by name.
    pub files: Vec<DataFile>,
    /// Scoring profiles (from `config/profiles.json` when present, else NAB's three).
    pub profiles: Vec<Profile>,
}

fn read(path: &Path) -> Result<String, NabError> {
    std::fs::read_to_string(path).map_err(|source| NabError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_time(path: &str, text: &str) -> Result<NaiveDateTime, NabError> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map_err(|e| NabError::Format {
        path: path.into(),
        problem: format!(
            "timestamp {:?} is not `YYYY-MM-DD HH:MM:SS`: {e}",
            clip(text)
        ),
    })
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

impl Corpus {
    /// Reads the corpus from NAB's layout: `data/<category>/<file>.csv` (`timestamp,value`),
    /// `labels/combined_windows.json` and, if present, `config/profiles.json`.
    pub fn load(dir: &Path) -> Result<Self, NabError> {
        let windows_path = dir.join("labels/combined_windows.json");
        let windows: BTreeMap<String, Vec<(String, String)>> =
            serde_json::from_str(&read(&windows_path)?).map_err(|e| NabError::Format {
                path: windows_path.display().to_string(),
                problem: e.to_string(),
            })?;
        let profiles_path = dir.join("config/profiles.json");
        let profiles = if profiles_path.exists() {
            parse_profiles(&profiles_path)?
        } else {
            Profile::nab()
        };
        let mut files = Vec::with_capacity(windows.len());
        for (name, limits) in windows {
            let path = dir.join("data").join(&name);
            files.push(read_data_file(&path, name, &limits)?);
        }
        if files.is_empty() {
            return Err(NabError::Format {
                path: windows_path.display().to_string(),
                problem: "lists no data files".into(),
            });
        }
        Ok(Corpus { files, profiles })
    }

    /// Labelled windows over all files.
    pub fn n_windows(&self) -> usize {
        self.files.iter().map(|f| f.windows.len()).sum()
    }

    /// Rows over all files.
    pub fn n_rows(&self) -> usize {
        self.files.iter().map(|f| f.values.len()).sum()
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

fn parse_profiles(path: &Path) -> Result<Vec<Profile>, NabError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Weights {
        tp_weight: f64,
        fp_weight: f64,
        fn_weight: f64,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "CostMatrix")]
        cost_matrix: Weights,
    }
    let text = read(path)?;
    let entries: BTreeMap<String, Entry> =
        serde_json::from_str(&text).map_err(|e| NabError::Format {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
    // NAB's own order (standard first) where the names are NAB's
    let order = |n: &str| match n {
        "standard" => 0,
        "reward_low_FP_rate" => 1,
        "reward_low_FN_rate" => 2,
        _ => 3,
    };
    let mut profiles: Vec<Profile> = entries
        .into_iter()
        .map(|(name, e)| Profile {
            name,
            tp_weight: e.cost_matrix.tp_weight,
            fp_weight: e.cost_matrix.fp_weight,
            fn_weight: e.cost_matrix.fn_weight,
        })
        .collect();
    profiles.sort_by_key(|p| order(&p.name));
    Ok(profiles)
}

fn read_data_file(
    path: &Path,
    name: String,
    limits: &[(String, String)],
) -> Result<DataFile, NabError> {
    let shown = path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(source) => NabError::Read {
            path: path.to_path_buf(),
            source,
        },
        other => NabError::Format {
            path: shown.clone(),
            problem: format!("{other:?}"),
        },
    })?;
    let header = reader.headers().map_err(|e| NabError::Format {
        path: shown.clone(),
        problem: e.to_string(),
    })?;
    if header.len() != 2 || &header[0] != "timestamp" || &header[1] != "value" {
        return Err(NabError::Format {
            path: shown,
            problem: format!("header is {header:?}, expected `timestamp,value`"),
        });
    }
    let mut timestamps = Vec::new();
    let mut times = Vec::new();
    let mut values = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| NabError::Format {
            path: shown.clone(),
            problem: format!("line {line}: {e}"),
        })?;
        let value: f64 = record[1].trim().parse().map_err(|_| NabError::Format {
            path: shown.clone(),
            problem: format!("line {line}: value {:?} is not a number", clip(&record[1])),
        })?;
        if !value.is_finite() {
            return Err(NabError::Format {
                path: shown,
                problem: format!("line {line}: value {value} is not finite"),
            });
        }
        times.push(parse_time(&shown, &record[0])?);
        timestamps.push(record[0].to_string());
        values.push(value);
    }
    // NAB enters a window at the row whose timestamp equals its start and leaves it at the row
    // equal to its end: both must be rows of the file
    let row_of = |t: &str| -> Result<usize, NabError> {
        let when = parse_time(&shown, t)?;
        times
            .iter()
            .position(|&x| x == when)
            .ok_or_else(|| NabError::Format {
                path: shown.clone(),
                problem: format!("window limit {t} is not a timestamp of the file"),
            })
    };
    let mut windows = Vec::with_capacity(limits.len());
    for (start, end) in limits {
        let (s, e) = (row_of(start)?, row_of(end)?);
        if e < s || windows.last().is_some_and(|&(_, prev_end)| s <= prev_end) {
            return Err(NabError::Format {
                path: shown,
                problem: format!("window {start} .. {end} is empty or overlaps the previous one"),
            });
        }
        windows.push((s, e));
    }
    Ok(DataFile {
        name,
        timestamps,
        values,
        windows,
    })
}

/// Where a row sits for scoring.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    /// In the probationary period: never scored.
    Probation,
    /// Outside every window; the value is the unweighted FP factor (negative).
    Outside(f64),
    /// Inside window `id` (corpus-wide); the value is the unweighted TP factor.
    Inside(usize, f64),
}

/// Places every row of `file`; window ids start at `first_window`.
fn places(file: &DataFile, first_window: usize) -> Vec<Place> {
    let n = file.values.len();
    let probation = file.probationary_rows();
    let max_tp = scaled_sigmoid(-1.0);
    let mut out = Vec::with_capacity(n);
    let mut next = 0;
    let mut current: Option<(usize, usize, usize)> = None; // (id, end row, width)
    let mut previous: Option<(usize, usize)> = None; // (end row, width)
    for i in 0..n {
        if current.is_none()
            && let Some(&(start, end)) = file.windows.get(next)
            && i == start
        {
            current = Some((first_window + next, end, end - start + 1));
            next += 1;
        }
        let place = match current {
            Some((id, end, width)) => {
                // NAB's position: -(end - i + 1) / width, from -1 at the start to -1/width
                let position = -((end - i + 1) as f64) / width as f64;
                Place::Inside(id, scaled_sigmoid(position) / max_tp)
            }
            None => {
                let position = match previous {
                    None => 3.0,
                    Some((end, width)) => (i - end) as f64 / (width as f64 - 1.0),
                };
                Place::Outside(scaled_sigmoid(position))
            }
        };
        out.push(if i < probation {
            Place::Probation
        } else {
            place
        });
        if let Some((_, end, width)) = current
            && i == end
        {
            previous = Some((end, width));
            current = None;
        }
    }
    out
}

/// One detector's result on one profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProfileScore {
    /// The profile's name.
    pub profile: String,
    /// The corpus-wide threshold NAB's sweep chose: rows scoring at or above it are detections.
    pub threshold: f64,
    /// The raw score at that threshold (sum of every file's score).
    pub raw: f64,
    /// `100 (raw − null) / (perfect − null)`.
    pub normalised: f64,
    /// Windows with at least one detection.
    pub detected_windows: usize,
    /// Windows without one.
    pub missed_windows: usize,
    /// Detections outside every window (scored rows only).
    pub false_positives: usize,
}

/// Scores a detector's per-row anomaly scores (`scores[f][row]`, files in `corpus.files` order)
/// under `profile`: the sweep over every distinct score, the best threshold, the normalised score.
pub fn score_corpus(
    corpus: &Corpus,
    scores: &[Vec<f64>],
    profile: &Profile,
) -> Result<ProfileScore, NabError> {
    let rows = scorable_rows(corpus, scores)?;
    Ok(sweep(&rows, corpus.n_windows(), profile))
}

/// Scores under every profile of the corpus (the places are computed once).
pub fn score_all_profiles(
    corpus: &Corpus,
    scores: &[Vec<f64>],
) -> Result<Vec<ProfileScore>, NabError> {
    let rows = scorable_rows(corpus, scores)?;
    Ok(corpus
        .profiles
        .iter()
        .map(|p| sweep(&rows, corpus.n_windows(), p))
        .collect())
}

/// Every scored row of the corpus as (score, place), sorted by score from high to low (ties in
/// corpus order, as NAB's stable sort leaves them).
fn scorable_rows(corpus: &Corpus, scores: &[Vec<f64>]) -> Result<Vec<(f64, Place)>, NabError> {
    if scores.len() != corpus.files.len() {
        return Err(NabError::Scores {
            file: "the corpus".into(),
            problem: format!(
                "{} score series for {} files",
                scores.len(),
                corpus.files.len()
            ),
        });
    }
    let mut rows = Vec::with_capacity(corpus.n_rows());
    let mut first_window = 0;
    for (file, s) in corpus.files.iter().zip(scores) {
        if s.len() != file.values.len() {
            return Err(NabError::Scores {
                file: file.name.clone(),
                problem: format!("{} scores for {} rows", s.len(), file.values.len()),
            });
        }
        if let Some(i) = s.iter().position(|v| !v.is_finite()) {
            return Err(NabError::Scores {
                file: file.name.clone(),
                problem: format!("row {} has score {}", i + 1, s[i]),
            });
        }
        for (&score, place) in s.iter().zip(places(file, first_window)) {
            if place != Place::Probation {
                rows.push((score, place));
            }
        }
        first_window += file.windows.len();
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(rows)
}

/// NAB's threshold sweep: lower the threshold one distinct score at a time, keep the best total.
fn sweep(rows: &[(f64, Place)], n_windows: usize, profile: &Profile) -> ProfileScore {
    let null = -(n_windows as f64) * profile.fn_weight;
    let perfect = n_windows as f64 * profile.tp_weight;
    // each window contributes -fn until detected, then its best (earliest) detection's weight
    let mut window_part = vec![-profile.fn_weight; n_windows];
    let mut detected = vec![false; n_windows];
    let mut fp_part = 0.0;
    let mut total = null;
    let (mut n_detected, mut n_fp) = (0, 0);
    let mut best = (f64::NEG_INFINITY, 1.1, 0, 0); // (raw, threshold, detected, fp)
    let mut threshold = 1.1;
    // re-summed as NAB does (so rounding follows its order), but only when a threshold's
    // total is read, not after every row
    let resum = |fp_part: f64, window_part: &[f64]| fp_part + window_part.iter().sum::<f64>();
    for (i, &(score, place)) in rows.iter().enumerate() {
        if score != threshold {
            // the total so far is the score of the previous threshold (the null score before
            // the first row)
            if i > 0 {
                total = resum(fp_part, &window_part);
            }
            if total > best.0 {
                best = (total, threshold, n_detected, n_fp);
            }
            threshold = score;
        }
        match place {
            Place::Probation => unreachable!("probationary rows are filtered out"),
            Place::Outside(factor) => {
                fp_part += factor * profile.fp_weight;
                n_fp += 1;
            }
            Place::Inside(id, factor) => {
                let weight = factor * profile.tp_weight;
                if weight > window_part[id] {
                    window_part[id] = weight;
                }
                if !detected[id] {
                    detected[id] = true;
                    n_detected += 1;
                }
            }
        }
    }
    if !rows.is_empty() {
        total = resum(fp_part, &window_part);
    }
    if total > best.0 {
        best = (total, threshold, n_detected, n_fp);
    }
    let (raw, threshold, detected_windows, false_positives) = best;
    ProfileScore {
        profile: profile.name.clone(),
        threshold,
        raw,
        normalised: 100.0 * (raw - null) / (perfect - null),
        detected_windows,
        missed_windows: n_windows - detected_windows,
        false_positives,
    }
}

/// What a threshold makes of one file's scores, by NAB's rules: the earliest detection of each
/// detected window, the detections outside every window (after probation) and the windows missed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileOutcome {
    /// Row of the earliest detection of each detected window.
    pub true_positives: Vec<usize>,
    /// Rows detected outside every window, probation excluded.
    pub false_positives: Vec<usize>,
    /// Windows (index into [`DataFile::windows`]) with no detection.
    pub missed: Vec<usize>,
}

impl DataFile {
    /// The rows `scores` flags at `threshold` (`score >= threshold`), sorted as NAB counts them.
    pub fn outcome(&self, scores: &[f64], threshold: f64) -> FileOutcome {
        let probation = self.probationary_rows();
        let mut out = FileOutcome::default();
        let mut in_window = vec![None; self.values.len()];
        for (w, &(start, end)) in self.windows.iter().enumerate() {
            in_window[start..=end].iter_mut().for_each(|x| *x = Some(w));
        }
        let mut detected = vec![false; self.windows.len()];
        for (i, &s) in scores.iter().enumerate().skip(probation) {
            if s < threshold {
                continue;
            }
            match in_window[i] {
                Some(w) if !detected[w] => {
                    detected[w] = true;
                    out.true_positives.push(i);
                }
                Some(_) => {}
                None => out.false_positives.push(i),
            }
        }
        out.missed = (0..self.windows.len()).filter(|&w| !detected[w]).collect();
        out
    }
}

/// One line of NAB's published scoreboard (v1.1, `results/final_results.json`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Published {
    /// The detector's name as the scoreboard shows it.
    pub detector: &'static str,
    /// Standard profile.
    pub standard: f64,
    /// Reward low FP rate.
    pub reward_low_fp: f64,
    /// Reward low FN rate.
    pub reward_low_fn: f64,
}

/// NAB's published scoreboard, best first (standard profile), as the corpus README lists it.
pub const SCOREBOARD: [Published; 11] = [
    Published::new("ARTime", 74.9, 65.1, 80.4),
    Published::new("Numenta HTM", 70.5, 62.6, 75.2),
    Published::new("CAD OSE", 69.9, 67.0, 73.2),
    Published::new("earthgecko Skyline", 58.2, 46.2, 63.9),
    Published::new("KNN CAD", 58.0, 43.4, 64.8),
    Published::new("Relative Entropy", 54.6, 47.6, 58.8),
    Published::new("Random Cut Forest", 51.7, 38.4, 59.7),
    Published::new("Twitter ADVec", 47.1, 33.6, 53.5),
    Published::new("Windowed Gaussian", 39.6, 20.9, 47.4),
    Published::new("Etsy Skyline", 35.7, 27.1, 44.5),
    Published::new("Random", 11.0, 1.2, 19.5),
];

impl Published {
    const fn new(detector: &'static str, standard: f64, fp: f64, fn_: f64) -> Self {
        Published {
            detector,
            standard,
            reward_low_fp: fp,
            reward_low_fn: fn_,
        }
    }
}

impl fmt::Display for ProfileScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.2} (threshold {:.4}, {} windows found, {} missed, {} false positives)",
            self.profile,
            self.normalised,
            self.threshold,
            self.detected_windows,
            self.missed_windows,
            self.false_positives
        )
    }
}

/// Writes one file's results in NAB's layout and columns:
/// `dir/<detector>/<category>/<detector>_<file>.csv` with `timestamp,value,anomaly_score,label`.
pub fn write_results(
    dir: &Path,
    detector: &str,
    file: &DataFile,
    scores: &[f64],
) -> std::io::Result<PathBuf> {
    let folder = dir.join(detector).join(file.category());
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{detector}_{}", file.file_name()));
    crate::files::check_writable(&path)?;
    let mut out = csv::Writer::from_path(&path)?;
    out.write_record(["timestamp", "value", "anomaly_score", "label"])?;
    for (((t, v), s), l) in file
        .timestamps
        .iter()
        .zip(&file.values)
        .zip(scores)
        .zip(file.labels())
    {
        out.write_record([
            t.clone(),
            v.to_string(),
            s.to_string(),
            u8::from(l).to_string(),
        ])?;
    }
    out.flush()?;
    Ok(path)
}

/// A detector the benchmark can run over the corpus.
#[derive(Clone, Debug, PartialEq)]
pub enum NabDetector {
    /// The kit's [`OnlineDetector`].
    Online(OnlineParams),
    /// The simple causal baseline: z-scores, likelihood, novelty, cooldown, no forest.
    ZscoreBaseline,
    /// NAB's windowed Gaussian, as a sanity check of the harness (published: 39.6).
    WindowedGaussian,
    /// The kit's batch recipe (trailing-median residuals, Isolation Forest), fitted once on each
    /// file's probationary rows and frozen: what a model trained once buys on real streams.
    Recipe,
}

impl NabDetector {
    /// Every detector, the online one first.
    pub fn all() -> Vec<NabDetector> {
        vec![
            NabDetector::Online(OnlineParams::default()),
            NabDetector::ZscoreBaseline,
            NabDetector::Recipe,
            NabDetector::WindowedGaussian,
        ]
    }

    /// The name results are filed under.
    pub fn name(&self) -> &'static str {
        match self {
            NabDetector::Online(_) => "online",
            NabDetector::ZscoreBaseline => "zscore-baseline",
            NabDetector::WindowedGaussian => "windowed-gaussian",
            NabDetector::Recipe => "recipe",
        }
    }

    /// The detector called `name` (online with its default parameters).
    pub fn from_name(name: &str) -> Option<NabDetector> {
        NabDetector::all().into_iter().find(|d| d.name() == name)
    }

    /// Runs the detector over one file, from an empty state, one record at a time: one
    /// anomaly score in `[0, 1]` per row.
    pub fn run(&self, file: &DataFile) -> Result<Vec<f64>, NabRunError> {
        let fail = |e: String| NabRunError {
            file: file.name.clone(),
            detector: self.name(),
            problem: e,
        };
        match self {
            NabDetector::Online(params) => online_scores(params.clone(), file).map_err(fail),
            NabDetector::ZscoreBaseline => {
                online_scores(OnlineParams::zscore_baseline(), file).map_err(fail)
            }
            NabDetector::WindowedGaussian => {
                let mut g = WindowedGaussian::default();
                Ok(file.values.iter().map(|&v| g.update(v)).collect())
            }
            NabDetector::Recipe => recipe_scores(file).map_err(fail),
        }
    }
}

fn online_scores(params: OnlineParams, file: &DataFile) -> Result<Vec<f64>, String> {
    let mut detector = OnlineDetector::new(params, 1).map_err(|e| e.to_string())?;
    file.values
        .iter()
        .map(|&v| detector.update(&[v]).map(|s| s.score))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

fn recipe_scores(file: &DataFile) -> Result<Vec<f64>, String> {
    let spec = DetectorSpec {
        threshold: ThresholdRule::Forest,
        ..DetectorSpec::improved(DEFAULT_WINDOW, 0)
    };
    let x =
        Array2::from_shape_vec((file.values.len(), 1), file.values.clone()).expect("one column");
    let train = file.probationary_rows();
    let detector = spec
        .fit(&["value".to_string()], x.slice(s![..train, ..]), None)
        .map_err(|e| e.to_string())?;
    detector.anomaly_scores(x.view()).map_err(|e| e.to_string())
}

/// A detector failed on a file.
#[derive(Debug, thiserror::Error)]
#[error("{detector} on {file}: {problem}")]
pub struct NabRunError {
    /// The data file.
    pub file: String,
    /// The detector.
    pub detector: &'static str,
    /// What went wrong.
    pub problem: String,
}

/// Runs `detector` over every file of the corpus (files in parallel, each from an empty state:
/// the scores do not depend on the thread count), calling `done` after each file.
pub fn run_corpus(
    detector: &NabDetector,
    corpus: &Corpus,
    done: impl Fn(&DataFile) + Sync,
) -> Result<Vec<Vec<f64>>, NabRunError> {
    corpus
        .files
        .par_iter()
        .map(|f| {
            let scores = detector.run(f);
            done(f);
            scores
        })
        .collect()
}

/// One detector's benchmark result: its scores under every profile and its running time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NabResult {
    /// The detector's name.
    pub detector: String,
    /// Scores in the corpus's profile order.
    pub scores: Vec<ProfileScore>,
    /// Seconds to run the detector over the corpus (scoring excluded).
    pub seconds: f64,
}

impl NabResult {
    /// The normalised score under `profile`, if it was scored.
    pub fn normalised(&self, profile: &str) -> Option<f64> {
        self.scores
            .iter()
            .find(|s| s.profile == profile)
            .map(|s| s.normalised)
    }

    /// One JSON object: `detector`, one key per profile (normalised score), `seconds`.
    pub fn json_line(&self) -> serde_json::Value {
        let mut line = serde_json::Map::new();
        line.insert("detector".into(), self.detector.clone().into());
        for s in &self.scores {
            line.insert(s.profile.clone(), round2(s.normalised).into());
        }
        line.insert("seconds".into(), round2(self.seconds).into());
        serde_json::Value::Object(line)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The scoreboard as a text table: our detectors among the published ones, best first on the
/// standard profile; ours are marked `*`.
pub fn scoreboard(ours: &[NabResult]) -> String {
    let mut rows: Vec<(String, [f64; 3], bool)> = SCOREBOARD
        .iter()
        .map(|p| {
            (
                p.detector.to_string(),
                [p.standard, p.reward_low_fp, p.reward_low_fn],
                false,
            )
        })
        .collect();
    for r in ours {
        let get = |name| r.normalised(name).unwrap_or(f64::NAN);
        rows.push((
            format!("{} (anomaly-kit)", r.detector),
            [
                get("standard"),
                get("reward_low_FP_rate"),
                get("reward_low_FN_rate"),
            ],
            true,
        ));
    }
    rows.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(8).max(8);
    let mut out = format!(
        "  {:<width$}  {:>8}  {:>11}  {:>11}\n",
        "detector", "standard", "low FP rate", "low FN rate"
    );
    for (name, s, ours) in rows {
        out += &format!(
            "{} {:<width$}  {:>8.1}  {:>11.1}  {:>11.1}\n",
            if ours { "*" } else { " " },
            name,
            s[0],
            s[1],
            s[2]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize, windows: Vec<(usize, usize)>) -> DataFile {
        DataFile {
            name: "cat/f.csv".into(),
            timestamps: (0..n).map(|i| i.to_string()).collect(),
            values: vec![0.0; n],
            windows,
        }
    }

    fn corpus(files: Vec<DataFile>) -> Corpus {
        Corpus {
            files,
            profiles: Profile::nab(),
        }
    }

    #[test]
    fn the_null_detector_scores_zero_and_a_perfect_one_a_hundred() {
        let c = corpus(vec![
            file(1000, vec![(400, 449)]),
            file(1000, vec![(700, 719)]),
        ]);
        let std = &c.profiles[0];
        let null = score_corpus(&c, &[vec![0.0; 1000], vec![0.0; 1000]], std).unwrap();
        assert_eq!(null.normalised, 0.0);
        assert_eq!(null.missed_windows, 2);
        let mut perfect = vec![vec![0.0; 1000], vec![0.0; 1000]];
        perfect[0][400] = 1.0;
        perfect[1][700] = 1.0;
        let p = score_corpus(&c, &perfect, std).unwrap();
        assert!((p.normalised - 100.0).abs() < 1e-9, "{p}");
        assert_eq!(
            (p.threshold, p.detected_windows, p.false_positives),
            (1.0, 2, 0)
        );
    }

    #[test]
    fn only_the_earliest_detection_in_a_window_counts() {
        let c = corpus(vec![file(1000, vec![(400, 499)])]);
        let std = &c.profiles[0];
        let mut late = vec![0.0; 1000];
        late[480] = 1.0;
        let mut both = late.clone();
        both[410] = 0.9;
        let late = score_corpus(&c, &[late], std).unwrap();
        let both = score_corpus(&c, &[both], std).unwrap();
        assert!(both.raw > late.raw, "{both} vs {late}");
        assert_eq!(both.detected_windows, 1);
        // at row 410 the weight is σ(-0.9)/σ(-1)
        let expected = scaled_sigmoid(-90.0 / 100.0) / scaled_sigmoid(-1.0);
        assert!((both.raw - expected).abs() < 1e-12);
    }

    #[test]
    fn false_positives_cost_less_just_after_a_window_and_nothing_in_probation() {
        let c = corpus(vec![file(1000, vec![(400, 499)])]);
        let std = &c.profiles[0];
        let score_with = |row: usize| {
            let mut s = vec![0.0; 1000];
            s[450] = 1.0;
            s[row] = 1.0;
            score_corpus(&c, &[s], std).unwrap()
        };
        let just_after = score_with(505);
        let far = score_with(900);
        let probation = score_with(100); // 0.15 × 1000 = 150 rows of probation
        assert!(just_after.raw > far.raw);
        assert!((far.raw - (score_with(450).raw - 0.11)).abs() < 1e-12);
        assert_eq!(probation.raw, score_with(450).raw);
        assert_eq!(probation.false_positives, 0);
    }

    #[test]
    fn the_sweep_picks_the_threshold_with_the_best_total() {
        // a false alarm scoring 0.8 is worth avoiding only if nothing below it helps
        let c = corpus(vec![file(1000, vec![(400, 499)])]);
        let std = &c.profiles[0];
        let mut s = vec![0.1; 1000];
        s[900] = 0.8;
        s[420] = 0.5;
        let r = score_corpus(&c, &[s], std).unwrap();
        assert_eq!(r.threshold, 0.5);
        assert_eq!((r.detected_windows, r.false_positives), (1, 1));
    }

    #[test]
    fn misaligned_scores_are_an_error_naming_the_file() {
        let c = corpus(vec![file(10, vec![])]);
        let err = score_corpus(&c, &[vec![0.0; 9]], &c.profiles[0]).unwrap_err();
        assert!(
            err.to_string().contains("cat/f.csv: 9 scores for 10 rows"),
            "{err}"
        );
        let err = score_corpus(&c, &[vec![f64::NAN; 10]], &c.profiles[0]).unwrap_err();
        assert!(err.to_string().contains("row 1 has score NaN"), "{err}");
    }
}
