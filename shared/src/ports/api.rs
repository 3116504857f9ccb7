//! The two remote APIs: GitLab REST v4 and QALITA's REST API. Their adapters classify every answer
//! into success, "not found", "try later" and "will not work", so that the worker decides retry or
//! drop in one place.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::gitlab::{GitlabIssue, GitlabNote, GitlabProjectRef, GitlabUser, IssueUpdate, NewIssue};
use crate::domain::qalita::{QalitaComment, QalitaIssue, QalitaIssueUpdate, QalitaUser};
use crate::domain::{Iid, QalitaIssueId};

/// Which remote service an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// GitLab's REST API.
    Gitlab,
    /// QALITA's REST API.
    Qalita,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Gitlab => "GitLab",
            Service::Qalita => "QALITA",
        })
    }
}

/// Why a call may work later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransientKind {
    /// No answer in time.
    Timeout,
    /// The server could not be reached.
    Connect,
    /// The connection failed otherwise (reset, TLS).
    Transport,
    /// The server answered with this status: 429, 408 or 5xx.
    Http(u16),
    /// Not sent: the rate governor holds it until GitLab's budget frees (`[gitlab.rate_limits]`).
    Paced,
}

impl TransientKind {
    /// Whether the request surely did not reach the server or was refused before it did anything:
    /// nothing can have been created (a 429, or no connection).
    pub fn surely_not_done(self) -> bool {
        matches!(self, TransientKind::Connect | TransientKind::Http(429) | TransientKind::Paced)
    }
}

impl std::fmt::Display for TransientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransientKind::Timeout => f.write_str("timeout"),
            TransientKind::Connect => f.write_str("connect"),
            TransientKind::Transport => f.write_str("transport"),
            TransientKind::Http(status) => write!(f, "http-{status}"),
            TransientKind::Paced => f.write_str("paced"),
        }
    }
}

/// How a call to GitLab or QALITA failed. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 429, 5xx, a time-out or no connection: the same call may work later, not before
    /// `retry_after` when the server said so (`Retry-After`, `RateLimit-Reset`).
    #[error("{service} unavailable ({kind}): {message}")]
    Transient {
        /// Which API was unavailable: GitLab or QALITA.
        service: Service,
        /// Why: shown as `http-429`, `http-503`, `timeout`, `connect`, `transport`.
        kind: TransientKind,
        /// The least wait the server asked for.
        retry_after: Option<Duration>,
        /// The server's message, if any.
        message: String,
    },
    /// The object asked for does not exist (or was deleted): GitLab 404 on an issue, QALITA 204.
    #[error("{service}: {what} not found")]
    NotFound {
        /// Which API said the object is missing: GitLab or QALITA.
        service: Service,
        /// What was looked for (`issue 12 of group/project`).
        what: String,
    },
    /// 400, 401, 403, 404 of a project or route, 422: retrying will not help. The server's message
    /// is kept, so the log says what to fix.
    #[error("{service} refused the request (HTTP {status}): {message}")]
    Permanent {
        /// Which API refused: GitLab or QALITA.
        service: Service,
        /// The HTTP status of the refusal (400, 401, 403, 404 of a project or route, 422, …); 0 when
        /// the request could not even be built.
        status: u16,
        /// The server's own message (`message`, `error` or `detail` of a JSON body, else the body),
        /// at most 500 characters, with the token redacted when the server echoes it.
        message: String,
    },
}

impl ApiError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transient { .. })
    }

    /// The least time to wait before trying again, when the server said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What a write carries about the event that caused it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// `X-Gitlab-Event-UUID` of the triggering delivery: sent back, GitLab uses it to stop
    /// recursive hooks.
    pub gitlab_event_uuid: Option<String>,
    /// When the queued event that asks for the sync was received (`None`: no queued event, an
    /// operator's command). An event received before the GitLab issue was found deleted leaves
    /// its recreation to the events queued after it ([`crate::domain::link::LinkState::deleted_at`]).
    pub received_at: Option<DateTime<Utc>>,
}

/// A query of a project's issues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueQuery {
    /// Only issues changed after this time.
    pub updated_after: Option<DateTime<Utc>>,
    /// Text to search for.
    pub search: Option<String>,
    /// Search the description only (`in=description`), where the hidden marker lives.
    pub search_in_description: bool,
    /// Page number, from 1.
    pub page: u32,
    /// Page size (GitLab's maximum is 100).
    pub per_page: u32,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, in the order the server listed them.
    pub items: Vec<T>,
    /// The next page number (`X-Next-Page`), if any.
    pub next_page: Option<u32>,
}

/// GitLab REST v4, the subset the sync uses.
///
/// Contract: a missing issue is [`ApiError::NotFound`]; a missing project, a bad token or a
/// validation error is [`ApiError::Permanent`] with GitLab's message; 429 and 5xx are
/// [`ApiError::Transient`] with the wait GitLab asked for.
#[async_trait]
pub trait GitlabApi: Send + Sync {
    /// `POST /projects/:id/issues`: creates the issue; the issue as GitLab stored it (its id, iid
    /// and page).
    async fn create_issue(
        &self,
        project: &GitlabProjectRef,
        issue: &NewIssue,
        context: &CallContext,
    ) -> Result<GitlabIssue, ApiError>;
    /// `GET /projects/:id/issues/:iid`: the issue as GitLab holds it now; a missing issue is
    /// [`ApiError::NotFound`].
    async fn get_issue(&self, project: &GitlabProjectRef, iid: Iid) -> Result<GitlabIssue, ApiError>;
    /// `PUT /projects/:id/issues/:iid` with only the fields to change.
    async fn update_issue(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        update: &IssueUpdate,
        context: &CallContext,
    ) -> Result<GitlabIssue, ApiError>;
    /// `GET /projects/:id/issues` with filters and pagination.
    async fn list_issues(&self, project: &GitlabProjectRef, query: &IssueQuery) -> Result<Page<GitlabIssue>, ApiError>;
    /// `POST /projects/:id/issues/:iid/notes`: adds a note, visible to project members only when
    /// `internal`; the note as GitLab stored it.
    async fn create_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        body: &str,
        internal: bool,
        context: &CallContext,
    ) -> Result<GitlabNote, ApiError>;
    /// `PUT /projects/:id/issues/:iid/notes/:note_id`: changes the text of a note the token's user
    /// wrote (the copies of QALITA comments). A missing note is [`ApiError::NotFound`].
    async fn update_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        note: u64,
        body: &str,
        context: &CallContext,
    ) -> Result<GitlabNote, ApiError>;
    /// `GET /projects/:id/issues/:iid/notes`, oldest first.
    async fn list_notes(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        page: u32,
        per_page: u32,
    ) -> Result<Page<GitlabNote>, ApiError>;
    /// `GET /users?username=`: `None` when nobody has that username.
    async fn user_by_username(&self, username: &str) -> Result<Option<GitlabUser>, ApiError>;
    /// `GET /user`: whose token this is.
    async fn current_user(&self) -> Result<GitlabUser, ApiError>;
}

/// QALITA's REST API, the subset the sync uses both ways: issues and users read, issues and
/// comments written (DESIGN section 6; paths configurable).
///
/// Contract: a read QALITA answers "not found or no access" (204 or 404, as `qalita.not_found`
/// says) is `Ok(None)`; a write is never "not found" unless a read after it says so; 429 and 5xx
/// are transient; 401 and 403 are permanent.
#[async_trait]
pub trait QalitaApi: Send + Sync {
    /// `GET /api/v2/issues?offset=&limit=` (or `page=&size=`, `qalita.paging`): up to `limit`
    /// issues from position `offset`, newest first by creation; fewer only at the end of the list.
    async fn list_issues(&self, offset: u64, limit: u32) -> Result<Vec<QalitaIssue>, ApiError>;
    /// `GET /api/v2/issues/{id}`: the issue as QALITA holds it now; `None` when QALITA answers 204
    /// (missing, or not visible to the token).
    async fn get_issue(&self, id: QalitaIssueId) -> Result<Option<QalitaIssue>, ApiError>;
    /// `GET /api/v2/users/{id}`: the user (login, name, e-mail); `None` when QALITA answers 204.
    async fn get_user(&self, id: u64) -> Result<Option<QalitaUser>, ApiError>;
    /// `PUT /api/v2/issues/{id}` with the changed fields only; the issue as QALITA has it after
    /// (read again when the answer has no body). [`ApiError::NotFound`] only when that read says
    /// the issue is missing.
    async fn update_issue(&self, id: QalitaIssueId, update: &QalitaIssueUpdate) -> Result<QalitaIssue, ApiError>;
    /// `GET /api/v2/issues/{id}/comments`: every comment of the issue, oldest first. A missing
    /// issue is [`ApiError::NotFound`].
    async fn list_comments(&self, issue: QalitaIssueId) -> Result<Vec<QalitaComment>, ApiError>;
    /// `POST /api/v2/issues/{id}/comments`: adds a comment; the comment as stored (found in the
    /// issue's comments when the answer has no body; [`ApiError::NotFound`] when they say the issue
    /// is missing).
    async fn create_comment(&self, issue: QalitaIssueId, content: &str) -> Result<QalitaComment, ApiError>;
    /// `PUT /api/v2/issues/{id}/comments/{comment_id}`: changes a comment's text. `Ok(None)` when
    /// the instance offers no such call (not configured, or answered 404/405 on the route). A 204
    /// counted as "not found" is [`ApiError::NotFound`]; another empty answer is checked by reading
    /// the issue's comments.
    async fn update_comment(
        &self,
        issue: QalitaIssueId,
        comment: u64,
        content: &str,
    ) -> Result<Option<QalitaComment>, ApiError>;
    /// The user whose login is `login` (case-insensitive), from `GET /api/v2/users`; `None` when
    /// nobody has it.
    async fn user_by_login(&self, login: &str) -> Result<Option<QalitaUser>, ApiError>;
    /// `GET {path}` (a path and query below the base URL, already encoded): the answer as JSON, for
    /// the context lookups (`[qalita.context]`); `None` when it says "not found"
    /// (`qalita.not_found`), or has no content.
    async fn get_object(&self, path: &str) -> Result<Option<serde_json::Value>, ApiError>;
}
