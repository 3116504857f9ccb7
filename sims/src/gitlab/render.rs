//! The simulator's objects as GitLab's REST v4 renders them: the same keys and types as the issue,
//! note and user entities of GitLab (labels as names, times in UTC with milliseconds).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::access::TokenRecord;
use super::config::SimUser;
use super::model::{Issue, IssueState, Model, Note, Project};
use super::webhook::{Delivery, Hook};

/// A time as GitLab renders it: `2025-03-04T05:06:07.123Z`.
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn optional_time(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::String(time(at)))
}

/// A user as lists and embedded objects render them (`UserBasic`).
pub(super) fn user_basic(user: &SimUser, base: &str) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "state": "active",
        "locked": false,
        "avatar_url": format!("https://www.gravatar.com/avatar/{:032x}?s=80&d=identicon", user.id),
        "web_url": format!("{base}/{}", user.username),
    })
}

/// The token's own user (`GET /user`).
pub(super) fn current_user(user: &SimUser, base: &str) -> Value {
    let mut value = user_basic(user, base);
    if let Value::Object(fields) = &mut value {
        let extra = json!({
            "created_at": "2024-01-01T00:00:00.000Z",
            "bio": "",
            "location": "",
            "public_email": null,
            "skype": "",
            "linkedin": "",
            "twitter": "",
            "website_url": "",
            "organization": "",
            "job_title": "",
            "bot": false,
            "last_sign_in_at": null,
            "confirmed_at": "2024-01-01T00:00:00.000Z",
            "last_activity_on": null,
            "email": format!("{}@example.com", user.username),
            "projects_limit": 100000,
            "can_create_group": true,
            "can_create_project": true,
            "two_factor_enabled": false,
            "external": false,
            "private_profile": false,
            "commit_email": format!("{}@example.com", user.username),
        });
        if let Value::Object(extra) = extra {
            fields.extend(extra);
        }
    }
    value
}

fn user_by_id(model: &Model, id: u64, base: &str) -> Value {
    model.users.get(&id).map_or(Value::Null, |user| user_basic(user, base))
}

/// An issue (`Issue` entity); `single` adds what only `GET …/issues/:iid` shows.
pub(super) fn issue(model: &Model, project: &Project, issue: &Issue, base: &str, single: bool) -> Value {
    let assignees: Vec<Value> = issue.assignees.iter().map(|id| user_by_id(model, *id, base)).collect();
    let api = format!("{base}/api/v4/projects/{}", project.id);
    let user_notes = issue.notes.iter().filter(|note| !note.system).count();
    let mut value = json!({
        "id": issue.id,
        "iid": issue.iid,
        "project_id": project.id,
        "title": issue.title,
        "description": issue.description,
        "state": match issue.state { IssueState::Opened => "opened", IssueState::Closed => "closed" },
        "created_at": time(issue.created_at),
        "updated_at": time(issue.updated_at),
        "closed_at": optional_time(issue.closed_at),
        "closed_by": issue.closed_by.map_or(Value::Null, |id| user_by_id(model, id, base)),
        "labels": issue.labels,
        "milestone": null,
        "assignees": assignees,
        "author": user_by_id(model, issue.author, base),
        "type": if issue.incident { "INCIDENT" } else { "ISSUE" },
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "user_notes_count": user_notes,
        "merge_requests_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "due_date": null,
        "confidential": issue.confidential,
        "discussion_locked": null,
        "issue_type": if issue.incident { "incident" } else { "issue" },
        "web_url": format!("{base}/{}/-/issues/{}", project.path, issue.iid),
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": null,
            "human_total_time_spent": null
        },
        "task_completion_status": { "count": 0, "completed_count": 0 },
        "has_tasks": false,
        "_links": {
            "self": format!("{api}/issues/{}", issue.iid),
            "notes": format!("{api}/issues/{}/notes", issue.iid),
            "award_emoji": format!("{api}/issues/{}/award_emoji", issue.iid),
            "project": api,
            "closed_as_duplicate_of": null
        },
        "references": {
            "short": format!("#{}", issue.iid),
            "relative": format!("#{}", issue.iid),
            "full": format!("{}#{}", project.path, issue.iid)
        },
        "severity": "UNKNOWN",
        "moved_to_id": null,
        "imported": false,
        "imported_from": "none",
        "service_desk_reply_to": null,
    });
    if single && let Value::Object(fields) = &mut value {
        fields.insert("subscribed".into(), Value::Bool(true));
    }
    value
}

/// A note on an issue (`Note` entity).
pub(super) fn note(model: &Model, project: &Project, issue: &Issue, note: &Note, base: &str) -> Value {
    json!({
        "id": note.id,
        "type": null,
        "body": note.body,
        "attachment": null,
        "author": user_by_id(model, note.author, base),
        "created_at": time(note.created_at),
        "updated_at": time(note.updated_at),
        "system": note.system,
        "noteable_id": issue.id,
        "noteable_type": "Issue",
        "project_id": project.id,
        "commit_id": null,
        "resolvable": false,
        "confidential": note.internal,
        "internal": note.internal,
        "imported": false,
        "imported_from": "none",
        "noteable_iid": issue.iid,
        "commands_changes": {},
    })
}

/// `GET /version`.
pub(super) fn version() -> Value {
    json!({ "version": "18.6.0", "revision": "7f3d1a2c9e4", "kas": { "enabled": false, "externalUrl": null, "version": null }, "enterprise": false })
}

/// A token's record (`GET /personal_access_tokens/self`): never its value.
pub(super) fn token(record: &TokenRecord, now: DateTime<Utc>) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "revoked": record.revoked,
        "created_at": time(record.created_at),
        "description": null,
        "scopes": record.scopes,
        "user_id": record.user_id,
        "last_used_at": optional_time(record.last_used_at),
        "active": record.active(now),
        "expires_at": record.expires_at.map(|day| day.format("%Y-%m-%d").to_string()),
    })
}

/// A project (`GET /projects/:id`), with the caller's `permissions`: its own membership as
/// `project_access` (the simulator has no group memberships), `null` when it has none.
pub(super) fn project(project: &Project, access: u8, base: &str) -> Value {
    let (namespace, name) = project.path.rsplit_once('/').unwrap_or(("", project.path.as_str()));
    let api = format!("{base}/api/v4/projects/{}", project.id);
    let project_access = match access {
        0 => Value::Null,
        level => json!({ "access_level": level, "notification_level": 3 }),
    };
    json!({
        "id": project.id,
        "description": null,
        "name": name,
        "name_with_namespace": project.path.replace('/', " / "),
        "path": name,
        "path_with_namespace": project.path,
        "created_at": "2024-01-01T00:00:00.000Z",
        "default_branch": "main",
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": format!("git@127.0.0.1:{}.git", project.path),
        "http_url_to_repo": format!("{base}/{}.git", project.path),
        "web_url": format!("{base}/{}", project.path),
        "readme_url": null,
        "forks_count": 0,
        "avatar_url": null,
        "star_count": 0,
        "last_activity_at": "2024-01-01T00:00:00.000Z",
        "namespace": {
            "id": project.id + 1000,
            "name": namespace.rsplit('/').next().unwrap_or(namespace),
            "path": namespace.rsplit('/').next().unwrap_or(namespace),
            "kind": "group",
            "full_path": namespace,
            "parent_id": null,
            "avatar_url": null,
            "web_url": format!("{base}/groups/{namespace}"),
        },
        "_links": {
            "self": api,
            "issues": format!("{api}/issues"),
            "labels": format!("{api}/labels"),
            "events": format!("{api}/events"),
            "members": format!("{api}/members"),
        },
        "archived": false,
        "visibility": "private",
        "issues_enabled": true,
        "issues_access_level": "enabled",
        "open_issues_count": project.issues.values().filter(|issue| issue.state == IssueState::Opened).count(),
        "permissions": { "project_access": project_access, "group_access": null },
    })
}

/// A project hook (`GET /projects/:id/hooks/:hook_id`): never its secret token.
/// A group hook as `GET /groups/:id/hooks` shows it: a project hook's fields, `group_id` for
/// `project_id`, and the group-only events (off: the simulator has no subgroup, member or project
/// events to send).
pub(super) fn group_hook(hook: &Hook, group_id: u64, now: DateTime<Utc>) -> Value {
    let mut shown = self::hook(hook, 0, now);
    if let Some(fields) = shown.as_object_mut() {
        fields.remove("project_id");
        fields.insert("group_id".into(), json!(group_id));
        for event in ["subgroup_events", "member_events", "project_events", "vulnerability_events"] {
            fields.insert(event.into(), json!(false));
        }
    }
    shown
}

pub(super) fn hook(hook: &Hook, project_id: u64, now: DateTime<Utc>) -> Value {
    let config = &hook.config;
    json!({
        "id": config.id,
        "url": config.url,
        "name": hook.name,
        "description": hook.description,
        "project_id": project_id,
        "created_at": time(hook.created_at),
        "push_events": hook.push_events,
        "push_events_branch_filter": null,
        "branch_filter_strategy": "wildcard",
        "tag_push_events": false,
        "issues_events": config.events.issues,
        "confidential_issues_events": config.events.confidential_issues,
        "note_events": config.events.notes,
        "confidential_note_events": config.events.confidential_notes,
        "merge_requests_events": false,
        "wiki_page_events": false,
        "pipeline_events": false,
        "job_events": false,
        "deployment_events": false,
        "feature_flag_events": false,
        "releases_events": false,
        "milestone_events": false,
        "emoji_events": false,
        "resource_access_token_events": false,
        "repository_update_events": false,
        "enable_ssl_verification": hook.enable_ssl_verification,
        "alert_status": hook.health.alert_status(now),
        "disabled_until": optional_time(hook.health.shown_disabled_until(now)),
        "url_variables": [],
        "custom_webhook_template": null,
        "custom_headers": [],
    })
}

/// One delivery as `GET /projects/:id/hooks/:hook_id/events` shows it: `response_status` is the
/// code as text, or `internal error` when no answer came; the headers sent never include the
/// secret token.
pub(super) fn hook_event(id: u64, url: &str, delivery: &Delivery, status: Option<u16>) -> Value {
    let headers: serde_json::Map<String, Value> =
        delivery.headers.iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect();
    let trigger = match delivery.event.as_str() {
        "Note Hook" | "Confidential Note Hook" => "note_hooks",
        "Confidential Issue Hook" => "confidential_issue_hooks",
        _ => "issue_hooks",
    };
    json!({
        "id": id,
        "url": url,
        "trigger": trigger,
        "request_headers": headers,
        "request_data": delivery.body.to_string(),
        "response_headers": {},
        "response_body": "",
        "execution_duration": 0.01,
        "response_status": status.map_or_else(|| "internal error".to_owned(), |code| code.to_string()),
        "created_at": time(delivery.at),
    })
}
