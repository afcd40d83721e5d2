//! `anomaly-kit`: the command line over the library. Parses flags, calls the library, prints.

mod kinesis;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anomaly_kit::benchmark::{self, BenchmarkResult, Reference};
use anomaly_kit::detector::{DetectorSpec, ThresholdRule};
use anomaly_kit::experiment::{self, Recipe, Step, WalkthroughConfig, WalkthroughReport};
use anomaly_kit::features::{DEFAULT_WINDOW, Preprocess};
use anomaly_kit::forest::{Contamination, IsolationForestParams, MaxFeatures, MaxSamples};
use anomaly_kit::frame::{self, CsvOptions, Table};
use anomaly_kit::metrics::{self, Evaluation};
use anomaly_kit::model::{ModelArtefact, TrainingInfo};
use anomaly_kit::plot;
use anomaly_kit::synth::{SynthParams, Trend};
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::{Column, DataFrame};

#[derive(Parser)]
#[command(
    name = "anomaly-kit",
    version,
    about = "Real-time anomaly detection experiment kit: generate, train, evaluate, benchmark"
)]
struct Cli {
    /// Worker threads for fitting and scoring (default: all cores). Results do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// More log output (repeat for more); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines as plain text or as JSON objects (for CloudWatch and other log stores).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LiveDetector {
    Served,
    Online,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
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
enum TrendArg {
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
struct GenerateArgs {
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    #[arg(long, default_value_t = 5)]
    features: usize,
    /// Anomalous rows per feature (trending kinds).
    #[arg(long, default_value_t = 500)]
    anomalies: usize,
    #[arg(long, value_enum, default_value = "linear")]
    trend: TrendArg,
    #[arg(long, default_value_t = 100)]
    seed: u64,
    /// Probability that a row is anomalous (uniform kind).
    #[arg(long, default_value_t = 0.05)]
    row_anomaly_rate: f64,
    #[arg(long, default_value = "data")]
    out: PathBuf,
    /// File stem: writes OUT/NAME.csv and OUT/NAME_labels.csv (or OUT/NAME.npz).
    #[arg(long, default_value = "train")]
    name: String,
    /// `csv` (the tutorial's two files) or `npz` (X and y in one NumPy archive, for benchmarks).
    #[arg(long, value_enum, default_value = "csv")]
    format: DataFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum DataFormat {
    Csv,
    Npz,
}

/// Where labels come from: a column of the data file, or a column of a second file.
#[derive(Args, Clone)]
struct LabelArgs {
    /// A labels CSV with one row per data row (the generator's NAME_labels.csv).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// The 0/1 label column: in --labels if given, else in the data file itself.
    #[arg(long)]
    label_column: Option<String>,
    /// Columns of the data file to leave out (repeatable).
    #[arg(long)]
    ignore: Vec<String>,
}

impl LabelArgs {
    fn read(&self, input: &Path) -> Result<Table> {
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
struct PlotArgs {
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    labels: LabelArgs,
    /// The generator's labels file with per-feature labels, to mark anomalous cells (default: --labels).
    #[arg(long)]
    cell_labels: Option<PathBuf>,
    /// Also draw score distribution, ROC and PR charts for this model (needs labels).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, default_value = "data/plots")]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum RecipeArg {
    Tutorial,
    ThresholdOnly,
    Improved,
}

#[derive(Args)]
struct TrainArgs {
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    labels: LabelArgs,
    /// Starting point; the flags below override its parts.
    #[arg(long, value_enum, default_value = "improved")]
    recipe: RecipeArg,
    /// Trailing-median window in rows; 0 feeds raw values to the forest.
    #[arg(long)]
    window: Option<usize>,
    /// Decision threshold: `forest` (its contamination), `labels` (training anomaly rate) or a fraction.
    #[arg(long)]
    threshold: Option<String>,
    #[arg(long)]
    trees: Option<usize>,
    /// `auto` (min(256, rows)), a count, or a fraction like 0.5.
    #[arg(long)]
    max_samples: Option<MaxSamples>,
    /// `all`, a count, or a fraction.
    #[arg(long)]
    max_features: Option<MaxFeatures>,
    #[arg(long)]
    bootstrap: Option<bool>,
    /// `auto` or a fraction in (0, 0.5].
    #[arg(long)]
    contamination: Option<Contamination>,
    #[arg(long, default_value_t = experiment::FOREST_SEED)]
    seed: u64,
    /// A file, or a directory that gets model.json.
    #[arg(long, default_value = "data/model")]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EvaluateArgs {
    /// Model file or directory.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    labels: LabelArgs,
    /// Also print precision/recall/F1 when flagging the top 1, 2, 5, 10, 15, 20, 25, 30 % of rows.
    #[arg(long)]
    sweep: bool,
    /// Write one row per input row (score, flag) to this CSV.
    #[arg(long)]
    scores_out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchmarkArgs {
    /// Datasets: .npz (X, y) or CSV with --label-column. Repeatable.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Label column for CSV inputs.
    #[arg(long, default_value = "anomaly")]
    label_column: String,
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    #[arg(long, default_value_t = 100)]
    trees: usize,
    #[arg(long, default_value = "auto")]
    max_samples: MaxSamples,
    /// REFERENCE.md with scikit-learn and isotree figures, shown beside ours.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Exit non-zero if a mean ROC-AUC is more than 0.02 below scikit-learn's (needs --reference).
    #[arg(long)]
    check: bool,
    /// One JSON object per dataset (JSON lines) instead of a table.
    #[arg(long)]
    json: bool,
    /// A markdown table (for the README) instead of plain text.
    #[arg(long)]
    markdown: bool,
}

#[derive(Args)]
struct NabArgs {
    /// The NAB corpus folder (with data/, labels/ and config/).
    #[arg(long, default_value = "../shared/datasets/nab")]
    data: PathBuf,
    /// Detectors to run (repeatable): online, zscore-baseline, recipe, windowed-gaussian.
    /// Default: all, the online detector first.
    #[arg(long)]
    detector: Vec<String>,
    /// Write each detector's per-row scores in NAB's results layout under this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The online detector's parameters as JSON (a file path or inline), over the defaults.
    #[arg(long)]
    params: Option<String>,
    /// One JSON object per detector instead of the scoreboard.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Model file or directory (default: $MODEL_PATH, else /opt/ml/model/).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Bodies above this many bytes get 413 (SageMaker's own limit is 6 MB).
    #[arg(long, default_value_t = 6 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Seconds before a request gets 408.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Seconds a client has to send a request head (and an idle keep-alive connection stays).
    #[arg(long, default_value_t = 60)]
    header_timeout_secs: u64,
    /// Open connections at most; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Bodies over 64 KB parsed and scored at once, at most (each takes about 20x its size).
    /// Default: one fewer than the cores, at least 1.
    #[arg(long)]
    max_large_bodies: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM; a second signal exits at once.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
}

#[derive(Args)]
struct WalkthroughArgs {
    #[arg(long, default_value = "data")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "linear")]
    trend: TrendArg,
    #[arg(long, default_value_t = DEFAULT_WINDOW)]
    window: usize,
    /// Skip the table of all recipes on all trend kinds.
    #[arg(long)]
    no_compare: bool,
    /// Skip the SVG charts.
    #[arg(long)]
    no_plots: bool,
    /// Print the report as JSON (and nothing else) on stdout.
    #[arg(long)]
    json: bool,
    /// Skip the live part (streaming the test set through the local server).
    #[arg(long)]
    no_live: bool,
    /// What scores the live part: the trained model served on loopback, or an online detector
    /// that learns from the stream (no server; its state is checkpointed with the consumer's).
    #[arg(long, value_enum, default_value = "served")]
    live_detector: LiveDetector,
    /// Pace the live stream at this many rows per second (the tutorial: 10); default: as fast as it goes.
    #[arg(long)]
    rate: Option<f64>,
    /// Stream through Kinesis instead of the embedded stream: a Kinesis-compatible endpoint URL
    /// (the local cloud's, see deploy/local/) or `aws` for the default AWS configuration. Needs
    /// the deploy binaries beside this one: `cargo build --release --workspace`.
    #[arg(long, value_name = "URL|aws")]
    kinesis_endpoint: Option<String>,
    /// The Kinesis stream for --kinesis-endpoint (created with one shard on a local endpoint).
    #[arg(long, default_value = "anomaly-kit-walkthrough")]
    kinesis_stream: String,
}

/// Polars truncates wide tables by default; the CLI's tables are small, so show them whole.
fn configure_table_display() {
    let settings = [
        ("POLARS_FMT_MAX_COLS", "30"),
        ("POLARS_FMT_MAX_ROWS", "40"),
        ("POLARS_FMT_STR_LEN", "40"),
        ("POLARS_TABLE_WIDTH", "200"),
        ("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1"),
        ("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1"),
    ];
    for (key, value) in settings {
        if std::env::var_os(key).is_none() {
            // SAFETY: called first thing in `main`, before any other thread exists.
            unsafe { std::env::set_var(key, value) };
        }
    }
}

fn main() {
    configure_table_display();
    let cli = Cli::parse();
        let quiet = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = match cli.verbose {
        0 => quiet,
        1 => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    if let Err(e) = run(cli) {
        // Our errors often quote their cause already; print each cause only once.
        let mut message = e.to_string();
        for cause in e.chain().skip(1).map(|c| c.to_string()) {
            if !message.contains(&cause) {
                message = format!("{message}: {cause}");
            }
        }
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    match cli.command {
        Command::Generate(a) => generate(a),
        Command::Plot(a) => plot_cmd(a),
        Command::Train(a) => train(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Benchmark(a) => benchmark_cmd(a),
        Command::Nab(a) => nab_cmd(a),
        Command::Walkthrough(a) => walkthrough(a),
                Command::Serve(a) => serve_cmd(a),
    }
}

fn show(title: &str, df: &DataFrame) {
    println!("\n{title}\n{df}");
}

fn generate(a: GenerateArgs) -> Result<()> {
    let params = SynthParams::tutorial()
        .rows(a.rows)
        .features(a.features)
        .anomalies(a.anomalies)
        .trend(a.trend.into())
        .seed(a.seed)
        .row_anomaly_rate(a.row_anomaly_rate);
    let data = params.generate()?;
    let written = match a.format {
        DataFormat::Csv => {
            let (features, labels) = frame::write_synthetic(&data, &a.out, &a.name)?;
            vec![features, labels]
        }
        DataFormat::Npz => {
            let path = a.out.join(format!("{}.npz", a.name));
            frame::write_npz(&data, &path)?;
            vec![path]
        }
    };
    println!(
        "{} data, seed {}: {} rows x {} features, {} anomalous cells, {} anomalous rows ({:.1} %)",
        data.params.trend,
        data.params.seed,
        data.n_rows(),
        data.n_features(),
        data.anomalous_cells(),
        data.anomalous_rows(),
        100.0 * data.anomalous_rows() as f64 / data.n_rows() as f64
    );
    show("First rows:", &frame::features_frame(&data)?.head(Some(5)));
    show(
        "Summary:",
        &frame::describe(&data.feature_names, data.values.view())?,
    );
    println!();
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn plot_cmd(a: PlotArgs) -> Result<()> {
    let table = a.labels.read(&a.input)?;
    let cells = cell_labels(&a, &table)?;
    let mut written = Vec::new();
    let series = a.out.join("series.svg");
    plot::save_svg(&series, (1200, 900), |area| {
        plot::series_with_anomalies(
            area,
            &table.feature_names,
            table.values.view(),
            cells.view(),
            "Series with anomalies (red)",
        )
    })?;
    written.push(series);
    let matrix = a.out.join("labels.svg");
    plot::save_svg(&matrix, (1200, 400), |area| {
        plot::label_matrix(area, &table.feature_names, cells.view(), "Anomalous cells")
    })?;
    written.push(matrix);
    if let Some(model) = &a.model {
        let artefact = ModelArtefact::load(model)?;
        let truth = table
            .labels
            .as_ref()
            .context("score charts need labels: pass --labels or --label-column")?;
        let detector = &artefact.detector;
        let x = select_features(&table, &detector.feature_names)?;
        let scores = detector.anomaly_scores(x.view())?;
        let roc = metrics::roc_curve(&scores, truth)?;
        let pr = metrics::pr_curve(&scores, truth)?;
        let base = truth.iter().filter(|&&t| t).count() as f64 / truth.len() as f64;
        let (auc, ap) = (
            metrics::roc_auc(&scores, truth)?,
            metrics::average_precision(&scores, truth)?,
        );
        let p = [
            a.out.join("scores.svg"),
            a.out.join("roc.svg"),
            a.out.join("pr.svg"),
        ];
        plot::save_svg(&p[0], (900, 500), |ar| {
            plot::score_distribution(
                ar,
                &scores,
                Some(truth),
                -detector.threshold(),
                "Anomaly scores",
            )
        })?;
        plot::save_svg(&p[1], (600, 600), |ar| {
            plot::roc_curve(ar, &roc, auc, "ROC curve")
        })?;
        plot::save_svg(&p[2], (600, 600), |ar| {
            plot::pr_curve(ar, &pr, ap, base, "Precision-recall curve")
        })?;
        written.extend(p);
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// Per-cell labels to mark: from `--cell-labels`, else from `--labels` when that file has a
/// column for every feature (the generator's labels file does), else none. Matched by name.
fn cell_labels(a: &PlotArgs, table: &Table) -> Result<ndarray::Array2<u8>> {
    let explicit = a.cell_labels.as_ref();
    let source = match (explicit, &a.labels.labels) {
        (Some(path), _) => Some(path),
        (None, Some(path))
            if frame::csv_header(path)
                .is_ok_and(|header| table.feature_names.iter().all(|f| header.contains(f))) =>
        {
            Some(path)
        }
        _ => None,
    };
    let mut cells = ndarray::Array2::zeros(table.values.raw_dim());
    if let Some(path) = source {
        let columns = frame::read_label_columns(path, &table.feature_names)
            .with_context(|| format!("reading per-feature labels from {}", path.display()))?;
        for (j, column) in columns.iter().enumerate() {
            if column.len() != table.n_rows() {
                bail!(
                    "{} has {} label rows but the data has {}",
                    path.display(),
                    column.len(),
                    table.n_rows()
                );
            }
            for (i, &anomalous) in column.iter().enumerate() {
                cells[[i, j]] = u8::from(anomalous);
            }
        }
    }
    Ok(cells)
}

/// The model's feature columns from a table, by name, in the model's order.
fn select_features(table: &Table, names: &[String]) -> Result<ndarray::Array2<f64>> {
    let mut cols = Vec::with_capacity(names.len());
    for name in names {
        let at = table
            .feature_names
            .iter()
            .position(|n| n == name)
            .with_context(|| {
                format!(
                    "the model needs column '{name}' but the input has {}",
                    table.feature_names.join(", ")
                )
            })?;
        cols.push(at);
    }
    Ok(table.values.select(ndarray::Axis(1), &cols))
}

fn train(a: TrainArgs) -> Result<()> {
    let table = a.labels.read(&a.input)?;
    let recipe = match a.recipe {
        RecipeArg::Tutorial => Recipe::Tutorial,
        RecipeArg::ThresholdOnly => Recipe::ThresholdOnly,
        RecipeArg::Improved => Recipe::Improved,
    };
    let mut spec: DetectorSpec = recipe.spec(DEFAULT_WINDOW, a.seed);
    let mut forest: IsolationForestParams = spec.forest.clone();
    // any override makes it a recipe of the user's own, and the artefact says so
    let mut customised = false;
    if let Some(w) = a.window {
        spec.preprocess = if w == 0 {
            Preprocess::Raw
        } else {
            Preprocess::RollingMedianResidual { window: w }
        };
        customised = true;
    }
    if let Some(t) = &a.threshold {
        spec.threshold = match t.as_str() {
            "forest" => ThresholdRule::Forest,
            "labels" => ThresholdRule::LabelRate,
            fraction => {
                if a.contamination.is_some() {
                    bail!(
                        "--threshold {fraction} sets the contamination; drop --contamination or use --threshold forest"
                    );
                }
                let c: Contamination = fraction.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "--threshold must be forest, labels or a fraction, got '{fraction}'"
                    )
                })?;
                forest = forest.contamination(c);
                ThresholdRule::Forest
            }
        };
        customised = true;
    }
    if let Some(n) = a.trees {
        forest = forest.n_trees(n);
        customised = true;
    }
    if let Some(m) = a.max_samples {
        forest = forest.max_samples(m);
        customised = true;
    }
    if let Some(m) = a.max_features {
        forest = forest.max_features(m);
        customised = true;
    }
    if let Some(b) = a.bootstrap {
        forest = forest.bootstrap(b);
        customised = true;
    }
    if let Some(c) = a.contamination {
        forest = forest.contamination(c);
        customised = true;
    }
    spec.forest = forest;
    let recipe_name = if customised { "custom" } else { recipe.name() };
    let started = Instant::now();
    let detector = spec
        .fit(
            &table.feature_names,
            table.values.view(),
            table.labels.as_deref(),
        )
        .with_context(|| format!("training on {}", a.input.display()))?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let flagged = detector.is_anomaly(table.values.view())?;
    let mut artefact = ModelArtefact::new(
        recipe_name,
        detector,
        TrainingInfo::of(table.values.view(), None),
    )
    .with_metric(
        "train_flagged_rate",
        flagged.iter().filter(|&&f| f).count() as f64 / flagged.len() as f64,
    );
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
    let path = artefact.save(&a.out)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "model": path, "fit_seconds": fit_seconds, "summary": artefact.summary() })
            )?
        );
    } else {
        let s = artefact.summary();
        println!(
            "trained the {} recipe on {} rows x {} features in {:.3} s: {} trees, max_samples {}, preprocess {:?}, threshold {:.4} ({:?})",
            s.recipe,
            s.training_rows,
            s.feature_names.len(),
            fit_seconds,
            s.n_trees,
            s.max_samples,
            s.preprocess,
            s.threshold,
            s.threshold_rule
        );
        for (k, v) in &s.metrics {
            println!("  {k}: {v:.4}");
        }
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn evaluate(a: EvaluateArgs) -> Result<()> {
    let artefact = ModelArtefact::load(&a.model)?;
    let table = a.labels.read(&a.input)?;
    let detector = &artefact.detector;
    let x = select_features(&table, &detector.feature_names)?;
    let started = Instant::now();
    let scored = detector.score_series(x.view())?;
    let score_seconds = started.elapsed().as_secs_f64();
    let scores: Vec<f64> = scored.scores.iter().map(|s| -s).collect();
    let flagged = scored.anomalies;
    if let Some(path) = &a.scores_out {
        write_scores(path, &scored.scores, &flagged)?;
    }
    let n_flagged = flagged.iter().filter(|&&f| f).count();
    let evaluation = table
        .labels
        .as_ref()
        .map(|truth| Evaluation::new(&scores, &flagged, truth))
        .transpose()?;
    let sweep_rates = [0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30];
    let sweep = match (&table.labels, a.sweep) {
        (Some(truth), true) => Some(metrics::sweep_by_flag_rate(&scores, truth, &sweep_rates)?),
        (None, true) => bail!("--sweep needs labels (--labels or --label-column)"),
        _ => None,
    };
    if a.json {
        let report = serde_json::json!({
            "model": a.model, "input": a.input, "rows": table.n_rows(), "flagged": n_flagged,
            "score_seconds": score_seconds, "evaluation": evaluation, "sweep": sweep,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "scored {} rows in {:.3} s with the {} model: {} flagged ({:.1} %)",
        table.n_rows(),
        score_seconds,
        artefact.recipe,
        n_flagged,
        100.0 * n_flagged as f64 / table.n_rows() as f64
    );
    if let Some(e) = evaluation {
        let c = e.confusion;
        println!(
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
        );
    } else {
        println!("(no labels given: pass --labels FILE or --label-column NAME for metrics)");
    }
    if let Some(sweep) = sweep {
        let df = DataFrame::new(
            sweep.len(),
            vec![
                Column::new(
                    "flag_top".into(),
                    sweep_rates
                        .iter()
                        .map(|r| format!("{:.0} %", r * 100.0))
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "flagged".into(),
                    sweep.iter().map(|p| p.flagged as u64).collect::<Vec<_>>(),
                ),
                Column::new(
                    "precision".into(),
                    sweep
                        .iter()
                        .map(|p| experiment::round3(p.precision))
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "recall".into(),
                    sweep
                        .iter()
                        .map(|p| experiment::round3(p.recall))
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "f1".into(),
                    sweep
                        .iter()
                        .map(|p| experiment::round3(p.f1))
                        .collect::<Vec<_>>(),
                ),
            ],
        )?;
        show(
            "Threshold sweep (flag the top share of rows by score):",
            &df,
        );
    }
    Ok(())
}

/// A ranking metric, or why there is none.
fn ranking_metric(value: Option<f64>) -> String {
    value.map_or_else(
        || "n/a (labels hold one class)".into(),
        |v| format!("{v:.3}"),
    )
}

fn write_scores(path: &Path, scores: &[f64], flagged: &[bool]) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(["row", "score", "anomaly"])?;
    for (i, (s, f)) in scores.iter().zip(flagged).enumerate() {
        w.write_record([i.to_string(), s.to_string(), u8::from(*f).to_string()])?;
    }
    w.flush()?;
    Ok(())
}

fn dataset_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn benchmark_cmd(a: BenchmarkArgs) -> Result<()> {
    let reference = match &a.reference {
        Some(p) => {
            benchmark::read_reference(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None if a.check => bail!("--check needs --reference"),
        None => Default::default(),
    };
    let params = IsolationForestParams::new()
        .n_trees(a.trees)
        .max_samples(a.max_samples);
    let bar = ProgressBar::new(a.input.len() as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")?);
    let mut results = Vec::new();
    for path in &a.input {
        let name = dataset_name(path);
        bar.set_message(name.clone());
        let table = frame::read_table(
            path,
            &CsvOptions {
                label_column: Some(a.label_column.clone()),
                ignore: vec![],
            },
            None,
        )?;
        let r = benchmark::run(&name, &table, &params, a.seeds)?;
        if a.json {
            bar.suspend(|| println!("{}", serde_json::to_string(&r).expect("plain data")));
        }
        results.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !a.json {
        print_benchmark(&results, &reference, a.markdown);
    }
    if a.check {
        let unreferenced: Vec<&str> = results
            .iter()
            .filter(|r| !reference.contains_key(&r.dataset))
            .map(|r| r.dataset.as_str())
            .collect();
        if !unreferenced.is_empty() {
            bail!(
                "--check: no reference figures for {}",
                unreferenced.join(", ")
            );
        }
        let failing: Vec<String> = results
            .iter()
            .filter_map(|r| {
                reference
                    .get(&r.dataset)
                    .filter(|f| r.roc_auc_mean < f.sklearn_auc.0 - 0.02)
                    .map(|f| {
                        format!(
                            "{} ({:.4} vs sklearn {:.4})",
                            r.dataset, r.roc_auc_mean, f.sklearn_auc.0
                        )
                    })
            })
            .collect();
        if !failing.is_empty() {
            bail!(
                "ROC-AUC more than 0.02 below scikit-learn on: {}",
                failing.join(", ")
            );
        }
    }
    Ok(())
}

fn print_benchmark(
    results: &[BenchmarkResult],
    reference: &std::collections::BTreeMap<String, Reference>,
    markdown: bool,
) {
    let pm = |m: f64, s: f64| format!("{m:.4} ± {s:.4}");
    let header = [
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
    ];
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let f = reference.get(&r.dataset);
            let refcell = |get: fn(&Reference) -> (f64, f64)| {
                f.map(|f| pm(get(f).0, get(f).1))
                    .unwrap_or_else(|| "—".into())
            };
            vec![
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
            ]
        })
        .collect();
    if markdown {
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        for r in rows {
            println!("| {} |", r.join(" | "));
        }
    } else {
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        println!("{}", line(header.to_vec()));
        for r in &rows {
            println!("{}", line(r.iter().map(String::as_str).collect()));
        }
    }
}

fn serve_cmd(a: ServeArgs) -> Result<()> {
    use anomaly_kit_server as serve;
    let path = serve::resolve_model_path(a.model.as_deref());
    // load before listening: a bad model is a start-up failure, not a server that answers 500
    let model = serve::load_model(&path).context("cannot start the server")?;
    let config = serve::ServeConfig {
        host: a.host,
        port: a.port,
        max_body_bytes: a.max_body_bytes,
        request_timeout: std::time::Duration::from_secs(a.timeout_secs.max(1)),
        header_read_timeout: std::time::Duration::from_secs(a.header_timeout_secs.max(1)),
        max_connections: a.max_connections.max(1),
        max_large_bodies: a
            .max_large_bodies
            .unwrap_or_else(serve::default_large_bodies)
            .max(1),
        drain_timeout: std::time::Duration::from_secs(a.drain_secs),
    };
    let (recipe, stateful) = (
        model.recipe.clone(),
        model.detector.preprocess.is_stateful(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (addr, server) = serve::bind(model, &config, serve::shutdown_signal())
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        tracing::info!(%addr, model = %path.display(), recipe, stateful, "listening");
        server.await.context("the server stopped with an error")
    })
}

fn walkthrough(a: WalkthroughArgs) -> Result<()> {
    let config = WalkthroughConfig {
        out_dir: a.out.clone(),
        trend: a.trend.into(),
        window: a.window,
        compare_trends: !a.no_compare,
        plots: !a.no_plots,
        ..WalkthroughConfig::default()
    };
    let bar = ProgressBar::new(experiment::step_count(&config) as u64).with_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")?,
    );
    let started = Instant::now();
    let mut first = true;
    let report = experiment::run_walkthrough(&config, |step: Step| {
        if !first {
            bar.inc(1);
        }
        first = false;
        bar.set_message(step.label());
    })?;
    bar.finish_and_clear();
    if !a.json {
        print_walkthrough(&report)?;
    }
        let live = match (&a.kinesis_endpoint, a.no_live) {
        (_, true) => None,
        (Some(endpoint), false) => Some(kinesis::stream(
            &report,
            endpoint,
            &a.kinesis_stream,
            a.rate,
            a.json,
            matches!(a.live_detector, LiveDetector::Online),
        )?),
        (None, false) => Some(live_stream(&report, a.live_detector, a.rate, a.json)?),
    };
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        let mut json = serde_json::to_value(&report)?;
        if let Some(live) = &live {
            json["stream"] = serde_json::to_value(live)?;
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "\nDone in {seconds:.1} s. Next:\n  anomaly-kit evaluate --model {} --input {} --labels {}\n  anomaly-kit serve --model {} --host 127.0.0.1 --port 8080",
            report.artefacts.model.display(),
            report.artefacts.test_csv.display(),
            report.artefacts.test_labels_csv.display(),
            report.artefacts.model.display()
        );
    }
    Ok(())
}

/// The live part: the test CSV streamed through the local server, anomalies shown as they come.
fn live_stream(
    report: &WalkthroughReport,
    detector: LiveDetector,
    rate: Option<f64>,
    quiet: bool,
) -> Result<anomaly_kit::live::LiveReport> {
    use anomaly_kit::live::{LiveEvent, LiveOptions, LiveScorer};
    use anomaly_kit_server::live;
    use anomaly_kit::stream::OnlineModel;
    let table = frame::read_csv(&report.artefacts.test_csv, &CsvOptions::default())?;
    let (scorer, what) = match detector {
        LiveDetector::Served => {
            let model = ModelArtefact::load(&report.artefacts.model)?;
            let what = format!("to the {} model served on loopback", model.recipe);
            (LiveScorer::Served(Box::new(model)), what)
        }
        LiveDetector::Online => (
            LiveScorer::Learning(OnlineModel {
                feature_names: table.feature_names.clone(),
                params: anomaly_kit::online::OnlineParams::default(),
            }),
            "to an online detector that learns as the rows arrive".to_string(),
        ),
    };
    let options = LiveOptions {
        rate,
        ..LiveOptions::default()
    };
    if !quiet {
        println!(
            "\nLive: streaming {} ({} rows) in batches of {} {what}{} ...",
            report.artefacts.test_csv.display(),
            table.n_rows(),
            options.write_batch,
            rate.map(|r| format!(" at {r} rows/s")).unwrap_or_default()
        );
    }
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(table.n_rows() as u64)
    };
    bar.set_style(ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:30} {pos}/{len} rows  {msg}",
    )?);
    let (mut shown, show_max) = (0usize, if rate.is_some() { usize::MAX } else { 10 });
    let result = live::run_live(scorer, &table, &options, |event| match event {
        LiveEvent::Progress { done, .. } => bar.set_position(done as u64),
        LiveEvent::Anomaly { record, timestamp } => {
            let line = format!(
                "anomaly: row {} ({}) score {:.3}",
                record.row.unwrap_or_default(),
                timestamp.unwrap_or("-"),
                record.score.unwrap_or(f64::NAN)
            );
            if !quiet && shown < show_max {
                bar.suspend(|| println!("  {line}"));
            }
            shown += 1;
            bar.set_message(line);
        }
    })?;
    bar.finish_and_clear();
    if !quiet {
        if shown > show_max {
            println!("  ... and {} more", shown - show_max);
        }
        println!(
            "Live tally: {} records sent, {} scored ({} while the window filled, never flagged), {} failed, {} anomalies (offline: {}); streamed predictions {} the offline ones. {:.0} records/s from CSV row to prediction ({:.2} s).",
            result.records_sent,
            result.records_scored,
            result.records_warming_up,
            result.records_failed,
            result.anomalies,
            result.offline_anomalies,
            if result.matches_offline {
                "equal"
            } else {
                "DIFFER FROM"
            },
            result.records_per_second,
            result.seconds
        );
    }
    Ok(result)
}

fn print_walkthrough(r: &WalkthroughReport) -> Result<()> {
    println!("anomaly-kit walkthrough: the tutorial's offline steps, with its defects fixed\n");
    for (what, d) in [("train", &r.train), ("test", &r.test)] {
        println!(
            "{what:>5}: {} data, seed {}, {} rows x {} features, {} anomalous cells, {} anomalous rows ({:.1} %)",
            d.trend,
            d.seed,
            d.rows,
            d.features,
            d.anomalous_cells,
            d.anomalous_rows,
            100.0 * d.anomaly_rate
        );
    }
    show(
        &format!("Recipes on the test set (seed {}):", r.test.seed),
        &r.recipes.to_frame(r.config.trend)?,
    );
    for rec in r.recipes.iter() {
        println!("  {:<15} {}", rec.recipe.name(), rec.description);
    }
    if !r.trends.is_empty() {
        show(
            "Every recipe on every kind of data (train seed 100, test seed 101):",
            &experiment::trends_frame(&r.trends)?,
        );
        for t in r.trends.iter().filter(|t| t.oracle_roc_auc.is_some()) {
            println!(
                "  {}: best possible ROC-AUC knowing the true trend = {:.3}",
                t.trend,
                t.oracle_roc_auc.unwrap_or(f64::NAN)
            );
        }
    }
    println!("\nWhat the numbers say:");
    for n in &r.notes {
        println!("  - {n}");
    }
    println!("\nFiles written:");
    for p in r.artefacts.all() {
        println!("  {}", p.display());
    }
    Ok(())
}

fn nab_cmd(a: NabArgs) -> Result<()> {
    use anomaly_kit::nab::{self, Corpus, NabDetector, NabResult};
    use anomaly_kit::online::OnlineParams;
    let corpus = Corpus::load(&a.data)?;
    let online = match &a.params {
        None => OnlineParams::default(),
        Some(p) => {
            let text = if Path::new(p).is_file() {
                std::fs::read_to_string(p).with_context(|| format!("cannot read {p}"))?
            } else {
                p.clone()
            };
            let params: OnlineParams =
                serde_json::from_str(&text).context("--params is not valid online parameters")?;
            params.check()?;
            params
        }
    };
    let detectors: Vec<NabDetector> = if a.detector.is_empty() {
        NabDetector::all()
    } else {
        a.detector
            .iter()
            .map(|n| {
                NabDetector::from_name(n).with_context(|| {
                    format!("unknown detector {n:?}: choose online, zscore-baseline, recipe or windowed-gaussian")
                })
            })
            .collect::<Result<_>>()?
    };
    let mut results = Vec::new();
    for detector in detectors {
        let detector = match detector {
            NabDetector::Online(_) => NabDetector::Online(online.clone()),
            other => other,
        };
        let bar = ProgressBar::new(corpus.files.len() as u64).with_style(
            ProgressStyle::with_template("{prefix:>18} {bar:30} {pos}/{len} files {elapsed}")?,
        );
        bar.set_prefix(detector.name());
        let started = Instant::now();
        let scores = nab::run_corpus(&detector, &corpus, |_| bar.inc(1))?;
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        if let Some(dir) = &a.out {
            for (file, s) in corpus.files.iter().zip(&scores) {
                nab::write_results(dir, detector.name(), file, s)
                    .with_context(|| format!("cannot write results under {}", dir.display()))?;
            }
        }
        let result = NabResult {
            detector: detector.name().to_string(),
            scores: nab::score_all_profiles(&corpus, &scores)?,
            seconds,
        };
        if a.json {
            println!("{}", result.json_line());
        } else {
            eprintln!("{}: {:.1} s", result.detector, seconds);
            for s in &result.scores {
                eprintln!("  {s}");
            }
        }
        results.push(result);
    }
    if !a.json {
        print!("{}", nab::scoreboard(&results));
    }
    Ok(())
}
