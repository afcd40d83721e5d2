//! `local-trigger`: what Lambda's event-source mapping does, on a local Kinesis-compatible
//! server — read the stream's shards, one in-order consumer per shard, and call the Lambda
//! handler in-process for each batch — with the handler's endpoint pointed at a local
//! `anomaly-kit serve` (or a SageMaker-runtime stand-in), each series' state in DynamoDB (a
//! local dynalite) or in memory, and failed records written to a local failure file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anomaly_kit::stream::{
    BoxFuture, Consumer, InMemoryStore, SeriesState, StateStore, StoreError,
};
use anomaly_kit_lambda::SageMakerEndpoint;
use anomaly_kit_lambda::outputs::JsonLines;
use anomaly_kit_lambda::state::DynamoStore;
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
    /// The DynamoDB table of series states (created if missing); without it, state is kept in
    /// this process's memory, which is right only for one trigger process.
    #[arg(long, env = "STATE_TABLE")]
    state_table: Option<String>,
    /// The DynamoDB-compatible endpoint, e.g. a local dynalite (default: AWS).
    #[arg(long)]
    dynamodb_endpoint_url: Option<String>,
    #[arg(long)]
    region: Option<String>,
    /// Read only this shard (repeat for several; default: every shard, concurrently).
    #[arg(long = "shard")]
    shards: Vec<String>,
    /// Most records per invocation.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=10000))]
    batch_size: i32,
    #[arg(long, value_enum, default_value = "trim-horizon")]
    starting_position: StartingPosition,
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Retries of a failed invocation before its batch goes to the failure file.
    #[arg(long, default_value_t = 10)]
    max_retries: u32,
    /// Stop after this many records have a known fate.
    #[arg(long)]
    expect: Option<u64>,
    /// Stop after this long without new records.
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_exit: Option<Duration>,
    /// Append every scored record here, one JSON per line, right after its series' state is
    /// saved (a restarted trigger appends to what the last one wrote).
    #[arg(long)]
    sink: Option<PathBuf>,
    /// The failure destination: records that can never be scored, and batches given up on, one
    /// JSON per line, appended (default: standard error).
    #[arg(long)]
    failures: Option<PathBuf>,
    /// Run an online detector per series reading these record fields (comma-separated) instead
    /// of calling an endpoint; its state is saved with the series' (in --state-table or memory).
    #[arg(long, env = "ONLINE_FEATURES")]
    online_features: Option<String>,
    /// The online detector's parameters as JSON, over its defaults.
    #[arg(long, env = "ONLINE_PARAMS")]
    online_params: Option<String>,
    /// Print each anomaly as it is found.
    #[arg(long)]
    show_anomalies: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Fault injection for the scale test: exit abruptly, as a crash would, right before the
    /// N-th state save (after its batch was scored, before its position is recorded).
    #[arg(long, hide = true)]
    crash_before_save: Option<u64>,
}

/// A store that "crashes" the process before its N-th save.
struct CrashBeforeSave<'a> {
    inner: &'a dyn StateStore,
    at: u64,
    saves: AtomicU64,
}

impl StateStore for CrashBeforeSave<'_> {
    fn load<'a>(
        &'a self,
        series: &'a str,
    ) -> BoxFuture<'a, Result<Option<SeriesState>, StoreError>> {
        self.inner.load(series)
    }

    fn save<'a>(
        &'a self,
        series: &'a str,
        expected: Option<&'a str>,
        state: &'a SeriesState,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        if self.saves.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            eprintln!(
                "local-trigger: simulated crash before saving series '{series}' at {}",
                state.position
            );
            std::process::exit(86);
        }
        self.inner.save(series, expected, state)
    }
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

    let dynamo_store;
    let memory_store = InMemoryStore::default();
    let store: &dyn StateStore = match &args.state_table {
        Some(table) => {
            let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&shared);
            if let Some(url) = &args.dynamodb_endpoint_url {
                dynamodb = dynamodb.endpoint_url(url);
            }
            dynamo_store =
                DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(dynamodb.build()), table);
            dynamo_store
                .ensure_table()
                .await
                .with_context(|| format!("preparing state table '{table}'"))?;
            &dynamo_store
        }
        None => &memory_store,
    };
    let crashing;
    let store: &dyn StateStore = match args.crash_before_save {
        Some(at) => {
            crashing = CrashBeforeSave {
                inner: store,
                at,
                saves: AtomicU64::new(0),
            };
            &crashing
        }
        None => store,
    };
    let failure_out: Box<dyn Write + Send> = match &args.failures {
        Some(path) => Box::new(BufWriter::new(append(path)?)),
        None => Box::new(std::io::stderr()),
    };
    let failures = JsonLines::new(failure_out);
    let sink_out: Box<dyn Write + Send> = match &args.sink {
        Some(path) => Box::new(BufWriter::new(append(path)?)),
        None => Box::new(std::io::sink()),
    };
    let outputs = JsonLines::new(sink_out);
    let online = anomaly_kit_lambda::online_model(
        args.online_features.as_deref(),
        args.online_params.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    let consumer = match &online {
        Some(model) => Consumer::learning(model, store, &failures),
        None => Consumer::new(&endpoint, store, &failures),
    }
    .with_outputs(&outputs);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let config = TriggerConfig {
        batch_size: args.batch_size,
        starting_position: args.starting_position,
        poll_interval: args.poll_interval,
        max_retries: args.max_retries,
        expect: args.expect,
        idle_exit: args.idle_exit,
        shards: args.shards.clone(),
        ..TriggerConfig::new(&args.stream_name)
    };
    let on_event = |event: TriggerEvent<'_>| {
        if let TriggerEvent::Handled { report, .. } = &event
            && args.show_anomalies
        {
            for r in report.anomalies() {
                println!(
                    "anomaly: series {} row {} score {}",
                    r.series.as_deref().unwrap_or("-"),
                    r.row.map_or("-".into(), |r| r.to_string()),
                    r.score.map_or("-".into(), |s| format!("{s:.4}"))
                );
            }
        }
    };
    let summary = trigger::run(&kinesis, &consumer, &failures, &config, &stop, &on_event).await?;
    failures
        .into_inner()
        .flush()
        .context("writing the failure file")?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{}: {} shards, {} records read, {} scored ({} warming up), {} anomalies, {} failed records, {} re-deliveries skipped, {} discarded, {} invocations ({} failed), {:.2} s",
            args.stream_name,
            summary.shards,
            summary.records,
            summary.scored,
            summary.warming_up,
            summary.anomalies,
            summary.failed_records,
            summary.redelivered,
            summary.discarded,
            summary.invocations,
            summary.failed_invocations,
            summary.seconds
        );
    }
    Ok(())
}

/// Opens `path` for appending, creating it if needed.
fn append(path: &std::path::Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
