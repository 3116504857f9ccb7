//! The simulated instance's data: users and tokens, projects with their labels, issues and notes,
//! and the rules GitLab applies when they change. Every change ends in [`Model::commit`], which
//! appends it to the [`Change`] feed: the one place webhooks can be built from.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use qalita_gitlab_core::domain::gitlab::StateEvent;

use super::access::{TokenRecord, level};
use super::config::{SimConfig, SimUser};
use super::reply::Reply;

/// GitLab's longest issue title.
const TITLE_LIMIT: usize = 255;
/// GitLab's longest issue description.
const DESCRIPTION_LIMIT: usize = 1_048_576;
/// GitLab's longest note.
const NOTE_LIMIT: usize = 1_000_000;

/// A change the simulated GitLab made, in the order it made them: what a webhook reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// The project id.
    pub project_id: u64,
    /// The issue.
    pub iid: u64,
    /// The user whose request made it (`None` for a test's switch such as `delete_issue`).
    pub by: Option<u64>,
    /// The `X-Gitlab-Event-UUID` the request carried, which GitLab puts on the hooks it causes.
    pub event_uuid: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The kinds of [`Change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// An issue was created.
    IssueCreated,
    /// An issue's fields changed: `title`, `description`, `labels`, `state`, `assignees`,
    /// `confidential`.
    IssueUpdated {
        /// The fields that changed.
        fields: Vec<&'static str>,
    },
    /// A note was added to an issue.
    NoteCreated {
        /// The note id.
        note_id: u64,
        /// Whether it is internal.
        internal: bool,
    },
    /// A note's body was edited.
    NoteUpdated {
        /// The note id.
        note_id: u64,
        /// Whether it is internal.
        internal: bool,
    },
    /// An issue was deleted.
    IssueDeleted,
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IssueState {
    Opened,
    Closed,
}

pub(super) struct Note {
    pub(super) id: u64,
    pub(super) body: String,
    pub(super) author: u64,
    pub(super) system: bool,
    pub(super) internal: bool,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    /// Who last edited the body (GitLab's `updated_by_id`; the REST entity does not show it).
    pub(super) updated_by: Option<u64>,
}

pub(super) struct Issue {
    pub(super) id: u64,
    pub(super) iid: u64,
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) state: IssueState,
    pub(super) labels: Vec<String>,
    pub(super) assignees: Vec<u64>,
    pub(super) author: u64,
    pub(super) confidential: bool,
    /// GitLab's `issue_type`: an incident (`true`) or an issue. Current GitLab reports an
    /// incident's creation and updates as a `work_item`, its close and reopen as an `issue`.
    pub(super) incident: bool,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) closed_by: Option<u64>,
    /// Who last changed a field, and who last edited the title or description, and when.
    pub(super) updated_by: Option<u64>,
    pub(super) last_edited: Option<(DateTime<Utc>, u64)>,
    pub(super) notes: Vec<Note>,
}

impl Issue {
    /// This issue with the fields of `fields` (notes left out): how a hook showed it midway.
    pub(super) fn as_of(&self, fields: &IssueSnapshot) -> Issue {
        Issue {
            id: self.id,
            iid: self.iid,
            title: fields.title.clone(),
            description: fields.description.clone(),
            state: fields.state,
            labels: fields.labels.clone(),
            assignees: fields.assignees.clone(),
            author: self.author,
            confidential: fields.confidential,
            incident: self.incident,
            created_at: self.created_at,
            updated_at: fields.updated_at,
            closed_at: fields.closed_at,
            closed_by: if fields.state == IssueState::Closed { self.closed_by } else { None },
            updated_by: fields.updated_by,
            last_edited: fields.last_edited,
            notes: Vec::new(),
        }
    }

    fn snapshot(&self) -> IssueSnapshot {
        IssueSnapshot {
            title: self.title.clone(),
            description: self.description.clone(),
            state: self.state,
            labels: self.labels.clone(),
            assignees: self.assignees.clone(),
            confidential: self.confidential,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
            closed_at: self.closed_at,
            last_edited: self.last_edited,
        }
    }
}

/// An issue's fields as they were before an update: the `previous` side of its webhook's `changes`.
#[derive(Debug, Clone)]
pub(super) struct IssueSnapshot {
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) state: IssueState,
    pub(super) labels: Vec<String>,
    pub(super) assignees: Vec<u64>,
    pub(super) confidential: bool,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) updated_by: Option<u64>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) last_edited: Option<(DateTime<Utc>, u64)>,
}

pub(super) struct Project {
    pub(super) id: u64,
    pub(super) path: String,
    /// The project's label names, in order of creation.
    pub(super) labels: Vec<String>,
    pub(super) issues: BTreeMap<u64, Issue>,
    next_iid: u64,
}

/// A new issue as `POST /projects/:id/issues` asks it.
pub(super) struct IssueDraft {
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) labels: Vec<String>,
    pub(super) assignee_ids: Vec<u64>,
    pub(super) confidential: bool,
    /// `issue_type=incident`.
    pub(super) incident: bool,
}

/// A change as `PUT /projects/:id/issues/:iid` asks it.
#[derive(Default)]
pub(super) struct IssueEdit {
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) labels: Option<Vec<String>>,
    pub(super) add_labels: Vec<String>,
    pub(super) remove_labels: Vec<String>,
    pub(super) state_event: Option<StateEvent>,
    pub(super) assignee_ids: Option<Vec<u64>>,
    pub(super) confidential: Option<bool>,
    /// `issue_type`: `incident` (`Some(true)`) or `issue`.
    pub(super) incident: Option<bool>,
}

/// A change as `PUT /projects/:id/issues/:iid/notes/:note_id` asks it.
pub(super) struct NoteEdit {
    pub(super) body: Option<String>,
    /// The deprecated `confidential`, which can only repeat the note's current value.
    pub(super) confidential: Option<bool>,
}

/// Who asks, with the request's event UUID, and when.
pub(super) struct Actor {
    pub(super) user: u64,
    pub(super) event_uuid: Option<String>,
    pub(super) now: DateTime<Utc>,
}

/// The data of the instance.
pub(super) struct Model {
    pub(super) users: BTreeMap<u64, SimUser>,
    /// Each token's value and record.
    tokens: Vec<(String, TokenRecord)>,
    /// Roles set by a test, by (project, user); everyone else is Maintainer of every project.
    access: BTreeMap<(u64, u64), u8>,
    /// Groups a test added, by id: their full paths. A project is in a group when its path starts
    /// with the group's path and a slash (subgroups included).
    pub(super) groups: BTreeMap<u64, String>,
    /// Group roles set by a test, by (group, user); everyone else is Owner of every group.
    group_access: BTreeMap<(u64, u64), u8>,
    pub(super) projects: BTreeMap<u64, Project>,
    multiple_assignees: bool,
    next_issue_id: u64,
    next_note_id: u64,
    pub(super) changes: Vec<Change>,
    /// The issue before each update, by the index of its [`ChangeKind::IssueUpdated`] in `changes`.
    pub(super) previous: BTreeMap<usize, IssueSnapshot>,
    /// For a change GitLab reports with the issue as it was midway through a request (the state
    /// changed, the other fields not yet), the fields its hook shows, by change index.
    pub(super) rendered: BTreeMap<usize, IssueSnapshot>,
}

impl Model {
    pub(super) fn new(config: &SimConfig) -> Self {
        Model {
            users: config.users.iter().map(|user| (user.id, user.clone())).collect(),
            tokens: config
                .tokens
                .iter()
                .enumerate()
                .map(|(index, (token, user))| (token.clone(), TokenRecord::new(index as u64 + 1, *user)))
                .collect(),
            access: BTreeMap::new(),
            groups: BTreeMap::new(),
            group_access: BTreeMap::new(),
            projects: BTreeMap::new(),
            multiple_assignees: config.multiple_assignees,
            // Global ids far from iids, so that a client mixing them up fails visibly.
            next_issue_id: 90_001,
            next_note_id: 70_001,
            changes: Vec::new(),
            previous: BTreeMap::new(),
            rendered: BTreeMap::new(),
        }
    }

    /// The user a token belongs to and the token's record, if the token is known (revoked and
    /// expired ones included: the caller refuses them with their own answer).
    pub(super) fn token(&self, token: &str) -> Option<(&SimUser, &TokenRecord)> {
        let record = &self.tokens.iter().find(|(known, _)| known == token)?.1;
        Some((self.users.get(&record.user_id)?, record))
    }

    /// The record of a token, to change it.
    ///
    /// # Panics
    /// When the simulator does not know the token: a mistake in the test.
    pub(super) fn token_mut(&mut self, token: &str) -> &mut TokenRecord {
        match self.tokens.iter_mut().find(|(known, _)| known == token) {
            Some((_, record)) => record,
            None => panic!("the simulator has no such token"),
        }
    }

    /// Rotates the token of record `id`, as `POST /personal_access_tokens/self/rotate` does: the
    /// old token is revoked at once and a new one of the same name, user and scopes expires on
    /// `expires_at`. The new token's value and record.
    pub(super) fn rotate_token(&mut self, id: u64, expires_at: NaiveDate, now: DateTime<Utc>) -> (String, TokenRecord) {
        let next_id = self.tokens.iter().map(|(_, record)| record.id).max().unwrap_or(0) + 1;
        let mut record = TokenRecord::new(next_id, 0);
        if let Some((_, old)) = self.tokens.iter_mut().find(|(_, record)| record.id == id) {
            old.revoked = true;
            record = TokenRecord { id: next_id, revoked: false, last_used_at: None, ..old.clone() };
        }
        record.created_at = now;
        record.expires_at = Some(expires_at);
        let value = format!("glpat-{}", super::webhook::new_uuid().replace('-', ""));
        self.tokens.push((value.clone(), record.clone()));
        (value, record)
    }

    /// Notes that a token was used now (`last_used_at`).
    pub(super) fn touch_token(&mut self, token: &str, now: DateTime<Utc>) {
        if let Some((_, record)) = self.tokens.iter_mut().find(|(known, _)| known == token) {
            record.last_used_at = Some(now);
        }
    }

    /// A user's access level in a project: what a test set, else Maintainer.
    pub(super) fn access_level(&self, project: u64, user: u64) -> u8 {
        self.access.get(&(project, user)).copied().unwrap_or(level::MAINTAINER)
    }

    /// Sets a user's access level in a project (`level::NO_ACCESS`: not a member).
    pub(super) fn set_access_level(&mut self, project: u64, user: u64, access: u8) {
        self.access.insert((project, user), access);
    }

    /// A user's access level in a group: what a test set, else Owner.
    pub(super) fn group_access_level(&self, group: u64, user: u64) -> u8 {
        self.group_access.get(&(group, user)).copied().unwrap_or(level::OWNER)
    }

    /// Sets a user's access level in a group (`level::NO_ACCESS`: not a member).
    pub(super) fn set_group_access_level(&mut self, group: u64, user: u64, access: u8) {
        self.group_access.insert((group, user), access);
    }

    /// The group a decoded `:id` segment names: its id, or its full path (without regard to case).
    pub(super) fn group_by_segment(&self, segment: &str) -> Option<u64> {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            let id = segment.parse().ok()?;
            return self.groups.contains_key(&id).then_some(id);
        }
        self.groups.iter().find(|(_, path)| path.eq_ignore_ascii_case(segment)).map(|(id, _)| *id)
    }

    /// Whether `project` is in `group` or one of its subgroups.
    pub(super) fn in_group(&self, project: u64, group: u64) -> bool {
        match (self.projects.get(&project), self.groups.get(&group)) {
            (Some(project), Some(group)) => project.path.get(..group.len()).is_some_and(|prefix| {
                prefix.eq_ignore_ascii_case(group) && project.path[group.len()..].starts_with('/')
            }),
            _ => false,
        }
    }

    /// Adds a user (or renames one).
    pub(super) fn add_user(&mut self, user: SimUser) {
        self.users.insert(user.id, user);
    }

    /// Adds a project.
    ///
    /// # Panics
    /// When the id or the path is taken: a mistake in the test.
    pub(super) fn add_project(&mut self, id: u64, path: &str) {
        assert!(
            !self.projects.contains_key(&id) && self.project_by_segment(path).is_none(),
            "the simulator already has project {id} or {path}"
        );
        let project = Project { id, path: path.to_owned(), labels: Vec::new(), issues: BTreeMap::new(), next_iid: 1 };
        self.projects.insert(id, project);
    }

    /// The project a decoded `:id` segment names: its id, or its full path (without regard to
    /// case, as GitLab resolves paths).
    pub(super) fn project_by_segment(&self, segment: &str) -> Option<u64> {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            let id = segment.parse().ok()?;
            return self.projects.contains_key(&id).then_some(id);
        }
        self.projects.values().find(|project| project.path.eq_ignore_ascii_case(segment)).map(|project| project.id)
    }

    /// An issue, or GitLab's 404.
    pub(super) fn issue(&self, project: u64, iid: u64) -> Result<&Issue, Reply> {
        self.projects.get(&project).and_then(|p| p.issues.get(&iid)).ok_or_else(issue_not_found)
    }

    fn issue_mut(&mut self, project: u64, iid: u64) -> Result<&mut Issue, Reply> {
        self.projects.get_mut(&project).and_then(|p| p.issues.get_mut(&iid)).ok_or_else(issue_not_found)
    }

    /// Creates an issue; missing labels are created in the project, unknown assignees ignored.
    pub(super) fn create_issue(&mut self, project: u64, draft: IssueDraft, actor: &Actor) -> Result<u64, Reply> {
        validate_title(&draft.title)?;
        validate_description(draft.description.as_deref())?;
        let assignees = self.assignable(&draft.assignee_ids);
        let id = self.next_issue_id;
        let project_data = self.projects.get_mut(&project).ok_or_else(project_not_found)?;
        let labels = ensure_labels(project_data, &draft.labels);
        let iid = project_data.next_iid;
        let issue = Issue {
            id,
            iid,
            title: draft.title,
            description: draft.description,
            state: IssueState::Opened,
            labels,
            assignees,
            author: actor.user,
            confidential: draft.confidential,
            incident: draft.incident,
            created_at: actor.now,
            updated_at: actor.now,
            closed_at: None,
            closed_by: None,
            updated_by: None,
            last_edited: None,
            notes: Vec::new(),
        };
        project_data.issues.insert(iid, issue);
        project_data.next_iid += 1;
        self.next_issue_id += 1;
        self.commit(ChangeKind::IssueCreated, project, iid, actor);
        Ok(iid)
    }

    /// Changes an issue. Nothing that equals the current value counts as a change: an update
    /// that changes nothing leaves `updated_at` alone and reports no change, as GitLab does.
    pub(super) fn update_issue(&mut self, project: u64, iid: u64, edit: IssueEdit, actor: &Actor) -> Result<(), Reply> {
        if let Some(title) = &edit.title {
            validate_title(title)?;
        }
        validate_description(edit.description.as_deref())?;
        let assignees = edit.assignee_ids.as_deref().map(|ids| self.assignable(ids));
        let mut fields = Vec::new();
        let mut system_notes = Vec::new();
        let before;
        {
            let project_data = self.projects.get_mut(&project).ok_or_else(project_not_found)?;
            let mut labels = project_data.issues.get(&iid).ok_or_else(issue_not_found)?.labels.clone();
            if let Some(replacement) = &edit.labels {
                labels = ensure_labels(project_data, replacement);
            }
            for added in ensure_labels(project_data, &edit.add_labels) {
                if !labels.contains(&added) {
                    labels.push(added);
                }
            }
            labels.retain(|label| !edit.remove_labels.contains(label));
            labels.sort();
            let issue = project_data.issues.get_mut(&iid).ok_or_else(issue_not_found)?;
            before = issue.snapshot();
            if let Some(title) = edit.title.filter(|title| *title != issue.title) {
                system_notes.push(format!("changed title from **{}** to **{title}**", issue.title));
                issue.title = title;
                fields.push("title");
            }
            if let Some(description) = edit.description.filter(|d| Some(d) != issue.description.as_ref()) {
                system_notes.push("changed the description".to_owned());
                issue.description = Some(description);
                fields.push("description");
            }
            if labels != issue.labels {
                // Label changes are resource events in GitLab, not notes.
                issue.labels = labels;
                fields.push("labels");
            }
            let state = match edit.state_event {
                Some(StateEvent::Close) => IssueState::Closed,
                Some(StateEvent::Reopen) => IssueState::Opened,
                None => issue.state,
            };
            if state != issue.state {
                issue.state = state;
                (issue.closed_at, issue.closed_by) =
                    if state == IssueState::Closed { (Some(actor.now), Some(actor.user)) } else { (None, None) };
                fields.push("state");
            }
            if let Some(assignees) = assignees.filter(|a| *a != issue.assignees) {
                system_notes.extend(assignee_notes(&self.users, &issue.assignees, &assignees));
                issue.assignees = assignees;
                fields.push("assignees");
            }
            if let Some(confidential) = edit.confidential.filter(|c| *c != issue.confidential) {
                system_notes.push(
                    if confidential { "made the issue confidential" } else { "made the issue visible to everyone" }
                        .to_owned(),
                );
                issue.confidential = confidential;
                fields.push("confidential");
            }
            if let Some(incident) = edit.incident.filter(|i| *i != issue.incident) {
                system_notes.push(
                    if incident {
                        "changed type from issue to incident"
                    } else {
                        "changed type from incident to issue"
                    }
                    .to_owned(),
                );
                issue.incident = incident;
                fields.push("issue_type");
            }
            if !fields.is_empty() {
                issue.updated_at = actor.now;
                issue.updated_by = Some(actor.user);
            }
            if fields.contains(&"title") || fields.contains(&"description") {
                issue.last_edited = Some((actor.now, actor.user));
            }
        }
        for body in system_notes {
            self.add_note(project, iid, actor, body, true, false)?;
        }
        if fields.contains(&"state") && fields.len() > 1 {
            // GitLab changes the state first, and its close or reopen service fires its own hook
            // with the issue's other fields as they were; then it saves the rest and fires the
            // `update` hook (`IssuableBaseService#update`: `change_state` before the save).
            let issue = self.issue(project, iid)?;
            let mut middle = before.clone();
            (middle.state, middle.closed_at) = (issue.state, issue.closed_at);
            (middle.updated_at, middle.updated_by) = (issue.updated_at, issue.updated_by);
            self.previous.insert(self.changes.len(), before);
            self.rendered.insert(self.changes.len(), middle.clone());
            self.commit(ChangeKind::IssueUpdated { fields: vec!["state"] }, project, iid, actor);
            fields.retain(|field| *field != "state");
            self.previous.insert(self.changes.len(), middle);
            self.commit(ChangeKind::IssueUpdated { fields }, project, iid, actor);
        } else if !fields.is_empty() {
            self.previous.insert(self.changes.len(), before);
            self.commit(ChangeKind::IssueUpdated { fields }, project, iid, actor);
        }
        Ok(())
    }

    /// Adds a note by the actor; it touches the issue's `updated_at`, as in GitLab.
    pub(super) fn create_note(
        &mut self,
        project: u64,
        iid: u64,
        body: String,
        internal: bool,
        actor: &Actor,
    ) -> Result<u64, Reply> {
        self.issue(project, iid)?;
        if body.trim().is_empty() {
            return Err(Reply::invalid_field("note", "can't be blank"));
        }
        if body.chars().count() > NOTE_LIMIT {
            return Err(Reply::invalid_field("note", &format!("is too long (maximum is {NOTE_LIMIT} characters)")));
        }
        let note_id = self.add_note(project, iid, actor, body, false, internal)?;
        self.issue_mut(project, iid)?.updated_at = actor.now;
        self.commit(ChangeKind::NoteCreated { note_id, internal }, project, iid, actor);
        Ok(note_id)
    }

    /// A note of an issue, system notes included, or GitLab's 404 of the issue, then of the note.
    pub(super) fn note(&self, project: u64, iid: u64, note_id: u64) -> Result<&Note, Reply> {
        self.issue(project, iid)?.notes.iter().find(|note| note.id == note_id).ok_or_else(note_not_found)
    }

    /// Edits a note as `PUT …/notes/:note_id` does (GitLab's `update_note` helper and
    /// `Notes::UpdateService`): only its author may (`admin_note`, which no one has on a system
    /// note), its confidentiality cannot change, and no body or the same body changes nothing. A
    /// new body sets the note's `updated_at` and `updated_by`, and touches the issue's `updated_at`
    /// (`Note`'s `after_save :touch_noteable`). True when the body changed.
    pub(super) fn update_note(
        &mut self,
        project: u64,
        iid: u64,
        note_id: u64,
        edit: NoteEdit,
        actor: &Actor,
    ) -> Result<bool, Reply> {
        let note = self.note(project, iid, note_id)?;
        if note.author != actor.user || note.system {
            return Err(Reply::message(403, "403 Forbidden"));
        }
        let internal = note.internal;
        if edit.confidential.is_some_and(|confidential| confidential != internal) {
            return Err(invalid_note("confidential", "can not be changed for existing notes"));
        }
        let Some(body) = edit.body.filter(|body| *body != note.body) else { return Ok(false) };
        if body.trim().is_empty() {
            return Err(invalid_note("note", "can't be blank"));
        }
        if body.chars().count() > NOTE_LIMIT {
            return Err(invalid_note("note", &format!("is too long (maximum is {NOTE_LIMIT} characters)")));
        }
        let issue = self.issue_mut(project, iid)?;
        issue.updated_at = actor.now;
        let note = issue.notes.iter_mut().find(|note| note.id == note_id).ok_or_else(note_not_found)?;
        note.body = body;
        note.updated_at = actor.now;
        note.updated_by = Some(actor.user);
        self.commit(ChangeKind::NoteUpdated { note_id, internal }, project, iid, actor);
        Ok(true)
    }

    fn add_note(
        &mut self,
        project: u64,
        iid: u64,
        actor: &Actor,
        body: String,
        system: bool,
        internal: bool,
    ) -> Result<u64, Reply> {
        let id = self.next_note_id;
        let note = Note {
            id,
            body,
            author: actor.user,
            system,
            internal,
            created_at: actor.now,
            updated_at: actor.now,
            updated_by: None,
        };
        self.issue_mut(project, iid)?.notes.push(note);
        self.next_note_id += 1;
        Ok(id)
    }

    /// Deletes an issue (its iid is never given again). False when there is none.
    pub(super) fn delete_issue(&mut self, project: u64, iid: u64, now: DateTime<Utc>) -> bool {
        let removed = self.projects.get_mut(&project).and_then(|p| p.issues.remove(&iid)).is_some();
        if removed {
            self.changes.push(Change {
                kind: ChangeKind::IssueDeleted,
                project_id: project,
                iid,
                by: None,
                event_uuid: None,
                at: now,
            });
        }
        removed
    }

    /// Records a change: every mutation made through the API ends here (a test's `delete_issue`
    /// records its own).
    fn commit(&mut self, kind: ChangeKind, project_id: u64, iid: u64, actor: &Actor) {
        self.changes.push(Change {
            kind,
            project_id,
            iid,
            by: Some(actor.user),
            event_uuid: actor.event_uuid.clone(),
            at: actor.now,
        });
    }

    /// The assignees GitLab keeps of `ids`: known users (0 means "nobody"), only the first on the
    /// Free tier.
    fn assignable(&self, ids: &[u64]) -> Vec<u64> {
        let mut kept: Vec<u64> = Vec::new();
        for id in ids.iter().filter(|id| self.users.contains_key(id)) {
            if !kept.contains(id) {
                kept.push(*id);
            }
        }
        if !self.multiple_assignees {
            kept.truncate(1);
        }
        kept
    }
}

/// The label names of `names`, creating the missing ones in the project as GitLab does.
fn ensure_labels(project: &mut Project, names: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    for name in names {
        if !project.labels.contains(name) {
            project.labels.push(name.clone());
        }
        if !kept.contains(name) {
            kept.push(name.clone());
        }
    }
    kept.sort();
    kept
}

fn assignee_notes(users: &BTreeMap<u64, SimUser>, before: &[u64], after: &[u64]) -> Vec<String> {
    let handle = |id: &u64| users.get(id).map_or_else(|| format!("user {id}"), |u| format!("@{}", u.username));
    let added: Vec<String> = after.iter().filter(|id| !before.contains(id)).map(handle).collect();
    let removed: Vec<String> = before.iter().filter(|id| !after.contains(id)).map(handle).collect();
    let mut notes = Vec::new();
    if !added.is_empty() {
        notes.push(format!("assigned to {}", added.join(" and ")));
    }
    if !removed.is_empty() {
        notes.push(format!("unassigned {}", removed.join(" and ")));
    }
    notes
}

fn validate_title(title: &str) -> Result<(), Reply> {
    if title.trim().is_empty() {
        return Err(Reply::invalid_field("title", "can't be blank"));
    }
    if title.chars().count() > TITLE_LIMIT {
        return Err(Reply::invalid_field("title", &format!("is too long (maximum is {TITLE_LIMIT} characters)")));
    }
    Ok(())
}

fn validate_description(description: Option<&str>) -> Result<(), Reply> {
    match description {
        Some(text) if text.chars().count() > DESCRIPTION_LIMIT => Err(Reply::invalid_field(
            "description",
            &format!("is too long (maximum is {DESCRIPTION_LIMIT} characters)"),
        )),
        _ => Ok(()),
    }
}

/// GitLab's 404 of a project.
pub(super) fn project_not_found() -> Reply {
    Reply::message(404, "404 Project Not Found")
}

/// GitLab's 404 of an issue.
pub(super) fn issue_not_found() -> Reply {
    Reply::message(404, "404 Issue Not Found")
}

/// GitLab's 404 of a note: `noteable.notes.find` raises `RecordNotFound`, which the API answers
/// with this generic message (`lib/api/api.rb`), not with `404 Note Not Found`.
pub(super) fn note_not_found() -> Reply {
    Reply::message(404, "404 Not found")
}

/// A note that fails its model validations on update, as `process_note_creation_result` refuses
/// it: `bad_request!("Note #{note.errors.messages}")`, the errors as Ruby 3.3 inspects a hash.
fn invalid_note(field: &str, problem: &str) -> Reply {
    Reply::message(400, &format!("400 Bad request - Note {{:{field}=>[{problem:?}]}}"))
}
