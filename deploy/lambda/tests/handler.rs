//! The Lambda handler as a plain function: AWS's own sample event, our records, poison records,
//! re-deliveries and every kind of endpoint failure — against the real server on loopback
//! through the real SageMaker SDK, and against a stand-in that answers exactly as SageMaker's
//! runtime does.

mod common;

use std::time::Duration;

use anomaly_kit::stream::{
    BoxFuture, ConsumeError, Consumer, InMemoryFailures, InMemoryOutputs, InMemoryStore, StateStore,
};
use anomaly_kit_lambda::{Endpoint, EndpointError, SageMakerEndpoint, handle, response};
use anomaly_kit_local_runtime::{RuntimeError, always, always_model_error};
use aws_lambda_events::event::kinesis::KinesisEvent;
use common::{
    event, event_from, local_config, model, records, sagemaker_at, start_server, test_data,
};

/// The consumer's in-memory parts, owned together.
#[derive(Default)]
struct Parts {
    store: InMemoryStore,
    failures: InMemoryFailures,
    outputs: InMemoryOutputs,
}

impl Parts {
    fn consumer<'a>(&'a self, endpoint: &'a dyn Endpoint) -> Consumer<'a> {
        Consumer::new(endpoint, &self.store, &self.failures).with_outputs(&self.outputs)
    }
}

#[tokio::test]
async fn aws_sample_event_goes_to_the_failure_destination_not_dropped() {
    // AWS's sample carries "Hello World" in each record: not a record of ours
    let sample: KinesisEvent =
        serde_json::from_str(include_str!("fixtures/example-kinesis-event.json")).unwrap();
    let (addr, _stop) = start_server(model(false)).await;
    let endpoint = sagemaker_at(addr).await;
    let parts = Parts::default();
    let report = handle(&sample, &parts.consumer(&endpoint)).await;
    let sent: Vec<String> = parts.failures.take().into_iter().map(|f| f.id).collect();
    assert_eq!(
        sent,
        vec![
            "49568167373333333333333333333333333333333333333333333333",
            "49568167373333333334444444444444444444444444444444444444"
        ]
    );
    assert_eq!(report.calls, 0, "nothing decodable, so no endpoint call");
    assert!(report.failed[0].reason.starts_with("not JSON"));
    assert_eq!(report.failed[0].data(), b"Hello World");
    // Lambda's answer: success, no item failures (they would only be retried in vain)
    let json = serde_json::to_value(response(&report).unwrap()).unwrap();
    assert_eq!(json["batchItemFailures"], serde_json::json!([]));
}

#[tokio::test]
async fn our_records_are_scored_like_offline_across_batches() {
    let data = test_data(300);
    let model = model(true);
    let offline = model.detector.score_series(data.values.view()).unwrap();
    let (addr, _stop) = start_server(model).await;
    let endpoint = sagemaker_at(addr).await;
    let parts = Parts::default();
    let consumer = parts.consumer(&endpoint);
    let payloads = records(&data);
    // three invocations; the later ones get their past from the store, as context
    let mut scored = Vec::new();
    for (from, to) in [(0, 10), (10, 120), (120, 300)] {
        let report = handle(&event_from(&payloads[from..to], from), &consumer).await;
        assert!(report.error.is_none(), "{:?}", report.error);
        assert_eq!(report.calls, 1, "one request per batch");
        scored.extend(report.scored);
    }
    let emitted = parts.outputs.take();
    assert_eq!(
        emitted, scored,
        "each series emitted once, right after its save"
    );
    let predictions: Vec<i32> = scored.iter().map(|r| r.prediction).collect();
    assert_eq!(
        predictions,
        offline.predictions(),
        "trailing windows included"
    );
    let scores: Vec<u64> = scored.iter().map(|r| r.score.unwrap().to_bits()).collect();
    let expected: Vec<u64> = offline.scores.iter().map(|s| s.to_bits()).collect();
    assert_eq!(scores, expected, "bit for bit");
    assert_eq!(scored.iter().filter(|r| r.warming_up).count(), 15);
    assert!(
        scored[..15].iter().all(|r| r.prediction == 1),
        "no flag while warming up"
    );
    let state = parts.store.load("test").await.unwrap().unwrap();
    assert_eq!((state.applied, state.context.len()), (300, 15));
}

#[tokio::test]
async fn a_redelivered_event_is_applied_once() {
    let data = test_data(50);
    let (addr, _stop) = start_server(model(true)).await;
    let endpoint = sagemaker_at(addr).await;
    let parts = Parts::default();
    let consumer = parts.consumer(&endpoint);
    let payloads = records(&data);
    let first = handle(&event(&payloads[..30]), &consumer).await;
    assert_eq!(first.scored.len(), 30);
    // Lambda re-delivers from an earlier position, overlapping what was applied
    let again = handle(&event(&payloads), &consumer).await;
    assert_eq!((again.redelivered, again.scored.len()), (30, 20));
    assert_eq!(again.scored[0].row, Some(30));
    assert_eq!(parts.outputs.take().len(), 50, "every row emitted once");
}

#[tokio::test]
async fn poison_records_are_isolated_and_the_rest_scored() {
    let data = test_data(64);
    let model = model(true);
    let offline = model.detector.predict(data.values.view()).unwrap();
    let (addr, _stop) = start_server(model).await;
    let endpoint = sagemaker_at(addr).await;
    let mut payloads = records(&data);
    // a CSV line (the tutorial's writer), and a JSON record the model cannot use (no feature_2)
    payloads.insert(10, b"2024-01-01 00:00:00,1.0,2.0,3.0,4.0,5.0".to_vec());
    payloads.insert(40, br#"{"feature_1": 1.0, "series": "test"}"#.to_vec());
    let parts = Parts::default();
    let report = handle(&event(&payloads), &parts.consumer(&endpoint)).await;
    assert!(response(&report).unwrap().batch_item_failures.is_empty());
    let failed = parts.failures.take();
    let ids: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["seq-010", "seq-040"]);
    assert!(failed[0].reason.starts_with("not JSON"), "{failed:?}");
    assert!(
        failed[1].reason.contains("feature_2") && failed[1].reason.contains("(400)"),
        "the container's own status and message: {}",
        failed[1].reason
    );
    assert_eq!(failed[0].data(), payloads[10], "the content goes with it");
    let streamed: Vec<i32> = report.scored.iter().map(|r| r.prediction).collect();
    assert_eq!(
        streamed, offline,
        "every good record scored once, in order, windows intact"
    );
    assert!(
        report.calls > 1 && report.calls <= 1 + 2 * 7,
        "bisection, not one call per record: {}",
        report.calls
    );
}

/// Serves `router` on a free loopback port for the rest of the test.
async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A SageMaker client with quick retries, so the retried errors do not slow the test.
async fn quick_client(addr: std::net::SocketAddr) -> SageMakerEndpoint {
    let config = local_config(&format!("http://{addr}")).await;
    let config = aws_sdk_sagemakerruntime::config::Builder::from(&config)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(500))
                .build(),
        )
        .build();
    SageMakerEndpoint::new(
        aws_sdk_sagemakerruntime::Client::from_conf(config),
        "anomaly-kit",
    )
}

/// Runs 10 records against an endpoint that fails in one way; returns the batch's error and
/// checks that a failing endpoint changed nothing: no record marked bad, nothing saved.
async fn fails_the_batch(endpoint: &SageMakerEndpoint) -> ConsumeError {
    let data = test_data(10);
    let parts = Parts::default();
    let report = handle(&event(&records(&data)), &parts.consumer(endpoint)).await;
    assert!(
        response(&report).is_err(),
        "the invocation must fail, so Lambda retries"
    );
    assert!(parts.failures.take().is_empty(), "no record is called bad");
    assert!(
        parts.store.is_empty() && parts.outputs.take().is_empty(),
        "nothing applied"
    );
    report.error.unwrap()
}

/// SageMaker's own errors — throttling (HTTP 400!), validation, not ready, internal failure,
/// unavailable — and a model's 5xx, 408 or 429 all mean "try again": the batch fails whole and
/// is retried, never split or dead-lettered. Only a `ModelError` with the container's own 4xx
/// marks records as bad.
#[tokio::test]
async fn endpoint_errors_are_classified_by_what_they_mean() {
    for error in RuntimeError::ALL {
        let (status, kind, _) = error.parts("anomaly-kit");
        let endpoint = quick_client(serve(always(error)).await).await;
        let e = fails_the_batch(&endpoint).await;
        assert!(
            matches!(&e, ConsumeError::Endpoint(EndpointError::Unavailable(m)) if m.contains(kind)),
            "{kind} ({status}): {e}"
        );
    }
    for original in [500, 503, 408, 429] {
        let endpoint = quick_client(serve(always_model_error(original, "busy")).await).await;
        let e = fails_the_batch(&endpoint).await;
        assert!(
            matches!(&e, ConsumeError::Endpoint(EndpointError::Unavailable(m)) if m.contains("ModelError")),
            "model {original}: {e}"
        );
    }
    // the model's own 400: every record is refused alone, then sent to the failure destination
    let endpoint = quick_client(serve(always_model_error(400, "no feature_9")).await).await;
    let data = test_data(4);
    let parts = Parts::default();
    let report = handle(&event(&records(&data)), &parts.consumer(&endpoint)).await;
    assert!(report.error.is_none());
    let failed = parts.failures.take();
    assert_eq!(failed.len(), 4);
    assert!(
        failed
            .iter()
            .all(|f| f.reason.contains("(400): no feature_9")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn unreachable_and_silent_endpoints_fail_the_invocation() {
    let (addr, stop) = start_server(model(false)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = fails_the_batch(&quick_client(addr).await).await;
    assert!(
        matches!(e, ConsumeError::Endpoint(EndpointError::Unavailable(_))),
        "{e}"
    );
    // a server that accepts and never answers: the attempt timeout ends it
    let silent = axum::Router::new().route(
        "/endpoints/{name}/invocations",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ""
        }),
    );
    let e = fails_the_batch(&quick_client(serve(silent).await).await).await;
    assert!(
        matches!(e, ConsumeError::Endpoint(EndpointError::Unavailable(_))),
        "{e}"
    );
}

/// An endpoint that answers with fixed bytes: for answers the real server never gives.
struct Canned(&'static [u8]);

impl Endpoint for Canned {
    fn invoke(&self, _: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, EndpointError>> {
        Box::pin(async move { Ok(self.0.to_vec()) })
    }
}

#[tokio::test]
async fn a_short_or_garbled_answer_fails_the_invocation() {
    let data = test_data(3);
    let batch = event(&records(&data));
    let parts = Parts::default();
    let canned = Canned(br#"{"predictions": [1]}"#);
    let short = handle(&batch, &parts.consumer(&canned))
        .await
        .error
        .unwrap();
    assert!(
        short.to_string().contains("1 predictions for 3 records"),
        "{short}"
    );
    let canned = Canned(b"<html>502</html>");
    let garbled = handle(&batch, &parts.consumer(&canned))
        .await
        .error
        .unwrap();
    assert!(matches!(garbled, ConsumeError::BadAnswer(_)), "{garbled}");
    assert!(parts.store.is_empty());
}
