//! The tutorial's stream writer, working: rows of a CSV become anomaly-kit stream records
//! (`anomaly_kit::stream::encode_table_row`, the same JSON the server reads) and go to Amazon
//! Kinesis with `PutRecords`, a batch at a time.
//!
//! `PutRecords` is not all-or-nothing: a response can accept some entries and refuse others
//! (`ProvisionedThroughputExceededException` when a shard is over its limit, `InternalFailure`).
//! The tutorial's writer ignored the response, so refused rows vanished. [`put_with_retries`]
//! re-sends exactly the refused entries, with capped exponential backoff and full jitter, and
//! gives up on an entry only after [`RetryPolicy::max_attempts`] tries; whatever it gives up on is
//! counted and returned, never dropped silently.
//!
//! **Order.** A windowed detector needs each series in order, and Kinesis keeps the order of a
//! partition key's records only as they are accepted: if an entry is refused while a later entry
//! of its series in the same call is accepted, a re-send lands after it. So by default
//! ([`Order::PerSeries`]) a call carries at most one entry per series — the next one of each — and
//! a refused entry is re-sent before any later entry of its series is sent at all. Many series
//! still fill a call; one series sends one record a call. [`Order::Batched`] packs whole batches
//! (fast, for stateless models whose answers do not depend on order).
//!
//! The module has no opinion on where the client points: the binary builds it from the default
//! AWS configuration chain, with `--endpoint-url` for a local Kinesis-compatible server.

pub mod local;
pub mod records;

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use rand::RngExt;

pub use records::{Entry, Interleaved, RowSource};

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

/// How entries are packed into `PutRecords` calls (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// At most one entry per series per call: each series stays in order through refusals.
    #[default]
    PerSeries,
    /// Whole batches per call; a refused entry is re-sent after later entries of its series.
    Batched,
}

/// An entry given up on after every try.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedEntry {
    pub series: String,
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
/// accepted or has had `policy.max_attempts` tries; `order` says how calls are packed.
pub async fn put_with_retries(
    client: &Client,
    stream: &str,
    entries: Vec<Entry>,
    policy: &RetryPolicy,
    order: Order,
) -> Result<PutSummary, WriterError> {
    // each queue is sent head first; a call takes the heads of up to MAX_BATCH queues
    let mut queues: Vec<VecDeque<(Entry, u32)>> = match order {
        Order::Batched => vec![entries.into_iter().map(|e| (e, 0)).collect()],
        Order::PerSeries => {
            let mut queues: Vec<VecDeque<(Entry, u32)>> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> = Default::default();
            for e in entries {
                let at = *index.entry(e.partition_key.clone()).or_insert_with(|| {
                    queues.push(VecDeque::new());
                    queues.len() - 1
                });
                queues[at].push_back((e, 0));
            }
            queues
        }
    };
    let per_queue = match order {
        Order::Batched => MAX_BATCH,
        Order::PerSeries => 1,
    };
    let mut summary = PutSummary::default();
    loop {
        // which entries go in this call: (queue, position in queue)
        let picked: Vec<(usize, usize)> = queues
            .iter()
            .enumerate()
            .flat_map(|(q, queue)| (0..queue.len().min(per_queue)).map(move |i| (q, i)))
            .take(MAX_BATCH)
            .collect();
        if picked.is_empty() {
            break;
        }
        let request: Vec<PutRecordsRequestEntry> = picked
            .iter()
            .map(|&(q, i)| {
                let e = &queues[q][i].0;
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
        if results.len() != picked.len() {
            return Err(WriterError::ShortAnswer {
                sent: picked.len(),
                got: results.len(),
            });
        }
        // settle every picked entry: accepted, refused for good, or refused to retry
        let mut done: Vec<Vec<bool>> = queues
            .iter()
            .map(|q| vec![false; q.len().min(per_queue)])
            .collect();
        let mut retry_round = 0;
        for (&(q, i), result) in picked.iter().zip(results) {
            let (entry, tries) = &mut queues[q][i];
            *tries += 1;
            match result.error_code() {
                None => {
                    summary.sent += 1;
                    done[q][i] = true;
                }
                Some(code) if *tries >= policy.max_attempts => {
                    summary.failed += 1;
                    summary.failures.push(FailedEntry {
                        series: entry.partition_key.clone(),
                        row: entry.row,
                        error_code: code.to_string(),
                        message: result.error_message().unwrap_or_default().to_string(),
                    });
                    done[q][i] = true;
                }
                Some(code) => {
                    tracing::debug!(row = entry.row, code, tries, "entry refused, will retry");
                    summary.retried += 1;
                    retry_round = retry_round.max(*tries);
                }
            }
        }
        for (queue, done) in queues.iter_mut().zip(&done) {
            let mut i = 0;
            queue.retain(|_| {
                let keep = !done.get(i).copied().unwrap_or(false);
                i += 1;
                keep
            });
        }
        queues.retain(|q| !q.is_empty());
        if retry_round > 0 {
            tokio::time::sleep(policy.backoff(retry_round - 1)).await;
        }
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
