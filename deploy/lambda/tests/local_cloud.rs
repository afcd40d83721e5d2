//! The local cloud end to end: `deploy/local/run.sh` starts a real Kinesis-compatible server on
//! loopback and runs the CLI's Kinesis path (the model served on loopback), the stream writer puts the whole 10,000-row test set, the local
//! trigger hands every batch to the Lambda handler, and the handler's predictions land in a sink
//! this test reads. `deploy/local/scale.sh` does it at scale with faults. Also: the tutorial's
//! own client (boto3 `put_records`) feeding the trigger, the DynamoDB state store on dynalite and
//! the SQS failure destination on moto's server.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anomaly_kit::frame::{CsvOptions, Table, read_table};
use anomaly_kit::model::ModelArtefact;
use anomaly_kit::online::{OnlineDetector, OnlineParams};
use anomaly_kit::stream::{
    Consumer, FailedRecord, FailureSink, InMemoryFailures, InMemoryStore, SeriesState, StateStore,
    StoreError,
};
use anomaly_kit_lambda::failures::SqsFailures;
use anomaly_kit_lambda::state::DynamoStore;
use anomaly_kit_lambda::trigger::{self, TriggerConfig};
use anomaly_kit_stream_writer::ensure_stream;
use anomaly_kit_stream_writer::local;
use common::{MotoServer, boto3_python, local_config, model, sagemaker_at, start_server};
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
    let sink = data.path().join("stream-sink.jsonl");
    let out = Command::new("bash")
        .arg(repo().join("deploy/local/run.sh"))
        .env("BIN_DIR", bin_dir())
        .env("DATA_DIR", data.path())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_put_records_are_scored_by_the_trigger() {
    let python = tokio::task::spawn_blocking(boto3_python).await.unwrap();
    let kinesis = local::kinesis().unwrap();
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
    let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
    let consumer = Consumer::new(&endpoint, &store, &failures);
    let streamed = std::sync::Mutex::new(Vec::new());
    let summary = trigger::run(
        &client,
        &consumer,
        &failures,
        &trigger_config,
        &AtomicBool::new(false),
        &|e| {
            if let trigger::TriggerEvent::Handled { report, .. } = e {
                streamed
                    .lock()
                    .unwrap()
                    .extend(report.scored.iter().map(|r| (r.row, r.prediction)));
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.records, summary.scored, summary.failed_records),
        (200, 200, 0)
    );
    assert_eq!(summary.invocations, 4, "batches of at most 64");
    let streamed = streamed.into_inner().unwrap();
    let rows: Vec<Option<u64>> = streamed.iter().map(|(r, _)| *r).collect();
    assert_eq!(rows, (0..200).map(Some).collect::<Vec<_>>());
    let predictions: Vec<i32> = streamed.iter().map(|(_, p)| *p).collect();
    assert_eq!(predictions, offline);
}

#[test]
fn the_walkthrough_streams_through_kinesis_on_request() {
    let kinesis = local::kinesis().unwrap();
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
    let kinesis = local::kinesis().unwrap();
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

    let (addr, _stop) = start_server(model(true)).await;
    let endpoint = sagemaker_at(addr).await;
    let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
    let consumer = Consumer::new(&endpoint, &store, &failures);
    let summary = trigger::run(
        &client,
        &consumer,
        &failures,
        &TriggerConfig {
            expect: Some(31),
            idle_exit: Some(Duration::from_secs(20)),
            ..TriggerConfig::new("poison")
        },
        &AtomicBool::new(false),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!((summary.records, summary.scored), (31, 30));
    assert_eq!((summary.failed_records, summary.discarded), (1, 0));
    assert_eq!(summary.failed_invocations, 0);
    let failed = failures.take();
    assert_eq!(
        failed.len(),
        1,
        "the poison record went to the failure destination"
    );
    assert_eq!(
        put.records()[12].sequence_number(),
        Some(failed[0].id.as_str())
    );
    assert!(failed[0].data().starts_with(b"timestamp,feature_1"));
}

/// Eight synthetic series `pump-0` .. `pump-7` of `rows` rows (seeds from `seed`).
fn eight_series(rows: usize, anomalies: usize, seed: u64) -> (Vec<String>, Vec<Table>) {
    let names = (0..8).map(|i| format!("pump-{i}")).collect();
    let tables = (0..8)
        .map(|i| {
            let d = anomaly_kit::synth::SynthParams::tutorial()
                .rows(rows)
                .anomalies(anomalies)
                .seed(seed + i)
                .generate()
                .unwrap();
            Table {
                feature_names: d.feature_names.clone(),
                values: d.values.clone(),
                labels: None,
                index: None,
            }
        })
        .collect();
    (names, tables)
}

/// Writes the series side by side (one entry per series per call), in order per series.
async fn put_interleaved(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    tables: Vec<Table>,
    names: &[String],
) {
    use anomaly_kit_stream_writer::{Interleaved, Order, RetryPolicy, RowSource, put_with_retries};
    let mut source = Interleaved::new(
        tables
            .into_iter()
            .zip(names)
            .map(|(t, n)| RowSource::from_table(t, n))
            .collect(),
    );
    loop {
        let batch = source.next_batch(500).unwrap();
        if batch.is_empty() {
            break;
        }
        put_with_retries(
            client,
            stream,
            batch,
            &RetryPolicy::default(),
            Order::PerSeries,
        )
        .await
        .unwrap();
    }
}

/// The shards of a stream are consumed at once, each in order: with four shards and 8 series,
/// every series' predictions equal its offline ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_are_consumed_concurrently_each_in_order() {
    let kinesis = local::kinesis().unwrap();
    let config = local_config(&kinesis.endpoint).await;
    let client = aws_sdk_kinesis::Client::new(&config);
    ensure_stream(&client, "shards", 4, Duration::from_secs(10))
        .await
        .unwrap();
    let model = model(true);
    let (names, tables) = eight_series(120, 3, 500);
    let offline: Vec<Vec<i32>> = tables
        .iter()
        .map(|t| model.detector.predict(t.values.view()).unwrap())
        .collect();
    put_interleaved(&client, "shards", tables, &names).await;
    let (addr, _stop) = start_server(model).await;
    let endpoint = sagemaker_at(addr).await;
    let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
    let consumer = Consumer::new(&endpoint, &store, &failures);
    let streamed = std::sync::Mutex::new(BTreeMap::<String, Vec<(u64, i32)>>::new());
    let summary = trigger::run(
        &client,
        &consumer,
        &failures,
        &TriggerConfig {
            batch_size: 50,
            expect: Some(960),
            idle_exit: Some(Duration::from_secs(20)),
            ..TriggerConfig::new("shards")
        },
        &AtomicBool::new(false),
        &|e| {
            if let trigger::TriggerEvent::Handled { report, .. } = e {
                let mut s = streamed.lock().unwrap();
                for r in &report.scored {
                    s.entry(r.series.clone().unwrap())
                        .or_default()
                        .push((r.row.unwrap(), r.prediction));
                }
            }
        },
    )
    .await
    .unwrap();
    assert_eq!((summary.shards, summary.scored), (4, 960));
    let streamed = streamed.into_inner().unwrap();
    for (i, name) in names.iter().enumerate() {
        let rows: Vec<u64> = streamed[name].iter().map(|r| r.0).collect();
        assert_eq!(rows, (0..120).collect::<Vec<_>>(), "{name} in order");
        let predictions: Vec<i32> = streamed[name].iter().map(|r| r.1).collect();
        assert_eq!(predictions, offline[i], "{name}");
    }
}

/// An online detector per series through Kinesis, with each series' detector checkpointed in
/// DynamoDB (dynalite) between batches: four shards at once, and every series' scores equal one
/// uninterrupted detector over its rows, bit for bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_detectors_learn_through_kinesis_with_state_in_dynamodb() {
    use anomaly_kit::stream::OnlineModel;
    let kinesis = local::kinesis().unwrap();
    let dynamo = local::dynamodb().unwrap();
    let client = aws_sdk_kinesis::Client::new(&local_config(&kinesis.endpoint).await);
    ensure_stream(&client, "online", 4, Duration::from_secs(10))
        .await
        .unwrap();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&local_config(&dynamo.endpoint).await),
        "online-states",
    );
    store.ensure_table().await.unwrap();
    let (names, tables) = eight_series(400, 8, 700);
    let model = OnlineModel {
        feature_names: tables[0].feature_names.clone(),
        params: OnlineParams {
            window: 128,
            sample: 64,
            refit_every: 16,
            silent_records: 50,
            ..OnlineParams::default()
        },
    };
    let offline: Vec<Vec<(i32, u64)>> = tables
        .iter()
        .map(|t| {
            let mut d = OnlineDetector::new(model.params.clone(), 5).unwrap();
            t.values
                .rows()
                .into_iter()
                .map(|r| {
                    let s = d.update(&r.to_vec()).unwrap();
                    (s.prediction(), s.score.to_bits())
                })
                .collect()
        })
        .collect();
    put_interleaved(&client, "online", tables, &names).await;
    let failures = InMemoryFailures::default();
    let consumer = Consumer::learning(&model, &store, &failures);
    let streamed = std::sync::Mutex::new(BTreeMap::<String, Vec<(u64, (i32, u64))>>::new());
    let summary = trigger::run(
        &client,
        &consumer,
        &failures,
        &TriggerConfig {
            batch_size: 37,
            expect: Some(3_200),
            idle_exit: Some(Duration::from_secs(30)),
            ..TriggerConfig::new("online")
        },
        &AtomicBool::new(false),
        &|e| {
            if let trigger::TriggerEvent::Handled { report, .. } = e {
                let mut s = streamed.lock().unwrap();
                for r in &report.scored {
                    s.entry(r.series.clone().unwrap())
                        .or_default()
                        .push((r.row.unwrap(), (r.prediction, r.score.unwrap().to_bits())));
                }
            }
        },
    )
    .await
    .unwrap();
    assert_eq!((summary.shards, summary.scored), (4, 3_200));
    assert!(failures.take().is_empty());
    let streamed = streamed.into_inner().unwrap();
    for (i, name) in names.iter().enumerate() {
        let rows: Vec<u64> = streamed[name].iter().map(|r| r.0).collect();
        assert_eq!(rows, (0..400).collect::<Vec<_>>(), "{name} in order");
        let got: Vec<(i32, u64)> = streamed[name].iter().map(|r| r.1).collect();
        assert_eq!(got, offline[i], "{name}");
    }
    // the checkpoint each series left in the table
    let saved = store.load("pump-0").await.unwrap().unwrap();
    assert_eq!(saved.applied, 400);
    assert_eq!(saved.detector.unwrap().records_seen(), 400);
}

/// The state store on a real DynamoDB-compatible server: what is saved loads back, and a save
/// from a stale read is refused and changes nothing.
#[tokio::test]
async fn dynamodb_saves_are_conditional_on_the_position_read() {
    let dynamo = local::dynamodb().unwrap();
    let config = local_config(&dynamo.endpoint).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "states");
    store.ensure_table().await.unwrap();
    assert_eq!(store.load("pump-1").await.unwrap(), None);
    let first = SeriesState {
        position: "49590338271490256608559692538361571095921575989136588898".into(),
        applied: 3,
        context: vec![serde_json::json!({"feature_1": 1.5, "series": "pump-1"})],
        detector: None,
    };
    store.save("pump-1", None, &first).await.unwrap();
    assert_eq!(store.load("pump-1").await.unwrap().as_ref(), Some(&first));
    // a second "new series" save, or one from a stale position, loses
    for stale in [None, Some("1")] {
        let err = store
            .save("pump-1", stale, &SeriesState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    }
    // the next state carries an online detector's checkpoint (five features, as the tutorial's
    // records): it must come back exactly, and continue scoring bit for bit
    let mut detector = OnlineDetector::new(OnlineParams::default(), 5).unwrap();
    let row = |t: usize| -> Vec<f64> {
        (0..5)
            .map(|c| ((t * (c + 3)) as f64 / 17.0).sin())
            .collect()
    };
    for t in 0..2_000 {
        detector.update(&row(t)).unwrap();
    }
    let next = SeriesState {
        position: "49590338271490256608559692538361571095921575989136588899".into(),
        applied: 2_000,
        context: vec![],
        detector: Some(detector.state()),
    };
    let bytes = serde_json::to_string(&next).unwrap().len();
    assert!(
        bytes < 400_000 / 4,
        "a checkpoint of {bytes} bytes is too close to DynamoDB's 400 KB item limit"
    );
    store
        .save("pump-1", Some(&first.position), &next)
        .await
        .unwrap();
    let loaded = store.load("pump-1").await.unwrap().unwrap();
    assert_eq!(loaded, next);
    let mut restored = OnlineDetector::from_state(loaded.detector.unwrap()).unwrap();
    for t in 2_000..2_300 {
        assert_eq!(
            restored.update(&row(t)).unwrap(),
            detector.update(&row(t)).unwrap()
        );
    }
}

/// The failure destination on a real SQS-compatible server (moto's, on loopback): one message
/// per record, with its content and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_records_reach_the_sqs_queue_with_content_and_reason() {
    let python = tokio::task::spawn_blocking(boto3_python).await.unwrap();
    let moto = MotoServer::start(&python);
    let config = local_config(&moto.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs.create_queue().queue_name("dlq").send().await.unwrap();
    let url = queue.queue_url().unwrap().to_string();
    let sink = SqsFailures::new(sqs.clone(), &url);
    let failed: Vec<FailedRecord> = (0..12)
        .map(|i| FailedRecord {
            id: format!("{:056}", i),
            series: Some("pump-1".into()),
            reason: format!("reason {i}"),
            data_base64: "aGVsbG8=".into(),
        })
        .collect();
    sink.send(&failed).await.unwrap();
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        bodies.extend(got.messages().iter().map(|m| m.body().unwrap().to_string()));
        if bodies.len() >= 12 {
            break;
        }
    }
    let mut messages: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    messages.sort_by_key(|m| m["sequence_number"].as_str().unwrap().to_string());
    assert_eq!(messages.len(), 12, "12 messages in two batches");
    assert_eq!(messages[11]["reason"], "reason 11");
    assert_eq!(messages[0]["data_base64"], "aGVsbG8=");
    assert_eq!(messages[0]["series"], "pump-1");
    // a queue that does not exist is an error the batch reports, not a silent loss
    let missing = SqsFailures::new(sqs, format!("{}-missing", url));
    assert!(missing.send(&failed[..1]).await.is_err());
}

/// `deploy/local/scale.sh`: 16 series on 4 shards through 3 server instances, with a killed
/// instance, a crashed consumer, injected throttling and poison — every good row once, with its
/// offline prediction; every poison record, and only those, in the failure destination.
#[test]
fn the_scale_and_fault_run_keeps_every_row_exact() {
    let dir = bin_dir();
    assert!(
        dir.join("local-sagemaker").exists(),
        "local-sagemaker is missing from {}",
        dir.display()
    );
    let data = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(repo().join("deploy/local/scale.sh"))
        .env("BIN_DIR", &dir)
        .env("DATA_DIR", data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scale.sh failed\n{stdout}\n{stderr}");
    let tally: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(tally["good_rows"], 32_000, "{tally}");
    assert_eq!(tally["scored_once"], 32_000, "{tally}");
    for zero in ["duplicates", "lost", "mismatches", "other_in_failures"] {
        assert_eq!(tally[zero], 0, "{zero}: {tally}");
    }
    assert_eq!(tally["poison_reported"], tally["poison_sent"], "{tally}");
    assert!(
        stderr.contains("consumer crashes: 1, instance restarts: 1"),
        "{stderr}"
    );
    assert!(stderr.contains("\"throttled\":"), "{stderr}");
}
