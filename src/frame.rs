//! Tables in and out: CSV files (the tutorial's format and any numeric CSV), `.npz` archives
//! (ADBench's format) and polars DataFrames for display.
//!
//! Reading is strict on purpose: a value that is not a finite number is an error naming its row
//! and column, never a silently dropped row.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
#[cfg(feature = "polars")]
use polars::prelude::*;

use crate::synth::Synthetic;

/// Column names taken as the row index (timestamps) when they come first.
const INDEX_NAMES: [&str; 5] = ["timestamp", "time", "date", "datetime", ""];

/// Why a table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// An input file could not be opened for reading.
    #[error("cannot open {path}: {cause}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error (quoted in the message, so not also the `source()`).
        cause: std::io::Error,
    },
    /// An output file or its folder could not be created or written (or is a FIFO or device).
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The I/O error (quoted in the message, so not also the `source()`).
        cause: std::io::Error,
    },
    /// The csv crate failed to read or write a record (a row with too many fields, say).
    #[error("{path}: malformed CSV: {cause}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The csv crate's error (quoted in the message, so not also the `source()`).
        cause: csv::Error,
    },
    /// A column a model (or a caller) needs is not in the table.
    #[error("the model needs column '{wanted}' but the input has {available}")]
    MissingColumn {
        /// The column asked for.
        wanted: String,
        /// The table's column names, comma-separated.
        available: String,
    },
    /// A feature cell is empty, not a number, or not finite (NaN, inf).
    #[error("{path}: row {row}, column '{column}': '{value}' is not a finite number")]
    NotNumeric {
        /// The CSV file.
        path: PathBuf,
        /// 1-based data row (the header not counted).
        row: usize,
        /// The column's name.
        column: String,
        /// The cell's text, cut short if long.
        value: String,
    },
    /// A label cell is not 0 or 1 (`0.0`/`1.0` and `false`/`true` are accepted too).
    #[error("{path}: row {row}, column '{column}': label '{value}' must be 0 or 1")]
    BadLabel {
        /// The CSV file.
        path: PathBuf,
        /// 1-based data row (the header not counted).
        row: usize,
        /// The label column's name.
        column: String,
        /// The cell's text, cut short if long.
        value: String,
    },
    /// A column named by the caller (label, ignored or labels-file column) is not in the header.
    #[error("{path}: no column named '{column}' (columns: {available})")]
    NoSuchColumn {
        /// The CSV file.
        path: PathBuf,
        /// The name asked for.
        column: String,
        /// The header's names, comma-separated.
        available: String,
    },
    /// A header name parses as a number: the file most likely has no header row.
    #[error(
        "{path}: the first row looks like data, not a header (column {column} is named '{name}', a number); add a header row naming the columns, e.g. `timestamp,feature_1,feature_2`"
    )]
    HeaderLooksLikeData {
        /// The CSV file.
        path: PathBuf,
        /// 1-based, as a spreadsheet counts.
        column: usize,
        /// The numeric-looking name, cut short if long.
        name: String,
    },
    /// Two header columns have the same name.
    #[error(
        "{path}: columns {first} and {second} are both named '{name}'; give each column its own name in the header row"
    )]
    DuplicateColumn {
        /// The CSV file.
        path: PathBuf,
        /// The repeated name, cut short if long.
        name: String,
        /// 1-based position of its first column.
        first: usize,
        /// 1-based position of the repeat.
        second: usize,
    },
    /// A column after the first has an empty name (only a leading index column may be unnamed).
    #[error("{path}: column {column} has no name; name every column in the header row")]
    UnnamedColumn {
        /// The CSV file.
        path: PathBuf,
        /// 1-based position of the unnamed column.
        column: usize,
    },
    /// Every column is the index, the label column or ignored.
    #[error("{path}: no feature columns left to read")]
    NoFeatures {
        /// The CSV file.
        path: PathBuf,
    },
    /// The file holds no data rows (a CSV with only a header, or an `.npz` whose `X` is empty).
    #[error("{path}: no data rows")]
    NoRows {
        /// The data file.
        path: PathBuf,
    },
    /// An `.npz` archive could not be read or written, or its `X` or `y` array is unusable.
    #[error("{path}: {detail}")]
    Npz {
        /// The archive.
        path: PathBuf,
        /// What is wrong, in words.
        detail: String,
    },
    /// A labels file has a different number of rows from the data it labels.
    #[error("labels in {labels} have {got} rows but the data has {expected}")]
    LabelCount {
        /// The labels file.
        labels: PathBuf,
        /// Rows in the data.
        expected: usize,
        /// Rows in the labels file.
        got: usize,
    },
    /// Polars failed to build a DataFrame.
    #[cfg(feature = "polars")]
    #[error("polars: {0}")]
    Polars(PolarsError),
}

#[cfg(feature = "polars")]
impl From<PolarsError> for FrameError {
    fn from(e: PolarsError) -> Self {
        FrameError::Polars(e)
    }
}

/// A numeric table: feature values, optional row labels and optional row index.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Feature column names, one per column of `values`.
    pub feature_names: Vec<String>,
    /// rows x features
    pub values: Array2<f64>,
    /// `true` = anomaly, one per row, when the source had labels.
    pub labels: Option<Vec<bool>>,
    /// The index column's text (timestamps), when the source had one.
    pub index: Option<Vec<String>>,
}

impl Table {
    /// The number of rows.
    pub fn n_rows(&self) -> usize {
        self.values.nrows()
    }

    /// The first `n` rows (all of them when there are fewer), labels and index included.
    pub fn head(&self, n: usize) -> Table {
        let n = n.min(self.n_rows());
        Table {
            feature_names: self.feature_names.clone(),
            values: self.values.slice(ndarray::s![..n, ..]).to_owned(),
            labels: self.labels.as_ref().map(|l| l[..n].to_vec()),
            index: self.index.as_ref().map(|ix| ix[..n].to_vec()),
        }
    }

    /// The columns `names`, by name and in that order: a model's features from a table whose
    /// columns may be ordered differently or include others.
    ///
    /// ```
    /// use anomaly_kit::frame::Table;
    /// let t = Table {
    ///     feature_names: vec!["a".into(), "b".into()],
    ///     values: anomaly_kit::ndarray::array![[1.0, 2.0], [3.0, 4.0]],
    ///     labels: None,
    ///     index: None,
    /// };
    /// assert_eq!(t.select(&["b".into()])?, anomaly_kit::ndarray::array![[2.0], [4.0]]);
    /// assert!(t.select(&["c".into()]).is_err());
    /// # Ok::<(), anomaly_kit::frame::FrameError>(())
    /// ```
    pub fn select(&self, names: &[String]) -> Result<Array2<f64>, FrameError> {
        let at = names
            .iter()
            .map(|name| {
                self.feature_names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| FrameError::MissingColumn {
                        wanted: name.clone(),
                        available: self.feature_names.join(", "),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.values.select(ndarray::Axis(1), &at))
    }

    /// Per-cell labels (rows × features, 1 = anomalous) to mark on charts: from `explicit`,
    /// else from `labels` when that file has a column for every feature (the generator's labels
    /// file does), else all zeros. Columns are matched by name.
    pub fn cell_labels(
        &self,
        explicit: Option<&Path>,
        labels: Option<&Path>,
    ) -> Result<Array2<u8>, FrameError> {
        let source = explicit.or(labels.filter(|path| {
            csv_header(path)
                .is_ok_and(|header| self.feature_names.iter().all(|f| header.contains(f)))
        }));
        let mut cells = Array2::zeros(self.values.raw_dim());
        if let Some(path) = source {
            let columns = read_label_columns(path, &self.feature_names)?;
            for (j, column) in columns.iter().enumerate() {
                if column.len() != self.n_rows() {
                    return Err(FrameError::LabelCount {
                        labels: path.into(),
                        expected: self.n_rows(),
                        got: column.len(),
                    });
                }
                for (i, &anomalous) in column.iter().enumerate() {
                    cells[[i, j]] = u8::from(anomalous);
                }
            }
        }
        Ok(cells)
    }

    #[cfg(feature = "polars")]
    /// The feature values as a polars DataFrame (with the index as a leading string column).
    pub fn to_dataframe(&self) -> Result<DataFrame, FrameError> {
        let mut columns = Vec::with_capacity(self.feature_names.len() + 2);
        if let Some(index) = &self.index {
            columns.push(Column::new("timestamp".into(), index.as_slice()));
        }
        columns.extend(value_columns(&self.feature_names, self.values.view()));
        if let Some(labels) = &self.labels {
            columns.push(Column::new(
                "anomaly".into(),
                labels.iter().map(|&b| b as i32).collect::<Vec<i32>>(),
            ));
        }
        Ok(DataFrame::new(self.n_rows(), columns)?)
    }
}

impl From<&Synthetic> for Table {
    fn from(s: &Synthetic) -> Self {
        Table {
            feature_names: s.feature_names.clone(),
            values: s.values.clone(),
            labels: Some(s.row_truth()),
            index: Some((0..s.n_rows()).map(|i| timestamp_text(s, i)).collect()),
        }
    }
}

fn timestamp_text(s: &Synthetic, i: usize) -> String {
    s.timestamp(i).format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(feature = "polars")]
fn value_columns(names: &[String], values: ndarray::ArrayView2<f64>) -> Vec<Column> {
    names
        .iter()
        .zip(values.columns())
        .map(|(n, c)| Column::new(n.as_str().into(), c.to_vec()))
        .collect()
}

#[cfg(feature = "polars")]
fn timestamp_column(s: &Synthetic) -> Column {
    let start_ms = s.start.and_utc().timestamp_millis();
    let ms: Vec<i64> = (0..s.n_rows() as i64)
        .map(|i| start_ms + i * 60_000)
        .collect();
    Series::new("timestamp".into(), ms)
        .into_datetime(TimeUnit::Milliseconds, None)
        .into()
}

#[cfg(feature = "polars")]
/// The generated values as a DataFrame: `timestamp` then one column per feature.
pub fn features_frame(s: &Synthetic) -> Result<DataFrame, FrameError> {
    let mut columns = vec![timestamp_column(s)];
    columns.extend(value_columns(&s.feature_names, s.values.view()));
    Ok(DataFrame::new(s.n_rows(), columns)?)
}

#[cfg(feature = "polars")]
/// The labels as a DataFrame: `timestamp`, one 0/1 column per feature, and the row label `anomaly`.
pub fn labels_frame(s: &Synthetic) -> Result<DataFrame, FrameError> {
    let mut columns = vec![timestamp_column(s)];
    for (name, col) in s.feature_names.iter().zip(s.cell_labels.columns()) {
        columns.push(Column::new(
            name.as_str().into(),
            col.mapv(i32::from).to_vec(),
        ));
    }
    columns.push(Column::new(
        "anomaly".into(),
        s.row_labels.mapv(i32::from).to_vec(),
    ));
    Ok(DataFrame::new(s.n_rows(), columns)?)
}

#[cfg(feature = "polars")]
/// Per-column count, mean, standard deviation (n-1), min and max: a `describe()` for numbers.
pub fn describe(
    names: &[String],
    values: ndarray::ArrayView2<f64>,
) -> Result<DataFrame, FrameError> {
    let stats = ["count", "mean", "std", "min", "max"];
    let mut columns = vec![Column::new("statistic".into(), stats.to_vec())];
    for (name, col) in names.iter().zip(values.columns()) {
        let n = col.len() as f64;
        let plain_mean = col.sum() / n;
        let col = col.to_vec();
        let mean = if plain_mean.is_finite() || col.is_empty() {
            plain_mean
        } else {
            // the sum overflowed: values near ±f64::MAX
            crate::numeric::mean(&col).unwrap_or(f64::NAN)
        };
        let sd = crate::numeric::sample_sd(&col, mean).unwrap_or(f64::NAN);
        let min = col.iter().copied().fold(f64::INFINITY, f64::min);
        let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        columns.push(Column::new(
            name.as_str().into(),
            vec![n, mean, sd, min, max],
        ));
    }
    Ok(DataFrame::new(stats.len(), columns)?)
}

/// Writes one row per scored row: `row`, `score` (`score_samples`), `anomaly` (0/1).
pub fn write_scores(path: &Path, scores: &[f64], flagged: &[bool]) -> Result<(), FrameError> {
    let mut w = create(path)?;
    let csv_error = |source| FrameError::Csv {
        path: path.into(),
        cause: source,
    };
    w.write_record(["row", "score", "anomaly"])
        .map_err(csv_error)?;
    for (i, (s, f)) in scores.iter().zip(flagged).enumerate() {
        w.write_record([i.to_string(), s.to_string(), u8::from(*f).to_string()])
            .map_err(csv_error)?;
    }
    w.flush().map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })
}

fn create(path: &Path) -> Result<csv::Writer<BufWriter<File>>, FrameError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| FrameError::Write {
            path: path.into(),
            cause: source,
        })?;
    }
    crate::files::check_writable(path).map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })?;
    let f = File::create(path).map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })?;
    Ok(csv::Writer::from_writer(BufWriter::new(f)))
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> FrameError + '_ {
    move |source| FrameError::Csv {
        path: path.into(),
        cause: source,
    }
}

/// Writes `timestamp,feature_1,…` — the tutorial's data file. Values keep full precision.
pub fn write_features_csv(s: &Synthetic, path: &Path) -> Result<(), FrameError> {
    let mut w = create(path)?;
    let err = csv_err(path);
    w.write_record(std::iter::once("timestamp").chain(s.feature_names.iter().map(String::as_str)))
        .map_err(&err)?;
    for (i, row) in s.values.rows().into_iter().enumerate() {
        w.write_record(
            std::iter::once(timestamp_text(s, i)).chain(row.iter().map(|v| v.to_string())),
        )
        .map_err(&err)?;
    }
    w.flush().map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })
}

/// Writes `timestamp,feature_1,…,anomaly` with 0/1 per cell and the row label last.
pub fn write_labels_csv(s: &Synthetic, path: &Path) -> Result<(), FrameError> {
    let mut w = create(path)?;
    let err = csv_err(path);
    let header = std::iter::once("timestamp")
        .chain(s.feature_names.iter().map(String::as_str))
        .chain(["anomaly"]);
    w.write_record(header).map_err(&err)?;
    for (i, (cells, row)) in s
        .cell_labels
        .rows()
        .into_iter()
        .zip(s.row_labels.iter())
        .enumerate()
    {
        let fields = std::iter::once(timestamp_text(s, i))
            .chain(cells.iter().map(|v| v.to_string()))
            .chain([row.to_string()]);
        w.write_record(fields).map_err(&err)?;
    }
    w.flush().map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })
}

/// Writes both files as `DIR/NAME.csv` and `DIR/NAME_labels.csv`; returns their paths.
pub fn write_synthetic(
    s: &Synthetic,
    dir: &Path,
    name: &str,
) -> Result<(PathBuf, PathBuf), FrameError> {
    let features = dir.join(format!("{name}.csv"));
    let labels = dir.join(format!("{name}_labels.csv"));
    write_features_csv(s, &features)?;
    write_labels_csv(s, &labels)?;
    Ok((features, labels))
}

/// How to read a CSV into a [`Table`].
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// A 0/1 column in the same file holding the row labels.
    pub label_column: Option<String>,
    /// Columns to leave out (besides a leading index column, which is always set aside).
    pub ignore: Vec<String>,
}

/// Reads a numeric CSV with a header. A first column named `timestamp`, `time`, `date`,
/// `datetime` or nothing is kept as the index; every other column not ignored must be numeric.
pub fn read_csv(path: &Path, opts: &CsvOptions) -> Result<Table, FrameError> {
    let file = File::open(path).map_err(|source| FrameError::Open {
        path: path.into(),
        cause: source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::new(file));
    let err = csv_err(path);
    let headers = checked_header(path, reader.headers().map_err(&err)?)?;
    let has_index = headers
        .first()
        .is_some_and(|h| INDEX_NAMES.contains(&h.to_ascii_lowercase().as_str()));
    let label_at = match &opts.label_column {
        Some(name) => Some(headers.iter().position(|h| h == name).ok_or_else(|| {
            FrameError::NoSuchColumn {
                path: path.into(),
                column: name.clone(),
                available: headers.join(", "),
            }
        })?),
        None => None,
    };
    for name in &opts.ignore {
        if !headers.contains(name) {
            return Err(FrameError::NoSuchColumn {
                path: path.into(),
                column: name.clone(),
                available: headers.join(", "),
            });
        }
    }
    let feature_at: Vec<usize> = (0..headers.len())
        .filter(|&i| {
            !(has_index && i == 0) && Some(i) != label_at && !opts.ignore.contains(&headers[i])
        })
        .collect();
    if feature_at.is_empty() {
        return Err(FrameError::NoFeatures { path: path.into() });
    }
    let mut flat = Vec::new();
    let mut labels = label_at.map(|_| Vec::new());
    let mut index = has_index.then(Vec::new);
    let mut record = csv::StringRecord::new();
    let mut rows = 0;
    while reader.read_record(&mut record).map_err(&err)? {
        rows += 1;
        let row = rows; // 1-based data row, as a spreadsheet shows it under the header
        for &i in &feature_at {
            let text = record.get(i).unwrap_or("").trim();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => flat.push(v),
                _ => {
                    return Err(FrameError::NotNumeric {
                        path: path.into(),
                        row,
                        column: headers[i].clone(),
                        value: crate::contract::bounded(text),
                    });
                }
            }
        }
        if let (Some(i), Some(labels)) = (label_at, labels.as_mut()) {
            labels.push(parse_label(
                record.get(i).unwrap_or(""),
                path,
                row,
                &headers[i],
            )?);
        }
        if let Some(index) = index.as_mut() {
            index.push(record.get(0).unwrap_or("").to_string());
        }
    }
    if rows == 0 {
        return Err(FrameError::NoRows { path: path.into() });
    }
    let values = Array2::from_shape_vec((rows, feature_at.len()), flat)
        .expect("one value per feature per row");
    Ok(Table {
        feature_names: feature_at.iter().map(|&i| headers[i].clone()).collect(),
        values,
        labels,
        index,
    })
}

/// The header's names, trimmed, after checking it is one: no name that is a number (a file
/// without a header would otherwise train with its first row as feature names), no name twice,
/// no empty name except a leading index column's (pandas writes its index that way).
fn checked_header(path: &Path, header: &csv::StringRecord) -> Result<Vec<String>, FrameError> {
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for (i, name) in names.iter().enumerate() {
        if name.parse::<f64>().is_ok() {
            return Err(FrameError::HeaderLooksLikeData {
                path: path.into(),
                column: i + 1,
                name: crate::contract::bounded(name),
            });
        }
        if name.is_empty() && i > 0 {
            return Err(FrameError::UnnamedColumn {
                path: path.into(),
                column: i + 1,
            });
        }
        if let Some(first) = names[..i].iter().position(|n| n == name) {
            return Err(FrameError::DuplicateColumn {
                path: path.into(),
                name: crate::contract::bounded(name),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(names)
}

fn parse_label(text: &str, path: &Path, row: usize, column: &str) -> Result<bool, FrameError> {
    match text.trim() {
        "1" | "1.0" | "true" | "True" => Ok(true),
        "0" | "0.0" | "false" | "False" => Ok(false),
        other => Err(FrameError::BadLabel {
            path: path.into(),
            row,
            column: column.into(),
            value: crate::contract::bounded(other),
        }),
    }
}

/// Reads one 0/1 column of a labels file (for example `anomaly` of `test_labels.csv`).
pub fn read_labels(path: &Path, column: &str) -> Result<Vec<bool>, FrameError> {
    let mut columns = read_label_columns(path, &[column.to_string()])?;
    Ok(columns.pop().expect("one column asked, one read"))
}

/// Column names of a CSV file's header.
pub fn csv_header(path: &Path) -> Result<Vec<String>, FrameError> {
    let file = File::open(path).map_err(|source| FrameError::Open {
        path: path.into(),
        cause: source,
    })?;
    let mut reader = csv::Reader::from_reader(BufReader::new(file));
    checked_header(path, reader.headers().map_err(csv_err(path))?)
}

/// Reads the named 0/1 columns of a labels file, matched by name; one vector per column.
pub fn read_label_columns(path: &Path, columns: &[String]) -> Result<Vec<Vec<bool>>, FrameError> {
    let file = File::open(path).map_err(|source| FrameError::Open {
        path: path.into(),
        cause: source,
    })?;
    let mut reader = csv::Reader::from_reader(BufReader::new(file));
    let err = csv_err(path);
    let headers = checked_header(path, reader.headers().map_err(&err)?)?;
    let at: Vec<usize> = columns
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h == c)
                .ok_or_else(|| FrameError::NoSuchColumn {
                    path: path.into(),
                    column: c.clone(),
                    available: headers.join(", "),
                })
        })
        .collect::<Result<_, _>>()?;
    let mut out = vec![Vec::new(); columns.len()];
    let mut record = csv::StringRecord::new();
    let mut row = 0;
    while reader.read_record(&mut record).map_err(&err)? {
        row += 1;
        for (values, (&i, name)) in out.iter_mut().zip(at.iter().zip(columns)) {
            values.push(parse_label(record.get(i).unwrap_or(""), path, row, name)?);
        }
    }
    Ok(out)
}

/// Reads a data file and, optionally, labels from a second file: what `train` and `evaluate` take.
pub fn read_table(
    path: &Path,
    opts: &CsvOptions,
    labels_file: Option<(&Path, &str)>,
) -> Result<Table, FrameError> {
    let mut table = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
    {
        read_npz(path)?
    } else {
        read_csv(path, opts)?
    };
    if let Some((labels_path, column)) = labels_file {
        let labels = read_labels(labels_path, column)?;
        if labels.len() != table.n_rows() {
            return Err(FrameError::LabelCount {
                labels: labels_path.into(),
                expected: table.n_rows(),
                got: labels.len(),
            });
        }
        table.labels = Some(labels);
    }
    Ok(table)
}

/// Writes `X` (rows x features, float64) and `y` (row labels, int64) as an uncompressed `.npz`,
/// the layout ADBench uses, so Python libraries read the very same values.
pub fn write_npz(s: &Synthetic, path: &Path) -> Result<(), FrameError> {
    use ndarray_npy::NpzWriter;
    let npz_err = |detail: String| FrameError::Npz {
        path: path.into(),
        detail,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| FrameError::Write {
            path: path.into(),
            cause: source,
        })?;
    }
    crate::files::check_writable(path).map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })?;
    let file = File::create(path).map_err(|source| FrameError::Write {
        path: path.into(),
        cause: source,
    })?;
    let mut npz = NpzWriter::new(BufWriter::new(file));
    npz.add_array("X", &s.values)
        .map_err(|e| npz_err(e.to_string()))?;
    npz.add_array("y", &s.row_labels.mapv(i64::from))
        .map_err(|e| npz_err(e.to_string()))?;
    npz.finish().map_err(|e| npz_err(e.to_string()))?;
    Ok(())
}

/// Reads an ADBench-style `.npz`: `X` (rows x features; float64, float32, int64, int32, int16 or
/// uint8) and, if present, `y` (0/1 labels).
pub fn read_npz(path: &Path) -> Result<Table, FrameError> {
    use ndarray_npy::NpzReader;
    let npz_err = |detail: String| FrameError::Npz {
        path: path.into(),
        detail,
    };
    let file = File::open(path).map_err(|source| FrameError::Open {
        path: path.into(),
        cause: source,
    })?;
    let mut npz =
        NpzReader::new(file).map_err(|e| npz_err(format!("not a readable .npz archive: {e}")))?;
    let names = npz.names().map_err(|e| npz_err(e.to_string()))?;
    let find = |want: &str| {
        names
            .iter()
            .find(|n| n.as_str() == want || n.as_str() == format!("{want}.npy"))
            .cloned()
    };
    let x_name =
        find("X").ok_or_else(|| npz_err(format!("no array 'X' (arrays: {})", names.join(", "))))?;

    macro_rules! try_x {
        ($($t:ty),*) => {{
            let mut found = None;
            $(
                if found.is_none() {
                    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<$t>, ndarray::Ix2>(&x_name) {
                        found = Some(a.mapv(|v| v as f64));
                    }
                }
            )*
            found
        }};
    }
    let values: Array2<f64> = try_x!(f64, f32, i64, i32, i16, u8).ok_or_else(|| {
        npz_err("'X' is not a 2-D array of float64, float32, int64, int32, int16 or uint8".into())
    })?;
    if let Some(((row, col), v)) = values.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(npz_err(format!(
            "X[{row}, {col}] is {v}, not a finite number"
        )));
    }
    macro_rules! try_y {
        ($name:expr; $($t:ty),*) => {{
            let mut found = None;
            $(
                if found.is_none() {
                    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<$t>, ndarray::Ix1>($name) {
                        found = Some(a.mapv(|v| v as f64));
                    }
                }
            )*
            found
        }};
    }
    let labels = match find("y") {
        None => None,
        Some(y_name) => {
            let y: Array1<f64> = try_y!(&y_name; i64, i32, f64, u8, i16)
                .ok_or_else(|| npz_err("'y' is not a 1-D array of integers".into()))?;
            if y.len() != values.nrows() {
                return Err(npz_err(format!(
                    "'y' has {} entries but 'X' has {} rows",
                    y.len(),
                    values.nrows()
                )));
            }
            if let Some((i, v)) = y.iter().enumerate().find(|(_, v)| **v != 0.0 && **v != 1.0) {
                return Err(npz_err(format!("y[{i}] is {v}; labels must be 0 or 1")));
            }
            Some(y.iter().map(|&v| v == 1.0).collect())
        }
    };
    if values.nrows() == 0 {
        return Err(FrameError::NoRows { path: path.into() });
    }
    let feature_names = (0..values.ncols()).map(|i| format!("x{i}")).collect();
    Ok(Table {
        feature_names,
        values,
        labels,
        index: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SynthParams;

    #[test]
    fn csv_round_trip_is_exact() {
        let s = SynthParams::tutorial()
            .rows(50)
            .anomalies(5)
            .generate()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (f, l) = write_synthetic(&s, dir.path(), "train").unwrap();
        let t = read_table(&f, &CsvOptions::default(), Some((&l, "anomaly"))).unwrap();
        assert_eq!(t.values, s.values);
        assert_eq!(t.labels.unwrap(), s.row_truth());
        assert_eq!(t.feature_names, s.feature_names);
        assert_eq!(t.index.unwrap()[1], "2020-01-01 00:01:00");
    }

    #[test]
    fn bad_cells_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "timestamp,a,b\nt0,1,2\nt1,3,oops\n").unwrap();
        let e = read_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2") && e.contains("'b'") && e.contains("oops"),
            "{e}"
        );
        std::fs::write(&p, "a,b\n1,NaN\n").unwrap();
        assert!(matches!(
            read_csv(&p, &CsvOptions::default()),
            Err(FrameError::NotNumeric { .. })
        ));
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        let opts = CsvOptions {
            label_column: Some("label".into()),
            ignore: vec![],
        };
        assert!(matches!(
            read_csv(&p, &opts),
            Err(FrameError::NoSuchColumn { .. })
        ));
        std::fs::write(&p, "a,label\n1,2\n").unwrap();
        let opts = CsvOptions {
            label_column: Some("label".into()),
            ignore: vec![],
        };
        assert!(matches!(
            read_csv(&p, &opts),
            Err(FrameError::BadLabel { .. })
        ));
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(matches!(
            read_csv(&p, &CsvOptions::default()),
            Err(FrameError::NoRows { .. })
        ));
        std::fs::write(&p, "a,b\n1,2,3\n").unwrap();
        assert!(matches!(
            read_csv(&p, &CsvOptions::default()),
            Err(FrameError::Csv { .. })
        ));
    }

    /// A file without a header, or with a name twice, is refused with the fix; before, the
    /// first data row became the feature names and duplicate names made duplicate features.
    #[test]
    fn headers_that_cannot_be_trusted_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let read = |text: &str| {
            std::fs::write(&p, text).unwrap();
            read_csv(&p, &CsvOptions::default())
                .unwrap_err()
                .to_string()
        };
        let e = read("2020-01-01 00:00:00,1.5,2.5\n2020-01-01 00:01:00,1.6,2.4\n");
        assert!(
            e.contains("looks like data")
                && e.contains("column 2")
                && e.contains("'1.5'")
                && e.contains("add a header row"),
            "{e}"
        );
        let e = read("a,b,a\n1,2,3\n");
        assert!(e.contains("columns 1 and 3 are both named 'a'"), "{e}");
        let e = read("timestamp,a,,b\nt,1,2,3\n");
        assert!(e.contains("column 3 has no name"), "{e}");
        // a leading unnamed index column (pandas' to_csv) is fine
        std::fs::write(&p, ",a\n0,1\n").unwrap();
        assert_eq!(
            read_csv(&p, &CsvOptions::default()).unwrap().feature_names,
            vec!["a"]
        );
        // the header check covers label files too
        std::fs::write(&p, "0,1\n1,0\n").unwrap();
        assert!(matches!(
            read_labels(&p, "anomaly"),
            Err(FrameError::HeaderLooksLikeData { .. })
        ));
    }

    /// A huge bad cell is quoted in part, not echoed whole.
    #[test]
    fn bad_values_are_quoted_up_to_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let cell = "x".repeat(1_000_000);
        std::fs::write(&p, format!("a\n{cell}\n")).unwrap();
        let e = read_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.len() < 200, "{} bytes", e.len());
        assert!(
            e.contains("row 1") && e.contains("'a'") && e.contains("…"),
            "{e}"
        );
    }

    #[test]
    fn npz_round_trip() {
        let s = SynthParams::tutorial()
            .rows(40)
            .anomalies(4)
            .generate()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npz");
        write_npz(&s, &p).unwrap();
        let t = read_npz(&p).unwrap();
        assert_eq!(t.values, s.values);
        assert_eq!(t.labels.unwrap(), s.row_truth());
    }

    #[cfg(feature = "polars")]
    #[test]
    fn frames_have_the_right_shape() {
        let s = SynthParams::tutorial()
            .rows(20)
            .anomalies(2)
            .generate()
            .unwrap();
        assert_eq!(features_frame(&s).unwrap().shape(), (20, 6));
        assert_eq!(labels_frame(&s).unwrap().shape(), (20, 7));
        assert_eq!(
            describe(&s.feature_names, s.values.view()).unwrap().shape(),
            (5, 6)
        );
    }
}
