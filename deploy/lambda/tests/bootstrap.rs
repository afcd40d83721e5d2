//! The real `bootstrap` — `main.rs` with the `lambda_runtime` loop, its environment and its
//! response shape — under cargo-lambda's local runtime emulator (`cargo lambda watch` on
//! 127.0.0.1, pinned from PyPI), invoked as Lambda invokes it: with AWS's sample Kinesis event,
//! and with a generated batch scored by the real server. Its AWS clients find their services
//! through the SDK's standard endpoint variables: dynalite for the state table, moto's server for
//! the dead-letter queue, the model server for the SageMaker runtime.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anomaly_kit::stream::StateStore;
use anomaly_kit_lambda::state::DynamoStore;
use anomaly_kit_stream_writer::local;
use aws_lambda_events::event::kinesis::KinesisEvent;
use common::{
    MotoServer, boto3_python, event_from, installed_by, local_config, model, records, start_server,
    test_data,
};
use serde_json::Value;

/// A child process killed and reaped on drop, its output lines collected.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Self { child, lines }
    }

    fn wait_for(&self, needle: &str) {
        for _ in 0..600 {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "'{needle}' never appeared:\n{}",
            self.lines.lock().unwrap().join("\n")
        );
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cargo_lambda() -> std::path::PathBuf {
    installed_by("tests/cargo-lambda.sh")
}

/// Lambda's Invoke API on the emulator: the event in, the function's response out.
async fn invoke(port: u16, event: &KinesisEvent) -> Value {
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
        ))
        .json(event)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_runs_under_the_lambda_emulator() {
    let (cargo_lambda, python) = tokio::task::spawn_blocking(|| (cargo_lambda(), boto3_python()))
        .await
        .unwrap();
    // the services the function's SDK clients reach, all on loopback
    let dynamo = local::dynamodb().unwrap();
    let moto = tokio::task::spawn_blocking(move || MotoServer::start(&python))
        .await
        .unwrap();
    let dynamo_config = local_config(&dynamo.endpoint).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&dynamo_config),
        "series-state",
    );
    store.ensure_table().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&local_config(&moto.endpoint).await);
    let queue = sqs.create_queue().queue_name("dlq").send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_string();
    let model = model(true);
    let data = test_data(120);
    let offline = model.detector.score_series(data.values.view()).unwrap();
    let (addr, _stop) = start_server(model).await;

    // the emulator's runtime API, and the real bootstrap binary polling it
    let port = free_port();
    let mut watch = Command::new(cargo_lambda);
    watch
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let watch = Proc::spawn(watch);
    watch.wait_for("starting Runtime server");
    let mut bootstrap = Command::new(env!("CARGO_BIN_EXE_anomaly-kit-lambda"));
    bootstrap
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs([
            (
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME", "_".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "1".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            // loopback only: placeholder keys, never real ones
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("AWS_REGION", "us-east-1".into()),
            (
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
                format!("http://{addr}"),
            ),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint.clone()),
            ("AWS_ENDPOINT_URL_SQS", moto.endpoint.clone()),
            ("ENDPOINT_NAME", "anomaly-kit".into()),
            ("STATE_TABLE", "series-state".into()),
            ("FAILURE_QUEUE_URL", queue_url.clone()),
        ]);
    let bootstrap = Proc::spawn(bootstrap);

    // AWS's sample event: two "Hello World" records, not ours — sent to the dead-letter queue with
    // their content and reason; Lambda is told all went well, so nothing is retried in vain
    let sample: KinesisEvent =
        serde_json::from_str(include_str!("fixtures/example-kinesis-event.json")).unwrap();
    let answer = invoke(port, &sample).await;
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages: Vec<Value> = got
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .all(|m| m["data_base64"] == "SGVsbG8gV29ybGQ="
                && m["reason"].as_str().unwrap().starts_with("not JSON"))
    );

    // a generated batch, in two invocations, the second re-delivering part of the first
    let payloads = records(&data);
    let first = invoke(port, &event_from(&payloads[..80], 0)).await;
    assert_eq!(first, serde_json::json!({"batchItemFailures": []}));
    let second = invoke(port, &event_from(&payloads[50..], 50)).await;
    assert_eq!(second, serde_json::json!({"batchItemFailures": []}));
    let state = store
        .load("test")
        .await
        .unwrap()
        .expect("the series' state was saved");
    assert_eq!(
        (state.applied, state.position.as_str(), state.context.len()),
        (120, "seq-119", 15)
    );
    // the anomalies the function logged are the ones the model finds offline, each once
    let logged: Vec<u64> = bootstrap
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "anomaly")
        .map(|v| v["fields"]["row"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..120u64)
        .filter(|&i| offline.anomalies[i as usize])
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(logged, expected);
    let summaries: Vec<Value> = bootstrap
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "batch")
        .map(|v| v["fields"].clone())
        .collect();
    assert_eq!(summaries.len(), 3);
    assert_eq!(
        (
            summaries[2]["redelivered"].as_u64(),
            summaries[2]["scored"].as_u64()
        ),
        (Some(30), Some(40))
    );
    drop(watch);
}
