//! The walkthrough's live part through Kinesis (`--kinesis-endpoint`), for the binary only.
//!
//! The library stays free of AWS: this module serves the model on loopback in-process and drives
//! the deploy binaries that sit beside this one — `stream-writer` puts the test set on the
//! stream, `local-trigger` reads it like Lambda's event-source mapping and runs the Lambda
//! handler against the local server — then reads the trigger's sink and compares every row's
//! prediction with the offline one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anomaly_kit::experiment::WalkthroughReport;
use anomaly_kit::forest::is_anomaly_prediction;
use anomaly_kit::live::LiveReport;
use anomaly_kit::model::ModelArtefact;
use anomaly_kit_server::LoopbackServer;
use anyhow::{Context, Result, bail};

/// Kills a child process when dropped, so nothing outlives an error.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} is missing: the Kinesis path needs the deploy binaries beside this one (cargo build --release --workspace)",
            path.display()
        );
    }
    Ok(path)
}

/// Streams the walkthrough's test set through the Kinesis endpoint `endpoint` (a URL, or `aws`).
pub fn stream(
    report: &WalkthroughReport,
    endpoint: &str,
    stream_name: &str,
    rate: Option<f64>,
    limit: Option<usize>,
    quiet: bool,
    online: bool,
) -> Result<LiveReport> {
    let writer = sibling("stream-writer")?;
    let trigger = sibling("local-trigger")?;
    let model = ModelArtefact::load(&report.artefacts.model)?;
    let test_csv = &report.artefacts.test_csv;
    let table = crate::walkthrough::test_rows(report, limit)?;
    let scorer = crate::walkthrough::live_scorer(report, &table, online)?;
    let offline = scorer.check_and_score_offline(&table)?;
    let total = table.n_rows();

    let server = LoopbackServer::start(model)?;
    let addr = server.addr;

    let local = endpoint != "aws";
    // Local endpoints get placeholder keys, so real ones are never sent to loopback; on AWS the
    // default credential chain applies unchanged.
    let command = |program: &Path| {
        let mut c = Command::new(program);
        if local {
            c.args(["--endpoint-url", endpoint])
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("AWS_REGION", "us-east-1")
                .env_remove("AWS_SESSION_TOKEN")
                .env_remove("AWS_PROFILE");
        }
        c.args(["--stream-name", stream_name]);
        if !online {
            // the trigger reads these: a served-model run must not turn into an online one
            c.env_remove("ONLINE_FEATURES").env_remove("ONLINE_PARAMS");
        }
        c
    };
    if local {
        let created = command(&writer)
            .args(["--create-stream", "1", "--limit", "0", "--csv"])
            .arg(test_csv)
            .stdout(Stdio::null())
            .status()?;
        if !created.success() {
            bail!("creating stream '{stream_name}' at {endpoint} failed");
        }
    }
    if !quiet {
        println!(
            "\nLive through Kinesis ({endpoint}, stream '{stream_name}'): {} rows, the Lambda handler scoring against the model on http://{addr} ...",
            total
        );
    }
    let sink = test_csv.with_file_name("stream-sink.jsonl");
    let failures = test_csv.with_file_name("stream-failures.jsonl");
    // the trigger appends: start from empty files
    for f in [&sink, &failures] {
        match std::fs::remove_file(f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", f.display()));
            }
            _ => {}
        }
    }
    let started = Instant::now();
    let mut consumer = command(&trigger);
    consumer
        .args(["--sagemaker-endpoint-url", &format!("http://{addr}")])
        .args(["--expect", &total.to_string(), "--idle-exit", "60s"])
        .arg("--sink")
        .arg(&sink)
        .arg("--failures")
        .arg(&failures)
        .stdout(if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        });
    if online {
        consumer.args(["--online-features", &table.feature_names.join(",")]);
    }
    if !local {
        // on AWS, read only what this run writes
        consumer.args(["--starting-position", "latest"]);
    }
    if !quiet && rate.is_some() {
        // paced for a demonstration: show every anomaly as the handler finds it
        consumer.arg("--show-anomalies");
    }
    let mut consumer = Guard(consumer.spawn()?);
    let mut producer = command(&writer);
    producer
        .arg("--csv")
        .arg(test_csv)
        .args(["--limit", &total.to_string()])
        .arg("--json");
    match rate {
        Some(r) => producer.args(["--batch-size", "10", "--rate", &r.to_string()]),
        None => producer.args(["--batch-size", "500", "--interval", "0"]),
    };
    let written = producer.stderr(Stdio::inherit()).output()?;
    if !written.status.success() {
        bail!(
            "stream-writer failed: {}",
            String::from_utf8_lossy(&written.stdout)
        );
    }
    let sent: serde_json::Value = serde_json::from_slice(&written.stdout)?;
    let status = consumer.0.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    drop(server);
    if !status.success() {
        bail!("local-trigger failed");
    }

    let mut streamed: BTreeMap<u64, i32> = BTreeMap::new();
    let mut warming_up = 0;
    for line in std::fs::read_to_string(&sink)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        warming_up += usize::from(v["warming_up"].as_bool() == Some(true));
        if let (Some(row), Some(p)) = (v["row"].as_u64(), v["prediction"].as_i64()) {
            streamed.insert(row, p as i32);
        }
    }
    let failed = match std::fs::read_to_string(&failures) {
        Ok(text) => text.lines().count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", failures.display())),
    };
    let anomalies = streamed
        .values()
        .filter(|&&p| is_anomaly_prediction(p))
        .count();
    let matches_offline = streamed.len() == total
        && streamed
            .iter()
            .all(|(&row, &p)| offline.get(row as usize) == Some(&p));
    let report = LiveReport {
        records_sent: sent["sent"].as_u64().unwrap_or(0) as usize,
        records_scored: streamed.len(),
        records_failed: failed,
        records_warming_up: warming_up,
        anomalies,
        offline_anomalies: anomaly_kit::contract::anomaly_count(&offline),
        matches_offline,
        endpoint: endpoint.to_string(),
        seconds,
        records_per_second: streamed.len() as f64 / seconds.max(1e-9),
    };
    if !quiet {
        println!(
            "Kinesis tally: {} records sent, {} scored, {} failed, {} anomalies (offline: {}); streamed predictions {} the offline ones. {:.0} records/s from CSV row to prediction; sink: {}",
            report.records_sent,
            report.records_scored,
            report.records_failed,
            report.anomalies,
            report.offline_anomalies,
            if matches_offline {
                "equal"
            } else {
                "DIFFER FROM"
            },
            report.records_per_second,
            sink.display()
        );
    }
    if !matches_offline || report.records_failed > 0 {
        bail!(
            "the stream is not exact: {} of {total} rows scored, {} failed, predictions {} the offline ones (sink: {})",
            report.records_scored,
            report.records_failed,
            if matches_offline {
                "equal"
            } else {
                "differ from"
            },
            sink.display()
        );
    }
    Ok(report)
}
