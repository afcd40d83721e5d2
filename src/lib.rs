//! # anomaly-kit
//!
//! A reproducible experiment kit for real-time anomaly detection on streaming data: synthetic
//! trending series with injected anomalies, an Isolation Forest, causal features, evaluation,
//! plots and a versioned model artefact — the offline half of a well-known AWS tutorial, rebuilt
//! so that every number can be rerun and checked.
//!
//! The library is the experiment; the CLI (`crates/cli`), the HTTP server (`crates/server`), the
//! notebooks and the deployment crates (`deploy/`) are thin adapters over it. It has no AWS
//! dependency, no async runtime, no HTTP server or client and no command-line parsing: a notebook
//! or the Lambda compiles only what it uses.
//!
//! | module | job |
//! |---|---|
//! | [`synth`] | generate the tutorial's data (and the one its prose describes) |
//! | [`frame`] | CSV and `.npz` tables in and out (and polars frames, feature `polars`) |
//! | [`features`] | trailing-median residuals, batch or one record at a time |
//! | [`forest`] | the Isolation Forest |
//! | [`detector`] | features + forest + threshold |
//! | [`metrics`] | precision, recall, F1, ROC-AUC, average precision, sweeps |
//! | [`plot`] | charts as SVG files or inline in a notebook |
//! | [`display`] | tables: polars frames as HTML in a notebook (feature `polars`), text tables in a terminal |
//! | [`model`] | the saved artefact |
//! | [`online`] | detectors that learn from the stream, with label-free alerts |
//! | [`nab`] | the Numenta Anomaly Benchmark: corpus, scoring rules, scoreboard |
//! | [`experiment`] | the tutorial's recipes and the walkthrough |
//! | [`tasks`] | train, evaluate and chart over tables from files, with printable reports (the CLI's commands) |
//! | [`benchmark`] | the unsupervised benchmark protocol (ADBench) |
//! | [`contract`] | the `/invocations` request and response, shared by server, stream and Lambda |
//! | [`live`] | the walkthrough's stream, embedded: writer, in-memory stream, consumer, offline check |
//! | [`stream`] | stream records, and the stream consumer that keeps each series' state (the Lambda's job) |
//!
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod benchmark;
pub mod contract;
pub mod detector;
pub mod display;
pub mod experiment;
pub mod features;
pub mod files;
pub mod forest;
pub mod frame;
pub mod live;
pub mod metrics;
pub mod model;
pub mod nab;
pub mod numeric;
pub mod online;
pub mod plot;
pub mod rng;
pub mod stream;
pub mod synth;
pub mod tasks;

// Re-exported so a notebook needs a single `:dep` on the kit.
pub use linfa;
pub use linfa_trees;
pub use ndarray;
pub use plotters;
#[cfg(feature = "polars")]
pub use polars;
pub use serde_json;

#[cfg(test)]
mod test_support {
    use proptest::prelude::*;

    /// Any finite `f64`: normal values of every magnitude up to `±f64::MAX`, subnormals, `±0.0`,
    /// the extremes themselves, and everyday values — what a client may legally send.
    pub fn any_finite() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
            1 => prop::sample::select(vec![f64::MAX, -f64::MAX, 9e307, -9e307, f64::MIN_POSITIVE, -0.0, 0.0]),
            2 => -1e3..1e3f64,
        ]
    }
}
