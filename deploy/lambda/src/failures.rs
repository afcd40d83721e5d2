//! Where records that can never be scored go: the dead-letter queue on AWS, a JSON-lines file
//! in the local cloud ([`crate::outputs::JsonLines`]). Each message carries the record's position,
//! series, bytes (base64) and the reason, so a person can see what was wrong and replay it once
//! fixed.
//!
//! Delivery to the failure destination is at least once: if a batch fails after its failures
//! were sent (the endpoint throttled, say), its re-delivery sends them again. Each message names
//! the record's sequence number, which identifies it.

use anomaly_kit::stream::{BoxFuture, FailedRecord, FailureSink};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;

/// Record bytes kept in a message, base64 (an SQS message holds at most 256 KiB).
pub const MAX_DATA_BASE64: usize = 192 * 1024;

/// One message: a failed record, with the stream it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureMessage<'a> {
    pub source: &'static str,
    pub sequence_number: &'a str,
    pub series: Option<&'a str>,
    pub reason: &'a str,
    /// The record's bytes (base64), cut to [`MAX_DATA_BASE64`] characters when longer.
    pub data_base64: &'a str,
    pub data_truncated: bool,
}

impl<'a> FailureMessage<'a> {
    pub fn of(f: &'a FailedRecord) -> Self {
        let cut = f.data_base64.len() > MAX_DATA_BASE64;
        Self {
            source: "anomaly-kit-lambda",
            sequence_number: &f.id,
            series: f.series.as_deref(),
            reason: &f.reason,
            data_base64: if cut {
                &f.data_base64[..MAX_DATA_BASE64]
            } else {
                &f.data_base64
            },
            data_truncated: cut,
        }
    }
}

/// The dead-letter queue, through SQS `SendMessageBatch` (10 messages a call).
#[derive(Clone, Debug)]
pub struct SqsFailures {
    client: Client,
    queue_url: String,
}

impl SqsFailures {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl FailureSink for SqsFailures {
    fn send<'a>(&'a self, failed: &'a [FailedRecord]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            for chunk in failed.chunks(10) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let body = serde_json::to_string(&FailureMessage::of(f))
                            .map_err(|e| e.to_string())?;
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body)
                            .build()
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| DisplayErrorContext(&e).to_string())?;
                if let Some(f) = out.failed().first() {
                    return Err(format!(
                        "SQS refused {} of {} messages ({}: {})",
                        out.failed().len(),
                        chunk.len(),
                        f.code(),
                        f.message().unwrap_or_default()
                    ));
                }
            }
            Ok(())
        })
    }
}
