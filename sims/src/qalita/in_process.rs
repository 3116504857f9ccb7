//! The simulator without a port: its router called in process by the real client through its
//! [`Exchange`] seam, its time read from a given clock. What the deterministic simulation of the
//! whole sync runs on: no socket, no task, no timer. It sends no change events (a tenant without a
//! bridge: the sync finds changes by polling).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::TimeDelta;
use qalita_gitlab_core::adapters::http::{Exchange, NoAnswer};
use qalita_gitlab_core::ports::{Clock, TransientKind};
use tower::ServiceExt;

use super::store::Store;
use super::{Front, QalitaSim, Shared, SimOptions, events, routes};
use crate::kit::TickClock;

impl QalitaSim {
    /// A simulator answered in process at `base` (the URL the client is given), accepting
    /// `token`, its time `clock`'s. Give the client [`QalitaSim::exchange`].
    ///
    /// # Panics
    /// When the API prefix does not start with `/`.
    pub fn in_process(token: &str, options: impl Into<SimOptions>, base: &str, clock: Arc<dyn Clock>) -> Self {
        let options = options.into();
        assert!(options.api_prefix.starts_with('/'), "the API prefix starts with `/`: {:?}", options.api_prefix);
        let shared = Arc::new(Shared {
            token: Mutex::new(token.to_owned()),
            options,
            store: Mutex::new(Store::with_clock(TickClock::reading(TimeDelta::microseconds(1), clock))),
            faults: Mutex::default(),
            journal: Mutex::default(),
            events: events::Emitter::default(),
        });
        let router = routes::router(shared.clone());
        QalitaSim { front: Front::InProcess { router, base: base.trim_end_matches('/').to_owned() }, shared }
    }

    /// What answers the client's requests in process (for `QalitaClient::with_exchange`); `None`
    /// for a simulator on a port.
    pub fn exchange(&self) -> Option<Arc<dyn Exchange>> {
        match &self.front {
            Front::InProcess { router, .. } => Some(Arc::new(InProcess(router.clone()))),
            Front::Loopback { .. } => None,
        }
    }
}

/// The in-process answerer.
struct InProcess(axum::Router);

#[async_trait]
impl Exchange for InProcess {
    async fn exchange(&self, request: reqwest::Request) -> Result<reqwest::Response, NoAnswer> {
        let url = request.url();
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut builder = axum::http::Request::builder().method(request.method().as_str()).uri(target);
        for (name, value) in request.headers() {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let body = request.body().and_then(reqwest::Body::as_bytes).unwrap_or_default().to_vec();
        let request = builder
            .body(axum::body::Body::from(body))
            .map_err(|error| NoAnswer { kind: TransientKind::Transport, message: error.to_string() })?;
        let response = match self.0.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        crate::gitlab::into_reqwest(response).await
    }
}
