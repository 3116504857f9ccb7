//! The simulator's HTTP surface: the routes of the dialect's table (issues, users and sources here,
//! comments in [`super::comments`]), its OpenAPI document, FastAPI's answers for unknown routes and methods,
//! and the layers every request passes through (record → fault → the dialect's authentication, the
//! last on the table's routes only, as QALITA's routes declare it; the document is open).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::api::{self, Action, UPDATABLE};
use super::dialect::Kind;
use super::fastapi::{Invalid, model_body, not_found, path_id};
use super::journal::RecordedRequest;
use super::store::Store;
use super::{Shared, SimState, comments, faults, lock, openapi};

/// The application.
///
/// # Panics
/// When the route table holds a method axum cannot route (it holds GET, POST, PUT and PATCH).
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let mut paths: BTreeMap<String, MethodRouter<Arc<Shared>>> = BTreeMap::new();
    for route in api::routes(&shared.options) {
        let filter = MethodFilter::try_from(route.method.clone())
            .unwrap_or_else(|_| panic!("axum routes no {} requests", route.method));
        let methods = paths.remove(&route.path).unwrap_or_default();
        paths.insert(route.path, serve(route.action, methods, filter));
    }
    let router = paths.into_iter().fold(Router::new(), |router, (path, methods)| router.route(&path, methods));
    router
        .route_layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .route(openapi::PATH, get(document))
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, Json(json!({"detail": "Method Not Allowed"})))
        })
        .layer(middleware::from_fn_with_state(shared.clone(), inject_fault))
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// `methods` with the handler of `action` for `filter`.
fn serve(action: Action, methods: MethodRouter<Arc<Shared>>, filter: MethodFilter) -> MethodRouter<Arc<Shared>> {
    match action {
        Action::ListIssues => methods.on(filter, list_issues),
        Action::GetIssue => methods.on(filter, get_issue),
        Action::UpdateIssue => methods.on(filter, update_issue),
        Action::ListComments => methods.on(filter, comments::list_comments),
        Action::CreateComment => methods.on(filter, comments::create_comment),
        Action::GetComment => methods.on(filter, comments::get_comment),
        Action::UpdateComment => methods.on(filter, comments::update_comment),
        Action::ListUsers => methods.on(filter, list_users),
        Action::GetUser => methods.on(filter, get_user),
        Action::ListSources => methods.on(filter, list_sources),
        Action::GetSource => methods.on(filter, get_source),
    }
}

async fn document(State(shared): SimState) -> Json<Value> {
    Json(openapi::document(&shared.options))
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
    match fault.as_ref().and_then(|fault| faults::answer(fault, shared.options.dialect)) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

async fn authenticate(State(shared): SimState, request: Request, next: Next) -> Response {
    let accepted = lock(&shared.token).clone();
    match shared.options.dialect.authenticate(request.headers(), &accepted) {
        Ok(()) => next.run(request).await,
        Err(refused) => shared.options.dialect.refusal(refused),
    }
}

/// One page of a list of every object of `kind`: `read` gives the page at (offset, limit) and the
/// total.
fn list_all(
    shared: &Shared,
    kind: Kind,
    query: Option<&str>,
    read: impl FnOnce(&Store, usize, usize) -> (Vec<Value>, usize),
) -> Result<Response, Invalid> {
    let (offset, limit) = shared.options.dialect.paging(&shared.options, query)?;
    let (page, total) = read(&lock(&shared.store), offset, limit);
    Ok(shared.list(kind, page, total))
}

/// One object of `kind` named by the path parameter `param` (whose text is `id`), as `read` finds
/// it, or the dialect's "not found".
fn one_by_id(
    shared: &Shared,
    kind: Kind,
    id: &str,
    param: &str,
    read: impl FnOnce(&Store, u64) -> Option<Value>,
) -> Result<Response, Invalid> {
    let id = path_id(id, param)?;
    let object = read(&lock(&shared.store), id);
    Ok(shared.one(kind, object))
}

async fn list_issues(State(shared): SimState, RawQuery(query): RawQuery) -> Result<Response, Invalid> {
    list_all(&shared, Kind::Issue, query.as_deref(), |store, offset, limit| {
        (store.page(offset, limit), store.issue_count())
    })
}

async fn get_issue(State(shared): SimState, Path(id): Path<String>) -> Result<Response, Invalid> {
    one_by_id(&shared, Kind::Issue, &id, "issue_id", Store::issue)
}

/// The issue update (`PUT` or `PATCH …/issues/{id}`) with the fields to change, under the
/// dialect's names. A change that sets every field to the value it has leaves the issue as it is
/// (no new `updated_at`, no event), as an ORM writes nothing then.
async fn update_issue(
    State(shared): SimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Invalid> {
    let dialect = shared.options.dialect;
    let id = path_id(&id, "issue_id")?;
    let fields = model_body(&headers, &body)?;
    let mut changes = Vec::new();
    for field in UPDATABLE {
        let name = dialect.field(Kind::Issue, field.name);
        let Some(value) = fields.get(name) else { continue };
        if !field.accepts(value) {
            let (kind, message) = match field.kind {
                api::Type::Integer => ("int_type", "Input should be a valid integer"),
                _ => ("string_type", "Input should be a valid string"),
            };
            return Err(Invalid(json!({"type": kind, "loc": ["body", name], "msg": message, "input": value})));
        }
        changes.push((field.name, value.clone()));
    }
    let mut store = lock(&shared.store);
    let Some(current) = store.issue(id) else { return Ok(dialect.missing()) };
    if changes.iter().all(|(name, value)| current.get(*name).unwrap_or(&Value::Null) == value) {
        return Ok(dialect.updated(dialect.render(Kind::Issue, current)));
    }
    let updated = store.update_issue(id, Some(shared.options.api_user_id), |issue| {
        for (name, value) in changes {
            issue[name] = value;
        }
    });
    Ok(match updated {
        Some(issue) => {
            shared.issue_changed(false, &issue);
            dialect.updated(dialect.render(Kind::Issue, issue))
        }
        None => dialect.missing(),
    })
}

async fn list_users(State(shared): SimState, RawQuery(query): RawQuery) -> Result<Response, Invalid> {
    list_all(&shared, Kind::User, query.as_deref(), |store, offset, limit| {
        (store.users_page(offset, limit), store.user_count())
    })
}

async fn get_user(State(shared): SimState, Path(id): Path<String>) -> Result<Response, Invalid> {
    one_by_id(&shared, Kind::User, &id, "user_id", Store::user)
}

async fn list_sources(State(shared): SimState, RawQuery(query): RawQuery) -> Result<Response, Invalid> {
    list_all(&shared, Kind::Source, query.as_deref(), |store, offset, limit| {
        (store.sources_page(offset, limit), store.source_count())
    })
}

/// One source (the dataset an issue's `source_id` names), as the sync looks it up.
async fn get_source(State(shared): SimState, Path(id): Path<String>) -> Result<Response, Invalid> {
    one_by_id(&shared, Kind::Source, &id, "source_id", Store::source)
}
