//! The command line's flags, and how each turns into the library's objects.

use std::path::{Path, PathBuf};

use anomaly_kit::experiment::{self, Recipe};
use anomaly_kit::features::DEFAULT_WINDOW;
use anomaly_kit::forest::{Contamination, MaxFeatures, MaxSamples};
use anomaly_kit::frame::{self, CsvOptions, Table};
use anomaly_kit::synth::Trend;
use anomaly_kit::tasks::{SpecOverrides, ThresholdChoice};
use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "anomaly-kit",
    version,
    about = "Real-time anomaly detection experiment kit: generate, train, evaluate, benchmark"
)]
pub struct Cli {
    /// Worker threads for fitting and scoring (default: all cores). Results do not depend on it.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// More log output (repeat for more); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as plain text or as JSON objects (for CloudWatch and other log stores).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LiveDetector {
    Served,
    Online,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate synthetic series with injected anomalies (features CSV + labels CSV).
    #[command(
        after_help = "Examples:\n  anomaly-kit generate --trend random_walk --seed 101 --out data --name test\n  anomaly-kit generate --rows 1000000 --anomalies 50000 --format npz --out bench/data --name gen_1000000"
    )]
    Generate(GenerateArgs),
    /// Draw the data charts (series with anomalies, label matrix) and, with --model, score charts.
    #[command(
        after_help = "Example:\n  anomaly-kit plot --input data/test.csv --labels data/test_labels.csv --model data/model --out data/plots"
    )]
    Plot(PlotArgs),
    /// Train a detector on any numeric CSV (or .npz) and save the model artefact.
    #[command(
        after_help = "Examples:\n  anomaly-kit train --input data/train.csv --labels data/train_labels.csv --out data/model\n  anomaly-kit train --input my.csv --recipe tutorial --contamination 0.05 --out my-model.json"
    )]
    Train(TrainArgs),
    /// Score a CSV with a saved model; with labels, report precision, recall, F1, ROC-AUC, AP.
    #[command(
        after_help = "Example:\n  anomaly-kit evaluate --model data/model --input data/test.csv --labels data/test_labels.csv --sweep"
    )]
    Evaluate(EvaluateArgs),
    /// The unsupervised benchmark protocol on labelled datasets (.npz with X and y, or CSV).
    #[command(
        after_help = "Example:\n  anomaly-kit benchmark --input ../shared/datasets/adbench/*.npz --seeds 5 \\\n      --reference ../shared/datasets/adbench/REFERENCE.md --markdown"
    )]
    Benchmark(BenchmarkArgs),
    /// Run streaming detectors over the Numenta Anomaly Benchmark and score them by NAB's rules.
    #[command(
        after_help = "Examples:\n  anomaly-kit nab --data ../shared/datasets/nab\n  anomaly-kit nab --detector online --out target/nab --json\n  anomaly-kit nab --detector online --params '{\"cooldown\": 200}'"
    )]
    Nab(NabArgs),
    /// Serve a model with SageMaker's container contract: GET /ping, POST /invocations, port 8080.
    #[command(
        after_help = "Examples:\n  anomaly-kit serve --model data/model --host 127.0.0.1 --port 8080\n  curl -s -H 'Content-Type: application/json' \\\n       -d '[{\"feature_1\": 1.2, \"feature_2\": 0.4, \"feature_3\": 2.0, \"feature_4\": 1.1, \"feature_5\": 0.9}]' \\\n       http://127.0.0.1:8080/invocations\n\nThe model comes from --model, else $MODEL_PATH, else /opt/ml/model/ (SageMaker's)."
    )]
    Serve(ServeArgs),
    /// The tutorial's offline part end to end: data, plots, recipes side by side, model artefact.
    #[command(
        after_help = "Example:\n  anomaly-kit walkthrough --out data --json > data/walkthrough.json"
    )]
    Walkthrough(WalkthroughArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TrendArg {
    Linear,
    RandomWalk,
    Exponential,
    Uniform,
}

impl From<TrendArg> for Trend {
    fn from(t: TrendArg) -> Self {
        match t {
            TrendArg::Linear => Trend::Linear,
            TrendArg::RandomWalk => Trend::RandomWalk,
            TrendArg::Exponential => Trend::Exponential,
            TrendArg::Uniform => Trend::Uniform,
        }
    }
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 5)]
    pub features: usize,
    /// Anomalous rows per feature (trending kinds).
    #[arg(long, default_value_t = 500)]
    pub anomalies: usize,
    #[arg(long, value_enum, default_value = "linear")]
    pub trend: TrendArg,
    #[arg(long, default_value_t = 100)]
    pub seed: u64,
    /// Probability that a row is anomalous (uniform kind).
    #[arg(long, default_value_t = 0.05)]
    pub row_anomaly_rate: f64,
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
    /// File stem: writes OUT/NAME.csv and OUT/NAME_labels.csv (or OUT/NAME.npz).
    #[arg(long, default_value = "train")]
    pub name: String,
    /// `csv` (the tutorial's two files) or `npz` (X and y in one NumPy archive, for benchmarks).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: DataFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DataFormat {
    Csv,
    Npz,
}

/// Where labels come from: a column of the data file, or a column of a second file.
#[derive(Args, Clone)]
pub struct LabelArgs {
    /// A labels CSV with one row per data row (the generator's NAME_labels.csv).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The 0/1 label column: in --labels if given, else in the data file itself.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Columns of the data file to leave out (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
}

impl LabelArgs {
    /// Reads `input` with these label settings.
    pub fn read(&self, input: &Path) -> Result<Table> {
        let (opts, labels_file) = match &self.labels {
            Some(file) => (
                CsvOptions {
                    label_column: None,
                    ignore: self.ignore.clone(),
                },
                Some((
                    file.as_path(),
                    self.label_column.as_deref().unwrap_or("anomaly"),
                )),
            ),
            None => (
                CsvOptions {
                    label_column: self.label_column.clone(),
                    ignore: self.ignore.clone(),
                },
                None,
            ),
        };
        Ok(frame::read_table(input, &opts, labels_file)?)
    }
}

#[derive(Args)]
pub struct PlotArgs {
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub labels: LabelArgs,
    /// The generator's labels file with per-feature labels, to mark anomalous cells (default: --labels).
    #[arg(long)]
    pub cell_labels: Option<PathBuf>,
    /// Also draw score distribution, ROC and PR charts for this model (needs labels).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value = "data/plots")]
    pub out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RecipeArg {
    Tutorial,
    ThresholdOnly,
    Improved,
}

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Starting point; the flags below override its parts.
    #[arg(long, value_enum, default_value = "improved")]
    pub recipe: RecipeArg,
    /// Trailing-median window in rows; 0 feeds raw values to the forest.
    #[arg(long)]
    pub window: Option<usize>,
    /// Decision threshold: `forest` (its contamination), `labels` (training anomaly rate) or a fraction.
    #[arg(long)]
    pub threshold: Option<ThresholdChoice>,
    #[arg(long)]
    pub trees: Option<usize>,
    /// `auto` (min(256, rows)), a count, or a fraction like 0.5.
    #[arg(long)]
    pub max_samples: Option<MaxSamples>,
    /// `all`, a count, or a fraction.
    #[arg(long)]
    pub max_features: Option<MaxFeatures>,
    #[arg(long)]
    pub bootstrap: Option<bool>,
    /// `auto` or a fraction in (0, 0.5].
    #[arg(long)]
    pub contamination: Option<Contamination>,
    #[arg(long, default_value_t = experiment::FOREST_SEED)]
    pub seed: u64,
    /// A file, or a directory that gets model.json.
    #[arg(long, default_value = "data/model")]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// Model file or directory.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Also print precision/recall/F1 when flagging the top 1, 2, 5, 10, 15, 20, 25, 30 % of rows.
    #[arg(long)]
    pub sweep: bool,
    /// Write one row per input row (score, flag) to this CSV.
    #[arg(long)]
    pub scores_out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchmarkArgs {
    /// Datasets: .npz (X, y) or CSV with --label-column. Repeatable.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Label column for CSV inputs.
    #[arg(long, default_value = "anomaly")]
    pub label_column: String,
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    #[arg(long, default_value = "auto")]
    pub max_samples: MaxSamples,
    /// REFERENCE.md with scikit-learn and isotree figures, shown beside ours.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Exit non-zero if a mean ROC-AUC is more than 0.02 below scikit-learn's (needs --reference).
    #[arg(long)]
    pub check: bool,
    /// One JSON object per dataset (JSON lines) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A markdown table (for the README) instead of plain text.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Args)]
pub struct NabArgs {
    /// The NAB corpus folder (with data/, labels/ and config/).
    #[arg(long, default_value = "../shared/datasets/nab")]
    pub data: PathBuf,
    /// Detectors to run (repeatable): online, zscore-baseline, recipe, windowed-gaussian.
    /// Default: all, the online detector first.
    #[arg(long)]
    pub detector: Vec<String>,
    /// Write each detector's per-row scores in NAB's results layout under this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The online detector's parameters as JSON (a file path or inline), over the defaults.
    #[arg(long)]
    pub params: Option<String>,
    /// One JSON object per detector instead of the scoreboard.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Model file or directory (default: $MODEL_PATH, else /opt/ml/model/).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value = "0.0.0.0")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Bodies above this many bytes get 413 (SageMaker's own limit is 6 MB).
    #[arg(long, default_value_t = 6 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds before a request gets 408.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Seconds a client has to send a request head (and an idle keep-alive connection stays).
    #[arg(long, default_value_t = 60)]
    pub header_timeout_secs: u64,
    /// Open connections at most; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Bodies over 64 KB parsed and scored at once, at most (each takes about 20x its size).
    /// Default: one fewer than the cores, at least 1.
    #[arg(long)]
    pub max_large_bodies: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM; a second signal exits at once.
    #[arg(long, default_value_t = 10)]
    pub drain_secs: u64,
}

#[derive(Args)]
pub struct WalkthroughArgs {
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "linear")]
    pub trend: TrendArg,
    #[arg(long, default_value_t = DEFAULT_WINDOW)]
    pub window: usize,
    /// Skip the table of all recipes on all trend kinds.
    #[arg(long)]
    pub no_compare: bool,
    /// Skip the SVG charts.
    #[arg(long)]
    pub no_plots: bool,
    /// Print the report as JSON (and nothing else) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Skip the live part (streaming the test set through the local server).
    #[arg(long)]
    pub no_live: bool,
    /// What scores the live part: the trained model served on loopback, or an online detector
    /// that learns from the stream (no server; its state is checkpointed with the consumer's).
    #[arg(long, value_enum, default_value = "served")]
    pub live_detector: LiveDetector,
    /// Pace the live stream at this many rows per second (the tutorial: 10); default: as fast as it goes.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stream only the test set's first N rows in the live part (default: all of them).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Stream through Kinesis instead of the embedded stream: a Kinesis-compatible endpoint URL
    /// (the local cloud's, see deploy/local/) or `aws` for the default AWS configuration. Needs
    /// the deploy binaries beside this one: `cargo build --release --workspace`.
    #[arg(long, value_name = "URL|aws")]
    pub kinesis_endpoint: Option<String>,
    /// The Kinesis stream for --kinesis-endpoint (created with one shard on a local endpoint).
    #[arg(long, default_value = "anomaly-kit-walkthrough")]
    pub kinesis_stream: String,
}

impl From<RecipeArg> for Recipe {
    fn from(r: RecipeArg) -> Self {
        match r {
            RecipeArg::Tutorial => Recipe::Tutorial,
            RecipeArg::ThresholdOnly => Recipe::ThresholdOnly,
            RecipeArg::Improved => Recipe::Improved,
        }
    }
}

impl TrainArgs {
    /// The flags that change the recipe's detector.
    pub fn overrides(&self) -> SpecOverrides {
        SpecOverrides {
            window: self.window,
            threshold: self.threshold,
            trees: self.trees,
            max_samples: self.max_samples,
            max_features: self.max_features,
            bootstrap: self.bootstrap,
            contamination: self.contamination,
        }
    }
}

impl ServeArgs {
    /// The server's settings (every bound at least 1).
    pub fn config(&self) -> anomaly_kit_server::ServeConfig {
        use std::time::Duration;
        anomaly_kit_server::ServeConfig {
            host: self.host.clone(),
            port: self.port,
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_secs(self.timeout_secs.max(1)),
            header_read_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
            max_large_bodies: self
                .max_large_bodies
                .unwrap_or_else(anomaly_kit_server::default_large_bodies)
                .max(1),
            drain_timeout: Duration::from_secs(self.drain_secs),
        }
    }
}

impl NabArgs {
    /// The online detector's parameters: the defaults, or `--params` (a file or inline JSON).
    pub fn online_params(&self) -> Result<anomaly_kit::online::OnlineParams> {
        use anyhow::Context;
        let Some(p) = &self.params else {
            return Ok(Default::default());
        };
        let text = if Path::new(p).is_file() {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {p}"))?
        } else {
            p.clone()
        };
        let params: anomaly_kit::online::OnlineParams =
            serde_json::from_str(&text).context("--params is not valid online parameters")?;
        params.check()?;
        Ok(params)
    }

    /// The detectors to run, by name (all, the online one first, when none is named).
    pub fn detectors(&self) -> Result<Vec<anomaly_kit::nab::NabDetector>> {
        use anomaly_kit::nab::NabDetector;
        let online = self.online_params()?;
        let named: Vec<NabDetector> = if self.detector.is_empty() {
            NabDetector::all()
        } else {
            self.detector
                .iter()
                .map(|n| {
                    NabDetector::from_name(n).ok_or_else(|| {
                        anyhow::anyhow!("unknown detector {n:?}: choose online, zscore-baseline, recipe or windowed-gaussian")
                    })
                })
                .collect::<Result<_>>()?
        };
        Ok(named
            .into_iter()
            .map(|d| match d {
                NabDetector::Online(_) => NabDetector::Online(online.clone()),
                other => other,
            })
            .collect())
    }
}

impl WalkthroughArgs {
    /// The walkthrough's settings.
    pub fn config(&self) -> experiment::WalkthroughConfig {
        experiment::WalkthroughConfig {
            out_dir: self.out.clone(),
            trend: self.trend.into(),
            window: self.window,
            compare_trends: !self.no_compare,
            plots: !self.no_plots,
            ..experiment::WalkthroughConfig::default()
        }
    }
}
