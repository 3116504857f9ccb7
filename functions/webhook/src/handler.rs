//! One delivery: method → token → size → parse and classify → enqueue, answered in milliseconds.
//!
//! GitLab counts every 4xx and 5xx toward disabling the hook, so an authentic delivery is never
//! answered 4xx for being of a kind we do not sync: it gets `200 {"status":"ignored"}`. Each
//! delivery writes one log line (event, project, iid, outcome, latency), never the payload, the
//! header map or the token.

use std::sync::Arc;
use std::time::Instant;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use qalita_gitlab_core::ports::{Clock, EventQueue, QueueError, SecretError};
use qalita_gitlab_core::webhook::verify::{TokenCheck, WebhookAuthenticator};
use qalita_gitlab_core::webhook::{DeliveryHeaders, IngestError, Ingested, Summary, ingest};
use serde_json::json;

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// The FIFO event queue.
    pub queue: Arc<dyn EventQueue>,
    /// The token check, with its cached secret.
    pub auth: WebhookAuthenticator,
    /// The time stamped on envelopes.
    pub clock: Arc<dyn Clock>,
    /// Larger bodies are refused with `413`.
    pub max_body_bytes: usize,
}

/// How one delivery ended.
#[derive(Debug)]
enum Outcome {
    Queued { summary: Summary, previous_secret: bool },
    Ignored { summary: Summary, reason: String },
    MethodNotAllowed,
    Unauthorized { reason: &'static str },
    TooLarge { size: usize, limit: usize },
    BadRequest { error: IngestError },
    SecretUnavailable { error: SecretError },
    EnqueueFailed { summary: Summary, error: QueueError },
}

/// Answers one API Gateway request. Never fails and never panics: every input gets a response.
pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let started = Instant::now();
    let headers = DeliveryHeaders::from_map(request.headers());
    let outcome = decide(deps, &request, &headers).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    log(&headers, &outcome, latency_ms);
    respond(outcome)
}

async fn decide(deps: &Deps, request: &Request, headers: &DeliveryHeaders<'_>) -> Outcome {
    if request.method() != Method::POST {
        return Outcome::MethodNotAllowed;
    }
    let check = match deps.auth.check(headers.token).await {
        Ok(check) => check,
        Err(error) => return Outcome::SecretUnavailable { error },
    };
    let previous_secret = match check {
        TokenCheck::Current => false,
        TokenCheck::Previous => true,
        TokenCheck::Missing => {
            return Outcome::Unauthorized { reason: "missing X-Gitlab-Token header" };
        }
        TokenCheck::Wrong => {
            return Outcome::Unauthorized { reason: "X-Gitlab-Token does not match the webhook secret" };
        }
    };
    let body: &[u8] = request.body().as_ref();
    if body.len() > deps.max_body_bytes {
        return Outcome::TooLarge { size: body.len(), limit: deps.max_body_bytes };
    }
    match ingest(headers, body, deps.clock.now()) {
        Err(error) => Outcome::BadRequest { error },
        Ok(Ingested::Ignore { reason, summary }) => Outcome::Ignored { summary, reason: reason.to_string() },
        Ok(Ingested::Queue { message, summary, .. }) => match deps.queue.send(&message).await {
            Ok(()) => Outcome::Queued { summary, previous_secret },
            Err(error) => Outcome::EnqueueFailed { summary, error },
        },
    }
}

fn respond(outcome: Outcome) -> Response<Body> {
    let (status, body) = match &outcome {
        Outcome::Queued { .. } => (StatusCode::OK, json!({ "status": "queued" })),
        Outcome::Ignored { reason, .. } => (StatusCode::OK, json!({ "status": "ignored", "reason": reason })),
        Outcome::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, json!({ "status": "rejected", "reason": "only POST is accepted" }))
        }
        Outcome::Unauthorized { reason } => {
            (StatusCode::UNAUTHORIZED, json!({ "status": "rejected", "reason": reason }))
        }
        Outcome::TooLarge { size, limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "status": "rejected", "reason": format!("body of {size} bytes is over the limit of {limit} bytes") }),
        ),
        Outcome::BadRequest { error } => {
            (StatusCode::BAD_REQUEST, json!({ "status": "rejected", "reason": error.to_string() }))
        }
        Outcome::SecretUnavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "error", "reason": "the webhook secret cannot be read; try again later" }),
        ),
        Outcome::EnqueueFailed { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "error", "reason": "the event queue is unavailable; try again later" }),
        ),
    };
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

/// The one log line of a delivery.
fn log(headers: &DeliveryHeaders<'_>, outcome: &Outcome, latency_ms: f64) {
    let event = headers.event.unwrap_or("-");
    let empty = Summary::default();
    let summary = match outcome {
        Outcome::Queued { summary, .. } | Outcome::Ignored { summary, .. } | Outcome::EnqueueFailed { summary, .. } => {
            summary
        }
        _ => &empty,
    };
    let (project, iid) = (summary.project, summary.iid);
    match outcome {
        Outcome::Queued { previous_secret, .. } => {
            tracing::info!(event, project, iid, outcome = "queued", previous_secret, latency_ms, "delivery")
        }
        Outcome::Ignored { reason, .. } => {
            tracing::info!(event, project, iid, outcome = "ignored", reason = %reason, latency_ms, "delivery")
        }
        Outcome::MethodNotAllowed => tracing::warn!(event, outcome = "method_not_allowed", latency_ms, "delivery"),
        Outcome::Unauthorized { reason } => {
            tracing::warn!(event, outcome = "unauthorized", reason, latency_ms, "delivery")
        }
        Outcome::TooLarge { size, limit } => {
            tracing::warn!(event, outcome = "too_large", size, limit, latency_ms, "delivery")
        }
        // The parser's detail can quote payload text: the log gets only the kind of problem.
        Outcome::BadRequest { error } => {
            tracing::warn!(event, outcome = "bad_request", reason = error_class(error), latency_ms, "delivery")
        }
        Outcome::SecretUnavailable { error } => {
            tracing::error!(event, outcome = "secret_unavailable", error = %error, latency_ms, "delivery")
        }
        Outcome::EnqueueFailed { error, .. } => {
            tracing::error!(
                event,
                project,
                iid,
                outcome = "enqueue_failed",
                error_class = error.class(),
                transient = error.is_transient(),
                latency_ms,
                "delivery"
            )
        }
    }
}

fn error_class(error: &IngestError) -> String {
    match error {
        IngestError::NotJson { .. } => "body is not valid JSON".into(),
        IngestError::NotAnObject { found } => format!("body is {found}, not an object"),
        IngestError::MissingObjectKind => "body has no object_kind".into(),
        IngestError::MissingField { path } => format!("{path} is missing"),
        IngestError::BadField { path, .. } => format!("{path} is invalid"),
    }
}

#[cfg(test)]
mod tests;
