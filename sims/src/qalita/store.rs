//! The simulator's data: issues, their comments, users and sources as JSON objects, kept as
//! inserted (unknown fields included), listed the way QALITA lists them: issues newest first by
//! creation, by offset and limit; comments oldest first; users and sources by id. Every write is
//! stamped strictly after the one before.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use qalita_gitlab_core::domain::qalita::{QalitaIssue, QalitaUser};
use serde_json::{Value, json};

use crate::kit::TickClock;

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

fn time_of(object: &Value, field: &str) -> Option<DateTime<Utc>> {
    let text = object.get(field)?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

fn id_of(object: &Value) -> Option<u64> {
    object.get("id")?.as_u64().filter(|id| *id > 0)
}

/// The id after the highest one held.
fn next_id<T>(objects: &BTreeMap<u64, T>) -> u64 {
    objects.keys().next_back().map_or(1, |last| last + 1)
}

/// One page of objects kept by id, in id order.
fn page_by_id(objects: &BTreeMap<u64, Value>, offset: usize, limit: usize) -> Vec<Value> {
    objects.values().skip(offset).take(limit).cloned().collect()
}

fn is_unset(object: &Value, field: &str) -> bool {
    object.get(field).is_none_or(Value::is_null)
}

/// The status word that closes an issue (QALITA's seed guide names it `Resolved`).
fn is_resolved(issue: &Value) -> bool {
    issue.get("status").and_then(Value::as_str).is_some_and(|status| status.trim().eq_ignore_ascii_case("resolved"))
}

/// What a change did to the store: whether the object is new, and the object as stored after.
#[derive(Debug)]
pub(super) struct Stored {
    pub id: u64,
    pub created: bool,
    pub object: Value,
}

/// The issues, their comments, the users and the sources of one tenant.
#[derive(Debug)]
pub(super) struct Store {
    issues: BTreeMap<u64, Value>,
    /// Each comment with the issue it is on (kept apart: a comment's JSON may not name it).
    comments: BTreeMap<u64, (u64, Value)>,
    users: BTreeMap<u64, Value>,
    sources: BTreeMap<u64, Value>,
    /// Every write is stamped strictly after the previous one.
    clock: TickClock,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            issues: BTreeMap::new(),
            comments: BTreeMap::new(),
            users: BTreeMap::new(),
            sources: BTreeMap::new(),
            clock: TickClock::new(TimeDelta::microseconds(1)),
        }
    }
}

impl Store {
    /// An empty store whose writes are stamped by `clock`.
    pub(super) fn with_clock(clock: TickClock) -> Self {
        Store { clock, ..Store::default() }
    }

    /// Now, or one microsecond after the last write when the clock has not moved past it, so that
    /// two writes are never equally recent.
    fn tick(&mut self) -> DateTime<Utc> {
        self.clock.tick()
    }

    /// Stores (or replaces) an issue. A missing `id` is the next free one, a missing `created_at`
    /// is now, a missing `updated_at` is `created_at`.
    ///
    /// # Panics
    /// When `issue` is not a JSON object, or its `id` is not a positive integer.
    pub fn insert_issue(&mut self, issue: Value) -> Stored {
        let (id, issue) = self.stamped(issue, next_id(&self.issues), "issue");
        let created = self.issues.insert(id, issue.clone()).is_none();
        Stored { id, created, object: issue }
    }

    /// `object` with an id (`next` when it has none), a `created_at` (now when unset) and an
    /// `updated_at` (`created_at` when unset), and its id.
    ///
    /// # Panics
    /// When `object` is not a JSON object, or its `id` is not a positive integer (the message
    /// names it as a QALITA `what`).
    fn stamped(&mut self, mut object: Value, next: u64, what: &str) -> (u64, Value) {
        let Some(fields) = object.as_object_mut() else {
            panic!("a QALITA {what} is a JSON object, got {object}");
        };
        if fields.get("id").is_none_or(Value::is_null) {
            fields.insert("id".into(), next.into());
        }
        if is_unset(&object, "created_at") {
            object["created_at"] = stamp(self.tick());
        }
        if is_unset(&object, "updated_at") {
            object["updated_at"] = object["created_at"].clone();
        }
        let Some(id) = id_of(&object) else {
            panic!("a QALITA {what}'s id is a positive integer, got {}", object["id"]);
        };
        (id, object)
    }

    /// A new `updated_at`: now, or strictly after `last` when the clock has not moved past it (a
    /// stored time may be in the future).
    fn stamp_after(&mut self, last: Option<DateTime<Utc>>) -> Value {
        let now = self.tick();
        stamp(last.map_or(now, |last| now.max(last + TimeDelta::microseconds(1))))
    }

    /// Changes an issue as QALITA does, `by` a user when known: `updated_at` moves forward
    /// (strictly, so two changes are never equally recent) and `updated_by` becomes `by`, unless
    /// `change` set them; a move to or from `resolved` sets or clears `closed_at` and `closed_by`,
    /// unless `change` set `closed_at`. `None` when there is no such issue.
    ///
    /// # Panics
    /// When `change` altered the id.
    pub fn update_issue(&mut self, id: u64, by: Option<u64>, change: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut issue = self.issues.get(&id)?.clone();
        let before = issue.clone();
        change(&mut issue);
        assert_eq!(id_of(&issue), Some(id), "an update cannot change the id of QALITA issue {id}");
        if issue.get("updated_at") == before.get("updated_at") {
            issue["updated_at"] = self.stamp_after(time_of(&issue, "updated_at"));
        }
        if let Some(user) = by
            && issue.get("updated_by") == before.get("updated_by")
        {
            issue["updated_by"] = user.into();
        }
        if issue.get("closed_at") == before.get("closed_at") {
            match (is_resolved(&before), is_resolved(&issue)) {
                (false, true) => {
                    issue["closed_at"] = issue["updated_at"].clone();
                    issue["closed_by"] = by.map_or(Value::Null, Value::from);
                }
                (true, false) => {
                    issue["closed_at"] = Value::Null;
                    issue["closed_by"] = Value::Null;
                }
                _ => {}
            }
        }
        self.issues.insert(id, issue.clone());
        Some(issue)
    }

    pub fn issue(&self, id: u64) -> Option<Value> {
        self.issues.get(&id).cloned()
    }

    pub fn issue_count(&self) -> usize {
        self.issues.len()
    }

    /// Deletes an issue and its comments.
    pub fn remove_issue(&mut self, id: u64) -> Option<Value> {
        self.comments.retain(|_, (issue, _)| *issue != id);
        self.issues.remove(&id)
    }

    /// One page, newest first by creation, the higher id first among equals. An issue whose
    /// `created_at` does not read as a time comes last.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<Value> {
        let mut order: Vec<_> = self.issues.iter().map(|(id, issue)| (time_of(issue, "created_at"), *id)).collect();
        order.sort_unstable_by_key(|key| Reverse(*key));
        order.into_iter().skip(offset).take(limit).filter_map(|(_, id)| self.issues.get(&id).cloned()).collect()
    }

    /// Adds a comment to an issue, written now by `author`; `None` when there is no such issue.
    /// The issue itself is left as it is.
    pub fn add_comment(&mut self, issue: u64, author: u64, content: &str) -> Option<Stored> {
        let comment = json!({"issue_id": issue, "author_id": author, "content": content});
        self.issues.contains_key(&issue).then(|| self.insert_comment(issue, comment))
    }

    /// Stores (or replaces) a comment of `issue` as given (unknown fields and other field names
    /// included). A missing `id` is the next free one, a missing `created_at` is now, a missing
    /// `updated_at` is `created_at`.
    ///
    /// # Panics
    /// When there is no such issue, the comment is not a JSON object, or its `id` is not a
    /// positive integer.
    pub fn insert_comment(&mut self, issue: u64, comment: Value) -> Stored {
        assert!(self.issues.contains_key(&issue), "no QALITA issue {issue} to comment on in the simulator");
        let (id, comment) = self.stamped(comment, next_id(&self.comments), "comment");
        let created = self.comments.insert(id, (issue, comment.clone())).is_none();
        Stored { id, created, object: comment }
    }

    /// Changes a comment's text; `updated_at` moves strictly forward. `None` when there is no such
    /// comment.
    pub fn edit_comment(&mut self, id: u64, content: &str) -> Option<Value> {
        let last = time_of(&self.comments.get(&id)?.1, "updated_at");
        let next = self.stamp_after(last);
        let (_, comment) = self.comments.get_mut(&id)?;
        // An instance that names the text `body` or `text` keeps its name.
        let field =
            ["content", "body", "text"].into_iter().find(|name| comment.get(name).is_some()).unwrap_or("content");
        comment[field] = content.into();
        comment["updated_at"] = next;
        Some(comment.clone())
    }

    /// A comment and the issue it is on.
    pub fn comment(&self, id: u64) -> Option<(u64, Value)> {
        self.comments.get(&id).cloned()
    }

    /// The comments of an issue, oldest first (then by id); `None` when there is no such issue.
    pub fn comments_of(&self, issue: u64) -> Option<Vec<Value>> {
        if !self.issues.contains_key(&issue) {
            return None;
        }
        let mut comments: Vec<_> = self
            .comments
            .iter()
            .filter(|(_, (on, _))| *on == issue)
            .map(|(id, (_, comment))| (time_of(comment, "created_at"), *id, comment.clone()))
            .collect();
        comments.sort_by_key(|(created, id, _)| (*created, *id));
        Some(comments.into_iter().map(|(_, _, comment)| comment).collect())
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

    /// One page of users, by id.
    pub fn users_page(&self, offset: usize, limit: usize) -> Vec<Value> {
        page_by_id(&self.users, offset, limit)
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Stores (or replaces) a source. A missing `id` is the next free one, a missing `created_at`
    /// is now, a missing `updated_at` is `created_at`.
    ///
    /// # Panics
    /// When `source` is not a JSON object, or its `id` is not a positive integer.
    pub fn insert_source(&mut self, source: Value) -> u64 {
        let (id, source) = self.stamped(source, next_id(&self.sources), "source");
        self.sources.insert(id, source);
        id
    }

    /// Changes a source; `updated_at` moves strictly forward unless `change` set it. `None` when
    /// there is no such source.
    ///
    /// # Panics
    /// When `change` altered the id.
    pub fn update_source(&mut self, id: u64, change: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut source = self.sources.get(&id)?.clone();
        let before = source.get("updated_at").cloned();
        change(&mut source);
        assert_eq!(id_of(&source), Some(id), "an update cannot change the id of QALITA source {id}");
        if source.get("updated_at") == before.as_ref() {
            source["updated_at"] = self.stamp_after(time_of(&source, "updated_at"));
        }
        self.sources.insert(id, source.clone());
        Some(source)
    }

    pub fn remove_source(&mut self, id: u64) -> Option<Value> {
        self.sources.remove(&id)
    }

    pub fn source(&self, id: u64) -> Option<Value> {
        self.sources.get(&id).cloned()
    }

    /// One page of sources, by id.
    pub fn sources_page(&self, offset: usize, limit: usize) -> Vec<Value> {
        page_by_id(&self.sources, offset, limit)
    }

    pub fn source_count(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(objects: &[Value]) -> Vec<u64> {
        objects.iter().map(|object| object["id"].as_u64().unwrap()).collect()
    }

    #[test]
    fn issues_list_newest_first_by_creation_then_by_id() {
        let mut store = Store::default();
        store.insert_issue(json!({"id": 1, "created_at": "2026-01-02T00:00:00Z"}));
        store.insert_issue(json!({"id": 2, "created_at": "2026-01-01T00:00:00Z"}));
        store.insert_issue(json!({"id": 3, "created_at": "2026-01-02T00:00:00Z"}));
        store.insert_issue(json!({"id": 4, "created_at": "not a time"}));
        assert_eq!(ids(&store.page(0, 10)), vec![3, 1, 2, 4]);
        assert_eq!(ids(&store.page(1, 2)), vec![1, 2]);
        assert!(store.page(4, 10).is_empty());
    }

    #[test]
    fn an_update_moves_updated_at_forward_unless_it_sets_it() {
        let mut store = Store::default();
        let stored = store.insert_issue(json!({"title": "t", "updated_at": "2999-01-01T00:00:00Z"}));
        assert_eq!((stored.id, stored.created), (1, true));
        let updated = store.update_issue(1, None, |issue| issue["title"] = "u".into()).unwrap();
        assert_eq!(updated["updated_at"], "2999-01-01T00:00:00.000001Z");
        let updated = store.update_issue(1, None, |issue| issue["updated_at"] = "2020-01-01T00:00:00Z".into());
        assert_eq!(updated.unwrap()["updated_at"], "2020-01-01T00:00:00Z");
        assert_eq!(store.update_issue(2, None, |_| {}), None);
    }

    #[test]
    fn changes_in_the_same_instant_are_stamped_strictly_in_order() {
        let mut store = Store::default();
        let id = store.insert_issue(json!({"title": "t"})).id;
        let mut stamps = vec![store.issue(id).unwrap()["updated_at"].clone()];
        for round in 0..50 {
            let updated = store.update_issue(id, Some(4), |issue| issue["title"] = format!("t{round}").into());
            stamps.push(updated.unwrap()["updated_at"].clone());
        }
        let times: Vec<_> = stamps.iter().map(|t| DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap()).collect();
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{stamps:?}");
        assert_eq!(store.issue(id).unwrap()["updated_by"], 4);
    }

    #[test]
    fn resolving_closes_the_issue_and_reopening_clears_it() {
        let mut store = Store::default();
        let id = store.insert_issue(json!({"status": "open", "closed_at": null, "closed_by": null})).id;
        let resolved = store.update_issue(id, Some(12), |issue| issue["status"] = "Resolved".into()).unwrap();
        assert_eq!((&resolved["closed_at"], &resolved["closed_by"]), (&resolved["updated_at"], &json!(12)));
        let reopened = store.update_issue(id, Some(13), |issue| issue["status"] = "open".into()).unwrap();
        assert_eq!((&reopened["closed_at"], &reopened["closed_by"]), (&Value::Null, &Value::Null));
    }

    #[test]
    fn comments_list_oldest_first_and_leave_the_issue_alone() {
        let mut store = Store::default();
        let issue = store.insert_issue(json!({"id": 7})).id;
        let before = store.issue(issue);
        store.insert_comment(issue, json!({"id": 30, "body": "late", "created_at": "2026-01-03T00:00:00Z"}));
        store.insert_comment(issue, json!({"id": 31, "body": "early", "created_at": "2026-01-01T00:00:00Z"}));
        let added = store.add_comment(issue, 12, "now").unwrap();
        assert_eq!((added.id, added.created), (32, true));
        assert_eq!(added.object["issue_id"], 7);
        assert_eq!(ids(&store.comments_of(issue).unwrap()), vec![31, 30, 32]);
        assert_eq!(store.issue(issue), before);
        assert!(store.add_comment(8, 12, "no such issue").is_none());
        assert_eq!(store.comments_of(8), None);
    }

    #[test]
    fn an_edit_moves_the_comments_updated_at_and_a_removed_issue_takes_its_comments() {
        let mut store = Store::default();
        let issue = store.insert_issue(json!({})).id;
        let comment = store.add_comment(issue, 12, "first").unwrap();
        let edited = store.edit_comment(comment.id, "second").unwrap();
        assert_eq!(edited["content"], "second");
        assert_eq!(edited["created_at"], comment.object["created_at"]);
        assert!(time_of(&edited, "updated_at") > time_of(&comment.object, "updated_at"));
        store.remove_issue(issue);
        assert_eq!(store.comment(comment.id), None);
        assert_eq!(store.edit_comment(comment.id, "third"), None);
    }
}
