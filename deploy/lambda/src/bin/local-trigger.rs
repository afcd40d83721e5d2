//! `local-trigger`: what Lambda's event-source mapping does, on a local Kinesis-compatible
//! server — read the stream's shards, call the Lambda handler in-process for each batch — with
//! the handler's endpoint pointed at a local `anomaly-kit serve`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anomaly_kit_lambda::SageMakerEndpoint;
use anomaly_kit_lambda::trigger::{self, StartingPosition, TriggerConfig, TriggerEvent};
use anyhow::Context;
use aws_config::{BehaviorVersion, Region};
use clap::Parser;

/// Read a Kinesis stream like Lambda's event-source mapping and call the Lambda handler.
///
/// Example (the local cloud, deploy/local/run.sh, does this for you):
///   local-trigger --stream-name rows --endpoint-url http://127.0.0.1:4567 \
///       --sagemaker-endpoint-url http://127.0.0.1:8080 --sink data/stream-sink.jsonl --idle-exit 3s
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    #[arg(long, env = "STREAM_NAME")]
    stream_name: String,
    /// The Kinesis-compatible endpoint, e.g. http://127.0.0.1:4567 (default: AWS).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Where the handler's SageMaker client goes, e.g. a local `anomaly-kit serve` (default: AWS).
    #[arg(long, env = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")]
    sagemaker_endpoint_url: Option<String>,
    /// The SageMaker endpoint's name.
    #[arg(long, env = "ENDPOINT_NAME", default_value = "anomaly-kit")]
    endpoint_name: String,
    #[arg(long)]
    region: Option<String>,
    /// Most records per invocation.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=10000))]
    batch_size: i32,
    #[arg(long, value_enum, default_value = "trim-horizon")]
    starting_position: StartingPosition,
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Retries of a failed invocation before its batch goes to the failure sink.
    #[arg(long, default_value_t = 3)]
    max_retries: u32,
    /// Stop after this many records have a known fate.
    #[arg(long)]
    expect: Option<u64>,
    /// Stop after this long without new records.
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_exit: Option<Duration>,
    /// Write every scored record, reported failure and discarded batch here, one JSON per line.
    #[arg(long)]
    sink: Option<PathBuf>,
    /// Print each anomaly as it is found.
    #[arg(long)]
    show_anomalies: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let mut kinesis = aws_sdk_kinesis::config::Builder::from(&shared);
    if let Some(url) = &args.endpoint_url {
        kinesis = kinesis.endpoint_url(url);
    }
    let kinesis = aws_sdk_kinesis::Client::from_conf(kinesis.build());
    let mut sagemaker = aws_sdk_sagemakerruntime::config::Builder::from(&shared);
    if let Some(url) = &args.sagemaker_endpoint_url {
        sagemaker = sagemaker.endpoint_url(url);
    }
    let endpoint = SageMakerEndpoint::new(
        aws_sdk_sagemakerruntime::Client::from_conf(sagemaker.build()),
        &args.endpoint_name,
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let mut sink = match &args.sink {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut sink_error = None;
    let config = TriggerConfig {
        batch_size: args.batch_size,
        starting_position: args.starting_position,
        poll_interval: args.poll_interval,
        max_retries: args.max_retries,
        expect: args.expect,
        idle_exit: args.idle_exit,
        ..TriggerConfig::new(&args.stream_name)
    };
    let summary = trigger::run(&kinesis, &endpoint, &config, &stop, |event| {
        let lines = sink_lines(&event);
        if args.show_anomalies
            && let TriggerEvent::Handled { report, .. } = &event
        {
            for r in report.outcome.anomalies() {
                println!(
                    "anomaly: series {} row {} score {}",
                    r.series.as_deref().unwrap_or("-"),
                    r.row.map_or("-".into(), |r| r.to_string()),
                    r.score.map_or("-".into(), |s| format!("{s:.4}"))
                );
            }
        }
        if let Some(out) = sink.as_mut() {
            for line in lines {
                if let Err(e) = writeln!(out, "{line}") {
                    sink_error.get_or_insert(e);
                }
            }
        }
    })
    .await?;
    if let Some(mut out) = sink {
        out.flush().context("writing the sink")?;
    }
    if let Some(e) = sink_error {
        return Err(e).context("writing the sink");
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{}: {} records, {} scored, {} anomalies, {} reported failures, {} discarded, {} invocations ({} failed), {:.2} s",
            args.stream_name,
            summary.records,
            summary.scored,
            summary.anomalies,
            summary.item_failures,
            summary.discarded,
            summary.invocations,
            summary.failed_invocations,
            summary.seconds
        );
    }
    Ok(())
}

/// One JSON line per record fate.
fn sink_lines(event: &TriggerEvent<'_>) -> Vec<serde_json::Value> {
    match event {
        TriggerEvent::Handled { shard, report } => report
            .outcome
            .scored
            .iter()
            .map(|r| {
                serde_json::json!({
                    "shard": shard,
                    "sequence_number": r.id,
                    "series": r.series,
                    "row": r.row,
                    "prediction": r.prediction,
                    "score": r.score,
                })
            })
            .collect(),
        TriggerEvent::Discarded {
            shard,
            sequence_numbers,
            reason,
        } => sequence_numbers
            .iter()
            .map(|s| serde_json::json!({"shard": shard, "sequence_number": s, "failed": reason}))
            .collect(),
    }
}
