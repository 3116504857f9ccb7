//! The GitLab REST v4 client (adapter of [`crate::ports::GitlabApi`]): builds the calls of the
//! sync's subset, sends them with the token in `PRIVATE-TOKEN`, and classifies every answer through
//! [`super::http`] so that the worker decides retry or drop in one place.

mod admin;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Instant;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;

use super::http::{HttpSettings, HttpSetupError, build_client, error_from_scrubbed, transport_error};
use crate::domain::gitlab::{GitlabIssue, GitlabNote, GitlabProjectRef, GitlabUser, IssueUpdate, NewIssue};
use crate::domain::{Iid, SecretString};
use crate::ports::{ApiError, CallContext, GitlabApi, IssueQuery, Page, Service};

use wire::{NewIssueBody, NoteBody, UpdateBody};

const USER_AGENT: &str = concat!("qalita-gitlab-sync/", env!("CARGO_PKG_VERSION"));
const PRIVATE_TOKEN: &str = "private-token";
const EVENT_UUID: &str = "x-gitlab-event-uuid";
/// The longest part of an unreadable answer quoted in an error.
const QUOTE_LIMIT: usize = 300;

/// A GitLab client that cannot be built. Never shows the token.
#[derive(Debug, thiserror::Error)]
pub enum GitlabClientError {
    /// The instance URL is not usable.
    #[error(
        "the GitLab URL {url:?} is not usable: {reason} (expected e.g. https://gitlab.com or https://gitlab.example.com/gitlab)"
    )]
    InvalidBaseUrl {
        /// The URL given, without any credentials.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token is empty or holds characters an HTTP header cannot carry.
    #[error("the GitLab token is {0}: check the secret's value (a personal, project or group access token)")]
    InvalidToken(&'static str),
    /// The HTTP client cannot be built (CA bundle).
    #[error(transparent)]
    Http(#[from] HttpSetupError),
}

/// The GitLab REST v4 client of one instance and one token.
#[derive(Clone)]
pub struct GitlabClient {
    http: reqwest::Client,
    api_root: String,
    token: HeaderValue,
    /// The API budget GitLab's last answer showed, for the rate governor.
    seen: std::sync::Arc<crate::adapters::governor::RateSeen>,
    /// Where requests go instead of the network, when set ([`Self::with_exchange`]).
    exchange: Option<std::sync::Arc<dyn super::http::Exchange>>,
}

impl fmt::Debug for GitlabClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabClient").field("api_root", &self.api_root).field("token", &"[redacted]").finish()
    }
}

impl GitlabClient {
    /// A client of the instance at `base_url` (`https://gitlab.com`, or a self-managed instance,
    /// maybe under a path); the API root is `<base_url>/api/v4`.
    pub fn new(base_url: &str, token: SecretString, settings: &HttpSettings) -> Result<Self, GitlabClientError> {
        let api_root = wire::api_root(base_url)?;
        if token.expose().trim().is_empty() {
            return Err(GitlabClientError::InvalidToken("empty"));
        }
        let mut token = HeaderValue::from_str(token.expose().trim())
            .map_err(|_| GitlabClientError::InvalidToken("not valid in an HTTP header"))?;
        // Keeps the value out of HTTP/2 header compression tables and out of `Debug` of requests.
        token.set_sensitive(true);
        let http = build_client(settings, USER_AGENT)?;
        Ok(GitlabClient { http, api_root, token, seen: Default::default(), exchange: None })
    }

    /// The same client, its requests answered by `exchange` instead of the network (the
    /// deterministic simulation's in-process GitLab).
    pub fn with_exchange(mut self, exchange: std::sync::Arc<dyn super::http::Exchange>) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// `<base>/api/v4`.
    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    /// Where the client records the API budget GitLab's answers show (`RateLimit-*`).
    pub fn rate_seen(&self) -> std::sync::Arc<crate::adapters::governor::RateSeen> {
        self.seen.clone()
    }

    /// A request to `<api root><path>` with the token.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.api_root)).header(PRIVATE_TOKEN, self.token.clone())
    }

    /// A write: also sends back the `X-Gitlab-Event-UUID` of the triggering delivery, with which
    /// GitLab recognises the hooks this write causes as part of the same chain.
    fn write(&self, method: Method, path: &str, context: &CallContext) -> RequestBuilder {
        let request = self.request(method, path);
        match context.gitlab_event_uuid.as_deref().map(HeaderValue::from_str) {
            Some(Ok(uuid)) => request.header(EVENT_UUID, uuid),
            Some(Err(_)) => {
                tracing::warn!("the delivery's X-Gitlab-Event-UUID is not a valid header value; not sent back");
                request
            }
            None => request,
        }
    }

    fn create_issue_request(
        &self,
        project: &GitlabProjectRef,
        issue: &NewIssue,
        context: &CallContext,
    ) -> RequestBuilder {
        self.write(Method::POST, &wire::issues_path(project), context).json(&NewIssueBody::from(issue))
    }

    fn update_issue_request(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        update: &IssueUpdate,
        context: &CallContext,
    ) -> RequestBuilder {
        self.write(Method::PUT, &wire::issue_path(project, iid), context).json(&UpdateBody::from(update))
    }

    fn list_issues_request(&self, project: &GitlabProjectRef, query: &IssueQuery) -> RequestBuilder {
        self.request(Method::GET, &wire::issues_path(project)).query(&wire::issue_list_params(query))
    }

    fn create_note_request(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        body: &str,
        internal: bool,
        context: &CallContext,
    ) -> RequestBuilder {
        self.write(Method::POST, &wire::notes_path(project, iid), context).json(&NoteBody { body, internal })
    }

    fn list_notes_request(&self, project: &GitlabProjectRef, iid: Iid, page: u32, per_page: u32) -> RequestBuilder {
        self.request(Method::GET, &wire::notes_path(project, iid)).query(&wire::note_list_params(page, per_page))
    }

    fn user_by_username_request(&self, username: &str) -> RequestBuilder {
        self.request(Method::GET, "/users").query(&[("username", username)])
    }

    /// Sends a request; a non-success answer becomes an [`ApiError`]. `issue` names the issue the
    /// call is about: its 404 is then [`ApiError::NotFound`], unless GitLab says the project is
    /// the missing part (a wrong project, or one the token cannot see), which is permanent.
    async fn send(&self, request: RequestBuilder, issue: Option<String>) -> Result<Response, ApiError> {
        let started = Instant::now();
        let outcome = super::http::send(self.exchange.as_deref(), request, Service::Gitlab).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                crate::metrics::api_call(Service::Gitlab, None, None);
                tracing::debug!(elapsed_ms, %error, "GitLab call got no answer");
                return Err(error);
            }
        };
        let status = response.status();
        super::http::record_answer(Service::Gitlab, &response);
        self.seen.observe(response.headers());
        tracing::debug!(path = response.url().path(), status = status.as_u16(), elapsed_ms, "GitLab answered");
        if status.is_success() {
            return Ok(response);
        }
        Err(classify(response, issue, self.token.to_str().unwrap_or_default()).await)
    }

    async fn fetch<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        issue: Option<String>,
        reading: &str,
    ) -> Result<T, ApiError> {
        read(self.send(request, issue).await?, reading).await
    }

    async fn fetch_page<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        issue: Option<String>,
        reading: &str,
    ) -> Result<Page<T>, ApiError> {
        let response = self.send(request, issue).await?;
        let next_page = next_page(response.headers());
        Ok(Page { items: read(response, reading).await?, next_page })
    }
}

/// A non-success answer as an [`ApiError`]; see [`GitlabClient::send`] for `issue`.
async fn classify(response: Response, issue: Option<String>, token: &str) -> ApiError {
    match (error_from_scrubbed(Service::Gitlab, response, None, &[token]).await, issue) {
        (ApiError::Permanent { status: 404, message, .. }, Some(what))
            if !message.to_ascii_lowercase().contains("project not found") =>
        {
            ApiError::NotFound { service: Service::Gitlab, what }
        }
        (error, _) => error,
    }
}

/// What a 404 of a call about one issue names.
fn issue_what(project: &GitlabProjectRef, iid: Iid) -> Option<String> {
    Some(format!("issue {iid} of {project}"))
}

/// `X-Next-Page`: a page number, or empty on the last page.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    headers.get("x-next-page")?.to_str().ok()?.trim().parse().ok()
}

/// Reads a success answer's JSON; an answer of another shape is an error that says where it
/// differs (a proxy's login page, an API change), not a panic.
async fn read<T: DeserializeOwned>(response: Response, reading: &str) -> Result<T, ApiError> {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|error| transport_error(Service::Gitlab, error))?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let detail: String = error.inner().to_string().chars().take(QUOTE_LIMIT).collect();
        ApiError::Permanent {
            service: Service::Gitlab,
            status,
            message: format!("unexpected answer reading {reading}: at `{}`: {detail}", error.path()),
        }
    })
}

#[async_trait]
impl GitlabApi for GitlabClient {
    async fn create_issue(
        &self,
        project: &GitlabProjectRef,
        issue: &NewIssue,
        context: &CallContext,
    ) -> Result<GitlabIssue, ApiError> {
        self.fetch(self.create_issue_request(project, issue, context), None, "the created issue").await
    }

    async fn get_issue(&self, project: &GitlabProjectRef, iid: Iid) -> Result<GitlabIssue, ApiError> {
        let request = self.request(Method::GET, &wire::issue_path(project, iid));
        self.fetch(request, issue_what(project, iid), "an issue").await
    }

    async fn update_issue(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        update: &IssueUpdate,
        context: &CallContext,
    ) -> Result<GitlabIssue, ApiError> {
        if update.is_empty() {
            // GitLab refuses an update without fields (400); nothing to write, so answer what is there.
            return self.get_issue(project, iid).await;
        }
        let request = self.update_issue_request(project, iid, update, context);
        self.fetch(request, issue_what(project, iid), "the updated issue").await
    }

    async fn list_issues(&self, project: &GitlabProjectRef, query: &IssueQuery) -> Result<Page<GitlabIssue>, ApiError> {
        self.fetch_page(self.list_issues_request(project, query), None, "a list of issues").await
    }

    async fn create_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        body: &str,
        internal: bool,
        context: &CallContext,
    ) -> Result<GitlabNote, ApiError> {
        let request = self.create_note_request(project, iid, body, internal, context);
        self.fetch(request, issue_what(project, iid), "the created note").await
    }

    async fn update_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        note: u64,
        body: &str,
        context: &CallContext,
    ) -> Result<GitlabNote, ApiError> {
        let path = format!("{}/{note}", wire::notes_path(project, iid));
        let request = self.write(Method::PUT, &path, context).json(&serde_json::json!({ "body": body }));
        self.fetch(request, Some(format!("note {note} of issue {iid} of {project}")), "the edited note").await
    }

    async fn list_notes(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        page: u32,
        per_page: u32,
    ) -> Result<Page<GitlabNote>, ApiError> {
        let request = self.list_notes_request(project, iid, page, per_page);
        self.fetch_page(request, issue_what(project, iid), "a list of notes").await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<GitlabUser>, ApiError> {
        let users: Vec<GitlabUser> =
            self.fetch(self.user_by_username_request(username), None, "a list of users").await?;
        Ok(users.into_iter().next())
    }

    async fn current_user(&self) -> Result<GitlabUser, ApiError> {
        self.fetch(self.request(Method::GET, "/user"), None, "the token's user").await
    }
}
