//! The simulator without a port: the same request pipeline ([`super::server::handle`]) called in
//! process by the real client through its [`Exchange`] seam, the time read from a given clock, and
//! the webhook deliveries kept for the caller to deliver (or drop, repeat, reorder) itself. This is
//! what the deterministic simulation of the whole sync runs on: no socket, no task, no timer.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use chrono::TimeDelta;
use qalita_gitlab_core::adapters::http::{Exchange, NoAnswer};
use qalita_gitlab_core::ports::{Clock, TransientKind};

use super::webhook::OutgoingDelivery;
use super::{Front, GitlabSim, Shared, SimConfig, SimState, server};
use crate::kit::{Connection, TickClock};

/// The largest answer read back (GitLab's pages are far below it).
const ANSWER_LIMIT: usize = 64 * 1024 * 1024;

impl GitlabSim {
    /// A simulator answered in process: `base` is the instance URL it renders in its pages
    /// (`web_url`) and the client is given; its time is `clock`'s. Give the client
    /// [`GitlabSim::exchange`]; take the webhook deliveries with [`GitlabSim::take_deliveries`].
    pub fn in_process(config: SimConfig, base: &str, clock: Arc<dyn Clock>) -> Self {
        let (jobs, outbox) = tokio::sync::mpsc::unbounded_channel();
        let state = SimState::new(&config, jobs, TickClock::reading(TimeDelta::milliseconds(1), clock));
        let shared = Arc::new(Shared { state: Mutex::new(state), base: base.trim_end_matches('/').to_owned() });
        GitlabSim { shared, front: Front::InProcess { outbox: Mutex::new(outbox) } }
    }

    /// What answers the client's requests in process (for `GitlabClient::with_exchange`).
    pub fn exchange(&self) -> Arc<dyn Exchange> {
        Arc::new(InProcess(self.shared.clone()))
    }

    /// The deliveries made since the last call, oldest first (none for a simulator on a port,
    /// which sends its own).
    pub fn take_deliveries(&self) -> Vec<OutgoingDelivery> {
        let Front::InProcess { outbox } = &self.front else { return Vec::new() };
        let mut outbox = outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::iter::from_fn(|| outbox.try_recv().ok()).map(OutgoingDelivery::from).collect()
    }
}

/// The in-process answerer.
struct InProcess(Arc<Shared>);

#[async_trait]
impl Exchange for InProcess {
    async fn exchange(&self, request: reqwest::Request) -> Result<reqwest::Response, NoAnswer> {
        let method = Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or(Method::GET);
        let url = request.url();
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let uri: Uri = target.parse().map_err(|_| NoAnswer {
            kind: TransientKind::Transport,
            message: format!("not a request target: {target}"),
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in request.headers() {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(name.as_str().as_bytes()),
                axum::http::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.append(name, value);
            }
        }
        let body = Bytes::copy_from_slice(request.body().and_then(reqwest::Body::as_bytes).unwrap_or_default());
        let connection = Connection::default();
        let response =
            server::handle(State(self.0.clone()), ConnectInfo(connection.clone()), method, uri, headers, body).await;
        if connection.is_cut() {
            return Err(NoAnswer {
                kind: TransientKind::Transport,
                message: "connection closed without an answer".into(),
            });
        }
        into_reqwest(response).await
    }
}

/// An axum answer as the client reads one.
pub(crate) async fn into_reqwest(response: axum::response::Response) -> Result<reqwest::Response, NoAnswer> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, ANSWER_LIMIT)
        .await
        .map_err(|error| NoAnswer { kind: TransientKind::Transport, message: error.to_string() })?;
    let mut answer = axum::http::Response::builder().status(parts.status.as_u16());
    for (name, value) in &parts.headers {
        answer = answer.header(name.as_str(), value.as_bytes());
    }
    let answer = answer
        .body(bytes.to_vec())
        .map_err(|error| NoAnswer { kind: TransientKind::Transport, message: error.to_string() })?;
    Ok(reqwest::Response::from(answer))
}
