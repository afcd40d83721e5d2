//! The streaming half of the tutorial, without AWS: how a row travels as a stream record, and
//! what a consumer of the stream (the tutorial's Lambda) does with a batch of records.
//!
//! The tutorial's writer put CSV lines on the stream and its Lambda parsed each record as JSON,
//! so every record failed, was dropped with a print, and the Lambda answered 200 with no
//! predictions. Here both sides use this module: [`encode_record`] writes a JSON object the
//! server reads as a record (features by name, plus `series`, `row` and `timestamp`), and
//! [`prepare_batch`] / [`PreparedBatch::outcome`] are the consumer's logic around the one call to
//! the endpoint. A record that cannot be decoded is **reported** (its id goes to the batch's
//! failures, for Lambda's `batchItemFailures`), never silently dropped, and a reply that does not
//! cover every record sent is an error, never a partial success.
//!
//! ```
//! use anomaly_kit::stream::{encode_record, prepare_batch, Incoming};
//! use anomaly_kit::contract::Predictions;
//! let names = vec!["a".to_string(), "b".to_string()];
//! let good = encode_record(&names, &[1.0, 2.0], "pump-1", 0, None);
//! let batch = [Incoming { id: "seq-1", data: &good }, Incoming { id: "seq-2", data: b"a,b\n1,2" }];
//! let prepared = prepare_batch(&batch);
//! assert_eq!(prepared.failed.len(), 1); // the CSV line is reported, not dropped
//! let outcome = prepared.outcome(Predictions::new(&[-0.7], -0.5, true))?;
//! assert_eq!(outcome.scored[0].row, Some(0));
//! assert_eq!(outcome.anomalies().count(), 1);
//! # Ok::<(), anomaly_kit::stream::StreamError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::{Predictions, SERIES_KEY, json_kind, series_of};

/// The key holding a record's row number within its series.
pub const ROW_KEY: &str = "row";
/// The key holding a record's timestamp, when it has one.
pub const TIMESTAMP_KEY: &str = "timestamp";

/// Problems with a batch as a whole (a single bad record is a failure entry, not an error).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StreamError {
    #[error("the endpoint answered {got} predictions for {sent} records")]
    PredictionCount { sent: usize, got: usize },
}

/// Encodes one row as a stream record: a JSON object of the features, with `series`, `row` and,
/// when given, `timestamp`. The server reads it as a record and ignores the extra keys.
pub fn encode_record(
    names: &[String],
    values: &[f64],
    series: &str,
    row: u64,
    timestamp: Option<&str>,
) -> Vec<u8> {
    let mut record = Map::with_capacity(names.len() + 3);
    for (name, v) in names.iter().zip(values) {
        record.insert(name.clone(), Value::from(*v));
    }
    record.insert(SERIES_KEY.into(), Value::from(series));
    record.insert(ROW_KEY.into(), Value::from(row));
    if let Some(t) = timestamp {
        record.insert(TIMESTAMP_KEY.into(), Value::from(t));
    }
    serde_json::to_vec(&Value::Object(record)).expect("a map of numbers and strings serialises")
}

/// A record as it arrives: an id the stream gave it (Kinesis' sequence number) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    pub id: &'a str,
    pub data: &'a [u8],
}

/// A record that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    pub id: String,
    pub reason: String,
}

/// A batch ready for one `/invocations` call.
#[derive(Clone, Debug)]
pub struct PreparedBatch {
    /// The JSON body: a list of the decoded records, in arrival order.
    pub body: Vec<u8>,
    /// Records that could not be decoded; they are not in `body`.
    pub failed: Vec<FailedRecord>,
    sent: Vec<SentRecord>,
}

#[derive(Clone, Debug)]
struct SentRecord {
    id: String,
    series: Option<String>,
    row: Option<u64>,
}

/// Decodes each record; good ones go into one request body, the others into `failed`.
pub fn prepare_batch(records: &[Incoming<'_>]) -> PreparedBatch {
    let mut decoded = Vec::with_capacity(records.len());
    let mut sent = Vec::with_capacity(records.len());
    let mut failed = Vec::new();
    for r in records {
        match serde_json::from_slice::<Value>(r.data) {
            Ok(Value::Object(map)) => match series_of(map.get(SERIES_KEY), 0) {
                Ok(series) => {
                    sent.push(SentRecord {
                        id: r.id.to_string(),
                        series,
                        row: map.get(ROW_KEY).and_then(Value::as_u64),
                    });
                    decoded.push(Value::Object(map));
                }
                Err(_) => failed.push(FailedRecord {
                    id: r.id.to_string(),
                    reason: "series must be a string or a number".into(),
                }),
            },
            Ok(other) => failed.push(FailedRecord {
                id: r.id.to_string(),
                reason: format!(
                    "a record must be a JSON object, got a JSON {}",
                    json_kind(&other)
                ),
            }),
            Err(e) => failed.push(FailedRecord {
                id: r.id.to_string(),
                reason: format!("not JSON: {e}"),
            }),
        }
    }
    let body = serde_json::to_vec(&Value::Array(decoded)).expect("decoded JSON serialises again");
    PreparedBatch { body, failed, sent }
}

impl PreparedBatch {
    /// Records that will be sent to the endpoint.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Pairs the endpoint's answer with the records sent, in order.
    pub fn outcome(self, predictions: Predictions) -> Result<BatchOutcome, StreamError> {
        if predictions.predictions.len() != self.sent.len() {
            return Err(StreamError::PredictionCount {
                sent: self.sent.len(),
                got: predictions.predictions.len(),
            });
        }
        let scores = predictions.scores.unwrap_or_default();
        let scored = self
            .sent
            .into_iter()
            .zip(&predictions.predictions)
            .enumerate()
            .map(|(i, (s, &prediction))| ScoredRecord {
                id: s.id,
                series: s.series,
                row: s.row,
                prediction,
                score: scores.get(i).copied(),
            })
            .collect();
        Ok(BatchOutcome {
            scored,
            failed: self.failed,
        })
    }
}

/// One scored record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredRecord {
    pub id: String,
    pub series: Option<String>,
    pub row: Option<u64>,
    /// -1 = anomaly.
    pub prediction: i32,
    /// `score_samples`, when the endpoint was asked for scores.
    pub score: Option<f64>,
}

/// What became of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchOutcome {
    pub scored: Vec<ScoredRecord>,
    pub failed: Vec<FailedRecord>,
}

impl BatchOutcome {
    pub fn anomalies(&self) -> impl Iterator<Item = &ScoredRecord> {
        self.scored.iter().filter(|r| r.prediction == -1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::parse_request;

    fn names() -> Vec<String> {
        vec!["feature_1".into(), "feature_2".into()]
    }

    #[test]
    fn encoded_records_are_what_the_server_reads() {
        let recs: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                encode_record(
                    &names(),
                    &[i as f64, 0.5],
                    "s",
                    i,
                    Some("2020-01-01 00:00:00"),
                )
            })
            .collect();
        let incoming: Vec<Incoming> = recs
            .iter()
            .enumerate()
            .map(|(i, d)| Incoming {
                id: if i == 0 { "a" } else { "b" },
                data: d,
            })
            .collect();
        let prepared = prepare_batch(&incoming);
        assert!(prepared.failed.is_empty());
        let rows = parse_request("application/json", &prepared.body, &names()).unwrap();
        assert_eq!(rows.values.column(0).to_vec(), vec![0.0, 1.0, 2.0]);
        assert_eq!(rows.series, vec![Some("s".to_string()); 3]);
    }

    #[test]
    fn bad_records_are_reported_and_the_rest_scored() {
        let good = encode_record(&names(), &[1.0, 2.0], "s", 7, None);
        let batch = [
            Incoming {
                id: "1",
                data: b"timestamp,feature_1,feature_2",
            },
            Incoming {
                id: "2",
                data: &good,
            },
            Incoming {
                id: "3",
                data: b"2020-01-01 00:00:00,13.5,2.0",
            },
            Incoming {
                id: "4",
                data: b"[1, 2]",
            },
            Incoming {
                id: "5",
                data: br#"{"feature_1": 1, "feature_2": 2, "series": true}"#,
            },
        ];
        let prepared = prepare_batch(&batch);
        assert_eq!(
            prepared
                .failed
                .iter()
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>(),
            vec!["1", "3", "4", "5"]
        );
        assert_eq!(prepared.len(), 1);
        let outcome = prepared
            .outcome(Predictions::new(&[-0.3], -0.5, false))
            .unwrap();
        assert_eq!(outcome.scored[0].row, Some(7));
        assert_eq!(outcome.failed.len(), 4);
    }

    #[test]
    fn a_short_answer_is_an_error() {
        let good = encode_record(&names(), &[1.0, 2.0], "s", 0, None);
        let prepared = prepare_batch(&[
            Incoming {
                id: "1",
                data: &good,
            },
            Incoming {
                id: "2",
                data: &good,
            },
        ]);
        let err = prepared
            .outcome(Predictions::new(&[-0.3], -0.5, false))
            .unwrap_err();
        assert_eq!(err, StreamError::PredictionCount { sent: 2, got: 1 });
    }
}
