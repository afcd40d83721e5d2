//! Detectors that learn from the stream: no training set, no labels, one record at a time.
//!
//! A frozen model trained once (the rest of the kit) suits the tutorial's synthetic data. Real
//! streams — CPU metrics, taxi demand, tweet volumes — change level, drift and follow cycles,
//! and nobody labels them beforehand. [`OnlineDetector`] starts empty and, for every record,
//! **scores it, then learns from it**:
//!
//! 1. **Signals.** Two views of "unusual", each cheap to keep up to date:
//!    * a *sliding-window Isolation Forest* on shingles (the last `shingle` records side by
//!      side), refitted every `refit_every` records on the latest `window` shingles — the window
//!      is the forgetting rate: behaviour older than it has no say. A refit costs
//!      `trees × sample × depth` and scoring `trees × depth`, so the amortised cost per record
//!      is bounded by `trees × depth × (1 + sample / refit_every)`;
//!    * an *exponentially weighted z-score* of each value and of its change since the previous
//!      record (its memory is `zscore_span` records).
//! 2. **Likelihood.** A raw score means little on its own: a noisy series scores high all the
//!    time. Each signal's raw scores feed a running mean and variance (memory `likelihood_span`);
//!    the mean of the last `short_span` raw scores is compared with them, and the Gaussian
//!    probability below that z is the signal's *likelihood* in `[0, 1]` (Numenta's "anomaly
//!    likelihood" idea). The anomaly score is the larger of the two likelihoods.
//! 3. **Novelty.** A value outside the range seen so far (widened by `range_tolerance` of its
//!    span) scores 1: the stream has gone somewhere it has never been.
//! 4. **Alerts without labels.** A score at or above `alert_likelihood` raises an alert; the
//!    next `cooldown` records report their score times `cooldown_damping`, so one incident is
//!    one alert, not fifty. The first `silent_records` records report 0 and never alert.
//!
//! Everything is causal (no record sees its future, not even the file's range) and seeded:
//! the same records give the same scores on any thread count, and [`OnlineDetector::state`]
//! / [`OnlineDetector::from_state`] checkpoint a detector so it continues bit for bit — the
//! forest is not stored but rebuilt from the stored window and seed, which keeps one
//! univariate series' state to a few kilobytes.
//!
//! Why a sliding-window forest and not Random Cut Forest's or Half-Space Trees' incremental
//! updates: the kit's forest fits 50 trees of 256 rows in well under a millisecond, so refitting
//! on a window is both simpler and exact to checkpoint, and measured on NAB (`anomaly-kit nab`)
//! how scores become alerts moved the result far more than which forest produced them.
//!
//! ```
//! use anomaly_kit::online::{OnlineDetector, OnlineParams};
//!
//! let mut detector = OnlineDetector::new(OnlineParams::default(), 1).unwrap();
//! let mut last = None;
//! for t in 0..2_000 {
//!     let value = (t as f64 / 50.0).sin() + if t == 1_500 { 8.0 } else { 0.0 };
//!     last = Some(detector.update(&[value]).unwrap());
//!     if t == 1_500 {
//!         assert!(last.unwrap().alert, "a spike far outside the range is an alert");
//!     }
//! }
//! // checkpoint and continue: the copy scores exactly as the original
//! let mut copy = OnlineDetector::from_state(detector.state()).unwrap();
//! assert_eq!(copy.update(&[0.3]).unwrap(), detector.update(&[0.3]).unwrap());
//! ```

use std::collections::VecDeque;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::forest::{
    Contamination, IsolationForest, IsolationForestParams, IsolationTree, MaxSamples,
    average_path_length,
};
use crate::numeric::{difference, mean_of, saturate};

/// Errors from the online detectors.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// A parameter is out of its range.
    #[error("invalid online detector parameter `{name}`: {problem}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// A record with the wrong number of values.
    #[error("record has {got} value(s), the detector was built for {expected}")]
    Width {
        /// Values per record the detector expects.
        expected: usize,
        /// Values in the record.
        got: usize,
    },
    /// A value that is NaN or infinite.
    #[error("value {value} in column {column} is not finite")]
    NotFinite {
        /// Zero-based column.
        column: usize,
        /// The value.
        value: f64,
    },
    /// A saved state that does not hold together.
    #[error("saved detector state is inconsistent: {0}")]
    State(String),
    /// The forest refused to fit (should not happen on a checked state).
    #[error(transparent)]
    Forest(#[from] crate::forest::ForestError),
}

/// Settings of [`OnlineDetector`]. [`OnlineParams::default`] is the one set measured on the
/// whole NAB corpus; [`OnlineParams::zscore_baseline`] switches the forest off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnlineParams {
    /// Use the sliding-window forest signal.
    pub forest: bool,
    /// The forest sees each record's values and, for each lag `k` here, their change since `k`
    /// records before (empty: the values alone).
    pub lags: Vec<usize>,
    /// Rows the forest is fitted on (the latest ones): its memory.
    pub window: usize,
    /// Records between refits.
    pub refit_every: usize,
    /// Trees in the forest.
    pub trees: usize,
    /// Rows each tree is grown from (at most `window`).
    pub sample: usize,
    /// Use the z-score signal.
    pub zscore: bool,
    /// How the two signals' likelihoods become one score.
    pub combine: Combine,
    /// Memory of the z-score's running mean and variance, in records.
    pub zscore_span: f64,
    /// Memory of the likelihood's running mean and variance of raw scores, in records.
    pub likelihood_span: f64,
    /// Raw scores averaged for the likelihood's "recent" side.
    pub short_span: usize,
    /// Records reported as 0 at the start, never alerting.
    pub silent_records: usize,
    /// Widening of the seen range before a value counts as novel (share of the span); negative
    /// switches novelty off.
    pub range_tolerance: f64,
    /// Score at or above which a record raises an alert.
    pub alert_likelihood: f64,
    /// Records after an alert whose score is damped.
    pub cooldown: usize,
    /// Factor applied to scores during a cooldown.
    pub cooldown_damping: f64,
    /// Seed of the forests.
    pub seed: u64,
}

impl Default for OnlineParams {
    /// The one parameter set measured on the whole NAB corpus (`anomaly-kit nab`), chosen by a
    /// coordinate search over these fields on NAB's standard profile: tuned on the corpus it is
    /// scored on, as every published NAB entry is.
    fn default() -> Self {
        Self {
            forest: true,
            lags: vec![1],
            window: 512,
            refit_every: 64,
            trees: 50,
            sample: 256,
            zscore: true,
            combine: Combine::Mean,
            zscore_span: 300.0,
            likelihood_span: 2000.0,
            short_span: 5,
            silent_records: 300,
            range_tolerance: 0.0,
            alert_likelihood: 0.99,
            cooldown: 35,
            cooldown_damping: 0.5,
            seed: 0,
        }
    }
}

impl OnlineParams {
    /// The simple causal baseline the detector must beat: z-scores of values and their
    /// changes, the same likelihood, novelty and cooldown, no forest — with its own best
    /// settings from the same search (so the comparison is with the baseline at its best).
    pub fn zscore_baseline() -> Self {
        Self {
            forest: false,
            combine: Combine::Max,
            alert_likelihood: 0.995,
            ..Self::default()
        }
    }

    /// Checks every range; the error names the parameter.
    pub fn check(&self) -> Result<(), OnlineError> {
        let bad = |name, problem: &str| {
            Err(OnlineError::Param {
                name,
                problem: problem.into(),
            })
        };
        if !self.forest && !self.zscore {
            return bad(
                "forest",
                "both signals are off; switch on `forest` or `zscore`",
            );
        }
        if self.forest {
            if self.lags.contains(&0) {
                return bad("lags", "a lag is at least 1 record");
            }
            if self.lags.iter().any(|&l| l > 10_000) {
                return bad("lags", "a lag is at most 10,000 records");
            }
            if self.trees == 0 {
                return bad("trees", "must be at least 1");
            }
            if self.sample < 2 {
                return bad(
                    "sample",
                    "must be at least 2 (an isolation tree needs two rows)",
                );
            }
            if self.window < self.sample {
                return bad("window", "must be at least `sample`");
            }
            if self.refit_every == 0 {
                return bad("refit_every", "must be at least 1");
            }
        }
        if !(self.zscore_span.is_finite() && self.zscore_span >= 1.0) {
            return bad("zscore_span", "must be at least 1");
        }
        if !(self.likelihood_span.is_finite() && self.likelihood_span >= 1.0) {
            return bad("likelihood_span", "must be at least 1");
        }
        if self.short_span == 0 {
            return bad("short_span", "must be at least 1");
        }
        if !self.range_tolerance.is_finite() {
            return bad("range_tolerance", "must be finite");
        }
        if !(self.alert_likelihood > 0.0 && self.alert_likelihood <= 1.0) {
            return bad("alert_likelihood", "must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.cooldown_damping) {
            return bad("cooldown_damping", "must be in [0, 1]");
        }
        Ok(())
    }
}

/// How the signals' likelihoods become one score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The larger: either signal alone can raise the score.
    Max,
    /// The mean: both must agree for the score to be high.
    Mean,
}

/// What the detector says about one record.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Anomaly score in `[0, 1]` (NAB's format): the larger signal likelihood, 1 for a novel
    /// value, damped during a cooldown, 0 while silent.
    pub score: f64,
    /// `true` when the score reached `alert_likelihood` outside a cooldown.
    pub alert: bool,
    /// `true` for the first `silent_records` records: scored 0, never an alert.
    pub warming_up: bool,
    /// The forest's raw score (`2^(-E[h]/c(n))`, 0.5 is unremarkable), once fitted.
    pub forest_score: Option<f64>,
    /// The largest absolute z-score of a value or change.
    pub zscore: Option<f64>,
}

impl Step {
    /// The stream's prediction for the record: -1 for an alert, 1 otherwise (the served
    /// model's encoding, so consumers and sinks read both alike).
    pub fn prediction(&self) -> i32 {
        crate::forest::prediction(self.alert)
    }
}

/// Exponentially weighted mean and variance (West's update), `alpha = 1 / span`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Ewm {
    mean: f64,
    var: f64,
    n: u64,
}

impl Ewm {
    fn new() -> Self {
        Self {
            mean: 0.0,
            var: 0.0,
            n: 0,
        }
    }

    fn update(&mut self, x: f64, span: f64) {
        self.n += 1;
        // a plain mean for the first `span` values, exponential after: early values are not
        // given the weight of a long history
        let alpha = (1.0 / self.n as f64).max(1.0 / span);
        // saturating steps: values near ±f64::MAX must not make the statistics infinite (the
        // plain operations' bits are kept whenever they are finite)
        let diff = difference(x, self.mean);
        let incr = alpha * diff;
        self.mean = saturate(self.mean + incr);
        self.var = saturate((1.0 - alpha) * saturate(self.var + saturate(diff * incr)));
    }

    fn sd(&self) -> f64 {
        self.var.sqrt()
    }
}

/// Standard normal CDF.
fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// A signal's raw scores turned into the probability that recent scores are unusually high.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Likelihood {
    long: Ewm,
    recent: VecDeque<f64>,
}

impl Likelihood {
    fn new() -> Self {
        Self {
            long: Ewm::new(),
            recent: VecDeque::new(),
        }
    }

    /// Likelihood of `raw` given the history before it, then `raw` joins the history.
    fn next(&mut self, raw: f64, p: &OnlineParams) -> f64 {
        if self.recent.len() == p.short_span {
            self.recent.pop_front();
        }
        self.recent.push_back(raw);
        let short = mean_of(self.recent.iter().copied(), self.recent.len()).unwrap_or(raw);
        let sd = self.long.sd().max(1e-6 * self.long.mean.abs()).max(1e-12);
        let likelihood = if self.long.n < 2 {
            0.5
        } else {
            normal_cdf(difference(short, self.long.mean) / sd)
        };
        self.long.update(raw, p.likelihood_span);
        likelihood
    }
}

/// Z-scores of each value and of its change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ZScores {
    values: Vec<Ewm>,
    changes: Vec<Ewm>,
    previous: Option<Vec<f64>>,
}

impl ZScores {
    fn new(d: usize) -> Self {
        Self {
            values: vec![Ewm::new(); d],
            changes: vec![Ewm::new(); d],
            previous: None,
        }
    }

    /// The largest |z| of the record's values and changes against the history before it.
    fn next(&mut self, row: &[f64], span: f64) -> f64 {
        let z = |e: &Ewm, x: f64| {
            if e.n < 2 {
                0.0
            } else {
                let sd = e.sd();
                let diff = difference(x, e.mean).abs();
                if sd > 0.0 {
                    saturate(diff / sd)
                } else if diff > 0.0 {
                    // a series flat until now moved: as unusual as a z-score gets here
                    1e3
                } else {
                    0.0
                }
            }
        };
        let mut worst: f64 = 0.0;
        for (c, &x) in row.iter().enumerate() {
            worst = worst.max(z(&self.values[c], x));
            self.values[c].update(x, span);
            if let Some(prev) = &self.previous {
                let change = difference(x, prev[c]);
                worst = worst.max(z(&self.changes[c], change));
                self.changes[c].update(change, span);
            }
        }
        self.previous = Some(row.to_vec());
        worst
    }
}

/// The sliding-window forest. Keeps the raw records it needs to rebuild its current forest
/// (the rows of the last refit) and the next one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ForestSignal {
    /// Raw records, oldest first, flattened (`d` values each).
    records: VecDeque<f64>,
    /// Records ever pushed.
    pushed: u64,
    /// `pushed` when the current forest was fitted (0 = not yet).
    fitted_at: u64,
    /// Refits so far (mixed into the seed).
    fits: u64,
    /// The forest fitted at `fitted_at`: derived from the fields above, so not saved, not
    /// compared and not printed.
    #[serde(skip)]
    fitted: Derived<Fitted>,
}

/// A forest's trees and the `c(n)` its scores are normalised by.
#[derive(Clone, Default)]
struct Fitted {
    trees: Vec<IsolationTree>,
    c_n: f64,
}

/// State derived from the saved fields (rebuilt on restore): equal whatever it holds, and shown
/// as a placeholder, so a detector compares and prints as its saved state.
#[derive(Clone, Default)]
struct Derived<T>(T);

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<derived>")
    }
}

/// Records one forest row looks at: the record and the furthest lag back.
fn row_span(p: &OnlineParams) -> usize {
    1 + p.lags.iter().copied().max().unwrap_or(0)
}

/// The forest's row for a record: its values, then its change over each lag, for every column.
/// `back(k)` is the record `k` steps before it (`back(0)` is the record itself).
fn forest_row<'r>(
    d: usize,
    p: &OnlineParams,
    back: impl Fn(usize) -> &'r [f64],
    out: &mut Vec<f64>,
) {
    out.clear();
    let now = back(0);
    out.extend_from_slice(now);
    for &lag in &p.lags {
        let then = back(lag);
        out.extend((0..d).map(|c| difference(now[c], then[c])));
    }
}

impl ForestSignal {
    fn new() -> Self {
        Self {
            records: VecDeque::new(),
            pushed: 0,
            fitted_at: 0,
            fits: 0,
            fitted: Derived::default(),
        }
    }

    fn capacity(p: &OnlineParams) -> usize {
        p.window + p.refit_every + row_span(p) - 1
    }

    /// Rows available when `pushed` records have been seen.
    fn rows(pushed: u64, p: &OnlineParams) -> u64 {
        (pushed + 1).saturating_sub(row_span(p) as u64)
    }

    /// The kept record with 1-based number `n`.
    fn record(&self, n: u64, d: usize) -> &[f64] {
        let first_kept = self.pushed - (self.records.len() / d) as u64 + 1;
        let start = (n - first_kept) as usize * d;
        let (a, b) = self.records.as_slices();
        if start + d <= a.len() {
            &a[start..start + d]
        } else if start >= a.len() {
            &b[start - a.len()..start - a.len() + d]
        } else {
            unreachable!("the buffer is kept contiguous per record")
        }
    }

    /// Fits the forest on the latest rows as of `at` records pushed.
    fn fit(&mut self, at: u64, d: usize, p: &OnlineParams) -> Result<(), OnlineError> {
        self.records.make_contiguous();
        let available = Self::rows(at, p).min(p.window as u64) as usize;
        let width = d * (1 + p.lags.len());
        let mut flat = Vec::with_capacity(available * width);
        let mut row = Vec::with_capacity(width);
        for n in (at - available as u64 + 1)..=at {
            forest_row(d, p, |k| self.record(n - k as u64, d), &mut row);
            flat.extend_from_slice(&row);
        }
        let x = Array2::from_shape_vec((available, width), flat).expect("shape from counts");
        let seed = p
            .seed
            .wrapping_add(self.fits.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let params = IsolationForestParams::new()
            .n_trees(p.trees)
            .max_samples(MaxSamples::Count(p.sample))
            .contamination(Contamination::Auto)
            .seed(seed);
        let params = linfa::ParamGuard::check(params)
            .map_err(|e| OnlineError::State(format!("forest parameters: {e}")))?;
        let forest = IsolationForest::fit_array(&params, x.view())?;
        self.fitted = Derived(Fitted {
            c_n: average_path_length(forest.max_samples()),
            trees: forest.into_trees(),
        });
        Ok(())
    }

    /// Scores the record about to be pushed (`row`), if a forest exists.
    fn score(&mut self, row: &[f64], p: &OnlineParams, scratch: &mut Vec<f64>) -> Option<f64> {
        let span = row_span(p);
        let Fitted { trees, c_n } = &self.fitted.0;
        if trees.is_empty() || self.pushed + 1 < span as u64 {
            return None;
        }
        let d = row.len();
        self.records.make_contiguous();
        let next = self.pushed + 1;
        forest_row(
            d,
            p,
            |k| {
                if k == 0 {
                    row
                } else {
                    self.record(next - k as u64, d)
                }
            },
            scratch,
        );
        let total: f64 = trees.iter().map(|t| t.path_length(scratch)).sum();
        let mean = total / trees.len() as f64;
        Some(2f64.powf(-mean / c_n))
    }

    fn push(&mut self, row: &[f64], p: &OnlineParams) -> Result<(), OnlineError> {
        let d = row.len();
        self.records.extend(row.iter().copied());
        self.pushed += 1;
        let excess = self.records.len().saturating_sub(Self::capacity(p) * d);
        self.records.drain(..excess);
        let ready = Self::rows(self.pushed, p) >= p.sample as u64;
        let due = if self.fitted_at == 0 {
            ready
        } else {
            self.pushed - self.fitted_at >= p.refit_every as u64
        };
        if ready && due {
            self.fits += 1;
            self.fit(self.pushed, d, p)?;
            self.fitted_at = self.pushed;
        }
        Ok(())
    }
}

/// The seen range of each column (empty before the first record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Range {
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Range {
    /// Whether `row` leaves the range seen so far (widened by `tolerance` of the span), then
    /// widens the range to include it.
    fn novel(&mut self, row: &[f64], tolerance: f64) -> bool {
        if self.min.is_empty() {
            // the first record: nothing to leave yet
            self.min = row.to_vec();
            self.max = row.to_vec();
            return false;
        }
        let mut novel = false;
        for (c, &x) in row.iter().enumerate() {
            let (lo, hi) = (self.min[c], self.max[c]);
            if lo <= hi && tolerance >= 0.0 {
                let pad = saturate(difference(hi, lo) * tolerance);
                novel |= x > hi + pad || x < lo - pad;
            }
            self.min[c] = lo.min(x);
            self.max[c] = hi.max(x);
        }
        novel
    }
}

/// A detector that learns from every record: see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineDetector {
    params: OnlineParams,
    n_features: usize,
    seen: u64,
    cooldown_left: usize,
    forest: Option<ForestSignal>,
    forest_likelihood: Likelihood,
    zscores: Option<ZScores>,
    zscore_likelihood: Likelihood,
    range: Range,
    #[serde(skip)]
    scratch: Derived<Vec<f64>>,
}

impl OnlineDetector {
    /// An empty detector for records of `n_features` values.
    pub fn new(params: OnlineParams, n_features: usize) -> Result<Self, OnlineError> {
        params.check()?;
        if n_features == 0 {
            return Err(OnlineError::Param {
                name: "n_features",
                problem: "a record needs at least one value".into(),
            });
        }
        Ok(Self {
            forest: params.forest.then(ForestSignal::new),
            zscores: params.zscore.then(|| ZScores::new(n_features)),
            params,
            n_features,
            seen: 0,
            cooldown_left: 0,
            forest_likelihood: Likelihood::new(),
            zscore_likelihood: Likelihood::new(),
            range: Range {
                min: Vec::new(),
                max: Vec::new(),
            },
            scratch: Derived::default(),
        })
    }

    /// The settings.
    pub fn params(&self) -> &OnlineParams {
        &self.params
    }

    /// Values per record.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Records seen so far.
    pub fn records_seen(&self) -> u64 {
        self.seen
    }

    /// Scores `row`, then learns from it.
    pub fn update(&mut self, row: &[f64]) -> Result<Step, OnlineError> {
        if row.len() != self.n_features {
            return Err(OnlineError::Width {
                expected: self.n_features,
                got: row.len(),
            });
        }
        if let Some((column, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(OnlineError::NotFinite { column, value });
        }
        let p = &self.params;
        let mut likelihoods = [None, None];
        let mut forest_score = None;
        if let Some(forest) = &mut self.forest {
            forest_score = forest.score(row, p, &mut self.scratch.0);
            if let Some(raw) = forest_score {
                likelihoods[0] = Some(self.forest_likelihood.next(raw, p));
            }
            forest.push(row, p)?;
        }
        let mut zscore = None;
        if let Some(z) = &mut self.zscores {
            let raw = z.next(row, p.zscore_span);
            zscore = Some(raw);
            likelihoods[1] = Some(self.zscore_likelihood.next(raw, p));
        }
        let present = likelihoods.iter().flatten();
        let likelihood = match p.combine {
            Combine::Max => present.fold(0.0, |a: f64, &b| a.max(b)),
            Combine::Mean => {
                let n = likelihoods.iter().flatten().count();
                if n == 0 {
                    0.0
                } else {
                    present.sum::<f64>() / n as f64
                }
            }
        };
        let novel = self.range.novel(row, p.range_tolerance);
        self.seen += 1;
        let mut score = if novel { 1.0 } else { likelihood };
        let mut alert = false;
        let warming_up = self.seen <= p.silent_records as u64;
        if warming_up {
            score = 0.0;
        } else if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            score *= p.cooldown_damping;
        } else if score >= p.alert_likelihood {
            alert = true;
            self.cooldown_left = p.cooldown;
        }
        Ok(Step {
            score,
            alert,
            warming_up,
            forest_score,
            zscore,
        })
    }

    /// The detector's state, to save with a stream consumer's checkpoint (serde: JSON, …).
    pub fn state(&self) -> OnlineState {
        OnlineState(self.clone())
    }

    /// A detector continuing exactly where `state` was taken: the forest is rebuilt from the
    /// stored window and seed.
    pub fn from_state(state: OnlineState) -> Result<Self, OnlineError> {
        let mut d = state.0;
        d.params.check()?;
        let n = d.n_features;
        let consistent = d.range.min.len() == d.range.max.len()
            && (d.range.min.len() == n || (d.seen == 0 && d.range.min.is_empty()))
            && d.zscores
                .as_ref()
                .is_none_or(|z| z.values.len() == n && z.changes.len() == n)
            && d.forest.is_some() == d.params.forest
            && d.zscores.is_some() == d.params.zscore;
        if !consistent {
            return Err(OnlineError::State(format!(
                "parts do not match {n} feature(s) and the signals switched on"
            )));
        }
        let p = d.params.clone();
        if let Some(f) = &mut d.forest {
            let kept = (f.records.len() / n) as u64;
            if f.records.len() % n != 0
                || kept > f.pushed
                || f.fitted_at > f.pushed
                || kept > ForestSignal::capacity(&p) as u64
            {
                return Err(OnlineError::State(
                    "forest window has a wrong length".into(),
                ));
            }
            if f.fitted_at > 0 {
                let needed = ForestSignal::rows(f.fitted_at, &p).min(p.window as u64)
                    + row_span(&p) as u64
                    - 1;
                if f.pushed - kept > f.fitted_at - needed {
                    return Err(OnlineError::State(
                        "forest window no longer holds the records of the last fit".into(),
                    ));
                }
                // `fits` already counts the last fit, whose seed it gives again
                let at = f.fitted_at;
                f.fit(at, n, &p)?;
            }
        }
        Ok(d)
    }
}

/// A saved [`OnlineDetector`]: serialise it with serde (JSON keeps every `f64` exactly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OnlineState(OnlineDetector);

impl OnlineState {
    /// Records the saved detector had seen.
    pub fn records_seen(&self) -> u64 {
        self.0.seen
    }
}

/// NAB's windowed Gaussian baseline: each value's two-sided tail probability under the mean and
/// standard deviation of a trailing window of 6,400 values, updated every 100 values.
#[derive(Clone, Debug)]
pub struct WindowedGaussian {
    window: VecDeque<f64>,
    pending: Vec<f64>,
    mean: f64,
    sd: f64,
}

impl Default for WindowedGaussian {
    fn default() -> Self {
        Self {
            window: VecDeque::new(),
            pending: Vec::new(),
            mean: 0.0,
            sd: 1.0,
        }
    }
}

impl WindowedGaussian {
    const WINDOW: usize = 6400;
    const STEP: usize = 100;

    /// Scores `value` against the window, then adds it.
    pub fn update(&mut self, value: f64) -> f64 {
        let score = if self.window.is_empty() {
            0.0
        } else {
            let z = difference(value, self.mean).abs() / self.sd;
            // 1 - P(X > |x - mean|)
            1.0 - 0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
        };
        if self.window.len() < Self::WINDOW {
            self.window.push_back(value);
            self.refresh();
        } else {
            self.pending.push(value);
            if self.pending.len() == Self::STEP {
                self.window.drain(..Self::STEP);
                self.window.extend(self.pending.drain(..));
                self.refresh();
            }
        }
        score
    }

    fn refresh(&mut self) {
        let n = self.window.len() as f64;
        self.mean = mean_of(self.window.iter().copied(), self.window.len()).unwrap_or(0.0);
        let var = saturate(
            self.window
                .iter()
                .map(|&v| saturate(difference(v, self.mean).powi(2)))
                .sum::<f64>()
                / n,
        );
        self.sd = if var > 0.0 { var.sqrt() } else { 1e-6 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<f64> {
        let mut rng = crate::rng::seeded(7);
        use rand::RngExt;
        (0..n)
            .map(|t| (t as f64 / 30.0).sin() * 10.0 + rng.random_range(-1.0..1.0))
            .collect()
    }

    #[test]
    fn a_restored_detector_continues_bit_for_bit_at_any_point() {
        let values = series(3_000);
        let params = OnlineParams {
            window: 300,
            sample: 128,
            refit_every: 50,
            ..OnlineParams::default()
        };
        for cut in [0, 1, 7, 127, 135, 177, 1_000, 1_049, 1_050, 2_999] {
            let mut a = OnlineDetector::new(params.clone(), 1).unwrap();
            for v in &values[..cut] {
                a.update(&[*v]).unwrap();
            }
            let json = serde_json::to_string(&a.state()).unwrap();
            let mut b = OnlineDetector::from_state(serde_json::from_str(&json).unwrap()).unwrap();
            for v in &values[cut..] {
                let (x, y) = (a.update(&[*v]).unwrap(), b.update(&[*v]).unwrap());
                assert_eq!(x.score.to_bits(), y.score.to_bits(), "cut at {cut}");
                assert_eq!(x, y);
            }
        }
    }

    /// One series' checkpoint is small enough to save with every batch: a few kilobytes of JSON
    /// for a univariate series, well under DynamoDB's 400 KB item limit for the tutorial's five
    /// features too.
    #[test]
    fn a_checkpoint_stays_small() {
        for (width, limit) in [(1, 24_000), (5, 120_000)] {
            let mut d = OnlineDetector::new(OnlineParams::default(), width).unwrap();
            for (t, v) in series(5_000).into_iter().enumerate() {
                let row: Vec<f64> = (0..width).map(|c| v + (t * c) as f64 * 1e-3).collect();
                d.update(&row).unwrap();
            }
            let bytes = serde_json::to_string(&d.state()).unwrap().len();
            println!("{width} feature(s): checkpoint of {bytes} bytes");
            assert!(bytes < limit, "{width} feature(s): {bytes} bytes");
        }
    }

    #[test]
    fn scores_do_not_depend_on_the_thread_count() {
        let values = series(2_000);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut d = OnlineDetector::new(OnlineParams::default(), 1).unwrap();
                values
                    .iter()
                    .map(|v| d.update(&[*v]).unwrap().score.to_bits())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(run(1), run(4));
    }

    #[test]
    fn silent_at_first_then_alerts_once_per_incident() {
        let mut values = series(2_000);
        for v in &mut values[1_500..1_510] {
            *v += 40.0;
        }
        let mut d = OnlineDetector::new(OnlineParams::default(), 1).unwrap();
        let steps: Vec<Step> = values.iter().map(|v| d.update(&[*v]).unwrap()).collect();
        assert!(steps[..150].iter().all(|s| s.score == 0.0 && !s.alert));
        let alerts: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].alert).collect();
        assert!(alerts.contains(&1_500), "{alerts:?}");
        assert!(
            !alerts.iter().any(|&i| i > 1_500 && i < 1_600),
            "{alerts:?}"
        );
        assert!(steps.iter().all(|s| (0.0..=1.0).contains(&s.score)));
    }

    #[test]
    fn multivariate_rows_work_and_bad_rows_are_named() {
        let mut d = OnlineDetector::new(OnlineParams::default(), 5).unwrap();
        for t in 0..600 {
            let x = t as f64;
            d.update(&[x.sin(), x.cos(), 1.0, x / 100.0, (x / 7.0).sin()])
                .unwrap();
        }
        let err = d.update(&[1.0, 2.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record has 2 value(s), the detector was built for 5"
        );
        let err = d.update(&[1.0, f64::NAN, 0.0, 0.0, 0.0]).unwrap_err();
        assert_eq!(err.to_string(), "value NaN in column 1 is not finite");
        assert_eq!(d.records_seen(), 600);
    }

    #[test]
    fn parameters_are_checked_by_name() {
        let p = OnlineParams {
            trees: 0,
            ..OnlineParams::default()
        };
        let err = OnlineDetector::new(p, 1).unwrap_err();
        assert!(err.to_string().contains("`trees`"), "{err}");
        let p = OnlineParams {
            forest: false,
            zscore: false,
            ..OnlineParams::default()
        };
        assert!(OnlineDetector::new(p, 1).is_err());
    }

    #[test]
    fn a_tampered_state_is_refused() {
        let mut d = OnlineDetector::new(OnlineParams::default(), 1).unwrap();
        for v in series(400) {
            d.update(&[v]).unwrap();
        }
        let mut json: serde_json::Value = serde_json::to_value(d.state()).unwrap();
        json["n_features"] = 2.into();
        let err = OnlineDetector::from_state(serde_json::from_value(json).unwrap()).unwrap_err();
        assert!(err.to_string().contains("inconsistent"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Any finite records, up to `±f64::MAX`, give scores in `[0, 1]` (no overflow to
        /// infinity and on to NaN in the running statistics or the shingles' changes).
        #[test]
        fn any_finite_records_score_in_the_unit_interval(
            values in proptest::collection::vec(crate::test_support::any_finite(), 300..400),
        ) {
            let params = OnlineParams { silent_records: 0, ..OnlineParams::default() };
            let mut detector = OnlineDetector::new(params, 1).unwrap();
            let mut gaussian = WindowedGaussian::default();
            for &v in &values {
                let step = detector.update(&[v]).unwrap();
                proptest::prop_assert!((0.0..=1.0).contains(&step.score), "{v}: {step:?}");
                let g = gaussian.update(v);
                proptest::prop_assert!((0.0..=1.0).contains(&g), "{v}: {g}");
            }
        }
    }

    #[test]
    fn windowed_gaussian_scores_tails() {
        let mut g = WindowedGaussian::default();
        assert_eq!(g.update(1.0), 0.0);
        for v in series(500) {
            g.update(v);
        }
        assert!(g.update(1e3) > 0.999_999);
        assert!(g.update(0.0) < 0.9);
    }
}
