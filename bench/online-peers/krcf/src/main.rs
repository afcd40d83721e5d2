//! Streaming Random Cut Forest (krcflib) over a numeric CSV, for bench/online.sh.
//!
//! Usage: online-peer-krcf --input FILE [--records N] [--seed S]
//!
//! The CSV has a header. Columns named `timestamp`, or whose first value is not a number, are
//! skipped (NAB's `timestamp,value`); every other column is a feature. One feature: shingle 8;
//! several: shingle 1 (internal shingling). 50 trees, 256 samples per tree, default time decay
//! (0.1 / 256), one thread. Each record is scored, then inserted (score-then-update).
//! The timer covers the score+update loop over rows already in memory, not the CSV parse.
//! Prints one JSON line: {"library","records","seconds","records_per_s","checksum",
//! "first_record_seconds"} where checksum is the sum of the scores.

use rcflib::rcf::{RCFBuilder, RCFOptionsBuilder};
use std::time::Instant;

const VERSION: &str = "4.0.2"; // = the pin in Cargo.toml

fn main() {
    if let Err(e) = run() {
        eprintln!("online-peer-krcf: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut input = None;
    let mut records = usize::MAX;
    let mut seed = 42u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--input" => input = Some(value("--input")?),
            "--records" => records = value("--records")?.parse().map_err(|e| format!("--records: {e}"))?,
            "--seed" => seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "-h" | "--help" => {
                println!("usage: online-peer-krcf --input FILE [--records N] [--seed S]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let input = input.ok_or("--input FILE is required")?;
    let rows = read_csv(&input, records)?;
    let dims = rows.first().map(Vec::len).ok_or("no data rows")?;
    let shingle = if dims == 1 { 8 } else { 1 };

    let mut forest = RCFBuilder::new(dims, shingle)
        .tree_capacity(256)
        .number_of_trees(50)
        .random_seed(seed)
        .parallel_enabled(false)
        .internal_shingling(true)
        .build_default()
        .map_err(|e| format!("building the forest: {e:?}"))?;

    let start = Instant::now();
    let mut checksum = 0.0f64;
    let mut first = None;
    for row in &rows {
        checksum += forest.score(row).map_err(|e| format!("score: {e:?}"))?;
        forest.update(row, 0).map_err(|e| format!("update: {e:?}"))?;
        first.get_or_insert_with(|| start.elapsed().as_secs_f64());
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"library\":\"krcflib {VERSION}\",\"records\":{},\"seconds\":{seconds:.6},\"records_per_s\":{:.1},\"checksum\":{checksum:.6},\"first_record_seconds\":{:.6}}}",
        rows.len(),
        rows.len() as f64 / seconds,
        first.unwrap_or(0.0)
    );
    Ok(())
}

/// Reads up to `limit` rows of the numeric columns as f32 (krcflib's point type).
fn read_csv(path: &str, limit: usize) -> Result<Vec<Vec<f32>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or(format!("{path}: empty"))?.split(',').map(str::trim).collect();
    let mut keep: Option<Vec<usize>> = None;
    let mut rows = Vec::new();
    for (n, line) in lines.take(limit).enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            return Err(format!("{path}:{}: {} cells, header has {}", n + 2, cells.len(), header.len()));
        }
        let cols = keep.get_or_insert_with(|| {
            (0..header.len())
                .filter(|&i| !header[i].eq_ignore_ascii_case("timestamp") && cells[i].parse::<f64>().is_ok())
                .collect()
        });
        if cols.is_empty() {
            return Err(format!("{path}: no numeric column"));
        }
        let row = cols
            .iter()
            .map(|&i| cells[i].parse::<f32>().map_err(|e| format!("{path}:{}: {}: {e}", n + 2, header[i])))
            .collect::<Result<Vec<f32>, String>>()?;
        rows.push(row);
    }
    Ok(rows)
}
