//! Every scoring layout this CPU can run, end to end through the CLI, selected the way users
//! select it (`ANOMALY_KIT_LAYOUT`), must write the same scores byte for byte; a layout the CPU
//! lacks must be refused by name. A plain `main` (no test harness), so its report — which layouts
//! were checked and which skipped, and why — is printed in every `cargo test` run, not hidden.

use std::path::Path;
use std::process::Command;

use anomaly_kit::forest::{LAYOUT_ENV, Layout};

/// Runs the CLI with `ANOMALY_KIT_LAYOUT=layout` (no value: unset); returns (success, stdout,
/// stderr).
fn kit(layout: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anomaly-kit"));
    cmd.args(args).env_remove(LAYOUT_ENV);
    if let Some(layout) = layout {
        cmd.env(LAYOUT_ENV, layout);
    }
    let out = cmd.output().expect("the CLI binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(layout: Option<&str>, args: &[&str]) -> String {
    let (success, stdout, stderr) = kit(layout, args);
    assert!(
        success,
        "{LAYOUT_ENV}={layout:?} anomaly-kit {args:?} failed:\n{stderr}"
    );
    stdout
}

/// Trains on generated data (with `threads` threads and `max_samples`), then scores the test
/// set with `layout`; returns the scores file's bytes.
fn scores(dir: &Path, layout: Option<&str>, threads: &str, max_samples: &str) -> Vec<u8> {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let model = p(&format!("model-{max_samples}"));
    if !dir.join(&model).exists() {
        ok(
            None,
            &[
                "train",
                "--input",
                &p("train.csv"),
                "--labels",
                &p("train_labels.csv"),
                "--max-samples",
                max_samples,
                "--out",
                &model,
            ],
        );
    }
    let out = p(&format!(
        "scores-{}-{threads}-{max_samples}.csv",
        layout.unwrap_or("unset")
    ));
    ok(
        layout,
        &[
            "--threads",
            threads,
            "evaluate",
            "--model",
            &model,
            "--input",
            &p("test.csv"),
            "--labels",
            &p("test_labels.csv"),
            "--scores-out",
            &out,
        ],
    );
    std::fs::read(&out).expect("the scores were written")
}

/// Evaluates `model` (a file in `dir`) on the test set with `layout`; returns (success, stderr).
fn evaluate(dir: &Path, layout: &str, model: &str) -> (bool, String) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (success, _, stderr) = kit(
        Some(layout),
        &[
            "evaluate",
            "--model",
            &p(model),
            "--input",
            &p("test.csv"),
            "--labels",
            &p("test_labels.csv"),
        ],
    );
    (success, stderr)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    for (name, seed) in [("train", "100"), ("test", "101")] {
        ok(
            None,
            &[
                "generate",
                "--rows",
                "5000",
                "--anomalies",
                "250",
                "--seed",
                seed,
                "--out",
                &p(""),
                "--name",
                name,
            ],
        );
    }
    // 256 samples: trees 8 deep (every layout's fast path); 600: deeper trees, which the
    // avx512 layout refuses and the portable one walks over linked nodes
    let reference = scores(dir.path(), Some("portable"), "1", "256");
    let deep_reference = scores(dir.path(), Some("portable"), "1", "600");
    assert!(reference.len() > 5000 * 4, "a score per row");
    let mut report = Vec::new();
    for layout in Layout::ALL {
        let name = layout.name();
        match layout.missing_on_this_cpu() {
            None => {
                for threads in ["1", "2"] {
                    assert!(
                        scores(dir.path(), Some(name), threads, "256") == reference,
                        "{name} on {threads} thread(s) scored other bits than portable on one"
                    );
                }
                if layout == Layout::Avx512 {
                    let (success, stderr) = evaluate(dir.path(), name, "model-600");
                    assert!(
                        !success
                            && stderr.contains("cannot be scored here")
                            && stderr.contains("at most 8 levels deep")
                            && stderr.contains("(ANOMALY_KIT_LAYOUT=avx512)"),
                        "{stderr}"
                    );
                } else {
                    assert!(scores(dir.path(), Some(name), "2", "600") == deep_reference);
                }
                report.push(format!("{name}: same scores as portable, 1 and 2 threads"));
            }
            Some(why) => {
                let (success, stderr) = evaluate(dir.path(), name, "model-256");
                assert!(
                    !success,
                    "{name} is missing here, yet the CLI scored with it"
                );
                assert!(
                    stderr.contains(why),
                    "{name} refused without saying why:\n{stderr}"
                );
                report.push(format!("{name}: SKIPPED, {why} (refused by name, checked)"));
            }
        }
    }
    // unset and `auto` choose the fastest layout; its scores are the same
    assert!(scores(dir.path(), None, "2", "256") == reference);
    assert!(scores(dir.path(), Some("auto"), "2", "256") == reference);
    let (success, stderr) = evaluate(dir.path(), "fastest", "model-256");
    assert!(
        !success && stderr.contains("ANOMALY_KIT_LAYOUT=\"fastest\" is not a scoring layout"),
        "{stderr}"
    );
    println!("\nscoring layouts, end to end through the CLI:");
    for line in report {
        println!("  {line}");
    }
    println!("  unset and auto: same scores; an unknown name is refused\n");
}
