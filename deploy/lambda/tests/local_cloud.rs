//! The local cloud end to end: `deploy/local/run.sh` starts a real Kinesis-compatible server and
//! the model server on loopback, the stream writer puts the whole 10,000-row test set, the local
//! trigger hands every batch to the Lambda handler, and the handler's predictions land in a sink
//! this test reads. Also: the tutorial's own client (boto3 `put_records`) feeding the trigger.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anomaly_kit::frame::{CsvOptions, read_table};
use anomaly_kit::model::ModelArtefact;
use anomaly_kit_lambda::trigger::{self, TriggerConfig};
use anomaly_kit_stream_writer::ensure_stream;
use anomaly_kit_stream_writer::local::LocalKinesis;
use common::{local_config, model, sagemaker_at, start_server};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's binaries, built by `cargo test --workspace` before any test runs.
fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_local-trigger"))
        .parent()
        .unwrap()
        .to_path_buf();
    for bin in ["anomaly-kit", "stream-writer"] {
        assert!(
            dir.join(bin).exists(),
            "{} is missing: run the workspace's tests (cargo test --workspace), which build every binary",
            dir.join(bin).display()
        );
    }
    dir
}

#[test]
fn the_whole_test_set_goes_through_kinesis_and_the_handler_once() {
    let data = tempfile::tempdir().unwrap();
    let sink = data.path().join("sink.jsonl");
    let out = Command::new("bash")
        .arg(repo().join("deploy/local/run.sh"))
        .env("BIN_DIR", bin_dir())
        .env("DATA_DIR", data.path())
        .env("SINK", &sink)
        .env("IDLE_EXIT", "60s")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh failed\n{stdout}\n{stderr}");

    // offline: the same model on the same rows
    let model = ModelArtefact::load(&data.path().join("model")).unwrap();
    let test = read_table(&data.path().join("test.csv"), &CsvOptions::default(), None).unwrap();
    let offline = model.detector.predict(test.values.view()).unwrap();
    assert_eq!(offline.len(), 10_000);

    // the sink: every row exactly once, nothing failed, the same predictions
    let mut streamed: BTreeMap<u64, i32> = BTreeMap::new();
    for line in std::fs::read_to_string(&sink).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v.get("failed").is_none(), "a record failed: {line}");
        let row = v["row"].as_u64().unwrap();
        let before = streamed.insert(row, v["prediction"].as_i64().unwrap() as i32);
        assert!(before.is_none(), "row {row} was scored twice");
    }
    assert_eq!(streamed.len(), 10_000, "rows missing from the sink");
    let streamed: Vec<i32> = streamed.into_values().collect();
    assert_eq!(
        streamed.iter().filter(|&&p| p == -1).count(),
        offline.iter().filter(|&&p| p == -1).count()
    );
    assert_eq!(
        streamed, offline,
        "the streamed predictions differ from offline"
    );
    assert!(stdout.contains("10000 scored"), "{stdout}");

    // torn down: nothing listens on the ports it used any more
    for url in stderr
        .split_whitespace()
        .filter(|w| w.starts_with("http://127.0.0.1:"))
    {
        let addr = url.trim_start_matches("http://").trim_end_matches(',');
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{addr} still accepts connections after run.sh ended"
        );
    }
}

/// A venv with boto3 under target/, shared with the root crate's client tests.
fn boto3_python() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("tests/clients/boto3-venv.sh"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "cannot make the boto3 venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_put_records_are_scored_by_the_trigger() {
    let python = tokio::task::spawn_blocking(boto3_python).await.unwrap();
    let kinesis = LocalKinesis::start().unwrap();
    let config = local_config(&kinesis.endpoint).await;
    let client = aws_sdk_kinesis::Client::new(&config);
    ensure_stream(&client, "boto3", 1, Duration::from_secs(10))
        .await
        .unwrap();

    // a test CSV in the tutorial's layout
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("test.csv");
    let data = common::test_data(200);
    let mut text = String::from("timestamp");
    for n in &data.feature_names {
        text += &format!(",{n}");
    }
    for i in 0..data.n_rows() {
        text += &format!("\n2020-01-01 00:{:02}:{:02}", i / 60, i % 60);
        for v in data.values.row(i) {
            text += &format!(",{v}");
        }
    }
    std::fs::write(&csv, text + "\n").unwrap();

    let script = repo().join("deploy/local/put_records_boto3.py");
    let endpoint = kinesis.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([&endpoint, "boto3"])
            .arg(&csv)
            .arg("200")
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
    let put: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(put["sent"], 200);

    let model = model(false);
    let offline = model.detector.predict(data.values.view()).unwrap();
    let (addr, _stop) = start_server(model).await;
    let endpoint = sagemaker_at(addr).await;
    let trigger_config = TriggerConfig {
        batch_size: 64,
        expect: Some(200),
        idle_exit: Some(Duration::from_secs(20)),
        ..TriggerConfig::new("boto3")
    };
    let mut streamed = Vec::new();
    let summary = trigger::run(
        &client,
        &endpoint,
        &trigger_config,
        &AtomicBool::new(false),
        |e| {
            if let trigger::TriggerEvent::Handled { report, .. } = e {
                streamed.extend(report.outcome.scored.iter().map(|r| (r.row, r.prediction)));
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.records, summary.scored, summary.item_failures),
        (200, 200, 0)
    );
    assert_eq!(summary.invocations, 4, "batches of at most 64");
    let rows: Vec<Option<u64>> = streamed.iter().map(|(r, _)| *r).collect();
    assert_eq!(rows, (0..200).map(Some).collect::<Vec<_>>());
    let predictions: Vec<i32> = streamed.iter().map(|(_, p)| *p).collect();
    assert_eq!(predictions, offline);
}

#[test]
fn the_walkthrough_streams_through_kinesis_on_request() {
    let kinesis = LocalKinesis::start().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin_dir().join("anomaly-kit"))
        .args([
            "walkthrough",
            "--no-compare",
            "--no-plots",
            "--json",
            "--out",
        ])
        .arg(out_dir.path())
        .args(["--kinesis-endpoint", &kinesis.endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = &report["stream"];
    assert_eq!(stream["records_sent"], 10_000);
    assert_eq!(stream["records_scored"], 10_000);
    assert_eq!(stream["records_failed"], 0);
    assert_eq!(stream["matches_offline"], true);
    assert_eq!(stream["anomalies"], stream["offline_anomalies"]);
    assert_eq!(stream["endpoint"], kinesis.endpoint.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_on_the_stream_is_reported_and_the_rest_scored() {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    let kinesis = LocalKinesis::start().unwrap();
    let config = local_config(&kinesis.endpoint).await;
    let client = aws_sdk_kinesis::Client::new(&config);
    ensure_stream(&client, "poison", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let data = common::test_data(30);
    let mut payloads = common::records(&data);
    payloads.insert(12, b"timestamp,feature_1\n2020-01-01,3.5".to_vec());
    let entries = payloads
        .into_iter()
        .map(|d| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(d))
                .partition_key("test")
                .build()
                .unwrap()
        })
        .collect();
    let put = client
        .put_records()
        .stream_name("poison")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_record_count(), Some(0));

    let (addr, _stop) = start_server(model(false)).await;
    let endpoint = sagemaker_at(addr).await;
    let mut discarded = Vec::new();
    let summary = trigger::run(
        &client,
        &endpoint,
        &TriggerConfig {
            expect: Some(31),
            idle_exit: Some(Duration::from_secs(20)),
            ..TriggerConfig::new("poison")
        },
        &AtomicBool::new(false),
        |e| {
            if let trigger::TriggerEvent::Discarded {
                sequence_numbers, ..
            } = e
            {
                discarded.extend(sequence_numbers);
            }
        },
    )
    .await
    .unwrap();
    assert_eq!((summary.records, summary.scored), (31, 30));
    assert_eq!((summary.item_failures, summary.discarded), (1, 0));
    assert_eq!(summary.failed_invocations, 0);
    assert_eq!(
        discarded.len(),
        1,
        "the poison record went to the failure sink"
    );
    assert_eq!(
        put.records()[12].sequence_number(),
        Some(discarded[0].as_str())
    );
}
