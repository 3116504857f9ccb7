//! GitLab's side: projects, issues, notes and users as the REST v4 API returns them, and the
//! writes the sync makes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{GitlabProjectId, Iid};

/// A project as configured: its numeric id, or its full path `group/subgroup/project`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ProjectRefRepr", into = "ProjectRefRepr")]
pub enum GitlabProjectRef {
    /// The project's numeric id, as in `42`.
    Id(GitlabProjectId),
    /// The project's full path, as in `group/subgroup/project` (no leading or trailing slash).
    Path(String),
}

/// A project reference that is neither a positive number nor a `namespace/project` path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got:?} is not a GitLab project: give its numeric id or its full path (group/subgroup/project)")]
pub struct InvalidProjectRef {
    /// The text as given (untrimmed), quoted in the error message.
    pub got: String,
}

impl GitlabProjectRef {
    /// Parses `42` or `group/subgroup/project` (leading and trailing slashes and spaces ignored).
    pub fn parse(text: &str) -> Result<Self, InvalidProjectRef> {
        let trimmed = text.trim().trim_matches('/');
        let invalid = || InvalidProjectRef { got: text.to_owned() };
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            let raw = trimmed.parse::<u64>().map_err(|_| invalid())?;
            return GitlabProjectId::new(raw).map(Self::Id).map_err(|_| invalid());
        }
        let segments: Vec<&str> = trimmed.split('/').collect();
        let valid_segment = |s: &&str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                && !s.starts_with('.')
        };
        if segments.len() >= 2 && segments.iter().all(valid_segment) {
            return Ok(Self::Path(trimmed.to_owned()));
        }
        Err(invalid())
    }

    /// The project as a path segment of the REST API: the id, or the URL-encoded full path.
    pub fn api_segment(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::Path(path) => path.replace('/', "%2F"),
        }
    }
}

impl fmt::Display for GitlabProjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Path(path) => f.write_str(path),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ProjectRefRepr {
    Id(u64),
    Path(String),
}

impl TryFrom<ProjectRefRepr> for GitlabProjectRef {
    type Error = InvalidProjectRef;
    fn try_from(repr: ProjectRefRepr) -> Result<Self, InvalidProjectRef> {
        match repr {
            ProjectRefRepr::Id(id) => {
                GitlabProjectId::new(id).map(Self::Id).map_err(|_| InvalidProjectRef { got: id.to_string() })
            }
            ProjectRefRepr::Path(path) => Self::parse(&path),
        }
    }
}

impl From<GitlabProjectRef> for ProjectRefRepr {
    fn from(project: GitlabProjectRef) -> Self {
        match project {
            GitlabProjectRef::Id(id) => ProjectRefRepr::Id(id.get()),
            GitlabProjectRef::Path(path) => ProjectRefRepr::Path(path),
        }
    }
}

/// A GitLab issue's state, `opened` or `closed` in GitLab's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    /// Open (`opened`): how GitLab creates every issue.
    Opened,
    /// Closed (`closed`): a QALITA `resolved` status maps to it.
    Closed,
}

impl IssueState {
    /// `opened` or `closed`, as GitLab writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Opened => "opened",
            IssueState::Closed => "closed",
        }
    }

    /// The state GitLab's word stands for.
    pub fn parse(word: &str) -> Option<IssueState> {
        [IssueState::Opened, IssueState::Closed].into_iter().find(|s| s.as_str() == word)
    }
}

impl std::fmt::Display for IssueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A GitLab user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabUser {
    /// The user id (what `assignee_ids` takes).
    pub id: u64,
    /// The username: how people are mapped.
    pub username: String,
    /// The display name (`name`); empty when the answer leaves it out.
    #[serde(default)]
    pub name: String,
}

/// A GitLab issue as the API returns it (labels as names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabIssue {
    /// The instance-wide id (`id`), not the number people see; the link keeps it.
    pub id: u64,
    /// The number in its project.
    pub iid: Iid,
    /// The numeric id of the project the issue is in.
    pub project_id: GitlabProjectId,
    /// The title, as GitLab holds it now.
    pub title: String,
    /// The description (Markdown).
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the issue is open or closed.
    pub state: IssueState,
    /// Every label on the issue by name: those the sync manages and those people added.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The users assigned to the issue (empty when nobody is).
    #[serde(default)]
    pub assignees: Vec<GitlabUser>,
    /// Whether it is confidential.
    #[serde(default)]
    pub confidential: bool,
    /// The issue's page in the browser (`web_url`), kept on the link and shown by the CLI.
    pub web_url: String,
    /// When GitLab last changed the issue, by GitLab's clock (`updated_at`).
    pub updated_at: DateTime<Utc>,
}

/// A new issue, as `POST /projects/:id/issues` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewIssue {
    /// The title, from the `mapping.title` template.
    pub title: String,
    /// The description, carrying the hidden marker of the QALITA issue.
    pub description: String,
    /// Label names (comma-joined on the wire); missing labels are created by GitLab.
    pub labels: Vec<String>,
    /// The GitLab user ids to assign; empty when the QALITA issue has no owner or it matched nobody.
    pub assignee_ids: Vec<u64>,
    /// Whether the issue is confidential.
    pub confidential: bool,
}

/// `state_event` of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateEvent {
    /// Close the issue.
    Close,
    /// Reopen the issue.
    Reopen,
}

/// A change to an issue, as `PUT /projects/:id/issues/:iid` takes it: only what is set is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IssueUpdate {
    /// The title to write, when it differs from the one last written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The description to write (with the hidden marker), when it differs from the one last written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels to add (others are left alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_labels: Vec<String>,
    /// Labels to remove (others are left alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_labels: Vec<String>,
    /// `close` or `reopen`, when the state must change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_event: Option<StateEvent>,
    /// The user ids to assign; they replace the issue's assignees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_ids: Option<Vec<u64>>,
    /// Make the issue confidential (`true`) or visible to everyone who can see the project (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidential: Option<bool>,
}

impl IssueUpdate {
    /// Whether the update changes nothing (and must not be sent).
    pub fn is_empty(&self) -> bool {
        self == &IssueUpdate::default()
    }
}

/// A note (comment) on a GitLab issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabNote {
    /// The note's id, unique on the instance: its comment link is keyed `NOTE#<id>`.
    pub id: u64,
    /// The text (Markdown); a copy the sync made starts with its prefix and ends with its marker.
    pub body: String,
    /// Who wrote it; for a copy of a QALITA comment, the service's own account.
    pub author: GitlabUser,
    /// A system note ("changed the description").
    #[serde(default)]
    pub system: bool,
    /// Visible to project members only.
    #[serde(default)]
    pub internal: bool,
    /// When it was written, by GitLab's clock.
    pub created_at: DateTime<Utc>,
    /// When it was last edited, when the answer says.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_a_positive_id_or_a_namespaced_path() {
        assert_eq!(GitlabProjectRef::parse("42").unwrap(), GitlabProjectRef::Id(GitlabProjectId::new(42).unwrap()));
        let path = GitlabProjectRef::parse("/group/sub.group/my-project/").unwrap();
        assert_eq!(path.to_string(), "group/sub.group/my-project");
        assert_eq!(path.api_segment(), "group%2Fsub.group%2Fmy-project");
        for bad in ["", "0", "project", "group//project", "group/pro ject", "group/.hidden", "a/b?c"] {
            assert!(GitlabProjectRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_project_reads_from_a_number_or_a_string() {
        let id: GitlabProjectRef = serde_json::from_str("7").unwrap();
        let path: GitlabProjectRef = serde_json::from_str("\"a/b\"").unwrap();
        assert_eq!((id.to_string(), path.to_string()), ("7".into(), "a/b".into()));
        assert!(serde_json::from_str::<GitlabProjectRef>("\"nope\"").is_err());
    }

    #[test]
    fn an_empty_update_is_recognised_and_sends_nothing() {
        assert!(IssueUpdate::default().is_empty());
        let update = IssueUpdate {
            add_labels: vec!["qalita".into()],
            state_event: Some(StateEvent::Close),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            serde_json::json!({"add_labels": ["qalita"], "state_event": "close"})
        );
    }
}
