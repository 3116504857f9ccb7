//! The REST v4 endpoints of the subset: issues, notes and users, with GitLab's order of checks
//! (parameters, creation budget, project, issue, model validation), its list filters and its
//! offset pagination headers.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use qalita_gitlab_core::domain::gitlab::StateEvent;
use serde_json::Value;

use super::SimState;
use super::access::{TokenRecord, level};
use super::config::SimUser;
use super::limits::Budget;
use super::model::{Actor, Issue, IssueDraft, IssueEdit, IssueState, Note, NoteEdit, Project, project_not_found};
use super::params::Params;
use super::render;
use super::reply::Reply;
use super::search::matches_search;
use super::{group_hooks_api, hooks_api};

/// One authenticated API call.
pub(super) struct Call<'a> {
    pub(super) method: &'a str,
    /// The path after `/api/v4`, as sent.
    pub(super) raw_path: &'a str,
    /// Its segments, decoded.
    pub(super) segments: Vec<String>,
    pub(super) query: &'a str,
    pub(super) params: Params,
    pub(super) user: SimUser,
    /// The record of the token the call was made with.
    pub(super) token: TokenRecord,
    pub(super) event_uuid: Option<String>,
    pub(super) now: DateTime<Utc>,
    /// The simulator's base URL.
    pub(super) base: &'a str,
}

impl Call<'_> {
    fn actor(&self) -> Actor {
        Actor { user: self.user.id, event_uuid: self.event_uuid.clone(), now: self.now }
    }
}

/// Answers an authenticated call.
pub(super) fn route(state: &mut SimState, call: &Call<'_>) -> Reply {
    let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let outcome = match (call.method, segments.as_slice()) {
        ("GET", ["user"]) => Ok(Reply::json(200, render::current_user(&call.user, call.base))),
        ("GET", ["version"]) => Ok(Reply::json(200, render::version())),
        ("GET", ["personal_access_tokens", "self"]) => Ok(Reply::json(200, render::token(&call.token, call.now))),
        ("GET", ["projects", project]) => get_project(state, call, project),
        ("POST", ["personal_access_tokens", "self", "rotate"]) => rotate_token(state, call),
        ("GET", ["projects", project, "hooks"]) => hooks_api::list(state, call, project),
        ("POST", ["projects", project, "hooks"]) => hooks_api::create(state, call, project),
        ("GET", ["projects", project, "hooks", hook]) => hooks_api::get(state, call, project, hook),
        ("GET", ["projects", project, "hooks", hook, "events"]) => hooks_api::events(state, call, project, hook),
        ("PUT", ["projects", project, "hooks", hook]) => hooks_api::update(state, call, project, hook),
        ("DELETE", ["projects", project, "hooks", hook]) => hooks_api::delete(state, call, project, hook),
        ("POST", ["projects", project, "hooks", hook, "test", trigger]) => {
            hooks_api::test(state, call, project, hook, trigger)
        }
        ("GET", ["groups", group, "hooks"]) => group_hooks_api::list(state, call, group),
        ("POST", ["groups", group, "hooks"]) => group_hooks_api::create(state, call, group),
        ("GET", ["groups", group, "hooks", hook]) => group_hooks_api::get(state, call, group, hook),
        ("GET", ["groups", group, "hooks", hook, "events"]) => group_hooks_api::events(state, call, group, hook),
        ("PUT", ["groups", group, "hooks", hook]) => group_hooks_api::update(state, call, group, hook),
        ("DELETE", ["groups", group, "hooks", hook]) => group_hooks_api::delete(state, call, group, hook),
        ("POST", ["groups", group, "hooks", hook, "test", trigger]) => {
            group_hooks_api::test(state, call, group, hook, trigger)
        }
        ("GET", ["users"]) => list_users(state, call),
        ("GET", ["projects", project, "issues"]) => list_issues(state, call, project),
        ("POST", ["projects", project, "issues"]) => create_issue(state, call, project),
        ("GET", ["projects", project, "issues", iid]) => get_issue(state, call, project, iid),
        ("PUT", ["projects", project, "issues", iid]) => update_issue(state, call, project, iid),
        ("GET", ["projects", project, "issues", iid, "notes"]) => list_notes(state, call, project, iid),
        ("POST", ["projects", project, "issues", iid, "notes"]) => create_note(state, call, project, iid),
        ("GET", ["projects", project, "issues", iid, "notes", note]) => get_note(state, call, project, iid, note),
        ("PUT", ["projects", project, "issues", iid, "notes", note]) => update_note(state, call, project, iid, note),
        (_, ["user" | "users" | "version"] | ["personal_access_tokens", "self"] | ["projects", _]) => {
            Err(Reply::error(405, "405 Not Allowed"))
        }
        (_, ["projects", _, "issues"] | ["projects", _, "issues", _]) => Err(Reply::error(405, "405 Not Allowed")),
        (_, ["projects", _, "hooks"] | ["projects", _, "hooks", _] | ["projects", _, "hooks", _, "test", _]) => {
            Err(Reply::error(405, "405 Not Allowed"))
        }
        (_, ["groups", _, "hooks"] | ["groups", _, "hooks", _] | ["groups", _, "hooks", _, "test", _]) => {
            Err(Reply::error(405, "405 Not Allowed"))
        }
        (_, ["personal_access_tokens", "self", "rotate"]) => Err(Reply::error(405, "405 Not Allowed")),
        (_, ["projects", _, "issues", _, "notes"] | ["projects", _, "issues", _, "notes", _]) => {
            Err(Reply::error(405, "405 Not Allowed"))
        }
        _ => Err(Reply::error(404, "404 Not Found")),
    };
    outcome.unwrap_or_else(|reply| reply)
}

/// `POST /personal_access_tokens/self/rotate`: revokes the token the call was made with and
/// answers 200 with a new one of the same name and scopes, expiring on `expires_at` (a date after
/// today) or a week from today.
fn rotate_token(state: &mut SimState, call: &Call<'_>) -> Result<Reply, Reply> {
    let today = call.now.date_naive();
    let expires_at = match call.params.string("expires_at")? {
        None => today + chrono::Days::new(7),
        Some(text) => {
            let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map_err(|_| Reply::error(400, "expires_at is invalid"))?;
            if day <= today || day > today + chrono::Days::new(365) {
                return Err(Reply::message(
                    400,
                    "400 Bad request - Expiration date must be between tomorrow and a year from now",
                ));
            }
            day
        }
    };
    let (value, record) = state.model.rotate_token(call.token.id, expires_at, call.now);
    let mut body = render::token(&record, call.now);
    body["token"] = Value::String(value);
    Ok(Reply::json(200, body))
}

/// The project a segment names, if the caller is a member: GitLab answers a private project the
/// caller cannot see exactly as a missing one.
pub(super) fn project_id(state: &SimState, call: &Call<'_>, segment: &str) -> Result<u64, Reply> {
    let id = state.model.project_by_segment(segment).ok_or_else(project_not_found)?;
    match state.model.access_level(id, call.user.id) >= level::GUEST {
        true => Ok(id),
        false => Err(project_not_found()),
    }
}

/// Whether the caller may set an issue's metadata (labels, assignees) and edit others' issues:
/// GitLab's `set_issue_metadata` and `update_issue`, from Planner up.
fn manages_issues(state: &SimState, call: &Call<'_>, project: u64) -> bool {
    state.model.access_level(project, call.user.id) >= level::PLANNER
}

fn get_project(state: &SimState, call: &Call<'_>, segment: &str) -> Result<Reply, Reply> {
    let id = project_id(state, call, segment)?;
    let project = project_of(state, id)?;
    let access = state.model.access_level(id, call.user.id);
    Ok(Reply::json(200, render::project(project, access, call.base)))
}

fn project_of(state: &SimState, id: u64) -> Result<&Project, Reply> {
    state.model.projects.get(&id).ok_or_else(project_not_found)
}

fn iid(segment: &str) -> Result<u64, Reply> {
    segment.parse::<u64>().ok().filter(|iid| *iid > 0).ok_or_else(|| Reply::error(400, "issue_iid is invalid"))
}

/// `note_id`, which Grape coerces to an integer.
fn note_id(segment: &str) -> Result<u64, Reply> {
    segment.parse::<u64>().map_err(|_| Reply::error(400, "note_id is invalid"))
}

fn note_reply(
    state: &SimState,
    call: &Call<'_>,
    project: u64,
    iid: u64,
    note_id: u64,
    status: u16,
) -> Result<Reply, Reply> {
    let issue = state.model.issue(project, iid)?;
    let note = state.model.note(project, iid, note_id)?;
    Ok(Reply::json(status, render::note(&state.model, project_of(state, project)?, issue, note, call.base)))
}

fn issue_reply(state: &SimState, call: &Call<'_>, project: u64, iid: u64, status: u16) -> Result<Reply, Reply> {
    let issue = state.model.issue(project, iid)?;
    let project = project_of(state, project)?;
    Ok(Reply::json(status, render::issue(&state.model, project, issue, call.base, true)))
}

fn create_issue(state: &mut SimState, call: &Call<'_>, project: &str) -> Result<Reply, Reply> {
    let params = &call.params;
    let draft = IssueDraft {
        title: params.required_string("title")?,
        description: params.string("description")?,
        labels: params.labels("labels")?.unwrap_or_default(),
        assignee_ids: params.integers("assignee_ids")?.unwrap_or_default(),
        confidential: params.boolean("confidential")?.unwrap_or(false),
        incident: issue_type(params)?.unwrap_or(false),
    };
    state.limits.spend_creation(Budget::IssueCreation(call.user.id))?;
    let project = project_id(state, call, project)?;
    let mut draft = draft;
    if !manages_issues(state, call, project) {
        // GitLab drops the metadata a Guest may not set, and creates the issue without it.
        draft.labels.clear();
        draft.assignee_ids.clear();
    }
    let iid = state.model.create_issue(project, draft, &call.actor())?;
    issue_reply(state, call, project, iid, 201)
}

fn get_issue(state: &SimState, call: &Call<'_>, project: &str, iid_text: &str) -> Result<Reply, Reply> {
    let iid = iid(iid_text)?;
    let project = project_id(state, call, project)?;
    issue_reply(state, call, project, iid, 200)
}

const EDITABLE: [&str; 10] = [
    "title",
    "description",
    "labels",
    "add_labels",
    "remove_labels",
    "state_event",
    "assignee_ids",
    "assignee_id",
    "confidential",
    "issue_type",
];

fn update_issue(state: &mut SimState, call: &Call<'_>, project: &str, iid_text: &str) -> Result<Reply, Reply> {
    let iid = iid(iid_text)?;
    let params = &call.params;
    if !EDITABLE.iter().any(|name| params.has(name)) {
        return Err(Reply::error(
            400,
            &format!("{} are missing, at least one parameter must be provided", EDITABLE.join(", ")),
        ));
    }
    let state_event = match params.string("state_event")?.as_deref() {
        None => None,
        Some("close") => Some(StateEvent::Close),
        Some("reopen") => Some(StateEvent::Reopen),
        Some(_) => return Err(Reply::error(400, "state_event does not have a valid value")),
    };
    let assignee_ids = match params.integers("assignee_ids")? {
        Some(ids) => Some(ids),
        None => params.integers("assignee_id")?,
    };
    let edit = IssueEdit {
        title: params.string("title")?,
        description: params.string("description")?,
        labels: params.labels("labels")?,
        add_labels: params.labels("add_labels")?.unwrap_or_default(),
        remove_labels: params.labels("remove_labels")?.unwrap_or_default(),
        state_event,
        assignee_ids,
        confidential: params.boolean("confidential")?,
        incident: issue_type(params)?,
    };
    let project = project_id(state, call, project)?;
    let author = state.model.issue(project, iid)?.author;
    let mut edit = edit;
    if !manages_issues(state, call, project) {
        if author != call.user.id {
            return Err(Reply::message(403, "403 Forbidden"));
        }
        (edit.labels, edit.add_labels, edit.remove_labels, edit.assignee_ids) = (None, Vec::new(), Vec::new(), None);
    }
    state.model.update_issue(project, iid, edit, &call.actor())?;
    issue_reply(state, call, project, iid, 200)
}

/// `issue_type`: `issue` or `incident` (`Some(true)`); GitLab refuses the other words with 400.
fn issue_type(params: &Params) -> Result<Option<bool>, Reply> {
    match params.string("issue_type")?.as_deref() {
        None => Ok(None),
        Some("issue") => Ok(Some(false)),
        Some("incident") => Ok(Some(true)),
        Some(_) => Err(Reply::error(400, "issue_type does not have a valid value")),
    }
}

fn list_issues(state: &SimState, call: &Call<'_>, project: &str) -> Result<Reply, Reply> {
    let params = &call.params;
    let wanted_state = match params.string("state")?.as_deref() {
        None | Some("all") => None,
        Some("opened") => Some(IssueState::Opened),
        Some("closed") => Some(IssueState::Closed),
        Some(_) => return Err(Reply::error(400, "state does not have a valid value")),
    };
    let order_by = params.string("order_by")?.unwrap_or_else(|| "created_at".into());
    if !matches!(order_by.as_str(), "created_at" | "updated_at" | "title") {
        return Err(Reply::error(400, "order_by does not have a valid value"));
    }
    let descending = match params.string("sort")?.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(Reply::error(400, "sort does not have a valid value")),
    };
    let (updated_after, updated_before) = (params.time("updated_after")?, params.time("updated_before")?);
    let search = params.string("search")?.filter(|text| !text.trim().is_empty());
    let search_in = params.string("in")?.unwrap_or_else(|| "title,description".into());
    let (in_title, in_description) = (search_in.contains("title"), search_in.contains("description"));
    if !in_title && !in_description {
        return Err(Reply::error(400, "in does not have a valid value"));
    }
    let project = project_of(state, project_id(state, call, project)?)?;
    let searchable_since = call.now.checked_sub_signed(state.search_delay).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let keep = |issue: &&Issue| {
        wanted_state.is_none_or(|wanted| issue.state == wanted)
            && updated_after.is_none_or(|after| issue.updated_at >= after)
            && updated_before.is_none_or(|before| issue.updated_at <= before)
            && search.as_deref().is_none_or(|query| {
                let mut columns = Vec::new();
                if in_title {
                    columns.push(issue.title.as_str());
                }
                if in_description {
                    columns.push(issue.description.as_deref().unwrap_or_default());
                }
                issue.created_at <= searchable_since && matches_search(query, &columns)
            })
    };
    let mut issues: Vec<&Issue> = project.issues.values().filter(keep).collect();
    issues.sort_by(|a, b| {
        let order = match order_by.as_str() {
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "title" => a.title.cmp(&b.title),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then(a.id.cmp(&b.id));
        ordered(order, descending)
    });
    let items = issues.into_iter().map(|issue| render::issue(&state.model, project, issue, call.base, false)).collect();
    paginate(call, items)
}

fn create_note(state: &mut SimState, call: &Call<'_>, project: &str, iid_text: &str) -> Result<Reply, Reply> {
    let iid = iid(iid_text)?;
    let body = call.params.required_string("body")?;
    let internal = match call.params.boolean("internal")? {
        Some(internal) => internal,
        None => call.params.boolean("confidential")?.unwrap_or(false),
    };
    state.limits.spend_creation(Budget::NoteCreation(call.user.id))?;
    let project = project_id(state, call, project)?;
    let note_id = state.model.create_note(project, iid, body, internal, &call.actor())?;
    note_reply(state, call, project, iid, note_id, 201)
}

fn get_note(state: &SimState, call: &Call<'_>, project: &str, iid_text: &str, note_text: &str) -> Result<Reply, Reply> {
    let iid = iid(iid_text)?;
    let note_id = note_id(note_text)?;
    let project = project_id(state, call, project)?;
    note_reply(state, call, project, iid, note_id, 200)
}

fn update_note(
    state: &mut SimState,
    call: &Call<'_>,
    project: &str,
    iid_text: &str,
    note_text: &str,
) -> Result<Reply, Reply> {
    let iid = iid(iid_text)?;
    let note_id = note_id(note_text)?;
    // GitLab declares `optional :body, type: String, allow_blank: false` (lib/api/notes.rb): Grape
    // refuses a blank body with `{"error": "body is empty"}` before anything is looked up, and a
    // request without `body` passes, edits nothing and answers the note (neither `body is missing`
    // nor the model's `can't be blank` can happen on this route).
    let body = call.params.string("body")?;
    if call.params.has("body") && body.as_deref().is_none_or(|text| text.trim().is_empty()) {
        return Err(Reply::error(400, "body is empty"));
    }
    let edit = NoteEdit { body, confidential: call.params.boolean("confidential")? };
    let project = project_id(state, call, project)?;
    state.model.update_note(project, iid, note_id, edit, &call.actor())?;
    note_reply(state, call, project, iid, note_id, 200)
}

fn list_notes(state: &SimState, call: &Call<'_>, project: &str, iid_text: &str) -> Result<Reply, Reply> {
    let iid = iid(iid_text)?;
    let by_update = match call.params.string("order_by")?.as_deref() {
        None | Some("created_at") => false,
        Some("updated_at") => true,
        Some(_) => return Err(Reply::error(400, "order_by does not have a valid value")),
    };
    let descending = match call.params.string("sort")?.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(Reply::error(400, "sort does not have a valid value")),
    };
    let project_id = project_id(state, call, project)?;
    let issue = state.model.issue(project_id, iid)?;
    let project = project_of(state, project_id)?;
    let mut notes: Vec<_> = issue.notes.iter().collect();
    let key = |note: &Note| if by_update { note.updated_at } else { note.created_at };
    notes.sort_by(|a, b| ordered(key(a).cmp(&key(b)).then(a.id.cmp(&b.id)), descending));
    let items = notes.into_iter().map(|note| render::note(&state.model, project, issue, note, call.base)).collect();
    paginate(call, items)
}

fn list_users(state: &SimState, call: &Call<'_>) -> Result<Reply, Reply> {
    let username = call.params.string("username")?;
    let items = state
        .model
        .users
        .values()
        .filter(|user| username.as_deref().is_none_or(|name| user.username.eq_ignore_ascii_case(name)))
        .map(|user| render::user_basic(user, call.base))
        .collect();
    paginate(call, items)
}

/// One page of `items` with GitLab's offset pagination headers.
pub(super) fn paginate(call: &Call<'_>, items: Vec<Value>) -> Result<Reply, Reply> {
    let page = usize::try_from(call.params.integer("page")?.unwrap_or(1).max(1)).unwrap_or(1);
    let per_page = match call.params.integer("per_page")?.unwrap_or(20) {
        n if n < 1 => 20,
        n => usize::try_from(n.min(100)).unwrap_or(100),
    };
    let total = items.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let shown: Vec<Value> = items.into_iter().skip((page - 1).saturating_mul(per_page)).take(per_page).collect();
    let next = (page < total_pages).then_some(page + 1);
    let prev = (page > 1).then_some(page - 1);
    let link_to = |target: usize| {
        let mut pairs: Vec<&str> = call
            .query
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("page=") && !pair.starts_with("per_page="))
            .collect();
        let paging = format!("page={target}&per_page={per_page}");
        pairs.push(&paging);
        format!("<{}/api/v4{}?{}>", call.base, call.raw_path, pairs.join("&"))
    };
    let mut links = Vec::new();
    if let Some(prev) = prev {
        links.push(format!("{}; rel=\"prev\"", link_to(prev)));
    }
    if let Some(next) = next {
        links.push(format!("{}; rel=\"next\"", link_to(next)));
    }
    links.push(format!("{}; rel=\"first\"", link_to(1)));
    links.push(format!("{}; rel=\"last\"", link_to(total_pages)));
    let text = |page: Option<usize>| page.map(|p| p.to_string()).unwrap_or_default();
    Ok(Reply::json(200, Value::Array(shown))
        .with_header("x-page", page)
        .with_header("x-per-page", per_page)
        .with_header("x-next-page", text(next))
        .with_header("x-prev-page", text(prev))
        .with_header("x-total", total)
        .with_header("x-total-pages", total_pages)
        .with_header("link", links.join(", ")))
}

/// An order in the asked direction.
fn ordered(order: Ordering, descending: bool) -> Ordering {
    if descending { order.reverse() } else { order }
}
