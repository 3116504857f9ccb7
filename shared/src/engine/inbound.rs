//! Executes the inbound sync of one GitLab issue event through the ports: finds the link (by the
//! reverse index, or by the hidden marker when the index lags), adopts a marked issue whose link is
//! still reserved, reads what the plan needs only for the fields that changed, writes QALITA,
//! records on the link what each side now holds, and commits it conditionally.

use super::interpreter::Applied;
use super::link_protocol::CONFLICT_RETRIES;
use super::outbound::{Engine, SyncError};
use crate::domain::QalitaIssueId;
use crate::domain::gitlab::{GitlabProjectRef, GitlabUser};
use crate::domain::link::{LinkState, LinkStatus};
use crate::domain::qalita::{QalitaIssue, QalitaUser};
use crate::domain::sync::{Action, Decision};
use crate::events::facts::GitlabIssueFacts;
use crate::mapping::{Desired, Facts};
use crate::plan::assignee;
use crate::plan::inbound::{AssigneeBack, Triage, plan_inbound, record_written, triage};
use crate::plan::link::adopt;
use crate::ports::{ApiError, CallContext, StoreError};

/// What an inbound sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundOutcome {
    /// What the sync did: synced, unchanged, stale, adopted, ignored, qalita-won or rewritten.
    pub action: Action,
    /// The QALITA issue, when the GitLab issue is linked.
    pub issue: Option<QalitaIssueId>,
    /// Why, for an event that changed nothing.
    pub reason: String,
    /// The planner's decisions.
    pub decisions: Vec<Decision>,
}

impl InboundOutcome {
    fn ignored(issue: Option<QalitaIssueId>, reason: impl Into<String>) -> Self {
        InboundOutcome { action: Action::Ignored, issue, reason: reason.into(), decisions: Vec::new() }
    }
}

/// What GitLab holds of a delivery's issue when the delivery is about to be written to QALITA.
enum Current {
    /// A state as new as the delivery's or newer: it is synced instead.
    Newer(Box<GitlabIssueFacts>),
    /// The delivery's own values are the ones to sync (an issue read from the API, or GitLab's
    /// answer older than the delivery).
    AsDelivered,
    /// GitLab no longer has the issue: the delivery's values are synced, and nothing is pushed to
    /// GitLab.
    Deleted,
}

impl Engine {
    /// The link a GitLab issue event is about: by the reverse index, else through the hidden
    /// marker (the index is eventually consistent; the marker names the link's key).
    pub async fn link_of_gitlab(
        &self,
        project: crate::domain::GitlabProjectId,
        iid: crate::domain::Iid,
        marked: Option<QalitaIssueId>,
    ) -> Result<Option<LinkState>, StoreError> {
        if let Some(link) = self.store.find_by_gitlab(project, iid).await? {
            return Ok(Some(link));
        }
        let Some(id) = marked else { return Ok(None) };
        Ok(self.store.get(id).await?.filter(|link| match &link.gitlab {
            Some(gitlab) => gitlab.project_id == project && gitlab.iid == iid,
            None => link.status == LinkStatus::Reserved,
        }))
    }

    /// Syncs a GitLab issue event to QALITA.
    pub async fn sync_gitlab_issue(
        &self,
        facts: &GitlabIssueFacts,
        call: &CallContext,
    ) -> Result<InboundOutcome, SyncError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sync_gitlab_once(facts, call).await {
                Err(SyncError::Store(StoreError::Conflict)) if attempt < CONFLICT_RETRIES => continue,
                other => return other,
            }
        }
    }

    /// The issue as GitLab holds it now, unless older than the delivery `facts` (the delivery
    /// itself for an issue read from the API).
    async fn newer_gitlab_state(&self, facts: &GitlabIssueFacts) -> Result<Current, SyncError> {
        if facts.action.is_none() || facts.refreshed {
            return Ok(Current::AsDelivered);
        }
        match self.gitlab.get_issue(&GitlabProjectRef::Id(facts.project_id), facts.iid).await {
            // The same time as the delivery's is refreshed too: a delivery speaks for the part of
            // the status it changed, and the issue shows the whole of it (a close whose delivery
            // comes after a later label's).
            Ok(current) if facts.updated_at.is_none_or(|sent| current.updated_at >= sent) => {
                // What the delivery says changed still changed (a change back to the value the
                // link knows moves the field's watermark); the values are today's.
                let mut now = GitlabIssueFacts::of_api(&current);
                now.action = facts.action.clone();
                now.changed = facts.changed.clone();
                now.previous_state = facts.previous_state;
                now.previous_labels = facts.previous_labels.clone();
                now.refreshed = true;
                Ok(Current::Newer(Box::new(now)))
            }
            Ok(_) => Ok(Current::AsDelivered),
            Err(ApiError::NotFound { .. }) => Ok(Current::Deleted),
            Err(error) => Err(error.into()),
        }
    }

    async fn sync_gitlab_once(
        &self,
        facts: &GitlabIssueFacts,
        call: &CallContext,
    ) -> Result<InboundOutcome, SyncError> {
        let Some(link) = self.link_of_gitlab(facts.project_id, facts.iid, facts.marked).await? else {
            return Ok(InboundOutcome::ignored(None, "the GitLab issue is not linked to a QALITA issue"));
        };
        let id = link.qalita_id;
        let (reads, deleted) = match triage(&self.config, &link, facts, self.clock.now()) {
            Triage::Ignored(reason) => return Ok(InboundOutcome::ignored(Some(id), reason)),
            Triage::AdoptReserved => return self.adopt_reserved(link, facts, call).await,
            Triage::Bumped(next) => {
                self.store.update(&next).await?;
                return Ok(InboundOutcome {
                    action: Action::Unchanged,
                    issue: Some(id),
                    reason: "a GitLab change back to the synced value: its time is recorded".into(),
                    decisions: Vec::new(),
                });
            }
            Triage::Stale(stale) => {
                let summary = "a late or replayed GitLab delivery: nothing changed".to_owned();
                self.log_decisions(id, &stale, Action::Stale, summary).await;
                return Ok(InboundOutcome {
                    action: Action::Stale,
                    issue: Some(id),
                    reason: "older than what is synced".into(),
                    decisions: stale,
                });
            }
            Triage::Unchanged => {
                return Ok(InboundOutcome {
                    action: Action::Unchanged,
                    issue: Some(id),
                    reason: "every field is as the link knows it (our own echo, or no synced field changed)".into(),
                    decisions: Vec::new(),
                });
            }
            Triage::Changed(reads) => {
                // A delivery says what the issue was when it was sent; GitLab may hold a newer
                // state by now (the deliveries of later edits still queued behind it, or lost).
                // Writing the delivery's values would undo those edits: the current issue is
                // synced instead.
                match self.newer_gitlab_state(facts).await? {
                    Current::Newer(current) => return Box::pin(self.sync_gitlab_once(&current, call)).await,
                    Current::AsDelivered => (reads, false),
                    Current::Deleted => (reads, true),
                }
            }
        };
        let qalita = match reads.qalita_issue {
            false => None,
            true => match self.qalita.get_issue(id).await? {
                Some(issue) => Some(issue),
                None => {
                    let reason = "QALITA says the issue does not exist or is not visible to the token";
                    self.log_decisions(id, &[], Action::Ignored, reason.into()).await;
                    return Ok(InboundOutcome::ignored(Some(id), reason));
                }
            },
        };
        // QALITA changed since the last sync of its own changes (the poll, or an event, has not
        // brought them to GitLab yet). Writing to QALITA moves its `updated_at`, which the poll
        // compares with: those changes are pushed to GitLab here, or nothing would ever see them.
        let unsynced_qalita = qalita
            .as_ref()
            .and_then(|issue| issue.updated_at)
            .is_some_and(|updated| link.qalita_watermark.is_none_or(|synced| updated > synced));
        let assignee = match &reads.assignee {
            Some(user) => self.resolve_back(&link, user).await?,
            None => AssigneeBack::NotNeeded,
        };
        let known_owner = match (&qalita, reads.owner) {
            (Some(qalita), true) => self.owner_of(qalita, &link).await?,
            _ => None,
        };
        let context = link.context.clone();
        let known = qalita.as_ref().map(|q| Facts::of(q, &context, known_owner.as_ref()));
        let now = self.clock.now();
        let plan = plan_inbound(&self.config, &link, facts, qalita.as_ref().zip(known.as_ref()), &assignee, now);
        let mut next = plan.plan.next.clone();
        next.from_gitlab.extend(reads.bumps);
        let after = match plan.plan.ops.first() {
            None => qalita,
            Some(op) => match self.apply(op, None, call).await.and_then(Applied::qalita_issue) {
                Ok(updated) => Some(updated),
                Err(ApiError::NotFound { .. }) => {
                    let reason = "QALITA says the issue no longer exists: the change is not synced";
                    self.log_decisions(id, &plan.plan.decisions, Action::Ignored, reason.into()).await;
                    return Ok(InboundOutcome::ignored(Some(id), reason));
                }
                Err(error) => return Err(error.into()),
            },
        };
        if let Some(after) = &after {
            record_written(&self.config, &mut next, facts, &plan.recorded(), after, known_owner.as_ref(), &assignee);
            // An overwritten field still has QALITA's new value recorded, for the watermark; a
            // field QALITA won does not move it (its push may fail and be retried).
            if !plan.accepted.is_empty() {
                next.qalita_watermark = next.qalita_watermark.max(after.updated_at);
            }
            if unsynced_qalita {
                // QALITA's own changes are not in GitLab yet: the watermark stays where the last
                // outbound sync left it, so that the poll still sees them if the push below fails.
                next.qalita_watermark = link.qalita_watermark;
            }
        }
        self.store.update(&next).await?;
        let action = plan.action();
        let summary = match (action, plan.update()) {
            (Action::Synced, Some(update)) => {
                format!("GitLab → QALITA: {}", serde_json::to_string(update).unwrap_or_default())
            }
            (other, _) => other.as_str().to_owned(),
        };
        self.log_decisions(id, &plan.plan.decisions, action, summary).await;
        // QALITA's newer values go to GitLab through the outbound sync, which writes what differs.
        // Not to a GitLab issue deleted since the delivery: its recreation (`recreate_if_deleted`)
        // is left to the next sync of QALITA's changes (the poll sees them: the watermark did not
        // move), so that the deleted issue's later deliveries, queued behind this one, reach QALITA
        // first and the new issue starts from the newest edits.
        if let (true, false, Some(after)) = (plan.push_to_gitlab || unsynced_qalita, deleted, &after) {
            self.sync_issue(after, &context, call).await?;
        }
        Ok(InboundOutcome { action, issue: Some(id), reason: String::new(), decisions: plan.plan.decisions })
    }

    /// A GitLab issue carrying the marker of a QALITA issue whose link is still reserved: the
    /// creation's `POST` went through and its worker has not committed (or died). The issue is
    /// adopted, then synced like any linked issue.
    async fn adopt_reserved(
        &self,
        link: LinkState,
        facts: &GitlabIssueFacts,
        call: &CallContext,
    ) -> Result<InboundOutcome, SyncError> {
        let id = link.qalita_id;
        if facts.marked != Some(id) {
            return Ok(InboundOutcome::ignored(
                Some(id),
                "the link is reserved and the issue does not carry its marker",
            ));
        }
        let found = match self.gitlab.get_issue(&GitlabProjectRef::Id(facts.project_id), facts.iid).await {
            Ok(found) => found,
            Err(ApiError::NotFound { .. }) => return Ok(InboundOutcome::ignored(Some(id), "the marked issue is gone")),
            Err(error) => return Err(error.into()),
        };
        let Some(issue) = self.qalita.get_issue(id).await? else {
            return Ok(InboundOutcome::ignored(Some(id), "QALITA says the issue does not exist"));
        };
        let owner = self.owner_of(&issue, &link).await?;
        let desired = Desired::of(&self.config, &Facts::of(&issue, &link.context, owner.as_ref()));
        let context = link.context.clone();
        let adopted = adopt(link, &found, &desired, &self.config, self.clock.now());
        self.store.update(&adopted).await?;
        let summary = format!("adopted {} (it carries the marker; its link was still reserved)", found.web_url);
        self.log_decisions(id, &[], Action::Adopted, summary).await;
        self.sync_issue(&issue, &context, call).await?;
        Ok(InboundOutcome { action: Action::Adopted, issue: Some(id), reason: String::new(), decisions: Vec::new() })
    }

    /// The QALITA owner of an issue, for templates: from the link's cache when it is the same user,
    /// else read.
    async fn owner_of(&self, issue: &QalitaIssue, link: &LinkState) -> Result<Option<QalitaUser>, ApiError> {
        let Some(id) = issue.assignee else { return Ok(None) };
        if let Some(cached) = link.assignee.as_ref().filter(|c| c.qalita_user == id) {
            return Ok(Some(QalitaUser { id, login: cached.login.clone(), name: None, email: None }));
        }
        match self.qalita.get_user(id).await {
            Ok(user) => Ok(user),
            Err(error) if error.is_transient() => Err(error),
            Err(_) => Ok(None),
        }
    }

    /// The QALITA user a GitLab user maps to, as the rules of [`crate::plan::assignee`] say: the
    /// link's cache, the explicit map read backwards, then the QALITA user whose login is the
    /// GitLab username.
    async fn resolve_back(&self, link: &LinkState, user: &GitlabUser) -> Result<AssigneeBack, ApiError> {
        let (login, how) = match assignee::qalita_login(&self.config, link, user) {
            Ok(lookup) => lookup,
            Err(decided) => return Ok(decided),
        };
        Ok(match self.qalita.user_by_login(&login).await {
            Ok(found) => assignee::qalita_found(&login, how, found),
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => AssigneeBack::NotFound { reason: format!("QALITA user lookup refused: {error}") },
        })
    }
}
