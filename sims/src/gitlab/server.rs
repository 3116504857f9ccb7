//! The HTTP side: the one pipeline every request goes through: record, faults, API rate limit,
//! authentication, endpoint, rate-limit headers. A fault that closes the connection without an
//! answer cuts the request's [`Connection`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::Value;

use super::access::TokenRecord;
use super::faults::Fault;
use super::params::{Params, decode_segment};
use super::record::{RecordedRequest, redacted_query};
use super::reply::{Reply, server_error, unauthorized};
use super::routes::{Call, route};
use super::{Shared, SimState, webhook};
use crate::kit::Connection;

/// Every request.
pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(api_path) = uri.path().strip_prefix("/api/v4").filter(|p| p.starts_with('/')) else {
        return Reply::text(404, "text/plain", "Not Found\n").into_response();
    };
    let query = uri.query().unwrap_or_default();
    let json_body = serde_json::from_slice::<Value>(&body).ok();
    let mut record = RecordedRequest {
        method: method.as_str().to_owned(),
        path: api_path.to_owned(),
        query: redacted_query(query),
        body: json_body.clone(),
        event_uuid: header(&headers, "x-gitlab-event-uuid"),
        status: None,
    };
    let (reply, fault) = {
        let mut state = shared.lock();
        let fault = state.faults.take(&record.method, &record.path);
        let reply = match fault {
            Some(Fault::ServerError(status)) => Some(server_error(status)),
            Some(Fault::Unauthorized) => Some(unauthorized()),
            Some(Fault::DropConnection) => None,
            _ => {
                let request = Request { method: &record.method, api_path, query, headers: &headers, body: &body };
                let changes_before = state.model.changes.len();
                let reply = process(&mut state, &shared.base, request, json_body.as_ref(), record.event_uuid.clone());
                webhook::dispatch(&mut state, changes_before, &shared.base);
                (fault != Some(Fault::DropAfterProcessing)).then_some(reply)
            }
        };
        let test = state.hooks.pending_test.take();
        let reply = match test {
            // Answered once the test delivery is made, outside the lock.
            Some(test) => reply.map(|reply| (reply, Some(test))),
            None => {
                record.status = reply.as_ref().map(|reply| reply.status);
                state.records.push(record.clone());
                reply.map(|reply| (reply, None))
            }
        };
        (reply, fault)
    };
    let reply = match reply {
        Some((reply, Some(test))) => {
            let outcome = webhook::send_test(&shared, test).await;
            let reply = match outcome.succeeded() {
                true => reply,
                false => reply.replaced(Reply::message(422, &webhook::failure_message(&outcome))),
            };
            record.status = Some(reply.status);
            shared.lock().records.push(record);
            Some(reply)
        }
        Some((reply, None)) => Some(reply),
        None => None,
    };
    let Some(reply) = reply else {
        connection.cut();
        return Reply::text(500, "text/plain", "").into_response();
    };
    if let Some(Fault::Slow(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}

struct Request<'a> {
    method: &'a str,
    api_path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

/// The API's answer: rate limit first (as Rack::Attack runs before the API), then the token,
/// then the endpoint; the API budget's headers on whatever comes out.
fn process(
    state: &mut SimState,
    base: &str,
    request: Request<'_>,
    json_body: Option<&Value>,
    event_uuid: Option<String>,
) -> Reply {
    let now = state.tick();
    let presented = token(request.headers, request.query);
    let known = presented
        .as_deref()
        .and_then(|token| state.model.token(token))
        .map(|(user, record)| (user.clone(), record.clone()));
    // The budget is the user's when the token authenticates, else the client's.
    let authenticated = known.as_ref().filter(|(_, record)| record.active(now)).map(|(user, _)| user.id);
    let usage = match state.limits.spend_api(authenticated) {
        Ok(usage) => usage,
        Err(refusal) => return refusal,
    };
    let segments: Vec<String> = request.api_path.trim_matches('/').split('/').map(decode_segment).collect();
    let route_segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let reply = match known {
        None => unauthorized(),
        Some((user, record)) => match record.refusal(now) {
            Some(refusal) => refusal,
            None if !record.allows(request.method, &route_segments) => {
                TokenRecord::insufficient_scope(matches!(request.method, "GET" | "HEAD"))
            }
            None => {
                if let Some(presented) = &presented {
                    state.model.touch_token(presented, now);
                }
                let call = Call {
                    method: request.method,
                    raw_path: request.api_path,
                    segments: segments.clone(),
                    query: request.query,
                    params: Params::read(request.query, request.body, json_body),
                    user,
                    token: record,
                    event_uuid,
                    now,
                    base,
                };
                route(state, &call)
            }
        },
    };
    state.limits.decorate(reply, usage.as_ref())
}

/// The token of a request: `PRIVATE-TOKEN`, `Authorization: Bearer`, or `?private_token=`, as
/// GitLab accepts them.
fn token(headers: &HeaderMap, query: &str) -> Option<String> {
    if let Some(token) = header(headers, "private-token") {
        return Some(token);
    }
    if let Some(token) = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned)) {
        return Some(token);
    }
    query.split('&').find_map(|pair| pair.strip_prefix("private_token=").map(super::params::decode))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
}
