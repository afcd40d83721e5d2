//! The SageMaker-runtime stand-in over real loopback HTTP: round-robin over instances, SageMaker's
//! error shapes, the injected throttling share. (Building this test also builds the
//! `local-sagemaker` binary that deploy/local/scale.sh and its test run.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anomaly_kit_local_runtime::{RuntimeConfig, RuntimeCounters, router};
use axum::routing::post;

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// An instance that answers its name, or a 400 for a body "bad".
async fn instance(name: &'static str) -> String {
    serve(axum::Router::new().route(
        "/invocations",
        post(move |body: String| async move {
            if body == "bad" {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    r#"{"error":"bad row"}"#.to_string(),
                )
            } else {
                (
                    axum::http::StatusCode::OK,
                    format!(r#"{{"from":"{name}"}}"#),
                )
            }
        }),
    ))
    .await
}

async fn call(runtime: &str, body: &str) -> (u16, Option<String>, String) {
    let r = reqwest::Client::new()
        .post(format!("{runtime}/endpoints/ep/invocations"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let kind = r
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), kind, r.text().await.unwrap())
}

#[tokio::test]
async fn routes_round_robin_and_answers_errors_as_sagemaker_does() {
    let a = instance("a").await;
    let b = instance("b").await;
    // a third instance that is down: its turn answers ServiceUnavailable
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let counters = Arc::new(RuntimeCounters::default());
    let runtime = serve(router(
        RuntimeConfig {
            instances: vec![a, b, down],
            throttle_rate: 0.0,
            seed: 0,
        },
        counters.clone(),
    ))
    .await;
    let answers: Vec<(u16, Option<String>, String)> =
        call_each(&runtime, &["x", "x", "x", "x"]).await;
    assert_eq!(answers[0].2, r#"{"from":"a"}"#);
    assert_eq!(answers[1].2, r#"{"from":"b"}"#);
    assert_eq!(
        (answers[2].0, answers[2].1.as_deref()),
        (503, Some("ServiceUnavailable"))
    );
    assert_eq!(answers[3].2, r#"{"from":"a"}"#);
    let (status, kind, body) = call(&runtime, "bad").await;
    assert_eq!((status, kind.as_deref()), (424, Some("ModelError")));
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["OriginalStatusCode"], 400);
    assert_eq!(body["OriginalMessage"], r#"{"error":"bad row"}"#);
    assert_eq!(counters.unavailable.load(Ordering::Relaxed), 1);
    assert_eq!(counters.model_errors.load(Ordering::Relaxed), 1);
}

/// Calls in order, one after the other.
async fn call_each(runtime: &str, bodies: &[&str]) -> Vec<(u16, Option<String>, String)> {
    let mut out = Vec::new();
    for b in bodies {
        out.push(call(runtime, b).await);
    }
    out
}

#[tokio::test]
async fn throttles_the_share_asked_for_with_http_400() {
    let a = instance("a").await;
    let counters = Arc::new(RuntimeCounters::default());
    let runtime = serve(router(
        RuntimeConfig {
            instances: vec![a],
            throttle_rate: 0.2,
            seed: 3,
        },
        counters.clone(),
    ))
    .await;
    let mut throttled = 0;
    for _ in 0..500 {
        let (status, kind, _) = call(&runtime, "x").await;
        if kind.as_deref() == Some("ThrottlingException") {
            assert_eq!(status, 400);
            throttled += 1;
        }
    }
    assert!(
        (70..=130).contains(&throttled),
        "{throttled} of 500 at 20 %"
    );
    assert_eq!(counters.throttled.load(Ordering::Relaxed), throttled);
}
