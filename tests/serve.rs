//! The inference server over real loopback HTTP: every input shape, every error class, the
//! SageMaker runtime path, stateful series windows, and start-up failures.
#![cfg(feature = "serve")]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anomaly_kit::contract::Predictions;
use anomaly_kit::detector::DetectorSpec;
use anomaly_kit::model::{ModelArtefact, TrainingInfo};
use anomaly_kit::serve::{self, ServeConfig};
use anomaly_kit::synth::{SynthParams, Synthetic};
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
        ("/invocations", "text/csv", "1,2,3,4,5\n".repeat(1000), 413, "length limit"),
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

#[tokio::test]
async fn stateful_windows_follow_each_series_across_requests() {
    let m = model(true);
    let test = data(101);
    let offline = offline_predictions(&m, &test, 60);
    let server = Server::start(
        m,
        ServeConfig {
            max_series: 3,
            ..ServeConfig::default()
        },
    )
    .await;
    // the default series, 10 rows a request, as the tutorial's stream sends them
    let mut streamed = Vec::new();
    for start in (0..60).step_by(10) {
        let (s, body) = server
            .post(
                "/invocations",
                "application/json",
                records(&test, start..start + 10).to_string(),
            )
            .await;
        assert_eq!(s, 200);
        streamed.extend(predictions(&body));
    }
    assert_eq!(
        streamed, offline,
        "one window across requests must equal batch scoring"
    );
    // another series starts from an empty window: its first 10 rows equal the offline first 10
    let mut tagged = records(&test, 0..10);
    for r in tagged.as_array_mut().unwrap() {
        r["series"] = json!("pump-2");
    }
    let (_, body) = server
        .post("/invocations", "application/json", tagged.to_string())
        .await;
    assert_eq!(predictions(&body), offline[..10].to_vec());
    // beyond max_series (3): refused, nothing changed
    let mut too_many = records(&test, 0..2);
    too_many[0]["series"] = json!("pump-3");
    too_many[1]["series"] = json!("pump-4");
    let (s, body) = server
        .post("/invocations", "application/json", too_many.to_string())
        .await;
    assert_eq!(s, 429, "{body}");
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("anomaly_kit_series 2"), "{metrics}");
    server.stop().await;
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
