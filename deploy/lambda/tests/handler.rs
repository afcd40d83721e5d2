//! The Lambda handler as a plain function: AWS's own sample event, our records, poison records,
//! and endpoint failures — against the real server on loopback through the real SageMaker SDK.

mod common;

use std::future::Future;
use std::pin::Pin;

use anomaly_kit_lambda::{Endpoint, EndpointError, HandlerError, handle};
use aws_lambda_events::event::kinesis::KinesisEvent;
use common::{event, model, records, sagemaker_at, start_server, test_data};

fn failure_ids(response: &aws_lambda_events::event::streams::KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn aws_sample_event_is_reported_not_dropped() {
    // AWS's sample carries "Hello World" in each record: not a record of ours
    let sample: KinesisEvent =
        serde_json::from_str(include_str!("fixtures/example-kinesis-event.json")).unwrap();
    let (addr, _stop) = start_server(model(false)).await;
    let report = handle(&sample, &sagemaker_at(addr).await).await.unwrap();
    assert_eq!(
        failure_ids(&report.response()),
        vec![
            "49568167373333333333333333333333333333333333333333333333",
            "49568167373333333334444444444444444444444444444444444444"
        ]
    );
    assert_eq!(report.calls, 0, "nothing decodable, so no endpoint call");
    assert!(report.outcome.failed[0].reason.starts_with("not JSON"));
    // the response is what Lambda expects with ReportBatchItemFailures
    let json = serde_json::to_value(report.response()).unwrap();
    assert_eq!(
        json["batchItemFailures"][0]["itemIdentifier"],
        "49568167373333333333333333333333333333333333333333333333"
    );
}

#[tokio::test]
async fn our_records_are_scored_like_offline() {
    let data = test_data(300);
    let model = model(true);
    let offline = model.detector.predict(data.values.view()).unwrap();
    let (addr, _stop) = start_server(model).await;
    let report = handle(&event(&records(&data)), &sagemaker_at(addr).await)
        .await
        .unwrap();
    assert!(report.response().batch_item_failures.is_empty());
    assert_eq!(report.calls, 1, "one request per batch");
    let streamed: Vec<i32> = report.outcome.scored.iter().map(|r| r.prediction).collect();
    assert_eq!(streamed, offline, "trailing windows included");
    assert!(
        report.outcome.scored.iter().all(|r| r.score.is_some()),
        "the handler asks for scores"
    );
    assert_eq!(report.outcome.scored[17].row, Some(17));
}

#[tokio::test]
async fn poison_records_are_isolated_and_the_rest_scored() {
    let data = test_data(64);
    let model = model(false);
    let offline = model.detector.predict(data.values.view()).unwrap();
    let (addr, _stop) = start_server(model).await;
    let mut payloads = records(&data);
    // a CSV line (the tutorial's writer), and a JSON record the model cannot use (no feature_3)
    payloads.insert(10, b"2024-01-01 00:00:00,1.0,2.0,3.0,4.0,5.0".to_vec());
    payloads.insert(40, br#"{"feature_1": 1.0, "series": "test"}"#.to_vec());
    let report = handle(&event(&payloads), &sagemaker_at(addr).await)
        .await
        .unwrap();
    assert_eq!(failure_ids(&report.response()), vec!["seq-010", "seq-040"]);
    let reasons: Vec<&str> = report
        .outcome
        .failed
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert!(reasons[0].starts_with("not JSON"), "{reasons:?}");
    assert!(
        reasons[1].contains("feature_2"),
        "the server's message names the missing feature: {reasons:?}"
    );
    let streamed: Vec<i32> = report.outcome.scored.iter().map(|r| r.prediction).collect();
    assert_eq!(streamed, offline, "every good record scored once, in order");
    assert!(
        report.calls > 1 && report.calls <= 1 + 2 * 7,
        "bisection, not one call per record: {}",
        report.calls
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_the_invocation() {
    let (addr, stop) = start_server(model(false)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let data = test_data(10);
    let err = handle(&event(&records(&data)), &sagemaker_at(addr).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HandlerError::Endpoint(EndpointError::Unavailable(_))),
        "{err}"
    );
}

/// An endpoint that answers with fixed bytes: for answers the real server never gives.
struct Canned(&'static [u8]);

impl Endpoint for Canned {
    fn invoke(
        &self,
        _: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, EndpointError>> + Send + '_>> {
        Box::pin(async move { Ok(self.0.to_vec()) })
    }
}

#[tokio::test]
async fn a_short_or_garbled_answer_fails_the_invocation() {
    let data = test_data(3);
    let batch = event(&records(&data));
    let short = handle(&batch, &Canned(br#"{"predictions": [1]}"#))
        .await
        .unwrap_err();
    assert!(
        short.to_string().contains("1 predictions for 3 records"),
        "{short}"
    );
    let garbled = handle(&batch, &Canned(b"<html>502</html>"))
        .await
        .unwrap_err();
    assert!(matches!(garbled, HandlerError::BadAnswer(_)), "{garbled}");
}
