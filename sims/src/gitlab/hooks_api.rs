//! The project hooks API (Maintainer and up): list, get, create, update and delete a project's
//! hooks with GitLab's field names (the `token` is write-only, never rendered), and the test
//! endpoint (`POST /projects/:id/hooks/:hook_id/test/:trigger`), which sends a delivery at once
//! whatever the hook's state, re-enables the hook when it succeeds, and is limited to 5 calls a
//! minute per user and project.

use chrono::TimeDelta;
use serde_json::Value;

use super::SimState;
use super::access::level;
use super::hook_payload::{IssueAction, NoteAction, issue_hook, note_hook};
use super::render;
use super::reply::Reply;
use super::routes::{Call, paginate, project_id};
use super::webhook::{DeliveryOutcome, Hook, TestScope, WebhookConfig, WebhookEvents};

/// Test calls allowed per user and project in [`TEST_WINDOW`] (GitLab's `web_hook_test` default).
const TESTS_PER_WINDOW: usize = 5;
/// The test endpoint's rate-limit window.
const TEST_WINDOW: TimeDelta = TimeDelta::minutes(1);

/// The triggers `POST …/test/:trigger` accepts, as GitLab lists them.
pub(super) const TRIGGERS: [&str; 14] = [
    "push_events",
    "tag_push_events",
    "issues_events",
    "confidential_issues_events",
    "note_events",
    "merge_requests_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "deployment_events",
    "feature_flag_events",
    "releases_events",
    "emoji_events",
    "resource_access_token_events",
];

/// The project of a hooks call: the caller must see it and be Maintainer, as GitLab's hooks API
/// (`admin_project`) requires.
fn hooks_project(state: &SimState, call: &Call<'_>, segment: &str) -> Result<u64, Reply> {
    let id = project_id(state, call, segment)?;
    match state.model.access_level(id, call.user.id) >= level::MAINTAINER {
        true => Ok(id),
        false => Err(Reply::message(403, "403 Forbidden")),
    }
}

pub(super) fn hook_id(segment: &str) -> Result<u64, Reply> {
    segment.parse::<u64>().map_err(|_| Reply::error(400, "hook_id is invalid"))
}

pub(super) fn not_found() -> Reply {
    Reply::message(404, "404 Not found")
}

fn hook_of<'a>(state: &'a SimState, project: u64, segment: &str) -> Result<&'a Hook, Reply> {
    state.hooks.of_project(project, hook_id(segment)?).ok_or_else(not_found)
}

/// `GET /projects/:id/hooks`.
pub(super) fn list(state: &SimState, call: &Call<'_>, segment: &str) -> Result<Reply, Reply> {
    let id = hooks_project(state, call, segment)?;
    let hooks = state.hooks.hooks.iter().filter(|hook| hook.serves(id)).map(|hook| render::hook(hook, id, call.now));
    paginate(call, hooks.collect())
}

/// `GET /projects/:id/hooks/:hook_id`.
pub(super) fn get(state: &SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_project(state, call, segment)?;
    Ok(Reply::json(200, render::hook(hook_of(state, id, hook)?, id, call.now)))
}

/// `GET /projects/:id/hooks/:hook_id/events`: the deliveries the hook made (not those it held
/// back while disabled), newest first, as GitLab's "Recent events" lists them; `status` filters
/// by code, `successful`, `client_failure` or `server_failure`. Never the secret token.
pub(super) fn events(state: &SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_project(state, call, segment)?;
    hook_events(state, call, hook_of(state, id, hook)?)
}

/// The deliveries of `hook`, as `…/hooks/:hook_id/events` lists them.
pub(super) fn hook_events(state: &SimState, call: &Call<'_>, hook: &Hook) -> Result<Reply, Reply> {
    let wanted = call.params.labels("status")?.unwrap_or_default();
    let keep = |status: Option<u16>| {
        wanted.is_empty()
            || wanted.iter().any(|word| match (word.as_str(), status) {
                ("successful", Some(code)) => (200..300).contains(&code),
                ("client_failure", Some(code)) => (400..500).contains(&code),
                ("server_failure", Some(code)) => (500..600).contains(&code),
                (number, Some(code)) => number.parse::<u16>().is_ok_and(|n| n == code),
                _ => false,
            })
    };
    let items = state
        .hooks
        .deliveries
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, delivery)| delivery.hook == hook.config.id)
        .filter_map(|(index, delivery)| {
            let status = match &delivery.outcome {
                DeliveryOutcome::Answered(code) => Some(*code),
                DeliveryOutcome::Failed(_) => None,
                _ => return None,
            };
            keep(status).then(|| render::hook_event(index as u64 + 1, &hook.config.url, delivery, status))
        })
        .collect();
    paginate(call, items)
}

/// `POST /projects/:id/hooks`: 201 and the hook; `url` is required and must be an HTTP(S) URL.
pub(super) fn create(state: &mut SimState, call: &Call<'_>, segment: &str) -> Result<Reply, Reply> {
    let url = call.params.required_string("url")?;
    let id = hooks_project(state, call, segment)?;
    let mut hook = Hook::new(WebhookConfig::new(&url).with_id(state.hooks.next_id()), Some(id), call.now);
    hook.config.events =
        WebhookEvents { issues: false, confidential_issues: false, notes: false, confidential_notes: false };
    apply(&mut hook, call)?;
    let reply = Reply::json(201, render::hook(&hook, id, call.now));
    state.hooks.hooks.push(hook);
    Ok(reply)
}

/// `PUT /projects/:id/hooks/:hook_id`: 200 and the hook; unnamed fields keep their values.
pub(super) fn update(state: &mut SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_project(state, call, segment)?;
    let mut edited = hook_of(state, id, hook)?.clone();
    apply(&mut edited, call)?;
    let reply = Reply::json(200, render::hook(&edited, id, call.now));
    if let Some(stored) = state.hooks.by_id_mut(edited.config.id) {
        *stored = edited;
    }
    Ok(reply)
}

/// `DELETE /projects/:id/hooks/:hook_id`: 204 without a body.
pub(super) fn delete(state: &mut SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_project(state, call, segment)?;
    let hook_id = hook_of(state, id, hook)?.config.id;
    state.hooks.hooks.retain(|hook| hook.config.id != hook_id);
    Ok(Reply::text(204, "application/json", ""))
}

/// Sets the fields a create or update names; GitLab refuses an invalid URL with 422.
pub(super) fn apply(hook: &mut Hook, call: &Call<'_>) -> Result<(), Reply> {
    let params = &call.params;
    if let Some(url) = params.string("url")? {
        let valid = ["http://", "https://"]
            .iter()
            .any(|scheme| url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty() && !rest.contains(' ')));
        if !valid {
            return Err(Reply::message(422, "Invalid url given"));
        }
        hook.config.url = url;
    }
    if params.has("token") {
        hook.config.secret = params.string("token")?.filter(|token| !token.is_empty());
    }
    let events = &mut hook.config.events;
    let flags: [(&str, &mut bool); 6] = [
        ("issues_events", &mut events.issues),
        ("confidential_issues_events", &mut events.confidential_issues),
        ("note_events", &mut events.notes),
        ("confidential_note_events", &mut events.confidential_notes),
        ("push_events", &mut hook.push_events),
        ("enable_ssl_verification", &mut hook.enable_ssl_verification),
    ];
    for (name, flag) in flags {
        if let Some(value) = params.boolean(name)? {
            *flag = value;
        }
    }
    for (name, field) in [("name", &mut hook.name), ("description", &mut hook.description)] {
        if let Some(value) = params.string(name)? {
            *field = value;
        }
    }
    Ok(())
}

/// `POST /projects/:id/hooks/:hook_id/test/:trigger`: records the test delivery to send once the
/// lock is released (the server then answers 201, or 422 when the receiver failed); 429 past the
/// limit; 422 when the project has nothing to build the trigger's payload from.
pub(super) fn test(
    state: &mut SimState,
    call: &Call<'_>,
    segment: &str,
    hook: &str,
    trigger: &str,
) -> Result<Reply, Reply> {
    let id = hooks_project(state, call, segment)?;
    let config = hook_of(state, id, hook)?.config.clone();
    if !TRIGGERS.contains(&trigger) {
        return Err(Reply::error(400, "trigger does not have a valid value"));
    }
    within_test_limit(state, call, TestScope::Project(id))?;
    let (event, body) = test_payload(state, call, id, trigger)?;
    state.hooks.test(&config, event, call.base, &body);
    Ok(Reply::message(201, "201 Created"))
}

/// Counts a test call of the caller on `scope`; 429 past 5 a minute.
pub(super) fn within_test_limit(state: &mut SimState, call: &Call<'_>, scope: TestScope) -> Result<(), Reply> {
    let since = call.now - TEST_WINDOW;
    state.hooks.tests.retain(|(_, _, at)| *at > since);
    let used = state.hooks.tests.iter().filter(|(user, tested, _)| *user == call.user.id && *tested == scope).count();
    if used >= TESTS_PER_WINDOW {
        return Err(Reply::json(
            429,
            serde_json::json!({ "message": { "error": "This endpoint has been requested too many times. Try again later." } }),
        ));
    }
    state.hooks.tests.push((call.user.id, scope, call.now));
    Ok(())
}

/// The event and body of a test delivery, built as GitLab's `TestHooks::ProjectService` does from
/// the project's first issue or note.
pub(super) fn test_payload(
    state: &SimState,
    call: &Call<'_>,
    id: u64,
    trigger: &str,
) -> Result<(&'static str, Value), Reply> {
    let model = &state.model;
    let project = model.projects.get(&id).ok_or_else(not_found)?;
    let first_issue = project.issues.values().next();
    match trigger {
        "issues_events" | "confidential_issues_events" => {
            let issue = first_issue.ok_or_else(|| Reply::message(422, "Ensure the project has issues."))?;
            let event = if trigger == "issues_events" { "Issue Hook" } else { "Confidential Issue Hook" };
            Ok((event, issue_hook(model, project, issue, IssueAction::Open, call.user.id, call.base)))
        }
        "note_events" => {
            let (issue, note) = project
                .issues
                .values()
                .find_map(|issue| issue.notes.first().map(|note| (issue, note)))
                .ok_or_else(|| Reply::message(422, "Ensure the project has notes."))?;
            Ok(("Note Hook", note_hook(model, project, issue, note, NoteAction::Create, call.base)))
        }
        _ => Err(Reply::message(422, "Ensure the project has at least one commit.")),
    }
}
