//! The webhook endpoint's routes: the webhook function's own handler at the path the deployed HTTP
//! API routes to it, so that GitLab sees the same answers as from AWS, and `GET /healthz`. A
//! delivery's headers are checked before any byte of its body is read; its body is read within
//! the body time-out, up to the size limit, and only if it fits the bound on bodies held at once.
//! A `200` means the delivery is committed to the on-disk queue. `GET /metrics` gives the
//! process's figures (the same as the functions' EMF lines) in the Prometheus text format.
//!
//! The log lines written here name the event only through `DeliveryHeaders::event_for_log`: a
//! header is whatever a client sends.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use lambda_http::Body;
use qalita_gitlab_core::metrics::{self, DeliveryOutcome, Figure, Origin};
use qalita_gitlab_core::webhook::DeliveryHeaders;
use qalita_gitlab_webhook::handler::{Deps, handle, over_limit, screen};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

use super::error::describe;
use crate::embedded::queue::EmbeddedQueue;
use crate::embedded::{EmbeddedDb, Health};

pub use crate::local::{HEALTH_PATH, METRICS_PATH, QALITA_WEBHOOK_PATH, WEBHOOK_PATH};

/// What the routes share.
pub(crate) struct Front {
    /// The webhook function's dependencies.
    pub deps: Deps,
    /// The queue, for its depth.
    pub queue: EmbeddedQueue,
    /// The database, for its health.
    pub db: EmbeddedDb,
    /// One permit per byte of request body that may be held at once, over all deliveries.
    pub bodies: Arc<Semaphore>,
    /// How long a client has to send a body, from the end of its headers.
    pub body_read_timeout: Duration,
}

/// The endpoint's routes.
pub(crate) fn router(front: Front) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, axum::routing::any(webhook))
        .route(QALITA_WEBHOOK_PATH, axum::routing::any(webhook))
        .route(HEALTH_PATH, axum::routing::get(health))
        .route(METRICS_PATH, axum::routing::get(metrics))
        .fallback(not_found)
        .with_state(Arc::new(front))
}

/// How reading a body ended, short of a whole body within the limit.
enum Unread {
    /// Longer than the limit; `read` bytes were read (or announced) when reading stopped.
    OverLimit { read: usize },
    /// It does not fit in the bound on bodies held at once.
    Busy,
    /// The client did not send it within the body time-out.
    TimedOut,
    /// It cannot be read: a malformed chunk, a connection cut, fewer bytes than announced.
    Broken(axum::Error),
}

/// A body read whole, with the reservation that counts it against the bound until dropped.
struct Read {
    bytes: Vec<u8>,
    _held: Option<OwnedSemaphorePermit>,
}

/// One delivery: headers first (an unauthenticated client is answered before its body is read),
/// then the body, then the Lambda handler, as API Gateway's payload v2 would pass it.
async fn webhook(State(front): State<Arc<Front>>, request: Request) -> Response {
    let (parts, mut body) = request.into_parts();
    if let Some(answer) = screen(&front.deps, parts.uri.path(), &parts.method, &parts.headers).await {
        return closing(from_lambda(answer));
    }
    let event = DeliveryHeaders::from_map(&parts.headers).event_for_log();
    let deadline = Instant::now() + front.body_read_timeout;
    let read = match timeout_at(deadline, read_body(&front, &parts.headers, &mut body)).await {
        Ok(read) => read,
        Err(_) => Err(Unread::TimedOut),
    };
    let read = match read {
        Ok(read) => read,
        Err(Unread::OverLimit { read }) => {
            let answered = over_limit(&front.deps, parts.uri.path(), &parts.headers, read).await;
            if answered.status().is_success() {
                // Authenticated by its token: the rest is read and dropped, holding no memory, so
                // that the sender reads the answer rather than a reset connection.
                let _ = timeout_at(deadline, drain(&mut body)).await;
            }
            return closing(from_lambda(answered));
        }
        Err(Unread::Busy) => {
            count(parts.uri.path(), DeliveryOutcome::Unavailable);
            tracing::warn!(
                event,
                outcome = "busy",
                "delivery: the bodies held are at their bound (--max-inflight-body-bytes)"
            );
            let reason = "too many deliveries are being received at once; try again";
            return closing(answer(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "reason": reason})));
        }
        Err(Unread::Broken(error)) => {
            count(parts.uri.path(), DeliveryOutcome::Malformed);
            let reason = describe(&error);
            tracing::warn!(event, outcome = "unreadable_body", reason = %reason, "delivery");
            let reason = format!("the body could not be read: {reason}");
            return closing(answer(StatusCode::BAD_REQUEST, json!({"status": "rejected", "reason": reason})));
        }
        Err(Unread::TimedOut) => {
            count(parts.uri.path(), DeliveryOutcome::Malformed);
            tracing::warn!(
                event,
                outcome = "body_timeout",
                "delivery: the body was not sent in time (--body-read-timeout)"
            );
            let reason = "the body was not sent in time";
            return closing(answer(StatusCode::REQUEST_TIMEOUT, json!({"status": "rejected", "reason": reason})));
        }
    };
    let Read { bytes, _held } = read;
    let body = match String::from_utf8(bytes) {
        Ok(text) => Body::Text(text),
        Err(error) => Body::Binary(error.into_bytes()),
    };
    from_lambda(handle(&front.deps, lambda_http::http::Request::from_parts(parts, body)).await)
}

/// Counts a delivery this server answered without the handler (which counts the others).
fn count(path: &str, outcome: DeliveryOutcome) {
    let origin = if path == QALITA_WEBHOOK_PATH { Origin::Qalita } else { Origin::Gitlab };
    metrics::count(Figure::Delivery(origin, outcome));
}

/// Reads the body up to the limit, holding its size against the bound on bodies in memory: the
/// announced length at once, else chunk by chunk.
async fn read_body(front: &Front, headers: &HeaderMap, body: &mut AxumBody) -> Result<Read, Unread> {
    let limit = front.deps.max_body_bytes;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|length| usize::try_from(length).unwrap_or(usize::MAX));
    let mut held = None;
    if let Some(length) = announced {
        if length > limit {
            return Err(Unread::OverLimit { read: length });
        }
        held = Some(reserve(&front.bodies, length)?);
    }
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(Unread::Broken)?.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > limit {
            return Err(Unread::OverLimit { read: bytes.len() + data.len() });
        }
        if announced.is_none() {
            let more = reserve(&front.bodies, data.len())?;
            match held.as_mut() {
                Some(held) => held.merge(more),
                None => held = Some(more),
            }
        }
        bytes.extend_from_slice(&data);
    }
    Ok(Read { bytes, _held: held })
}

/// Reads the rest of a body and drops it.
async fn drain(body: &mut AxumBody) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// Holds `bytes` against the bound, or says the delivery does not fit now.
fn reserve(bodies: &Arc<Semaphore>, bytes: usize) -> Result<OwnedSemaphorePermit, Unread> {
    let permits = u32::try_from(bytes).map_err(|_| Unread::Busy)?;
    bodies.clone().try_acquire_many_owned(permits).map_err(|_| Unread::Busy)
}

/// The handler's answer as the HTTP server sends it.
fn from_lambda(answered: lambda_http::Response<Body>) -> Response {
    let (parts, body) = answered.into_parts();
    let bytes = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}

/// The answer, with the connection closed after it: the rest of the body is not read.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `200` with the queue's depth while the database works; `503` with the reason while it fails.
async fn health(State(front): State<Arc<Front>>) -> Response {
    // Read first: a read is also what reopens a failed database when a reopen is due.
    let depth = front.queue.depth().await;
    match (front.db.health(), depth) {
        (Health::Ok, Ok(depth)) => answer(
            StatusCode::OK,
            json!({"status": "ok", "queue": {"available": depth.available, "in_flight": depth.in_flight, "dead_letters": depth.dead_letters}}),
        ),
        (Health::Failing { reason, since }, _) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "error", "reason": reason, "failing_for_s": since.as_secs()}),
        ),
        (Health::Lost { reason }, _) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "reason": reason}))
        }
        (Health::Ok, Err(error)) => {
            let reason = format!("the queue is unreadable: {}", describe(&error));
            tracing::error!(reason = %reason, "health");
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "reason": reason}))
        }
    }
}

/// The process's figures in the Prometheus text format (webhook, worker, poll and reconcile all
/// run in this process).
async fn metrics() -> Response {
    let text = metrics::prometheus::render(metrics::global());
    (StatusCode::OK, [(header::CONTENT_TYPE, metrics::prometheus::CONTENT_TYPE)], text).into_response()
}

async fn not_found() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        json!({"status": "not_found", "reason": format!("the GitLab webhook is POST {WEBHOOK_PATH}")}),
    )
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
