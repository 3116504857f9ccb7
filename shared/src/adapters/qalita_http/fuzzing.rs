//! The answer decoders under a fuzzer or the smoke run (the crate's fuzzing checks): every reading
//! of one answer, checked against what the client's callers rely on.

use reqwest::StatusCode;
use serde_json::Value;

use super::decode::{Answer, Reading};
use crate::config::{QalitaPaths, QalitaShape};
use crate::ports::{ApiError, Service};

/// What each reading of one answer found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// An issue, read as one.
    pub issue: bool,
    /// The issues of a page.
    pub issues: usize,
    /// The comments of a list.
    pub comments: usize,
    /// A comment, read as one.
    pub comment: bool,
    /// The users of a list.
    pub users: usize,
    /// A user, read as one.
    pub user: bool,
}

/// Reads one answer (`status`, `content_type`, `body`) in every way the client does, with the fields
/// where `shape` and `paths` say. Checks: every
/// refusal is a permanent QALITA error of that status naming the request; "no content" is absent
/// for every reading; a page of issues has as many raw issues; an issue read from a body that is an
/// object. Panics on a broken promise; returns what each reading found.
pub fn check_answers(
    shape: &QalitaShape,
    paths: &QalitaPaths,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Found {
    let Ok(status) = StatusCode::from_u16(status) else { return Found::default() };
    let reading = Reading::new(shape, paths);
    let request = "GET /api/v2/issues/4821";
    let answer = Answer { request, status, content_type, body, reading: &reading };
    let refused = |error: ApiError| match error {
        ApiError::Permanent { service: Service::Qalita, status: code, message } => {
            assert_eq!(code, status.as_u16());
            assert!(message.starts_with(&format!("the answer to {request} should be ")), "{message}");
        }
        other => panic!("a decoder's refusal that is not permanent: {other:?}"),
    };
    let mut found = Found::default();
    let value = answer.value();
    let issue = answer.issue();
    let issues = answer.issues();
    let raw = answer.raw_issues();
    match (&value, &issue) {
        (Ok(None), Ok(None)) | (Ok(Some(Value::Object(_))), Ok(Some(_)) | Err(_)) => {}
        (Ok(Some(_)), Err(_)) | (Err(_), Err(_)) => {}
        _ => panic!("the body reads as {value:?} and the issue as {issue:?}"),
    }
    if let Ok(None) = value {
        assert_eq!(issues.as_ref().map(Vec::len).ok(), Some(0), "no content is an empty page");
        assert_eq!(answer.comment().ok(), Some(None), "no content is no comment");
        assert_eq!(answer.user(7).ok(), Some(None), "no content is no user");
    }
    match (&issues, &raw) {
        (Ok(issues), Ok(raw)) => assert_eq!(issues.len(), raw.len()),
        (Err(_), _) => {}
        (Ok(_), Err(error)) => panic!("a page of issues whose raw issues are refused: {error}"),
    }
    found.issue = matches!(issue, Ok(Some(_)));
    found.issues = issues.as_ref().map(Vec::len).unwrap_or_default();
    for result in [value.map(drop), issue.map(drop), issues.map(drop), raw.map(drop)] {
        result.err().into_iter().for_each(refused);
    }
    match answer.total() {
        Ok(_) => {}
        Err(error) => refused(error),
    }
    match answer.comments() {
        Ok(comments) => found.comments = comments.len(),
        Err(error) => refused(error),
    }
    match answer.comment() {
        Ok(comment) => found.comment = comment.is_some(),
        Err(error) => refused(error),
    }
    match answer.users() {
        Ok(users) => found.users = users.len(),
        Err(error) => refused(error),
    }
    match answer.user(7) {
        Ok(user) => found.user = user.is_some(),
        Err(error) => refused(error),
    }
    found
}
