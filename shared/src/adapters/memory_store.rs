//! The link store in memory (adapter of every capability of [`crate::ports::LinkStore`]), for unit
//! tests and dry runs. It builds the DynamoDB adapter's items to refuse exactly what DynamoDB
//! would, and can be switched "down".

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::dynamodb::item;
use crate::domain::link::{CommentKey, CommentLink, LinkState, LogEntry, LogLevel};
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::ports::{CommentLinks, IntegrationLog, IntegrationSwitch, Links, Settings, StoreError};

#[derive(Debug, Default)]
struct Tables {
    links: BTreeMap<QalitaIssueId, LinkState>,
    comments: BTreeMap<(QalitaIssueId, CommentKey), CommentLink>,
    /// Cursors by name, the operator's switch among them (as in the DynamoDB table).
    cursors: HashMap<String, String>,
    /// The configuration document and how many were applied.
    config: Option<(String, u64)>,
    /// Each rate budget's current window and its uses.
    budgets: HashMap<String, (i64, u32)>,
    /// Every issue's log in the order of appending (sorted by time on reading).
    logs: Vec<LogEntry>,
}

/// A link store in a map, with the DynamoDB adapter's contract and validation. Log entries do not
/// expire.
#[derive(Default)]
pub struct MemoryLinkStore {
    tables: Mutex<Tables>,
    down: AtomicBool,
}

impl MemoryLinkStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryLinkStore::default()
    }

    /// Makes every call fail as an unreachable store would (`true`), or work again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
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
impl Links for MemoryLinkStore {
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

    /// Every link is looked at (a map in memory is small); immediately consistent.
    async fn next_to_sweep(&self, limit: usize) -> Result<Vec<LinkState>, StoreError> {
        let tables = self.up()?;
        let mut line: Vec<_> =
            tables.links.values().filter_map(|link| link.sweep_position().map(|position| (position, link))).collect();
        line.sort_unstable_by_key(|(position, _)| *position);
        Ok(line.into_iter().take(limit).map(|(_, link)| link.clone()).collect())
    }
}

#[async_trait]
impl CommentLinks for MemoryLinkStore {
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
}

#[async_trait]
impl IntegrationLog for MemoryLinkStore {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let mut tables = self.up()?;
        let sequence = u64::try_from(tables.logs.len()).unwrap_or(u64::MAX);
        item::log(entry, &item::log_sort_key(entry.at, sequence), 0)?;
        tables.logs.push(entry.clone());
        Ok(())
    }

    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError> {
        let mut entries: Vec<LogEntry> = self.up()?.logs.iter().filter(|entry| entry.issue == issue).cloned().collect();
        // Stable: entries of one instant stay in the order they were appended.
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }

    async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, StoreError> {
        let tables = self.up()?;
        let wanted = |entry: &&LogEntry| entry.at >= since && (!errors_only || entry.level == LogLevel::Error);
        let mut entries: Vec<LogEntry> = tables.logs.iter().filter(wanted).cloned().collect();
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }
}

#[async_trait]
impl Settings for MemoryLinkStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        item::cursor_key(name)?;
        Ok(self.up()?.cursors.get(name).cloned())
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        item::cursor(name, value)?;
        self.up()?.cursors.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn switch(&self) -> Result<IntegrationSwitch, StoreError> {
        Ok(IntegrationSwitch::parse(self.up()?.cursors.get(item::SWITCH_CURSOR).map(String::as_str)))
    }

    async fn set_switch(&self, position: IntegrationSwitch) -> Result<(), StoreError> {
        self.set_cursor(item::SWITCH_CURSOR, position.as_str()).await
    }

    async fn config_document(&self) -> Result<Option<String>, StoreError> {
        Ok(self.up()?.config.as_ref().map(|(document, _)| document.clone()))
    }

    async fn put_config_document(&self, previous: Option<&str>, document: &str) -> Result<(), StoreError> {
        let mut tables = self.up()?;
        let (stored, version) = match &tables.config {
            Some((stored, version)) => (Some(stored.as_str()), *version),
            None => (None, 0),
        };
        if stored != previous {
            return Err(StoreError::Conflict);
        }
        item::config(document, version + 1, Utc::now())?;
        tables.config = Some((document.to_owned(), version + 1));
        Ok(())
    }

    async fn take_budget(&self, name: &str, window: i64, limit: u32) -> Result<bool, StoreError> {
        item::budget_key(name, window)?;
        let mut tables = self.up()?;
        let (current, used) = tables.budgets.entry(name.to_owned()).or_insert((window, 0));
        Ok(crate::ports::take_use(current, used, window, limit))
    }
}
