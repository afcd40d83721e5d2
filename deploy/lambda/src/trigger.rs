//! A local stand-in for Lambda's Kinesis event-source mapping: it reads the shards of a stream
//! with the real Kinesis API (`ListShards`, `GetShardIterator`, `GetRecords`), **one in-order
//! consumer per shard, all shards at once**, hands each batch to [`crate::handle`] in-process as
//! a `KinesisEvent`, and moves a shard's read position on only once the batch's fate is known.
//!
//! What it copies from the managed mapping: batch size, starting position (`TRIM_HORIZON` or
//! `LATEST`), one batch per shard in flight, shards in parallel, a failed invocation retried with
//! backoff up to a bounded count, then its records handed to the on-failure destination instead
//! of blocking the shard forever. Its read positions live in memory: a restarted trigger reads
//! again from its starting position, as a mapping re-delivers after a failure — the consumer's
//! state store skips what was applied already.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anomaly_kit::stream::{BatchReport, Consumer, FailedRecord, FailureSink};
use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};

use crate::{handle, records};

/// Where reading a shard starts when there is no checkpoint yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StartingPosition {
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// Only records written after the trigger starts.
    Latest,
}

#[derive(Clone, Debug)]
pub struct TriggerConfig {
    pub stream: String,
    /// Most records per invocation (Lambda allows 1..=10,000 for Kinesis).
    pub batch_size: i32,
    pub starting_position: StartingPosition,
    /// Pause before polling a shard that returned nothing.
    pub poll_interval: Duration,
    /// Retries of a failed invocation before its batch goes to the on-failure destination.
    pub max_retries: u32,
    /// Stop once this many records were handled (scored or reported).
    pub expect: Option<u64>,
    /// Stop after this long with no new records on any shard.
    pub idle_exit: Option<Duration>,
    /// Read only these shards (all when empty): one process per shard, as the scale test runs.
    pub shards: Vec<String>,
}

impl TriggerConfig {
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            batch_size: 100,
            starting_position: StartingPosition::TrimHorizon,
            poll_interval: Duration::from_millis(200),
            max_retries: 3,
            expect: None,
            idle_exit: None,
            shards: Vec::new(),
        }
    }
}

/// What happened, for displays and sinks.
pub enum TriggerEvent<'a> {
    /// The handler took a batch from `shard`; its `scored` records are to be emitted.
    Handled {
        shard: &'a str,
        report: &'a BatchReport,
    },
    /// Records whose invocation kept failing; they went to the on-failure destination.
    Discarded {
        shard: &'a str,
        sequence_numbers: Vec<String>,
        reason: String,
    },
}

/// Totals of a trigger run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TriggerSummary {
    /// Records read from the stream (a re-read after a failed invocation counts again).
    pub records: u64,
    pub scored: u64,
    pub anomalies: u64,
    /// Scored while their series' window was filling (never flagged).
    pub warming_up: u64,
    /// Records sent to the failure destination by the handler (not a record, or refused by
    /// the model).
    pub failed_records: u64,
    /// Records skipped as already applied (re-deliveries).
    pub redelivered: u64,
    /// Records of batches whose invocation kept failing.
    pub discarded: u64,
    pub invocations: u64,
    pub failed_invocations: u64,
    pub shards: u64,
    pub seconds: f64,
}

impl TriggerSummary {
    /// Records with a known fate (scored, failed or discarded).
    pub fn accounted(&self) -> u64 {
        self.scored + self.failed_records + self.discarded
    }

    fn add(&mut self, o: &TriggerSummary) {
        self.records += o.records;
        self.scored += o.scored;
        self.anomalies += o.anomalies;
        self.warming_up += o.warming_up;
        self.failed_records += o.failed_records;
        self.redelivered += o.redelivered;
        self.discarded += o.discarded;
        self.invocations += o.invocations;
        self.failed_invocations += o.failed_invocations;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("Kinesis {operation} failed: {message}")]
    Kinesis {
        operation: &'static str,
        message: String,
    },
    #[error("the stream has no shard named {0}")]
    NoSuchShard(String),
    #[error("the on-failure destination failed: {0}")]
    FailureDestination(String),
}

fn kinesis_error<E: std::error::Error + 'static>(
    operation: &'static str,
) -> impl FnOnce(E) -> TriggerError {
    move |e| TriggerError::Kinesis {
        operation,
        message: aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
    }
}

/// What the shard consumers share: when to stop, and the progress that decides it.
struct Shared<'a, F> {
    kinesis: &'a Client,
    consumer: &'a Consumer<'a>,
    on_failure: &'a dyn FailureSink,
    config: &'a TriggerConfig,
    stop: &'a AtomicBool,
    accounted: AtomicU64,
    last_record: Mutex<Instant>,
    on_event: &'a F,
}

impl<F> Shared<'_, F> {
    fn done(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
            || self
                .config
                .expect
                .is_some_and(|n| self.accounted.load(Ordering::SeqCst) >= n)
            || self.config.idle_exit.is_some_and(|d| {
                self.last_record
                    .lock()
                    .map(|t| t.elapsed() >= d)
                    .unwrap_or(true)
            })
    }
}

/// Runs until `stop` is set, `expect` records have a known fate, the stream stayed idle for
/// `idle_exit`, or every shard closed. `on_failure` is the on-failure destination for batches
/// whose invocation kept failing (the consumer sends bad records to its own failure sink).
pub async fn run<F>(
    kinesis: &Client,
    consumer: &Consumer<'_>,
    on_failure: &dyn FailureSink,
    config: &TriggerConfig,
    stop: &AtomicBool,
    on_event: &F,
) -> Result<TriggerSummary, TriggerError>
where
    F: Fn(TriggerEvent<'_>) + Sync,
{
    let started = Instant::now();
    let description = kinesis
        .describe_stream_summary()
        .stream_name(&config.stream)
        .send()
        .await
        .map_err(kinesis_error("DescribeStreamSummary"))?;
    let arn = description
        .stream_description_summary()
        .map(|s| s.stream_arn().to_string())
        .unwrap_or_default();
    let listed = kinesis
        .list_shards()
        .stream_name(&config.stream)
        .send()
        .await
        .map_err(kinesis_error("ListShards"))?;
    let mut shard_ids: Vec<String> = listed
        .shards()
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    shard_ids.sort();
    if let Some(missing) = config.shards.iter().find(|s| !shard_ids.contains(s)) {
        return Err(TriggerError::NoSuchShard(missing.clone()));
    }
    if !config.shards.is_empty() {
        shard_ids.retain(|s| config.shards.contains(s));
    }
    let shared = Shared {
        kinesis,
        consumer,
        on_failure,
        config,
        stop,
        accounted: AtomicU64::new(0),
        last_record: Mutex::new(Instant::now()),
        on_event,
    };
    let results = futures_util::future::join_all(
        shard_ids
            .iter()
            .map(|shard| consume_shard(&shared, shard, &arn)),
    )
    .await;
    let mut summary = TriggerSummary {
        shards: shard_ids.len() as u64,
        ..TriggerSummary::default()
    };
    for r in results {
        summary.add(&r?);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// One shard, in order: read a batch, deliver it, move on only once its fate is known.
async fn consume_shard<F>(
    shared: &Shared<'_, F>,
    shard: &str,
    arn: &str,
) -> Result<TriggerSummary, TriggerError>
where
    F: Fn(TriggerEvent<'_>) + Sync,
{
    let config = shared.config;
    let iterator_type = match config.starting_position {
        StartingPosition::TrimHorizon => ShardIteratorType::TrimHorizon,
        StartingPosition::Latest => ShardIteratorType::Latest,
    };
    let mut cursor = shared
        .kinesis
        .get_shard_iterator()
        .stream_name(&config.stream)
        .shard_id(shard)
        .shard_iterator_type(iterator_type)
        .send()
        .await
        .map_err(kinesis_error("GetShardIterator"))?
        .shard_iterator()
        .map(str::to_string);
    let mut summary = TriggerSummary::default();
    // a closed shard read to its end has no next iterator
    while let Some(iterator) = cursor.take() {
        if shared.done() {
            break;
        }
        let page = shared
            .kinesis
            .get_records()
            .shard_iterator(&iterator)
            .limit(config.batch_size)
            .send()
            .await
            .map_err(kinesis_error("GetRecords"))?;
        // The checkpoint: the next iterator is taken only once the batch is dealt with.
        let next = page.next_shard_iterator().map(str::to_string);
        if page.records().is_empty() {
            tokio::time::sleep(config.poll_interval).await;
        } else {
            if let Ok(mut t) = shared.last_record.lock() {
                *t = Instant::now();
            }
            let event = kinesis_event(shard, arn, page.records());
            let before = summary.accounted();
            deliver(shared, shard, &event, &mut summary).await?;
            shared
                .accounted
                .fetch_add(summary.accounted() - before, Ordering::SeqCst);
        }
        cursor = next;
    }
    Ok(summary)
}

/// Invokes the handler for one batch, retrying a failed invocation; returns once the batch's
/// fate is known.
async fn deliver<F>(
    shared: &Shared<'_, F>,
    shard: &str,
    event: &KinesisEvent,
    summary: &mut TriggerSummary,
) -> Result<(), TriggerError>
where
    F: Fn(TriggerEvent<'_>) + Sync,
{
    let config = shared.config;
    let n = event.records.len() as u64;
    let mut attempt = 0;
    loop {
        summary.records += n;
        summary.invocations += 1;
        let report = handle(event, shared.consumer).await;
        summary.scored += report.scored.len() as u64;
        summary.anomalies += report.anomalies().count() as u64;
        summary.warming_up += report.warming_up() as u64;
        summary.failed_records += report.failed.len() as u64;
        summary.redelivered += report.redelivered as u64;
        // what was saved is emitted, even when the invocation then fails
        (shared.on_event)(TriggerEvent::Handled {
            shard,
            report: &report,
        });
        let Some(e) = report.error else {
            return Ok(());
        };
        summary.failed_invocations += 1;
        if attempt < config.max_retries {
            attempt += 1;
            tracing::warn!(shard, attempt, error = %e, "invocation failed, retrying");
            tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
            continue;
        }
        // Lambda gives up on the batch: its records go to the on-failure destination, except
        // those a retry applied already (the store would skip them anyway)
        let applied: Vec<&str> = report.scored.iter().map(|r| r.id.as_str()).collect();
        let discarded: Vec<FailedRecord> = records(event)
            .iter()
            .filter(|r| !applied.contains(&r.id))
            .map(|r| {
                let reason = format!("the invocation failed {} times: {e}", attempt + 1);
                FailedRecord::new(r, None, reason)
            })
            .collect();
        tracing::error!(shard, error = %e, records = discarded.len(), "giving up on the batch");
        shared
            .on_failure
            .send(&discarded)
            .await
            .map_err(TriggerError::FailureDestination)?;
        summary.discarded += discarded.len() as u64;
        (shared.on_event)(TriggerEvent::Discarded {
            shard,
            sequence_numbers: discarded.into_iter().map(|f| f.id).collect(),
            reason: e.to_string(),
        });
        return Ok(());
    }
}

/// The event Lambda would build from a `GetRecords` page.
pub fn kinesis_event(shard: &str, stream_arn: &str, records: &[Record]) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .iter()
        .map(|r| {
            let mut kinesis = KinesisRecord::default();
            kinesis.data.0 = r.data().as_ref().to_vec();
            kinesis.partition_key = r.partition_key().unwrap_or_default().to_string();
            kinesis.sequence_number = r.sequence_number().to_string();
            kinesis.kinesis_schema_version = Some("1.0".into());
            if let Some(t) = r.approximate_arrival_timestamp()
                && let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
            {
                kinesis.approximate_arrival_timestamp = SecondTimestamp(at);
            }
            let mut record = KinesisEventRecord::default();
            record.kinesis = kinesis;
            record.event_source = Some("aws:kinesis".into());
            record.event_name = Some("aws:kinesis:record".into());
            record.event_version = Some("1.0".into());
            record.event_id = Some(format!("{shard}:{}", r.sequence_number()));
            record.event_source_arn = Some(stream_arn.to_string());
            record
        })
        .collect();
    event
}
