//! One delivery: method → token → size → parse and classify → enqueue, answered in milliseconds.
//!
//! GitLab counts every 4xx and 5xx toward disabling the hook, so an authentic delivery is never
//! answered 4xx for being of a kind we do not sync: it gets `200 {"status":"ignored"}`. Each
//! delivery writes one log line (event, project, iid, outcome, latency), never the payload, the
//! header map or the token.

use std::time::Instant;

use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use qalita_gitlab_core::metrics::{self, DeliveryOutcome, Figure, Origin};
use qalita_gitlab_core::ports::{QueueError, SecretError};
use qalita_gitlab_core::webhook::qalita::QALITA_WEBHOOK_PATH;
use qalita_gitlab_core::webhook::verify::{Rejection, Verdict};
use qalita_gitlab_core::webhook::{DeliveryHeaders, IgnoreReason, IngestError, Ingested, Summary, ingest};
use serde_json::json;

use crate::deps::json_response;
pub use crate::deps::{Deps, QalitaDeps};

/// How one delivery ended.
#[derive(Debug)]
enum Outcome {
    Queued { summary: Summary, previous_secret: bool },
    Ignored { summary: Summary, reason: String },
    MethodNotAllowed,
    Unauthorized { rejection: Rejection },
    TooLargeToVerify { size: usize, limit: usize },
    BadRequest { error: IngestError },
    SecretUnavailable { error: SecretError },
    EnqueueFailed { summary: Summary, error: QueueError },
}

impl Outcome {
    /// The outcome the metrics count.
    fn figure(&self) -> DeliveryOutcome {
        match self {
            Outcome::Queued { .. } => DeliveryOutcome::Queued,
            Outcome::Ignored { .. } => DeliveryOutcome::Ignored,
            Outcome::Unauthorized { .. } => DeliveryOutcome::Rejected,
            Outcome::MethodNotAllowed | Outcome::TooLargeToVerify { .. } | Outcome::BadRequest { .. } => {
                DeliveryOutcome::Malformed
            }
            Outcome::SecretUnavailable { .. } | Outcome::EnqueueFailed { .. } => DeliveryOutcome::Unavailable,
        }
    }
}

/// Answers one API Gateway request. Never fails and never panics: every input gets a response.
/// The QALITA route's path goes to [`crate::qalita`]; every other path is GitLab's (the HTTP API
/// routes only the two).
pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    if is_qalita(request.uri().path()) {
        return crate::qalita::handle(deps, &request).await;
    }
    let started = Instant::now();
    let headers = DeliveryHeaders::from_map(request.headers());
    let outcome = decide(deps, &request, &headers).await;
    finish(&headers, outcome, started)
}

/// What the method and headers alone decide, for a server that has not read the body yet:
/// `None` when the body is worth reading, else the answer (logged like any delivery). An
/// unauthenticated client is refused before it can make the server hold its body.
pub async fn screen(deps: &Deps, path: &str, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
    if is_qalita(path) {
        return crate::qalita::screen(deps, method, headers).await;
    }
    let started = Instant::now();
    let headers = DeliveryHeaders::from_map(headers);
    let outcome = match screen_headers(deps, method, &headers).await {
        Ok(_) => return None,
        Err(outcome) => outcome,
    };
    Some(finish(&headers, outcome, started))
}

/// The answer to a delivery whose body is over `max_body_bytes`, for a server that stopped reading
/// it there (call [`screen`] first). Authenticated by its token, it is acknowledged and ignored (a
/// resend would be as large); when a signature over the whole body is required, it cannot be
/// authenticated and gets `413`.
pub async fn over_limit(deps: &Deps, path: &str, headers: &HeaderMap, size: usize) -> Response<Body> {
    if is_qalita(path) {
        return crate::qalita::over_limit(deps, headers, size);
    }
    let started = Instant::now();
    let headers = DeliveryHeaders::from_map(headers);
    let outcome = match deps.auth.mode().requires_body() {
        true => Outcome::TooLargeToVerify { size, limit: deps.max_body_bytes },
        false => Outcome::Ignored {
            summary: Summary::default(),
            reason: IgnoreReason::TooLarge { bytes: size, limit: deps.max_body_bytes, what: "body" }.to_string(),
        },
    };
    finish(&headers, outcome, started)
}

/// Whether a request's path is the QALITA route's (under any stage prefix).
fn is_qalita(path: &str) -> bool {
    path.trim_end_matches('/').ends_with(QALITA_WEBHOOK_PATH)
}

fn finish(headers: &DeliveryHeaders<'_>, outcome: Outcome, started: Instant) -> Response<Body> {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    log(headers, &outcome, latency_ms);
    metrics::count(Figure::Delivery(Origin::Gitlab, outcome.figure()));
    respond(outcome)
}

/// The method and the header checks: `Ok(previous_secret)` or the outcome that ends the delivery.
async fn screen_headers(deps: &Deps, method: &Method, headers: &DeliveryHeaders<'_>) -> Result<bool, Outcome> {
    if method != Method::POST {
        return Err(Outcome::MethodNotAllowed);
    }
    match deps.auth.check_headers(headers).await {
        Ok(Verdict::Accepted { previous }) => Ok(previous),
        Ok(Verdict::Rejected(rejection)) => Err(Outcome::Unauthorized { rejection }),
        Err(error) => Err(Outcome::SecretUnavailable { error }),
    }
}

async fn decide(deps: &Deps, request: &Request, headers: &DeliveryHeaders<'_>) -> Outcome {
    if let Err(outcome) = screen_headers(deps, request.method(), headers).await {
        return outcome;
    }
    let body: &[u8] = request.body().as_ref();
    let previous_secret = match deps.auth.check(headers, body).await {
        Ok(Verdict::Accepted { previous }) => previous,
        Ok(Verdict::Rejected(rejection)) => return Outcome::Unauthorized { rejection },
        Err(error) => return Outcome::SecretUnavailable { error },
    };
    if body.len() > deps.max_body_bytes {
        let reason = IgnoreReason::TooLarge { bytes: body.len(), limit: deps.max_body_bytes, what: "body" };
        return Outcome::Ignored { summary: Summary::default(), reason: reason.to_string() };
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
        Outcome::Unauthorized { rejection } => {
            (StatusCode::UNAUTHORIZED, json!({ "status": "rejected", "reason": rejection.reason() }))
        }
        Outcome::TooLargeToVerify { size, limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "status": "rejected", "reason": format!("body of at least {size} bytes is over the limit of {limit} bytes, and only its signature could authenticate it") }),
        ),
        Outcome::BadRequest { error } => {
            (StatusCode::BAD_REQUEST, json!({ "status": "rejected", "reason": error.to_string() }))
        }
        Outcome::SecretUnavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "error", "reason": "the webhook secret cannot be read or is unusable; try again later" }),
        ),
        Outcome::EnqueueFailed { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "error", "reason": "the event queue is unavailable; try again later" }),
        ),
    };
    json_response(status, &body)
}

/// The one log line of a delivery.
fn log(headers: &DeliveryHeaders<'_>, outcome: &Outcome, latency_ms: f64) {
    let event = headers.event_for_log();
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
        Outcome::Unauthorized { rejection } => {
            tracing::warn!(event, outcome = "unauthorized", reason = rejection.as_str(), latency_ms, "delivery")
        }
        Outcome::TooLargeToVerify { size, limit } => {
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
