//! The embedded store's records, checked against DynamoDB's limits with the DynamoDB adapter's
//! own item builders, so that the embedded store refuses exactly what the deployed one refuses:
//! 400 KB per item, key lengths, non-empty keys.

use chrono::Utc;
use qalita_gitlab_core::adapters::dynamodb::item as dynamo;
use qalita_gitlab_core::domain::link::{CommentLink, LinkState, LogEntry};
use qalita_gitlab_core::ports::StoreError;
use serde::Serialize;

/// A link stored at `link.version` as its JSON record, if DynamoDB would store its item.
pub fn link(link: &LinkState) -> Result<String, StoreError> {
    dynamo::link(link, link.version)?;
    to_json(link)
}

/// A comment link stored at `link.version` as its JSON record, if DynamoDB would store its item.
pub fn comment(link: &CommentLink) -> Result<String, StoreError> {
    dynamo::comment(link, link.version)?;
    to_json(link)
}

/// Checks a cursor's name (the key of its item).
pub fn cursor_key(name: &str) -> Result<(), StoreError> {
    dynamo::cursor_key(name).map(drop)
}

/// Checks a cursor's item.
pub fn cursor(name: &str, value: &str) -> Result<(), StoreError> {
    dynamo::cursor(name, value).map(drop)
}

/// Checks the configuration document's item (as DynamoDB would store it as the first version).
pub fn config(document: &str) -> Result<(), StoreError> {
    dynamo::config(document, 1, Utc::now()).map(drop)
}

/// A log entry as its JSON record, if DynamoDB would store its item (with the DynamoDB adapter's
/// sort key for the same sequence number).
pub fn log(entry: &LogEntry, sequence: u64, expires_at: i64) -> Result<String, StoreError> {
    dynamo::log(entry, &dynamo::log_sort_key(entry.at, sequence), expires_at)?;
    to_json(entry)
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Rejected { class: "Unserialisable".into(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<(), StoreError>) -> bool {
        matches!(result, Err(StoreError::Rejected { .. }))
    }

    #[test]
    fn an_empty_or_oversized_key_is_refused_as_dynamodb_would() {
        assert!(refused(cursor_key("")));
        assert!(cursor_key(&"c".repeat(2048 - "CURSOR#".len())).is_ok(), "exactly the limit");
        assert!(refused(cursor_key(&"c".repeat(2048 - "CURSOR#".len() + 1))));
    }

    #[test]
    fn an_item_over_400_kb_is_refused() {
        assert!(config(&"d".repeat(399 * 1024)).is_ok());
        match config(&"d".repeat(401 * 1024)) {
            Err(StoreError::Rejected { message, .. }) => assert!(message.contains("409600 bytes"), "{message}"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
}
