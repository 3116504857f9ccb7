//! What both routes' handlers need, built once per cold start, and how they answer: the layer
//! below the `handler` module (which dispatches by path) and the `qalita` module, which both use it
//! (it uses neither).

use std::sync::Arc;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use qalita_gitlab_core::ports::{Clock, EventQueue};
use qalita_gitlab_core::webhook::qalita::QalitaRoute;
use qalita_gitlab_core::webhook::qalita::auth::QalitaAuthenticator;
use qalita_gitlab_core::webhook::verify::WebhookAuthenticator;

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// The FIFO event queue.
    pub queue: Arc<dyn EventQueue>,
    /// The token and signature checks, with their cached secrets.
    pub auth: WebhookAuthenticator,
    /// The time stamped on envelopes.
    pub clock: Arc<dyn Clock>,
    /// Larger bodies are not read: `200 ignored` once authenticated by token (a resend would be
    /// as large), `413` when only a signature over the whole body could authenticate them.
    pub max_body_bytes: usize,
    /// The QALITA route (`POST /api/v2/integrations/qalita/webhook`), when configured.
    pub qalita: Option<QalitaDeps>,
}

/// The QALITA route's checks and settings.
#[derive(Debug)]
pub struct QalitaDeps {
    /// The shared secret's checks.
    pub auth: QalitaAuthenticator,
    /// Where the event and the issue id are read.
    pub route: QalitaRoute,
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}
