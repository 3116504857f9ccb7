//! The GitLab payload, trimmed to the fields the sync uses. Deserialising into these types skips
//! every other field without building it, and large texts (descriptions, note bodies) are kept as
//! raw JSON slices: scanned once, copied verbatim, never unescaped and re-escaped.
//!
//! [`SYNC_FIELDS`] lists, as JSON pointers, every field these types keep; a test checks that a
//! trimmed real payload still carries each of them with its original value, and nothing else.

pub(crate) mod text;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Every field of a GitLab issue or note delivery that the sync uses, as JSON pointers (`*` stands
/// for any array index). The trimmed payload carries exactly these, where the delivery has them.
pub const SYNC_FIELDS: &[&str] = &[
    // Both kinds: what happened, who did it (people are mapped by username: emails are redacted).
    "/object_kind",
    "/event_type",
    "/user/id",
    "/user/username",
    "/user/name",
    "/project_id",
    "/project/id",
    "/project/path_with_namespace",
    "/project/web_url",
    // Issue events: the issue as it is now.
    "/object_attributes/id",
    "/object_attributes/iid",
    "/object_attributes/project_id",
    "/object_attributes/title",
    "/object_attributes/description",
    "/object_attributes/state",
    "/object_attributes/state_id",
    "/object_attributes/action",
    "/object_attributes/type",
    "/object_attributes/confidential",
    "/object_attributes/assignee_ids",
    "/object_attributes/assignee_id",
    "/object_attributes/author_id",
    "/object_attributes/created_at",
    "/object_attributes/updated_at",
    "/object_attributes/closed_at",
    "/object_attributes/last_edited_at",
    "/object_attributes/updated_by_id",
    "/object_attributes/url",
    "/object_attributes/labels/*/id",
    "/object_attributes/labels/*/title",
    "/labels/*/id",
    "/labels/*/title",
    "/assignees/*/id",
    "/assignees/*/username",
    "/assignees/*/name",
    // Issue events: what changed (previous and current values), for watermarks and echo checks.
    "/changes/title/previous",
    "/changes/title/current",
    "/changes/description/previous",
    "/changes/description/current",
    "/changes/state_id/previous",
    "/changes/state_id/current",
    "/changes/closed_at/previous",
    "/changes/closed_at/current",
    "/changes/updated_at/previous",
    "/changes/updated_at/current",
    "/changes/confidential/previous",
    "/changes/confidential/current",
    "/changes/labels/previous/*/id",
    "/changes/labels/previous/*/title",
    "/changes/labels/current/*/id",
    "/changes/labels/current/*/title",
    "/changes/assignees/previous/*/id",
    "/changes/assignees/previous/*/username",
    "/changes/assignees/previous/*/name",
    "/changes/assignees/current/*/id",
    "/changes/assignees/current/*/username",
    "/changes/assignees/current/*/name",
    // Note events: the note, and the issue it is on.
    "/object_attributes/note",
    "/object_attributes/noteable_type",
    "/object_attributes/noteable_id",
    "/object_attributes/system",
    "/object_attributes/internal",
    "/object_attributes/discussion_id",
    "/issue/id",
    "/issue/iid",
    "/issue/project_id",
    "/issue/title",
    "/issue/description",
    "/issue/state",
    "/issue/confidential",
    "/issue/assignee_ids",
    "/issue/updated_at",
    "/issue/labels/*/id",
    "/issue/labels/*/title",
];

/// A person in a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User<'a> {
    /// GitLab user id (absent in payloads of older GitLab versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The username: how people are mapped to QALITA users.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub username: Option<Cow<'a, str>>,
    /// The display name, for comment prefixes.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
}

/// The project a delivery is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project<'a> {
    /// The project's numeric id: the key of the message group (not `object_attributes.project_id`,
    /// which can differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `group/subgroup/project`, for routing and logs.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub path_with_namespace: Option<Cow<'a, str>>,
    /// The project's page.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub web_url: Option<Cow<'a, str>>,
}

/// A label, by id and title (colour and description are not synced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label<'a> {
    /// The label id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The label name: managed labels are matched by title.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub title: Option<Cow<'a, str>>,
}

/// A field's value before and after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    /// The value before.
    pub previous: T,
    /// The value after.
    pub current: T,
}

/// Large texts are kept as raw JSON: a string or `null`, copied verbatim.
pub type RawText<'a> = &'a RawValue;

/// The `changes` of an issue event, for the fields the sync looks at.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssueChanges<'a> {
    /// Title before and after.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Change<Option<Cow<'a, str>>>>,
    /// Description before and after (raw JSON strings).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Change<Option<RawText<'a>>>>,
    /// `1` opened, `2` closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_id: Option<Change<Option<u64>>>,
    /// Close time before and after.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Change<Option<Cow<'a, str>>>>,
    /// The provider timestamps of this change: the watermark of the fields it touches.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Change<Option<Cow<'a, str>>>>,
    /// Confidentiality before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<Change<Option<bool>>>,
    /// Labels before and after.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Change<Vec<Label<'a>>>>,
    /// Assignees before and after.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub assignees: Option<Change<Vec<User<'a>>>>,
}

/// `object_attributes` of an issue event (the issue after the change) or of a note event (the
/// note). One type for both, so that a delivery is read in a single pass before its kind is known;
/// fields the event does not have stay absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attributes<'a> {
    /// The issue's (or the note's) global id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The issue's number in its project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iid: Option<u64>,
    /// The project id as the issue records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// The title.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub title: Option<Cow<'a, str>>,
    /// The description (raw JSON string); it carries the hidden marker of a linked issue.
    #[serde(borrow, default, deserialize_with = "text::raw", skip_serializing_if = "Option::is_none")]
    pub description: Option<RawText<'a>>,
    /// `opened` or `closed`.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub state: Option<Cow<'a, str>>,
    /// `1` opened, `2` closed (absent in older payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_id: Option<u64>,
    /// `open`, `close`, `reopen`, `update`; absent for a "Test" delivery.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub action: Option<Cow<'a, str>>,
    /// `Issue`, `Incident`, or absent; work items of other types are not synced.
    #[serde(
        borrow,
        default,
        rename = "type",
        deserialize_with = "text::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub issue_type: Option<Cow<'a, str>>,
    /// Whether the issue is confidential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<bool>,
    /// The assignees' user ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_ids: Option<Vec<u64>>,
    /// The first assignee's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
    /// The author's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
    /// Creation time.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Cow<'a, str>>,
    /// Last update time: the watermark of this event.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Cow<'a, str>>,
    /// Close time.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Cow<'a, str>>,
    /// Last edit of title or description.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub last_edited_at: Option<Cow<'a, str>>,
    /// Who made the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by_id: Option<u64>,
    /// The issue's page.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'a, str>>,
    /// The labels.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<Label<'a>>>,
    // Note events only.
    /// The note's text (raw JSON string).
    #[serde(borrow, default, deserialize_with = "text::raw", skip_serializing_if = "Option::is_none")]
    pub note: Option<RawText<'a>>,
    /// `Issue`, `MergeRequest`, `Commit`, `Snippet`: only notes on issues are synced.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub noteable_type: Option<Cow<'a, str>>,
    /// The global id of the issue the note is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noteable_id: Option<u64>,
    /// A system note (GitLab does not send these, but a forged or future one is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<bool>,
    /// An internal note (visible to project members only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    /// The note's thread.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub discussion_id: Option<Cow<'a, str>>,
}

/// A trimmed `Issue Hook` / `Confidential Issue Hook` payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueEvent<'a> {
    /// Always `issue`.
    #[serde(borrow)]
    pub object_kind: Cow<'a, str>,
    /// `issue` or `confidential_issue`.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<Cow<'a, str>>,
    /// Who made the change.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
    /// The project.
    #[serde(borrow)]
    pub project: Project<'a>,
    /// The issue.
    #[serde(borrow)]
    pub object_attributes: Attributes<'a>,
    /// The labels.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<Label<'a>>>,
    /// The assignees.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub assignees: Option<Vec<User<'a>>>,
    /// What changed.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<IssueChanges<'a>>,
}

/// The issue a note is on, as the note event carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoteIssue<'a> {
    /// The issue's global id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The issue's number in its project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iid: Option<u64>,
    /// The project id as the issue records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// The title.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub title: Option<Cow<'a, str>>,
    /// The description (raw JSON string).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub description: Option<RawText<'a>>,
    /// `opened` or `closed`.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub state: Option<Cow<'a, str>>,
    /// Whether the issue is confidential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<bool>,
    /// The assignees' user ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_ids: Option<Vec<u64>>,
    /// Last update time.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Cow<'a, str>>,
    /// The labels.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<Label<'a>>>,
}

/// A trimmed `Note Hook` / `Confidential Note Hook` payload on an issue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoteEvent<'a> {
    /// Always `note`.
    #[serde(borrow)]
    pub object_kind: Cow<'a, str>,
    /// `note` or `confidential_note`.
    #[serde(borrow, default, deserialize_with = "text::optional", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<Cow<'a, str>>,
    /// The note's author.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
    /// The project id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// The project.
    #[serde(borrow)]
    pub project: Project<'a>,
    /// The note.
    #[serde(borrow)]
    pub object_attributes: Attributes<'a>,
    /// The issue the note is on.
    #[serde(borrow)]
    pub issue: NoteIssue<'a>,
}

impl GitlabPayload<'_> {
    /// Drops the large texts (descriptions, the note's body), for a message that would not fit the
    /// queue; the envelope then says so (`delivery.texts_omitted`).
    pub fn omit_texts(&mut self) {
        match self {
            GitlabPayload::Issue(event) => {
                event.object_attributes.description = None;
                if let Some(changes) = event.changes.as_mut() {
                    changes.description = None;
                }
            }
            GitlabPayload::Note(event) => {
                event.object_attributes.note = None;
                event.issue.description = None;
            }
        }
    }
}

/// The trimmed payload of a queued GitLab delivery. Readers pick [`IssueEvent`] or [`NoteEvent`]
/// from the envelope's `kind`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum GitlabPayload<'a> {
    /// An issue event.
    Issue(IssueEvent<'a>),
    /// A note on an issue.
    Note(NoteEvent<'a>),
}

/// Reads a GitLab delivery's message back into its trimmed payload.
pub fn read_issue_event(payload: &RawValue) -> Result<IssueEvent<'_>, serde_json::Error> {
    serde_json::from_str(payload.get())
}

/// Reads a note delivery's message back into its trimmed payload.
pub fn read_note_event(payload: &RawValue) -> Result<NoteEvent<'_>, serde_json::Error> {
    serde_json::from_str(payload.get())
}
