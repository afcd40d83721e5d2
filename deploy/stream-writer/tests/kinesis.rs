//! The writer against a real Kinesis-compatible server (kinesalite on loopback), directly and
//! through a proxy that refuses entries like a shard over its throughput limit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anomaly_kit::frame::Table;
use anomaly_kit::synth::SynthParams;
use anomaly_kit_stream_writer::local;
use anomaly_kit_stream_writer::{
    Interleaved, Order, PutSummary, RetryPolicy, RowSource, ensure_stream, put_with_retries,
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

/// Writes `rows` rows of each of `series` series, side by side, 100 rows a batch.
async fn write_all(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    rows: usize,
    series: &[&str],
    policy: &RetryPolicy,
    order: Order,
) -> PutSummary {
    let mut source = Interleaved::new(
        series
            .iter()
            .map(|s| RowSource::from_table(test_rows(rows), s))
            .collect(),
    );
    let mut summary = PutSummary::default();
    loop {
        let batch = source.next_batch(100).unwrap();
        if batch.is_empty() {
            return summary;
        }
        summary.add(
            put_with_retries(client, stream, batch, policy, order)
                .await
                .unwrap(),
        );
    }
}

/// The rows of `series`, in stream order.
fn rows_in(records: &[serde_json::Value], series: &str) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r["series"] == series)
        .map(|r| r["row"].as_u64().unwrap())
        .collect()
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
    let server = local::kinesis().unwrap();
    let client = local_client(&server.endpoint).await;
    ensure_stream(&client, "rows", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let summary = write_all(
        &client,
        "rows",
        1_000,
        &["test"],
        &fast_retries(),
        Order::Batched,
    )
    .await;
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

/// Per-series order: a call carries at most one entry of each series, and each series lands in
/// order.
#[tokio::test]
async fn series_are_written_side_by_side_each_in_order() {
    let server = local::kinesis().unwrap();
    let client = local_client(&server.endpoint).await;
    ensure_stream(&client, "three", 2, Duration::from_secs(10))
        .await
        .unwrap();
    let series = ["a", "b", "c"];
    let summary = write_all(
        &client,
        "three",
        200,
        &series,
        &fast_retries(),
        Order::PerSeries,
    )
    .await;
    // each 100-row batch takes as many calls as its largest series' share: five batches of
    // 34 + 33 + 33, then one of 30 + 35 + 35
    assert_eq!(
        (summary.sent, summary.failed, summary.calls),
        (600, 0, 5 * 34 + 35)
    );
    let records = read_all(&client, "three").await;
    for s in series {
        assert_eq!(
            rows_in(&records, s),
            (0..200).collect::<Vec<_>>(),
            "series {s}"
        );
    }
}

/// Refused entries are re-sent before any later entry of their series: every series is still
/// in order on the stream, with nothing lost or doubled.
#[tokio::test]
async fn refused_entries_are_retried_in_order_and_nothing_is_lost() {
    let server = local::kinesis().unwrap();
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
    let series = ["a", "b"];
    let summary = write_all(
        &client,
        "throttled",
        300,
        &series,
        &fast_retries(),
        Order::PerSeries,
    )
    .await;
    let refused_once = (0..600).filter(|i| i % 3 == 0 || i % 5 == 0).count() as u64;
    let refused_twice = (0..600).filter(|i| i % 5 == 0).count() as u64;
    assert_eq!(summary.sent, 600);
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.retried, refused_once + refused_twice);
    let records = read_all(&client, "throttled").await;
    assert_eq!(records.len(), 600, "a row was lost or written twice");
    for s in series {
        assert_eq!(
            rows_in(&records, s),
            (0..300).collect::<Vec<_>>(),
            "series {s} out of order"
        );
    }
}

#[tokio::test]
async fn an_entry_refused_every_time_is_reported_after_bounded_tries() {
    let server = local::kinesis().unwrap();
    let proxy = throttling_proxy(&server.endpoint, Arc::new(|ordinal, _| ordinal == 7)).await;
    let client = local_client(&proxy).await;
    ensure_stream(&client, "stuck", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let policy = fast_retries();
    let summary = write_all(&client, "stuck", 50, &["test"], &policy, Order::PerSeries).await;
    assert_eq!(summary.sent, 49);
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.retried, u64::from(policy.max_attempts - 1));
    assert_eq!(summary.failures.len(), 1);
    assert_eq!(summary.failures[0].row, 7);
    assert_eq!(summary.failures[0].series, "test");
    assert_eq!(
        summary.failures[0].error_code,
        "ProvisionedThroughputExceededException"
    );
    let rows = rows_of(&read_all(&client, "stuck").await);
    let expected: Vec<u64> = (0..50).filter(|&r| r != 7).collect();
    assert_eq!(rows, expected, "the rest in order, row 7 reported");
}
