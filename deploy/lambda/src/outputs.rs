//! Where predictions go once a series' state is saved: structured log lines on Lambda
//! (CloudWatch Logs Insights can query them), a JSON-lines file in the local cloud — the same
//! file type that is the local cloud's failure destination.

use std::io::Write;
use std::sync::Mutex;

use anomaly_kit::stream::{BoxFuture, FailedRecord, FailureSink, OutputSink, ScoredRecord};
use serde::Serialize;

use crate::failures::FailureMessage;

/// Each anomaly as one structured log line (target `anomaly`); normal rows at debug level.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogOutputs;

impl OutputSink for LogOutputs {
    fn emit<'a>(&'a self, scored: &'a [ScoredRecord]) -> BoxFuture<'a, Result<(), String>> {
        for r in scored {
            if anomaly_kit::forest::is_anomaly_prediction(r.prediction) {
                tracing::info!(
                    target: "anomaly",
                    sequence_number = %r.id,
                    series = r.series.as_deref().unwrap_or(""),
                    row = r.row,
                    score = r.score,
                    "anomaly"
                );
            } else {
                tracing::debug!(
                    target: "prediction",
                    sequence_number = %r.id,
                    series = r.series.as_deref().unwrap_or(""),
                    row = r.row,
                    score = r.score,
                    warming_up = r.warming_up,
                    "normal"
                );
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A JSON-lines file, the local cloud's sink: as an [`OutputSink`] one line per prediction, as a
/// [`FailureSink`] one [`FailureMessage`] per failed record. Flushed after each call, so a
/// series' lines are on disk before the next series is saved.
pub struct JsonLines<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    /// The writer back, e.g. to flush it.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one JSON line per item, then flushes.
    fn write<T: Serialize>(
        &self,
        items: impl Iterator<Item = T>,
        what: &str,
    ) -> BoxFuture<'_, Result<(), String>> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let result = items
            .into_iter()
            .try_for_each(|item| {
                serde_json::to_writer(&mut *out, &item)?;
                out.write_all(b"\n").map_err(serde_json::Error::io)
            })
            .and_then(|()| out.flush().map_err(serde_json::Error::io))
            .map_err(|e| format!("writing the {what}: {e}"));
        Box::pin(std::future::ready(result))
    }
}

impl<W: Write + Send> OutputSink for JsonLines<W> {
    fn emit<'a>(&'a self, scored: &'a [ScoredRecord]) -> BoxFuture<'a, Result<(), String>> {
        let lines = scored.iter().map(|r| {
            serde_json::json!({
                "sequence_number": r.id,
                "series": r.series,
                "row": r.row,
                "prediction": r.prediction,
                "score": r.score,
                "warming_up": r.warming_up,
            })
        });
        self.write(lines, "sink")
    }
}

impl<W: Write + Send> FailureSink for JsonLines<W> {
    fn send<'a>(&'a self, failed: &'a [FailedRecord]) -> BoxFuture<'a, Result<(), String>> {
        self.write(failed.iter().map(FailureMessage::of), "failure file")
    }
}
