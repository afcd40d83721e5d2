//! A local stand-in for Lambda's Kinesis event-source mapping: it reads every shard of a stream
//! with the real Kinesis API (`ListShards`, `GetShardIterator`, `GetRecords`), hands each batch
//! to [`crate::handle`] in-process as a `KinesisEvent`, and moves a shard's checkpoint on only
//! after the handler succeeded.
//!
//! What it copies from the managed mapping: batch size, starting position (`TRIM_HORIZON` or
//! `LATEST`), one batch per shard in flight, a failed invocation retried with backoff up to a
//! bounded count, then handed to the on-failure destination (here: the event callback) instead
//! of blocking the shard forever. One deliberate difference: records the handler reports in
//! `batchItemFailures` go to the on-failure destination at once. This handler reports only
//! records that can never succeed (not a record, or refused by the model), so retrying them —
//! and re-scoring the records after them, as Lambda would — would only produce duplicates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};

use crate::{Endpoint, HandlerReport, handle};

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
        }
    }
}

/// What happened, for displays and sinks.
pub enum TriggerEvent<'a> {
    /// The handler took a batch from `shard`.
    Handled {
        shard: &'a str,
        report: &'a HandlerReport,
    },
    /// Records that went to the on-failure destination.
    Discarded {
        shard: &'a str,
        sequence_numbers: Vec<String>,
        reason: String,
    },
}

/// Totals of a trigger run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TriggerSummary {
    pub records: u64,
    pub scored: u64,
    pub anomalies: u64,
    /// Records reported in `batchItemFailures`.
    pub item_failures: u64,
    /// Records of batches whose invocation kept failing.
    pub discarded: u64,
    pub invocations: u64,
    pub failed_invocations: u64,
    pub seconds: f64,
}

impl TriggerSummary {
    /// Records with a known fate (scored, reported or discarded).
    pub fn accounted(&self) -> u64 {
        self.scored + self.item_failures + self.discarded
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("Kinesis {operation} failed: {message}")]
    Kinesis {
        operation: &'static str,
        message: String,
    },
}

fn kinesis_error<E: std::error::Error + 'static>(
    operation: &'static str,
) -> impl FnOnce(E) -> TriggerError {
    move |e| TriggerError::Kinesis {
        operation,
        message: aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
    }
}

/// Runs until `stop` is set, `expect` records were handled, the stream stayed idle for
/// `idle_exit`, or every shard closed.
pub async fn run(
    kinesis: &Client,
    endpoint: &dyn Endpoint,
    config: &TriggerConfig,
    stop: &AtomicBool,
    mut on_event: impl FnMut(TriggerEvent<'_>),
) -> Result<TriggerSummary, TriggerError> {
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
    let shards = kinesis
        .list_shards()
        .stream_name(&config.stream)
        .send()
        .await
        .map_err(kinesis_error("ListShards"))?;
    let iterator_type = match config.starting_position {
        StartingPosition::TrimHorizon => ShardIteratorType::TrimHorizon,
        StartingPosition::Latest => ShardIteratorType::Latest,
    };
    let mut shard_ids: Vec<String> = shards
        .shards()
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    shard_ids.sort();
    // Each shard with its read position: `None` once the shard is closed and read to its end.
    let mut cursors: Vec<(String, Option<String>)> = Vec::with_capacity(shard_ids.len());
    for shard in shard_ids {
        let it = kinesis
            .get_shard_iterator()
            .stream_name(&config.stream)
            .shard_id(&shard)
            .shard_iterator_type(iterator_type.clone())
            .send()
            .await
            .map_err(kinesis_error("GetShardIterator"))?;
        cursors.push((shard, it.shard_iterator().map(str::to_string)));
    }

    let mut summary = TriggerSummary::default();
    let mut last_record = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst)
            || config.expect.is_some_and(|n| summary.accounted() >= n)
            || cursors.iter().all(|(_, iterator)| iterator.is_none())
            || config.idle_exit.is_some_and(|d| last_record.elapsed() >= d)
        {
            break;
        }
        let mut got_any = false;
        for (shard, cursor) in &mut cursors {
            let Some(iterator) = cursor.take() else {
                continue;
            };
            let page = kinesis
                .get_records()
                .shard_iterator(iterator)
                .limit(config.batch_size)
                .send()
                .await
                .map_err(kinesis_error("GetRecords"))?;
            // The checkpoint: the next iterator is taken only once the batch is dealt with.
            let next = page.next_shard_iterator().map(str::to_string);
            if !page.records().is_empty() {
                got_any = true;
                let event = kinesis_event(shard, &arn, page.records());
                deliver(shard, &event, endpoint, config, &mut summary, &mut on_event).await;
            }
            *cursor = next;
        }
        if got_any {
            last_record = Instant::now();
        } else {
            tokio::time::sleep(config.poll_interval).await;
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Invokes the handler for one batch, retrying a failed invocation; never returns before the
/// batch's fate is known.
async fn deliver(
    shard: &str,
    event: &KinesisEvent,
    endpoint: &dyn Endpoint,
    config: &TriggerConfig,
    summary: &mut TriggerSummary,
    on_event: &mut impl FnMut(TriggerEvent<'_>),
) {
    let n = event.records.len() as u64;
    summary.records += n;
    let mut attempt = 0;
    loop {
        summary.invocations += 1;
        match handle(event, endpoint).await {
            Ok(report) => {
                summary.scored += report.outcome.scored.len() as u64;
                summary.anomalies += report.outcome.anomalies().count() as u64;
                summary.item_failures += report.outcome.failed.len() as u64;
                on_event(TriggerEvent::Handled {
                    shard,
                    report: &report,
                });
                if !report.outcome.failed.is_empty() {
                    on_event(TriggerEvent::Discarded {
                        shard,
                        sequence_numbers: report
                            .outcome
                            .failed
                            .iter()
                            .map(|f| f.id.clone())
                            .collect(),
                        reason: "reported in batchItemFailures".into(),
                    });
                }
                return;
            }
            Err(e) if attempt < config.max_retries => {
                summary.failed_invocations += 1;
                attempt += 1;
                tracing::warn!(shard, attempt, error = %e, "invocation failed, retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
            }
            Err(e) => {
                summary.failed_invocations += 1;
                summary.discarded += n;
                tracing::error!(shard, error = %e, records = n, "giving up on the batch");
                on_event(TriggerEvent::Discarded {
                    shard,
                    sequence_numbers: event
                        .records
                        .iter()
                        .map(|r| r.kinesis.sequence_number.clone())
                        .collect(),
                    reason: e.to_string(),
                });
                return;
            }
        }
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
