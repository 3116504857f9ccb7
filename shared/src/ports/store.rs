//! The link store: links and their sync state, the record of processed deliveries, cursors, the
//! configuration document and the integration log (DESIGN section 4).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::link::{CommentKey, CommentLink, LinkState, LogEntry};
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};

/// Why the store did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, or changed since it was read. Read again.
    #[error("the link changed since it was read (or already exists)")]
    Conflict,
    /// The store could not be reached or throttled the call: try later.
    #[error("link store unavailable ({class})")]
    Unavailable {
        /// A short class of the failure.
        class: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request the store refuses for good (bad item, missing table, access denied).
    #[error("link store refused the request ({class}): {message}")]
    Rejected {
        /// The AWS error code, or a short class.
        class: String,
        /// What is wrong.
        message: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later (a conflict is retried after reading again).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. } | StoreError::Conflict)
    }
}

/// Links and sync state, with conditional writes so that any number of workers stay consistent.
///
/// Contract: `create` stores a new link only if none exists for that QALITA issue; `update`
/// replaces a link only if its stored version is still `link.version`; both return the stored
/// state with its new version; anything else is [`StoreError::Conflict`]. `find_by_gitlab` finds
/// a link by its GitLab issue. `mark_seen` returns `true` the first time a key is marked and
/// `false` after, until it expires.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// The link of a QALITA issue.
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError>;
    /// Stores a new link (version 1); [`StoreError::Conflict`] if one exists.
    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError>;
    /// Replaces the link stored at `link.version`; [`StoreError::Conflict`] if it changed.
    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError>;
    /// The link whose GitLab issue is `iid` of `project`.
    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError>;
    /// Records that the event `key` of `source` was processed; `false` if it already was.
    async fn mark_seen(&self, source: &str, key: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// A named cursor (poll, backfill).
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets a named cursor.
    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError>;
    /// The configuration document (TOML), when one was applied.
    async fn config_document(&self) -> Result<Option<String>, StoreError>;
    /// The link of a comment (DESIGN section 4: no comment is copied twice).
    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError>;
    /// Stores a comment link: a new one (version 0) only if none exists, else only if the stored
    /// version is still `link.version`; [`StoreError::Conflict`] otherwise. Returns it with its new
    /// version.
    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError>;
    /// Appends to the integration log of an issue.
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError>;
    /// The integration log of an issue, oldest first.
    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError>;
}
