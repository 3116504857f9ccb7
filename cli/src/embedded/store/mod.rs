//! The link store on a redb file (adapter of every capability of
//! [`LinkStore`](qalita_gitlab_core::ports::LinkStore)), with the DynamoDB adapter's contracts:
//! conditional writes in one write transaction each, the reverse index kept in the same
//! transaction, expiry read from an injected clock, and DynamoDB's item limits (`item`).

mod item;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::adapters::dynamodb::item::SWITCH_CURSOR;
use qalita_gitlab_core::domain::link::{CommentKey, CommentLink, LinkState, LogEntry, LogLevel, SweepPosition};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{Clock, CommentLinks, IntegrationLog, IntegrationSwitch, Links, Settings, StoreError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{EmbeddedDb, Failing, OpenError, PortError, TxError, classify, from_json};

/// Links by QALITA issue id: the [`LinkState`] as JSON, at its stored version.
const LINKS: TableDefinition<u64, &str> = TableDefinition::new("store/links");
/// The reverse index: (GitLab project id, iid, QALITA issue id) of every link with a GitLab issue.
const LINKS_BY_GITLAB: TableDefinition<(u64, u64, u64), ()> = TableDefinition::new("store/links-by-gitlab");
/// The comment sweep's line: (sweep time in microseconds, QALITA issue id) of every link with a
/// [`SweepPosition`], as DynamoDB's sparse index `GSI2` holds it.
const LINKS_BY_SWEEP: TableDefinition<(i64, u64), ()> = TableDefinition::new("store/links-by-sweep");
/// Comment links by (QALITA issue id, `NOTE#<id>` / `COMMENT#<id>` / `LINKBACK#<GitLab issue id>`):
/// the [`CommentLink`] as JSON.
const COMMENTS: TableDefinition<(u64, &str), &str> = TableDefinition::new("store/comment-links");
/// Cursors by name, the operator's switch among them (as in the DynamoDB table).
const CURSORS: TableDefinition<&str, &str> = TableDefinition::new("store/cursors");
/// The configuration document, under [`CURRENT`].
const CONFIG: TableDefinition<&str, &str> = TableDefinition::new("store/config");
const CURRENT: &str = "CURRENT";
/// The integration log by (issue, seconds, nanoseconds, sequence): (expiry in epoch seconds, the
/// [`LogEntry`] as JSON). The sequence orders the entries of one instant in the order appended.
const LOG: TableDefinition<(u64, i64, u32, u64), (i64, &str)> = TableDefinition::new("store/log");
/// The log by (seconds, nanoseconds, sequence), across issues: the issue of each entry.
const LOG_BY_TIME: TableDefinition<(i64, u32, u64), u64> = TableDefinition::new("store/log-by-time");
/// Each rate budget's current window (seconds) and its uses, by name.
const BUDGETS: TableDefinition<&str, (i64, u32)> = TableDefinition::new("store/budgets");
/// Counters that must survive a restart, by name.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("store/counters");
const LOG_SEQUENCE: &str = "log-sequence";

fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(LINKS)?;
    tx.open_table(LINKS_BY_GITLAB)?;
    tx.open_table(LINKS_BY_SWEEP)?;
    tx.open_table(COMMENTS)?;
    tx.open_table(CURSORS)?;
    tx.open_table(CONFIG)?;
    tx.open_table(LOG)?;
    tx.open_table(LOG_BY_TIME)?;
    tx.open_table(COUNTERS)?;
    tx.open_table(BUDGETS)?;
    Ok(())
}

/// The link store in a redb database: what DynamoDB holds in the sync table (DESIGN section 4), in
/// one table per kind of item. Log entries expire by the injected clock: expired ones are never
/// read, and [`RedbLinkStore::purge_expired`] deletes them.
#[derive(Clone)]
pub struct RedbLinkStore {
    db: EmbeddedDb,
    clock: Arc<dyn Clock>,
    log_ttl: TimeDelta,
}

impl std::fmt::Debug for RedbLinkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbLinkStore").field("log_ttl", &self.log_ttl).finish_non_exhaustive()
    }
}

type Tx<T> = Result<T, TxError<StoreError>>;

impl RedbLinkStore {
    /// The store in `db`, creating its tables if needed. Log entries expire `log_ttl` after they
    /// are appended, by `clock`.
    pub async fn open(db: &EmbeddedDb, clock: Arc<dyn Clock>, log_ttl: TimeDelta) -> Result<Self, OpenError> {
        db.prepare(create_tables).await?;
        Ok(RedbLinkStore { db: db.clone(), clock, log_ttl })
    }

    /// Every link, by QALITA issue id.
    pub async fn links(&self) -> Result<Vec<LinkState>, StoreError> {
        self.read(|db| {
            let tx = db.begin_read()?;
            let links = tx.open_table(LINKS)?;
            let mut all = Vec::new();
            for row in links.iter()? {
                let (id, json) = row?;
                all.push(from_json(json.value(), || format!("the link of QALITA issue {}", id.value()))?);
            }
            Ok(all)
        })
        .await
    }

    /// Deletes the log entries that expired by the clock (DynamoDB's TTL does the same, lazily).
    /// Returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.clock.now().timestamp();
        self.write(move |tx| {
            let mut deleted = 0;
            let mut log = tx.open_table(LOG)?;
            let mut by_time = tx.open_table(LOG_BY_TIME)?;
            for row in log.extract_if(|_, (expires_at, _)| expires_at < now)? {
                let (key, _) = row?;
                let (_, seconds, nanos, sequence) = key.value();
                by_time.remove((seconds, nanos, sequence))?;
                deleted += 1;
            }
            Ok(deleted)
        })
        .await
    }

    /// Runs `work` in a write transaction, committed if it succeeds (dropped, so aborted, if not).
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&WriteTransaction) -> Tx<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.db
            .run(move |db| {
                let tx = db.begin_write()?;
                let value = work(&tx)?;
                tx.commit()?;
                Ok(value)
            })
            .await
    }

    /// Runs `work` (reads) on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Tx<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.db.run(work).await
    }
}

impl PortError for StoreError {
    fn from_db(error: Box<redb::Error>) -> Self {
        match classify(&error) {
            (class, true) => StoreError::Unavailable { class: class.into(), source: error },
            (class, false) => StoreError::Rejected { class: class.into(), message: error.to_string() },
        }
    }

    fn corrupt(what: String) -> Self {
        StoreError::Rejected { class: "CorruptItem".into(), message: what }
    }

    fn failing(reason: String) -> Self {
        StoreError::Unavailable { class: "storage-failing".into(), source: Box::new(Failing { reason }) }
    }

    fn interrupted(error: tokio::task::JoinError) -> Self {
        StoreError::Unavailable { class: "interrupted".into(), source: Box::new(error) }
    }
}

fn conflict<T>() -> Tx<T> {
    Err(TxError::Refused(StoreError::Conflict))
}

/// The stored link of `id`, read in a write transaction.
fn stored_link(tx: &WriteTransaction, id: u64) -> Tx<Option<LinkState>> {
    let links = tx.open_table(LINKS)?;
    let stored = links.get(id)?;
    stored.map(|json| from_json(json.value(), || format!("the link of QALITA issue {id}"))).transpose()
}

/// The key of a link's place in the sweep's line.
fn sweep_key(position: SweepPosition) -> (i64, u64) {
    (position.swept_at.timestamp_micros(), position.issue.get())
}

/// Writes `link` (already checked, as `json`) and its index entries, replacing `previous`'s.
fn put_link(tx: &WriteTransaction, link: &LinkState, json: &str, previous: Option<&LinkState>) -> Tx<()> {
    let id = link.qalita_id.get();
    let mut index = tx.open_table(LINKS_BY_GITLAB)?;
    if let Some(gitlab) = previous.and_then(|p| p.gitlab.as_ref()) {
        index.remove((gitlab.project_id.get(), gitlab.iid.get(), id))?;
    }
    if let Some(gitlab) = &link.gitlab {
        index.insert((gitlab.project_id.get(), gitlab.iid.get(), id), ())?;
    }
    let mut line = tx.open_table(LINKS_BY_SWEEP)?;
    if let Some(position) = previous.and_then(LinkState::sweep_position) {
        line.remove(sweep_key(position))?;
    }
    if let Some(position) = link.sweep_position() {
        line.insert(sweep_key(position), ())?;
    }
    tx.open_table(LINKS)?.insert(id, json)?;
    Ok(())
}

#[async_trait]
impl Links for RedbLinkStore {
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError> {
        self.read(move |db| {
            let tx = db.begin_read()?;
            let links = tx.open_table(LINKS)?;
            let stored = links.get(id.get())?;
            stored.map(|json| from_json(json.value(), || format!("the link of QALITA issue {id}"))).transpose()
        })
        .await
    }

    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        let stored = LinkState { version: 1, ..link.clone() };
        let json = item::link(&stored)?;
        self.write(move |tx| {
            if tx.open_table(LINKS)?.get(stored.qalita_id.get())?.is_some() {
                return conflict();
            }
            put_link(tx, &stored, &json, None)?;
            Ok(stored)
        })
        .await
    }

    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        let expected = link.version;
        let stored = LinkState { version: expected + 1, ..link.clone() };
        let json = item::link(&stored)?;
        self.write(move |tx| {
            // A missing link never matches: an update never creates one.
            let Some(previous) = stored_link(tx, stored.qalita_id.get())?.filter(|p| p.version == expected) else {
                return conflict();
            };
            put_link(tx, &stored, &json, Some(&previous))?;
            Ok(stored)
        })
        .await
    }

    /// Immediately consistent (the index is written with the link); of two links naming one GitLab
    /// issue, the one of the lowest QALITA id, as in the DynamoDB adapter.
    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError> {
        self.read(move |db| {
            let tx = db.begin_read()?;
            let index = tx.open_table(LINKS_BY_GITLAB)?;
            let (project, iid) = (project.get(), iid.get());
            let Some(row) = index.range((project, iid, 0)..=(project, iid, u64::MAX))?.next() else {
                return Ok(None);
            };
            let (_, _, id) = row?.0.value();
            let links = tx.open_table(LINKS)?;
            let stored = links.get(id)?;
            stored.map(|json| from_json(json.value(), || format!("the link of QALITA issue {id}"))).transpose()
        })
        .await
    }

    /// Reads the head of the line, kept in the link's own write transactions: immediately
    /// consistent.
    async fn next_to_sweep(&self, limit: usize) -> Result<Vec<LinkState>, StoreError> {
        self.read(move |db| {
            let tx = db.begin_read()?;
            let (line, links) = (tx.open_table(LINKS_BY_SWEEP)?, tx.open_table(LINKS)?);
            let mut next = Vec::new();
            for row in line.iter()?.take(limit) {
                let (_, id) = row?.0.value();
                if let Some(json) = links.get(id)? {
                    next.push(from_json(json.value(), || format!("the link of QALITA issue {id}"))?);
                }
            }
            Ok(next)
        })
        .await
    }
}

#[async_trait]
impl CommentLinks for RedbLinkStore {
    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError> {
        self.read(move |db| {
            let tx = db.begin_read()?;
            let comments = tx.open_table(COMMENTS)?;
            let stored = comments.get((issue.get(), key.sort_key().as_str()))?;
            let what = || format!("the link of comment {} of QALITA issue {issue}", key.sort_key());
            stored.map(|json| from_json(json.value(), what)).transpose()
        })
        .await
    }

    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError> {
        let expected = link.version;
        let stored = CommentLink { version: expected + 1, ..link.clone() };
        let json = item::comment(&stored)?;
        self.write(move |tx| {
            let mut comments = tx.open_table(COMMENTS)?;
            let key = (stored.issue.get(), stored.key.sort_key());
            let what = || format!("the link of comment {} of QALITA issue {}", key.1, key.0);
            let current = match comments.get((key.0, key.1.as_str()))? {
                Some(json) => from_json::<CommentLink, _>(json.value(), what)?.version,
                None => 0,
            };
            if current != expected {
                return conflict();
            }
            comments.insert((key.0, key.1.as_str()), json.as_str())?;
            Ok(stored)
        })
        .await
    }
}

#[async_trait]
impl IntegrationLog for RedbLinkStore {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let expires_at = (self.clock.now() + self.log_ttl).timestamp();
        let entry = entry.clone();
        self.write(move |tx| {
            let mut counters = tx.open_table(COUNTERS)?;
            let sequence = counters.get(LOG_SEQUENCE)?.map_or(0, |n| n.value()) + 1;
            let json = item::log(&entry, sequence, expires_at).map_err(TxError::Refused)?;
            counters.insert(LOG_SEQUENCE, sequence)?;
            let (issue, seconds, nanos) = (entry.issue.get(), entry.at.timestamp(), entry.at.timestamp_subsec_nanos());
            tx.open_table(LOG)?.insert((issue, seconds, nanos, sequence), (expires_at, json.as_str()))?;
            tx.open_table(LOG_BY_TIME)?.insert((seconds, nanos, sequence), issue)?;
            Ok(())
        })
        .await
    }

    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError> {
        let now = self.clock.now().timestamp();
        self.read(move |db| {
            let tx = db.begin_read()?;
            let log = tx.open_table(LOG)?;
            let id = issue.get();
            let mut entries = Vec::new();
            for row in log.range((id, i64::MIN, 0, 0)..=(id, i64::MAX, u32::MAX, u64::MAX))? {
                let (_, stored) = row?;
                let (expires_at, json) = stored.value();
                if expires_at >= now {
                    entries.push(from_json(json, || format!("a log entry of QALITA issue {issue}"))?);
                }
            }
            Ok(entries)
        })
        .await
    }

    async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, StoreError> {
        let now = self.clock.now().timestamp();
        self.read(move |db| {
            let tx = db.begin_read()?;
            let (by_time, log) = (tx.open_table(LOG_BY_TIME)?, tx.open_table(LOG)?);
            let mut entries = Vec::new();
            for row in by_time.range((since.timestamp(), since.timestamp_subsec_nanos(), 0)..)? {
                let (key, issue) = row?;
                let (seconds, nanos, sequence) = key.value();
                let Some(stored) = log.get((issue.value(), seconds, nanos, sequence))? else {
                    continue;
                };
                let (expires_at, json) = stored.value();
                if expires_at < now {
                    continue;
                }
                let entry: LogEntry = from_json(json, || format!("a log entry of QALITA issue {}", issue.value()))?;
                if !errors_only || entry.level == LogLevel::Error {
                    entries.push(entry);
                }
            }
            Ok(entries)
        })
        .await
    }
}

#[async_trait]
impl Settings for RedbLinkStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        item::cursor_key(name)?;
        let name = name.to_owned();
        self.read(move |db| {
            let tx = db.begin_read()?;
            let cursors = tx.open_table(CURSORS)?;
            Ok(cursors.get(name.as_str())?.map(|value| value.value().to_owned()))
        })
        .await
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        item::cursor(name, value)?;
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write(move |tx| {
            tx.open_table(CURSORS)?.insert(name.as_str(), value.as_str())?;
            Ok(())
        })
        .await
    }

    async fn switch(&self) -> Result<IntegrationSwitch, StoreError> {
        Ok(IntegrationSwitch::parse(self.cursor(SWITCH_CURSOR).await?.as_deref()))
    }

    async fn set_switch(&self, position: IntegrationSwitch) -> Result<(), StoreError> {
        self.set_cursor(SWITCH_CURSOR, position.as_str()).await
    }

    async fn config_document(&self) -> Result<Option<String>, StoreError> {
        self.read(|db| {
            let tx = db.begin_read()?;
            let config = tx.open_table(CONFIG)?;
            Ok(config.get(CURRENT)?.map(|document| document.value().to_owned()))
        })
        .await
    }

    /// The window's uses are read and counted in one write transaction.
    async fn take_budget(&self, name: &str, window: i64, limit: u32) -> Result<bool, StoreError> {
        qalita_gitlab_core::adapters::dynamodb::item::budget_key(name, window)?;
        let name = name.to_owned();
        self.write(move |tx| {
            let mut budgets = tx.open_table(BUDGETS)?;
            let (mut current, mut used) = budgets.get(name.as_str())?.map_or((window, 0), |stored| stored.value());
            let taken = qalita_gitlab_core::ports::take_use(&mut current, &mut used, window, limit);
            budgets.insert(name.as_str(), (current, used))?;
            Ok(taken)
        })
        .await
    }

    /// The stored document is compared and replaced in one write transaction.
    async fn put_config_document(&self, previous: Option<&str>, document: &str) -> Result<(), StoreError> {
        item::config(document)?;
        let (previous, document) = (previous.map(str::to_owned), document.to_owned());
        self.write(move |tx| {
            let mut config = tx.open_table(CONFIG)?;
            let stored = config.get(CURRENT)?.map(|stored| stored.value().to_owned());
            if stored != previous {
                return conflict();
            }
            config.insert(CURRENT, document.as_str())?;
            Ok(())
        })
        .await
    }
}
