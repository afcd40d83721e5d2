//! Where predictions go once a series' state is saved: structured log lines on Lambda
//! (CloudWatch Logs Insights can query them), a JSON-lines file in the local cloud.

use std::io::Write;
use std::sync::Mutex;

use anomaly_kit::stream::{BoxFuture, OutputSink, ScoredRecord};

/// Each anomaly as one structured log line (target `anomaly`); normal rows at debug level.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogOutputs;

impl OutputSink for LogOutputs {
    fn emit<'a>(&'a self, scored: &'a [ScoredRecord]) -> BoxFuture<'a, Result<(), String>> {
        for r in scored {
            if r.prediction == -1 {
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

/// Every prediction as one JSON line, flushed per series and batch.
pub struct JsonLinesOutputs<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLinesOutputs<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }
}

impl<W: Write + Send> OutputSink for JsonLinesOutputs<W> {
    fn emit<'a>(&'a self, scored: &'a [ScoredRecord]) -> BoxFuture<'a, Result<(), String>> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let result = scored
            .iter()
            .try_for_each(|r| {
                let line = serde_json::json!({
                    "sequence_number": r.id,
                    "series": r.series,
                    "row": r.row,
                    "prediction": r.prediction,
                    "score": r.score,
                    "warming_up": r.warming_up,
                });
                writeln!(out, "{line}")
            })
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing the sink: {e}"));
        Box::pin(std::future::ready(result))
    }
}
