//! `stream-writer`: the rows of a CSV onto a Kinesis stream, a batch at a time.
//!
//! Credentials and region come from the default AWS chain (environment, profile, SSO, instance
//! role); nothing here takes a key. `--endpoint-url` points the same client at a local
//! Kinesis-compatible server.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anomaly_kit_stream_writer::{
    Interleaved, MAX_BATCH, Order, PutSummary, RetryPolicy, RowSource, ensure_stream,
    put_with_retries,
};
use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, Region};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Put the rows of a CSV on an Amazon Kinesis stream as anomaly-kit records (JSON, one per row),
/// retrying exactly the entries Kinesis refuses, each series in order.
///
/// Examples:
///   stream-writer --stream-name anomaly-kit-rows                      # 10 rows every second, like the tutorial
///   stream-writer --stream-name s --endpoint-url http://127.0.0.1:4567 --interval 0 --batch-size 500
///   stream-writer --stream-name s --csv pump-1.csv --csv pump-2.csv  # two series, side by side
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// The Kinesis stream to write to.
    #[arg(long, env = "STREAM_NAME")]
    stream_name: String,
    /// The rows to send: a CSV with a header (a leading timestamp column is kept as the record's
    /// timestamp) or an .npz written by `anomaly-kit generate --format npz`. Repeat for several
    /// series, written side by side.
    #[arg(long, default_value = "data/test.csv")]
    csv: Vec<PathBuf>,
    /// The series the rows belong to; also the partition key, so a series stays in order on one
    /// shard. Default: each file's stem.
    #[arg(long)]
    series: Option<String>,
    /// Rows read per batch (1..=500); a batch is paced by --interval.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// `per-series`: at most one entry of a series per PutRecords call, so a refused entry is
    /// re-sent before any later entry of its series (what windowed models need); `batched`:
    /// whole batches per call (faster; order can break on refusals).
    #[arg(long, value_enum, default_value = "per-series")]
    order: OrderArg,
    /// Pause between batches, e.g. 1s, 250ms, 0 (as fast as the stream takes them).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Rows per second; sets the interval to batch-size / rate.
    #[arg(long, conflicts_with = "interval")]
    rate: Option<f64>,
    /// Stop after this many rows (of each file).
    #[arg(long)]
    limit: Option<u64>,
    /// Start over at the end of the file (until --limit or Ctrl-C).
    #[arg(long = "loop")]
    replay: bool,
    /// Tries per refused entry before it is given up on and reported.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// A Kinesis-compatible endpoint instead of AWS's, e.g. http://127.0.0.1:4567.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The AWS region (default: from the AWS configuration chain).
    #[arg(long)]
    region: Option<String>,
    /// Create the stream with this many shards if it does not exist (for local servers).
    #[arg(long, value_name = "SHARDS")]
    create_stream: Option<i32>,
    /// Print the final summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum OrderArg {
    PerSeries,
    Batched,
}

impl From<OrderArg> for Order {
    fn from(o: OrderArg) -> Self {
        match o {
            OrderArg::PerSeries => Order::PerSeries,
            OrderArg::Batched => Order::Batched,
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(summary) if summary.failed == 0 => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<PutSummary> {
    if !(1..=MAX_BATCH).contains(&args.batch_size) {
        bail!(
            "--batch-size must be between 1 and {MAX_BATCH} (Kinesis' PutRecords limit), got {}",
            args.batch_size
        );
    }
    if args.max_attempts == 0 {
        bail!("--max-attempts must be at least 1");
    }
    let interval = match args.rate {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            bail!("--rate must be a positive number of rows per second, got {rate}")
        }
        Some(rate) => Duration::from_secs_f64(args.batch_size as f64 / rate),
        None => args.interval,
    };
    if args.series.is_some() && args.csv.len() > 1 {
        bail!(
            "--series names the series of one file; with several files each is named by its stem"
        );
    }
    let mut sources = Vec::with_capacity(args.csv.len());
    for csv in &args.csv {
        let series = match &args.series {
            Some(s) => s.clone(),
            None => csv
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "series".into()),
        };
        sources.push(
            RowSource::open(csv, &series)
                .with_context(|| format!("reading {}", csv.display()))?
                .limit(args.limit)
                .replay(args.replay),
        );
    }
    let mut source = Interleaved::new(sources);

    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let client = aws_sdk_kinesis::Client::new(&loader.load().await);
    if let Some(shards) = args.create_stream {
        ensure_stream(&client, &args.stream_name, shards, Duration::from_secs(60)).await?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Ctrl-C: finishing the batch in flight, then stopping");
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let progress = match source.total() {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {pos}/{len} rows [{elapsed_precise}] {per_sec} {msg}",
        )
        .expect("a valid template"),
    );

    let policy = RetryPolicy {
        max_attempts: args.max_attempts,
        ..RetryPolicy::default()
    };
    let started = Instant::now();
    let mut summary = PutSummary::default();
    let mut ticker = tokio::time::interval(interval.max(Duration::from_nanos(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let batch = source.next_batch(args.batch_size)?;
        if batch.is_empty() {
            break Ok(());
        }
        if !interval.is_zero() {
            ticker.tick().await;
        }
        let n = batch.len() as u64;
        match put_with_retries(
            &client,
            &args.stream_name,
            batch,
            &policy,
            args.order.into(),
        )
        .await
        {
            Ok(done) => summary.add(done),
            Err(e) => break Err(e),
        }
        progress.inc(n);
        progress.set_message(format!(
            "retried {} failed {}",
            summary.retried, summary.failed
        ));
    };
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    for f in &summary.failures {
        eprintln!(
            "series {} row {} not written: {} {}",
            f.series, f.row, f.error_code, f.message
        );
    }
    if args.json {
        let report = serde_json::json!({
            "stream": args.stream_name,
            "sent": summary.sent,
            "retried": summary.retried,
            "failed": summary.failed,
            "calls": summary.calls,
            "seconds": seconds,
        });
        println!("{report}");
    } else {
        println!(
            "{}: sent {}, retried {}, failed {} in {} PutRecords calls, {:.2} s ({:.0} rows/s)",
            args.stream_name,
            summary.sent,
            summary.retried,
            summary.failed,
            summary.calls,
            seconds,
            summary.sent as f64 / seconds.max(1e-9)
        );
    }
    result?;
    Ok(summary)
}
