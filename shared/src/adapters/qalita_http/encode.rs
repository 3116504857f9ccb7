//! The bodies the client writes, under the keys `[qalita.write]` configures.

use serde_json::{Map, Value};

use crate::config::qalita_shape::QalitaWrite;
use crate::domain::qalita::QalitaIssueUpdate;

/// The update's body: only the fields it sets.
pub(super) fn update(keys: &QalitaWrite, update: &QalitaIssueUpdate) -> Value {
    let mut body = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.trim().to_owned(), value);
        }
    };
    set(&keys.status, update.status.clone().map(Value::from));
    set(&keys.assignee, update.assignee.map(Value::from));
    set(&keys.title, update.title.clone().map(Value::from));
    set(&keys.description, update.description.clone().map(Value::from));
    Value::Object(body)
}

/// A comment's body: its text alone.
pub(super) fn comment(keys: &QalitaWrite, text: &str) -> Value {
    Value::Object(Map::from_iter([(keys.comment_text.trim().to_owned(), Value::from(text))]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_built_in_keys_write_what_the_update_serialises_to() {
        let change = QalitaIssueUpdate { status: Some("resolved".into()), assignee: Some(12), ..Default::default() };
        assert_eq!(update(&QalitaWrite::default(), &change), serde_json::to_value(&change).unwrap());
        assert_eq!(comment(&QalitaWrite::default(), "hi"), json!({"content": "hi"}));
    }

    #[test]
    fn configured_keys_are_written_and_unset_fields_left_out() {
        let keys = QalitaWrite { assignee: "assignee_id".into(), comment_text: "text".into(), ..Default::default() };
        let change = QalitaIssueUpdate { assignee: Some(7), title: Some("t".into()), ..Default::default() };
        assert_eq!(update(&keys, &change), json!({"assignee_id": 7, "title": "t"}));
        assert_eq!(comment(&keys, "hi"), json!({"text": "hi"}));
    }
}
