//! Comments both ways (DESIGN sections 4 and 7): a GitLab note on a linked issue becomes a QALITA
//! comment `[GitLab] <username>: <body>`, a QALITA comment becomes a GitLab note
//! `**[QALITA]** <author>: <body>`. Copies start with their prefix and are never copied back.
//!
//! No comment is copied twice: the copy is made through the same protocol as the GitLab issue, on
//! a comment link item: reserve (conditional put), create, commit the copy's id (conditional on the
//! version). A reservation whose worker died is taken over after looking for the copy it may have
//! made (the GitLab note carries a hidden marker; the QALITA comment is found by its exact text).

use super::interpreter::Applied;
use super::link_protocol::surely_not_created;
use super::outbound::{Engine, SyncError};
use crate::domain::QalitaIssueId;
use crate::domain::digest::text_digest;
use crate::domain::gitlab::GitlabProjectRef;
use crate::domain::link::{CommentKey, CommentLink, LinkState, LinkStatus, LogLevel, Reservation};
use crate::domain::marker::Marker;
use crate::domain::qalita::QalitaComment;
use crate::domain::sync::{Action, Decision, DecisionKind};
use crate::events::facts::GitlabNoteFacts;
use crate::plan::comments::{
    CopyStep, CopyTo, copy_step, gitlab_text, is_our_comment, is_our_note, note_not_copied, qalita_text,
};
use crate::ports::{ApiError, CallContext, StoreError};

/// How soon a comment of an issue whose link is being made is tried again.
const RESERVED_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// Pages of notes read of one issue (when looking for the copy a dead worker may have made, a
/// note's text, or notes whose delivery was lost).
const NOTE_SEARCH_PAGES: u32 = 20;

/// What a comment sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentOutcome {
    /// What the sync did: copied, updated, unchanged, adopted, not-copied, not-propagated or ignored.
    pub action: Action,
    /// Why, for the log.
    pub reason: String,
}

impl CommentOutcome {
    fn new(action: Action, reason: impl Into<String>) -> Self {
        CommentOutcome { action, reason: reason.into() }
    }
}

/// Where a claim on a comment stands.
pub(super) enum Claim {
    /// Reserved by this worker: make the copy.
    Reserved(CommentLink),
    /// A dead worker's reservation, taken over: look for its copy before making one.
    TakenOver(CommentLink),
    /// The copy exists.
    Linked(CommentLink),
    /// The comment is itself a copy this service made.
    Ours,
}

impl Engine {
    /// Copies a GitLab note to QALITA (or its edit to the copy).
    pub async fn sync_gitlab_note(
        &self,
        note: &GitlabNoteFacts,
        call: &CallContext,
    ) -> Result<CommentOutcome, SyncError> {
        let settings = &self.config.comments;
        // Our own copies come back on every note we make: they cost nothing, not even a read.
        if note.body.as_deref().is_some_and(|b| is_our_note(settings, b)) {
            return Ok(CommentOutcome::new(Action::Ignored, "a note this service copied from QALITA"));
        }
        let Some(link) = self.link_of_gitlab(note.project_id, note.iid, note.marked).await? else {
            return Ok(CommentOutcome::new(Action::Ignored, "the GitLab issue is not linked to a QALITA issue"));
        };
        // A note of a linked issue that is not copied says why in the issue's log ("comments not
        // syncing"), once: when it is delivered, not at every sweep.
        if let Some(reason) = note_not_copied(settings, note.system, note.internal) {
            let outcome =
                CommentOutcome::new(Action::NotCopied, format!("GitLab note {} not copied: {reason}", note.note_id));
            if note.action.as_deref() == Some("create") {
                self.log_comment(link.qalita_id, &outcome).await;
            }
            return Ok(outcome);
        }
        if link.status == LinkStatus::Reserved {
            // The GitLab issue is being linked: the note is copied once it is.
            return Err(SyncError::Reserved { age_seconds: 0, stale_in: RESERVED_RETRY });
        }
        if link.status != LinkStatus::Linked {
            return Ok(CommentOutcome::new(Action::Ignored, format!("the link is {:?}", link.status)));
        }
        let issue = link.qalita_id;
        let body = match &note.body {
            Some(body) => body.clone(),
            None => self.note_body(&link, note.note_id).await?,
        };
        if is_our_note(settings, &body) {
            return Ok(CommentOutcome::new(Action::Ignored, "a note this service copied from QALITA"));
        }
        let content = qalita_text(settings, &note.username, &body);
        let digest = text_digest(&body);
        let outcome = match self.claim(issue, CommentKey::Note(note.note_id), &digest).await? {
            Claim::Ours => CommentOutcome::new(Action::Ignored, "a note this service made"),
            Claim::Linked(linked) if copy_step(Some(&linked), &digest) == CopyStep::Unchanged => {
                CommentOutcome::new(Action::Unchanged, "already copied")
            }
            Claim::Linked(linked) => {
                let copy = linked.copy.unwrap_or_default();
                let Some(edit) = copy_step(Some(&linked), &digest).op(&CopyTo::Qalita(issue), content) else {
                    return Ok(CommentOutcome::new(Action::Unchanged, "already copied"));
                };
                let outcome = match self.apply(&edit, None, call).await {
                    Ok(Applied::NotEditable) => CommentOutcome::new(
                        Action::NotPropagated,
                        format!(
                            "GitLab note {} was edited, but this QALITA instance cannot edit comments (qalita.paths.update_comment): its copy {copy} is unchanged",
                            note.note_id
                        ),
                    ),
                    Ok(_) => CommentOutcome::new(
                        Action::Updated,
                        format!("GitLab note {} edited: QALITA comment {copy} updated", note.note_id),
                    ),
                    Err(ApiError::NotFound { .. }) => CommentOutcome::new(
                        Action::NotPropagated,
                        format!("GitLab note {} was edited, but its QALITA copy {copy} is gone", note.note_id),
                    ),
                    Err(error) => return Err(error.into()),
                };
                let updated = CommentLink { digest: Some(digest), updated_at: self.clock.now(), ..linked };
                self.store.put_comment_link(&updated).await?;
                outcome
            }
            Claim::TakenOver(taken) => {
                // The dead worker's copy: the same text (spaces around aside), not the copy of
                // another note already (two notes may say the same).
                let mut found = None;
                for comment in self.qalita.list_comments(issue).await? {
                    if comment.content.trim() == content.trim()
                        && self.store.comment_link(issue, CommentKey::Comment(comment.id)).await?.is_none()
                    {
                        found = Some(comment);
                        break;
                    }
                }
                match found {
                    Some(found) => {
                        self.commit_copy(taken, found.id, CommentKey::Comment(found.id)).await?;
                        CommentOutcome::new(
                            Action::Adopted,
                            format!("GitLab note {} → QALITA comment {} (found after a crash)", note.note_id, found.id),
                        )
                    }
                    None => self.copy_note(issue, taken, note.note_id, content, call).await?,
                }
            }
            Claim::Reserved(reserved) => self.copy_note(issue, reserved, note.note_id, content, call).await?,
        };
        self.log_comment(issue, &outcome).await;
        Ok(outcome)
    }

    async fn copy_note(
        &self,
        issue: QalitaIssueId,
        reserved: CommentLink,
        note_id: u64,
        content: String,
        call: &CallContext,
    ) -> Result<CommentOutcome, SyncError> {
        let comment =
            match self.apply(&CopyTo::Qalita(issue).create(content), None, call).await.and_then(Applied::comment) {
                Ok(comment) => comment,
                Err(error) => {
                    self.release_comment(&reserved, &error).await;
                    return Err(error.into());
                }
            };
        self.commit_copy(reserved, comment.id, CommentKey::Comment(comment.id)).await?;
        Ok(CommentOutcome::new(Action::Copied, format!("GitLab note {note_id} → QALITA comment {}", comment.id)))
    }

    /// Copies a QALITA comment to the linked GitLab issue.
    pub async fn sync_qalita_comment(
        &self,
        issue: QalitaIssueId,
        comment: &QalitaComment,
        call: &CallContext,
    ) -> Result<CommentOutcome, SyncError> {
        let settings = &self.config.comments;
        if !settings.to_gitlab {
            return Ok(CommentOutcome::new(Action::Ignored, "comments.to_gitlab is off"));
        }
        if is_our_comment(settings, &comment.content) {
            return Ok(CommentOutcome::new(Action::Ignored, "a comment this service copied from GitLab"));
        }
        let Some(link) = self.store.get(issue).await? else {
            return Ok(CommentOutcome::new(Action::Ignored, "the QALITA issue has no GitLab issue yet"));
        };
        if link.status == LinkStatus::Reserved {
            // The GitLab issue is being created: the comment is copied once it is linked.
            return Err(SyncError::Reserved { age_seconds: 0, stale_in: RESERVED_RETRY });
        }
        let Some(gitlab) = link.gitlab.clone().filter(|_| link.status == LinkStatus::Linked) else {
            return Ok(CommentOutcome::new(Action::Ignored, format!("the link is {:?}", link.status)));
        };
        let digest = text_digest(&comment.content);
        let outcome = match self.claim(issue, CommentKey::Comment(comment.id), &digest).await? {
            Claim::Ours => CommentOutcome::new(Action::Ignored, "a comment this service made"),
            Claim::Linked(linked) if copy_step(Some(&linked), &digest) == CopyStep::Unchanged => {
                CommentOutcome::new(Action::Unchanged, "already copied")
            }
            Claim::Linked(linked) => {
                // The copy is a note of the service's own account: it can edit it.
                let note = linked.copy.unwrap_or_default();
                let body = self.note_body_of(comment).await?;
                let to = CopyTo::Gitlab { project: GitlabProjectRef::Id(gitlab.project_id), iid: gitlab.iid };
                let Some(edit) = copy_step(Some(&linked), &digest).op(&to, body) else {
                    return Ok(CommentOutcome::new(Action::Unchanged, "already copied"));
                };
                let outcome = match self.apply(&edit, None, call).await {
                    Ok(_) => CommentOutcome::new(
                        Action::Updated,
                        format!("QALITA comment {} edited: GitLab note {note} updated", comment.id),
                    ),
                    Err(ApiError::NotFound { .. }) => CommentOutcome::new(
                        Action::NotPropagated,
                        format!("QALITA comment {} was edited, but its GitLab copy {note} is gone", comment.id),
                    ),
                    Err(error) if error.is_transient() => return Err(error.into()),
                    Err(error) => CommentOutcome::new(
                        Action::NotPropagated,
                        format!(
                            "QALITA comment {} was edited, but GitLab refused the edit of note {note}: {error}",
                            comment.id
                        ),
                    ),
                };
                let updated = CommentLink { digest: Some(digest), updated_at: self.clock.now(), ..linked };
                self.store.put_comment_link(&updated).await?;
                outcome
            }
            Claim::TakenOver(taken) => match self.find_note(&link, comment.id).await? {
                Some(note) => {
                    self.commit_copy(taken, note, CommentKey::Note(note)).await?;
                    CommentOutcome::new(
                        Action::Adopted,
                        format!("QALITA comment {} → GitLab note {note} (found after a crash)", comment.id),
                    )
                }
                None => self.copy_comment(&link, taken, comment, call).await?,
            },
            Claim::Reserved(reserved) => self.copy_comment(&link, reserved, comment, call).await?,
        };
        self.log_comment(issue, &outcome).await;
        Ok(outcome)
    }

    /// [`Self::sync_qalita_comment`]; when GitLab says the linked issue is missing (deleted: GitLab
    /// sends no hook for that), its recreation is due (`sync.recreate_if_deleted`, made by the
    /// issue's next sync, which the poll queues) or the link is gone. Nothing else would notice:
    /// the outbound sync writes only when QALITA changes.
    pub async fn sync_qalita_comment_or_recover(
        &self,
        issue: QalitaIssueId,
        comment: &QalitaComment,
        call: &CallContext,
    ) -> Result<CommentOutcome, SyncError> {
        match self.sync_qalita_comment(issue, comment, call).await {
            Err(SyncError::Api(ApiError::NotFound { service: crate::ports::Service::Gitlab, what })) => {
                let action = self.gitlab_issue_missing(issue).await?;
                Ok(CommentOutcome::new(
                    action,
                    format!("QALITA comment {} not copied yet: GitLab's {what} is missing", comment.id),
                ))
            }
            other => other,
        }
    }

    async fn copy_comment(
        &self,
        link: &LinkState,
        reserved: CommentLink,
        comment: &QalitaComment,
        call: &CallContext,
    ) -> Result<CommentOutcome, SyncError> {
        let Some(gitlab) = &link.gitlab else {
            return Ok(CommentOutcome::new(Action::Ignored, "the link has no GitLab issue"));
        };
        let body = self.note_body_of(comment).await?;
        let to = CopyTo::Gitlab { project: GitlabProjectRef::Id(gitlab.project_id), iid: gitlab.iid };
        let note = match self.apply(&to.create(body), None, call).await.and_then(Applied::note) {
            Ok(note) => note,
            Err(error) => {
                self.release_comment(&reserved, &error).await;
                return Err(error.into());
            }
        };
        self.commit_copy(reserved, note.id, CommentKey::Note(note.id)).await?;
        Ok(CommentOutcome::new(Action::Copied, format!("QALITA comment {} → GitLab note {}", comment.id, note.id)))
    }

    /// Every note of a linked GitLab issue that is not copied yet is copied (the reconcile's sweep,
    /// for deliveries GitLab lost).
    pub async fn sync_gitlab_notes(&self, link: &LinkState, call: &CallContext) -> Result<usize, SyncError> {
        let Some(gitlab) = link.gitlab.as_ref().filter(|_| link.status == LinkStatus::Linked) else { return Ok(0) };
        if !self.config.comments.to_qalita {
            return Ok(0);
        }
        let mut copied = 0;
        for note in self.notes_of(link).await? {
            let facts = GitlabNoteFacts::of_api(gitlab.project_id, gitlab.iid, &note);
            if self.sync_gitlab_note(&facts, call).await?.action == Action::Copied {
                copied += 1;
            }
        }
        Ok(copied)
    }

    /// The GitLab note a QALITA comment becomes: prefix, author, text, and the hidden marker.
    async fn note_body_of(&self, comment: &QalitaComment) -> Result<String, SyncError> {
        let author = match (&comment.author, comment.author_id) {
            (Some(author), _) if !author.trim().is_empty() => author.trim().to_owned(),
            (_, Some(id)) => match self.qalita.get_user(id).await {
                Ok(Some(user)) => user.name.or(user.login).unwrap_or_else(|| format!("user {id}")),
                Ok(None) => format!("user {id}"),
                Err(error) if error.is_transient() => return Err(error.into()),
                Err(_) => format!("user {id}"),
            },
            _ => "someone".to_owned(),
        };
        Ok(gitlab_text(&self.config.comments, &author, comment.id, &comment.content))
    }

    /// Every comment of a QALITA issue that is not copied yet is copied (the poll's sweep).
    pub async fn sync_qalita_comments(
        &self,
        issue: QalitaIssueId,
        call: &CallContext,
    ) -> Result<Vec<CommentOutcome>, SyncError> {
        if !self.config.comments.to_gitlab {
            return Ok(Vec::new());
        }
        // The sweep is also where a deleted GitLab issue is noticed (GitLab sends no hook for a
        // deletion): one read of the linked issue.
        if let Some(gitlab) =
            self.store.get(issue).await?.filter(|l| l.status == LinkStatus::Linked).and_then(|l| l.gitlab)
        {
            match self.gitlab.get_issue(&GitlabProjectRef::Id(gitlab.project_id), gitlab.iid).await {
                Ok(_) => {}
                Err(ApiError::NotFound { what, .. }) => {
                    let action = self.gitlab_issue_missing(issue).await?;
                    return Ok(vec![CommentOutcome::new(action, format!("GitLab's {what} is missing"))]);
                }
                Err(error) => return Err(error.into()),
            }
        }
        let comments = match self.qalita.list_comments(issue).await {
            Ok(comments) => comments,
            Err(ApiError::NotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let mut outcomes = Vec::new();
        for comment in &comments {
            let outcome = self.sync_qalita_comment_or_recover(issue, comment, call).await?;
            let gone = outcome.action == Action::Gone;
            outcomes.push(outcome);
            if gone {
                break;
            }
        }
        Ok(outcomes)
    }

    /// Reserves the copy of a comment, or says where it stands.
    pub(super) async fn claim(&self, issue: QalitaIssueId, key: CommentKey, digest: &str) -> Result<Claim, SyncError> {
        let now = self.clock.now();
        let reservation = || Reservation { token: uuid::Uuid::new_v4().to_string(), at: now, project: None };
        match self.store.comment_link(issue, key).await? {
            None => {
                let reserved = CommentLink {
                    issue,
                    key,
                    copy: None,
                    reservation: Some(reservation()),
                    digest: Some(digest.to_owned()),
                    ours: false,
                    version: 0,
                    updated_at: now,
                };
                Ok(Claim::Reserved(self.store.put_comment_link(&reserved).await?))
            }
            Some(link) => match copy_step(Some(&link), digest) {
                CopyStep::Ours => Ok(Claim::Ours),
                CopyStep::Unchanged | CopyStep::Edit { .. } => Ok(Claim::Linked(link)),
                CopyStep::FindThenCreate | CopyStep::Create => {
                    self.unless_fresh(link.reservation.as_ref().map_or(link.updated_at, |r| r.at), now)?;
                    let taken = CommentLink { reservation: Some(reservation()), updated_at: now, ..link };
                    Ok(Claim::TakenOver(self.store.put_comment_link(&taken).await?))
                }
            },
        }
    }

    /// Records the copy on the source's item, and the copy's own item (so the event about the copy
    /// is known as ours).
    pub(super) async fn commit_copy(
        &self,
        reserved: CommentLink,
        copy: u64,
        copy_key: CommentKey,
    ) -> Result<(), SyncError> {
        let now = self.clock.now();
        let source = match reserved.key {
            CommentKey::Note(id) | CommentKey::Comment(id) | CommentKey::LinkBack(id) => id,
        };
        let linked = CommentLink { copy: Some(copy), reservation: None, updated_at: now, ..reserved.clone() };
        self.store.put_comment_link(&linked).await?;
        let ours = CommentLink {
            issue: reserved.issue,
            key: copy_key,
            copy: Some(source),
            reservation: None,
            digest: None,
            ours: true,
            version: 0,
            updated_at: now,
        };
        match self.store.put_comment_link(&ours).await {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Makes a reservation stale at once when the create surely made nothing, so the retry does not
    /// wait for it to age.
    pub(super) async fn release_comment(&self, reserved: &CommentLink, error: &ApiError) {
        if !surely_not_created(error) {
            return;
        }
        let mut released = reserved.clone();
        if let Some(reservation) = released.reservation.as_mut() {
            reservation.at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        }
        if let Err(error) = self.store.put_comment_link(&released).await {
            tracing::warn!(qalita_issue = %reserved.issue, error = %error, "comment reservation not released");
        }
    }

    /// The GitLab note carrying the marker of a QALITA comment, if a dead worker made it.
    async fn find_note(&self, link: &LinkState, comment: u64) -> Result<Option<u64>, ApiError> {
        let marker = Marker::Comment(comment);
        Ok(self.notes_of(link).await?.into_iter().find(|n| marker.ends(&n.body)).map(|n| n.id))
    }

    /// The text of a note the delivery left out (a message too large for the queue).
    async fn note_body(&self, link: &LinkState, note_id: u64) -> Result<String, SyncError> {
        match self.notes_of(link).await?.into_iter().find(|n| n.id == note_id) {
            Some(note) => Ok(note.body),
            None => {
                Err(ApiError::NotFound { service: crate::ports::Service::Gitlab, what: format!("note {note_id}") }
                    .into())
            }
        }
    }

    /// The notes of a linked GitLab issue, oldest first, up to [`NOTE_SEARCH_PAGES`] pages.
    async fn notes_of(&self, link: &LinkState) -> Result<Vec<crate::domain::gitlab::GitlabNote>, ApiError> {
        let Some(gitlab) = &link.gitlab else { return Ok(Vec::new()) };
        let project = GitlabProjectRef::Id(gitlab.project_id);
        let mut notes = Vec::new();
        let mut page = 1;
        for _ in 0..NOTE_SEARCH_PAGES {
            let listed = self.gitlab.list_notes(&project, gitlab.iid, page, 100).await?;
            notes.extend(listed.items);
            match listed.next_page {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(notes)
    }

    async fn log_comment(&self, issue: QalitaIssueId, outcome: &CommentOutcome) {
        let level = match outcome.action {
            Action::NotPropagated => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        if outcome.action.is_quiet() {
            return;
        }
        let decision = Decision::new(level, DecisionKind::Comment, outcome.reason.clone());
        self.log_decisions(issue, &[decision], outcome.action, format!("comment {}", outcome.action)).await;
    }
}
