//! Writes the GitLab issue's URL back to QALITA as [`crate::plan::link_back`] plans it, through the
//! comment protocol of `engine::comments`: claim the comment link of the GitLab issue (reserve, or
//! take a dead worker's reservation over), look for the comment first where it may exist, create
//! it, commit the comment link and the comment's own `ours` item, then clear what the link owes.

use chrono::{DateTime, Utc};

use super::comments::Claim;
use super::interpreter::Applied;
use super::link_protocol::CONFLICT_RETRIES;
use super::outbound::{Engine, SyncError};
use crate::domain::QalitaIssueId;
use crate::domain::digest::text_digest;
use crate::domain::link::{CommentKey, LinkBackDue, LinkState, LogLevel};
use crate::domain::sync::{Action, Decision, DecisionKind};
use crate::plan::comments::CopyStep;
use crate::plan::link_back::{self, Due};
use crate::plan::{Op, Plan};
use crate::ports::{ApiError, CallContext, StoreError};

/// What a preview shows for the URL of a GitLab issue not created yet.
const NEW_URL: &str = "<the new GitLab issue's URL>";

impl Engine {
    /// [`Engine::link_back`], where QALITA refusing the comment for good does not fail the sync
    /// that made the GitLab issue: it is logged, stays owed, and is tried again at the issue's
    /// next sync. A failure that a retry may fix (a 5xx, a refused token, a fresh reservation)
    /// fails the sync, whose message comes back.
    pub(crate) async fn link_back_unless_refused(
        &self,
        link: LinkState,
        call: &CallContext,
    ) -> Result<LinkState, SyncError> {
        match self.link_back(link.clone(), call).await {
            Ok(committed) => Ok(committed),
            Err(error) if error.is_transient() || error.is_auth_failure() => Err(error),
            Err(error) => {
                let decision = Decision::new(
                    LogLevel::Warn,
                    DecisionKind::LinkBack,
                    format!(
                        "QALITA refused the comment with the GitLab issue's URL ({error}): tried again at the issue's next sync (link_back.mode = \"none\" turns it off)"
                    ),
                );
                self.log_decisions(link.qalita_id, &[decision], Action::NotCopied, "link back not written".into())
                    .await;
                Ok(link)
            }
        }
    }

    /// Writes what `link` owes QALITA (the comment with its GitLab issue's URL), at most once per
    /// GitLab issue, and returns the link as committed. A failure leaves it owed: the message is
    /// retried, and the retry writes it (or finds it written).
    pub(crate) async fn link_back(&self, link: LinkState, call: &CallContext) -> Result<LinkState, SyncError> {
        let now = self.clock.now();
        let (key, text, look_first) = match link_back::due(&self.config, &link, now) {
            Due::Nothing => return Ok(link),
            Due::Dropped(plan) => return self.settle_link_back(&link, plan.next).await,
            Due::Write { key, text, look_first } => (key, text, look_first),
        };
        let issue = link.qalita_id;
        let claim = self.claim(issue, key, &text_digest(&text)).await?;
        let step = match &claim {
            Claim::Reserved(_) => link_back::step(None, look_first),
            Claim::TakenOver(found) | Claim::Linked(found) => link_back::step(Some(found), look_first),
            Claim::Ours => CopyStep::Ours,
        };
        let plan = link_back::plan(&link, text.clone(), &step, now);
        let reserved = match claim {
            Claim::Reserved(reserved) | Claim::TakenOver(reserved) => Some(reserved),
            Claim::Linked(_) | Claim::Ours => None,
        };
        let written = match (plan.ops.first(), reserved) {
            (Some(op), Some(reserved)) => {
                let found = match step {
                    CopyStep::FindThenCreate => self.find_comment(issue, &text).await?,
                    _ => None,
                };
                let (comment, made) = match found {
                    Some(found) => (found, false),
                    None => match self.apply(op, None, call).await.and_then(Applied::comment) {
                        Ok(comment) => (comment.id, true),
                        Err(error) => {
                            self.release_comment(&reserved, &error).await;
                            return Err(error.into());
                        }
                    },
                };
                self.commit_copy(reserved, comment, CommentKey::Comment(comment)).await?;
                Some((comment, made))
            }
            _ => None,
        };
        let committed = self.settle_link_back(&link, plan.next).await?;
        let url = link.gitlab.as_ref().map_or("", |g| g.web_url.as_str());
        let (action, summary) = match written {
            Some((comment, true)) => (Action::LinkedBack, format!("linked-back: QALITA comment {comment} shows {url}")),
            Some((comment, false)) => {
                (Action::Adopted, format!("link back found: QALITA comment {comment} shows {url}"))
            }
            None => (Action::Unchanged, format!("link back already written for {url}")),
        };
        self.log_decisions(issue, &plan.decisions, action, summary).await;
        Ok(committed)
    }

    /// What the link back of `outbound` (a preview's plan) would write, without writing: for a
    /// creation, the comment of the issue it makes (its URL is GitLab's answer, shown as a
    /// placeholder); for a linked issue that owes one, what its comment link says is left to do.
    pub(crate) async fn preview_link_back(&self, outbound: &Plan, now: DateTime<Utc>) -> Result<Plan, SyncError> {
        let next = &outbound.next;
        if outbound.ops.iter().any(|op| matches!(op, Op::CreateIssue { .. })) {
            let Some(due) = next.link_back else { return Ok(Plan::nothing(next.clone(), Vec::new())) };
            let text = link_back::text(&self.config.comments, NEW_URL);
            let step = link_back::step(None, due == LinkBackDue::Adopted);
            return Ok(link_back::plan(next, text, &step, now));
        }
        Ok(match link_back::due(&self.config, next, now) {
            Due::Nothing => Plan::nothing(next.clone(), Vec::new()),
            Due::Dropped(plan) => *plan,
            Due::Write { key, text, look_first } => {
                let found = self.store.comment_link(next.qalita_id, key).await?;
                link_back::plan(next, text, &link_back::step(found.as_ref(), look_first), now)
            }
        })
    }

    /// Records that `base` owes nothing any more (`next`); on a link that changed meanwhile (an
    /// inbound event), on the newer link, unless it no longer owes it or was relinked.
    async fn settle_link_back(&self, base: &LinkState, next: LinkState) -> Result<LinkState, SyncError> {
        match self.store.update(&next).await {
            Ok(committed) => return Ok(committed),
            Err(StoreError::Conflict) => {}
            Err(error) => return Err(error.into()),
        }
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut fresh) = self.store.get(base.qalita_id).await? else { break };
            if fresh.link_back.is_none() || fresh.gitlab != base.gitlab {
                return Ok(fresh);
            }
            fresh.link_back = None;
            fresh.updated_at = next.updated_at;
            match self.store.update(&fresh).await {
                Ok(committed) => return Ok(committed),
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        // Still owed: the retry finds the comment link committed, and writes nothing more.
        Err(StoreError::Conflict.into())
    }

    /// The QALITA comment of `issue` that says `text` (spaces around aside), if one exists.
    async fn find_comment(&self, issue: QalitaIssueId, text: &str) -> Result<Option<u64>, ApiError> {
        let comments = match self.qalita.list_comments(issue).await {
            Ok(comments) => comments,
            Err(ApiError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(comments.into_iter().find(|c| c.content.trim() == text.trim()).map(|c| c.id))
    }
}
