//! The record of every request the simulator received under `/api/v4`, for tests to assert on the calls made
//! (and not made). Tokens are never recorded: no header but `X-Gitlab-Event-UUID` is kept, and a
//! `private_token` query parameter is redacted.

use serde_json::Value;

use crate::kit::JournalEntry;
use crate::kit::query::decode;

/// One request and the status it was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path after `/api/v4`, as sent (a project path stays URL-encoded: `/projects/g%2Fp/issues`).
    pub path: String,
    /// The query string as sent, `""` when none.
    pub query: String,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
    /// The `X-Gitlab-Event-UUID` header.
    pub event_uuid: Option<String>,
    /// The status answered; `None` when the connection was closed without an answer.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The value of a query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
    }
}

impl JournalEntry for RecordedRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        &self.path
    }
}

/// The query string without the value of `private_token`.
pub(super) fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if decode(key).eq_ignore_ascii_case("private_token") => {
                format!("{key}=[redacted]")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}
