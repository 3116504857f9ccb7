//! An answer of the simulator before it becomes an HTTP response: a status, headers and a JSON or
//! text body, with GitLab's error shapes (`{"message": …}` from the application, `{"error": …}`
//! from parameter validation).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// An answer.
#[derive(Debug, Clone)]
pub(super) struct Reply {
    /// The HTTP status.
    pub(super) status: u16,
    /// Extra headers.
    pub(super) headers: Vec<(&'static str, String)>,
    body: Content,
}

#[derive(Debug, Clone)]
enum Content {
    Json(Value),
    Text { content_type: &'static str, text: String },
}

impl Reply {
    /// A JSON answer.
    pub(super) fn json(status: u16, value: Value) -> Self {
        Reply { status, headers: Vec::new(), body: Content::Json(value) }
    }

    /// A text answer.
    pub(super) fn text(status: u16, content_type: &'static str, text: &str) -> Self {
        Reply { status, headers: Vec::new(), body: Content::Text { content_type, text: text.to_owned() } }
    }

    /// `{"message": message}`: how GitLab's application code refuses (`404 Project Not Found`).
    pub(super) fn message(status: u16, message: &str) -> Self {
        Reply::json(status, json!({ "message": message }))
    }

    /// `{"error": error}`: how GitLab's parameter validation refuses (`title is missing`).
    pub(super) fn error(status: u16, error: &str) -> Self {
        Reply::json(status, json!({ "error": error }))
    }

    /// `{"message": {field: [problem]}}`: a model validation error.
    pub(super) fn invalid_field(field: &str, problem: &str) -> Self {
        Reply::json(400, json!({ "message": { field: [problem] } }))
    }

    /// `other`'s status and body with this answer's headers (the rate-limit headers of a request
    /// whose outcome is known late).
    pub(super) fn replaced(self, other: Reply) -> Self {
        Reply { headers: self.headers, ..other }
    }

    /// Adds a header.
    pub(super) fn with_header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    /// The HTTP response.
    pub(super) fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            Content::Json(value) => ("application/json", value.to_string()),
            Content::Text { content_type, text } => (content_type, text),
        };
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// GitLab's answer to a request whose token it does not know (or that has none).
pub(super) fn unauthorized() -> Reply {
    Reply::message(401, "401 Unauthorized")
}

/// The body GitLab's front answers a 5xx with: the API's JSON for 500 and 503, the proxy's HTML
/// page for 502 and 504 (what a client sees when Workhorse or the load balancer fails).
pub(super) fn server_error(status: u16) -> Reply {
    match status {
        500 => Reply::message(500, "500 Internal Server Error"),
        503 => Reply::message(503, "503 Service Unavailable"),
        502 | 504 => {
            let title = if status == 502 { "GitLab is not responding (502)" } else { "Gateway Timeout (504)" };
            let page = format!(
                "<!DOCTYPE html>\n<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{status}</h1>\n<h3>{title}</h3>\n<p>Please contact your GitLab administrator if this problem persists.</p>\n</body>\n</html>\n"
            );
            Reply::text(status, "text/html; charset=utf-8", &page)
        }
        other => Reply::message(other, &format!("{other} Server Error")),
    }
}
