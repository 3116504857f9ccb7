//! The sync's remote writes as data: every write the engine makes to GitLab or QALITA is an [`Op`]
//! a planner returned, applied by the engine's one interpreter (`engine::interpreter`). A plan
//! can be shown (`explain`, `backfill --dry-run`), compared in a test, or replayed by a simulator
//! without making it.

use crate::domain::gitlab::{GitlabProjectRef, IssueUpdate, NewIssue};
use crate::domain::link::{GitlabLink, LinkState};
use crate::domain::qalita::QalitaIssueUpdate;
use crate::domain::sync::Decision;
use crate::domain::{Iid, QalitaIssueId};

/// One remote write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create a GitLab issue (its link is reserved).
    CreateIssue {
        /// The project routing chose (configured id or path), where the issue is created.
        project: GitlabProjectRef,
        /// The whole issue as mapped: title, description with the hidden marker, labels, assignee,
        /// confidentiality.
        issue: NewIssue,
    },
    /// Close the GitLab issue the [`Op::CreateIssue`] before it made: GitLab creates issues open,
    /// and the QALITA issue is already resolved.
    CloseCreated,
    /// Link the GitLab issue the [`Op::CreateIssue`] before it made with the one it continues after
    /// a regression: a note on each (`Regression of <old>`, `Regressed: continued in <new>`).
    NoteRegression {
        /// The old GitLab issue, which stays closed.
        old: GitlabLink,
    },
    /// Change a GitLab issue.
    UpdateIssue {
        /// The issue's project.
        project: GitlabProjectRef,
        /// The issue's iid: its number within that project, as in its URL.
        iid: Iid,
        /// Only the fields that differ.
        update: IssueUpdate,
    },
    /// Add a note (a copy of a QALITA comment) to a GitLab issue.
    CreateNote {
        /// The issue's project.
        project: GitlabProjectRef,
        /// The issue's iid.
        iid: Iid,
        /// The note's text: prefix, author, text and the comment's hidden marker.
        body: String,
    },
    /// Edit a note this service made.
    UpdateNote {
        /// The issue's project.
        project: GitlabProjectRef,
        /// The issue's iid.
        iid: Iid,
        /// The note's id.
        note: u64,
        /// Its new text.
        body: String,
    },
    /// Change a QALITA issue.
    UpdateQalitaIssue {
        /// The issue.
        issue: QalitaIssueId,
        /// Only the fields GitLab won.
        update: QalitaIssueUpdate,
    },
    /// Add a comment (a copy of a GitLab note) to a QALITA issue.
    CreateComment {
        /// The issue.
        issue: QalitaIssueId,
        /// The comment's text: prefix, GitLab username and the note's text.
        content: String,
    },
    /// Edit a comment this service made.
    UpdateComment {
        /// The issue.
        issue: QalitaIssueId,
        /// The comment's id.
        comment: u64,
        /// Its new text.
        content: String,
    },
}

impl Op {
    /// Whether the write goes to GitLab (else to QALITA).
    pub fn to_gitlab(&self) -> bool {
        matches!(
            self,
            Op::CreateIssue { .. }
                | Op::CloseCreated
                | Op::NoteRegression { .. }
                | Op::UpdateIssue { .. }
                | Op::CreateNote { .. }
                | Op::UpdateNote { .. }
        )
    }
}

/// A planner's answer: the writes to make, in order; the link state to commit once they are made;
/// the decisions, for the integration log (DESIGN section 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The writes, in order; empty when nothing is to be written.
    pub ops: Vec<Op>,
    /// The link state once the writes succeeded (for a creation, the engine fills in the GitLab
    /// issue from GitLab's answer).
    pub next: LinkState,
    /// What was decided, and why.
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// A plan that writes nothing and leaves `next` as the link.
    pub fn nothing(next: LinkState, decisions: Vec<Decision>) -> Plan {
        Plan { ops: Vec::new(), next, decisions }
    }

    /// Whether the plan writes anything.
    pub fn writes(&self) -> bool {
        !self.ops.is_empty()
    }
}
