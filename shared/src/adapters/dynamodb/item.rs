//! The items of the link store's table (DESIGN section 4): their keys, attributes and limits. The
//! in-memory store builds the same items, so that both adapters refuse exactly what DynamoDB would
//! refuse, including what a local emulator lets through.

use std::collections::HashMap;
use std::fmt::Display;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::link::{CommentKey, CommentLink, LinkState, LinkStatus, LogEntry, SweepPosition};
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
use crate::ports::StoreError;

/// An item as the SDK takes and gives it.
pub type Item = HashMap<String, AttributeValue>;

/// The table's partition key.
pub(crate) const PK: &str = "pk";
/// The table's sort key.
pub(crate) const SK: &str = "sk";
/// The partition key of the reverse index, `GITLAB#<project id>#<iid>`; only linked items have it.
pub(crate) const GSI1PK: &str = "gsi1pk";
/// The reverse index (GitLab issue → link).
pub(crate) const GSI1: &str = "GSI1";
/// The partition key of the comment sweep's index, [`SWEEP_PARTITION`]: only links with a
/// [`SweepPosition`] have it (a sparse index of the open links).
pub(crate) const GSI2PK: &str = "gsi2pk";
/// The sort key of the comment sweep's index: the link's [`SweepPosition`], as text that sorts
/// in its order.
pub(crate) const GSI2SK: &str = "gsi2sk";
/// The comment sweep's index (open links, swept longest ago first), keys only.
pub(crate) const GSI2: &str = "GSI2";
/// The one partition of the sweep's index: a query reads the head of the line, in order. Its
/// writes are a link's sweep (a few per run) and status changes, far below a partition's limit.
pub(crate) const SWEEP_PARTITION: &str = "SWEEP";
/// A link's optimistic-lock version (N).
pub(crate) const VERSION: &str = "version";
/// The TTL attribute of the table (N, epoch seconds).
pub(crate) const EXPIRES_AT: &str = "expires_at";
const STATUS: &str = "status";
const STATE: &str = "state";
const VALUE: &str = "value";
/// The configuration document (S, TOML).
pub(crate) const DOCUMENT: &str = "document";
const APPLIED_AT: &str = "applied_at";
const ENTRY: &str = "entry";
/// The prefix of every log partition key.
pub(crate) const LOG_PREFIX: &str = "LOG#";

/// DynamoDB's item size limit, names and values included.
pub(crate) const MAX_ITEM_BYTES: usize = 400 * 1024;
const MAX_PARTITION_KEY_BYTES: usize = 2048;
const MAX_SORT_KEY_BYTES: usize = 1024;

/// The key of an item.
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk)), (SK.to_owned(), AttributeValue::S(sk.to_owned()))])
}

/// The key of the link of `id`.
pub(crate) fn link_key(id: QalitaIssueId) -> Item {
    key(format!("QALITA#{id}"), "LINK")
}

/// The reverse-index key of a GitLab issue. Built from two positive numbers only, so it is never
/// empty and always a string (moto would accept either mistake; DynamoDB refuses both).
pub fn gitlab_key(project: GitlabProjectId, iid: Iid) -> String {
    format!("GITLAB#{project}#{iid}")
}

/// The key of the configuration document.
pub(crate) fn config_key() -> Item {
    key("CONFIG".to_owned(), "CURRENT")
}

/// The partition key of the integration log of `issue`.
pub(crate) fn log_partition(issue: QalitaIssueId) -> String {
    format!("{LOG_PREFIX}{issue}")
}

/// The lowest sort key of the log entries at or after `since` (sort keys begin with the time).
pub(crate) fn log_sort_key_from(since: DateTime<Utc>) -> String {
    since.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// When a log item expires (epoch seconds), if it says.
pub(crate) fn expires_at_from(item: &Item) -> Option<i64> {
    item.get(EXPIRES_AT).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// The key of a cursor; its name must not be empty.
pub fn cursor_key(name: &str) -> Result<Item, StoreError> {
    if name.is_empty() {
        return Err(invalid_key("a cursor name must not be empty".into()));
    }
    let pk = format!("CURSOR#{name}");
    check_key_length(&pk, MAX_PARTITION_KEY_BYTES)?;
    Ok(key(pk, "CURSOR"))
}

/// The attribute counting a budget's uses in one window.
pub(crate) const USED: &str = "used";

/// The key of a rate budget's window: `BUDGET#<name>`, the window's start in seconds.
pub fn budget_key(name: &str, window: i64) -> Result<Item, StoreError> {
    if name.is_empty() {
        return Err(invalid_key("a budget name must not be empty".into()));
    }
    let pk = format!("BUDGET#{name}");
    check_key_length(&pk, MAX_PARTITION_KEY_BYTES)?;
    Ok(key(pk, &window.to_string()))
}

/// The sort key of a position in the comment sweep's index: the sweep time in microseconds since
/// 1970 and the QALITA id, each zero-padded to 20 digits, so that text order is position order.
pub fn sweep_sort_key(position: SweepPosition) -> String {
    let micros = u64::try_from(position.swept_at.timestamp_micros()).unwrap_or(0);
    format!("{micros:020}#{:020}", position.issue.get())
}

/// The item of a link stored at `version`: its whole state as one JSON document, with the version,
/// the status and the index keys beside it for conditions, the console and the indexes.
pub fn link(link: &LinkState, version: u64) -> Result<Item, StoreError> {
    let stored = LinkState { version, ..link.clone() };
    let mut item = Builder::new(link_key(link.qalita_id))
        .number(VERSION, version)
        .string(STATUS, status_name(link.status))
        .string(STATE, to_json(&stored)?);
    if let Some(gitlab) = &link.gitlab {
        item = item.string(GSI1PK, gitlab_key(gitlab.project_id, gitlab.iid));
    }
    if let Some(position) = link.sweep_position() {
        item = item.string(GSI2PK, SWEEP_PARTITION.to_owned()).string(GSI2SK, sweep_sort_key(position));
    }
    item.build(|| format!("the link of QALITA issue {}", link.qalita_id))
}

/// The link an item holds, at the item's version.
pub(crate) fn link_from(item: &Item) -> Result<LinkState, StoreError> {
    let mut link: LinkState = from_json(item, STATE)?;
    link.version = number(item, VERSION)?;
    Ok(link)
}

/// The key of the comment link `key` of `issue`: beside the issue's link, in its partition.
pub(crate) fn comment_key(issue: QalitaIssueId, key: CommentKey) -> Item {
    self::key(format!("QALITA#{issue}"), &key.sort_key())
}

/// The item of a comment link stored at `version`.
pub fn comment(link: &CommentLink, version: u64) -> Result<Item, StoreError> {
    let stored = CommentLink { version, ..link.clone() };
    Builder::new(comment_key(link.issue, link.key))
        .number(VERSION, version)
        .string(STATE, to_json(&stored)?)
        .build(|| format!("the link of comment {} of QALITA issue {}", link.key.sort_key(), link.issue))
}

/// The comment link an item holds, at the item's version.
pub(crate) fn comment_from(item: &Item) -> Result<CommentLink, StoreError> {
    let mut link: CommentLink = from_json(item, STATE)?;
    link.version = number(item, VERSION)?;
    Ok(link)
}

/// The item of the configuration document at `version` (the count of documents applied), applied
/// at `applied_at`.
pub fn config(document: &str, version: u64, applied_at: DateTime<Utc>) -> Result<Item, StoreError> {
    Builder::new(config_key())
        .string(DOCUMENT, document.to_owned())
        .number(VERSION, version)
        .string(APPLIED_AT, applied_at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .build(|| "the configuration document".into())
}

/// The version of a configuration item (0 for one written without a version).
pub(crate) fn config_version_from(item: &Item) -> Result<u64, StoreError> {
    match item.contains_key(VERSION) {
        true => number(item, VERSION),
        false => Ok(0),
    }
}

/// The name of the cursor holding the operator's switch, where every version kept it.
pub const SWITCH_CURSOR: &str = "integration-state";

/// The item of a cursor.
pub fn cursor(name: &str, value: &str) -> Result<Item, StoreError> {
    Builder::new(cursor_key(name)?).string(VALUE, value.to_owned()).build(|| format!("the cursor {name:?}"))
}

/// The value a cursor item holds.
pub(crate) fn cursor_from(item: &Item) -> Result<String, StoreError> {
    string(item, VALUE).map(str::to_owned)
}

/// The document a configuration item holds.
pub(crate) fn document_from(item: &Item) -> Result<String, StoreError> {
    string(item, DOCUMENT).map(str::to_owned)
}

/// A log entry's sort key: its time to the nanosecond, so that a query returns the log oldest
/// first, then `sequence` (this process's order of appending, for entries of the same instant)
/// and a random part, so that two processes never write the same key.
pub fn log_sort_key(at: DateTime<Utc>, sequence: u64) -> String {
    let time = log_sort_key_from(at);
    format!("{time}#{sequence:012}-{}", uuid::Uuid::new_v4().simple())
}

/// The item of a log entry, kept until `expires_at` (epoch seconds).
pub fn log(entry: &LogEntry, sort_key: &str, expires_at: i64) -> Result<Item, StoreError> {
    Builder::new(key(log_partition(entry.issue), sort_key))
        .string(ENTRY, to_json(entry)?)
        .number(EXPIRES_AT, expires_at)
        .build(|| format!("the log entry {:?} of QALITA issue {}", entry.kind, entry.issue))
}

/// The log entry an item holds.
pub(crate) fn log_from(item: &Item) -> Result<LogEntry, StoreError> {
    from_json(item, ENTRY)
}

fn status_name(status: LinkStatus) -> String {
    match status {
        LinkStatus::Reserved => "reserved",
        LinkStatus::Linked => "linked",
        LinkStatus::Severed => "severed",
        LinkStatus::Gone => "gone",
    }
    .to_owned()
}

/// Builds an item and counts its size as DynamoDB does (UTF-8 bytes of names and values; a
/// number is counted as its digits, a little more than DynamoDB counts, never less).
struct Builder {
    item: Item,
    bytes: usize,
}

impl Builder {
    fn new(key: Item) -> Self {
        let bytes = key.iter().map(|(name, value)| name.len() + value.as_s().map_or(0, String::len)).sum();
        Builder { item: key, bytes }
    }

    fn string(mut self, name: &str, value: String) -> Self {
        self.bytes += name.len() + value.len();
        self.item.insert(name.to_owned(), AttributeValue::S(value));
        self
    }

    fn number(mut self, name: &str, value: impl Display) -> Self {
        let value = value.to_string();
        self.bytes += name.len() + value.len();
        self.item.insert(name.to_owned(), AttributeValue::N(value));
        self
    }

    /// The item, if DynamoDB would store it; `what` names it in the error.
    fn build(self, what: impl FnOnce() -> String) -> Result<Item, StoreError> {
        for (name, limit) in [
            (PK, MAX_PARTITION_KEY_BYTES),
            (SK, MAX_SORT_KEY_BYTES),
            (GSI1PK, MAX_PARTITION_KEY_BYTES),
            (GSI2PK, MAX_PARTITION_KEY_BYTES),
            (GSI2SK, MAX_SORT_KEY_BYTES),
        ] {
            if let Some(value) = self.item.get(name) {
                check_key_length(value.as_s().map_or("", String::as_str), limit)?;
            }
        }
        if self.bytes > MAX_ITEM_BYTES {
            return Err(StoreError::Rejected {
                class: "ItemTooLarge".into(),
                message: format!(
                    "{} would be a {}-byte item; DynamoDB stores at most {MAX_ITEM_BYTES} bytes per item",
                    what(),
                    self.bytes
                ),
            });
        }
        Ok(self.item)
    }
}

/// A key attribute must be a non-empty string within DynamoDB's length limit.
fn check_key_length(value: &str, limit: usize) -> Result<(), StoreError> {
    if value.is_empty() || value.len() > limit {
        let shown: String = value.chars().take(60).collect();
        return Err(invalid_key(format!("a key must be 1 to {limit} bytes, got {} ({shown:?}…)", value.len())));
    }
    Ok(())
}

fn invalid_key(message: String) -> StoreError {
    StoreError::Rejected { class: "InvalidKey".into(), message }
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Rejected { class: "Unserialisable".into(), message: e.to_string() })
}

fn from_json<T: DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    serde_json::from_str(string(item, name)?).map_err(|e| corrupt(item, &format!("{name} is not readable: {e}")))
}

fn string<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(corrupt(item, &format!("no string attribute {name}"))),
    }
}

fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value.parse().map_err(|_| corrupt(item, &format!("{name} is not a count"))),
        _ => Err(corrupt(item, &format!("no number attribute {name}"))),
    }
}

/// An item this code did not write, or wrote under another layout: no retry will help.
fn corrupt(item: &Item, what: &str) -> StoreError {
    let part = |name| item.get(name).and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
    StoreError::Rejected { class: "CorruptItem".into(), message: format!("item {}/{}: {what}", part(PK), part(SK)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(raw: u64) -> QalitaIssueId {
        QalitaIssueId::new(raw).unwrap()
    }

    #[test]
    fn a_reserved_link_has_no_reverse_index_key() {
        let link = LinkState::reserved(issue(7), "token".into(), Utc::now());
        let item = self::link(&link, 1).unwrap();
        assert!(!item.contains_key(GSI1PK));
        assert_eq!(item[PK].as_s().unwrap(), "QALITA#7");
        assert_eq!(item[VERSION].as_n().unwrap(), "1");
        assert_eq!(link_from(&item).unwrap(), LinkState { version: 1, ..link });
    }

    #[test]
    fn only_an_open_linked_link_is_in_the_sweep_index_and_its_key_sorts_as_its_position() {
        let reserved = LinkState::reserved(issue(7), "token".into(), Utc::now());
        assert!(!self::link(&reserved, 1).unwrap().contains_key(GSI2PK), "reserved: not swept");
        let mut linked = reserved.clone();
        linked.status = LinkStatus::Linked;
        linked.gitlab = Some(crate::domain::link::GitlabLink {
            project_id: GitlabProjectId::new(42).unwrap(),
            iid: Iid::new(3).unwrap(),
            issue_id: 1003,
            web_url: "https://gitlab.example/g/p/-/issues/3".into(),
        });
        let item = self::link(&linked, 2).unwrap();
        assert_eq!(item[GSI2PK].as_s().unwrap(), SWEEP_PARTITION);
        let position = linked.sweep_position().unwrap();
        assert_eq!(item[GSI2SK].as_s().unwrap(), &sweep_sort_key(position));
        let later = SweepPosition { swept_at: position.swept_at + chrono::TimeDelta::microseconds(1), issue: issue(1) };
        let tie = SweepPosition { issue: issue(10), ..position };
        let epoch = SweepPosition { swept_at: DateTime::UNIX_EPOCH, issue: issue(99) };
        for (first, second) in [(position, later), (position, tie), (epoch, position)] {
            assert!(first < second && sweep_sort_key(first) < sweep_sort_key(second), "{first:?} {second:?}");
        }
    }

    #[test]
    fn log_sort_keys_of_one_instant_follow_the_order_of_appending() {
        let at = Utc::now();
        let (first, second) = (log_sort_key(at, 9), log_sort_key(at, 10));
        assert!(first < second, "{first} < {second}");
        assert!(log_sort_key(at - chrono::TimeDelta::nanoseconds(1), 99) < first);
        assert_ne!(log_sort_key(at, 9)[..], first[..], "the random part keeps keys of two processes apart");
    }

    #[test]
    fn an_empty_or_oversized_key_is_refused() {
        assert!(matches!(cursor_key(""), Err(StoreError::Rejected { .. })));
        assert!(cursor_key(&"c".repeat(MAX_PARTITION_KEY_BYTES - "CURSOR#".len())).is_ok(), "exactly the limit");
        assert!(matches!(cursor_key(&"c".repeat(MAX_PARTITION_KEY_BYTES)), Err(StoreError::Rejected { .. })));
    }

    #[test]
    fn an_item_that_lost_its_state_is_reported_as_corrupt() {
        let error = link_from(&link_key(issue(3))).unwrap_err();
        assert!(error.to_string().contains("QALITA#3/LINK: no string attribute state"), "{error}");
    }
}
