//! What a queued GitLab delivery says about its issue or note, read from the trimmed payload the
//! webhook function queued, in the sync's own types.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::gitlab::{IssueChanges, IssueEvent, NoteEvent};
use crate::domain::gitlab::{GitlabIssue, GitlabUser, IssueState};
use crate::domain::link::Field;
use crate::domain::marker::Marker;
use crate::domain::sync::Status;
use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};

/// A delivery that cannot be synced: it lacks what identifies its issue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the GitLab delivery cannot be synced: {0}")]
pub struct FactsError(pub String);

/// A GitLab time as webhooks give it: RFC 3339 (`2026-05-28T06:11:46.241Z`), or the older
/// `2015-05-17 17:06:40 UTC`.
pub fn parse_gitlab_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(time.with_timezone(&Utc));
    }
    let bare = text.trim().trim_end_matches("UTC").trim();
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(bare, format).ok())
        .map(|naive| naive.and_utc())
        .or_else(|| DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S %z").ok().map(|t| t.with_timezone(&Utc)))
}

/// The GitLab issue as an `Issue Hook` (or a note's `issue`) shows it after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabIssueFacts {
    /// Its project (`project.id`).
    pub project_id: GitlabProjectId,
    /// Its number.
    pub iid: Iid,
    /// Its global id.
    pub issue_id: Option<u64>,
    /// Open or closed.
    pub state: IssueState,
    /// Its labels; `None` when the delivery does not say.
    pub labels: Option<BTreeSet<String>>,
    /// Its first assignee: `Some(None)` when nobody is assigned, `None` when the delivery does not say.
    pub assignee: Option<Option<GitlabUser>>,
    /// Its title.
    pub title: Option<String>,
    /// Its description; `None` when the delivery does not carry it (left out of a large message).
    pub description: Option<String>,
    /// GitLab's `updated_at`: the watermark of the change.
    pub updated_at: Option<DateTime<Utc>>,
    /// `open`, `close`, `reopen`, `update`; `None` for a "Test" delivery.
    pub action: Option<String>,
    /// The QALITA issue whose hidden marker ends the description.
    pub marked: Option<QalitaIssueId>,
    /// Who made the change (username).
    pub by: Option<String>,
    /// The fields the delivery's `changes` say this event changed (`None`: not known, as for an
    /// issue read from the API). A change back to the value the link knows still moves the field's
    /// watermark, so that an older delivery arriving after it changes nothing.
    pub changed: Option<BTreeSet<Field>>,
    /// The state before the change, when the delivery's `changes` say.
    pub previous_state: Option<IssueState>,
    /// The labels before the change, when the delivery's `changes` say.
    pub previous_labels: Option<BTreeSet<String>>,
    /// The values were read from the API after the delivery came (GitLab had changed since): a
    /// delivery's facts with today's values.
    pub refreshed: bool,
}

impl GitlabIssueFacts {
    /// Reads an issue delivery.
    pub fn of_issue(event: &IssueEvent<'_>) -> Result<Self, FactsError> {
        let attributes = &event.object_attributes;
        let project_id = event
            .project
            .id
            .or(attributes.project_id)
            .and_then(|id| GitlabProjectId::new(id).ok())
            .ok_or_else(|| FactsError("no project id".into()))?;
        let iid = attributes.iid.and_then(|iid| Iid::new(iid).ok()).ok_or_else(|| FactsError("no issue iid".into()))?;
        let description = match attributes.description {
            Some(raw) => serde_json::from_str::<Option<String>>(raw.get())
                .map_err(|e| FactsError(format!("the description does not read: {e}")))?
                .map(Some)
                .unwrap_or(Some(String::new())),
            None => None,
        };
        let labels = event
            .labels
            .as_ref()
            .or(attributes.labels.as_ref())
            .map(|labels| labels.iter().filter_map(|l| l.title.as_deref().map(str::to_owned)).collect());
        let assignee = match (&event.assignees, &attributes.assignee_ids) {
            (Some(assignees), _) => Some(assignees.first().and_then(|user| {
                Some(GitlabUser {
                    id: user.id?,
                    username: user.username.as_deref().unwrap_or_default().to_owned(),
                    name: user.name.as_deref().unwrap_or_default().to_owned(),
                })
            })),
            (None, Some(ids)) => {
                Some(ids.first().map(|&id| GitlabUser { id, username: String::new(), name: String::new() }))
            }
            (None, None) => None,
        };
        Ok(GitlabIssueFacts {
            project_id,
            iid,
            issue_id: attributes.id,
            state: state_of(attributes.state.as_deref(), attributes.state_id),
            labels,
            assignee,
            title: attributes.title.as_deref().map(str::to_owned),
            marked: description.as_deref().and_then(Marker::issue_of),
            description,
            updated_at: attributes.updated_at.as_deref().and_then(parse_gitlab_time),
            action: attributes.action.as_deref().map(str::to_owned),
            by: event.user.as_ref().and_then(|u| u.username.as_deref().map(str::to_owned)),
            changed: event.changes.as_ref().map(changed_fields),
            previous_state: event
                .changes
                .as_ref()
                .and_then(|c| c.state_id.as_ref())
                .and_then(|c| c.previous)
                .map(|id| state_of(None, Some(id))),
            previous_labels: event
                .changes
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .map(|c| c.previous.iter().filter_map(|l| l.title.as_deref().map(str::to_owned)).collect()),
            refreshed: false,
        })
    }

    /// The facts completed with the description a delivery left out to fit the queue, read from
    /// GitLab: the marker that finds the link is in it. The delivery's `changes` lost the
    /// description too, so whether it changed is decided by comparing it with what the link knows.
    pub fn with_description_read(mut self, description: String) -> Self {
        self.marked = Marker::issue_of(&description);
        self.description = Some(description);
        if let Some(changed) = self.changed.as_mut() {
            changed.insert(Field::Description);
        }
        self
    }

    /// The issue as the API returns it (the reconcile reads it when deliveries were lost).
    pub fn of_api(issue: &GitlabIssue) -> Self {
        let description = issue.description.clone().unwrap_or_default();
        GitlabIssueFacts {
            project_id: issue.project_id,
            iid: issue.iid,
            issue_id: Some(issue.id),
            state: issue.state,
            labels: Some(issue.labels.iter().cloned().collect()),
            assignee: Some(issue.assignees.first().cloned()),
            title: Some(issue.title.clone()),
            marked: Marker::issue_of(&description),
            description: Some(description),
            updated_at: Some(issue.updated_at),
            action: None,
            by: None,
            changed: None,
            previous_state: None,
            previous_labels: None,
            refreshed: false,
        }
    }

    /// The status the issue shows, as the inbound sync compares it.
    pub fn status(&self, muted_label: &str) -> Status {
        Status::of(self.state, self.labels.as_ref().is_some_and(|l| l.contains(muted_label)))
    }

    /// Whether this event is a change of `field`. A delivery speaks only for what its `changes`
    /// name: the other fields it shows may come from an older change, delivered on its own. The
    /// status is changed by a change of the state, or of the muted label's presence. Without
    /// `changes` (an issue read from the API) every field counts.
    pub fn changes(&self, field: Field, muted_label: &str) -> bool {
        let Some(changed) = &self.changed else { return true };
        match field {
            Field::Status => self.state_changed() || self.muted_changed(muted_label),
            other => changed.contains(&other),
        }
    }

    /// Whether the delivery changed the state.
    pub fn state_changed(&self) -> bool {
        self.changed.is_none() || self.previous_state.is_some_and(|before| before != self.state)
    }

    /// Whether the delivery added or removed the muted label.
    pub fn muted_changed(&self, muted_label: &str) -> bool {
        match (&self.changed, &self.previous_labels) {
            (None, _) => true,
            (Some(_), Some(before)) => before.contains(muted_label) != self.muted(muted_label),
            (Some(_), None) => false,
        }
    }

    /// Whether the issue carries the muted label.
    pub fn muted(&self, muted_label: &str) -> bool {
        self.labels.as_ref().is_some_and(|l| l.contains(muted_label))
    }
}

/// The sync fields a delivery's `changes` name. A label change counts for the status only when
/// it is the muted label's (any label may be it: the planner checks the value).
fn changed_fields(changes: &IssueChanges<'_>) -> BTreeSet<Field> {
    let mut fields = BTreeSet::new();
    if changes.state_id.is_some() || changes.closed_at.is_some() || changes.labels.is_some() {
        fields.insert(Field::Status);
    }
    if changes.assignees.is_some() {
        fields.insert(Field::Assignee);
    }
    if changes.title.is_some() {
        fields.insert(Field::Title);
    }
    if changes.description.is_some() {
        fields.insert(Field::Description);
    }
    fields
}

fn state_of(state: Option<&str>, state_id: Option<u64>) -> IssueState {
    match (state, state_id) {
        (Some("closed"), _) | (None, Some(2)) => IssueState::Closed,
        _ => IssueState::Opened,
    }
}

/// A note delivery on an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabNoteFacts {
    /// The note id.
    pub note_id: u64,
    /// The issue's project.
    pub project_id: GitlabProjectId,
    /// The issue's number.
    pub iid: Iid,
    /// The note's text; `None` when the delivery does not carry it.
    pub body: Option<String>,
    /// The author's username.
    pub username: String,
    /// The author's display name.
    pub name: Option<String>,
    /// A system note.
    pub system: bool,
    /// An internal note.
    pub internal: bool,
    /// `create` or `update`.
    pub action: Option<String>,
    /// The QALITA issue whose marker ends the issue's description, if the delivery carries it.
    pub marked: Option<QalitaIssueId>,
}

impl GitlabNoteFacts {
    /// A note as the API lists it (the reconcile reads them when deliveries were lost).
    pub fn of_api(project_id: GitlabProjectId, iid: Iid, note: &crate::domain::gitlab::GitlabNote) -> Self {
        GitlabNoteFacts {
            note_id: note.id,
            project_id,
            iid,
            body: Some(note.body.clone()),
            username: note.author.username.clone(),
            name: Some(note.author.name.clone()),
            system: note.system,
            internal: note.internal,
            action: None,
            marked: None,
        }
    }

    /// Reads a note delivery; `Ok(None)` for a note on something else than an issue.
    pub fn of_note(event: &NoteEvent<'_>) -> Result<Option<Self>, FactsError> {
        let attributes = &event.object_attributes;
        if attributes.noteable_type.as_deref().is_some_and(|t| t != "Issue") {
            return Ok(None);
        }
        let project_id = event
            .project
            .id
            .or(event.project_id)
            .or(event.issue.project_id)
            .and_then(|id| GitlabProjectId::new(id).ok())
            .ok_or_else(|| FactsError("no project id".into()))?;
        let iid =
            event.issue.iid.and_then(|iid| Iid::new(iid).ok()).ok_or_else(|| FactsError("no issue iid".into()))?;
        let note_id = attributes.id.ok_or_else(|| FactsError("no note id".into()))?;
        let body = match attributes.note {
            Some(raw) => Some(
                serde_json::from_str::<Option<String>>(raw.get())
                    .map_err(|e| FactsError(format!("the note does not read: {e}")))?
                    .unwrap_or_default(),
            ),
            None => None,
        };
        let description = match event.issue.description {
            Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).ok().flatten(),
            None => None,
        };
        let user = event.user.as_ref();
        Ok(Some(GitlabNoteFacts {
            note_id,
            project_id,
            iid,
            body,
            username: user.and_then(|u| u.username.as_deref()).unwrap_or("unknown").to_owned(),
            name: user.and_then(|u| u.name.as_deref()).map(str::to_owned),
            system: attributes.system.unwrap_or(false),
            internal: is_internal(event),
            action: attributes.action.as_deref().map(str::to_owned),
            marked: description.as_deref().and_then(Marker::issue_of),
        }))
    }
}

/// Whether a note is internal (visible to project members only, never copied unless configured).
///
/// The note's own flag decides: `internal`, or `confidential` as older GitLab called it. A plain
/// comment on a confidential issue also arrives as `Confidential Note Hook`, so the hook alone
/// does not make a note internal. Payloads of GitLab 15–16 carry neither flag: under the
/// confidential hook, a note on an issue that is not confidential can then only be internal.
fn is_internal(event: &NoteEvent<'_>) -> bool {
    match event.object_attributes.internal.or(event.object_attributes.confidential) {
        Some(flag) => flag,
        None => event.event_type.as_deref() == Some("confidential_note") && event.issue.confidential != Some(true),
    }
}
