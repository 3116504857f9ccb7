//! The simulator's data: issues and users as JSON objects, kept as inserted (unknown fields
//! included), listed the way QALITA lists them: newest first by creation, by offset and limit.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use qalita_gitlab_core::domain::qalita::{QalitaIssue, QalitaUser};
use serde_json::Value;

/// What the simulator can store: raw JSON (any shape a test wants QALITA to hold) or the domain
/// types, which are written as the client reads them.
pub trait QalitaJson {
    /// The object as QALITA would send it.
    fn into_json(self) -> Value;
}

impl QalitaJson for Value {
    fn into_json(self) -> Value {
        self
    }
}

impl QalitaJson for &QalitaIssue {
    fn into_json(self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl QalitaJson for QalitaIssue {
    fn into_json(self) -> Value {
        (&self).into_json()
    }
}

impl QalitaJson for QalitaUser {
    fn into_json(self) -> Value {
        serde_json::to_value(&self).unwrap_or_default()
    }
}

/// The time as the simulator writes it: RFC 3339 in UTC with microseconds, as Python services do.
fn stamp(time: DateTime<Utc>) -> Value {
    Value::from(time.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn time_of(issue: &Value, field: &str) -> Option<DateTime<Utc>> {
    let text = issue.get(field)?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

fn id_of(object: &Value) -> Option<u64> {
    object.get("id")?.as_u64().filter(|id| *id > 0)
}

fn is_unset(object: &Value, field: &str) -> bool {
    object.get(field).is_none_or(Value::is_null)
}

/// The issues and users of one tenant.
#[derive(Debug, Default)]
pub(super) struct Store {
    issues: BTreeMap<u64, Value>,
    users: BTreeMap<u64, Value>,
}

impl Store {
    /// Stores (or replaces) an issue. A missing `id` is the next free one, a missing `created_at`
    /// is now, a missing `updated_at` is `created_at`.
    ///
    /// # Panics
    /// When `issue` is not a JSON object, or its `id` is not a positive integer.
    pub fn insert_issue(&mut self, mut issue: Value) -> u64 {
        let Some(object) = issue.as_object_mut() else {
            panic!("a QALITA issue is a JSON object, got {issue}");
        };
        if object.get("id").is_none_or(Value::is_null) {
            let next = self.issues.keys().next_back().map_or(1, |last| last + 1);
            object.insert("id".into(), next.into());
        }
        if is_unset(&issue, "created_at") {
            issue["created_at"] = stamp(Utc::now());
        }
        if is_unset(&issue, "updated_at") {
            issue["updated_at"] = issue["created_at"].clone();
        }
        let Some(id) = id_of(&issue) else {
            panic!("a QALITA issue's id is a positive integer, got {}", issue["id"]);
        };
        self.issues.insert(id, issue);
        id
    }

    /// Changes an issue as a QALITA user would; `updated_at` moves forward (strictly, so two
    /// changes are never equally recent) unless `change` set it.
    ///
    /// # Panics
    /// When there is no such issue, or `change` altered its id.
    pub fn update_issue(&mut self, id: u64, change: impl FnOnce(&mut Value)) -> Value {
        let Some(issue) = self.issues.get_mut(&id) else {
            panic!("no QALITA issue {id} to update in the simulator");
        };
        let before = issue.get("updated_at").cloned();
        change(issue);
        assert_eq!(id_of(issue), Some(id), "an update cannot change the id of QALITA issue {id}");
        if issue.get("updated_at").cloned() == before {
            let now = Utc::now();
            let next = time_of(issue, "updated_at").map_or(now, |last| now.max(last + TimeDelta::microseconds(1)));
            issue["updated_at"] = stamp(next);
        }
        issue.clone()
    }

    pub fn issue(&self, id: u64) -> Option<Value> {
        self.issues.get(&id).cloned()
    }

    pub fn issue_count(&self) -> usize {
        self.issues.len()
    }

    pub fn remove_issue(&mut self, id: u64) -> Option<Value> {
        self.issues.remove(&id)
    }

    /// One page, newest first by creation, the higher id first among equals. An issue whose
    /// `created_at` does not read as a time comes last.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<Value> {
        let mut order: Vec<_> = self.issues.iter().map(|(id, issue)| (time_of(issue, "created_at"), *id)).collect();
        order.sort_unstable_by_key(|key| Reverse(*key));
        order.into_iter().skip(offset).take(limit).filter_map(|(_, id)| self.issues.get(&id).cloned()).collect()
    }

    /// Stores (or replaces) a user.
    ///
    /// # Panics
    /// When `user` has no positive integer `id`.
    pub fn insert_user(&mut self, user: Value) -> u64 {
        let Some(id) = id_of(&user) else {
            panic!("a QALITA user is a JSON object with a positive integer id, got {user}");
        };
        self.users.insert(id, user);
        id
    }

    pub fn user(&self, id: u64) -> Option<Value> {
        self.users.get(&id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn issues_list_newest_first_by_creation_then_by_id() {
        let mut store = Store::default();
        store.insert_issue(json!({"id": 1, "created_at": "2026-01-02T00:00:00Z"}));
        store.insert_issue(json!({"id": 2, "created_at": "2026-01-01T00:00:00Z"}));
        store.insert_issue(json!({"id": 3, "created_at": "2026-01-02T00:00:00Z"}));
        store.insert_issue(json!({"id": 4, "created_at": "not a time"}));
        let ids = |page: Vec<Value>| page.iter().map(|i| i["id"].as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(store.page(0, 10)), vec![3, 1, 2, 4]);
        assert_eq!(ids(store.page(1, 2)), vec![1, 2]);
        assert!(store.page(4, 10).is_empty());
    }

    #[test]
    fn an_update_moves_updated_at_forward_unless_it_sets_it() {
        let mut store = Store::default();
        let id = store.insert_issue(json!({"title": "t", "updated_at": "2999-01-01T00:00:00Z"}));
        assert_eq!(id, 1);
        let updated = store.update_issue(id, |issue| issue["status"] = "resolved".into());
        assert_eq!(updated["updated_at"], "2999-01-01T00:00:00.000001Z");
        let updated = store.update_issue(id, |issue| issue["updated_at"] = "2020-01-01T00:00:00Z".into());
        assert_eq!(updated["updated_at"], "2020-01-01T00:00:00Z");
    }
}
