//! The Lambda function: Kinesis event in, `batchItemFailures` out, anomalies logged as JSON lines.
//!
//! Build for Lambda's `provided.al2023` runtime with cargo-lambda (see deploy/README.md):
//!   cargo lambda build --release --bin anomaly-kit-lambda --output-format zip
//! Configuration: `ENDPOINT_NAME` (the SageMaker endpoint); credentials and region come from the
//! function's role through the default AWS chain.

use anomaly_kit_lambda::{SageMakerEndpoint, handle};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // One JSON object per line: CloudWatch Logs Insights can filter on the fields.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let endpoint = SageMakerEndpoint::from_env().await?;
    let endpoint = &endpoint;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            let report = handle(&event.payload, endpoint).await?;
            Ok::<KinesisEventResponse, Error>(report.response())
        },
    ))
    .await
}
