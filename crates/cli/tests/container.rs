//! The container image, checked without Docker (no engine runs here): hadolint on the Dockerfile,
//! and the entry point SageMaker would start, run as the same command outside the image.

use std::process::Command;

mod common;

fn dockerfile() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../..",
        "/deploy/container/Dockerfile"
    ))
    .unwrap()
}

#[test]
fn hadolint_passes() {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../..",
            "/deploy/container/lint.sh"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_image_follows_sagemakers_contract() {
    let d = dockerfile();
    // `docker run IMAGE serve` = ENTRYPOINT + "serve"
    assert!(
        d.contains(r#"ENTRYPOINT ["/usr/local/bin/anomaly-kit", "--log-format", "json"]"#),
        "{d}"
    );
    assert!(d.contains(r#"CMD ["serve"]"#));
    assert!(d.contains("COPY data/model/model.json /opt/ml/model/model.json"));
    assert!(d.contains("EXPOSE 8080"));
    assert!(d.contains(":nonroot"), "the server should not run as root");
}

/// Cargo reads every workspace member's manifest and sources before it builds one package, so the
/// image's build stage must copy each of them (a member added later and forgotten here breaks
/// `docker build` although nothing else notices).
#[test]
fn the_build_stage_copies_every_workspace_member() {
    let d = dockerfile();
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = ["))
        .expect("the workspace lists its members on one line");
    let members: Vec<&str> = members
        .trim_end_matches(']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty() && *m != ".")
        .collect();
    assert!(members.len() >= 5, "members parsed: {members:?}");
    for m in members {
        for part in ["Cargo.toml", "src"] {
            assert!(
                d.contains(&format!("COPY {m}/{part} ")),
                "the Dockerfile does not copy {m}/{part}"
            );
        }
    }
}

#[test]
fn the_entry_point_with_serve_starts_the_server() {
    use std::io::{BufRead, BufReader};
    // the image's command line, with the model path and port the image would get from its layout
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    common::kit_ok(&[
        "generate",
        "--rows",
        "300",
        "--anomalies",
        "10",
        "--out",
        &p(""),
        "--name",
        "d",
    ]);
    common::kit_ok(&[
        "train",
        "--input",
        &p("d.csv"),
        "--recipe",
        "tutorial",
        "--out",
        &p("model"),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_anomaly-kit"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .env("MODEL_PATH", p("model"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let first = BufReader::new(stderr).lines().next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line: serde_json::Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {first}"));
    assert_eq!(line["fields"]["message"], "listening", "{line}");
    assert!(
        line["fields"]["addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{line}"
    );
}
