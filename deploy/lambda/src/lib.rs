//! The Lambda between the Kinesis stream and the model endpoint, as plain functions.
//!
//! [`handle`] takes a `KinesisEvent` and anything that can answer an `/invocations` body
//! ([`Endpoint`]: SageMaker's runtime API on AWS, the same client pointed at `anomaly-kit serve`
//! locally). It does what the tutorial's Lambda meant to do, without its failure modes:
//!
//! * records are decoded with the library's stream logic (`anomaly_kit::stream`); one that is not
//!   a record is reported in `batchItemFailures`, never dropped with a print;
//! * the decoded records go to the endpoint in **one** request, in arrival order;
//! * if the endpoint refuses the request as bad input (a 4xx: say, a record without a feature),
//!   the batch is split in halves and retried, down to the single records the endpoint refuses,
//!   which are reported — so one poison record cannot block its shard;
//! * any other endpoint failure fails the invocation, so Lambda retries the batch: never a
//!   success with no predictions;
//! * anomalies are logged as structured lines, plus one summary line per batch.
//!
//! `main.rs` wires [`handle`] to `lambda_runtime`; `bin/local-trigger.rs` stands in for Lambda's
//! event-source mapping on a local Kinesis-compatible server ([`trigger`]).

pub mod trigger;

use std::future::Future;
use std::pin::Pin;

use anomaly_kit::contract::Predictions;
use anomaly_kit::stream::{self, BatchOutcome, FailedRecord, Incoming};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_sagemakerruntime::error::ProvideErrorMetadata;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;

/// The environment variable naming the SageMaker endpoint.
pub const ENDPOINT_NAME_VAR: &str = "ENDPOINT_NAME";

/// Why the endpoint did not answer with predictions.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum EndpointError {
    /// The endpoint looked at the request and refused it (HTTP 4xx from the model): retrying the
    /// same bytes cannot help, a smaller batch might.
    #[error("the endpoint refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// Anything else: unreachable, throttled, 5xx. Worth retrying later.
    #[error("the endpoint call failed: {0}")]
    Unavailable(String),
}

/// Something that answers an `/invocations` JSON body with a JSON body.
pub trait Endpoint: Sync {
    fn invoke(
        &self,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, EndpointError>> + Send + '_>>;
}

/// SageMaker's runtime API (`InvokeEndpoint`), asking the model for scores as well.
pub struct SageMakerEndpoint {
    client: aws_sdk_sagemakerruntime::Client,
    name: String,
}

impl SageMakerEndpoint {
    pub fn new(client: aws_sdk_sagemakerruntime::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// The client from the default AWS chain (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` points it
    /// elsewhere, for local runs) and the name from `ENDPOINT_NAME`.
    pub async fn from_env() -> Result<Self, anyhow::Error> {
        let name = std::env::var(ENDPOINT_NAME_VAR).map_err(|_| {
            anyhow::anyhow!("set {ENDPOINT_NAME_VAR} to the SageMaker endpoint's name")
        })?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(
            aws_sdk_sagemakerruntime::Client::new(&config),
            name,
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Endpoint for SageMakerEndpoint {
    fn invoke(
        &self,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, EndpointError>> + Send + '_>> {
        Box::pin(async move {
            let response = self
                .client
                .invoke_endpoint()
                .endpoint_name(&self.name)
                .content_type("application/json")
                .accept("application/json")
                .custom_attributes("scores=true")
                .body(Blob::new(body))
                .send()
                .await
                .map_err(classify)?;
            Ok(response.body.map(Blob::into_inner).unwrap_or_default())
        })
    }
}

/// Sorts an SDK error into "the model refused this input" and "try again later".
fn classify(
    e: aws_sdk_sagemakerruntime::error::SdkError<
        InvokeEndpointError,
        aws_sdk_sagemakerruntime::config::http::HttpResponse,
    >,
) -> EndpointError {
    let message = aws_sdk_sagemakerruntime::error::DisplayErrorContext(&e).to_string();
    // On AWS, a container's 4xx comes back as ModelError with the container's status inside.
    if let Some(InvokeEndpointError::ModelError(m)) = e.as_service_error()
        && let Some(status) = m.original_status_code()
        && (400..500).contains(&status)
        && status != 429
    {
        return EndpointError::Rejected {
            status: status as u16,
            message: m.original_message().unwrap_or(&message).to_string(),
        };
    }
    // Pointed straight at the container (local runs), the status is the container's own.
    if let Some(raw) = e.raw_response() {
        let status = raw.status().as_u16();
        if (400..500).contains(&status) && status != 429 && status != 408 {
            let detail = e
                .as_service_error()
                .and_then(|s| s.message())
                .map(str::to_string)
                .or_else(|| {
                    raw.body()
                        .bytes()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                })
                .unwrap_or(message);
            return EndpointError::Rejected {
                status,
                message: detail,
            };
        }
    }
    EndpointError::Unavailable(message)
}

/// The invocation failed as a whole; Lambda will retry the batch.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("the endpoint's answer is not a predictions object: {0}")]
    BadAnswer(String),
    #[error(transparent)]
    Stream(#[from] stream::StreamError),
}

/// What one invocation did: every record's fate, for Lambda's response, logs and sinks.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerReport {
    /// Failures in arrival order.
    pub outcome: BatchOutcome,
    /// Endpoint calls made (more than one when a refused batch was split).
    pub calls: usize,
}

impl HandlerReport {
    /// Lambda's answer: the failed records' sequence numbers, for `ReportBatchItemFailures`.
    pub fn response(&self) -> KinesisEventResponse {
        let mut response = KinesisEventResponse::default();
        response.set_failures(self.outcome.failed.iter().map(|f| f.id.clone()));
        response
    }
}

/// Scores one Kinesis event. See the crate docs for the rules.
pub async fn handle(
    event: &KinesisEvent,
    endpoint: &dyn Endpoint,
) -> Result<HandlerReport, HandlerError> {
    let incoming: Vec<Incoming<'_>> = event
        .records
        .iter()
        .map(|r| Incoming {
            id: &r.kinesis.sequence_number,
            data: &r.kinesis.data.0,
        })
        .collect();
    let mut outcome = BatchOutcome {
        scored: Vec::with_capacity(incoming.len()),
        failed: Vec::new(),
    };
    let mut calls = 0;
    score(&incoming, endpoint, &mut outcome, &mut calls).await?;
    // Lambda restarts a shard at the lowest reported sequence number: report in arrival order.
    let position = |id: &str| incoming.iter().position(|r| r.id == id);
    outcome.failed.sort_by_key(|f| position(&f.id));
    for r in outcome.anomalies() {
        tracing::info!(
            target: "anomaly",
            sequence_number = %r.id,
            series = r.series.as_deref().unwrap_or(""),
            row = r.row,
            score = r.score,
            "anomaly"
        );
    }
    for f in &outcome.failed {
        tracing::warn!(sequence_number = %f.id, reason = %f.reason, "record not scored");
    }
    tracing::info!(
        target: "batch",
        records = incoming.len(),
        scored = outcome.scored.len(),
        anomalies = outcome.anomalies().count(),
        failed = outcome.failed.len(),
        endpoint_calls = calls,
        "batch done"
    );
    Ok(HandlerReport { outcome, calls })
}

/// Scores `records` with one call; if the endpoint refuses them as bad input, scores each half
/// in turn (order kept, so trailing windows still see the series in order) down to single
/// records, which are then reported as failed.
fn score<'a>(
    records: &'a [Incoming<'a>],
    endpoint: &'a dyn Endpoint,
    outcome: &'a mut BatchOutcome,
    calls: &'a mut usize,
) -> Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'a>> {
    Box::pin(async move {
        let mut prepared = stream::prepare_batch(records);
        if prepared.is_empty() {
            outcome.failed.extend(prepared.failed);
            return Ok(());
        }
        *calls += 1;
        match endpoint.invoke(std::mem::take(&mut prepared.body)).await {
            Ok(body) => {
                let predictions: Predictions = serde_json::from_slice(&body)
                    .map_err(|e| HandlerError::BadAnswer(e.to_string()))?;
                let done = prepared.outcome(predictions)?;
                outcome.scored.extend(done.scored);
                outcome.failed.extend(done.failed);
                Ok(())
            }
            Err(EndpointError::Rejected { message, .. }) if records.len() == 1 => {
                outcome.failed.push(FailedRecord {
                    id: records[0].id.to_string(),
                    reason: format!("the endpoint refused it: {message}"),
                });
                Ok(())
            }
            Err(EndpointError::Rejected { .. }) => {
                let (left, right) = records.split_at(records.len() / 2);
                score(left, endpoint, outcome, calls).await?;
                score(right, endpoint, outcome, calls).await
            }
            Err(e) => Err(e.into()),
        }
    })
}
