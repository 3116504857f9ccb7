//! One QALITA delivery (`POST /api/v2/integrations/qalita/webhook`): method → route configured →
//! proof → size → read the event's name and issue id → enqueue the id-only event of the issue's
//! group. Each delivery writes one log line (route, event, issue, outcome, latency), never the
//! payload, the headers or the secret.
//!
//! The answers: `200 queued`; `200 ignored` for an event about neither an issue nor a comment;
//! `400` for a body the route cannot read (the reason says what is missing where); `401` without
//! a valid proof; `404` when the route is not configured; `405`, `413`; `503` when the secret or
//! the queue cannot be reached (the sender retries).

use std::time::Instant;

use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use qalita_gitlab_core::metrics::{self, DeliveryOutcome, Figure, Origin};
use qalita_gitlab_core::ports::{QueueError, SecretError};
use qalita_gitlab_core::webhook::qalita::auth::{QalitaRejection, QalitaVerdict};
use qalita_gitlab_core::webhook::qalita::{QalitaHeaders, QalitaIngestError, QalitaIngested, QalitaSummary, ingest};
use serde_json::json;

use crate::deps::{Deps, QalitaDeps, json_response};

/// How one delivery ended.
#[derive(Debug)]
enum Outcome {
    Queued { summary: QalitaSummary, previous_secret: bool },
    Ignored { summary: QalitaSummary },
    NotConfigured,
    MethodNotAllowed,
    Unauthorized { rejection: QalitaRejection },
    TooLarge { size: usize, limit: usize },
    BadRequest { error: QalitaIngestError },
    SecretUnavailable { error: SecretError },
    EnqueueFailed { summary: QalitaSummary, error: QueueError },
}

impl Outcome {
    /// The outcome the metrics count.
    fn figure(&self) -> DeliveryOutcome {
        match self {
            Outcome::Queued { .. } => DeliveryOutcome::Queued,
            Outcome::Ignored { .. } => DeliveryOutcome::Ignored,
            Outcome::Unauthorized { .. } => DeliveryOutcome::Rejected,
            Outcome::NotConfigured
            | Outcome::MethodNotAllowed
            | Outcome::TooLarge { .. }
            | Outcome::BadRequest { .. } => DeliveryOutcome::Malformed,
            Outcome::SecretUnavailable { .. } | Outcome::EnqueueFailed { .. } => DeliveryOutcome::Unavailable,
        }
    }
}

/// Answers one delivery to the QALITA route. Never fails and never panics.
pub async fn handle(deps: &Deps, request: &Request) -> Response<Body> {
    let started = Instant::now();
    let outcome = decide(deps, request).await;
    finish(outcome, started)
}

/// What the method and headers alone decide (the QALITA route's part of the handler's `screen`).
pub async fn screen(deps: &Deps, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
    let started = Instant::now();
    match screen_headers(deps, method, headers).await {
        Ok(_) => None,
        Err(outcome) => Some(finish(outcome, started)),
    }
}

/// A body over the limit: `413` (the event and the issue id fit in far less).
pub fn over_limit(deps: &Deps, _headers: &HeaderMap, size: usize) -> Response<Body> {
    finish(Outcome::TooLarge { size, limit: deps.max_body_bytes }, Instant::now())
}

/// The route, the method and the proof the headers carry: the route's settings when the body is
/// worth reading, else the outcome that ends the delivery.
async fn screen_headers<'d>(deps: &'d Deps, method: &Method, headers: &HeaderMap) -> Result<&'d QalitaDeps, Outcome> {
    let Some(qalita) = deps.qalita.as_ref() else {
        return Err(Outcome::NotConfigured);
    };
    if method != Method::POST {
        return Err(Outcome::MethodNotAllowed);
    }
    match qalita.auth.check_headers(&QalitaHeaders::from_map(&qalita.route, headers)).await {
        Ok(QalitaVerdict::Rejected(rejection)) => Err(Outcome::Unauthorized { rejection }),
        Ok(_) => Ok(qalita),
        Err(error) => Err(Outcome::SecretUnavailable { error }),
    }
}

async fn decide(deps: &Deps, request: &Request) -> Outcome {
    let qalita = match screen_headers(deps, request.method(), request.headers()).await {
        Ok(qalita) => qalita,
        Err(outcome) => return outcome,
    };
    let headers = QalitaHeaders::from_map(&qalita.route, request.headers());
    let body: &[u8] = request.body().as_ref();
    if body.len() > deps.max_body_bytes {
        return Outcome::TooLarge { size: body.len(), limit: deps.max_body_bytes };
    }
    let previous_secret = match qalita.auth.check(&headers, body).await {
        Ok(QalitaVerdict::Accepted { previous }) => previous,
        Ok(QalitaVerdict::Rejected(rejection)) => return Outcome::Unauthorized { rejection },
        Ok(QalitaVerdict::NeedsBody) => return Outcome::Unauthorized { rejection: QalitaRejection::WrongSignature },
        Err(error) => return Outcome::SecretUnavailable { error },
    };
    match ingest(&qalita.route, &headers, body, deps.clock.now()) {
        Err(error) => Outcome::BadRequest { error },
        Ok(QalitaIngested::Ignore { summary }) => Outcome::Ignored { summary },
        Ok(QalitaIngested::Queue { message, summary }) => match deps.queue.send(&message).await {
            Ok(()) => Outcome::Queued { summary, previous_secret },
            Err(error) => Outcome::EnqueueFailed { summary, error },
        },
    }
}

fn finish(outcome: Outcome, started: Instant) -> Response<Body> {
    log(&outcome, started.elapsed().as_secs_f64() * 1000.0);
    metrics::count(Figure::Delivery(Origin::Qalita, outcome.figure()));
    respond(&outcome)
}

fn respond(outcome: &Outcome) -> Response<Body> {
    let rejected = |status, reason: &str| (status, json!({ "status": "rejected", "reason": reason }));
    let (status, body) = match outcome {
        Outcome::Queued { .. } => (StatusCode::OK, json!({ "status": "queued" })),
        Outcome::Ignored { .. } => (
            StatusCode::OK,
            json!({ "status": "ignored", "reason": "the event is about neither an issue nor a comment" }),
        ),
        Outcome::NotConfigured => rejected(
            StatusCode::NOT_FOUND,
            "the QALITA webhook route is not configured (no QALITA webhook secret is set)",
        ),
        Outcome::MethodNotAllowed => rejected(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted"),
        Outcome::Unauthorized { rejection } => rejected(StatusCode::UNAUTHORIZED, rejection.reason()),
        Outcome::TooLarge { size, limit } => rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body of at least {size} bytes is over the limit of {limit} bytes"),
        ),
        Outcome::BadRequest { error } => rejected(StatusCode::BAD_REQUEST, &error.to_string()),
        Outcome::SecretUnavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "error", "reason": "the QALITA webhook secret cannot be read or is unusable; try again later" }),
        ),
        Outcome::EnqueueFailed { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "error", "reason": "the event queue is unavailable; try again later" }),
        ),
    };
    json_response(status, &body)
}

/// The one log line of a delivery.
fn log(outcome: &Outcome, latency_ms: f64) {
    let route = "qalita";
    let empty = QalitaSummary::default();
    let summary = match outcome {
        Outcome::Queued { summary, .. } | Outcome::Ignored { summary } | Outcome::EnqueueFailed { summary, .. } => {
            summary
        }
        _ => &empty,
    };
    let (event, issue) = (summary.event.as_deref().unwrap_or("-"), summary.issue);
    match outcome {
        Outcome::Queued { previous_secret, .. } => {
            tracing::info!(route, event, issue, outcome = "queued", previous_secret, latency_ms, "delivery")
        }
        Outcome::Ignored { .. } => tracing::info!(route, event, outcome = "ignored", latency_ms, "delivery"),
        Outcome::NotConfigured => tracing::warn!(route, outcome = "not_configured", latency_ms, "delivery"),
        Outcome::MethodNotAllowed => tracing::warn!(route, outcome = "method_not_allowed", latency_ms, "delivery"),
        Outcome::Unauthorized { rejection } => {
            tracing::warn!(route, outcome = "unauthorized", reason = rejection.as_str(), latency_ms, "delivery")
        }
        Outcome::TooLarge { size, limit } => {
            tracing::warn!(route, outcome = "too_large", size, limit, latency_ms, "delivery")
        }
        // The reason names pointers and the event's name at most; never a payload value.
        Outcome::BadRequest { error } => {
            tracing::warn!(route, outcome = "bad_request", reason = error_class(error), latency_ms, "delivery")
        }
        Outcome::SecretUnavailable { error } => {
            tracing::error!(route, outcome = "secret_unavailable", error = %error, latency_ms, "delivery")
        }
        Outcome::EnqueueFailed { error, .. } => tracing::error!(
            route,
            event,
            issue,
            outcome = "enqueue_failed",
            error_class = error.class(),
            transient = error.is_transient(),
            latency_ms,
            "delivery"
        ),
    }
}

fn error_class(error: &QalitaIngestError) -> &'static str {
    match error {
        QalitaIngestError::NotJson { .. } => "body is not valid JSON",
        QalitaIngestError::NotAnObject { .. } => "body is not a JSON object",
        QalitaIngestError::NoEvent { .. } => "no event name",
        QalitaIngestError::NoIssue { .. } => "no issue id",
        QalitaIngestError::BadIssueId { .. } => "issue id is not a positive integer",
    }
}

#[cfg(test)]
mod tests;
