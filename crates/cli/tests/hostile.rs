//! Hostile and careless clients against the server, over real loopback sockets: slow and idle
//! connections, oversized and huge bodies, unknown paths and methods, encoded queries, values at
//! the edge of `f64`, and stop signals while a client holds a half-sent request. Each test
//! checks a bound the server promises in `serve`'s module docs, with a short configured limit so
//! the test itself stays quick.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anomaly_kit::detector::DetectorSpec;
use anomaly_kit::model::{ModelArtefact, TrainingInfo};
use anomaly_kit::synth::SynthParams;
use anomaly_kit_server::{self as serve, LoopbackTask, ServeConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The improved (windowed) recipe on a small synthetic set: quick to train, and its trailing
/// median is where extreme values once overflowed.
fn model() -> ModelArtefact {
    let train = SynthParams::tutorial()
        .rows(400)
        .anomalies(20)
        .seed(5)
        .generate()
        .unwrap();
    let detector = DetectorSpec::improved(5, 1)
        .fit(
            &train.feature_names,
            train.values.view(),
            Some(&train.row_truth()),
        )
        .unwrap();
    ModelArtefact::new(
        "improved",
        detector,
        TrainingInfo::of(train.values.view(), Some(5)),
    )
}

async fn start(config: ServeConfig) -> LoopbackTask {
    serve::spawn_on_loopback(model(), config)
        .await
        .expect("bind on loopback")
}

/// Reads from `stream` until the server closes it (or `limit` passes): the bytes and whether it
/// was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Status and JSON body of a raw HTTP/1.1 response.
fn status_and_json(response: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn ping(addr: SocketAddr) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(format!("http://{addr}/ping"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("ping answered")
        .status()
}

/// A client trickling header bytes (slowloris) is cut off at the header-read timeout; before,
/// it held its connection for as long as it kept trickling.
#[tokio::test]
async fn a_trickled_request_head_is_cut_off_at_the_header_timeout() {
    let server = start(ServeConfig {
        header_read_timeout: Duration::from_millis(400),
        ..ServeConfig::default()
    })
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut cut_off = None;
    for i in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let line = format!("X-Slow-{i}: a\r\n");
        if slow.write_all(line.as_bytes()).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the trickling client was never cut off (6 s)");
    assert!(
        cut_off < Duration::from_secs(3),
        "cut off after {cut_off:?}"
    );
    assert_eq!(ping(server.addr).await, 200);
}

/// Silent sockets are closed after the header timeout and never hold the connection cap for
/// good: with the cap full of them, `/ping` is answered once they are gone.
#[tokio::test]
async fn idle_sockets_are_closed_and_the_cap_frees_up() {
    let server = start(ServeConfig {
        header_read_timeout: Duration::from_millis(500),
        max_connections: 8,
        ..ServeConfig::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let started = Instant::now();
    assert_eq!(ping(server.addr).await, 200);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "/ping waited {waited:?}");
    for (i, s) in idle.iter_mut().enumerate() {
        let (_, closed) = read_until_closed(s, Duration::from_secs(3)).await;
        assert!(closed, "idle socket {i} still open");
    }
    // a keep-alive connection that goes quiet after a request is closed too
    let mut quiet = TcpStream::connect(server.addr).await.unwrap();
    quiet
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut quiet, Duration::from_secs(3)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed, "an idle keep-alive connection stayed open");
}

/// A `Content-Length` over the limit gets 413 before the body is sent; before, the server
/// waited for the body until the request timeout and answered 408.
#[tokio::test]
async fn an_oversized_content_length_gets_413_at_once() {
    let server = start(ServeConfig {
        max_body_bytes: 1024,
        ..ServeConfig::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100000000\r\n\r\n",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        body["error"],
        "the body is 100000000 bytes, more than the 1024-byte limit"
    );
}

/// Every answer is JSON with an `error` naming the problem: 404 and 405 had empty bodies.
#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let server = start(ServeConfig::default()).await;
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://{}{p}", server.addr);
    let r = client.get(url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("no route /nope"),
        "{body}"
    );
    let r = client.get(url("/invocations")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "GET is not allowed on /invocations");
    // a path that long is quoted in part
    let long = format!("/{}", "a".repeat(5000));
    let body: Value = client
        .get(url(&long))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["error"].as_str().unwrap().len() < 300, "{body}");
}

/// Query values are percent-decoded, as every client library encodes them.
#[tokio::test]
async fn query_values_are_percent_decoded() {
    let server = start(ServeConfig::default()).await;
    let body =
        r#"[{"feature_1": 1, "feature_2": 2, "feature_3": 3, "feature_4": 4, "feature_5": 5}]"#;
    for query in ["scores=%74rue", "sc%6Fres=true", "scores=%31"] {
        let r = reqwest::Client::new()
            .post(format!("http://{}/invocations?{query}", server.addr))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{query}");
        let answer: Value = r.json().await.unwrap();
        assert!(answer["scores"].is_array(), "{query}: {answer}");
    }
}

/// Finite values at the edge of `f64` are scored (they answered 500 "scoring failed … -inf").
#[tokio::test]
async fn values_at_the_edge_of_f64_are_scored() {
    let server = start(ServeConfig::default()).await;
    let record = |v: f64| serde_json::json!({"feature_1": v, "feature_2": 1.0, "feature_3": 1.0, "feature_4": 1.0, "feature_5": 1.0});
    for values in [
        vec![1.7e308, -1.7e308, 1.0],
        vec![9e307, 9e307, 9e307],
        vec![f64::MAX, -f64::MAX, 5e-324, -0.0],
    ] {
        let body = Value::Array(values.iter().map(|&v| record(v)).collect());
        let r = reqwest::Client::new()
            .post(format!("http://{}/invocations?scores=true", server.addr))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{values:?}");
        let answer: Value = r.json().await.unwrap();
        let scores = answer["scores"].as_array().unwrap();
        assert!(
            scores
                .iter()
                .all(|s| s.as_f64().is_some_and(f64::is_finite))
        );
    }
}

/// A stop with a client holding a half-sent request head completes within the drain time;
/// before, it waited for that client forever.
#[tokio::test]
async fn a_stop_completes_within_the_drain_time_whatever_clients_hold() {
    let server = start(ServeConfig {
        drain_timeout: Duration::from_millis(500),
        header_read_timeout: Duration::from_secs(60),
        ..ServeConfig::default()
    })
    .await;
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"POST /invocations HTTP/1.1\r\nContent-Le")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("the server stopped within 5 s")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for s in [&mut half, &mut idle] {
        assert!(read_until_closed(s, Duration::from_secs(1)).await.1);
    }
}

/// Four clients sending 6 MB bodies in a loop do not starve `/ping`: large bodies are parsed and
/// scored on blocking threads, two at a time. Before, the median ping took 291 ms.
#[test]
fn large_bodies_do_not_starve_ping() {
    let server = serve::LoopbackServer::start(model()).unwrap();
    let addr = server.addr;
    let row = "1.5,2.5,3.5,4.5,5.5\n";
    let body = row.repeat(6 * 1024 * 1024 / row.len() - 1);
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (latencies, served) = clients.block_on(async move {
        let stop = Instant::now() + Duration::from_secs(4);
        let mut senders = Vec::new();
        for _ in 0..4 {
            let body = body.clone();
            senders.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut served = 0;
                while Instant::now() < stop {
                    let r = client
                        .post(format!("http://{addr}/invocations"))
                        .header("content-type", "text/csv")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("large request");
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    served += 1;
                }
                served
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let client = reqwest::Client::new();
        let mut latencies = Vec::new();
        while Instant::now() < stop {
            let t = Instant::now();
            let r = client
                .get(format!("http://{addr}/ping"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            latencies.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut served = 0;
        for s in senders {
            served += s.await.unwrap();
        }
        (latencies, served)
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "{} pings while {served} 6 MB bodies were served: median {median:?}, max {:?}",
        sorted.len(),
        sorted.last().unwrap()
    );
    assert!(served >= 4, "the large bodies were served too ({served})");
    assert!(
        median < Duration::from_millis(50),
        "median ping {median:?} while large bodies were parsed"
    );
    drop(server);
}

/// `anomaly-kit serve`: SIGTERM with a half-sent request open exits within `--drain-secs`, and
/// a second signal exits at once.
#[cfg(unix)]
#[test]
fn sigterm_exits_within_the_drain_time_and_a_second_signal_at_once() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    model().save(dir.path()).unwrap();
    for (drain_secs, signals, limit) in [
        ("1", 1, Duration::from_secs(3)),
        ("30", 2, Duration::from_secs(2)),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anomaly-kit"))
            .args([
                "--log-format",
                "json",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ])
            .args(["--drain-secs", drain_secs, "--model"])
            .arg(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut logs = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr: SocketAddr = loop {
            line.clear();
            assert!(
                logs.read_line(&mut line).unwrap() > 0,
                "the server exited before listening"
            );
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(addr) = v["fields"]["addr"].as_str() {
                break addr.parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in logs.lines() {}); // keep the pipe drained
        let mut half = std::net::TcpStream::connect(addr).unwrap();
        half.write_all(b"POST /invocations HTTP/1.1\r\nContent-Le")
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        for _ in 0..signals {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(10) {
                child.kill().unwrap();
                panic!("drain {drain_secs} s, {signals} signal(s): still running after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = started.elapsed();
        assert!(
            took < limit,
            "drain {drain_secs} s, {signals} signal(s): exited after {took:?}"
        );
        if signals == 2 {
            assert_eq!(status.code(), Some(130), "{status:?}");
        } else {
            assert!(status.success(), "{status:?}");
        }
    }
}
