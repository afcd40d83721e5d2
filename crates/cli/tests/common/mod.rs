//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the CLI binary built for this test run.
pub fn kit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anomaly-kit"))
        .args(args)
        .output()
        .expect("the CLI binary runs")
}

/// Runs the CLI and insists it succeeds; returns stdout.
pub fn kit_ok(args: &[&str]) -> String {
    let out = kit(args);
    assert!(
        out.status.success(),
        "anomaly-kit {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs the CLI and insists it fails; returns stderr.
pub fn kit_err(args: &[&str]) -> String {
    let out = kit(args);
    assert!(
        !out.status.success(),
        "anomaly-kit {args:?} should have failed"
    );
    String::from_utf8(out.stderr).expect("utf-8 output")
}

/// Rounds every float in a JSON value to `digits` decimals, so snapshots do not depend on the
/// last bits of `ln`/`exp` of a particular libm.
pub fn rounded(v: serde_json::Value, digits: i32) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let scale = 10f64.powi(digits);
            serde_json::json!((f * scale).round() / scale)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|x| rounded(x, digits)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, rounded(x, digits)))
                .collect(),
        ),
        other => other,
    }
}

/// The shared ADBench folder beside the checkout, if present.
pub fn adbench_dir() -> Option<PathBuf> {
    let dir =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("../shared/datasets/adbench");
    dir.join("REFERENCE.md").exists().then_some(dir)
}

/// Where insta keeps this project's snapshots.
pub const SNAPSHOTS: &str = "../../../snapshots";
