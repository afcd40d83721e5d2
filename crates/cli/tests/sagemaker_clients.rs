//! The real AWS SageMaker runtime clients — boto3 and the Rust SDK — against a local server, with
//! only the endpoint URL overridden: what the tutorial's Lambda does, pointed at loopback.

mod common;

use std::path::Path;
use std::process::Command;

use anomaly_kit::detector::DetectorSpec;
use anomaly_kit::model::{ModelArtefact, TrainingInfo};
use anomaly_kit::synth::SynthParams;
use anomaly_kit_server::{self as serve, ServeConfig};
use serde_json::{Value, json};

/// A venv with boto3, made once under target/ by tests/clients/boto3-venv.sh.
fn boto3_python() -> std::path::PathBuf {
    let out = Command::new("bash")
        .arg(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("tests/clients/boto3-venv.sh"),
        )
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "cannot make the boto3 venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

async fn start() -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    Vec<i32>,
    Value,
) {
    let train = SynthParams::tutorial()
        .rows(2_000)
        .anomalies(100)
        .generate()
        .unwrap();
    let test = SynthParams::tutorial()
        .rows(50)
        .anomalies(5)
        .seed(101)
        .generate()
        .unwrap();
    let detector = DetectorSpec::tutorial(42)
        .fit(&train.feature_names, train.values.view(), None)
        .unwrap();
    let expected = detector.predict(test.values.view()).unwrap();
    let body: Value = (0..test.n_rows())
        .map(|i| {
            let mut r = serde_json::Map::new();
            for (j, n) in test.feature_names.iter().enumerate() {
                r.insert(n.clone(), json!(test.values[[i, j]]));
            }
            Value::Object(r)
        })
        .collect();
    let model = ModelArtefact::new(
        "tutorial",
        detector,
        TrainingInfo::of(train.values.view(), Some(100)),
    );
    let server = serve::spawn_on_loopback(model, ServeConfig::default())
        .await
        .unwrap();
    (server.addr, server.stop, expected, body)
}

fn predictions(answer: &Value) -> Vec<i32> {
    answer["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|p| p.as_i64().unwrap() as i32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_invoke_endpoint_gets_predictions() {
    let python = tokio::task::spawn_blocking(boto3_python).await.unwrap();
    let (addr, stop, expected, body) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, body.to_string()).unwrap();
    let script = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/clients/invoke_boto3.py");
    let url = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(url)
            .arg(body_file)
            // placeholders for the default credential chain; the loopback server ignores them
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(predictions(&answer), expected);
    let _ = stop.send(());
}

#[tokio::test]
async fn rust_sdk_invoke_endpoint_gets_predictions() {
    use aws_sdk_sagemakerruntime::config::{Credentials, Region};
    let (addr, stop, expected, body) = start().await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        // placeholders: the loopback server does not check signatures
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "loopback-test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .load()
        .await;
    let client = aws_sdk_sagemakerruntime::Client::new(&config);
    let response = client
        .invoke_endpoint()
        .endpoint_name("anomaly-kit-local")
        .content_type("application/json")
        .custom_attributes("scores=true")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            body.to_string(),
        ))
        .send()
        .await
        .expect("invoke_endpoint against the local server");
    let answer: Value =
        serde_json::from_slice(response.body().map(|b| b.as_ref()).unwrap_or_default()).unwrap();
    assert_eq!(predictions(&answer), expected);
    assert_eq!(
        answer["scores"].as_array().unwrap().len(),
        expected.len(),
        "custom attributes ask for scores"
    );
    let _ = stop.send(());
}
