//! The walkthrough's live part, embedded: no AWS and no external server, but every real piece.
//!
//! The test set (read back from its CSV) is written to an in-memory stream in batches, as the
//! tutorial's writer put 10 rows at a time on Kinesis; a consumer reads the stream in larger
//! batches, as Lambda's event-source mapping would, and does the Lambda's job with the library's
//! [`Consumer`]: the series' state in an [`InMemoryStore`], one `/invocations` request per batch
//! (with the series' last rows as context). The predictions that come back must equal the offline
//! predictions of the same model on the same rows, trailing windows and warm-up included.
//!
//! [`run_live`] answers each request in-process with the server's own contract code
//! ([`ScoringEndpoint`]); the `anomaly-kit-server` crate runs the same stream through the real
//! HTTP server on a loopback port ([`run_live_through`] with its HTTP endpoint), which is what
//! `anomaly-kit walkthrough` does.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::frame::Table;
use crate::model::ModelArtefact;
use crate::online::OnlineDetector;
use crate::stream::{
    self, BatchReport, Consumer, InMemoryFailures, InMemoryStore, Incoming, OnlineModel,
    ScoredRecord, ScoringEndpoint,
};

/// How the live run streams.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Rows per `PutRecords`-like write (the tutorial's writer: 10).
    pub write_batch: usize,
    /// Most records handed to one consumer call (Lambda's batch size; AWS's default is 100).
    pub read_batch: usize,
    /// Pace the writer at this many rows per second; `None` streams as fast as the path allows.
    pub rate: Option<f64>,
    /// The series name the rows are written under.
    pub series: String,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            write_batch: 10,
            read_batch: 100,
            rate: None,
            series: "test".into(),
        }
    }
}

/// What the live run saw; the JSON keys are part of the walkthrough's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveReport {
    /// Records the writer put on the stream.
    pub records_sent: usize,
    /// Records that came back with a prediction.
    pub records_scored: usize,
    /// Records sent to the failure destination.
    pub records_failed: usize,
    /// Records scored while their series' window was still filling (never flagged).
    pub records_warming_up: usize,
    /// Records the stream flagged.
    pub anomalies: usize,
    /// Rows the same scorer flags offline, over the whole table at once.
    pub offline_anomalies: usize,
    /// Every streamed prediction equals the offline prediction of the same row.
    pub matches_offline: bool,
    /// What answered the records (a URL, or what ran in-process).
    pub endpoint: String,
    /// Wall time from the first write to the last prediction.
    pub seconds: f64,
    /// Records per second from CSV row to prediction.
    pub records_per_second: f64,
}

impl LiveReport {
    /// One paragraph for people: what was sent, scored and flagged, and whether the stream
    /// reproduced the offline predictions.
    pub fn tally(&self) -> String {
        format!(
            "{} records sent, {} scored ({} while the window filled, never flagged), {} failed, {} anomalies (offline: {}); streamed predictions {} the offline ones. {:.0} records/s from CSV row to prediction ({:.2} s).",
            self.records_sent,
            self.records_scored,
            self.records_warming_up,
            self.records_failed,
            self.anomalies,
            self.offline_anomalies,
            if self.matches_offline {
                "equal"
            } else {
                "DIFFER FROM"
            },
            self.records_per_second,
            self.seconds
        )
    }
}

/// Progress of a live run, for displays.
pub enum LiveEvent<'a> {
    /// `done` of `total` records have a prediction.
    Progress {
        /// Records with a prediction so far.
        done: usize,
        /// Records in the table.
        total: usize,
    },
    /// A record was flagged.
    Anomaly {
        /// The flagged record, as the consumer scored it.
        record: &'a ScoredRecord,
        /// The row's timestamp, when the table has an index.
        timestamp: Option<&'a str>,
    },
}

/// Why a live run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The loopback server did not start (the server crate's HTTP run).
    #[error("cannot start the local server: {0}")]
    Server(std::io::Error),
    /// The writer thread failed.
    #[error("the stream writer failed: {0}")]
    Writer(String),
    /// A batch failed as a whole: with one consumer and nothing to retry against, the run ends.
    #[error(transparent)]
    Consume(#[from] stream::ConsumeError),
    /// The offline predictions the stream is compared with could not be computed.
    #[error("scoring the rows offline failed: {0}")]
    Offline(String),
    /// A scored record had no row number, so it cannot be matched with its row.
    #[error("a record came back without its row number")]
    LostRow,
}

impl From<std::io::Error> for LiveError {
    fn from(e: std::io::Error) -> Self {
        LiveError::Server(e)
    }
}

/// What scores the live stream.
#[derive(Clone, Debug)]
pub enum LiveScorer {
    /// A trained model behind the `/invocations` contract (in-process here; over HTTP through
    /// the `anomaly-kit-server` crate).
    Served(Box<ModelArtefact>),
    /// An online detector per series, learning as the records flow, run by the consumer itself
    /// and checkpointed in the series' state (no server).
    Learning(OnlineModel),
}

impl From<ModelArtefact> for LiveScorer {
    fn from(model: ModelArtefact) -> Self {
        LiveScorer::Served(Box::new(model))
    }
}

impl From<OnlineModel> for LiveScorer {
    fn from(model: OnlineModel) -> Self {
        LiveScorer::Learning(model)
    }
}

impl LiveScorer {
    /// The record fields the scorer reads.
    pub fn feature_names(&self) -> &[String] {
        match self {
            LiveScorer::Served(m) => &m.detector.feature_names,
            LiveScorer::Learning(m) => &m.feature_names,
        }
    }

    /// Checks that `table` has one column per field the scorer reads, then scores it offline.
    pub fn check_and_score_offline(&self, table: &Table) -> Result<Vec<i32>, LiveError> {
        let names = self.feature_names();
        if table.values.ncols() != names.len() {
            return Err(LiveError::Offline(format!(
                "the table has {} columns, the scorer reads {} fields ({names:?})",
                table.values.ncols(),
                names.len()
            )));
        }
        self.offline(table)
    }

    /// Predictions of the same scorer over the whole table in one pass: what the stream must
    /// reproduce.
    pub fn offline(&self, table: &Table) -> Result<Vec<i32>, LiveError> {
        let failed = |e: String| LiveError::Offline(e);
        match self {
            LiveScorer::Served(m) => m
                .detector
                .predict(table.values.view())
                .map_err(|e| failed(e.to_string())),
            LiveScorer::Learning(m) => {
                let mut d = OnlineDetector::new(m.params.clone(), m.feature_names.len())
                    .map_err(|e| failed(e.to_string()))?;
                table
                    .values
                    .rows()
                    .into_iter()
                    .map(|row| {
                        let step = d.update(&row.to_vec()).map_err(|e| failed(e.to_string()))?;
                        Ok(step.prediction())
                    })
                    .collect()
            }
        }
    }
}

/// Runs a consumer's batches to completion: in this thread ([`InThread`]) for in-process
/// endpoints, or on the async runtime an HTTP client needs (the server crate's loopback server).
pub trait Executor {
    /// Runs `future` to completion and returns its output.
    fn run<F: std::future::Future>(&self, future: F) -> F::Output;
}

/// Runs futures in the calling thread ([`stream::block_on`]).
pub struct InThread;

impl Executor for InThread {
    fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        stream::block_on(future)
    }
}

/// Streams `table` through `scorer` (a [`ModelArtefact`] answered in-process by the contract's
/// own code, or an [`OnlineModel`] run by the consumer); `on_event` sees progress and anomalies.
pub fn run_live(
    scorer: impl Into<LiveScorer>,
    table: &Table,
    options: &LiveOptions,
    on_event: impl FnMut(LiveEvent<'_>),
) -> Result<LiveReport, LiveError> {
    let scorer = scorer.into();
    let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
    match &scorer {
        LiveScorer::Served(model) => {
            let endpoint = ScoringEndpoint(&model.detector);
            let consumer = Consumer::new(&endpoint, &store, &failures);
            let described_as = "in-process /invocations (the server's contract, no HTTP)";
            run_live_through(
                &consumer,
                described_as,
                &scorer,
                &InThread,
                table,
                options,
                on_event,
            )
        }
        LiveScorer::Learning(model) => {
            let consumer = Consumer::learning(model, &store, &failures);
            let described_as = "in-process online detector";
            run_live_through(
                &consumer,
                described_as,
                &scorer,
                &InThread,
                table,
                options,
                on_event,
            )
        }
    }
}

/// Streams `table` to `consumer` (built for `scorer`), each batch run by `executor`, checking
/// every streamed prediction against `scorer`'s offline one; the report names the endpoint
/// `described_as`. [`run_live`] and the server crate's HTTP run are this with their consumers.
pub fn run_live_through(
    consumer: &Consumer<'_>,
    described_as: &str,
    scorer: &LiveScorer,
    executor: &impl Executor,
    table: &Table,
    options: &LiveOptions,
    on_event: impl FnMut(LiveEvent<'_>),
) -> Result<LiveReport, LiveError> {
    let offline = scorer.check_and_score_offline(table)?;
    stream_table(
        |batch| executor.run(consumer.process(batch)),
        scorer.feature_names(),
        table,
        options,
        &offline,
        on_event,
    )
    .map(|r| LiveReport {
        endpoint: described_as.into(),
        ..r
    })
}

/// Writes the table to the in-memory stream and hands it, batch by batch, to `process` (a
/// consumer's `process`, run to completion); `offline` holds the predictions every streamed row
/// must match. The report's `endpoint` is left empty for the caller to name.
fn stream_table(
    mut process: impl FnMut(&[Incoming<'_>]) -> BatchReport,
    names: &[String],
    table: &Table,
    options: &LiveOptions,
    offline: &[i32],
    mut on_event: impl FnMut(LiveEvent<'_>),
) -> Result<LiveReport, LiveError> {
    let total = table.n_rows();
    let started = Instant::now();
    let mut streamed: Vec<Option<i32>> = vec![None; total];
    let (mut scored, mut failed, mut anomalies, mut warming_up) = (0, 0, 0, 0);
    // the in-memory stream: bounded, so a fast writer waits for the reader as it would for a shard
    let (put, take) = mpsc::sync_channel::<(String, Vec<u8>)>(4 * options.read_batch.max(1));
    let result = std::thread::scope(|scope| -> Result<(), LiveError> {
        // the writer owns the sending end: when it is done, the stream closes and the reader stops
        let writer = scope.spawn(move || {
            let pause = options
                .rate
                .map(|r| Duration::from_secs_f64(options.write_batch as f64 / r.max(1e-9)));
            for (chunk_start, rows) in (0..total)
                .step_by(options.write_batch.max(1))
                .map(|s| (s, s..(s + options.write_batch.max(1)).min(total)))
            {
                for i in rows {
                    let data = stream::encode_table_row(table, names, i, &options.series, i as u64);
                    // the position: a sequence number, increasing along the stream
                    if put.send((format!("{:020}", i + 1), data)).is_err() {
                        return;
                    }
                }
                if let Some(p) = pause
                    && chunk_start + options.write_batch < total
                {
                    std::thread::sleep(p);
                }
            }
        });
        let mut batch: Vec<(String, Vec<u8>)> = Vec::with_capacity(options.read_batch);
        while let Ok(first) = take.recv() {
            batch.clear();
            batch.push(first);
            while batch.len() < options.read_batch.max(1) {
                match take.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let incoming: Vec<Incoming> = batch
                .iter()
                .map(|(id, data)| Incoming { id, data })
                .collect();
            let report = process(&incoming);
            failed += report.failed.len();
            warming_up += report.warming_up();
            for record in &report.scored {
                let row = record.row.ok_or(LiveError::LostRow)? as usize;
                streamed[row] = Some(record.prediction);
                scored += 1;
                if crate::forest::is_anomaly_prediction(record.prediction) {
                    anomalies += 1;
                    on_event(LiveEvent::Anomaly {
                        record,
                        timestamp: table.index.as_ref().map(|ix| ix[row].as_str()),
                    });
                }
            }
            // one consumer, nothing to retry against: a failed batch ends the run
            report.into_result()?;
            on_event(LiveEvent::Progress {
                done: scored + failed,
                total,
            });
        }
        writer
            .join()
            .map_err(|_| LiveError::Writer("the stream writer panicked".into()))?;
        Ok(())
    });
    result?;
    let seconds = started.elapsed().as_secs_f64();
    let matches_offline = streamed.iter().zip(offline).all(|(s, o)| *s == Some(*o));
    Ok(LiveReport {
        records_sent: total,
        records_scored: scored,
        records_failed: failed,
        records_warming_up: warming_up,
        anomalies,
        offline_anomalies: crate::contract::anomaly_count(offline),
        matches_offline,
        endpoint: String::new(),
        seconds,
        records_per_second: total as f64 / seconds.max(1e-9),
    })
}
