//! Soak client for `anomaly-kit serve`, in two phases:
//!
//! 1. **soak**: many connections mixing valid and invalid requests, clients sending 6 MB bodies,
//!    hundreds of idle sockets and a pinger, for `SECONDS`; the server's resident memory is
//!    sampled from `/proc` every 0.5 s;
//! 2. **fairness**: the busy connections stop; the 6 MB clients and the idle sockets go on for
//!    `FAIR_SECONDS` while the pinger measures what a health check sees beside them.
//!
//! Run by `bench/soak.sh`, which starts the server and writes `bench/soak.md`:
//!
//! ```text
//! cargo run --release -p anomaly-kit-server --example soak -- ADDR PID [SECONDS] [CONNECTIONS] [IDLE] [LARGE] [FAIR_SECONDS]
//! ```
//!
//! Prints one JSON object: requests by status, transport errors, `/ping` percentiles and the
//! RSS samples. The script turns it into the report and the verdicts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

/// The mix each busy connection cycles through: (label, method, path, content type, body).
fn mix() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
)> {
    let record = |v: f64| {
        format!(
            r#"{{"feature_1": {v}, "feature_2": 1.5, "feature_3": 2.5, "feature_4": 3.5, "feature_5": 4.5, "series": "s{}"}}"#,
            (v as i64).rem_euclid(7)
        )
    };
    let ten: Vec<String> = (0..10).map(|i| record(i as f64 * 1.5)).collect();
    vec![
        (
            "json",
            "POST",
            "/invocations",
            "application/json",
            format!("[{}]", ten.join(",")),
        ),
        (
            "json+scores",
            "POST",
            "/invocations?scores=true",
            "application/json",
            format!("[{}]", ten.join(",")),
        ),
        (
            "csv",
            "POST",
            "/invocations",
            "text/csv",
            "1,2,3,4,5\n2,3,4,5,6\n".into(),
        ),
        (
            "extreme",
            "POST",
            "/invocations",
            "application/json",
            format!("[{},{}]", record(1.7e308), record(-1.7e308)),
        ),
        (
            "bad-json",
            "POST",
            "/invocations",
            "application/json",
            "[{\"feature_1\": ".into(),
        ),
        (
            "bad-cell",
            "POST",
            "/invocations",
            "text/csv",
            "1,2,3,4,oops\n".into(),
        ),
        (
            "bad-type",
            "POST",
            "/invocations",
            "application/xml",
            "<a/>".into(),
        ),
        (
            "bad-query",
            "POST",
            "/invocations?scores=maybe",
            "application/json",
            "[]".into(),
        ),
        (
            "lone-surrogate",
            "POST",
            "/invocations",
            "application/json",
            r#"[{"feature_1": 1, "x": "\ud800"}]"#.into(),
        ),
        ("404", "GET", "/nope", "", String::new()),
        ("405", "GET", "/invocations", "", String::new()),
        (
            "runtime",
            "POST",
            "/endpoints/soak/invocations",
            "application/json",
            format!("[{}]", ten.join(",")),
        ),
    ]
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: soak ADDR PID [SECONDS] [CONNECTIONS] [IDLE] [LARGE] [FAIR_SECONDS]";
    let addr: SocketAddr = args.first().expect(usage).parse().expect(usage);
    let pid: u32 = args.get(1).expect(usage).parse().expect(usage);
    let arg = |i: usize, default: u64| args.get(i).map_or(default, |v| v.parse().expect(usage));
    let seconds = arg(2, 60);
    let connections = arg(3, 64) as usize;
    let idle = arg(4, 500) as usize;
    let large = arg(5, 4) as usize;
    let fair_seconds = arg(6, 20);

    let started = Instant::now();
    let stop_at = started + Duration::from_secs(seconds);
    // `busy` stops the mixed connections after phase 1, `running` the rest after phase 2
    let busy = Arc::new(AtomicBool::new(true));
    let running = Arc::new(AtomicBool::new(true));

    // idle sockets: opened, never written to; reopened when the server closes them
    let mut idle_sockets = Vec::new();
    for _ in 0..idle {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            idle_sockets.push(s);
        }
    }
    let idle_open = idle_sockets.len();

    let mut tasks = Vec::new();
    for c in 0..connections {
        let running = busy.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(35))
                .build()
                .unwrap();
            let mix = mix();
            let mut i = c;
            let mut local: BTreeMap<String, u64> = BTreeMap::new();
            while running.load(Ordering::Relaxed) {
                let (label, method, path, content_type, body) = &mix[i % mix.len()];
                i += 1;
                let url = format!("http://{addr}{path}");
                let request = if *method == "GET" {
                    client.get(url)
                } else {
                    client
                        .post(url)
                        .header("content-type", *content_type)
                        .body(body.clone())
                };
                let key = match request.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        format!("{status} {label}")
                    }
                    Err(e) => format!("transport error {label}: {}", e.without_url()),
                };
                *local.entry(key).or_default() += 1;
            }
            local
        }));
    }

    // clients sending 6 MB CSV bodies
    let row = "1.5,2.5,3.5,4.5,5.5\n";
    let big = Arc::new(row.repeat(6 * 1024 * 1024 / row.len() - 1));
    for _ in 0..large {
        let (running, big) = (running.clone(), big.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut local: BTreeMap<String, u64> = BTreeMap::new();
            while running.load(Ordering::Relaxed) {
                let key = match client
                    .post(format!("http://{addr}/invocations"))
                    .header("content-type", "text/csv")
                    .body(big.as_str().to_owned())
                    .send()
                    .await
                {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        format!("{status} large-6MB")
                    }
                    Err(e) => format!("transport error large-6MB: {}", e.without_url()),
                };
                *local.entry(key).or_default() += 1;
            }
            local
        }));
    }

    // the pinger (its own connection, kept alive) and the RSS sampler
    let pinger = |running: Arc<AtomicBool>| {
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            while running.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client.get(format!("http://{addr}/ping")).send().await {
                    Ok(r) if r.status() == 200 => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                    _ => failures += 1,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            latencies.sort_by(f64::total_cmp);
            json!({
                "count": latencies.len(),
                "failures": failures,
                "p50_ms": percentile(&latencies, 0.5),
                "p99_ms": percentile(&latencies, 0.99),
                "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
            })
        })
    };
    let soak_pinger = pinger(busy.clone());
    let mut rss = Vec::new();
    while Instant::now() < stop_at {
        rss.push((started.elapsed().as_secs_f64(), rss_kib(pid).unwrap_or(0)));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    busy.store(false, Ordering::Relaxed);
    let soak_ping = soak_pinger.await.unwrap();
    // phase 2: only the large bodies and the idle sockets beside the pinger
    let fair_pinger = pinger(running.clone());
    tokio::time::sleep(Duration::from_secs(fair_seconds)).await;
    running.store(false, Ordering::Relaxed);
    let fair_ping = fair_pinger.await.unwrap();
    // each client counted its own answers: add them up
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        for (k, v) in t.await.expect("a client task panicked") {
            *statuses.entry(k).or_default() += v;
        }
    }
    drop(idle_sockets);
    println!(
        "{}",
        json!({
            "seconds": seconds,
            "fair_seconds": fair_seconds,
            "connections": connections,
            "idle_sockets": idle_open,
            "large_clients": large,
            "requests": statuses,
            "ping": soak_ping,
            "ping_beside_large_bodies": fair_ping,
            "rss_kib": rss,
        })
    );
}
