//! The streaming half of the tutorial, without AWS: how a row travels as a stream record, and
//! what a consumer of the stream (the tutorial's Lambda) does with a batch of records.
//!
//! The tutorial's writer put CSV lines on the stream and its Lambda parsed each record as JSON,
//! so every record failed, was dropped with a print, and the Lambda answered 200 with no
//! predictions. Here both sides use this module: [`encode_record`] writes a JSON object the
//! server reads as a record (features by name, plus `series`, `row` and `timestamp`), and
//! [`Consumer`] is the consumer's whole logic around the endpoint.
//!
//! ## Where state lives
//!
//! The endpoint is a pure function of (model, request). What a windowed detector must remember
//! about a series — its last rows — lives **here**, with the consumer: the one place that sees a
//! series in order (Kinesis orders records per partition key, and Lambda's event-source mapping
//! keeps that order per key). For each series a [`StateStore`] keeps a [`SeriesState`]: the last
//! rows the model needs (sent back as context with the next rows) and the position (the stream's
//! sequence number) of the last record applied. A batch is handled as:
//!
//! 1. decode each record; one that is not a record goes to the [`FailureSink`] with its content
//!    and the reason;
//! 2. load each series' state; records at or before its position were applied already (a
//!    re-delivery) and are skipped — counted, never applied twice;
//! 3. one `/invocations` request carries the new records and each series' context (in halves when
//!    it would exceed [`MAX_REQUEST_BYTES`]); if the model refuses it as bad input, it is split in
//!    halves, in order, down to the records the model refuses, which go to the failure sink — one
//!    poison record cannot block its shard;
//! 4. each series' new state is saved **conditionally on the position it was loaded with**, so a
//!    second consumer of the same series (a retry racing a stale invocation) can never interleave
//!    it: one save wins, the other batch fails and is re-delivered, and then skipped;
//! 5. right after its save, the series' predictions go to the [`OutputSink`] (a file, the logs),
//!    and only then is the next series saved.
//!
//! Anything else — the endpoint throttled, unavailable, timing out, a store or sink error —
//! fails the batch, so it is delivered again and rescored from the same saved state: the same
//! predictions, and the records already saved are skipped. Delivery is at least once; window
//! updates and emitted predictions are exactly once. The one gap is a crash between a series'
//! save and its emission (no I/O but the emission itself lies between them): those predictions
//! would be lost, never doubled; the state stays right. An emission that *fails* is an error
//! the batch reports, with the records it concerned.
//!
//! ```
//! use anomaly_kit::stream::{encode_record, Consumer, Incoming, InMemoryStore, InMemoryFailures};
//! # use anomaly_kit::{detector::DetectorSpec, synth::SynthParams, stream::ScoringEndpoint};
//! # let data = SynthParams::tutorial().rows(200).anomalies(5).generate()?;
//! # let detector = DetectorSpec::improved(15, 1).fit(&data.feature_names, data.values.view(), Some(&data.row_truth()))?;
//! # let endpoint = ScoringEndpoint(&detector);
//! let names = &detector.feature_names;
//! let rows: Vec<Vec<u8>> = (0..3u64).map(|i| encode_record(names, &[1.0; 5], "pump-1", i, None)).collect();
//! let mut batch: Vec<Incoming> = rows.iter().enumerate()
//!     .map(|(i, data)| Incoming { id: ["1", "2", "3"][i], data }).collect();
//! batch.push(Incoming { id: "4", data: b"a,b\n1,2" });
//! let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
//! let consumer = Consumer::new(&endpoint, &store, &failures);
//! let report = futures_lite_block_on(consumer.process(&batch)).into_result()?;
//! assert_eq!(report.scored.len(), 3);
//! assert_eq!(failures.take().len(), 1); // the CSV line went to the failure sink, with its reason
//! // the same batch again (a re-delivery): nothing is applied or emitted twice
//! let again = futures_lite_block_on(consumer.process(&batch)).into_result()?;
//! assert_eq!((again.scored.len(), again.redelivered), (0, 3));
//! # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output { anomaly_kit::stream::block_on(f) }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::{self, Predictions, SERIES_KEY, json_kind, series_of};
use crate::online::{OnlineDetector, OnlineParams, OnlineState};

/// The key holding a record's row number within its series.
pub const ROW_KEY: &str = "row";
/// The key holding a record's timestamp, when it has one.
pub const TIMESTAMP_KEY: &str = "timestamp";

/// A boxed future, so the traits below can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// Encodes row `i` of `table` as a stream record ([`encode_record`]) with its fields named
/// `names`, under `series` with row number `row`, carrying the row's timestamp when the table
/// has an index: what every writer (the embedded stream, the Kinesis stream writer) puts on a
/// stream.
pub fn encode_table_row(
    table: &crate::frame::Table,
    names: &[String],
    i: usize,
    series: &str,
    row: u64,
) -> Vec<u8> {
    let values: Vec<f64> = table.values.row(i).to_vec();
    let timestamp = table.index.as_ref().map(|ix| ix[i].as_str());
    encode_record(names, &values, series, row, timestamp)
}

/// A record as it arrives: its position in the stream (Kinesis' sequence number; positions of a
/// series increase) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// Its stream position.
    pub id: &'a str,
    /// The record's bytes, as written.
    pub data: &'a [u8],
}

/// Orders two stream positions: sequence numbers are decimal strings of any length, so a longer
/// one (leading zeros aside) is later; others compare as text.
pub fn position_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint

/// Why the endpoint did not answer with predictions.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum EndpointError {
    /// The model looked at the request and refused it (its own HTTP 4xx): the same bytes will
    /// be refused again, a smaller batch might not be.
    #[error("the model refused the request ({status}): {message}")]
    Rejected {
        /// The model's HTTP status.
        status: u16,
        /// The model's answer body.
        message: String,
    },
    /// Anything else: throttled, unavailable, timed out, unreachable, a 5xx. Worth retrying the
    /// whole batch later; never a reason to call a record bad.
    #[error("the endpoint call failed: {0}")]
    Unavailable(String),
}

/// Whether a container's HTTP status says the model refused this input, so the same bytes will
/// be refused again: a 4xx, except 408 (it timed out) and 429 (it is overloaded), which say
/// "try again later". The one rule for [`EndpointError::Rejected`], wherever a status is read.
pub fn refused_by_model(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// Something that answers an `/invocations` JSON body (asking for details) with a JSON body.
pub trait Endpoint: Sync {
    /// Sends one request body; the answer's body, or why there is none.
    fn invoke(&self, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, EndpointError>>;
}

/// A detector in-process as an [`Endpoint`], with exactly the server's parsing and answers: for
/// tests, doc examples and notebooks that want the consumer without a server.
pub struct ScoringEndpoint<'a>(pub &'a crate::detector::Detector);

impl Endpoint for ScoringEndpoint<'_> {
    fn invoke(&self, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, EndpointError>> {
        let answer = (|| {
            let detector = self.0;
            let rows = contract::parse_request("application/json", &body, &detector.feature_names)
                .map_err(|e| EndpointError::Rejected {
                    status: e.status(),
                    message: e.to_string(),
                })?;
            let scored = detector
                .score_request(&rows)
                .map_err(|e| EndpointError::Unavailable(e.to_string()))?;
            Ok(
                serde_json::to_vec(&Predictions::new(&scored, true))
                    .expect("predictions serialise"),
            )
        })();
        Box::pin(std::future::ready(answer))
    }
}

// ---------------------------------------------------------------------------------------------
// State

/// What the consumer remembers about one series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// The stream position of the last record applied (scored, or sent to the failure sink).
    pub position: String,
    /// Records scored so far.
    pub applied: u64,
    /// The last records the model needs as context (at most its `context_rows`), oldest first,
    /// as they arrived.
    pub context: Vec<Value>,
    /// The series' online detector, when the consumer learns from the stream
    /// ([`Consumer::learning`]): its whole state, a few kilobytes for a univariate series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<OnlineState>,
}

/// Why a state store failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum StoreError {
    /// The series' saved position is not the one this consumer loaded: another consumer applied
    /// records of the series in between. Nothing was written.
    #[error("series '{series}' was updated by another consumer (expected position {expected:?})")]
    Conflict {
        /// The series.
        series: String,
        /// The position this consumer loaded (`None`: the series was new).
        expected: Option<String>,
    },
    /// The store could not be reached or answered an error.
    #[error("the state store failed: {0}")]
    Unavailable(String),
    /// A stored state could not be read back.
    #[error("the stored state of series '{series}' is unreadable: {detail}")]
    Corrupt {
        /// The series.
        series: String,
        /// What was wrong with it.
        detail: String,
    },
}

/// Per-series state, durable where the deployment needs it (DynamoDB on AWS), in memory in the
/// embedded walkthrough.
pub trait StateStore: Sync {
    /// The series' state, or `None` for a series never seen.
    fn load<'a>(
        &'a self,
        series: &'a str,
    ) -> BoxFuture<'a, Result<Option<SeriesState>, StoreError>>;

    /// Saves `state` only if the series' stored position is still `expected` (`None`: the series
    /// must not exist yet); otherwise [`StoreError::Conflict`] and nothing changes.
    fn save<'a>(
        &'a self,
        series: &'a str,
        expected: Option<&'a str>,
        state: &'a SeriesState,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// A [`StateStore`] in memory: for the embedded walkthrough and tests (one process).
#[derive(Debug, Default)]
pub struct InMemoryStore {
    states: Mutex<HashMap<String, SeriesState>>,
}

impl InMemoryStore {
    /// Series stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No series stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SeriesState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateStore for InMemoryStore {
    fn load<'a>(
        &'a self,
        series: &'a str,
    ) -> BoxFuture<'a, Result<Option<SeriesState>, StoreError>> {
        let state = self.lock().get(series).cloned();
        Box::pin(std::future::ready(Ok(state)))
    }

    fn save<'a>(
        &'a self,
        series: &'a str,
        expected: Option<&'a str>,
        state: &'a SeriesState,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut states = self.lock();
        let current = states.get(series).map(|s| s.position.as_str());
        let result = if current == expected {
            states.insert(series.to_string(), state.clone());
            Ok(())
        } else {
            Err(StoreError::Conflict {
                series: series.to_string(),
                expected: expected.map(str::to_string),
            })
        };
        Box::pin(std::future::ready(result))
    }
}

// ---------------------------------------------------------------------------------------------
// Failures

/// A record that could not be used: where it was, what it held, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    /// Its stream position.
    pub id: String,
    /// Its series, when it could be read.
    pub series: Option<String>,
    /// Why it could not be used.
    pub reason: String,
    /// The record's bytes, base64 (exact, whatever they were).
    pub data_base64: String,
}

impl FailedRecord {
    /// `record`, with its series when known, failed for `reason`.
    pub fn new(record: &Incoming<'_>, series: Option<String>, reason: String) -> Self {
        Self {
            id: record.id.to_string(),
            series,
            reason,
            data_base64: base64::engine::general_purpose::STANDARD.encode(record.data),
        }
    }

    /// The record's bytes.
    pub fn data(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data_base64)
            .unwrap_or_default()
    }
}

/// Where records that can never be scored go (a dead-letter queue on AWS): with their content
/// and reason, so nothing is dropped silently and the rest of the shard goes on.
pub trait FailureSink: Sync {
    /// Delivers failed records; `Err` when they could not be delivered (the batch is retried).
    fn send<'a>(&'a self, failed: &'a [FailedRecord]) -> BoxFuture<'a, Result<(), String>>;
}

/// Records collected in memory: the embedded walkthrough's and the tests' [`FailureSink`]
/// ([`InMemoryFailures`]) and [`OutputSink`] ([`InMemoryOutputs`]).
#[derive(Debug)]
pub struct InMemorySink<T> {
    records: Mutex<Vec<T>>,
}

impl<T> Default for InMemorySink<T> {
    fn default() -> Self {
        Self {
            records: Mutex::new(Vec::new()),
        }
    }
}

impl<T: Clone> InMemorySink<T> {
    /// Everything received so far, emptying the sink.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn receive(&self, records: &[T]) -> BoxFuture<'_, Result<(), String>> {
        self.lock().extend_from_slice(records);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A [`FailureSink`] in memory.
pub type InMemoryFailures = InMemorySink<FailedRecord>;

impl FailureSink for InMemoryFailures {
    fn send<'a>(&'a self, failed: &'a [FailedRecord]) -> BoxFuture<'a, Result<(), String>> {
        self.receive(failed)
    }
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// Where a series' predictions go once its state is saved: a file, the logs, a queue.
pub trait OutputSink: Sync {
    /// Emits a series' scored records; `Err` when they could not be emitted.
    fn emit<'a>(&'a self, scored: &'a [ScoredRecord]) -> BoxFuture<'a, Result<(), String>>;
}

/// An [`OutputSink`] in memory.
pub type InMemoryOutputs = InMemorySink<ScoredRecord>;

impl OutputSink for InMemoryOutputs {
    fn emit<'a>(&'a self, scored: &'a [ScoredRecord]) -> BoxFuture<'a, Result<(), String>> {
        self.receive(scored)
    }
}

// ---------------------------------------------------------------------------------------------
// The consumer

/// One scored record, ready to emit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredRecord {
    /// Its stream position.
    pub id: String,
    /// Its series, from the record.
    pub series: Option<String>,
    /// Its row number within the series, from the record.
    pub row: Option<u64>,
    /// -1 = anomaly.
    pub prediction: i32,
    /// The model's score: a served model's `score_samples` (lower is more abnormal), or an
    /// online detector's anomaly score in `[0, 1]` (higher is more abnormal).
    pub score: Option<f64>,
    /// Its window was not yet full: scored, never flagged.
    #[serde(default)]
    pub warming_up: bool,
}

impl ScoredRecord {
    /// One line for people: `anomaly: row 12 (2024-01-01 00:12:00) score -0.612`.
    pub fn describe(&self, timestamp: Option<&str>) -> String {
        format!(
            "anomaly: row {} ({}) score {:.3}",
            self.row.unwrap_or_default(),
            timestamp.unwrap_or("-"),
            self.score.unwrap_or(f64::NAN)
        )
    }
}

/// Why a batch failed as a whole (it will be delivered again).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ConsumeError {
    /// The endpoint did not answer with predictions.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The endpoint answered something that is not a detailed predictions object.
    #[error("the endpoint's answer is not a detailed predictions object: {0}")]
    BadAnswer(String),
    /// The endpoint answered a different number of predictions than records were sent.
    #[error("the endpoint answered {got} predictions for {sent} records")]
    PredictionCount {
        /// Records sent.
        sent: usize,
        /// Predictions answered.
        got: usize,
    },
    /// Loading or saving a series' state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Failed records could not be delivered.
    #[error("the failure sink failed: {0}")]
    FailureSink(String),
    /// A series' predictions were saved but not emitted (they are emitted again on redelivery).
    #[error("emitting {records} saved predictions of series '{series}' failed: {message}")]
    Output {
        /// The series.
        series: String,
        /// Records whose predictions were not emitted.
        records: usize,
        /// The sink's message.
        message: String,
    },
}

/// What one batch did. Records in `scored` were saved and are to be emitted exactly once; if
/// `error` is set the batch must be failed (delivered again) **after** emitting them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchReport {
    /// Newly applied records, in arrival order.
    pub scored: Vec<ScoredRecord>,
    /// Records sent to the failure sink by this batch.
    pub failed: Vec<FailedRecord>,
    /// Records skipped because their series had applied them already (re-deliveries).
    pub redelivered: usize,
    /// Endpoint calls made (more than one when a refused batch was split).
    pub calls: usize,
    /// Set when the batch failed part-way; records of series not saved are not in `scored`.
    pub error: Option<ConsumeError>,
}

impl BatchReport {
    /// The flagged records.
    pub fn anomalies(&self) -> impl Iterator<Item = &ScoredRecord> {
        self.scored
            .iter()
            .filter(|r| crate::forest::is_anomaly_prediction(r.prediction))
    }

    /// Records scored while their window was warming up.
    pub fn warming_up(&self) -> usize {
        self.scored.iter().filter(|r| r.warming_up).count()
    }

    /// The report, or its error.
    pub fn into_result(self) -> Result<Self, ConsumeError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}

/// A decoded record waiting to be scored.
struct Pending<'a> {
    incoming: Incoming<'a>,
    series: String,
    record: Value,
}

/// A series while its batch is handled.
struct Working {
    loaded: Option<SeriesState>,
    /// The series' online detector once restored (learning consumers only).
    detector: Option<OnlineDetector>,
    position: Option<String>,
    context: VecDeque<Value>,
    context_rows: Option<usize>,
    scored: Vec<ScoredRecord>,
    failed: Vec<FailedRecord>,
}

/// A detector that learns from the stream, run by the consumer itself ([`Consumer::learning`]):
/// which record fields it reads and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineModel {
    /// Record fields read as the detector's values, in order.
    pub feature_names: Vec<String>,
    /// The detector's settings (every series starts from these).
    pub params: OnlineParams,
}

/// Where the consumer's scores come from.
#[derive(Clone, Copy)]
enum Scoring<'a> {
    /// A stateless model behind an endpoint; the consumer keeps each series' context rows.
    Endpoint(&'a dyn Endpoint),
    /// An online detector per series, checkpointed in the series' state.
    Learning(&'a OnlineModel),
}

/// The stream consumer's logic (the module docs say what it guarantees).
pub struct Consumer<'a> {
    scoring: Scoring<'a>,
    store: &'a dyn StateStore,
    failures: &'a dyn FailureSink,
    outputs: Option<&'a dyn OutputSink>,
    max_request_bytes: usize,
}

/// The largest request body the consumer sends by default: under SageMaker's 6 MB limit for a
/// real-time request, with room to spare. A batch whose records and context rows exceed it is
/// sent in halves.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

impl<'a> Consumer<'a> {
    /// A consumer that scores through `endpoint`, keeps each series' state in `store` and sends
    /// records that can never be scored to `failures`.
    pub fn new(
        endpoint: &'a dyn Endpoint,
        store: &'a dyn StateStore,
        failures: &'a dyn FailureSink,
    ) -> Self {
        Self::scoring_with(Scoring::Endpoint(endpoint), store, failures)
    }

    /// A consumer that scores with an [`OnlineDetector`] per series, learning from every record
    /// it applies: no endpoint. Each series' detector is restored from its saved state, updated
    /// with the batch's records in order and saved with the series' position — so a redelivered
    /// or retried batch continues from exactly the state the last applied record left, and the
    /// scores equal one detector run over the series from its first record.
    ///
    /// ```
    /// use anomaly_kit::online::OnlineParams;
    /// use anomaly_kit::stream::{
    ///     Consumer, InMemoryFailures, InMemoryStore, Incoming, OnlineModel, block_on, encode_record,
    /// };
    ///
    /// let model = OnlineModel { feature_names: vec!["value".into()], params: OnlineParams::default() };
    /// let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
    /// let consumer = Consumer::learning(&model, &store, &failures);
    /// let ids: Vec<String> = (1..=300).map(|i| format!("{i:05}")).collect();
    /// let data: Vec<Vec<u8>> =
    ///     (0..300).map(|i| encode_record(&model.feature_names, &[(i % 7) as f64], "pump-3", i, None)).collect();
    /// for batch in 0..3 {
    ///     let records: Vec<Incoming> = (batch * 100..batch * 100 + 100)
    ///         .map(|i| Incoming { id: &ids[i], data: &data[i] })
    ///         .collect();
    ///     let report = block_on(consumer.process(&records)).into_result().unwrap();
    ///     assert_eq!(report.scored.len(), 100);
    /// }
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn learning(
        model: &'a OnlineModel,
        store: &'a dyn StateStore,
        failures: &'a dyn FailureSink,
    ) -> Self {
        Self::scoring_with(Scoring::Learning(model), store, failures)
    }

    fn scoring_with(
        scoring: Scoring<'a>,
        store: &'a dyn StateStore,
        failures: &'a dyn FailureSink,
    ) -> Self {
        Self {
            scoring,
            store,
            failures,
            outputs: None,
            max_request_bytes: MAX_REQUEST_BYTES,
        }
    }

    /// Sends no request body above `bytes` (default [`MAX_REQUEST_BYTES`]): larger batches go in
    /// halves, in order.
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Emits each series' predictions to `outputs` right after its state is saved (without one,
    /// the caller emits the report's `scored` records itself, after the whole batch).
    pub fn with_outputs(mut self, outputs: &'a dyn OutputSink) -> Self {
        self.outputs = Some(outputs);
        self
    }

    /// Handles one batch of one shard, records in stream order.
    pub async fn process(&self, records: &[Incoming<'_>]) -> BatchReport {
        let mut report = BatchReport::default();
        if let Err(e) = self.process_into(records, &mut report).await {
            report.error = Some(e);
        }
        report
    }

    async fn process_into(
        &self,
        records: &[Incoming<'_>],
        report: &mut BatchReport,
    ) -> Result<(), ConsumeError> {
        // 1. decode
        let mut undecodable = Vec::new();
        let mut decoded = Vec::with_capacity(records.len());
        for r in records {
            match decode(r) {
                Ok(p) => decoded.push(p),
                Err(f) => undecodable.push(f),
            }
        }
        if !undecodable.is_empty() {
            self.failures
                .send(&undecodable)
                .await
                .map_err(ConsumeError::FailureSink)?;
            report.failed.extend(undecodable);
        }
        // 2. load each series' state; skip what it applied already
        let mut series: BTreeMap<String, Working> = BTreeMap::new();
        for p in &decoded {
            if !series.contains_key(&p.series) {
                let loaded = self.store.load(&p.series).await?;
                let context = loaded
                    .as_ref()
                    .map(|s| s.context.iter().cloned().collect())
                    .unwrap_or_default();
                series.insert(
                    p.series.clone(),
                    Working {
                        position: loaded.as_ref().map(|s| s.position.clone()),
                        loaded,
                        detector: None,
                        context,
                        context_rows: None,
                        scored: Vec::new(),
                        failed: Vec::new(),
                    },
                );
            }
        }
        let fresh: Vec<Pending<'_>> = decoded
            .into_iter()
            .filter(|p| {
                let applied = series[&p.series]
                    .loaded
                    .as_ref()
                    .is_some_and(|s| position_cmp(p.incoming.id, &s.position) != Ordering::Greater);
                report.redelivered += usize::from(applied);
                !applied
            })
            .collect();
        // 3. score, splitting refused requests down to the refused records
        match self.scoring {
            Scoring::Endpoint(endpoint) => {
                let fresh_refs: Vec<&Pending<'_>> = fresh.iter().collect();
                self.score(endpoint, &fresh_refs, &mut series, &mut report.calls)
                    .await?;
            }
            Scoring::Learning(model) => learn(model, &fresh, &mut series)?,
        }
        // 4. per series: failures out, state saved conditionally, then emitted
        for (name, w) in series {
            if w.scored.is_empty() && w.failed.is_empty() {
                continue;
            }
            if !w.failed.is_empty() {
                self.failures
                    .send(&w.failed)
                    .await
                    .map_err(ConsumeError::FailureSink)?;
            }
            let loaded = w.loaded.unwrap_or_default();
            let keep = w.context_rows.unwrap_or(w.context.len());
            let skip = w.context.len().saturating_sub(keep);
            let state = SeriesState {
                position: w.position.clone().unwrap_or_default(),
                applied: loaded.applied + w.scored.len() as u64,
                context: w.context.into_iter().skip(skip).collect(),
                detector: w.detector.as_ref().map(OnlineDetector::state),
            };
            let expected = (!loaded.position.is_empty()).then_some(loaded.position.as_str());
            self.store.save(&name, expected, &state).await?;
            report.failed.extend(w.failed);
            if let Some(outputs) = self.outputs
                && let Err(message) = outputs.emit(&w.scored).await
            {
                return Err(ConsumeError::Output {
                    series: name,
                    records: w.scored.len(),
                    message,
                });
            }
            report.scored.extend(w.scored);
        }
        let position: HashMap<&str, usize> =
            records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        report
            .scored
            .sort_by_key(|r| position.get(r.id.as_str()).copied());
        report
            .failed
            .sort_by_key(|r| position.get(r.id.as_str()).copied());
        Ok(())
    }

    /// Scores `pending` with one call; if the model refuses it, scores each half in turn (so
    /// each series' context moves on in order) down to single records, which then fail.
    fn score<'s>(
        &'s self,
        endpoint: &'s dyn Endpoint,
        pending: &'s [&'s Pending<'s>],
        series: &'s mut BTreeMap<String, Working>,
        calls: &'s mut usize,
    ) -> BoxFuture<'s, Result<(), ConsumeError>> {
        Box::pin(async move {
            if pending.is_empty() {
                return Ok(());
            }
            let body = request_body(pending, series);
            if body.len() > self.max_request_bytes {
                // the endpoint's limit would refuse it before the model saw it: send halves, in
                // order; a single record too large even alone can never be scored
                if pending.len() == 1 {
                    let p = pending[0];
                    let w = series.get_mut(&p.series).expect("every series is loaded");
                    w.failed.push(FailedRecord::new(
                        &p.incoming,
                        Some(p.series.clone()),
                        format!(
                            "with its series' context the request is {} bytes, above the {}-byte request limit",
                            body.len(),
                            self.max_request_bytes
                        ),
                    ));
                    w.position = Some(p.incoming.id.to_string());
                    return Ok(());
                }
                let (left, right) = pending.split_at(pending.len() / 2);
                self.score(endpoint, left, series, calls).await?;
                return self.score(endpoint, right, series, calls).await;
            }
            *calls += 1;
            match endpoint.invoke(body).await {
                Ok(body) => {
                    let p: Predictions = serde_json::from_slice(&body)
                        .map_err(|e| ConsumeError::BadAnswer(e.to_string()))?;
                    apply(pending, p, series)
                }
                Err(EndpointError::Rejected { status, message }) if pending.len() == 1 => {
                    let p = pending[0];
                    let w = series.get_mut(&p.series).expect("every series is loaded");
                    w.failed.push(FailedRecord::new(
                        &p.incoming,
                        Some(p.series.clone()),
                        format!("the model refused it ({status}): {message}"),
                    ));
                    w.position = Some(p.incoming.id.to_string());
                    Ok(())
                }
                Err(EndpointError::Rejected { .. }) => {
                    let (left, right) = pending.split_at(pending.len() / 2);
                    self.score(endpoint, left, series, calls).await?;
                    self.score(endpoint, right, series, calls).await
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// Scores and learns each record with its series' online detector, in stream order. A record
/// without the detector's fields goes to the failure sink (it never reaches the detector).
fn learn(
    model: &OnlineModel,
    pending: &[Pending<'_>],
    series: &mut BTreeMap<String, Working>,
) -> Result<(), ConsumeError> {
    let mut values = Vec::with_capacity(model.feature_names.len());
    for p in pending {
        let w = series.get_mut(&p.series).expect("every series is loaded");
        let detector = match &mut w.detector {
            Some(d) => d,
            slot => {
                let restored = match w.loaded.as_ref().and_then(|s| s.detector.clone()) {
                    Some(state) => OnlineDetector::from_state(state),
                    None => OnlineDetector::new(model.params.clone(), model.feature_names.len()),
                };
                let d = restored.map_err(|e| StoreError::Corrupt {
                    series: p.series.clone(),
                    detail: format!("its online detector cannot be restored: {e}"),
                })?;
                slot.insert(d)
            }
        };
        values.clear();
        let missing = model.feature_names.iter().find(|name| {
            match p.record.get(name.as_str()).and_then(Value::as_f64) {
                Some(v) => {
                    values.push(v);
                    false
                }
                None => true,
            }
        });
        w.position = Some(p.incoming.id.to_string());
        let step = match missing {
            Some(name) => Err(format!("field '{name}' is missing or not a number")),
            None => detector.update(&values).map_err(|e| e.to_string()),
        };
        match step {
            Ok(step) => w.scored.push(ScoredRecord {
                id: p.incoming.id.to_string(),
                series: Some(p.series.clone()),
                row: p.record.get(ROW_KEY).and_then(Value::as_u64),
                prediction: step.prediction(),
                score: Some(step.score),
                warming_up: step.warming_up,
            }),
            Err(reason) => w.failed.push(FailedRecord::new(
                &p.incoming,
                Some(p.series.clone()),
                format!("the online detector refused it: {reason}"),
            )),
        }
    }
    Ok(())
}

/// Reads one record: a JSON object with a readable series.
fn decode<'a>(r: &Incoming<'a>) -> Result<Pending<'a>, FailedRecord> {
    let fail = |series, reason| Err(FailedRecord::new(r, series, reason));
    match serde_json::from_slice::<Value>(r.data) {
        Ok(Value::Object(map)) => match series_of(map.get(SERIES_KEY), 0) {
            Ok(s) => Ok(Pending {
                incoming: *r,
                series: contract::series_name(s.as_deref()).to_string(),
                record: Value::Object(map),
            }),
            Err(e) => fail(
                None,
                match e {
                    contract::ContractError::BadSeries { found, .. } => {
                        format!("series must be a string, got {found}")
                    }
                    other => other.to_string(),
                },
            ),
        },
        Ok(other) => fail(
            None,
            format!(
                "a record must be a JSON object, got a JSON {}",
                json_kind(&other)
            ),
        ),
        Err(e) => fail(None, format!("not JSON: {e}")),
    }
}

/// `{"context": {series: [past records]}, "instances": [records]}`, or the plain list when no
/// series has a past.
fn request_body(pending: &[&Pending<'_>], series: &BTreeMap<String, Working>) -> Vec<u8> {
    // serialised from references: the records are not copied into a second tree
    let instances: Vec<&Value> = pending.iter().map(|p| &p.record).collect();
    let context: BTreeMap<&str, &VecDeque<Value>> = pending
        .iter()
        .map(|p| (p.series.as_str(), &series[&p.series].context))
        .filter(|(_, past)| !past.is_empty())
        .collect();
    /// The contract's envelope ([`contract::CONTEXT_KEY`], [`contract::INSTANCES_KEY`]); the
    /// consumer tests parse every body with the contract, so the names cannot drift.
    #[derive(Serialize)]
    struct Envelope<'a> {
        context: BTreeMap<&'a str, &'a VecDeque<Value>>,
        instances: Vec<&'a Value>,
    }
    let body = if context.is_empty() {
        serde_json::to_vec(&instances)
    } else {
        serde_json::to_vec(&Envelope { context, instances })
    };
    body.expect("decoded JSON serialises again")
}

/// Pairs an answer with the records sent and moves each series' context on.
fn apply(
    pending: &[&Pending<'_>],
    p: Predictions,
    series: &mut BTreeMap<String, Working>,
) -> Result<(), ConsumeError> {
    if p.predictions.len() != pending.len() {
        return Err(ConsumeError::PredictionCount {
            sent: pending.len(),
            got: p.predictions.len(),
        });
    }
    let detail =
        |what: &str| ConsumeError::BadAnswer(format!("it has no '{what}' (ask with scores=true)"));
    let scores = p.scores.ok_or_else(|| detail("scores"))?;
    let warming = p.warming_up.ok_or_else(|| detail("warming_up"))?;
    let context_rows = p.context_rows.ok_or_else(|| detail("context_rows"))?;
    if scores.len() != pending.len() || warming.len() != pending.len() {
        return Err(ConsumeError::PredictionCount {
            sent: pending.len(),
            got: scores.len().min(warming.len()),
        });
    }
    for (i, rec) in pending.iter().enumerate() {
        let w = series.get_mut(&rec.series).expect("every series is loaded");
        w.context_rows = Some(context_rows);
        w.context.push_back(rec.record.clone());
        while w.context.len() > context_rows {
            w.context.pop_front();
        }
        w.position = Some(rec.incoming.id.to_string());
        w.scored.push(ScoredRecord {
            id: rec.incoming.id.to_string(),
            series: Some(rec.series.clone()),
            row: rec.record.get(ROW_KEY).and_then(Value::as_u64),
            prediction: p.predictions[i],
            score: Some(scores[i]),
            warming_up: warming[i],
        });
    }
    Ok(())
}

/// Runs a future to completion on this thread: enough for the in-memory store, the in-process
/// endpoint and doc examples, which never wait on I/O.
pub fn block_on<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::{Detector, DetectorSpec};
    use crate::synth::SynthParams;

    fn detector() -> (crate::synth::Synthetic, Detector) {
        let data = SynthParams::tutorial()
            .rows(400)
            .anomalies(20)
            .seed(101)
            .generate()
            .unwrap();
        let train = SynthParams::tutorial()
            .rows(2000)
            .anomalies(80)
            .generate()
            .unwrap();
        let d = DetectorSpec::improved(15, 1)
            .fit(
                &train.feature_names,
                train.values.view(),
                Some(&train.row_truth()),
            )
            .unwrap();
        (data, d)
    }

    fn encoded(data: &crate::synth::Synthetic, series: &str) -> Vec<Vec<u8>> {
        (0..data.n_rows())
            .map(|i| {
                encode_record(
                    &data.feature_names,
                    &data.values.row(i).to_vec(),
                    series,
                    i as u64,
                    None,
                )
            })
            .collect()
    }

    fn ids(n: usize, from: usize) -> Vec<String> {
        (from..from + n)
            .map(|i| format!("{:020}", 1000 + i))
            .collect()
    }

    #[test]
    fn positions_order_as_numbers() {
        assert_eq!(position_cmp("9", "10"), Ordering::Less);
        assert_eq!(position_cmp("0010", "10"), Ordering::Equal);
        assert_eq!(
            position_cmp(
                "49568167373333333334444444444444444444444444444444444444",
                "49568167373333333333333333333333333333333333333333333333"
            ),
            Ordering::Greater
        );
    }

    /// Batches of any size, re-delivered any number of times, give every row once, with the
    /// prediction of the whole series scored offline.
    #[test]
    fn redelivered_batches_are_applied_once_and_match_offline() {
        let (data, d) = detector();
        let offline = d.score_series(data.values.view()).unwrap();
        let records = encoded(&data, "s");
        let ids = ids(records.len(), 0);
        let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
        let endpoint = ScoringEndpoint(&d);
        let consumer = Consumer::new(&endpoint, &store, &failures);
        let mut emitted = Vec::new();
        let mut redelivered = 0;
        let mut start = 0;
        for (k, size) in [1usize, 7, 30, 100, 3, 259].into_iter().enumerate() {
            let end = (start + size).min(records.len());
            // every batch is delivered twice, and every other one also re-delivers the previous
            let from = if k % 2 == 1 {
                start.saturating_sub(5)
            } else {
                start
            };
            let batch: Vec<Incoming> = (from..end)
                .map(|i| Incoming {
                    id: &ids[i],
                    data: &records[i],
                })
                .collect();
            for _ in 0..2 {
                let r = block_on(consumer.process(&batch)).into_result().unwrap();
                redelivered += r.redelivered;
                emitted.extend(r.scored);
            }
            start = end;
        }
        assert_eq!(start, records.len());
        assert_eq!(emitted.len(), records.len(), "each row emitted once");
        for (i, r) in emitted.iter().enumerate() {
            assert_eq!(r.row, Some(i as u64));
            assert_eq!(r.prediction, offline.predictions()[i], "row {i}");
            assert_eq!(
                r.score.unwrap().to_bits(),
                offline.scores[i].to_bits(),
                "row {i}"
            );
            assert_eq!(r.warming_up, i < 15);
        }
        assert!(redelivered >= records.len(), "{redelivered}");
        assert!(failures.take().is_empty());
        let state = block_on(store.load("s")).unwrap().unwrap();
        assert_eq!(state.context.len(), 15);
        assert_eq!(state.applied, 400);
        assert_eq!(state.position, ids[399]);
    }

    /// Poison records go to the failure sink with content and reason; the series' window skips
    /// them, so the rows around them score as if they never came.
    #[test]
    fn poison_records_fail_alone_and_do_not_disturb_the_window() {
        let (data, d) = detector();
        let offline = d.score_series(data.values.view()).unwrap();
        let mut records = encoded(&data, "s");
        let ids = ids(records.len() + 2, 0);
        let missing = br#"{"feature_1": 1, "series": "s", "row": 9999}"#.to_vec();
        records.insert(40, missing.clone());
        records.insert(41, b"not json".to_vec());
        let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
        let endpoint = ScoringEndpoint(&d);
        let consumer = Consumer::new(&endpoint, &store, &failures);
        let batch: Vec<Incoming> = records
            .iter()
            .zip(&ids)
            .map(|(data, id)| Incoming { id, data })
            .collect();
        let r = block_on(consumer.process(&batch)).into_result().unwrap();
        assert_eq!(r.scored.len(), 400);
        let predictions: Vec<i32> = r.scored.iter().map(|s| s.prediction).collect();
        assert_eq!(predictions, offline.predictions());
        let failed = failures.take();
        assert_eq!(failed.len(), 2);
        assert_eq!(
            failed.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            vec![ids[41].as_str(), ids[40].as_str()]
        );
        assert_eq!(failed[1].data(), missing);
        assert!(
            failed[1].reason.contains("'feature_2' is missing"),
            "{}",
            failed[1].reason
        );
        assert!(failed[0].reason.starts_with("not JSON"));
        assert!(r.calls > 2, "the refused request was split");
    }

    /// Two consumers racing on one series: one save wins, the other batch fails, and its
    /// re-delivery is skipped — the window never sees a row twice.
    #[test]
    fn a_stale_consumer_cannot_interleave_a_series() {
        let (data, d) = detector();
        let records = encoded(&data, "s");
        let ids = ids(records.len(), 0);
        let store = InMemoryStore::default();
        let failures = InMemoryFailures::default();
        let endpoint = ScoringEndpoint(&d);
        let batch: Vec<Incoming> = (0..10)
            .map(|i| Incoming {
                id: &ids[i],
                data: &records[i],
            })
            .collect();
        // a stale consumer loaded the empty state, then another one applied the batch
        let stale = block_on(store.load("s")).unwrap();
        let consumer = Consumer::new(&endpoint, &store, &failures);
        block_on(consumer.process(&batch)).into_result().unwrap();
        let err = block_on(store.save(
            "s",
            stale.as_ref().map(|s| s.position.as_str()),
            &SeriesState::default(),
        ))
        .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert_eq!(block_on(store.load("s")).unwrap().unwrap().applied, 10);
    }

    /// A batch whose request would exceed the limit goes in halves, in order, with the same
    /// predictions; a record too large even alone goes to the failure sink.
    #[test]
    fn requests_above_the_limit_are_sent_in_halves() {
        let (data, d) = detector();
        let offline = d.score_series(data.values.view()).unwrap();
        let records = encoded(&data, "s");
        let ids = ids(records.len(), 0);
        let batch: Vec<Incoming> = records
            .iter()
            .zip(&ids)
            .map(|(data, id)| Incoming { id, data })
            .collect();
        let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
        let endpoint = ScoringEndpoint(&d);
        let consumer = Consumer::new(&endpoint, &store, &failures).with_max_request_bytes(20_000);
        let r = block_on(consumer.process(&batch)).into_result().unwrap();
        assert!(r.calls >= 4, "{} calls", r.calls);
        let predictions: Vec<i32> = r.scored.iter().map(|s| s.prediction).collect();
        assert_eq!(predictions, offline.predictions());
        let tiny = Consumer::new(&endpoint, &store, &failures).with_max_request_bytes(100);
        let more = encoded(&data, "t");
        let one = [Incoming {
            id: &ids[0],
            data: &more[0],
        }];
        let r = block_on(tiny.process(&one)).into_result().unwrap();
        assert_eq!((r.scored.len(), r.calls), (0, 0));
        assert!(
            failures.take()[0]
                .reason
                .contains("above the 100-byte request limit")
        );
    }

    struct Failing;
    impl Endpoint for Failing {
        fn invoke(&self, _: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, EndpointError>> {
            Box::pin(std::future::ready(Err(EndpointError::Unavailable(
                "throttled".into(),
            ))))
        }
    }

    /// An unavailable endpoint fails the batch: nothing saved, nothing sent to the failure sink.
    #[test]
    fn an_unavailable_endpoint_fails_the_batch_and_changes_nothing() {
        let (data, _) = detector();
        let records = encoded(&data, "s");
        let ids = ids(records.len(), 0);
        let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
        let consumer = Consumer::new(&Failing, &store, &failures);
        let batch: Vec<Incoming> = (0..10)
            .map(|i| Incoming {
                id: &ids[i],
                data: &records[i],
            })
            .collect();
        let r = block_on(consumer.process(&batch));
        assert!(matches!(
            r.error,
            Some(ConsumeError::Endpoint(EndpointError::Unavailable(_)))
        ));
        assert!(r.scored.is_empty());
        assert!(store.is_empty());
        assert!(failures.take().is_empty());
    }

    /// The learning consumer, handed uneven batches, whole redeliveries and overlapping batches, scores
    /// every record exactly as one detector run over each series from its first record.
    #[test]
    fn a_learning_consumer_scores_as_one_uninterrupted_detector() {
        use crate::online::OnlineParams;
        let model = OnlineModel {
            feature_names: vec!["value".into()],
            params: OnlineParams {
                window: 256,
                sample: 128,
                refit_every: 32,
                silent_records: 50,
                ..OnlineParams::default()
            },
        };
        let value = |series: usize, i: usize| {
            (i as f64 / (20.0 + series as f64)).sin() * 5.0
                + if i.is_multiple_of(397) { 30.0 } else { 0.0 }
        };
        let n = 900;
        // two series interleaved on one shard
        let ids: Vec<String> = (0..2 * n).map(|i| format!("{:020}", 1000 + i)).collect();
        let data: Vec<Vec<u8>> = (0..2 * n)
            .map(|i| {
                let (series, row) = (i % 2, i / 2);
                encode_record(
                    &model.feature_names,
                    &[value(series, row)],
                    &format!("s{series}"),
                    row as u64,
                    None,
                )
            })
            .collect();
        let store = InMemoryStore::default();
        let failures = InMemoryFailures::default();
        let consumer = Consumer::learning(&model, &store, &failures);
        let mut got: BTreeMap<(String, u64), (i32, u64)> = BTreeMap::new();
        let (mut start, mut size, mut redelivered) = (0, 1, 0);
        while start < 2 * n {
            let end = (start + size).min(2 * n);
            let batch: Vec<Incoming> = (start..end)
                .map(|i| Incoming {
                    id: &ids[i],
                    data: &data[i],
                })
                .collect();
            let report = block_on(consumer.process(&batch)).into_result().unwrap();
            for r in &report.scored {
                let key = (r.series.clone().unwrap(), r.row.unwrap());
                let value = (r.prediction, r.score.unwrap().to_bits());
                assert!(got.insert(key, value).is_none(), "scored twice");
            }
            // every third batch is delivered again, overlapping the next one
            if size % 3 == 0 {
                let again = block_on(consumer.process(&batch)).into_result().unwrap();
                assert!(again.scored.is_empty());
                redelivered += again.redelivered;
            }
            start = end.saturating_sub(usize::from(size % 5 == 0));
            size = size % 97 + 7;
        }
        assert!(redelivered > 0);
        assert!(failures.take().is_empty());
        for series in 0..2 {
            let mut d = OnlineDetector::new(model.params.clone(), 1).unwrap();
            for row in 0..n {
                let step = d.update(&[value(series, row)]).unwrap();
                let expected = (step.prediction(), step.score.to_bits());
                assert_eq!(
                    got[&(format!("s{series}"), row as u64)],
                    expected,
                    "s{series} row {row}"
                );
            }
        }
        assert!(
            got.values().any(|&(p, _)| p == -1),
            "the spikes raise alerts"
        );
    }

    #[test]
    fn a_learning_consumer_sends_records_without_its_fields_to_the_failure_sink() {
        use crate::online::OnlineParams;
        let model = OnlineModel {
            feature_names: vec!["value".into()],
            params: OnlineParams::default(),
        };
        let store = InMemoryStore::default();
        let failures = InMemoryFailures::default();
        let consumer = Consumer::learning(&model, &store, &failures);
        let good = encode_record(&model.feature_names, &[1.0], "a", 0, None);
        let bad = br#"{"series": "a", "row": 1, "other": 2.0}"#.to_vec();
        let ids = ids(2, 0);
        let batch = [
            Incoming {
                id: &ids[0],
                data: &good,
            },
            Incoming {
                id: &ids[1],
                data: &bad,
            },
        ];
        let report = block_on(consumer.process(&batch)).into_result().unwrap();
        assert_eq!(report.scored.len(), 1);
        let failed = failures.take();
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0]
                .reason
                .contains("field 'value' is missing or not a number"),
            "{}",
            failed[0].reason
        );
        // the failed record was applied (its position saved), the detector saw one record
        let again = block_on(consumer.process(&batch)).into_result().unwrap();
        assert_eq!(again.redelivered, 2);
    }
}
