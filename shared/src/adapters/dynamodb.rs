//! The link store on DynamoDB (adapter of every capability of [`crate::ports::LinkStore`]): one
//! table, the item layout of DESIGN section 4 (built and checked in `item`, the only place that
//! knows the keys), conditional writes for every "only if" of the contracts.

/// The items of the table and DynamoDB's limits on them: the other stores check their records
/// with these builders, so that every store refuses exactly what DynamoDB refuses.
pub mod item;

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeDelta, Utc};

use self::item::{DOCUMENT, GSI1, GSI1PK, GSI2, GSI2PK, Item, PK, SK, VERSION};
use super::aws_error::{HttpStatus, classify};
use crate::domain::link::{CommentKey, CommentLink, LinkState, LogEntry, LogLevel};
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::ports::{CommentLinks, IntegrationLog, IntegrationSwitch, Links, Settings, StoreError};

/// The link store in one DynamoDB table (`template.yaml`'s `SyncTable`). Its items:
///
/// - link: pk `QALITA#<id>`, sk `LINK`; `version` N, `status` S, `state` S (the [`LinkState`]
///   as JSON), `gsi1pk` S `GITLAB#<project id>#<iid>` once it has a GitLab issue, and, while it is
///   open and linked, `gsi2pk` S `SWEEP` and `gsi2sk` S its place in the comment sweep (the
///   sparse index `GSI2`, keys only);
/// - comment link: pk `QALITA#<id>`, sk `NOTE#<note id>`, `COMMENT#<comment id>` or
///   `LINKBACK#<GitLab issue id>` (the link back's comment); `version` N,
///   `state` S (the [`CommentLink`] as JSON);
/// - cursor: pk `CURSOR#<name>`, sk `CURSOR`; `value` S; the operator's switch is the cursor
///   `integration-state`, `enabled` or `disabled`;
/// - configuration: pk `CONFIG`, sk `CURRENT`; `document` S (TOML), `version` N (documents
///   applied), `applied_at` S;
/// - log entry: pk `LOG#<id>`, sk `<RFC 3339 time to the ns>#<sequence>-<random>`; `entry` S (the
///   [`LogEntry`] as JSON), `expires_at` N.
///
/// Every item is checked against DynamoDB's limits before it is sent (400 KB per item, key
/// lengths, non-empty string keys), since the local stack lets some of them through.
#[derive(Debug)]
pub struct DynamoLinkStore {
    client: Client,
    table: String,
    log_ttl: TimeDelta,
    /// Orders the log entries this process appends within one instant.
    log_sequence: AtomicU64,
}

impl DynamoLinkStore {
    /// The store in `table`, reached through `client` (whose endpoint comes from the AWS config).
    /// Log entries expire `log_ttl` after they are written.
    pub fn new(client: Client, table: impl Into<String>, log_ttl: TimeDelta) -> Self {
        DynamoLinkStore { client, table: table.into(), log_ttl, log_sequence: AtomicU64::new(0) }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item) -> PutItemFluentBuilder {
        self.client.put_item().table_name(&self.table).set_item(Some(item))
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        // Strongly consistent: a link read just before a conditional write should be the latest.
        let output =
            self.client.get_item().table_name(&self.table).set_key(Some(key)).consistent_read(true).send().await;
        Ok(output.map_err(store_error)?.item)
    }

    /// Every item a query matches, all pages, in the order DynamoDB returns them.
    async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = query.clone().set_exclusive_start_key(start).send().await.map_err(store_error)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// Sends a conditional put: `Ok(false)` when the condition did not hold.
async fn put_if(request: PutItemFluentBuilder) -> Result<bool, StoreError> {
    match request.send().await {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
        Err(error) => Err(store_error(error)),
    }
}

/// Maps an SDK error: throttling, 5xx, no answer or a time-out is worth retrying; anything else
/// (a missing table, access denied, a validation error) is not.
fn store_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let classified = classify(&error);
    if classified.transient {
        return StoreError::Unavailable { class: classified.class, source: Box::new(error) };
    }
    let message = match classified.message.is_empty() {
        true => DisplayErrorContext(&error).to_string(),
        false => classified.message,
    };
    StoreError::Rejected { class: classified.class, message }
}

fn number(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[async_trait]
impl Links for DynamoLinkStore {
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError> {
        self.get_item(item::link_key(id)).await?.as_ref().map(item::link_from).transpose()
    }

    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        let stored = LinkState { version: 1, ..link.clone() };
        let request = self
            .put(item::link(&stored, 1)?)
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        match put_if(request).await? {
            true => Ok(stored),
            false => Err(StoreError::Conflict),
        }
    }

    /// The condition is the version alone. It also enforces the reservation token of DESIGN
    /// section 4 step 3: a worker that takes over a stale reservation writes a new token, which
    /// bumps the version, so the first worker's update, made at the old version, fails.
    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        let version = link.version + 1;
        let stored = LinkState { version, ..link.clone() };
        // `version = :expected` is false on a missing item, so an update never creates a link.
        let request = self
            .put(item::link(&stored, version)?)
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":expected", number(link.version));
        match put_if(request).await? {
            true => Ok(stored),
            false => Err(StoreError::Conflict),
        }
    }

    /// Reads the reverse index, which is eventually consistent: a link created or linked an
    /// instant ago may not be found yet. Where a miss matters (deciding that a GitLab issue is not
    /// ours), callers must treat `None` as "maybe not yet" and retry later rather than conclude.
    /// Should two links name the same GitLab issue (which the creation protocol prevents), the one
    /// of the lowest QALITA id is returned and the duplicate is logged.
    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#gsi1pk = :gitlab")
            .expression_attribute_names("#gsi1pk", GSI1PK)
            .expression_attribute_values(":gitlab", AttributeValue::S(item::gitlab_key(project, iid)));
        let mut links = self.query_all(query).await?.iter().map(item::link_from).collect::<Result<Vec<_>, _>>()?;
        links.sort_by_key(|link| link.qalita_id);
        if links.len() > 1 {
            let ids: Vec<u64> = links.iter().map(|link| link.qalita_id.get()).collect();
            let (project, iid) = (project.get(), iid.get());
            tracing::warn!(project, iid, qalita_ids = ?ids, "several links name one GitLab issue");
        }
        Ok(links.into_iter().next())
    }

    /// Reads the head of the sweep's index (`GSI2`, one partition, in sort-key order, keys only),
    /// then each link it names, consistently: the index may lag a write by a moment, so a link
    /// that is no longer open is left out (the list is then shorter) and one swept an instant ago
    /// may be listed again (a second sweep finds nothing to copy).
    async fn next_to_sweep(&self, limit: usize) -> Result<Vec<LinkState>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#gsi2pk = :sweep")
            .expression_attribute_names("#gsi2pk", GSI2PK)
            .expression_attribute_values(":sweep", AttributeValue::S(item::SWEEP_PARTITION.into()))
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1));
        let mut keys = Vec::new();
        let mut start = None;
        while keys.len() < limit {
            let page = query.clone().set_exclusive_start_key(start).send().await.map_err(store_error)?;
            keys.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut links = Vec::new();
        for key in keys.into_iter().take(limit) {
            let key: Item = key.into_iter().filter(|(name, _)| name == PK || name == SK).collect();
            if let Some(link) = self.get_item(key).await?.as_ref().map(item::link_from).transpose()?
                && link.sweep_position().is_some()
            {
                links.push(link);
            }
        }
        Ok(links)
    }
}

#[async_trait]
impl CommentLinks for DynamoLinkStore {
    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError> {
        self.get_item(item::comment_key(issue, key)).await?.as_ref().map(item::comment_from).transpose()
    }

    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError> {
        let version = link.version + 1;
        let request = self.put(item::comment(link, version)?);
        let request = match link.version {
            0 => request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK),
            expected => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":expected", number(expected)),
        };
        match put_if(request).await? {
            true => Ok(CommentLink { version, ..link.clone() }),
            false => Err(StoreError::Conflict),
        }
    }
}

#[async_trait]
impl IntegrationLog for DynamoLinkStore {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let sort_key = item::log_sort_key(entry.at, self.log_sequence.fetch_add(1, Ordering::Relaxed));
        let expires_at = (Utc::now() + self.log_ttl).timestamp();
        self.put(item::log(entry, &sort_key, expires_at)?).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :log")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":log", AttributeValue::S(item::log_partition(issue)))
            .scan_index_forward(true)
            .consistent_read(true);
        self.query_all(query).await?.iter().map(item::log_from).collect()
    }

    /// A scan of the whole table, filtered on the log items whose sort key (the entry's time, RFC
    /// 3339 to the nanosecond) is not earlier than `since`.
    async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, StoreError> {
        let now = Utc::now().timestamp();
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(#pk, :log) AND #sk >= :since")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":log", AttributeValue::S(item::LOG_PREFIX.into()))
                .expression_attribute_values(":since", AttributeValue::S(item::log_sort_key_from(since)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            for item in page.items.unwrap_or_default() {
                if expired(&item, now) {
                    continue;
                }
                let entry = item::log_from(&item)?;
                if !errors_only || entry.level == LogLevel::Error {
                    entries.push(entry);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // Stable: a scan returns each partition in sort-key order, so an issue's entries of one
        // instant stay in the order appended.
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }
}

/// Whether a log item's expiry passed (DynamoDB's TTL deletes it later, when it gets to it).
fn expired(item: &Item, now: i64) -> bool {
    item::expires_at_from(item).is_some_and(|expires_at| expires_at < now)
}

#[async_trait]
impl Settings for DynamoLinkStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get_item(item::cursor_key(name)?).await?.as_ref().map(item::cursor_from).transpose()
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.put(item::cursor(name, value)?).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn switch(&self) -> Result<IntegrationSwitch, StoreError> {
        Ok(IntegrationSwitch::parse(self.cursor(item::SWITCH_CURSOR).await?.as_deref()))
    }

    async fn set_switch(&self, position: IntegrationSwitch) -> Result<(), StoreError> {
        self.set_cursor(item::SWITCH_CURSOR, position.as_str()).await
    }

    async fn config_document(&self) -> Result<Option<String>, StoreError> {
        self.get_item(item::config_key()).await?.as_ref().map(item::document_from).transpose()
    }

    /// Conditional on the stored document itself, so that the condition holds whatever wrote it;
    /// the version beside it counts the documents applied, for people reading the table.
    async fn put_config_document(&self, previous: Option<&str>, document: &str) -> Result<(), StoreError> {
        let version = match self.get_item(item::config_key()).await? {
            Some(stored) => item::config_version_from(&stored)?,
            None => 0,
        };
        let request = self.put(item::config(document, version + 1, Utc::now())?);
        let request = match previous {
            None => request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK),
            Some(previous) => request
                .condition_expression("#document = :previous")
                .expression_attribute_names("#document", DOCUMENT)
                .expression_attribute_values(":previous", AttributeValue::S(previous.to_owned())),
        };
        match put_if(request).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    /// One item per budget and window, counted by a conditional `ADD`, expiring a day later.
    async fn take_budget(&self, name: &str, window: i64, limit: u32) -> Result<bool, StoreError> {
        let key = item::budget_key(name, window)?;
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("ADD #used :one SET #expires = :expires")
            .condition_expression("attribute_not_exists(#used) OR #used < :limit")
            .expression_attribute_names("#used", item::USED)
            .expression_attribute_names("#expires", item::EXPIRES_AT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N((window + 86_400).to_string()));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(error) => Err(store_error(error)),
        }
    }
}
