//! What goes on the wire to GitLab: the API root of a configured instance URL, the paths of the
//! calls, the JSON bodies of the writes (labels comma-joined, only the set fields of an update) and
//! the query of an issue list.

use chrono::SecondsFormat;
use reqwest::Url;
use serde::Serialize;

use crate::domain::Iid;
use crate::domain::gitlab::{GitlabProjectRef, IssueUpdate, NewIssue, StateEvent};
use crate::ports::IssueQuery;

use super::GitlabClientError;

/// GitLab's default page size, used when a query asks for 0.
const DEFAULT_PER_PAGE: u32 = 20;
/// GitLab's largest page.
const MAX_PER_PAGE: u32 = 100;

/// `<base>/api/v4` of an instance URL such as `https://gitlab.com` or
/// `https://gitlab.example.com/gitlab` (an instance under a path). A URL already ending in `/api/v4`
/// is taken as the root itself.
pub(super) fn api_root(base_url: &str) -> Result<String, GitlabClientError> {
    let invalid = |reason: &'static str| GitlabClientError::InvalidBaseUrl { url: shown(base_url), reason };
    let url = Url::parse(base_url.trim()).map_err(|_| invalid("it is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be https (or http)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not carry credentials: the token is configured apart"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    let base = url.as_str().trim_end_matches('/');
    Ok(if base.ends_with("/api/v4") { base.to_owned() } else { format!("{base}/api/v4") })
}

/// The given URL as an error may show it: without anything before an `@` of the authority, where
/// a password would be, and shortened.
fn shown(base_url: &str) -> String {
    let text = base_url.trim();
    let shown = match (text.find("://"), text.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://[redacted]@{}", &text[..scheme_end], &text[at + 1..])
        }
        _ => text.to_owned(),
    };
    shown.chars().take(200).collect()
}

/// `/projects/:id/issues`.
pub(super) fn issues_path(project: &GitlabProjectRef) -> String {
    format!("/projects/{}/issues", project.api_segment())
}

/// `/projects/:id/issues/:iid`.
pub(super) fn issue_path(project: &GitlabProjectRef, iid: Iid) -> String {
    format!("/projects/{}/issues/{iid}", project.api_segment())
}

/// `/projects/:id/issues/:iid/notes`.
pub(super) fn notes_path(project: &GitlabProjectRef, iid: Iid) -> String {
    format!("{}/notes", issue_path(project, iid))
}

/// Label names as GitLab takes them: one comma-separated string. GitLab splits every label
/// parameter on commas, so a name cannot hold one.
fn joined(labels: &[String]) -> Option<String> {
    (!labels.is_empty()).then(|| labels.join(","))
}

/// The body of `POST /projects/:id/issues`.
#[derive(Debug, Serialize, PartialEq)]
pub(super) struct NewIssueBody<'a> {
    title: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<String>,
    #[serde(skip_serializing_if = "<[u64]>::is_empty")]
    assignee_ids: &'a [u64],
    confidential: bool,
}

impl<'a> From<&'a NewIssue> for NewIssueBody<'a> {
    fn from(issue: &'a NewIssue) -> Self {
        NewIssueBody {
            title: &issue.title,
            description: &issue.description,
            labels: joined(&issue.labels),
            assignee_ids: &issue.assignee_ids,
            confidential: issue.confidential,
        }
    }
}

/// The body of `PUT /projects/:id/issues/:iid`: only the fields the update sets.
#[derive(Debug, Serialize, PartialEq)]
pub(super) struct UpdateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    add_labels: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remove_labels: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_event: Option<StateEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee_ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidential: Option<bool>,
}

impl<'a> From<&'a IssueUpdate> for UpdateBody<'a> {
    fn from(update: &'a IssueUpdate) -> Self {
        UpdateBody {
            title: update.title.as_deref(),
            description: update.description.as_deref(),
            add_labels: joined(&update.add_labels),
            remove_labels: joined(&update.remove_labels),
            state_event: update.state_event,
            // GitLab documents `0` as "unassign everybody"; an empty array may be dropped as blank.
            assignee_ids: update.assignee_ids.as_ref().map(|ids| if ids.is_empty() { vec![0] } else { ids.clone() }),
            confidential: update.confidential,
        }
    }
}

/// The body of `POST /projects/:id/issues/:iid/notes`.
#[derive(Debug, Serialize, PartialEq)]
pub(super) struct NoteBody<'a> {
    pub(super) body: &'a str,
    pub(super) internal: bool,
}

/// A page number from 1 and a page size within GitLab's bounds (0 means GitLab's default).
pub(super) fn page_params(page: u32, per_page: u32) -> [(&'static str, String); 2] {
    let per_page = if per_page == 0 { DEFAULT_PER_PAGE } else { per_page.min(MAX_PER_PAGE) };
    [("page", page.max(1).to_string()), ("per_page", per_page.to_string())]
}

/// The query of `GET /projects/:id/issues`: least recently updated first, so that a cursor on
/// `updated_at` can resume where the last page ended; open and closed issues alike.
pub(super) fn issue_list_params(query: &IssueQuery) -> Vec<(&'static str, String)> {
    let mut params = vec![("order_by", "updated_at".to_owned()), ("sort", "asc".to_owned())];
    if let Some(after) = query.updated_after {
        params.push(("updated_after", after.to_rfc3339_opts(SecondsFormat::Millis, true)));
    }
    if let Some(search) = &query.search {
        params.push(("search", search.clone()));
        if query.search_in_description {
            params.push(("in", "description".to_owned()));
        }
    }
    params.extend(page_params(query.page, query.per_page));
    params
}

/// The query of `GET /projects/:id/issues/:iid/notes`: oldest first.
pub(super) fn note_list_params(page: u32, per_page: u32) -> Vec<(&'static str, String)> {
    let mut params = vec![("sort", "asc".to_owned()), ("order_by", "created_at".to_owned())];
    params.extend(page_params(page, per_page));
    params
}
