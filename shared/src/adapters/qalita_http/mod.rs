//! The QALITA REST client (adapter of [`crate::ports::QalitaApi`]): bearer token, configurable
//! endpoints ([`QalitaPaths`]), and every answer classified through [`crate::adapters::http`], with
//! QALITA's own habit on top: "not found or no access" is 204 No Content, which reads as absent.

mod decode;

use std::fmt;
use std::time::Instant;

use async_trait::async_trait;
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};

use self::decode::Answer;
use crate::adapters::http::{self, HttpSettings, HttpSetupError};
pub use crate::config::qalita_paths::{Endpoint, PathConfigError, PathTemplate, QalitaPaths, UserFields, Verb};
use crate::domain::qalita::{QalitaComment, QalitaIssue, QalitaIssueUpdate, QalitaUser};
use crate::domain::{QalitaIssueId, SecretString};
use crate::ports::{ApiError, QalitaApi, Service};

/// The most of one answer the client reads: a page of a thousand issues is far below it, and a
/// runaway body must not exhaust a Lambda's memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Users read per page when a login is looked up, and the most pages read.
const USER_PAGE: u32 = 100;
const USER_PAGES: u32 = 100;

/// A client that cannot be set up; the message says which setting to fix and never shows the token.
#[derive(Debug, thiserror::Error)]
pub enum QalitaClientError {
    /// The base URL is not an `http` or `https` URL without credentials, query or fragment.
    #[error("invalid QALITA base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given, credentials masked, shortened.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The token is empty.
    #[error("the QALITA API token is empty")]
    EmptyToken,
    /// The token holds characters an HTTP header cannot carry.
    #[error("the QALITA API token contains characters an HTTP header cannot carry")]
    InvalidToken,
    /// The endpoint configuration cannot work.
    #[error("invalid QALITA endpoint configuration: {0}")]
    Paths(#[from] PathConfigError),
    /// The HTTP client cannot be built (an unreadable CA bundle).
    #[error("QALITA client: {0}")]
    Http(#[from] HttpSetupError),
}

/// QALITA's REST API over HTTP. Cheap to share: build it once per cold start.
#[derive(Clone)]
pub struct QalitaClient {
    http: reqwest::Client,
    /// `https://qalita.example.com` or `http://host:3080/prefix`, without a trailing `/`.
    base: String,
    paths: QalitaPaths,
    /// `Bearer <token>`, marked sensitive.
    authorization: HeaderValue,
}

impl fmt::Debug for QalitaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QalitaClient")
            .field("base", &self.base)
            .field("paths", &self.paths)
            .field("authorization", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl QalitaClient {
    /// A client of the QALITA instance at `base_url` (`https://qalita.example.com`,
    /// `http://host:3080`; a path prefix is kept). Surrounding whitespace of the token (a trailing
    /// newline of a secret file) is dropped.
    pub fn new(
        base_url: &str,
        token: SecretString,
        paths: QalitaPaths,
        settings: &HttpSettings,
    ) -> Result<Self, QalitaClientError> {
        let base = parse_base_url(base_url)?;
        paths.validate()?;
        let token = token.expose().trim();
        if token.is_empty() {
            return Err(QalitaClientError::EmptyToken);
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| QalitaClientError::InvalidToken)?;
        authorization.set_sensitive(true);
        let user_agent = concat!("qalita-gitlab-sync/", env!("CARGO_PKG_VERSION"));
        let http = http::build_client(settings, user_agent)?;
        Ok(QalitaClient { http, base, paths, authorization })
    }

    /// The base URL in use, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The endpoints in use.
    pub fn paths(&self) -> &QalitaPaths {
        &self.paths
    }

    /// Sends one request and reads the answer: a success, or a 404 where `absent_on_404` says it
    /// means "no such object"; any other status becomes the classified error.
    async fn fetch(
        &self,
        endpoint: &Endpoint,
        path: &str,
        query: &[(String, String)],
        absent_on_404: bool,
    ) -> Result<Fetched, ApiError> {
        self.send(endpoint, path, query, None, absent_on_404).await
    }

    /// [`Self::fetch`] with an optional JSON body.
    async fn send(
        &self,
        endpoint: &Endpoint,
        path: &str,
        query: &[(String, String)],
        json: Option<&serde_json::Value>,
        absent_on_404: bool,
    ) -> Result<Fetched, ApiError> {
        let request = format!("{} {path}", endpoint.verb);
        let started = Instant::now();
        let mut builder = self
            .http
            .request(endpoint.verb.method(), format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json");
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(json) = json {
            builder = builder.json(json);
        }
        let mut response = builder.send().await.map_err(|error| {
            tracing::debug!(%request, elapsed_ms = elapsed_ms(started), "QALITA did not answer");
            http::transport_error(Service::Qalita, error)
        })?;
        let status = response.status();
        tracing::debug!(%request, status = status.as_u16(), elapsed_ms = elapsed_ms(started), "QALITA answered");
        if status == StatusCode::NOT_FOUND && absent_on_404 {
            // QALITA documents 204 for a missing object; a 404 is read the same way, but a wrong
            // path template also gives 404, so it is worth seeing in the log.
            tracing::info!(%request, "QALITA answered 404, read as \"not found\"");
            return Ok(Fetched { request, status, content_type: None, body: Vec::new() });
        }
        if !status.is_success() {
            let token = self.authorization.to_str().unwrap_or_default().trim_start_matches("Bearer ");
            return Err(http::error_from_scrubbed(Service::Qalita, response, None, &[token]).await);
        }
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| http::transport_error(Service::Qalita, error))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                let message = format!("the answer to {request} is larger than {} MiB", MAX_BODY_BYTES >> 20);
                return Err(ApiError::Permanent { service: Service::Qalita, status: status.as_u16(), message });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { request, status, content_type, body })
    }
}

/// An answer read whole.
struct Fetched {
    request: String,
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Fetched {
    fn answer(&self) -> Answer<'_> {
        Answer {
            request: &self.request,
            status: self.status,
            content_type: self.content_type.as_deref(),
            body: &self.body,
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl QalitaApi for QalitaClient {
    async fn list_issues(&self, offset: u64, limit: u32) -> Result<Vec<QalitaIssue>, ApiError> {
        let endpoint = &self.paths.list_issues;
        let mut query = vec![("offset".to_owned(), offset.to_string()), ("limit".to_owned(), limit.to_string())];
        query.extend(self.paths.list_extra_query.iter().cloned());
        self.fetch(endpoint, endpoint.path.as_str(), &query, false).await?.answer().issues()
    }

    async fn get_issue(&self, id: QalitaIssueId) -> Result<Option<QalitaIssue>, ApiError> {
        let endpoint = &self.paths.get_issue;
        self.fetch(endpoint, &endpoint.path_for(id.get()), &[], true).await?.answer().issue()
    }

    async fn get_user(&self, id: u64) -> Result<Option<QalitaUser>, ApiError> {
        let endpoint = &self.paths.get_user;
        self.fetch(endpoint, &endpoint.path_for(id), &[], true).await?.answer().user(id, &self.paths.user_fields)
    }

    async fn update_issue(&self, id: QalitaIssueId, update: &QalitaIssueUpdate) -> Result<QalitaIssue, ApiError> {
        let endpoint = &self.paths.update_issue;
        let body = serde_json::to_value(update).map_err(|e| ApiError::Permanent {
            service: Service::Qalita,
            status: 0,
            message: format!("the update cannot be encoded: {e}"),
        })?;
        let fetched = self.send(endpoint, &endpoint.path_for(id.get()), &[], Some(&body), true).await?;
        match fetched.answer().issue()? {
            Some(issue) => Ok(issue),
            // 204 (or 404) is QALITA's "not found or no access".
            None => Err(ApiError::NotFound { service: Service::Qalita, what: format!("QALITA issue {id}") }),
        }
    }

    async fn list_comments(&self, issue: QalitaIssueId) -> Result<Vec<QalitaComment>, ApiError> {
        let endpoint = &self.paths.list_comments;
        let fetched = self.fetch(endpoint, &endpoint.path_for(issue.get()), &[], true).await?;
        if fetched.status == StatusCode::NO_CONTENT || fetched.status == StatusCode::NOT_FOUND {
            // The issue is gone or hidden: not "no comments".
            return Err(ApiError::NotFound { service: Service::Qalita, what: format!("QALITA issue {issue}") });
        }
        fetched.answer().comments()
    }

    async fn create_comment(&self, issue: QalitaIssueId, content: &str) -> Result<QalitaComment, ApiError> {
        let endpoint = &self.paths.create_comment;
        let body = serde_json::json!({ "content": content });
        let fetched = self.send(endpoint, &endpoint.path_for(issue.get()), &[], Some(&body), true).await?;
        match fetched.answer().comment()? {
            Some(comment) => Ok(comment),
            None => Err(ApiError::NotFound { service: Service::Qalita, what: format!("QALITA issue {issue}") }),
        }
    }

    async fn update_comment(
        &self,
        issue: QalitaIssueId,
        comment: u64,
        content: &str,
    ) -> Result<Option<QalitaComment>, ApiError> {
        let Some(endpoint) = &self.paths.update_comment else { return Ok(None) };
        let body = serde_json::json!({ "content": content });
        let path = endpoint.path.render_comment(issue.get(), comment);
        match self.send(endpoint, &path, &[], Some(&body), false).await {
            // No such route on this instance: the edit cannot be propagated.
            Err(ApiError::Permanent { status: 404 | 405, .. }) => Ok(None),
            Err(error) => Err(error),
            Ok(fetched) => match fetched.answer().comment()? {
                Some(comment) => Ok(Some(comment)),
                None => Err(ApiError::NotFound {
                    service: Service::Qalita,
                    what: format!("comment {comment} of QALITA issue {issue}"),
                }),
            },
        }
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<QalitaUser>, ApiError> {
        let endpoint = &self.paths.list_users;
        // Paged like the issue list, so that a tenant of many users is searched whole.
        let mut offset = 0;
        for _ in 0..USER_PAGES {
            let query = [("offset".to_owned(), offset.to_string()), ("limit".to_owned(), USER_PAGE.to_string())];
            let fetched = self.fetch(endpoint, endpoint.path.as_str(), &query, false).await?;
            let users = fetched.answer().users(&self.paths.user_fields)?;
            let count = users.len();
            if let Some(user) =
                users.into_iter().find(|u| u.login.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(login.trim())))
            {
                return Ok(Some(user));
            }
            if count < USER_PAGE as usize {
                break;
            }
            offset += u64::from(USER_PAGE);
        }
        Ok(None)
    }
}

/// Checks the base URL and returns it without a trailing `/`.
fn parse_base_url(text: &str) -> Result<String, QalitaClientError> {
    let text = text.trim();
    let invalid = |reason: String| QalitaClientError::InvalidBaseUrl { url: masked(text), reason };
    let url = Url::parse(text).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("the scheme must be http or https, not {}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it cannot carry credentials (the API token is configured on its own)".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it cannot carry a query or a fragment".into()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The URL for a message: credentials (`user:password@`) masked, shortened.
fn masked(text: &str) -> String {
    let shown = match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    };
    shown.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str, token: &str) -> Result<QalitaClient, QalitaClientError> {
        QalitaClient::new(base, SecretString::new(token), QalitaPaths::default(), &HttpSettings::default())
    }

    #[test]
    fn the_base_url_is_kept_without_its_trailing_slash() {
        assert_eq!(client("https://qalita.example.com", "t").unwrap().base_url(), "https://qalita.example.com");
        assert_eq!(client("http://10.0.0.5:3080/", "t").unwrap().base_url(), "http://10.0.0.5:3080");
        assert_eq!(client(" https://example.com/qalita/ ", "t").unwrap().base_url(), "https://example.com/qalita");
    }

    #[test]
    fn a_base_url_that_cannot_work_is_refused_with_the_reason() {
        let cases = [
            ("qalita.example.com", "relative URL without a base"),
            ("ftp://qalita.example.com", "the scheme must be http or https, not ftp"),
            ("https://qalita.example.com?tenant=3", "query or a fragment"),
            ("https://admin:hunter2@qalita.example.com", "cannot carry credentials"),
        ];
        for (base, reason) in cases {
            let error = client(base, "t").unwrap_err().to_string();
            assert!(error.contains(reason), "{base}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn credentials_in_a_url_are_masked_in_messages() {
        assert_eq!(masked("https://admin:hunter2@qalita.example.com/x"), "https://[redacted]@qalita.example.com/x");
        assert_eq!(masked("https://qalita.example.com/a@b"), "https://qalita.example.com/a@b");
        let error = client("https://admin:hunter2@[bad", "t").unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn an_empty_or_unsendable_token_is_refused_without_showing_it() {
        assert!(matches!(client("https://q.example.com", " \n"), Err(QalitaClientError::EmptyToken)));
        let error = client("https://q.example.com", "abc\u{7}secret").unwrap_err();
        assert!(matches!(error, QalitaClientError::InvalidToken));
        assert!(!format!("{error} {error:?}").contains("secret"));
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let client = client("https://q.example.com", "test-token-very-secret\n").unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }

    #[test]
    fn an_invalid_endpoint_configuration_fails_the_set_up() {
        let paths = QalitaPaths { get_issue: Endpoint::parse("GET /api/v2/issues").unwrap(), ..Default::default() };
        let error = QalitaClient::new("https://q.example.com", SecretString::new("t"), paths, &HttpSettings::default())
            .unwrap_err();
        assert!(error.to_string().contains("`get_issue` must contain {id}"), "{error}");
    }
}
