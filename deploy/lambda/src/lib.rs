//! The Lambda between the Kinesis stream and the model endpoint, as plain functions.
//!
//! The work is the library's stream consumer ([`anomaly_kit::stream::Consumer`]); this crate
//! gives it its AWS parts and wires it to Lambda:
//!
//! * [`SageMakerEndpoint`]: SageMaker's runtime API, with errors sorted by what they mean — only a
//!   `ModelError` carrying the container's own 4xx says "this input is bad"; throttling, service
//!   errors, timeouts and connection failures fail the invocation so Lambda retries it;
//! * [`state::DynamoStore`]: each series' state in DynamoDB, written conditionally on the
//!   position it was read at, so a re-delivered record is never applied twice and two consumers
//!   can never interleave a series;
//! * [`failures::SqsFailures`]: records that can never be scored go to the dead-letter queue with
//!   their content and reason; the rest of the shard goes on;
//! * [`outputs::LogOutputs`]: each series' anomalies logged as structured lines right after its
//!   state is saved;
//! * [`handle`]: one Kinesis event through the consumer, with a summary line.
//!
//! `main.rs` wires [`handle`] to `lambda_runtime`; `bin/local-trigger.rs` stands in for Lambda's
//! event-source mapping on a local Kinesis-compatible server ([`trigger`]).

pub mod failures;
pub mod outputs;
pub mod state;
pub mod trigger;

use anomaly_kit::stream::{BatchReport, BoxFuture, Consumer, Incoming};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;

pub use anomaly_kit::stream::{ConsumeError, Endpoint, EndpointError};

/// The environment variable naming the SageMaker endpoint.
pub const ENDPOINT_NAME_VAR: &str = "ENDPOINT_NAME";
/// The environment variable naming the DynamoDB table that holds each series' state.
pub const STATE_TABLE_VAR: &str = "STATE_TABLE";
/// The environment variable holding the dead-letter queue's URL.
pub const FAILURE_QUEUE_VAR: &str = "FAILURE_QUEUE_URL";
/// Record fields, comma-separated, that an online detector reads: when set, the function runs
/// an online detector per series instead of calling an endpoint (no SageMaker needed).
pub const ONLINE_FEATURES_VAR: &str = "ONLINE_FEATURES";
/// The online detector's parameters as JSON, over its defaults (optional).
pub const ONLINE_PARAMS_VAR: &str = "ONLINE_PARAMS";

/// The online detector configured by [`ONLINE_FEATURES_VAR`] and [`ONLINE_PARAMS_VAR`]'s values:
/// `None` when no features are named (the function calls its endpoint).
///
/// ```
/// let model = anomaly_kit_lambda::online_model(Some("cpu, memory"), Some(r#"{"cooldown": 20}"#))
///     .unwrap()
///     .unwrap();
/// assert_eq!(model.feature_names, ["cpu", "memory"]);
/// assert_eq!(model.params.cooldown, 20);
/// assert!(anomaly_kit_lambda::online_model(Some("cpu"), Some(r#"{"trees": 0}"#)).is_err());
/// assert!(anomaly_kit_lambda::online_model(None, None).unwrap().is_none());
/// ```
pub fn online_model(
    features: Option<&str>,
    params: Option<&str>,
) -> Result<Option<anomaly_kit::stream::OnlineModel>, String> {
    let Some(features) = features.filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let feature_names: Vec<String> = features.split(',').map(|f| f.trim().to_string()).collect();
    if feature_names.iter().any(String::is_empty) {
        return Err(format!(
            "{ONLINE_FEATURES_VAR} has an empty field name: {features:?}"
        ));
    }
    let params: anomaly_kit::online::OnlineParams = match params.filter(|p| !p.trim().is_empty()) {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| format!("{ONLINE_PARAMS_VAR} is not valid online parameters: {e}"))?,
        None => Default::default(),
    };
    params
        .check()
        .map_err(|e| format!("{ONLINE_PARAMS_VAR}: {e}"))?;
    Ok(Some(anomaly_kit::stream::OnlineModel {
        feature_names,
        params,
    }))
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
    fn invoke(&self, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, EndpointError>> {
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

/// Sorts an SDK error by what it means. SageMaker's runtime wraps a container's error in
/// `ModelError` (HTTP 424) with the container's status inside; only a 4xx there — other than
/// 408 (the container timed out) and 429 (it is overloaded) — says the model refused this input.
/// Everything else says "try again later" and must never mark a record as bad: SageMaker's own
/// throttling (`ThrottlingException`, HTTP 400), `ValidationError` (HTTP 400: a wrong endpoint
/// name, say), `ModelNotReadyException` (429), `ServiceUnavailable` (503), `InternalFailure`
/// (500), a model's 5xx, timeouts and connection failures.
pub fn classify<R>(
    e: aws_sdk_sagemakerruntime::error::SdkError<InvokeEndpointError, R>,
) -> EndpointError
where
    R: std::fmt::Debug,
{
    if let Some(InvokeEndpointError::ModelError(m)) = e.as_service_error()
        && let Some(status) = m.original_status_code().and_then(|s| u16::try_from(s).ok())
        && anomaly_kit::stream::refused_by_model(status)
    {
        return EndpointError::Rejected {
            status,
            message: m
                .original_message()
                .or(m.message())
                .unwrap_or("(no message)")
                .to_string(),
        };
    }
    EndpointError::Unavailable(aws_sdk_sagemakerruntime::error::DisplayErrorContext(&e).to_string())
}

/// The invocation failed as a whole; Lambda will deliver the batch again.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] pub ConsumeError);

/// Lambda's answer for a handled batch: no item failures (records that can never be scored went
/// to the failure destination), or the error that makes Lambda deliver the batch again.
pub fn response(report: &BatchReport) -> Result<KinesisEventResponse, HandlerError> {
    match &report.error {
        Some(e) => Err(HandlerError(e.clone())),
        None => Ok(KinesisEventResponse::default()),
    }
}

/// An event's records as the consumer reads them: sequence number and bytes, in stream order.
pub fn records(event: &KinesisEvent) -> Vec<Incoming<'_>> {
    event
        .records
        .iter()
        .map(|r| Incoming {
            id: &r.kinesis.sequence_number,
            data: &r.kinesis.data.0,
        })
        .collect()
}

/// Scores one Kinesis event through `consumer` and logs what it did: each failed record as a
/// structured line and one summary line (the consumer's output sink emits the predictions).
/// Records in the report's `scored` were saved; if the report carries an error, the caller
/// fails the invocation (see [`response`]).
pub async fn handle(event: &KinesisEvent, consumer: &Consumer<'_>) -> BatchReport {
    let incoming = records(event);
    let report = consumer.process(&incoming).await;
    for f in &report.failed {
        tracing::warn!(sequence_number = %f.id, reason = %f.reason, "record sent to the failure destination");
    }
    tracing::info!(
        target: "batch",
        records = incoming.len(),
        scored = report.scored.len(),
        anomalies = report.anomalies().count(),
        warming_up = report.warming_up(),
        failed = report.failed.len(),
        redelivered = report.redelivered,
        endpoint_calls = report.calls,
        error = report.error.as_ref().map(|e| e.to_string()),
        "batch done"
    );
    report
}
