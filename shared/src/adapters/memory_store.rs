//! The link store in memory (adapter of [`crate::ports::LinkStore`]), for unit tests and the local
//! pipeline. It builds the DynamoDB adapter's items to refuse exactly what DynamoDB would, reads
//! expiry from an injected clock, and can be switched "down".

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::dynamodb::item;
use crate::domain::link::{CommentKey, CommentLink, LinkState, LogEntry};
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::ports::{Clock, LinkStore, StoreError};

#[derive(Debug, Default)]
struct Tables {
    links: BTreeMap<QalitaIssueId, LinkState>,
    comments: BTreeMap<(QalitaIssueId, CommentKey), CommentLink>,
    /// Delivery records: (source, key) → expiry in epoch seconds, the precision of the TTL attribute.
    seen: HashMap<(String, String), i64>,
    cursors: HashMap<String, String>,
    config: Option<String>,
    /// Each issue's log in the order of appending (sorted by time on reading).
    logs: HashMap<QalitaIssueId, Vec<LogEntry>>,
    appended: u64,
}

/// A link store in a map, with the DynamoDB adapter's contract and validation. Log entries do not
/// expire.
pub struct MemoryLinkStore {
    clock: Arc<dyn Clock>,
    tables: Mutex<Tables>,
    down: AtomicBool,
}

impl MemoryLinkStore {
    /// An empty store whose delivery records expire by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryLinkStore { clock, tables: Mutex::new(Tables::default()), down: AtomicBool::new(false) }
    }

    /// Makes every call fail as an unreachable store would (`true`), or work again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Stores the configuration document (TOML), as applying a configuration does.
    pub fn put_config_document(&self, document: impl Into<String>) {
        self.tables().config = Some(document.into());
    }

    /// The tables, unless the store is switched down.
    fn up(&self) -> Result<MutexGuard<'_, Tables>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                class: "memory-store-down".into(),
                source: "the in-memory link store is switched down".into(),
            });
        }
        Ok(self.tables())
    }

    /// Locks the tables, recovering them if a panicking test thread poisoned the lock.
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Stores `link` at `version` if DynamoDB would store its item.
fn store(tables: &mut Tables, link: &LinkState, version: u64) -> Result<LinkState, StoreError> {
    item::link(link, version)?;
    let stored = LinkState { version, ..link.clone() };
    tables.links.insert(link.qalita_id, stored.clone());
    Ok(stored)
}

#[async_trait]
impl LinkStore for MemoryLinkStore {
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError> {
        Ok(self.up()?.links.get(&id).cloned())
    }

    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        let mut tables = self.up()?;
        if tables.links.contains_key(&link.qalita_id) {
            return Err(StoreError::Conflict);
        }
        store(&mut tables, link, 1)
    }

    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        let mut tables = self.up()?;
        match tables.links.get(&link.qalita_id) {
            Some(stored) if stored.version == link.version => store(&mut tables, link, link.version + 1),
            _ => Err(StoreError::Conflict),
        }
    }

    /// Immediately consistent, unlike DynamoDB's index; of two links naming one GitLab issue, the
    /// one of the lowest QALITA id, as there.
    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError> {
        let tables = self.up()?;
        let mut links = tables.links.values();
        Ok(links.find(|link| link.gitlab.as_ref().is_some_and(|g| g.project_id == project && g.iid == iid)).cloned())
    }

    async fn mark_seen(&self, source: &str, key: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        item::seen(source, key, expires_at)?;
        let now = self.clock.now().timestamp();
        let mut tables = self.up()?;
        let entry = tables.seen.entry((source.to_owned(), key.to_owned())).or_insert(i64::MIN);
        // The same rule as the DynamoDB condition: absent, or expired by the second.
        if *entry >= now {
            return Ok(false);
        }
        *entry = expires_at.timestamp();
        Ok(true)
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        item::cursor_key(name)?;
        Ok(self.up()?.cursors.get(name).cloned())
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        item::cursor(name, value)?;
        self.up()?.cursors.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn config_document(&self) -> Result<Option<String>, StoreError> {
        Ok(self.up()?.config.clone())
    }

    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError> {
        Ok(self.up()?.comments.get(&(issue, key)).cloned())
    }

    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError> {
        let mut tables = self.up()?;
        let stored_version = tables.comments.get(&(link.issue, link.key)).map(|c| c.version);
        if stored_version.unwrap_or(0) != link.version {
            return Err(StoreError::Conflict);
        }
        item::comment(link, link.version + 1)?;
        let stored = CommentLink { version: link.version + 1, ..link.clone() };
        tables.comments.insert((link.issue, link.key), stored.clone());
        Ok(stored)
    }

    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let mut tables = self.up()?;
        item::log(entry, &item::log_sort_key(entry.at, tables.appended), 0)?;
        tables.appended += 1;
        tables.logs.entry(entry.issue).or_default().push(entry.clone());
        Ok(())
    }

    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError> {
        let mut entries = self.up()?.logs.get(&issue).cloned().unwrap_or_default();
        // Stable: entries of one instant stay in the order they were appended.
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }
}
