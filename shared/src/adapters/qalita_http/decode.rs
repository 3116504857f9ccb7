//! Reading QALITA's successful answers into domain types by the configured pointers ([`Reading`]):
//! an issue, a list (a bare array, in `items` or `data`, or where `qalita.paging.items` points), a
//! comment, a user. No content (an empty body, `null`) means absent. Any other body that is not what
//! was asked for is a permanent error that says which request, where in the body, and why.

use std::fmt::Display;

use reqwest::StatusCode;
use serde_json::Value;

use crate::config::QalitaPaths;
use crate::config::qalita_shape::read::{self, Misfit};
use crate::config::qalita_shape::{JsonPointer, QalitaFields, QalitaShape, UserPointers};
use crate::domain::qalita::{QalitaComment, QalitaIssue, QalitaUser};
use crate::ports::{ApiError, Service};

/// The wrappers a list may come in, besides a bare array, when no pointer is configured.
const LIST_WRAPPERS: [&str; 2] = ["items", "data"];

/// Where the fields and lists are in QALITA's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reading {
    /// An issue's and a comment's fields.
    pub fields: QalitaFields,
    /// A user's fields, each one set.
    pub users: UserPointers,
    /// Where a page of issues or users is in its body (`None`: bare, or in `items` or `data`).
    pub items: Option<JsonPointer>,
    /// Where the comments are in their body (the same default).
    pub comment_items: Option<JsonPointer>,
    /// Where a list's total is in its body, when the instance says it.
    pub total: Option<JsonPointer>,
}

impl Reading {
    /// The pointers of `shape`, the user fields it leaves unset read under the names of `paths`.
    pub fn new(shape: &QalitaShape, paths: &QalitaPaths) -> Self {
        Reading {
            fields: shape.fields.clone(),
            users: shape.fields.user.resolve(&paths.user_fields),
            items: shape.paging.items.clone(),
            comment_items: shape.paging.comment_items.clone(),
            total: shape.paging.total.clone(),
        }
    }
}

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
    /// Where the fields are.
    pub reading: &'a Reading,
}

impl Answer<'_> {
    /// One issue, or `None` for no content.
    pub fn issue(&self) -> Result<Option<QalitaIssue>, ApiError> {
        match self.object("a QALITA issue")? {
            None => Ok(None),
            Some(value) => self.fit(read::issue(&value, &self.reading.fields), "a QALITA issue", None).map(Some),
        }
    }

    /// A page of issues; "no content" is an empty page.
    pub fn issues(&self) -> Result<Vec<QalitaIssue>, ApiError> {
        let expected = "a list of QALITA issues";
        self.each(expected, self.reading.items.as_ref(), |item, at| {
            self.fit(read::issue(item, &self.reading.fields), expected, Some(at))
        })
    }

    /// A page of issues as sent, each an object; "no content" is an empty page.
    pub fn raw_issues(&self) -> Result<Vec<Value>, ApiError> {
        self.each("a list of QALITA issues", self.reading.items.as_ref(), |item, _| Ok(item.clone()))
    }

    /// The list's total, where `qalita.paging.total` points; `None` when not configured or absent.
    pub fn total(&self) -> Result<Option<u64>, ApiError> {
        let Some(pointer) = &self.reading.total else { return Ok(None) };
        let Some(body) = self.json()? else { return Ok(None) };
        match pointer.get(&body) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
            Some(other) => Err(self.refuse("a list with a total", format!("{other} at `{pointer}`"))),
        }
    }

    /// A list of comments; "no content" is none.
    pub fn comments(&self) -> Result<Vec<QalitaComment>, ApiError> {
        let expected = "a list of QALITA comments";
        let items = self.reading.comment_items.as_ref();
        self.each(expected, items, |item, at| {
            self.fit(read::comment(item, &self.reading.fields.comment), expected, Some(at))
        })
    }

    /// One comment; `None` for "no content".
    pub fn comment(&self) -> Result<Option<QalitaComment>, ApiError> {
        match self.object("a QALITA comment")? {
            None => Ok(None),
            Some(value) => {
                self.fit(read::comment(&value, &self.reading.fields.comment), "a QALITA comment", None).map(Some)
            }
        }
    }

    /// A list of users; each must have an id.
    pub fn users(&self) -> Result<Vec<QalitaUser>, ApiError> {
        let expected = "a list of QALITA users";
        self.each(expected, self.reading.items.as_ref(), |item, at| {
            read::user(item, &self.reading.users, None).map_err(|misfit| match misfit.field {
                "id" => self.refuse(expected, format!("a user without a numeric `id` at `[{at}]`")),
                _ => self.misfit(expected, Some(at), misfit),
            })
        })
    }

    /// One user; its id falls back to `id`, the one asked for.
    pub fn user(&self, id: u64) -> Result<Option<QalitaUser>, ApiError> {
        match self.object("a QALITA user")? {
            None => Ok(None),
            Some(value) => read::user(&value, &self.reading.users, Some(id))
                .map(Some)
                .map_err(|misfit| self.refuse("a QALITA user", misfit.problem)),
        }
    }

    /// The body as JSON, whatever it holds (a context lookup's answer); `None` for no content.
    pub fn value(&self) -> Result<Option<Value>, ApiError> {
        self.json()
    }

    /// The body as one object; `None` for no content.
    fn object(&self, expected: &str) -> Result<Option<Value>, ApiError> {
        // Checked here: an array is never an object, whatever the pointers say.
        match self.json()? {
            None => Ok(None),
            Some(value @ Value::Object(_)) => Ok(Some(value)),
            Some(other) => Err(self.refuse(expected, kind(&other))),
        }
    }

    /// Each object of the list, read by `one` with its place.
    fn each<T>(
        &self,
        expected: &str,
        pointer: Option<&JsonPointer>,
        one: impl Fn(&Value, usize) -> Result<T, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        let Some(items) = self.list(expected, pointer)? else { return Ok(Vec::new()) };
        if let Some((at, item)) = items.iter().enumerate().find(|(_, i)| !i.is_object()) {
            return Err(self.refuse(expected, format!("{} at `[{at}]`", kind(item))));
        }
        items.iter().enumerate().map(|(at, item)| one(item, at)).collect()
    }

    /// The list's items: where `pointer` points, else the body when it is an array, else its
    /// `items` or `data`; `None` for "no content".
    fn list(&self, expected: &str, pointer: Option<&JsonPointer>) -> Result<Option<Vec<Value>>, ApiError> {
        let Some(mut body) = self.json()? else { return Ok(None) };
        let found = match pointer {
            Some(pointer) => match body.pointer_mut(pointer.as_str()).map(Value::take) {
                Some(Value::Array(items)) => return Ok(Some(items)),
                Some(other) => format!("{} at `{pointer}`", kind(&other)),
                None => format!("{} without `{pointer}`", kind(&body)),
            },
            None => match body {
                Value::Array(items) => return Ok(Some(items)),
                Value::Object(mut wrapper) => {
                    match LIST_WRAPPERS.iter().find_map(|key| wrapper.remove(*key).filter(Value::is_array)) {
                        Some(Value::Array(items)) => return Ok(Some(items)),
                        _ => "an object without `items` or `data`".to_owned(),
                    }
                }
                other => kind(&other).to_owned(),
            },
        };
        Err(self.refuse(expected, found))
    }

    /// The body as JSON; `None` for "no content" (a 204 or 404 the client took as "not found", an
    /// empty body, `null`).
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

    fn fit<T>(&self, read: Result<T, Misfit>, expected: &str, at: Option<usize>) -> Result<T, ApiError> {
        read.map_err(|misfit| self.misfit(expected, at, misfit))
    }

    fn misfit(&self, expected: &str, at: Option<usize>, misfit: Misfit) -> ApiError {
        let place = at.map(|at| format!("[{at}].")).unwrap_or_default();
        let found = format!("a body whose content does not fit at `{place}{}`: {}", misfit.field, misfit.problem);
        self.refuse(expected, found)
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
    use std::sync::LazyLock;

    use serde_json::json;

    use super::*;
    use crate::config::qalita_paths::UserFields;

    const ISSUE: &str = include_str!("../../../../fixtures/qalita/issue.json");
    const USER: &str = include_str!("../../../../fixtures/qalita/user.json");

    static BUILT_IN: LazyLock<Reading> =
        LazyLock::new(|| Reading::new(&QalitaShape::default(), &QalitaPaths::default()));

    fn answer(status: u16, body: &str) -> Answer<'_> {
        read_with(&BUILT_IN, status, body)
    }

    fn read_with<'a>(reading: &'a Reading, status: u16, body: &'a str) -> Answer<'a> {
        Answer {
            request: "GET /api/v2/issues/4821",
            status: StatusCode::from_u16(status).unwrap(),
            content_type: Some("application/json"),
            body: body.as_bytes(),
            reading,
        }
    }

    /// The built-in reading with `[qalita.paging]` `items` and `total` set.
    fn listed_at(items: &str, total: Option<&str>) -> Reading {
        let mut shape = QalitaShape::default();
        shape.paging.items = Some(JsonPointer::parse(items).unwrap());
        shape.paging.total = total.map(|t| JsonPointer::parse(t).unwrap());
        Reading::new(&shape, &QalitaPaths::default())
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
        assert_eq!(answer(204, "").user(12), Ok(None));
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
        let user = answer(200, USER).user(12).unwrap().unwrap();
        assert_eq!(user.login.as_deref(), Some("m.durand"));
        assert_eq!(user.email.as_deref(), Some("marie.durand@example.com"));
    }

    #[test]
    fn the_user_login_is_read_under_the_configured_name() {
        let paths = QalitaPaths {
            user_fields: UserFields { login: "username".into(), ..Default::default() },
            ..Default::default()
        };
        let fields = Reading::new(&QalitaShape::default(), &paths);
        let body = r#"{"username": "jdoe", "login": "ignored", "name": 3}"#;
        let user = read_with(&fields, 200, body).user(7).unwrap().unwrap();
        assert_eq!(user, QalitaUser { id: 7, login: Some("jdoe".into()), name: None, email: None });
        let user = read_with(&fields, 200, r#"{"id": "8"}"#).user(7).unwrap().unwrap();
        assert_eq!(user.id, 8);
        let message = permanent_message(read_with(&fields, 200, r#"{"id": -1}"#).user(7).unwrap_err());
        assert!(message.ends_with("got an `id` of -1"), "{message}");
    }

    #[test]
    fn a_list_is_read_where_the_items_pointer_says_with_its_total() {
        let data = listed_at("/data", Some("/total"));
        let body = format!(r#"{{"data": [{ISSUE}], "total": 31}}"#);
        let answer = read_with(&data, 200, &body);
        assert_eq!(answer.issues().unwrap().iter().map(|i| i.id.get()).collect::<Vec<_>>(), vec![4821]);
        assert_eq!(answer.total(), Ok(Some(31)));

        let nested = listed_at("/results/items", Some("/results/count"));
        let body = format!(r#"{{"results": {{"items": [{ISSUE}, {ISSUE}], "count": "2"}}}}"#);
        assert_eq!(read_with(&nested, 200, &body).issues().unwrap().len(), 2);
        assert_eq!(read_with(&nested, 200, &body).total(), Ok(Some(2)));

        let bare = listed_at("", None);
        assert_eq!(read_with(&bare, 200, &format!("[{ISSUE}]")).issues().unwrap().len(), 1);
        assert_eq!(read_with(&bare, 200, "[]").total(), Ok(None), "no total configured");
        assert_eq!(read_with(&data, 200, r#"{"data": []}"#).total(), Ok(None), "a total pointer to nothing");
    }

    #[test]
    fn a_list_not_where_the_pointer_says_is_refused_with_what_came() {
        let nested = listed_at("/results/items", None);
        let message = permanent_message(read_with(&nested, 200, r#"{"items": []}"#).issues().unwrap_err());
        assert!(
            message.ends_with("should be a list of QALITA issues, got an object without `/results/items`"),
            "{message}"
        );
        let message = permanent_message(read_with(&nested, 200, r#"{"results": {"items": 3}}"#).issues().unwrap_err());
        assert!(message.ends_with("got a number at `/results/items`"), "{message}");
        let data = listed_at("/data", Some("/total"));
        let message = permanent_message(read_with(&data, 200, r#"{"data": [], "total": "many"}"#).total().unwrap_err());
        assert!(message.ends_with(r#"got "many" at `/total`"#), "{message}");
    }

    #[test]
    fn issues_read_by_configured_pointers_name_the_field_that_does_not_fit() {
        let mut shape = QalitaShape::default();
        shape.fields.assignee = serde_json::from_value(json!("/owner")).unwrap();
        let reading = Reading::new(&shape, &QalitaPaths::default());
        let body = r#"[{"id": 1, "owner": {"id": 12}}, {"id": 2, "owner": "12"}, {"id": 3, "owner": 12}, {"id": 4}]"#;
        let assignees: Vec<_> = read_with(&reading, 200, body).issues().unwrap().iter().map(|i| i.assignee).collect();
        assert_eq!(assignees, [Some(12), Some(12), Some(12), None]);
        let message =
            permanent_message(read_with(&reading, 200, r#"[{"id": 1, "owner": true}]"#).issues().unwrap_err());
        assert!(message.contains("does not fit at `[0].assignee`: `/owner` holds true"), "{message}");
    }

    #[test]
    fn comments_are_read_where_their_own_pointer_says_not_the_pages_one() {
        let mut shape = QalitaShape::default();
        shape.paging.items = Some(JsonPointer::parse("/data").unwrap());
        let bare = Reading::new(&shape, &QalitaPaths::default());
        assert_eq!(read_with(&bare, 200, r#"[{"id": 3, "content": "hi"}]"#).comments().unwrap().len(), 1);
        shape.paging.comment_items = Some(JsonPointer::parse("/comments").unwrap());
        let nested = Reading::new(&shape, &QalitaPaths::default());
        let comments = read_with(&nested, 200, r#"{"comments": [{"id": 3, "text": "hi"}]}"#).comments().unwrap();
        assert_eq!(comments.iter().map(|c| c.content.as_str()).collect::<Vec<_>>(), ["hi"]);
    }
}
