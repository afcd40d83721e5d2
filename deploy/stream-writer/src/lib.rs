//! The tutorial's stream writer, working: rows of a CSV become anomaly-kit stream records
//! (`anomaly_kit::stream::encode_record`, the same JSON the server reads) and go to Amazon
//! Kinesis with `PutRecords`, a batch at a time.
//!
//! `PutRecords` is not all-or-nothing: a response can accept some entries and refuse others
//! (`ProvisionedThroughputExceededException` when a shard is over its limit, `InternalFailure`).
//! The tutorial's writer ignored the response, so refused rows vanished. [`put_with_retries`]
//! re-sends exactly the refused entries, with capped exponential backoff and full jitter, and
//! gives up on an entry only after [`RetryPolicy::max_attempts`] tries; whatever it gives up on is
//! counted and returned, never dropped silently.
//!
//! The module has no opinion on where the client points: the binary builds it from the default
//! AWS configuration chain, with `--endpoint-url` for a local Kinesis-compatible server.

pub mod local;
pub mod records;

use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use rand::RngExt;

pub use records::{Entry, RowSource};

/// Kinesis accepts at most this many entries in one `PutRecords` call.
pub const MAX_BATCH: usize = 500;
/// Kinesis accepts at most 1 MiB of data plus partition key per entry.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// How often and how patiently refused entries are re-sent.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries per entry, the first one included.
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles each time, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": a uniform pause in `[0, min(max, base * 2^retry))`, so writers that were
    /// refused together do not come back together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_backoff
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_backoff);
        let nanos = ceiling.as_nanos() as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(0..nanos))
    }
}

/// An entry given up on after every try.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedEntry {
    pub row: u64,
    pub error_code: String,
    pub message: String,
}

/// What one call of [`put_with_retries`] achieved; sums into a run's summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PutSummary {
    /// Entries the stream accepted.
    pub sent: u64,
    /// Re-sends of refused entries (one entry refused twice counts twice).
    pub retried: u64,
    /// Entries given up on; each is in `failures`.
    pub failed: u64,
    /// `PutRecords` calls made.
    pub calls: u64,
    pub failures: Vec<FailedEntry>,
}

impl PutSummary {
    pub fn add(&mut self, other: PutSummary) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.calls += other.calls;
        self.failures.extend(other.failures);
    }
}

/// A whole `PutRecords` call failed (after the SDK's own retries): no entry of it is known to
/// have landed, so the run stops rather than guess.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("PutRecords to stream '{stream}' failed: {message}")]
    Call { stream: String, message: String },
    #[error("the stream answered {got} results for {sent} entries")]
    ShortAnswer { sent: usize, got: usize },
    #[error("creating stream '{stream}' failed: {message}")]
    Create { stream: String, message: String },
    #[error("stream '{stream}' did not become ACTIVE within {seconds} s")]
    NotActive { stream: String, seconds: u64 },
}

/// Puts `entries` on `stream`, re-sending exactly the entries a response refuses until each is
/// accepted or has had `policy.max_attempts` tries.
pub async fn put_with_retries(
    client: &Client,
    stream: &str,
    entries: Vec<Entry>,
    policy: &RetryPolicy,
) -> Result<PutSummary, WriterError> {
    let mut summary = PutSummary::default();
    let mut pending = entries;
    let mut attempt = 1;
    while !pending.is_empty() {
        let request: Vec<PutRecordsRequestEntry> = pending
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(&e.partition_key)
                    .build()
                    .expect("data and partition key are set")
            })
            .collect();
        let response = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(request))
            .send()
            .await
            .map_err(|e| WriterError::Call {
                stream: stream.to_string(),
                message: aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
            })?;
        summary.calls += 1;
        let results = response.records();
        if results.len() != pending.len() {
            return Err(WriterError::ShortAnswer {
                sent: pending.len(),
                got: results.len(),
            });
        }
        let mut refused = Vec::new();
        for (entry, result) in pending.into_iter().zip(results) {
            match result.error_code() {
                None => summary.sent += 1,
                Some(code) if attempt >= policy.max_attempts => {
                    summary.failed += 1;
                    summary.failures.push(FailedEntry {
                        row: entry.row,
                        error_code: code.to_string(),
                        message: result.error_message().unwrap_or_default().to_string(),
                    });
                }
                Some(code) => {
                    tracing::debug!(row = entry.row, code, attempt, "entry refused, will retry");
                    refused.push(entry);
                }
            }
        }
        if !refused.is_empty() {
            summary.retried += refused.len() as u64;
            tokio::time::sleep(policy.backoff(attempt - 1)).await;
        }
        pending = refused;
        attempt += 1;
    }
    Ok(summary)
}

/// Creates `stream` with `shards` shards unless it exists, and waits until it is ACTIVE — for
/// local servers; on AWS the CloudFormation template creates the stream.
pub async fn ensure_stream(
    client: &Client,
    stream: &str,
    shards: i32,
    wait: Duration,
) -> Result<(), WriterError> {
    let exists = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .is_ok();
    if !exists {
        client
            .create_stream()
            .stream_name(stream)
            .shard_count(shards)
            .send()
            .await
            .map_err(|e| WriterError::Create {
                stream: stream.to_string(),
                message: aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
            })?;
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let status = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .ok()
            .and_then(|d| {
                d.stream_description_summary()
                    .map(|s| s.stream_status().clone())
            });
        if status == Some(StreamStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(WriterError::NotActive {
                stream: stream.to_string(),
                seconds: wait.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_capped_ceiling() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(70),
        };
        for retry in 0..30 {
            let ceiling = Duration::from_millis((10u64 << retry.min(20)).min(70));
            for _ in 0..50 {
                assert!(policy.backoff(retry) < ceiling);
            }
        }
    }

    #[test]
    fn backoff_is_jittered() {
        let policy = RetryPolicy::default();
        let pauses: std::collections::HashSet<Duration> =
            (0..20).map(|_| policy.backoff(3)).collect();
        assert!(pauses.len() > 1, "20 pauses were all equal");
    }
}
