//! DynamoDB's limits on the items of the link store's table (DESIGN section 4), checked on the
//! items the DynamoDB adapter would write, so that the embedded store refuses exactly what the
//! deployed one refuses: 400 KB per item, key lengths, non-empty keys.

use std::fmt::Display;

use chrono::{DateTime, SecondsFormat, Utc};
use qalita_gitlab_core::domain::link::{CommentLink, LinkState, LinkStatus, LogEntry};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::StoreError;
use serde::Serialize;

/// DynamoDB's item size limit, names and values included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
const MAX_PARTITION_KEY_BYTES: usize = 2048;
const MAX_SORT_KEY_BYTES: usize = 1024;

/// The size of a DynamoDB item as DynamoDB counts it (UTF-8 bytes of attribute names and values; a
/// number as its digits, a little more than DynamoDB counts, never less), with its keys checked.
struct Item {
    bytes: usize,
}

impl Item {
    /// An item with the table's key (`pk`, `sk`).
    fn new(pk: &str, sk: &str) -> Result<Self, StoreError> {
        check_key_length(pk, MAX_PARTITION_KEY_BYTES)?;
        check_key_length(sk, MAX_SORT_KEY_BYTES)?;
        Ok(Item { bytes: "pk".len() + pk.len() + "sk".len() + sk.len() })
    }

    fn string(mut self, name: &str, value: &str) -> Self {
        self.bytes += name.len() + value.len();
        self
    }

    fn number(self, name: &str, value: impl Display) -> Self {
        self.string(name, &value.to_string())
    }

    /// The partition key of the reverse index.
    fn index_key(self, value: &str) -> Result<Self, StoreError> {
        check_key_length(value, MAX_PARTITION_KEY_BYTES)?;
        Ok(self.string("gsi1pk", value))
    }

    /// Whether DynamoDB would store it; `what` names it in the error.
    fn check(self, what: impl FnOnce() -> String) -> Result<(), StoreError> {
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
        Ok(())
    }
}

/// The key of the reverse index of a GitLab issue.
pub fn gitlab_key(project: GitlabProjectId, iid: Iid) -> String {
    format!("GITLAB#{project}#{iid}")
}

/// A link stored at `link.version` as its JSON record, if DynamoDB would store its item.
pub fn link(link: &LinkState) -> Result<String, StoreError> {
    let json = to_json(link)?;
    let mut item = Item::new(&format!("QALITA#{}", link.qalita_id), "LINK")?
        .number("version", link.version)
        .string("status", status_name(link.status))
        .string("state", &json);
    if let Some(gitlab) = &link.gitlab {
        item = item.index_key(&gitlab_key(gitlab.project_id, gitlab.iid))?;
    }
    item.check(|| format!("the link of QALITA issue {}", link.qalita_id))?;
    Ok(json)
}

/// A comment link stored at `link.version` as its JSON record, if DynamoDB would store its item.
pub fn comment(link: &CommentLink) -> Result<String, StoreError> {
    let json = to_json(link)?;
    Item::new(&format!("QALITA#{}", link.issue), &link.key.sort_key())?
        .number("version", link.version)
        .string("state", &json)
        .check(|| format!("the link of comment {} of QALITA issue {}", link.key.sort_key(), link.issue))?;
    Ok(json)
}

/// Checks the record that the event `key` of `source` was processed, until `expires_at`.
pub fn seen(source: &str, key: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
    if source.is_empty() || key.is_empty() || source.contains('#') {
        return Err(invalid_key(format!(
            "an event source ({source:?}) and key must not be empty, and the source must not contain '#'"
        )));
    }
    Item::new(&format!("EVENT#{source}#{key}"), "EVENT")?
        .number("expires_at", expires_at.timestamp())
        .check(|| format!("the delivery record of {source} event {key:?}"))
}

/// Checks a cursor's name (the key of its item).
pub fn cursor_key(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(invalid_key("a cursor name must not be empty".into()));
    }
    check_key_length(&format!("CURSOR#{name}"), MAX_PARTITION_KEY_BYTES)
}

/// Checks a cursor's item.
pub fn cursor(name: &str, value: &str) -> Result<(), StoreError> {
    cursor_key(name)?;
    Item::new(&format!("CURSOR#{name}"), "CURSOR")?.string("value", value).check(|| format!("the cursor {name:?}"))
}

/// Checks the configuration document's item.
pub fn config(document: &str) -> Result<(), StoreError> {
    Item::new("CONFIG", "CURRENT")?.string("document", document).check(|| "the configuration document".into())
}

/// A log entry as its JSON record, if DynamoDB would store its item: the DynamoDB adapter's sort
/// key is the time to the nanosecond, `#`, the sequence (at least 12 digits), `-` and 32 hex digits.
pub fn log(entry: &LogEntry, sequence: u64, expires_at: i64) -> Result<String, StoreError> {
    let json = to_json(entry)?;
    let time = entry.at.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let sort_key = format!("{time}#{sequence:012}-{}", "0".repeat(32));
    Item::new(&log_partition(entry.issue), &sort_key)?
        .string("entry", &json)
        .number("expires_at", expires_at)
        .check(|| format!("the log entry {:?} of QALITA issue {}", entry.kind, entry.issue))?;
    Ok(json)
}

fn log_partition(issue: QalitaIssueId) -> String {
    format!("LOG#{issue}")
}

fn status_name(status: LinkStatus) -> &'static str {
    match status {
        LinkStatus::Reserved => "reserved",
        LinkStatus::Linked => "linked",
        LinkStatus::Severed => "severed",
        LinkStatus::Gone => "gone",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_oversized_key_is_refused_as_dynamodb_would() {
        let refused = |result: Result<(), StoreError>| matches!(result, Err(StoreError::Rejected { .. }));
        assert!(refused(cursor_key("")));
        assert!(cursor_key(&"c".repeat(MAX_PARTITION_KEY_BYTES - "CURSOR#".len())).is_ok(), "exactly the limit");
        assert!(refused(cursor_key(&"c".repeat(MAX_PARTITION_KEY_BYTES - "CURSOR#".len() + 1))));
        assert!(refused(seen("git#lab", "k", Utc::now())));
        assert!(refused(seen("gitlab", "", Utc::now())));
        assert!(refused(seen("", "k", Utc::now())));
    }

    #[test]
    fn an_item_over_400_kb_is_refused_and_one_at_the_limit_is_not() {
        let overhead = "pk".len() + "CONFIG".len() + "sk".len() + "CURRENT".len() + "document".len();
        assert!(config(&"d".repeat(MAX_ITEM_BYTES - overhead)).is_ok());
        match config(&"d".repeat(MAX_ITEM_BYTES - overhead + 1)) {
            Err(StoreError::Rejected { class, .. }) => assert_eq!(class, "ItemTooLarge"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
}
