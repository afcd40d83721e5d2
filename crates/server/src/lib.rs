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
//!   [`anomaly_kit::contract`]), 413 above the body limit, 408 when a request takes too long;
//! * counts requests, rows, anomalies and warming-up rows at `GET /metrics` (Prometheus text);
//! * finishes in-flight requests on SIGTERM or Ctrl-C before it exits, for at most the drain
//!   time; a second signal exits at once.
//!
//! ## Hostile and careless clients
//!
//! Every resource a client can hold is bounded by [`ServeConfig`]:
//!
//! * **connections**: at most `max_connections` are open; further clients wait in the listen
//!   backlog. The process's open-file limit is raised to fit, or the cap lowered to fit it.
//! * **time**: a request head must arrive within `header_read_timeout` of the connection (or
//!   the previous response), which also closes idle keep-alive connections and connections that
//!   trickle header bytes (slowloris); a whole request gets `request_timeout` before 408.
//! * **memory**: a body above `max_body_bytes` is refused with 413 as soon as its
//!   `Content-Length` says so, before a byte of it is read. Bodies above
//!   [`LARGE_BODY_BYTES`] (or of unknown length) are read, parsed and scored at most
//!   `max_large_bodies` at a time (by default one fewer than the cores, so one core stays
//!   with the async workers), off the async workers — parsing a 6 MB CSV body takes about 20×
//!   its size in memory, so the server's peak is about `max_large_bodies × 20 × max_body_bytes`
//!   plus `max_connections × LARGE_BODY_BYTES` (about 125 MB per large body and 64 MB), and
//!   `/ping` is answered while they run.
//! * **every answer** is JSON, 404 and 405 included, and quotes what the client sent only up to
//!   [`anomaly_kit::contract::MAX_QUOTED_CHARS`] characters.
//!
//! ## No state
//!
//! The answer to a request depends only on the model and the request
//! ([`anomaly_kit::detector::Detector::score_request`]): a windowed model gets each series' past **in
//! the request**, as context rows ([`anomaly_kit::contract`]), and rows without context are windowed in
//! request order from an empty past. So any number of instances, in any order, across restarts
//! and replacements, give byte-identical answers, and no client can fill the server's memory
//! with series. The stream consumer keeps each series' rows ([`anomaly_kit::stream`]).
//!
//! ## The SageMaker runtime's error shape
//!
//! On AWS, clients never see the container's own error status: SageMaker's runtime answers a
//! container's 4xx or 5xx with HTTP 424 and `x-amzn-ErrorType: ModelError`, carrying the
//! container's status and body as `OriginalStatusCode` and `OriginalMessage`. The runtime path
//! (`/endpoints/{name}/invocations`) answers the same way, so a client tested against this
//! server meets the errors it will meet on AWS; `/invocations` keeps the container's own status.

pub mod live;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anomaly_kit::contract::{self, ContractError, ErrorBody, Predictions, Rows};
use anomaly_kit::detector::Scored;
use anomaly_kit::model::{ModelArtefact, ModelError};
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

/// Bodies above this size (or of unknown size) are parsed and scored on a blocking thread, and
/// at most [`ServeConfig::max_large_bodies`] of them at once; smaller ones are answered inline.
pub const LARGE_BODY_BYTES: usize = 64 * 1024;

/// How the server runs. Every field bounds something a client could otherwise hold forever;
/// see the [module docs](self).
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Larger bodies get 413. SageMaker's own limit for a real-time request is 6 MB.
    pub max_body_bytes: usize,
    /// A request (body included) that takes longer gets 408.
    pub request_timeout: Duration,
    /// A request head must be complete within this time of the connection opening or of the
    /// previous response; otherwise the connection is closed. Also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// Open connections at most; more clients wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Bodies above [`LARGE_BODY_BYTES`] read, parsed and scored at once, at most; others wait
    /// (inside their `request_timeout`). Default: [`default_large_bodies`].
    pub max_large_bodies: usize,
    /// After a stop signal, in-flight requests get this long to finish before every remaining
    /// connection is closed.
    pub drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            max_body_bytes: 6 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            // SageMaker and boto3 keep connections to the container alive between calls; 60 s
            // outlasts their pauses without letting a silent socket stay forever
            header_read_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_large_bodies: default_large_bodies(),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// One fewer than the cores (at least 1, at most 4): large bodies are CPU-bound, and a core
/// left to the async workers keeps `/ping` and small requests fast beside them.
pub fn default_large_bodies() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 4)
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

    /// Parses and scores a body: the answer and how many of its rows were warming up.
    fn answer(
        &self,
        content_type: &str,
        body: &[u8],
        detailed: bool,
    ) -> Result<(Predictions, usize), ApiError> {
        let rows = contract::parse_request(content_type, body, &self.model.detector.feature_names)?;
        let scored = self.score(&rows)?;
        Ok((
            Predictions::new(&scored, detailed),
            scored.warming_up_count(),
        ))
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
        message: format!(
            "scores must be true or false, got '{}'",
            contract::bounded(v)
        ),
    };
    let parse = |v: &str| match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(bad(other)),
    };
    // percent-decoded, as any client library encodes it (`?scores=%74rue` is `?scores=true`)
    for (key, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "scores" {
            return parse(&v);
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
        .unwrap_or("(none)")
        .to_string();
    if body.len() <= LARGE_BODY_BYTES {
        return app.answer(&content_type, &body, detailed);
    }
    // a large body takes tens of milliseconds to parse and score: off the async workers, so
    // /ping and small requests keep being answered meanwhile
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || app.answer(&content_type, &body, detailed))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("scoring task failed: {e}"),
        })?
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

/// 404 for a path the server does not have, as JSON like every other answer.
async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "no route {}: the server answers GET /ping, POST /invocations, POST /endpoints/{{name}}/invocations and GET /metrics",
            contract::bounded(uri.path())
        ),
    }
}

/// 405 for a known path with the wrong method (axum adds the `Allow` header).
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{} is not allowed on {}",
            contract::bounded(method.as_str()),
            contract::bounded(uri.path())
        ),
    }
}

/// What the body gate needs: the limit and the permits for large bodies.
#[derive(Clone)]
struct BodyGate {
    /// For the counters: a request refused here is still a request and a client error.
    app: Arc<App>,
    max_body_bytes: usize,
    large_bodies: Arc<tokio::sync::Semaphore>,
}

/// Answers 413 at once when `Content-Length` is over the limit (before reading a byte of the
/// body), and lets at most `max_large_bodies` large or unsized bodies in at a time.
async fn gate_bodies(State(gate): State<BodyGate>, request: Request, next: Next) -> Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = length
        && n > gate.max_body_bytes as u64
    {
        let counters = &gate.app.counters;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        counters.client_errors.fetch_add(1, Ordering::Relaxed);
        let mut response = ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the body is {n} bytes, more than the {}-byte limit",
                gate.max_body_bytes
            ),
        }
        .into_response();
        // the unread body is not worth draining: close the connection after answering
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    }
    // no Content-Length and no Transfer-Encoding means no body at all (a GET /ping)
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    let small = match length {
        Some(n) => n <= LARGE_BODY_BYTES as u64,
        None => !chunked,
    };
    let _permit = if small {
        None
    } else {
        // waiting here counts against the request timeout (the layer outside this one)
        Some(
            Arc::clone(&gate.large_bodies)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        )
    };
    next.run(request).await
}

/// The routes, ready to serve.
pub fn router(app: Arc<App>, config: &ServeConfig) -> Router {
    let gate = BodyGate {
        app: Arc::clone(&app),
        max_body_bytes: config.max_body_bytes,
        large_bodies: Arc::new(tokio::sync::Semaphore::new(config.max_large_bodies.max(1))),
    };
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        .route("/endpoints/{name}/invocations", post(runtime_invocations))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(gate, gate_bodies))
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

/// Raises the soft open-file limit towards the hard one so `max_connections` sockets fit, and
/// returns the connection cap that fits (lowered, with a warning, if the limit cannot be raised).
fn fit_connection_cap(wanted: usize) -> usize {
    // listener, logs, the model file, blocking threads' files: leave room beyond the sockets
    const SPARE: u64 = 64;
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let needed = wanted as u64 + SPARE;
        let soft = limit.current.unwrap_or(u64::MAX);
        if soft >= needed {
            return wanted;
        }
        let hard = limit.maximum.unwrap_or(u64::MAX);
        let raised = needed.min(hard);
        let soft = match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(raised),
                maximum: limit.maximum,
            },
        ) {
            Ok(()) => raised,
            Err(_) => soft,
        };
        let fits = (soft.saturating_sub(SPARE) as usize).clamp(1, wanted);
        if fits < wanted {
            tracing::warn!(
                wanted,
                fits,
                open_file_limit = soft,
                "the open-file limit cannot hold max_connections sockets: capping connections lower"
            );
        }
        fits
    }
    #[cfg(not(unix))]
    {
        wanted
    }
}

/// Binds the listener (so the caller learns the port, even for port 0) and returns a future that
/// serves until `shutdown` completes, then drains for at most `config.drain_timeout`.
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
    let config = config.clone();
    Ok((addr, accept_loop(listener, router, config, shutdown)))
}

/// Accepts connections (at most `max_connections` open), serves each with hyper's HTTP/1
/// connection and a header-read timeout, and on `shutdown` stops accepting, asks every
/// connection to finish its request and close, and closes what is left after the drain time.
async fn accept_loop<S>(
    listener: tokio::net::TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: S,
) -> std::io::Result<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let cap = fit_connection_cap(config.max_connections.max(1));
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {} // reap finished connections
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // a connection reset before accept, or out of file descriptors: not fatal
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            drain_timeout = ?config.drain_timeout,
            "connections still open after the drain time: closing them"
        );
    }
    connections.shutdown().await;
    Ok(())
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

/// Completes on SIGTERM (how SageMaker and Docker stop a container) or Ctrl-C. A second
/// signal after that exits the process at once, with status 130, whatever is still draining.
pub async fn shutdown_signal() {
    one_signal().await;
    tracing::info!("shutting down: finishing in-flight requests (a second signal exits at once)");
    tokio::spawn(async {
        one_signal().await;
        tracing::warn!("second signal: exiting without waiting for the drain");
        std::process::exit(130);
    });
}

async fn one_signal() {
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
}
