//! The table and the queue as a worker process reaches them: every call counted by its
//! [`Process`], which may crash after it (the write done, the answer never used).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qalita_gitlab_core::domain::link::{CommentKey, CommentLink, LinkState, LogEntry};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{
    CommentLinks, EventQueue, IntegrationLog, IntegrationSwitch, LinkStore, Links, OutgoingMessage, QueueError,
    ReceivedMessage, Settings, StoreError,
};

use crate::faults::Process;

/// Runs one call of a port through the process: it may be dead already, and may die after.
macro_rules! relay {
    ($self:ident, $what:literal, $call:expr) => {{
        $self.process.before().await;
        let result = $call.await;
        $self.process.after($what).await;
        result
    }};
}

/// The link store of one worker process.
pub struct ProcessStore {
    /// The shared table.
    pub inner: Arc<dyn LinkStore>,
    /// The process.
    pub process: Arc<Process>,
}

#[async_trait]
impl Links for ProcessStore {
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError> {
        relay!(self, "table get link", self.inner.get(id))
    }
    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        relay!(self, "table create link", self.inner.create(link))
    }
    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        relay!(self, "table update link", self.inner.update(link))
    }
    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError> {
        relay!(self, "table find link", self.inner.find_by_gitlab(project, iid))
    }
    async fn next_to_sweep(&self, limit: usize) -> Result<Vec<LinkState>, StoreError> {
        relay!(self, "table links to sweep", self.inner.next_to_sweep(limit))
    }
}

#[async_trait]
impl CommentLinks for ProcessStore {
    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError> {
        relay!(self, "table get comment link", self.inner.comment_link(issue, key))
    }
    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError> {
        relay!(self, "table put comment link", self.inner.put_comment_link(link))
    }
}

#[async_trait]
impl IntegrationLog for ProcessStore {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        relay!(self, "table append log", self.inner.append_log(entry))
    }
    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError> {
        relay!(self, "table read log", self.inner.log(issue))
    }
    async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, StoreError> {
        relay!(self, "table recent log", self.inner.recent_log(since, errors_only))
    }
}

#[async_trait]
impl Settings for ProcessStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        relay!(self, "table get cursor", self.inner.cursor(name))
    }
    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        relay!(self, "table set cursor", self.inner.set_cursor(name, value))
    }
    async fn switch(&self) -> Result<IntegrationSwitch, StoreError> {
        relay!(self, "table get switch", self.inner.switch())
    }
    async fn set_switch(&self, position: IntegrationSwitch) -> Result<(), StoreError> {
        relay!(self, "table set switch", self.inner.set_switch(position))
    }
    async fn config_document(&self) -> Result<Option<String>, StoreError> {
        relay!(self, "table get config", self.inner.config_document())
    }
    async fn put_config_document(&self, previous: Option<&str>, document: &str) -> Result<(), StoreError> {
        relay!(self, "table put config", self.inner.put_config_document(previous, document))
    }
    async fn take_budget(&self, name: &str, window: i64, limit: u32) -> Result<bool, StoreError> {
        relay!(self, "table take budget", self.inner.take_budget(name, window, limit))
    }
}

/// The event queue of one worker process.
pub struct ProcessQueue {
    /// The shared queue.
    pub inner: Arc<dyn EventQueue>,
    /// The process.
    pub process: Arc<Process>,
}

#[async_trait]
impl EventQueue for ProcessQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        relay!(self, "queue send", self.inner.send(message))
    }
    async fn receive(&self, max: u8, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        relay!(self, "queue receive", self.inner.receive(max, wait))
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        relay!(self, "queue delete", self.inner.delete(receipt))
    }
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        relay!(self, "queue change visibility", self.inner.change_visibility(receipt, timeout))
    }
}
