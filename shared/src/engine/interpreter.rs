//! The one place the sync writes to GitLab or QALITA: an [`Op`] a planner returned, applied
//! through the ports. It decides nothing; what an answer means (a 404, a refusal) is for the
//! engine's link protocol to say.

use super::outbound::Engine;
use crate::domain::gitlab::{GitlabIssue, GitlabNote, GitlabProjectRef, IssueUpdate, StateEvent};
use crate::domain::qalita::{QalitaComment, QalitaIssue};
use crate::plan::op::Op;
use crate::plan::regression::notes;
use crate::ports::{ApiError, CallContext};

/// What a write answered: [`Applied::Issue`] for the GitLab issue writes, [`Applied::Note`] for
/// the note writes, [`Applied::QalitaIssue`] for the QALITA issue update, [`Applied::Comment`] or
/// [`Applied::NotEditable`] for the comment writes.
#[derive(Debug)]
pub(crate) enum Applied {
    /// The GitLab issue as GitLab holds it after the write.
    Issue(GitlabIssue),
    /// The note made or edited.
    Note(GitlabNote),
    /// The QALITA issue as QALITA holds it after the write.
    QalitaIssue(QalitaIssue),
    /// The QALITA comment made or edited.
    Comment(QalitaComment),
    /// This QALITA instance cannot edit comments (no `qalita.paths.update_comment`): nothing was
    /// written.
    NotEditable,
}

impl Applied {
    /// The GitLab issue a GitLab issue write answered.
    pub(crate) fn issue(self) -> Result<GitlabIssue, ApiError> {
        match self {
            Applied::Issue(issue) => Ok(issue),
            other => Err(mismatch("a GitLab issue", &other)),
        }
    }

    /// The note a note write answered.
    pub(crate) fn note(self) -> Result<GitlabNote, ApiError> {
        match self {
            Applied::Note(note) => Ok(note),
            other => Err(mismatch("a GitLab note", &other)),
        }
    }

    /// The QALITA issue a QALITA issue update answered.
    pub(crate) fn qalita_issue(self) -> Result<QalitaIssue, ApiError> {
        match self {
            Applied::QalitaIssue(issue) => Ok(issue),
            other => Err(mismatch("a QALITA issue", &other)),
        }
    }

    /// The comment a comment creation answered.
    pub(crate) fn comment(self) -> Result<QalitaComment, ApiError> {
        match self {
            Applied::Comment(comment) => Ok(comment),
            other => Err(mismatch("a QALITA comment", &other)),
        }
    }
}

/// An answer of another kind than the op's: a bug of the caller, refused rather than guessed at.
fn mismatch(wanted: &str, got: &Applied) -> ApiError {
    let got = match got {
        Applied::Issue(_) => "a GitLab issue",
        Applied::Note(_) => "a GitLab note",
        Applied::QalitaIssue(_) => "a QALITA issue",
        Applied::Comment(_) => "a QALITA comment",
        Applied::NotEditable => "no comment",
    };
    ApiError::Permanent {
        service: crate::ports::Service::Gitlab,
        status: 0,
        message: format!("the sync expected {wanted} from its write and got {got}"),
    }
}

/// The issue the creation before an op made; none is a bug of the planner, refused.
fn made(created: Option<&GitlabIssue>) -> Result<&GitlabIssue, ApiError> {
    created.ok_or_else(|| ApiError::Permanent {
        service: crate::ports::Service::Gitlab,
        status: 0,
        message: "the sync planned a write on a created issue after a creation that was not made".into(),
    })
}

impl Engine {
    /// Applies `op`. `created` is the issue the [`Op::CreateIssue`] before it made, which an
    /// [`Op::CloseCreated`] closes and an [`Op::NoteRegression`] notes; without one, those ops are a
    /// bug of the caller and are refused.
    pub(crate) async fn apply(
        &self,
        op: &Op,
        created: Option<&GitlabIssue>,
        call: &CallContext,
    ) -> Result<Applied, ApiError> {
        Ok(match op {
            Op::CreateIssue { project, issue } => Applied::Issue(self.gitlab.create_issue(project, issue, call).await?),
            Op::CloseCreated => {
                let created = made(created)?;
                let close = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };
                let project = GitlabProjectRef::Id(created.project_id);
                Applied::Issue(self.gitlab.update_issue(&project, created.iid, &close, call).await?)
            }
            Op::NoteRegression { old } => {
                let created = made(created)?;
                let (on_new, on_old) = notes(&self.config.comments.gitlab_prefix, &old.web_url, &created.web_url);
                let new = GitlabProjectRef::Id(created.project_id);
                self.gitlab.create_note(&new, created.iid, &on_new, false, call).await?;
                let old_project = GitlabProjectRef::Id(old.project_id);
                Applied::Note(self.gitlab.create_note(&old_project, old.iid, &on_old, false, call).await?)
            }
            Op::UpdateIssue { project, iid, update } => {
                Applied::Issue(self.gitlab.update_issue(project, *iid, update, call).await?)
            }
            Op::CreateNote { project, iid, body } => {
                Applied::Note(self.gitlab.create_note(project, *iid, body, false, call).await?)
            }
            Op::UpdateNote { project, iid, note, body } => {
                Applied::Note(self.gitlab.update_note(project, *iid, *note, body, call).await?)
            }
            Op::UpdateQalitaIssue { issue, update } => {
                Applied::QalitaIssue(self.qalita.update_issue(*issue, update).await?)
            }
            Op::CreateComment { issue, content } => {
                Applied::Comment(self.qalita.create_comment(*issue, content).await?)
            }
            Op::UpdateComment { issue, comment, content } => {
                match self.qalita.update_comment(*issue, *comment, content).await? {
                    Some(edited) => Applied::Comment(edited),
                    None => Applied::NotEditable,
                }
            }
        })
    }
}
