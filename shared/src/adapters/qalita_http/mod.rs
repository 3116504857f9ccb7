//! The QALITA REST client (adapter of [`crate::ports::QalitaApi`]): configurable endpoints
//! ([`QalitaPaths`]) and shape ([`QalitaShape`]: auth header, field pointers, written keys, paging,
//! "not found"), every answer classified through [`crate::adapters::http`], with QALITA's own habit
//! on top: "not found or no access" is 204 No Content (or 404), which reads as absent. A write is
//! never taken as "gone" by itself: an empty answer to it is followed by a read.

mod decode;
mod encode;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod paging;
mod probe;

use std::fmt;
use std::time::Instant;

use async_trait::async_trait;
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

use self::decode::{Answer, Reading};
pub use self::probe::DocumentError;
use crate::adapters::http::{self, HttpSettings, HttpSetupError};
pub use crate::config::qalita_paths::{Endpoint, PathConfigError, PathTemplate, QalitaPaths, UserFields, Verb};
pub use crate::config::qalita_shape::{QalitaShape, ShapeError};
use crate::domain::qalita::{QalitaComment, QalitaIssue, QalitaIssueUpdate, QalitaUser};
use crate::domain::{QalitaIssueId, SecretString};
use crate::ports::{ApiError, QalitaApi, Service};

/// The most of one answer the client reads: a page of a thousand issues is far below it, and a
/// runaway body must not exhaust a Lambda's memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The most pages of users read when a login is looked up.
const USER_PAGES: u32 = 100;

/// The most pages of one issue's comments read (`qalita.paging.comment_page_size`).
const MAX_COMMENT_PAGES: u64 = 100;

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
    /// The shape configuration cannot work.
    #[error("invalid QALITA configuration: {0}")]
    Shape(#[from] ShapeError),
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
    /// How the token is sent, what is written, how lists page, what "not found" is.
    shape: QalitaShape,
    /// Where fields are read.
    reading: Reading,
    /// The header the token is sent in (`Authorization`, `X-API-Key`).
    auth_header: HeaderName,
    /// `Bearer <token>` or the bare token, marked sensitive.
    auth_value: HeaderValue,
    /// Where requests go instead of the network, when set ([`Self::with_exchange`]).
    exchange: Option<std::sync::Arc<dyn http::Exchange>>,
}

impl fmt::Debug for QalitaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QalitaClient")
            .field("base", &self.base)
            .field("paths", &self.paths)
            .field("shape", &self.shape)
            .field("auth_header", &self.auth_header)
            .field("auth_value", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl QalitaClient {
    /// A client of the QALITA instance at `base_url` (`https://qalita.example.com`,
    /// `http://host:3080`; a path prefix is kept) with the built-in shape (a bearer token, the
    /// assumed field names, offset paging). Surrounding whitespace of the token (a trailing newline
    /// of a secret file) is dropped.
    pub fn new(
        base_url: &str,
        token: SecretString,
        paths: QalitaPaths,
        settings: &HttpSettings,
    ) -> Result<Self, QalitaClientError> {
        Self::with_shape(base_url, token, paths, QalitaShape::default(), settings)
    }

    /// [`Self::new`] with the configured shape (`config.qalita.shape`).
    pub fn with_shape(
        base_url: &str,
        token: SecretString,
        paths: QalitaPaths,
        shape: QalitaShape,
        settings: &HttpSettings,
    ) -> Result<Self, QalitaClientError> {
        let base = parse_base_url(base_url)?;
        paths.validate()?;
        shape.validate(&paths)?;
        let token = token.expose().trim();
        if token.is_empty() {
            return Err(QalitaClientError::EmptyToken);
        }
        let auth_header = HeaderName::from_bytes(shape.auth.header().as_bytes())
            .map_err(|_| ShapeError { key: "auth.header".into(), problem: "is not an HTTP header name".into() })?;
        let value = match shape.auth.scheme() {
            Some(scheme) => format!("{scheme} {token}"),
            None => token.to_owned(),
        };
        let mut auth_value = HeaderValue::from_str(&value).map_err(|_| QalitaClientError::InvalidToken)?;
        auth_value.set_sensitive(true);
        let user_agent = concat!("qalita-gitlab-sync/", env!("CARGO_PKG_VERSION"));
        let http = http::build_client(settings, user_agent)?;
        let reading = Reading::new(&shape, &paths);
        Ok(QalitaClient { http, base, paths, shape, reading, auth_header, auth_value, exchange: None })
    }

    /// The same client, its requests answered by `exchange` instead of the network (the
    /// deterministic simulation's in-process QALITA).
    pub fn with_exchange(mut self, exchange: std::sync::Arc<dyn http::Exchange>) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// The base URL in use, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The endpoints in use.
    pub fn paths(&self) -> &QalitaPaths {
        &self.paths
    }

    /// The token as sent, without its scheme: what an error message must never show.
    fn token(&self) -> &str {
        let value = self.auth_value.to_str().unwrap_or_default();
        match self.shape.auth.scheme() {
            Some(scheme) => value.strip_prefix(scheme).map_or(value, str::trim_start),
            None => value,
        }
    }

    /// Whether a read's answer says "not found": a 404 [`Self::send`] let through, or a 204 where
    /// `qalita.not_found` counts it (a 204 it does not count is an answer without the content asked for).
    fn said_not_found(&self, fetched: &Fetched) -> Result<bool, ApiError> {
        match fetched.status {
            StatusCode::NOT_FOUND => Ok(true),
            StatusCode::NO_CONTENT if self.shape.not_found.means_not_found(204) => Ok(true),
            StatusCode::NO_CONTENT => Err(ApiError::Permanent {
                service: Service::Qalita,
                status: 204,
                message: format!(
                    "the answer to {} is 204 No Content, which qalita.not_found.statuses does not count as \"not found\"",
                    fetched.request
                ),
            }),
            _ => Ok(false),
        }
    }

    /// Sends one request and reads the answer: a success, or a 404 where `absent_on_404` says it
    /// means "no such object" (and `qalita.not_found` counts 404); any other status becomes the
    /// classified error.
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
        self.request(endpoint.verb, path, query, json, absent_on_404).await
    }

    /// [`Self::send`] for any path (the context lookups' paths carry their own query).
    async fn request(
        &self,
        verb: Verb,
        path: &str,
        query: &[(String, String)],
        json: Option<&serde_json::Value>,
        absent_on_404: bool,
    ) -> Result<Fetched, ApiError> {
        let request = format!("{verb} {path}");
        let started = Instant::now();
        let mut builder = self
            .http
            .request(verb.method(), format!("{}{path}", self.base))
            .header(self.auth_header.clone(), self.auth_value.clone())
            .header(header::ACCEPT, "application/json");
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(json) = json {
            builder = builder.json(json);
        }
        let mut response = http::send(self.exchange.as_deref(), builder, Service::Qalita).await.inspect_err(|_| {
            tracing::debug!(%request, elapsed_ms = elapsed_ms(started), "QALITA did not answer");
            crate::metrics::api_call(Service::Qalita, None, None);
        })?;
        let status = response.status();
        http::record_answer(Service::Qalita, &response);
        tracing::debug!(%request, status = status.as_u16(), elapsed_ms = elapsed_ms(started), "QALITA answered");
        if status == StatusCode::NOT_FOUND && absent_on_404 && self.shape.not_found.means_not_found(404) {
            // QALITA documents 204 for a missing object; a 404 is read the same way where configured,
            // but a wrong path template also gives 404, so it is worth seeing in the log.
            tracing::info!(%request, "QALITA answered 404, read as \"not found\"");
            return Ok(Fetched { request, status, content_type: None, body: Vec::new() });
        }
        if !status.is_success() {
            return Err(http::error_from_scrubbed(Service::Qalita, response, None, &[self.token()]).await);
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
    fn answer<'a>(&'a self, reading: &'a Reading) -> Answer<'a> {
        Answer {
            request: &self.request,
            status: self.status,
            content_type: self.content_type.as_deref(),
            body: &self.body,
            reading,
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl QalitaClient {
    /// `limit` items of the list at `endpoint` from `offset`, in the configured paging style, each
    /// page read by `read`; the list's total when the instance gives it.
    async fn list_page<T>(
        &self,
        endpoint: &Endpoint,
        extra: &[(String, String)],
        (offset, limit): (u64, u32),
        read: impl Fn(&Answer<'_>) -> Result<Vec<T>, ApiError>,
    ) -> Result<(Vec<T>, Option<u64>), ApiError> {
        let plan = paging::plan(&self.shape.paging, offset, limit);
        let (mut items, mut total, mut request) = (Vec::new(), None, String::new());
        for mut query in plan.pages {
            query.extend(extra.iter().cloned());
            let fetched = self.fetch(endpoint, endpoint.path.as_str(), &query, false).await?;
            let answer = fetched.answer(&self.reading);
            let page = read(&answer)?;
            total = answer.total()?;
            request = fetched.request.clone();
            let full = page.len() >= limit as usize;
            items.extend(page);
            if !full {
                break;
            }
        }
        let items: Vec<T> = items.into_iter().skip(plan.skip).take(limit as usize).collect();
        let got = items.len() as u64;
        // A short page ends the list for every caller: if the total says otherwise, the instance
        // caps its page size, and reading on would skip items silently.
        if let Some(total) = total.filter(|total| got < u64::from(limit) && offset + got < *total) {
            let message = format!(
                "the answer to {request} holds {got} of the {limit} items asked from {offset}, although its total is {total}: \
                 the instance caps its page size; lower sync.poll_page_size (or qalita.paging.user_page_size)"
            );
            return Err(ApiError::Permanent { service: Service::Qalita, status: 200, message });
        }
        Ok((items, total))
    }

    /// The issue after a write that answered without it (an empty 2xx, or a 404 taken as "not
    /// found"): a read says whether it is gone. A 404 to the write of an issue that reads is a wrong
    /// path, not a missing issue.
    async fn issue_after_write(&self, id: QalitaIssueId, write: &Fetched) -> Result<QalitaIssue, ApiError> {
        match self.get_issue(id).await? {
            None => Err(ApiError::NotFound { service: Service::Qalita, what: format!("QALITA issue {id}") }),
            Some(_) if write.status == StatusCode::NOT_FOUND => Err(wrong_write_path(write)),
            Some(issue) => {
                tracing::debug!(request = %write.request, status = write.status.as_u16(), "QALITA's answer to the write had no issue; read again");
                Ok(issue)
            }
        }
    }

    /// The comment after a create that answered without it: the issue's comments say whether the
    /// issue is gone, and hold the new one (the latest with this text).
    async fn comment_after_create(
        &self,
        issue: QalitaIssueId,
        content: &str,
        write: &Fetched,
    ) -> Result<QalitaComment, ApiError> {
        let comments = self.list_comments(issue).await?;
        if write.status == StatusCode::NOT_FOUND {
            return Err(wrong_write_path(write));
        }
        comments.into_iter().filter(|c| c.content == content).max_by_key(|c| c.id).ok_or_else(|| ApiError::Permanent {
            service: Service::Qalita,
            status: write.status.as_u16(),
            message: format!(
                "the answer to {} had no comment, and the issue's comments hold none with its text",
                write.request
            ),
        })
    }
}

/// A comment QALITA says it does not have.
fn comment_not_found(issue: QalitaIssueId, comment: u64) -> ApiError {
    ApiError::NotFound { service: Service::Qalita, what: format!("comment {comment} of QALITA issue {issue}") }
}

/// A write answered 404 on an object a read finds.
fn wrong_write_path(write: &Fetched) -> ApiError {
    let message =
        format!("{} answered 404 although the issue reads: check the endpoint in qalita.paths", write.request);
    ApiError::Permanent { service: Service::Qalita, status: 404, message }
}

#[async_trait]
impl QalitaApi for QalitaClient {
    async fn list_issues(&self, offset: u64, limit: u32) -> Result<Vec<QalitaIssue>, ApiError> {
        let endpoint = &self.paths.list_issues;
        let extra = &self.paths.list_extra_query;
        Ok(self.list_page(endpoint, extra, (offset, limit), |answer| answer.issues()).await?.0)
    }

    async fn get_issue(&self, id: QalitaIssueId) -> Result<Option<QalitaIssue>, ApiError> {
        let endpoint = &self.paths.get_issue;
        let fetched = self.fetch(endpoint, &endpoint.path_for(id.get()), &[], true).await?;
        if self.said_not_found(&fetched)? {
            return Ok(None);
        }
        fetched.answer(&self.reading).issue()
    }

    async fn get_user(&self, id: u64) -> Result<Option<QalitaUser>, ApiError> {
        let endpoint = &self.paths.get_user;
        let fetched = self.fetch(endpoint, &endpoint.path_for(id), &[], true).await?;
        if self.said_not_found(&fetched)? {
            return Ok(None);
        }
        fetched.answer(&self.reading).user(id)
    }

    async fn update_issue(&self, id: QalitaIssueId, update: &QalitaIssueUpdate) -> Result<QalitaIssue, ApiError> {
        let endpoint = &self.paths.update_issue;
        let body = encode::update(&self.shape.write, update);
        let fetched = self.send(endpoint, &endpoint.path_for(id.get()), &[], Some(&body), true).await?;
        match fetched.answer(&self.reading).issue()? {
            Some(issue) => Ok(issue),
            None => self.issue_after_write(id, &fetched).await,
        }
    }

    async fn list_comments(&self, issue: QalitaIssueId) -> Result<Vec<QalitaComment>, ApiError> {
        let endpoint = &self.paths.list_comments;
        let path = endpoint.path_for(issue.get());
        let gone = || ApiError::NotFound { service: Service::Qalita, what: format!("QALITA issue {issue}") };
        let Some(size) = self.shape.paging.comment_page_size else {
            let fetched = self.fetch(endpoint, &path, &[], true).await?;
            if self.said_not_found(&fetched)? {
                // The issue is gone or hidden: not "no comments".
                return Err(gone());
            }
            return fetched.answer(&self.reading).comments();
        };
        // Paged (`qalita.paging.comment_page_size`): page after page until a short one.
        let mut comments = Vec::new();
        for index in 0..MAX_COMMENT_PAGES {
            let plan = paging::plan(&self.shape.paging, index * u64::from(size), size);
            let query = plan.pages.into_iter().next().unwrap_or_default();
            let fetched = self.fetch(endpoint, &path, &query, true).await?;
            if self.said_not_found(&fetched)? {
                return Err(gone());
            }
            let page = fetched.answer(&self.reading).comments()?;
            let short = page.len() < size as usize;
            comments.extend(page);
            if short {
                return Ok(comments);
            }
        }
        let message = format!(
            "the comments of QALITA issue {issue} fill more than {MAX_COMMENT_PAGES} pages of {size}: read the first {}",
            comments.len()
        );
        tracing::warn!(%message, "comments cut short");
        Ok(comments)
    }

    async fn create_comment(&self, issue: QalitaIssueId, content: &str) -> Result<QalitaComment, ApiError> {
        let endpoint = &self.paths.create_comment;
        let body = encode::comment(&self.shape.write, content);
        let fetched = self.send(endpoint, &endpoint.path_for(issue.get()), &[], Some(&body), true).await?;
        match fetched.answer(&self.reading).comment()? {
            Some(comment) => Ok(comment),
            None => self.comment_after_create(issue, content, &fetched).await,
        }
    }

    async fn update_comment(
        &self,
        issue: QalitaIssueId,
        comment: u64,
        content: &str,
    ) -> Result<Option<QalitaComment>, ApiError> {
        let Some(endpoint) = &self.paths.update_comment else { return Ok(None) };
        let body = encode::comment(&self.shape.write, content);
        let path = endpoint.path.render_comment(issue.get(), comment);
        match self.send(endpoint, &path, &[], Some(&body), false).await {
            // No such route on this instance: the edit cannot be propagated.
            Err(ApiError::Permanent { status: 404 | 405, .. }) => Ok(None),
            Err(error) => Err(error),
            Ok(fetched) => match fetched.answer(&self.reading).comment()? {
                Some(comment) => Ok(Some(comment)),
                // A 204 counted as "not found" is QALITA's "no such comment"; any other empty
                // answer (an empty 200, a 204 the instance gives on success) is checked by a read.
                None if fetched.status == StatusCode::NO_CONTENT && self.shape.not_found.means_not_found(204) => {
                    Err(comment_not_found(issue, comment))
                }
                None => match self.list_comments(issue).await?.into_iter().find(|c| c.id == comment) {
                    Some(read) => Ok(Some(read)),
                    None => Err(comment_not_found(issue, comment)),
                },
            },
        }
    }

    async fn get_object(&self, path: &str) -> Result<Option<serde_json::Value>, ApiError> {
        if !path.starts_with('/') {
            let message = format!("a lookup path must start with `/`, not {path:?}");
            return Err(ApiError::Permanent { service: Service::Qalita, status: 0, message });
        }
        let fetched = self.request(Verb::Get, path, &[], None, true).await?;
        if self.said_not_found(&fetched)? {
            return Ok(None);
        }
        fetched.answer(&self.reading).value()
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<QalitaUser>, ApiError> {
        let endpoint = &self.paths.list_users;
        let size = self.shape.paging.user_page_size;
        // Paged like the issue list, so that a tenant of many users is searched whole.
        let mut offset = 0;
        for _ in 0..USER_PAGES {
            let (users, total) = self.list_page(endpoint, &[], (offset, size), |answer| answer.users()).await?;
            let count = users.len() as u64;
            if let Some(user) =
                users.into_iter().find(|u| u.login.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(login.trim())))
            {
                return Ok(Some(user));
            }
            offset += count;
            if count < u64::from(size) || total.is_some_and(|total| offset >= total) {
                break;
            }
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
    fn an_api_key_in_another_header_never_shows_in_debug_and_is_sent_bare() {
        let shape = QalitaShape {
            auth: crate::config::qalita_shape::QalitaAuth { header: "X-API-Key".into(), scheme: None },
            ..Default::default()
        };
        let token = SecretString::new("test-api-key-very-secret\n");
        let client = QalitaClient::with_shape(
            "https://q.example.com",
            token,
            QalitaPaths::default(),
            shape,
            &HttpSettings::default(),
        )
        .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("very-secret") && debug.contains("[redacted]"), "{debug}");
        assert!(client.auth_value.is_sensitive());
        assert_eq!((client.auth_header.as_str(), client.token()), ("x-api-key", "test-api-key-very-secret"));
    }

    #[test]
    fn an_invalid_endpoint_configuration_fails_the_set_up() {
        let paths = QalitaPaths { get_issue: Endpoint::parse("GET /api/v2/issues").unwrap(), ..Default::default() };
        let error = QalitaClient::new("https://q.example.com", SecretString::new("t"), paths, &HttpSettings::default())
            .unwrap_err();
        assert!(error.to_string().contains("`get_issue` must contain {id}"), "{error}");
    }
}
