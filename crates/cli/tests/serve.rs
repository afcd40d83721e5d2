//! The inference server over real loopback HTTP: every input shape, every error class, the
//! SageMaker runtime path (and its error shape), a server that keeps no state — context rows in the
//! request, the same bytes from any instance in any order — and start-up failures.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anomaly_kit::contract::Predictions;
use anomaly_kit::detector::DetectorSpec;
use anomaly_kit::model::{ModelArtefact, TrainingInfo};
use anomaly_kit::synth::{SynthParams, Synthetic};
use anomaly_kit_server::{self as serve, ServeConfig};
use common::{kit, kit_err};
use serde_json::{Value, json};
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(model: ModelArtefact, config: ServeConfig) -> Self {
        let server = serve::spawn_on_loopback(model, config)
            .await
            .expect("bind on loopback");
        Self {
            addr: server.addr,
            stop: Some(server.stop),
            done: server.done,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        self.done
            .await
            .expect("server task")
            .expect("clean shutdown");
    }
}

fn data(seed: u64) -> Synthetic {
    SynthParams::tutorial()
        .rows(2_000)
        .anomalies(100)
        .seed(seed)
        .generate()
        .unwrap()
}

fn model(stateful: bool) -> ModelArtefact {
    let train = data(100);
    let spec = if stateful {
        DetectorSpec::improved(15, 42)
    } else {
        DetectorSpec::tutorial(42)
    };
    let detector = spec
        .fit(
            &train.feature_names,
            train.values.view(),
            Some(&train.row_truth()),
        )
        .unwrap();
    ModelArtefact::new(
        if stateful { "improved" } else { "tutorial" },
        detector,
        TrainingInfo::of(train.values.view(), Some(100)),
    )
}

fn records(d: &Synthetic, rows: std::ops::Range<usize>) -> Value {
    Value::Array(
        rows.map(|i| {
            let mut r = serde_json::Map::new();
            for (j, name) in d.feature_names.iter().enumerate() {
                r.insert(name.clone(), json!(d.values[[i, j]]));
            }
            r.insert("timestamp".into(), json!(d.timestamp(i).to_string()));
            Value::Object(r)
        })
        .collect(),
    )
}

/// What the model answers offline for the first `n` rows, scored as one batch from a fresh window.
fn offline_predictions(m: &ModelArtefact, test: &Synthetic, n: usize) -> Vec<i64> {
    let rows = test.values.slice(ndarray::s![..n, ..]);
    m.detector
        .predict(rows)
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect()
}

fn predictions(v: &Value) -> Vec<i64> {
    v["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_input_shape_gives_the_offline_predictions() {
    let m = model(false);
    let test = data(101);
    let offline = offline_predictions(&m, &test, 20);
    let server = Server::start(m, ServeConfig::default()).await;
    assert_eq!(
        reqwest::get(server.url("/ping")).await.unwrap().status(),
        200
    );

    let (s, body) = server
        .post(
            "/invocations",
            "application/json",
            records(&test, 0..20).to_string(),
        )
        .await;
    assert_eq!((s, predictions(&body)), (200, offline.clone()), "records");

    let names = &test.feature_names;
    let mut columns = serde_json::Map::new();
    for (j, name) in names.iter().enumerate().rev() {
        columns.insert(
            name.clone(),
            json!((0..20).map(|i| test.values[[i, j]]).collect::<Vec<_>>()),
        );
    }
    let (s, body) = server
        .post(
            "/invocations",
            "application/json",
            Value::Object(columns).to_string(),
        )
        .await;
    assert_eq!((s, predictions(&body)), (200, offline.clone()), "columns");

    let single = records(&test, 3..4)[0].clone();
    let (s, body) = server
        .post(
            "/invocations",
            "application/json; charset=utf-8",
            single.to_string(),
        )
        .await;
    assert_eq!(
        (s, predictions(&body)),
        (200, vec![offline[3]]),
        "single record"
    );

    let rows = |header: bool| {
        let mut text = if header {
            "timestamp,feature_5,feature_4,feature_3,feature_2,feature_1\n".to_string()
        } else {
            String::new()
        };
        for i in 0..20 {
            let v: Vec<String> = (0..5).map(|j| test.values[[i, j]].to_string()).collect();
            if header {
                text.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    test.timestamp(i),
                    v[4],
                    v[3],
                    v[2],
                    v[1],
                    v[0]
                ));
            } else {
                text.push_str(&format!("{}\n", v.join(",")));
            }
        }
        text
    };
    let (s, body) = server.post("/invocations", "text/csv", rows(true)).await;
    assert_eq!(
        (s, predictions(&body)),
        (200, offline.clone()),
        "csv with header"
    );
    let (s, body) = server.post("/invocations", "text/csv", rows(false)).await;
    assert_eq!(
        (s, predictions(&body)),
        (200, offline.clone()),
        "csv without header"
    );

    // details on request, through the query or SageMaker's custom attributes header
    let (s, body) = server
        .post(
            "/invocations?scores=true",
            "application/json",
            records(&test, 0..20).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let detailed: Predictions = serde_json::from_value(body).unwrap();
    assert_eq!(detailed.scores.as_ref().unwrap().len(), 20);
    assert_eq!(
        detailed
            .anomalies
            .as_ref()
            .unwrap()
            .iter()
            .filter(|&&a| a)
            .count(),
        offline.iter().filter(|&&p| p == -1).count()
    );
    let r = reqwest::Client::new()
        .post(server.url("/endpoints/my-endpoint/invocations"))
        .header("content-type", "application/json")
        .header("x-amzn-sagemaker-custom-attributes", "scores=true")
        .body(records(&test, 0..2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["scores"].is_array(), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn each_bad_input_class_gets_its_status_and_message() {
    let server = Server::start(
        model(false),
        ServeConfig {
            max_body_bytes: 4096,
            ..ServeConfig::default()
        },
    )
    .await;
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("/invocations", "text/plain", "1,2,3,4,5".into(), 415, "unsupported content type"),
        ("/invocations", "application/xml", "<a/>".into(), 415, "unsupported content type"),
        ("/invocations", "application/json", "{\"feature_1\": ".into(), 400, "not valid JSON"),
        ("/invocations", "application/json", "[]".into(), 400, "no rows"),
        ("/invocations", "application/json", r#"[{"feature_1": 1, "feature_2": 2}]"#.into(), 400, "'feature_3' is missing"),
        ("/invocations", "application/json", r#"{"feature_1": "a", "feature_2": 1, "feature_3": 1, "feature_4": 1, "feature_5": 1}"#.into(), 400, "not a number"),
        ("/invocations", "application/json", r#"{"feature_1": "NaN", "feature_2": 1, "feature_3": 1, "feature_4": 1, "feature_5": 1}"#.into(), 400, "\"NaN\""),
        ("/invocations", "text/csv", "1,2,3\n".into(), 400, "expected 5 values"),
        ("/invocations", "text/csv", "1,2,3,4,Infinity\n".into(), 400, "not a number"),
        ("/invocations?scores=maybe", "application/json", "[]".into(), 400, "scores must be true or false"),
        ("/invocations", "text/csv", "1,2,3,4,5\n".repeat(1000), 413, "more than the 4096-byte limit"),
    ];
    for (path, content_type, body, status, message) in cases {
        let (s, answer) = server.post(path, content_type, body).await;
        assert_eq!(s, status, "{content_type} -> {answer}");
        let error = answer["error"].as_str().unwrap_or_default().to_string();
        assert!(
            error.contains(message),
            "{content_type}: expected '{message}' in {answer}"
        );
    }
    // no content type at all
    let r = reqwest::Client::new()
        .post(server.url("/invocations"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // the counters saw all of it and nothing crashed
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("anomaly_kit_client_errors_total 12"),
        "{metrics}"
    );
    assert_eq!(
        reqwest::get(server.url("/ping")).await.unwrap().status(),
        200
    );
    server.stop().await;
}

/// `records` with a series name on each.
fn series_records(d: &Synthetic, rows: std::ops::Range<usize>, series: &str) -> Value {
    let mut r = records(d, rows);
    for record in r.as_array_mut().unwrap() {
        record["series"] = json!(series);
    }
    r
}

/// Rows `rows` of `d`, with the 15 rows before them as context — what a stream consumer sends.
fn with_context(d: &Synthetic, rows: std::ops::Range<usize>, series: &str) -> Value {
    let past = rows.start.saturating_sub(15)..rows.start;
    json!({
        "context": { series: records(d, past) },
        "instances": series_records(d, rows, series),
    })
}

async fn raw_post(addr: SocketAddr, body: &str) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/invocations?scores=true"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_server_keeps_no_state_the_request_carries_the_past() {
    let m = model(true);
    let test = data(101);
    let offline = offline_predictions(&m, &test, 60);
    let server = Server::start(m, ServeConfig::default()).await;
    // 10 rows a request, each with its 15 predecessors as context: equal to batch scoring
    let mut streamed = Vec::new();
    for start in (0..60).step_by(10) {
        let body = with_context(&test, start..start + 10, "pump-1").to_string();
        let (s, answer) = server
            .post("/invocations", "application/json", body.clone())
            .await;
        assert_eq!(s, 200, "{answer}");
        streamed.extend(predictions(&answer));
        // asking again changes nothing: no window moved
        let (_, again) = server.post("/invocations", "application/json", body).await;
        assert_eq!(again, answer);
    }
    assert_eq!(
        streamed, offline,
        "context rows must give batch scoring's answers"
    );
    // without context, every request starts from an empty past, per series, in request order
    let (_, fresh) = server
        .post(
            "/invocations",
            "application/json",
            records(&test, 20..30).to_string(),
        )
        .await;
    let from_empty: Vec<i64> = model(true)
        .detector
        .predict(test.values.slice(ndarray::s![20..30, ..]))
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    assert_eq!(predictions(&fresh), from_empty);
    // the warm-up rows are reported, and never flagged
    let (_, detailed) = server
        .post(
            "/invocations?scores=true",
            "application/json",
            records(&test, 0..20).to_string(),
        )
        .await;
    let warming: Vec<bool> = serde_json::from_value(detailed["warming_up"].clone()).unwrap();
    assert_eq!(warming, (0..20).map(|i| i < 15).collect::<Vec<_>>());
    assert_eq!(detailed["context_rows"], 15);
    // 10,000 series in one request hold nothing: the next request answers as before
    let many: Vec<Value> = (0..10_000)
        .map(|i| {
            let mut r = records(&test, i % 100..i % 100 + 1)[0].clone();
            r["series"] = json!(format!("s-{i}"));
            r
        })
        .collect();
    let (s, _) = server
        .post(
            "/invocations",
            "application/json",
            Value::Array(many).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (_, after) = server
        .post(
            "/invocations",
            "application/json",
            records(&test, 20..30).to_string(),
        )
        .await;
    assert_eq!(after, fresh);
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("anomaly_kit_series"), "{metrics}");
    assert!(
        metrics.contains("anomaly_kit_warming_up_total"),
        "{metrics}"
    );
    server.stop().await;
}

/// The runtime path answers a container error as SageMaker's runtime does: 424 `ModelError`
/// with the container's status and message inside.
#[tokio::test]
async fn the_runtime_path_wraps_errors_as_sagemaker_does() {
    let server = Server::start(model(false), ServeConfig::default()).await;
    let r = reqwest::Client::new()
        .post(server.url("/endpoints/my-endpoint/invocations"))
        .header("content-type", "application/json")
        .body(r#"[{"feature_1": 1}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 424);
    assert_eq!(r.headers()["x-amzn-errortype"], "ModelError");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["OriginalStatusCode"], 400);
    assert!(
        body["OriginalMessage"]
            .as_str()
            .unwrap()
            .contains("'feature_2' is missing"),
        "{body}"
    );
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("Received client error (400)")
    );
    server.stop().await;
}

mod any_instance {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

        /// The same requests — with context, without, several series — sent to one instance in
        /// order, or spread over three instances in any order with one restarted in between, get
        /// byte-identical answers.
        #[test]
        fn answers_do_not_depend_on_instance_order_or_restarts(
            cuts in prop::collection::btree_set(1usize..119, 1..6),
            order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
            restart_after in 0usize..8,
        ) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let m = model(true);
                let test = data(101);
                let mut bounds = vec![0];
                bounds.extend(cuts.iter().copied());
                bounds.push(120);
                let mut bodies = Vec::new();
                for w in bounds.windows(2) {
                    bodies.push(with_context(&test, w[0]..w[1], "a").to_string());
                    bodies.push(series_records(&test, w[0]..w[1], "b").to_string());
                }
                bodies.truncate(8);
                let one = Server::start(m.clone(), ServeConfig::default()).await;
                let mut expected = Vec::new();
                for b in &bodies {
                    expected.push(raw_post(one.addr, b).await);
                }
                one.stop().await;
                let mut many = Vec::new();
                for _ in 0..3 {
                    many.push(Server::start(m.clone(), ServeConfig::default()).await);
                }
                for (k, &i) in order.iter().enumerate().filter(|(_, i)| **i < bodies.len()) {
                    if k == restart_after {
                        let old = many.remove(0);
                        old.stop().await;
                        many.push(Server::start(m.clone(), ServeConfig::default()).await);
                    }
                    let got = raw_post(many[k % many.len()].addr, &bodies[i]).await;
                    assert_eq!(got.0, 200);
                    assert_eq!(got, expected[i], "request {i} on instance {}", k % 3);
                }
                for s in many {
                    s.stop().await;
                }
            });
        }
    }
}

#[tokio::test]
async fn shutdown_lets_the_server_finish() {
    let server = Server::start(
        model(false),
        ServeConfig {
            request_timeout: Duration::from_secs(5),
            ..ServeConfig::default()
        },
    )
    .await;
    let (s, _) = server
        .post(
            "/invocations",
            "application/json",
            records(&data(101), 0..3).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("the server stops promptly");
}

#[test]
fn a_missing_or_corrupt_model_stops_the_process_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let err = kit_err(&[
        "serve",
        "--model",
        missing.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]);
    assert!(
        err.contains("cannot start the server") && err.contains("not found"),
        "{err}"
    );
    let corrupt = dir.path().join("model.json");
    std::fs::write(
        &corrupt,
        "{\"format\": \"anomaly-kit/model\", \"format_version\": 1}",
    )
    .unwrap();
    let err = kit_err(&[
        "serve",
        "--model",
        corrupt.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]);
    assert!(err.contains("does not match the model format"), "{err}");
    // $MODEL_PATH is the fallback for --model
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anomaly-kit"))
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .env("MODEL_PATH", &missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here"));
    assert!(kit(&["serve", "--help"]).status.success());
}
