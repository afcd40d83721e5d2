//! The Lambda function: Kinesis event in, predictions logged as JSON lines, state in DynamoDB.
//!
//! Build for Lambda's `provided.al2023` runtime with cargo-lambda (see deploy/README.md):
//!   cargo lambda build --release --x86-64 --bin anomaly-kit-lambda --output-format zip
//! Configuration: `ENDPOINT_NAME` (the SageMaker endpoint), `STATE_TABLE` (the DynamoDB table of
//! series states), `FAILURE_QUEUE_URL` (the dead-letter queue); or, instead of an endpoint,
//! `ONLINE_FEATURES` (and optionally `ONLINE_PARAMS`) to run an online detector per series whose
//! state is saved in the same table. Credentials and region come from the function's role
//! through the default AWS chain.

use anomaly_kit::stream::Consumer;
use anomaly_kit_lambda::failures::SqsFailures;
use anomaly_kit_lambda::outputs::LogOutputs;
use anomaly_kit_lambda::state::DynamoStore;
use anomaly_kit_lambda::{
    FAILURE_QUEUE_VAR, ONLINE_FEATURES_VAR, ONLINE_PARAMS_VAR, STATE_TABLE_VAR, SageMakerEndpoint,
    handle, online_model, response,
};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};

fn required(var: &str, what: &str) -> Result<String, Error> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("set {var} to {what}").into())
}

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
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let online = online_model(
        std::env::var(ONLINE_FEATURES_VAR).ok().as_deref(),
        std::env::var(ONLINE_PARAMS_VAR).ok().as_deref(),
    )?;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        required(STATE_TABLE_VAR, "the DynamoDB table of series states")?,
    );
    let failures = SqsFailures::new(
        aws_sdk_sqs::Client::new(&config),
        required(FAILURE_QUEUE_VAR, "the dead-letter queue's URL")?,
    );
    let endpoint;
    let consumer = match &online {
        Some(model) => Consumer::learning(model, &store, &failures),
        None => {
            endpoint = SageMakerEndpoint::from_env().await?;
            Consumer::new(&endpoint, &store, &failures)
        }
    }
    .with_outputs(&LogOutputs);
    let consumer = &consumer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            let report = handle(&event.payload, consumer).await;
            Ok::<KinesisEventResponse, Error>(response(&report)?)
        },
    ))
    .await
}
