//! The `stream-writer` binary: bad input is refused before anything is sent, with a message
//! naming the problem; a good run against a local server prints its summary.

use std::process::{Command, Output};

use anomaly_kit_stream_writer::local;

fn writer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stream-writer"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn csv(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("rows.csv");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn bad_flags_and_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = csv(dir.path(), "timestamp,a,b\nt0,1,2\n");
    let out = writer(&["--stream-name", "s", "--csv", &good, "--batch-size", "501"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--batch-size must be between 1 and 500"),
        "{}",
        stderr(&out)
    );

    let out = writer(&["--stream-name", "s", "--csv", &good, "--rate", "0"]);
    assert!(
        stderr(&out).contains("--rate must be a positive number"),
        "{}",
        stderr(&out)
    );

    let out = writer(&["--stream-name", "s", "--csv", "/nonexistent/rows.csv"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/rows.csv"),
        "{}",
        stderr(&out)
    );

    let bad = csv(dir.path(), "timestamp,a,b\nt0,1,oops\n");
    let out = writer(&["--stream-name", "s", "--csv", &bad]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("oops"),
        "the bad value is named: {}",
        stderr(&out)
    );
}

#[test]
fn a_run_against_a_local_server_reports_its_summary() {
    let server = local::kinesis().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp,a,b\n");
    for i in 0..25 {
        text += &format!("t{i},{i},{}\n", i * 2);
    }
    let path = csv(dir.path(), &text);
    let out = writer(&[
        "--stream-name",
        "cli",
        "--csv",
        &path,
        "--endpoint-url",
        &server.endpoint,
        "--create-stream",
        "2",
        "--batch-size",
        "10",
        "--interval",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sent"], 25);
    assert_eq!(summary["failed"], 0);
    assert_eq!(
        summary["calls"], 25,
        "one series: one entry per call, in order"
    );
    // batched: three calls of at most 10
    let out = writer(&[
        "--stream-name",
        "cli",
        "--csv",
        &path,
        "--endpoint-url",
        &server.endpoint,
        "--batch-size",
        "10",
        "--interval",
        "0",
        "--order",
        "batched",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["sent"].as_u64(), summary["calls"].as_u64()),
        (Some(25), Some(3))
    );
}
