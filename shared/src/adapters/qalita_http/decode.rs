//! Reading QALITA's successful answers: an issue, a list of issues (a bare array, or wrapped in
//! `items` or `data`), a user with configurable field names. "No content" (204, an empty body,
//! `null`) means absent. Any other body that is not what was asked for is a permanent error that
//! says which request, where in the body, and why.

use std::fmt::Display;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::qalita_paths::UserFields;
use crate::domain::qalita::{QalitaComment, QalitaIssue, QalitaUser};
use crate::ports::{ApiError, Service};

/// The wrappers a list may come in, besides a bare array.
const LIST_WRAPPERS: [&str; 2] = ["items", "data"];

/// One answer of QALITA, read whole.
#[derive(Debug)]
pub(super) struct Answer<'a> {
    /// `GET /api/v2/issues/7`: the verb and path, never the base URL or the query.
    pub request: &'a str,
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header, for the message when the body is not JSON.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

impl Answer<'_> {
    /// One issue, or `None` when QALITA says "not found or no access" (204, also 404).
    pub fn issue(&self) -> Result<Option<QalitaIssue>, ApiError> {
        // Checked first: serde also reads a struct from an array of its fields, `[1, 2]`.
        match self.json()? {
            None => Ok(None),
            Some(issue @ Value::Object(_)) => self.typed(issue, "a QALITA issue").map(Some),
            Some(other) => Err(self.refuse("a QALITA issue", kind(&other))),
        }
    }

    /// A page of issues; "no content" is an empty page.
    pub fn issues(&self) -> Result<Vec<QalitaIssue>, ApiError> {
        let items = match self.json()? {
            None => return Ok(Vec::new()),
            Some(items @ Value::Array(_)) => items,
            Some(Value::Object(mut wrapper)) => {
                match LIST_WRAPPERS.iter().find_map(|key| wrapper.remove(*key).filter(Value::is_array)) {
                    Some(items) => items,
                    None => return Err(self.refuse("a list of QALITA issues", "an object without `items` or `data`")),
                }
            }
            Some(other) => return Err(self.refuse("a list of QALITA issues", kind(&other))),
        };
        if let Some((at, item)) = items.as_array().into_iter().flatten().enumerate().find(|(_, i)| !i.is_object()) {
            return Err(self.refuse("a list of QALITA issues", format!("{} at `[{at}]`", kind(item))));
        }
        self.typed(items, "a list of QALITA issues")
    }

    /// A list of comments (bare, or in `items` or `data`); "no content" is none.
    pub fn comments(&self) -> Result<Vec<QalitaComment>, ApiError> {
        match self.list("a list of QALITA comments")? {
            None => Ok(Vec::new()),
            Some(items) => self.typed(items, "a list of QALITA comments"),
        }
    }

    /// One comment; `None` for "no content".
    pub fn comment(&self) -> Result<Option<QalitaComment>, ApiError> {
        match self.json()? {
            None => Ok(None),
            Some(comment @ Value::Object(_)) => self.typed(comment, "a QALITA comment").map(Some),
            Some(other) => Err(self.refuse("a QALITA comment", kind(&other))),
        }
    }

    /// A list of users, each read with the configured field names.
    pub fn users(&self, fields: &UserFields) -> Result<Vec<QalitaUser>, ApiError> {
        let Some(Value::Array(items)) = self.list("a list of QALITA users")? else { return Ok(Vec::new()) };
        let text = |user: &serde_json::Map<String, Value>, name: &str| {
            user.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        items
            .iter()
            .enumerate()
            .map(|(at, item)| {
                let user = item
                    .as_object()
                    .ok_or_else(|| self.refuse("a list of QALITA users", format!("{} at `[{at}]`", kind(item))))?;
                let id = user.get("id").and_then(|id| id.as_u64().or_else(|| id.as_str().and_then(|s| s.parse().ok())));
                let id = id.ok_or_else(|| {
                    self.refuse("a list of QALITA users", format!("a user without a numeric `id` at `[{at}]`"))
                })?;
                Ok(QalitaUser {
                    id,
                    login: text(user, &fields.login),
                    name: text(user, &fields.name),
                    email: text(user, &fields.email),
                })
            })
            .collect()
    }

    /// A list as an array of objects: bare, or in one of the wrappers; `None` for "no content".
    fn list(&self, expected: &str) -> Result<Option<Value>, ApiError> {
        let items = match self.json()? {
            None => return Ok(None),
            Some(items @ Value::Array(_)) => items,
            Some(Value::Object(mut wrapper)) => {
                match LIST_WRAPPERS.iter().find_map(|key| wrapper.remove(*key).filter(Value::is_array)) {
                    Some(items) => items,
                    None => return Err(self.refuse(expected, "an object without `items` or `data`")),
                }
            }
            Some(other) => return Err(self.refuse(expected, kind(&other))),
        };
        if let Some((at, item)) = items.as_array().into_iter().flatten().enumerate().find(|(_, i)| !i.is_object()) {
            return Err(self.refuse(expected, format!("{} at `[{at}]`", kind(item))));
        }
        Ok(Some(items))
    }

    /// One user, its fields read under the configured names; `id` falls back to the one asked for.
    pub fn user(&self, id: u64, fields: &UserFields) -> Result<Option<QalitaUser>, ApiError> {
        let user = match self.json()? {
            None => return Ok(None),
            Some(Value::Object(user)) => user,
            Some(other) => return Err(self.refuse("a QALITA user", kind(&other))),
        };
        let id = match user.get("id") {
            None | Some(Value::Null) => id,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(id),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => s.parse().unwrap_or(id),
            Some(other) => return Err(self.refuse("a QALITA user", format!("an `id` of {other}"))),
        };
        let text = |name: &str| user.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(Some(QalitaUser { id, login: text(&fields.login), name: text(&fields.name), email: text(&fields.email) }))
    }

    /// The body as JSON; `None` for "no content".
    fn json(&self) -> Result<Option<Value>, ApiError> {
        if matches!(self.status, StatusCode::NO_CONTENT | StatusCode::NOT_FOUND)
            || self.body.iter().all(u8::is_ascii_whitespace)
        {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Null) => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                let content_type = self.content_type.unwrap_or("no content type");
                Err(self.refuse("JSON", format!("a body of {content_type} that does not parse ({error})")))
            }
        }
    }

    fn typed<T: DeserializeOwned>(&self, value: Value, expected: &str) -> Result<T, ApiError> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let at = if path == "." { String::new() } else { format!(" at `{path}`") };
            self.refuse(expected, format!("a body whose content does not fit{at}: {}", error.inner()))
        })
    }

    fn refuse(&self, expected: &str, found: impl Display) -> ApiError {
        let message = format!("the answer to {} should be {expected}, got {found}", self.request);
        ApiError::Permanent { service: Service::Qalita, status: self.status.as_u16(), message }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE: &str = include_str!("../../../../fixtures/qalita/issue.json");
    const USER: &str = include_str!("../../../../fixtures/qalita/user.json");

    fn answer(status: u16, body: &str) -> Answer<'_> {
        Answer {
            request: "GET /api/v2/issues/4821",
            status: StatusCode::from_u16(status).unwrap(),
            content_type: Some("application/json"),
            body: body.as_bytes(),
        }
    }

    fn permanent_message(error: ApiError) -> String {
        match error {
            ApiError::Permanent { service: Service::Qalita, status: 200, message } => message,
            other => panic!("expected a permanent QALITA error of HTTP 200, got {other:?}"),
        }
    }

    #[test]
    fn no_content_means_the_issue_is_absent() {
        assert_eq!(answer(204, "").issue(), Ok(None));
        assert_eq!(answer(404, r#"{"detail":"Issue not found"}"#).issue(), Ok(None));
        assert_eq!(answer(200, " \n").issue(), Ok(None));
        assert_eq!(answer(200, "null").issue(), Ok(None));
        assert_eq!(answer(204, "").user(12, &UserFields::default()), Ok(None));
        assert_eq!(answer(204, "").issues(), Ok(Vec::new()));
    }

    #[test]
    fn the_issue_sample_reads_from_an_answer() {
        let issue = answer(200, ISSUE).issue().unwrap().unwrap();
        assert_eq!((issue.id.get(), issue.title.as_str()), (4821, "Invalid Latitude"));
    }

    #[test]
    fn a_list_reads_bare_or_wrapped_in_items_or_data() {
        for body in
            [format!("[{ISSUE}]"), format!(r#"{{"items":[{ISSUE}],"total":1}}"#), format!(r#"{{"data":[{ISSUE}]}}"#)]
        {
            let issues = answer(200, &body).issues().unwrap();
            assert_eq!(issues.iter().map(|i| i.id.get()).collect::<Vec<_>>(), vec![4821], "{body}");
        }
        assert_eq!(answer(200, "[]").issues(), Ok(Vec::new()));
    }

    #[test]
    fn a_list_in_an_unknown_wrapper_is_refused_with_what_came() {
        let message = permanent_message(answer(200, r#"{"results":[]}"#).issues().unwrap_err());
        assert_eq!(
            message,
            "the answer to GET /api/v2/issues/4821 should be a list of QALITA issues, \
             got an object without `items` or `data`"
        );
        let message = permanent_message(answer(200, r#"{"items":"none"}"#).issues().unwrap_err());
        assert!(message.contains("without `items` or `data`"), "{message}");
    }

    #[test]
    fn a_malformed_issue_in_a_list_is_named_by_its_place() {
        let body = format!(r#"[{ISSUE}, {{"id": 5, "created_at": "yesterday"}}]"#);
        let message = permanent_message(answer(200, &body).issues().unwrap_err());
        assert!(message.contains("at `[1].created_at`"), "{message}");
        let message = permanent_message(answer(200, &format!("[{ISSUE}, [7, 3]]")).issues().unwrap_err());
        assert!(message.ends_with("got an array at `[1]`"), "{message}");
    }

    #[test]
    fn a_body_that_is_not_json_is_a_permanent_error_naming_the_content_type() {
        let mut html = answer(200, "<!DOCTYPE html><html>QALITA</html>");
        html.content_type = Some("text/html; charset=utf-8");
        let message = permanent_message(html.issue().unwrap_err());
        assert!(message.starts_with("the answer to GET /api/v2/issues/4821 should be JSON, got a body of text/html"));
        let message = permanent_message(answer(200, "[1, 2]").issue().unwrap_err());
        assert!(message.ends_with("should be a QALITA issue, got an array"), "{message}");
        let message = permanent_message(answer(200, r#"{"title": "no id"}"#).issue().unwrap_err());
        assert!(message.contains("missing field `id`"), "{message}");
    }

    #[test]
    fn the_user_sample_reads_with_the_default_field_names() {
        let user = answer(200, USER).user(12, &UserFields::default()).unwrap().unwrap();
        assert_eq!(user.login.as_deref(), Some("m.durand"));
        assert_eq!(user.email.as_deref(), Some("marie.durand@example.com"));
    }

    #[test]
    fn the_user_login_is_read_under_the_configured_name() {
        let fields = UserFields { login: "username".into(), ..Default::default() };
        let body = r#"{"username": "jdoe", "login": "ignored", "name": 3}"#;
        let user = answer(200, body).user(7, &fields).unwrap().unwrap();
        assert_eq!(user, QalitaUser { id: 7, login: Some("jdoe".into()), name: None, email: None });
        let user = answer(200, r#"{"id": "8"}"#).user(7, &fields).unwrap().unwrap();
        assert_eq!(user.id, 8);
        let message = permanent_message(answer(200, r#"{"id": -1}"#).user(7, &fields).unwrap_err());
        assert!(message.ends_with("got an `id` of -1"), "{message}");
    }
}
