//! The webhook endpoint: the webhook function's own handler behind a local HTTP server, at the path
//! the deployed HTTP API routes to it, so that GitLab sees the same answers as from AWS. A `200`
//! means the delivery is committed to the on-disk queue. `GET /healthz` tells the queue's depth.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambda_http::Body;
use qalita_gitlab_webhook::handler::{Deps, handle};
use serde_json::json;

use crate::embedded::queue::EmbeddedQueue;

/// The path the deployed HTTP API routes to the webhook function (QALITA's own GitLab guide's).
pub const WEBHOOK_PATH: &str = "/api/v2/integrations/gitlab/webhook";
/// The health path.
pub const HEALTH_PATH: &str = "/healthz";

struct FrontState {
    deps: Deps,
    queue: EmbeddedQueue,
}

/// The endpoint's routes.
pub(crate) fn router(deps: Deps, queue: EmbeddedQueue) -> Router {
    let state = Arc::new(FrontState { deps, queue });
    Router::new()
        .route(WEBHOOK_PATH, axum::routing::any(webhook))
        .route(HEALTH_PATH, axum::routing::get(health))
        .fallback(not_found)
        .with_state(state)
}

/// One delivery through the Lambda handler, as API Gateway's payload v2 would pass it.
async fn webhook(State(state): State<Arc<FrontState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // One byte over the limit is enough for the handler to answer 413 as it does on AWS.
    let limit = state.deps.max_body_bytes.saturating_add(1);
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            tracing::warn!(outcome = "too_large", limit = state.deps.max_body_bytes, "delivery");
            let reason = format!("body is over the limit of {} bytes", state.deps.max_body_bytes);
            return answer(StatusCode::PAYLOAD_TOO_LARGE, json!({"status": "rejected", "reason": reason}));
        }
    };
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(error) => Body::Binary(error.into_bytes()),
    };
    let answered = handle(&state.deps, lambda_http::http::Request::from_parts(parts, body)).await;
    let (parts, body) = answered.into_parts();
    let bytes = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}

async fn health(State(state): State<Arc<FrontState>>) -> Response {
    match state.queue.depth().await {
        Ok(depth) => answer(
            StatusCode::OK,
            json!({"status": "ok", "queue": {"available": depth.available, "in_flight": depth.in_flight, "dead_letters": depth.dead_letters}}),
        ),
        Err(error) => {
            tracing::error!(error = %error, "the queue is unreadable");
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "reason": "the queue is unreadable"}))
        }
    }
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
