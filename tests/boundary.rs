//! The boundary between the library and its adapters, checked: the library's default build
//! compiles no server, async runtime, HTTP client, CLI or AWS crate; the Lambda compiles neither
//! the server nor the CLI; the CLI's `main.rs` only dispatches; no library module starts a
//! process; the anomaly decision is written once.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate names in `cargo tree -p package -e normal` (default features).
fn normal_dependencies(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none",
        ])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_library_is_lean_by_default() {
    let deps = normal_dependencies("anomaly-kit");
    assert!(deps.iter().any(|d| d == "linfa"), "parsed: {deps:?}");
    let forbidden = [
        "axum",
        "tokio",
        "hyper",
        "hyper-util",
        "reqwest",
        "clap",
        "indicatif",
        "anyhow",
        "tracing-subscriber",
    ];
    let found: Vec<&String> = deps
        .iter()
        .filter(|d| forbidden.contains(&d.as_str()) || d.starts_with("aws-"))
        .collect();
    assert!(
        found.is_empty(),
        "the library's default build compiles {found:?}"
    );
}

#[test]
fn the_lambda_compiles_neither_the_server_nor_the_cli() {
    let deps = normal_dependencies("anomaly-kit-lambda");
    assert!(deps.iter().any(|d| d == "anomaly-kit"), "parsed: {deps:?}");
    for adapter in ["anomaly-kit-server", "anomaly-kit-cli", "axum", "polars"] {
        assert!(
            !deps.iter().any(|d| d == adapter),
            "the Lambda compiles {adapter}"
        );
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_cli_main_only_dispatches() {
    let main = std::fs::read_to_string(root().join("crates/cli/src/main.rs")).unwrap();
    let lines = main.lines().count();
    assert!(lines < 300, "crates/cli/src/main.rs has {lines} lines");
    for library_work in [
        "metrics::",
        "plot::",
        "DataFrame",
        "TextTable",
        "Evaluation",
        "percentile",
    ] {
        assert!(
            !main.contains(library_work),
            "crates/cli/src/main.rs does library work ({library_work})"
        );
    }
}

#[test]
fn no_library_module_starts_a_process() {
    for file in rust_files(&root().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        // unit tests beside the code may (a FIFO for the file checks is made with mkfifo)
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for spawn in ["process::Command", "Command::new(", "std::process::Child"] {
            assert!(
                !text.contains(spawn),
                "{} starts a process ({spawn})",
                file.display()
            );
        }
    }
}

/// `score < threshold` and the -1/1 encoding live in `forest::is_anomalous` and
/// `forest::prediction`; every other path calls them.
#[test]
fn the_anomaly_decision_is_written_once() {
    let mut files = rust_files(&root().join("src"));
    for dir in ["crates", "deploy"] {
        files.extend(
            rust_files(&root().join(dir))
                .into_iter()
                .filter(|f| f.components().all(|c| c.as_os_str() != "tests")),
        );
    }
    let mut decisions = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // unit tests beside the code may compare however they like
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in code.lines().enumerate() {
            let line = line.trim();
            if line.starts_with("//") {
                continue;
            }
            let decides = [
                "score < threshold",
                "< self.threshold",
                "d < 0.0",
                "< offset",
            ]
            .iter()
            .any(|p| line.contains(p))
                || line.contains("{ -1 } else { 1 }")
                || line.contains("== -1");
            if decides {
                decisions.push(format!("{}:{}: {line}", file.display(), i + 1));
            }
        }
    }
    let expected = [
        "src/forest/mod.rs", // is_anomalous, prediction, is_anomaly_prediction
    ];
    let elsewhere: Vec<&String> = decisions
        .iter()
        .filter(|d| !expected.iter().any(|e| d.contains(e)))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "decisions outside forest: {elsewhere:#?}"
    );
    assert_eq!(decisions.len(), 3, "{decisions:#?}");
}
