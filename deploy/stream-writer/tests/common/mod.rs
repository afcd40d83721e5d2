//! Test support: an SDK client for a loopback server, reading a stream back, and a proxy that
//! refuses chosen `PutRecords` entries the way a shard over its limit does.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::Credentials;
use aws_sdk_kinesis::types::ShardIteratorType;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// A Kinesis client for a loopback server. The emulator checks no signatures; the placeholder
/// keys only satisfy the SDK's signer and are never valid anywhere.
pub async fn local_client(endpoint: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "loopback"))
        .endpoint_url(endpoint)
        .load()
        .await;
    Client::new(&config)
}

/// Every record of a one-shard stream, in order, as JSON.
pub async fn read_all(client: &Client, stream: &str) -> Vec<Value> {
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut it = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        while let Some(iterator) = it {
            let page = client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .unwrap();
            if page.records().is_empty() {
                break;
            }
            for r in page.records() {
                out.push(serde_json::from_slice(r.data().as_ref()).unwrap());
            }
            it = page.next_shard_iterator().map(str::to_string);
        }
    }
    out
}

/// Which entries the proxy refuses. `seen` is how often this entry's data arrived before, and
/// `ordinal` the order in which distinct entries first arrived (= the row, for one writer).
pub type RefusePolicy = dyn Fn(usize, usize) -> bool + Send + Sync;

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    refuse: Arc<RefusePolicy>,
    seen: Arc<Mutex<HashMap<String, (usize, usize)>>>,
}

/// A loopback proxy in front of `upstream` that forwards every request, except that it answers
/// the `PutRecords` entries `refuse` picks with `ProvisionedThroughputExceededException` instead
/// of forwarding them. Returns its URL; it runs until the test's runtime ends.
pub async fn throttling_proxy(upstream: &str, refuse: Arc<RefusePolicy>) -> String {
    let state = ProxyState {
        upstream: upstream.to_string(),
        http: reqwest::Client::new(),
        refuse,
        seen: Arc::default(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn send_upstream(state: &ProxyState, headers: &HeaderMap, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut request = state.http.post(&state.upstream).body(body);
    for name in [
        "content-type",
        "x-amz-target",
        "authorization",
        "x-amz-date",
    ] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.as_bytes());
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn forward(
    State(state): State<ProxyState>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let content_type = "application/x-amz-json-1.1";
    if !target.ends_with(".PutRecords") {
        let (status, bytes) = send_upstream(&state, &headers, body.to_vec()).await;
        return (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", content_type)],
            bytes,
        );
    }
    let mut request: Value = serde_json::from_slice(&body).unwrap();
    let entries = request["Records"].as_array().cloned().unwrap_or_default();
    let refused: Vec<bool> = {
        let mut seen = state.seen.lock().unwrap();
        entries
            .iter()
            .map(|e| {
                let key = e["Data"].as_str().unwrap_or_default().to_string();
                let next_ordinal = seen.len();
                let slot = seen.entry(key).or_insert((next_ordinal, 0));
                let verdict = (state.refuse)(slot.0, slot.1);
                slot.1 += 1;
                verdict
            })
            .collect()
    };
    let forwarded: Vec<Value> = entries
        .iter()
        .zip(&refused)
        .filter(|(_, r)| !**r)
        .map(|(e, _)| e.clone())
        .collect();
    let mut upstream_results = Vec::new().into_iter();
    let mut failed = 0;
    if !forwarded.is_empty() {
        request["Records"] = Value::Array(forwarded);
        let (status, bytes) =
            send_upstream(&state, &headers, serde_json::to_vec(&request).unwrap()).await;
        if status != 200 {
            return (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", content_type)],
                bytes,
            );
        }
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        failed += answer["FailedRecordCount"].as_u64().unwrap_or(0);
        upstream_results = answer["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
    }
    let results: Vec<Value> = refused
        .iter()
        .map(|&r| {
            if r {
                failed += 1;
                json!({
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard shardId-000000000000 (test proxy)"
                })
            } else {
                upstream_results.next().unwrap()
            }
        })
        .collect();
    let answer = json!({"FailedRecordCount": failed, "Records": results});
    (
        StatusCode::OK,
        [("content-type", content_type)],
        serde_json::to_vec(&answer).unwrap(),
    )
}
