//! The sync's vocabulary: the status both sides understand, what a sync did, and what a planner
//! decided. Each word is written in one place ([`Status::as_str`], [`Action::as_str`],
//! [`DecisionKind::as_str`]), so that the integration log, `explain` and the logs agree, and every
//! rule matches an enum exhaustively instead of comparing strings.

use std::fmt;

use super::gitlab::IssueState;
use super::link::LogLevel;

/// A QALITA issue's status as both sides understand it: GitLab shows it as a state and, for
/// `Muted`, a label; QALITA as one of the configured words (`status.open`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Open in GitLab, one of `status.open` in QALITA.
    Open,
    /// Closed in GitLab, one of `status.resolved` in QALITA.
    Resolved,
    /// Open and labelled with the muted label in GitLab, one of `status.muted` in QALITA.
    Muted,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 3] = [Status::Open, Status::Resolved, Status::Muted];

    /// The word recorded on the link and shown in the log: `open`, `resolved` or `muted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Muted => "muted",
        }
    }

    /// The status a recorded word stands for (the inverse of [`Status::as_str`]).
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The status a GitLab issue shows: closed is resolved whatever its labels; open is muted when
    /// it carries the muted label.
    pub fn of(state: IssueState, muted: bool) -> Status {
        match (state, muted) {
            (IssueState::Closed, _) => Status::Resolved,
            (IssueState::Opened, true) => Status::Muted,
            (IssueState::Opened, false) => Status::Open,
        }
    }

    /// The GitLab state of this status.
    pub fn state(self) -> IssueState {
        match self {
            Status::Resolved => IssueState::Closed,
            Status::Open | Status::Muted => IssueState::Opened,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one sync did, outbound, inbound or for a comment: the closing entry of the integration log
/// and the `outcome` of the worker's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The GitLab issue was created.
    Created,
    /// The GitLab issue a crashed attempt created was found by its marker and linked.
    Adopted,
    /// The other side was written.
    Updated,
    /// Both sides already agreed: nothing written.
    Unchanged,
    /// The GitLab issue had been deleted and was created again.
    Recreated,
    /// The GitLab issue had been deleted and is not recreated: the link is gone.
    Gone,
    /// The GitLab issue was found deleted: its recreation is due, once the changes queued before
    /// it are synced.
    Deleted,
    /// The link is severed or gone: the change is not synced.
    Skipped,
    /// The event is not one this service syncs (our own echo, an unlinked issue, a setting off).
    Ignored,
    /// The event is older than what was already synced.
    Stale,
    /// A GitLab change was written to QALITA.
    Synced,
    /// QALITA won a conflict: GitLab was written back.
    QalitaWon,
    /// GitLab's winning value had been overwritten by an older write of ours: written again.
    Rewritten,
    /// A comment was copied to the other side.
    Copied,
    /// A comment cannot be copied (QALITA has no comment API configured, or refused it).
    NotCopied,
    /// A comment's edit cannot reach its copy (the other side has no way to update a comment).
    NotPropagated,
    /// The creation policy gives the QALITA issue no GitLab issue by itself (`[create]`).
    NotCreated,
    /// The GitLab issue's URL was written to QALITA as a comment (`[link_back]`).
    LinkedBack,
}

impl Action {
    /// The word in the log and the integration log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Adopted => "adopted",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Recreated => "recreated",
            Action::Gone => "gone",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
            Action::Ignored => "ignored",
            Action::Stale => "stale",
            Action::Synced => "synced",
            Action::QalitaWon => "qalita-won",
            Action::Rewritten => "rewritten",
            Action::Copied => "copied",
            Action::NotCopied => "not-copied",
            Action::NotPropagated => "not-propagated",
            Action::NotCreated => "not-created",
            Action::LinkedBack => "linked-back",
        }
    }

    /// Whether the sync wrote to GitLab or QALITA.
    pub fn wrote(self) -> bool {
        match self {
            Action::Created
            | Action::Updated
            | Action::Recreated
            | Action::Synced
            | Action::QalitaWon
            | Action::Rewritten
            | Action::Copied
            | Action::LinkedBack => true,
            Action::Adopted
            | Action::Unchanged
            | Action::Gone
            | Action::Deleted
            | Action::Skipped
            | Action::Ignored
            | Action::Stale
            | Action::NotCopied
            | Action::NotPropagated
            | Action::NotCreated => false,
        }
    }

    /// Whether there was nothing to do (the event changed nothing, or is not ours to sync).
    pub fn is_quiet(self) -> bool {
        matches!(self, Action::Unchanged | Action::Ignored)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a planner decided about one aspect of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionKind {
    /// Which project routing picked.
    Route,
    /// The GitLab state and muted label a QALITA status maps to.
    Status,
    /// A QALITA status word the configuration does not know.
    StatusUnknown,
    /// Who the GitLab issue is assigned to.
    Assignee,
    /// Nobody on the other side matches the assignee: left as it is.
    AssigneeUnknown,
    /// GitLab was unassigned: QALITA's assignee is kept.
    AssigneeCleared,
    /// The GitLab assignee written to QALITA.
    AssigneeBack,
    /// The link is severed or gone.
    Skipped,
    /// Older than what was already synced.
    Stale,
    /// Nothing differs.
    Unchanged,
    /// A GitLab edit of a field QALITA owns.
    NotSyncedBack,
    /// Both sides changed a field.
    Conflict,
    /// The GitLab status written to QALITA.
    StatusBack,
    /// The GitLab title written to QALITA.
    TitleBack,
    /// The GitLab description written to QALITA.
    DescriptionBack,
    /// A winning GitLab value written again after an older write of ours overwrote it.
    Rewrite,
    /// A comment's fate.
    Comment,
    /// A new GitLab issue asked for by the operator for a severed or gone link.
    Relink,
    /// The creation policy gives the QALITA issue no GitLab issue by itself.
    NotCreated,
    /// A resolved QALITA issue opened again: its GitLab issue reopened, or a new one
    /// (`sync.on_regression`).
    Regression,
    /// The GitLab issue's URL written back to QALITA, or why not.
    LinkBack,
    /// A lost link restored from the marker of its GitLab issue (`links rebuild`).
    Restored,
    /// A second GitLab issue carries the marker of a linked QALITA issue (`links rebuild`).
    Duplicate,
    /// A GitLab issue carries the marker of a QALITA issue linked to another one, which does not
    /// carry it (`links rebuild`).
    MarkerConflict,
    /// A context lookup (`[qalita.context]`) found nothing: the labels and routing rules that need
    /// the value are skipped.
    ContextUnknown,
}

impl DecisionKind {
    /// The kind's word in the integration log.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Route => "route",
            DecisionKind::Status => "status",
            DecisionKind::StatusUnknown => "status-unknown",
            DecisionKind::Assignee => "assignee",
            DecisionKind::AssigneeUnknown => "assignee-unknown",
            DecisionKind::AssigneeCleared => "assignee-cleared",
            DecisionKind::AssigneeBack => "assignee-back",
            DecisionKind::Skipped => "skipped",
            DecisionKind::Stale => "stale",
            DecisionKind::Unchanged => "unchanged",
            DecisionKind::NotSyncedBack => "not-synced-back",
            DecisionKind::Conflict => "conflict",
            DecisionKind::StatusBack => "status-back",
            DecisionKind::TitleBack => "title-back",
            DecisionKind::DescriptionBack => "description-back",
            DecisionKind::Rewrite => "rewrite",
            DecisionKind::Comment => "comment",
            DecisionKind::Relink => "relink",
            DecisionKind::NotCreated => "not-created",
            DecisionKind::Regression => "regression",
            DecisionKind::LinkBack => "link-back",
            DecisionKind::Restored => "restored",
            DecisionKind::Duplicate => "duplicate",
            DecisionKind::MarkerConflict => "marker-conflict",
            DecisionKind::ContextUnknown => "context-unknown",
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision of a planner, for the integration log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// How serious.
    pub level: LogLevel,
    /// What it is about.
    pub kind: DecisionKind,
    /// What and why.
    pub message: String,
}

impl Decision {
    /// A decision.
    pub fn new(level: LogLevel, kind: DecisionKind, message: impl Into<String>) -> Self {
        Decision { level, kind, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_word_parses_back_to_its_status() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("closed"), None, "a GitLab state is not a status");
    }

    #[test]
    fn a_closed_issue_is_resolved_even_when_labelled_muted() {
        assert_eq!(Status::of(IssueState::Closed, true), Status::Resolved);
        assert_eq!(Status::of(IssueState::Opened, true), Status::Muted);
        assert_eq!(Status::of(IssueState::Opened, false), Status::Open);
        for status in Status::ALL {
            assert_eq!(Status::of(status.state(), status == Status::Muted), status);
        }
    }
}
