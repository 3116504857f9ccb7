//! How a FastAPI backend reads a request and says no: path and query integers and JSON bodies
//! checked as pydantic checks them, with the 422 `{"detail": [...]}` answer naming the place, and
//! the 404 of a route or an object it does not have.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// FastAPI's 404, for an unknown route and for an object the second dialect does not have.
pub(super) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response()
}

/// A request that does not validate: the error FastAPI names, answered with 422.
#[derive(Debug)]
pub(super) struct Invalid(pub Value);

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"detail": [self.0]}))).into_response()
    }
}

/// A path id (`issue_id`, `comment_id`, `user_id`): a positive integer.
pub(super) fn path_id(text: &str, name: &str) -> Result<u64, Invalid> {
    integer(Some(text), name, 0, 1, i64::MAX).map(i64::unsigned_abs)
}

/// An integer parameter checked as FastAPI checks it, or the validation error when it does not fit.
pub(super) fn integer(text: Option<&str>, name: &str, default: i64, min: i64, max: i64) -> Result<i64, Invalid> {
    let location = if name.ends_with("_id") { "path" } else { "query" };
    let Some(text) = text else {
        return Ok(default);
    };
    let refuse = |kind: &str, message: String, context: Option<Value>| {
        let mut error = json!({"type": kind, "loc": [location, name], "msg": message, "input": text});
        if let Some(context) = context {
            error["ctx"] = context;
        }
        Invalid(error)
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

/// The JSON object a body model is read from. As FastAPI does: the body is parsed as JSON when it
/// has no `Content-Type` or a JSON one (`application/json`, `application/*+json`), otherwise it is
/// handed to the model as text, which is not an object; an empty body is a missing one.
pub(super) fn model_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Invalid> {
    if body.is_empty() {
        return Err(Invalid(json!({"type": "missing", "loc": ["body"], "msg": "Field required", "input": null})));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    let is_json = content_type.is_none_or(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    let value = if is_json {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => value,
            Err(error) => {
                // Python's `json` names the character offset of the error (the end for a body cut
                // short); serde counts lines and columns. Python's wording is kept for a body cut
                // short, serde's otherwise.
                let (position, reason) = if error.is_eof() {
                    (String::from_utf8_lossy(body).chars().count(), "Expecting value".to_owned())
                } else {
                    let reason = error.to_string();
                    let reason = reason.split(" at line ").next().unwrap_or_default().to_owned();
                    (body_offset(body, error.line(), error.column()), reason)
                };
                return Err(Invalid(json!({
                    "type": "json_invalid", "loc": ["body", position], "msg": "JSON decode error",
                    "input": {}, "ctx": {"error": reason},
                })));
            }
        }
    } else {
        Value::from(String::from_utf8_lossy(body).into_owned())
    };
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(Invalid(json!({
            "type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from", "input": other,
        }))),
    }
}

/// A required string field of a body model.
pub(super) fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, Invalid> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(Invalid(json!({
            "type": "string_type", "loc": ["body", name], "msg": "Input should be a valid string", "input": other,
        }))),
        None => Err(Invalid(json!({
            "type": "missing", "loc": ["body", name], "msg": "Field required", "input": fields,
        }))),
    }
}

/// The character offset of a line and column (both from 1) in `body`.
fn body_offset(body: &[u8], line: usize, column: usize) -> usize {
    let text = String::from_utf8_lossy(body);
    let before: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(|l| l.chars().count()).sum();
    before + column.saturating_sub(1)
}
