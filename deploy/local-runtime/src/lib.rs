//! A stand-in for SageMaker's runtime API (`InvokeEndpoint`) on loopback, for the fault and
//! scale tests: it does what the managed endpoint does between a client and the container
//! instances, and nothing more.
//!
//! * **Routing**: each call goes to the next instance, round-robin, as SageMaker spreads requests
//!   over an endpoint's instances — so a test sees at once whether answers depend on which
//!   instance (or which restart of it) served them.
//! * **Errors, exactly as SageMaker answers them** ([`RuntimeError`]): the container's own error
//!   becomes a `ModelError` (HTTP 424, the container's status inside; the same function
//!   `anomaly-kit serve` uses on its runtime path), an instance that cannot be reached is
//!   `ServiceUnavailable` (503), and throttling is `ThrottlingException` with HTTP **400** — the
//!   status a careless client takes for bad input.
//! * **Fault injection**: a seeded share of calls is answered with throttling.
//!
//! Each answer carries `x-amzn-ErrorType` and a JSON body, which is what the AWS SDKs read.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::{RngExt, SeedableRng};

/// The errors SageMaker's runtime answers itself (the container's are [`model_error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// Too many requests for the account or endpoint: HTTP 400, `ThrottlingException`.
    Throttling,
    /// The request is invalid, e.g. no such endpoint: HTTP 400, `ValidationError`.
    Validation,
    /// A serverless or multi-model endpoint is not ready yet: HTTP 429, `ModelNotReadyException`.
    ModelNotReady,
    /// The service failed: HTTP 500, `InternalFailure`.
    InternalFailure,
    /// The service (or every instance) is unavailable: HTTP 503, `ServiceUnavailable`.
    ServiceUnavailable,
}

impl RuntimeError {
    pub const ALL: [RuntimeError; 5] = [
        RuntimeError::Throttling,
        RuntimeError::Validation,
        RuntimeError::ModelNotReady,
        RuntimeError::InternalFailure,
        RuntimeError::ServiceUnavailable,
    ];

    /// HTTP status, `x-amzn-ErrorType` and message.
    pub fn parts(self, endpoint: &str) -> (StatusCode, &'static str, String) {
        match self {
            RuntimeError::Throttling => (
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded".into(),
            ),
            RuntimeError::Validation => (
                StatusCode::BAD_REQUEST,
                "ValidationError",
                format!("Endpoint {endpoint} of account 000000000000 not found."),
            ),
            RuntimeError::ModelNotReady => (
                StatusCode::TOO_MANY_REQUESTS,
                "ModelNotReadyException",
                "Model is not ready yet. Please try again later.".into(),
            ),
            RuntimeError::InternalFailure => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "An internal error occurred.".into(),
            ),
            RuntimeError::ServiceUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is unavailable. Please try again later.".into(),
            ),
        }
    }

    /// The answer as SageMaker sends it.
    pub fn response(self, endpoint: &str) -> Response {
        let (status, kind, message) = self.parts(endpoint);
        (
            status,
            [("x-amzn-errortype", kind)],
            Json(serde_json::json!({ "message": message })),
        )
            .into_response()
    }
}

/// A container's error as SageMaker passes it on (HTTP 424 `ModelError`).
pub use anomaly_kit_server::model_error;

/// How the stand-in routes and misbehaves.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The container instances' base URLs (`http://127.0.0.1:PORT`), tried round-robin.
    pub instances: Vec<String>,
    /// Share of calls answered with [`RuntimeError::Throttling`] instead of being routed.
    pub throttle_rate: f64,
    /// Seed of the fault draws.
    pub seed: u64,
}

/// What the stand-in did, for the test's tally.
#[derive(Debug, Default)]
pub struct RuntimeCounters {
    pub calls: AtomicU64,
    pub routed: AtomicU64,
    pub throttled: AtomicU64,
    pub unavailable: AtomicU64,
    pub model_errors: AtomicU64,
}

struct Runtime {
    config: RuntimeConfig,
    next: AtomicUsize,
    rng: Mutex<rand_pcg::Pcg64>,
    http: reqwest::Client,
    counters: Arc<RuntimeCounters>,
}

/// The routes: `POST /endpoints/{name}/invocations`, as the SDKs call it.
pub fn router(config: RuntimeConfig, counters: Arc<RuntimeCounters>) -> Router {
    let runtime = Runtime {
        rng: Mutex::new(rand_pcg::Pcg64::seed_from_u64(config.seed)),
        config,
        next: AtomicUsize::new(0),
        http: reqwest::Client::new(),
        counters,
    };
    Router::new()
        .route("/endpoints/{name}/invocations", post(invoke))
        .with_state(Arc::new(runtime))
}

async fn invoke(
    State(rt): State<Arc<Runtime>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = &rt.counters;
    c.calls.fetch_add(1, Ordering::Relaxed);
    let throttle = {
        let mut rng = rt.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.random::<f64>() < rt.config.throttle_rate
    };
    if throttle {
        c.throttled.fetch_add(1, Ordering::Relaxed);
        return RuntimeError::Throttling.response(&name);
    }
    if rt.config.instances.is_empty() {
        c.unavailable.fetch_add(1, Ordering::Relaxed);
        return RuntimeError::ServiceUnavailable.response(&name);
    }
    let at = rt.next.fetch_add(1, Ordering::Relaxed) % rt.config.instances.len();
    let mut url = format!("{}/invocations", rt.config.instances[at]);
    if let Some(q) = query {
        url = format!("{url}?{q}");
    }
    let mut request = rt.http.post(&url).body(body);
    for name in [
        "content-type",
        "accept",
        "x-amzn-sagemaker-custom-attributes",
    ] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.as_bytes());
        }
    }
    let answer = match request.send().await {
        Ok(r) => {
            let status = r.status();
            r.bytes().await.map(|b| (status, b))
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok((status, bytes)) if status.is_success() => {
            c.routed.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                bytes,
            )
                .into_response()
        }
        Ok((status, bytes)) => {
            c.model_errors.fetch_add(1, Ordering::Relaxed);
            model_error(&name, status.as_u16(), &String::from_utf8_lossy(&bytes))
        }
        Err(e) => {
            // an instance being replaced: the caller retries and the next call goes elsewhere
            tracing::warn!(instance = %rt.config.instances[at], error = %e, "instance unreachable");
            c.unavailable.fetch_add(1, Ordering::Relaxed);
            RuntimeError::ServiceUnavailable.response(&name)
        }
    }
}

/// A canned SageMaker error on every call: for tests of a client's error handling.
pub fn always(error: RuntimeError) -> Router {
    Router::new().route(
        "/endpoints/{name}/invocations",
        post(move |Path(name): Path<String>| async move { error.response(&name) }),
    )
}

/// A container error wrapped as SageMaker does, on every call.
pub fn always_model_error(original_status: u16, original_message: &'static str) -> Router {
    Router::new().route(
        "/endpoints/{name}/invocations",
        post(move |Path(name): Path<String>| async move {
            model_error(&name, original_status, original_message)
        }),
    )
}
