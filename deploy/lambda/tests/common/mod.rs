//! Test support: a model, the real server on loopback, SDK clients pointed at loopback.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anomaly_kit::detector::DetectorSpec;
use anomaly_kit::model::{ModelArtefact, TrainingInfo};
use anomaly_kit::stream::encode_record;
use anomaly_kit::synth::{SynthParams, Synthetic};
use anomaly_kit_lambda::SageMakerEndpoint;
use anomaly_kit_server::{self as serve, ServeConfig};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};

/// Placeholder keys for the SDK's signer: loopback servers check no signatures.
pub async fn local_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
            "local", "local", None, None, "loopback",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

pub async fn sagemaker_at(addr: SocketAddr) -> SageMakerEndpoint {
    let config = local_config(&format!("http://{addr}")).await;
    SageMakerEndpoint::new(
        aws_sdk_sagemakerruntime::Client::new(&config),
        "anomaly-kit",
    )
}

/// Test rows (seed 101) and a model trained on other rows (seed 100).
pub fn test_data(rows: usize) -> Synthetic {
    SynthParams::tutorial()
        .rows(rows)
        .anomalies((rows / 50).max(1))
        .seed(101)
        .generate()
        .unwrap()
}

pub fn model(improved: bool) -> ModelArtefact {
    let train = SynthParams::tutorial()
        .rows(3_000)
        .anomalies(60)
        .seed(100)
        .generate()
        .unwrap();
    let spec = if improved {
        DetectorSpec::improved(15, 42)
    } else {
        DetectorSpec::tutorial(42)
    };
    let labels: Vec<bool> = train.row_labels.iter().map(|&l| l == 1).collect();
    let detector = spec
        .fit(&train.feature_names, train.values.view(), Some(&labels))
        .unwrap();
    ModelArtefact::new(
        if improved { "improved" } else { "tutorial" },
        detector,
        TrainingInfo::of(train.values.view(), Some(100)),
    )
}

/// The real server with `model`, on a free loopback port, until the sender is dropped or used.
pub async fn start_server(model: ModelArtefact) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let server = serve::spawn_on_loopback(model, ServeConfig::default())
        .await
        .unwrap();
    (server.addr, server.stop)
}

/// The encoded records of `data`'s rows, one series.
pub fn records(data: &Synthetic) -> Vec<Vec<u8>> {
    (0..data.n_rows())
        .map(|i| {
            encode_record(
                &data.feature_names,
                &data.values.row(i).to_vec(),
                "test",
                i as u64,
                None,
            )
        })
        .collect()
}

/// A Kinesis event holding `payloads`, sequence numbers "seq-000", "seq-001", …
pub fn event(payloads: &[Vec<u8>]) -> KinesisEvent {
    event_from(payloads, 0)
}

/// A Kinesis event holding `payloads`, sequence numbers counting from `first`.
pub fn event_from(payloads: &[Vec<u8>], first: usize) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = payloads
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let mut r = KinesisEventRecord::default();
            r.kinesis.data.0 = data.clone();
            r.kinesis.sequence_number = format!("seq-{:03}", first + i);
            r.kinesis.partition_key = "test".into();
            r
        })
        .collect();
    event
}

/// Runs an install script that prints the path of what it installed (once; it is idempotent).
pub fn installed_by(script: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A venv with boto3 and moto under target/, shared with the root crate's client tests.
pub fn boto3_python() -> PathBuf {
    installed_by("../../tests/clients/boto3-venv.sh")
}

/// moto's server on a free loopback port, from the client venv.
pub struct MotoServer {
    child: std::process::Child,
    pub endpoint: String,
}

impl MotoServer {
    pub fn start(python: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // owned by the guard from here on, so it is killed and reaped on every path
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "moto's server did not listen on {} within 15 s",
            server.endpoint
        );
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
