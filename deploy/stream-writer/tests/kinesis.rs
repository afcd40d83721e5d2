//! The writer against a real Kinesis-compatible server (kinesalite on loopback), directly and
//! through a proxy that refuses entries like a shard over its throughput limit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anomaly_kit::frame::Table;
use anomaly_kit::synth::SynthParams;
use anomaly_kit_stream_writer::local::LocalKinesis;
use anomaly_kit_stream_writer::{
    PutSummary, RetryPolicy, RowSource, ensure_stream, put_with_retries,
};
use common::{local_client, read_all, throttling_proxy};

fn test_rows(rows: usize) -> Table {
    let data = SynthParams::tutorial()
        .rows(rows)
        .anomalies(rows / 10)
        .seed(101)
        .generate()
        .unwrap();
    Table {
        feature_names: data.feature_names.clone(),
        values: data.values.clone(),
        labels: None,
        index: None,
    }
}

async fn write_all(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    rows: usize,
    policy: &RetryPolicy,
) -> PutSummary {
    let mut source = RowSource::from_table(test_rows(rows), "test");
    let mut summary = PutSummary::default();
    loop {
        let batch = source.next_batch(100).unwrap();
        if batch.is_empty() {
            return summary;
        }
        summary.add(
            put_with_retries(client, stream, batch, policy)
                .await
                .unwrap(),
        );
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
    }
}

fn rows_of(records: &[serde_json::Value]) -> Vec<u64> {
    records.iter().map(|r| r["row"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn every_row_lands_once_and_in_order() {
    let server = LocalKinesis::start().unwrap();
    let client = local_client(&server.endpoint).await;
    ensure_stream(&client, "rows", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let summary = write_all(&client, "rows", 1_000, &fast_retries()).await;
    assert_eq!(
        (summary.sent, summary.retried, summary.failed, summary.calls),
        (1_000, 0, 0, 10)
    );
    let records = read_all(&client, "rows").await;
    assert_eq!(rows_of(&records), (0..1_000).collect::<Vec<_>>());
    assert_eq!(records[0]["series"], "test");
    // the same features the server reads, by name
    assert!(records[0]["feature_1"].is_f64());
}

#[tokio::test]
async fn refused_entries_are_retried_and_nothing_is_lost() {
    let server = LocalKinesis::start().unwrap();
    // every third distinct entry is refused the first time it arrives, every fifth twice
    let proxy = throttling_proxy(
        &server.endpoint,
        Arc::new(|ordinal, seen| (ordinal % 3 == 0 && seen == 0) || (ordinal % 5 == 0 && seen < 2)),
    )
    .await;
    let client = local_client(&proxy).await;
    ensure_stream(&client, "throttled", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let summary = write_all(&client, "throttled", 1_000, &fast_retries()).await;
    let refused_once = (0..1_000).filter(|i| i % 3 == 0 || i % 5 == 0).count() as u64;
    let refused_twice = (0..1_000).filter(|i| i % 5 == 0).count() as u64;
    assert_eq!(summary.sent, 1_000);
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.retried, refused_once + refused_twice);
    let mut rows = rows_of(&read_all(&client, "throttled").await);
    assert_eq!(rows.len(), 1_000, "a row was lost or written twice");
    rows.sort_unstable();
    assert_eq!(rows, (0..1_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_entry_refused_every_time_is_reported_after_bounded_tries() {
    let server = LocalKinesis::start().unwrap();
    let proxy = throttling_proxy(&server.endpoint, Arc::new(|ordinal, _| ordinal == 7)).await;
    let client = local_client(&proxy).await;
    ensure_stream(&client, "stuck", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let policy = fast_retries();
    let summary = write_all(&client, "stuck", 50, &policy).await;
    assert_eq!(summary.sent, 49);
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.retried, u64::from(policy.max_attempts - 1));
    assert_eq!(summary.failures.len(), 1);
    assert_eq!(summary.failures[0].row, 7);
    assert_eq!(
        summary.failures[0].error_code,
        "ProvisionedThroughputExceededException"
    );
    let rows = rows_of(&read_all(&client, "stuck").await);
    assert_eq!(rows.len(), 49);
    assert!(!rows.contains(&7));
}
