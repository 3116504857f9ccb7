//! What `qalita discover` and `test-connection` read beside the sync's own calls, with the same
//! base URL, token and TLS settings: the instance's OpenAPI document, and one page of the issue list
//! as the instance sends it (to see which configured fields its issues lack).

use serde_json::Value;

use super::{Endpoint, QalitaClient};
use crate::ports::ApiError;

/// The OpenAPI document could not be read; the message names the URL, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The path given is not a plain path (`/openapi.json`).
    #[error("the OpenAPI path {0:?} must start with `/` and carry no query, fragment, space or brace")]
    InvalidPath(String),
    /// No answer, or an answer that says to try later (a time-out, 5xx, 429).
    #[error("QALITA did not answer for {url}: {error}")]
    Unavailable {
        /// The document's URL.
        url: String,
        /// What happened.
        error: ApiError,
    },
    /// 401 or 403: the document is not open, and the token as sent is refused.
    #[error(
        "QALITA refuses the token for {url} (HTTP {status}): the document is not open, and [qalita.auth] may not be how this instance takes its token"
    )]
    Refused {
        /// The document's URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// Any other answer that is not the document (404, 405, an empty 204 …).
    #[error("QALITA serves no OpenAPI document at {url} (HTTP {status})")]
    NotServed {
        /// The document's URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// An answer that does not parse as JSON.
    #[error("the answer at {url} is not JSON ({content_type}): {reason}")]
    NotJson {
        /// The document's URL.
        url: String,
        /// Its content type, as sent.
        content_type: String,
        /// The parser's message.
        reason: String,
    },
}

impl DocumentError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DocumentError::Unavailable { .. })
    }
}

impl QalitaClient {
    /// The OpenAPI document at `path` below the base URL (FastAPI's `/openapi.json`), as JSON. The
    /// token is sent as configured, though the document is usually open.
    pub async fn openapi_document(&self, path: &str) -> Result<Value, DocumentError> {
        let endpoint = Endpoint::parse(&format!("GET {path}"))
            .ok()
            .filter(|endpoint| !endpoint.path.has_id() && !endpoint.path.has_comment_id())
            .ok_or_else(|| DocumentError::InvalidPath(path.chars().take(120).collect()))?;
        let url = format!("{}{path}", self.base);
        let fetched = match self.fetch(&endpoint, path, &[], false).await {
            Ok(fetched) => fetched,
            Err(error @ ApiError::Transient { .. }) => return Err(DocumentError::Unavailable { url, error }),
            Err(ApiError::Permanent { status: status @ (401 | 403), .. }) => {
                return Err(DocumentError::Refused { url, status });
            }
            Err(ApiError::Permanent { status, .. }) => return Err(DocumentError::NotServed { url, status }),
            Err(ApiError::NotFound { .. }) => return Err(DocumentError::NotServed { url, status: 404 }),
        };
        if fetched.body.iter().all(u8::is_ascii_whitespace) {
            return Err(DocumentError::NotServed { url, status: fetched.status.as_u16() });
        }
        serde_json::from_slice(&fetched.body).map_err(|error| DocumentError::NotJson {
            url,
            content_type: fetched.content_type.clone().unwrap_or_else(|| "no content type".into()),
            reason: error.to_string(),
        })
    }

    /// The first `limit` issues of the list as the instance sends them (each an object), read
    /// where `qalita.paging.items` says.
    pub async fn issue_page_json(&self, limit: u32) -> Result<Vec<Value>, ApiError> {
        let endpoint = &self.paths.list_issues;
        let extra = &self.paths.list_extra_query;
        Ok(self.list_page(endpoint, extra, (0, limit), |answer| answer.raw_issues()).await?.0)
    }
}
