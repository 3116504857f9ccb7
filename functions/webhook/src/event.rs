//! The edge between the Lambda runtime and [`crate::handler`]: reads the raw invocation event,
//! answers `400` itself for an event that lambda_http's own conversion would panic on (the release
//! build aborts on a panic, taking the warm function down), and otherwise runs the handler through
//! lambda_http's own conversions, event → `http::Request` and `http::Response` → API Gateway answer.
//!
//! The conversion (`From<LambdaRequest> for http::Request`, lambda_http 1.3) panics on a body marked
//! base64 that does not decode, on a host, scheme or path that `url` cannot parse, and on a query
//! that `http::Uri` refuses; deserialising the event's headers panics past the 32768 names an
//! `http::HeaderMap` holds. [`admit`] checks exactly those, before anything that could panic runs.

use std::convert::Infallible;
use std::time::Instant;

use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::{Base64Data, Body};
use lambda_http::http::{HeaderValue, StatusCode, Uri, header};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::{Adapter, LambdaEvent, Request, Response, Service};
use serde::Deserialize;
use serde_json::{Value, json};

/// The most headers an event may carry. API Gateway passes at most 10 KiB of headers, a few
/// thousand at the very most; an `http::HeaderMap` panics past 32768 names, and deserialising a
/// map reserves room for all of them at once.
pub const MAX_HEADERS: usize = 4096;

/// Why an event was answered `400` without reaching the handler.
#[derive(Debug, thiserror::Error)]
pub enum BadEvent {
    /// The event does not have the shape of an API Gateway HTTP API request (payload format 2.0):
    /// no `requestContext`, a body that is not a string, a header that is not a header, …
    #[error("the event is not an API Gateway HTTP API request (payload format 2.0)")]
    NotHttpApi(#[source] serde_json::Error),
    /// More headers than [`MAX_HEADERS`].
    #[error("the request has {count} headers, over the limit of {limit}")]
    TooManyHeaders {
        /// How many the event carries.
        count: usize,
        /// [`MAX_HEADERS`].
        limit: usize,
    },
    /// `isBase64Encoded` is true and the body does not decode.
    #[error("the body is marked base64 but is not valid base64")]
    InvalidBase64,
    /// The host, scheme, path or query do not make a URL.
    #[error("the request's host, scheme, path or query do not make a valid URL")]
    InvalidUrl,
}

impl BadEvent {
    /// A word for the log line (never the event's text).
    pub fn kind(&self) -> &'static str {
        match self {
            BadEvent::NotHttpApi(_) => "not_http_api",
            BadEvent::TooManyHeaders { .. } => "too_many_headers",
            BadEvent::InvalidBase64 => "invalid_base64",
            BadEvent::InvalidUrl => "invalid_url",
        }
    }
}

/// The handler's answer could not be written as an API Gateway response.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// Serialising the response failed (a header value that is not UTF-8).
    #[error("the response cannot be encoded as an API Gateway answer")]
    Encode(#[source] serde_json::Error),
}

/// Reads a raw event as an API Gateway HTTP API request that lambda_http converts without a panic.
pub fn admit(event: Value) -> Result<ApiGatewayV2httpRequest, BadEvent> {
    // Counted on the raw JSON: the typed read is what would panic.
    if let Some(count) = event.get("headers").and_then(Value::as_object).map(serde_json::Map::len)
        && count > MAX_HEADERS
    {
        return Err(BadEvent::TooManyHeaders { count, limit: MAX_HEADERS });
    }
    let mut request: ApiGatewayV2httpRequest = serde_json::from_value(event).map_err(BadEvent::NotHttpApi)?;
    if request.is_base64_encoded
        && let Some(body) = request.body.take()
    {
        // The same decoder (and alphabet) as the conversion's `Body::from_maybe_encoded`; the body
        // is lent to it as a JSON string, then put back, never copied.
        let body = Value::String(body);
        let decodes = Base64Data::deserialize(&body).is_ok();
        let Value::String(body) = body else { unreachable!("built as a string just above") };
        request.body = Some(body);
        if !decodes {
            return Err(BadEvent::InvalidBase64);
        }
    }
    if !url_is_readable(&request) {
        return Err(BadEvent::InvalidUrl);
    }
    Ok(request)
}

/// Whether lambda_http builds the request's URI without a panic: the same steps as its
/// `into_api_gateway_v2_request` and `build_request_uri`, each checked instead of unwrapped.
fn url_is_readable(request: &ApiGatewayV2httpRequest) -> bool {
    let headers = &request.headers;
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or(request.request_context.domain_name.as_deref());
    let path = path_with_stage(request.request_context.stage.as_deref(), request.raw_path.as_deref().unwrap_or(""));
    let base = match host {
        None => match url::Url::parse(&format!("http://localhost{path}")) {
            Ok(url) => url.path().to_owned(),
            Err(_) => return false,
        },
        Some(host) => {
            let scheme = headers.get("x-forwarded-proto").and_then(|value| value.to_str().ok()).unwrap_or("https");
            match url::Url::parse(&format!("{scheme}://{host}{path}")) {
                Ok(url) => url.to_string(),
                Err(_) => return false,
            }
        }
    };
    let uri = match request.raw_query_string.as_deref() {
        Some(query) if !query.is_empty() => format!("{base}?{query}"),
        _ => base,
    };
    Uri::try_from(uri).is_ok()
}

/// lambda_http's `apigw_path_with_stage`: the stage prefixed to the path unless it is `$default`,
/// already there, or `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set.
fn path_with_stage(stage: Option<&str>, path: &str) -> String {
    if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() {
        return path.to_owned();
    }
    match stage {
        None | Some("$default") => path.to_owned(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.to_owned(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

/// Answers one invocation with the API Gateway (payload 2.0) response document: `400` for an event
/// [`admit`] refuses, else `service`'s response, converted as `lambda_http::run` converts it.
pub async fn answer<S>(service: S, event: LambdaEvent<Value>) -> Result<Value, EdgeError>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible> + Send,
    S::Future: Send,
{
    let started = Instant::now();
    let LambdaEvent { payload, context } = event;
    let request = match admit(payload) {
        Ok(request) => request,
        Err(bad_event) => {
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::warn!(outcome = "bad_event", reason = bad_event.kind(), latency_ms, "delivery");
            return serde_json::to_value(rejected(&bad_event)).map_err(EdgeError::Encode);
        }
    };
    let event = LambdaEvent::new(LambdaRequest::ApiGatewayV2(request), context);
    let response = match Adapter::from(service).oneshot(event).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    serde_json::to_value(response).map_err(EdgeError::Encode)
}

/// The `400` of a refused event, in the handler's answer shape.
fn rejected(bad_event: &BadEvent) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(StatusCode::BAD_REQUEST.as_u16());
    response.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(json!({ "status": "rejected", "reason": bad_event.to_string() }).to_string()));
    response
}

#[cfg(test)]
mod tests;
