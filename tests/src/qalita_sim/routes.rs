//! The simulator's HTTP surface, all in one place: the routes under the API prefix, FastAPI's
//! answers for validation errors and unknown routes, and the layers every request passes through
//! (record → fault → bearer authentication, the last on known routes only, as QALITA's routes
//! declare it).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::journal::{RecordedRequest, query_pairs};
use super::{ListEnvelope, Shared, faults, lock};

type SimState = State<Arc<Shared>>;

/// The application.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let prefix = shared.options.api_prefix.trim_end_matches('/').to_owned();
    Router::new()
        .route(&format!("{prefix}/issues"), get(list_issues))
        .route(&format!("{prefix}/issues/{{id}}"), get(get_issue).put(update_issue))
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
    let entry = RecordedRequest {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        status: None,
    };
    // Recorded on arrival, so that a request whose client gave up still counts.
    let index = {
        let mut journal = lock(&shared.journal);
        journal.push(entry);
        journal.len() - 1
    };
    let response = next.run(request).await;
    if let Some(entry) = lock(&shared.journal).get_mut(index) {
        entry.status = Some(response.status().as_u16());
    }
    response
}

async fn inject_fault(State(shared): SimState, request: Request, next: Next) -> Response {
    let fault = lock(&shared.faults).take(request.uri().path());
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
    if token != Some(shared.token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"detail": "Could not validate credentials"})),
        )
            .into_response();
    }
    next.run(request).await
}

async fn list_issues(State(shared): SimState, RawQuery(query): RawQuery) -> Response {
    let pairs = query.as_deref().map(query_pairs).unwrap_or_default();
    let param = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let options = &shared.options;
    let offset = match integer(param("offset"), "offset", 0, 0, i64::MAX) {
        Ok(offset) => offset,
        Err(error) => return unprocessable(error),
    };
    let limit = match integer(param("limit"), "limit", options.default_limit.into(), 1, options.max_limit.into()) {
        Ok(limit) => limit,
        Err(error) => return unprocessable(error),
    };
    let (page, total) = {
        let store = lock(&shared.store);
        (store.page(as_index(offset), as_index(limit)), store.issue_count())
    };
    let body = match options.list_envelope {
        ListEnvelope::Bare => Value::from(page),
        ListEnvelope::Items => json!({"items": page, "total": total}),
        ListEnvelope::Data => json!({"data": page}),
    };
    Json(body).into_response()
}

async fn get_issue(State(shared): SimState, Path(id): Path<String>) -> Response {
    match integer(Some(&id), "issue_id", 0, 1, i64::MAX) {
        Ok(id) => found(lock(&shared.store).issue(id.unsigned_abs())),
        Err(error) => unprocessable(error),
    }
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

async fn update_issue(State(shared): SimState, Path(id): Path<String>, Json(changes): Json<Value>) -> Response {
    let id = match integer(Some(&id), "issue_id", 0, 1, i64::MAX) {
        Ok(id) => id.unsigned_abs(),
        Err(error) => return unprocessable(error),
    };
    let Some(fields) = changes.as_object() else {
        return unprocessable(
            json!({"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": changes}),
        );
    };
    for (name, value) in fields {
        let Some((_, kind)) = UPDATABLE.iter().find(|(field, _)| field == name) else { continue };
        let valid = value.is_null() && *name != "status" && *name != "title"
            || (*kind == "string" && value.is_string())
            || (*kind == "int" && value.is_u64());
        if !valid {
            let message =
                if *kind == "int" { "Input should be a valid integer" } else { "Input should be a valid string" };
            return unprocessable(
                json!({"type": format!("{kind}_type"), "loc": ["body", name], "msg": message, "input": value}),
            );
        }
    }
    let mut store = lock(&shared.store);
    if store.issue(id).is_none() {
        return found(None);
    }
    let updated = store.update_issue(id, |issue| {
        for (name, value) in fields {
            // Fields the API does not let a client set (id, dates, authors) are ignored.
            if UPDATABLE.iter().any(|(field, _)| field == name) {
                issue[name.as_str()] = value.clone();
            }
        }
    });
    found(Some(updated))
}

async fn get_user(State(shared): SimState, Path(id): Path<String>) -> Response {
    match integer(Some(&id), "user_id", 0, 1, i64::MAX) {
        Ok(id) => found(lock(&shared.store).user(id.unsigned_abs())),
        Err(error) => unprocessable(error),
    }
}

/// QALITA's answer for one object: the object, or 204 No Content for "not found or no access".
fn found(object: Option<Value>) -> Response {
    match object {
        Some(object) => Json(object).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

fn as_index(value: i64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// FastAPI's answer to a request whose parameters do not validate.
fn unprocessable(error: Value) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"detail": [error]}))).into_response()
}

/// An integer parameter checked as FastAPI checks it, or the validation error when it does not fit.
fn integer(text: Option<&str>, name: &str, default: i64, min: i64, max: i64) -> Result<i64, Value> {
    let location = if name.ends_with("_id") { "path" } else { "query" };
    let Some(text) = text else {
        return Ok(default);
    };
    let refuse = |kind: &str, message: String, context: Option<Value>| {
        let mut error = json!({"type": kind, "loc": [location, name], "msg": message, "input": text});
        if let Some(context) = context {
            error["ctx"] = context;
        }
        error
    };
    let Ok(value) = text.trim().parse::<i64>() else {
        let message = "Input should be a valid integer, unable to parse string as an integer".to_owned();
        return Err(refuse("int_parsing", message, None));
    };
    if value < min {
        let message = format!("Input should be greater than or equal to {min}");
        return Err(refuse("greater_than_equal", message, Some(json!({"ge": min}))));
    }
    if value > max {
        let message = format!("Input should be less than or equal to {max}");
        return Err(refuse("less_than_equal", message, Some(json!({"le": max}))));
    }
    Ok(value)
}
