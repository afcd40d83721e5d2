//! Hyper-parameters of the Isolation Forest, checked once before fitting (linfa's `ParamGuard`).

use std::fmt;
use std::str::FromStr;

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};

use super::ForestError;

/// The most trees a forest may have (a guard against typos, not a tuning hint).
pub const MAX_TREES: usize = 100_000;

/// How many rows each tree is grown from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxSamples {
    /// `min(256, n_rows)`, the paper's and scikit-learn's default.
    Auto,
    /// A fixed count; more than `n_rows` is reduced to `n_rows` (as scikit-learn does).
    Count(usize),
    /// A fraction of the rows in (0, 1], rounded down, at least 1.
    Fraction(f64),
}

/// How many features each tree may split on (drawn per tree, without replacement).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// Every feature, scikit-learn's default (`"1.0"` parses to this too).
    All,
    /// A fixed count; more than `n_features` is reduced to `n_features`.
    Count(usize),
    /// A fraction of the features in (0, 1], rounded down, at least 1.
    Fraction(f64),
}

/// Where the forest's own decision threshold (`offset`) sits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contamination {
    /// The paper's threshold: a row is abnormal when its score exceeds 0.5 (`offset = -0.5`).
    Auto,
    /// The expected share of anomalies in the training data, in (0, 0.5]: the offset is that
    /// quantile of the training scores.
    Fraction(f64),
}

/// Checked hyper-parameters: what [`IsolationForestParams`] becomes once validated.
///
/// The fields are private and the only ways in are [`ParamGuard::check`] and deserialising,
/// which checks too: a value of this type always holds parameters a forest can be fitted with
/// (`n_trees = 0`, for one, cannot reach a fit).
///
/// ```
/// use anomaly_kit::forest::{IsolationForestValidParams, ParamError};
/// let bad = serde_json::from_str::<IsolationForestValidParams>(
///     r#"{"n_trees":0,"max_samples":"auto","max_features":"all","bootstrap":false,"contamination":"auto","seed":0}"#,
/// );
/// assert!(bad.unwrap_err().to_string().contains("n_trees must be between 1 and"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedParams")]
pub struct IsolationForestValidParams {
    n_trees: usize,
    max_samples: MaxSamples,
    max_features: MaxFeatures,
    bootstrap: bool,
    contamination: Contamination,
    seed: u64,
}

/// The same fields as read from a file, before [`ParamGuard::check`].
#[derive(Deserialize)]
struct UncheckedParams {
    n_trees: usize,
    max_samples: MaxSamples,
    max_features: MaxFeatures,
    bootstrap: bool,
    contamination: Contamination,
    seed: u64,
}

impl TryFrom<UncheckedParams> for IsolationForestValidParams {
    type Error = ParamError;

    fn try_from(p: UncheckedParams) -> Result<Self, ParamError> {
        let params = IsolationForestParams(IsolationForestValidParams {
            n_trees: p.n_trees,
            max_samples: p.max_samples,
            max_features: p.max_features,
            bootstrap: p.bootstrap,
            contamination: p.contamination,
            seed: p.seed,
        });
        params.checked()
    }
}

impl IsolationForestValidParams {
    /// Trees in the forest, in `1..=MAX_TREES`.
    pub fn n_trees(&self) -> usize {
        self.n_trees
    }
    /// Rows each tree is grown from.
    pub fn max_samples(&self) -> MaxSamples {
        self.max_samples
    }
    /// Features each tree may split on.
    pub fn max_features(&self) -> MaxFeatures {
        self.max_features
    }
    /// Sample rows with replacement (scikit-learn's `bootstrap=True`).
    pub fn bootstrap(&self) -> bool {
        self.bootstrap
    }
    /// Where the forest's threshold sits.
    pub fn contamination(&self) -> Contamination {
        self.contamination
    }
    /// The seed every tree's generator derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// A hyper-parameter out of its range: one variant per parameter, each naming what it got.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// `n_trees` is 0 or above [`MAX_TREES`].
    #[error("n_trees must be between 1 and {MAX_TREES}, got {0}")]
    NTrees(usize),
    /// `max_samples` is a count of 0 or a fraction outside (0, 1].
    #[error("max_samples must be a count of at least 1 or a fraction in (0, 1], got {0}")]
    MaxSamples(MaxSamples),
    /// `max_features` is a count of 0 or a fraction outside (0, 1].
    #[error("max_features must be a count of at least 1 or a fraction in (0, 1], got {0}")]
    MaxFeatures(MaxFeatures),
    /// `contamination` is a fraction outside (0, 0.5].
    #[error("contamination must be 'auto' or a fraction in (0, 0.5], got {0}")]
    Contamination(f64),
}

/// Hyper-parameters with builder methods; validated by [`ParamGuard::check`] or on `fit`.
///
/// Defaults follow scikit-learn: 100 trees, `max_samples` auto, all features, no bootstrap,
/// contamination auto, seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolationForestParams(pub(crate) IsolationForestValidParams);

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self(IsolationForestValidParams {
            n_trees: 100,
            max_samples: MaxSamples::Auto,
            max_features: MaxFeatures::All,
            bootstrap: false,
            contamination: Contamination::Auto,
            seed: 0,
        })
    }
}

impl IsolationForestParams {
    /// scikit-learn's defaults (see the type's doc).
    pub fn new() -> Self {
        Self::default()
    }
    /// Trees in the forest (1 to [`MAX_TREES`]; default 100).
    pub fn n_trees(mut self, n: usize) -> Self {
        self.0.n_trees = n;
        self
    }
    /// Rows each tree is grown from (default [`MaxSamples::Auto`]).
    pub fn max_samples(mut self, m: MaxSamples) -> Self {
        self.0.max_samples = m;
        self
    }
    /// Features each tree may split on (default [`MaxFeatures::All`]).
    pub fn max_features(mut self, m: MaxFeatures) -> Self {
        self.0.max_features = m;
        self
    }
    /// Draw each tree's rows with replacement (default `false`).
    pub fn bootstrap(mut self, b: bool) -> Self {
        self.0.bootstrap = b;
        self
    }
    /// Where the threshold sits (default [`Contamination::Auto`]).
    pub fn contamination(mut self, c: Contamination) -> Self {
        self.0.contamination = c;
        self
    }
    /// The seed every tree's generator derives from (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    fn check_values(&self) -> Result<(), ParamError> {
        let p = &self.0;
        if p.n_trees == 0 || p.n_trees > MAX_TREES {
            return Err(ParamError::NTrees(p.n_trees));
        }
        match p.max_samples {
            MaxSamples::Count(0) => return Err(ParamError::MaxSamples(p.max_samples)),
            MaxSamples::Fraction(f) if !fraction_ok(f, 1.0) => {
                return Err(ParamError::MaxSamples(p.max_samples));
            }
            _ => {}
        }
        match p.max_features {
            MaxFeatures::Count(0) => return Err(ParamError::MaxFeatures(p.max_features)),
            MaxFeatures::Fraction(f) if !fraction_ok(f, 1.0) => {
                return Err(ParamError::MaxFeatures(p.max_features));
            }
            _ => {}
        }
        if let Contamination::Fraction(f) = p.contamination
            && !fraction_ok(f, 0.5)
        {
            return Err(ParamError::Contamination(f));
        }
        Ok(())
    }

    fn checked(self) -> Result<IsolationForestValidParams, ParamError> {
        self.check_values()?;
        Ok(self.0)
    }
}

impl From<IsolationForestValidParams> for IsolationForestParams {
    fn from(p: IsolationForestValidParams) -> Self {
        Self(p)
    }
}

fn fraction_ok(f: f64, max: f64) -> bool {
    f.is_finite() && f > 0.0 && f <= max
}

impl ParamGuard for IsolationForestParams {
    type Checked = IsolationForestValidParams;
    type Error = ForestError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        self.check_values()?;
        Ok(&self.0)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        Ok(self.checked()?)
    }
}

impl fmt::Display for MaxSamples {
    /// As the CLI takes it: `auto`, a count, or a fraction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxSamples::Auto => write!(f, "auto"),
            MaxSamples::Count(c) => write!(f, "{c}"),
            MaxSamples::Fraction(x) => write!(f, "{x}"),
        }
    }
}

impl fmt::Display for MaxFeatures {
    /// As the CLI takes it: `all`, a count, or a fraction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxFeatures::All => write!(f, "all"),
            MaxFeatures::Count(c) => write!(f, "{c}"),
            MaxFeatures::Fraction(x) => write!(f, "{x}"),
        }
    }
}

impl MaxSamples {
    /// Rows per tree for a training set of `n_rows` rows.
    pub fn resolve(self, n_rows: usize) -> usize {
        let m = match self {
            MaxSamples::Auto => 256,
            MaxSamples::Count(c) => c,
            MaxSamples::Fraction(f) => (f * n_rows as f64) as usize,
        };
        m.clamp(1, n_rows.max(1))
    }
}

impl MaxFeatures {
    /// Features per tree for data with `n_features` columns.
    pub fn resolve(self, n_features: usize) -> usize {
        let m = match self {
            MaxFeatures::All => n_features,
            MaxFeatures::Count(c) => c,
            MaxFeatures::Fraction(f) => (f * n_features as f64) as usize,
        };
        m.clamp(1, n_features.max(1))
    }
}

/// Parses `auto`, a whole number (count) or a number with a decimal point (fraction).
fn parse_count_or_fraction(s: &str, what: &str) -> Result<Result<usize, f64>, String> {
    let s = s.trim();
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(c) = s.parse::<usize>() {
            return Ok(Ok(c));
        }
    } else if let Ok(f) = s.parse::<f64>() {
        return Ok(Err(f));
    }
    Err(format!(
        "{what} must be 'auto', a count like 256 or a fraction like 0.5, got '{s}'"
    ))
}

impl FromStr for MaxSamples {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(MaxSamples::Auto);
        }
        Ok(match parse_count_or_fraction(s, "max_samples")? {
            Ok(c) => MaxSamples::Count(c),
            Err(f) => MaxSamples::Fraction(f),
        })
    }
}

impl FromStr for MaxFeatures {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("all") || s.trim() == "1.0" {
            return Ok(MaxFeatures::All);
        }
        Ok(match parse_count_or_fraction(s, "max_features")? {
            Ok(c) => MaxFeatures::Count(c),
            Err(f) => MaxFeatures::Fraction(f),
        })
    }
}

impl FromStr for Contamination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(Contamination::Auto);
        }
        s.trim()
            .parse::<f64>()
            .map(Contamination::Fraction)
            .map_err(|_| format!("contamination must be 'auto' or a fraction like 0.1, got '{s}'"))
    }
}

impl fmt::Display for Contamination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contamination::Auto => f.write_str("auto"),
            Contamination::Fraction(x) => write!(f, "{x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_sklearn() {
        let p = IsolationForestParams::default().check().unwrap();
        assert_eq!(p.n_trees, 100);
        assert_eq!(p.max_samples, MaxSamples::Auto);
        assert_eq!(p.contamination, Contamination::Auto);
        assert!(!p.bootstrap);
    }

    #[test]
    fn invalid_params_are_named() {
        let cases = [
            (IsolationForestParams::new().n_trees(0), "n_trees"),
            (
                IsolationForestParams::new().max_samples(MaxSamples::Count(0)),
                "max_samples",
            ),
            (
                IsolationForestParams::new().max_samples(MaxSamples::Fraction(1.5)),
                "max_samples",
            ),
            (
                IsolationForestParams::new().max_features(MaxFeatures::Fraction(0.0)),
                "max_features",
            ),
            (
                IsolationForestParams::new().contamination(Contamination::Fraction(0.6)),
                "contamination",
            ),
            (
                IsolationForestParams::new().contamination(Contamination::Fraction(f64::NAN)),
                "contamination",
            ),
        ];
        for (params, word) in cases {
            let err = params.check().unwrap_err().to_string();
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn resolve_like_sklearn() {
        assert_eq!(MaxSamples::Auto.resolve(10_000), 256);
        assert_eq!(MaxSamples::Auto.resolve(100), 100);
        assert_eq!(MaxSamples::Count(500).resolve(100), 100);
        assert_eq!(MaxSamples::Fraction(0.5).resolve(101), 50);
        assert_eq!(MaxFeatures::Fraction(0.5).resolve(5), 2);
        assert_eq!(MaxFeatures::Count(9).resolve(5), 5);
    }

    #[test]
    fn parse_from_strings() {
        assert_eq!("auto".parse::<MaxSamples>().unwrap(), MaxSamples::Auto);
        assert_eq!("128".parse::<MaxSamples>().unwrap(), MaxSamples::Count(128));
        assert_eq!(
            "0.25".parse::<MaxSamples>().unwrap(),
            MaxSamples::Fraction(0.25)
        );
        assert!("lots".parse::<MaxSamples>().is_err());
        assert_eq!(
            "0.1".parse::<Contamination>().unwrap(),
            Contamination::Fraction(0.1)
        );
        assert_eq!("all".parse::<MaxFeatures>().unwrap(), MaxFeatures::All);
    }
}
