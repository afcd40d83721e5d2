//! The walkthrough's live stream through the real server: [`anomaly_kit::live`] with each
//! consumer batch sent over HTTP to this crate's server on a loopback port.

use anomaly_kit::frame::Table;
use anomaly_kit::live::{self, LiveError, LiveEvent, LiveOptions, LiveReport, LiveScorer};
use anomaly_kit::stream::{
    self, BoxFuture, Consumer, Endpoint, EndpointError, InMemoryFailures, InMemoryStore,
};

use crate::LoopbackServer;

/// A server's `/invocations`, through a real HTTP client.
pub struct HttpEndpoint {
    client: reqwest::Client,
    url: String,
}

impl HttpEndpoint {
    /// The endpoint at `url` (for example `http://127.0.0.1:8080/invocations?scores=true`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: url.into(),
        }
    }
}

impl Endpoint for HttpEndpoint {
    fn invoke(&self, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, EndpointError>> {
        Box::pin(async move {
            let unavailable = |e: reqwest::Error| EndpointError::Unavailable(e.to_string());
            let response = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(unavailable)?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(unavailable)?.to_vec();
            let text = || String::from_utf8_lossy(&bytes).into_owned();
            match status.as_u16() {
                200..=299 => Ok(bytes),
                s if stream::refused_by_model(s) => Err(EndpointError::Rejected {
                    status: s,
                    message: text(),
                }),
                s => Err(EndpointError::Unavailable(format!("HTTP {s}: {}", text()))),
            }
        })
    }
}

/// Streams `table` through `scorer`: a [`anomaly_kit::model::ModelArtefact`] is served by the
/// real server on a loopback port and called over HTTP (the tutorial's path); an online model is
/// run by the consumer itself, as in [`anomaly_kit::live::run_live`]. `on_event` sees progress
/// and anomalies.
pub fn run_live(
    scorer: impl Into<LiveScorer>,
    table: &Table,
    options: &LiveOptions,
    on_event: impl FnMut(LiveEvent<'_>),
) -> Result<LiveReport, LiveError> {
    let scorer = scorer.into();
    let LiveScorer::Served(model) = &scorer else {
        return live::run_live(scorer, table, options, on_event);
    };
    let server = LoopbackServer::start((**model).clone())?;
    let addr = server.addr;
    let endpoint = HttpEndpoint::new(format!("http://{addr}/invocations?scores=true"));
    let (store, failures) = (InMemoryStore::default(), InMemoryFailures::default());
    let consumer = Consumer::new(&endpoint, &store, &failures);
    let described_as = format!("http://{addr}/invocations");
    live::run_live_through(
        &consumer,
        &described_as,
        &scorer,
        &server,
        table,
        options,
        on_event,
    )
}

impl live::Executor for LoopbackServer {
    fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.block_on(future)
    }
}
