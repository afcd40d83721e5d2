//! The model artefact: one versioned JSON file holding the whole detector and where it came from.
//!
//! The file is what the container serves, the stream scores with and a notebook reloads, so it
//! carries everything needed to use the detector (feature names, preprocessing, forest,
//! threshold) plus what is needed to trust it: format version, crate version, seeds, the shape
//! and SHA-256 of the training data, training metrics, and a checksum of the detector itself.
//!
//! Loading refuses — with a message that says what is wrong — a missing, empty, truncated or
//! non-JSON file, another format, a newer format version, a checksum mismatch (the file was
//! edited or damaged) and a detector whose parts do not fit together.
//!
//! ```
//! use anomaly_kit::{detector::DetectorSpec, model::{ModelArtefact, TrainingInfo}, synth::SynthParams};
//! let data = SynthParams::tutorial().rows(500).anomalies(20).generate()?;
//! let detector = DetectorSpec::tutorial(42).fit(&data.feature_names, data.values.view(), None)?;
//! let artefact = ModelArtefact::new("tutorial", detector, TrainingInfo::of(data.values.view(), Some(100)));
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("model.json");
//! artefact.save(&path)?;
//! let back = ModelArtefact::load(&path)?;
//! assert_eq!(back.detector.score_samples(data.values.view())?, artefact.detector.score_samples(data.values.view())?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detector::Detector;

/// Identifies our files among other JSON.
pub const FORMAT: &str = "anomaly-kit/model";
/// Bumped whenever the stored layout changes in a way older readers cannot follow.
pub const FORMAT_VERSION: u32 = 1;
/// The file name inside a model directory (SageMaker's `/opt/ml/model/`).
pub const MODEL_FILE: &str = "model.json";
/// Refuse model files above this size instead of reading them whole into memory.
pub const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024;

/// Why a model file could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Nothing exists at the path (for a directory: no `model.json` in it).
    #[error(
        "model file {path} not found (train one with `anomaly-kit train` or `anomaly-kit walkthrough`)"
    )]
    NotFound {
        /// The model file looked for.
        path: PathBuf,
    },
    /// Reading the file, or writing it or its folder, failed.
    #[error("cannot read or write model file {path}: {cause}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The I/O error (quoted in the message, so not also the `source()`).
        cause: std::io::Error,
    },
    /// The file is empty or holds only whitespace.
    #[error("model file {path} is empty")]
    Empty {
        /// The model file.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_MODEL_BYTES`].
    #[error("model file {path} is {size} bytes, more than the {MAX_MODEL_BYTES}-byte limit")]
    TooLarge {
        /// The model file.
        path: PathBuf,
        /// Its size in bytes (the bytes read, if it grew while being read).
        size: u64,
    },
    /// The JSON ends before it is complete: the file was cut short.
    #[error(
        "model file {path} is truncated (it ends before the JSON does); re-save or re-train it"
    )]
    Truncated {
        /// The model file.
        path: PathBuf,
    },
    /// The file is not valid JSON.
    #[error("model file {path} is not valid JSON: {detail}")]
    NotJson {
        /// The model file.
        path: PathBuf,
        /// The JSON parser's message.
        detail: String,
    },
    /// The JSON's `format` is not [`FORMAT`] (or is missing): not one of our model files.
    #[error("{path} is not an anomaly-kit model (format '{found}', expected '{FORMAT}')")]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// The `format` found, `(none)` when missing or not a string.
        found: String,
    },
    /// The file's `format_version` is a whole number other than [`FORMAT_VERSION`].
    #[error(
        "model file {path} has format version {found}; this build reads version {FORMAT_VERSION} — upgrade anomaly-kit or re-train"
    )]
    UnsupportedVersion {
        /// The model file.
        path: PathBuf,
        /// The file's format version.
        found: u64,
    },
    /// The JSON does not have the model's layout (missing, mistyped or malformed fields).
    #[error("model file {path} does not match the model format: {detail}")]
    Schema {
        /// The model file.
        path: PathBuf,
        /// What does not fit, in words.
        detail: String,
    },
    /// The detector does not match the SHA-256 saved with it: edited or damaged after saving.
    #[error(
        "model file {path} fails its checksum: the detector was modified or damaged after saving"
    )]
    Checksum {
        /// The model file.
        path: PathBuf,
    },
    /// The detector's parts do not fit together (feature counts, preprocessing, forest).
    #[error("model file {path} holds an inconsistent detector: {detail}")]
    Inconsistent {
        /// The model file.
        path: PathBuf,
        /// What does not fit, in words.
        detail: String,
    },
    /// The path is a FIFO, a device, a socket…: never opened, never replaced.
    #[error(transparent)]
    NotRegularFile(#[from] crate::files::NotRegularFile),
    /// The scoring layout asked for (`ANOMALY_KIT_LAYOUT`) cannot score this model on this CPU.
    #[error("model file {path} cannot be scored here: {cause}")]
    Layout {
        /// The model file.
        path: PathBuf,
        /// Why the layout cannot be used (quoted in the message, so not also the `source()`).
        cause: crate::forest::ForestError,
    },
}

/// Shape and fingerprint of the data a detector was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Rows of training data.
    pub rows: usize,
    /// Feature columns of training data.
    pub features: usize,
    /// SHA-256 of the shape and the values (little-endian f64, row-major).
    pub sha256: String,
    /// Seed of the generator that made the data, if it was generated.
    pub data_seed: Option<u64>,
}

impl TrainingInfo {
    /// The shape and fingerprint of `x`, with the seed that generated it, if any.
    pub fn of(x: ArrayView2<f64>, data_seed: Option<u64>) -> Self {
        Self {
            rows: x.nrows(),
            features: x.ncols(),
            sha256: data_fingerprint(x),
            data_seed,
        }
    }
}

/// SHA-256 of a table's shape and values, to tell later whether two tables are the same data.
pub fn data_fingerprint(x: ArrayView2<f64>) -> String {
    let mut h = Sha256::new();
    h.update((x.nrows() as u64).to_le_bytes());
    h.update((x.ncols() as u64).to_le_bytes());
    for v in x.iter() {
        h.update(v.to_le_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A saved detector with its provenance.
///
/// The file also holds a SHA-256 of the detector's JSON, checked on load. It is not a field:
/// it is computed whenever the artefact is written ([`ModelArtefact::save`], or any serde
/// serialisation), so a detector changed in a notebook and saved again loads again.
///
/// ```
/// # use anomaly_kit::{detector::DetectorSpec, synth::SynthParams, model::*};
/// # let data = SynthParams::tutorial().rows(300).anomalies(10).generate()?;
/// # let detector = DetectorSpec::improved(15, 42).fit(&data.feature_names, data.values.view(), Some(&data.row_truth()))?;
/// let dir = tempfile::tempdir()?;
/// let mut artefact = ModelArtefact::new("improved", detector, TrainingInfo::of(data.values.view(), None));
/// artefact.save(dir.path())?;
/// // a notebook moves the threshold, then saves and loads again
/// artefact.detector.forest = artefact.detector.forest.clone().with_offset(-0.55);
/// let path = artefact.save(dir.path())?;
/// let loaded = ModelArtefact::load(&path)?;
/// assert_eq!(loaded, artefact);
/// assert_eq!(loaded.detector.threshold(), -0.55);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ModelArtefact {
    /// File format name: [`FORMAT`].
    pub format: String,
    /// Stored layout version: [`FORMAT_VERSION`] when this build writes it.
    pub format_version: u32,
    /// Version of anomaly-kit that wrote the file.
    pub crate_version: String,
    /// Which recipe produced it (`tutorial`, `improved`, `custom`).
    pub recipe: String,
    /// Shape and fingerprint of the training data.
    pub training: TrainingInfo,
    /// Metrics measured when it was made (names → values), if any.
    pub metrics: BTreeMap<String, f64>,
    /// What the `test_*` metrics were measured on, when there are any.
    pub metrics_data: Option<String>,
    /// Features, forest and threshold.
    pub detector: Detector,
}

/// The artefact as written: its fields in file order, with the detector's checksum.
#[derive(Serialize)]
struct ArtefactFileRef<'a> {
    format: &'a str,
    format_version: u32,
    crate_version: &'a str,
    recipe: &'a str,
    training: &'a TrainingInfo,
    metrics: &'a BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_data: &'a Option<String>,
    detector_sha256: String,
    detector: &'a Detector,
}

/// The artefact as read, before its checksum is checked.
#[derive(Deserialize)]
struct ArtefactFile {
    format: String,
    format_version: u32,
    crate_version: String,
    recipe: String,
    training: TrainingInfo,
    metrics: BTreeMap<String, f64>,
    #[serde(default)]
    metrics_data: Option<String>,
    detector_sha256: String,
    detector: Detector,
}

impl ArtefactFile {
    /// The artefact, if the detector matches the checksum written with it.
    fn checked(self) -> Option<ModelArtefact> {
        (detector_checksum(&self.detector) == self.detector_sha256).then(|| ModelArtefact {
            format: self.format,
            format_version: self.format_version,
            crate_version: self.crate_version,
            recipe: self.recipe,
            training: self.training,
            metrics: self.metrics,
            metrics_data: self.metrics_data,
            detector: self.detector,
        })
    }
}

impl Serialize for ModelArtefact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ArtefactFileRef {
            format: &self.format,
            format_version: self.format_version,
            crate_version: &self.crate_version,
            recipe: &self.recipe,
            training: &self.training,
            metrics: &self.metrics,
            metrics_data: &self.metrics_data,
            detector_sha256: detector_checksum(&self.detector),
            detector: &self.detector,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ModelArtefact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ArtefactFile::deserialize(d)?.checked().ok_or_else(|| {
            serde::de::Error::custom(
                "the detector fails its checksum: it was modified or damaged after saving",
            )
        })
    }
}

impl ModelArtefact {
    /// A new artefact of the current format, without metrics.
    pub fn new(recipe: &str, detector: Detector, training: TrainingInfo) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").into(),
            recipe: recipe.into(),
            training,
            metrics: BTreeMap::new(),
            metrics_data: None,
            detector,
        }
    }

    /// Adds a named metric to the record.
    pub fn with_metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.into(), value);
        self
    }

    /// Records what the test metrics were measured on.
    pub fn measured_on(mut self, data: &str) -> Self {
        self.metrics_data = Some(data.into());
        self
    }

    /// Writes the artefact to `path` (a file, or a directory that gets `model.json`), creating
    /// parent directories. The write goes to a temporary file first, so a crash never leaves a
    /// half-written model behind.
    pub fn save(&self, path: &Path) -> Result<PathBuf, ModelError> {
        let path = resolve(path);
        let io = |source| ModelError::Io {
            path: path.clone(),
            cause: source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let json = serde_json::to_vec_pretty(self).expect("a detector always serialises");
        let tmp = path.with_extension("json.tmp");
        // the rename below would replace whatever `path` is (a device node, say)
        for p in [&path, &tmp] {
            crate::files::writable_as_file(p).map_err(io)??;
        }
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    /// Reads and checks an artefact from `path` (a file, or a directory holding `model.json`).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let path = resolve(path);
        let io = |source| ModelError::Io {
            path: path.clone(),
            cause: source,
        };
        // a FIFO would block the open forever and /dev/zero never ends: regular files only
        if !crate::files::readable_as_file(&path).map_err(io)?? {
            return Err(ModelError::NotFound { path });
        }
        let file = std::fs::File::open(&path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_MODEL_BYTES {
            return Err(ModelError::TooLarge { path, size });
        }
        // read at most one byte past the limit, in case the file grows while it is read
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_MODEL_BYTES + 1),
            &mut bytes,
        )
        .map_err(io)?;
        if bytes.len() as u64 > MAX_MODEL_BYTES {
            return Err(ModelError::TooLarge {
                path,
                size: bytes.len() as u64,
            });
        }
        Self::from_json_bytes(&bytes, &path)
    }

    /// Parses and checks an artefact held in memory; `path` is only used in messages.
    pub fn from_json_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let path = path.to_path_buf();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ModelError::Empty { path });
        }
        // Parse loosely first so the format and version are checked before the layout: a file
        // from a newer version should say so, not fail on a field it has renamed.
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                ModelError::Truncated { path: path.clone() }
            } else {
                ModelError::NotJson {
                    path: path.clone(),
                    detail: e.to_string(),
                }
            }
        })?;
        let found = value
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("(none)");
        if found != FORMAT {
            return Err(ModelError::WrongFormat {
                path,
                found: found.into(),
            });
        }
        match value.get("format_version").map(|v| (v.as_u64(), v)) {
            Some((Some(v), _)) if v == FORMAT_VERSION as u64 => {}
            Some((Some(v), _)) => return Err(ModelError::UnsupportedVersion { path, found: v }),
            Some((None, other)) => {
                let shown = crate::contract::bounded(&other.to_string());
                return Err(ModelError::Schema {
                    path,
                    detail: format!("format_version must be a whole number, got {shown}"),
                });
            }
            None => {
                return Err(ModelError::Schema {
                    path,
                    detail: "format_version is missing".into(),
                });
            }
        }
        let file: ArtefactFile = serde_json::from_value(value).map_err(|e| ModelError::Schema {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let Some(artefact) = file.checked() else {
            return Err(ModelError::Checksum { path });
        };
        let inconsistent = |detail: String| ModelError::Inconsistent {
            path: path.clone(),
            detail,
        };
        artefact
            .detector
            .validate()
            .map_err(|e| inconsistent(e.to_string()))?;
        if artefact.training.features != artefact.detector.n_features() {
            return Err(inconsistent(format!(
                "trained on {} features but the detector takes {}",
                artefact.training.features,
                artefact.detector.n_features()
            )));
        }
        // Compile the scoring layout now: a layout `ANOMALY_KIT_LAYOUT` names that this CPU or
        // this model cannot use stops a server at its start, not at its first request.
        artefact
            .detector
            .forest
            .scoring_layout()
            .map_err(|cause| ModelError::Layout {
                path: path.clone(),
                cause,
            })?;
        Ok(artefact)
    }

    /// A short, stable description for tables and snapshots.
    pub fn summary(&self) -> ModelSummary {
        let forest = &self.detector.forest;
        ModelSummary {
            format_version: self.format_version,
            recipe: self.recipe.clone(),
            feature_names: self.detector.feature_names.clone(),
            preprocess: self.detector.preprocess,
            threshold_rule: self.detector.threshold_rule,
            threshold: self.detector.threshold(),
            n_trees: forest.trees().len(),
            max_samples: forest.max_samples(),
            total_nodes: forest.trees().iter().map(|t| t.n_nodes()).sum(),
            max_depth: forest.trees().iter().map(|t| t.depth()).max().unwrap_or(0),
            training_rows: self.training.rows,
            training_sha256: self.training.sha256.clone(),
            metrics: self.metrics.clone(),
            metrics_data: self.metrics_data.clone(),
        }
    }
}

/// What [`ModelArtefact::summary`] reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSummary {
    /// The artefact's format version.
    pub format_version: u32,
    /// Which recipe produced the model (`tutorial`, `improved`, `custom`).
    pub recipe: String,
    /// Input columns, in the order the forest expects them.
    pub feature_names: Vec<String>,
    /// How raw values become the forest's inputs.
    pub preprocess: crate::features::Preprocess,
    /// How the threshold was chosen.
    pub threshold_rule: crate::detector::ThresholdRule,
    /// `score_samples` threshold: rows scoring below it are flagged.
    pub threshold: f64,
    /// Trees in the forest.
    pub n_trees: usize,
    /// Rows each tree was grown from.
    pub max_samples: usize,
    /// Nodes (splits and leaves) over all trees.
    pub total_nodes: usize,
    /// Depth of the deepest leaf over all trees, in edges from the root.
    pub max_depth: usize,
    /// Rows of training data.
    pub training_rows: usize,
    /// SHA-256 of the training data's shape and values.
    pub training_sha256: String,
    /// Metrics measured when the model was made (names → values).
    pub metrics: BTreeMap<String, f64>,
    /// What the `test_*` metrics were measured on, when there are any.
    pub metrics_data: Option<String>,
}

fn detector_checksum(d: &Detector) -> String {
    hex(&Sha256::digest(
        serde_json::to_vec(d).expect("a detector always serialises"),
    ))
}

/// A directory means "the model file inside it", as SageMaker's `/opt/ml/model/`.
fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MODEL_FILE)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::DetectorSpec;
    use crate::synth::SynthParams;

    fn artefact() -> (ModelArtefact, ndarray::Array2<f64>) {
        let data = SynthParams::tutorial()
            .rows(400)
            .anomalies(20)
            .generate()
            .unwrap();
        let d = DetectorSpec::improved(15, 7)
            .fit(
                &data.feature_names,
                data.values.view(),
                Some(&data.row_truth()),
            )
            .unwrap();
        (
            ModelArtefact::new(
                "improved",
                d,
                TrainingInfo::of(data.values.view(), Some(100)),
            )
            .with_metric("f1", 0.5),
            data.values,
        )
    }

    fn load_err(bytes: &[u8]) -> ModelError {
        ModelArtefact::from_json_bytes(bytes, Path::new("m.json")).unwrap_err()
    }

    #[test]
    fn round_trip_keeps_scores_bit_for_bit() {
        let (a, x) = artefact();
        let dir = tempfile::tempdir().unwrap();
        let saved = a.save(dir.path()).unwrap();
        assert_eq!(saved, dir.path().join(MODEL_FILE));
        let back = ModelArtefact::load(dir.path()).unwrap();
        assert_eq!(back, a);
        let (s1, s2) = (
            a.detector.score_samples(x.view()).unwrap(),
            back.detector.score_samples(x.view()).unwrap(),
        );
        assert!(
            s1.iter()
                .zip(s2.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits())
        );
    }

    #[test]
    fn each_corruption_has_its_own_error() {
        let (a, _) = artefact();
        let json = serde_json::to_vec(&a).unwrap();
        assert!(matches!(load_err(b""), ModelError::Empty { .. }));
        assert!(matches!(
            load_err(&json[..json.len() / 2]),
            ModelError::Truncated { .. }
        ));
        assert!(matches!(
            load_err(b"model, not json"),
            ModelError::NotJson { .. }
        ));
        assert!(matches!(
            load_err(br#"{"format":"pickle"}"#),
            ModelError::WrongFormat { .. }
        ));

        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["format_version"] = 99.into();
        assert!(matches!(
            load_err(&serde_json::to_vec(&v).unwrap()),
            ModelError::UnsupportedVersion { found: 99, .. }
        ));

        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["detector"]["forest"]["offset"] = (-0.1).into();
        assert!(matches!(
            load_err(&serde_json::to_vec(&v).unwrap()),
            ModelError::Checksum { .. }
        ));

        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["detector"]["forest"]["trees"] = "oops".into();
        assert!(matches!(
            load_err(&serde_json::to_vec(&v).unwrap()),
            ModelError::Schema { .. }
        ));

        // an edit that breaks a tree's structure is refused while parsing, before the checksum
        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["detector"]["forest"]["trees"][0]["left"][0] = 1_000_000.into();
        let err = load_err(&serde_json::to_vec(&v).unwrap());
        assert!(matches!(err, ModelError::Schema { .. }), "{err}");

        // a wrong shape: one feature name too many (checksum fixed up)
        let mut b = a.clone();
        b.detector.feature_names.push("extra".into());
        let err = load_err(&serde_json::to_vec(&b).unwrap());
        assert!(matches!(err, ModelError::Inconsistent { .. }), "{err}");
        assert!(err.to_string().contains("feature names"), "{err}");

        // training shape that disagrees with the detector
        let mut c = a.clone();
        c.training.features = 4;
        let err = load_err(&serde_json::to_vec(&c).unwrap());
        assert!(err.to_string().contains("trained on 4 features"), "{err}");
    }

    /// A FIFO used to hang the server at start-up and `/dev/zero` to read until memory ran out;
    /// saving over `/dev/null` replaced the device node with a regular file.
    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("model.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo failed");
        let started = std::time::Instant::now();
        let err = ModelArtefact::load(&fifo).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            err.to_string()
                .contains("is a named pipe (FIFO), not a regular file"),
            "{err}"
        );
        // the directory form resolves to the same FIFO
        assert!(matches!(
            ModelArtefact::load(dir.path()),
            Err(ModelError::NotRegularFile(_))
        ));
        let err = ModelArtefact::load(Path::new("/dev/zero")).unwrap_err();
        assert!(
            err.to_string().contains("/dev/zero is a character device"),
            "{err}"
        );

        // saving over a special file is refused and leaves it as it was (a FIFO stands in for
        // a device: the test never writes near /dev)
        let (a, _) = artefact();
        let err = a.save(&fifo).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a named pipe (FIFO), not a regular file"),
            "{err}"
        );
        let kind = crate::files::kind_of(&fifo).unwrap();
        assert_eq!(kind, Some(crate::files::FileKind::Fifo), "still a FIFO");
        assert!(!fifo.with_extension("json.tmp").exists());
    }

    #[test]
    fn a_non_integer_format_version_is_named_as_such() {
        let (a, _) = artefact();
        let mut v = serde_json::to_value(&a).unwrap();
        v["format_version"] = 1.5.into();
        let err = load_err(&serde_json::to_vec(&v).unwrap());
        assert!(
            err.to_string()
                .contains("format_version must be a whole number, got 1.5"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_says_how_to_make_one() {
        let err = ModelArtefact::load(Path::new("/nonexistent/model.json")).unwrap_err();
        assert!(matches!(err, ModelError::NotFound { .. }));
        assert!(err.to_string().contains("anomaly-kit train"));
    }
}
