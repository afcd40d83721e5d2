//! SageMaker's container contract over HTTP: `GET /ping`, `POST /invocations`, port 8080.
//!
//! SageMaker starts an image as `docker run IMAGE serve` and expects it to answer `/ping` with
//! 200 once it can take traffic, and `/invocations` with predictions. This server:
//!
//! * loads the model **before** it listens, so a missing or corrupt model stops the process with
//!   a message and a non-zero exit instead of a server that answers 500 forever;
//! * also answers `POST /endpoints/{name}/invocations`, the path the AWS SageMaker runtime
//!   clients (boto3, the Rust SDK) call, so they work against a local server unchanged;
//! * answers bad input with 4xx and a JSON `{"error": …}` naming the problem (see
//!   [`crate::contract`]), 413 above the body limit, 408 when a request takes too long;
//! * counts requests, rows, anomalies and warming-up rows at `GET /metrics` (Prometheus text);
//! * finishes in-flight requests on SIGTERM or Ctrl-C before it exits.
//!
//! ## No state
//!
//! The answer to a request depends only on the model and the request
//! ([`crate::detector::Detector::score_request`]): a windowed model gets each series' past **in
//! the request**, as context rows ([`crate::contract`]), and rows without context are windowed in
//! request order from an empty past. So any number of instances, in any order, across restarts
//! and replacements, give byte-identical answers, and no client can fill the server's memory
//! with series. The stream consumer keeps each series' rows ([`crate::stream`]).
//!
//! ## The SageMaker runtime's error shape
//!
//! On AWS, clients never see the container's own error status: SageMaker's runtime answers a
//! container's 4xx or 5xx with HTTP 424 and `x-amzn-ErrorType: ModelError`, carrying the
//! container's status and body as `OriginalStatusCode` and `OriginalMessage`. The runtime path
//! (`/endpoints/{name}/invocations`) answers the same way, so a client tested against this
//! server meets the errors it will meet on AWS; `/invocations` keeps the container's own status.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::contract::{self, ContractError, ErrorBody, Predictions, Rows};
use crate::detector::Scored;
use crate::model::{ModelArtefact, ModelError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

/// SageMaker's model directory, the last place a model is looked for.
pub const SAGEMAKER_MODEL_DIR: &str = "/opt/ml/model";

/// Rows above which scoring moves off the async workers onto a blocking thread.
const BLOCKING_ROWS: usize = 2048;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub host: String,
    pub port: u16,
    /// Larger bodies get 413. SageMaker's own limit for a real-time request is 6 MB.
    pub max_body_bytes: usize,
    /// A request (body included) that takes longer gets 408.
    pub request_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            max_body_bytes: 6 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Where the model comes from: `--model`, else `$MODEL_PATH`, else `/opt/ml/model/`.
pub fn resolve_model_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os("MODEL_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(SAGEMAKER_MODEL_DIR))
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    rows: AtomicU64,
    anomalies: AtomicU64,
    warming_up: AtomicU64,
    client_errors: AtomicU64,
}

/// The server's shared state: the model and the counters (no per-series state).
pub struct App {
    model: ModelArtefact,
    counters: Counters,
}

/// A failed invocation: status and message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl From<ContractError> for ApiError {
    fn from(e: ContractError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl App {
    pub fn new(model: ModelArtefact) -> Self {
        Self {
            model,
            counters: Counters::default(),
        }
    }

    /// Scores a parsed request; each series is windowed from the context the request carries.
    fn score(&self, rows: &Rows) -> Result<Scored, ApiError> {
        self.model
            .detector
            .score_request(rows)
            .map_err(|e| ApiError {
                // the contract already checked width and finiteness, so this is not the client's fault
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("scoring failed: {e}"),
            })
    }
}

/// Whether the caller asked for scores: `?scores=true`, or SageMaker's custom attributes header
/// (`X-Amzn-SageMaker-Custom-Attributes: scores=true`, which SDK clients can set).
fn wants_scores(query: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    let bad = |v: &str| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("scores must be true or false, got '{v}'"),
    };
    let parse = |v: &str| match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(bad(other)),
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = pair.strip_prefix("scores=") {
            return parse(v);
        }
    }
    let attributes = headers
        .get("x-amzn-sagemaker-custom-attributes")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for pair in attributes.split([',', ';']).map(str::trim) {
        if let Some(v) = pair.strip_prefix("scores=") {
            return parse(v);
        }
    }
    Ok(false)
}

async fn ping() -> StatusCode {
    // the model is loaded before the server listens, so answering at all means ready
    StatusCode::OK
}

async fn invocations(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    app.counters.requests.fetch_add(1, Ordering::Relaxed);
    let result = invoke(&app, query.as_deref(), &headers, body).await;
    match result {
        Ok((p, warming_up)) => {
            app.counters
                .rows
                .fetch_add(p.predictions.len() as u64, Ordering::Relaxed);
            app.counters
                .anomalies
                .fetch_add(p.anomaly_count() as u64, Ordering::Relaxed);
            app.counters
                .warming_up
                .fetch_add(warming_up as u64, Ordering::Relaxed);
            Json(p).into_response()
        }
        Err(e) => {
            if e.status.is_client_error() {
                app.counters.client_errors.fetch_add(1, Ordering::Relaxed);
            }
            e.into_response()
        }
    }
}

/// `POST /endpoints/{name}/invocations`: the container's answer as SageMaker's runtime passes
/// it on — success unchanged, any error as a `ModelError` (see the module docs).
async fn runtime_invocations(
    UrlPath(name): UrlPath<String>,
    state: State<Arc<App>>,
    query: RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let response = invocations(state, query, headers, body).await;
    let status = response.status();
    if status.is_success() {
        return response;
    }
    let original = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    model_error(&name, status.as_u16(), &original)
}

/// SageMaker runtime's answer for a container error: 424, `x-amzn-ErrorType: ModelError`, and a
/// JSON body with the container's status and message.
pub fn model_error(endpoint: &str, original_status: u16, original_message: &str) -> Response {
    let kind = if original_status < 500 {
        "client"
    } else {
        "server"
    };
    let log_stream =
        format!("arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints/{endpoint}");
    let body = serde_json::json!({
        "ErrorCode": format!("{}_ERROR_FROM_MODEL", kind.to_ascii_uppercase()),
        "LogStreamArn": log_stream,
        "Message": format!(
            "Received {kind} error ({original_status}) from primary with message \"{original_message}\". See {log_stream} for more information."
        ),
        "OriginalMessage": original_message,
        "OriginalStatusCode": original_status,
    });
    (
        StatusCode::FAILED_DEPENDENCY,
        [("x-amzn-errortype", "ModelError")],
        Json(body),
    )
        .into_response()
}

async fn invoke(
    app: &Arc<App>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Predictions, usize), ApiError> {
    let body = body.map_err(|r| ApiError {
        status: r.status(),
        message: r.body_text(),
    })?;
    let detailed = wants_scores(query, headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)");
    let rows = contract::parse_request(content_type, &body, &app.model.detector.feature_names)?;
    let scored = if rows.values.nrows() > BLOCKING_ROWS {
        let app = Arc::clone(app);
        tokio::task::spawn_blocking(move || app.score(&rows))
            .await
            .map_err(|e| ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("scoring task failed: {e}"),
            })??
    } else {
        app.score(&rows)?
    };
    Ok((
        Predictions::new(&scored, detailed),
        scored.warming_up_count(),
    ))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let c = &app.counters;
    let text = format!(
        "# TYPE anomaly_kit_requests_total counter\nanomaly_kit_requests_total {}\n\
         # TYPE anomaly_kit_rows_total counter\nanomaly_kit_rows_total {}\n\
         # TYPE anomaly_kit_anomalies_total counter\nanomaly_kit_anomalies_total {}\n\
         # TYPE anomaly_kit_warming_up_total counter\nanomaly_kit_warming_up_total {}\n\
         # TYPE anomaly_kit_client_errors_total counter\nanomaly_kit_client_errors_total {}\n",
        c.requests.load(Ordering::Relaxed),
        c.rows.load(Ordering::Relaxed),
        c.anomalies.load(Ordering::Relaxed),
        c.warming_up.load(Ordering::Relaxed),
        c.client_errors.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Logs each request (method, path, status, microseconds) and enforces the request timeout.
async fn log_and_time_out(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = Instant::now();
    let response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(r) => r,
        Err(_) => ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("the request took longer than {timeout:?}"),
        }
        .into_response(),
    };
    tracing::info!(%method, path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    response
}

/// The routes, ready to serve.
pub fn router(app: Arc<App>, config: &ServeConfig) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        .route("/endpoints/{name}/invocations", post(runtime_invocations))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            config.request_timeout,
            log_and_time_out,
        ))
        .with_state(app)
}

/// Loads the model or says why not.
pub fn load_model(path: &Path) -> Result<ModelArtefact, ModelError> {
    ModelArtefact::load(path)
}

/// Binds the listener (so the caller learns the port, even for port 0) and returns a future that
/// serves until `shutdown` completes, then finishes in-flight requests.
pub async fn bind<S>(
    model: ModelArtefact,
    config: &ServeConfig,
    shutdown: S,
) -> std::io::Result<(
    SocketAddr,
    impl Future<Output = std::io::Result<()>> + use<S>,
)>
where
    S: Future<Output = ()> + Send + 'static,
{
    let app = Arc::new(App::new(model));
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    let router = router(app, config);
    Ok((addr, async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }))
}

/// A server running as a task on the current tokio runtime, on a free loopback port.
pub struct LoopbackTask {
    pub addr: SocketAddr,
    /// Sending on it, or dropping it, stops the server after draining.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The server's task; it completes once the server has stopped.
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds the server for `model` to a free port on 127.0.0.1, whatever `config`'s host and port
/// say, and spawns it on the current tokio runtime: the one way tests and the in-process live
/// paths run a server, so none of them can listen beyond loopback.
pub async fn spawn_on_loopback(
    model: ModelArtefact,
    config: ServeConfig,
) -> std::io::Result<LoopbackTask> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig {
        host: "127.0.0.1".into(),
        port: 0,
        ..config
    };
    let (addr, server) = bind(model, &config, async {
        let _ = stopped.await;
    })
    .await?;
    Ok(LoopbackTask {
        addr,
        stop,
        done: tokio::spawn(server),
    })
}

/// The server on a free loopback port with a runtime of its own, for callers that are not async
/// themselves (the walkthrough's live parts). It stops, after draining, when dropped.
pub struct LoopbackServer {
    pub addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl LoopbackServer {
    pub fn start(model: ModelArtefact) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = runtime.block_on(spawn_on_loopback(model, ServeConfig::default()))?;
        Ok(Self {
            addr: server.addr,
            runtime,
            stop: Some(server.stop),
            task: Some(server.done),
        })
    }

    /// Runs `future` (a client call, say) on the server's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = self.runtime.block_on(task);
        }
    }
}

/// Completes on SIGTERM (how SageMaker and Docker stop a container) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
