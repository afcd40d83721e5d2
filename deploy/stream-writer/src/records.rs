//! Rows of a table as Kinesis entries.

use std::path::Path;

use anomaly_kit::frame::{self, CsvOptions, Table};
use anomaly_kit::stream::encode_table_row;

use crate::MAX_ENTRY_BYTES;

/// One record on its way to the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The row's number in the stream (it keeps counting when the file is replayed).
    pub row: u64,
    /// Kinesis routes by this key; one key per series keeps a series' rows in order on one shard,
    /// which trailing-window features need.
    pub partition_key: String,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Read(#[from] frame::FrameError),
    #[error("{path} has no data rows")]
    Empty { path: String },
    #[error("row {row} encodes to {bytes} bytes; a Kinesis record holds at most {MAX_ENTRY_BYTES}")]
    TooLarge { row: u64, bytes: usize },
}

/// The rows of a CSV (or `.npz`), replayed `loops` times, at most `limit` rows in all.
pub struct RowSource {
    table: Table,
    series: String,
    next: u64,
    end: Option<u64>,
    replay: bool,
}

impl RowSource {
    /// Reads the whole file up front: the header once, every value checked to be numeric, so a
    /// bad file fails before the first record is sent.
    pub fn open(path: &Path, series: &str) -> Result<Self, SourceError> {
        let table = frame::read_table(path, &CsvOptions::default(), None)?;
        if table.n_rows() == 0 {
            return Err(SourceError::Empty {
                path: path.display().to_string(),
            });
        }
        Ok(Self::from_table(table, series))
    }

    pub fn from_table(table: Table, series: &str) -> Self {
        Self {
            table,
            series: series.to_string(),
            next: 0,
            end: None,
            replay: false,
        }
    }

    /// Stop after `limit` rows.
    pub fn limit(mut self, limit: Option<u64>) -> Self {
        self.end = limit;
        self
    }

    /// Start again from the first row at the end of the file (until `limit`, or forever).
    pub fn replay(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    pub fn feature_names(&self) -> &[String] {
        &self.table.feature_names
    }

    /// Rows this source will yield, if finite.
    pub fn total(&self) -> Option<u64> {
        let rows = self.table.n_rows() as u64;
        match (self.end, self.replay) {
            (Some(end), true) => Some(end),
            (Some(end), false) => Some(end.min(rows)),
            (None, false) => Some(rows),
            (None, true) => None,
        }
    }

    /// The next `n` entries (fewer at the end).
    pub fn next_batch(&mut self, n: usize) -> Result<Vec<Entry>, SourceError> {
        let rows = self.table.n_rows() as u64;
        let mut batch = Vec::with_capacity(n);
        while batch.len() < n {
            if self.end.is_some_and(|end| self.next >= end) || (!self.replay && self.next >= rows) {
                break;
            }
            let i = (self.next % rows) as usize;
            let data = encode_table_row(
                &self.table,
                &self.table.feature_names,
                i,
                &self.series,
                self.next,
            );
            let bytes = data.len() + self.series.len();
            if bytes > MAX_ENTRY_BYTES {
                return Err(SourceError::TooLarge {
                    row: self.next,
                    bytes,
                });
            }
            batch.push(Entry {
                row: self.next,
                partition_key: self.series.clone(),
                data,
            });
            self.next += 1;
        }
        Ok(batch)
    }
}

/// Several series read side by side: each batch takes rows from each source in turn, so series
/// are written concurrently, each in its own order.
pub struct Interleaved {
    sources: Vec<RowSource>,
}

impl Interleaved {
    pub fn new(sources: Vec<RowSource>) -> Self {
        Self { sources }
    }

    /// Rows all sources will yield, if finite.
    pub fn total(&self) -> Option<u64> {
        self.sources.iter().map(RowSource::total).sum()
    }

    /// The next `n` entries (fewer at the end), one from each source in turn.
    pub fn next_batch(&mut self, n: usize) -> Result<Vec<Entry>, SourceError> {
        let mut batch = Vec::with_capacity(n);
        let mut exhausted = vec![false; self.sources.len()];
        while batch.len() < n && exhausted.iter().any(|e| !e) {
            for (source, exhausted) in self.sources.iter_mut().zip(exhausted.iter_mut()) {
                if batch.len() >= n {
                    break;
                }
                match source.next_batch(1)?.pop() {
                    Some(e) => batch.push(e),
                    None => *exhausted = true,
                }
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anomaly_kit::ndarray::array;

    fn table() -> Table {
        Table {
            feature_names: vec!["a".into(), "b".into()],
            values: array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            labels: None,
            index: Some(vec!["t0".into(), "t1".into(), "t2".into()]),
        }
    }

    #[test]
    fn rows_become_records_the_server_reads() {
        let mut source = RowSource::from_table(table(), "pump");
        let batch = source.next_batch(2).unwrap();
        assert_eq!(batch.len(), 2);
        let v: serde_json::Value = serde_json::from_slice(&batch[1].data).unwrap();
        assert_eq!(v["a"], 3.0);
        assert_eq!(v["series"], "pump");
        assert_eq!(v["row"], 1);
        assert_eq!(v["timestamp"], "t1");
        assert_eq!(batch[1].partition_key, "pump");
        assert_eq!(source.next_batch(2).unwrap().len(), 1);
        assert!(source.next_batch(2).unwrap().is_empty());
    }

    #[test]
    fn interleaved_sources_take_turns_and_keep_their_own_rows() {
        let mut both = Interleaved::new(vec![
            RowSource::from_table(table(), "a"),
            RowSource::from_table(table(), "b").limit(Some(1)),
        ]);
        assert_eq!(both.total(), Some(4));
        let keys: Vec<(String, u64)> = both
            .next_batch(10)
            .unwrap()
            .into_iter()
            .map(|e| (e.partition_key, e.row))
            .collect();
        let expected = [("a", 0), ("b", 0), ("a", 1), ("a", 2)];
        assert_eq!(keys, expected.map(|(s, r)| (s.to_string(), r)));
        assert!(both.next_batch(10).unwrap().is_empty());
    }

    #[test]
    fn limit_and_replay() {
        let mut source = RowSource::from_table(table(), "s")
            .replay(true)
            .limit(Some(7));
        assert_eq!(source.total(), Some(7));
        let rows: Vec<u64> = source
            .next_batch(100)
            .unwrap()
            .iter()
            .map(|e| e.row)
            .collect();
        assert_eq!(rows, (0..7).collect::<Vec<_>>());
        let source = RowSource::from_table(table(), "s").limit(Some(2));
        assert_eq!(source.total(), Some(2));
        assert_eq!(
            RowSource::from_table(table(), "s").replay(true).total(),
            None
        );
    }
}
