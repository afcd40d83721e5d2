//! One function per subcommand: read the inputs the flags name, call the library, print its
//! report. Progress bars live here; numbers, tables and charts come from the library.

use std::path::Path;
use std::time::Instant;

use anomaly_kit::benchmark;
use anomaly_kit::frame::{self, CsvOptions};
use anomaly_kit::model::ModelArtefact;
use anomaly_kit::nab::{self, Corpus, NabResult};
use anomaly_kit::synth::SynthParams;
use anomaly_kit::tasks;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{
    BenchmarkArgs, DataFormat, EvaluateArgs, GenerateArgs, NabArgs, PlotArgs, ServeArgs, TrainArgs,
};

fn show(title: &str, df: &polars::prelude::DataFrame) {
    println!("\n{title}\n{df}");
}

/// A task's error; one that needs labels also says which flags give them.
fn with_label_hint<T>(result: Result<T, tasks::TaskError>) -> Result<T> {
    result.map_err(|e| match e {
        tasks::TaskError::NeedsLabels(_) => {
            anyhow::anyhow!("{e}: pass --labels FILE or --label-column NAME")
        }
        e => e.into(),
    })
}

fn print_written(paths: &[impl AsRef<Path>]) {
    for p in paths {
        println!("wrote {}", p.as_ref().display());
    }
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    let data = SynthParams::tutorial()
        .rows(a.rows)
        .features(a.features)
        .anomalies(a.anomalies)
        .trend(a.trend.into())
        .seed(a.seed)
        .row_anomaly_rate(a.row_anomaly_rate)
        .generate()?;
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
        "{}",
        anomaly_kit::experiment::DataSummary::from(&data).describe()
    );
    show("First rows:", &frame::features_frame(&data)?.head(Some(5)));
    show(
        "Summary:",
        &frame::describe(&data.feature_names, data.values.view())?,
    );
    println!();
    print_written(&written);
    Ok(())
}

pub fn plot(a: PlotArgs) -> Result<()> {
    let table = a.labels.read(&a.input)?;
    let cells = table
        .cell_labels(a.cell_labels.as_deref(), a.labels.labels.as_deref())
        .context("reading per-feature labels")?;
    let mut written = tasks::plot_table(&table, cells.view(), &a.out)?;
    if let Some(model) = &a.model {
        let artefact = ModelArtefact::load(model)?;
        written.extend(with_label_hint(tasks::plot_table_scores(
            &artefact.detector,
            &table,
            &a.out,
        ))?);
    }
    print_written(&written);
    Ok(())
}

pub fn train(a: TrainArgs) -> Result<()> {
    let table = a.labels.read(&a.input)?;
    let report = tasks::train(&table, a.recipe.into(), a.seed, &a.overrides(), &a.out).map_err(
        |e| match e {
            tasks::TaskError::Conflict(_) => anyhow::anyhow!(
                "{e}: drop --contamination, or use --threshold forest with --contamination"
            ),
            e => anyhow::Error::new(e).context(format!("training on {}", a.input.display())),
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{report}");
    }
    Ok(())
}

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let artefact = ModelArtefact::load(&a.model)?;
    let table = a.labels.read(&a.input)?;
    let report = with_label_hint(tasks::evaluate(
        &artefact, &a.model, &table, &a.input, a.sweep,
    ))?;
    if let Some(path) = &a.scores_out {
        frame::write_scores(path, &report.scored.scores, &report.scored.anomalies)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
        if report.evaluation.is_none() {
            println!("  pass --labels FILE or --label-column NAME for metrics");
        }
    }
    Ok(())
}

pub fn benchmark(a: BenchmarkArgs) -> Result<()> {
    let reference = match &a.reference {
        Some(p) => {
            benchmark::read_reference(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None if a.check => bail!("--check needs --reference"),
        None => Default::default(),
    };
    let params = anomaly_kit::forest::IsolationForestParams::new()
        .n_trees(a.trees)
        .max_samples(a.max_samples);
    let bar = ProgressBar::new(a.input.len() as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")?);
    let options = CsvOptions {
        label_column: Some(a.label_column.clone()),
        ignore: vec![],
    };
    let mut results = Vec::new();
    for path in &a.input {
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        bar.set_message(name.clone());
        let table = frame::read_table(path, &options, None)?;
        let r = benchmark::run(&name, &table, &params, a.seeds)?;
        if a.json {
            bar.suspend(|| println!("{}", serde_json::to_string(&r).expect("plain data")));
        }
        results.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !a.json {
        let table = benchmark::results_table(&results, &reference);
        print!(
            "{}",
            if a.markdown {
                table.markdown()
            } else {
                table.aligned()
            }
        );
    }
    if a.check {
        benchmark::check_against(&results, &reference).context("--check")?;
    }
    Ok(())
}

pub fn nab(a: NabArgs) -> Result<()> {
    let corpus = Corpus::load(&a.data)?;
    let mut results = Vec::new();
    for detector in a.detectors()? {
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

pub fn serve(a: ServeArgs) -> Result<()> {
    use anomaly_kit_server as server;
    let path = server::resolve_model_path(a.model.as_deref());
    // load before listening: a bad model is a start-up failure, not a server that answers 500
    let model = server::load_model(&path).context("cannot start the server")?;
    let config = a.config();
    let (recipe, stateful) = (
        model.recipe.clone(),
        model.detector.preprocess.is_stateful(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (addr, running) = server::bind(model, &config, server::shutdown_signal())
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        tracing::info!(%addr, model = %path.display(), recipe, stateful, "listening");
        running.await.context("the server stopped with an error")
    })
}
