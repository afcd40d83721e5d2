//! `anomaly-kit walkthrough`: the library's walkthrough with a progress bar, then its live part
//! through the embedded stream (or Kinesis), anomalies shown as they come.

use std::time::Instant;

use anomaly_kit::experiment::{self, Step, WalkthroughReport};
use anomaly_kit::frame::{self, CsvOptions, Table};
use anomaly_kit::live::{LiveEvent, LiveOptions, LiveReport, LiveScorer};
use anomaly_kit::model::ModelArtefact;
use anomaly_kit::online::OnlineParams;
use anomaly_kit::stream::OnlineModel;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{LiveDetector, WalkthroughArgs};
use crate::kinesis;

pub fn run(a: WalkthroughArgs) -> Result<()> {
    let config = a.config();
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
        print!("{report}");
    }
    let online = matches!(a.live_detector, LiveDetector::Online);
    let live = match (&a.kinesis_endpoint, a.no_live) {
        (_, true) => None,
        (Some(endpoint), false) => Some(kinesis::stream(
            &report,
            endpoint,
            &a.kinesis_stream,
            a.rate,
            a.limit,
            a.json,
            online,
        )?),
        (None, false) => Some(live_stream(&report, online, a.rate, a.limit, a.json)?),
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

/// The test set's rows the live part streams: all, or the first `limit`.
pub fn test_rows(report: &WalkthroughReport, limit: Option<usize>) -> Result<Table> {
    let table = frame::read_csv(&report.artefacts.test_csv, &CsvOptions::default())?;
    Ok(match limit {
        Some(n) => table.head(n),
        None => table,
    })
}

/// The scorer of the live part: the trained model, or an online detector over the test set's
/// columns.
pub fn live_scorer(report: &WalkthroughReport, table: &Table, online: bool) -> Result<LiveScorer> {
    Ok(if online {
        LiveScorer::Learning(OnlineModel {
            feature_names: table.feature_names.clone(),
            params: OnlineParams::default(),
        })
    } else {
        LiveScorer::Served(Box::new(ModelArtefact::load(&report.artefacts.model)?))
    })
}

/// The live part: the test CSV streamed through the local server, anomalies shown as they come.
fn live_stream(
    report: &WalkthroughReport,
    online: bool,
    rate: Option<f64>,
    limit: Option<usize>,
    quiet: bool,
) -> Result<LiveReport> {
    let table = test_rows(report, limit)?;
    let scorer = live_scorer(report, &table, online)?;
    let what = match &scorer {
        LiveScorer::Served(model) => format!("to the {} model served on loopback", model.recipe),
        LiveScorer::Learning(_) => "to an online detector that learns as the rows arrive".into(),
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
    let result =
        anomaly_kit_server::live::run_live(scorer, &table, &options, |event| match event {
            LiveEvent::Progress { done, .. } => bar.set_position(done as u64),
            LiveEvent::Anomaly { record, timestamp } => {
                let line = record.describe(timestamp);
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
        println!("Live tally: {}", result.tally());
    }
    if !result.matches_offline || result.records_failed > 0 {
        anyhow::bail!("the live stream is not exact: {}", result.tally());
    }
    Ok(result)
}
