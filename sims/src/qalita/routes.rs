//! The simulator's HTTP surface: the routes under the API prefix (issues and users here, comments
//! in [`super::comments`]), FastAPI's answers for unknown routes and methods, and the layers every
//! request passes through (record → fault → bearer authentication, the last on known routes only,
//! as QALITA's routes declare it).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::fastapi::{Invalid, found, integer, model_body, path_id, unauthorized};
use super::journal::RecordedRequest;
use super::{ListEnvelope, Shared, comments, faults, lock};
use crate::kit::query;

pub(super) type SimState = State<Arc<Shared>>;

/// The application.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let prefix = shared.options.api_prefix.trim_end_matches('/').to_owned();
    let comment = get(comments::get_comment);
    let comment = if shared.options.comment_updates { comment.put(comments::update_comment) } else { comment };
    Router::new()
        .route(&format!("{prefix}/issues"), get(list_issues))
        .route(&format!("{prefix}/issues/{{id}}"), get(get_issue).put(update_issue))
        .route(&format!("{prefix}/issues/{{id}}/comments"), get(comments::list_comments).post(comments::create_comment))
        .route(&format!("{prefix}/issues/{{id}}/comments/{{comment_id}}"), comment)
        .route(&format!("{prefix}/users"), get(list_users))
        .route(&format!("{prefix}/users/{{id}}"), get(get_user))
        .route_layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))) })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, Json(json!({"detail": "Method Not Allowed"})))
        })
        .layer(middleware::from_fn_with_state(shared.clone(), inject_fault))
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn record(State(shared): SimState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let entry = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
        status: None,
    };
    // Recorded on arrival, so that a request whose client gave up still counts.
    let ticket = lock(&shared.journal).push(entry);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if let Some(entry) = lock(&shared.journal).get_mut(ticket) {
        entry.status = Some(response.status().as_u16());
    }
    response
}

async fn inject_fault(State(shared): SimState, request: Request, next: Next) -> Response {
    let fault = lock(&shared.faults).take(request.method().as_str(), request.uri().path());
    if let Some(faults::Fault::Slow(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    match fault.as_ref().and_then(faults::answer) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

async fn authenticate(State(shared): SimState, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    let accepted = shared.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if token != Some(accepted.as_str()) {
        return unauthorized();
    }
    next.run(request).await
}

/// `offset` and `limit` as FastAPI reads them, or its 422.
fn paging(shared: &Shared, query: Option<&str>) -> Result<(usize, usize), Invalid> {
    let pairs = query.map(query::pairs).unwrap_or_default();
    let param = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let options = &shared.options;
    let offset = integer(param("offset"), "offset", 0, 0, i64::MAX)?;
    let limit = integer(param("limit"), "limit", options.default_limit.into(), 1, options.max_limit.into())?;
    Ok((as_index(offset), as_index(limit)))
}

/// A list as this instance sends lists.
pub(super) fn list(shared: &Shared, items: Vec<Value>, total: usize) -> Response {
    let body = match shared.options.list_envelope {
        ListEnvelope::Bare => Value::from(items),
        ListEnvelope::Items => json!({"items": items, "total": total}),
        ListEnvelope::Data => json!({"data": items}),
    };
    Json(body).into_response()
}

async fn list_issues(State(shared): SimState, RawQuery(query): RawQuery) -> Result<Response, Invalid> {
    let (offset, limit) = paging(&shared, query.as_deref())?;
    let (page, total) = {
        let store = lock(&shared.store);
        (store.page(offset, limit), store.issue_count())
    };
    Ok(list(&shared, page, total))
}

async fn get_issue(State(shared): SimState, Path(id): Path<String>) -> Result<Response, Invalid> {
    let id = path_id(&id, "issue_id")?;
    Ok(found(lock(&shared.store).issue(id)))
}

/// The fields an update may set, and the JSON type each must have (FastAPI refuses others with
/// 422, naming the field).
const UPDATABLE: &[(&str, &str)] = &[
    ("status", "string"),
    ("title", "string"),
    ("description", "string"),
    ("assignee", "int"),
    ("due_date", "string"),
];

/// `PUT …/issues/{id}` with the fields to change. A change that sets every field to the value it
/// has leaves the issue as it is (no new `updated_at`, no event), as an ORM writes nothing then.
async fn update_issue(
    State(shared): SimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Invalid> {
    let id = path_id(&id, "issue_id")?;
    let fields = model_body(&headers, &body)?;
    for (name, value) in &fields {
        let Some((_, kind)) = UPDATABLE.iter().find(|(field, _)| field == name) else { continue };
        let valid = value.is_null() && *name != "status" && *name != "title"
            || (*kind == "string" && value.is_string())
            || (*kind == "int" && value.is_u64());
        if !valid {
            let message =
                if *kind == "int" { "Input should be a valid integer" } else { "Input should be a valid string" };
            return Err(Invalid(
                json!({"type": format!("{kind}_type"), "loc": ["body", name], "msg": message, "input": value}),
            ));
        }
    }
    // Fields the API does not let a client set (id, dates, authors) are ignored.
    let changes: Vec<_> = fields.iter().filter(|(name, _)| UPDATABLE.iter().any(|(field, _)| field == name)).collect();
    let mut store = lock(&shared.store);
    let Some(current) = store.issue(id) else { return Ok(found(None)) };
    if changes.iter().all(|(name, value)| current.get(name.as_str()).unwrap_or(&Value::Null) == *value) {
        return Ok(found(Some(current)));
    }
    let updated = store.update_issue(id, Some(shared.options.api_user_id), |issue| {
        for (name, value) in changes {
            issue[name.as_str()] = value.clone();
        }
    });
    if let Some(issue) = &updated {
        shared.events.issue_changed(false, issue);
    }
    Ok(found(updated))
}

async fn list_users(State(shared): SimState, RawQuery(query): RawQuery) -> Result<Response, Invalid> {
    let (offset, limit) = paging(&shared, query.as_deref())?;
    let (page, total) = {
        let store = lock(&shared.store);
        (store.users_page(offset, limit), store.user_count())
    };
    Ok(list(&shared, page, total))
}

async fn get_user(State(shared): SimState, Path(id): Path<String>) -> Result<Response, Invalid> {
    let id = path_id(&id, "user_id")?;
    Ok(found(lock(&shared.store).user(id)))
}

fn as_index(value: i64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}
