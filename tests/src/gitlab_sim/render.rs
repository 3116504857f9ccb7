//! The simulator's objects as GitLab's REST v4 renders them: the same keys and types as the issue,
//! note and user entities of GitLab (labels as names, times in UTC with milliseconds).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::config::SimUser;
use super::model::{Issue, IssueState, Model, Note, Project};

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
        "type": "ISSUE",
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "user_notes_count": user_notes,
        "merge_requests_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "due_date": null,
        "confidential": issue.confidential,
        "discussion_locked": null,
        "issue_type": "issue",
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
