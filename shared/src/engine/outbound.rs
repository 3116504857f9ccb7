//! Executes the sync of one QALITA issue through the ports: reads what the plan needs (the owner,
//! the GitLab user), runs the link protocol of DESIGN section 4 (reserve, create with the hidden
//! marker, commit with the reservation's version; adopt the marked issue of a stale reservation),
//! makes the one write the plan asks for, and commits the link with a conditional write.

use std::sync::Arc;
use std::time::Duration;

use super::interpreter::Applied;
use super::link_protocol::{CONFLICT_RETRIES, surely_not_created};
use crate::config::Config;
use crate::domain::gitlab::{GitlabIssue, GitlabProjectRef, IssueState};
use crate::domain::link::{Field, LinkState, LinkStatus, LogEntry, LogLevel, RelinkReason, ResolvedAssignee, Written};
use crate::domain::marker::Marker;
use crate::domain::qalita::{IssueContext, QalitaIssue, QalitaUser};
use crate::domain::sync::{Action, Decision, DecisionKind, Status};
use crate::mapping::{Desired, Facts};
use crate::plan::link::{adopt, link_of, reserved_in, stamp_written};
use crate::plan::regression::regression;
use crate::plan::{AssigneeInput, Op, Plan, assignee, create, plan};
use crate::ports::{ApiError, CallContext, Clock, GitlabApi, IssueQuery, LinkStore, QalitaApi, StoreError};

/// Pages of 100 read when looking for the issue of a stale reservation.
const MARKER_SEARCH_PAGES: usize = 20;

/// Why a sync did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// GitLab or QALITA failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The link store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another worker holds a fresh reservation of this issue: try again once it is stale.
    #[error("another worker is creating the GitLab issue (reservation of {age_seconds} s)")]
    Reserved {
        /// Age of the reservation.
        age_seconds: i64,
        /// When it becomes stale and may be taken over.
        stale_in: Duration,
    },
}

impl SyncError {
    /// Whether the message should be retried (after a back-off).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Api(e) => e.is_transient(),
            SyncError::Store(e) => e.is_transient(),
            SyncError::Reserved { .. } => true,
        }
    }

    /// The least wait a server asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SyncError::Api(e) => e.retry_after(),
            SyncError::Reserved { stale_in, .. } => Some(*stale_in),
            SyncError::Store(_) => None,
        }
    }

    /// A token refused (401): fixed by putting a valid token in the secret, so worth retrying
    /// rather than dropping; the message ends in the dead-letter queue if it is not fixed in time.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, SyncError::Api(ApiError::Permanent { status: 401, .. }))
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What the sync did: created, adopted, updated, unchanged, recreated, gone, skipped or
    /// not-created.
    pub action: Action,
    /// The link after the sync; `None` when the creation policy created nothing.
    pub link: Option<LinkState>,
    /// The planner's decisions.
    pub decisions: Vec<Decision>,
}

/// What a sync would do, planned without writing (`explain`, `backfill --dry-run`).
#[derive(Debug, Clone)]
pub struct Preview {
    /// The stored link, if any.
    pub link: Option<LinkState>,
    /// What the GitLab issue should be.
    pub desired: Desired,
    /// The planners' answer: the writes to make (the GitLab ones, then the link back to QALITA), the
    /// link after the GitLab writes, the decisions.
    pub plan: Plan,
    /// The GitLab issue a crashed creation made (or, asked by an operator, one that already
    /// carries the issue's marker), which the sync would adopt first.
    pub adopted: Option<GitlabIssue>,
    /// Why the service would not create the unlinked issue by itself (`[create]`); `None` when it
    /// would, or when the issue is linked.
    pub not_created: Option<create::Refusal>,
}

/// One sync: the QALITA issue and what was read for it before planning.
struct Target<'a> {
    issue: &'a QalitaIssue,
    context: &'a IssueContext,
    owner: Option<&'a QalitaUser>,
    assignee: &'a AssigneeInput,
    resolved: Option<&'a ResolvedAssignee>,
    call: &'a CallContext,
    asked: Asked,
}

/// Who asks for a sync of a QALITA issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The service by itself (an event, the poll): an unlinked issue gets a GitLab issue only as
    /// the creation policy says (`[create]`).
    ByItself,
    /// An operator (`create-issue`): the issue gets its GitLab issue, adopting one that already
    /// carries its marker (a lost or new link table never duplicates).
    ByOperator,
    /// `backfill`: as an operator, for the statuses the policy creates (`create.statuses`) only,
    /// unless `all_statuses`.
    ByBackfill {
        /// Resolved and muted issues get their GitLab issue too (created, then closed).
        all_statuses: bool,
    },
}

impl Asked {
    /// Why `issue`, routed as `route`, gets no GitLab issue when asked this way (`first_run`: when
    /// the service first ran against its table).
    fn refusal(
        self,
        config: &Config,
        route: &crate::mapping::routing::RouteDecision,
        issue: &QalitaIssue,
        first_run: chrono::DateTime<chrono::Utc>,
    ) -> Option<create::Refusal> {
        match self {
            Asked::ByItself => create::refusal(config, route, issue, first_run),
            Asked::ByBackfill { all_statuses: false } => create::status_refusal(config, issue),
            Asked::ByBackfill { all_statuses: true } | Asked::ByOperator => None,
        }
    }
}

/// The setting that records when the service first ran against its table, where the default
/// creation policy starts.
pub const FIRST_RUN: &str = "first-run";

/// What the engine reads and writes through.
#[derive(Clone)]
pub struct Ports {
    /// The GitLab client: issue and note reads and writes, user lookups, the marker search.
    pub gitlab: Arc<dyn GitlabApi>,
    /// The QALITA client: issue, user and comment reads, and the inbound writes.
    pub qalita: Arc<dyn QalitaApi>,
    /// The link store, all four capabilities: links, comment links, the integration log, settings.
    pub store: Arc<dyn LinkStore>,
    /// Where "now" comes from: the link's `updated_at`, reservation ages, log entries' times.
    pub clock: Arc<dyn Clock>,
}

/// The sync engine, wired to its ports: outbound (a QALITA issue to its GitLab issue), inbound (a
/// GitLab event to the QALITA issue), comments both ways, and the relink of a severed link.
pub struct Engine {
    pub(crate) gitlab: Arc<dyn GitlabApi>,
    pub(crate) qalita: Arc<dyn QalitaApi>,
    pub(crate) store: Arc<dyn LinkStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The configuration document the mapping, routing, ownership and comment rules read.
    pub(crate) config: Arc<Config>,
    /// The context lookups' answers this process remembers (`engine::context`).
    pub(crate) context_cache: super::context::ContextCache,
}

impl Engine {
    /// The engine over `ports`, under `config`.
    pub fn new(ports: Ports, config: Arc<Config>) -> Engine {
        let Ports { gitlab, qalita, store, clock } = ports;
        Engine { gitlab, qalita, store, clock, config, context_cache: Default::default() }
    }

    /// The GitLab client, for the reads made around a sync (the lists of the reconcile and of
    /// `links rebuild`, a description left out of a delivery).
    pub fn gitlab(&self) -> &dyn GitlabApi {
        self.gitlab.as_ref()
    }

    /// Makes the GitLab issue of `issue` agree with it, creating it the first time if the creation
    /// policy says so.
    pub async fn sync_issue(
        &self,
        issue: &QalitaIssue,
        context: &IssueContext,
        call: &CallContext,
    ) -> Result<Outcome, SyncError> {
        self.sync_issue_as(issue, context, call, Asked::ByItself).await
    }

    /// A read found the GitLab issue of `issue`'s link missing: as when a write finds it so, its
    /// recreation is due (`sync.recreate_if_deleted`, made by the next sync of the issue, which
    /// the poll queues), or the link is gone: which of the two it is.
    pub async fn gitlab_issue_missing(&self, issue: crate::domain::QalitaIssueId) -> Result<Action, SyncError> {
        let Some(link) = self.store.get(issue).await?.filter(|l| l.status == LinkStatus::Linked) else {
            return Ok(Action::Gone);
        };
        let now = self.clock.now();
        let mut next = link.clone();
        next.updated_at = now;
        let action = match self.config.sync.recreate_if_deleted {
            true if link.deleted_at.is_some() => return Ok(Action::Deleted),
            true => {
                next.deleted_at = Some(now);
                Action::Deleted
            }
            false => {
                next.status = LinkStatus::Gone;
                Action::Gone
            }
        };
        self.store.update(&next).await?;
        tracing::warn!(qalita_issue = %issue, action = action.as_str(), "the linked GitLab issue is missing");
        let summary = format!("{action}: the linked GitLab issue is missing");
        self.log_decisions(issue, &[], action, summary).await;
        Ok(action)
    }

    /// Makes the GitLab issue of `issue` agree with it, as `asked`.
    pub async fn sync_issue_as(
        &self,
        issue: &QalitaIssue,
        context: &IssueContext,
        call: &CallContext,
        asked: Asked,
    ) -> Result<Outcome, SyncError> {
        // The issue is as its caller read it (the worker reads an event's issue before syncing
        // it). An issue the service wrote to after it was read (a GitLab change synced meanwhile,
        // by the reconcile or another worker) is outdated: it is read again.
        let stored = self.store.get(issue.id).await?;
        let written_since = stored.as_ref().is_some_and(|link| {
            let last_write = link.to_qalita.values().filter_map(|w| w.at).max();
            last_write.is_some_and(|at| issue.updated_at.is_none_or(|read| at > read))
        });
        let fresh;
        let issue = match written_since {
            true => match self.qalita.get_issue(issue.id).await? {
                Some(current) if current.updated_at >= issue.updated_at => {
                    fresh = current;
                    &fresh
                }
                _ => issue,
            },
            false => issue,
        };
        let looked = self.look_up_context(issue, context, true).await;
        let (owner, assignee, resolved) = self.inputs(issue).await?;
        let target = Target {
            issue,
            context: &looked.context,
            owner: owner.as_ref(),
            assignee: &assignee,
            resolved: resolved.as_ref(),
            call,
            asked,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sync_once(&target).await {
                Err(SyncError::Store(StoreError::Conflict)) if attempt < CONFLICT_RETRIES => continue,
                Ok(mut outcome) => {
                    outcome.decisions.splice(0..0, looked.decisions.iter().cloned());
                    self.log(issue, &outcome).await;
                    // After the link is committed, so that a failure here leaves it owed.
                    if let Some(link) = outcome.link.take() {
                        outcome.link = Some(self.link_back_unless_refused(link, call).await?);
                    }
                    return Ok(outcome);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// What the planner needs besides the issue and the link: the QALITA owner, the GitLab user
    /// they map to, and that resolution for the link (read before, or resolved now), as the rules
    /// of [`crate::plan::assignee`] say.
    async fn inputs(
        &self,
        issue: &QalitaIssue,
    ) -> Result<(Option<QalitaUser>, AssigneeInput, Option<ResolvedAssignee>), SyncError> {
        let stored = self.store.get(issue.id).await?;
        if let Some(cached) = assignee::cached(&self.config, stored.as_ref(), issue.assignee) {
            let (owner, input) = assignee::from_cache(&cached);
            return Ok((Some(owner), input, Some(cached)));
        }
        // A lookup refused for good only leaves the assignee as it is (DESIGN section 7).
        let owner = match issue.assignee {
            Some(id) => match self.qalita.get_user(id).await {
                Ok(owner) => owner,
                Err(error) if error.is_transient() => return Err(error.into()),
                Err(error) => {
                    tracing::warn!(qalita_issue = %issue.id, error = %error, "QALITA owner unreadable");
                    None
                }
            },
            None => None,
        };
        let input = match assignee::gitlab_username(&self.config, issue.assignee, owner.as_ref()) {
            Err(decided) => decided,
            Ok((username, how)) => match self.gitlab.user_by_username(&username).await {
                Ok(found) => assignee::gitlab_found(&username, how, found),
                Err(error) if error.is_transient() => return Err(error.into()),
                Err(error) => AssigneeInput::NotFound { reason: format!("GitLab user lookup refused: {error}") },
            },
        };
        let resolved = assignee::resolution(&input, owner.as_ref());
        Ok((owner, input, resolved))
    }

    /// What a sync of `issue` would write now, planned on the stored link without writing
    /// anything: the reads the sync makes (the link, the owner, the GitLab user, the issue a crashed
    /// creation left) and the planner's answer. [`SyncError::Reserved`] while another worker holds a
    /// fresh reservation.
    pub async fn preview(
        &self,
        issue: &QalitaIssue,
        context: &IssueContext,
        asked: Asked,
    ) -> Result<Preview, SyncError> {
        let looked = self.look_up_context(issue, context, false).await;
        let (owner, assignee, resolved) = self.inputs(issue).await?;
        let now = self.clock.now();
        let stored = self.store.get(issue.id).await?;
        let context = match &stored {
            Some(link) => looked.context.or(&link.context),
            None => looked.context.clone(),
        };
        let desired = Desired::of(&self.config, &Facts::of(issue, &context, owner.as_ref()));
        let reserve = |version| {
            let mut reserved = LinkState::reserved(issue.id, String::new(), now);
            reserved.version = version;
            reserved.context = context.clone();
            reserved.reserve_in(desired.route.project.clone());
            reserved
        };
        let (base, adopted) = match &stored {
            None if asked != Asked::ByItself => match self.find_marked(&desired.route.project, issue).await? {
                Some(found) => (adopt(reserve(0), &found, &desired, &self.config, now), Some(found)),
                None => (reserve(0), None),
            },
            None => (reserve(0), None),
            Some(link) if link.status == LinkStatus::Reserved => {
                self.unless_fresh(link.reservation.as_ref().map_or(link.updated_at, |r| r.at), now)?;
                match self.find_marked(&reserved_in(link, &desired.route.project), issue).await? {
                    Some(found) => (adopt(reserve(link.version), &found, &desired, &self.config, now), Some(found)),
                    None => (reserve(link.version), None),
                }
            }
            // Found deleted: the next sync recreates it (behind the changes queued before).
            Some(link) if link.status == LinkStatus::Linked && link.deleted_at.is_some() => {
                (reserve(link.version), None)
            }
            Some(link) => (link.clone(), None),
        };
        let mut plan = plan(&self.config, issue, &desired, &assignee, &base, now);
        plan.decisions.splice(0..0, looked.decisions);
        if resolved.is_some() && matches!(base.status, LinkStatus::Linked | LinkStatus::Reserved) {
            plan.next.assignee = resolved;
        }
        // The link back the sync would write after its own writes, planned as the sync plans it.
        let link_back = self.preview_link_back(&plan, now).await?;
        plan.ops.extend(link_back.ops);
        plan.decisions.extend(link_back.decisions);
        // Read only: a service that never ran would record its first run now.
        let not_created = match &stored {
            None => asked.refusal(&self.config, &desired.route, issue, self.recorded_first_run().await?.unwrap_or(now)),
            Some(_) => None,
        };
        Ok(Preview { link: stored, desired, plan, adopted, not_created })
    }

    async fn sync_once(&self, target: &Target<'_>) -> Result<Outcome, SyncError> {
        let issue = target.issue;
        let now = self.clock.now();
        let stored = self.store.get(issue.id).await?;
        // An event without context (the poll, an id-only event) keeps what an earlier event said.
        let context = match &stored {
            Some(link) => target.context.or(&link.context),
            None => target.context.clone(),
        };
        let desired = &Desired::of(&self.config, &Facts::of(issue, &context, target.owner));
        let link = match stored {
            None => {
                let first_run = match target.asked {
                    Asked::ByItself => self.first_run().await?,
                    _ => now,
                };
                if let Some(refused) = target.asked.refusal(&self.config, &desired.route, issue, first_run) {
                    return Ok(Outcome {
                        action: Action::NotCreated,
                        link: None,
                        decisions: vec![refused.decision(issue)],
                    });
                }
                let mut reserved = LinkState::reserved(issue.id, uuid::Uuid::new_v4().to_string(), now);
                reserved.context = context.clone();
                reserved.reserve_in(desired.route.project.clone());
                let reserved = self.store.create(&reserved).await?;
                if target.asked != Asked::ByItself {
                    // A lost or new link table: the issue may already have its GitLab issue.
                    if let Some(found) = self.find_marked(&desired.route.project, issue).await? {
                        let adopted = self.store.update(&adopt(reserved, &found, desired, &self.config, now)).await?;
                        return self.write(target, &context, desired, adopted, Action::Adopted).await;
                    }
                }
                reserved
            }
            Some(link) if link.status == LinkStatus::Reserved => {
                let at = link.reservation.as_ref().map_or(link.updated_at, |r| r.at);
                self.unless_fresh(at, now)?;
                // Its worker died between reserving and committing: take the reservation over,
                // then look for the issue it may have created before creating one.
                let mut taken = LinkState::reserved(issue.id, uuid::Uuid::new_v4().to_string(), now);
                taken.version = link.version;
                taken.context = context.clone();
                taken.history = link.history.clone();
                taken.reserve_in(desired.route.project.clone());
                let taken = self.store.update(&taken).await?;
                match self.find_marked(&reserved_in(&link, &desired.route.project), issue).await? {
                    Some(found) => {
                        let adopted = self.store.update(&adopt(taken, &found, desired, &self.config, now)).await?;
                        return self.write(target, &context, desired, adopted, Action::Adopted).await;
                    }
                    None => taken,
                }
            }
            Some(link)
                if link.status == LinkStatus::Linked
                    && let Some(deleted) = link.deleted_at =>
            {
                // Found deleted before. An event received before that may be ahead of the deleted
                // issue's deliveries in the queue: it leaves the recreation to the events behind
                // them (the follow-up queued when it was found deleted, the poll's).
                if target.call.received_at.is_some_and(|received| received <= deleted) {
                    let decision = Decision {
                        level: LogLevel::Info,
                        kind: DecisionKind::Skipped,
                        message: "the GitLab issue was found deleted: its recreation is queued behind the changes made before".into(),
                    };
                    return Ok(Outcome { action: Action::Skipped, link: Some(link), decisions: vec![decision] });
                }
                // The changes queued before are in: recreated with what QALITA holds now.
                let reserved = self.reserve_recreation(&link, desired, now).await?;
                return self.write(target, &context, desired, reserved, Action::Recreated).await;
            }
            Some(link) => {
                if let Some(regressed) = regression(&self.config, &link, desired, now)
                    && regressed.new_issue
                {
                    // The old issue stays closed and leaves the link (its marker retired, kept in
                    // the history); the link is released as a reservation, which the sync taken
                    // again below creates the new issue from, through the link protocol: a retry
                    // after a crash adopts the issue it made instead of making a second one.
                    self.relink_for(&link, RelinkReason::Regression, target.call).await?;
                    return Box::pin(self.sync_once(target)).await;
                }
                link
            }
        };
        self.write(target, &context, desired, link, Action::Updated).await
    }

    /// Plans against `link`, makes the write, commits the link.
    async fn write(
        &self,
        target: &Target<'_>,
        context: &IssueContext,
        desired: &Desired,
        link: LinkState,
        verb: Action,
    ) -> Result<Outcome, SyncError> {
        let (issue, assignee, call) = (target.issue, target.assignee, target.call);
        let now = self.clock.now();
        let plan = plan(&self.config, issue, desired, assignee, &link, now);
        let mut next = plan.next;
        if matches!(link.status, LinkStatus::Linked | LinkStatus::Reserved) {
            next.context = context.clone();
            if target.resolved.is_some() {
                next.assignee = target.resolved.cloned();
            }
        }
        let mut ops = plan.ops.iter();
        let action = match ops.next() {
            None if link.status != LinkStatus::Linked => {
                return Ok(Outcome { action: Action::Skipped, link: Some(link), decisions: plan.decisions });
            }
            None if verb == Action::Adopted => Action::Adopted,
            None => Action::Unchanged,
            Some(op @ Op::CreateIssue { .. }) => {
                let created = match self.apply(op, None, call).await.and_then(Applied::issue) {
                    Ok(created) => created,
                    Err(error) => {
                        // Released at once only when GitLab surely created nothing; after a
                        // time-out or a 5xx it may have, and the reservation must go stale so
                        // that the search for the marked issue finds it.
                        if surely_not_created(&error) {
                            self.release(&link).await;
                        }
                        return Err(error.into());
                    }
                };
                next.gitlab = Some(link_of(&created));
                stamp_written(&link, &mut next, created.updated_at);
                let mut ops = ops.peekable();
                if ops.peek().is_some() {
                    // Link first, recorded as open: if a later write fails, the retry plans the
                    // close again on a linked issue instead of finding a reservation (the
                    // regression's notes, written once at most, are not planned again).
                    // What GitLab holds until then, the status too: a reconcile that reads the
                    // issue open meanwhile must not take it for a person's reopen.
                    let mut opened = next.clone();
                    opened.to_gitlab.insert(Field::State, Written::new(IssueState::Opened.as_str(), None));
                    if let Some(status) = opened.to_gitlab.get_mut(&Field::Status) {
                        let muted = created.labels.contains(&self.config.mapping.muted_label);
                        *status = Written::new(Status::of(IssueState::Opened, muted).as_str(), None);
                    }
                    next.version = self.store.update(&opened).await?.version;
                }
                for op in ops {
                    let applied = self.apply(op, Some(&created), call).await?;
                    if matches!(op, Op::CloseCreated) {
                        let closed = applied.issue()?;
                        for field in [Field::State, Field::Status] {
                            if let Some(written) = next.to_gitlab.get_mut(&field) {
                                written.at = Some(closed.updated_at);
                            }
                        }
                    }
                }
                if verb == Action::Recreated { Action::Recreated } else { Action::Created }
            }
            Some(op) => {
                match self.apply(op, None, call).await.and_then(Applied::issue) {
                    Ok(updated) => {
                        stamp_written(&link, &mut next, updated.updated_at);
                        verb
                    }
                    Err(ApiError::NotFound { .. }) if self.config.sync.recreate_if_deleted => {
                        if target.asked != Asked::ByItself {
                            // An operator's sync recreates it at once.
                            let reserved = self.reserve_recreation(&link, desired, now).await?;
                            return Box::pin(self.write(target, context, desired, reserved, Action::Recreated)).await;
                        }
                        // Deleted behind our back. Changes people made to it before deleting it
                        // may still be queued behind this message (their deliveries): the
                        // recreation is due, and waits for them (the worker queues it behind).
                        next = link.clone();
                        next.deleted_at = Some(now);
                        next.updated_at = now;
                        tracing::warn!(qalita_issue = %issue.id, "the GitLab issue was deleted: it is recreated once the changes queued before are synced");
                        Action::Deleted
                    }
                    Err(ApiError::NotFound { what, .. }) => {
                        next = link.clone();
                        next.status = LinkStatus::Gone;
                        next.updated_at = now;
                        tracing::warn!(qalita_issue = %issue.id, gitlab_issue = %what, "the GitLab issue was deleted and recreate_if_deleted is off: the link is now gone");
                        Action::Gone
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        let committed = match (action, self.store.update(&next).await) {
            (_, Ok(committed)) => committed,
            // GitLab was written, and the link changed meanwhile (an inbound event of the same
            // issue, handled in its own message group): what was written is recorded on the newer
            // link, so that no retry writes it again.
            (Action::Updated, Err(StoreError::Conflict)) => self.commit_over(&link, &next).await?,
            (_, Err(error)) => return Err(error.into()),
        };
        Ok(Outcome { action, link: Some(committed), decisions: plan.decisions })
    }

    /// Takes `link`, whose GitLab issue was deleted, back to a reservation, from which the sync
    /// creates the new issue as a first creation: another worker that found the same 404 cannot
    /// create a second one (the reservation is conditional on the link's version).
    async fn reserve_recreation(
        &self,
        link: &LinkState,
        desired: &Desired,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<LinkState, SyncError> {
        let mut reserved = LinkState::reserved(link.qalita_id, uuid::Uuid::new_v4().to_string(), now);
        reserved.reserve_in(desired.route.project.clone());
        reserved.version = link.version;
        reserved.context = link.context.clone();
        reserved.assignee = link.assignee.clone();
        reserved.history = link.history.clone();
        Ok(self.store.update(&reserved).await?)
    }

    /// When the service first ran against its table (recorded now if it never ran): where the
    /// default creation policy starts.
    pub async fn first_run(&self) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        if let Some(at) = self.recorded_first_run().await? {
            return Ok(at);
        }
        let now = self.clock.now();
        self.store.set_cursor(FIRST_RUN, &now.to_rfc3339()).await?;
        Ok(now)
    }

    /// When the service first ran against its table, if it did.
    pub async fn recorded_first_run(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let recorded = self.store.cursor(FIRST_RUN).await?;
        Ok(recorded
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(&text).ok())
            .map(|at| at.with_timezone(&chrono::Utc)))
    }

    /// The GitLab issue carrying the marker of `issue`, if one exists.
    async fn find_marked(
        &self,
        project: &GitlabProjectRef,
        issue: &QalitaIssue,
    ) -> Result<Option<GitlabIssue>, ApiError> {
        let marker = Marker::Issue(issue.id);
        let mut query = IssueQuery {
            search: Some(marker.text()),
            search_in_description: true,
            page: 1,
            per_page: 100,
            ..IssueQuery::default()
        };
        // GitLab's search matches words as substrings: the marker of issue 1 also finds 10, 100, …
        // Every page is read (up to a bound), and only a description that ends with the exact
        // marker, as ours do, counts; a marker quoted inside another text does not.
        for _ in 0..MARKER_SEARCH_PAGES {
            let page = self.gitlab.list_issues(project, &query).await?;
            if let Some(found) =
                page.items.into_iter().find(|i| i.description.as_deref().is_some_and(|d| marker.ends(d)))
            {
                return Ok(Some(found));
            }
            match page.next_page {
                Some(next) => query.page = next,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Writes the decisions to the integration log; a failure is logged, not fatal.
    async fn log(&self, issue: &QalitaIssue, outcome: &Outcome) {
        let target =
            outcome.link.as_ref().and_then(|l| l.gitlab.as_ref()).map_or(String::new(), |g| format!(" {}", g.web_url));
        let summary = format!("{}{target}", outcome.action);
        self.log_decisions(issue.id, &outcome.decisions, outcome.action, summary).await;
    }

    /// Writes decisions and a closing entry (`action`: `summary`) to the integration log of `issue`.
    pub(crate) async fn log_decisions(
        &self,
        issue: crate::domain::QalitaIssueId,
        decisions: &[Decision],
        action: Action,
        summary: String,
    ) {
        let at = self.clock.now();
        let mut entries: Vec<LogEntry> = decisions
            .iter()
            .map(|d| LogEntry {
                issue,
                at,
                level: d.level,
                kind: d.kind.as_str().to_owned(),
                message: d.message.clone(),
            })
            .collect();
        for decision in decisions {
            tracing::info!(qalita_issue = %issue, kind = decision.kind.as_str(), level = decision.level.as_str(), decision = %decision.message, "decision");
        }
        entries.push(LogEntry { issue, at, level: LogLevel::Info, kind: action.as_str().to_owned(), message: summary });
        for entry in entries {
            if let Err(error) = self.store.append_log(&entry).await {
                tracing::error!(qalita_issue = %issue, error = %error, "integration log entry not written");
            }
        }
    }
}
