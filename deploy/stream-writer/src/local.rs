//! Real AWS-compatible servers on loopback, for the local cloud and the tests: kinesalite
//! (Kinesis) and dynalite (DynamoDB), in memory, started through `deploy/local/aws-server.js` so
//! they bind 127.0.0.1 only.
//!
//! The servers are installed on first use (`npm ci` in `deploy/local/`, pinned by its lock file)
//! and stopped when the handle drops — and, because their stdin is a pipe from this process, also
//! when this process dies without running destructors.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `deploy/local/`, where the launcher and its `package.json` live.
pub fn local_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../local")
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The program could not be started; the OS error is quoted, so it is not also the source.
    #[error("cannot run {program}: {cause} (is Node.js 18+ with npm installed?)")]
    Spawn {
        program: String,
        cause: std::io::Error,
    },
    #[error("`npm ci` in {dir} failed: {stderr}")]
    Install { dir: String, stderr: String },
    #[error("the {server} server did not report its port: {line}")]
    NoPort { server: &'static str, line: String },
}

/// The npm packages `deploy/local/package.json` pins.
const PACKAGES: [&str; 2] = ["kinesalite", "dynalite"];

/// Installs the servers' npm packages if one is missing; a no-op afterwards.
pub fn install(dir: &Path) -> Result<(), LocalError> {
    let installed = |p: &str| dir.join(format!("node_modules/{p}/package.json")).exists();
    if PACKAGES.iter().all(|p| installed(p)) {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .map_err(|cause| LocalError::Spawn {
            program: "npm".into(),
            cause,
        })?;
    if !out.status.success() {
        return Err(LocalError::Install {
            dir: dir.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// A running server; dropped, it stops.
pub struct LocalServer {
    child: Child,
    pub endpoint: String,
}

impl LocalServer {
    /// Installs (if needed) and starts `deploy/local/aws-server.js KIND` on a free loopback port.
    fn start(kind: &str, server: &'static str) -> Result<Self, LocalError> {
        let dir = local_dir();
        install(&dir)?;
        let mut child = Command::new("node")
            .arg(dir.join("aws-server.js"))
            .args([kind, "0", "--stop-on-stdin-close"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|cause| LocalError::Spawn {
                program: "node".into(),
                cause,
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        match line.trim().strip_prefix("listening ") {
            Some(endpoint) => Ok(Self {
                child,
                endpoint: endpoint.to_string(),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(LocalError::NoPort { server, line })
            }
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs (if needed) and starts Kinesis (kinesalite) on a free loopback port.
pub fn kinesis() -> Result<LocalServer, LocalError> {
    LocalServer::start("kinesis", "Kinesis")
}

/// Installs (if needed) and starts DynamoDB (dynalite) on a free loopback port.
pub fn dynamodb() -> Result<LocalServer, LocalError> {
    LocalServer::start("dynamodb", "DynamoDB")
}
