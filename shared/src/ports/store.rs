//! The link store (DESIGN section 4), one trait per capability: links and their reverse index,
//! comment links, the integration log, and the settings (cursors, the operator's switch, the
//! configuration document). A consumer asks for the capability it uses; [`LinkStore`] is all four.

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
/// replaces a link only if its stored version is still `link.version` (and never creates one);
/// both return the stored state with its new version; anything else is [`StoreError::Conflict`]
/// and changes nothing. `find_by_gitlab` finds a link by its GitLab issue once the link names one
/// (on DynamoDB the reverse index is eventually consistent). `next_to_sweep` lists the links that
/// have a [`SweepPosition`](crate::domain::link::SweepPosition) as written, in that order, at most
/// `limit`, without reading every link (on DynamoDB from an eventually consistent index: a link
/// written an instant ago may be missing, or listed in its former place; every link listed is
/// read consistently, and has a position). A link DynamoDB would refuse (over 400 KB) is
/// [`StoreError::Rejected`] on every adapter.
#[async_trait]
pub trait Links: Send + Sync {
    /// The link of a QALITA issue.
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError>;
    /// Stores a new link (version 1); [`StoreError::Conflict`] if one exists.
    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError>;
    /// Replaces the link stored at `link.version`; [`StoreError::Conflict`] if it changed.
    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError>;
    /// The link whose GitLab issue is `iid` of `project`; of two, the one of the lowest QALITA id.
    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError>;
    /// The next `limit` links of the poll's comment sweep: open, linked, swept longest ago first.
    async fn next_to_sweep(&self, limit: usize) -> Result<Vec<LinkState>, StoreError>;
}

/// The links of comments (DESIGN section 4: no comment is copied twice).
///
/// Contract: `put_comment_link` stores a new link (at version 0) only if none exists, else only if
/// the stored version is still `link.version`; it returns the link at its new version, and
/// anything else is [`StoreError::Conflict`] and changes nothing. A note and a QALITA comment with
/// the same number are different keys.
#[async_trait]
pub trait CommentLinks: Send + Sync {
    /// The link of comment `key` of `issue`.
    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError>;
    /// Stores a comment link at its next version; [`StoreError::Conflict`] if it changed.
    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError>;
}

/// The integration log: every decision and remote call's outcome, per QALITA issue.
///
/// Contract: `log` returns an issue's entries oldest first, entries of one instant in the order
/// they were appended; `recent_log` returns the entries of every issue at or after `since`
/// (only the errors if `errors_only`), oldest first, an issue's entries of one instant in the order
/// appended. Entries expire after the store's log TTL: `recent_log` never returns an expired one,
/// while `log` may until the store deletes it (DynamoDB's TTL does so lazily). An entry DynamoDB
/// would refuse (over 400 KB) is [`StoreError::Rejected`] and not stored.
#[async_trait]
pub trait IntegrationLog: Send + Sync {
    /// Appends to the integration log of an issue.
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError>;
    /// The integration log of an issue, oldest first.
    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError>;
    /// The entries of every issue since `since`, oldest first. On DynamoDB this scans the whole
    /// table (every item is read, and billed): for operators, never for the worker.
    async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, StoreError>;
}

/// The operator's switch (`qalita-gitlab disable` / `enable`): while it is off, the worker
/// acknowledges every event and writes nothing, and the poll does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrationSwitch {
    /// The sync runs (also what a store that was never switched holds).
    #[default]
    Enabled,
    /// The sync writes nothing.
    Disabled,
}

impl IntegrationSwitch {
    /// The word stored for this position.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationSwitch::Enabled => "enabled",
            IntegrationSwitch::Disabled => "disabled",
        }
    }

    /// The position a stored word means. Only `disabled` stops the sync: anything else, or
    /// nothing, is [`IntegrationSwitch::Enabled`], as it always was read.
    pub fn parse(stored: Option<&str>) -> Self {
        match stored {
            Some("disabled") => IntegrationSwitch::Disabled,
            _ => IntegrationSwitch::Enabled,
        }
    }
}

/// The settings every worker reads alike: named cursors (poll, backfill), the operator's switch
/// and the configuration document.
///
/// Contract: a cursor reads back what was last set, and `None` if never set; an empty or
/// over-long name is [`StoreError::Rejected`]. The switch reads back what was last set, and
/// [`IntegrationSwitch::Enabled`] if never set. The configuration document is `None` until one is
/// written; `put_config_document` writes only if the stored document is still `previous` (`None`:
/// none is stored), else it is [`StoreError::Conflict`] and changes nothing, so that two operators
/// applying at once do not overwrite each other. A document DynamoDB would refuse (over 400 KB)
/// is [`StoreError::Rejected`].
#[async_trait]
pub trait Settings: Send + Sync {
    /// A named cursor (poll, backfill).
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets a named cursor.
    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError>;
    /// The operator's switch.
    async fn switch(&self) -> Result<IntegrationSwitch, StoreError>;
    /// Sets the operator's switch.
    async fn set_switch(&self, position: IntegrationSwitch) -> Result<(), StoreError>;
    /// The configuration document (TOML), when one was applied.
    async fn config_document(&self) -> Result<Option<String>, StoreError>;
    /// Replaces the configuration document if the stored one is still `previous`;
    /// [`StoreError::Conflict`] if it is not.
    async fn put_config_document(&self, previous: Option<&str>, document: &str) -> Result<(), StoreError>;
    /// Takes one use of the budget `name` in the window that starts at `window` (seconds since
    /// 1970, the same for every process in that window): `true` when fewer than `limit` uses were
    /// taken in it (this one is counted), `false` when it is spent (nothing is counted). Atomic
    /// across processes, so concurrent workers share one budget (the rate governor's).
    async fn take_budget(&self, name: &str, window: i64, limit: u32) -> Result<bool, StoreError>;
}

/// The whole link store: every capability, as the sync engine uses it. Implemented by every type
/// that has the four, so an adapter implements the capabilities and is a `LinkStore` for free.
pub trait LinkStore: Links + CommentLinks + IntegrationLog + Settings {}

impl<T: Links + CommentLinks + IntegrationLog + Settings + ?Sized> LinkStore for T {}

/// [`Settings::take_budget`] for a store that keeps one window per budget (in one transaction):
/// one use of a budget whose window `current` has `used` uses, in `window`: an older window is
/// forgotten, a newer one's uses are never taken from an older window's caller.
pub fn take_use(current: &mut i64, used: &mut u32, window: i64, limit: u32) -> bool {
    if window > *current {
        (*current, *used) = (window, 0);
    }
    if window < *current || *used >= limit {
        return false;
    }
    *used += 1;
    true
}
