//! The `/invocations` contract, defined once: what a request may look like, what the answer
//! looks like, and which status each problem gets. The server, the stream consumer, the Lambda
//! and the tests all use this module, so a producer and a consumer cannot drift apart (the
//! tutorial's pipeline broke exactly there: CSV written, JSON read).
//!
//! Accepted bodies (`Content-Type`):
//!
//! * `application/json`, in the shapes `pandas.DataFrame(body)` users send:
//!   a list of records `[{"feature_1": 1.5, …}, …]`, a dict of columns
//!   `{"feature_1": [1.5, …], …}`, or a single record `{"feature_1": 1.5, …}`.
//!   Features are matched **by name**, in any order; other keys (a timestamp, say) are ignored,
//!   except `series`, which names the series a row belongs to (rows without one belong to the
//!   series `default`).
//! * `application/json` with **context**: `{"context": {"<series>": [row, …]}, "instances": rows}`,
//!   where `instances` is any of the shapes above and each context row is a record (features by
//!   name) or a list of numbers in the model's feature order, oldest first. Context rows are the
//!   series' past: they fill a windowed model's trailing window and are **never scored**. This is
//!   how a stream consumer, which keeps each series' last rows, gets the same answer from any
//!   server instance, in any order, after any restart: the server keeps no state at all.
//! * `text/csv`: rows of numbers, with a header (matched by name, extra columns ignored) or
//!   without one (exactly the model's features, in the model's order). CSV carries no context.
//!
//! Rows without context are windowed per series in request order, from an empty past. A row whose
//! window is not yet full is scored but never flagged (see [`crate::detector::Detector::decide`]).
//!
//! The answer is `{"predictions": [1, -1, …]}` (-1 = anomaly), exactly the tutorial's, so its
//! clients keep working; asked for details it adds `scores` (scikit-learn's `score_samples`,
//! lower = more abnormal), `anomalies` (booleans), `warming_up` (booleans) and `context_rows` (how
//! many preceding rows of a series the model uses, i.e. what a consumer should send as context).
//!
//! ```
//! use anomaly_kit::contract::{parse_request, ContractError};
//! let names = vec!["a".to_string(), "b".to_string()];
//! let rows = parse_request("application/json", br#"[{"b": 2, "a": 1, "time": "x"}]"#, &names)?;
//! assert_eq!(rows.values.row(0).to_vec(), vec![1.0, 2.0]);
//! let with_past = parse_request(
//!     "application/json",
//!     br#"{"context": {"pump-7": [[0.5, 1.5], {"a": 0.7, "b": 1.7}]},
//!          "instances": [{"a": 1, "b": 2, "series": "pump-7"}]}"#,
//!     &names,
//! )?;
//! assert_eq!(with_past.values.nrows(), 1); // only instances are scored
//! assert_eq!(with_past.context["pump-7"].row(1).to_vec(), vec![0.7, 1.7]);
//! let err = parse_request("application/json", br#"{"a": 1}"#, &names).unwrap_err();
//! assert_eq!(err.status(), 400);
//! assert!(err.to_string().contains("'b'"));
//! # Ok::<(), ContractError>(())
//! ```

use std::collections::BTreeMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::detector::Scored;

/// The key that names a row's series in JSON records.
pub const SERIES_KEY: &str = "series";
/// The envelope key holding each series' preceding rows.
pub const CONTEXT_KEY: &str = "context";
/// The envelope key holding the rows to score.
pub const INSTANCES_KEY: &str = "instances";
/// The series of rows that name none.
pub const DEFAULT_SERIES: &str = "default";

/// The series a row belongs to: its `series`, or [`DEFAULT_SERIES`].
pub fn series_name(series: Option<&str>) -> &str {
    series.unwrap_or(DEFAULT_SERIES)
}

/// Why a request cannot be scored. Every variant is the client's problem (4xx), never a 500.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum ContractError {
    /// The `Content-Type` is neither `application/json` nor `text/csv` (the header as sent).
    #[error("unsupported content type '{0}': send application/json or text/csv")]
    UnsupportedMediaType(String),
    /// The body does not parse as JSON (the parser's message).
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body does not parse as CSV (the parser's message).
    #[error("the body is not valid CSV: {0}")]
    MalformedCsv(String),
    /// The body parses but holds no row to score (an empty list or columns, a lone CSV header).
    #[error("the body holds no rows")]
    NoRows,
    /// The JSON is valid but not one of the accepted shapes (the message says which part).
    #[error("{0}")]
    Shape(String),
    /// A row lacks one of the model's features (a JSON key, a column or a CSV header column).
    #[error("row {row}: feature '{feature}' is missing")]
    MissingFeature {
        /// Row index, from 0 (0 when a whole column or header column is missing).
        row: usize,
        /// Name of the missing feature.
        feature: String,
    },
    /// A feature's value is not a finite number (a string, `null`, NaN, an infinity…).
    #[error("row {row}: feature '{feature}' is {found}, not a number")]
    NotNumeric {
        /// Row index, from 0.
        row: usize,
        /// Name of the feature.
        feature: String,
        /// What was sent instead, as the message quotes it (text cut short by [`bounded`]).
        found: String,
    },
    /// A CSV row without header holds a different number of values than the model has features.
    #[error("row {row}: expected {expected} values (the model's features: {names}), got {got}")]
    WrongCount {
        /// Row index, from 0.
        row: usize,
        /// Values a row must hold: the model's feature count.
        expected: usize,
        /// Values the row holds.
        got: usize,
        /// The model's feature names, in order, comma-separated.
        names: String,
    },
    /// A series that is not a string. Numbers are refused rather than turned into text: `1`
    /// and `"1"` would silently be one series, and context keys (JSON object keys) are strings.
    #[error("row {row}: series must be a string, got {found}")]
    BadSeries {
        /// Row index, from 0.
        row: usize,
        /// What was sent instead of a string, described.
        found: String,
    },
    /// A series' context is not a list of rows, or one of its rows has the wrong shape, lacks a
    /// feature or holds a value that is not a finite number.
    #[error("context of series '{series}', row {row}: {problem}")]
    BadContext {
        /// The series whose context is at fault (cut short by [`bounded`]).
        series: String,
        /// Index of the row within that series' context, from 0.
        row: usize,
        /// What is wrong with it.
        problem: String,
    },
}

impl ContractError {
    /// The HTTP status for this problem: 415 for the content type, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            ContractError::UnsupportedMediaType(_) => 415,
            _ => 400,
        }
    }
}

/// The rows of a request, in the model's feature order.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    /// rows x model features
    pub values: Array2<f64>,
    /// The `series` of each row, when given.
    pub series: Vec<Option<String>>,
    /// Each series' preceding rows (oldest first, model feature order): used for features,
    /// never scored.
    pub context: BTreeMap<String, Array2<f64>>,
}

impl Rows {
    /// Rows without context.
    pub fn new(values: Array2<f64>, series: Vec<Option<String>>) -> Self {
        Self {
            values,
            series,
            context: BTreeMap::new(),
        }
    }
}

/// The answer to an invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// -1 for an anomaly, 1 for a normal row (scikit-learn's `predict`).
    pub predictions: Vec<i32>,
    /// `score_samples` per row, lower = more abnormal (only when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<f64>>,
    /// `true` per anomalous row (only when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomalies: Option<Vec<bool>>,
    /// `true` per row whose window was not yet full: scored, never flagged (only when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warming_up: Option<Vec<bool>>,
    /// How many preceding rows of a series the model uses: what to send as context (only when
    /// asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_rows: Option<usize>,
}

/// How many of `predictions` (-1/1, [`crate::forest::prediction`]) say "anomaly".
pub fn anomaly_count(predictions: &[i32]) -> usize {
    predictions
        .iter()
        .filter(|&&p| crate::forest::is_anomaly_prediction(p))
        .count()
}

impl Predictions {
    /// The answer for rows a detector scored; `detailed` adds scores, flags and warm-up.
    pub fn new(scored: &Scored, detailed: bool) -> Self {
        Self {
            predictions: scored.predictions(),
            scores: detailed.then(|| scored.scores.clone()),
            anomalies: detailed.then(|| scored.anomalies.clone()),
            warming_up: detailed.then(|| scored.warming_up.clone()),
            context_rows: detailed.then_some(scored.context_rows),
        }
    }

    /// Rows flagged as anomalies.
    pub fn anomaly_count(&self) -> usize {
        anomaly_count(&self.predictions)
    }
}

/// The JSON body of an error answer: `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words, for the client to read.
    pub error: String,
}

/// Parses a request body for a model whose features are `names` (in the model's order).
pub fn parse_request(
    content_type: &str,
    body: &[u8],
    names: &[String],
) -> Result<Rows, ContractError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => parse_json(body, names),
        "text/csv" => parse_csv(body, names),
        _ => Err(ContractError::UnsupportedMediaType(
            content_type.to_string(),
        )),
    }
}

fn parse_json(body: &[u8], names: &[String]) -> Result<Rows, ContractError> {
    if let Some(rows) = fast::records(body, names) {
        return Ok(rows);
    }
    general_json(body, names)
}

/// Any accepted JSON shape, through a `Value` tree; also the path that explains errors.
fn general_json(body: &[u8], names: &[String]) -> Result<Rows, ContractError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ContractError::MalformedJson(e.to_string()))?;
    match value {
        Value::Object(mut map)
            if map.contains_key(CONTEXT_KEY) && !names.iter().any(|n| n == CONTEXT_KEY) =>
        {
            let instances = map.remove(INSTANCES_KEY).ok_or_else(|| {
                ContractError::Shape(format!(
                    "a request with '{CONTEXT_KEY}' puts the rows to score under '{INSTANCES_KEY}'"
                ))
            })?;
            if let Some(other) = map.keys().find(|k| *k != CONTEXT_KEY) {
                return Err(ContractError::Shape(format!(
                    "a request with '{CONTEXT_KEY}' holds only '{CONTEXT_KEY}' and '{INSTANCES_KEY}', not '{}'",
                    bounded(other)
                )));
            }
            let context = parse_context(map.remove(CONTEXT_KEY).unwrap_or(Value::Null), names)?;
            let mut rows = rows_of(instances, names)?;
            rows.context = context;
            Ok(rows)
        }
        other => rows_of(other, names),
    }
}

/// The rows of a JSON document in one of the plain shapes.
fn rows_of(value: Value, names: &[String]) -> Result<Rows, ContractError> {
    match value {
        Value::Array(records) => from_records(&records, names),
        Value::Object(map) if !map.is_empty() && map.iter().all(|(k, v)| v.is_array() || k == SERIES_KEY) => {
            from_columns(&map, names)
        }
        Value::Object(map) if map.values().any(Value::is_array) => Err(ContractError::Shape(
            "a JSON object must hold either one value per feature (one record) or one list per feature (columns), not both".into(),
        )),
        Value::Object(map) => from_records(std::slice::from_ref(&Value::Object(map)), names),
        other => Err(ContractError::Shape(format!(
            "expected a list of records, a dict of columns or one record, got a JSON {}",
            json_kind(&other)
        ))),
    }
}

/// `{"<series>": [row, …]}`: each row a record by name or a list in model order.
fn parse_context(
    value: Value,
    names: &[String],
) -> Result<BTreeMap<String, Array2<f64>>, ContractError> {
    let Value::Object(map) = value else {
        return Err(ContractError::Shape(format!(
            "'{CONTEXT_KEY}' must map each series to a list of its preceding rows, got a JSON {}",
            json_kind(&value)
        )));
    };
    let mut context = BTreeMap::new();
    for (series, rows) in map {
        let bad = |row: usize, problem: String| ContractError::BadContext {
            series: bounded(&series),
            row,
            // the value errors name their row already; say it once
            problem: problem
                .strip_prefix(&format!("row {row}: "))
                .map_or(problem.clone(), str::to_string),
        };
        let Value::Array(rows) = rows else {
            return Err(bad(
                0,
                format!("expected a list of rows, got a JSON {}", json_kind(&rows)),
            ));
        };
        let mut flat = Vec::with_capacity(rows.len() * names.len());
        for (row, r) in rows.iter().enumerate() {
            match r {
                Value::Object(record) => {
                    for name in names {
                        flat.push(
                            number(record.get(name), row, name)
                                .map_err(|e| bad(row, e.to_string()))?,
                        );
                    }
                }
                Value::Array(values) if values.len() == names.len() => {
                    for (v, name) in values.iter().zip(names) {
                        flat.push(number(Some(v), row, name).map_err(|e| bad(row, e.to_string()))?);
                    }
                }
                Value::Array(values) => {
                    return Err(bad(
                        row,
                        format!(
                            "a list row holds the model's {} features in order ({}), got {} values",
                            names.len(),
                            names.join(", "),
                            values.len()
                        ),
                    ));
                }
                other => {
                    return Err(bad(
                        row,
                        format!(
                            "a row is a record or a list of numbers, not a JSON {}",
                            json_kind(other)
                        ),
                    ));
                }
            }
        }
        let values = Array2::from_shape_vec((rows.len(), names.len()), flat)
            .expect("one value per feature per row");
        context.insert(series, values);
    }
    Ok(context)
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn number(v: Option<&Value>, row: usize, feature: &str) -> Result<f64, ContractError> {
    match v {
        None => Err(ContractError::MissingFeature {
            row,
            feature: feature.into(),
        }),
        Some(Value::Number(n)) => {
            n.as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| ContractError::NotNumeric {
                    row,
                    feature: feature.into(),
                    found: n.to_string(),
                })
        }
        Some(other) => Err(ContractError::NotNumeric {
            row,
            feature: feature.into(),
            found: describe(other),
        }),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {:?}", bounded(s)),
        other => format!("a JSON {}", json_kind(other)),
    }
}

/// Characters of a client's value quoted back in an error message, at most: enough to
/// recognise it, never a whole 20 MB cell.
pub const MAX_QUOTED_CHARS: usize = 40;

/// `s` cut to [`MAX_QUOTED_CHARS`] characters, with `…` when something was left out: the one
/// way an error quotes what a client sent.
///
/// ```
/// use anomaly_kit::contract::{bounded, MAX_QUOTED_CHARS};
/// assert_eq!(bounded("1.5x"), "1.5x");
/// let long = "9".repeat(20_000_000);
/// assert_eq!(bounded(&long).chars().count(), MAX_QUOTED_CHARS + 1);
/// ```
pub fn bounded(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

pub(crate) fn series_of(v: Option<&Value>, row: usize) -> Result<Option<String>, ContractError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => {
            let n = bounded(&n.to_string());
            Err(ContractError::BadSeries {
                row,
                found: format!("the number {n} (send it as the string \"{n}\")"),
            })
        }
        Some(other) => Err(ContractError::BadSeries {
            row,
            found: format!("a JSON {}", json_kind(other)),
        }),
    }
}

fn from_records(records: &[Value], names: &[String]) -> Result<Rows, ContractError> {
    if records.is_empty() {
        return Err(ContractError::NoRows);
    }
    let mut flat = Vec::with_capacity(records.len() * names.len());
    let mut series = Vec::with_capacity(records.len());
    for (row, record) in records.iter().enumerate() {
        let Value::Object(map) = record else {
            return Err(ContractError::Shape(format!(
                "row {row} is a JSON {}, not a record (object)",
                json_kind(record)
            )));
        };
        for name in names {
            flat.push(number(map.get(name), row, name)?);
        }
        series.push(series_of(map.get(SERIES_KEY), row)?);
    }
    let values = Array2::from_shape_vec((records.len(), names.len()), flat)
        .expect("one value per feature per row");
    Ok(Rows::new(values, series))
}

fn from_columns(
    map: &serde_json::Map<String, Value>,
    names: &[String],
) -> Result<Rows, ContractError> {
    let column = |name: &str| -> Result<&Vec<Value>, ContractError> {
        match map.get(name) {
            Some(Value::Array(v)) => Ok(v),
            Some(_) => Err(ContractError::Shape(format!(
                "column '{name}' must be a list"
            ))),
            None => Err(ContractError::MissingFeature {
                row: 0,
                feature: name.into(),
            }),
        }
    };
    let columns: Vec<&Vec<Value>> = names.iter().map(|n| column(n)).collect::<Result<_, _>>()?;
    let n_rows = columns.first().map_or(0, |c| c.len());
    if n_rows == 0 {
        return Err(ContractError::NoRows);
    }
    if let Some((name, c)) = names.iter().zip(&columns).find(|(_, c)| c.len() != n_rows) {
        return Err(ContractError::Shape(format!(
            "column '{name}' has {} values but '{}' has {n_rows}",
            c.len(),
            names[0]
        )));
    }
    let series: Vec<Option<String>> = match map.get(SERIES_KEY) {
        None => vec![None; n_rows],
        Some(Value::Array(s)) if s.len() == n_rows => s
            .iter()
            .enumerate()
            .map(|(row, v)| series_of(Some(v), row))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ContractError::Shape(format!(
                "column '{SERIES_KEY}' must be a list of {n_rows} values"
            )));
        }
    };
    let mut values = Array2::zeros((n_rows, names.len()));
    for (j, (name, c)) in names.iter().zip(&columns).enumerate() {
        for (row, v) in c.iter().enumerate() {
            values[[row, j]] = number(Some(v), row, name)?;
        }
    }
    Ok(Rows::new(values, series))
}

fn parse_csv(body: &[u8], names: &[String]) -> Result<Rows, ContractError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let mut records = reader.records();
    let first = match records.next() {
        None => return Err(ContractError::NoRows),
        Some(r) => r.map_err(|e| ContractError::MalformedCsv(e.to_string()))?,
    };
    // A header names a column the model reads (or the series), or holds no number at all; a
    // first row of numbers with one bad cell is data, and its error names that cell.
    let is_header = first
        .iter()
        .any(|f| f == SERIES_KEY || names.iter().any(|n| n == f))
        || first.iter().all(|f| f.parse::<f64>().is_err());
    // column of each model feature, and of the series (header only)
    let (columns, series_at, data_rows) = if is_header {
        let header: Vec<&str> = first.iter().collect();
        let columns: Vec<usize> = names
            .iter()
            .map(|n| {
                header
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| ContractError::MissingFeature {
                        row: 0,
                        feature: n.clone(),
                    })
            })
            .collect::<Result<_, _>>()?;
        (columns, header.iter().position(|h| *h == SERIES_KEY), None)
    } else {
        ((0..names.len()).collect(), None, Some(first))
    };
    let mut flat = Vec::new();
    let mut series = Vec::new();
    let rest = records.map(|r| r.map_err(|e| ContractError::MalformedCsv(e.to_string())));
    for (row, record) in data_rows.into_iter().map(Ok).chain(rest).enumerate() {
        let record = record?;
        if !is_header && record.len() != names.len() {
            return Err(ContractError::WrongCount {
                row,
                expected: names.len(),
                got: record.len(),
                names: names.join(", "),
            });
        }
        for (&at, name) in columns.iter().zip(names) {
            let text = record
                .get(at)
                .ok_or_else(|| ContractError::MissingFeature {
                    row,
                    feature: name.clone(),
                })?;
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => flat.push(v),
                _ => {
                    return Err(ContractError::NotNumeric {
                        row,
                        feature: name.clone(),
                        found: format!("{:?}", bounded(text)),
                    });
                }
            }
        }
        series.push(series_at.and_then(|i| record.get(i)).map(str::to_string));
    }
    if series.is_empty() {
        return Err(ContractError::NoRows);
    }
    let values = Array2::from_shape_vec((series.len(), names.len()), flat)
        .expect("one value per feature per row");
    Ok(Rows::new(values, series))
}

/// The common request — a list of flat records — read straight into the row buffer: keys are
/// borrowed from the body, values of other keys skipped, no tree built. Anything unusual (another
/// shape, an escaped key, a missing or non-numeric feature) returns `None`, and the general path
/// parses the body again and says what is wrong.
mod fast {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

    use super::{Rows, SERIES_KEY, Value, series_of};

    struct Records<'a> {
        names: &'a [String],
        flat: Vec<f64>,
        series: Vec<Option<String>>,
    }

    pub(super) fn records(body: &[u8], names: &[String]) -> Option<Rows> {
        let starts_a_list = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if !starts_a_list {
            return None;
        }
        let mut records = Records {
            names,
            flat: Vec::new(),
            series: Vec::new(),
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        de::Deserializer::deserialize_seq(&mut de, &mut records).ok()?;
        de.end().ok()?;
        let n = records.series.len();
        if n == 0 {
            return None;
        }
        let values = ndarray::Array2::from_shape_vec((n, names.len()), records.flat).ok()?;
        Some(Rows::new(values, records.series))
    }

    impl<'de> Visitor<'de> for &mut Records<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Row(&mut *self))?.is_some() {}
            Ok(())
        }
    }

    struct Row<'r, 'a>(&'r mut Records<'a>);

    impl<'de> DeserializeSeed<'de> for Row<'_, '_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Row<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a record")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            let records = self.0;
            let start = records.flat.len();
            records.flat.resize(start + records.names.len(), f64::NAN);
            let mut series = None;
            while let Some(key) = map.next_key::<&'de str>()? {
                if let Some(j) = records.names.iter().position(|n| n == key) {
                    records.flat[start + j] = map.next_value::<f64>()?;
                } else if key == SERIES_KEY {
                    let row = records.series.len();
                    series = series_of(Some(&map.next_value::<Value>()?), row)
                        .map_err(de::Error::custom)?;
                } else {
                    // read as a `Value`, exactly as the general path does, so both refuse the
                    // same documents: invalid UTF-8 or a lone surrogate in a string, nesting
                    // past serde_json's depth limit (skipping with `IgnoredAny` let them pass)
                    map.next_value::<Value>()?;
                }
            }
            if records.flat[start..].iter().any(|v| v.is_nan()) {
                return Err(de::Error::custom("a feature is missing"));
            }
            records.series.push(series);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names() -> Vec<String> {
        vec!["feature_1".into(), "feature_2".into()]
    }

    /// A JSON number text for any finite `f64` (Rust's shortest round-trip form).
    fn any_finite_json_number() -> impl Strategy<Value = String> {
        crate::test_support::any_finite().prop_map(|v| format!("{v:?}"))
    }

    /// The raw bytes of a value under an ignored key: ordinary, or one the general path refuses.
    fn extra_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(br#""2020-01-01 00:00:00""#.to_vec()),
            Just(br#"{"nested": [1, 2, {"x": null}]}"#.to_vec()),
            Just(b"\"caf\xe9\"".to_vec()), // invalid UTF-8 in a string
            Just(br#""\ud800""#.to_vec()), // a lone surrogate
            Just(br#""\udc00\ud800x""#.to_vec()), // surrogates in the wrong order
            (1usize..300).prop_map(|d| [vec![b'['; d], vec![b']'; d]].concat()), // nesting
            "[ -~]{0,12}".prop_map(|t| serde_json::to_vec(&t).unwrap()),
        ]
    }

    fn json(body: &str) -> Result<Rows, ContractError> {
        parse_request("application/json", body.as_bytes(), &names())
    }

    #[test]
    fn every_json_shape_gives_the_same_rows() {
        let records = json(r#"[{"feature_1": 1, "feature_2": 2.5}, {"feature_2": 4, "feature_1": 3, "timestamp": "2020-01-01 00:00:00"}]"#).unwrap();
        let columns = json(r#"{"feature_2": [2.5, 4], "feature_1": [1, 3]}"#).unwrap();
        assert_eq!(records.values, columns.values);
        assert_eq!(records.values.row(1).to_vec(), vec![3.0, 4.0]);
        let single = json(r#"{"feature_1": 1, "feature_2": 2.5, "extra": [1, 2]}"#);
        assert!(
            matches!(single, Err(ContractError::Shape(_))),
            "mixed scalars and lists are ambiguous"
        );
        let single = json(r#"{"feature_1": 1, "feature_2": 2.5}"#).unwrap();
        assert_eq!(single.values.dim(), (1, 2));
    }

    #[test]
    fn series_is_read_from_records_columns_and_csv() {
        let r = json(r#"[{"feature_1": 1, "feature_2": 2, "series": "pump-7"}, {"feature_1": 1, "feature_2": 2}]"#).unwrap();
        assert_eq!(r.series, vec![Some("pump-7".into()), None]);
        // a number is not a series name: 3 and "3" would be the same series
        let e = json(r#"[{"feature_1": 1, "feature_2": 2, "series": 3}]"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"row 0: series must be a string, got the number 3 (send it as the string "3")"#
        );
        let c = json(r#"{"feature_1": [1], "feature_2": [2], "series": ["a"]}"#).unwrap();
        assert_eq!(c.series, vec![Some("a".into())]);
        let csv =
            parse_request("text/csv", b"series,feature_2,feature_1\nx,2,1\n", &names()).unwrap();
        assert_eq!(csv.series, vec![Some("x".into())]);
        assert_eq!(csv.values.row(0).to_vec(), vec![1.0, 2.0]);
    }

    /// A headerless body with a bad cell in its first row used to be taken for a header and
    /// answered "feature 'feature_1' is missing"; it is data, and the error names the cell.
    #[test]
    fn a_bad_first_row_of_headerless_csv_names_its_cell() {
        let e = parse_request("text/csv", b"1.5,oops\n2,3\n", &names()).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"row 0: feature 'feature_2' is "oops", not a number"#
        );
        // a header that names none of the features says which one is missing
        let e = parse_request("text/csv", b"x,y\n1,2\n", &names()).unwrap_err();
        assert!(matches!(e, ContractError::MissingFeature { .. }), "{e}");
        // a 20 MB cell is quoted in part
        let body = format!("1,{}\n", "9x".repeat(10_000_000));
        let e = parse_request("text/csv", body.as_bytes(), &names())
            .unwrap_err()
            .to_string();
        assert!(e.len() < 200, "{} bytes", e.len());
    }

    #[test]
    fn csv_with_and_without_header() {
        let plain = parse_request("text/csv; charset=utf-8", b"1,2\n3,4\n", &names()).unwrap();
        assert_eq!(plain.values.row(1).to_vec(), vec![3.0, 4.0]);
        let header = parse_request(
            "text/csv",
            b"timestamp,feature_2,feature_1\n2020-01-01,2,1\n",
            &names(),
        )
        .unwrap();
        assert_eq!(header.values.row(0).to_vec(), vec![1.0, 2.0]);
        let e = parse_request("text/csv", b"1,2,3\n", &names()).unwrap_err();
        assert!(
            matches!(
                e,
                ContractError::WrongCount {
                    expected: 2,
                    got: 3,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn each_bad_input_gets_its_own_message() {
        let cases: Vec<(&str, &[u8], &str)> = vec![
            ("text/plain", b"1,2", "unsupported content type"),
            ("application/json", b"{not json", "not valid JSON"),
            ("application/json", b"[]", "no rows"),
            ("application/json", b"42", "got a JSON number"),
            (
                "application/json",
                br#"[{"feature_1": 1}]"#,
                "'feature_2' is missing",
            ),
            (
                "application/json",
                br#"[{"feature_1": 1, "feature_2": "NaN"}]"#,
                "the string \"NaN\"",
            ),
            (
                "application/json",
                br#"[{"feature_1": 1, "feature_2": null}]"#,
                "a JSON null",
            ),
            (
                "application/json",
                br#"[{"feature_1": 1, "feature_2": 1e999}]"#,
                "not valid JSON",
            ),
            (
                "application/json",
                br#"{"feature_1": [1, 2], "feature_2": [1]}"#,
                "has 1 values",
            ),
            ("application/json", br#"[1, 2]"#, "not a record"),
            ("text/csv", b"", "no rows"),
            ("text/csv", b"1,inf\n", "not a number"),
            ("text/csv", b"feature_1\n1\n", "'feature_2' is missing"),
        ];
        for (content_type, body, expected) in cases {
            let err = parse_request(content_type, body, &names()).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{content_type} {:?}: {err}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(
                err.status(),
                if content_type == "text/plain" {
                    415
                } else {
                    400
                }
            );
        }
    }

    #[test]
    fn predictions_match_the_tutorial_shape() {
        let scored = Scored {
            scores: vec![-0.6, -0.4, -0.7],
            warming_up: vec![false, false, true],
            anomalies: vec![true, false, false],
            context_rows: 15,
        };
        let p = Predictions::new(&scored, false);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"predictions":[-1,1,1]}"#
        );
        let d = Predictions::new(&scored, true);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"predictions":[-1,1,1],"scores":[-0.6,-0.4,-0.7],"anomalies":[true,false,false],"warming_up":[false,false,true],"context_rows":15}"#
        );
        assert_eq!(d.anomaly_count(), 1);
    }

    #[test]
    fn context_envelope_is_read_and_checked() {
        let r = json(r#"{"context": {"a": [[1, 2], {"feature_2": 4, "feature_1": 3, "x": "y"}], "b": []}, "instances": {"feature_1": [5], "feature_2": [6], "series": ["a"]}}"#).unwrap();
        assert_eq!(r.values.row(0).to_vec(), vec![5.0, 6.0]);
        assert_eq!(r.context["a"].column(0).to_vec(), vec![1.0, 3.0]);
        assert_eq!(r.context["b"].nrows(), 0);
        let cases = [
            (r#"{"context": {}}"#, "under 'instances'"),
            (
                r#"{"context": {}, "instances": [], "extra": 1}"#,
                "not 'extra'",
            ),
            (
                r#"{"context": [], "instances": [{"feature_1": 1, "feature_2": 2}]}"#,
                "must map each series",
            ),
            (
                r#"{"context": {"a": [[1]]}, "instances": [{"feature_1": 1, "feature_2": 2}]}"#,
                "context of series 'a', row 0",
            ),
            (
                r#"{"context": {"a": [[1, 2], {"feature_1": 1}]}, "instances": [{"feature_1": 1, "feature_2": 2}]}"#,
                "row 1: feature 'feature_2' is missing",
            ),
            (
                r#"{"context": {"a": [[1, "x"]]}, "instances": [{"feature_1": 1, "feature_2": 2}]}"#,
                "not a number",
            ),
            (
                r#"{"context": {"a": 3}, "instances": [{"feature_1": 1, "feature_2": 2}]}"#,
                "expected a list of rows",
            ),
            (r#"{"context": {}, "instances": []}"#, "no rows"),
        ];
        for (body, expected) in cases {
            let e = json(body).unwrap_err();
            assert!(e.to_string().contains(expected), "{body}: {e}");
            assert_eq!(e.status(), 400);
        }
    }

    proptest! {
        /// No body, however odd, makes the parser panic; it answers rows or an error.
        #[test]
        fn the_parser_never_panics(body in prop::collection::vec(any::<u8>(), 0..300), csv in any::<bool>()) {
            let ct = if csv { "text/csv" } else { "application/json" };
            let _ = parse_request(ct, &body, &names());
        }

        #[test]
        fn json_like_bodies_never_panic(body in r#"[\[\]{}"a-z_0-9:,. -]{0,120}"#) {
            let _ = parse_request("application/json", body.as_bytes(), &names());
        }

        /// The fast path and the general path read the same rows from any list of records.
        #[test]
        fn fast_and_general_paths_agree(
            rows in prop::collection::vec((-1e6f64..1e6, -1e6f64..1e6, prop::option::of("[a-z]{1,4}"), any::<bool>()), 1..12),
        ) {
            let records: Vec<Value> = rows.iter().map(|(a, b, series, extra)| {
                let mut r = serde_json::json!({"feature_2": b, "feature_1": a});
                if let Some(s) = series { r["series"] = serde_json::json!(s); }
                if *extra { r["timestamp"] = serde_json::json!("2020-01-01 00:00:00"); }
                r
            }).collect();
            let body = serde_json::to_vec(&records).unwrap();
            let fast = fast::records(&body, &names()).expect("the common shape takes the fast path");
            let general = general_json(&body, &names()).unwrap();
            prop_assert_eq!(fast, general);
        }

        /// Both JSON paths accept and refuse exactly the same documents, hostile ones
        /// included: whatever the fast path reads, the general path reads identically, and
        /// whatever the general path refuses, the fast path does not read.
        #[test]
        fn fast_and_general_paths_agree_on_hostile_documents(
            rows in prop::collection::vec((any_finite_json_number(), any_finite_json_number(), extra_value()), 1..6),
            garbage_at in prop::option::of(0usize..400),
            garbage in prop::collection::vec(any::<u8>(), 1..4),
        ) {
            let mut body = b"[".to_vec();
            for (i, (a, b, extra)) in rows.iter().enumerate() {
                if i > 0 { body.push(b','); }
                body.extend_from_slice(format!(r#"{{"feature_1": {a}, "note": "#).as_bytes());
                body.extend_from_slice(extra);
                body.extend_from_slice(format!(r#", "feature_2": {b}}}"#).as_bytes());
            }
            body.push(b']');
            if let Some(at) = garbage_at {
                let at = at.min(body.len());
                body.splice(at..at, garbage.iter().copied());
            }
            let general = general_json(&body, &names());
            // where the fast path declines, the general path decides (and names the problem)
            if let Some(fast) = fast::records(&body, &names()) {
                prop_assert_eq!(Ok(fast), general);
            }
        }

        /// The parser is total: any bytes, any content type, an answer or an error, no panic;
        /// and the same bytes give the same answer twice.
        #[test]
        fn any_bytes_get_an_answer_or_an_error(
            body in prop::collection::vec(any::<u8>(), 0..300),
            json_like in any::<bool>(),
        ) {
            let body = if json_like { [b"[{\"feature_1\": ".as_slice(), &body].concat() } else { body };
            for content_type in ["application/json", "text/csv"] {
                let first = parse_request(content_type, &body, &names());
                prop_assert_eq!(first.clone(), parse_request(content_type, &body, &names()));
                if let Err(e) = first {
                    prop_assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());
                }
            }
        }

        #[test]
        fn records_round_trip(rows in prop::collection::vec((-1e9f64..1e9, -1e9f64..1e9), 1..20)) {
            let records: Vec<Value> = rows.iter().map(|(a, b)| serde_json::json!({"feature_1": a, "feature_2": b})).collect();
            let parsed = parse_request("application/json", serde_json::to_string(&records).unwrap().as_bytes(), &names()).unwrap();
            for (i, (a, b)) in rows.iter().enumerate() {
                prop_assert_eq!(parsed.values[[i, 0]], *a);
                prop_assert_eq!(parsed.values[[i, 1]], *b);
            }
        }
    }
}
