//! The record of every request the simulator received, without any header (so never the token):
//! what tests read to prove a call was made, or that none was, and what a write sent.

use serde_json::Value;

use crate::kit::JournalEntry;
use crate::kit::query;

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path, `/api/v2/issues/7`.
    pub path: String,
    /// The raw query string, when there is one.
    pub query: Option<String>,
    /// The body as text, when there was one (QALITA's API takes no secret in a body).
    pub body: Option<String>,
    /// The status answered; `None` while the answer is pending, or when the client left first.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The query's parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(query::pairs).unwrap_or_default()
    }

    /// The body as JSON, when there was one and it parses.
    pub fn json(&self) -> Option<Value> {
        self.body.as_deref().and_then(|body| serde_json::from_str(body).ok())
    }

    /// The first value of the query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
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
