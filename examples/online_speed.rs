//! Score + update throughput of the online detector on one CSV, for `bench/online.sh`.
//!
//! ```text
//! cargo run --release --example online_speed -- --input ../shared/datasets/nab/data/realKnownCause/nyc_taxi.csv
//! ```
//!
//! Every column is a feature except a `timestamp` column. Prints one JSON line: library,
//! records, seconds, records_per_s, checksum (sum of scores, so the work cannot be skipped).

use std::time::Instant;

use anomaly_kit::online::{OnlineDetector, OnlineParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let input = args
        .iter()
        .position(|a| a == "--input")
        .and_then(|i| args.get(i + 1))
        .ok_or("usage: online_speed --input FILE.csv [--repeat N]")?;
    let repeat: usize = match args.iter().position(|a| a == "--repeat") {
        Some(i) => args.get(i + 1).ok_or("--repeat needs a number")?.parse()?,
        None => 1,
    };
    let mut reader = csv::Reader::from_path(input)?;
    let keep: Vec<usize> = reader
        .headers()?
        .iter()
        .enumerate()
        .filter(|(_, h)| *h != "timestamp")
        .map(|(i, _)| i)
        .collect();
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(
            keep.iter()
                .map(|&i| record[i].trim().parse())
                .collect::<Result<_, _>>()?,
        );
    }
    let width = keep.len();
    let params = OnlineParams::default();
    // records per second per core: the forest's refits stay on this thread
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let started = Instant::now();
    let mut checksum = 0.0;
    for _ in 0..repeat {
        let mut detector = OnlineDetector::new(params.clone(), width)?;
        for row in &rows {
            checksum += detector.update(row)?.score;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let records = rows.len() * repeat;
    println!(
        "{}",
        serde_json::json!({
            "library": "anomaly-kit online",
            "records": records,
            "seconds": seconds,
            "records_per_s": records as f64 / seconds,
            "checksum": checksum,
        })
    );
    Ok(())
}
