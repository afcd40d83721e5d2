//! `local-sagemaker`: SageMaker's runtime API on loopback, in front of `anomaly-kit serve`
//! instances (see the library docs).
//!
//! Example:
//!   local-sagemaker --instance http://127.0.0.1:8081 --instance http://127.0.0.1:8082 \
//!       --throttle-rate 0.05 --port 0

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anomaly_kit_local_runtime::{RuntimeConfig, RuntimeCounters, router};
use anyhow::Context;
use clap::Parser;

/// SageMaker's runtime API on loopback: round-robin over container instances, SageMaker's own
/// error answers, optional injected throttling.
///
/// Prints "listening http://127.0.0.1:PORT" once it accepts calls; on SIGTERM or Ctrl-C prints
/// its counters as one JSON line and exits.
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// A container instance's base URL (repeat for several).
    #[arg(long = "instance", required = true)]
    instances: Vec<String>,
    /// Share of calls answered with ThrottlingException (HTTP 400), 0..1.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Seed of the throttling draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.throttle_rate) {
        anyhow::bail!(
            "--throttle-rate must be between 0 and 1, got {}",
            args.throttle_rate
        );
    }
    if let Some(bad) = args.instances.iter().find(|u| {
        !(u.starts_with("http://127.")
            || u.starts_with("http://localhost")
            || u.starts_with("http://[::1]"))
    }) {
        anyhow::bail!("instances must be loopback URLs (http://127.0.0.1:PORT), got {bad}");
    }
    let counters = Arc::new(RuntimeCounters::default());
    let app = router(
        RuntimeConfig {
            instances: args.instances,
            throttle_rate: args.throttle_rate,
            seed: args.seed,
        },
        counters.clone(),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .context("cannot listen")?;
    println!("listening http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(anomaly_kit_server::shutdown_signal())
        .await?;
    let c = &counters;
    println!(
        "{}",
        serde_json::json!({
            "calls": c.calls.load(Ordering::Relaxed),
            "routed": c.routed.load(Ordering::Relaxed),
            "throttled": c.throttled.load(Ordering::Relaxed),
            "unavailable": c.unavailable.load(Ordering::Relaxed),
            "model_errors": c.model_errors.load(Ordering::Relaxed),
        })
    );
    Ok(())
}
