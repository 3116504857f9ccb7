//! The bodies of the webhook deliveries, built from the simulator's state with the keys and JSON
//! types of GitLab's `Issue Hook` and `Note Hook` (see `fixtures/gitlab/`): labels and people as
//! objects, emails as `"[REDACTED]"`, issue times in UTC with milliseconds.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::model::{Issue, IssueSnapshot, IssueState, Model, Note, Project};
use super::render::time;

/// When the simulator's labels were made: it does not track it, and a fixed time keeps bodies stable.
const LABEL_TIME: &str = "2024-01-01T00:00:00.000Z";

/// What an issue delivery reports.
pub(super) enum IssueAction<'a> {
    Open,
    /// An update, a close or a reopen, with the issue as it was before.
    Changed(&'a IssueSnapshot),
}

/// An `Issue Hook` body.
pub(super) fn issue_hook(
    model: &Model,
    project: &Project,
    issue: &Issue,
    action: IssueAction<'_>,
    user: u64,
    base: &str,
) -> Value {
    let (name, changes) = match action {
        IssueAction::Open => ("open", open_changes(model, project, issue)),
        IssueAction::Changed(before) => {
            let name = match (before.state, issue.state) {
                (IssueState::Opened, IssueState::Closed) => "close",
                (IssueState::Closed, IssueState::Opened) => "reopen",
                _ => "update",
            };
            (name, update_changes(model, project, issue, before))
        }
    };
    let mut attributes = issue_attributes(project, issue, base);
    attributes.insert("action".into(), Value::String(name.to_owned()));
    // Current GitLab builds an incident's creation and updates from the work item, its close and
    // reopen from the issue: the same hook data under another kind.
    let kind = match issue.incident && !matches!(name, "close" | "reopen") {
        true => "work_item",
        false => "issue",
    };
    let mut body = json!({
        "object_kind": kind,
        "event_type": if issue.confidential { format!("confidential_{kind}") } else { kind.to_owned() },
        "user": user_hook(model, user),
        "project": project_hook(project, base),
        "object_attributes": attributes,
        "labels": label_objects(project, &issue.labels),
        "changes": changes,
        "repository": repository_hook(project, base),
    });
    // GitLab adds the assignees only when there are some.
    if !issue.assignees.is_empty()
        && let Value::Object(fields) = &mut body
    {
        fields.insert("assignees".into(), people(model, &issue.assignees));
    }
    body
}

/// What a note delivery reports (`object_attributes.action`, GitLab 16.11+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoteAction {
    Create,
    /// The body was edited (`Notes::UpdateService` sends the hook only then).
    Update,
}

/// A `Note Hook` body for a note on an issue. The note's attributes are its `hook_attrs`: after an
/// edit, `updated_at` is the edit's time and `updated_by_id` the editor.
pub(super) fn note_hook(
    model: &Model,
    project: &Project,
    issue: &Issue,
    note: &Note,
    action: NoteAction,
    base: &str,
) -> Value {
    let confidential = note.internal || issue.confidential;
    json!({
        "object_kind": "note",
        "event_type": if confidential { "confidential_note" } else { "note" },
        "user": user_hook(model, note.author),
        "project_id": project.id,
        "project": project_hook(project, base),
        "repository": repository_hook(project, base),
        "object_attributes": {
            "id": note.id,
            "note": note.body,
            "noteable_type": "Issue",
            "author_id": note.author,
            "created_at": note_time(note.created_at),
            "updated_at": note_time(note.updated_at),
            "project_id": project.id,
            "attachment": null,
            "line_code": null,
            "commit_id": "",
            "noteable_id": issue.id,
            "system": note.system,
            "st_diff": null,
            "updated_by_id": note.updated_by,
            "type": null,
            "internal": note.internal,
            "confidential": note.internal,
            "discussion_id": format!("{:040x}", note.id),
            "action": match action { NoteAction::Create => "create", NoteAction::Update => "update" },
            "url": format!("{}#note_{}", issue_url(project, issue, base), note.id),
        },
        "issue": issue_attributes(project, issue, base),
    })
}

/// A note's times as GitLab renders them in note hooks: `2015-05-17 17:06:40 UTC`.
fn note_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn optional_time(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::String(time(at)))
}

fn issue_url(project: &Project, issue: &Issue, base: &str) -> String {
    format!("{base}/{}/-/issues/{}", project.path, issue.iid)
}

fn state_id(state: IssueState) -> u64 {
    match state {
        IssueState::Opened => 1,
        IssueState::Closed => 2,
    }
}

/// The issue's `hook_attrs`: `object_attributes` without `action`, and the `issue` of a note.
fn issue_attributes(project: &Project, issue: &Issue, base: &str) -> Map<String, Value> {
    let value = json!({
        "author_id": issue.author,
        "closed_at": optional_time(issue.closed_at),
        "confidential": issue.confidential,
        "created_at": time(issue.created_at),
        "description": issue.description,
        "discussion_locked": null,
        "due_date": null,
        "id": issue.id,
        "iid": issue.iid,
        "last_edited_at": optional_time(issue.last_edited.map(|(at, _)| at)),
        "last_edited_by_id": issue.last_edited.map(|(_, by)| by),
        "milestone_id": null,
        "moved_to_id": null,
        "duplicated_to_id": null,
        "project_id": project.id,
        "relative_position": issue.iid * 513,
        "state_id": state_id(issue.state),
        "time_estimate": 0,
        "title": issue.title,
        "updated_at": time(issue.updated_at),
        "updated_by_id": issue.updated_by,
        "weight": null,
        "health_status": null,
        "type": if issue.incident { "Incident" } else { "Issue" },
        "url": issue_url(project, issue, base),
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": null,
        "human_time_change": null,
        "human_time_estimate": null,
        "assignee_ids": issue.assignees,
        "assignee_id": issue.assignees.first(),
        "labels": label_objects(project, &issue.labels),
        "state": match issue.state { IssueState::Opened => "opened", IssueState::Closed => "closed" },
        "severity": "unknown",
        "customer_relations_contacts": [],
        // Only incidents escalate; GitLab sends these as null for the others.
        "escalation_status": null,
        "escalation_policy": null,
    });
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// The `changes` of a new issue: every field set, from nothing.
fn open_changes(model: &Model, project: &Project, issue: &Issue) -> Value {
    let mut changes = Map::new();
    let mut put = |key: &str, current: Value| {
        changes.insert(key.to_owned(), json!({ "previous": null, "current": current }));
    };
    put("author_id", json!(issue.author));
    put("created_at", json!(time(issue.created_at)));
    put("description", json!(issue.description));
    put("id", json!(issue.id));
    put("iid", json!(issue.iid));
    put("project_id", json!(project.id));
    put("title", json!(issue.title));
    put("updated_at", json!(time(issue.updated_at)));
    if issue.confidential {
        put("confidential", Value::Bool(true));
    }
    if !issue.labels.is_empty() {
        changes.insert("labels".into(), json!({ "previous": [], "current": label_objects(project, &issue.labels) }));
    }
    if !issue.assignees.is_empty() {
        changes.insert("assignees".into(), json!({ "previous": [], "current": people(model, &issue.assignees) }));
    }
    Value::Object(changes)
}

/// The `changes` of an update: `previous` and `current` of each field that changed.
fn update_changes(model: &Model, project: &Project, issue: &Issue, before: &IssueSnapshot) -> Value {
    let mut changes = Map::new();
    let mut put = |key: &str, previous: Value, current: Value| {
        if previous != current {
            changes.insert(key.to_owned(), json!({ "previous": previous, "current": current }));
        }
    };
    put("title", json!(before.title), json!(issue.title));
    put("description", json!(before.description), json!(issue.description));
    put(
        "last_edited_at",
        optional_time(before.last_edited.map(|(at, _)| at)),
        optional_time(issue.last_edited.map(|(at, _)| at)),
    );
    put("last_edited_by_id", json!(before.last_edited.map(|(_, by)| by)), json!(issue.last_edited.map(|(_, by)| by)));
    put("state_id", json!(state_id(before.state)), json!(state_id(issue.state)));
    put("closed_at", optional_time(before.closed_at), optional_time(issue.closed_at));
    put("confidential", json!(before.confidential), json!(issue.confidential));
    put("updated_at", json!(time(before.updated_at)), json!(time(issue.updated_at)));
    put("updated_by_id", json!(before.updated_by), json!(issue.updated_by));
    put("labels", label_objects(project, &before.labels), label_objects(project, &issue.labels));
    put("assignees", people(model, &before.assignees), people(model, &issue.assignees));
    Value::Object(changes)
}

/// Labels as hook objects; a label's id is stable: the project's id and its rank of creation.
fn label_objects(project: &Project, names: &[String]) -> Value {
    let labels = names.iter().map(|name| {
        let rank = project.labels.iter().position(|known| known == name).unwrap_or(project.labels.len());
        json!({
            "id": project.id * 10_000 + rank as u64 + 1,
            "title": name,
            "color": "#6699cc",
            "project_id": project.id,
            "created_at": LABEL_TIME,
            "updated_at": LABEL_TIME,
            "template": false,
            "description": null,
            "type": "ProjectLabel",
            "group_id": null,
        })
    });
    Value::Array(labels.collect())
}

/// A user as hooks render them (`user`, `assignees`), email redacted.
fn user_hook(model: &Model, id: u64) -> Value {
    let (username, name) = model
        .users
        .get(&id)
        .map_or_else(|| (format!("user{id}"), format!("User {id}")), |user| (user.username.clone(), user.name.clone()));
    json!({
        "id": id,
        "name": name,
        "username": username,
        "avatar_url": format!("https://www.gravatar.com/avatar/{id:032x}?s=80&d=identicon"),
        "email": "[REDACTED]",
    })
}

fn people(model: &Model, ids: &[u64]) -> Value {
    Value::Array(ids.iter().map(|id| user_hook(model, *id)).collect())
}

fn project_hook(project: &Project, base: &str) -> Value {
    let web_url = format!("{base}/{}", project.path);
    let host = base.trim_start_matches("http://").split(':').next().unwrap_or_default();
    let ssh = format!("git@{host}:{}.git", project.path);
    let mut segments = project.path.rsplit('/');
    let name = segments.next().unwrap_or_default();
    let namespace = segments.next().unwrap_or(name);
    json!({
        "id": project.id,
        "name": name,
        "description": "",
        "web_url": web_url,
        "avatar_url": null,
        "git_ssh_url": ssh,
        "git_http_url": format!("{web_url}.git"),
        "namespace": namespace,
        "visibility_level": 0,
        "path_with_namespace": project.path,
        "default_branch": "main",
        "ci_config_path": "",
        "homepage": web_url,
        "url": ssh,
        "ssh_url": ssh,
        "http_url": format!("{web_url}.git"),
    })
}

fn repository_hook(project: &Project, base: &str) -> Value {
    let web_url = format!("{base}/{}", project.path);
    let host = base.trim_start_matches("http://").split(':').next().unwrap_or_default();
    json!({
        "name": project.path.rsplit('/').next().unwrap_or_default(),
        "url": format!("git@{host}:{}.git", project.path),
        "description": "",
        "homepage": web_url,
    })
}
