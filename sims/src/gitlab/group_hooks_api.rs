//! The group hooks API (Owner only; GitLab Premium): list, get, create, update and delete a
//! group's hooks, which fire on the events of every project of the group and its subgroups, with
//! the project hooks' fields plus the group-only ones, their recent events, and the test endpoint
//! (`POST /groups/:id/hooks/:hook_id/test/:trigger`, GitLab 17.1), whose payload is built from
//! the group's first project, limited to 5 calls a minute per user and group.

use super::SimState;
use super::access::level;
use super::hooks_api::{TRIGGERS, apply, hook_events, hook_id, not_found, test_payload, within_test_limit};
use super::render;
use super::reply::Reply;
use super::routes::Call;
use super::routes::paginate;
use super::webhook::{Hook, TestScope, WebhookConfig, WebhookEvents};

/// The group of a hooks call: a group the caller cannot see is a 404, one the caller is not Owner
/// of a 403, as GitLab's group hooks API (`admin_group`) answers.
fn hooks_group(state: &SimState, call: &Call<'_>, segment: &str) -> Result<u64, Reply> {
    let group_not_found = || Reply::message(404, "404 Group Not Found");
    let id = state.model.group_by_segment(segment).ok_or_else(group_not_found)?;
    match state.model.group_access_level(id, call.user.id) {
        access if access >= level::OWNER => Ok(id),
        access if access >= level::GUEST => Err(Reply::message(403, "403 Forbidden")),
        _ => Err(group_not_found()),
    }
}

fn hook_of<'a>(state: &'a SimState, group: u64, segment: &str) -> Result<&'a Hook, Reply> {
    let id = hook_id(segment)?;
    state.hooks.hooks.iter().find(|hook| hook.config.id == id && hook.group == Some(group)).ok_or_else(not_found)
}

/// `GET /groups/:id/hooks`.
pub(super) fn list(state: &SimState, call: &Call<'_>, segment: &str) -> Result<Reply, Reply> {
    let id = hooks_group(state, call, segment)?;
    let hooks = state.hooks.hooks.iter().filter(|hook| hook.group == Some(id));
    paginate(call, hooks.map(|hook| render::group_hook(hook, id, call.now)).collect())
}

/// `GET /groups/:id/hooks/:hook_id`.
pub(super) fn get(state: &SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_group(state, call, segment)?;
    Ok(Reply::json(200, render::group_hook(hook_of(state, id, hook)?, id, call.now)))
}

/// `GET /groups/:id/hooks/:hook_id/events`.
pub(super) fn events(state: &SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_group(state, call, segment)?;
    hook_events(state, call, hook_of(state, id, hook)?)
}

/// `POST /groups/:id/hooks`: 201 and the hook; `url` is required.
pub(super) fn create(state: &mut SimState, call: &Call<'_>, segment: &str) -> Result<Reply, Reply> {
    let url = call.params.required_string("url")?;
    let id = hooks_group(state, call, segment)?;
    let mut hook = Hook::new(WebhookConfig::new(&url).with_id(state.hooks.next_id()), None, call.now);
    hook.group = Some(id);
    hook.config.events =
        WebhookEvents { issues: false, confidential_issues: false, notes: false, confidential_notes: false };
    apply(&mut hook, call)?;
    let reply = Reply::json(201, render::group_hook(&hook, id, call.now));
    state.hooks.hooks.push(hook);
    Ok(reply)
}

/// `PUT /groups/:id/hooks/:hook_id`: 200 and the hook; unnamed fields keep their values.
pub(super) fn update(state: &mut SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_group(state, call, segment)?;
    let mut edited = hook_of(state, id, hook)?.clone();
    apply(&mut edited, call)?;
    let reply = Reply::json(200, render::group_hook(&edited, id, call.now));
    if let Some(stored) = state.hooks.by_id_mut(edited.config.id) {
        *stored = edited;
    }
    Ok(reply)
}

/// `DELETE /groups/:id/hooks/:hook_id`: 204 without a body.
pub(super) fn delete(state: &mut SimState, call: &Call<'_>, segment: &str, hook: &str) -> Result<Reply, Reply> {
    let id = hooks_group(state, call, segment)?;
    let hook_id = hook_of(state, id, hook)?.config.id;
    state.hooks.hooks.retain(|hook| hook.config.id != hook_id);
    Ok(Reply::text(204, "application/json", ""))
}

/// `POST /groups/:id/hooks/:hook_id/test/:trigger`: a test delivery built from the group's first
/// project (by id) that has what the trigger needs; 201, or 422 when the receiver failed or the
/// group has nothing to build it from; 429 past the limit.
pub(super) fn test(
    state: &mut SimState,
    call: &Call<'_>,
    segment: &str,
    hook: &str,
    trigger: &str,
) -> Result<Reply, Reply> {
    let id = hooks_group(state, call, segment)?;
    let config = hook_of(state, id, hook)?.config.clone();
    if !TRIGGERS.contains(&trigger) {
        return Err(Reply::error(400, "trigger does not have a valid value"));
    }
    within_test_limit(state, call, TestScope::Group(id))?;
    let projects: Vec<u64> = state.model.projects.keys().copied().filter(|p| state.model.in_group(*p, id)).collect();
    let mut refusal = Reply::message(422, "Ensure the group has projects.");
    for project in projects {
        match test_payload(state, call, project, trigger) {
            Ok((event, body)) => {
                state.hooks.test(&config, event, call.base, &body);
                return Ok(Reply::message(201, "201 Created"));
            }
            Err(reply) => refusal = reply,
        }
    }
    Err(refusal)
}
